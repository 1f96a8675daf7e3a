"""Label-based classification metrics, all reduced from one sufficient statistic: the confusion matrix.

``_confusion_matrix_update(y_true_idx, y_pred_idx, n_classes)`` counts; every ``_x_compute(cm)`` reduces
the ``(C, C)`` matrix (rows = true, columns = predicted). Matrices of shards or batches merge by
addition, so batched == one-shot and a bootstrap can resample counts. The public functions take raw
labels plus an explicit ``labels`` order, validate once, and delegate.

Undefined values are explicit, never a silent 0 (STYLE convention 4):

* ``zero_division`` (``0``, ``1`` or ``"nan"``; default ``"nan"``) is the value of a per-class ratio whose
  denominator is 0 — precision of a never-predicted class, recall of a class absent from ``y_true``,
  F-beta of a class absent from both. With ``"nan"`` the per-class value is NaN (``None`` in JSON) and
  macro / weighted averages are taken over the classes where it is defined (the weighted average
  renormalises the remaining support), as scikit-learn does for ``zero_division=np.nan``. An average with
  nothing left to average is undefined (``None``); scikit-learn falls back to an unweighted mean when all
  remaining weights are 0, attnlab reports ``None`` there.
* MCC is 0/0 when ``y_true`` or ``y_pred`` is constant: attnlab returns ``None`` (undefined) with a
  reason, where scikit-learn returns 0.0. Cohen's kappa with zero expected disagreement and adjusted
  balanced accuracy with a single class present are ``None`` likewise.
* Public scalar functions return ``None`` for an undefined value and emit an
  :class:`~attnlab.metrics.functional.UndefinedMetricWarning`; per-class arrays hold NaN.

>>> confusion_matrix(["spam", "ham", "ham"], ["spam", "spam", "ham"], labels=["ham", "spam"])
array([[1, 1],
       [0, 1]])
>>> f1_score(["spam", "ham", "ham"], ["spam", "spam", "ham"], labels=["ham", "spam"], average="macro")
0.6666666666666666
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np

from attnlab.errors import InputError
from attnlab.metrics.functional._validation import (
    DEFAULT_ZERO_DIVISION,
    MetricValue,
    ZeroDivision,
    check_labels,
    check_lengths,
    check_zero_division,
    encode,
    finish,
)

Average = Literal["macro", "micro", "weighted"] | None


# --------------------------------------------------------------------------- sufficient statistics


def _confusion_matrix_update(y_true_idx: np.ndarray, y_pred_idx: np.ndarray, n_classes: int) -> np.ndarray:
    """Count ``(true, predicted)`` pairs of label indices into a ``(C, C)`` ``int64`` matrix."""
    flat = np.asarray(y_true_idx, dtype=np.int64) * n_classes + np.asarray(y_pred_idx, dtype=np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).astype(np.int64, copy=False).reshape(
        n_classes, n_classes)


def _encode_pair(y_true: Any, y_pred: Any, labels: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    labels = check_labels(labels)
    t = encode(y_true, labels, name="y_true")
    p = encode(y_pred, labels, name="y_pred")
    check_lengths(len(t), y_true=t, y_pred=p)
    return t, p, labels


def confusion_matrix(y_true: Any, y_pred: Any, *, labels: Sequence[Any]) -> np.ndarray:
    """Confusion matrix in the order of ``labels``: rows = true label, columns = predicted label.

    Every value of ``y_true`` and ``y_pred`` must be in ``labels`` (else :class:`InputError`).

    >>> confusion_matrix([1, 0, 1], [1, 1, 1], labels=[1, 0])
    array([[2, 0],
           [1, 0]])
    """
    t, p, labels = _encode_pair(y_true, y_pred, labels)
    return _confusion_matrix_update(t, p, len(labels))


# --------------------------------------------------------------------------- precision / recall / F


class PRF(NamedTuple):
    """Per-class precision, recall, F-beta (NaN where undefined under ``zero_division="nan"``), the
    support, and masks of where each ratio was 0/0 (whatever value the policy then gave it)."""

    precision: np.ndarray
    recall: np.ndarray
    fscore: np.ndarray
    support: np.ndarray
    precision_undefined: np.ndarray
    recall_undefined: np.ndarray
    fscore_undefined: np.ndarray


def _divide(num: np.ndarray, den: np.ndarray, fill: float) -> tuple[np.ndarray, np.ndarray]:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, fill, dtype=np.float64)
    zero = den == 0
    np.divide(num, den, out=out, where=~zero)
    return out, zero


def _check_beta(beta: float) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta <= 0:
        raise InputError(f"beta must be a finite number > 0; got {beta!r}; use beta=1 for F1")
    return float(beta)


def _prf_compute(cm: np.ndarray, *, beta: float = 1.0, zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION) -> PRF:
    """Per-class precision, recall and F-beta from a confusion matrix.

    F-beta is ``(1 + b²) tp / ((1 + b²) tp + b² fn + fp)`` (scikit-learn ≥ 1.3), so it is 0/0 only when
    the class occurs in neither ``y_true`` nor ``y_pred``.
    """
    fill = check_zero_division(zero_division)
    cm = np.asarray(cm)
    tp = np.diag(cm).astype(np.float64)
    pred_sum, true_sum = cm.sum(axis=0), cm.sum(axis=1)
    precision, p_und = _divide(tp, pred_sum, fill)
    recall, r_und = _divide(tp, true_sum, fill)
    b2 = _check_beta(beta) ** 2
    fscore, f_und = _divide((1 + b2) * tp, b2 * true_sum + pred_sum, fill)
    return PRF(precision, recall, fscore, true_sum.astype(np.int64), p_und, r_und, f_und)


def _average_compute(values: np.ndarray, support: np.ndarray, average: str) -> MetricValue:
    """Macro or weighted mean of per-class values, leaving out NaN (undefined) entries."""
    defined = ~np.isnan(values)
    if not defined.any():
        return MetricValue(None, f"{average} average undefined: the value is undefined for every class")
    if average == "macro":
        return MetricValue(float(np.mean(values[defined])))
    weights = support[defined].astype(np.float64)
    if weights.sum() == 0:
        return MetricValue(None, "weighted average undefined: every class with a defined value has support 0")
    return MetricValue(float(np.average(values[defined], weights=weights)))


def _micro_compute(cm: np.ndarray, zero_division: ZeroDivision) -> tuple[MetricValue, ...]:
    """Micro precision = recall = F-beta = accuracy: with one label per example, every example adds
    one to the predicted total and one to the true total."""
    fill = check_zero_division(zero_division)
    (value,), undefined = _divide(np.array([np.trace(cm)]), np.array([np.sum(cm)]), fill)
    result = MetricValue(None, "micro average undefined: no examples") if undefined[0] and math.isnan(fill) \
        else MetricValue(float(value))
    return result, result, result


def _averaged_prf(cm: np.ndarray, *, beta: float, average: str, zero_division: ZeroDivision) -> tuple[MetricValue, ...]:
    """(precision, recall, fscore) averaged with ``average`` ("macro", "micro" or "weighted")."""
    if average == "micro":
        _check_beta(beta)
        return _micro_compute(cm, zero_division)
    if average not in ("macro", "weighted"):
        raise InputError(f"average must be None, 'macro', 'micro' or 'weighted'; got {average!r}; pick one of those")
    stats = _prf_compute(cm, beta=beta, zero_division=zero_division)
    return tuple(_average_compute(v, stats.support, average) for v in stats[:3])


def precision_recall_fscore_support(
    y_true: Any, y_pred: Any, *, labels: Sequence[Any], beta: float = 1.0, average: Average = None,
    zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION,
) -> tuple[Any, Any, Any, np.ndarray | None]:
    """Precision, recall, F-beta and support, per class (``average=None``) or averaged.

    Per class: ``float64`` arrays in label order (NaN where undefined under ``zero_division="nan"``) and an
    ``int64`` support array. Averaged (``"macro"``, ``"micro"``, ``"weighted"``): floats, ``None`` where
    undefined, and support ``None`` (as scikit-learn).

    >>> p, r, f, s = precision_recall_fscore_support([0, 1, 1], [1, 1, 1], labels=[0, 1])
    >>> p.round(4).tolist(), r.tolist(), s.tolist()
    ([nan, 0.6667], [0.0, 1.0], [1, 2])
    """
    t, p, labels = _encode_pair(y_true, y_pred, labels)
    cm = _confusion_matrix_update(t, p, len(labels))
    if average is None:
        stats = _prf_compute(cm, beta=beta, zero_division=zero_division)
        return stats.precision, stats.recall, stats.fscore, stats.support
    prec, rec, f = (finish(v) for v in _averaged_prf(cm, beta=beta, average=average, zero_division=zero_division))
    return prec, rec, f, None


def _one(index: int, y_true: Any, y_pred: Any, labels: Sequence[Any], beta: float, average: Average,
         zero_division: ZeroDivision) -> Any:
    return precision_recall_fscore_support(y_true, y_pred, labels=labels, beta=beta, average=average,
                                           zero_division=zero_division)[index]


def precision_score(y_true: Any, y_pred: Any, *, labels: Sequence[Any], average: Average = None,
                    zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION) -> Any:
    """Precision ``tp / (tp + fp)``; see :func:`precision_recall_fscore_support`."""
    return _one(0, y_true, y_pred, labels, 1.0, average, zero_division)


def recall_score(y_true: Any, y_pred: Any, *, labels: Sequence[Any], average: Average = None,
                 zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION) -> Any:
    """Recall ``tp / (tp + fn)``; see :func:`precision_recall_fscore_support`."""
    return _one(1, y_true, y_pred, labels, 1.0, average, zero_division)


def fbeta_score(y_true: Any, y_pred: Any, *, labels: Sequence[Any], beta: float, average: Average = None,
                zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION) -> Any:
    """F-beta ``(1 + b²) tp / ((1 + b²) tp + b² fn + fp)``; see :func:`precision_recall_fscore_support`."""
    return _one(2, y_true, y_pred, labels, beta, average, zero_division)


def f1_score(y_true: Any, y_pred: Any, *, labels: Sequence[Any], average: Average = None,
             zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION) -> Any:
    """F1 ``2 tp / (2 tp + fn + fp)``; see :func:`precision_recall_fscore_support`."""
    return _one(2, y_true, y_pred, labels, 1.0, average, zero_division)


# --------------------------------------------------------------------------- agreement scores


def _accuracy_compute(cm: np.ndarray) -> MetricValue:
    total = np.sum(cm)
    if total == 0:
        return MetricValue(None, "accuracy undefined: no examples")
    return MetricValue(float(np.trace(cm) / total))


def _balanced_accuracy_compute(cm: np.ndarray, *, adjusted: bool = False) -> MetricValue:
    """Mean recall over the classes present in ``y_true`` (scikit-learn); classes with no support are
    left out whatever the zero-division policy. ``adjusted`` rescales so chance = 0, perfect = 1."""
    cm = np.asarray(cm)
    support = cm.sum(axis=1)
    present = support > 0
    if not present.any():
        return MetricValue(None, "balanced accuracy undefined: no examples")
    score = float(np.mean(np.diag(cm)[present] / support[present]))
    if adjusted:
        k = int(present.sum())
        if k < 2:
            return MetricValue(None, "adjusted balanced accuracy undefined: only one class occurs in y_true, "
                                     "so chance level is 1")
        chance = 1.0 / k
        score = (score - chance) / (1.0 - chance)
    return MetricValue(score)


def _mcc_compute(cm: np.ndarray) -> MetricValue:
    """Multiclass Matthews correlation (Gorodkin's R_K, as scikit-learn), ``None`` when 0/0."""
    cm = np.asarray(cm, dtype=np.float64)
    t_sum, p_sum = cm.sum(axis=1), cm.sum(axis=0)
    n_correct, n = np.trace(cm), cm.sum()
    cov_ytyp = n_correct * n - np.dot(t_sum, p_sum)
    cov_ypyp = n**2 - np.dot(p_sum, p_sum)
    cov_ytyt = n**2 - np.dot(t_sum, t_sum)
    if cov_ypyp * cov_ytyt == 0:
        which = "y_pred" if cov_ypyp == 0 else "y_true"
        return MetricValue(None, f"MCC undefined (0/0): {which} holds a single class "
                                 "(scikit-learn reports 0.0 here)")
    return MetricValue(float(cov_ytyp / np.sqrt(cov_ypyp * cov_ytyt)))


def _cohen_kappa_compute(cm: np.ndarray) -> MetricValue:
    """Unweighted Cohen's kappa ``1 - observed disagreement / expected disagreement``."""
    cm = np.asarray(cm, dtype=np.float64)
    expected = np.outer(cm.sum(axis=0), cm.sum(axis=1)) / cm.sum()
    off_diag = 1.0 - np.eye(len(cm))
    denominator = np.sum(off_diag * expected)
    if denominator == 0:
        return MetricValue(None, "Cohen's kappa undefined: y_true and y_pred both hold the same single class, "
                                 "so chance agreement is 1")
    return MetricValue(float(1.0 - np.sum(off_diag * cm) / denominator))


def accuracy_score(y_true: Any, y_pred: Any, *, labels: Sequence[Any]) -> float:
    """Fraction of examples whose prediction equals the true label."""
    t, p, labels = _encode_pair(y_true, y_pred, labels)
    return _accuracy_compute(_confusion_matrix_update(t, p, len(labels))).value


def balanced_accuracy_score(y_true: Any, y_pred: Any, *, labels: Sequence[Any], adjusted: bool = False) -> float | None:
    """Mean per-class recall over the classes present in ``y_true``; see :func:`_balanced_accuracy_compute`."""
    t, p, labels = _encode_pair(y_true, y_pred, labels)
    return finish(_balanced_accuracy_compute(_confusion_matrix_update(t, p, len(labels)), adjusted=adjusted))


def matthews_corrcoef(y_true: Any, y_pred: Any, *, labels: Sequence[Any]) -> float | None:
    """Matthews correlation coefficient in [-1, 1]; ``None`` (with a warning) when ``y_true`` or
    ``y_pred`` is constant, where scikit-learn returns 0.0."""
    t, p, labels = _encode_pair(y_true, y_pred, labels)
    return finish(_mcc_compute(_confusion_matrix_update(t, p, len(labels))))


def cohen_kappa_score(y_true: Any, y_pred: Any, *, labels: Sequence[Any]) -> float | None:
    """Cohen's kappa between true and predicted labels; ``None`` when chance agreement is 1."""
    t, p, labels = _encode_pair(y_true, y_pred, labels)
    return finish(_cohen_kappa_compute(_confusion_matrix_update(t, p, len(labels))))


# --------------------------------------------------------------------------- one class against the rest


class BinaryCounts(NamedTuple):
    """Counts for one positive class against all others, and the rates built from them."""

    tp: int
    fn: int
    fp: int
    tn: int
    specificity: float  # tn / (tn + fp); NaN when undefined under zero_division="nan"
    npv: float  # tn / (tn + fn)
    specificity_undefined: bool
    npv_undefined: bool


def _binary_counts_compute(cm: np.ndarray, positive_idx: int, *,
                           zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION) -> BinaryCounts:
    """TP/FN/FP/TN of class ``positive_idx`` against the rest, with specificity and NPV."""
    cm = np.asarray(cm)
    tp = int(cm[positive_idx, positive_idx])
    fn = int(cm[positive_idx].sum()) - tp
    fp = int(cm[:, positive_idx].sum()) - tp
    tn = int(cm.sum()) - tp - fn - fp
    fill = check_zero_division(zero_division)
    (spec, npv), undefined = _divide(np.array([tn, tn]), np.array([tn + fp, tn + fn]), fill)
    return BinaryCounts(tp, fn, fp, tn, float(spec), float(npv), bool(undefined[0]), bool(undefined[1]))


def binary_counts(y_true: Any, y_pred: Any, *, labels: Sequence[Any], positive_label: Any,
                  zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION) -> BinaryCounts:
    """TP, FN, FP, TN, specificity and negative predictive value for ``positive_label`` vs the rest.

    >>> binary_counts(["spam", "ham", "ham"], ["spam", "spam", "ham"], labels=["ham", "spam"],
    ...               positive_label="spam")[:4]
    (1, 0, 1, 1)
    """
    t, p, labels = _encode_pair(y_true, y_pred, labels)
    return _binary_counts_compute(_confusion_matrix_update(t, p, len(labels)), positive_index(labels, positive_label),
                                  zero_division=zero_division)


def positive_index(labels: list[Any], positive_label: Any) -> int:
    """The column of ``positive_label`` in ``labels`` (an :class:`InputError` if it is not there)."""
    for i, lab in enumerate(labels):
        if lab == positive_label or str(lab) == str(positive_label):
            return i
    raise InputError(f"positive_label {positive_label!r} is not one of the labels {labels!r}; "
                     "pass one of them (or leave it out for multiclass averages)")
