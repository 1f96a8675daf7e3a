"""The heads-count sweep in the terminal (rich), from sweep.json alone: the verdict, the quality and cost
tables, the paired comparisons as sentences, the rule and notes."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from attnlab.report.sweep_html import table_view


def sweep_tables(doc: dict[str, Any]) -> tuple[Table, Table]:
    """The sweep table split in two for an 80-120 column terminal: quality (with intervals or spread), cost."""
    view = table_view(doc, compact=True)
    n = 2 + view["n_quality"]
    hint = (f"mean ± sd across {len(doc['seeds'])} seeds" if len(doc["seeds"]) > 1
            else "one seed; the run's 95% bootstrap interval")
    source = escape(str(doc["data"]["source"]))
    quality = Table(title=f"Heads-count sweep on {source}: test quality ({hint})")
    cost = Table(title="Heads-count sweep: cost" + (f" ({hint.split(';')[0]})" if len(doc["seeds"]) > 1 else ""))
    for table, cols in ((quality, list(range(n))), (cost, [0, *range(n, len(view["columns"]))])):
        for i in cols:
            table.add_column(escape(view["columns"][i]), justify="right", style="bold" if i == 0 else None)
        for row in view["rows"]:
            table.add_row(*(escape(row[i]) for i in cols))
    return quality, cost


def print_sweep(doc: dict[str, Any], console: Console | None = None) -> None:
    """Verdict first, then the tables, the cost sentence, the comparisons, the rule and the notes."""
    console = console or Console()
    summary = doc["summary"]
    console.print(f"[bold]{escape(summary['verdict'])}[/bold]")
    for table in sweep_tables(doc):
        console.print(table)
    console.print(escape(summary["costs"]))
    for line in summary["comparisons"]:
        console.print(f"  • {escape(line)}")
    console.print(f"[dim]{escape(summary['rule'])}[/dim]")
    for note in summary["notes"]:
        console.print(f"[dim]{escape(note)}[/dim]")
