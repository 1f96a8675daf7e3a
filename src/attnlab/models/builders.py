"""Builders: the only place that turns a config into a module (modules take plain keyword arguments)."""

from __future__ import annotations

from attnlab.config import ModelConfig
from attnlab.models.classifier import EncoderClassifier


def build_classifier(cfg: ModelConfig, *, n_classes: int, vocab_size: int, pad_id: int) -> EncoderClassifier:
    """An :class:`EncoderClassifier` of the configured shape. ``vocab_size`` is the trained tokenizer's."""
    cfg.validate()
    return EncoderClassifier(
        vocab_size=vocab_size,
        n_classes=n_classes,
        d_model=cfg.d_model,
        n_heads=cfg.n_heads,
        n_layers=cfg.n_layers,
        d_ff=cfg.d_ff,
        max_len=cfg.max_len,
        dropout=cfg.dropout,
        pad_id=pad_id,
        pooling=cfg.pooling,
    )
