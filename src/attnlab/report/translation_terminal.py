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


def run_line(run: dict[str, Any]) -> str | None:
    """One line for a training run (``report["run"]``): data and split sizes, the selected epoch, training
    minutes and decoding speed; ``None`` without data. Plain text (escape it before printing with rich).

    >>> line = run_line({"data": {"source": "bible", "n_pairs": 4069, "strategy": "held-out-groups",
    ...                           "split": {"train": 3090, "val": 223, "test": 756}},
    ...                  "training": {"best_epoch": 3, "epochs_run": 5, "seconds": 132.3},
    ...                  "decoding": {"beam_size": 4, "sentences_per_second": 12.13}})
    >>> for part in line.split("; "):
    ...     print(part)
    Run bible: 4,069 pairs -> train 3,090, val 223, test 756 (held-out-groups)
    best epoch 3 of 5, training 2.2 min
    decoding beam 4, 12.1 sentences/s
    """
    data = run.get("data")
    if not data:
        return None
    split = data.get("split") or {}
    sizes = ", ".join(f"{k} {split[k]:,}" for k in ("train", "val", "test") if isinstance(split.get(k), int))
    n_pairs = data.get("n_pairs")
    parts = [f"Run {data.get('source', '?')}: " + (f"{n_pairs:,} pairs -> " if isinstance(n_pairs, int) else "")
             + sizes + (f" ({data['strategy']})" if data.get("strategy") else "")]
    t = run.get("training") or {}
    if t:
        minutes = f", training {t['seconds'] / 60:.1f} min" if isinstance(t.get("seconds"), (int, float)) else ""
        parts.append(f"best epoch {t.get('best_epoch', '?')} of {t.get('epochs_run', '?')}{minutes}")
    d = run.get("decoding") or {}
    if d:
        search = "greedy" if d.get("beam_size") == 1 else f"beam {d.get('beam_size', '?')}"
        speed = d.get("sentences_per_second")
        parts.append(f"decoding {search}" + (f", {speed:.1f} sentences/s" if isinstance(speed, (int, float)) else ""))
    return "; ".join(parts)


def render_translation_summary(report: dict[str, Any], console: Console | None = None) -> None:
    """Print the verdict and findings first, then (for a training run) the run line, the metrics with their
    intervals, BLEU's breakdown, the bootstrap setup and the signatures."""
    console = console or Console()
    findings = report.get("findings") or []
    print_verdict(report.get("verdict"), console, findings)
    print_findings(findings, console)
    line = run_line(report.get("run") or {})
    if line:
        console.print(escape(line), highlight=False)
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
