"""Merge metric states across processes: ``sync_states`` (torch.distributed, imported on call only).

Each rank evaluates its own shard; ``sync_states`` then leaves every rank holding the states of all
shards together, so ``compute()`` gives the single-process result exactly (every state is a sum of
integers — float sums are kept as exact integer accumulators). Count states travel in one ``int64``
all-reduce; exact score curves (sorted distinct scores with counts, a different length on every rank)
travel with ``all_gather_object`` and are merged like sorted sequences.

Usage, after ``torch.distributed.init_process_group`` (e.g. under ``torchrun``)::

    ev = ClassificationEvaluator(labels, positive_label="spam", proba=True)
    for batch in my_shard:
        ev.update(batch.y, batch.pred, proba=batch.p)
    sync_states(ev)
    if rank == 0:
        report = ev.compute()
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab.errors import InputError
from attnlab.metrics.stateful import ScoreCurveState


def _states(target: Any) -> list[Any]:
    return list(target.states()) if hasattr(target, "states") else [target]


def _describe(state: Any) -> tuple[str, str]:
    """The configuration of a state (its non-array entries): must agree on every rank."""
    config = {k: v for k, v in state.state_dict().items() if not isinstance(v, np.ndarray)}
    return type(state).__name__, repr(sorted(config.items()))


def sync_states(target: Any, *, group: Any = None) -> Any:
    """Sum ``target``'s states (a :class:`ClassificationEvaluator` or any single state) over the processes
    of ``group`` (default: the whole world), in place, on every rank. Returns ``target``.

    A collective call: every rank must call it, with states of the same configuration (checked first).
    """
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        raise InputError("sync_states needs an initialised torch.distributed process group; call "
                         "torch.distributed.init_process_group first (torchrun sets the environment)")
    states = _states(target)
    world = dist.get_world_size(group)
    configs: list[Any] = [None] * world
    dist.all_gather_object(configs, [_describe(s) for s in states], group=group)
    if any(c != configs[0] for c in configs):
        raise InputError("sync_states: the ranks hold differently configured states (labels, bins or options "
                         "differ); build the evaluator with the same arguments on every rank")

    summed = [(state, name) for state in states for name in state._additive]
    if summed:
        flat = np.concatenate([getattr(s, name).reshape(-1) for s, name in summed]).astype(np.int64)
        buffer = torch.from_numpy(flat)
        dist.all_reduce(buffer, op=dist.ReduceOp.SUM, group=group)
        flat, offset = buffer.numpy(), 0
        for state, name in summed:
            current = getattr(state, name)
            setattr(state, name, flat[offset:offset + current.size].reshape(current.shape).copy())
            offset += current.size
        for state in states:
            if isinstance(state, ScoreCurveState):
                state._cached_curve = None

    for state in states:
        if isinstance(state, ScoreCurveState) and state.n_bins is None:
            gathered: list[Any] = [None] * world
            dist.all_gather_object(gathered, state.counts(), group=group)
            state.reset()
            for counts in gathered:  # rank order; the merge is exact, so any order gives the same state
                if counts[0].size:
                    state._push(counts)
    return target
