"""The report's plots as inline SVG strings, drawn with matplotlib (Agg/SVG, no pyplot state).

Each function takes plain data from the report dictionary (and the training history) and returns one
``<svg>`` element ready to be inlined in HTML. matplotlib is imported here only, when a plot is drawn.
Text stays text in the SVG (``svg.fonttype: none``): small files and searchable labels. Label names are
escaped for mathtext (``$``) and the SVG writer escapes XML, so dataset labels cannot inject markup.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

BLUE, ORANGE, GREEN, RED, GREY, PURPLE = "#2563eb", "#ea580c", "#16a34a", "#dc2626", "#6b7280", "#7c3aed"
_RC = {"svg.fonttype": "none", "font.family": "sans-serif", "font.size": 9.5, "axes.spines.top": False,
       "axes.spines.right": False, "axes.grid": True, "grid.color": "#e5e7eb", "grid.linewidth": 0.8,
       "axes.edgecolor": "#9ca3af", "axes.titlesize": 10.5, "axes.titleweight": "bold", "legend.frameon": False,
       "legend.fontsize": 8.5, "axes.axisbelow": True}


def _figure(width: float, height: float, ncols: int = 1):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(width, height), layout="constrained")
        axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _svg(fig, name: str) -> str:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({**_RC, "svg.hashsalt": f"attnlab-{name}"}):  # unique, stable ids per plot
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)  # RDF block: nothing to show
    # size from CSS (max-width: 100%), keep the viewBox; a role and a title for screen readers
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', rf'<svg\1 role="img" class="plot plot-{name}"',
                  text, count=1)
    return text


def _safe(label: Any) -> str:
    """A label as literal text for matplotlib (no mathtext)."""
    return str(label).replace("$", r"\$")


def _rc(func):
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(_RC):
            return func(*args, **kwargs)
    wrapper.__doc__, wrapper.__name__ = func.__doc__, func.__name__
    return wrapper


@_rc
def confusion_svg(labels: Sequence[Any], matrix: Sequence[Sequence[int]], positive_label: Any | None) -> str:
    """Counts and row-normalised heatmaps side by side (rows = true, columns = predicted); for a binary
    task the cells are named TP/FN/FP/TN for the positive class."""
    import numpy as np

    cm = np.asarray(matrix, dtype=np.float64)
    k = len(labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = cm / cm.sum(axis=1, keepdims=True)
    names: dict[tuple[int, int], str] = {}
    if positive_label is not None and k == 2:
        p = list(labels).index(positive_label)
        n = 1 - p
        names = {(p, p): "TP", (p, n): "FN", (n, p): "FP", (n, n): "TN"}
    side = min(3.2 + 0.35 * k, 7.0)
    fig, (ax1, ax2) = _figure(2 * side + 0.6, side, ncols=2)
    for ax, data, title, fmt in ((ax1, cm, "Counts", "count"), (ax2, norm, "Row-normalised (recall per class)", "rate")):
        shown = np.nan_to_num(data / max(cm.max(), 1) if fmt == "count" else data)
        ax.imshow(shown, cmap="Blues", vmin=0, vmax=1)
        ax.grid(False)
        ax.set_title(title)
        ax.set_xticks(range(k), [_safe(x) for x in labels], rotation=30 if k > 4 else 0, ha="right" if k > 4 else "center")
        ax.set_yticks(range(k), [_safe(x) for x in labels])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        for spine in ax.spines.values():
            spine.set_visible(False)
        if k <= 12:
            for i in range(k):
                for j in range(k):
                    value = f"{int(cm[i, j])}" if fmt == "count" else ("—" if np.isnan(data[i, j]) else f"{data[i, j]:.1%}")
                    tag = names.get((i, j))
                    text = f"{tag}\n{value}" if tag else value
                    ax.text(j, i, text, ha="center", va="center", fontsize=10 if k <= 4 else 8,
                            fontweight="bold" if tag else "normal",
                            color="white" if shown[i, j] > 0.55 else "#111827")
    return _svg(fig, "confusion")


@_rc
def per_class_svg(per_class: Mapping[str, Mapping[str, Any]], intervals: Mapping[str, Sequence[float]]) -> str:
    """Grouped precision / recall / F1 bars per class, with bootstrap intervals as error bars."""
    import numpy as np

    labels = list(per_class)
    k = len(labels)
    fig, (ax,) = _figure(min(3.0 + 1.1 * k, 10.5), 3.4)
    width = 0.26
    for j, (metric, colour) in enumerate((("precision", BLUE), ("recall", ORANGE), ("f1", GREEN))):
        values = [per_class[lab].get(metric) for lab in labels]
        x = np.arange(k) + (j - 1) * width
        heights = [v if v is not None else 0.0 for v in values]
        low, high = [], []
        for lab, v in zip(labels, heights):
            ci = intervals.get(f"per_class.{lab}.{metric}")
            low.append(max(v - ci[0], 0) if ci else 0)
            high.append(max(ci[1] - v, 0) if ci else 0)
        ax.bar(x, heights, width, label="F1" if metric == "f1" else metric, color=colour, alpha=0.85)
        if any(low) or any(high):
            ax.errorbar(x, heights, yerr=[low, high], fmt="none", ecolor="#374151", elinewidth=1, capsize=2.5)
        for xi, v in zip(x, values):
            ax.text(xi, 0.02, "n/a" if v is None else f"{v:.2f}", ha="center", va="bottom", fontsize=7.5,
                    color="white" if v and v > 0.12 else "#374151", rotation=90)
    ax.set_xticks(range(k), [_safe(f"{lab}\n(n={per_class[lab].get('support', '?')})") for lab in labels])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16 if k <= 4 else -0.2), ncol=3)
    return _svg(fig, "per-class")


def _mark_operating_point(ax: Any, point: tuple[float, float] | None, x_name: str, y_name: str) -> None:
    """The chosen threshold's (x, y) as a red dot, named in the legend; nothing when there is none."""
    if point:
        ax.plot(*point, "o", ms=9, color=RED, mec="white", mew=1.5, zorder=5,
                label=f"operating point ({x_name} {point[0]:.3f}, {y_name} {point[1]:.3f})")


@_rc
def roc_svg(fpr: Sequence[float], tpr: Sequence[float], auc: float | None, point: tuple[float, float] | None) -> str:
    """ROC curve with the chance diagonal and the operating point (FPR, TPR)."""
    fig, (ax,) = _figure(4.4, 3.9)
    ax.plot([0, 1], [0, 1], ls="--", color=GREY, lw=1, label="chance")
    ax.plot(fpr, tpr, color=BLUE, lw=2, drawstyle="default",
            label="ROC" + ("" if auc is None else f" (AUC {auc:.3f})"))
    _mark_operating_point(ax, point, "FPR", "TPR")
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="false positive rate", ylabel="true positive rate (recall)")
    ax.legend(loc="lower right")
    return _svg(fig, "roc")


@_rc
def pr_svg(precision: Sequence[float], recall: Sequence[float], ap: float | None, prevalence: float | None,
           point: tuple[float, float] | None) -> str:
    """Precision-recall curve (step), the no-skill line at the positive prevalence, the operating point."""
    fig, (ax,) = _figure(4.4, 3.9)
    if prevalence is not None:
        ax.axhline(prevalence, ls="--", color=GREY, lw=1, label=f"no skill (prevalence {prevalence:.3f})")
    ax.step(recall, precision, where="post", color=PURPLE, lw=2,
            label="PR" + ("" if ap is None else f" (AP {ap:.3f})"))
    _mark_operating_point(ax, point, "R", "P")
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.05), xlabel="recall", ylabel="precision")
    ax.legend(loc="lower left")
    return _svg(fig, "pr")


# One-vs-rest lines: the ten Tableau colours (colour-blind-aware, distinct), then again dashed, then dotted.
_CYCLE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf")
_DASHES = ("-", "--", ":")


def _class_style(i: int) -> dict[str, Any]:
    return {"color": _CYCLE[i % len(_CYCLE)], "ls": _DASHES[(i // len(_CYCLE)) % len(_DASHES)], "lw": 1.6}


def _short(label: Any, width: int = 28) -> str:
    text = str(label)
    return _safe(text if len(text) <= width else text[: width - 1] + "…")


def _ovr_figure(n: int):
    """A square-ish plot with the per-class legend below it (taller with more classes)."""
    ncol = 1 if n <= 6 else 2
    fig, (ax,) = _figure(4.4, 3.6 + 0.2 * -(-n // ncol))
    return fig, ax, ncol


@_rc
def roc_ovr_svg(ovr: Mapping[str, Mapping[str, Any] | None]) -> str:
    """One-vs-rest ROC curves, one line per class (each class against all the others), AUC in the legend."""
    drawn = [(lab, c) for lab, c in ovr.items() if c and c.get("roc")]
    fig, ax, ncol = _ovr_figure(len(drawn))
    ax.plot([0, 1], [0, 1], color=GREY, lw=1, ls=(0, (4, 3)), label="chance")
    for i, (lab, c) in enumerate(drawn):
        auc = c.get("auc")
        ax.plot(c["roc"]["fpr"], c["roc"]["tpr"], **_class_style(i),
                label=_short(lab) + (" (AUC n/a)" if auc is None else f" (AUC {auc:.3f})"))
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel="false positive rate (class vs rest)",
           ylabel="true positive rate (recall)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol)
    return _svg(fig, "roc-ovr")


@_rc
def pr_ovr_svg(ovr: Mapping[str, Mapping[str, Any] | None]) -> str:
    """One-vs-rest precision-recall curves (step), one line per class, AP in the legend."""
    drawn = [(lab, c) for lab, c in ovr.items() if c and c.get("pr")]
    fig, ax, ncol = _ovr_figure(len(drawn))
    for i, (lab, c) in enumerate(drawn):
        ap = c.get("ap")
        ax.step(c["pr"]["recall"], c["pr"]["precision"], where="post", **_class_style(i),
                label=_short(lab) + (" (AP n/a)" if ap is None else f" (AP {ap:.3f})"))
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.05), xlabel="recall (class vs rest)", ylabel="precision")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol)
    return _svg(fig, "pr-ovr")


@_rc
def threshold_svg(curve: Mapping[str, Sequence[float]], chosen: float | None, chosen_label: str) -> str:
    """Precision, recall and F1 of the positive class against the decision threshold."""
    fig, (ax,) = _figure(4.4, 3.9)
    t = curve["threshold"]
    ax.plot(t, curve["precision"], color=BLUE, lw=1.8, label="precision", drawstyle="steps-post")
    ax.plot(t, curve["recall"], color=ORANGE, lw=1.8, label="recall", drawstyle="steps-post")
    ax.plot(t, curve["f1"], color=GREEN, lw=1.8, label="F1", drawstyle="steps-post")
    if chosen is not None:
        ax.axvline(chosen, color=RED, lw=1.5, ls="--", label=_safe(chosen_label))
    lo, hi = min(min(t), 0.0), max(max(t), 1.0)
    ax.set(xlim=(lo, hi), ylim=(-0.02, 1.05), xlabel="threshold on the positive-class score", ylabel="score")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    return _svg(fig, "threshold")


@_rc
def calibration_svg(cal: Mapping[str, Any], ece: float | None) -> str:
    """Reliability diagram: observed frequency per probability bin against the diagonal, bin counts below."""
    import numpy as np

    edges = np.asarray(cal["edges"], dtype=np.float64)
    centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    observed = np.array([np.nan if v is None else v for v in cal["observed"]])
    mean_pred = np.array([np.nan if v is None else v for v in cal["mean_predicted"]])
    fig, (ax,) = _figure(4.4, 3.9)
    positive = cal["kind"] == "positive_class"
    ax.plot([0, 1], [0, 1], ls="--", color=GREY, lw=1, label="perfectly calibrated")
    ax.bar(centres, np.nan_to_num(observed), width * 0.9, color=BLUE, alpha=0.25, edgecolor=BLUE,
           label="observed " + ("positive share" if positive else "accuracy"))
    ok = ~np.isnan(observed)
    ax.plot(mean_pred[ok], observed[ok], "o-", color=BLUE, ms=4, lw=1.5,
            label="model" + ("" if ece is None else f" (ECE {ece:.3f})"))
    counts = cal["count"]
    for c, n in zip(centres, counts):
        if n:
            ax.text(c, 1.01, str(n), ha="center", va="bottom", fontsize=6.5, color=GREY)
    ax.set(xlim=(0, 1), ylim=(0, 1.1), ylabel="observed frequency",
           xlabel="predicted probability of the positive class" if positive else "top-label confidence")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    return _svg(fig, "calibration")


#: Validation curves of a classification run's history: (history key, legend name).
CLASSIFICATION_CURVES = (("val_accuracy", "accuracy"), ("val_macro_f1", "macro F1"), ("val_mcc", "MCC"),
                         ("val_balanced_accuracy", "balanced accuracy"))
#: Validation curves of a translation run's history (greedy decoding of the validation split, 0-100).
TRANSLATION_CURVES = (("val_bleu", "BLEU"), ("val_chrf", "chrF"))


def _nan(values: Sequence[Any]) -> list[float]:
    return [float("nan") if v is None else v for v in values]


def _training_axes(xs: Sequence[float], history: Sequence[Mapping[str, Any]], curves: Sequence[tuple[str, str]],
                   metrics_title: str, colours: Sequence[str] = (PURPLE, GREEN, "#0891b2", GREY)):
    """The two panels every training plot shares: train/validation loss, and the validation ``curves``
    present in ``history`` (in ``colours``, in turn), each drawn against ``xs`` (one value per history row)."""
    fig, (ax1, ax2) = _figure(9.6, 3.9, ncols=2)
    for key, colour, name in (("train_loss", BLUE, "train loss"), ("val_loss", ORANGE, "validation loss")):
        ys = [h.get(key) for h in history]
        if any(y is not None for y in ys):
            ax1.plot(xs, _nan(ys), "o-", ms=3.5, color=colour, label=name)
    present = [(key, name) for key, name in curves if any(h.get(key) is not None for h in history)]
    for (key, name), colour in zip(present, colours):
        ax2.plot(xs, _nan([h.get(key) for h in history]), "o-", ms=3.5, color=colour, label=name)
    ax1.set(title="Loss", ylabel="cross-entropy")
    ax2.set(title=metrics_title, ylabel="score")
    return fig, (ax1, ax2)


def _training_legend(fig: Any, axes: Sequence[Any]) -> None:
    """One legend below both panels, each name once."""
    handles, names = [], []
    for ax in axes:
        for h, n in zip(*ax.get_legend_handles_labels()):
            if n not in names:
                handles.append(h)
                names.append(n)
    fig.legend(handles, names, loc="outside lower center", ncol=min(len(names), 4))


@_rc
def training_svg(history: Sequence[Mapping[str, Any]], selected_epoch: int | None,
                 overfit: Mapping[str, Any] | None) -> str:
    """Loss (train and validation) and validation metrics per epoch; the selected epoch and, when the
    overfitting check fired, where validation loss started rising."""
    epochs = [h["epoch"] for h in history]
    fig, axes = _training_axes(epochs, history, CLASSIFICATION_CURVES, "Validation metrics")
    for ax in axes:
        if selected_epoch is not None:
            ax.axvline(selected_epoch, color=GREEN, lw=1.5, ls="--", label=f"selected epoch {selected_epoch}")
        if overfit:
            start = overfit.get("best_epoch")
            ax.axvspan(start, max(epochs), color=RED, alpha=0.08,
                       label=f"overfitting: validation loss rising after epoch {start}")
        ax.set_xlabel("epoch")
        ax.set_xticks(epochs if len(epochs) <= 20 else epochs[:: max(1, len(epochs) // 10)])
    _training_legend(fig, axes)
    return _svg(fig, "training")


@_rc
def translation_training_svg(history: Sequence[Mapping[str, Any]], selected_epoch: int | None) -> str:
    """Translation run: loss and validation BLEU/chrF against elapsed training time in minutes (per epoch
    when a history row lacks ``elapsed_seconds``), the selected epoch marked."""
    seconds = [h.get("elapsed_seconds") for h in history]
    timed = all(isinstance(s, (int, float)) for s in seconds)
    xs = [s / 60 for s in seconds] if timed else [h["epoch"] for h in history]
    fig, axes = _training_axes(xs, history, TRANSLATION_CURVES, "Validation (greedy decoding)",
                               colours=(PURPLE, "#0891b2"))  # green stays the selected epoch's
    at = next((x for x, h in zip(xs, history) if h.get("epoch") == selected_epoch), None)
    label = f"selected epoch {selected_epoch}" + (f" ({at:.1f} min)" if timed and at is not None else "")
    for ax in axes:
        if at is not None:
            ax.axvline(at, color=GREEN, lw=1.5, ls="--", label=label)
        ax.set_xlabel("training time (minutes)" if timed else "epoch")
    _training_legend(fig, axes)
    return _svg(fig, "training")


@_rc
def lengths_svg(hyp_lengths: Sequence[int], ref_lengths: Sequence[int]) -> str:
    """Translation: hypothesis against reference length per segment (words), with the y = x line."""
    fig, (ax,) = _figure(4.4, 3.9)
    top = max([1, *hyp_lengths, *ref_lengths])
    ax.plot([0, top], [0, top], ls="--", color=GREY, lw=1, label="same length")
    ax.plot(ref_lengths, hyp_lengths, "o", ms=4, alpha=0.6, color=BLUE, label="segment")
    ax.set(xlabel="reference length (words)", ylabel="hypothesis length (words)", xlim=(0, top * 1.05),
           ylim=(0, top * 1.05))
    ax.legend(loc="upper left")
    return _svg(fig, "lengths")
