"""Saving and loading a trained classifier: safetensors weights, JSON config, tokenizer.json.

Nothing is ever unpickled. The weights' size and sha256 are recorded in config.json and checked on load,
so a corrupted or swapped file is refused instead of silently producing wrong predictions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from attnlab import __version__
from attnlab.config import RunConfig
from attnlab.errors import InputError
from attnlab.io import atomic_write_json, sha256_file

MODEL_FILE, CONFIG_FILE, TOKENIZER_FILE = "model.safetensors", "config.json", "tokenizer.json"


def _file_records(run_dir: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """Size and sha256 of each existing file, for config.json (checked again on every load)."""
    return {name: {"bytes": (run_dir / name).stat().st_size, "sha256": sha256_file(run_dir / name)}
            for name in names if (run_dir / name).is_file()}


def save_classifier(run_dir: Path, model: torch.nn.Module, cfg: RunConfig, *, labels: list[str],
                    positive_label: str | None, vocab_size: int, pad_id: int) -> dict[str, Any]:
    """Write model.safetensors and config.json into ``run_dir`` (the tokenizer is saved by the caller)."""
    weights = run_dir / MODEL_FILE
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights), metadata={"format": "pt", "attnlab_version": __version__})
    meta = {
        "attnlab_version": __version__,
        "config": cfg.to_dict(),
        "labels": labels,
        "positive_label": positive_label,
        "vocab_size": vocab_size,
        "pad_id": pad_id,
        "files": _file_records(run_dir, [MODEL_FILE, TOKENIZER_FILE]),  # the tokenizer too, when already saved
    }
    pruned = getattr(model, "pruned_heads", None)
    if pruned:  # {"layer": [original head indices]}: load_classifier prunes the same heads before loading
        meta["pruned_heads"] = {str(layer): list(heads) for layer, heads in pruned.items()}
    atomic_write_json(run_dir / CONFIG_FILE, meta)
    return meta


def _pruned_heads(meta: dict[str, Any]) -> dict[int, list[int]]:
    """config.json's ``pruned_heads`` ``{"layer": [head, ...]}`` as ``{layer: [head, ...]}`` (``{}`` if absent)."""
    raw = meta.get("pruned_heads") or {}
    if not isinstance(raw, dict):
        raise TypeError("pruned_heads is not an object")
    out = {}
    for layer, heads in raw.items():
        if not str(layer).isdigit() or not isinstance(heads, list) or \
                not all(isinstance(h, int) and not isinstance(h, bool) for h in heads):
            raise TypeError(f"pruned_heads[{layer!r}] is not a list of head indices")
        out[int(layer)] = heads
    return out


@dataclass
class LoadedClassifier:
    model: torch.nn.Module
    tokenizer: Any
    config: RunConfig
    labels: list[str]
    positive_label: str | None


def load_classifier(run_dir: str | Path, *, device: str | torch.device = "cpu") -> LoadedClassifier:
    """Load a run directory written by ``attnlab run``/``train``/``prune``, verifying the weights' recorded hash.

    A pruned run's config.json lists ``pruned_heads``; the model is built, those heads are pruned, then the
    (smaller) weights are loaded.
    """
    from attnlab.data.tokenizers import load_tokenizer
    from attnlab.models.builders import build_classifier

    run_dir = Path(run_dir)
    for name in (CONFIG_FILE, MODEL_FILE, TOKENIZER_FILE):
        if not (run_dir / name).is_file():
            raise InputError(f"{run_dir} is not an attnlab run directory ({name} is missing); "
                             "pass a folder written by `attnlab run` or `attnlab train`")
    try:
        meta = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        cfg = RunConfig.from_dict(meta["config"])
        recorded = [name for name in meta["files"] if name in (MODEL_FILE, TOKENIZER_FILE)]
        if MODEL_FILE not in recorded:
            raise KeyError(MODEL_FILE)
        pruned = _pruned_heads(meta)
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InputError(f"{run_dir / CONFIG_FILE} is damaged ({exc.__class__.__name__}); "
                         "re-run training to recreate it") from None
    weights = _verified(run_dir, meta, MODEL_FILE)
    for name in recorded:  # runs written before tokenizer hashes were recorded check the weights only
        _verified(run_dir, meta, name)
    try:
        model = build_classifier(cfg.model, n_classes=len(meta["labels"]), vocab_size=meta["vocab_size"],
                                 pad_id=meta["pad_id"], pruned_heads=pruned)
    except InputError as exc:
        raise InputError(f"{run_dir / CONFIG_FILE} records heads the model does not have ({exc}); "
                         "re-run `attnlab prune` on the source run") from None
    model.load_state_dict(load_file(str(weights)))
    model.to(device).eval()
    return LoadedClassifier(model, load_tokenizer(run_dir / TOKENIZER_FILE), cfg, meta["labels"],
                            meta.get("positive_label"))


def require_single_model(loaded: LoadedClassifier, run_dir: str | Path, what: str) -> None:
    """Refuse an ensemble run for ``what`` (head maps, importance, pruning: properties of one model)."""
    n = loaded.config.model.ensemble
    if n > 1:
        raise InputError(f"{run_dir} is an ensemble of {n} models; {what} works on one model: train the run again "
                         "with --ensemble 1")


SOURCE_TOKENIZER_FILE, TARGET_TOKENIZER_FILE = "tokenizer_src.json", "tokenizer_tgt.json"


def save_translator(run_dir: Path, model: torch.nn.Module, cfg: Any, *, src_vocab_size: int, tgt_vocab_size: int,
                    special: dict[str, int], tokenizer_files: list[str]) -> dict[str, Any]:
    """Write model.safetensors (tied tables stored once) and config.json for a translation run."""
    from safetensors.torch import save_model

    weights = run_dir / MODEL_FILE
    save_model(model, str(weights), metadata={"format": "pt", "attnlab_version": __version__})
    files = _file_records(run_dir, [MODEL_FILE, *tokenizer_files])
    meta = {"attnlab_version": __version__, "task": "translate", "config": cfg.to_dict(),
            "src_vocab_size": src_vocab_size, "tgt_vocab_size": tgt_vocab_size, **special, "files": files}
    atomic_write_json(run_dir / CONFIG_FILE, meta)
    return meta


@dataclass
class LoadedTranslator:
    model: torch.nn.Module
    src_tokenizer: Any
    tgt_tokenizer: Any
    config: Any
    meta: dict[str, Any]


def _verified(run_dir: Path, meta: dict[str, Any], name: str) -> Path:
    path, recorded = run_dir / name, meta["files"].get(name)
    if not path.is_file():
        raise InputError(f"{run_dir} is not a complete run ({name} is missing); restore it or re-run training")
    if recorded is None or path.stat().st_size != recorded["bytes"] or sha256_file(path) != recorded["sha256"]:
        raise InputError(f"{path} does not match the size/sha256 recorded in config.json (corrupted or replaced); "
                         "restore the original file or re-run training")
    return path


def load_translator(run_dir: str | Path, *, device: str | torch.device = "cpu") -> LoadedTranslator:
    """Load a run directory written by ``attnlab train --task translate``, verifying every recorded hash."""
    from safetensors.torch import load_model

    from attnlab.config import TranslationRunConfig
    from attnlab.data.subword import load_bpe
    from attnlab.models.builders import build_translator

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file():
        raise InputError(f"{run_dir} is not an attnlab run directory ({CONFIG_FILE} is missing); pass a folder "
                         "written by `attnlab train --task translate`")
    try:
        meta = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or not isinstance(meta.get("files"), dict):
            raise TypeError("not a config object with recorded files")
        if meta.get("task") != "translate":
            raise InputError(f"{run_dir} holds a classifier; use `attnlab predict {run_dir}` instead")
        cfg = TranslationRunConfig.from_dict(meta["config"])
        sizes = meta["src_vocab_size"], meta["tgt_vocab_size"], meta["pad_id"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InputError(f"{run_dir / CONFIG_FILE} is damaged ({exc.__class__.__name__}); "
                         "re-run training to recreate it") from None
    names = [TOKENIZER_FILE] if cfg.model.shared_vocab else [SOURCE_TOKENIZER_FILE, TARGET_TOKENIZER_FILE]
    toks = [load_bpe(_verified(run_dir, meta, name)) for name in names]
    model = build_translator(cfg.model, src_vocab_size=sizes[0], tgt_vocab_size=sizes[1], pad_id=sizes[2])
    load_model(model, str(_verified(run_dir, meta, MODEL_FILE)))
    model.to(device).eval()
    return LoadedTranslator(model, toks[0], toks[-1], cfg, meta)
