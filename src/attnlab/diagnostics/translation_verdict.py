"""Readiness verdict for a translation report: :func:`decide_translation` and :func:`annotate_translation`.

The same shape and pattern as the classification verdict (:mod:`attnlab.diagnostics.verdict`): a policy of
optional bounds, checks in a fixed order, then every error-level finding, each a reason; ready means no
reason. There is no universal BLEU bar (it depends on the language pair, domain and test set), so by
default only the findings decide; ``min_bleu`` / ``min_chrf`` add a bar where a project has one.

Reasons, most important first: failed policy bounds (BLEU, then chrF), then blocking findings —
leakage and memorised pairs, subword markers, empty outputs, the maximum length, loops, the length ratio,
then any other error — each in one short sentence that says what is wrong and why it matters.

>>> report = {"schema_version": 1, "task": "translation", "n": 40, "metrics": {"bleu": 31.0, "chrf": 58.2}}
>>> leak = Finding("source_leakage_exact", "error", "...", {"n": 40, "segments": 6, "share": 0.15})
>>> v = decide_translation(report, [leak], TranslationPolicy(min_bleu=35))
>>> v.ready, v.reasons[0]
(False, 'BLEU is 31.00, below the required 35')
>>> v.reasons[1]
'test sources appear in training: BLEU is inflated (6 of 40 test sources, 15.0%, occur in the training sources)'
>>> decide_translation(report, []).ready
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from attnlab.diagnostics.findings import Finding
from attnlab.diagnostics.translation import THRESHOLDS, _diagnose
from attnlab.diagnostics.verdict import Verdict, policy_from_dict, policy_from_file
from attnlab.errors import InputError

__all__ = ["TranslationPolicy", "annotate_translation", "decide_translation"]

#: Short reasons for blocking findings, in order of importance (formatted with the finding's evidence).
REASONS = {
    "memorised_pairs": "test pairs appear in training with their reference: BLEU measures memory "
                       "({segments:,} of {n:,} pairs, {share:.1%})",
    "source_leakage_exact": "test sources appear in training: BLEU is inflated ({segments:,} of {n:,} test sources, "
                            "{share:.1%}, occur in the training sources)",
    "source_leakage_near": "test sources nearly duplicate training sources: BLEU is inflated ({segments:,} of "
                           "{n:,}, {share:.1%})",
    "subword_markers": "the output still holds subword markers: it was never de-segmented, so BLEU is not the "
                       "system's ({segments:,} of {n:,} segments, {share:.1%})",
    "empty_hypotheses": "the system returns empty output for {segments:,} of {n:,} segments ({share:.1%})",
    "max_length_reached": "{segments:,} of {n:,} outputs ({share:.1%}) stop at the maximum length: cut off or looping",
    "repetition_loops": "{segments:,} of {n:,} outputs ({share:.1%}) loop on a repeated phrase",
    "length_ratio": "the outputs are {size}: hyp/ref length ratio {ratio:.2f} is outside [{lo:g}, {hi:g}]",
}
_METRICS = (("min_bleu", "bleu", "BLEU"), ("min_chrf", "chrf", "chrF"))


@dataclass(frozen=True)
class TranslationPolicy:
    """What "ready" means for a translation system. Bounds are inclusive, on sacreBLEU's 0-100 scale;
    ``None`` (the default) checks nothing."""

    min_bleu: float | None = None
    min_chrf: float | None = None
    block_on_findings: bool = True

    def __post_init__(self) -> None:
        for name, _, _ in _METRICS:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or not 0 <= value <= 100):
                raise InputError(f"policy {name} must be a score in [0, 100] (sacreBLEU's scale) or null, "
                                 f"got {value!r}")
        if not isinstance(self.block_on_findings, bool):
            raise InputError(f"policy block_on_findings must be true or false, got {self.block_on_findings!r}")

    @classmethod
    def from_dict(cls, data: Any, source: str = "the policy") -> TranslationPolicy:
        """A policy from JSON-like data; unknown keys and wrong types raise :class:`InputError`."""
        return policy_from_dict(cls, data, source, example='{"min_bleu": 25}')

    @classmethod
    def from_file(cls, path: str | Path) -> TranslationPolicy:
        """A policy from a small JSON file (``min_bleu``, ``min_chrf``, ``block_on_findings``)."""
        return policy_from_file(cls, path, example='{"min_bleu": 25}')

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _checks(report: Mapping[str, Any], policy: TranslationPolicy) -> list[dict[str, Any]]:
    metrics = report.get("metrics") or {}
    out = []
    for name, key, label in _METRICS:
        bound = getattr(policy, name)
        if bound is None:
            continue
        if key not in metrics:
            raise InputError(f"policy {name} needs {label} in the report, which has only "
                             f"{', '.join(metrics) or 'no metrics'}; score {label} or drop the bound")
        value = metrics[key]
        passed = value is not None and value >= bound
        shown = "undefined" if value is None else f"{value:.2f}"
        out.append({"check": name, "metric": key, "value": value, "bound": float(bound), "passed": passed,
                    "reason": None if passed else f"{label} is {shown}, below the required {bound:g}"})
    return out


def _reason(f: Finding) -> str:
    """The short reason for a blocking finding; its message when there is no short form."""
    template, ev = REASONS.get(f.code), dict(f.evidence)
    if f.code == "length_ratio" and "ratio" in ev:
        lo, hi = ev.get("error_range") or THRESHOLDS["ratio_error"]
        ev.update(size="too short" if ev["ratio"] < 1 else "too long", lo=lo, hi=hi)
    try:
        return template.format(**ev) if template else f.message
    except (KeyError, ValueError, TypeError):  # evidence without the numbers (e.g. hand-made findings)
        return f.message


def decide_translation(report: Mapping[str, Any], findings: Sequence[Finding],
                       policy: TranslationPolicy = TranslationPolicy()) -> Verdict:
    """The verdict for a translation report's stored metrics and its findings under ``policy``."""
    if not isinstance(report, Mapping) or report.get("task") != "translation":
        raise InputError("decide_translation needs a translation report.json (task 'translation')")
    checks = _checks(report, policy)
    order = list(REASONS)
    blocking = sorted((f for f in findings if f.severity == "error"),
                      key=lambda f: order.index(f.code) if f.code in order else len(order)) \
        if policy.block_on_findings else []
    reasons = [c["reason"] for c in checks if not c["passed"]] + [_reason(f) for f in blocking]
    return Verdict(ready=not reasons, reasons=reasons, checks=checks, blocking_findings=[f.code for f in blocking],
                   policy=policy.to_dict())


def annotate_translation(
    report: dict[str, Any], *, sources: Sequence[str] | None = None, hypotheses: Sequence[str],
    references: Sequence[Sequence[str]], train_sources: Sequence[str] | None = None,
    train_targets: Sequence[str] | None = None, hit_max_length: Sequence[bool] | None = None,
    metrics_details: Mapping[str, Any] | None = None, intervals: Mapping[str, Any] | None = None, seed: int = 0,
    policy: TranslationPolicy = TranslationPolicy(),
) -> dict[str, Any]:
    """Add ``findings``, ``verdict`` and ``diagnostics`` (the thresholds and the source-overlap summary) to a
    translation ``report`` in place, and return it.

    The inputs are those of :func:`attnlab.diagnostics.translation.translation_findings`;
    ``metrics_details`` and ``intervals`` default to the report's own ``details`` and ``intervals``.

    >>> report = {"schema_version": 1, "task": "translation", "n": 2, "metrics": {"bleu": 40.0}}
    >>> out = annotate_translation(report, hypotheses=["The cat sat on the mat.", ""],
    ...                            references=[["The cat sat on the mat.", "A dog barked all night long."]])
    >>> out["verdict"]["ready"], out["verdict"]["reasons"][0]
    (False, 'the system returns empty output for 1 of 2 segments (50.0%)')
    """
    if report.get("task") != "translation" or report.get("n") != len(hypotheses):
        raise InputError(f"annotate_translation needs the translation report of these {len(hypotheses)} hypotheses; "
                         f"got a {report.get('task')!r} report of {report.get('n')} segments")
    findings, overlap = _diagnose(
        sources=sources, hypotheses=hypotheses, references=references, train_sources=train_sources,
        train_targets=train_targets, hit_max_length=hit_max_length, seed=seed,
        metrics_details=report.get("details") if metrics_details is None else metrics_details,
        intervals=report.get("intervals") if intervals is None else intervals)
    report["findings"] = [f.to_dict() for f in findings]
    report["verdict"] = decide_translation(report, findings, policy).to_dict()
    leakage = [] if overlap is None else [overlap.to_dict(max_pairs=5 * THRESHOLDS["max_examples"])]
    report["diagnostics"] = {"options": dict(THRESHOLDS), "leakage": leakage}
    return report
