"""Recipe: the readiness verdict of a saved report (``attnlab check REPORT_OR_RUN``).

read report.json (a file, or the one in a run directory) -> findings (those stored in the report, else
computed from it and the run's history.jsonl, or for translation from the run's translations.csv) ->
verdict under the policy: classification (defaults, ``--policy FILE``, ``--min-recall LABEL=R``,
``--min-precision LABEL=P``) or translation (:class:`TranslationPolicy`: ``--policy FILE``, ``--min-bleu B``,
``--min-chrf C``). Stored metrics are read, never recomputed; torch is never imported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from attnlab.diagnostics import (Finding, ReadinessPolicy, TranslationPolicy, check_classification_report, decide,
                                 decide_translation, diagnose, read_history, translation_findings)
from attnlab.errors import InputError
from attnlab.io import read_input_text

__all__ = ["build_policy", "build_translation_policy", "check_report", "load_report", "run_check"]


def load_report(path: str | Path) -> tuple[dict[str, Any], Path | None]:
    """The report dictionary and, when ``path`` is a run directory, that directory."""
    p = Path(path)
    run_dir = None
    if p.is_dir():
        run_dir, p = p, p / "report.json"
        if not p.is_file():
            raise InputError(f"{run_dir} has no report.json; pass a run directory written by `attnlab train` or a "
                             "report.json file")
    text = read_input_text(p, expected="a report.json file or a run directory")
    if not text.strip():
        raise InputError(f"{p} is empty; pass a report.json written by attnlab")
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{p} is not valid JSON ({exc.msg} at line {exc.lineno}); pass a report.json written by "
                         "attnlab") from None
    if isinstance(report, Mapping) and report.get("task") == "translation":
        _check_translation_report(report, str(p))
    else:
        check_classification_report(report, str(p))
    return report, run_dir


def _check_translation_report(report: Mapping[str, Any], source: str) -> None:
    """Raise :class:`InputError` unless ``report`` has what the translation verdict reads."""
    metrics, findings = report.get("metrics"), report.get("findings")
    if not isinstance(metrics, Mapping) or not metrics or not set(metrics) <= {"bleu", "chrf", "ter"}:
        raise InputError(f"{source} is a translation report without BLEU/chrF/TER metrics; pass a report.json "
                         "written by `attnlab evaluate --hyp ... --ref ...` or `attnlab run --task translate`")
    if findings is not None and not isinstance(findings, list):
        raise InputError(f"{source}: findings must be a list; re-create the report with attnlab")


def _class_bounds(values: Sequence[str], flag: str) -> tuple[dict[str, float], float | None]:
    """``LABEL=V`` entries as {label: V}, and a bare ``V`` as the bound for every class."""
    by_class: dict[str, float] = {}
    every: float | None = None
    for value in values:
        label, sep, number = value.rpartition("=")
        try:
            bound = float(number)
        except ValueError:
            raise InputError(f"{flag} takes LABEL=VALUE (e.g. {flag} fraud=0.9) or a bare VALUE, got {value!r}") from None
        if not 0 <= bound <= 1:
            raise InputError(f"{flag} {value!r}: the bound must be in [0, 1]; write it as a fraction (e.g. "
                             f"{label + sep if sep else ''}0.9 for 90%)")
        if sep and not label:
            raise InputError(f"{flag} {value!r} names no label; write LABEL=VALUE")
        if sep:
            by_class[label] = bound
        else:
            every = bound
    return by_class, every


def build_policy(policy_file: str | None = None, min_recall: Sequence[str] = (),
                 min_precision: Sequence[str] = ()) -> ReadinessPolicy:
    """The default policy, or ``policy_file``'s, with the ``--min-recall``/``--min-precision`` flags over it."""
    policy = ReadinessPolicy.from_file(policy_file) if policy_file else ReadinessPolicy()
    recall_by_class, recall = _class_bounds(min_recall, "--min-recall")
    precision_by_class, precision = _class_bounds(min_precision, "--min-precision")
    changes: dict[str, Any] = {"min_recall_by_class": recall_by_class, "min_precision_by_class": precision_by_class}
    if recall is not None:
        changes["min_recall"] = recall
    if precision is not None:
        changes["min_precision"] = precision
    return policy.replace(**changes)


def build_translation_policy(policy_file: str | None = None, min_bleu: float | None = None,
                             min_chrf: float | None = None) -> TranslationPolicy:
    """The default translation policy, or ``policy_file``'s, with ``--min-bleu``/``--min-chrf`` over it.

    >>> build_translation_policy(min_bleu=25).to_dict()
    {'min_bleu': 25, 'min_chrf': None, 'block_on_findings': True}
    """
    policy = TranslationPolicy.from_file(policy_file) if policy_file else TranslationPolicy()
    changes = {k: v for k, v in (("min_bleu", min_bleu), ("min_chrf", min_chrf)) if v is not None}
    return replace(policy, **changes) if changes else policy


def run_check(path: str | Path, *, policy_file: str | None = None, min_recall: Sequence[str] = (),
              min_precision: Sequence[str] = (), min_bleu: float | None = None,
              min_chrf: float | None = None) -> dict[str, Any]:
    """``attnlab check``: the verdict under the policy that fits the report's task, built from the policy
    file and the flags; flags of the other task are a one-line :class:`InputError`."""
    report, run_dir = load_report(path)
    policy: ReadinessPolicy | TranslationPolicy
    if report.get("task") == "translation":
        if min_recall or min_precision:
            raise InputError("--min-recall/--min-precision apply to classification reports; for a translation "
                             "report use --min-bleu/--min-chrf")
        policy = build_translation_policy(policy_file, min_bleu, min_chrf)
    else:
        if min_bleu is not None or min_chrf is not None:
            raise InputError("--min-bleu/--min-chrf apply to translation reports; for a classification report use "
                             "--min-recall/--min-precision")
        policy = build_policy(policy_file, min_recall, min_precision)
    return _check(report, run_dir, str(path), policy)


def _translation_findings(report: Mapping[str, Any], run_dir: Path | None, source: str) -> tuple[list[Finding], str]:
    """Findings of a translation report: stored ones, else computed from the run's translations.csv."""
    from attnlab.recipes.report import TRANSLATIONS_FILE, read_translations

    if isinstance(report.get("findings"), list):
        return [Finding.from_dict(entry) for entry in report["findings"]], "stored in the report"
    rows = read_translations(run_dir / TRANSLATIONS_FILE) if run_dir else None
    if not rows:
        raise InputError(f"{source} is a translation report without stored findings, and no run directory with a "
                         f"{TRANSLATIONS_FILE} to compute them from; pass the run directory, or the report.json "
                         "of `attnlab evaluate --hyp ... --ref ... --out` (it stores its findings)")
    if len(rows) != report.get("n"):
        raise InputError(f"{run_dir / TRANSLATIONS_FILE} has {len(rows)} rows but the report scored "
                         f"{report.get('n')} segments; they are not from the same run")
    findings = translation_findings(sources=[r["source"] for r in rows], hypotheses=[r["hypothesis"] for r in rows],
                                    references=[[r["reference"] for r in rows]],
                                    hit_max_length=[r["hit_max_length"] for r in rows],
                                    metrics_details=report.get("details"), intervals=report.get("intervals"))
    return findings, f"computed from the report and {TRANSLATIONS_FILE} (training data not read: leakage not checked)"


def _classification_findings(report: Mapping[str, Any], run_dir: Path | None) -> tuple[list[Finding], str]:
    """Findings of a classification report: stored ones, else computed from it and the run's history."""
    if isinstance(report.get("findings"), list):
        return [Finding.from_dict(entry) for entry in report["findings"]], "stored in the report"
    history_path = run_dir / "history.jsonl" if run_dir else None
    history = read_history(history_path) if history_path and history_path.is_file() else None
    findings = diagnose(report, history=history)
    return findings, "computed from the report" + (" and history.jsonl" if history is not None else "")


def _check(report: dict[str, Any], run_dir: Path | None, source: str,
           policy: ReadinessPolicy | TranslationPolicy | None) -> dict[str, Any]:
    translation = report.get("task") == "translation"
    if policy is None:
        policy = TranslationPolicy() if translation else ReadinessPolicy()
    if translation != isinstance(policy, TranslationPolicy):
        raise InputError(f"{source} is a {report.get('task', 'classification')} report but the policy is a "
                         f"{type(policy).__name__}; use build_translation_policy for translation reports and "
                         "build_policy for classification ones")
    if translation:
        findings, origin = _translation_findings(report, run_dir, source)
        verdict = decide_translation(report, findings, policy)  # type: ignore[arg-type]
    else:
        findings, origin = _classification_findings(report, run_dir)
        verdict = decide(report, findings, policy)  # type: ignore[arg-type]
    return {"source": str(run_dir or source), "verdict": verdict.to_dict(),
            "findings": [f.to_dict() for f in findings], "findings_source": origin}


def check_report(path: str | Path, policy: ReadinessPolicy | TranslationPolicy | None = None) -> dict[str, Any]:
    """``{source, verdict, findings, findings_source}`` for the report at ``path`` under ``policy``: a
    :class:`ReadinessPolicy` for a classification report, a :class:`TranslationPolicy` for a translation
    one; ``None`` is the task's default policy."""
    report, run_dir = load_report(path)
    return _check(report, run_dir, str(path), policy)
