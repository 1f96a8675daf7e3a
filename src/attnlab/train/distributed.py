"""Several processes with torch.distributed: ``torchrun --nproc-per-node N -m attnlab train ...``.

torchrun sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; :func:`setup` then joins the process group (NCCL on
GPUs, gloo on CPU) and returns a :class:`DistContext`. Without torchrun the context is a single process and
every helper here is a no-op, so the training code has one path.

The rules the recipes follow:

- training data: each epoch, ``torch.utils.data.DistributedSampler`` (same seed everywhere, ``set_epoch``)
  gives each rank its shard; ranks then batch their shard by length. ``batch_size`` is per process (global
  batch = batch_size × processes), as in PyTorch and Hugging Face.
- evaluation: the single-process batches (sorted by length) are dealt out whole, round robin, so each
  example is computed exactly once and in the same batch as in one process; the logits are gathered onto
  every rank (no padded duplicates, so nothing is counted twice), and every rank takes the same decisions
  (best epoch, early stopping).
- files: only rank 0 writes; the others wait at a barrier.

The translator (:func:`attnlab.train.seq2seq_loop.fit_seq2seq`) follows the same rules with token batches:
every rank draws the same epoch batch list and takes every ``world``-th batch; decoding deals out whole
single-process batches and gathers the strings (:func:`gather_objects`); sums over ranks use :func:`all_sum`,
and the wall-time budget uses rank 0's clock (:func:`rank0_float`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from attnlab.errors import InputError

__all__ = ["DistContext", "SINGLE", "all_sum", "gather_objects", "gather_rows", "rank0_float", "setup",
           "shard_indices", "teardown"]


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size``, its device, whether it writes files."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (pickled by torch.distributed; only ever our own plain data)."""
        if not self.enabled:
            return obj
        box = [obj if self.is_main else None]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def all_agree(self, flag: bool) -> bool:
        """True when ``flag`` is true on every rank (one all-reduce)."""
        if not self.enabled:
            return flag
        t = torch.tensor([0 if flag else 1], dtype=torch.int64)
        torch.distributed.all_reduce(t)
        return int(t.item()) == 0


SINGLE = DistContext()


def setup(device: str = "auto") -> tuple[DistContext, str]:
    """Join the process group when launched by torchrun; returns the context and the device to use.

    Args:
        device: ``auto``, ``cpu``, ``cuda`` (or ``cuda:N``). Under torchrun with CUDA each process takes
            ``cuda:LOCAL_RANK``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE, device
    import torch.distributed as dist

    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise InputError("--device cuda was asked for but no GPU is visible; use --device cpu")
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    else:
        device = "cpu"
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistContext(rank=rank, world_size=world, local_rank=local), device


def teardown(ctx: DistContext) -> None:
    if ctx.enabled and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def shard_indices(n_batches: int, ctx: DistContext) -> list[int]:
    """The batches (by position) this rank evaluates: ``rank, rank + world, ...`` (whole batches, none twice)."""
    return list(range(ctx.rank, n_batches, ctx.world_size))


def gather_rows(ctx: DistContext, index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Put every rank's ``values[k]`` (rows ``index[k]`` of ``n``) into one ``(n, ...)`` array on every rank.

    Raises if a row is missing or computed twice: evaluation must count each example exactly once.
    """
    if not ctx.enabled:
        parts = [(index, values)]
    else:
        parts = [None] * ctx.world_size
        torch.distributed.all_gather_object(parts, (index, values))
    seen = np.zeros(n, dtype=np.int64)
    out = None
    for idx, vals in parts:
        if out is None and len(idx):
            out = np.empty((n, *vals.shape[1:]), dtype=vals.dtype)
        if len(idx):
            out[idx] = vals
        np.add.at(seen, idx, 1)
    if out is None or (seen != 1).any():
        raise RuntimeError(f"distributed evaluation covered rows {int((seen == 0).sum())} times zero and "
                           f"{int((seen > 1).sum())} times twice or more; every example must be counted once")
    return out


def all_sum(ctx: DistContext, *values: float) -> tuple[float, ...]:
    """The sums of ``values`` over all ranks (one float64 all-reduce; the values themselves in one process).

    >>> all_sum(SINGLE, 1.5, 2)
    (1.5, 2.0)
    """
    if not ctx.enabled:
        return tuple(float(v) for v in values)
    t = torch.tensor(values, dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return tuple(t.tolist())


def rank0_float(ctx: DistContext, value: float) -> float:
    """Rank 0's ``value`` on every rank (one tiny broadcast): e.g. its clock, so that time-based decisions
    (a wall-time budget, a learning rate that decays over it) are the same on every rank."""
    if not ctx.enabled:
        return float(value)
    t = torch.tensor([value], dtype=torch.float64)
    torch.distributed.broadcast(t, src=0)
    return float(t.item())


def gather_objects(ctx: DistContext, obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable, our own plain data), in rank order, on every rank.

    >>> gather_objects(SINGLE, ["a", "b"])
    [['a', 'b']]
    """
    if not ctx.enabled:
        return [obj]
    parts: list[Any] = [None] * ctx.world_size
    torch.distributed.all_gather_object(parts, obj)
    return parts
