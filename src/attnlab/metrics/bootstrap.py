"""Bootstrap confidence intervals for every scalar metric of :func:`~attnlab.metrics.classification_report`.

The bootstrap resamples *statistics*, never models (STYLE convention 1): each resample draws ``N`` example
indices with replacement and only the sufficient statistics are recounted —

* confusion-matrix metrics: one ``np.bincount`` of the per-example cell code ``true * C + pred`` over the
  drawn indices gives a ``(R, C, C)`` stack of resampled confusion matrices; every metric is then
  reduced vectorised over ``R`` (:func:`cm_metric_stack`);
* ROC-AUC and average precision: the scores are sorted *once*; a resample only recounts positives and
  negatives per distinct score (a bincount), and the cumulative sums give its exact curve;
* log loss, Brier score, ECE: per-example terms (per-bin terms for ECE) summed over the drawn indices.

Draws are defined by :func:`resample_index_blocks` (``numpy.random.default_rng(seed)``, blocks of
``(B, N)`` indices), so the same seed gives the same resamples in every function that uses it — the paired
comparison of :mod:`attnlab.metrics.compare` included.

Intervals are percentile intervals: the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles
(NumPy's default linear interpolation) of the resampled values. A resample where a metric is undefined
(NaN under ``zero_division="nan"``: e.g. no positive drawn for ROC-AUC, a class never drawn for its
recall) is left out and counted in ``n_undefined``; when more than :data:`MAX_UNDEFINED_SHARE` of the
resamples are undefined the interval is ``None`` (``low``/``high`` ``None``, with a ``reason``), because
an interval over the few resamples where the metric happens to exist would be conditional on luck.

Percentile intervals inherit the bias of the statistic: ECE (a sum of absolute gaps) grows with sampling
noise, so its resampled values tend to lie above the estimate and its interval may not contain it.

>>> iv = bootstrap_intervals(list("abbabaabbaba"), list("abaabaabbbba"), labels=["a", "b"], n_resamples=200)
>>> sorted(iv["accuracy"])
['confidence', 'estimate', 'high', 'low', 'method', 'n_resamples', 'n_undefined', 'reason', 'seed']
>>> iv["accuracy"]["low"] <= iv["accuracy"]["estimate"] <= iv["accuracy"]["high"]
True
>>> report_intervals(iv)["macro.f1"] == [iv["macro.f1"]["low"], iv["macro.f1"]["high"]]
True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from attnlab.errors import InputError
from attnlab.metrics.functional import calibration as cal
from attnlab.metrics.functional import classification as cls
from attnlab.metrics.functional._validation import (
    DEFAULT_ZERO_DIVISION,
    UndefinedMetricWarning,
    ZeroDivision,
    check_labels,
    check_lengths,
    check_proba,
    check_scores,
    check_zero_division,
    encode,
)

DEFAULT_N_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0
#: Bins of the expected calibration error, as in classification_report.
DEFAULT_N_BINS = 15
#: Largest share of resamples in which a metric may be undefined for its interval still to be reported.
MAX_UNDEFINED_SHARE = 0.1
#: Indices drawn per block (``B * N``): bounds memory at a few tens of MB whatever ``N`` and ``R``.
BLOCK_ELEMENTS = 1 << 20

__all__ = ["MAX_UNDEFINED_SHARE", "bootstrap_intervals", "cm_metric_stack", "report_intervals",
           "resample_index_blocks"]


# --------------------------------------------------------------------------- arguments and draws


def check_bootstrap_args(n_resamples: Any, confidence: Any, seed: Any) -> tuple[int, float, int]:
    """Validate the resampling options shared by the bootstrap and the paired comparison."""
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise InputError(f"n_resamples must be a positive integer; got {n_resamples!r}; 1000 is the usual choice")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise InputError(f"confidence must be a number in (0, 1); got {confidence!r}; e.g. 0.95 for a 95% interval")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative integer; got {seed!r}; pass e.g. seed=0 so the "
                         "intervals can be reproduced")
    return int(n_resamples), float(confidence), int(seed)


def resample_index_blocks(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """The bootstrap draws: ``(B, n)`` blocks of example indices, ``n_resamples`` rows in all.

    Row ``r`` (in block order) lists the ``n`` examples of resample ``r``. A block holds about
    :data:`BLOCK_ELEMENTS` indices; draws come from ``numpy.random.default_rng(seed).integers(0, n, (B, n))``
    block after block, so they depend only on ``(n, n_resamples, seed)``.
    """
    rng = np.random.default_rng(seed)
    block = max(1, BLOCK_ELEMENTS // max(n, 1))
    for start in range(0, n_resamples, block):
        yield rng.integers(0, n, size=(min(block, n_resamples - start), n))


def resampled_counts(keys: np.ndarray, n_keys: int, idx: np.ndarray, weights: np.ndarray | None = None
                     ) -> np.ndarray:
    """``out[r, k]`` = number (or ``weights`` sum) of drawn examples of resample ``r`` whose key is ``k``."""
    b = idx.shape[0]
    flat = (keys[idx] + (np.arange(b, dtype=np.int64) * n_keys)[:, None]).ravel()  # (B * n,)
    w = None if weights is None else weights[idx].ravel()
    return np.bincount(flat, weights=w, minlength=b * n_keys).reshape(b, n_keys)


# --------------------------------------------------------------------------- vectorised reductions


def _nanmean(values: np.ndarray) -> np.ndarray:
    """Row means over the non-NaN entries; NaN for a row with none (no RuntimeWarning)."""
    defined = ~np.isnan(values)
    k = defined.sum(axis=1)
    total = np.where(defined, values, 0.0).sum(axis=1)
    return np.divide(total, k, out=np.full(len(values), np.nan), where=k > 0)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.full(np.shape(num), np.nan), where=den != 0)


def cm_metric_stack(cms: np.ndarray, labels: Sequence[Any], *, zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION,
                    positive_idx: int | None = None) -> dict[str, np.ndarray]:
    """Every confusion-matrix metric of the report for a ``(R, C, C)`` stack, as ``(R,)`` arrays.

    Same definitions and undefined-value policy as :mod:`attnlab.metrics.functional.classification`
    (NaN = undefined); paths as in report.json (``"macro.f1"``, ``"per_class.spam.recall"``, and
    ``"binary.specificity"``/``"binary.npv"`` when ``positive_idx`` is given).
    """
    fill = check_zero_division(zero_division)
    cms = np.asarray(cms, dtype=np.float64)  # counts < 2**53: exact
    tp = np.diagonal(cms, axis1=1, axis2=2)  # (R, C)
    true_sum, pred_sum = cms.sum(axis=2), cms.sum(axis=1)  # (R, C) each
    n, correct = true_sum.sum(axis=1), tp.sum(axis=1)  # (R,)
    dot = np.sum(true_sum * pred_sum, axis=1)
    accuracy = _safe_ratio(correct, n)
    out = {
        "accuracy": accuracy,
        "balanced_accuracy": _nanmean(_safe_ratio(tp, true_sum)),  # classes absent from y_true left out
        "mcc": _safe_ratio(correct * n - dot, np.sqrt((n**2 - np.sum(pred_sum**2, axis=1))
                                                       * (n**2 - np.sum(true_sum**2, axis=1)))),
        "cohen_kappa": 1.0 - _safe_ratio((n - correct) * n, n**2 - dot),
    }
    precision, _ = cls._divide(tp, pred_sum, fill)
    recall, _ = cls._divide(tp, true_sum, fill)
    f1, _ = cls._divide(2.0 * tp, true_sum + pred_sum, fill)
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[f"macro.{name}"] = _nanmean(values)
        out[f"micro.{name}"] = accuracy  # one label per example: micro P = R = F = accuracy
        weights = np.where(np.isnan(values), 0.0, true_sum)
        out[f"weighted.{name}"] = _safe_ratio(np.sum(weights * np.nan_to_num(values), axis=1), weights.sum(axis=1))
    for i, label in enumerate(check_labels(labels)):
        for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
            out[f"per_class.{label}.{name}"] = values[:, i]
    if positive_idx is not None:
        tp_c, fn, fp = tp[:, positive_idx], true_sum[:, positive_idx] - tp[:, positive_idx], \
            pred_sum[:, positive_idx] - tp[:, positive_idx]
        tn = n - tp_c - fn - fp
        out["binary.specificity"] = cls._divide(tn, tn + fp, fill)[0]
        out["binary.npv"] = cls._divide(tn, tn + fn, fill)[0]
    return out


class _RankingTable:
    """One argsort of a score column, kept as a distinct-score group id per example (decreasing score)."""

    def __init__(self, is_pos: np.ndarray, score: np.ndarray):
        order = np.argsort(score, kind="stable")[::-1]
        new_group = np.r_[0, (np.diff(score[order]) != 0).astype(np.int64)]
        group = np.empty(len(score), dtype=np.int64)
        group[order] = np.cumsum(new_group)
        self.n_groups = int(group.max()) + 1
        self.keys = group * 2 + is_pos.astype(np.int64)  # (n,): two cells per group: negative, positive

    def auc_ap(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact ROC-AUC and average precision of each resample in ``idx`` (NaN where undefined)."""
        counts = resampled_counts(self.keys, 2 * self.n_groups, idx).reshape(len(idx), self.n_groups, 2)
        neg, pos = counts[..., 0], counts[..., 1]  # (B, G): drawn negatives/positives at each distinct score
        fps, tps = np.cumsum(neg, axis=1), np.cumsum(pos, axis=1)  # (B, G): counts with score >= threshold
        n_neg, n_pos = fps[:, -1], tps[:, -1]
        # trapezoids: width = negatives of the group, heights tps before (tps - pos) and after: exact ints
        twice_area = np.sum(neg * (2 * tps - pos), axis=1)
        auc = _safe_ratio(twice_area.astype(np.float64), 2.0 * n_pos * n_neg)
        predicted = tps + fps
        precision = np.divide(tps, predicted, out=np.zeros(tps.shape), where=predicted > 0)
        ap = _safe_ratio(np.sum(pos * precision, axis=1), n_pos.astype(np.float64))  # recall gain = pos / n_pos
        return auc, ap


class _ProbaTerms:
    """Per-example terms of log loss, Brier score and ECE, and the ROC tables of the report's AUC/AP."""

    def __init__(self, t: np.ndarray, proba: np.ndarray, positive_idx: int | None, eps: float, n_bins: int):
        n, n_classes = proba.shape
        rows = np.arange(n)
        self.log_loss = -np.log(np.clip(proba[rows, t], eps, 1.0 - eps))
        diff = proba.copy()
        diff[rows, t] -= 1.0
        self.brier = np.sum(diff * diff, axis=1) / (2.0 if n_classes == 2 else 1.0)
        confidence = proba.max(axis=1)
        self.ece_gap = (proba.argmax(axis=1) == t) - confidence  # correct - confidence
        self.ece_bin = np.searchsorted(np.linspace(0.0, 1.0, n_bins + 1)[1:-1], confidence, side="left")
        self.n_bins = n_bins
        if n_classes == 2 and positive_idx is not None:  # as classification_report: binary AUC/AP
            self.tables = [_RankingTable(t == positive_idx, proba[:, positive_idx])]
        else:  # one-vs-rest, macro average over the labels where it is defined
            self.tables = [_RankingTable(t == c, proba[:, c]) for c in range(n_classes)]

    def stack(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        n = idx.shape[1]
        out = ranking_stack(self.tables, idx)
        out["log_loss"] = self.log_loss[idx].sum(axis=1) / n
        out["brier_score"] = self.brier[idx].sum(axis=1) / n
        gaps = resampled_counts(self.ece_bin, self.n_bins, idx, weights=self.ece_gap)  # (B, n_bins)
        out["ece"] = np.abs(gaps).sum(axis=1) / n
        return out


def ranking_stack(tables: list[_RankingTable], idx: np.ndarray) -> dict[str, np.ndarray]:
    """ROC-AUC and AP per resample: one table = binary, several = one-vs-rest macro average."""
    pairs = [table.auc_ap(idx) for table in tables]
    if len(pairs) == 1:
        return {"roc_auc": pairs[0][0], "average_precision": pairs[0][1]}
    return {"roc_auc": _nanmean(np.stack([p[0] for p in pairs], axis=1)),
            "average_precision": _nanmean(np.stack([p[1] for p in pairs], axis=1))}


# --------------------------------------------------------------------------- intervals


def percentile_interval(values: np.ndarray, estimate: float, *, confidence: float, seed: int) -> dict[str, Any]:
    """The percentile interval of resampled ``values`` (NaN = undefined resample), as a JSON-ready dict."""
    undefined = np.isnan(values)
    n_undefined = int(undefined.sum())
    out: dict[str, Any] = {"estimate": None if math.isnan(estimate) else float(estimate), "low": None, "high": None,
                           "n_resamples": len(values), "n_undefined": n_undefined, "confidence": confidence,
                           "method": "percentile", "seed": seed, "reason": None}
    if n_undefined > MAX_UNDEFINED_SHARE * len(values):
        out["reason"] = (f"undefined in {n_undefined} of {len(values)} resamples (more than "
                         f"{MAX_UNDEFINED_SHARE:.0%}): too few examples of some class to resample it")
        return out
    alpha = 1.0 - confidence
    low, high = np.quantile(values[~undefined], [alpha / 2, 1.0 - alpha / 2])
    out["low"], out["high"] = float(low), float(high)
    return out


def bootstrap_intervals(
    y_true: Any, y_pred: Any, *, labels: Sequence[Any], proba: Any = None, y_score: Any = None,
    positive_label: Any = None, n_resamples: int = DEFAULT_N_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED, zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION, n_bins: int = DEFAULT_N_BINS,
    eps: float | str = "auto",
) -> dict[str, dict[str, Any]]:
    """Percentile bootstrap intervals for every scalar metric of :func:`classification_report`.

    Arguments mean what they mean there (``labels`` order, ``proba`` columns in label order,
    ``positive_label``, ``zero_division``, ``n_bins``, ``eps``). ``y_score`` is an alternative to ``proba``
    for binary scores of ``positive_label`` that are not probabilities (logits, margins): it adds
    ``roc_auc`` and ``average_precision`` only.

    Returns ``{METRIC_PATH: {"estimate", "low", "high", "n_resamples", "n_undefined", "confidence",
    "method": "percentile", "seed", "reason"}}`` with the report's paths: ``accuracy``,
    ``balanced_accuracy``, ``mcc``, ``cohen_kappa``, ``{macro,micro,weighted}.{precision,recall,f1}``,
    ``per_class.LABEL.{precision,recall,f1}``, ``binary.{specificity,npv}`` (with ``positive_label``), and
    with ``proba`` also ``roc_auc``, ``average_precision``, ``log_loss``, ``brier_score``, ``ece``.
    ``estimate`` is the metric on the full data (``None`` if undefined); ``low``/``high`` are ``None``
    (with ``reason``) when more than :data:`MAX_UNDEFINED_SHARE` of the resamples were undefined, and an
    :class:`UndefinedMetricWarning` names those metrics.
    """
    labels = check_labels(labels, min_labels=2)
    n_resamples, confidence, seed = check_bootstrap_args(n_resamples, confidence, seed)
    check_zero_division(zero_division)
    t, p = encode(y_true, labels, name="y_true"), encode(y_pred, labels, name="y_pred")
    check_lengths(len(t), y_true=t, y_pred=p)
    n, n_classes = len(t), len(labels)
    pos_idx = None if positive_label is None else cls.positive_index(labels, positive_label)
    extra = _score_terms(t, proba, y_score, pos_idx, n_classes, eps, n_bins)
    codes = t * n_classes + p  # (n,) confusion-matrix cell of each example

    def stack(idx: np.ndarray) -> dict[str, np.ndarray]:
        cms = resampled_counts(codes, n_classes * n_classes, idx).reshape(len(idx), n_classes, n_classes)
        out = cm_metric_stack(cms, labels, zero_division=zero_division, positive_idx=pos_idx)
        if extra is not None:
            out.update(extra(idx))
        return out

    estimates = {path: float(v[0]) for path, v in stack(np.arange(n)[None, :]).items()}
    values = {path: np.empty(n_resamples) for path in estimates}
    done = 0
    for idx in resample_index_blocks(n, n_resamples, seed):
        for path, v in stack(idx).items():
            values[path][done:done + len(idx)] = v
        done += len(idx)
    result = {path: percentile_interval(values[path], estimates[path], confidence=confidence, seed=seed)
              for path in estimates}
    _warn_missing(result)
    return result


def _score_terms(t: np.ndarray, proba: Any, y_score: Any, pos_idx: int | None, n_classes: int, eps: Any,
                 n_bins: Any) -> Any:
    """The per-resample function for the score-based metrics, or ``None`` without scores."""
    if proba is not None and y_score is not None:
        raise InputError("pass either proba (a probability per label) or y_score (one binary score), not both; "
                         "drop one of them")
    if proba is not None:
        return _ProbaTerms(t, check_proba(proba, len(t), n_classes), pos_idx, cal.check_eps(eps),
                           cal.check_n_bins(n_bins)).stack
    if y_score is not None:
        if pos_idx is None or n_classes != 2:
            raise InputError("y_score needs 2 labels and a positive_label (the class the score is for); "
                             "pass positive_label=..., or proba for multiclass")
        table = _RankingTable(t == pos_idx, check_scores(y_score, len(t)))
        return lambda idx: ranking_stack([table], idx)
    return None


def _warn_missing(result: dict[str, dict[str, Any]]) -> None:
    missing = [path for path, iv in result.items() if iv["low"] is None]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        warnings.warn(f"no bootstrap interval for {shown}: undefined in more than {MAX_UNDEFINED_SHARE:.0%} of "
                      "the resamples (see each entry's reason)", UndefinedMetricWarning, stacklevel=3)


def report_intervals(intervals: dict[str, dict[str, Any]]) -> dict[str, list[float] | None]:
    """The CONTRACT form of :func:`bootstrap_intervals`: ``{METRIC_PATH: [low, high]}``, ``None`` where the
    interval is undefined (the report's policy for undefined values)."""
    return {path: None if iv["low"] is None else [iv["low"], iv["high"]] for path, iv in intervals.items()}
