"""Translation metrics through sacreBLEU, the reference implementation: BLEU, chrF (chrF++), TER.

attnlab computes none of these numbers itself. sacreBLEU extracts per-segment sufficient statistics
(n-gram matches, edits) and reduces them; attnlab validates the input, keeps sacreBLEU's signature
verbatim, and resamples those statistics for confidence intervals (STYLE convention 1).

``references`` is always a list of reference *sets*, one list per reference translation, each aligned
line by line with ``hypotheses`` (sacreBLEU's layout): ``[["ref 1 of seg 1", ...], ["ref 2 of seg 1", ...]]``.

The defaults reproduce ``sacrebleu REF -i SYS -m bleu chrf ter``: BLEU with the 13a tokenizer and ``exp``
smoothing, chrF2 (``chrf_word_order=2`` gives chrF++), and TER which — like sacreBLEU — is case-insensitive
unless ``ter_case_sensitive=True``. ``lowercase=True`` lowercases for every metric. ``tokenize`` only
applies to BLEU (chrF works on characters; TER has its own tercom tokenizer). The signatures say which.

Bootstraps default to 1,000 resamples with seed 12345 — sacreBLEU's own default seed, so the resamples are
exactly those of ``sacrebleu --confidence``.

sacreBLEU is imported inside the functions, so ``import attnlab.metrics.translation`` stays fast.

>>> hyps = ["the cat sat on the mat", "a dog barked at night"]
>>> refs = [["the cat sat on the mat", "the dog barked all night"]]
>>> out = corpus_scores(hyps, refs)
>>> round(out["bleu"]["score"], 2), out["n"], out["n_refs"]
(65.76, 2, 1)
>>> out["signatures"]["bleu"].split("|")[:5]
['nrefs:1', 'case:mixed', 'eff:no', 'tok:13a', 'smooth:exp']
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from attnlab.errors import InputError

if TYPE_CHECKING:  # sacreBLEU stays a lazy import at run time
    from sacrebleu.metrics.base import Metric, Score

METRICS = ("bleu", "chrf", "ter")
DEFAULT_N_BOOTSTRAP = 1000
#: sacreBLEU's own default (``SACREBLEU_SEED``), so attnlab resamples exactly what sacreBLEU resamples.
DEFAULT_SEED = 12345
DEFAULT_CONFIDENCE = 0.95
#: With this many differing segments or fewer, sacreBLEU's approximate randomization p-value is noticeably
#: too small: it does not count trials that tie the observed difference (probability 2^(1-k)).
AR_TIE_WARN_SEGMENTS = 10
_PAIRED_DEFAULT_SAMPLES = {"bs": 1000, "ar": 10000}


@dataclass(frozen=True)
class _Options:
    metrics: tuple[str, ...]
    tokenize: str | None
    lowercase: bool
    chrf_word_order: int
    ter_case_sensitive: bool


# --------------------------------------------------------------------------------------------------
# Validation (once, at the boundary)
# --------------------------------------------------------------------------------------------------


def _as_list(values: Any, what: str, example: str) -> list:
    if isinstance(values, (str, bytes, dict, set, frozenset)) or not isinstance(values, Iterable):
        raise InputError(f"{what} must be a list with one entry per segment; got {type(values).__name__}; "
                         f"pass e.g. {example}")
    return list(values)


def _check_strings(values: Any, what: str) -> list[str]:
    out = _as_list(values, what, "['the cat sat on the mat .', ...]")
    for i, value in enumerate(out):
        if not isinstance(value, str):
            raise InputError(f"{what}[{i}] is {type(value).__name__}, not a string; every segment must be text "
                             "(use '' for an empty one)")
    return [str(value) for value in out]  # plain str, also for numpy.str_


def _check_segments(hypotheses: Any, references: Any, *, name: str = "hypotheses") -> tuple[list[str], list[list[str]]]:
    """Hypotheses as a list of str; references as a non-empty list of aligned reference sets."""
    hyps = _check_strings(hypotheses, name)
    if not hyps:
        raise InputError(f"{name} is empty; give one translation per segment")
    ref_sets = _as_list(references, "references", "[refs] or [refs_a, refs_b] (one list per reference set)")
    if not ref_sets:
        raise InputError("references is empty; pass at least one reference set: references=[refs]")
    if all(isinstance(r, str) for r in ref_sets):
        raise InputError("references must be a list of reference sets, but got a list of strings; "
                         "wrap a single reference set in a list: references=[refs]")
    refs = [_check_strings(ref_set, f"reference set {k + 1}") for k, ref_set in enumerate(ref_sets)]
    for k, ref_set in enumerate(refs):
        if len(ref_set) != len(hyps):
            raise InputError(f"reference set {k + 1} has {len(ref_set)} segments but {name} has {len(hyps)}; "
                             "every reference set must be aligned segment by segment with the hypotheses")
        if not any(seg.strip() for seg in ref_set):
            raise InputError(f"reference set {k + 1} contains only empty segments; pass the reference "
                             "translations, one per hypothesis")
    return hyps, refs


def _check_options(metrics: Any, tokenize: Any, lowercase: Any, chrf_word_order: Any,
                   ter_case_sensitive: Any) -> _Options:
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [m for m in names if m not in METRICS]
    if not names or unknown or len(set(names)) != len(names):
        raise InputError(f"metrics must be distinct names from {', '.join(METRICS)}; got {list(names)!r}; "
                         "pick e.g. metrics=('bleu', 'chrf')")
    if tokenize is not None:
        from sacrebleu.metrics import BLEU

        if tokenize not in BLEU.TOKENIZERS:
            raise InputError(f"unknown BLEU tokenizer {tokenize!r}; pick one of {', '.join(BLEU.TOKENIZERS)} "
                             "(or None for sacreBLEU's default 13a)")
    if isinstance(chrf_word_order, bool) or not isinstance(chrf_word_order, int) or chrf_word_order < 0:
        raise InputError(f"chrf_word_order must be an integer >= 0 (0: chrF, 2: chrF++); got {chrf_word_order!r}")
    return _Options(names, tokenize, bool(lowercase), chrf_word_order, bool(ter_case_sensitive))


def _check_count(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _check_confidence(confidence: Any) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise InputError(f"confidence must be a number between 0 and 1 (e.g. 0.95); got {confidence!r}")
    return float(confidence)


# --------------------------------------------------------------------------------------------------
# sacreBLEU metric objects and their results as plain JSON values
# --------------------------------------------------------------------------------------------------


def _build_metrics(opts: _Options) -> dict[str, Metric]:
    """Fresh sacreBLEU metric objects (they carry per-corpus state, e.g. the number of references)."""
    from sacrebleu.metrics import BLEU, CHRF, TER

    makers = {
        "bleu": lambda: BLEU(tokenize=opts.tokenize, lowercase=opts.lowercase),
        "chrf": lambda: CHRF(word_order=opts.chrf_word_order, lowercase=opts.lowercase),
        "ter": lambda: TER(case_sensitive=opts.ter_case_sensitive and not opts.lowercase),
    }
    try:
        return {name: makers[name]() for name in opts.metrics}
    except ImportError as err:  # e.g. ja-mecab / ko-mecab / spm tokenizers need extras
        raise InputError(f"BLEU tokenizer {opts.tokenize!r} needs a package that is not installed ({err}); "
                         "install sacreBLEU's extra for it (e.g. pip install 'sacrebleu[ja]') or pick another "
                         "tokenizer") from None


def _details(name: str, score: Score) -> dict[str, Any]:
    """The numbers of a sacreBLEU score object, as plain Python values."""
    out: dict[str, Any] = {"name": score.name, "score": float(score.score)}
    if name == "bleu":
        out.update(precisions=[float(p) for p in score.precisions], bp=float(score.bp),
                   sys_len=int(score.sys_len), ref_len=int(score.ref_len), ratio=float(score.ratio),
                   counts=[int(c) for c in score.counts], totals=[int(t) for t in score.totals])
    elif name == "chrf":
        out.update(char_order=int(score.char_order), word_order=int(score.word_order), beta=int(score.beta))
    else:
        out.update(num_edits=int(score.num_edits), ref_length=float(score.ref_length))
    return out


def _statistics(metrics: dict[str, Metric], hyps: list[str], refs: list[list[str]]) -> dict[str, list]:
    """Per-segment sufficient statistics of each metric (sacreBLEU's, one row per segment)."""
    return {name: metric._extract_corpus_statistics(hyps, refs) for name, metric in metrics.items()}


def _resampled_scores(stats: list, metric: Metric, n_resamples: int, seed: int) -> np.ndarray:
    """Scores of ``n_resamples`` bootstrap resamples of the segments' statistics.

    The resample indices are drawn exactly as ``sacrebleu.significance._bootstrap_resample`` draws them
    (``default_rng(seed).choice(N, size=(n, N))``, here in chunks, which gives the same stream), and each
    resample is scored by sacreBLEU's own ``_compute_score_from_stats``.
    """
    table = np.asarray(stats, dtype=np.float64)  # (N, K): float64 keeps the integer counts exact
    n_seg = table.shape[0]
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_resamples, 4_000_000 // (n_seg * table.shape[1])))  # bounds memory at ~32 MB
    scores = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        idx = rng.choice(n_seg, size=(size, n_seg), replace=True)  # (size, N)
        sums = table[idx].sum(axis=1)  # (size, K)
        for j, row in enumerate(sums):
            scores[start + j] = metric._compute_score_from_stats(row).score
    return scores


def _intervals(metrics: dict[str, Metric], stats: dict[str, list], points: dict[str, float], *,
               n_resamples: int, seed: int, confidence: float) -> dict[str, Any]:
    from sacrebleu.significance import estimate_ci

    tail = 100 * (1 - confidence) / 2
    out: dict[str, Any] = {"method": "percentile", "n_resamples": n_resamples, "seed": seed,
                           "confidence": confidence, "intervals": {}, "resampled": {}, "signatures": {}}
    for name, metric in metrics.items():
        scores = _resampled_scores(stats[name], metric, n_resamples, seed)
        low, high = np.percentile(scores, [tail, 100 - tail])
        mean, half = estimate_ci(scores)  # sacreBLEU's "mu = mean ± half" of `sacrebleu --confidence`
        out["intervals"][name] = [float(low), float(high)]
        out["resampled"][name] = {"score": points[name], "mean": float(mean), "ci_halfwidth": float(half),
                                  "std": float(scores.std(ddof=1)) if n_resamples > 1 else 0.0}
        signature = metric.get_signature()
        signature.update("bs", n_resamples)
        signature.update("seed", str(seed))
        out["signatures"][name] = str(signature)
    return out


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def corpus_scores(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], *, metrics: Sequence[str] = METRICS,
    tokenize: str | None = None, lowercase: bool = False, chrf_word_order: int = 0,
    ter_case_sensitive: bool = False, n_bootstrap: int = 0, seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Any]:
    """Corpus-level BLEU / chrF / TER of ``hypotheses`` against aligned reference sets, via sacreBLEU.

    Returns plain JSON values::

        {"bleu": {"name": "BLEU", "score", "precisions": [p1..p4], "bp", "sys_len", "ref_len", "ratio",
                  "counts": [..], "totals": [..]},
         "chrf": {"name": "chrF2" | "chrF2++", "score", "char_order", "word_order", "beta"},
         "ter":  {"name": "TER", "score", "num_edits", "ref_length"},
         "signatures": {"bleu": "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0", ...},
         "n": N, "n_refs": R,
         "bootstrap": {...}}          # only when n_bootstrap > 0: see bootstrap_intervals

    Only the requested ``metrics`` appear. Signatures are ``str(metric.get_signature())``, verbatim.
    With ``n_bootstrap > 0`` the segment statistics are extracted once for both the scores and the
    intervals. Invalid input raises :class:`attnlab.errors.InputError`.
    """
    hyps, refs = _check_segments(hypotheses, references)
    opts = _check_options(metrics, tokenize, lowercase, chrf_word_order, ter_case_sensitive)
    n_bootstrap = _check_count(n_bootstrap, "n_bootstrap", minimum=0)
    if n_bootstrap:
        seed, confidence = _check_count(seed, "seed", minimum=0), _check_confidence(confidence)
    metric_objs = _build_metrics(opts)
    stats = _statistics(metric_objs, hyps, refs)
    out: dict[str, Any] = {}
    for name, metric in metric_objs.items():
        out[name] = _details(name, metric._aggregate_and_compute(stats[name]))
    out["signatures"] = {name: str(metric.get_signature()) for name, metric in metric_objs.items()}
    out["n"], out["n_refs"] = len(hyps), len(refs)
    if n_bootstrap:
        points = {name: out[name]["score"] for name in metric_objs}
        out["bootstrap"] = _intervals(metric_objs, stats, points, n_resamples=n_bootstrap, seed=seed,
                                      confidence=confidence)
    return out


def bootstrap_intervals(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], *, metrics: Sequence[str] = METRICS,
    tokenize: str | None = None, lowercase: bool = False, chrf_word_order: int = 0,
    ter_case_sensitive: bool = False, n_resamples: int = DEFAULT_N_BOOTSTRAP, seed: int = DEFAULT_SEED,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Any]:
    """Percentile bootstrap confidence intervals of the corpus scores, resampling segment statistics.

    Segments are resampled with replacement ``n_resamples`` times (seeded; the default seed 12345 is
    sacreBLEU's, so the resamples equal those of ``sacrebleu --confidence``); each resample's summed
    statistics are scored by sacreBLEU. Returns::

        {"method": "percentile", "n_resamples", "seed", "confidence",
         "intervals": {"bleu": [low, high], ...},                    # the (1-c)/2 and (1+c)/2 percentiles
         "resampled": {"bleu": {"score", "mean", "ci_halfwidth", "std"}, ...},  # mean ± ci_halfwidth is
                                                                     # sacreBLEU's own "μ = x ± y" summary
         "signatures": {"bleu": "nrefs:1|bs:1000|seed:12345|case:mixed|...", ...}}

    BLEU's bootstrap distribution is skewed (brevity penalty, geometric mean), so on tiny corpora the
    interval can miss the point score; that is information, not a bug.
    """
    hyps, refs = _check_segments(hypotheses, references)
    opts = _check_options(metrics, tokenize, lowercase, chrf_word_order, ter_case_sensitive)
    n_resamples = _check_count(n_resamples, "n_resamples", minimum=1)
    seed, confidence = _check_count(seed, "seed", minimum=0), _check_confidence(confidence)
    metric_objs = _build_metrics(opts)
    stats = _statistics(metric_objs, hyps, refs)
    points = {name: float(m._aggregate_and_compute(stats[name]).score) for name, m in metric_objs.items()}
    return _intervals(metric_objs, stats, points, n_resamples=n_resamples, seed=seed, confidence=confidence)


def sentence_bleu_scores(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], *, tokenize: str | None = None,
    lowercase: bool = False,
) -> dict[str, Any]:
    """Per-segment BLEU with effective order (sacreBLEU ``BLEU(effective_order=True).sentence_score``).

    Returns ``{"scores": [float per segment], "signature": "nrefs:1|case:mixed|eff:yes|..."}``.

    These are for error analysis. Their mean is **not** corpus BLEU: corpus BLEU sums n-gram counts over
    all segments before taking precisions and the brevity penalty, so long segments weigh more and one
    segment's short length is offset by another's. Report :func:`corpus_scores` as the system's BLEU.

    >>> out = sentence_bleu_scores(["the cat sat", "a dog"], [["the cat sat", "the dog"]])
    >>> [round(s, 1) for s in out["scores"]], out["signature"].split("|")[2]
    ([100.0, 50.0], 'eff:yes')
    """
    from sacrebleu.metrics import BLEU

    hyps, refs = _check_segments(hypotheses, references)
    opts = _check_options(("bleu",), tokenize, lowercase, 0, False)
    metric = BLEU(tokenize=opts.tokenize, lowercase=opts.lowercase, effective_order=True)
    scores = [float(metric.sentence_score(hyp, [ref_set[i] for ref_set in refs]).score)
              for i, hyp in enumerate(hyps)]
    return {"scores": scores, "signature": str(metric.get_signature())}


@contextlib.contextmanager
def _sacrebleu_seed(seed: int) -> Iterator[None]:
    """``PairedTest`` reads its seed only from ``$SACREBLEU_SEED``; set it for the duration."""
    old = os.environ.get("SACREBLEU_SEED")
    os.environ["SACREBLEU_SEED"] = str(seed)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SACREBLEU_SEED", None)
        else:
            os.environ["SACREBLEU_SEED"] = old


def _result(result: Any) -> dict[str, Any]:
    mean = None if result.mean is None else float(result.mean)
    half = None if result.ci is None else float(result.ci)
    return {"score": float(result.score), "mean": mean, "ci_halfwidth": half,
            "interval": None if mean is None else [mean - half, mean + half]}


def _differing_statistics(opts: _Options, name: str, base: list[str], system: list[str],
                          refs: list[list[str]], idx: list[int]) -> int:
    """How many of the segments ``idx`` (where the texts differ) also differ in ``name``'s statistics."""
    if not idx:
        return 0
    metric = _build_metrics(replace(opts, metrics=(name,)))[name]
    sub_refs = [[ref_set[i] for i in idx] for ref_set in refs]
    a = metric._extract_corpus_statistics([base[i] for i in idx], sub_refs)
    b = metric._extract_corpus_statistics([system[i] for i in idx], sub_refs)
    return sum(1 for x, y in zip(a, b) if list(x) != list(y))


def _paired_entry(key: str, score_name: str, bl: Any, sy: Any, k: int, method: str) -> dict[str, Any]:
    """One metric's paired result; ``k`` = segments whose statistics differ (exact when few)."""
    entry = {"name": score_name, "higher_is_better": key != "ter", "baseline": _result(bl),
             "system": _result(sy), "delta": float(sy.score - bl.score), "p_value": float(sy.p_value),
             "note": None}
    if k == 0:
        entry["p_value"] = 1.0
        entry["note"] = (f"baseline and system have identical {score_name} segment statistics: nothing to "
                         f"test, p = 1 (sacreBLEU reports {float(sy.p_value):.4g} for this tie)")
    elif method == "ar" and k <= AR_TIE_WARN_SEGMENTS:
        entry["note"] = (f"only {k} segment(s) differ in {score_name} statistics; sacreBLEU's approximate "
                         f"randomization does not count tied trials (about {2.0 ** (1 - k):.2g} of them), "
                         "so this p-value is too small; use method='bs'")
    return entry


def paired_significance(
    baseline_hypotheses: Sequence[str], system_hypotheses: Sequence[str], references: Sequence[Sequence[str]],
    *, method: str = "bs", n: int | None = None, metrics: Sequence[str] = METRICS, tokenize: str | None = None,
    lowercase: bool = False, chrf_word_order: int = 0, ter_case_sensitive: bool = False,
    seed: int = DEFAULT_SEED, ci_resamples: int = DEFAULT_N_BOOTSTRAP,
) -> dict[str, Any]:
    """Is ``system`` better than ``baseline`` on the same segments? sacreBLEU's ``PairedTest``.

    ``method="bs"``: paired bootstrap resampling (Koehn 2004; sacreBLEU replicates Moses), ``n`` resamples
    (default 1,000). ``method="ar"``: paired approximate randomization (Riezler & Maxwell 2005), ``n``
    trials (default 10,000), with ``ci_resamples`` bootstrap resamples for the confidence intervals. Both
    are two-sided; ``seed`` must be >= 1 (sacreBLEU treats 0 as "no seed"). Returns::

        {"method", "n_samples", "seed", "n", "n_refs", "differing_segments",
         "metrics": {"bleu": {"name": "BLEU", "higher_is_better": True,     # False for TER
                              "baseline": {"score", "mean", "ci_halfwidth", "interval": [lo, hi]},
                              "system": {...}, "delta": system - baseline, "p_value", "note": str | None},
                     ...},
         "signatures": {"bleu": "nrefs:1|bs:1000|seed:12345|case:mixed|...", ...}}   # sacreBLEU's, verbatim

    ``mean ± ci_halfwidth`` is sacreBLEU's 95% bootstrap interval. Where baseline and system have identical
    segment statistics for a metric, sacreBLEU's strict ``>`` count reports p = 1/(n+1) ("significant");
    attnlab reports p = 1.0 with a note instead. With AR and only a few differing segments sacreBLEU's p
    is too small for the same reason (ties); the note says so and suggests ``method="bs"``.
    """
    from sacrebleu.significance import PairedTest

    base, refs = _check_segments(baseline_hypotheses, references, name="baseline hypotheses")
    system, _ = _check_segments(system_hypotheses, references, name="system hypotheses")
    opts = _check_options(metrics, tokenize, lowercase, chrf_word_order, ter_case_sensitive)
    if method not in _PAIRED_DEFAULT_SAMPLES:
        raise InputError(f"method must be 'bs' (paired bootstrap) or 'ar' (approximate randomization); "
                         f"got {method!r}")
    n_samples = _PAIRED_DEFAULT_SAMPLES[method] if n is None else _check_count(n, "n", minimum=1)
    seed = _check_count(seed, "seed (sacreBLEU treats 0 as unseeded)", minimum=1)
    ci_resamples = _check_count(ci_resamples, "ci_resamples", minimum=1)
    metric_objs = _build_metrics(opts)
    with _sacrebleu_seed(seed):
        test = PairedTest([("baseline", base), ("system", system)], metric_objs, refs, test_type=method,
                          n_samples=n_samples, n_ar_confidence=ci_resamples if method == "ar" else -1)
    signatures, results = test()
    by_obj = {id(metric): key for key, metric in metric_objs.items()}
    differing = [i for i, (a, b) in enumerate(zip(base, system)) if a != b]
    out: dict[str, Any] = {"method": method, "n_samples": n_samples, "seed": seed, "n": len(base),
                           "n_refs": len(refs), "differing_segments": len(differing), "metrics": {},
                           "signatures": {}}
    for score_name, metric in test.metrics.items():
        key = by_obj[id(metric)]
        k = len(differing)
        if k <= AR_TIE_WARN_SEGMENTS:  # few differ: count those whose statistics differ too
            k = _differing_statistics(opts, key, base, system, refs, differing)
        out["metrics"][key] = _paired_entry(key, score_name, *results[score_name], k, method)
        out["signatures"][key] = str(signatures[score_name])
    return out
