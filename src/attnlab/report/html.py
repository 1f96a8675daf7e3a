"""The self-contained HTML report, rendered from the report dictionary (report.json) alone.

``render_html(report, history=..., predictions=...)`` returns one HTML document: inline CSS, plots as inline
SVG (matplotlib), no script, no external fetch. Every piece of dataset text goes through jinja2's
autoescaping. Optional inputs add sections: the training history (loss curves with the overfitting
marker) and the predictions rows (exact curves and the worst misclassified examples for classification;
samples beside references for translation — rows with ``hypothesis``, ``reference`` and, from a run's
translations.csv, ``source`` keys; the translation half lives in :mod:`attnlab.report.translation_html`).

Torch is never imported; jinja2 and matplotlib are imported when a report is rendered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from attnlab import __version__
from attnlab.report import plots

TEMPLATES = Path(__file__).parent / "templates"
MAX_ERRORS = 12
MAX_PAIRS = 20
_NAMES = {"accuracy": "Accuracy", "balanced_accuracy": "Balanced accuracy", "macro.f1": "Macro F1",
          "mcc": "MCC", "cohen_kappa": "Cohen's kappa", "roc_auc": "ROC-AUC", "average_precision": "Average precision",
          "log_loss": "Log loss", "brier_score": "Brier score", "ece": "ECE"}


def fmt(value: Any, digits: int = 4) -> str:
    """Numbers as the terminal summary prints them (4 decimals; ``None`` is "undefined")."""
    if value is None:
        return "undefined"
    if isinstance(value, float):
        return "undefined" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _get(metrics: Mapping[str, Any], path: str) -> Any:
    node: Any = metrics
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _ci(report: Mapping[str, Any], path: str, digits: int = 4) -> str:
    ci = (report.get("intervals") or {}).get(path)
    return f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else ""


def _row(report: Mapping[str, Any], path: str, name: str) -> dict[str, Any]:
    sig = (report.get("signatures") or {}).get(path, "")
    return {"key": path, "name": name, "value": fmt(_get(report["metrics"], path)), "ci": _ci(report, path),
            "signature": sig}


def _kpis(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The headline cards: accuracy, macro F1, positive-class recall/precision, ROC-AUC, average precision."""
    pos = report.get("positive_label")
    paths = [("accuracy", "Accuracy"), ("macro.f1", "Macro F1")]
    if pos is not None:
        paths += [(f"per_class.{pos}.recall", f"Recall of {pos}"), (f"per_class.{pos}.precision", f"Precision of {pos}")]
    paths += [("roc_auc", "ROC-AUC"), ("average_precision", "Average precision")]
    return [_row(report, p, n) for p, n in paths if _get(report["metrics"], p) is not None or p in ("accuracy", "macro.f1")]


def _operating_point(report: Mapping[str, Any]) -> dict[str, Any] | None:
    """(FPR, TPR) and (recall, precision) of the reported predictions, from the binary counts."""
    b = report.get("binary")
    if not b:
        return None
    tp, fp, fn, tn = b["tp"], b["fp"], b["fn"], b["tn"]
    threshold = report.get("threshold")
    return {"roc": (fp / (fp + tn), tp / (tp + fn)) if fp + tn and tp + fn else None,
            "pr": (tp / (tp + fn), tp / (tp + fp)) if tp + fn and tp + fp else None,
            "threshold": threshold["value"] if threshold else 0.5,
            "threshold_label": (f"chosen threshold {threshold['value']:.4g} ({threshold['objective']})" if threshold
                                else "argmax (threshold 0.5)")}


def _proba_rows(report: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]] | None):
    labels = report.get("labels") or []
    if not predictions or not labels or not all(f"p_{lab}" in predictions[0] for lab in labels):
        return None
    try:
        return [[float(r[f"p_{lab}"]) for lab in labels] for r in predictions]
    except (TypeError, ValueError):
        return None


def _curves(report: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """Curve points: recomputed from the predictions' probability columns when given, else report.json's."""
    proba = _proba_rows(report, predictions)
    if proba is not None:
        from attnlab.report.curves import classification_curves

        y = [str(r["label"]) for r in predictions]  # type: ignore[union-attr]
        if set(y) <= set(report["labels"]):
            return classification_curves(y, proba, labels=report["labels"], positive_label=report.get("positive_label"))
    return report.get("curves")


def _worst_errors(report: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Misclassified rows, most confident first (confidence = probability given to the wrong prediction)."""
    if not predictions:
        return []
    proba = _proba_rows(report, predictions)
    out = []
    for i, r in enumerate(predictions):
        label, pred = str(r.get("label")), str(r.get("prediction"))
        if label == pred:
            continue
        conf = proba[i][report["labels"].index(pred)] if proba and pred in report["labels"] else None
        p_true = proba[i][report["labels"].index(label)] if proba and label in report["labels"] else None
        out.append({"id": r.get("id", i), "text": r.get("text", ""), "label": label, "prediction": pred,
                    "confidence": conf, "p_true": p_true})
    out.sort(key=lambda e: -(e["confidence"] or 0.0))
    return out[:MAX_ERRORS]


def _leakage_pairs(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Leaked pairs: every pair listed by the diagnostics, else the examples quoted by the findings."""
    pairs = []
    for result in (report.get("diagnostics") or {}).get("leakage") or []:
        for p in result.get("pairs") or []:
            pairs.append({**p, "between": f"{result.get('test')} ← {result.get('train')}"})
    if not pairs:
        for f in report.get("findings") or []:
            ev = f.get("evidence") or {}
            if f["code"].startswith("leakage"):
                for p in ev.get("examples") or []:
                    pairs.append({**p, "between": f"{ev.get('test', '?')} ← {ev.get('train', '?')}"})
    pairs.sort(key=lambda p: -(p.get("similarity") or 0))
    return pairs[:MAX_PAIRS]


def _overfit(report: Mapping[str, Any]) -> dict[str, Any] | None:
    return next((f.get("evidence") for f in report.get("findings") or [] if f["code"] == "overfitting"), None)


def _p(value: Any) -> str:
    """A p-value with 3 significant digits (small ones stay visible); ``None`` is "undefined"."""
    return "undefined" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"


def _baselines(report: Mapping[str, Any]) -> dict[str, Any] | None:
    """The attention model beside each baseline (accuracy, macro F1, positive-class F1 when binary) and the
    paired tests of attention vs TF-IDF, from ``report["baselines"]``; None without that section."""
    section = report.get("baselines")
    if not section:
        return None
    from attnlab.baselines.report import metric_at

    pos, labels = report.get("positive_label"), report.get("labels") or []
    cols = [("accuracy", "accuracy"), ("macro.f1", "macro F1")]
    if pos is not None and len(labels) == 2:
        cols.append((f"per_class.{pos}.f1", f"F1 of {pos}"))
    names = {"tfidf_logreg": "TF-IDF + logistic regression", "majority": "majority class"}
    systems = [("attention", "attention model", report["metrics"], "")]
    for key, name in names.items():
        if isinstance(section.get(key), Mapping):
            params = section[key].get("params") or {}
            note = f"C={params['C']}" if key == "tfidf_logreg" and "C" in params else (
                f"predicts {params['predicts']}" if key == "majority" and "predicts" in params else "")
            systems.append((key, name, section[key].get("metrics") or {}, note))
    rows = [{"key": key, "name": name, "note": note,
             "values": [{"path": p, "value": fmt(metric_at(m, p))} for p, _ in cols]}
            for key, name, m, note in systems]
    comparison = section.get("comparison") or {}
    tests = []
    for path, t in (comparison.get("paired_bootstrap") or {}).items():
        low, high = t.get("low"), t.get("high")
        tests.append({"metric": path, "system": fmt(t.get("system")), "baseline": fmt(t.get("baseline")),
                      "difference": "undefined" if t.get("difference") is None else f"{t['difference']:+.4f}",
                      "ci": f"[{low:+.4f}, {high:+.4f}]" if low is not None and high is not None else "undefined",
                      "p_value": _p(t.get("p_value")), "confidence": t.get("confidence"),
                      "n_resamples": t.get("n_resamples"), "reason": t.get("reason")})
    mcnemar = comparison.get("mcnemar") or {}
    return {"columns": [{"path": p, "name": n} for p, n in cols], "rows": rows, "tests": tests,
            "key_metric": section.get("key_metric"), "system": comparison.get("system", "attention"),
            "baseline": comparison.get("baseline", "tfidf_logreg"),
            "mcnemar": {"p_value": _p(mcnemar.get("p_value")), "b": mcnemar.get("b"), "c": mcnemar.get("c"),
                        "method": mcnemar.get("method")} if mcnemar else None}


def _classification_plots(report: Mapping[str, Any], curves: Mapping[str, Any] | None,
                          history: Sequence[Mapping[str, Any]] | None) -> dict[str, str | None]:
    m, op = report["metrics"], _operating_point(report)
    cm = report.get("confusion_matrix")
    out: dict[str, str | None] = dict.fromkeys(("confusion", "per_class", "roc", "pr", "roc_ovr", "pr_ovr",
                                               "threshold", "calibration", "training"))
    if cm:
        out["confusion"] = plots.confusion_svg(cm["labels"], cm["matrix"], report.get("positive_label"))
    if m.get("per_class"):
        out["per_class"] = plots.per_class_svg(m["per_class"], report.get("intervals") or {})
    curves = curves or {}
    if curves.get("roc"):
        out["roc"] = plots.roc_svg(curves["roc"]["fpr"], curves["roc"]["tpr"], m.get("roc_auc"), op and op["roc"])
    if curves.get("pr"):
        pos = report.get("positive_label")
        support = sum(c.get("support", 0) for c in m["per_class"].values())
        prevalence = m["per_class"][pos]["support"] / support if pos in m["per_class"] and support else None
        out["pr"] = plots.pr_svg(curves["pr"]["precision"], curves["pr"]["recall"], m.get("average_precision"),
                                 prevalence, op and op["pr"])
    ovr = curves.get("ovr") if not curves.get("roc") else None  # multiclass: one line per class
    if ovr and any(c and c.get("roc") for c in ovr.values()):
        out["roc_ovr"] = plots.roc_ovr_svg(ovr)
    if ovr and any(c and c.get("pr") for c in ovr.values()):
        out["pr_ovr"] = plots.pr_ovr_svg(ovr)
    if curves.get("thresholds"):
        out["threshold"] = plots.threshold_svg(curves["thresholds"], op and op["threshold"],
                                               op["threshold_label"] if op else "")
    if curves.get("calibration"):
        out["calibration"] = plots.calibration_svg(curves["calibration"], m.get("ece"))
    if history:
        selected = ((report.get("run") or {}).get("training") or {}).get("best_epoch")
        out["training"] = plots.training_svg(history, selected, _overfit(report))
    return out


def _classification_context(report: Mapping[str, Any], history, predictions) -> dict[str, Any]:
    pos = report.get("positive_label")
    per_class = [{"label": lab, "positive": lab == pos, "support": row.get("support"),
                  **{k: fmt(row.get(k)) for k in ("precision", "recall", "f1")},
                  **{f"{k}_ci": _ci(report, f"per_class.{lab}.{k}") for k in ("precision", "recall", "f1")}}
                 for lab, row in report["metrics"].get("per_class", {}).items()]
    metric_rows = [_row(report, p, n) for p, n in _NAMES.items() if _get(report["metrics"], p) is not None
                   or p in report["metrics"]]
    for avg in ("macro", "micro", "weighted"):
        for k in ("precision", "recall", "f1"):
            if _get(report["metrics"], f"{avg}.{k}") is not None and f"{avg}.{k}" != "macro.f1":
                metric_rows.append(_row(report, f"{avg}.{k}", f"{avg} {'F1' if k == 'f1' else k}"))
    curves = _curves(report, predictions)
    ovr = (curves or {}).get("ovr") or {}
    return {"kpis": _kpis(report), "metric_rows": metric_rows, "per_class": per_class,
            "binary": report.get("binary"), "threshold": report.get("threshold"),
            "plots": _classification_plots(report, curves, history),
            "ovr": {"shown": sum(1 for c in ovr.values() if c), "absent": [lab for lab, c in ovr.items() if c is None],
                    "truncated": bool((curves or {}).get("ovr_truncated"))},
            "has_predictions": bool(predictions), "has_history": bool(history),
            "errors": _worst_errors(report, predictions), "leakage": _leakage_pairs(report),
            "operating_point": _operating_point(report), "baselines": _baselines(report)}


def _subtitle(report: Mapping[str, Any]) -> str:
    run = report.get("run") or {}
    if run.get("data"):
        d, unit = run["data"], "segments" if report.get("task") == "translation" else "examples"
        ens = (run.get("training") or {}).get("ensemble")
        what = "Training run" if not ens else (
            f"Ensemble of {ens['members']} models (each alone: test accuracy {min(ens['test_accuracy']):.3f}–"
            f"{max(ens['test_accuracy']):.3f}; curves: member 0)")
        return f"{what} on {d['source']} · test split of {report.get('n')} {unit} · {run.get('created', '')}"
    source = report.get("input") or {}
    if source.get("path"):
        return f"Evaluation of {source['path']} · {report.get('n')} examples"
    inputs = (report.get("details") or {}).get("inputs") or {}
    if inputs.get("hyp"):
        return f"Translation output {inputs['hyp']['path']} · {report.get('n')} segments"
    return f"{report.get('n')} examples"


def template_env():
    """The jinja2 environment of attnlab's HTML pages: autoescaped, the ``fmt`` filter."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = fmt
    return env


def render_html(report: dict[str, Any], *, history: list[dict] | None = None,
                predictions: list[dict] | None = None, heads: Mapping[str, Any] | None = None) -> str:
    """One self-contained HTML document for a report.json dictionary (see the module docstring).

    ``heads``: the "Inside the heads" section's context (:func:`attnlab.report.heads_html.heads_context`).
    """
    import jinja2

    env = template_env()
    translation = report.get("task") == "translation"
    findings = report.get("findings") or []
    context: dict[str, Any] = {
        "report": report, "task": report.get("task"), "subtitle": _subtitle(report), "version": __version__,
        "verdict": report.get("verdict"), "findings": findings,
        "counts": {s: sum(f.get("severity") == s for f in findings) for s in ("error", "warning", "info")},
        "confidence": (report.get("bootstrap") or {}).get("confidence", 0.95), "heads": heads,
    }
    if translation:
        from attnlab.report.translation_html import translation_context

        context.update(translation_context(report, history, predictions))
    else:
        context.update(_classification_context(report, history, predictions))
    plot_svgs = {k: jinja2.utils.markupsafe.Markup(v) for k, v in (context.get("plots") or {}).items() if v}
    context["svg"] = plot_svgs  # matplotlib's own output: XML-escaped by its SVG writer
    if context.get("length_plot"):
        context["length_svg"] = jinja2.utils.markupsafe.Markup(context["length_plot"])
    return env.get_template("report.html.j2").render(**context)
