"""Compact curve points for report.json: ROC, precision-recall, threshold sweep and reliability bins.

The curves come from the exact functions of :mod:`attnlab.metrics` (``binary_roc_curve``,
``binary_precision_recall_curve``) and are then *downsampled for display* to at most ``max_points``
points each (evenly by index, both ends kept), so a bare report.json can be re-rendered with its plots
and stays small. The headline numbers (ROC-AUC, average precision) are never computed from these points.

Multiclass (no positive class) gets one-vs-rest curves per class instead, under ``ovr``: each class
present in ``y_true`` against all the others, with its exact AUC and AP from
``multiclass_roc_auc_score`` / ``multiclass_average_precision_score`` (``average=None``); at most
``max_classes`` classes (the most frequent) are kept, ``ovr_truncated`` says when some were left out.

NumPy only: importing this module never imports torch or matplotlib.

>>> c = classification_curves(["a", "b", "b", "a"], [[.9, .1], [.2, .8], [.6, .4], [.7, .3]],
...                           labels=["a", "b"], positive_label="b")
>>> c["roc"]["fpr"], c["roc"]["tpr"]
([0.0, 0.0, 0.0, 1.0], [0.0, 0.5, 1.0, 1.0])
>>> c["calibration"]["kind"]
'positive_class'
>>> m = classification_curves(["a", "b", "c", "a"], [[.8, .1, .1, 0], [.3, .6, .1, 0], [.2, .2, .6, 0],
...                           [.4, .5, .1, 0]], labels=["a", "b", "c", "d"], positive_label=None)
>>> m["ovr"]["a"]["auc"], m["ovr"]["b"]["ap"], m["ovr"]["d"], m["ovr_truncated"]
(1.0, 1.0, None, False)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from attnlab.errors import InputError
from attnlab.metrics import (
    binary_precision_recall_curve,
    binary_roc_curve,
    multiclass_average_precision_score,
    multiclass_roc_auc_score,
)

MAX_POINTS = 200
N_CALIBRATION_BINS = 10
MAX_OVR_CLASSES = 20


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


def _optional(value: Any) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _one_vs_rest(y_true: list[Any], y_idx: np.ndarray, proba: np.ndarray, labels: list[Any], max_points: int,
                 max_classes: int) -> tuple[dict[str, Any] | None, bool]:
    """``({LABEL: {roc, pr, auc, ap} | None}, truncated)``: per class present in ``y_true`` (absent -> null),
    the exact binary curves of that class against the rest, downsampled; AUC/AP from the multiclass
    functions (``average=None``). Only the ``max_classes`` most frequent present classes are kept (ties in
    label order); the others are left out and ``truncated`` is true. ``(None, False)`` when the metric
    functions refuse the probabilities."""
    n = y_idx.size
    counts = np.bincount(y_idx, minlength=len(labels))
    present = [c for c in range(len(labels)) if counts[c]]
    kept = set(sorted(present, key=lambda c: -counts[c])[:max_classes])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            aucs = multiclass_roc_auc_score(y_true, proba, labels=labels, average=None)
            aps = multiclass_average_precision_score(y_true, proba, labels=labels, average=None)
        except InputError:
            return None, False
        ovr: dict[str, Any] = {}
        for c, lab in enumerate(labels):
            if not counts[c]:
                ovr[str(lab)] = None
                continue
            if c not in kept:
                continue
            roc, pr = _roc_pr(y_true, proba[:, c], labels, lab, max_points)[:2]
            ovr[str(lab)] = {"roc": roc if counts[c] < n else None,  # no negative: FPR undefined
                             "pr": pr, "auc": _optional(aucs[c]), "ap": _optional(aps[c])}
    return ovr, len(kept) < len(present)


def _roc_pr(y_true: list[Any], score: np.ndarray, labels: list[Any], positive_label: Any, max_points: int
            ) -> tuple[dict[str, list], dict[str, list], np.ndarray, np.ndarray, np.ndarray]:
    """Downsampled ``{fpr, tpr}`` and ``{precision, recall}`` of ``positive_label`` against the rest, and the
    exact precision, recall and thresholds (for the threshold sweep)."""
    fpr, tpr, _ = binary_roc_curve(y_true, score, labels=labels, positive_label=positive_label)
    precision, recall, thr = binary_precision_recall_curve(y_true, score, labels=labels,
                                                           positive_label=positive_label)
    keep = _pick(fpr.size, max_points)
    roc = {"fpr": _floats(fpr[keep]), "tpr": _floats(tpr[keep])}
    keep = _pick(precision.size, max_points)
    pr = {"precision": _floats(precision[keep]), "recall": _floats(recall[keep])}
    return roc, pr, precision, recall, thr


def classification_curves(y_true: Sequence[Any], proba: Any, *, labels: Sequence[Any], positive_label: Any | None,
                          max_points: int = MAX_POINTS, n_bins: int = N_CALIBRATION_BINS,
                          max_classes: int = MAX_OVR_CLASSES) -> dict[str, Any] | None:
    """The report's ``curves`` entry, or ``None`` without probabilities.

    ROC, PR and threshold curves need a positive class (binary) and both classes present in ``y_true``;
    otherwise they are ``None``. Without a positive class (multiclass, or two labels and none named
    positive), ``ovr`` holds one-vs-rest ROC/PR curves with AUC/AP per class and ``ovr_truncated`` whether
    classes beyond the ``max_classes`` most frequent were left out. The reliability diagram needs
    probabilities only.
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
    if pos is None and len(labels) >= 2:
        out["ovr"], out["ovr_truncated"] = _one_vs_rest(list(y_true), y_idx, proba, labels, max_points, max_classes)
    if pos is None or len(set(y_idx.tolist())) < 2:
        return out
    score = proba[:, pos]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["roc"], out["pr"], precision, recall, thr = _roc_pr(list(y_true), score, labels, positive_label,
                                                                max_points)
    p, r = precision[:-1], recall[:-1]  # the last PR point (1, 0) has no threshold
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    keep = _pick(thr.size, max_points)
    out["thresholds"] = {"threshold": _floats(thr[keep]), "precision": _floats(p[keep]),
                         "recall": _floats(r[keep]), "f1": _floats(f1[keep])}
    return out
