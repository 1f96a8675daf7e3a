"""Recipe: score a translation system's output file against reference files (``attnlab evaluate --hyp``).

read files -> check alignment -> sacreBLEU scores + bootstrap intervals -> findings and verdict
(:func:`attnlab.diagnostics.translation_verdict.annotate_translation`) -> report.json dictionary.
Nothing is printed here; the CLI renders the report (``attnlab.report.translation_terminal``).

Optional ``src_path`` (the test sources, aligned with the hypotheses) and ``train_src_path`` (the training
sources) add the source-leakage checks; the other findings need only the hypotheses and references.

Files are plain UTF-8 text, one segment per line. Only the line ending is removed (``\\n``, or ``\\r\\n``);
other whitespace is kept. An empty line is an empty segment, so line i of every file stays aligned; a
final newline does not make an extra segment. A UTF-8 byte-order mark at the start is dropped. Lines are
split on ``\\n`` only — never on the other characters ``str.splitlines`` treats as breaks (U+2028, form
feed, ...), which would shift every following line out of alignment.

The report has the CONTRACT report.json shape for translation::

    {"schema_version": 1, "task": "translation", "n": N,
     "metrics": {"bleu": float, "chrf": float, "ter": float},          # the requested ones
     "intervals": {"bleu": [low, high], ...},                           # when bootstrap > 0
     "signatures": {"bleu": "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0", ...},
     "details": {"bleu": {...}, "chrf": {...}, "ter": {...},             # corpus_scores' per-metric details
                 "n_refs": R, "inputs": {"hyp": {"path", "sha256", "lines"}, "refs": [{...}],
                                         "src": {...}, "train_src": {...}},  # when given
                 "bootstrap": {...}},                                   # bootstrap_intervals' record
     "findings": [{"code", "severity", "message", "evidence"}, ...],    # errors first
     "verdict": {"ready", "reasons", "checks", "blocking_findings", "policy"},
     "diagnostics": {"options": {...thresholds}, "leakage": [{...source overlap}]}}
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

from attnlab.diagnostics.translation_verdict import TranslationPolicy, annotate_translation
from attnlab.errors import InputError
from attnlab.io import read_input_text, sha256_file
from attnlab.metrics import translation as tm

PathLike = Union[str, os.PathLike]


def read_segments(path: PathLike) -> list[str]:
    """The segments of a plain-text file, one per line (see the module docstring for the exact rules).

    Raises :class:`InputError` when the file is missing, a directory, unreadable or not UTF-8.
    """
    text = read_input_text(path, expected="a text file with one segment per line")
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":  # the final newline ends the last line; it does not start a new one
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


MAX_SEGMENT_WORDS = 1000  # TER's shift search grows with the square of a segment's length (1,000 words: ~20 s)


def _check_segment_lengths(path: PathLike, segments: Sequence[str]) -> None:
    for i, seg in enumerate(segments):
        if len(seg) > MAX_SEGMENT_WORDS and len(seg.split()) > MAX_SEGMENT_WORDS:
            raise InputError(f"line {i + 1} of {path} holds {len(seg.split()):,} words; segments are sentences (at "
                             f"most {MAX_SEGMENT_WORDS:,} words: TER's cost grows with the square of a segment's "
                             "length) — split the hypothesis and reference files one sentence per line")


def _read_aligned(hyp_path: PathLike, ref_paths: Sequence[PathLike]) -> tuple[list[str], list[list[str]]]:
    hyps = read_segments(hyp_path)
    if not hyps:
        raise InputError(f"{hyp_path} is empty; the hypothesis file needs one translation per line")
    _check_segment_lengths(hyp_path, hyps)
    refs = []
    for ref_path in ref_paths:
        ref = read_segments(ref_path)
        if len(ref) != len(hyps):
            raise InputError(f"{hyp_path} has {len(hyps)} lines but {ref_path} has {len(ref)}; line i of the "
                             "hypothesis file must translate the same sentence as line i of every reference "
                             "file — pass matching files")
        _check_segment_lengths(ref_path, ref)
        if not any(seg.strip() for seg in ref):
            raise InputError(f"{ref_path} has only empty lines; pass the file with the reference translations")
        refs.append(ref)
    return hyps, refs


def _input_record(path: PathLike, lines: int) -> dict[str, Any]:
    return {"path": str(path), "sha256": sha256_file(path), "lines": lines}


def _read_sources(hyp_path: PathLike, n: int, src_path: PathLike | None, train_src_path: PathLike | None
                  ) -> tuple[list[str] | None, list[str] | None]:
    """The test sources (aligned with the hypotheses) and the training sources, where given."""
    if train_src_path is not None and src_path is None:
        raise InputError("--train-src needs --src: the leakage check looks for the test sources (SRC.txt, one per "
                         "hypothesis) in the training sources")
    sources = None if src_path is None else read_segments(src_path)
    if sources is not None and len(sources) != n:
        raise InputError(f"{src_path} has {len(sources)} lines but {hyp_path} has {n}; line i of the source file "
                         "must be the sentence that line i of the hypothesis file translates — pass matching files")
    train = None if train_src_path is None else read_segments(train_src_path)
    if train is not None and not train:
        raise InputError(f"{train_src_path} is empty; pass the training sources, one sentence per line")
    return sources, train


def score_translations(hyps: Sequence[str], refs: Sequence[Sequence[str]], *, bootstrap: int = tm.DEFAULT_N_BOOTSTRAP,
                       seed: int = tm.DEFAULT_SEED, metrics: Sequence[str] = tm.METRICS, tokenize: str | None = None,
                       lowercase: bool = False, chrf_word_order: int = 0, ter_case_sensitive: bool = False,
                       confidence: float = tm.DEFAULT_CONFIDENCE) -> dict[str, Any]:
    """The translation report.json dictionary (metrics, intervals, signatures, details) for in-memory segments.

    ``refs`` is a list of reference streams, each aligned with ``hyps``. Findings and verdict are added by
    :func:`attnlab.diagnostics.annotate_translation`; the training recipe and :func:`evaluate_translation_files`
    both build on this.
    """
    scores = tm.corpus_scores(hyps, refs, metrics=metrics, tokenize=tokenize, lowercase=lowercase,
                              chrf_word_order=chrf_word_order, ter_case_sensitive=ter_case_sensitive,
                              n_bootstrap=bootstrap, seed=seed, confidence=confidence)
    names = [name for name in tm.METRICS if name in scores]
    details: dict[str, Any] = {name: scores[name] for name in names}
    details["n_refs"] = scores["n_refs"]
    report: dict[str, Any] = {
        "schema_version": 1, "task": "translation", "n": scores["n"],
        "metrics": {name: scores[name]["score"] for name in names},
    }
    if "bootstrap" in scores:
        report["intervals"] = scores["bootstrap"]["intervals"]
        details["bootstrap"] = scores["bootstrap"]
    report["signatures"] = scores["signatures"]
    report["details"] = details
    return report


def evaluate_translation_files(
    hyp_path: PathLike, ref_paths: PathLike | Sequence[PathLike], *, bootstrap: int = tm.DEFAULT_N_BOOTSTRAP,
    seed: int = tm.DEFAULT_SEED, metrics: Sequence[str] = tm.METRICS, tokenize: str | None = None,
    lowercase: bool = False, chrf_word_order: int = 0, ter_case_sensitive: bool = False,
    confidence: float = tm.DEFAULT_CONFIDENCE, src_path: PathLike | None = None,
    train_src_path: PathLike | None = None, policy: TranslationPolicy = TranslationPolicy(),
) -> dict[str, Any]:
    """Score ``hyp_path`` against one or more reference files; return the report.json dictionary.

    ``bootstrap`` resamples (0 to skip the intervals) with ``seed`` give percentile intervals at
    ``confidence``; the metric options are those of :func:`attnlab.metrics.translation.corpus_scores`.
    ``src_path`` and ``train_src_path`` add the source-leakage findings; ``policy`` decides the verdict.
    Bad files or options raise :class:`InputError` naming the file and the fix.
    """
    if isinstance(ref_paths, (str, os.PathLike)):
        ref_paths = [ref_paths]
    ref_paths = list(ref_paths)
    if not ref_paths:
        raise InputError("no reference file given; pass at least one, e.g. --ref REF.txt")
    hyps, refs = _read_aligned(hyp_path, ref_paths)
    sources, train_sources = _read_sources(hyp_path, len(hyps), src_path, train_src_path)
    report = score_translations(hyps, refs, bootstrap=bootstrap, seed=seed, metrics=metrics, tokenize=tokenize,
                                lowercase=lowercase, chrf_word_order=chrf_word_order,
                                ter_case_sensitive=ter_case_sensitive, confidence=confidence)
    inputs = {"hyp": _input_record(hyp_path, len(hyps)), "refs": [_input_record(path, len(hyps)) for path in ref_paths]}
    if sources is not None:
        inputs["src"] = _input_record(src_path, len(sources))
    if train_sources is not None:
        inputs["train_src"] = _input_record(train_src_path, len(train_sources))
    report["details"]["inputs"] = inputs
    return annotate_translation(report, sources=sources, hypotheses=hyps, references=refs,
                                train_sources=train_sources, policy=policy)
