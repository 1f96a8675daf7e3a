"""``ClassificationEvaluator``: the whole classification report, accumulated batch by batch.

It bundles the states of :mod:`attnlab.metrics.stateful` — a confusion matrix, and with ``proba=True``
the probability sums and one exact score curve per scored column — and its ``compute()`` returns exactly
the dict of :func:`attnlab.metrics.classification_report` (which is this class, updated once). Batches,
merges (also across processes: :func:`attnlab.metrics.distributed.sync_states`) and chunkings all give
the same report, bit for bit.

>>> ev = ClassificationEvaluator(["ham", "spam"], positive_label="spam", proba=True)
>>> ev.update(["spam", "ham"], ["spam", "spam"], proba=[0.9, 0.6])
>>> ev.update(["ham"], ["ham"], proba=[0.2])
>>> rep = ev.compute()
>>> rep["n"], rep["metrics"]["roc_auc"], rep["binary"]["fp"]
(3, 1.0, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from attnlab.errors import InputError
from attnlab.metrics import _report
from attnlab.metrics.functional import calibration as cal
from attnlab.metrics.functional import classification as cls
from attnlab.metrics.functional._validation import (
    DEFAULT_ZERO_DIVISION,
    ZeroDivision,
    _check_finite,
    check_labels,
    check_lengths,
    check_proba,
    check_zero_division,
    encode,
)
from attnlab.metrics.stateful import ConfusionMatrixState, ProbabilityState, ScoreCurveState

DEFAULT_N_BINS = 15


def check_positive_proba(proba: Any, n: int, *, name: str = "proba") -> np.ndarray:
    """A 1-D positive-class probability per example: finite, in [0, 1]; float32 input stays float32."""
    try:
        p = np.asarray(proba)
        p = p if p.dtype in (np.float32, np.float64) else p.astype(np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be numbers; got {type(proba).__name__} that does not convert; pass one "
                         "probability of the positive label per example") from None
    if p.shape != (n,):
        raise InputError(f"{name} must have shape ({n},) (the positive label's probability per example) or "
                         f"({n}, n_labels); got {p.shape}")
    _check_finite(p, name)
    if p.size and (p.min() < 0 or p.max() > 1):
        raise InputError(f"{name} must hold probabilities in [0, 1]; got values from {p.min():.6g} to {p.max():.6g}; "
                         "apply a sigmoid to logits first")
    return p


class ClassificationEvaluator:
    """Accumulate a classification report over batches (arguments as :func:`classification_report`).

    Args:
        labels: every class, in report order (at least 2).
        positive_label: the positive class for the ``binary`` section (and, with 2 labels, for ROC-AUC and
            average precision of its column).
        zero_division: policy for 0/0 ratios (``"nan"``: ``None`` and left out of averages).
        proba: whether every ``update`` brings probabilities (enables log loss, ROC-AUC, AP, Brier, ECE).
        n_bins: ECE bins; eps: log-loss clip (``"auto"`` = float64 epsilon).
        curve_bins: ``None`` for exact curves (memory ∝ distinct scores), or a number of thresholds for
            constant-memory, approximate ROC-AUC / average precision (recorded in their signatures).
    """

    def __init__(self, labels: Sequence[Any], *, positive_label: Any = None,
                 zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION, proba: bool = False,
                 n_bins: int = DEFAULT_N_BINS, eps: float | str = "auto", curve_bins: int | None = None):
        self.labels = check_labels(labels, min_labels=2)
        self.positive_label = positive_label
        self.positive_index = None if positive_label is None else cls.positive_index(self.labels, positive_label)
        check_zero_division(zero_division)
        self.zero_division, self.proba, self.curve_bins = zero_division, bool(proba), curve_bins
        self.n_bins, self.eps = cal.check_n_bins(n_bins), cal.check_eps(eps)
        self.confusion = ConfusionMatrixState(self.labels)
        self.probability: ProbabilityState | None = None
        self.curves: list[ScoreCurveState] | None = None
        if self.proba:
            self.probability = ProbabilityState(len(self.labels), n_bins=self.n_bins, eps=self.eps,
                                                positive_index=self.positive_index)
            self.curves = [ScoreCurveState(n_bins=curve_bins) for _ in range(self._n_curves())]

    def _n_curves(self) -> int:
        return 1 if len(self.labels) == 2 and self.positive_index is not None else len(self.labels)

    def config(self) -> dict[str, Any]:
        return {"labels": list(self.labels), "positive_label": self.positive_label,
                "zero_division": self.zero_division, "proba": self.proba, "n_bins": self.n_bins,
                "eps": self.eps, "curve_bins": self.curve_bins}

    def states(self) -> list[Any]:
        """Every state object, in a fixed order (what :func:`sync_states` reduces)."""
        return [self.confusion, *([self.probability] if self.proba else []), *(self.curves or [])]

    def update(self, y_true: Any, y_pred: Any, proba: Any = None) -> None:
        """Add a batch: true and predicted labels, and with ``proba=True`` an ``(N, len(labels))``
        probability matrix (columns in label order) or, for 2 labels and a ``positive_label``, the
        positive label's probability ``(N,)``."""
        t, p = encode(y_true, self.labels, name="y_true"), encode(y_pred, self.labels, name="y_pred")
        check_lengths(len(t), y_true=t, y_pred=p)
        if not self.proba:
            if proba is not None:
                raise InputError("this evaluator was built with proba=False; build it with proba=True to add "
                                 "probabilities")
        elif proba is None:
            raise InputError("this evaluator was built with proba=True; pass proba=... with every update")
        elif np.ndim(proba) == 1 and self._n_curves() == 1:
            self._update_binary(t, check_positive_proba(proba, len(t)))
        else:
            self._update_matrix(t, check_proba(proba, len(t), len(self.labels)))
        self.confusion.update_indices(t, p)

    def _update_binary(self, t: np.ndarray, p_pos: np.ndarray) -> None:
        is_pos = t == self.positive_index
        self.probability.update_binary(is_pos, p_pos)
        self.curves[0]._update_trusted(is_pos, p_pos)

    def _update_matrix(self, t: np.ndarray, proba: np.ndarray) -> None:
        self.probability.update(t, proba)
        if len(self.curves) == 1:
            self.curves[0]._update_trusted(t == self.positive_index, proba[:, self.positive_index])
        else:
            for c, curve in enumerate(self.curves):  # a loop over labels, not examples
                curve._update_trusted(t == c, proba[:, c])

    def merge(self, other: ClassificationEvaluator) -> ClassificationEvaluator:
        """Add another evaluator's counts (same configuration); returns ``self``."""
        if not isinstance(other, ClassificationEvaluator) or other.config() != self.config():
            raise InputError("can only merge ClassificationEvaluators built with the same labels and options")
        for mine, theirs in zip(self.states(), other.states()):
            mine.merge(theirs)
        return self

    def reset(self) -> None:
        for state in self.states():
            state.reset()

    def state_dict(self) -> dict[str, Any]:
        return {"config": self.config(), "confusion": self.confusion.state_dict(),
                "probability": None if self.probability is None else self.probability.state_dict(),
                "curves": None if self.curves is None else [c.state_dict() for c in self.curves]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ClassificationEvaluator:
        ev = cls(**state["config"])
        ev.confusion = ConfusionMatrixState.from_state(state["confusion"])
        if ev.proba:
            ev.probability = ProbabilityState.from_state(state["probability"])
            ev.curves = [ScoreCurveState.from_state(c) for c in state["curves"]]
        return ev

    def curve(self, label: Any = None) -> ScoreCurveState:
        """The score-curve state of ``label`` (default: the positive label) — for ROC / PR curves."""
        if self.curves is None:
            raise InputError("no score curves: this evaluator was built with proba=False")
        label = self.positive_label if label is None else label
        if label is None:
            raise InputError("name the label whose one-vs-rest curve you want: curve(label)")
        index = cls.positive_index(self.labels, label)
        if len(self.curves) > 1:
            return self.curves[index]
        if index != self.positive_index:
            raise InputError(f"only the positive label's curve is kept (2 labels, positive {self.positive_label!r}); "
                             "its mirror image is the curve of the other label")
        return self.curves[0]

    def compute(self) -> dict[str, Any]:
        """The classification report of everything added so far (see :mod:`attnlab.metrics.summary`)."""
        if self.confusion.n == 0:
            raise InputError("metrics need at least one example; got 0; update the evaluator first")
        return _report.build_report(self.confusion, self.probability, self.curves,
                                    positive_index=self.positive_index, zero_division=self.zero_division)
