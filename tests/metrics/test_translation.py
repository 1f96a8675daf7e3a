"""Translation metrics: equal to sacreBLEU called directly, signatures verbatim, bootstrap and paired tests."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest
import sacrebleu
from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.significance import PairedTest

from attnlab.errors import InputError
from attnlab.metrics.translation import (
    bootstrap_intervals,
    corpus_scores,
    paired_significance,
    sentence_bleu_scores,
)

# A small hand-written parallel corpus: two reference sets, a fair system and a poor one.
PARALLEL = Path(__file__).resolve().parents[1] / "fixtures" / "parallel"


def _corpus(name: str) -> list[str]:
    """A hand-written 30-segment parallel text, one segment per line (tests/fixtures/parallel/)."""
    return (PARALLEL / f"{name}.txt").read_text(encoding="utf-8").splitlines()


REF_A, REF_B = _corpus("ref_a"), _corpus("ref_b")
SYS_FAIR, SYS_POOR = _corpus("sys_fair"), _corpus("sys_poor")
REFS_1 = [REF_A]
REFS_2 = [REF_A, REF_B]


def _sacrebleu(hyps, refs, *, tokenize=None, lowercase=False, word_order=0, ter_case_sensitive=False):
    """Scores and signatures from sacreBLEU called directly, the way its own docs do it."""
    metrics = {"bleu": BLEU(tokenize=tokenize, lowercase=lowercase),
               "chrf": CHRF(word_order=word_order, lowercase=lowercase),
               "ter": TER(case_sensitive=ter_case_sensitive and not lowercase)}
    scores = {name: m.corpus_score(hyps, refs) for name, m in metrics.items()}
    return scores, {name: str(m.get_signature()) for name, m in metrics.items()}


# --------------------------------------------------------------------------------------------------
# corpus_scores == sacreBLEU
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("refs", [REFS_1, REFS_2], ids=["1ref", "2refs"])
@pytest.mark.parametrize("tokenize", [None, "13a", "intl", "char", "none"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_corpus_scores_equal_sacrebleu(refs, tokenize, lowercase):
    out = corpus_scores(SYS_FAIR, refs, tokenize=tokenize, lowercase=lowercase)
    expected, signatures = _sacrebleu(SYS_FAIR, refs, tokenize=tokenize, lowercase=lowercase)
    assert out["bleu"]["score"] == expected["bleu"].score
    assert out["bleu"]["precisions"] == expected["bleu"].precisions
    assert out["bleu"]["bp"] == expected["bleu"].bp
    assert (out["bleu"]["sys_len"], out["bleu"]["ref_len"]) == (expected["bleu"].sys_len, expected["bleu"].ref_len)
    assert out["chrf"]["score"] == expected["chrf"].score
    assert out["ter"]["score"] == expected["ter"].score
    assert out["signatures"] == signatures
    assert (out["n"], out["n_refs"]) == (len(SYS_FAIR), len(refs))


def test_defaults_equal_sacrebleu_convenience_functions():
    out = corpus_scores(SYS_FAIR, REFS_2)
    assert out["bleu"]["score"] == sacrebleu.corpus_bleu(SYS_FAIR, REFS_2).score
    assert out["chrf"]["score"] == sacrebleu.corpus_chrf(SYS_FAIR, REFS_2).score
    assert out["ter"]["score"] == sacrebleu.corpus_ter(SYS_FAIR, REFS_2).score
    assert out["ter"]["num_edits"] == sacrebleu.corpus_ter(SYS_FAIR, REFS_2).num_edits


def test_chrf_plus_plus_and_case_sensitive_ter():
    out = corpus_scores(SYS_FAIR, REFS_1, chrf_word_order=2, ter_case_sensitive=True)
    expected, signatures = _sacrebleu(SYS_FAIR, REFS_1, word_order=2, ter_case_sensitive=True)
    assert out["chrf"]["name"] == "chrF2++" and out["chrf"]["score"] == expected["chrf"].score
    assert out["ter"]["score"] == expected["ter"].score
    assert "|nw:2|" in out["signatures"]["chrf"] and "|case:mixed|" in out["signatures"]["ter"]
    assert out["signatures"] == signatures


def test_lowercase_changes_scores_and_signature():
    shouted = [h.upper() for h in SYS_FAIR]
    mixed, lower = corpus_scores(shouted, REFS_1), corpus_scores(shouted, REFS_1, lowercase=True)
    assert lower["bleu"]["score"] > mixed["bleu"]["score"] + 10
    assert "|case:lc|" in lower["signatures"]["bleu"] and "|case:mixed|" in mixed["signatures"]["bleu"]


def test_signatures_verbatim_and_json_safe():
    out = corpus_scores(SYS_FAIR, REFS_2)
    v = sacrebleu.__version__
    assert out["signatures"]["bleu"] == f"nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:{v}"
    assert out["signatures"]["chrf"] == f"nrefs:2|case:mixed|eff:yes|nc:6|nw:0|space:no|version:{v}"
    assert out["signatures"]["ter"] == f"nrefs:2|case:lc|tok:tercom|norm:no|punct:yes|asian:no|version:{v}"
    json.dumps(corpus_scores(SYS_FAIR, REFS_2, n_bootstrap=20), allow_nan=False)


def test_metric_subset_and_accepted_sequences():
    out = corpus_scores(tuple(SYS_FAIR), (tuple(REF_A),), metrics=("chrf",))
    assert set(out) == {"chrf", "signatures", "n", "n_refs"} and set(out["signatures"]) == {"chrf"}
    assert corpus_scores(np.array(SYS_FAIR), [np.array(REF_A)], metrics="chrf")["chrf"] == out["chrf"]


def test_corpus_bleu_is_not_mean_sentence_bleu():
    # A long near-perfect segment and a short poor one: corpus BLEU pools the n-gram counts (the long
    # segment dominates), the sentence mean weighs both segments equally.
    refs = [["the committee approved the new budget after a long and heated debate on monday", "a red car"]]
    hyps = ["the committee approved the new budget after a long and heated debate on monday", "the blue bus"]
    corpus = corpus_scores(hyps, refs, metrics=("bleu",))["bleu"]["score"]
    sentence = sentence_bleu_scores(hyps, refs)["scores"]
    assert sentence[0] == pytest.approx(100.0)
    assert np.mean(sentence) < corpus - 10


def test_sentence_bleu_equals_sacrebleu_effective_order():
    out = sentence_bleu_scores(SYS_FAIR, REFS_2)
    expected = [sacrebleu.sentence_bleu(h, [a, b], use_effective_order=True).score
                for h, a, b in zip(SYS_FAIR, REF_A, REF_B)]
    assert out["scores"] == expected
    assert "|eff:yes|" in out["signature"] and out["signature"].startswith("nrefs:2|")


# --------------------------------------------------------------------------------------------------
# Bootstrap intervals
# --------------------------------------------------------------------------------------------------


def test_bootstrap_contains_point_and_is_seeded():
    a = bootstrap_intervals(SYS_FAIR, REFS_2, n_resamples=300)
    b = bootstrap_intervals(SYS_FAIR, REFS_2, n_resamples=300)
    c = bootstrap_intervals(SYS_FAIR, REFS_2, n_resamples=300, seed=7)
    point = corpus_scores(SYS_FAIR, REFS_2)
    for name in ("bleu", "chrf", "ter"):
        low, high = a["intervals"][name]
        assert low < point[name]["score"] < high
        assert a["resampled"][name]["score"] == point[name]["score"]
    assert a == b
    assert a["intervals"] != c["intervals"] and c["seed"] == 7
    assert (a["method"], a["n_resamples"], a["seed"], a["confidence"]) == ("percentile", 300, 12345, 0.95)


def test_wider_confidence_gives_wider_interval():
    narrow = bootstrap_intervals(SYS_FAIR, REFS_1, metrics=("chrf",), n_resamples=200, confidence=0.5)
    wide = bootstrap_intervals(SYS_FAIR, REFS_1, metrics=("chrf",), n_resamples=200, confidence=0.99)
    (nl, nh), (wl, wh) = narrow["intervals"]["chrf"], wide["intervals"]["chrf"]
    assert wl < nl < nh < wh


def test_bootstrap_resamples_are_sacrebleus(monkeypatch):
    # Same seed, same draws: our resample mean / half-width equal `corpus_score(n_bootstrap=...)`'s
    # "μ = mean ± ci" (sacreBLEU sums float32 statistics, hence the tolerance), and so do the signatures.
    monkeypatch.delenv("SACREBLEU_SEED", raising=False)
    ours = bootstrap_intervals(SYS_FAIR, REFS_2, n_resamples=200)
    for name, metric in {"bleu": BLEU(), "chrf": CHRF(), "ter": TER()}.items():
        score = metric.corpus_score(SYS_FAIR, REFS_2, n_bootstrap=200)
        assert ours["resampled"][name]["mean"] == pytest.approx(score._mean, rel=1e-5)
        assert ours["resampled"][name]["ci_halfwidth"] == pytest.approx(score._ci, rel=1e-4)
        assert ours["signatures"][name] == str(metric.get_signature())


def test_corpus_scores_with_bootstrap_matches_bootstrap_intervals():
    combined = corpus_scores(SYS_FAIR, REFS_1, metrics=("bleu", "ter"), n_bootstrap=100, seed=3)
    alone = bootstrap_intervals(SYS_FAIR, REFS_1, metrics=("bleu", "ter"), n_resamples=100, seed=3)
    assert combined["bootstrap"] == alone


# --------------------------------------------------------------------------------------------------
# Paired significance
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method,n", [("bs", 200), ("ar", 500)])
def test_paired_identical_systems_are_not_significant(method, n):
    out = paired_significance(SYS_FAIR, list(SYS_FAIR), REFS_1, method=method, n=n, ci_resamples=100)
    assert out["differing_segments"] == 0
    for name in ("bleu", "chrf", "ter"):
        entry = out["metrics"][name]
        assert entry["p_value"] == 1.0 and entry["delta"] == 0.0
        assert "identical" in entry["note"]


@pytest.mark.parametrize("method,n", [("bs", 200), ("ar", 500)])
def test_paired_much_better_system_is_significant(method, n):
    out = paired_significance(SYS_POOR, SYS_FAIR, REFS_2, method=method, n=n, ci_resamples=100)
    for name in ("bleu", "chrf", "ter"):
        entry = out["metrics"][name]
        assert entry["p_value"] < 0.01 and entry["note"] is None
        better = entry["delta"] > 0 if entry["higher_is_better"] else entry["delta"] < 0
        assert better
        low, high = entry["system"]["interval"]
        assert low <= entry["system"]["mean"] <= high
    assert out["signatures"]["bleu"].startswith("nrefs:2|bs:")
    json.dumps(out, allow_nan=False)


def test_paired_bootstrap_equals_sacrebleu_paired_test(monkeypatch):
    monkeypatch.setenv("SACREBLEU_SEED", "12345")
    system = SYS_FAIR[:15] + REF_A[15:]  # better on half of the segments
    ours = paired_significance(SYS_FAIR, system, REFS_1, method="bs", n=300)
    signatures, results = PairedTest([("baseline", SYS_FAIR), ("system", system)],
                                     {"BLEU": BLEU(), "chrF": CHRF(), "TER": TER()}, REFS_1,
                                     test_type="bs", n_samples=300)()
    for name, key in (("BLEU", "bleu"), ("chrF2", "chrf"), ("TER", "ter")):
        assert ours["metrics"][key]["p_value"] == results[name][1].p_value
        assert ours["metrics"][key]["system"]["score"] == results[name][1].score
        assert ours["metrics"][key]["system"]["ci_halfwidth"] == pytest.approx(float(results[name][1].ci))
        assert ours["signatures"][key] == str(signatures[name])


def test_paired_ar_warns_when_few_segments_differ():
    system = list(SYS_FAIR)
    system[3] = REF_A[3]
    out = paired_significance(SYS_FAIR, system, REFS_1, method="ar", n=300, metrics=("bleu",), ci_resamples=50)
    assert out["differing_segments"] == 1
    assert "method='bs'" in out["metrics"]["bleu"]["note"]


def test_paired_seed_leaves_environment_alone(monkeypatch):
    monkeypatch.delenv("SACREBLEU_SEED", raising=False)
    paired_significance(SYS_POOR, SYS_FAIR, REFS_1, n=50, metrics=("chrf",), seed=99)
    import os

    assert "SACREBLEU_SEED" not in os.environ


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hyps,refs,match", [
    (SYS_FAIR, [REF_A[:-1]], r"reference set 1 has 29 segments but hypotheses has 30"),
    (SYS_FAIR, [REF_A, REF_B[:10]], r"reference set 2 has 10 segments"),
    ([], [[]], r"hypotheses is empty"),
    (SYS_FAIR, [], r"references is empty"),
    (SYS_FAIR, REF_A, r"wrap a single reference set in a list"),
    (SYS_FAIR, [[""] * 30], r"reference set 1 contains only empty segments"),
    (SYS_FAIR, [REF_A, [" "] * 30], r"reference set 2 contains only empty segments"),
    ("one string", [["one string"]], r"hypotheses must be a list"),
    ([*SYS_FAIR[:-1], None], [REF_A], r"hypotheses\[29\] is NoneType"),
])
def test_bad_segments_raise_input_error(hyps, refs, match):
    with pytest.raises(InputError, match=match):
        corpus_scores(hyps, refs)


@pytest.mark.parametrize("kwargs,match", [
    ({"metrics": ("bleu", "meteor")}, r"metrics must be distinct names"),
    ({"metrics": ()}, r"metrics must be distinct names"),
    ({"tokenize": "moses"}, r"unknown BLEU tokenizer 'moses'"),
    ({"chrf_word_order": -1}, r"chrf_word_order must be an integer"),
    ({"n_bootstrap": -5}, r"n_bootstrap must be an integer >= 0"),
    ({"n_bootstrap": 10, "confidence": 95}, r"confidence must be a number between 0 and 1"),
])
def test_bad_options_raise_input_error(kwargs, match):
    with pytest.raises(InputError, match=match):
        corpus_scores(SYS_FAIR, REFS_1, **kwargs)


def test_paired_validation():
    with pytest.raises(InputError, match=r"system hypotheses has 29"):
        paired_significance(SYS_FAIR, SYS_FAIR[:-1], REFS_1)
    with pytest.raises(InputError, match=r"method must be 'bs'"):
        paired_significance(SYS_FAIR, SYS_FAIR, REFS_1, method="t-test")
    with pytest.raises(InputError, match=r"sacreBLEU treats 0 as unseeded"):
        paired_significance(SYS_FAIR, SYS_FAIR, REFS_1, seed=0)


def test_import_is_light():
    code = ("import sys, attnlab.metrics, attnlab.metrics.translation; "
            "print('torch' in sys.modules, 'sacrebleu' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
