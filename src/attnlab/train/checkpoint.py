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
        "files": {MODEL_FILE: {"bytes": weights.stat().st_size, "sha256": sha256_file(weights)}},
    }
    atomic_write_json(run_dir / CONFIG_FILE, meta)
    return meta


@dataclass
class LoadedClassifier:
    model: torch.nn.Module
    tokenizer: Any
    config: RunConfig
    labels: list[str]
    positive_label: str | None


def load_classifier(run_dir: str | Path, *, device: str | torch.device = "cpu") -> LoadedClassifier:
    """Load a run directory written by ``attnlab run``/``train``, verifying the weights' recorded hash."""
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
        recorded = meta["files"][MODEL_FILE]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InputError(f"{run_dir / CONFIG_FILE} is damaged ({exc.__class__.__name__}); "
                         "re-run training to recreate it") from None
    weights = run_dir / MODEL_FILE
    if weights.stat().st_size != recorded["bytes"] or sha256_file(weights) != recorded["sha256"]:
        raise InputError(f"{weights} does not match the size/sha256 recorded in config.json (corrupted or "
                         "replaced); restore the original file or re-run training")
    model = build_classifier(cfg.model, n_classes=len(meta["labels"]), vocab_size=meta["vocab_size"],
                             pad_id=meta["pad_id"])
    model.load_state_dict(load_file(str(weights)))
    model.to(device).eval()
    return LoadedClassifier(model, load_tokenizer(run_dir / TOKENIZER_FILE), cfg, meta["labels"],
                            meta.get("positive_label"))
