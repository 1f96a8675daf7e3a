"""Findings for overlap results (:mod:`attnlab.diagnostics.leakage`): ``leakage_exact``, ``leakage_near`` and
``label_conflict``, each with a few example pairs as evidence (texts clipped to 200 characters).

>>> from attnlab.diagnostics.leakage import find_overlap
>>> r = find_overlap(["Call me now!", "see you"], ["call me now", "new"], names=("train", "test"))
>>> [(f.code, f.severity) for f in leakage_findings([r])]
[('leakage_exact', 'error')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attnlab.diagnostics.findings import DiagnosticOptions, Finding
from attnlab.diagnostics.leakage import OverlapResult

__all__ = ["conflict_findings", "leakage_findings"]


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _examples(result: OverlapResult, kind: str, limit: int) -> list[dict[str, Any]]:
    a, b = result.names
    keep = ("kind", "similarity", "n_matches", f"{b}_index", f"{a}_index", f"{b}_label", f"{a}_label", "label_conflict")
    out = []
    for pair in (p for p in result.pairs if p["kind"] == kind):
        entry = {k: pair[k] for k in keep if k in pair}
        entry[f"{b}_text"], entry[f"{a}_text"] = _clip(pair[f"{b}_text"]), _clip(pair[f"{a}_text"])
        out.append(entry)
        if len(out) == limit:
            break
    return out


def leakage_findings(results: Sequence[OverlapResult], options: DiagnosticOptions | None = None) -> list[Finding]:
    """``leakage_exact`` / ``leakage_near`` findings (and ``label_conflict`` for exact duplicates whose labels
    disagree across the two sides) for overlap results.

    Training texts in the *test* side (sides named train and test): exact duplicates are an error;
    near-duplicates a warning, or an error in more than ``options.near_duplicate_error_share`` of the test
    rows. Between other sides (train/validation, validation/test) they inflate model selection, not what
    the model was graded on: exact ones are a warning, near ones an info.
    """
    o = options or DiagnosticOptions()
    out = []
    for r in results:
        a, b = r.names
        into_test = (a, b) == ("train", "test")
        evidence = {"train": a, "test": b, f"n_{b}": r.n_test, "settings": r.settings}
        if r.n_exact:
            ex = _examples(r, "exact", o.max_examples)
            consequence = ("the test metrics are optimistic — the model was graded on texts it trained on"
                           if into_test else f"model selection on the {a if a != 'train' else b} split saw them")
            msg = (f"Data leakage: {r.n_exact:,} of {r.n_test:,} {b} texts ({r.n_exact / r.n_test:.1%}) also occur in "
                   f"the {a} set after normalising case, whitespace, punctuation and Unicode (e.g. {ex[0][f'{b}_text']!r}"
                   f" = {ex[0][f'{a}_text']!r}); {consequence}. Remove them from the {b} set or split with duplicates "
                   "grouped together.")
            out.append(Finding("leakage_exact", "error" if into_test else "warning", msg,
                               {**evidence, "rows": r.n_exact, "share": r.n_exact / r.n_test, "examples": ex}))
        if r.n_near:
            ex = _examples(r, "near", o.max_examples)
            share = r.n_near / r.n_test
            severity = ("error" if share > o.near_duplicate_error_share else "warning") if into_test else "info"
            msg = (f"Near-duplicate leakage: {r.n_near:,} of {r.n_test:,} {b} texts ({share:.1%}) have a text in the {a} "
                   f"set with word-shingle Jaccard >= {r.settings['threshold']:g} (e.g. {ex[0]['similarity']:.2f}: "
                   f"{ex[0][f'{b}_text']!r} ~ {ex[0][f'{a}_text']!r}). Scores on them reward memorising templates; "
                   f"report the {b} metrics without them too, or group near-duplicates before splitting.")
            out.append(Finding("leakage_near", severity, msg,
                               {**evidence, "rows": r.n_near, "share": share, "examples": ex,
                                "error_share": o.near_duplicate_error_share}))
        if r.n_label_conflicts:
            ex = [p for p in _examples(r, "exact", len(r.pairs)) if p.get("label_conflict")][: o.max_examples]
            msg = (f"Conflicting labels: {r.n_label_conflicts:,} {b} texts have an exact duplicate in the {a} set with "
                   f"another label (e.g. {ex[0][f'{b}_text']!r}: {ex[0][f'{b}_label']!r} vs {ex[0][f'{a}_label']!r}). "
                   "At least one of each pair is mislabelled; fix the labels before trusting either score.")
            out.append(Finding("label_conflict", "warning", msg, {**evidence, "rows": r.n_label_conflicts,
                                                                  "examples": ex}))
    return out


def conflict_findings(conflicts: Mapping[str, Any], where: str) -> list[Finding]:
    """A ``label_conflict`` warning for the result of :func:`label_conflicts` on one set of rows."""
    if not conflicts["n_texts"]:
        return []
    ex = conflicts["examples"][0]
    labels = ", ".join(f"{k!r} x{v}" for k, v in ex["labels"].items())
    msg = (f"Conflicting labels: {conflicts['n_texts']:,} texts in {where} occur with more than one label after "
           f"normalisation ({conflicts['n_rows']:,} rows; e.g. {_clip(ex['text'], 80)!r}: {labels}). Fix or drop "
           "them: the model cannot be right on both, and the score depends on which copy lands in the test set.")
    return [Finding("label_conflict", "warning", msg, {"where": where, **conflicts})]
