"""Stateful metrics: accumulate sufficient statistics over batches, chunks and processes.

Each class only declares its state and delegates to the functional ``_x_update`` / ``_x_compute`` pairs
(torchmetrics style). ``update`` adds a batch, ``merge`` adds another state of the same configuration,
``compute`` reduces, ``reset`` empties, ``state_dict`` / ``from_state`` round-trip through plain NumPy
arrays and Python values. Every state is a sum — counts, and floats summed exactly (see
:mod:`~attnlab.metrics.functional.exact_sum`) — so any chunking, merge order or process split gives the
same result as one update over all rows, bit for bit.

* :class:`ConfusionMatrixState` — the ``(C, C)`` counts behind every label-based metric.
* :class:`ProbabilityState` — log loss, Brier score and ECE sums.
* :class:`ScoreCurveState` — exact ROC / precision-recall curves from counts per distinct score, or a
  constant-memory binned approximation (``n_bins=...``).

>>> state = ConfusionMatrixState(["ham", "spam"])
>>> state.update(["spam", "ham"], ["spam", "spam"])
>>> other = ConfusionMatrixState(["ham", "spam"])
>>> other.update(["ham"], ["ham"])
>>> state.merge(other).matrix.tolist(), state.accuracy()
([[1, 1], [0, 1]], 0.6666666666666666)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from attnlab.errors import InputError
from attnlab.metrics import _report
from attnlab.metrics._state import check_same, load_arrays
from attnlab.metrics.functional import calibration as cal
from attnlab.metrics.functional import classification as cls
from attnlab.metrics.functional._validation import (
    DEFAULT_ZERO_DIVISION,
    ZeroDivision,
    check_labels,
    finish,
)
from attnlab.metrics.functional.exact_sum import _exact_sum_compute, _exact_sum_update, _exact_sum_zeros
from attnlab.metrics.score_curve import ScoreCurveState

_ROW_BLOCK = 1 << 20  # rows per vectorised step of the float-heavy updates


# --------------------------------------------------------------------------- confusion matrix


class ConfusionMatrixState:
    """Counts of (true, predicted) label pairs in the order of ``labels`` (rows = true).

    Everything label-based reduces from it: precision/recall/F-beta per class and averaged, accuracy,
    balanced accuracy, MCC, Cohen's kappa, one-vs-rest binary counts.
    """

    _additive = ("matrix",)  # state merged (and all-reduced across processes) by summation

    def __init__(self, labels: Sequence[Any]):
        self.labels = check_labels(labels)
        self.matrix = np.zeros((len(self.labels), len(self.labels)), dtype=np.int64)

    @property
    def n(self) -> int:
        return int(self.matrix.sum())

    def update(self, y_true: Any, y_pred: Any) -> None:
        """Add a batch of raw labels (every value must be in ``labels``)."""
        t, p, _ = cls._encode_pair(y_true, y_pred, self.labels)
        self.update_indices(t, p)

    def update_indices(self, true_idx: np.ndarray, pred_idx: np.ndarray) -> None:
        """Add a batch of label indices (integers in ``[0, len(labels))``, already validated)."""
        for start in range(0, len(true_idx), _ROW_BLOCK):  # blocks: the flat index stays in cache
            self.matrix += cls._confusion_matrix_update(true_idx[start:start + _ROW_BLOCK],
                                                        pred_idx[start:start + _ROW_BLOCK], len(self.labels))

    def merge(self, other: ConfusionMatrixState) -> ConfusionMatrixState:
        check_same(self, other, labels=self.labels)
        self.matrix += other.matrix
        return self

    def reset(self) -> None:
        self.matrix[...] = 0

    def state_dict(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "matrix": self.matrix.copy()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ConfusionMatrixState:
        return load_arrays(cls(state["labels"]), state, cls._additive)

    def precision_recall_fscore_support(self, *, beta: float = 1.0, average: cls.Average = None,
                                        zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION) -> tuple[Any, ...]:
        """As :func:`attnlab.metrics.precision_recall_fscore_support`, from the counts."""
        if average is None:
            stats = cls._prf_compute(self.matrix, beta=beta, zero_division=zero_division)
            return stats.precision, stats.recall, stats.fscore, stats.support
        values = cls._averaged_prf(self.matrix, beta=beta, average=average, zero_division=zero_division)
        return (*(finish(v) for v in values), None)

    def accuracy(self) -> float | None:
        return finish(cls._accuracy_compute(self.matrix))

    def balanced_accuracy(self, *, adjusted: bool = False) -> float | None:
        return finish(cls._balanced_accuracy_compute(self.matrix, adjusted=adjusted))

    def matthews_corrcoef(self) -> float | None:
        return finish(cls._mcc_compute(self.matrix))

    def cohen_kappa(self) -> float | None:
        return finish(cls._cohen_kappa_compute(self.matrix))

    def binary_counts(self, positive_label: Any, *, zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION
                      ) -> cls.BinaryCounts:
        return cls._binary_counts_compute(self.matrix, cls.positive_index(self.labels, positive_label),
                                          zero_division=zero_division)

    def compute(self, *, zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION) -> dict[str, Any]:
        """The label-based ``metrics`` of the classification report (``None`` where undefined)."""
        col = _report.Collector(self.labels, zero_division)
        return {**_report.agreement_section(self.matrix, col), **_report.prf_section(self.matrix, col, zero_division)}


# --------------------------------------------------------------------------- probabilities


class ProbabilityState:
    """Sums behind log loss, the Brier score and top-label ECE (definitions in
    :mod:`attnlab.metrics.functional.calibration`) over ``n_classes`` probability columns.

    ``update(y_idx, proba)`` takes a checked ``(N, C)`` matrix; ``update_binary(is_positive, p)`` the
    positive-class probability of a 2-label task, exactly as if the matrix were built from ``1 - p`` and
    ``p``. Which column wins a 0.5/0.5 tie (ECE's predicted label, the first in label order) depends on
    ``positive_index``; it may be set after the updates, before ``compute``.
    """

    _additive = ("n", "log_loss_acc", "brier_acc", "bin_counts", "bin_confidence_acc", "bin_correct", "ties")

    def __init__(self, n_classes: int, *, n_bins: int = 15, eps: float | str = "auto",
                 positive_index: int | None = None):
        if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
            raise InputError(f"n_classes must be an integer >= 2; got {n_classes!r}; count every label")
        self.n_classes, self.n_bins, self.eps = int(n_classes), cal.check_n_bins(n_bins), cal.check_eps(eps)
        self.positive_index = positive_index
        self.reset()

    def reset(self) -> None:
        self.n = np.zeros(1, dtype=np.int64)
        self.log_loss_acc, self.brier_acc = _exact_sum_zeros(), _exact_sum_zeros()
        self.bin_counts = np.zeros(self.n_bins, dtype=np.int64)
        self.bin_confidence_acc = _exact_sum_zeros(self.n_bins)
        self.bin_correct = np.zeros(self.n_bins, dtype=np.int64)
        self.ties = np.zeros(2, dtype=np.int64)  # binary rows with p == 1 - p: [negatives, positives]

    def _bin(self, confidence: np.ndarray) -> np.ndarray:
        """ECE bin of each confidence in [0, 1]: exactly ``searchsorted(inner_edges, c, "left")`` (bins
        ``(lo, hi]`` as the functional ECE), computed as ``floor(c * n_bins)`` corrected by one comparison
        with each neighbouring edge (the guess is off by at most one) — a binary search is 5x slower."""
        n = self.n_bins
        edges = np.linspace(0.0, 1.0, n + 1)
        edges[0], edges[-1] = -np.inf, np.inf  # bin b is (edges[b], edges[b + 1]]
        guess = np.multiply(confidence, n).astype(np.intp)
        np.clip(guess, 0, n - 1, out=guess)
        guess -= confidence <= edges[guess]
        guess += confidence > edges[guess + 1]
        return guess

    def _add(self, p_true: np.ndarray, squared_error: np.ndarray, confidence: np.ndarray,
             correct: np.ndarray) -> None:
        terms = np.log(np.clip(p_true, self.eps, 1.0 - self.eps))
        np.negative(terms, out=terms)
        self.log_loss_acc += _exact_sum_update(terms)
        self.brier_acc += _exact_sum_update(squared_error)
        bins = self._bin(confidence)
        self.bin_counts += np.bincount(bins, minlength=self.n_bins)
        self.bin_confidence_acc += _exact_sum_update(confidence, bins, self.n_bins)
        self.bin_correct += np.bincount(bins[correct], minlength=self.n_bins)
        self.n += len(p_true)

    @staticmethod
    def _row_squared_error(columns: Sequence[np.ndarray]) -> np.ndarray:
        """``sum_c (p_c - [y = c])**2`` per row, added column by column in label order, so that every way
        of passing the same rows (matrix or positive-class vector, any batching) gives the same floats."""
        total = columns[0] * columns[0]
        for col in columns[1:]:
            total += col * col
        return total

    def update(self, y_idx: np.ndarray, proba: np.ndarray) -> None:
        """Add label indices and their checked ``(N, n_classes)`` float probability matrix."""
        for start in range(0, len(y_idx), _ROW_BLOCK):  # blocks: temporaries stay in cache
            self._update_block(y_idx[start:start + _ROW_BLOCK], proba[start:start + _ROW_BLOCK])

    def _update_block(self, y_idx: np.ndarray, proba: np.ndarray) -> None:
        proba = np.asarray(proba, dtype=np.float64)
        rows = np.arange(len(y_idx))
        one_hot = [y_idx == c for c in range(self.n_classes)]
        squared_error = self._row_squared_error([proba[:, c] - one_hot[c] for c in range(self.n_classes)])
        self._add(proba[rows, y_idx], squared_error, proba.max(axis=1), proba.argmax(axis=1) == y_idx)

    def update_binary(self, is_positive: np.ndarray, p_positive: np.ndarray) -> None:
        """Add a 2-label batch given as the probability of the positive label (checked, in [0, 1])."""
        if self.n_classes != 2:
            raise InputError(f"a 1-D probability per example needs 2 labels; this state has {self.n_classes}; "
                             "pass the (N, C) probability matrix")
        for start in range(0, len(is_positive), _ROW_BLOCK):
            self._update_binary_block(np.asarray(is_positive[start:start + _ROW_BLOCK], dtype=bool),
                                      np.asarray(p_positive[start:start + _ROW_BLOCK], dtype=np.float64))

    def _update_binary_block(self, pos: np.ndarray, p: np.ndarray) -> None:
        q = 1.0 - p  # the other column, exactly as a [1 - p, p] matrix would hold it
        tie = p == q
        self.ties += [np.count_nonzero(tie & ~pos), np.count_nonzero(tie & pos)]
        squared_error = self._row_squared_error([p - pos, q - ~pos])  # a sum of two: order is irrelevant
        self._add(np.where(pos, p, q), squared_error, np.maximum(p, q), ((p > q) == pos) & ~tie)

    def merge(self, other: ProbabilityState) -> ProbabilityState:
        check_same(self, other, n_classes=self.n_classes, n_bins=self.n_bins, eps=self.eps)
        for name in self._additive:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    def state_dict(self) -> dict[str, Any]:
        config = {"n_classes": self.n_classes, "n_bins": self.n_bins, "eps": self.eps,
                  "positive_index": self.positive_index}
        return {**config, **{name: getattr(self, name).copy() for name in self._additive}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ProbabilityState:
        obj = cls(state["n_classes"], n_bins=state["n_bins"], eps=state["eps"], positive_index=state["positive_index"])
        return load_arrays(obj, state, cls._additive)

    def compute(self) -> dict[str, float | None]:
        """``{"log_loss", "brier_score", "ece"}``; ``None`` before any update."""
        n = int(self.n[0])
        if n == 0:
            return {"log_loss": None, "brier_score": None, "ece": None}
        correct = self.bin_correct.copy()
        if self.ties.any():
            if self.positive_index is None:
                raise InputError("binary probabilities of exactly 0.5 need positive_index to break the tie; "
                                 "set it (the position of the positive label) before compute()")
            correct[self._bin(np.array([0.5]))[0]] += self.ties[1] if self.positive_index == 0 else self.ties[0]
        conf_sums = np.array(_exact_sum_compute(self.bin_confidence_acc))
        return {
            "log_loss": cal._log_loss_compute(_exact_sum_compute(self.log_loss_acc)[0], n),
            "brier_score": cal._brier_score_compute(_exact_sum_compute(self.brier_acc)[0], n, self.n_classes),
            "ece": cal._expected_calibration_error_compute(self.bin_counts, conf_sums, correct),
        }


__all__ = ["ConfusionMatrixState", "ProbabilityState", "ScoreCurveState"]
