"""Terminal summary rendered from the report dictionary alone (no torch, no recomputation)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "undefined"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def headline_table(report: dict[str, Any]) -> Table:
    m = report["metrics"]
    table = Table(title="Test metrics", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [("accuracy", m.get("accuracy")), ("balanced accuracy", m.get("balanced_accuracy")),
            ("macro F1", m.get("macro", {}).get("f1")), ("MCC", m.get("mcc")),
            ("Cohen's kappa", m.get("cohen_kappa")), ("ROC-AUC", m.get("roc_auc")),
            ("average precision (PR-AUC)", m.get("average_precision")), ("log loss", m.get("log_loss"))]
    for name, value in rows:
        table.add_row(name, _fmt(value))
    return table


def per_class_table(report: dict[str, Any]) -> Table:
    table = Table(title="Per class", header_style="bold")
    for col in ("class", "precision", "recall", "F1", "support"):
        table.add_column(col, justify="left" if col == "class" else "right")
    positive = report.get("positive_label")
    for label, row in report["metrics"]["per_class"].items():
        name = f"{label} (positive)" if label == positive else label
        table.add_row(name, _fmt(row["precision"]), _fmt(row["recall"]), _fmt(row["f1"]), str(row["support"]))
    return table


def confusion_table(report: dict[str, Any]) -> Table:
    cm = report["confusion_matrix"]
    table = Table(title="Confusion matrix (rows = true, columns = predicted)", header_style="bold")
    table.add_column("true \\ predicted")
    for label in cm["labels"]:
        table.add_column(str(label), justify="right")
    for label, row in zip(cm["labels"], cm["matrix"]):
        table.add_row(str(label), *map(str, row))
    return table


def binary_line(report: dict[str, Any]) -> str | None:
    b = report.get("binary")
    if not b:
        return None
    pos = b["positive_label"]
    return (f"Positive class [bold]{pos}[/bold]: TP={b['tp']} (caught)  FN={b['fn']} (missed)  "
            f"FP={b['fp']} (false alarms)  TN={b['tn']}")


def print_classification_summary(report: dict[str, Any], console: Console | None = None) -> None:
    """Print the headline numbers, per-class table and confusion matrix of a classification report."""
    console = console or Console()
    run = report.get("run", {})
    data = run.get("data")
    if data:
        console.print(f"[bold]Data[/bold] {data['source']}: {data['n_rows']} rows -> train {data['n_train']}, "
                      f"validation {data['n_val']}, test {data['n_test']} (seeded stratified split; "
                      f"{data['duplicate_rows']} duplicate texts kept together in one split)")
    training = run.get("training")
    if training:
        console.print(f"[bold]Training[/bold] {training['epochs_run']} epochs, best validation "
                      f"{training['monitor']} at epoch {training['best_epoch']}, {training['seconds']:.1f} s")
    console.print(headline_table(report))
    console.print(per_class_table(report))
    console.print(confusion_table(report))
    line = binary_line(report)
    if line:
        console.print(line)
