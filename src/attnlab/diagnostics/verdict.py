"""Production readiness: a verdict (ready / not ready, with reasons ordered by importance) from a report's
stored metrics, its findings and a :class:`ReadinessPolicy`.

Default policy ("good vs bad" guidance): accuracy >= 0.85; F1 >= 0.85 (macro, and the positive class's
for a binary task); precision and recall balanced (within 0.15 of each other, for the positive class or
macro); no class with precision or recall below 0.5. Per-class bounds tighten or loosen one class
(``--min-recall fraud=0.9``), and error-level findings that the policy does not check itself (leakage,
near chance, accuracy paradox, a threshold tuned on the test split, ...) also block.

Reasons, most important first: the positive class's recall, then its precision, then other classes'
recall and precision (worst first), F1, the precision/recall balance, accuracy, then blocking findings.

>>> report = {"labels": ["ok", "fraud"], "positive_label": "fraud", "n": 10000,
...           "metrics": {"accuracy": 0.98, "macro": {"precision": 0.74, "recall": 0.56, "f1": 0.59},
...                       "per_class": {"ok": {"precision": 0.98, "recall": 0.998, "f1": 0.99, "support": 9800},
...                                     "fraud": {"precision": 0.5, "recall": 0.12, "f1": 0.19, "support": 200}}},
...           "confusion_matrix": {"labels": ["ok", "fraud"], "matrix": [[9776, 24], [176, 24]]}}
>>> v = decide(report, [])
>>> v.ready, v.reasons[0]
(False, "recall of 'fraud' (the positive class) is 0.120, below the required 0.5: 176 of 200 'fraud' examples are missed")
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from attnlab.diagnostics.findings import Finding
from attnlab.diagnostics.pitfalls import check_classification_report
from attnlab.errors import InputError
from attnlab.io import read_input_text

__all__ = ["ReadinessPolicy", "Verdict", "decide"]

#: Finding codes the policy checks itself (per-class bounds), so they do not block a second time.
POLICY_CODES = frozenset({"low_recall", "low_precision", "class_never_predicted"})
_BOUNDS = ("min_accuracy", "min_f1", "min_precision", "min_recall", "max_precision_recall_gap")


def _bound(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 1:
        raise InputError(f"policy {name} must be a number in [0, 1], got {value!r}")
    return float(value)


def policy_from_dict(cls: type, data: Any, source: str, *, example: str) -> Any:
    """Build the policy dataclass ``cls`` from JSON-like data; unknown keys are an :class:`InputError`."""
    if not isinstance(data, Mapping):
        raise InputError(f"{source} must be a JSON object, e.g. {example}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"{source} has unknown key(s) {', '.join(map(repr, unknown))}; known keys: "
                         f"{', '.join(sorted(known))}")
    return cls(**data)


def policy_from_file(cls: type, path: str | Path, *, example: str) -> Any:
    """Build the policy dataclass ``cls`` from a small JSON file; bad JSON is a one-line :class:`InputError`."""
    p = Path(path)
    text = read_input_text(p, expected=f"a JSON policy file such as {example}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"policy file {p} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return policy_from_dict(cls, data, f"policy file {p}", example=example)


@dataclass(frozen=True)
class ReadinessPolicy:
    """What "ready" means. Every bound is inclusive ("at least" / "at most")."""

    min_accuracy: float = 0.85
    min_f1: float = 0.85
    min_precision: float = 0.5
    min_recall: float = 0.5
    max_precision_recall_gap: float = 0.15
    min_precision_by_class: Mapping[str, float] = field(default_factory=dict)
    min_recall_by_class: Mapping[str, float] = field(default_factory=dict)
    block_on_findings: bool = True

    def __post_init__(self) -> None:
        for name in _BOUNDS:
            _bound(name, getattr(self, name))
        for name in ("min_precision_by_class", "min_recall_by_class"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise InputError(f"policy {name} must map class labels to bounds, e.g. {{\"fraud\": 0.9}}; got {value!r}")
            object.__setattr__(self, name, {str(k): _bound(f"{name}[{k!r}]", v) for k, v in value.items()})
        if not isinstance(self.block_on_findings, bool):
            raise InputError(f"policy block_on_findings must be true or false, got {self.block_on_findings!r}")

    @classmethod
    def from_dict(cls, data: Any, source: str = "the policy") -> ReadinessPolicy:
        """A policy from JSON-like data; unknown keys and wrong types raise :class:`InputError`."""
        return policy_from_dict(cls, data, source, example='{"min_recall_by_class": {"fraud": 0.9}}')

    @classmethod
    def from_file(cls, path: str | Path) -> ReadinessPolicy:
        """A policy from a small JSON file (the keys of this class)."""
        return policy_from_file(cls, path, example='{"min_f1": 0.9}')

    def replace(self, **changes: Any) -> ReadinessPolicy:
        """A copy with ``changes``; the ``*_by_class`` mappings are merged, not replaced."""
        data = self.to_dict()
        for name, value in changes.items():
            data[name] = {**data[name], **value} if name.endswith("_by_class") else value
        return ReadinessPolicy(**data)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["min_precision_by_class"] = dict(self.min_precision_by_class)
        data["min_recall_by_class"] = dict(self.min_recall_by_class)
        return data


@dataclass(frozen=True)
class Verdict:
    """``ready``, ``reasons`` (most important first; empty when ready), every check run, the blocking
    finding codes and the policy."""

    ready: bool
    reasons: list[str]
    checks: list[dict[str, Any]]
    blocking_findings: list[str]
    policy: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The report.json ``verdict`` entry."""
        return {"ready": self.ready, "reasons": list(self.reasons), "checks": self.checks,
                "blocking_findings": self.blocking_findings, "policy": self.policy}


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def _check(rank: tuple, name: str, metric: str, value: float | None, bound: float, passed: bool, reason: str) -> dict:
    return {"check": name, "metric": metric, "value": value, "bound": bound, "passed": passed,
            "reason": None if passed else reason, "_rank": rank}


def _class_checks(report: Mapping[str, Any], policy: ReadinessPolicy) -> list[dict]:
    labels = [str(x) for x in report["labels"]]
    per_class = report["metrics"]["per_class"]
    matrix = report["confusion_matrix"]["matrix"]
    positive = None if report.get("positive_label") is None else str(report["positive_label"])
    out = []
    for i, label in enumerate(labels):
        row = per_class[label]
        support, hits = sum(matrix[i]), matrix[i][i]
        predicted = sum(r[i] for r in matrix)
        tag = " (the positive class)" if label == positive else ""
        first = 0 if label == positive else 1
        if support:  # recall is defined
            bound = policy.min_recall_by_class.get(label, policy.min_recall)
            value = row["recall"]
            out.append(_check((first, 0, value or 0.0), "class_recall", f"per_class.{label}.recall", value, bound,
                              value is not None and value >= bound,
                              f"recall of {label!r}{tag} is {_fmt(value)}, below the required {bound:g}: "
                              f"{support - hits} of {support} {label!r} examples are missed"))
        if support or predicted:
            bound = policy.min_precision_by_class.get(label, policy.min_precision)
            value = row["precision"]
            why = (f"precision of {label!r}{tag} is undefined: it is never predicted" if value is None else
                   f"precision of {label!r}{tag} is {value:.3f}, below the required {bound:g}: "
                   f"{predicted - hits} of {predicted} predictions of {label!r} are wrong")
            out.append(_check((first, 1, value or 0.0), "class_precision", f"per_class.{label}.precision", value,
                              bound, value is not None and value >= bound, why))
    return out


def _summary_checks(report: Mapping[str, Any], policy: ReadinessPolicy) -> list[dict]:
    m = report["metrics"]
    positive = None if report.get("positive_label") is None else str(report["positive_label"])
    out = []
    if positive is not None and len(report["labels"]) == 2:
        f1 = m["per_class"][positive]["f1"]
        out.append(_check((2, 0, 0), "positive_f1", f"per_class.{positive}.f1", f1, policy.min_f1,
                          f1 is not None and f1 >= policy.min_f1,
                          f"F1 of {positive!r} is {_fmt(f1)}, below the required {policy.min_f1:g}"))
        p, r, where = m["per_class"][positive]["precision"], m["per_class"][positive]["recall"], f"of {positive!r}"
    else:
        p, r, where = (m.get("macro") or {}).get("precision"), (m.get("macro") or {}).get("recall"), "(macro)"
    macro_f1 = (m.get("macro") or {}).get("f1")
    out.append(_check((2, 1, 0), "macro_f1", "macro.f1", macro_f1, policy.min_f1,
                      macro_f1 is not None and macro_f1 >= policy.min_f1,
                      f"macro F1 is {_fmt(macro_f1)}, below the required {policy.min_f1:g}"))
    if p is not None and r is not None:
        gap = abs(p - r)
        lower = "recall" if r < p else "precision"
        out.append(_check((3, 0, 0), "precision_recall_balance", "precision-recall gap", gap,
                          policy.max_precision_recall_gap, gap <= policy.max_precision_recall_gap,
                          f"precision {p:.3f} and recall {r:.3f} {where} are unbalanced (gap {gap:.3f} > "
                          f"{policy.max_precision_recall_gap:g}); {lower} is the weak side"))
    acc = m.get("accuracy")
    out.append(_check((4, 0, 0), "accuracy", "accuracy", acc, policy.min_accuracy,
                      acc is not None and acc >= policy.min_accuracy,
                      f"accuracy is {_fmt(acc)}, below the required {policy.min_accuracy:g}"))
    return out


def decide(report: Mapping[str, Any], findings: Sequence[Finding],
           policy: ReadinessPolicy = ReadinessPolicy()) -> Verdict:
    """The verdict for a classification report's stored metrics and its findings under ``policy``."""
    check_classification_report(report)
    labels = {str(x) for x in report["labels"]}
    for name in ("min_recall_by_class", "min_precision_by_class"):
        unknown = sorted(set(getattr(policy, name)) - labels)
        if unknown:
            raise InputError(f"policy {name} names {', '.join(map(repr, unknown))}, not a label of the report; "
                             f"labels are: {', '.join(sorted(labels))}")
    checks = sorted(_class_checks(report, policy) + _summary_checks(report, policy), key=lambda c: c["_rank"])
    reasons = [c["reason"] for c in checks if not c["passed"]]
    blocking = [f for f in findings if f.severity == "error" and f.code not in POLICY_CODES] \
        if policy.block_on_findings else []
    reasons += [f.message for f in blocking]
    for c in checks:
        del c["_rank"]
    return Verdict(ready=not reasons, reasons=reasons, checks=checks,
                   blocking_findings=[f.code for f in blocking], policy=policy.to_dict())
