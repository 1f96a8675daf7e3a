"""The heads-count sweep's self-contained HTML page, rendered from sweep.json alone.

``render_sweep_html(doc)`` returns one document: the summary first, then the table (mean across seeds, the
run's interval with one seed), the plot as inline SVG, the paired comparisons, the runs, and what each
number measures. Inline CSS, no script, no external fetch; jinja2 autoescaping for every string. Torch is
never imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attnlab import __version__
from attnlab.heads.sweep_summary import COSTS, QUALITY, interval, signed

TEMPLATES = Path(__file__).parent / "templates"

#: cost key -> how a cell is written
_COST_FORMAT = {"params": "{:,.0f}", "flops_per_token": "{:,.0f}", "attention_elements_per_token": "{:,.1f}",
                "train_seconds": "{:.1f}", "train_tokens_per_s": "{:,.0f}", "latency_ms": "{:.3f}",
                "throughput_per_s": "{:,.0f}", "peak_memory_mib": "{:,.0f}"}
_COST_UNITS = {"train_seconds": "s", "latency_ms": "ms", "throughput_per_s": "examples/s", "peak_memory_mib": "MiB"}
#: narrow column names for the terminal
_SHORT = {"accuracy": "accuracy", "macro_f1": "macro-F1", "positive_f1": "F1 {pos}", "params": "params",
          "flops_per_token": "FLOPs /token", "attention_elements_per_token": "attn weights /token",
          "train_seconds": "train s", "train_tokens_per_s": "train tok/s", "latency_ms": "batch-1 ms",
          "throughput_per_s": "batch ex/s", "peak_memory_mib": "peak MiB"}


def quality_name(key: str, positive_label: str | None) -> str:
    return f"F1 of {positive_label}" if key == "positive_f1" else QUALITY[key]


def cost_name(key: str) -> str:
    unit = _COST_UNITS.get(key)
    return f"{COSTS[key]} ({unit})" if unit else COSTS[key]


def quality_cell(stats: Mapping[str, Any], digits: int = 4, sep: str = " ") -> str:
    """``0.9851 [0.9700, 0.9950]`` (one seed) or ``0.9851 ± 0.0040`` (several), ``undefined`` for None."""
    if stats["mean"] is None:
        return "undefined"
    if stats.get("sd") is not None:
        return f"{stats['mean']:.{digits}f}{sep}± {stats['sd']:.{digits}f}"
    if stats.get("low") is not None:
        return f"{stats['mean']:.{digits}f}{sep}[{stats['low']:.{digits}f}, {stats['high']:.{digits}f}]"
    return f"{stats['mean']:.{digits}f}"


def cost_cell(key: str, stats: Mapping[str, Any], sep: str = " ") -> str:
    if stats["mean"] is None:
        return "n/a"
    text = _COST_FORMAT[key].format(stats["mean"])
    return text if stats.get("sd") is None else f"{text}{sep}± {_COST_FORMAT[key].format(stats['sd'])}"


def table_view(doc: Mapping[str, Any], *, compact: bool = False) -> dict[str, Any]:
    """Column names and formatted cells of the sweep table (the HTML page's; ``compact``: the terminal's,
    with short names, 3 decimals and intervals on a second line)."""
    positive = doc["data"].get("positive_label")
    quality, costs = list(doc["table"][0]["quality"]), list(doc["table"][0]["costs"])
    if compact:
        names = [_SHORT[k].format(pos=positive) for k in quality + costs]
    else:
        names = [quality_name(k, positive) for k in quality] + [cost_name(k) for k in costs]
    digits, sep = (3, "\n") if compact else (4, " ")
    rows = [[str(r["heads"]), str(r["d_head"]), *(quality_cell(r["quality"][k], digits, sep) for k in quality),
             *(cost_cell(k, r["costs"][k], sep) for k in costs)] for r in doc["table"]]
    return {"columns": ["heads", "d_head", *names], "rows": rows, "n_quality": len(quality)}


def _comparison_rows(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    positive = doc["data"].get("positive_label")
    out = []
    for c in doc["comparisons"]:
        for key, t in c["tests"].items():
            out.append({"pair": f"{c['system']} vs {c['baseline']}", "kind": c["kind"],
                        "metric": quality_name(key, positive), "baseline": t["baseline"], "system": t["system"],
                        "difference": signed(t["difference"]), "ci": interval(t["low"], t["high"]),
                        "p_value": "undefined" if t["p_value"] is None else f"{t['p_value']:.3g}",
                        "significant": t["significant"], "reason": t.get("reason")})
    return out


def render_sweep_html(doc: dict[str, Any]) -> str:
    """One self-contained HTML page for a sweep.json dictionary."""
    import jinja2

    from attnlab.report.html import fmt
    from attnlab.report.sweep_plots import sweep_svg

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["fmt"] = fmt
    positive = doc["data"].get("positive_label")
    runs = [{"name": r["run_dir"], "heads": r["heads"], "seed": r["seed"], "epochs": r["epochs_run"],
             "best": r["best_epoch"],
             "quality": [f"{quality_cell({'mean': q['value'], 'low': q['low'], 'high': q['high']})}"
                         for q in r["quality"].values()],
             "latency_iqr": "{p25_ms:.3f}–{p75_ms:.3f}".format(**r["measurements"]["latency"]),
             "load": " → ".join("n/a" if x is None else f"{x:.2f}"
                                for x in r["measurements"].get("load_average_1min") or [None, None])}
            for r in doc["runs"]]
    context = {"doc": doc, "version": __version__, "summary": doc["summary"], "table": table_view(doc),
               "comparisons": _comparison_rows(doc), "runs": runs,
               "run_quality": [quality_name(k, positive) for k in doc["runs"][0]["quality"]],
               "svg": jinja2.utils.markupsafe.Markup(sweep_svg(doc))}  # matplotlib's XML-escaped output
    return env.get_template("sweep.html.j2").render(**context)
