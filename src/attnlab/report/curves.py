"""Compact curve points for report.json: ROC, precision-recall, threshold sweep and reliability bins.

The curves come from the exact functions of :mod:`attnlab.metrics` (``binary_roc_curve``,
``binary_precision_recall_curve``) and are then *downsampled for display* to at most ``max_points``
points each (evenly by index, both ends kept), so a bare report.json can be re-rendered with its plots
and stays small. The headline numbers (ROC-AUC, average precision) are never computed from these points.

NumPy only: importing this module never imports torch or matplotlib.

>>> c = classification_curves(["a", "b", "b", "a"], [[.9, .1], [.2, .8], [.6, .4], [.7, .3]],
...                           labels=["a", "b"], positive_label="b")
>>> c["roc"]["fpr"], c["roc"]["tpr"]
([0.0, 0.0, 0.0, 1.0], [0.0, 0.5, 1.0, 1.0])
>>> c["calibration"]["kind"]
'positive_class'
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from attnlab.metrics import binary_precision_recall_curve, binary_roc_curve

MAX_POINTS = 200
N_CALIBRATION_BINS = 10


def _pick(n: int, max_points: int) -> np.ndarray:
    """At most ``max_points`` indices of ``range(n)``, evenly spread, first and last always kept."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(np.int64))


def _floats(values: np.ndarray, digits: int = 6) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), digits) for v in values]


def _calibration(y_idx: np.ndarray, proba: np.ndarray, pos: int | None, n_bins: int) -> dict[str, Any]:
    """Reliability bins: binary -> positive-class probability vs observed positive share; multiclass ->
    top-label confidence vs accuracy. Bins are equal-width (lo, hi]; empty bins have null means."""
    if pos is not None:
        conf, hit, kind = proba[:, pos], (y_idx == pos), "positive_class"
    else:
        conf, hit, kind = proba.max(axis=1), proba.argmax(axis=1) == y_idx, "top_label"
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.searchsorted(edges[1:-1], conf, side="left")
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.bincount(idx, weights=conf, minlength=n_bins) / count
        observed = np.bincount(idx, weights=hit.astype(np.float64), minlength=n_bins) / count
    return {"kind": kind, "edges": _floats(edges), "count": count.astype(int).tolist(),
            "mean_predicted": _floats(mean_pred), "observed": _floats(observed)}


def classification_curves(y_true: Sequence[Any], proba: Any, *, labels: Sequence[Any], positive_label: Any | None,
                          max_points: int = MAX_POINTS, n_bins: int = N_CALIBRATION_BINS) -> dict[str, Any] | None:
    """The report's ``curves`` entry, or ``None`` without probabilities.

    ROC, PR and threshold curves need a positive class (binary) and both classes present in ``y_true``;
    otherwise they are ``None``. The reliability diagram needs probabilities only.
    """
    if proba is None:
        return None
    proba = np.asarray(proba, dtype=np.float64)
    labels = list(labels)
    index = {lab: i for i, lab in enumerate(labels)}
    y_idx = np.array([index[y] for y in y_true], dtype=np.int64)
    pos = index[positive_label] if positive_label is not None and len(labels) == 2 else None
    out: dict[str, Any] = {"positive_label": positive_label if pos is not None else None, "max_points": max_points,
                           "roc": None, "pr": None, "thresholds": None,
                           "calibration": _calibration(y_idx, proba, pos, n_bins)}
    if pos is None or len(set(y_idx.tolist())) < 2:
        return out
    score = proba[:, pos]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fpr, tpr, _ = binary_roc_curve(list(y_true), score, labels=labels, positive_label=positive_label)
        precision, recall, thr = binary_precision_recall_curve(list(y_true), score, labels=labels,
                                                               positive_label=positive_label)
    keep = _pick(fpr.size, max_points)
    out["roc"] = {"fpr": _floats(fpr[keep]), "tpr": _floats(tpr[keep])}
    keep = _pick(precision.size, max_points)
    out["pr"] = {"precision": _floats(precision[keep]), "recall": _floats(recall[keep])}
    p, r = precision[:-1], recall[:-1]  # the last PR point (1, 0) has no threshold
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    keep = _pick(thr.size, max_points)
    out["thresholds"] = {"threshold": _floats(thr[keep]), "precision": _floats(p[keep]),
                         "recall": _floats(r[keep]), "f1": _floats(f1[keep])}
    return out
