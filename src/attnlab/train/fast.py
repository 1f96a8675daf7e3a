"""The classifier's GPU fast path switches: autocast precision and ``torch.compile``.

Both are plain functions the training loop calls; they read no config (the loop passes the fields). The other
parts of the fast path live with the code they speed up: fused QKV and the SDPA backend priority in
:mod:`attnlab.nn.attention` / :mod:`attnlab.nn.backends`, packed variable-length batches in
:mod:`attnlab.nn.packing` and :class:`attnlab.models.EncoderClassifier`, fused AdamW in :mod:`attnlab.train.optim`.
"""

from __future__ import annotations

import os
import shutil

import torch

from attnlab.errors import InputError
from attnlab.train.seq2seq_loop import autocast, autocast_dtype

__all__ = ["autocast", "check_compile_available", "classifier_autocast_dtype", "compile_model"]

PRECISIONS = ("auto", "fp32", "bf16")


def classifier_autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The classifier's autocast dtype (``None`` = float32).

    ``auto`` is bfloat16 on a CUDA device with bf16 support and float32 everywhere else: unlike the
    translator's ``auto`` (:func:`attnlab.train.seq2seq_loop.autocast_dtype`), a CPU with native bf16 keeps
    float32, so CPU classification results do not change. ``bf16`` asks for bf16 autocast on any device
    (it runs on CPU too, slowly where the CPU lacks bf16 instructions); ``fp32`` turns autocast off.

    >>> classifier_autocast_dtype("auto", torch.device("cpu")) is None
    True
    >>> classifier_autocast_dtype("bf16", torch.device("cpu"))
    torch.bfloat16
    """
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto" and device.type != "cuda":
        return None
    return autocast_dtype(precision, device)


def compile_model(model: torch.nn.Module, device: torch.device, *, backend: str = "inductor") -> torch.nn.Module:
    """Compile ``model`` in place with ``torch.compile`` (``nn.Module.compile``), or refuse with a clear error.

    In place, so parameter names, ``state_dict`` keys, the optimiser and checkpoints are those of the plain
    model; every later call of the model (training, validation, the test predictions) runs compiled. The first
    calls are slow (compilation; a new batch shape may recompile once, after which shapes are dynamic). The
    padding check and packing are data dependent, so dynamo splits the forward there (a logged "graph break").
    On this project's 2-core CPU, compiling even a one-layer model took over a minute.

    Args:
        model: The module; compiled in place and returned.
        device: Where it runs (CPU needs a C++ compiler for inductor).
        backend: ``torch.compile``'s backend; ``"eager"`` traces without generating code (tests).

    Raises:
        InputError: ``torch.compile`` cannot work here (no dynamo for this Python, or on CPU no C++ compiler
            for inductor's generated code).
    """
    check_compile_available(device, backend)
    model.compile(backend=backend)
    return model


def check_compile_available(device: torch.device, backend: str = "inductor") -> None:
    """Refuse ``--compile`` in one line where ``torch.compile`` cannot work (no dynamo for this Python, or on CPU
    no C++ compiler for inductor's generated code); shared by the classifier's and the translator's compile."""
    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        raise InputError("--compile needs torch.compile, which this Python/PyTorch build does not support; "
                         "drop --compile")
    if device.type == "cpu" and backend == "inductor" and not _cpp_compiler():
        raise InputError("--compile on CPU needs a C++ compiler for the generated kernels (none found: set CXX "
                         "or install g++); drop --compile, or train on a GPU")


def _cpp_compiler() -> str | None:
    """The C++ compiler inductor would use on CPU, if any (``$CXX``, else ``c++``/``g++``/``clang++``)."""
    candidates = [os.environ.get("CXX"), "c++", "g++", "clang++"]
    return next((path for c in candidates if c and (path := shutil.which(c))), None)
