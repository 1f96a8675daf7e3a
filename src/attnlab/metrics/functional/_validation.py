"""Boundary checks shared by the functional metrics (STYLE convention 4: validate once, loudly).

Everything here turns user input into plain NumPy arrays: labels into ``int64`` indices in the order of
an explicit ``labels`` list, probabilities into a checked ``float64`` ``(N, C)`` matrix. Bad input raises
:class:`attnlab.errors.InputError` with one line: what was expected, what came, what to do.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple, Union

import numpy as np

from attnlab.errors import InputError

ZeroDivision = Union[Literal[0, 1], float, Literal["nan"]]

#: Default zero-division policy of every metric and of ``classification_report``: an undefined ratio
#: (0/0) is reported as NaN in arrays / ``None`` in JSON, and left out of macro and weighted averages.
DEFAULT_ZERO_DIVISION: ZeroDivision = "nan"

#: How far a row of a probability matrix may sum away from 1 (float32 softmax outputs fit easily).
PROBA_SUM_ATOL = 1e-5


class UndefinedMetricWarning(UserWarning):
    """A metric's value is mathematically undefined for this input (e.g. 0/0, one-class ROC-AUC)."""


class MetricValue(NamedTuple):
    """A scalar metric and, where it is undefined (``value is None``) or set by a policy, why."""

    value: float | None
    reason: str | None = None


def finish(result: MetricValue) -> float | None:
    """Return the value of a public scalar metric, warning when it is undefined."""
    if result.value is None and result.reason:
        warnings.warn(result.reason, UndefinedMetricWarning, stacklevel=3)
    return result.value


def check_zero_division(zero_division: Any) -> float:
    """The replacement value for 0/0: 0.0, 1.0 or NaN (``"nan"``/``np.nan``: undefined)."""
    if isinstance(zero_division, str):
        if zero_division == "nan":
            return math.nan
    elif isinstance(zero_division, (int, float, np.integer, np.floating)) and not isinstance(zero_division, bool):
        if math.isnan(zero_division) or zero_division in (0, 1):
            return float(zero_division)
    raise InputError(f"zero_division must be 0, 1 or 'nan'; got {zero_division!r}; pick one of those")


def zero_division_tag(zero_division: Any) -> str:
    """The spelling of a zero-division policy in signatures and messages: ``0``, ``1`` or ``nan``."""
    value = check_zero_division(zero_division)
    return "nan" if math.isnan(value) else str(int(value))


def _native(label: Any) -> Any:
    return label.item() if isinstance(label, np.generic) else label


def check_labels(labels: Sequence[Any] | None, *, min_labels: int = 1) -> list[Any]:
    """The label list as JSON-friendly Python values, checked to be non-empty, scalar and unique."""
    if labels is None or isinstance(labels, (str, bytes, set, frozenset, dict)):
        raise InputError(f"labels must be a list of class labels in the order to report them; got {labels!r}; "
                         "pass e.g. labels=['ham', 'spam']")
    out = [_native(lab) for lab in labels]
    for lab in out:
        ok = isinstance(lab, (str, int)) or (isinstance(lab, float) and math.isfinite(lab))
        if not ok:
            raise InputError(f"labels must be strings or integers; got {lab!r} ({type(lab).__name__}); "
                             "convert the label column to strings")
    if len(out) < min_labels:
        raise InputError(f"labels must name at least {min_labels} class(es); got {out!r}; "
                         "list every class of the task, also those missing from this data")
    if len(set(out)) != len(out) or len({str(lab) for lab in out}) != len(out):
        dupes = sorted({str(lab) for lab in out if [str(x) for x in out].count(str(lab)) > 1})
        raise InputError(f"labels must be unique (also as text); got duplicates {dupes}; list each class once")
    return out


def encode(values: Any, labels: list[Any], *, name: str) -> np.ndarray:
    """Map each value to its index in ``labels`` (``int64``); a value not in ``labels`` is an error.

    When ``labels`` is ``[0, 1, ..., C-1]`` and ``values`` an int64 array of those, it is returned as is
    (no copy): treat the result as read-only."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D (one label per example); got shape {arr.shape}; pass a flat column")
    lookup = {lab: i for i, lab in enumerate(labels)}
    if arr.dtype.kind in "iub" and all(isinstance(lab, int) for lab in labels) and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo >= 0 and hi < len(labels) and labels == list(range(len(labels))):  # already the indices
            return arr.astype(np.int64, copy=False)
        if lo >= 0 and hi < 4 * len(labels) + 1024:  # dense table: no sort needed
            table = np.full(hi + 1, -1, dtype=np.int64)
            for lab, i in lookup.items():
                if 0 <= lab <= hi:
                    table[int(lab)] = i  # int(): a Python bool index would act as a mask
            codes = table[arr.astype(np.intp, copy=False)]  # a bool array would act as a mask too
            return _reject_unknown(codes, arr, labels, name)
    try:
        uniq, inverse = np.unique(arr, return_inverse=True)
    except TypeError:  # an object array mixing types that do not sort together
        codes = np.fromiter((lookup.get(v, -1) for v in arr.tolist()), dtype=np.int64, count=arr.size)
        return _reject_unknown(codes, arr, labels, name)
    uniq_codes = np.array([lookup.get(_native(u), -1) for u in uniq], dtype=np.int64)
    return _reject_unknown(uniq_codes[inverse.reshape(-1)], arr, labels, name)


def _reject_unknown(codes: np.ndarray, arr: np.ndarray, labels: list[Any], name: str) -> np.ndarray:
    bad = codes < 0
    if bad.any():
        unknown = list(dict.fromkeys(_native(v) for v in arr[bad][:1000].tolist()))[:5]
        raise InputError(f"{name} has {int(bad.sum())} value(s) not in labels {labels!r}, e.g. {unknown!r}; "
                         f"add them to labels or fix {name}")
    return codes


def check_lengths(n_expected: int, **arrays: np.ndarray) -> None:
    """All arrays hold ``n_expected`` examples, and there is at least one."""
    for name, arr in arrays.items():
        if len(arr) != n_expected:
            first = next(iter(arrays))
            raise InputError(f"{name} must have one entry per example like {first} ({n_expected}); "
                             f"got {len(arr)}; align the columns")
    if n_expected == 0:
        raise InputError("metrics need at least one example; got 0; check the input file and filters")


def check_scores(y_score: Any, n: int, *, name: str = "y_score") -> np.ndarray:
    """A finite 1-D ``float64`` score per example (any real: probabilities, logits, margins)."""
    try:
        s = np.asarray(y_score, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numbers; got {type(y_score).__name__} that does not convert; "
                         "pass one numeric score per example") from None
    if s.ndim != 1 or len(s) != n:
        raise InputError(f"{name} must have shape ({n},) (one score per example); got {s.shape}; "
                         "pass the positive-class column only")
    _check_finite(s, name)
    return s


def check_proba(proba: Any, n: int, n_classes: int, *, name: str = "proba") -> np.ndarray:
    """A checked ``float64`` ``(N, C)`` probability matrix: finite, in [0, 1], rows summing to 1."""
    try:
        p = np.asarray(proba, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a numeric (n_examples, n_labels) matrix; got {type(proba).__name__} "
                         "that does not convert; pass one probability column per label") from None
    if p.shape != (n, n_classes):
        raise InputError(f"{name} must have shape (n_examples, n_labels) = ({n}, {n_classes}), columns in label "
                         f"order; got {p.shape}; pass one probability column per label")
    _check_finite(p, name)
    lo, hi = float(p.min()), float(p.max())
    if lo < 0.0 or hi > 1.0:
        raise InputError(f"{name} must hold probabilities in [0, 1]; got values from {lo:.6g} to {hi:.6g}; "
                         "apply softmax (or sigmoid) to scores/logits first")
    sums = p.sum(axis=1)
    off = np.abs(sums - 1.0) > PROBA_SUM_ATOL
    if off.any():
        row = int(np.argmax(off))
        raise InputError(f"each row of {name} must sum to 1 (within {PROBA_SUM_ATOL:g}); {int(off.sum())} row(s) "
                         f"do not, e.g. row {row} sums to {sums[row]:.6g}; pass probabilities over all labels "
                         "(softmax), not independent scores")
    return p


def _check_finite(a: np.ndarray, name: str) -> None:
    finite = np.isfinite(a)
    if not finite.all():
        flat = np.flatnonzero(~finite.reshape(len(a), -1).all(axis=1))
        raise InputError(f"{name} must be finite; got {int((~finite).sum())} NaN/inf value(s), first in row "
                         f"{int(flat[0])}; drop or repair those rows")
