"""Which fused scaled-dot-product-attention kernel CUDA tries first.

``F.scaled_dot_product_attention`` picks among several kernels; torch's own priority is FlashAttention-2, then
memory-efficient, then math, with cuDNN last. On Hopper (H100/H200, compute capability 9.x) cuDNN attention
was measured at 1.8x FlashAttention-2 for this project's shapes, so the default here (``"auto"``) puts cuDNN
first there and leaves torch's order elsewhere. The order is a priority list, not a restriction: a kernel
that cannot take an input (a head size, a mask, a dtype) passes it to the next one, and the math kernel takes
anything. On CPU nothing changes (the setting is only read for CUDA tensors).

>>> set_sdpa_backends(["cudnn", "flash", "efficient", "math"])
>>> sdpa_backends()
('cudnn', 'flash', 'efficient', 'math')
>>> set_sdpa_backends("auto")
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from functools import lru_cache

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from attnlab.errors import InputError

__all__ = ["BACKENDS", "HOPPER_ORDER", "sdpa_backend_context", "sdpa_backends", "set_sdpa_backends",
           "use_sdpa_backends"]

BACKENDS = ("cudnn", "flash", "efficient", "math")
HOPPER_ORDER = ("cudnn", "flash", "efficient", "math")
_setting: tuple[str, ...] | str = "auto"


def set_sdpa_backends(order: Sequence[str] | str) -> None:
    """Set the CUDA kernel priority for fused attention, process-wide.

    Args:
        order: ``"auto"`` (cuDNN first on Hopper, torch's default order elsewhere), ``"torch"`` (torch's default
            order everywhere), or a priority list drawn from ``cudnn``, ``flash``, ``efficient``, ``math``; the
            kernels left out are not used (include ``math`` to be able to run every input).
    """
    global _setting
    _setting = _parse(order)


def sdpa_backends() -> tuple[str, ...] | str:
    """The current setting: ``"auto"``, ``"torch"`` or a priority tuple."""
    return _setting


@contextlib.contextmanager
def use_sdpa_backends(order: Sequence[str] | str) -> Iterator[None]:
    """:func:`set_sdpa_backends` for the duration of a ``with`` block (benchmarks compare kernels this way)."""
    global _setting
    previous, _setting = _setting, _parse(order)
    try:
        yield
    finally:
        _setting = previous


def sdpa_backend_context(device: torch.device) -> contextlib.AbstractContextManager:
    """The context that applies the setting to SDPA calls on ``device`` (a no-op off CUDA or for ``torch``)."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    order = _setting
    if order == "auto":
        order = HOPPER_ORDER if _is_hopper(device.index if device.index is not None else torch.cuda.current_device()) \
            else "torch"
    if order == "torch":
        return contextlib.nullcontext()
    return sdpa_kernel([_KERNELS[b] for b in order], set_priority=True)  # dynamo traces this context too


_KERNELS = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}


@torch.compiler.assume_constant_result  # under torch.compile: evaluated once while tracing, no graph break
@lru_cache(maxsize=16)
def _is_hopper(index: int) -> bool:
    return torch.cuda.get_device_capability(index)[0] == 9


def _parse(order: Sequence[str] | str) -> tuple[str, ...] | str:
    if isinstance(order, str):
        if order in ("auto", "torch"):
            return order
        order = [part.strip() for part in order.split(",")]
    order = tuple(order)
    bad = [b for b in order if b not in BACKENDS]
    if not order or bad or len(set(order)) != len(order):
        raise InputError(f"SDPA backends must be 'auto', 'torch' or distinct names from {', '.join(BACKENDS)} "
                         f"in priority order, got {order!r}; e.g. 'cudnn,flash,efficient,math'")
    return order
