"""Typed, flat run configuration.

One dataclass per concern (nanoGPT / minGPT style). Only builders and recipes read configs; modules take
plain keyword arguments. Unknown keys and wrong types are errors, never silently ignored.

>>> cfg = preset("tiny")
>>> cfg.model.d_model, cfg.model.n_heads
(128, 4)
>>> RunConfig.from_dict({"model": {"d_model": 96, "n_heads": 5}})
Traceback (most recent call last):
...
attnlab.errors.InputError: d_model=96 is not divisible by n_heads=5 (each head gets d_model/n_heads dimensions); use a head count that divides 96, e.g. 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 96
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from attnlab.errors import InputError


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the Transformer encoder classifier."""

    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 512
    dropout: float = 0.1
    pooling: Literal["mean", "max", "cls"] = "mean"
    vocab_size: int = 8000
    max_len: int = 128
    # > 1: that many models of this shape, trained one after another from seeds seed, seed + 1, ... on the same
    # split and tokenizer; the run predicts the mean of their class probabilities (a deep ensemble).
    ensemble: int = 1

    def validate(self) -> None:
        for name in ("d_model", "n_heads", "n_layers", "d_ff", "vocab_size", "max_len"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if isinstance(self.ensemble, bool) or not isinstance(self.ensemble, int) or not 1 <= self.ensemble <= 32:
            raise InputError(f"ensemble must be a whole number of models from 1 to 32, got {self.ensemble!r}; "
                             "use e.g. --ensemble 5 (1 = a single model)")
        if self.d_model % self.n_heads:
            divisors = [h for h in range(1, self.d_model + 1) if self.d_model % h == 0]
            raise InputError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads} "
                f"(each head gets d_model/n_heads dimensions); use a head count that divides "
                f"{self.d_model}, e.g. {', '.join(map(str, divisors))}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.vocab_size < 16:
            raise InputError(f"vocab_size={self.vocab_size} is too small; use at least 16 (e.g. 8000)")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and early stopping. The monitored metric is always computed on validation."""

    epochs: int = 12
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    grad_clip: float = 1.0
    patience: int = 4
    monitor: Literal["macro_f1", "accuracy", "val_loss"] = "macro_f1"
    class_weights: Literal["none", "balanced"] = "none"
    label_smoothing: float = 0.0
    ema_decay: float = 0.0  # > 0: validate, keep and save an exponential moving average of the weights
    seed: int = 0
    checkpoint_every: int = 200  # steps between mid-epoch checkpoints (0: only at epoch ends)
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # autocast; auto = bf16 on CUDA, fp32 on CPU
    compile: bool = False  # torch.compile the model for training and inference

    def validate(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.lr <= 0:
            raise InputError(f"lr must be positive, got {self.lr}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise InputError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.patience < 0:
            raise InputError(f"patience must be >= 0 (0 disables early stopping), got {self.patience}")
        _check_ema_decay(self.ema_decay)
        if self.checkpoint_every < 0:
            raise InputError(f"checkpoint_every must be >= 0 steps (0 = at epoch ends only), got {self.checkpoint_every}")


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split. ``source`` is a file path or a built-in name."""

    source: str = "sms-spam"
    text_column: str = "text"
    label_column: str = "label"
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    positive_label: str | None = None

    def validate(self) -> None:
        _check_split_fractions(self)


@dataclass(frozen=True)
class RunConfig:
    """Everything a classification run needs; saved verbatim as config.json in the run directory."""

    task: Literal["classify"] = "classify"
    preset: str = "tiny"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    device: str = "auto"

    def validate(self) -> "RunConfig":
        self.model.validate()
        self.train.validate()
        self.data.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RunConfig":
        return _build(cls, raw, "config").validate()

    def replace(self, **sections: dict[str, Any]) -> "RunConfig":
        """Return a copy with some fields of some sections replaced, e.g. ``replace(model={"n_heads": 8})``."""
        return RunConfig.from_dict(_merged(self.to_dict(), sections))


def _check_ema_decay(value: float) -> None:
    """The weight average's decay per step, shared by classification and translation training."""
    if not 0.0 <= value < 1.0:
        raise InputError(f"ema_decay must be in [0, 1) (0 = off; 0.99 averages over ~100 steps), got {value}")


def _check_split_fractions(data: Any) -> None:
    """``val_fraction`` and ``test_fraction`` of a data section are each in (0, 0.5)."""
    for name in ("val_fraction", "test_fraction"):
        value = getattr(data, name)
        if not 0.0 < value < 0.5:
            raise InputError(f"{name} must be in (0, 0.5), got {value}")


def _merged(base: dict[str, Any], sections: dict[str, Any]) -> dict[str, Any]:
    """``base`` (a config as a dict) with the fields in ``sections`` laid over its sections (or top-level keys)."""
    for section, values in sections.items():
        if isinstance(base.get(section), dict):
            base[section].update(values)
        else:
            base[section] = values
    return base


def _build(cls: type, raw: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a dict, rejecting unknown keys and wrong types."""
    if not isinstance(raw, dict):
        raise InputError(f"{where} must be a JSON object, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(unknown)} in {where}; known keys: {', '.join(sorted(names))}")
    kwargs = {}
    for key, value in raw.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value, f"{where}.{key}")
        else:
            kwargs[key] = _coerce(value, hint, f"{where}.{key}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is Literal:
        if value not in typing.get_args(hint):
            choices = ", ".join(map(str, typing.get_args(hint)))
            raise InputError(f"{where} must be one of {choices}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise InputError(f"{where} must be {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


# Presets: named starting points. `tiny` trains on this 2-core CPU in well under a minute on SMS spam.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "tiny": {
        "model": {"d_model": 128, "n_heads": 4, "n_layers": 2, "d_ff": 512, "max_len": 128, "vocab_size": 8000},
        "train": {"epochs": 12, "batch_size": 32, "lr": 5e-4},
    },
    "small": {
        "model": {"d_model": 256, "n_heads": 8, "n_layers": 4, "d_ff": 1024, "max_len": 256, "vocab_size": 16000},
        "train": {"epochs": 15, "batch_size": 32, "lr": 5e-4},
    },
    "base": {
        "model": {"d_model": 768, "n_heads": 12, "n_layers": 12, "d_ff": 3072, "max_len": 512, "vocab_size": 30522},
        "train": {"epochs": 10, "batch_size": 32, "lr": 1e-4},
    },
}


# Per-dataset presets: the `tiny` preset with these overrides, used when DATA is a built-in dataset and no
# --preset is given (flags still override). Tuned with benchmarks/datasets.py on a 2-core CPU; see README.
DATASET_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "sms-spam": {},
    "trec": {"model": {"max_len": 40, "vocab_size": 4000, "dropout": 0.3, "pooling": "cls", "ensemble": 5},
             "train": {"epochs": 30, "patience": 8, "monitor": "accuracy", "lr": 5e-4,
                       "weight_decay": 0.1, "label_smoothing": 0.1, "ema_decay": 0.99}},
    "trec-fine": {"model": {"max_len": 40, "vocab_size": 4000, "dropout": 0.3},
                  "train": {"epochs": 30, "patience": 8, "monitor": "accuracy", "lr": 5e-4}},
    "movie-sentences": {"model": {"max_len": 64, "vocab_size": 8000, "dropout": 0.3, "n_layers": 1, "ensemble": 5},
                        "train": {"epochs": 8, "patience": 3, "monitor": "accuracy", "weight_decay": 0.1}},
    "20newsgroups": {"model": {"max_len": 192, "vocab_size": 16000, "n_layers": 1, "d_ff": 256, "dropout": 0.1},
                     "train": {"epochs": 4, "patience": 2, "monitor": "accuracy", "lr": 2e-3, "batch_size": 32}},
}


def dataset_preset(source: str) -> RunConfig:
    """The preset for ``source``: ``tiny`` with the dataset's overrides when it is a built-in name, else ``tiny``.

    >>> dataset_preset("trec").model.max_len, dataset_preset("trec").preset, dataset_preset("x.csv").preset
    (40, 'tiny+trec', 'tiny')
    """
    overrides = DATASET_PRESETS.get(str(source))
    if not overrides:
        return preset("tiny")
    return preset("tiny").replace(preset=f"tiny+{source}", **overrides)


def preset(name: str) -> RunConfig:
    """Return the named preset as a validated :class:`RunConfig`."""
    if name not in PRESETS:
        raise InputError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return RunConfig.from_dict({"preset": name, **PRESETS[name]})


# ---------------------------------------------------------------------------------------------------------------
# Translation (`--task translate`): its own sections, because an encoder–decoder has different knobs.


@dataclass(frozen=True)
class Seq2SeqModelConfig:
    """Shape of the encoder–decoder translator and its subword vocabulary."""

    d_model: int = 256
    n_heads: int = 4
    n_encoder_layers: int = 3
    n_decoder_layers: int = 3
    d_ff: int = 1024
    dropout: float = 0.1
    vocab_size: int = 8000
    shared_vocab: bool = True
    tie_embeddings: Literal["none", "decoder", "all"] = "all"
    positions: Literal["learned", "sinusoidal"] = "learned"
    max_len: int = 128

    def validate(self) -> None:
        for name in ("d_model", "n_heads", "n_encoder_layers", "n_decoder_layers", "d_ff", "vocab_size", "max_len"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be a positive integer, got {getattr(self, name)}")
        ModelConfig(d_model=self.d_model, n_heads=self.n_heads, dropout=self.dropout).validate()
        if self.vocab_size <= 260:
            raise InputError(f"vocab_size={self.vocab_size} is too small for a BPE vocabulary with 256 byte tokens; "
                             "use e.g. 8000")
        if self.max_len < 8:
            raise InputError(f"max_len={self.max_len} is too short for sentences; use e.g. 128")
        if self.tie_embeddings == "all" and not self.shared_vocab:
            raise InputError("tie_embeddings 'all' needs shared_vocab true; use tie_embeddings 'decoder' with "
                             "separate vocabularies")


@dataclass(frozen=True)
class Seq2SeqTrainConfig:
    """Optimisation of the translator. Batches hold up to ``batch_tokens`` (padded) tokens per side.

    ``max_minutes`` > 0 stops training after that much wall time and decays the learning rate over it
    (the schedule then depends on the machine's speed); 0 trains for ``epochs``. Under torchrun
    ``batch_tokens`` is per process (global batch = ``batch_tokens`` x processes). ``compile`` runs the
    training steps through ``torch.compile(dynamic=True)`` (validation and decoding stay eager).
    """

    epochs: int = 10
    max_minutes: float = 0.0
    batch_tokens: int = 3000
    lr: float = 1e-3
    warmup_steps: int = 1000
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    label_smoothing: float = 0.1
    patience: int = 3
    monitor: Literal["bleu", "val_loss"] = "bleu"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    seed: int = 0
    checkpoint_every: int = 200  # steps between mid-epoch checkpoints (0: only at epoch ends)
    compile: bool = False  # torch.compile the training forward/backward (slow first steps)
    ema_decay: float = 0.0  # > 0: validate, keep and save an exponential moving average of the weights

    def validate(self) -> None:
        _check_ema_decay(self.ema_decay)
        if not isinstance(self.compile, bool):
            raise InputError(f"compile must be true or false, got {self.compile!r}")
        if self.checkpoint_every < 0:
            raise InputError(f"checkpoint_every must be >= 0 steps (0 = at epoch ends only), got {self.checkpoint_every}")
        for name in ("epochs", "batch_tokens"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.lr <= 0:
            raise InputError(f"lr must be positive, got {self.lr}")
        if self.max_minutes < 0 or self.warmup_steps < 0 or self.patience < 0:
            raise InputError("max_minutes, warmup_steps and patience must be >= 0 (0 turns each off)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise InputError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")


@dataclass(frozen=True)
class DecodeConfig:
    """How translations are generated for validation, test and ``attnlab translate``."""

    beam_size: int = 4
    length_penalty: float = 1.0
    max_new_tokens: int = 126
    batch_size: int = 64

    def validate(self) -> None:
        for name in ("beam_size", "max_new_tokens", "batch_size"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be a positive integer, got {getattr(self, name)}")


@dataclass(frozen=True)
class ParallelDataConfig:
    """Parallel data: a built-in name or a file (with ``target_file`` for two aligned .txt files)."""

    source: str = "bible-en-de"
    source_column: str = "src"
    target_column: str = "tgt"
    group_column: str | None = None
    target_file: str | None = None
    val_fraction: float = 0.05
    test_fraction: float = 0.05

    def validate(self) -> None:
        _check_split_fractions(self)


@dataclass(frozen=True)
class TranslationRunConfig:
    """Everything a translation run needs; saved verbatim as config.json in the run directory."""

    task: Literal["translate"] = "translate"
    preset: str = "mt-small"
    model: Seq2SeqModelConfig = field(default_factory=Seq2SeqModelConfig)
    train: Seq2SeqTrainConfig = field(default_factory=Seq2SeqTrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    data: ParallelDataConfig = field(default_factory=ParallelDataConfig)
    device: str = "auto"

    def validate(self) -> "TranslationRunConfig":
        for section in (self.model, self.train, self.decode, self.data):
            section.validate()
        if self.decode.max_new_tokens >= self.model.max_len:
            raise InputError(f"decode.max_new_tokens={self.decode.max_new_tokens} must be below model.max_len="
                             f"{self.model.max_len} (the <s> token takes one position)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TranslationRunConfig":
        return _build(cls, raw, "config").validate()

    def replace(self, **sections: Any) -> "TranslationRunConfig":
        """A copy with some fields of some sections replaced, e.g. ``replace(decode={"beam_size": 1})``."""
        return TranslationRunConfig.from_dict(_merged(self.to_dict(), sections))


# Translation presets. mt-tiny: minutes-long demos on the shipped sample; mt-small: the Bible benchmark on a
# 2-core CPU (30-minute budget: at that compute a small model sees ~10 epochs and beats a d_model-256 one that
# sees ~5, measured on validation BLEU; no dropout: the budget ends long before overfitting, val BLEU 7.07 vs 6.39
# with dropout 0.1); mt-base: Marian/Transformer-base shape for a GPU.
TRANSLATION_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "mt-tiny": {"model": {"d_model": 128, "n_heads": 4, "n_encoder_layers": 2, "n_decoder_layers": 2, "d_ff": 512,
                          "vocab_size": 4000, "max_len": 128},
                "train": {"epochs": 8, "batch_tokens": 2000, "lr": 2e-3, "warmup_steps": 100, "patience": 0}},
    "mt-small": {"model": {"d_model": 128, "n_heads": 4, "n_encoder_layers": 3, "n_decoder_layers": 3, "d_ff": 512,
                           "vocab_size": 4000, "max_len": 128, "dropout": 0.0},
                 "train": {"epochs": 10, "batch_tokens": 3000, "lr": 3e-3, "warmup_steps": 300}},
    "mt-base": {"model": {"d_model": 512, "n_heads": 8, "n_encoder_layers": 6, "n_decoder_layers": 6, "d_ff": 2048,
                          "vocab_size": 32000, "max_len": 256},
                "train": {"epochs": 20, "batch_tokens": 8000, "lr": 7e-4, "warmup_steps": 4000}},
}


def translation_preset(name: str = "mt-small") -> TranslationRunConfig:
    """The named translation preset as a validated :class:`TranslationRunConfig`.

    >>> cfg = translation_preset("mt-tiny")
    >>> cfg.model.d_model, cfg.decode.beam_size, cfg.task
    (128, 4, 'translate')
    """
    if name not in TRANSLATION_PRESETS:
        raise InputError(f"unknown translation preset {name!r}; choose one of {', '.join(TRANSLATION_PRESETS)}")
    return TranslationRunConfig.from_dict({"preset": name, **TRANSLATION_PRESETS[name]})
