"""Score-based metrics: ROC and precision-recall curves, ROC-AUC, average precision, top-k accuracy.

The sufficient statistic of the exact curves is ``_binary_clf_curve_update``: the scores sorted once,
grouped into distinct thresholds (ties form one threshold, as in scikit-learn), with the cumulative
``int64`` counts of false and true positives at each. Exact AUC needs the scores themselves (STYLE
convention 1: a list state where the maths needs it); everything after the sort is integer counting.

* ROC-AUC is the trapezoid area under (FPR, TPR), computed exactly in counts and divided once. With only
  one class in ``y_true`` it is undefined: ``None`` plus a reason, never 0.5.
* Average precision is the step-wise sum ``AP = sum_n (R_n - R_{n-1}) P_n`` over thresholds, exactly
  scikit-learn's ``average_precision_score`` (no trapezoid, no interpolation). Undefined (``None``) when
  ``y_true`` has no positive, where scikit-learn returns 0.
* Multiclass: one-vs-rest per label (column ``c`` of the probability matrix scores label ``c``);
  ``"macro"`` averages the labels whose value is defined, ``"weighted"`` weights them by support.
* Binary scores may be any finite reals (probabilities, logits, margins); probability matrices are
  checked as probabilities (finite, in [0, 1], rows summing to 1).

>>> binary_roc_auc_score(["ham", "spam", "spam", "ham"], [0.1, 0.8, 0.4, 0.4], labels=["ham", "spam"],
...                      positive_label="spam")
0.875
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Literal

import numpy as np

from attnlab.errors import InputError
from attnlab.metrics.functional._validation import (
    MetricValue,
    check_labels,
    check_lengths,
    check_proba,
    check_scores,
    encode,
    finish,
)
from attnlab.metrics.functional.classification import positive_index

OvrAverage = Literal["macro", "weighted"] | None


# --------------------------------------------------------------------------- sufficient statistics


def _binary_clf_curve_update(y_true_pos: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False/true positive counts at each distinct threshold, thresholds in decreasing order.

    ``fps[i]``, ``tps[i]`` count the negatives/positives with ``score >= thresholds[i]``.
    """
    order = np.argsort(y_score, kind="stable")[::-1]
    score = y_score[order]
    last_of_run = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]  # one index per distinct score
    tps = np.cumsum(y_true_pos[order], dtype=np.int64)[last_of_run]
    fps = (last_of_run + 1) - tps
    return fps, tps, score[last_of_run]


def _roc_auc_compute(fps: np.ndarray, tps: np.ndarray) -> MetricValue:
    """Area under the ROC curve from threshold counts; ``None`` when a class is missing."""
    n_pos, n_neg = int(tps[-1]), int(fps[-1])
    if n_pos == 0 or n_neg == 0:
        missing = "positive" if n_pos == 0 else "negative"
        return MetricValue(None, f"ROC-AUC undefined: y_true has no {missing} example (only one class present)")
    fps0, tps0 = np.r_[0, fps], np.r_[0, tps]
    twice_area = np.sum(np.diff(fps0) * (tps0[1:] + tps0[:-1]))  # exact in integers
    return MetricValue(float(twice_area / (2.0 * n_pos * n_neg)))


def _average_precision_compute(fps: np.ndarray, tps: np.ndarray) -> MetricValue:
    """``sum_n (R_n - R_{n-1}) P_n`` over thresholds in decreasing order; ``None`` with no positive."""
    n_pos = int(tps[-1])
    if n_pos == 0:
        return MetricValue(None, "average precision undefined: y_true has no positive example "
                                 "(scikit-learn reports 0 here)")
    precision = tps / (tps + fps)
    recall_gain = np.diff(np.r_[0, tps]) / n_pos
    return MetricValue(float(np.sum(recall_gain * precision)))


def _roc_curve_compute(fps: np.ndarray, tps: np.ndarray, thresholds: np.ndarray, *,
                       drop_intermediate: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if drop_intermediate and fps.size > 2:  # drop points collinear with their neighbours (scikit-learn)
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps, tps = np.r_[0, fps].astype(np.float64), np.r_[0, tps].astype(np.float64)
    thresholds = np.r_[np.inf, thresholds]
    fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return fpr, tpr, thresholds


def _precision_recall_curve_compute(fps: np.ndarray, tps: np.ndarray, thresholds: np.ndarray
                                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    precision = tps / (tps + fps)
    recall = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


# --------------------------------------------------------------------------- binary public API


def _binary_inputs(y_true: Any, y_score: Any, labels: Sequence[Any], positive_label: Any
                   ) -> tuple[np.ndarray, np.ndarray]:
    labels = check_labels(labels, min_labels=2)
    t = encode(y_true, labels, name="y_true")
    check_lengths(len(t), y_true=t)
    s = check_scores(y_score, len(t))
    return t == positive_index(labels, positive_label), s


def binary_roc_curve(y_true: Any, y_score: Any, *, labels: Sequence[Any], positive_label: Any,
                     drop_intermediate: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve ``(fpr, tpr, thresholds)`` as scikit-learn's ``roc_curve``: thresholds decreasing from
    ``inf``; ``drop_intermediate`` drops collinear points (the area is unchanged). A rate whose class is
    absent from ``y_true`` is NaN, with a warning."""
    pos, s = _binary_inputs(y_true, y_score, labels, positive_label)
    fps, tps, thr = _binary_clf_curve_update(pos, s)
    if tps[-1] == 0 or fps[-1] == 0:
        finish(_roc_auc_compute(fps, tps))
    return _roc_curve_compute(fps, tps, thr, drop_intermediate=drop_intermediate)


def binary_roc_auc_score(y_true: Any, y_score: Any, *, labels: Sequence[Any], positive_label: Any) -> float | None:
    """Exact area under the ROC curve for ``positive_label`` vs the rest; ``None`` (with a warning)
    when ``y_true`` holds one class only."""
    pos, s = _binary_inputs(y_true, y_score, labels, positive_label)
    return finish(_roc_auc_compute(*_binary_clf_curve_update(pos, s)[:2]))


def binary_precision_recall_curve(y_true: Any, y_score: Any, *, labels: Sequence[Any], positive_label: Any
                                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(precision, recall, thresholds)`` as scikit-learn's ``precision_recall_curve``: thresholds
    increasing, the last point is ``(precision 1, recall 0)``. Recall is NaN (with a warning) when
    ``y_true`` has no positive, where scikit-learn sets it to 1."""
    pos, s = _binary_inputs(y_true, y_score, labels, positive_label)
    fps, tps, thr = _binary_clf_curve_update(pos, s)
    if tps[-1] == 0:
        finish(MetricValue(None, "recall undefined at every threshold: y_true has no positive example"))
    return _precision_recall_curve_compute(fps, tps, thr)


def binary_average_precision_score(y_true: Any, y_score: Any, *, labels: Sequence[Any],
                                   positive_label: Any) -> float | None:
    """Average precision ``sum_n (R_n - R_{n-1}) P_n`` for ``positive_label``; ``None`` (with a warning)
    when ``y_true`` has no positive example.

    >>> binary_average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], labels=[0, 1], positive_label=1)
    0.8333333333333333
    """
    pos, s = _binary_inputs(y_true, y_score, labels, positive_label)
    return finish(_average_precision_compute(*_binary_clf_curve_update(pos, s)[:2]))


# --------------------------------------------------------------------------- multiclass (one-vs-rest)


def _ovr_compute(y_idx: np.ndarray, proba: np.ndarray, compute: Callable[..., MetricValue]
                 ) -> tuple[np.ndarray, list[str | None]]:
    """Per-label one-vs-rest values (NaN where undefined) and the reasons, in label order."""
    values, reasons = np.full(proba.shape[1], np.nan), []
    for c in range(proba.shape[1]):  # a loop over labels, not examples
        result = compute(*_binary_clf_curve_update(y_idx == c, proba[:, c])[:2])
        if result.value is not None:
            values[c] = result.value
        reasons.append(result.reason)
    return values, reasons


def _ovr_average(values: np.ndarray, support: np.ndarray, average: str, name: str) -> MetricValue:
    defined = ~np.isnan(values)
    if not defined.any():
        return MetricValue(None, f"{name} undefined for every label: y_true holds a single class")
    if average == "macro":
        return MetricValue(float(np.mean(values[defined])))
    return MetricValue(float(np.average(values[defined], weights=support[defined])))


def _multiclass(y_true: Any, proba: Any, labels: Sequence[Any], average: OvrAverage,
                compute: Callable[..., MetricValue], name: str) -> Any:
    if average not in (None, "macro", "weighted"):
        raise InputError(f"average must be None, 'macro' or 'weighted'; got {average!r}; pick one of those")
    labels = check_labels(labels, min_labels=2)
    t = encode(y_true, labels, name="y_true")
    check_lengths(len(t), y_true=t)
    p = check_proba(proba, len(t), len(labels))
    values, reasons = _ovr_compute(t, p, compute)
    for label, reason in zip(labels, reasons):
        if reason:
            finish(MetricValue(None, f"label {label!r}: {reason}"))
    if average is None:
        return values
    support = np.bincount(t, minlength=len(labels)).astype(np.float64)
    return finish(_ovr_average(values, support, average, name))


def multiclass_roc_auc_score(y_true: Any, proba: Any, *, labels: Sequence[Any],
                             average: OvrAverage = "macro") -> Any:
    """One-vs-rest ROC-AUC of an ``(N, C)`` probability matrix whose columns follow ``labels``.

    ``"macro"``/``"weighted"`` (by support) average the labels where it is defined (labels absent from
    ``y_true`` are left out, with a warning); ``None`` returns the per-label array (NaN where undefined).
    Equals scikit-learn's ``roc_auc_score(multi_class="ovr")`` when every label occurs.
    """
    return _multiclass(y_true, proba, labels, average, _roc_auc_compute, "ROC-AUC")


def multiclass_average_precision_score(y_true: Any, proba: Any, *, labels: Sequence[Any],
                                       average: OvrAverage = "macro") -> Any:
    """One-vs-rest average precision per label, averaged like :func:`multiclass_roc_auc_score`."""
    return _multiclass(y_true, proba, labels, average, _average_precision_compute, "average precision")


# --------------------------------------------------------------------------- top-k


def _top_k_update(y_idx: np.ndarray, proba: np.ndarray, k: int) -> int:
    """How many examples have their true label among the ``k`` highest scores.

    Ties are broken as scikit-learn's ``top_k_accuracy_score`` (stable ascending sort, reversed): among
    equal scores the later column ranks higher.
    """
    n, n_classes = proba.shape
    true_score = proba[np.arange(n), y_idx][:, None]  # (N, 1)
    later = np.arange(n_classes)[None, :] > y_idx[:, None]  # (N, C)
    rank = np.count_nonzero((proba > true_score) | ((proba == true_score) & later), axis=1)
    return int(np.count_nonzero(rank < k))


def top_k_accuracy_score(y_true: Any, proba: Any, *, labels: Sequence[Any], k: int = 2) -> float:
    """Fraction of examples whose true label is among the ``k`` most probable (``1 <= k < C``).

    >>> top_k_accuracy_score([0, 1, 2], [[.5, .3, .2], [.6, .1, .3], [.1, .2, .7]], labels=[0, 1, 2], k=2)
    0.6666666666666666
    """
    labels = check_labels(labels, min_labels=2)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < len(labels):
        raise InputError(f"k must be an integer with 1 <= k < {len(labels)} (the number of labels); got {k!r}; "
                         "k >= the number of labels is always 1.0")
    t = encode(y_true, labels, name="y_true")
    check_lengths(len(t), y_true=t)
    p = check_proba(proba, len(t), len(labels))
    return _top_k_update(t, p, int(k)) / len(t)

