"""Build the report.json classification sections from sufficient statistics.

One code path for every way of getting the statistics — :func:`attnlab.metrics.classification_report`
(one update), :class:`attnlab.metrics.ClassificationEvaluator` (many updates, merges, processes) and
:func:`attnlab.metrics.evaluate_file` (chunks of a file): each hands its states to
:func:`build_report`, which reduces them to JSON-ready values, their signatures and the reasons for
undefined ones. The shape is documented in :mod:`attnlab.metrics.summary`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from attnlab import __version__
from attnlab.metrics.functional import classification as cls
from attnlab.metrics.functional import ranking as rk
from attnlab.metrics.functional._validation import MetricValue, ZeroDivision, zero_division_tag

if TYPE_CHECKING:  # only for annotations: the states import this module
    from attnlab.metrics.stateful import ConfusionMatrixState, ProbabilityState, ScoreCurveState


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


class Collector:
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


def prf_section(cm: np.ndarray, col: Collector, zero_division: ZeroDivision) -> dict[str, Any]:
    """``macro``/``micro``/``weighted`` precision, recall, F1 and ``per_class`` rows."""
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


def agreement_section(cm: np.ndarray, col: Collector) -> dict[str, Any]:
    """Accuracy, balanced accuracy, MCC and Cohen's kappa."""
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


def _ovr_result(curves: Sequence[ScoreCurveState], support: np.ndarray, compute: str, name: str,
                col: Collector, path: str) -> MetricValue:
    """One-vs-rest macro average over the per-label curve states (label ``c`` scored by column ``c``)."""
    values = np.full(len(curves), np.nan)
    for c, (label, curve) in enumerate(zip(col.labels, curves)):
        result = getattr(curve, compute)()
        if result.value is not None:
            values[c] = result.value
        elif result.reason:
            col.undefined.append({"metric": f"{path}.{label}", "reason": f"one-vs-rest for {str(label)!r}: "
                                  f"{result.reason}; left out of the macro average"})
    return rk._ovr_average(values, support.astype(np.float64), "macro", name)


def _curve_options(curves: Sequence[ScoreCurveState]) -> dict[str, Any]:
    bins = curves[0].n_bins
    return {} if bins is None else {"curve": f"binned-{bins}-approx"}


def proba_section(prob: ProbabilityState, curves: Sequence[ScoreCurveState], support: np.ndarray,
                  pos_idx: int | None, col: Collector) -> dict[str, Any]:
    """Log loss, ROC-AUC, average precision, Brier score and ECE."""
    values = prob.compute()
    out = {"log_loss": _num(values["log_loss"])}
    col.sign("log_loss", "log_loss", eps=repr(prob.eps), base="e")
    extra = _curve_options(curves)
    if len(curves) == 1:  # two labels and a positive one: the curve of the positive column
        out["roc_auc"] = col.value("roc_auc", curves[0]._roc_auc())
        out["average_precision"] = col.value("average_precision", curves[0]._average_precision())
        pos = _escape(col.labels[pos_idx])
        col.sign("roc_auc", "roc_auc", pos=pos, **extra)
        col.sign("average_precision", "average_precision", pos=pos, interp="step", **extra)
    else:
        out["roc_auc"] = col.value("roc_auc", _ovr_result(curves, support, "_roc_auc", "ROC-AUC", col, "roc_auc"))
        out["average_precision"] = col.value("average_precision", _ovr_result(
            curves, support, "_average_precision", "average precision", col, "average_precision"))
        col.sign("roc_auc", "roc_auc", avg="macro", multi="ovr", **extra)
        col.sign("average_precision", "average_precision", avg="macro", multi="ovr", interp="step", **extra)
    out["brier_score"] = _num(values["brier_score"])
    col.sign("brier_score", "brier_score", definition="binary-mse" if prob.n_classes == 2 else "multiclass-sum")
    out["ece"] = _num(values["ece"])
    col.sign("ece", "ece", bins=prob.n_bins, binning="equal-width", conf="top-label", norm="l1")
    return out


def binary_section(cm: np.ndarray, pos_idx: int, col: Collector, zero_division: ZeroDivision) -> dict[str, Any]:
    """TP/FN/FP/TN, specificity and NPV of the positive label against the rest."""
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


def build_report(confusion: ConfusionMatrixState, probability: ProbabilityState | None,
                 curves: Sequence[ScoreCurveState] | None, *, positive_index: int | None,
                 zero_division: ZeroDivision) -> dict[str, Any]:
    """The classification report (shape in :mod:`attnlab.metrics.summary`) from the states."""
    labels = list(confusion.labels)
    col = Collector(labels, zero_division)
    cm = confusion.matrix
    metrics = agreement_section(cm, col)
    if probability is None:
        for key in ("log_loss", "roc_auc", "average_precision"):
            metrics[key] = col.value(key, MetricValue(None, "not computed: no class probabilities were given"))
    else:
        metrics.update(proba_section(probability, curves, cm.sum(axis=1), positive_index, col))
    metrics.update(prf_section(cm, col, zero_division))
    report: dict[str, Any] = {
        "n": int(cm.sum()), "labels": labels,
        "positive_label": None if positive_index is None else labels[positive_index],
        "metrics": metrics,
        "confusion_matrix": {"labels": list(labels), "matrix": cm.tolist()},
    }
    if positive_index is not None:
        report["binary"] = binary_section(cm, positive_index, col, zero_division)
    report["signatures"] = col.signatures
    report["undefined"] = col.undefined
    return report
