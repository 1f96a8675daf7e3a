"""Probabilistic scoring rules and calibration: log loss, Brier score, expected calibration error.

Each is a sum over examples divided by ``N``, so the state is ``(sum, n)`` — for ECE, per-bin counts,
confidence sums and numbers correct — and shards merge by addition (STYLE convention 1). Inputs are an
``(N, C)`` probability matrix with columns in ``labels`` order, checked to be finite, in [0, 1] and to sum
to 1 per row.

Definitions:

* **log loss**: ``mean(-ln clip(p[y], eps, 1 - eps))`` (natural log); ``eps="auto"`` is float64 machine
  epsilon, what scikit-learn ≥ 1.5 clips with.
* **Brier score**: ``mean(sum_c (p_c - [y = c])²)``, halved when there are 2 labels so that it is the mean
  squared error of the positive-class probability (range [0, 1]); with ≥ 3 labels it is the unhalved
  multiclass sum (range [0, 2]). This is scikit-learn's ``brier_score_loss(scale_by_half="auto")``.
* **ECE**: top-label expected calibration error (Guo et al. 2017). Confidence = the highest probability
  of a row, predicted label = its column (the first on ties); ``n_bins`` equal-width bins ``(lo, hi]`` on
  [0, 1] (a confidence of 0 goes to the first); ``ECE = sum_b |correct_b - confidence_sum_b| / N``.

>>> round(log_loss(["spam", "ham", "ham", "spam"], [[.1, .9], [.9, .1], [.8, .2], [.35, .65]],
...                labels=["ham", "spam"]), 5)
0.21616
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from attnlab.errors import InputError
from attnlab.metrics.functional._validation import check_labels, check_lengths, check_proba, encode

#: float64 machine epsilon: the default probability clip of :func:`log_loss`.
FLOAT64_EPS = float(np.finfo(np.float64).eps)


def _checked(y_true: Any, proba: Any, labels: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    labels = check_labels(labels, min_labels=2)
    t = encode(y_true, labels, name="y_true")
    check_lengths(len(t), y_true=t)
    return t, check_proba(proba, len(t), len(labels))


def check_eps(eps: Any) -> float:
    """``"auto"`` → float64 epsilon; otherwise a number in (0, 0.5)."""
    if isinstance(eps, str) and eps == "auto":
        return FLOAT64_EPS
    if isinstance(eps, (int, float)) and not isinstance(eps, bool) and 0 < eps < 0.5:
        return float(eps)
    raise InputError(f"eps must be 'auto' or a number in (0, 0.5); got {eps!r}; leave it at 'auto' unless "
                     "you must match another tool's clipping")


def _log_loss_update(y_idx: np.ndarray, proba: np.ndarray, eps: float) -> tuple[float, int]:
    p_true = np.clip(proba[np.arange(len(y_idx)), y_idx], eps, 1.0 - eps)
    return float(-np.sum(np.log(p_true))), len(y_idx)


def _log_loss_compute(total: float, n: int) -> float:
    return total / n


def log_loss(y_true: Any, proba: Any, *, labels: Sequence[Any], eps: float | str = "auto") -> float:
    """Mean negative log-likelihood of the true labels (nats), probabilities clipped to [eps, 1 - eps]."""
    t, p = _checked(y_true, proba, labels)
    return _log_loss_compute(*_log_loss_update(t, p, check_eps(eps)))


def _brier_score_update(y_idx: np.ndarray, proba: np.ndarray) -> tuple[float, int]:
    diff = proba.copy()
    diff[np.arange(len(y_idx)), y_idx] -= 1.0  # p - one_hot(y), without building the one-hot matrix
    return float(np.sum(diff * diff)), len(y_idx)


def _brier_score_compute(total: float, n: int, n_classes: int) -> float:
    return total / n / (2.0 if n_classes == 2 else 1.0)


def brier_score_loss(y_true: Any, proba: Any, *, labels: Sequence[Any]) -> float:
    """Brier score: binary = MSE of the positive-class probability, multiclass = mean summed squared error.

    >>> brier_score_loss([0, 1, 1, 0], [[.9, .1], [.1, .9], [.2, .8], [.7, .3]], labels=[0, 1])
    0.0375
    """
    t, p = _checked(y_true, proba, labels)
    return _brier_score_compute(*_brier_score_update(t, p), p.shape[1])


def _calibration_bins_update(y_idx: np.ndarray, proba: np.ndarray, n_bins: int
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width bin of top-label confidence: example count, confidence sum, number correct."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_idx
    inner_edges = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    bin_idx = np.searchsorted(inner_edges, confidence, side="left")  # bins are (lo, hi]
    counts = np.bincount(bin_idx, minlength=n_bins).astype(np.int64)
    conf_sums = np.bincount(bin_idx, weights=confidence, minlength=n_bins)
    n_correct = np.bincount(bin_idx, weights=correct, minlength=n_bins).astype(np.int64)
    return counts, conf_sums, n_correct


def _expected_calibration_error_compute(counts: np.ndarray, conf_sums: np.ndarray, n_correct: np.ndarray) -> float:
    return float(np.sum(np.abs(n_correct - conf_sums)) / np.sum(counts))


def check_n_bins(n_bins: Any) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise InputError(f"n_bins must be a positive integer; got {n_bins!r}; 15 is the usual choice")
    return int(n_bins)


def expected_calibration_error(y_true: Any, proba: Any, *, labels: Sequence[Any], n_bins: int = 15) -> float:
    """Top-label ECE with ``n_bins`` equal-width bins (see the module docstring).

    >>> round(expected_calibration_error([0, 1], [[0.9, 0.1], [0.8, 0.2]], labels=[0, 1], n_bins=10), 6)
    0.45
    """
    n_bins = check_n_bins(n_bins)
    t, p = _checked(y_true, proba, labels)
    return _expected_calibration_error_compute(*_calibration_bins_update(t, p, n_bins))

