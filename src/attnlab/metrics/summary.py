"""``classification_report``: every classification metric of report.json, as plain JSON-ready Python.

The result has exactly the CONTRACT shapes (docs: /work/shared/design/CONTRACT.md)::

    {"n": int, "labels": [...], "positive_label": label | None,
     "metrics": {"accuracy", "balanced_accuracy", "mcc", "cohen_kappa",
                 "log_loss", "roc_auc", "average_precision",       # None without proba
                 "brier_score", "ece",                             # only with proba
                 "macro": {"precision", "recall", "f1"}, "micro": {...}, "weighted": {...},
                 "per_class": {str(label): {"precision", "recall", "f1", "support"}}},
     "confusion_matrix": {"labels": [...], "matrix": [[int]]},     # rows = true, columns = predicted
     "binary": {"positive_label", "tp", "fn", "fp", "tn", "specificity", "npv"},  # with positive_label
     "signatures": {METRIC_PATH: "name|opt:val|...|labels:a,b|version:attnlab-X"},
     "undefined": [{"metric": METRIC_PATH, "reason": str}]}

Values are Python ``int``/``float``/``None`` only — never NumPy scalars or NaN — so
``json.dumps(report, allow_nan=False)`` works. ``None`` means undefined, and every ratio that was 0/0 is
listed in ``undefined`` with its reason (also when ``zero_division=0`` or ``1`` gave it a number).
Metric paths are dotted: ``"macro.f1"``, ``"per_class.spam.recall"``, ``"binary.npv"``.

ROC-AUC and average precision: with 2 labels and a ``positive_label``, those of the positive column;
otherwise one-vs-rest macro averages over the labels (for 2 labels the macro ROC-AUC equals the binary
one). With ≥ 3 labels a ``positive_label`` only adds the one-vs-rest ``binary`` counts.

>>> rep = classification_report(["ham", "spam", "ham"], ["ham", "ham", "ham"], labels=["ham", "spam"])
>>> rep["metrics"]["per_class"]["spam"]
{'precision': None, 'recall': 0.0, 'f1': 0.0, 'support': 1}
>>> rep["signatures"]["macro.f1"]
'f1|avg:macro|beta:1|zero_division:nan|labels:ham,spam|version:attnlab-0.1.0'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from attnlab import __version__
from attnlab.metrics.functional import calibration as cal
from attnlab.metrics.functional import classification as cls
from attnlab.metrics.functional import ranking as rk
from attnlab.metrics.functional._validation import (
    DEFAULT_ZERO_DIVISION,
    MetricValue,
    ZeroDivision,
    check_labels,
    check_lengths,
    check_proba,
    encode,
    zero_division_tag,
)

DEFAULT_N_BINS = 15


def _escape(label: Any) -> str:
    """A label as signature text: ``%``, ``|``, ``,`` and ``:`` percent-encoded so the string parses."""
    text = str(label)
    for ch, code in (("%", "%25"), ("|", "%7C"), (",", "%2C"), (":", "%3A")):
        text = text.replace(ch, code)
    return text


def metric_signature(name: str, labels: Sequence[Any], **options: Any) -> str:
    """Provenance string in sacreBLEU style: ``name|opt:val|...|labels:a,b|version:attnlab-X``.

    >>> metric_signature("f1", ["ham", "spam"], avg="macro", zero_division="nan")
    'f1|avg:macro|zero_division:nan|labels:ham,spam|version:attnlab-0.1.0'
    """
    parts = [name, *(f"{key}:{value}" for key, value in options.items())]
    parts += ["labels:" + ",".join(_escape(lab) for lab in labels), f"version:attnlab-{__version__}"]
    return "|".join(parts)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


class _Collector:
    """Gathers JSON values, their signatures and the reasons for undefined ones."""

    def __init__(self, labels: list[Any], zero_division: ZeroDivision):
        self.labels, self.zd = labels, zero_division_tag(zero_division)
        self.signatures: dict[str, str] = {}
        self.undefined: list[dict[str, str]] = []

    def value(self, path: str, result: MetricValue) -> float | None:
        if result.reason:
            self.undefined.append({"metric": path, "reason": result.reason})
        return _num(result.value)

    def ratio(self, path: str, value: float, was_zero_div: bool, why: str) -> float | None:
        """A per-class ratio; a 0/0 one is recorded with how the policy reported it."""
        if was_zero_div:
            shown = "None, left out of macro/weighted averages" if self.zd == "nan" else self.zd
            self.undefined.append({"metric": path, "reason": f"{why} (0/0); reported as {shown} "
                                                             f"(zero_division={self.zd})"})
        return _num(value)

    def sign(self, path: str, name: str, **options: Any) -> None:
        self.signatures[path] = metric_signature(name, self.labels, **options)


def _prf_section(cm: np.ndarray, col: _Collector, zero_division: ZeroDivision) -> dict[str, Any]:
    stats = cls._prf_compute(cm, zero_division=zero_division)
    per_class = {}
    for i, label in enumerate(col.labels):
        key = str(label)
        per_class[key] = {
            "precision": col.ratio(f"per_class.{key}.precision", stats.precision[i], stats.precision_undefined[i],
                                   f"precision of {key!r} undefined: it was never predicted"),
            "recall": col.ratio(f"per_class.{key}.recall", stats.recall[i], stats.recall_undefined[i],
                                f"recall of {key!r} undefined: it does not occur in y_true"),
            "f1": col.ratio(f"per_class.{key}.f1", stats.fscore[i], stats.fscore_undefined[i],
                            f"F1 of {key!r} undefined: it occurs in neither y_true nor y_pred"),
            "support": int(stats.support[i]),
        }
    col.sign("per_class", "per_class", beta=1, zero_division=col.zd)
    out: dict[str, Any] = {}
    for avg in ("macro", "micro", "weighted"):
        values = cls._averaged_prf(cm, beta=1.0, average=avg, zero_division=zero_division)
        out[avg] = {}
        for name, result in zip(("precision", "recall", "f1"), values):
            out[avg][name] = col.value(f"{avg}.{name}", result)
            extra = {"beta": 1} if name == "f1" else {}
            col.sign(f"{avg}.{name}", name, avg=avg, **extra, zero_division=col.zd)
    out["per_class"] = per_class
    return out


def _agreement_section(cm: np.ndarray, col: _Collector) -> dict[str, Any]:
    out = {
        "accuracy": col.value("accuracy", cls._accuracy_compute(cm)),
        "balanced_accuracy": col.value("balanced_accuracy", cls._balanced_accuracy_compute(cm)),
        "mcc": col.value("mcc", cls._mcc_compute(cm)),
        "cohen_kappa": col.value("cohen_kappa", cls._cohen_kappa_compute(cm)),
    }
    col.sign("accuracy", "accuracy")
    col.sign("balanced_accuracy", "balanced_accuracy", adjusted="no", absent_classes="excluded")
    col.sign("mcc", "mcc", undefined="none")
    col.sign("cohen_kappa", "cohen_kappa", weights="none", undefined="none")
    return out


def _ovr_result(t: np.ndarray, p: np.ndarray, compute: Any, name: str, col: _Collector, path: str) -> MetricValue:
    values, reasons = rk._ovr_compute(t, p, compute)
    for label, reason in zip(col.labels, reasons):
        if reason:
            col.undefined.append({"metric": f"{path}.{label}", "reason": f"one-vs-rest for {str(label)!r}: "
                                  f"{reason}; left out of the macro average"})
    support = np.bincount(t, minlength=len(col.labels)).astype(np.float64)
    return rk._ovr_average(values, support, "macro", name)


def _proba_section(t: np.ndarray, p: np.ndarray, pos_idx: int | None, col: _Collector, *,
                   eps: float, n_bins: int) -> dict[str, Any]:
    n_classes = p.shape[1]
    out = {"log_loss": _num(cal._log_loss_compute(*cal._log_loss_update(t, p, eps)))}
    col.sign("log_loss", "log_loss", eps=repr(eps), base="e")
    if n_classes == 2 and pos_idx is not None:
        fps, tps, _ = rk._binary_clf_curve_update(t == pos_idx, p[:, pos_idx])
        out["roc_auc"] = col.value("roc_auc", rk._roc_auc_compute(fps, tps))
        out["average_precision"] = col.value("average_precision", rk._average_precision_compute(fps, tps))
        pos = _escape(col.labels[pos_idx])
        col.sign("roc_auc", "roc_auc", pos=pos)
        col.sign("average_precision", "average_precision", pos=pos, interp="step")
    else:
        out["roc_auc"] = col.value("roc_auc", _ovr_result(t, p, rk._roc_auc_compute, "ROC-AUC", col, "roc_auc"))
        out["average_precision"] = col.value("average_precision", _ovr_result(
            t, p, rk._average_precision_compute, "average precision", col, "average_precision"))
        col.sign("roc_auc", "roc_auc", avg="macro", multi="ovr")
        col.sign("average_precision", "average_precision", avg="macro", multi="ovr", interp="step")
    out["brier_score"] = _num(cal._brier_score_compute(*cal._brier_score_update(t, p), n_classes))
    col.sign("brier_score", "brier_score", definition="binary-mse" if n_classes == 2 else "multiclass-sum")
    out["ece"] = _num(cal._expected_calibration_error_compute(*cal._calibration_bins_update(t, p, n_bins)))
    col.sign("ece", "ece", bins=n_bins, binning="equal-width", conf="top-label", norm="l1")
    return out


def _binary_section(cm: np.ndarray, pos_idx: int, col: _Collector, zero_division: ZeroDivision) -> dict[str, Any]:
    counts = cls._binary_counts_compute(cm, pos_idx, zero_division=zero_division)
    label = col.labels[pos_idx]
    col.sign("binary", "binary", pos=_escape(label), zero_division=col.zd)
    return {
        "positive_label": label, "tp": counts.tp, "fn": counts.fn, "fp": counts.fp, "tn": counts.tn,
        "specificity": col.ratio("binary.specificity", counts.specificity, counts.specificity_undefined,
                                 f"specificity undefined: y_true has no example other than {str(label)!r}"),
        "npv": col.ratio("binary.npv", counts.npv, counts.npv_undefined,
                         f"NPV undefined: no example was predicted as other than {str(label)!r}"),
    }


def classification_report(
    y_true: Any, y_pred: Any, *, labels: Sequence[Any], proba: Any = None, positive_label: Any = None,
    zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION, n_bins: int = DEFAULT_N_BINS, eps: float | str = "auto",
) -> dict[str, Any]:
    """All classification metrics of report.json (shape in the module docstring).

    ``labels`` fixes the label set and order (every value of ``y_true``/``y_pred`` must be in it, at least
    2 labels). ``proba`` is an optional ``(N, len(labels))`` probability matrix, columns in label order;
    without it ``log_loss``, ``roc_auc`` and ``average_precision`` are ``None``. ``zero_division`` is the
    policy for 0/0 ratios (default ``"nan"``: ``None`` and left out of averages); ``n_bins`` and ``eps``
    configure ECE and the log-loss clip. Invalid input raises :class:`attnlab.errors.InputError`.
    """
    labels = check_labels(labels, min_labels=2)
    col = _Collector(labels, zero_division)
    t, p = encode(y_true, labels, name="y_true"), encode(y_pred, labels, name="y_pred")
    check_lengths(len(t), y_true=t, y_pred=p)
    pos_idx = None if positive_label is None else cls.positive_index(labels, positive_label)
    eps_value, n_bins = cal.check_eps(eps), cal.check_n_bins(n_bins)
    probs = None if proba is None else check_proba(proba, len(t), len(labels))

    cm = cls._confusion_matrix_update(t, p, len(labels))
    metrics = _agreement_section(cm, col)
    if probs is None:
        for key in ("log_loss", "roc_auc", "average_precision"):
            metrics[key] = col.value(key, MetricValue(None, "not computed: no class probabilities were given"))
    else:
        metrics.update(_proba_section(t, probs, pos_idx, col, eps=eps_value, n_bins=n_bins))
    metrics.update(_prf_section(cm, col, zero_division))
    report: dict[str, Any] = {
        "n": int(len(t)), "labels": list(labels),
        "positive_label": None if pos_idx is None else labels[pos_idx],
        "metrics": metrics,
        "confusion_matrix": {"labels": list(labels), "matrix": cm.tolist()},
    }
    if pos_idx is not None:
        report["binary"] = _binary_section(cm, pos_idx, col, zero_division)
    report["signatures"] = col.signatures
    report["undefined"] = col.undefined
    return report
