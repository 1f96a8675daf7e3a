"""Head importance and pruning plots as inline SVG strings (matplotlib Figure objects, no pyplot).

Inputs are the JSON documents of :func:`attnlab.recipes.prune.head_report` (``importance`` and ``curve``), so
a report re-renders from report.json without torch. Drawing helpers and style come from
:mod:`attnlab.report.plots`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attnlab.report.plots import BLUE, GREY, ORANGE, _figure, _rc, _safe, _svg

__all__ = ["importance_heatmap_svg", "pruning_curve_svg"]

_METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "positive_f1": "F1"}


@_rc
def importance_heatmap_svg(importance: Mapping[str, Any], *, normalized: bool = True) -> str:
    """Layers × heads heat map of gradient importance; pruned heads (``None``) are blank, the rank is printed.

    Args:
        importance: ``head_report(...)["importance"]`` (``scores``, ``normalized``, ``rank`` as nested lists).
        normalized: Colour by the per-layer normalised scores (what the global ranking uses), else raw scores.
    """
    import numpy as np

    values = np.array([[np.nan if v is None else v for v in row]
                       for row in importance["normalized" if normalized else "scores"]], dtype=np.float64)
    rank = importance.get("rank")
    n_layers, n_heads = values.shape
    fig, (ax,) = _figure(min(1.6 + 0.55 * n_heads, 9.0), min(1.3 + 0.45 * n_layers, 7.0))
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto",
                      vmin=0.0, vmax=np.nanmax(values) if np.isfinite(values).any() else 1.0)
    ax.grid(False)
    ax.set_xticks(range(n_heads), [str(h) for h in range(n_heads)])
    ax.set_yticks(range(n_layers), [str(layer) for layer in range(n_layers)])
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title("Head importance" + (" (layer-normalised)" if normalized else ""))
    if n_heads * n_layers <= 144 and rank is not None:
        high = np.nanmax(values) if np.isfinite(values).any() else 1.0
        for l in range(n_layers):
            for h in range(n_heads):
                text = "pruned" if np.isnan(values[l, h]) else f"#{rank[l][h]}"
                ax.text(h, l, text, ha="center", va="center", fontsize=8,
                        color="#111827" if np.isnan(values[l, h]) or values[l, h] > 0.6 * high else "white")
    fig.colorbar(image, ax=ax, shrink=0.85)
    return _svg(fig, "head-importance")


@_rc
def pruning_curve_svg(curve: Mapping[str, Any], *, metric: str = "macro_f1", positive_label: Any = None,
                      splits: Sequence[str] = ("validation", "test")) -> str:
    """Metric against the fraction of heads removed (heads ranked on validation), one line per split, with
    the unpruned model's level as a dashed line.

    Args:
        curve: ``head_report(...)["curve"]`` (``points`` with ``fraction_removed`` and per-split metrics).
        metric: ``"accuracy"``, ``"macro_f1"`` or ``"positive_f1"``.
        positive_label: Named in the axis label for ``"positive_f1"``.
        splits: Which of the points' splits to draw.
    """
    points = curve["points"]
    fig, (ax,) = _figure(5.2, 3.2)
    name = _METRIC_NAMES.get(metric, metric)
    if metric == "positive_f1" and positive_label is not None:
        name = f"{_safe(positive_label)} F1"
    for split, colour in zip(splits, (BLUE, ORANGE, GREY)):
        xs = [p["fraction_removed"] for p in points if split in p]
        ys = [float("nan") if p[split].get(metric) is None else p[split][metric] for p in points if split in p]
        if not xs:
            continue
        ax.plot(xs, ys, marker="o", ms=3.5, color=colour, label=split)
        ax.axhline(ys[0], color=colour, lw=0.9, ls="--", alpha=0.7)
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("fraction of heads removed (least important first)")
    ax.set_ylabel(name)
    ax.set_title("Pruning curve (dashed: unpruned)")
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:.0%}")
    ax.legend(loc="lower left")
    return _svg(fig, "pruning-curve")
