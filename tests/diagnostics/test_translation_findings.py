"""Translation findings and verdict: each finding fires on a constructed case and stays silent on the shared
parallel fixture; leakage counts match a plain set / brute-force Jaccard computed here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.diagnostics import Finding, TranslationPolicy, annotate_translation, decide_translation
from attnlab.diagnostics.translation import THRESHOLDS, repetition_loop, translation_findings
from attnlab.errors import InputError
from attnlab.metrics.translation import corpus_scores

PARALLEL = Path(__file__).resolve().parents[1] / "fixtures" / "parallel"


def _corpus(name: str) -> list[str]:
    return (PARALLEL / f"{name}.txt").read_text(encoding="utf-8").splitlines()


REF, REF_B, FAIR, POOR = _corpus("ref_a"), _corpus("ref_b"), _corpus("sys_fair"), _corpus("sys_poor")
SRC = REF_B  # stands in for the source side: aligned, and unrelated to the training side below
WORDS = sorted({w for line in REF + REF_B for w in re.findall(r"[a-z]+", line.lower())})


def codes(findings):
    return [f.code for f in findings]


def by_code(findings, code) -> Finding:
    return next(f for f in findings if f.code == code)


def synthetic(n: int, seed: int, lo: int = 10, hi: int = 16) -> list[str]:
    """Capitalised sentences of distinct random fixture words (no repeats, so no word-level loops)."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(lo, hi), replace=False)).capitalize() + "."
            for _ in range(n)]


def norm(text: str) -> str:
    """An independent normaliser for ASCII text: what leak_key does to it."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.replace("'", "")).lower().split())


# --------------------------------------------------------------------------------------------------
# The clean case
# --------------------------------------------------------------------------------------------------


def test_clean_fixture_is_silent_and_ready():
    details = corpus_scores(FAIR, [REF], metrics=("bleu",))
    train = POOR + synthetic(300, seed=1)
    kwargs = dict(sources=SRC, hypotheses=FAIR, references=[REF], train_sources=train, train_targets=train[::-1],
                  hit_max_length=[False] * len(FAIR), metrics_details=details)
    assert translation_findings(**kwargs) == []
    assert translation_findings(hypotheses=REF, references=[REF, REF_B]) == []  # a perfect system
    report = {"schema_version": 1, "task": "translation", "n": 30, "metrics": {"bleu": details["bleu"]["score"]}}
    out = annotate_translation(report, **kwargs)
    assert out["findings"] == [] and out["verdict"]["ready"] and out["verdict"]["reasons"] == []
    assert out["diagnostics"]["leakage"][0]["leakage_found"] is False
    json.dumps(out, allow_nan=False)


# --------------------------------------------------------------------------------------------------
# Leakage
# --------------------------------------------------------------------------------------------------


def _leaky(n_exact: int, n_near: int, n_test: int = 200):
    train = synthetic(2000, seed=2)
    test = synthetic(n_test, seed=3, lo=5, hi=8)  # short and random: never near a training sentence
    for k in range(n_exact):  # verbatim up to case and punctuation
        test[k] = train[k].upper().replace(".", " !!")
    for k in range(n_exact, n_exact + n_near):  # one word of 10+ replaced: Jaccard >= 9/11
        words = train[k].split()
        test[k] = " ".join(words[:-1] + ["zzz."])
    return train, test


def _brute_force(train: list[str], test: list[str]):
    train_keys = {norm(t) for t in train}
    train_sets = [set(norm(t).split()) for t in train]
    exact = [j for j, t in enumerate(test) if norm(t) in train_keys]
    near = [j for j, t in enumerate(test) if j not in exact and max(
        len(set(norm(t).split()) & b) / len(set(norm(t).split()) | b) for b in train_sets) >= 0.8]
    return exact, near


@pytest.mark.parametrize("n_exact,n_near", [(2, 0), (3, 4), (0, 12), (20, 1)])
def test_leakage_counts_match_brute_force(n_exact, n_near):
    train, test = _leaky(n_exact, n_near)
    exact, near = _brute_force(train, test)
    assert (len(exact), len(near)) == (n_exact, n_near)  # the construction does what it says
    found = translation_findings(sources=test, hypotheses=test, references=[test], train_sources=train)
    leak = {f.code: f for f in found if f.code.startswith("source_leakage")}
    assert set(leak) == {c for c, k in (("source_leakage_exact", exact), ("source_leakage_near", near)) if k}
    if exact:
        f = leak["source_leakage_exact"]
        assert f.evidence["segments"] == len(exact) and f.evidence["share"] == len(exact) / len(test)
        assert {e["test_index"] for e in f.evidence["examples"]} <= set(exact)
        assert f.severity == ("error" if len(exact) / len(test) > 0.01 else "warning")  # 2/200 = 1 %: warning
        assert "BLEU is inflated" in f.message and f"{len(exact)} of {len(test)}" in f.message
    if near:
        f = leak["source_leakage_near"]
        assert f.evidence["segments"] == len(near) and {e["test_index"] for e in f.evidence["examples"]} <= set(near)
        assert f.severity == ("error" if len(near) / len(test) > 0.05 else "warning")
        assert all(e["similarity"] >= 0.8 for e in f.evidence["examples"])


def test_memorised_pairs_need_source_and_target():
    train_src, test_src = _leaky(6, 0)
    train_tgt = synthetic(len(train_src), seed=4)
    refs = synthetic(len(test_src), seed=5)
    refs[0], refs[1], refs[2] = train_tgt[0].lower(), train_tgt[1], train_tgt[2] + " !"  # 3 memorised pairs
    expected = {(norm(s), norm(t)) for s, t in zip(train_src, train_tgt)}
    memorised = [j for j, (s, r) in enumerate(zip(test_src, refs)) if (norm(s), norm(r)) in expected]
    assert memorised == [0, 1, 2]
    found = translation_findings(sources=test_src, hypotheses=refs, references=[refs], train_sources=train_src,
                                 train_targets=train_tgt)
    f = by_code(found, "memorised_pairs")
    assert f.severity == "error" and f.evidence["segments"] == 3  # 1.5 % > 1 %
    assert [e["index"] for e in f.evidence["examples"]] == memorised and f.evidence["examples"][0]["train_index"] == 0
    assert by_code(found, "source_leakage_exact").evidence["segments"] == 6
    without = translation_findings(sources=test_src, hypotheses=refs, references=[refs], train_sources=train_src)
    assert "memorised_pairs" not in codes(without)


def test_blank_sources_are_not_leakage():
    found = translation_findings(sources=["", FAIR[1]], hypotheses=REF[:2], references=[REF[:2]],
                                 train_sources=["", "something else entirely"])
    assert not any(c.startswith("source_leakage") for c in codes(found))


@pytest.mark.parametrize("kwargs,match", [
    (dict(train_sources=REF), r"needs the test sources"),
    (dict(sources=SRC, train_targets=REF), r"train_targets needs train_sources"),
    (dict(sources=SRC[:-1]), r"sources has 29 segments but hypotheses has 30"),
    (dict(sources=SRC, train_sources=REF, train_targets=REF[:3]), r"train_targets has 3 segments"),
    (dict(hit_max_length=[True]), r"hit_max_length must hold one true/false per hypothesis \(30\)"),
    (dict(intervals=[1, 2]), r"intervals must be a mapping"),
])
def test_bad_inputs(kwargs, match):
    with pytest.raises(InputError, match=match):
        translation_findings(hypotheses=FAIR, references=[REF], **kwargs)


# --------------------------------------------------------------------------------------------------
# How the output looks
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make,kind", [
    (lambda h: h[:-1] + " " + h[-1], "space_before_punctuation"),
    (lambda h: h.replace("The ", "Don ' t ", 1) if h.startswith("The ") else h + " John 's", "split_contraction"),
    (lambda h: h + " &apos;", "escaped_entities"),
])
def test_tokenised_output_fires(make, kind):
    f = by_code(translation_findings(hypotheses=[make(h) for h in FAIR], references=[REF]), "tokenized_hypotheses")
    assert f.severity == "warning" and set(f.evidence["kinds"]) == {kind}
    assert f.evidence["share"] == 1.0 and "sacreBLEU expects detokenised text" in f.message
    assert "not comparable" in f.message and len(f.evidence["examples"]) == THRESHOLDS["max_examples"]


def test_typography_shared_with_the_references_is_not_tokenisation():
    refs = [r[:-1] + " ?" for r in REF]  # French typography: a space before '?'
    assert "tokenized_hypotheses" not in codes(translation_findings(hypotheses=refs, references=[refs]))


@pytest.mark.parametrize("marker", ["@@ ", "\u2581", " ##", "</w> "])
def test_subword_markers_are_an_error(marker):
    hyps = [h.replace("e", "e" + marker, 1) if marker != " ##" else h.replace(" ", " ##", 1) for h in FAIR]
    f = by_code(translation_findings(hypotheses=hyps, references=[REF]), "subword_markers")
    assert f.severity == "error" and f.evidence["segments"] > 20


def test_a_few_subword_markers_are_a_warning():
    refs = (REF * 4)[:100]
    hyps = refs[:]
    hyps[7] = "The mu@@ seum is closed on Mondays."
    f = by_code(translation_findings(hypotheses=hyps, references=[refs]), "subword_markers")
    assert f.severity == "warning" and f.evidence["segments"] == 1 and f.evidence["examples"][0]["index"] == 7


def test_lowercased_output():
    f = by_code(translation_findings(hypotheses=[h.lower() for h in FAIR], references=[REF]), "lowercased_hypotheses")
    assert f.severity == "warning" and f.evidence["share"] == 1.0 and "lowercase=True" in f.message
    lowered = [r.lower() for r in REF]
    assert "lowercased_hypotheses" not in codes(translation_findings(hypotheses=lowered, references=[lowered]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, len(REF) - 1), min_size=1, max_size=30))
def test_detokenised_fixture_never_looks_tokenised(rows):
    for hyps in ([FAIR[i] for i in rows], [POOR[i] for i in rows], [REF_B[i] for i in rows]):
        found = codes(translation_findings(hypotheses=hyps, references=[[REF[i] for i in rows]]))
        assert not {"tokenized_hypotheses", "subword_markers", "lowercased_hypotheses"} & set(found)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(REF) - 1), st.integers(1, 4)), min_size=1, max_size=30))
def test_a_space_before_every_comma_always_looks_tokenised(cuts):
    def with_comma(i, k):  # "The cat, sat on the mat."
        words = FAIR[i].split()
        k = min(k, len(words) - 1)
        return " ".join(words[:k]) + ", " + " ".join(words[k:])
    detok = [with_comma(i, k) for i, k in cuts]
    refs = [[REF[i] for i, _ in cuts]]
    assert "tokenized_hypotheses" not in codes(translation_findings(hypotheses=detok, references=refs))
    f = by_code(translation_findings(hypotheses=[h.replace(",", " ,") for h in detok], references=refs),
                "tokenized_hypotheses")
    assert f.evidence["kinds"]["space_before_punctuation"]["share"] == 1.0


# --------------------------------------------------------------------------------------------------
# Degenerate output
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_empty,severity", [(1, "warning"), (2, "error"), (3, "error")])
def test_empty_outputs(n_empty, severity):
    hyps = [""] * n_empty + FAIR[n_empty:]
    f = by_code(translation_findings(hypotheses=hyps, references=[REF]), "empty_hypotheses")
    assert f.severity == severity and f.evidence["segments"] == n_empty  # 2/30 = 6.7 % > 5 %
    assert [e["index"] for e in f.evidence["examples"]] == list(range(min(n_empty, 3)))


def test_empty_where_the_reference_is_empty_is_fine():
    assert "empty_hypotheses" not in codes(translation_findings(hypotheses=[""] + FAIR[1:],
                                                                references=[[""] + REF[1:]]))


@pytest.mark.parametrize("hits,n,severity", [(1, 200, "info"), (1, 30, "warning"), (4, 30, "error"), (0, 30, None)])
def test_max_length_reached(hits, n, severity):
    refs = (REF * 7)[:n]
    flags = np.zeros(n, dtype=bool)
    flags[:hits] = True
    found = translation_findings(hypotheses=refs, references=[refs], hit_max_length=flags)
    if severity is None:
        assert "max_length_reached" not in codes(found)
    else:
        f = by_code(found, "max_length_reached")
        assert f.severity == severity and f.evidence["segments"] == hits and f.evidence["share"] == hits / n


@pytest.mark.parametrize("text,loop", [
    ("the the the the", "the"), ("The, the. THE the end", "the"), ("a b c a b c a b c", "a b c"),
    ("one two three four one two three four one two three four", "one two three four"),
    ("very very good", None), ("ha ha ha", None), ("a b a b", None), ("", None),
])
def test_repetition_loop(text, loop):
    assert repetition_loop(text) == loop


@settings(max_examples=40, deadline=None)
@given(st.integers(0, len(REF) - 1), st.integers(0, 5), st.integers(1, 3))
def test_repeating_any_fixture_phrase_is_a_loop(i, start, n):
    words = FAIR[i].rstrip(".?").split()
    assert repetition_loop(FAIR[i]) is None and repetition_loop(REF[i]) is None
    phrase = words[min(start, len(words) - n):][:n]
    looped = " ".join(words + phrase * (4 if len(phrase) == 1 else 3))
    assert repetition_loop(looped) is not None


def test_repetition_loops_finding():
    hyps = FAIR[:]
    hyps[4] = "The train the train the train the train"
    f = by_code(translation_findings(hypotheses=hyps, references=[REF]), "repetition_loops")
    assert f.severity == "warning" and f.evidence["examples"][0] == {**f.evidence["examples"][0], "index": 4,
                                                                     "repeated": "the train"}
    refs = REF[:]
    refs[4] = hyps[4]  # the reference repeats too: not degenerate
    assert "repetition_loops" not in codes(translation_findings(hypotheses=hyps, references=[refs]))


# --------------------------------------------------------------------------------------------------
# Lengths and test-set size
# --------------------------------------------------------------------------------------------------


def test_length_ratio_reads_sacrebleu_details():
    details = corpus_scores(POOR, [REF], metrics=("bleu",))
    f = by_code(translation_findings(hypotheses=POOR, references=[REF], metrics_details=details), "length_ratio")
    assert f.severity == "error" and f.evidence["ratio"] == details["bleu"]["ratio"] < 0.5
    assert f.evidence["unit"] == "BLEU tokens" and f"{details['bleu']['bp']:.3f}" in f.message
    o = by_code(translation_findings(hypotheses=POOR, references=[REF]), "segment_length_outliers")
    assert o.severity == "warning" and o.evidence["segments"] == 30


@pytest.mark.parametrize("ratio,severity", [(0.79, "warning"), (0.8, None), (1.2, None), (1.3, "warning"),
                                            (2.0, "warning"), (2.01, "error"), (0.49, "error")])
def test_length_ratio_bounds(ratio, severity):
    details = {"bleu": {"sys_len": round(ratio * 1000), "ref_len": 1000, "ratio": ratio, "bp": 1.0}}
    found = translation_findings(hypotheses=FAIR, references=[REF], metrics_details=details)
    assert (by_code(found, "length_ratio").severity if "length_ratio" in codes(found) else None) == severity


def test_length_ratio_without_details_counts_words():
    halves = [" ".join(h.split()[: max(1, len(h.split()) * 2 // 3)]) for h in FAIR]
    f = by_code(translation_findings(hypotheses=halves, references=[REF]), "length_ratio")
    hyp = sum(len(re.findall(r"\w+", h.replace("'", ""))) for h in halves)
    ref = sum(len(re.findall(r"\w+", r.replace("'", ""))) for r in REF)  # one reference: the closest is it
    assert f.evidence["unit"] == "words" and f.evidence["ratio"] == pytest.approx(hyp / ref)


def test_a_single_outlier_is_info():
    hyps = FAIR[:]
    hyps[0] = "The cat sat on the mat and then it slept the whole long afternoon in the warm sun."
    f = by_code(translation_findings(hypotheses=hyps, references=[REF]), "segment_length_outliers")
    assert f.severity == "info" and f.evidence["segments"] == 1 and f.evidence["examples"][0]["ratio"] > 2


@pytest.mark.parametrize("n,intervals,fires", [
    (10, None, True), (30, None, False), (30, {"bleu": [40.0, 54.0]}, True), (30, {"bleu": [45.0, 52.0]}, False),
    (30, {"chrf": [60.0, 71.5], "ter": None}, True),
])
def test_small_test_set(n, intervals, fires):
    found = translation_findings(hypotheses=FAIR[:n], references=[REF[:n]], intervals=intervals)
    assert ("small_test_set" in codes(found)) == fires
    if fires:
        assert by_code(found, "small_test_set").severity == "warning"


# --------------------------------------------------------------------------------------------------
# Verdict
# --------------------------------------------------------------------------------------------------


def _report(**metrics):
    return {"schema_version": 1, "task": "translation", "n": len(FAIR), "metrics": metrics or {"bleu": 30.0}}


def test_leakage_makes_the_report_not_ready_reason_first():
    train = SRC[:10] + synthetic(100, seed=6)
    out = annotate_translation(_report(), sources=SRC, hypotheses=POOR, references=[REF], train_sources=train)
    verdict = out["verdict"]
    assert not verdict["ready"]
    assert verdict["reasons"][0].startswith("test sources appear in training: BLEU is inflated (10 of 30 test sources")
    assert verdict["blocking_findings"][:2] == ["source_leakage_exact", "length_ratio"]
    assert out["findings"][0]["severity"] == "error" and out["diagnostics"]["options"] == THRESHOLDS
    assert out["diagnostics"]["leakage"][0]["exact_rows"] == 10


def test_policy_bounds_and_warnings():
    warn = Finding("segment_length_outliers", "warning", "m", {})
    assert decide_translation(_report(bleu=30.0), [warn]).ready  # no BLEU bar by default; warnings never block
    v = decide_translation(_report(bleu=30.0, chrf=55.0), [], TranslationPolicy(min_bleu=30, min_chrf=56))
    assert not v.ready and v.reasons == ["chrF is 55.00, below the required 56"]
    assert [c["passed"] for c in v.checks] == [True, False]
    err = Finding("subword_markers", "error", "long message", {"segments": 3, "n": 30, "share": 0.1})
    assert decide_translation(_report(), [err], TranslationPolicy(block_on_findings=False)).ready
    assert decide_translation(_report(), [err]).reasons[0].startswith("the output still holds subword markers")
    odd = Finding("custom_check", "error", "a message of its own", {})
    assert decide_translation(_report(), [odd]).reasons == ["a message of its own"]


@pytest.mark.parametrize("make,match", [
    (lambda: TranslationPolicy(min_bleu=120), r"min_bleu must be a score in \[0, 100\]"),
    (lambda: TranslationPolicy.from_dict({"min_blue": 20}), r"unknown key\(s\) 'min_blue'"),
    (lambda: decide_translation(_report(chrf=50.0), [], TranslationPolicy(min_bleu=20)), r"needs BLEU in the report"),
    (lambda: decide_translation({"task": "classification"}, []), r"needs a translation report"),
    (lambda: annotate_translation(_report(), hypotheses=FAIR[:5], references=[REF[:5]]), r"these 5 hypotheses"),
])
def test_verdict_input_errors(make, match):
    with pytest.raises(InputError, match=match):
        make()


@pytest.mark.parametrize("hyps, expected", [(POOR, "error"), (FAIR, None)])
def test_low_bleu_follows_sacrebleus_corpus_score(hyps, expected):
    import sacrebleu

    scores = corpus_scores(hyps, [REF], n_bootstrap=0)
    bleu = sacrebleu.corpus_bleu(hyps, [REF]).score  # the reference value, computed here
    assert scores["bleu"]["score"] == pytest.approx(bleu)
    found = {f.code: f for f in translation_findings(hypotheses=hyps, references=[REF], metrics_details=scores)}
    band = "error" if bleu < THRESHOLDS["bleu_error"] else "warning" if bleu < THRESHOLDS["bleu_warning"] else None
    assert (found["low_bleu"].severity if "low_bleu" in found else None) == band
    if expected == "error":
        assert band == "error" and found["low_bleu"].evidence["bleu"] == pytest.approx(bleu, abs=0.01)


@pytest.mark.parametrize("score, severity", [(4.9, "error"), (10.0, "warning"), (19.99, "warning"), (20.0, None)])
def test_low_bleu_bands_and_verdict(score, severity):
    details = {"bleu": {"score": score}}
    found = [f for f in translation_findings(hypotheses=FAIR, references=[REF], metrics_details=details)
             if f.code == "low_bleu"]
    assert [f.severity for f in found] == ([severity] if severity else [])
    report = {"schema_version": 1, "task": "translation", "n": len(FAIR), "metrics": {"bleu": score},
              "details": details}
    annotate_translation(report, hypotheses=FAIR, references=[REF])
    assert report["verdict"]["ready"] is (severity != "error")
