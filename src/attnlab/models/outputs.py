"""Typed model outputs. Attention weights travel here as values, never as module attributes."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

__all__ = ["ClassifierOutput"]


class ClassifierOutput(NamedTuple):
    """What :class:`attnlab.models.classifier.EncoderClassifier` returns.

    Attributes:
        logits: ``(B, C)`` unnormalised class scores.
        attentions: One ``(B, H, T, T)`` weight tensor per layer when ``return_attn=True``,
            else ``None``.
    """

    logits: Tensor
    attentions: tuple[Tensor, ...] | None
