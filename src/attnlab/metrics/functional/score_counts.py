"""Mergeable sufficient statistic of exact ROC / precision-recall curves: counts per distinct score.

``_score_counts_update(is_positive, scores)`` returns ``(values, pos, neg)``: the distinct scores in
increasing order and the ``int64`` numbers of positive and negative examples holding each. Every point
of the ROC and PR curves — and so ROC-AUC and average precision — is a cumulative sum of these counts
from the top score down, so the statistic is exact; two of them merge like sorted sequences (counts of
equal scores added), so batches and shards combine without keeping rows. Memory grows with the number
of *distinct* scores: 100M scores written with 6 significant digits hold a few million.

``_binned_score_counts_update`` is the constant-memory alternative: counts per bin of a fixed threshold
grid. Its curve is exact *at the grid thresholds* (a row counts as positive at ``t`` when its score is
``>= t``), so ROC-AUC and average precision computed from it are approximations of the exact ones.

>>> values, pos, neg = _score_counts_update(np.array([True, False, True, False]), np.array([.8, .4, .4, .1]))
>>> values.tolist(), pos.tolist(), neg.tolist()
([0.1, 0.4, 0.8], [0, 1, 1], [1, 1, 0])
>>> fps, tps, thresholds = _clf_curve_from_counts(values, pos, neg)
>>> fps.tolist(), tps.tolist(), thresholds.tolist()
([0, 1, 2], [1, 2, 2], [0.8, 0.4, 0.1])
"""

from __future__ import annotations

import numpy as np

ScoreCounts = tuple[np.ndarray, np.ndarray, np.ndarray]  # (values increasing, pos counts, neg counts)


def _score_dtype(scores: np.ndarray) -> np.dtype:
    """float32 scores stay float32 (half the memory, faster sort); everything else becomes float64."""
    return np.dtype(np.float32) if scores.dtype == np.float32 else np.dtype(np.float64)


def _runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and how often each occurs."""
    n = sorted_values.size
    if n == 0:
        return sorted_values, np.zeros(0, dtype=np.int64)
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=starts[1:])
    first = np.flatnonzero(starts)
    return sorted_values[first], np.diff(first, append=n).astype(np.int64, copy=False)


def _empty_score_counts(dtype: np.dtype = np.dtype(np.float64)) -> ScoreCounts:
    return np.zeros(0, dtype=dtype), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)


def _score_counts_update(is_positive: np.ndarray, scores: np.ndarray) -> ScoreCounts:
    """Positive/negative counts per distinct score (finite scores; ``is_positive`` a bool mask).

    Two plain sorts (positives, negatives) and a merge are much cheaper than an argsort plus gathers.
    """
    scores = np.asarray(scores)
    scores = scores.astype(_score_dtype(scores), copy=False)
    is_positive = np.asarray(is_positive, dtype=bool)
    pos_scores, neg_scores = scores[is_positive], scores[~is_positive]  # fresh copies: sort in place
    pos_scores.sort()
    neg_scores.sort()
    pos_values, pos_counts = _runs(pos_scores)
    neg_values, neg_counts = _runs(neg_scores)
    zeros = np.zeros
    values, pos, neg = _merge_score_counts((pos_values, pos_counts, zeros(pos_values.size, np.int64)),
                                           (neg_values, zeros(neg_values.size, np.int64), neg_counts))
    return values + values.dtype.type(0.0), pos, neg  # -0.0 + 0.0 is 0.0: one spelling of zero


def _merge_score_counts(a: ScoreCounts, b: ScoreCounts) -> ScoreCounts:
    """Merge two count statistics (each with distinct, increasing values); equal scores add their counts."""
    a_values, b_values = a[0], b[0]
    if b_values.size == 0 or a_values.size == 0:
        keep = a if b_values.size == 0 else b
        dtype = np.result_type(a_values, b_values)
        return keep[0].astype(dtype, copy=False), keep[1], keep[2]
    # A stable sort of two concatenated sorted runs is a linear merge (timsort finds the runs); on a tie
    # the element of ``a`` comes first.
    values = np.concatenate([a_values, b_values])
    order = np.argsort(values, kind="stable")
    values = values[order]
    pos, neg = np.concatenate([a[1], b[1]])[order], np.concatenate([a[2], b[2]])[order]
    tie = np.flatnonzero(values[1:] == values[:-1])  # a tie is an (a, b) pair, never more
    if tie.size:
        pos[tie] += pos[tie + 1]  # fold b's counts into a's entry, then drop b's
        neg[tie] += neg[tie + 1]
        keep = np.ones(values.size, dtype=bool)
        keep[tie + 1] = False
        values, pos, neg = values[keep], pos[keep], neg[keep]
    return values, pos, neg


def _binned_score_counts_update(is_positive: np.ndarray, scores: np.ndarray, thresholds: np.ndarray
                                ) -> tuple[np.ndarray, np.ndarray]:
    """Positive/negative counts per bin of the increasing grid ``thresholds`` (``T`` values).

    Slot 0 holds scores below ``thresholds[0]``; slot ``j + 1`` the scores in
    ``[thresholds[j], thresholds[j + 1])`` (the last slot is open above). Returns two ``(T + 1,)`` arrays.
    """
    slot = np.searchsorted(thresholds, scores, side="right")
    n_slots = thresholds.size + 1
    is_positive = np.asarray(is_positive, dtype=bool)
    pos = np.bincount(slot[is_positive], minlength=n_slots).astype(np.int64, copy=False)
    total = np.bincount(slot, minlength=n_slots).astype(np.int64, copy=False)
    return pos, total - pos


def _binned_to_score_counts(pos: np.ndarray, neg: np.ndarray, thresholds: np.ndarray) -> ScoreCounts:
    """The binned counts as a count statistic whose "scores" are the grid thresholds (``-inf`` below the
    grid); empty bins are dropped so every point of the curve is a distinct one."""
    values = np.r_[-np.inf, np.asarray(thresholds, dtype=np.float64)]
    used = (pos + neg) > 0
    return values[used], pos[used], neg[used]


def _clf_curve_from_counts(values: np.ndarray, pos: np.ndarray, neg: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fps, tps, thresholds)`` with thresholds decreasing — exactly what
    :func:`attnlab.metrics.functional.ranking._binary_clf_curve_update` returns for the same rows."""
    return np.cumsum(neg[::-1], dtype=np.int64), np.cumsum(pos[::-1], dtype=np.int64), values[::-1]
