"""A deep ensemble of encoder classifiers: the mean of the members' class probabilities.

Members of the same shape are trained independently from different seeds on the same data (Lakshminarayanan et
al., 2017, "Simple and Scalable Predictive Uncertainty Estimation using Deep Ensembles"). Averaging their
probabilities removes much of the variance one small model trained from scratch has between seeds, which on
small data sets is often larger than the differences between settings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from attnlab.errors import InputError
from attnlab.models.outputs import ClassifierOutput

__all__ = ["EnsembleClassifier"]


class EnsembleClassifier(nn.Module):
    """Members' probabilities averaged; ``logits`` are their log, so ``softmax(logits)`` is the mean.

    ``logits = log((1/K) Σ_k softmax(z_k))`` computed as ``logsumexp_k(log_softmax(z_k)) - log K`` in float32,
    which is exact and never underflows. Argmax and probabilities are those of the averaged distribution.

    Per-head attention maps, head masks and pruning belong to one model: asking an ensemble for them raises
    :class:`~attnlab.errors.InputError`.

    Example:
        >>> import torch
        >>> from attnlab.models.classifier import EncoderClassifier
        >>> _ = torch.manual_seed(0)
        >>> members = [EncoderClassifier(vocab_size=20, n_classes=3, d_model=8, n_heads=2, n_layers=1, d_ff=16,
        ...                              max_len=6) for _ in range(2)]
        >>> ens = EnsembleClassifier(members).eval()
        >>> ids = torch.tensor([[3, 4, 5, 0]])
        >>> mean = (members[0](ids, ids != 0).logits.softmax(-1) + members[1](ids, ids != 0).logits.softmax(-1)) / 2
        >>> torch.allclose(ens(ids, ids != 0).logits.softmax(-1), mean, atol=1e-6)
        True
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise InputError(f"an ensemble needs at least 2 members, got {len(members)}")
        self.members = nn.ModuleList(members)
        first = self.members[0]
        self.max_len, self.pad_id, self.pooling = first.max_len, first.pad_id, first.pooling

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, *, return_attn: bool = False,
                head_mask: Tensor | None = None, packed: bool | None = None) -> ClassifierOutput:
        if return_attn or head_mask is not None:
            raise InputError(f"this model is an ensemble of {len(self.members)} classifiers; attention maps and "
                             "head masks belong to one model (train with --ensemble 1 to inspect heads)")
        logp = torch.stack([torch.log_softmax(m(input_ids, attention_mask, packed=packed).logits.float(), dim=-1)
                            for m in self.members])  # (K, B, C)
        return ClassifierOutput(torch.logsumexp(logp, dim=0) - math.log(len(self.members)), None)
