"""The ``baselines`` section of a classification report, and the ``worse_than_baseline`` finding.

``report["baselines"]`` = ``{majority: {metrics, confusion_matrix, params}, tfidf_logreg: {metrics,
confusion_matrix, params}, key_metric, comparison: {paired_bootstrap: {METRIC: ...}, mcnemar: {...}},
seconds}``. The comparison pairs the attention model (system) with TF-IDF (baseline) on the same test
examples: a paired bootstrap of the key metric and accuracy, and McNemar's test of accuracy.

The key metric is the positive-class F1 for a binary task with a positive class, else macro F1; the
majority baseline is compared on accuracy (its F1 is 0 or undefined by construction).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from attnlab.baselines.classical import majority_baseline, tfidf_logreg_baseline
from attnlab.diagnostics.findings import Finding

__all__ = ["baseline_findings", "compare_with_baselines", "key_metric_path", "metric_at"]


def key_metric_path(labels: Sequence[str], positive_label: str | None) -> str:
    """``per_class.POS.f1`` for a binary task with a positive class, else ``macro.f1``.

    >>> key_metric_path(["ham", "spam"], "spam"), key_metric_path(["a", "b", "c"], None)
    ('per_class.spam.f1', 'macro.f1')
    """
    return f"per_class.{positive_label}.f1" if positive_label is not None and len(labels) == 2 else "macro.f1"


def metric_at(metrics: Mapping[str, Any], path: str) -> float | None:
    """The value of a report metric path (labels may contain dots: ``per_class.sci.med.f1``)."""
    if path.startswith("per_class."):
        label, _, name = path[len("per_class."):].rpartition(".")
        return ((metrics.get("per_class") or {}).get(label) or {}).get(name)
    node: Any = metrics
    for part in path.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


def _scored(result, y_true: list[str], labels: list[str], positive_label: str | None, seed: int) -> dict[str, Any]:
    from attnlab.recipes.evaluate import score_predictions

    rep = score_predictions(y_true, result.predictions, labels=labels, proba=result.proba,
                            positive_label=positive_label, bootstrap=0, seed=seed)
    return {"metrics": rep["metrics"], "confusion_matrix": rep["confusion_matrix"], "params": result.params}


def compare_with_baselines(train_texts: Sequence[str], train_labels: Sequence[str], val_texts: Sequence[str],
                           val_labels: Sequence[str], test_texts: Sequence[str], y_true: Sequence[str],
                           y_pred: Sequence[str], *, labels: Sequence[str], positive_label: str | None,
                           seed: int = 0, n_resamples: int = 1000) -> dict[str, Any]:
    """Fit both baselines on the training split, score them on the test split and test the attention
    model's predictions ``y_pred`` against TF-IDF; returns the report's ``baselines`` section."""
    from attnlab.metrics.compare import mcnemar_test, paired_bootstrap_test

    t0 = time.perf_counter()
    labels, y_true, y_pred = list(labels), list(y_true), list(y_pred)
    majority = majority_baseline(list(train_labels), len(y_true), labels=labels)
    tfidf = tfidf_logreg_baseline(train_texts, train_labels, val_texts, val_labels, test_texts, labels=labels,
                                  positive_label=positive_label if len(labels) == 2 else None, seed=seed)
    key = key_metric_path(labels, positive_label)
    section: dict[str, Any] = {name: _scored(res, y_true, labels, positive_label, seed)
                               for name, res in (("majority", majority), ("tfidf_logreg", tfidf))}
    section["key_metric"] = key
    section["comparison"] = {
        "system": "attention", "baseline": "tfidf_logreg",
        "paired_bootstrap": paired_bootstrap_test(y_true, tfidf.predictions, y_pred, labels=labels,
                                                  metrics=list(dict.fromkeys([key, "accuracy"])),
                                                  positive_label=positive_label, n_resamples=n_resamples, seed=seed),
        "mcnemar": mcnemar_test(y_true, tfidf.predictions, y_pred, labels=labels),
    }
    section["seconds"] = round(time.perf_counter() - t0, 2)
    return section


def baseline_findings(report: Mapping[str, Any]) -> list[Finding]:
    """``worse_than_baseline``: an error when the model's accuracy is below the majority baseline's, a
    warning when its key metric is not above the TF-IDF baseline's; nothing without a baselines section."""
    section = report.get("baselines")
    if not section:
        return []
    key = section["key_metric"]
    model, tfidf = metric_at(report["metrics"], key), metric_at(section["tfidf_logreg"]["metrics"], key)
    acc, majority_acc = report["metrics"].get("accuracy"), section["majority"]["metrics"].get("accuracy")
    test = (section.get("comparison") or {}).get("paired_bootstrap", {}).get(key, {})
    mcnemar = (section.get("comparison") or {}).get("mcnemar", {})
    evidence = {"key_metric": key, "model": model, "tfidf_logreg": tfidf, "accuracy": acc,
                "majority_accuracy": majority_acc, "difference": test.get("difference"),
                "paired_bootstrap_p": test.get("p_value"), "mcnemar_p": mcnemar.get("p_value")}
    if acc is not None and majority_acc is not None and acc < majority_acc:
        return [Finding("worse_than_baseline", "error",
                        f"the model's test accuracy {acc:.4f} is below the majority-class baseline's "
                        f"{majority_acc:.4f}: it has learned less than 'always predict "
                        f"{section['majority']['params'].get('predicts')}'; check the data and training", evidence)]
    if model is not None and tfidf is not None and model <= tfidf:
        p = test.get("p_value")
        p_text = f"paired bootstrap p={p:.3g}" if p is not None else "paired bootstrap p undefined"
        return [Finding("worse_than_baseline", "warning",
                        f"the model's {key} {model:.4f} is not above TF-IDF + logistic regression's {tfidf:.4f} "
                        f"(difference {model - tfidf:+.4f}, {p_text}); a linear model on n-grams does as well "
                        f"here — prefer it, or train longer/larger", evidence)]
    return []
