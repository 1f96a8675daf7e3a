"""The heads-count sweep's plot, from sweep.json alone: quality against heads beside cost against heads.

Left: accuracy, macro-F1 and (binary) the positive class's F1 per head count, with the run's bootstrap
interval (one seed) or the spread across seeds (several: ± sd, and each seed's value as a dot). Right: each
cost relative to the smallest head count, on a log scale (1× = the same cost). The figure helpers come from
:mod:`attnlab.report.plots`; matplotlib is imported when a plot is drawn.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from attnlab.report.plots import BLUE, GREEN, GREY, ORANGE, PURPLE, RED, _figure, _rc, _safe, _svg

_QUALITY_STYLE = {"accuracy": GREY, "macro_f1": BLUE, "positive_f1": ORANGE}
#: cost key -> (label, colour, invert): ``invert`` plots baseline/system (throughput: higher is better).
_COST_STYLE = {"latency_ms": ("batch-1 latency", RED, False),
               "throughput_per_s": ("time per example, batched (1/throughput)", ORANGE, True),
               "peak_memory_mib": ("peak memory", PURPLE, False),
               "train_seconds": ("training time", GREEN, False),
               "flops_per_token": ("FLOPs per token", BLUE, False),
               "attention_elements_per_token": ("attention-weight elements per token", GREY, False)}


def _quality_panel(ax: Any, doc: Mapping[str, Any], x: list[int]) -> None:
    table, positive = doc["table"], doc["data"].get("positive_label")
    keys = [k for k in _QUALITY_STYLE if k in table[0]["quality"]]
    for j, key in enumerate(keys):
        colour = _QUALITY_STYLE[key]
        x_k = [xi + 0.06 * (j - (len(keys) - 1) / 2) for xi in x]  # side by side: overlapping intervals stay visible
        name = f"F1 of {positive}" if key == "positive_f1" else {"accuracy": "accuracy", "macro_f1": "macro-F1"}[key]
        stats = [r["quality"][key] for r in table]
        mean = [s["mean"] if s["mean"] is not None else float("nan") for s in stats]
        if all(s["low"] is not None for s in stats):
            yerr = [[m - s["low"] for m, s in zip(mean, stats)], [s["high"] - m for m, s in zip(mean, stats)]]
            what = "95% CI"
        else:
            yerr = [s["sd"] or 0.0 for s in stats]
            what = "± sd over seeds"
        ax.errorbar(x_k, mean, yerr=yerr, color=colour, marker="o", ms=5, lw=1.8, capsize=3,
                    label=_safe(f"{name} ({what})"))
        if len(doc["seeds"]) > 1:
            for xi, r in zip(x_k, table):
                values = [run["quality"][key]["value"] for run in doc["runs"] if run["heads"] == r["heads"]]
                ax.plot([xi] * len(values), values, ".", color=colour, alpha=0.45, ms=6)
    ax.set_title("Test quality by head count")
    ax.set_ylabel("score")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)


def _cost_panel(ax: Any, doc: Mapping[str, Any], x: list[int]) -> None:
    table = doc["table"]
    base = table[0]["costs"]
    top = 1.0
    for key, (label, colour, invert) in _COST_STYLE.items():
        b = base[key]["mean"]
        values = [r["costs"][key]["mean"] for r in table]
        if not b or any(v is None or v <= 0 for v in values):
            continue
        ratios = [b / v if invert else v / b for v in values]
        ax.plot(x, ratios, marker="o", ms=4.5, lw=1.6, color=colour, label=_safe(label))
        top = max(top, *ratios)
    ax.axhline(1.0, color="#9ca3af", lw=1, ls="--")
    if top >= 4:  # a log scale only when some cost grows several-fold (attention weights with 8+ heads)
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.set_title(f"Cost relative to {table[0]['heads']} head(s)")
    ax.set_ylabel(f"× the cost at {table[0]['heads']} head(s)" + (" (log scale)" if top >= 4 else ""))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=7.5)


def sweep_figure(doc: Mapping[str, Any]):
    """The two-panel figure (quality | cost) of a sweep.json dictionary."""
    import numpy as np

    fig, (left, right) = _figure(10.5, 4.6, ncols=2)
    heads = [r["heads"] for r in doc["table"]]
    x = list(np.log2(heads))
    for ax, panel in ((left, _quality_panel), (right, _cost_panel)):
        panel(ax, doc, x)
        ax.set_xticks(x, [str(h) for h in heads])
        ax.set_xlabel(f"attention heads per layer (d_model {heads[0] * doc['table'][0]['d_head']})")
    return fig


@_rc
def sweep_svg(doc: Mapping[str, Any]) -> str:
    """The figure as one ``<svg>`` element (inline in sweep.html, and the sweep.svg file)."""
    return _svg(sweep_figure(doc), "sweep")


@_rc
def sweep_png(doc: Mapping[str, Any], dpi: int = 130) -> bytes:
    """The figure as PNG bytes (no timestamp or software metadata: the same sweep gives the same file)."""
    buf = io.BytesIO()
    sweep_figure(doc).savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()
