"""Which heads matter: gradient importance, single-head ablation and the iterative pruning curve.

Michel, Levy and Neubig (2019), "Are Sixteen Heads Really Better than One?": each head's output is
scaled by a gate ξ_h (1 = as trained); the importance of head ``h`` is the expected magnitude of the
loss's sensitivity to its gate, ``I_h = E_x |∂L(x)/∂ξ_h|`` (an expectation of absolute values, not
the absolute value of the mean gradient, whose terms of opposite sign cancel). One backward pass of
the summed loss through a per-example gate ``(B, H)`` gives every example's own ``∂L_x/∂ξ_{x,h}``,
because example ``x``'s loss depends only on its own gates. Optional per-layer L2 normalisation
(their §4.1) makes scores comparable across layers before a global ranking.

Heads are named ``(layer, head)`` in the ORIGINAL numbering of an
:class:`~attnlab.models.classifier.EncoderClassifier` (also after real pruning: pruned heads have no
score, NaN). A ``mask`` argument is a float array ``(n_layers, H)`` in that numbering, 1 = keep, 0 =
switch off. Inputs are :class:`~attnlab.train.loop.TensorData` splits; nothing here reads a config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from attnlab.errors import InputError
from attnlab.metrics.bootstrap import cm_metric_stack
from attnlab.metrics.compare import paired_bootstrap_test
from attnlab.metrics.functional.classification import positive_index
from attnlab.train.loop import TensorData, batch_order, to_batch

__all__ = ["HeadImportance", "ablate_heads", "head_grid", "head_importance", "head_metrics", "masked_predictions",
           "metric_paths", "pruning_curve", "removal_order"]

Head = tuple[int, int]


@dataclass(frozen=True)
class HeadImportance:
    """Gradient importance of every head, ``(n_layers, H)`` in the original numbering.

    Attributes:
        scores: ``E_x |∂L(x)/∂ξ_h|`` per head; NaN for heads pruned or masked off.
        normalized: ``scores`` divided by the L2 norm of its layer's scores (Michel et al. §4.1); a layer
            whose scores are all 0 is left as is.
        n_examples: Examples the expectation is over.
    """

    scores: np.ndarray
    normalized: np.ndarray
    n_examples: int

    def ranking(self, *, normalize: bool = True) -> list[Head]:
        """Heads with a score, least important first (ties: lower layer, then lower head first)."""
        values = self.normalized if normalize else self.scores
        heads = [(int(l), int(h)) for l, h in zip(*np.nonzero(~np.isnan(values)))]
        return sorted(heads, key=lambda lh: (values[lh], lh))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: nested lists with ``None`` for heads without a score, and the rank of each head."""
        rank = np.full(self.scores.shape, np.nan)
        for r, lh in enumerate(self.ranking()):
            rank[lh] = r
        return {"scores": _nested(self.scores), "normalized": _nested(self.normalized), "rank": _nested(rank, int),
                "n_examples": self.n_examples, "estimator": "E_x |dL(x)/dxi_h|, L = cross-entropy on the gold label",
                "rank_order": "0 = least important (by normalized score)"}


def _nested(a: np.ndarray, cast: type = float) -> list[list[Any]]:
    return [[None if np.isnan(v) else cast(v) for v in row] for row in a]


def head_grid(model: torch.nn.Module) -> tuple[int, int]:
    """``(n_layers, H)``: encoder layers and the largest ORIGINAL head count among them."""
    ids = [block.attn.n_heads + len(block.attn.pruned_heads) for block in model.blocks]
    return len(ids), max(ids)


def _full_mask(model: torch.nn.Module, mask: Any) -> np.ndarray:
    grid = head_grid(model)
    if mask is None:
        return np.ones(grid)
    mask = np.asarray(mask, dtype=np.float64)
    if mask.shape != grid:
        raise InputError(f"a head mask must have shape (n_layers, H) = {grid}, got {mask.shape}")
    return mask


def _layer_masks(model: torch.nn.Module, mask: np.ndarray | None, *, dtype: torch.dtype,
                 device: torch.device) -> list[torch.Tensor] | None:
    """Per layer ξ over the heads present ``(H_l,)``, or ``None`` when nothing is masked (the fast path)."""
    if mask is None:
        return None
    gates = [mask[l, block.attn.head_ids] for l, block in enumerate(model.blocks)]
    if all(bool(np.all(g == 1.0)) for g in gates):
        return None
    return [torch.tensor(g, dtype=dtype, device=device) for g in gates]


def _param(model: torch.nn.Module) -> torch.Tensor:
    return next(model.parameters())


def head_importance(model: torch.nn.Module, data: TensorData, *, mask: Any = None,
                    batch_size: int = 64) -> HeadImportance:
    """``E_x |∂L(x)/∂ξ_h|`` over ``data`` with L the cross-entropy of the gold label, in eval mode.

    Args:
        model: An :class:`~attnlab.models.classifier.EncoderClassifier` (pruned or not).
        data: The examples (usually the validation split) with their gold labels.
        mask: ``(n_layers, H)`` gates in the original numbering; heads gated to 0 get no score (NaN) and
            the others' gradients are taken with them switched off (iterative pruning).
        batch_size: Examples per backward pass.

    Returns:
        A :class:`HeadImportance`.
    """
    if len(data) == 0:
        raise InputError("head importance needs at least one example")
    model.eval()
    full = _full_mask(model, mask)
    p = _param(model)
    gates = [torch.tensor(full[l, block.attn.head_ids], dtype=p.dtype, device=p.device)
             for l, block in enumerate(model.blocks)]  # (H_l,) per layer
    total = np.zeros(full.shape)
    for idx in batch_order(data.lengths, batch_size, None):
        ids, real, labels = to_batch(data, idx, p.device)
        xis = [g.expand(len(idx), -1).clone().requires_grad_(True) for g in gates]  # (B, H_l): per example
        loss = F.cross_entropy(model(ids, real, head_mask=xis).logits, labels, reduction="sum")
        grads = torch.autograd.grad(loss, xis, allow_unused=True)  # layers without heads are unused
        for l, (g, block) in enumerate(zip(grads, model.blocks)):
            if g is not None:
                total[l, block.attn.head_ids] += g.abs().sum(0).double().cpu().numpy()  # Σ_x |∂L_x/∂ξ_x,h|
    scores = total / len(data)
    present = np.zeros(full.shape, dtype=bool)
    for l, block in enumerate(model.blocks):
        present[l, block.attn.head_ids] = True
    scores[~present | (full == 0.0)] = np.nan
    norms = np.sqrt(np.nansum(scores**2, axis=1, keepdims=True))  # (n_layers, 1)
    normalized = scores / np.where(norms > 0, norms, 1.0)
    return HeadImportance(scores, normalized, len(data))


@torch.no_grad()
def masked_predictions(model: torch.nn.Module, data: TensorData, *, mask: Any = None,
                       batch_size: int = 128) -> np.ndarray:
    """Predicted class indices ``(N,)`` in row order, with the heads gated by ``mask`` (eval mode)."""
    model.eval()
    p = _param(model)
    xis = _layer_masks(model, None if mask is None else _full_mask(model, mask), dtype=p.dtype, device=p.device)
    out = np.empty(len(data), dtype=np.int64)
    for idx in batch_order(data.lengths, batch_size, None):
        ids, real, _ = to_batch(data, idx, p.device)
        out[idx] = model(ids, real, head_mask=xis).logits.argmax(-1).cpu().numpy()  # (B,)
    return out


def head_metrics(y_true: np.ndarray, y_pred: np.ndarray, *, labels: Sequence[str],
                 positive_label: str | None = None) -> dict[str, float | None]:
    """Accuracy, macro-F1 and (binary) the positive class's F1 from the confusion matrix; ``None`` = undefined."""
    k = len(labels)
    cm = np.bincount(np.asarray(y_true) * k + np.asarray(y_pred), minlength=k * k).reshape(1, k, k)
    stack = cm_metric_stack(cm, labels)
    out = {"accuracy": stack["accuracy"][0], "macro_f1": stack["macro.f1"][0]}
    if positive_label is not None:
        out["positive_f1"] = stack[f"per_class.{positive_label}.f1"][0]
    return {name: None if np.isnan(v) else float(v) for name, v in out.items()}


def metric_paths(positive_label: str | None) -> dict[str, str]:
    """Names used here -> report.json metric paths: accuracy, macro-F1 and (binary) the positive class's F1."""
    paths = {"accuracy": "accuracy", "macro_f1": "macro.f1"}
    if positive_label is not None:
        paths["positive_f1"] = f"per_class.{positive_label}.f1"
    return paths


def ablate_heads(model: torch.nn.Module, data: TensorData, *, labels: Sequence[str], positive_label: str | None = None,
                 mask: Any = None, n_resamples: int = 1000, seed: int = 0, batch_size: int = 128) -> list[dict[str, Any]]:
    """Switch off one head at a time and measure the change of the metrics on ``data``, with paired CIs.

    Each head's predictions are compared with the model's own (same rows) by
    :func:`~attnlab.metrics.compare.paired_bootstrap_test`: difference ``ablated - full`` with its
    percentile interval and p-value, for accuracy, macro-F1 and (binary) the positive class's F1.

    Returns:
        One record per head with a gate of 1 in ``mask``: ``{"layer", "head", "metrics": {name: {baseline,
        system, difference, low, high, p_value, ...}}}`` in (layer, head) order.
    """
    if positive_label is not None:
        positive_index(list(labels), positive_label)  # a helpful error for an unknown label
    full = _full_mask(model, mask)
    y_true = [labels[i] for i in data.labels]
    base = [labels[i] for i in masked_predictions(model, data, mask=full, batch_size=batch_size)]
    paths = metric_paths(positive_label)
    records = []
    for l, block in enumerate(model.blocks):
        for h in block.attn.head_ids:
            if full[l, h] == 0.0:
                continue
            ablated = full.copy()
            ablated[l, h] = 0.0
            pred = [labels[i] for i in masked_predictions(model, data, mask=ablated, batch_size=batch_size)]
            test = paired_bootstrap_test(y_true, base, pred, labels=list(labels), metrics=list(paths.values()),
                                         positive_label=positive_label, n_resamples=n_resamples, seed=seed)
            records.append({"layer": l, "head": h, "metrics": {name: test[path] for name, path in paths.items()}})
    return records


def removal_order(model: torch.nn.Module, data: TensorData, *, n_remove: int | None = None, step: int = 1,
                  normalize: bool = True, min_heads_per_layer: int = 0, batch_size: int = 64
                  ) -> tuple[list[Head], list[HeadImportance]]:
    """Michel et al.'s iterative pruning order: gate off the ``step`` least important heads, recompute, repeat.

    Args:
        model: The classifier (its present heads are the candidates).
        data: Examples the importance is measured on (the validation split).
        n_remove: Heads to remove (default: every head that ``min_heads_per_layer`` allows).
        step: Heads removed between two importance computations (1 = recompute after every head).
        normalize: Rank by per-layer L2-normalised scores (else raw scores).
        min_heads_per_layer: Never leave a layer with fewer heads than this.
        batch_size: Examples per backward pass.

    Returns:
        ``(order, importances)``: heads in the order removed, and the importance computed before each step
        (``importances[0]`` is the unpruned model's).
    """
    if step < 1 or min_heads_per_layer < 0:
        raise InputError(f"step must be >= 1 and min_heads_per_layer >= 0, got {step} and {min_heads_per_layer}")
    mask = np.zeros(head_grid(model))
    for l, block in enumerate(model.blocks):
        mask[l, block.attn.head_ids] = 1.0
    room = int(sum(max(0, int(row.sum()) - min_heads_per_layer) for row in mask))
    n_remove = room if n_remove is None else n_remove
    if not 0 <= n_remove <= room:
        raise InputError(f"cannot remove {n_remove} heads: {room} can go (with at least {min_heads_per_layer} "
                         "per layer)")
    order: list[Head] = []
    importances: list[HeadImportance] = []
    while len(order) < n_remove:
        imp = head_importance(model, data, mask=mask, batch_size=batch_size)
        importances.append(imp)
        chosen = []
        for l, h in imp.ranking(normalize=normalize):
            if len(chosen) == min(step, n_remove - len(order)):
                break
            if mask[l].sum() - sum(1 for cl, _ in chosen if cl == l) > min_heads_per_layer:
                chosen.append((l, h))
        for l, h in chosen:
            mask[l, h] = 0.0
        order += chosen
    return order, importances


def pruning_curve(model: torch.nn.Module, rank_data: TensorData, eval_data: Mapping[str, TensorData], *,
                  labels: Sequence[str], positive_label: str | None = None, step_fraction: float = 0.1,
                  normalize: bool = True, min_heads_per_layer: int = 0, batch_size: int = 64) -> dict[str, Any]:
    """Metric against the fraction of heads removed, removing the least important heads iteratively.

    Heads are ranked on ``rank_data`` (validation) and gated off ``max(1, round(step_fraction · n_heads))`` at
    a time, recomputing the importance after each step (:func:`removal_order`); after each step the metrics
    are measured on every split of ``eval_data``.

    Returns:
        ``{"points": [{"n_removed", "fraction_removed", "removed": [[layer, head], ...], SPLIT: metrics}],
        "order": [[layer, head], ...], "n_heads", "step", "normalize", "min_heads_per_layer"}``; the first
        point is the full model, the removed sets are nested, fractions increase to the largest allowed.
    """
    if not 0.0 < step_fraction <= 1.0:
        raise InputError(f"step_fraction must be in (0, 1], got {step_fraction}")
    present = [(l, h) for l, block in enumerate(model.blocks) for h in block.attn.head_ids]
    step = max(1, round(step_fraction * len(present)))
    order, _ = removal_order(model, rank_data, step=step, normalize=normalize,
                             min_heads_per_layer=min_heads_per_layer, batch_size=batch_size)
    points = []
    cuts = sorted({0, *range(step, len(order), step), len(order)})
    for n in cuts:
        mask = np.zeros(head_grid(model))
        for l, h in present:
            mask[l, h] = 1.0
        for l, h in order[:n]:
            mask[l, h] = 0.0
        point = {"n_removed": n, "fraction_removed": n / len(present), "removed": [list(lh) for lh in order[:n]]}
        for name, split in eval_data.items():
            pred = masked_predictions(model, split, mask=mask)
            point[name] = head_metrics(split.labels, pred, labels=labels, positive_label=positive_label)
        points.append(point)
    return {"points": points, "order": [list(lh) for lh in order], "n_heads": len(present), "step": step,
            "normalize": normalize, "min_heads_per_layer": min_heads_per_layer, "ranked_on_examples": len(rank_data)}
