"""Builders: the only place that turns a config into a module (modules take plain keyword arguments)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from attnlab.config import ModelConfig
from attnlab.errors import InputError
from attnlab.models.classifier import EncoderClassifier


def build_classifier(cfg: ModelConfig, *, n_classes: int, vocab_size: int, pad_id: int,
                     pruned_heads: Mapping[int, Iterable[int]] | None = None):
    """An :class:`EncoderClassifier` of the configured shape. ``vocab_size`` is the trained tokenizer's.

    ``cfg.ensemble`` > 1: an :class:`~attnlab.models.ensemble.EnsembleClassifier` of that many such models, built
    one after another from the current torch RNG (member 0 gets the weights a single model would get).

    ``pruned_heads`` (``{layer: [original head index, ...]}``, as recorded in a pruned run's config.json)
    removes those heads after construction, so a pruned run's weights load into the model.
    """
    cfg.validate()
    if cfg.ensemble > 1:
        from attnlab.models.ensemble import EnsembleClassifier

        if pruned_heads:
            raise InputError("an ensemble's heads cannot be pruned; prune a single model (--ensemble 1)")
        single = dataclasses.replace(cfg, ensemble=1)
        return EnsembleClassifier([build_classifier(single, n_classes=n_classes, vocab_size=vocab_size, pad_id=pad_id)
                                   for _ in range(cfg.ensemble)])
    model = EncoderClassifier(
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
    if pruned_heads:
        model.prune_heads(pruned_heads)
    return model


def build_translator(cfg, *, src_vocab_size: int, tgt_vocab_size: int, pad_id: int):
    """A :class:`~attnlab.models.seq2seq.Seq2SeqTransformer` of the configured shape (``Seq2SeqModelConfig``)."""
    from attnlab.models.seq2seq import Seq2SeqTransformer

    cfg.validate()
    return Seq2SeqTransformer(
        src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, d_model=cfg.d_model, n_heads=cfg.n_heads,
        n_encoder_layers=cfg.n_encoder_layers, n_decoder_layers=cfg.n_decoder_layers, d_ff=cfg.d_ff,
        max_len=cfg.max_len, dropout=cfg.dropout, pad_id=pad_id, tie_embeddings=cfg.tie_embeddings,
        positions=cfg.positions)
