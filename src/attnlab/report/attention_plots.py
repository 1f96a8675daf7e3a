"""Attention maps and head statistics as figures (matplotlib, no pyplot): inline SVG for HTML, or SVG/PNG files.

Maps put tokens on both axes. Long inputs stay legible two ways: the full view is cut into pages of query
rows (all keys shown), and the top-k view lists, for each query token, its ``k`` most attended keys as
labelled cells — readable at any length, unlike a 300 × 300 heat map.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from attnlab.report.plots import _RC, _safe, _svg

__all__ = ["figure_bytes", "head_map_figure", "inline_svg", "natural_size", "head_stats_svg", "layer_grid_figure", "rollout_figure",
           "similarity_svg", "topk_figure"]

CMAP = "Blues"
_KIND_TITLES = {"encoder": "encoder self-attention", "decoder_self": "decoder self-attention (causal)",
                "cross": "cross-attention (target ← source)"}


def kind_title(kind: str) -> str:
    return _KIND_TITLES.get(kind, kind)


def _label(token: str, width: int = 14) -> str:
    token = _safe(token)
    return token if len(token) <= width else token[: width - 1] + "…"


def _new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    with matplotlib.rc_context({**_RC, "axes.grid": False}):
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def natural_size(svg: str) -> str:
    """Cap an inline ``<svg>`` (sized by CSS to the page width) at its natural width, read from its viewBox."""
    match = re.search(r'viewBox="[\d.]+ [\d.]+ ([\d.]+) [\d.]+"', svg)
    if not match or "<svg style=" in svg:
        return svg
    return svg.replace("<svg", f'<svg style="max-width:{float(match.group(1)):.0f}pt"', 1)


def inline_svg(fig: Any, name: str) -> str:
    """The figure as an inline ``<svg>`` shown at most at its natural size (small maps stay small)."""
    return natural_size(_svg(fig, name))


def _vmax(weights: np.ndarray) -> float:
    """Top of the colour scale: the largest weight drawn (near-uniform heads would be invisible on 0–1)."""
    top = float(np.nanmax(weights)) if weights.size else 1.0
    return top if top > 0 else 1.0


def figure_bytes(fig: Any, fmt: str, name: str) -> bytes:
    """The figure as ``svg`` (stable ids, text kept as text) or ``png`` (150 dpi) bytes."""
    import matplotlib

    if fmt == "svg":
        return _svg(fig, name).encode("utf-8")
    buf = io.BytesIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="png", dpi=150, metadata={"Software": None})
    return buf.getvalue()


def _ticks(ax: Any, q_tokens: Sequence[str], k_tokens: Sequence[str], fontsize: float) -> None:
    ax.set_xticks(range(len(k_tokens)), [_label(t) for t in k_tokens], rotation=90, fontsize=fontsize)
    ax.set_yticks(range(len(q_tokens)), [_label(t) for t in q_tokens], fontsize=fontsize)
    ax.tick_params(length=0)


def head_map_figure(weights: np.ndarray, q_tokens: Sequence[str], k_tokens: Sequence[str], *, title: str,
                    rows: tuple[int, int] | None = None) -> Any:
    """One head's map ``(T_q, T_k)`` with tokens on both axes; ``rows`` picks a page of query rows."""
    start, stop = rows or (0, weights.shape[0])
    part = weights[start:stop]
    n_q, n_k = part.shape
    size = 0.17
    fig, axes = _new_figure(max(3.2, 1.4 + n_k * size), max(2.4, 1.3 + n_q * size))
    ax = axes[0][0]
    image = ax.imshow(part, cmap=CMAP, vmin=0.0, vmax=_vmax(part), aspect="auto", interpolation="nearest")
    _ticks(ax, q_tokens[start:stop], k_tokens, 7.5 if max(n_q, n_k) <= 40 else 6.5)
    ax.set_xlabel("attended to (keys)")
    ax.set_ylabel("attending (queries)")
    ax.set_title(_safe(title))
    fig.colorbar(image, ax=ax, shrink=0.6, label="weight")
    return fig


def topk_figure(weights: np.ndarray, q_tokens: Sequence[str], k_tokens: Sequence[str], *, k: int, title: str,
                rows: tuple[int, int] | None = None) -> Any:
    """For each query row, its ``k`` largest weights: cells coloured by weight, labelled key token and position."""
    start, stop = rows or (0, weights.shape[0])
    part = weights[start:stop]
    k = min(k, part.shape[1])
    top = np.argsort(-part, axis=1, kind="stable")[:, :k]  # (rows, k)
    values = np.take_along_axis(part, top, axis=1)
    fig, axes = _new_figure(1.8 + 1.25 * k, max(2.0, 0.9 + 0.22 * len(part)))
    ax = axes[0][0]
    vmax = _vmax(values)
    ax.imshow(values, cmap=CMAP, vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
    for r in range(values.shape[0]):
        for c in range(k):
            j = int(top[r, c])
            ax.text(c, r, f"{_label(k_tokens[j], 10)} @{j} {values[r, c]:.2f}", ha="center", va="center",
                    fontsize=6.5, color="white" if values[r, c] > 0.55 * vmax else "#111827")
    ax.set_xticks(range(k), [f"#{c + 1}" for c in range(k)], fontsize=7.5)
    ax.set_yticks(range(len(part)), [f"{_label(t)} @{start + i}" for i, t in enumerate(q_tokens[start:stop])],
                  fontsize=7)
    ax.tick_params(length=0)
    ax.set_xlabel(f"top {k} keys per query (token @position weight)")
    ax.set_title(_safe(title))
    return fig


def layer_grid_figure(weights: np.ndarray, q_tokens: Sequence[str], k_tokens: Sequence[str], *,
                      title: str, max_labelled: int = 32) -> Any:
    """All heads of one layer side by side ``(H, T_q, T_k)``; tokens on the axes when the input is short."""
    n_heads = weights.shape[0]
    cols = max(1, min(4, n_heads))
    nrows = max(1, math.ceil(n_heads / cols))
    labelled = max(len(q_tokens), len(k_tokens)) <= max_labelled
    cell = 2.6 if labelled else 1.9
    fig, axes = _new_figure(1.1 + cols * cell, 0.5 + nrows * cell, nrows, cols)
    vmax, image = _vmax(weights), None
    for h in range(nrows * cols):
        ax = axes[h // cols][h % cols]
        if h >= n_heads:
            ax.axis("off")
            continue
        image = ax.imshow(weights[h], cmap=CMAP, vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
        if labelled:
            _ticks(ax, q_tokens if h % cols == 0 else [""] * len(q_tokens), k_tokens, 5.5)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_title(f"head {h}", fontsize=8.5)
    if n_heads == 0:
        axes[0][0].text(0.5, 0.5, "every head of this layer was pruned", ha="center", va="center")
    if image is not None:
        fig.colorbar(image, ax=[ax for row in axes for ax in row], shrink=0.8, label="weight")
    fig.suptitle(_safe(title), fontsize=10.5, fontweight="bold")
    return fig


def rollout_figure(tokens: Sequence[str], scores: Sequence[float], *, title: str) -> Any:
    """Attention rollout: each input token's share in the representation the classifier reads."""
    n = len(tokens)
    fig, axes = _new_figure(max(4.5, 1.0 + 0.2 * n), 2.4)
    ax = axes[0][0]
    ax.bar(range(n), scores, color="#2563eb")
    ax.set_xticks(range(n), [_label(t) for t in tokens], rotation=90, fontsize=7)
    ax.set_ylabel("share")
    ax.set_title(_safe(title))
    ax.grid(axis="y", color="#e5e7eb")
    return fig


def head_stats_svg(stats: Mapping[str, Any], name: str = "head-stats") -> str:
    """Layers × heads heat maps of entropy, mean distance and the special/self/previous shares."""
    per_head = stats["per_head"]
    heads = stats["heads"]
    panels = [("normalized_entropy", "normalised entropy (1 = uniform)", (0, 1)),
              ("distance", "mean distance (tokens)", None), ("share_special", "share on special tokens", (0, 1)),
              ("share_self", "share on itself", (0, 1)), ("share_previous", "share on previous token", (0, 1))]
    panels = [p for p in panels if any(row.get(p[0]) is not None for row in per_head)]
    width = max(heads) if heads and max(heads) > 0 else 1
    fig, axes = _new_figure(0.8 + 2.3 * len(panels), 1.0 + 0.35 * len(heads), 1, len(panels))
    for ax, (key, label, limits) in zip(axes[0], panels):
        grid = np.full((len(heads), width), np.nan)
        for row in per_head:
            if row.get(key) is not None:
                grid[row["layer"], row["head"]] = row[key]
        vmin, vmax = limits or (0.0, float(np.nanmax(grid)) if np.isfinite(grid).any() else 1.0)
        ax.imshow(grid, cmap=CMAP, vmin=vmin, vmax=max(vmax, 1e-9), aspect="auto", interpolation="nearest")
        for (r, c), v in np.ndenumerate(grid):
            if np.isfinite(v):
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=6.5,
                        color="white" if (v - vmin) / max(vmax - vmin, 1e-9) > 0.55 else "#111827")
        ax.set_xticks(range(width), [f"H{h}" for h in range(width)], fontsize=7)
        ax.set_yticks(range(len(heads)), [f"L{layer}" for layer in range(len(heads))], fontsize=7)
        ax.tick_params(length=0)
        ax.set_title(label, fontsize=8.5)
    return inline_svg(fig, name)


def similarity_svg(similarity: Mapping[str, Any], name: str = "head-similarity") -> str:
    """Head-to-head Jensen–Shannon divergence (bits): dark = the two heads attend alike."""
    names = similarity["heads"]
    js = np.asarray(similarity["js"], dtype=float)
    n = len(names)
    size = max(3.0, 1.2 + 0.28 * n)
    fig, axes = _new_figure(size + 0.8, size)
    ax = axes[0][0]
    image = ax.imshow(1.0 - js, cmap=CMAP, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks(range(n), names, rotation=90, fontsize=6.5 if n > 16 else 7.5)
    ax.set_yticks(range(n), names, fontsize=6.5 if n > 16 else 7.5)
    ax.tick_params(length=0)
    ax.set_title("head similarity: 1 − Jensen–Shannon divergence")
    fig.colorbar(image, ax=ax, shrink=0.7, label="1 − JS (bits)")
    return inline_svg(fig, name)
