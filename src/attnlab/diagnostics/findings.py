"""``Finding``: one thing an evaluation should tell its reader, and the options that decide when to say it.

A finding has a stable ``code`` (scripts match on it), a ``severity`` ("error": the numbers or the model
are not fit for the claim; "warning": read the numbers with care; "info": worth knowing), a one-paragraph
``message`` for people, and ``evidence``: the JSON-ready numbers the message is built from.

>>> f = Finding("low_recall", "error", "recall of 'fraud' is 0.12", {"label": "fraud", "recall": 0.12})
>>> f.to_dict()["severity"], Finding.from_dict(f.to_dict()) == f
('error', True)
>>> [x.code for x in sort_findings([Finding("a", "info", "."), Finding("b", "error", "."), Finding("c", "warning", ".")])]
['b', 'c', 'a']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from attnlab.errors import InputError

__all__ = ["DiagnosticOptions", "Finding", "SEVERITIES", "Severity", "sort_findings"]

_COUNTS = frozenset({"min_class_support", "overfit_epochs", "max_examples"})
Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One diagnostic: ``code``, ``severity`` ("error" | "warning" | "info"), ``message``, ``evidence``."""

    code: str
    severity: Severity
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        """The report.json entry ``{code, severity, message, evidence}``."""
        return {"code": self.code, "severity": self.severity, "message": self.message, "evidence": self.evidence}

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> Finding:
        """A finding read back from report.json; a malformed entry raises :class:`InputError`."""
        if not isinstance(entry, Mapping) or not {"code", "severity", "message"} <= set(entry):
            raise InputError(f"a finding needs code, severity and message; got {entry!r:.120}")
        if entry["severity"] not in SEVERITIES:
            raise InputError(f"finding {entry['code']!r} has severity {entry['severity']!r}; expected one of "
                             f"{', '.join(SEVERITIES)}")
        return cls(str(entry["code"]), entry["severity"], str(entry["message"]), dict(entry.get("evidence") or {}))


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then warnings, then infos; the order within a severity is kept."""
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


@dataclass(frozen=True)
class DiagnosticOptions:
    """When a finding fires. Defaults follow common practice; every one is recorded in the report.

    Attributes:
        min_minority_share: a class below this share of the examples makes the data imbalanced.
        min_class_score: a class's precision or recall below this is an error.
        paradox_margin: accuracy within this fraction of the majority baseline's error rate above that
            baseline (``acc < maj + margin * (1 - maj)``) is "no better than always predicting the
            majority class".
        high_accuracy: an accuracy at or above this counts as "high" for the accuracy paradox.
        alpha: significance level of the near-chance tests.
        max_ci_width: a key-metric confidence interval wider than this makes the test set too small.
        min_class_support: fewer examples than this of the positive (or the rarest) class makes the
            test set too small.
        overfit_epochs: epochs validation loss must stay above its minimum, while training loss
            falls, to call it overfitting (k).
        near_duplicate_error_share: near-duplicates of training texts in more than this share of the
            test rows are an error (fewer are a warning).
        max_examples: example pairs or texts kept in a finding's evidence.
    """

    min_minority_share: float = 0.2
    min_class_score: float = 0.5
    paradox_margin: float = 0.1
    high_accuracy: float = 0.85
    alpha: float = 0.05
    max_ci_width: float = 0.1
    min_class_support: int = 30
    overfit_epochs: int = 2
    near_duplicate_error_share: float = 0.05
    max_examples: int = 3

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _COUNTS:
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise InputError(f"diagnostic option {f.name} must be a positive integer, got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not 0 <= value <= 1:
                raise InputError(f"diagnostic option {f.name} must be a number in [0, 1], got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
