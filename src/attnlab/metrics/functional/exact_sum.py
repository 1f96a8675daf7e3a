"""Exactly rounded float sums that merge by addition, so batched == one-shot bit for bit.

A float sum depends on the order of its additions: ``sum(chunk1) + sum(chunk2)`` is not ``sum(all)``
to the last bit. The metrics that are means of float terms (log loss, Brier score, ECE confidence sums)
keep, instead of a float, an integer accumulator that holds the sum exactly; the value is rounded once,
at compute time, so every chunking, merge order or process split gives the same float.

How: every finite double is ``M * 2**(e - 53)`` with an integer ``|M| < 2**53`` (``np.frexp``). ``M`` is
split into a 27-bit high and a 26-bit low half, and each half is summed per exponent ``e`` with
``np.bincount`` — an integer-valued float64 sum that stays exact while it is below ``2**53`` (blocks of
``2**20`` terms guarantee it). The state is an ``int64`` array ``(groups, 2, 2098)``; adding two states
adds the sums. ``_exact_sum_compute`` rebuilds the exact rational total with Python integers and rounds it
once (Python's ``int / int`` is correctly rounded).

>>> acc = _exact_sum_update(np.array([1e16, 1.0, -1e16]))
>>> _exact_sum_compute(acc)[0], float(np.sum([1e16, 1.0, -1e16]))
(1.0, 0.0)
"""

from __future__ import annotations

import math

import numpy as np

_N_EXP = 2098  # frexp exponents of finite doubles: -1073 (smallest subnormal) ... 1024
_EXP_OFFSET = 1073
# Terms per bincount: 2**20 * 2**27 < 2**53, so every partial sum is an exact integer; blocks this small
# also keep the temporaries in cache and out of fresh (page-faulting) memory.
_BLOCK = 1 << 20
_HI_SCALE = float(2**27)
_LO_SCALE = float(2**26)


def _exact_sum_zeros(n_groups: int = 1) -> np.ndarray:
    """An empty accumulator for ``n_groups`` independent sums."""
    return np.zeros((n_groups, 2, _N_EXP), dtype=np.int64)


def _exact_sum_update(x: np.ndarray, group: np.ndarray | None = None, n_groups: int = 1) -> np.ndarray:
    """Exact accumulator of the finite values ``x``, summed per ``group`` index (``0 <= group < n_groups``)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    acc = _exact_sum_zeros(n_groups)
    size = n_groups * _N_EXP
    for start in range(0, x.size, _BLOCK):
        mant, exp = np.frexp(x[start:start + _BLOCK])  # |mant| in [0.5, 1) with 53 significant bits
        mant *= _HI_SCALE
        hi = np.trunc(mant)  # the top 27 bits, as an integer
        mant -= hi
        mant *= _LO_SCALE  # the low 26 bits, as an integer of the same sign
        idx = np.add(exp, _EXP_OFFSET, dtype=np.intp)
        if group is not None:
            idx += np.asarray(group[start:start + _BLOCK], dtype=np.intp) * _N_EXP
        acc[:, 0] += np.bincount(idx, weights=hi, minlength=size).astype(np.int64).reshape(n_groups, _N_EXP)
        acc[:, 1] += np.bincount(idx, weights=mant, minlength=size).astype(np.int64).reshape(n_groups, _N_EXP)
    return acc


def _exact_sum_compute(acc: np.ndarray) -> list[float]:
    """The correctly rounded float of each group's exact sum."""
    shift = _EXP_OFFSET + 53  # exponent e contributes M * 2**(e - 53) = M * 2**(index - shift)
    out = []
    for hi, lo in np.asarray(acc, dtype=np.int64):
        total = 0
        for index in np.flatnonzero(hi | lo).tolist():
            total += ((int(hi[index]) << 26) + int(lo[index])) << index
        try:
            out.append(total / (1 << shift))
        except OverflowError:  # beyond the largest double, as a float sum would be
            out.append(math.inf if total > 0 else -math.inf)
    return out
