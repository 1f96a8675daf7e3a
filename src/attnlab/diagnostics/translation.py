"""Translation findings: what a BLEU / chrF / TER number needs said beside it, read off the segments.

:func:`translation_findings` checks the test set, the system output and (optionally) the training data.
Every finding carries its numbers and a few examples in ``evidence``; the thresholds are :data:`THRESHOLDS`.

=========================  ========  ==================================================================
code                       severity  fires when
=========================  ========  ==================================================================
source_leakage_exact       error     > 1 % of test sources equal a training source after :func:`leak_key`
                           warning   at most 1 % (short stock phrases recur in any large corpus)
source_leakage_near        warning   a test source has a training source at word Jaccard >= 0.8;
                           error     in more than 5 % of the segments (as for classification leakage)
memorised_pairs            error     > 1 % of test pairs: source AND a reference equal a training pair
                           warning   at most 1 %
subword_markers            error     >= 2 % of outputs hold ``@@``, ``▁``, ``##`` or ``</w>`` (and more
                           warning   than twice the references' share); fewer: a warning
tokenized_hypotheses       warning   >= 2 % of outputs have " ,"/" ." / "don ' t" / " 's" / ``&apos;``
                                     (and more than twice the references' share)
lowercased_hypotheses      warning   >= 90 % of outputs have no capital while >= 50 % of references do
empty_hypotheses           warning   an output is empty where a reference is not; error above 5 %
max_length_reached         info      an output hit the decoder's maximum length; warning > 1 %, error > 10 %
repetition_loops           info      an output repeats a word 4 times or a 2-4-gram 3 times in a row (and
                                     its reference does not); warning > 1 %, error > 10 %
length_ratio               warning   corpus hyp/ref length ratio outside [0.8, 1.2]; error outside [0.5, 2]
segment_length_outliers    info      >= 1 % of segments (reference >= 5 words) outside [0.5, 2] x;
                           warning   more than 5 %
small_test_set             warning   fewer than 30 segments, or a bootstrap interval wider than 10 points
low_bleu                   error     corpus BLEU (sacreBLEU) below 10: "almost useless" output
                           warning   below 20: "hard to get the gist" (Google's rough interpretation guide)
=========================  ========  ==================================================================

The tokenisation checks compare with the references, so typography the references share (French
" ?", "50 %") is not flagged. Leakage uses :func:`attnlab.diagnostics.leakage.find_overlap` (MinHash LSH,
verified exactly); the tiny-test-set bounds are classification's (:class:`DiagnosticOptions`: 30 examples,
a 0.1-wide interval, i.e. 10 points on sacreBLEU's 0-100 scale).

>>> refs = [["The cat sat on the mat.", "It is raining in London today."]]
>>> [f.code for f in translation_findings(hypotheses=["the cat sat on the mat .", "it rains ."],
...                                       references=refs)]
['tokenized_hypotheses', 'lowercased_hypotheses', 'length_ratio', 'segment_length_outliers', 'small_test_set']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attnlab.diagnostics.findings import Finding, sort_findings
from attnlab.diagnostics.leakage import OverlapResult, find_overlap, leak_key
from attnlab.diagnostics.leakage_findings import _clip
from attnlab.diagnostics.leakage_findings import _examples as _pair_examples
from attnlab.diagnostics.translation_output import (THRESHOLDS, _degenerate, _lowercased, _Segments, _subwords,
                                                    _tokenised, repetition_loop)
from attnlab.errors import InputError
from attnlab.metrics.translation import _check_segments, _check_strings

__all__ = ["THRESHOLDS", "repetition_loop", "translation_findings"]

T = THRESHOLDS


def _optional_strings(values: Any, what: str, n: int | None) -> list[str] | None:
    if values is None:
        return None
    out = _check_strings(values, what)
    if n is not None and len(out) != n:
        raise InputError(f"{what} has {len(out)} segments but hypotheses has {n}; they must be aligned line by line")
    return out


def _flags(values: Any, n: int) -> list[bool] | None:
    if values is None:
        return None
    out = list(values)
    if len(out) != n or not all(v in (0, 1) for v in out):  # True/False, 0/1 and NumPy booleans
        raise InputError(f"hit_max_length must hold one true/false per hypothesis ({n}); got {len(out)} values")
    return [bool(v) for v in out]


# --------------------------------------------------------------------------------------------------
# Leakage
# --------------------------------------------------------------------------------------------------


def _memorised(exact: list[int], s: _Segments, train_sources: list[str], train_targets: list[str]
               ) -> list[tuple[int, int]]:
    """(test row, train row) for the ``exact`` source duplicates whose training target equals a reference."""
    wanted = {leak_key(s.sources[j]) for j in exact}
    targets: dict[str, dict[str, int]] = {}  # source key -> target key -> first train row
    for i, src in enumerate(train_sources):
        if (key := leak_key(src)) in wanted:
            targets.setdefault(key, {}).setdefault(leak_key(train_targets[i]), i)
    out = []
    for j in sorted(exact):
        seen = targets.get(leak_key(s.sources[j]), {})
        row = next((seen[k] for ref in s.refs if (k := leak_key(ref[j])) in seen), None)
        if row is not None:
            out.append((j, row))
    return out


def _memorised_finding(pairs: list[tuple[int, int]], s: _Segments, train_sources: list[str],
                       train_targets: list[str], base: dict[str, Any]) -> list[Finding]:
    if not pairs:
        return []
    share = len(pairs) / s.n
    ex = [s.example(j, train_index=i, train_source=_clip(train_sources[i]), train_target=_clip(train_targets[i]))
          for j, i in pairs[: T["max_examples"]]]
    return [Finding("memorised_pairs", "error" if share > T["exact_error_share"] else "warning", (
        f"Memorised pairs: {len(pairs):,} of {s.n:,} test pairs ({share:.1%}) occur in the training data with both "
        f"the source and the target (e.g. {ex[0]['source']!r} -> {ex[0]['reference']!r}): the model is graded on "
        "translations it was trained to reproduce. Remove them from the test set."),
        {**base, "segments": len(pairs), "share": share, "error_share": T["exact_error_share"], "examples": ex})]


def _leakage(s: _Segments, train_sources: list[str], train_targets: list[str] | None, seed: int
             ) -> tuple[list[Finding], OverlapResult]:
    """Exact and near-duplicate test sources in the training sources (blank sources are not counted)."""
    overlap = find_overlap(train_sources, s.sources, threshold=T["near_similarity"], names=("train", "test"), seed=seed)
    base = {"n": s.n, "n_train": len(train_sources), "settings": overlap.settings}
    rows = {kind: [p["test_index"] for p in overlap.pairs if p["kind"] == kind and p["test_text"].strip()]
            for kind in ("exact", "near")}
    out = []
    if rows["exact"]:
        share, ex = len(rows["exact"]) / s.n, _pair_examples(overlap, "exact", T["max_examples"])
        out.append(Finding("source_leakage_exact", "error" if share > T["exact_error_share"] else "warning", (
            f"Source leakage: {len(rows['exact']):,} of {s.n:,} test source sentences ({share:.1%}) also occur in the "
            f"training sources after normalising case, punctuation, whitespace and Unicode (e.g. {ex[0]['test_text']!r}"
            "); the model may have learnt their translations, so BLEU is inflated. Remove them from the test set and "
            f"score again (more than {T['exact_error_share']:.0%} is an error)."),
            {**base, "segments": len(rows["exact"]), "share": share, "error_share": T["exact_error_share"],
             "examples": ex}))
    if rows["near"]:
        share, ex = len(rows["near"]) / s.n, _pair_examples(overlap, "near", T["max_examples"])
        out.append(Finding("source_leakage_near", "error" if share > T["near_error_share"] else "warning", (
            f"Near-duplicate source leakage: {len(rows['near']):,} of {s.n:,} test sources ({share:.1%}) have a "
            f"training source with word Jaccard >= {T['near_similarity']:g} (e.g. {ex[0]['similarity']:.2f}: "
            f"{ex[0]['test_text']!r} ~ {ex[0]['train_text']!r}). Their translations reward memorised templates; "
            "report BLEU without them too."),
            {**base, "segments": len(rows["near"]), "share": share, "error_share": T["near_error_share"],
             "examples": ex}))
    if train_targets is not None and rows["exact"]:
        out += _memorised_finding(_memorised(rows["exact"], s, train_sources, train_targets), s, train_sources,
                                  train_targets, base)
    return out, overlap


# --------------------------------------------------------------------------------------------------
# Lengths and the size of the test set
# --------------------------------------------------------------------------------------------------


def _words(text: str) -> int:
    """Words without punctuation, so a tokenised " ." does not count as one."""
    return len(leak_key(text).split()) if text.strip() else 0


def _closest(hyp_len: int, ref_lens: list[int]) -> int:
    """sacreBLEU's effective reference length: the closest one, the shorter on a tie."""
    return min(ref_lens, key=lambda r: (abs(r - hyp_len), r))


def _corpus_ratio(hyp_lens: list[int], ref_lens: list[int], details: Mapping[str, Any] | None
                  ) -> tuple[float | None, dict[str, Any]]:
    """hyp/ref length ratio: sacreBLEU's (BLEU details) when given, else counted in words here."""
    bleu = (details or {}).get("bleu")
    bleu = bleu if isinstance(bleu, Mapping) else {}
    if {"sys_len", "ref_len"} <= set(bleu):
        sys_len, ref_len, unit = int(bleu["sys_len"]), int(bleu["ref_len"]), "BLEU tokens"
    else:
        sys_len, ref_len, unit = sum(hyp_lens), sum(ref_lens), "words"
    ratio = bleu.get("ratio", sys_len / ref_len if ref_len else None)
    return ratio, {"sys_len": sys_len, "ref_len": ref_len, "unit": unit, "bp": bleu.get("bp")}


def _corpus_length(s: _Segments, ratio: float | None, ev: dict[str, Any]) -> list[Finding]:
    (err_lo, err_hi), (warn_lo, warn_hi) = T["ratio_error"], T["ratio_warning"]
    if ratio is None or warn_lo <= ratio <= warn_hi:
        return []
    short = ratio < 1
    bp = f", and BLEU's brevity penalty is {ev['bp']:.3f}" if short and ev.get("bp") is not None else ""
    why = ("the outputs are too short: content is dropped" + bp if short else
           "the outputs are too long: run-on, repeated or hallucinated text lowers precision")
    return [Finding("length_ratio", "warning" if err_lo <= ratio <= err_hi else "error", (
        f"Length ratio hyp/ref is {ratio:.3f} ({ev['sys_len']:,} vs {ev['ref_len']:,} {ev['unit']}), outside "
        f"[{warn_lo:g}, {warn_hi:g}]: {why}. Look at the shortest and longest outputs before reading BLEU."),
        {"n": s.n, "ratio": ratio, **ev, "warning_range": T["ratio_warning"], "error_range": T["ratio_error"]})]


def _segment_lengths(s: _Segments, hyp_lens: list[int], ref_lens: list[int]) -> list[Finding]:
    lo, hi = T["segment_ratio"]
    rows = [i for i, (h, r) in enumerate(zip(hyp_lens, ref_lens))
            if h and r >= T["segment_min_reference_words"] and not lo <= h / r <= hi]
    share = len(rows) / s.n
    if not rows or share < T["outlier_info_share"]:
        return []
    return [Finding("segment_length_outliers", "warning" if share > T["outlier_warning_share"] else "info", (
        f"Length outliers: {len(rows):,} of {s.n:,} segments ({share:.1%}) are under {lo:g}x or over {hi:g}x the "
        f"reference's length (references of {T['segment_min_reference_words']}+ words; e.g. segment {rows[0]}: "
        f"{hyp_lens[rows[0]]} vs {ref_lens[rows[0]]} words). Read them: truncation, a dropped clause or a loop."),
        {"n": s.n, "segments": len(rows), "share": share, "range": T["segment_ratio"],
         "examples": [s.example(i, ratio=hyp_lens[i] / ref_lens[i]) for i in rows[: T["max_examples"]]]})]


def _lengths(s: _Segments, details: Mapping[str, Any] | None) -> list[Finding]:
    hyp_lens = [_words(h) for h in s.hyps]
    ref_lens = [_closest(n, [_words(ref[i]) for ref in s.refs]) for i, n in enumerate(hyp_lens)]
    return _corpus_length(s, *_corpus_ratio(hyp_lens, ref_lens, details)) + _segment_lengths(s, hyp_lens, ref_lens)


def _small_test_set(n: int, intervals: Mapping[str, Any] | None) -> list[Finding]:
    widths = {k: v[1] - v[0] for k, v in (intervals or {}).items() if v is not None}
    reasons = []
    if n < T["min_segments"]:
        reasons.append(f"it has only {n} segments (fewer than {T['min_segments']})")
    widest = max(widths, key=widths.get, default=None)
    if widest is not None and widths[widest] > T["max_ci_width"]:
        low, high = intervals[widest]
        reasons.append(f"the {widest.upper() if widest != 'chrf' else 'chrF'} interval [{low:.2f}, {high:.2f}] is "
                       f"{widths[widest]:.1f} points wide (more than {T['max_ci_width']:g})")
    if not reasons:
        return []
    msg = (f"Test set too small for a precise claim: {' and '.join(reasons)}. Score differences smaller than the "
           "interval are noise; evaluate on more segments (a standard test set has 1,000 or more).")
    return [Finding("small_test_set", "warning", msg, {
        "n": n, "min_segments": T["min_segments"], "widths": widths, "max_width": T["max_ci_width"]})]


def _low_bleu(details: Mapping[str, Any] | None) -> list[Finding]:
    """BLEU in the rough bands where output is hardly usable (sacreBLEU's scale, default 13a tokenisation)."""
    bleu = (details or {}).get("bleu")
    score = bleu.get("score") if isinstance(bleu, Mapping) else None
    if not isinstance(score, (int, float)) or score >= T["bleu_warning"]:
        return []
    error = score < T["bleu_error"]
    band = "almost useless" if error else "hard to get the gist"
    msg = (f"Low BLEU: {score:.1f} is in the band where translations are {band} (below "
           f"{T['bleu_error' if error else 'bleu_warning']:g}, Google's rough interpretation guide); BLEU is not "
           "comparable across languages and test sets, so read chrF and the samples too, but do not ship this "
           "as a translator without a better model, more training or more data.")
    return [Finding("low_bleu", "error" if error else "warning", msg,
                    {"bleu": round(float(score), 2), "error_below": T["bleu_error"],
                     "warning_below": T["bleu_warning"]})]


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------


def _diagnose(*, sources: Sequence[str] | None, hypotheses: Sequence[str], references: Sequence[Sequence[str]],
              train_sources: Sequence[str] | None, train_targets: Sequence[str] | None,
              hit_max_length: Sequence[bool] | None, metrics_details: Mapping[str, Any] | None,
              intervals: Mapping[str, Any] | None, seed: int) -> tuple[list[Finding], OverlapResult | None]:
    """:func:`translation_findings` and the source overlap it found (None without training sources)."""
    hyps, refs = _check_segments(hypotheses, references)
    s = _Segments(hyps, refs, _optional_strings(sources, "sources", len(hyps)))
    train_src = _optional_strings(train_sources, "train_sources", None)
    train_tgt = _optional_strings(train_targets, "train_targets", None if train_src is None else len(train_src))
    if train_tgt is not None and train_src is None:
        raise InputError("train_targets needs train_sources (the aligned training sources) as well")
    if train_src is not None and s.sources is None:
        raise InputError("the leakage check needs the test sources: pass sources= (e.g. --src SRC.txt) with "
                         "train_sources")
    for name, value in (("metrics_details", metrics_details), ("intervals", intervals)):
        if value is not None and not isinstance(value, Mapping):
            raise InputError(f"{name} must be a mapping such as report['{'details' if name[0] == 'm' else name}'], "
                             f"got {type(value).__name__}")
    found, overlap = [], None
    if train_src:
        found, overlap = _leakage(s, train_src, train_tgt, seed)
    found += _subwords(s) + _tokenised(s) + _lowercased(s)
    found += _degenerate(s, _flags(hit_max_length, s.n)) + _lengths(s, metrics_details)
    found += _small_test_set(s.n, intervals) + _low_bleu(metrics_details)
    return sort_findings(found), overlap


def translation_findings(
    *, sources: Sequence[str] | None = None, hypotheses: Sequence[str], references: Sequence[Sequence[str]],
    train_sources: Sequence[str] | None = None, train_targets: Sequence[str] | None = None,
    hit_max_length: Sequence[bool] | None = None, metrics_details: Mapping[str, Any] | None = None,
    intervals: Mapping[str, Any] | None = None, seed: int = 0,
) -> list[Finding]:
    """Every translation finding (see the module docstring), errors first.

    Args:
        sources: the test source sentences, aligned with ``hypotheses`` (needed for the leakage checks).
        hypotheses: the system output, one segment each, detokenised.
        references: reference sets, each aligned with ``hypotheses`` (``[refs]`` or ``[refs_a, refs_b]``).
        train_sources: the training sources; test sources found there (exactly or nearly) are leakage.
        train_targets: the training targets aligned with ``train_sources``; with them, test pairs whose
            source and a reference both occur in training are ``memorised_pairs``.
        hit_max_length: per hypothesis, whether the decoder stopped at its maximum length.
        metrics_details: ``report["details"]`` or :func:`attnlab.metrics.translation.corpus_scores`'s
            output; its BLEU ``sys_len`` / ``ref_len`` / ``ratio`` / ``bp`` give the corpus length ratio
            (else it is counted in words, punctuation left out, against the closest reference).
        intervals: ``{"bleu": [low, high], ...}`` bootstrap intervals (0-100 scale), for ``small_test_set``.
        seed: seeds the MinHash permutations of the near-duplicate search.

    Raises:
        InputError: misaligned or non-text inputs, training targets without sources, or training sources
            without test sources.

    >>> refs = [["The cat sat on the mat.", "A dog barked all night long."]]
    >>> fs = translation_findings(sources=["Le chat.", "Un chien."], hypotheses=["The cat sat on the mat.", ""],
    ...                           references=refs, train_sources=["le chat !", "Bonjour."])
    >>> [(f.code, f.severity) for f in fs]  # doctest: +NORMALIZE_WHITESPACE
    [('source_leakage_exact', 'error'), ('empty_hypotheses', 'error'), ('length_ratio', 'warning'),
     ('small_test_set', 'warning')]
    """
    return _diagnose(sources=sources, hypotheses=hypotheses, references=references, train_sources=train_sources,
                     train_targets=train_targets, hit_max_length=hit_max_length, metrics_details=metrics_details,
                     intervals=intervals, seed=seed)[0]
