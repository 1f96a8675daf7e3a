"""Recipe: the readiness verdict of a saved report (``attnlab check REPORT_OR_RUN``).

read report.json (a file, or the one in a run directory) -> findings (those stored in the report, else
computed from it and the run's history.jsonl) -> verdict under the policy (defaults, ``--policy FILE``,
``--min-recall LABEL=R``, ``--min-precision LABEL=P``). Stored metrics are read, never recomputed; torch
is never imported.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attnlab.diagnostics import Finding, ReadinessPolicy, check_classification_report, decide, diagnose, read_history
from attnlab.errors import InputError
from attnlab.io import read_input_text

__all__ = ["build_policy", "check_report", "load_report"]


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
    check_classification_report(report, str(p))
    return report, run_dir


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
            raise InputError(f"{flag} {value!r}: the bound must be in [0, 1]")
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


def check_report(path: str | Path, policy: ReadinessPolicy = ReadinessPolicy()) -> dict[str, Any]:
    """``{source, verdict, findings, findings_source}`` for the report at ``path`` under ``policy``."""
    report, run_dir = load_report(path)
    if isinstance(report.get("findings"), list):
        findings = [Finding.from_dict(entry) for entry in report["findings"]]
        origin = "stored in the report"
    else:
        history_path = run_dir / "history.jsonl" if run_dir else None
        history = read_history(history_path) if history_path and history_path.is_file() else None
        findings = diagnose(report, history=history)
        origin = "computed from the report" + (" and history.jsonl" if history is not None else "")
    verdict = decide(report, findings, policy)
    return {"source": str(run_dir or path), "verdict": verdict.to_dict(),
            "findings": [f.to_dict() for f in findings], "findings_source": origin}
