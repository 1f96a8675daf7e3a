"""Evaluation pitfalls read off a classification report (report.json) alone: no data, no model, no torch.

* ``class_imbalance`` — the rarest class is below ``min_minority_share`` (two classes; ``x 2/C`` for C);
* ``accuracy_paradox`` — accuracy near or below the majority-class baseline, or high while a class's
  recall or precision is low;
* ``near_chance`` — accuracy not significantly above the stratified-random baseline (exact one-sided
  binomial test), or balanced accuracy (or its bootstrap CI) reaching down to chance, ``1/C``;
* ``low_recall``, ``low_precision``, ``class_never_predicted`` — per class;
* ``single_class_test_set``, ``undefined_metrics``, ``small_test_set``;
* ``threshold_tuned_on_test`` / ``threshold_tuned_on_evaluated_file``, ``early_stopping_on_test``.

>>> report = {"labels": ["ok", "fraud"], "positive_label": "fraud", "n": 100,
...           "metrics": {"accuracy": 0.95, "balanced_accuracy": 0.5, "mcc": None,
...                       "per_class": {"ok": {"precision": 0.95, "recall": 1.0, "f1": 0.97, "support": 95},
...                                     "fraud": {"precision": None, "recall": 0.0, "f1": 0.0, "support": 5}}},
...           "confusion_matrix": {"labels": ["ok", "fraud"], "matrix": [[95, 0], [5, 0]]}}
>>> [f.code for f in report_findings(report)]
['class_never_predicted', 'accuracy_paradox', 'near_chance', 'class_imbalance', 'small_test_set']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from attnlab.diagnostics.findings import DiagnosticOptions, Finding
from attnlab.errors import InputError

__all__ = ["binomial_sf", "check_classification_report", "report_findings"]


def binomial_sf(k: int, n: int, p: float) -> float:
    """``P(X >= k)`` for ``X ~ Binomial(n, p)``: exact, summed in log space (NumPy and math only).

    >>> round(binomial_sf(8, 10, 0.5) * 1024, 9)  # (45 + 10 + 1) / 2**10
    56.0
    >>> binomial_sf(0, 10, 0.3), binomial_sf(11, 10, 0.3)
    (1.0, 0.0)
    """
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_first = (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                 + k * math.log(p) + (n - k) * math.log1p(-p))
    step = math.log(p) - math.log1p(-p)
    # log pmf(k), pmf(k + 1), ... in blocks of at most 2**20 terms (memory stays small for n in the billions, e.g. a
    # streamed predictions file), stopping once the terms fall (the pmf is unimodal) below e^-80 of the largest
    top, total, last = log_first, 1.0, log_first  # total = sum of exp(log term - top)
    for start in range(k, n, 1 << 20):
        j = np.arange(start, min(start + (1 << 20), n), dtype=np.float64)  # pmf(j + 1) / pmf(j) = (n - j) / (j + 1) * p / (1 - p)
        logs = last + np.cumsum(np.log((n - j) / (j + 1)) + step)
        block_top = float(logs.max())
        if block_top > top:
            total, top = total * math.exp(top - block_top), block_top
        total += float(np.exp(logs - top).sum())
        falling = logs.size < 2 or logs[-1] <= logs[-2]
        last = float(logs[-1])
        if falling and last < top - 80:
            break
    return min(1.0, math.exp(top) * total)


def check_classification_report(report: Any, source: str = "the report") -> None:
    """Raise :class:`InputError` unless ``report`` has what the diagnostics read."""
    if not isinstance(report, Mapping):
        raise InputError(f"{source} is not a JSON object; pass an attnlab report.json")
    if report.get("task", "classification") != "classification":
        raise InputError(f"{source} is a {report.get('task')} report; findings and verdicts are for classification "
                         "reports")
    metrics, cm = report.get("metrics"), report.get("confusion_matrix")
    if not isinstance(metrics, Mapping) or not isinstance(metrics.get("per_class"), Mapping) \
            or not isinstance(cm, Mapping) or "matrix" not in cm or "labels" not in report:
        raise InputError(f"{source} lacks metrics.per_class, labels or confusion_matrix; pass a report.json written "
                         "by `attnlab evaluate`, `attnlab train` or `attnlab run`")
    matrix = np.asarray(cm["matrix"])
    labels = [str(x) for x in report["labels"]]
    if matrix.ndim != 2 or matrix.shape != (len(labels), len(labels)) or set(labels) != set(metrics["per_class"]):
        raise InputError(f"{source}: the confusion matrix, labels and per-class metrics do not agree; "
                         "re-create the report with attnlab")


class _Facts:
    """The counts every check reads, taken once from the report."""

    def __init__(self, report: Mapping[str, Any]):
        self.report = report
        self.labels = [str(x) for x in report["labels"]]
        self.cm = np.asarray(report["confusion_matrix"]["matrix"], dtype=np.int64)
        self.support, self.predicted = self.cm.sum(axis=1), self.cm.sum(axis=0)
        self.n = int(self.cm.sum())
        self.metrics = report["metrics"]
        self.per_class = self.metrics["per_class"]
        pos = report.get("positive_label")
        self.positive = None if pos is None else str(pos)
        self.present = [i for i in range(len(self.labels)) if self.support[i] > 0]
        self.intervals = report.get("intervals") or {}
        self.majority = int(np.argmax(self.support)) if self.n else 0

    def ordered(self) -> list[int]:
        """Class indices, the positive class first."""
        first = [self.labels.index(self.positive)] if self.positive in self.labels else []
        return first + [i for i in range(len(self.labels)) if i not in first]

    def ci(self, path: str) -> list[float] | None:
        value = self.intervals.get(path)
        return list(value) if value and None not in value else None


def _fmt(x: float | None, digits: int = 3) -> str:
    return "undefined" if x is None else f"{x:.{digits}f}"


def _imbalance(f: _Facts, o: DiagnosticOptions) -> list[Finding]:
    n_classes = len(f.present)
    shares = f.support[f.present] / f.n
    bound = o.min_minority_share * 2 / n_classes
    k = int(np.argmin(shares))
    if shares[k] >= bound:
        return []
    label = f.labels[f.present[k]]
    m = f.metrics
    if f.positive is not None:
        judged = [(f"F1 of {f.positive!r}", f.per_class[f.positive]["f1"])]
    else:
        judged = [("macro F1", (m.get("macro") or {}).get("f1"))]
    judged += [("MCC", m.get("mcc")), ("PR-AUC", m.get("average_precision"))]
    judge = ", ".join(f"{name} ({value:.3f})" for name, value in judged if value is not None)
    if m.get("average_precision") is None:
        judge += " and, given scores, PR-AUC"
    msg = (f"Class imbalance: {label!r} is {shares[k]:.1%} of the {f.n:,} test examples ({int(f.support[f.present[k]])}; "
           f"below {bound:.0%}). Accuracy rewards predicting the majority class — judge the model by {judge} instead.")
    return [Finding("class_imbalance", "warning", msg, {
        "minority_label": label, "minority_share": float(shares[k]), "bound": bound,
        "shares": {f.labels[i]: float(s) for i, s in zip(f.present, shares)},
        "recommended_metrics": ["f1", "average_precision", "mcc"]})]


def _low_classes(f: _Facts, o: DiagnosticOptions) -> dict[str, dict[str, float | None]]:
    """Classes with recall or precision below the bound (or never predicted), positive first."""
    out = {}
    for i in f.ordered():
        row = f.per_class[f.labels[i]]
        low = {k: row[k] for k in ("recall", "precision")
               if (row[k] is not None and row[k] < o.min_class_score) or (k == "precision" and f.support[i] and not f.predicted[i])}
        if low and (f.support[i] or f.predicted[i]):
            out[f.labels[i]] = low
    return out


def _accuracy_paradox(f: _Facts, o: DiagnosticOptions) -> list[Finding]:
    acc = f.metrics.get("accuracy")
    if acc is None:
        return []
    maj_rate = float(f.support[f.majority] / f.n)
    near_majority = acc < maj_rate + o.paradox_margin * (1 - maj_rate)
    low = _low_classes(f, o)
    if not near_majority and not (acc >= o.high_accuracy and low):
        return []
    maj_label = f.labels[f.majority]
    parts = [f"Accuracy paradox: accuracy {acc:.3f}"]
    if acc <= maj_rate:
        parts.append(f" is no better than always predicting {maj_label!r} ({maj_rate:.3f})")
    elif near_majority:
        parts.append(f" is barely above always predicting {maj_label!r} ({maj_rate:.3f})")
    else:
        parts.append(f" looks high (majority baseline {maj_rate:.3f})")
    if low:
        label, vals = next(iter(low.items()))
        metric = "recall" if "recall" in vals else "precision"
        parts.append(f" while {metric} of {label!r} is {_fmt(vals[metric])}")
    m = f.metrics
    parts.append(f". Balanced accuracy {_fmt(m.get('balanced_accuracy'))} and MCC {_fmt(m.get('mcc'))} tell the real "
                 "story; do not report accuracy alone.")
    correct = int(np.trace(f.cm))
    return [Finding("accuracy_paradox", "error", "".join(parts), {
        "accuracy": acc, "majority_baseline": maj_rate, "majority_label": maj_label,
        "p_value_vs_majority": binomial_sf(correct, f.n, maj_rate),
        "balanced_accuracy": m.get("balanced_accuracy"), "mcc": m.get("mcc"), "low_classes": low})]


def _near_chance(f: _Facts, o: DiagnosticOptions) -> list[Finding]:
    correct = int(np.trace(f.cm))
    q = f.support / f.n
    maj_rate, strat_rate = float(q.max()), float((q ** 2).sum())
    p_maj, p_strat = binomial_sf(correct, f.n, maj_rate), binomial_sf(correct, f.n, strat_rate)
    chance = 1 / len(f.present)
    ba = f.metrics.get("balanced_accuracy")
    ba_ci = f.ci("balanced_accuracy")
    reasons = []
    if p_strat >= o.alpha:
        reasons.append(f"accuracy {correct / f.n:.3f} is not significantly above the stratified-random baseline "
                       f"{strat_rate:.3f} (one-sided exact binomial p = {p_strat:.3g}, n = {f.n:,})")
    if ba is not None and ba <= chance:
        reasons.append(f"balanced accuracy {ba:.3f} is at or below chance ({chance:.3f})")
    elif ba_ci is not None and ba_ci[0] <= chance:
        reasons.append(f"the 95% CI of balanced accuracy [{ba_ci[0]:.3f}, {ba_ci[1]:.3f}] reaches chance ({chance:.3f})")
    if not reasons:
        return []
    msg = (f"Near chance: {'; '.join(reasons)}. Majority baseline {maj_rate:.3f} (p = {p_maj:.3g}). The model has "
           "not shown that it learned anything; check the labels, the features and the training run.")
    return [Finding("near_chance", "error", msg, {
        "accuracy": correct / f.n, "n": f.n, "majority_baseline": maj_rate, "stratified_baseline": strat_rate,
        "p_value_vs_majority": p_maj, "p_value_vs_stratified": p_strat, "alpha": o.alpha,
        "balanced_accuracy": ba, "balanced_accuracy_ci": ba_ci, "chance_balanced_accuracy": chance,
        "test": "one-sided exact binomial test of the number of correct predictions"})]


def _per_class(f: _Facts, o: DiagnosticOptions) -> list[Finding]:
    out = []
    for i in f.ordered():
        label, row = f.labels[i], f.per_class[f.labels[i]]
        support, predicted, hits = int(f.support[i]), int(f.predicted[i]), int(f.cm[i, i])
        tag = " (the positive class)" if label == f.positive else ""
        if support and not predicted:
            out.append(Finding("class_never_predicted", "error", (
                f"{label!r}{tag} is never predicted although the test set has {support} examples of it: recall 0, "
                "precision undefined. Try class weights (--class-weights balanced), a lower decision threshold, "
                "or more training examples of it."), {"label": label, "support": support}))
            continue
        if row["recall"] is not None and row["recall"] < o.min_class_score:
            out.append(Finding("low_recall", "error", (
                f"Recall of {label!r}{tag} is {row['recall']:.3f} (below {o.min_class_score}): the model misses "
                f"{support - hits} of {support} {label!r} examples."),
                {"label": label, "recall": row["recall"], "support": support, "missed": support - hits,
                 "bound": o.min_class_score}))
        if row["precision"] is not None and row["precision"] < o.min_class_score:
            out.append(Finding("low_precision", "error", (
                f"Precision of {label!r}{tag} is {row['precision']:.3f} (below {o.min_class_score}): {predicted - hits} "
                f"of {predicted} predictions of {label!r} are wrong."),
                {"label": label, "precision": row["precision"], "predicted": predicted,
                 "false_positives": predicted - hits, "bound": o.min_class_score}))
    return out


def _undefined(f: _Facts) -> list[Finding]:
    entries = [e for e in f.report.get("undefined") or [] if isinstance(e, Mapping) and "metric" in e
               and not str(e.get("reason", "")).startswith("not computed")]  # not asked for is not undefined
    if not entries:
        return []
    shown = "; ".join(f"{e['metric']}: {e.get('reason', 'undefined')}" for e in entries[:3])
    more = f" (and {len(entries) - 3} more)" if len(entries) > 3 else ""
    msg = (f"{len(entries)} metric value(s) are undefined and reported as null, left out of averages — {shown}{more}.")
    return [Finding("undefined_metrics", "warning", msg, {"metrics": entries[:50], "n": len(entries)})]


def _small_test_set(f: _Facts, o: DiagnosticOptions) -> list[Finding]:
    if f.positive is not None and f.positive in f.labels:
        path, name = f"per_class.{f.positive}.f1", f"F1 of {f.positive!r}"
        key_label = f.positive
    else:
        path, name = "macro.f1", "macro F1"
        key_label = f.labels[min(f.present, key=lambda i: f.support[i])]
    ci = f.ci(path)
    width = None if ci is None else ci[1] - ci[0]
    support = int(f.support[f.labels.index(key_label)])
    reasons = []
    if width is not None and width > o.max_ci_width:
        reasons.append(f"the 95% CI of {name} is [{ci[0]:.3f}, {ci[1]:.3f}], {width:.3f} wide (more than "
                       f"{o.max_ci_width})")
    if support < o.min_class_support:
        reasons.append(f"it has only {support} examples of {key_label!r} (fewer than {o.min_class_support})")
    if not reasons:
        return []
    msg = (f"Test set too small for a precise claim: {' and '.join(reasons)}. Differences smaller than the interval "
           f"are noise; evaluate on more examples (especially of {key_label!r}).")
    return [Finding("small_test_set", "warning", msg, {
        "metric": path, "interval": ci, "width": width, "max_width": o.max_ci_width, "n": f.n,
        "label": key_label, "support": support, "min_support": o.min_class_support})]


_TEST_NAMES = {"test", "test split", "the test split", "testing"}


def _selection_on_test(report: Mapping[str, Any]) -> list[Finding]:
    out = []
    threshold = report.get("threshold") or {}
    tuned_on = str(threshold.get("tuned_on") or "").strip().lower()
    if tuned_on in _TEST_NAMES:
        out.append(Finding("threshold_tuned_on_test", "error", (
            f"The decision threshold {threshold.get('value')} was tuned on the test split: the test metrics are "
            "optimistic. Tune it on validation data and apply it to the test set with --threshold."),
            {"threshold": threshold.get("value"), "objective": threshold.get("objective"), "tuned_on": tuned_on}))
    elif tuned_on == "the evaluated file":
        out.append(Finding("threshold_tuned_on_evaluated_file", "warning", (
            f"The decision threshold {threshold.get('value')} ({threshold.get('objective')}) was tuned on the same "
            "file these metrics come from, so they are optimistic. If this file is your test set, tune the "
            "threshold on validation predictions and apply it here with --threshold."),
            {"threshold": threshold.get("value"), "objective": threshold.get("objective"), "tuned_on": tuned_on}))
    training = (report.get("run") or {}).get("training") or {}
    selected_on = str(training.get("selected_on") or "").strip().lower()
    if selected_on in _TEST_NAMES:
        out.append(Finding("early_stopping_on_test", "error", (
            "Early stopping / the best epoch was chosen on the test split: the test metrics are optimistic. "
            "Select on a validation split."), {"selected_on": selected_on}))
    return out


def report_findings(report: Mapping[str, Any], options: DiagnosticOptions = DiagnosticOptions()) -> list[Finding]:
    """Every finding that the report alone supports, in check order (sort with ``sort_findings``)."""
    check_classification_report(report)
    f = _Facts(report)
    out = _selection_on_test(report)
    if f.n == 0:
        return out + [Finding("empty_test_set", "error", "The report counts no test examples.", {})]
    if len(f.present) < 2:
        only = f.labels[f.present[0]]
        out.append(Finding("single_class_test_set", "error", (
            f"The test set holds only {only!r} examples ({f.n}): nothing can be said about the other classes, "
            "and accuracy is just the recall of that one class. Evaluate on data with every class."),
            {"label": only, "n": f.n}))
        return out + _per_class(f, options) + _undefined(f)
    return (out + _per_class(f, options) + _accuracy_paradox(f, options) + _near_chance(f, options)
            + _imbalance(f, options) + _undefined(f) + _small_test_set(f, options))
