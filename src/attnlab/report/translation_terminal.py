"""Terminal summary of a translation report.json, rendered from the dictionary alone (no sacreBLEU, no torch)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from attnlab.report.terminal import print_findings, print_verdict

_LABELS = {"bleu": "BLEU", "chrf": "chrF", "ter": "TER"}


def _name(report: dict[str, Any], key: str) -> str:
    return report.get("details", {}).get(key, {}).get("name") or _LABELS.get(key, key)


def translation_table(report: dict[str, Any]) -> Table:
    """One row per metric: score and, when computed, its bootstrap interval."""
    details = report.get("details", {})
    bootstrap = details.get("bootstrap")
    intervals = report.get("intervals", {})
    ci_title = f"{bootstrap['confidence']:.0%} CI" if bootstrap else "CI"
    table = Table(title=f"Translation metrics ({report['n']} segments, {details.get('n_refs', '?')} reference "
                        f"set(s))", header_style="bold")
    table.add_column("metric")
    table.add_column("score", justify="right")
    table.add_column(ci_title, justify="right")
    for key, value in report["metrics"].items():
        label = _name(report, key) + (" (lower is better)" if key == "ter" else "")
        ci = intervals.get(key)
        table.add_row(escape(label), "undefined" if value is None else f"{value:.2f}",
                      escape(f"[{ci[0]:.2f}, {ci[1]:.2f}]") if ci else "not computed")
    return table


def render_translation_summary(report: dict[str, Any], console: Console | None = None) -> None:
    """Print the verdict and findings first, then the metrics with their intervals, BLEU's breakdown, the
    bootstrap setup and the signatures."""
    console = console or Console()
    findings = report.get("findings") or []
    print_verdict(report.get("verdict"), console, findings)
    print_findings(findings, console)
    console.print(translation_table(report))
    bleu = report.get("details", {}).get("bleu")
    if bleu:
        precisions = "/".join(f"{p:.1f}" for p in bleu["precisions"])
        console.print(escape(f"BLEU n-gram precisions {precisions}, BP = {bleu['bp']:.3f}, "
                             f"ratio = {bleu['ratio']:.3f}, hyp_len = {bleu['sys_len']}, "
                             f"ref_len = {bleu['ref_len']}"), highlight=False)
    bootstrap = report.get("details", {}).get("bootstrap")
    if bootstrap:
        console.print(f"Intervals: {bootstrap['method']} bootstrap over segments, {bootstrap['n_resamples']} "
                      f"resamples, seed {bootstrap['seed']}", highlight=False)
    console.print("[bold]Signatures (sacreBLEU)[/bold]")
    for key, signature in report.get("signatures", {}).items():
        console.print(escape(f"  {_name(report, key)}|{signature}"), highlight=False, soft_wrap=True)
