"""Training checkpoints that survive SIGKILL, and resuming from them to the same result.

One checkpoint is ONE safetensors file, written through :func:`attnlab.io.atomic_write_bytes` (atomic on POSIX):
a kill at any moment leaves either the previous checkpoint or the new one, never a mix. It holds

- tensors: the model (``model.*``), the optimizer's per-parameter state (``optim.<i>.<name>``), the weights
  of the best epoch so far (``best.*``), torch's RNG state (``rng.torch``, and ``rng.cuda.<i>``);
- JSON in the safetensors metadata (``attnlab_state``): epoch and step (the data-order position), the
  NumPy generator's state at the start of the epoch (the batch order is regenerated from it and the first
  ``step`` batches are skipped), the running loss sums of the epoch, the optimizer's param groups, the
  scheduler, the early-stopping state and the history so far, and a fingerprint of the run's config and data
  split so a checkpoint is never applied to a different run.

Nothing is ever unpickled: loading is ``safetensors.safe_open`` plus ``json.loads``. A file that does not
parse is refused with a clear message.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnlab.errors import InputError
from attnlab.io import RunDirectory, atomic_write_bytes

__all__ = ["CHECKPOINT_FILE", "TrainingState", "load_checkpoint", "load_member", "member_file", "run_fingerprint",
           "save_checkpoint", "save_member"]

CHECKPOINT_FILE = RunDirectory.checkpoint_name  # kept by a resumable RunDirectory whatever stops the run
_FORMAT = "attnlab.checkpoint/1"


def run_fingerprint(config: dict[str, Any], split_fingerprint: str) -> str:
    """16 hex digits identifying a run's configuration and data split (what a checkpoint may be resumed into)."""
    doc = json.dumps({"config": config, "split": split_fingerprint}, sort_keys=True)
    return hashlib.sha256(doc.encode("utf-8")).hexdigest()[:16]


@dataclass
class TrainingState:
    """Everything :func:`attnlab.train.loop.fit` needs to continue exactly where it stopped.

    ``step`` counts the batches of ``epoch`` already done (0 at an epoch boundary); ``epoch_rng`` is the
    NumPy generator state from which that epoch's batch order is drawn.
    """

    epoch: int
    step: int
    epoch_rng: dict[str, Any]
    sums: dict[str, float]
    history: list[dict[str, Any]]
    best_epoch: int
    best_score: float
    since_best: int
    fingerprint: str
    model: dict[str, torch.Tensor] = field(default_factory=dict)
    optimizer: dict[str, Any] = field(default_factory=dict)
    scheduler: dict[str, Any] = field(default_factory=dict)
    best: dict[str, torch.Tensor] | None = None
    ema: dict[str, torch.Tensor] | None = None  # AveragedModel.state_dict() when training keeps an EMA
    rng_torch: torch.Tensor | None = None
    rng_cuda: list[torch.Tensor] = field(default_factory=list)


def _optimizer_tensors(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors and JSON (param groups and non-tensor state values)."""
    tensors, extra = {}, {}
    for idx, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                extra.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "extra": extra}


def _deduplicated(prefix: str, state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors to store under ``prefix`` once each; tied weights (one storage, several names) become aliases."""
    tensors, aliases, seen = {}, {}, {}
    for name, value in state.items():
        key = (value.data_ptr(), value.dtype, tuple(value.shape), tuple(value.stride())) if value.numel() else None
        if key is not None and key in seen:
            aliases[f"{prefix}{name}"] = f"{prefix}{seen[key]}"
            continue
        if key is not None:
            seen[key] = name
        tensors[f"{prefix}{name}"] = value.detach().cpu().contiguous()
    return tensors, aliases


def save_checkpoint(path: str | Path, state: TrainingState) -> Path:
    """Write ``state`` as one safetensors file, atomically (temporary file in the same folder, then rename)."""
    from safetensors.torch import save

    path = Path(path)
    tensors, aliases = _deduplicated("model.", state.model)
    optim_tensors, optim_json = _optimizer_tensors(state.optimizer)
    tensors.update(optim_tensors)
    if state.best is not None:
        best, best_aliases = _deduplicated("best.", state.best)
        tensors.update(best)
        aliases.update(best_aliases)
    if state.ema is not None:
        ema, ema_aliases = _deduplicated("ema.", state.ema)
        tensors.update(ema)
        aliases.update(ema_aliases)
    if state.rng_torch is not None:
        tensors["rng.torch"] = state.rng_torch.cpu()
    for i, s in enumerate(state.rng_cuda):
        tensors[f"rng.cuda.{i}"] = s.cpu()
    doc = {"format": _FORMAT, "epoch": state.epoch, "step": state.step, "epoch_rng": state.epoch_rng,
           "sums": state.sums, "history": state.history, "best_epoch": state.best_epoch,
           "best_score": state.best_score if np.isfinite(state.best_score) else None, "since_best": state.since_best,
           "fingerprint": state.fingerprint, "optimizer": optim_json, "scheduler": state.scheduler,
           "aliases": aliases}
    atomic_write_bytes(path, save(tensors, metadata={"attnlab_state": json.dumps(doc)}))
    return path


def _read_own_file(path: str | Path, *, key: str, fmt: str, fingerprint: str, what: str, retry: str
                   ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and the JSON document (safetensors metadata ``key``) of a checkpoint or ensemble-member file,
    with tied weights' aliases filled in; a damaged file, another format or another run's is refused in one line."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            doc = json.loads((fh.metadata() or {})[key])
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        if doc.get("format") != fmt:
            raise KeyError("format")
        for alias, target in doc.get("aliases", {}).items():  # tied weights: one tensor under each name
            tensors[alias] = tensors[target]
    except (SafetensorError, OSError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise InputError(f"the {what} {path} is damaged or not an attnlab {what} ({exc.__class__.__name__}); "
                         f"{retry}") from None
    if doc.get("fingerprint") != fingerprint:
        raise InputError(f"the {what} {path} belongs to a run with a different configuration or data split; "
                         "resume with exactly the same data and flags as the interrupted run")
    return tensors, doc


def load_checkpoint(path: str | Path, *, fingerprint: str) -> TrainingState:
    """Read a checkpoint written by :func:`save_checkpoint`, refusing a damaged one or one from another run."""
    tensors, doc = _read_own_file(path, key="attnlab_state", fmt=_FORMAT, fingerprint=fingerprint,
                                  what="checkpoint", retry="delete the interrupted run's folder and train again")
    optim_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            optim_state.setdefault(int(idx), {})[name] = value
    for idx, extra in doc["optimizer"]["extra"].items():
        optim_state.setdefault(int(idx), {}).update(extra)
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")} or None
    ema = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")} or None
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k[9:]))]
    return TrainingState(
        epoch=doc["epoch"], step=doc["step"], epoch_rng=doc["epoch_rng"], sums=doc["sums"], history=doc["history"],
        best_epoch=doc["best_epoch"], best_score=-np.inf if doc["best_score"] is None else doc["best_score"],
        since_best=doc["since_best"], fingerprint=doc["fingerprint"],
        model={k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
        optimizer={"state": optim_state, "param_groups": doc["optimizer"]["param_groups"]},
        scheduler=doc["scheduler"], best=best, ema=ema, rng_torch=tensors.get("rng.torch"), rng_cuda=cuda)


# An ensemble run (``--ensemble N``) trains its members one after another; each finished member is kept in the
# run's folder as ``member-<m>.safetensors`` (its best weights, and its history in the metadata) until the run is
# complete, so a resumed run trains only the members that were not finished.
_MEMBER_FORMAT = "attnlab.member/1"


def member_file(run_path: str | Path, member: int) -> Path:
    return Path(run_path) / f"member-{member}.safetensors"


def save_member(path: str | Path, weights: dict[str, torch.Tensor], result: Any, *, fingerprint: str) -> Path:
    """Write one finished ensemble member atomically: its weights as tensors, its
    :class:`~attnlab.train.loop.FitResult` (history, best epoch and score, early stop, seconds) as JSON metadata."""
    from safetensors.torch import save

    doc = {"format": _MEMBER_FORMAT, "fingerprint": fingerprint, "history": result.history,
           "best_epoch": result.best_epoch,
           "best_score": result.best_score if np.isfinite(result.best_score) else None,
           "stopped_early": result.stopped_early, "seconds": result.seconds}
    tensors = {k: v.detach().cpu().contiguous() for k, v in weights.items()}
    atomic_write_bytes(path, save(tensors, metadata={"attnlab_member": json.dumps(doc)}))
    return Path(path)


def load_member(path: str | Path, *, fingerprint: str) -> tuple[dict[str, torch.Tensor], Any]:
    """``(weights, FitResult)`` of a member written by :func:`save_member`; refuses a damaged file or another run's."""
    from attnlab.train.loop import FitResult  # loop imports this module

    weights, doc = _read_own_file(path, key="attnlab_member", fmt=_MEMBER_FORMAT, fingerprint=fingerprint,
                                  what="ensemble member",
                                  retry="delete it and run the same command with --resume to train that member again")
    try:
        result = FitResult(history=list(doc["history"]), best_epoch=int(doc["best_epoch"]),
                           best_score=-np.inf if doc["best_score"] is None else float(doc["best_score"]),
                           stopped_early=bool(doc["stopped_early"]), seconds=float(doc["seconds"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"the ensemble member {path} is damaged or not an attnlab ensemble member "
                         f"({exc.__class__.__name__}); delete it and run the same command with --resume to train "
                         "that member again") from None
    return weights, result
