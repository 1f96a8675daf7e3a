"""Terminal summary rendered from the report dictionary alone (no torch, no recomputation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "undefined"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _interval(report: dict[str, Any], path: str) -> str:
    ci = (report.get("intervals") or {}).get(path)
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""


def headline_table(report: dict[str, Any], title: str = "Test metrics") -> Table:
    m = report["metrics"]
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    with_ci = bool(report.get("intervals"))
    if with_ci:
        table.add_column(f"{report.get('bootstrap', {}).get('confidence', 0.95):.0%} CI (bootstrap)", justify="right")
    rows = [("accuracy", "accuracy"), ("balanced accuracy", "balanced_accuracy"), ("macro F1", "macro.f1"),
            ("MCC", "mcc"), ("Cohen's kappa", "cohen_kappa"), ("ROC-AUC", "roc_auc"),
            ("average precision (PR-AUC)", "average_precision"), ("log loss", "log_loss")]
    for name, path in rows:
        value = m.get("macro", {}).get("f1") if path == "macro.f1" else m.get(path)
        table.add_row(name, _fmt(value), *([_interval(report, path)] if with_ci else []))
    return table


def per_class_table(report: dict[str, Any]) -> Table:
    table = Table(title="Per class", header_style="bold")
    for col in ("class", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="left" if col == "class" else "right")
    positive = report.get("positive_label")
    with_ci = bool(report.get("intervals"))
    if with_ci:
        table.add_column("recall CI", justify="right")
    for label, row in report["metrics"]["per_class"].items():
        name = f"{label} (positive)" if label == positive else label
        ci = [_interval(report, f"per_class.{label}.recall")] if with_ci else []
        table.add_row(escape(name), _fmt(row["precision"]), _fmt(row["recall"]), _fmt(row["f1"]),
                      str(row["support"]), *ci)
    return table


def confusion_table(report: dict[str, Any]) -> Table:
    cm = report["confusion_matrix"]
    table = Table(title="Confusion matrix (rows = true, columns = predicted)", header_style="bold")
    table.add_column("true \\ predicted")
    for label in cm["labels"]:
        table.add_column(escape(str(label)), justify="right")
    for label, row in zip(cm["labels"], cm["matrix"]):
        table.add_row(escape(str(label)), *map(str, row))
    return table


def binary_line(report: dict[str, Any]) -> str | None:
    b = report.get("binary")
    if not b:
        return None
    pos = b["positive_label"]
    return (f"Positive class [bold]{escape(str(pos))}[/bold]: TP={b['tp']} (caught)  FN={b['fn']} (missed)  "
            f"FP={b['fp']} (false alarms)  TN={b['tn']}")


_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def print_verdict(verdict: dict[str, Any] | None, console: Console, findings: Sequence[dict[str, Any]] = ()) -> None:
    """The readiness verdict: NOT READY with its reasons (most important first), or READY."""
    if not verdict:
        return
    if verdict["ready"]:
        warnings = sum(f["severity"] == "warning" for f in findings)
        tail = f"; read the {warnings} warning(s) below" if warnings else ""
        console.print(f"[bold green]READY[/bold green] — every check of the readiness policy passes{tail}")
        return
    reasons = verdict["reasons"]
    console.print(f"[bold red]NOT READY[/bold red] — {escape(reasons[0])}")
    for i, reason in enumerate(reasons[1:], start=2):
        console.print(f"  {i}. {escape(reason)}")


def print_findings(findings: Sequence[dict[str, Any]], console: Console) -> None:
    """Findings, errors first, one paragraph each."""
    if not findings:
        return
    counts = {s: sum(f["severity"] == s for f in findings) for s in _STYLE}
    console.print(f"[bold]Findings[/bold] ({counts['error']} error, {counts['warning']} warning, {counts['info']} info)")
    for f in findings:
        style = _STYLE.get(f["severity"], "")
        console.print(f"  [{style}]{f['severity']:<7}[/{style}] [bold]{escape(f['code'])}[/bold]: {escape(f['message'])}")


def print_classification_summary(report: dict[str, Any], console: Console | None = None) -> None:
    """Print the verdict and findings first, then the headline numbers, per-class table and confusion
    matrix of a classification report."""
    console = console or Console()
    findings = report.get("findings") or []
    print_verdict(report.get("verdict"), console, findings)
    print_findings(findings, console)
    run = report.get("run", {})
    data = run.get("data")
    if data:
        console.print(f"[bold]Data[/bold] {escape(data['source'])}: {data['n_rows']} rows -> train {data['n_train']}, "
                      f"validation {data['n_val']}, test {data['n_test']} (seeded stratified split; "
                      f"{data['duplicate_rows']} duplicate texts kept together in one split)")
    training = run.get("training")
    if training:
        ens = training.get("ensemble")
        if ens:
            acc = ens["test_accuracy"]
            console.print(f"[bold]Training[/bold] an ensemble of {ens['members']} models (seeds "
                          f"{ens['seeds'][0]}–{ens['seeds'][-1]}; best epochs {', '.join(map(str, ens['best_epochs']))}), "
                          f"{training['seconds']:.1f} s; the members alone: test accuracy {min(acc):.3f}–{max(acc):.3f} "
                          f"(mean {sum(acc) / len(acc):.3f})")
        else:
            console.print(f"[bold]Training[/bold] {training['epochs_run']} epochs, best validation "
                          f"{training['monitor']} at epoch {training['best_epoch']}, {training['seconds']:.1f} s")
    threshold = report.get("threshold")
    if threshold:
        tuned = f", tuned on {threshold['tuned_on']}" if threshold.get("tuned_on") else ""
        console.print(f"[bold]Operating point[/bold] score >= {threshold['value']:.6g} "
                      f"({threshold['objective']}{tuned})")
    source = report.get("input")
    console.print(headline_table(report, "Metrics" if source else "Test metrics"))
    console.print(per_class_table(report))
    console.print(confusion_table(report))
    line = binary_line(report)
    if line:
        console.print(line)
    if report.get("baselines"):
        console.print(baselines_table(report))


def baselines_table(report: dict[str, Any]) -> Table:
    """The attention model beside the majority and TF-IDF baselines on the same test split, with the paired
    tests of attention vs TF-IDF (from ``report["baselines"]``)."""
    section = report["baselines"]
    key = section["key_metric"]

    def value(metrics: dict[str, Any], path: str) -> Any:
        if path.startswith("per_class."):
            label, _, name = path[len("per_class."):].rpartition(".")
            return ((metrics.get("per_class") or {}).get(label) or {}).get(name)
        return metrics.get("macro", {}).get("f1") if path == "macro.f1" else metrics.get(path)

    table = Table(title="Baselines (same training and test split)", header_style="bold")
    for col in ("system", key, "accuracy", "vs attention"):
        table.add_column(escape(col), justify="left" if col == "system" else "right")
    comparison = section.get("comparison") or {}
    test, mcnemar = (comparison.get("paired_bootstrap") or {}).get(key) or {}, comparison.get("mcnemar") or {}
    p_text = (f"bootstrap p={test['p_value']:.3g}, McNemar p={mcnemar.get('p_value', float('nan')):.3g}"
              if test.get("p_value") is not None else "")
    table.add_row("attention model", _fmt(value(report["metrics"], key)), _fmt(report["metrics"].get("accuracy")), "")
    tfidf = section["tfidf_logreg"]
    table.add_row(f"TF-IDF + logistic regression (C={tfidf['params'].get('C')})", _fmt(value(tfidf["metrics"], key)),
                  _fmt(tfidf["metrics"].get("accuracy")), p_text)
    majority = section["majority"]
    table.add_row(f"majority class ({escape(str(majority['params'].get('predicts')))})",
                  _fmt(value(majority["metrics"], key)), _fmt(majority["metrics"].get("accuracy")), "")
    return table


def print_comparison(result: dict[str, Any], console: Console | None = None) -> None:
    """Scores of each system and the paired tests against the baseline (the first file)."""
    console = console or Console()
    metrics = result["settings"]["metrics"]
    scores = Table(title=f"Systems on the same {result['n']} examples", header_style="bold")
    scores.add_column("system")
    for m in metrics:
        scores.add_column(m, justify="right")
    for i, system in enumerate(result["systems"]):
        name = escape(system["path"]) + (" (baseline)" if i == 0 else "")
        scores.add_row(name, *(_fmt(system["scores"][m]) for m in metrics))
    console.print(scores)
    tests = Table(title="Paired tests against the baseline", header_style="bold")
    for col in ("system", "metric", "difference", "95% CI", "p (paired bootstrap)"):
        tests.add_column(col, justify="left" if col in ("system", "metric") else "right")
    for comp in result["comparisons"]:
        for m, t in comp["paired_bootstrap"].items():
            ci = f"[{t['low']:+.4f}, {t['high']:+.4f}]" if t.get("low") is not None else "undefined"
            tests.add_row(escape(comp["system"]), m, _fmt(t["difference"]), ci, _fmt(t["p_value"]))
    console.print(tests)
    for comp in result["comparisons"]:
        mc = comp["mcnemar"]
        console.print(f"McNemar {escape(comp['system'])} vs baseline: baseline-only correct b={mc['b']}, "
                      f"system-only correct c={mc['c']}, p={mc['p_value']:.4g} ({mc['method']})")


def print_check(result: dict[str, Any], console: Console | None = None) -> None:
    """``attnlab check``: the verdict and the findings it weighed."""
    console = console or Console()
    print_verdict(result["verdict"], console, result["findings"])
    print_findings(result["findings"], console)
    console.print(f"[dim]report: {escape(result['source'])}; findings {escape(result['findings_source'])}[/dim]")


def _short(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def print_leakage(result: dict[str, Any], console: Console | None = None, max_rows: int = 10) -> None:
    """``attnlab check-leakage``: the verdict line, findings, and the most similar pairs."""
    console = console or Console()
    n_test = result[f"n_{result['test']}"]
    if result["leakage_found"]:
        console.print(f"[bold red]LEAKAGE[/bold red] — {result['exact_rows']:,} exact and {result['near_rows']:,} "
                      f"near-duplicate test rows of {n_test:,} ({result['leaked_share']:.1%}) have a match in train")
    else:
        console.print(f"[bold green]NO LEAKAGE[/bold green] — none of the {n_test:,} test rows has an exact or near "
                      f"duplicate (Jaccard >= {result['settings']['threshold']:g}) among the "
                      f"{result['n_' + result['train']]:,} train rows")
    print_findings(result.get("findings") or [], console)
    if result["pairs"]:
        table = Table(title=f"Pairs (most similar first; {min(max_rows, result['n_pairs'])} of {result['n_pairs']})",
                      header_style="bold")
        for col in ("test row", "train row", "kind", "Jaccard", "test text", "train text"):
            table.add_column(col, justify="right" if col in ("test row", "train row", "Jaccard") else "left")
        for p in result["pairs"][:max_rows]:
            table.add_row(str(p["test_index"]), str(p["train_index"]), p["kind"] + (" (labels differ)" if
                          p.get("label_conflict") else ""), f"{p['similarity']:.3f}", _short(p["test_text"]),
                          _short(p["train_text"]))
        console.print(table)
    console.print(f"[dim]{escape(result['settings']['signature'])}[/dim]")
