"""``ScoreCurveState``: exact (or binned) ROC and precision-recall curves, accumulated and merged.

The state is the sufficient statistic of :mod:`attnlab.metrics.functional.score_counts` — positive and
negative counts per distinct score — so batches, shards and processes merge exactly, and memory grows
with the number of distinct scores, not rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from attnlab.errors import InputError
from attnlab.metrics._state import check_same, load_arrays
from attnlab.metrics.functional import calibration as cal
from attnlab.metrics.functional import ranking as rk
from attnlab.metrics.functional import score_counts as sc
from attnlab.metrics.functional._validation import MetricValue, finish


class ScoreCurveState:
    """Counts of positives and negatives per distinct score: exact ROC and precision-recall curves,
    ROC-AUC and average precision, mergeable, memory ∝ the number of distinct scores.

    ``n_bins=K`` switches to constant memory: counts per bin of ``K`` thresholds evenly spaced over
    ``score_range`` (inclusive). The curve is then exact at those thresholds only, and ROC-AUC / average
    precision are **approximations** (a coarse grid underestimates ROC-AUC). Batches are merged lazily
    in a stack of sorted runs, so many small updates cost ``O(U log k)``, not ``O(U k)``.

    >>> state = ScoreCurveState()
    >>> state.update([False, True], [0.1, 0.8]); state.update([True, False], [0.4, 0.4])
    >>> state.roc_auc(), state.n_distinct
    (0.875, 3)
    """

    def __init__(self, *, n_bins: int | None = None, score_range: tuple[float, float] = (0.0, 1.0)):
        if n_bins is not None and (cal.check_n_bins(n_bins) < 2):
            raise InputError(f"n_bins (thresholds of the binned curve) must be >= 2; got {n_bins!r}; try 1000")
        self.n_bins = None if n_bins is None else int(n_bins)
        lo, hi = (float(v) for v in score_range)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise InputError(f"score_range must be two finite numbers low < high; got {score_range!r}")
        self.score_range = (lo, hi)
        self.thresholds = None if self.n_bins is None else np.linspace(lo, hi, self.n_bins)
        self.reset()

    @property
    def _additive(self) -> tuple[str, ...]:
        return () if self.n_bins is None else ("pos", "neg")

    def reset(self) -> None:
        self._cached_curve = None
        if self.n_bins is None:
            self._stack: list[sc.ScoreCounts] = []
        else:
            self.pos = np.zeros(self.thresholds.size + 1, dtype=np.int64)
            self.neg = np.zeros(self.thresholds.size + 1, dtype=np.int64)

    def _push(self, counts: sc.ScoreCounts) -> None:
        self._cached_curve = None
        self._stack.append(counts)
        while len(self._stack) > 1 and self._stack[-2][0].size <= 2 * self._stack[-1][0].size:
            top = self._stack.pop()
            self._stack[-1] = sc._merge_score_counts(self._stack[-1], top)

    def counts(self) -> sc.ScoreCounts:
        """``(values increasing, pos, neg)``: the distinct scores (grid thresholds when binned, ``-inf``
        standing for "below the grid") and the number of positives and negatives at each."""
        if self.n_bins is not None:
            return sc._binned_to_score_counts(self.pos, self.neg, self.thresholds)
        while len(self._stack) > 1:
            top = self._stack.pop()
            self._stack[-1] = sc._merge_score_counts(self._stack[-1], top)
        return self._stack[0] if self._stack else sc._empty_score_counts()

    @property
    def n_distinct(self) -> int:
        return int(self.counts()[0].size)

    def update(self, is_positive: Any, scores: Any) -> None:
        """Add a batch: ``is_positive`` (bools) and one finite score per example (higher = more positive)."""
        pos = np.asarray(is_positive)
        if pos.dtype != bool:
            if not np.isin(pos, (0, 1)).all():
                raise InputError("is_positive must hold booleans (or 0/1); encode the labels as label == positive")
            pos = pos.astype(bool)
        if pos.ndim != 1:
            raise InputError(f"is_positive must be 1-D (one flag per example); got shape {pos.shape}")
        s = np.asarray(scores)
        if s.dtype != np.float32:
            s = np.asarray(scores, dtype=np.float64)
        if s.shape != pos.shape:
            raise InputError(f"scores must have shape {pos.shape} (one per example); got {s.shape}")
        if not np.isfinite(s).all():
            raise InputError(f"scores must be finite; row {int(np.argmin(np.isfinite(s)))} is not; drop or repair it")
        if pos.size:
            self._update_trusted(pos, s)

    def _update_trusted(self, is_positive: np.ndarray, scores: np.ndarray) -> None:
        if self.n_bins is None:
            self._push(sc._score_counts_update(is_positive, scores))
        else:
            pos, neg = sc._binned_score_counts_update(is_positive, scores, self.thresholds)
            self.pos += pos
            self.neg += neg
            self._cached_curve = None

    def merge(self, other: ScoreCurveState) -> ScoreCurveState:
        check_same(self, other, n_bins=self.n_bins, score_range=self.score_range)
        if self.n_bins is None:
            if other._stack:
                self._push(other.counts())
        else:
            self.pos, self.neg = self.pos + other.pos, self.neg + other.neg
            self._cached_curve = None
        return self

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"n_bins": self.n_bins, "score_range": list(self.score_range)}
        if self.n_bins is None:
            values, pos, neg = self.counts()
            return {**state, "values": values.copy(), "pos": pos.copy(), "neg": neg.copy()}
        return {**state, "pos": self.pos.copy(), "neg": self.neg.copy()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ScoreCurveState:
        obj = cls(n_bins=state["n_bins"], score_range=tuple(state["score_range"]))
        if obj.n_bins is not None:
            return load_arrays(obj, state, ("pos", "neg"))
        values = np.asarray(state["values"])
        pos, neg = np.asarray(state["pos"], dtype=np.int64), np.asarray(state["neg"], dtype=np.int64)
        if not (values.shape == pos.shape == neg.shape and values.ndim == 1) or np.any(np.diff(values) <= 0):
            raise InputError("a score-curve state needs values (strictly increasing), pos and neg of one length; "
                             "pass a state_dict written by ScoreCurveState")
        if values.size:
            obj._stack.append((values.astype(sc._score_dtype(values), copy=False), pos, neg))
        return obj

    # ------------------------------------------------------------------ reductions

    def _curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._cached_curve is None:  # AUC, AP and both curves share one pass of cumulative sums
            self._cached_curve = sc._clf_curve_from_counts(*self.counts())
        return self._cached_curve

    def _roc_auc(self) -> MetricValue:
        fps, tps, _ = self._curve()
        if fps.size == 0:
            return MetricValue(None, "ROC-AUC undefined: no examples")
        return rk._roc_auc_compute(fps, tps)

    def _average_precision(self) -> MetricValue:
        fps, tps, _ = self._curve()
        if fps.size == 0:
            return MetricValue(None, "average precision undefined: no examples")
        return rk._average_precision_compute(fps, tps)

    def roc_auc(self) -> float | None:
        """Area under the ROC curve; ``None`` (with a warning) when one class is missing."""
        return finish(self._roc_auc())

    def average_precision(self) -> float | None:
        """Step-wise average precision; ``None`` (with a warning) without positives."""
        return finish(self._average_precision())

    def roc_curve(self, *, drop_intermediate: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(fpr, tpr, thresholds)`` as :func:`attnlab.metrics.binary_roc_curve`."""
        fps, tps, thr = self._curve()
        if fps.size == 0 or tps[-1] == 0 or fps[-1] == 0:
            finish(self._roc_auc())
        return rk._roc_curve_compute(fps, tps, thr, drop_intermediate=drop_intermediate)

    def precision_recall_curve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(precision, recall, thresholds)`` as :func:`attnlab.metrics.binary_precision_recall_curve`."""
        fps, tps, thr = self._curve()
        if fps.size == 0 or tps[-1] == 0:
            finish(MetricValue(None, "recall undefined at every threshold: no positive example"))
        return rk._precision_recall_curve_compute(fps, tps, thr)

    def compute(self) -> dict[str, float | None]:
        """``{"roc_auc", "average_precision"}`` (``None`` where undefined, with a warning)."""
        return {"roc_auc": self.roc_auc(), "average_precision": self.average_precision()}
