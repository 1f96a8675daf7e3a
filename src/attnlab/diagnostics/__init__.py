"""Diagnostics: what an evaluation must say besides its numbers, and whether the model is ready.

* :class:`Finding` (``code``, ``severity``, ``message``, ``evidence``) — computed by :func:`diagnose` from a
  report dictionary (report.json), plus optionally the training history and train/test overlap;
* :func:`find_overlap` — exact and near-duplicate texts between two sets (MinHash LSH, verified exactly);
* :class:`ReadinessPolicy` and :func:`decide` — the ready / not ready verdict with ordered reasons;
* :func:`translation_findings`, :class:`TranslationPolicy`, :func:`decide_translation` and
  :func:`annotate_translation` — the same for a translation report (source leakage, tokenised or
  degenerate output, length ratio, test-set size).

NumPy only; ``datasketch`` is imported when an overlap is actually indexed; torch never.

>>> report = {"labels": ["ham", "spam"], "positive_label": "spam", "n": 200,
...           "metrics": {"accuracy": 0.95, "balanced_accuracy": 0.95, "mcc": 0.9,
...                       "macro": {"precision": 0.95, "recall": 0.95, "f1": 0.95},
...                       "per_class": {"ham": {"precision": 0.95, "recall": 0.95, "f1": 0.95, "support": 100},
...                                     "spam": {"precision": 0.95, "recall": 0.95, "f1": 0.95, "support": 100}}},
...           "confusion_matrix": {"labels": ["ham", "spam"], "matrix": [[95, 5], [5, 95]]}}
>>> findings = diagnose(report)
>>> [f.code for f in findings], decide(report, findings).ready
([], True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attnlab.diagnostics.findings import SEVERITIES, DiagnosticOptions, Finding, sort_findings
from attnlab.diagnostics.leakage import OverlapResult, find_overlap, label_conflicts, leak_key, splits_overlap
from attnlab.diagnostics.leakage_findings import conflict_findings, leakage_findings
from attnlab.diagnostics.overfitting import overfitting_findings, read_history
from attnlab.diagnostics.pitfalls import binomial_sf, check_classification_report, report_findings
from attnlab.diagnostics.translation import translation_findings
from attnlab.diagnostics.translation_verdict import TranslationPolicy, annotate_translation, decide_translation
from attnlab.diagnostics.verdict import ReadinessPolicy, Verdict, decide

__all__ = ["DiagnosticOptions", "Finding", "OverlapResult", "ReadinessPolicy", "SEVERITIES", "TranslationPolicy",
           "Verdict", "annotate", "annotate_translation", "binomial_sf", "check_classification_report",
           "conflict_findings", "decide", "decide_translation", "diagnose", "find_overlap", "label_conflicts",
           "leak_key", "leakage_findings", "overfitting_findings", "read_history", "report_findings",
           "sort_findings", "splits_overlap", "translation_findings"]


def diagnose(report: Mapping[str, Any], *, history: Sequence[Mapping[str, Any]] | None = None,
             overlap: Sequence[OverlapResult] = (), extra: Sequence[Finding] = (),
             options: DiagnosticOptions = DiagnosticOptions()) -> list[Finding]:
    """All findings for a classification report, errors first.

    Args:
        report: a report.json dictionary (stored metrics are read, never recomputed).
        history: training history records (``epoch``, ``train_loss``, ``val_loss``) for the overfitting check.
        overlap: train/test overlap results (:func:`find_overlap`, :func:`splits_overlap`).
        extra: findings computed elsewhere (e.g. :func:`conflict_findings`), merged in.
        options: when each finding fires.
    """
    findings = list(report_findings(report, options))
    findings += leakage_findings(overlap, options)
    findings += list(extra)
    if history is not None:
        selected = ((report.get("run") or {}).get("training") or {}).get("best_epoch")
        findings += overfitting_findings(history, options, selected_epoch=selected)
    return sort_findings(findings)


def annotate(report: dict[str, Any], *, history: Sequence[Mapping[str, Any]] | None = None,
             overlap: Sequence[OverlapResult] = (), extra: Sequence[Finding] = (),
             options: DiagnosticOptions = DiagnosticOptions(),
             policy: ReadinessPolicy = ReadinessPolicy()) -> dict[str, Any]:
    """Add ``findings``, ``verdict`` and ``diagnostics`` (the options and policy used, and the overlap
    summaries with a few pairs each) to ``report`` in place, and return it."""
    findings = diagnose(report, history=history, overlap=overlap, extra=extra, options=options)
    report["findings"] = [f.to_dict() for f in findings]
    report["verdict"] = decide(report, findings, policy).to_dict()
    report["diagnostics"] = {"options": options.to_dict(),
                             "leakage": [r.to_dict(max_pairs=options.max_examples * 5) for r in overlap]}
    return report
