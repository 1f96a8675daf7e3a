"""Heads-count sweep, the measurements: parameters, FLOPs per token, attention-weight elements, latency, memory.

Components for ``attnlab sweep`` (the recipe is :mod:`attnlab.recipes.sweep`; the paired comparisons and
the summary are in :mod:`attnlab.heads.sweep_summary`). Plain keyword arguments, no config; torch is
imported inside the functions that need a model.

What is counted:

* **FLOPs** (:func:`count_flops`): ``torch.utils.flop_counter.FlopCounterMode`` over one inference forward
  pass of every test row at its real length (rows grouped by length, so no padding is ever counted), divided
  by the real tokens. It counts matrix products at 2 FLOPs per multiply-add: the linear layers
  (``addmm``/``mm``) and attention (``QKᵀ`` and ``AV``, also inside the fused SDPA kernels, incl. the CPU
  flash kernel that torch's own table misses). Softmax, LayerNorm, GELU, embeddings and other elementwise
  work are not counted. At a fixed ``d_model`` this does not depend on the number of heads.
* **Attention-weight elements** (:func:`attention_elements_per_token`): each token's query row holds ``T``
  weights per head per layer, so ``n_layers · H · T`` per token: what more heads cost at fixed ``d_model``
  (memory traffic and softmax work, and the ``(B, H, T, T)`` tensor when weights are returned).

>>> attention_elements_per_token(n_heads=4, n_layers=2, lengths=[2, 4])  # 2·4·(2² + 4²) / (2 + 4)
26.666666666666668
>>> check_head_counts((1, 3), d_model=8)
Traceback (most recent call last):
...
attnlab.errors.InputError: d_model=8 is not divisible by 3 head(s); every head count must divide d_model (each head gets d_model/H dimensions); valid head counts for d_model=8: 1, 2, 4, 8
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from attnlab.errors import InputError

__all__ = ["FLOPS_COUNTED", "attention_elements_per_token", "batch1_latency", "batch_throughput",
           "check_head_counts", "count_flops", "length_groups", "parameter_counts", "parse_int_list",
           "peak_memory"]

FLOPS_COUNTED = ("matrix products at 2 FLOPs per multiply-add: linear layers (addmm/mm) and attention QK^T and AV "
                 "(bmm or the fused SDPA kernels); softmax, LayerNorm, GELU, embeddings and elementwise ops are "
                 "not counted; one inference forward pass over the test rows at their real lengths (no padding)")


def parse_int_list(text: str, flag: str, *, minimum: int = 0) -> tuple[int, ...]:
    """``"1,2,4"`` -> ``(1, 2, 4)``; empty lists, non-integers, values below ``minimum`` and repeats are refused.

    >>> parse_int_list("4, 1,2", "--heads", minimum=1)
    (4, 1, 2)
    """
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise InputError(f"{flag} is empty; pass a comma-separated list, e.g. {flag} 1,2,4,8")
    values = []
    for p in parts:
        try:
            values.append(int(p))
        except ValueError:
            raise InputError(f"{flag} takes comma-separated integers, got {p!r} in {text!r}; e.g. {flag} 1,2,4,8") from None
    low = [v for v in values if v < minimum]
    if low:
        raise InputError(f"{flag} values must be >= {minimum}, got {low[0]}; e.g. {flag} 1,2,4,8")
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise InputError(f"{flag} lists {', '.join(map(str, repeated))} more than once; give each value once")
    return tuple(values)


def check_head_counts(heads: Sequence[int], *, d_model: int) -> None:
    """Refuse head counts that do not divide ``d_model``, naming the valid ones."""
    bad = [h for h in heads if h <= 0 or d_model % h]
    if bad:
        valid = [h for h in range(1, d_model + 1) if d_model % h == 0]
        raise InputError(f"d_model={d_model} is not divisible by {', '.join(map(str, bad))} head(s); every head count "
                         f"must divide d_model (each head gets d_model/H dimensions); valid head counts for "
                         f"d_model={d_model}: {', '.join(map(str, valid))}")


def attention_elements_per_token(*, n_heads: int, n_layers: int, lengths: Sequence[int]) -> float:
    """Mean attention weights per real token: ``n_layers · n_heads · Σ T_i² / Σ T_i`` (``T_i`` = row length)."""
    t = np.asarray(lengths, dtype=np.float64)
    return float(n_layers * n_heads * (t**2).sum() / t.sum())


def length_groups(input_ids: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """The rows of ``input_ids`` ``(N, L)`` grouped by real length, each group cut to it: ``[(n_T, T), ...]``."""
    return [input_ids[lengths == t, :t] for t in np.unique(lengths) if t > 0]


def parameter_counts(model: Any) -> dict[str, int]:
    """``total`` (every parameter, as ``sum(p.numel())``) and ``non_embedding`` (without token/position tables)."""
    import torch

    total = sum(p.numel() for p in model.parameters())
    embedding = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    return {"total": int(total), "non_embedding": int(total - embedding)}


def _cpu_flash_sdpa_flop(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)


def count_flops(model: Any, groups: Sequence[np.ndarray], *, device: Any = "cpu") -> dict[str, Any]:
    """Forward FLOPs of ``model`` over the no-padding ``groups`` (:func:`length_groups`), per real token.

    Returns ``{"per_token", "total", "tokens", "by_op": {op: flops}, "counted": FLOPS_COUNTED}``.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    extra = {}
    cpu_flash = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if cpu_flash is not None:  # torch's table misses the CPU flash kernel: count it as SDPA (QK^T and AV)
        extra[cpu_flash] = _cpu_flash_sdpa_flop
    model.eval()
    tokens = 0
    counter = FlopCounterMode(display=False, custom_mapping=extra)
    with torch.inference_mode(), counter:
        for ids in groups:
            model(torch.from_numpy(np.ascontiguousarray(ids)).to(device))  # (n, T): no padding, no mask
            tokens += ids.size
    by_op = {str(k): int(v) for k, v in counter.get_flop_counts().get("Global", {}).items()}
    total = int(counter.get_total_flops())
    return {"per_token": total / tokens, "total": total, "tokens": int(tokens), "by_op": by_op,
            "counted": FLOPS_COUNTED}


def _sync(device: Any) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def batch1_latency(model: Any, rows: Sequence[np.ndarray], *, device: Any = "cpu", warmup: int = 10,
                   repeats: int = 3) -> dict[str, Any]:
    """Per-call time of a batch-1 forward pass, each row at its real length (no padding).

    ``warmup`` untimed calls, then ``repeats`` passes over ``rows``, every call timed on its own; the median
    and quartiles over all timed calls, in milliseconds.
    """
    import torch

    if not rows:
        raise InputError("latency needs at least one test row")
    model.eval()
    inputs = [torch.from_numpy(np.ascontiguousarray(r)).reshape(1, -1).to(device) for r in rows]  # (1, T) each
    times = []
    with torch.inference_mode():
        for i in range(warmup):
            model(inputs[i % len(inputs)])
        _sync(device)
        for _ in range(repeats):
            for x in inputs:
                t0 = time.perf_counter()
                model(x)
                _sync(device)
                times.append(time.perf_counter() - t0)
    q1, median, q3 = np.quantile(np.array(times) * 1e3, [0.25, 0.5, 0.75])
    return {"median_ms": float(median), "p25_ms": float(q1), "p75_ms": float(q3), "calls": len(times),
            "rows": len(rows), "warmup_calls": warmup, "repeats": repeats}


def batch_throughput(model: Any, data: Any, *, device: Any = "cpu", batch_size: int = 128,
                     repeats: int = 3) -> dict[str, Any]:
    """Examples and real tokens per second over the whole split ``data`` (a ``TensorData``), batched.

    Batches of ``batch_size`` rows in order of length, each trimmed to its longest row (as
    ``predict_logits``); one untimed warm-up pass, then the median of ``repeats`` timed passes.
    """
    import torch

    from attnlab.train.loop import batch_order, to_batch

    model.eval()
    dev = torch.device(device)
    batches = [to_batch(data, idx, dev)[:2] for idx in batch_order(data.lengths, batch_size, None)]
    seconds = []
    with torch.inference_mode():
        for rep in range(repeats + 1):
            _sync(device)
            t0 = time.perf_counter()
            for ids, mask in batches:
                model(ids, mask)
            _sync(device)
            if rep:  # pass 0 is the warm-up
                seconds.append(time.perf_counter() - t0)
    median = statistics.median(seconds)
    return {"examples_per_s": len(data) / median, "tokens_per_s": float(data.lengths.sum()) / median,
            "seconds_median": median, "batch_size": batch_size, "repeats": repeats, "examples": len(data)}


def peak_memory(device: Any = "cpu", *, rss_at_start_mib: float | None = None) -> dict[str, Any]:
    """This process's peak memory so far, in MiB: CUDA ``max_memory_allocated`` on a GPU, else the peak
    resident set size (``getrusage(RUSAGE_SELF).ru_maxrss``, which includes the Python/torch runtime)."""
    if str(device).startswith("cuda"):
        import torch

        return {"mib": torch.cuda.max_memory_allocated() / 2**20, "kind": "cuda max_memory_allocated"}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    mib = rss / 2**20 if sys.platform == "darwin" else rss / 2**10
    return {"mib": mib, "kind": "ru_maxrss (peak RSS of the child process)", "rss_at_start_mib": rss_at_start_mib}
