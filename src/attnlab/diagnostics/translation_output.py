"""Translation checks on the system output itself: tokenisation artefacts, subword markers, lowercasing,
empty outputs, the maximum length and repetition loops. Also home of :data:`THRESHOLDS` and the validated
segments shared with :mod:`attnlab.diagnostics.translation` (which runs these checks; see its table).

>>> repetition_loop("and then and then and then it stopped")
'and then'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from attnlab.diagnostics.findings import DiagnosticOptions, Finding
from attnlab.diagnostics.leakage import DEFAULT_THRESHOLD, leak_key
from attnlab.diagnostics.leakage_findings import _clip

__all__ = ["THRESHOLDS", "repetition_loop"]


#: When each finding fires (shares are fractions of the test segments); recorded in the report.
THRESHOLDS: dict[str, Any] = {
    "exact_error_share": 0.01,
    "near_error_share": DiagnosticOptions.near_duplicate_error_share,  # 0.05, as for classification
    "near_similarity": DEFAULT_THRESHOLD,  # word-shingle Jaccard of a near-duplicate source
    "artefact_min_share": 0.02,
    "artefact_reference_factor": 2.0,  # the outputs must show an artefact over twice as often as the refs
    "lowercase_share": 0.9,
    "cased_reference_share": 0.5,
    "empty_error_share": 0.05,
    "degenerate_warning_share": 0.01,  # max length reached, repetition loops
    "degenerate_error_share": 0.1,
    "ratio_warning": [0.8, 1.2],
    "ratio_error": [0.5, 2.0],
    "segment_ratio": [0.5, 2.0],
    "segment_min_reference_words": 5,
    "outlier_info_share": 0.01,
    "outlier_warning_share": 0.05,
    "repeat_unigram": 4,  # "the the the the"
    "repeat_ngram": 3,  # "of the of the of the" (n = 2..4)
    "min_segments": DiagnosticOptions.min_class_support,  # 30
    "max_ci_width": 100 * DiagnosticOptions.max_ci_width,  # 10 points on the 0-100 scale
    "max_examples": DiagnosticOptions.max_examples,
    # Rough usefulness bands of corpus BLEU (Google Cloud Translation's interpretation guide: < 10 "almost
    # useless", 10-19 "hard to get the gist"); only for sacreBLEU's default 13a tokenisation.
    "bleu_error": 10.0,
    "bleu_warning": 20.0,
}
T = THRESHOLDS

_SUFFIX = r"(?:s|t|re|ve|ll|d|m)\b"
_ARTEFACTS = {  # what tokenisers (Moses, 13a, Penn) leave behind: (pattern, description)
    "space_before_punctuation": (re.compile(r"\w\s+[,.!?;:%)\]}](?=\s|$)"), "a space before punctuation (' ,', ' .')"),
    "split_contraction": (re.compile(rf"\w\s+['\u2019]\s*{_SUFFIX}|\w\s*['\u2019]\s+{_SUFFIX}|\w\s+n['\u2019]t\b"
                                     r"|\b(?:[cdjlmnst]|qu)['\u2019]\s+\w", re.IGNORECASE),
                          "split contractions (\"don ' t\", \" 's\")"),
    "escaped_entities": (re.compile(r"&(?:apos|quot|amp|lt|gt|#\d+|#x[0-9a-f]+);", re.IGNORECASE),
                         "escaped entities ('&apos;', '&quot;')"),
}
_SUBWORD = re.compile(r"@@(?:\s|$)|\u2581|(?:^|\s)##\w|</w>")


@dataclass(frozen=True)
class _Segments:
    """The validated inputs; ``refs`` is a list of reference sets, each aligned with ``hyps``."""

    hyps: list[str]
    refs: list[list[str]]
    sources: list[str] | None

    @property
    def n(self) -> int:
        return len(self.hyps)

    def example(self, i: int, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"index": i}
        if self.sources is not None:
            out["source"] = _clip(self.sources[i])
        out.update(hypothesis=_clip(self.hyps[i]), reference=_clip(self.refs[0][i]), **extra)
        return out

    def examples(self, rows: Sequence[int], **extra: Any) -> list[dict[str, Any]]:
        return [self.example(i, **extra) for i in rows[: T["max_examples"]]]


def _share_severity(share: float) -> str:
    if share > T["degenerate_error_share"]:
        return "error"
    return "warning" if share > T["degenerate_warning_share"] else "info"


# --------------------------------------------------------------------------------------------------
# How the output looks: tokenised, subword markers, lowercased
# --------------------------------------------------------------------------------------------------


def _artefact(s: _Segments, pattern: re.Pattern) -> tuple[list[int], float, float]:
    """Rows whose output matches ``pattern``, its share, and the share of rows where a reference does."""
    rows = [i for i, h in enumerate(s.hyps) if pattern.search(h)]
    in_refs = sum(1 for i in range(s.n) if any(pattern.search(ref[i]) for ref in s.refs))
    return rows, len(rows) / s.n, in_refs / s.n


def _flagged(share: float, ref_share: float) -> bool:
    return share >= T["artefact_min_share"] and share > T["artefact_reference_factor"] * ref_share


def _tokenised(s: _Segments) -> list[Finding]:
    kinds, rows = {}, set()
    for kind, (pattern, _) in _ARTEFACTS.items():
        hit, share, ref_share = _artefact(s, pattern)
        if _flagged(share, ref_share):
            kinds[kind] = {"segments": len(hit), "share": share, "reference_share": ref_share}
            rows.update(hit)
    if not kinds:
        return []
    rows_sorted, share = sorted(rows), len(rows) / s.n
    ex = s.examples(rows_sorted)
    what = ", ".join(_ARTEFACTS[k][1] for k in kinds)
    msg = (f"Hypotheses look tokenised, not detokenised: {len(rows):,} of {s.n:,} segments ({share:.1%}) have {what} "
           f"that the references lack (e.g. {ex[0]['hypothesis']!r}). sacreBLEU expects detokenised text and "
           "tokenises it itself, so BLEU on tokenised output is not comparable with other systems or published "
           "scores. Detokenise the output (e.g. sacremoses) and score again.")
    return [Finding("tokenized_hypotheses", "warning", msg, {"n": s.n, "segments": len(rows), "share": share,
                                                            "kinds": kinds, "min_share": T["artefact_min_share"],
                                                            "examples": ex})]


def _subwords(s: _Segments) -> list[Finding]:
    """Any output with a marker the references lack is a finding (a partly undone segmentation is a bug too);
    an error from ``artefact_min_share`` of the segments on."""
    rows, share, ref_share = _artefact(s, _SUBWORD)
    if not rows or share <= T["artefact_reference_factor"] * ref_share:
        return []
    ex = s.examples(rows)
    msg = (f"Subword markers in the output: {len(rows):,} of {s.n:,} segments ({share:.1%}) still hold BPE / "
           f"SentencePiece / WordPiece markers ('@@ ', '\u2581', '##', '</w>'; e.g. {ex[0]['hypothesis']!r}). The "
           "segmentation was never undone, so split words count as wrong and the BLEU is not the system's; merge the "
           "subwords (e.g. sed -r 's/(@@ )|(@@ ?$)//g', or spm_decode) and score again.")
    return [Finding("subword_markers", "error" if share >= T["artefact_min_share"] else "warning", msg, {"n": s.n, "segments": len(rows), "share": share,
                                                     "reference_share": ref_share, "examples": ex})]


def _lowercased(s: _Segments) -> list[Finding]:
    cased = [i for i, h in enumerate(s.hyps) if h.lower() != h.upper()]  # has a cased letter
    ref_cased = [r for ref in s.refs for r in ref if r.lower() != r.upper()]
    if not cased or not ref_cased:
        return []
    lower = [i for i in cased if s.hyps[i].islower()]
    share = len(lower) / len(cased)
    ref_upper = sum(1 for r in ref_cased if r != r.lower()) / len(ref_cased)
    if share < T["lowercase_share"] or ref_upper < T["cased_reference_share"]:
        return []
    msg = (f"Lowercased output: {len(lower):,} of {len(cased):,} hypotheses ({share:.1%}) have no capital letter, "
           f"while {ref_upper:.0%} of the references have one. BLEU and chrF are case-sensitive by default, so every "
           "capitalised word counts as wrong; recase the output, or score with lowercase=True and say so.")
    return [Finding("lowercased_hypotheses", "warning", msg, {
        "n": s.n, "segments": len(lower), "share": share, "reference_cased_share": ref_upper,
        "examples": s.examples(lower)})]


# --------------------------------------------------------------------------------------------------
# Degenerate output: empty, maximum length, repetition loops
# --------------------------------------------------------------------------------------------------


def repetition_loop(text: str) -> str | None:
    """The first n-gram (n = 1..4) that ``text`` repeats back to back (a word 4 times, a 2-4-gram 3 times),
    compared after :func:`leak_key` (case and punctuation ignored); None if there is none.

    >>> repetition_loop("The the, the THE end"), repetition_loop("of the year of the year of the year")
    ('the', 'of the year')
    >>> repetition_loop("very very good"), repetition_loop("ha ha ha")
    (None, None)
    """
    words = leak_key(text).split()
    for n in range(1, 5):
        need = ((T["repeat_unigram"] if n == 1 else T["repeat_ngram"]) - 1) * n  # equal words at distance n
        run = 0
        for i in range(len(words) - n):
            run = run + 1 if words[i] == words[i + n] else 0
            if run >= need:
                start = i - run + 1
                return " ".join(words[start:start + n])
    return None


def _degenerate(s: _Segments, hit_max_length: list[bool] | None) -> list[Finding]:
    out = []
    empty = [i for i, h in enumerate(s.hyps) if not h.strip() and any(ref[i].strip() for ref in s.refs)]
    if empty:
        share = len(empty) / s.n
        out.append(Finding("empty_hypotheses", "error" if share > T["empty_error_share"] else "warning", (
            f"Empty output: {len(empty):,} of {s.n:,} hypotheses ({share:.1%}) are empty where the reference is not "
            f"(e.g. segment {empty[0]}: reference {s.refs[0][empty[0]]!r}). They score zero and drag BLEU down; check "
            "the decoder (an immediate end-of-sentence token) and the output file's alignment."),
            {"n": s.n, "segments": len(empty), "share": share, "error_share": T["empty_error_share"],
             "examples": s.examples(empty)}))
    loops = {i: ngram for i, h in enumerate(s.hyps) if (ngram := repetition_loop(h))
             and not any(repetition_loop(ref[i]) for ref in s.refs)}
    if hit_max_length is not None and any(hit_max_length):
        rows = [i for i, hit in enumerate(hit_max_length) if hit]
        share, looping = len(rows) / s.n, sum(1 for i in rows if i in loops)
        out.append(Finding("max_length_reached", _share_severity(share), (
            f"Maximum length reached: {len(rows):,} of {s.n:,} outputs ({share:.1%}) stopped at the decoder's length "
            f"limit instead of ending ({looping:,} of them repeat a phrase). They are cut off or stuck in a loop; "
            "raise the limit for long sources, or look at why the end-of-sentence token never comes."),
            {"n": s.n, "segments": len(rows), "share": share, "looping": looping, "examples": s.examples(rows)}))
    if loops:
        rows = sorted(loops)
        share = len(rows) / s.n
        out.append(Finding("repetition_loops", _share_severity(share), (
            f"Repetition loops: {len(rows):,} of {s.n:,} outputs ({share:.1%}) repeat a phrase back to back "
            f"(e.g. {loops[rows[0]]!r} in {_clip(s.hyps[rows[0]], 80)!r}), a sign of degenerate decoding; n-gram "
            "matches in a loop inflate the length and can hide a brevity penalty. Try beam search with a length "
            "penalty or no_repeat_ngram, and check the model's training."),
            {"n": s.n, "segments": len(rows), "share": share,
             "examples": [s.example(i, repeated=loops[i]) for i in rows[: T["max_examples"]]]}))
    return out
