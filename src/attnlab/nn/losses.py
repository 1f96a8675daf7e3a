"""Token cross-entropy with label smoothing for large vocabularies, with a one-pass backward.

``F.cross_entropy(logits.float(), labels, ignore_index=..., label_smoothing=...)`` computes a log-softmax,
keeps it, and in the backward pass runs the log-softmax backward and adds the gradients of the NLL and
smoothing terms: several passes over the ``(tokens, vocabulary)`` matrix. For a translator that matrix is the
largest tensor of the step (1,500 target tokens x 4,000 subwords in mt-small). Here the forward keeps only the
float32 logits and each row's log-sum-exp, and the backward writes the gradient in one go:
``softmax(x) - (1 - ε)·onehot(y) - ε/V``, scaled by ``1/n`` on the rows that are not ignored. Same value and
gradient as PyTorch's (tests compare them in float64); on this project's 2-core CPU the output projection's
forward and backward with the loss ran in 68 ms instead of 109 ms at that shape (bf16 autocast, one thread).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["smoothed_cross_entropy"]


class _SmoothedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: Tensor, labels: Tensor, ignore_index: int, eps: float) -> Tensor:
        x = logits if logits.dtype in (torch.float32, torch.float64) else logits.float()  # (N, V)
        lse = torch.logsumexp(x, dim=-1)  # (N,)
        keep = labels != ignore_index  # (N,)
        safe = labels.masked_fill(~keep, 0)  # ignored rows point at class 0 and are zeroed below
        rows = lse - x.gather(1, safe[:, None]).squeeze(1)  # NLL per row
        if eps:
            rows = (1.0 - eps) * rows + eps * (lse - x.mean(dim=-1))  # + ε · mean over classes of -log p
        n = keep.sum().clamp(min=1).to(x.dtype)
        ctx.save_for_backward(x, lse, safe, keep, n)
        ctx.eps, ctx.in_dtype = eps, logits.dtype
        return (rows * keep).sum() / n

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        x, lse, safe, keep, n = ctx.saved_tensors
        eps, vocab = ctx.eps, x.size(1)
        g = torch.sub(x, lse[:, None]).exp_()  # softmax (N, V), a new tensor
        if eps:
            g.sub_(eps / vocab)
        g.scatter_add_(1, safe[:, None], torch.full((len(safe), 1), eps - 1.0, dtype=g.dtype, device=g.device))
        g.mul_((keep.to(g.dtype) * (grad / n))[:, None])
        return g.to(ctx.in_dtype), None, None, None


def smoothed_cross_entropy(logits: Tensor, labels: Tensor, *, ignore_index: int = -100,
                           label_smoothing: float = 0.0) -> Tensor:
    """Mean cross-entropy over the rows whose label is not ``ignore_index``, with label smoothing.

    The value and gradient of ``F.cross_entropy(logits.float(), labels, ignore_index=ignore_index,
    label_smoothing=label_smoothing)`` (computed in float32, or float64 for float64 logits; the gradient comes
    back in the logits' dtype), except that a batch whose every label is ignored gives 0 instead of NaN.

    Args:
        logits: ``(N, V)`` scores, any float dtype (bf16 logits from autocast are read as float32).
        labels: ``(N,)`` class ids.
        ignore_index: Label of rows that do not count (padding).
        label_smoothing: ε in [0, 1): the target is ``(1 - ε)·onehot + ε/V``.

    >>> logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    >>> round(smoothed_cross_entropy(logits, torch.tensor([0, -100])).item(), 4)  # row 2 ignored
    0.2395
    """
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"logits must be (N, V) and labels (N,), got {tuple(logits.shape)} and {tuple(labels.shape)}")
    return _SmoothedCrossEntropy.apply(logits, labels, int(ignore_index), float(label_smoothing))
