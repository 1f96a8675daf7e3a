"""Choose an operating point (decision threshold) for binary scores, exactly and with its provenance.

The prediction rule is ``score >= threshold`` → positive (:func:`apply_threshold`). The candidates are
the distinct scores: the sufficient statistic is ranking's ``_binary_clf_curve_update`` (scores sorted
once, true/false positive counts at each distinct score), so every objective is evaluated exactly at
every threshold that changes a prediction, never on a grid. Objectives of :func:`choose_threshold`:

* ``"f_beta"``: maximal F-beta (``beta`` given; ``beta=1`` is F1).
* ``"target_recall"``: the highest precision among thresholds with recall >= ``target`` (always
  achievable: the lowest threshold has recall 1).
* ``"target_precision"``: the highest recall among thresholds with precision >= ``target``. When no
  threshold reaches the target, the result says so (``achievable=False``, a ``note``, a
  :class:`ThresholdWarning`) and holds the best available point: the highest precision (then recall).
* ``"min_cost"``: minimal expected cost per example ``(cost_fp * FP + cost_fn * FN) / N``; here the
  threshold just above the highest score (nothing predicted positive) is a candidate too.

Ties are broken towards the higher threshold (fewer positive predictions). The split the threshold was
tuned on is a required argument (``tuned_on``) and travels with the result: a threshold tuned on the test
split makes the test metrics optimistic (STYLE anti-patterns), so ``tuned_on="test"`` warns.

>>> op = choose_threshold([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.9], labels=[0, 1], positive_label=1,
...                       objective="target_recall", target=1.0, tuned_on="validation")
>>> op.value, op.precision, op.recall, op.achievable
(0.35, 0.75, 1.0, True)
>>> apply_threshold([0.1, 0.35, 0.9], op.value).tolist()
[False, True, True]
>>> op.report_entry()
{'value': 0.35, 'objective': 'target_recall', 'tuned_on': 'validation'}
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from attnlab.errors import InputError
from attnlab.metrics.functional import ranking as rk
from attnlab.metrics.functional._validation import check_scores

OBJECTIVES = ("f_beta", "target_recall", "target_precision", "min_cost")

__all__ = ["OBJECTIVES", "OperatingPoint", "ThresholdWarning", "apply_threshold", "choose_threshold"]


class ThresholdWarning(UserWarning):
    """A chosen threshold does not meet its target, or was tuned on the test split."""


@dataclass(frozen=True)
class OperatingPoint:
    """A decision threshold and what it gives on the split it was tuned on (rule: ``score >= value``).

    ``precision`` is ``None`` when nothing is predicted positive (0/0). ``objective_value`` is the
    optimised quantity at the point (F-beta, precision, recall or expected cost per example);
    ``achievable`` is ``False`` when no threshold met the target, and ``note`` then says why.
    """

    value: float
    objective: str
    params: dict[str, float]
    tuned_on: str
    precision: float | None
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    tn: int
    achievable: bool
    objective_value: float | None
    note: str | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-ready dict."""
        return asdict(self)

    def report_entry(self) -> dict[str, Any]:
        """The report.json ``threshold`` entry: ``{value, objective, tuned_on}``."""
        return {"value": self.value, "objective": self.objective, "tuned_on": self.tuned_on}


def _number(name: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or not lo <= value <= hi:
        raise InputError(f"{name} must be a number in [{lo:g}, {hi:g}]; got {value!r}; pass e.g. {name}=0.9"
                         if hi <= 1 else f"{name} must be a finite number >= {lo:g}; got {value!r}")
    return float(value)


def _params(objective: Any, beta: Any, target: Any, cost_fp: Any, cost_fn: Any) -> dict[str, float]:
    if objective not in OBJECTIVES:
        raise InputError(f"objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}; pick one of those")
    if objective == "f_beta":
        if beta is None or _number("beta", beta, 0.0, math.inf) == 0:
            raise InputError(f"beta must be a finite number > 0; got {beta!r}; use beta=1 for F1")
        return {"beta": float(beta)}
    if objective in ("target_recall", "target_precision"):
        if target is None:
            raise InputError(f"objective={objective!r} needs target=VALUE in [0, 1]; pass e.g. target=0.9")
        return {objective: _number("target", target, 0.0, 1.0)}
    costs = {"cost_fp": _number("cost_fp", cost_fp, 0.0, math.inf), "cost_fn": _number("cost_fn", cost_fn, 0.0, math.inf)}
    if costs["cost_fp"] == 0 and costs["cost_fn"] == 0:
        raise InputError("cost_fp and cost_fn are both 0, so every threshold costs nothing; give the errors costs")
    return costs


def _pick(primary: np.ndarray, secondary: np.ndarray | None = None, mask: np.ndarray | None = None) -> int:
    """Index maximising ``primary`` (then ``secondary``) within ``mask``; ties → the smallest index, which
    is the highest threshold (candidates are in decreasing threshold order)."""
    ok = np.ones(len(primary), dtype=bool) if mask is None else mask
    best = ok & (primary == np.max(primary[ok]))
    if secondary is not None:
        best &= secondary == np.max(secondary[best])
    return int(np.flatnonzero(best)[0])


def choose_threshold(
    y_true: Any, y_score: Any, *, labels: Sequence[Any], positive_label: Any, objective: str, tuned_on: str,
    beta: float = 1.0, target: float | None = None, cost_fp: float = 1.0, cost_fn: float = 1.0,
) -> OperatingPoint:
    """The threshold on ``y_score`` (one finite score per example for ``positive_label``) that optimises
    ``objective`` on this data; see the module docstring for the objectives, ties and the rule.

    ``tuned_on`` names the split these examples come from (e.g. ``"validation"``); ``beta`` is used by
    ``"f_beta"``, ``target`` by ``"target_recall"``/``"target_precision"``, ``cost_fp``/``cost_fn`` by
    ``"min_cost"``. ``y_true`` must hold at least one positive example.
    """
    if not isinstance(tuned_on, str) or not tuned_on.strip():
        raise InputError(f"tuned_on must name the split the threshold is tuned on; got {tuned_on!r}; "
                         "pass e.g. tuned_on='validation'")
    params = _params(objective, beta, target, cost_fp, cost_fn)
    pos, s = rk._binary_inputs(y_true, y_score, labels, positive_label)
    fps, tps, thresholds = rk._binary_clf_curve_update(pos, s)  # decreasing thresholds
    n_pos, n_neg = int(tps[-1]), int(fps[-1])
    if n_pos == 0:
        raise InputError(f"y_true has no example of the positive label {positive_label!r} on {tuned_on!r}; "
                         "tune the threshold on a split that contains positives")
    if tuned_on.strip().lower() == "test":
        warnings.warn("threshold tuned on the test split: test metrics at this threshold are optimistic; "
                      "tune it on a validation split", ThresholdWarning, stacklevel=2)
    if objective == "min_cost":  # candidate 0: nothing positive, threshold just above the top score
        thresholds = np.r_[np.nextafter(thresholds[0], np.inf), thresholds]
        fps, tps = np.r_[0, fps], np.r_[0, tps]
    precision = np.divide(tps, tps + fps, out=np.full(len(tps), np.nan), where=(tps + fps) > 0)
    recall = tps / n_pos
    i, achievable, value, note = _select(objective, params, tps, fps, n_pos, precision, recall)
    if not achievable:
        note = (f"no threshold reaches {objective.removeprefix('target_')} >= {params[objective]:g} on "
                f"{tuned_on!r}; returning the best available point ({note})")
        warnings.warn(note, ThresholdWarning, stacklevel=2)
    tp, fp = int(tps[i]), int(fps[i])
    return OperatingPoint(
        value=float(thresholds[i]), objective=objective, params=params, tuned_on=tuned_on,
        precision=None if math.isnan(precision[i]) else float(precision[i]), recall=float(recall[i]),
        f1=2 * tp / (2 * tp + (n_pos - tp) + fp), tp=tp, fp=fp, fn=n_pos - tp, tn=n_neg - fp,
        achievable=achievable, objective_value=value, note=note if not achievable else None)


def _select(objective: str, params: dict[str, float], tps: np.ndarray, fps: np.ndarray, n_pos: int,
            precision: np.ndarray, recall: np.ndarray) -> tuple[int, bool, float, str | None]:
    """(candidate index, achievable, objective value, what the fallback is) for one objective."""
    if objective == "f_beta":
        b2 = params["beta"] ** 2
        f = (1 + b2) * tps / ((1 + b2) * tps + b2 * (n_pos - tps) + fps)
        i = _pick(f)
        return i, True, float(f[i]), None
    if objective == "min_cost":
        cost = (params["cost_fp"] * fps + params["cost_fn"] * (n_pos - tps)) / (n_pos + fps[-1])  # per example
        i = _pick(-cost)
        return i, True, float(cost[i]), None
    if objective == "target_recall":
        i = _pick(precision, mask=recall >= params["target_recall"])  # the lowest threshold has recall 1
        return i, True, float(precision[i]), None
    feasible = precision >= params["target_precision"]
    if feasible.any():
        i = _pick(recall, mask=feasible)
        return i, True, float(recall[i]), None
    i = _pick(precision, recall)
    return i, False, float(recall[i]), f"highest precision {precision[i]:.4g}, then recall"


def apply_threshold(scores: Any, threshold: float) -> np.ndarray:
    """Boolean predictions ``score >= threshold`` (``True`` = positive) for a 1-D array of finite scores.

    Map to labels with e.g. ``np.where(apply_threshold(s, t), "spam", "ham")``.

    >>> apply_threshold([0.2, 0.5, 0.7], 0.5).tolist()
    [False, True, True]
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)) \
            or not math.isfinite(threshold):
        raise InputError(f"threshold must be a finite number; got {threshold!r}; pass the chosen threshold's value")
    try:
        n = len(scores)
    except TypeError:
        raise InputError(f"scores must be a 1-D sequence of numbers; got {type(scores).__name__}; "
                         "pass one score per example") from None
    return check_scores(scores, n, name="scores") >= threshold
