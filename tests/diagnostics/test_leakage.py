"""Leakage: exact duplicates after normalisation, near-duplicates (a few words, case, punctuation) found by
MinHash LSH and verified exactly, label conflicts, clean negative controls, and agreement with brute force."""

import random

import numpy as np
import pytest

from attnlab.diagnostics import (
    find_overlap,
    label_conflicts,
    leak_key,
    leakage_findings,
    splits_overlap,
)
from attnlab.diagnostics.leakage import shingles
from attnlab.diagnostics.minhash import lsh_params, minhash_signatures
from attnlab.errors import InputError

WORDS = ("free entry win prize call now claim cash reward mobile text reply stop week lunch later home "
         "meeting tomorrow sorry late traffic dinner tonight movie weekend thanks love family train bus "
         "office project report deadline coffee morning evening phone message number code valid hours").split()


def corpus(n, seed=0, length=(8, 20)):
    rnd = random.Random(seed)
    return [" ".join(rnd.choice(WORDS) + str(rnd.randrange(1000)) for _ in range(rnd.randint(*length)))
            for _ in range(n)]


@pytest.mark.parametrize("a,b", [
    ("Call me NOW!!!", "call me now"),
    ("  free\u00a0entry\n\n now ", "Free entry now"),
    ("Don\u2019t miss it", "dont miss it"),
    ("\uff26\uff52\uff45\uff45 entry", "free entry"),  # full-width letters: NFKC
    ("fin\ufb01sh line", "finfish line"),  # the "fi" ligature: NFKC
    ("STRASSE", "stra\u00dfe"),  # case folding, not lower()
    ("win £100 cash", "win 100 cash"),
])
def test_exact_duplicates_after_normalisation(a, b):
    assert leak_key(a) == leak_key(b)
    r = find_overlap([b, "something else entirely"], [a])
    assert r.pairs[0]["kind"] == "exact" and r.pairs[0]["train_index"] == 0 and r.n_exact == 1


def test_different_texts_keep_different_keys():
    assert leak_key(":)") != leak_key(":(")
    assert leak_key("call me") != leak_key("call me later")


def test_near_duplicates_differing_by_words_case_or_punctuation():
    base = ("Congratulations you have been selected to receive a cash prize of 900 pounds claim it now by calling "
            "our office before the end of the week")
    train = [base] + corpus(300, seed=1)
    variants = {
        "one word replaced": base.replace("900", "1000"),
        "one word inserted, case changed": base.upper().replace("CASH", "BIG CASH"),
        "word deleted, punctuation": base.replace(" now", "").replace("pounds", "pounds!!!") + "...",
        "two words replaced": base.replace("office", "hotline").replace("week", "month"),
    }
    test = list(variants.values()) + corpus(200, seed=2)
    r = find_overlap(train, test)
    found = {p["test_index"]: p for p in r.pairs}
    for j, text in enumerate(variants.values()):
        pair = found[j]
        x, y = shingles(leak_key(text)), shingles(leak_key(base))
        assert pair["kind"] == "near" and pair["train_index"] == 0
        assert pair["similarity"] == pytest.approx(len(x & y) / len(x | y)) and pair["similarity"] >= 0.8
        assert pair["test_text"] == text and pair["train_text"] == base
    assert set(found) == set(range(len(variants)))  # the random texts are clean
    assert r.n_near == len(variants) and r.n_exact == 0


def test_clean_split_has_no_leakage_and_no_findings():
    r = find_overlap(corpus(500, seed=3), corpus(200, seed=4))
    assert not r.found and r.pairs == [] and leakage_findings([r]) == []


def test_a_pair_below_the_threshold_is_not_reported():
    a = "one two three four five six seven eight nine ten"
    b = "one two three four five six seven eight eleven twelve"  # Jaccard 8/12
    assert not find_overlap([a], [b]).found
    assert find_overlap([a], [b], threshold=0.6).pairs[0]["similarity"] == pytest.approx(8 / 12)


def test_exact_wins_over_near_and_counts_all_matches():
    train = ["see you at lunch", "See you at lunch!", "see you at lunch today", "unrelated words here"]
    r = find_overlap(train, ["SEE YOU AT LUNCH"], threshold=0.8)
    [pair] = r.pairs
    assert pair["kind"] == "exact" and pair["train_index"] == 0 and pair["n_matches"] == 3  # 2 exact, 1 near (0.8)
    r = find_overlap(train, ["see you at lunch today please"], threshold=0.8)  # 5/6 vs 4/6 and 4/6
    assert r.pairs[0]["kind"] == "near" and r.pairs[0]["train_index"] == 2


def test_label_conflicts_across_and_within():
    r = find_overlap(["Call me!", "hello there"], ["call me", "hello there"], train_labels=["ham", "ham"],
                     test_labels=["spam", "ham"])
    assert r.n_label_conflicts == 1
    conflict = next(p for p in r.pairs if p["label_conflict"])
    assert conflict["test_label"] == "spam" and conflict["train_label"] == "ham"
    codes = {f.code: f.severity for f in leakage_findings([r])}
    assert codes == {"leakage_exact": "error", "label_conflict": "warning"}
    within = label_conflicts(["Win!", "win", "hi", "HI"], ["spam", "ham", "ham", "ham"])
    assert within["n_texts"] == 1 and within["examples"][0]["labels"] == {"spam": 1, "ham": 1}
    with pytest.raises(InputError, match="both sides"):
        find_overlap(["a"], ["b"], train_labels=["x"])


def test_finding_severity_depends_on_the_sides_and_share():
    base = corpus(200, seed=5)
    test = [t + " extra" for t in base[:2]] + corpus(98, seed=6)  # 2% near-duplicates
    near = leakage_findings([find_overlap(base, test, names=("train", "test"))])
    assert [(f.code, f.severity) for f in near] == [("leakage_near", "warning")]
    assert near[0].evidence["rows"] == 2 and len(near[0].evidence["examples"]) == 2
    many = [t + " extra" for t in base[:10]] + corpus(90, seed=6)  # 10%
    assert leakage_findings([find_overlap(base, many)])[0].severity == "error"
    val = leakage_findings([find_overlap(base, many, names=("train", "validation"))])
    assert val[0].severity == "info" and "validation_index" in val[0].evidence["examples"][0]


def test_splits_overlap_names_every_pair():
    texts = {"train": ["alpha beta gamma delta"], "validation": ["ALPHA beta gamma delta!"],
             "test": ["alpha, beta, gamma, delta"]}
    results = splits_overlap(texts)
    assert [r.names for r in results] == [("train", "test"), ("train", "validation"), ("validation", "test")]
    assert all(r.n_exact == 1 for r in results)
    codes = [(f.code, f.severity, f.evidence["test"]) for f in leakage_findings(results)]
    assert codes == [("leakage_exact", "error", "test"), ("leakage_exact", "warning", "validation"),
                     ("leakage_exact", "warning", "test")]  # validation texts were never trained on


def test_lsh_agrees_with_brute_force_on_a_random_corpus():
    rnd = random.Random(7)
    train = corpus(400, seed=8, length=(5, 15))
    test = corpus(100, seed=9, length=(5, 15))
    for j in range(0, 100, 3):  # plant near-duplicates with 1-2 edits
        words = train[rnd.randrange(400)].split()
        for _ in range(rnd.choice((1, 2))):
            words[rnd.randrange(len(words))] = rnd.choice(WORDS)
        test[j] = " ".join(words)
    r = find_overlap(train, test, threshold=0.7)
    sets = [shingles(leak_key(t)) for t in train]
    truth = set()
    for j, t in enumerate(test):
        x = shingles(leak_key(t))
        if any(len(x & y) / len(x | y) >= 0.7 for y in sets):
            truth.add(j)
    flagged = {p["test_index"] for p in r.pairs}
    assert flagged <= truth  # verified exactly: never a false positive
    assert len(flagged & truth) >= 0.95 * len(truth) and len(truth) >= 20


def test_deterministic_and_seeded():
    train, test = corpus(300, seed=10), corpus(100, seed=11)
    test[:5] = [t + " again" for t in train[:5]]
    a, b = find_overlap(train, test), find_overlap(train, test)
    assert a.pairs == b.pairs and a.settings == b.settings
    assert find_overlap(train, test, seed=3).settings["seed"] == 3


def test_shingle_size_two():
    a = "the cat sat on the mat today"
    b = "today the mat sat on the cat"  # same words, different order
    assert find_overlap([a], [b]).pairs[0]["similarity"] == 1.0
    assert not find_overlap([a], [b], shingle_size=2).found
    assert shingles("one two", 3) == {"one two"}


def test_lsh_params_reach_the_candidate_recall():
    for t in (0.5, 0.7, 0.8, 0.9, 0.95, 1.0):
        bands, rows = lsh_params(t)
        assert bands * rows <= 64 and bands >= 2
        assert 1 - (1 - t ** rows) ** bands >= 0.99


def test_minhash_estimates_jaccard():
    rng = np.random.default_rng(0)
    a = frozenset(rng.choice(5000, 300, replace=False).tolist())
    b = frozenset(list(a)[:240]) | frozenset(range(6000, 6060))  # Jaccard 240/360
    sig = minhash_signatures([a, b], 7000, 256, seed=0)
    assert np.mean(sig[0] == sig[1]) == pytest.approx(240 / 360, abs=0.08)


def test_empty_and_symbol_only_texts():
    r = find_overlap([":)", "ok"], [":)", ":(", "!!!", "OK!"])
    assert sorted((p["test_index"], p["kind"]) for p in r.pairs) == [(0, "exact"), (3, "exact")]
    assert not find_overlap([], ["a"]).found and not find_overlap(["a"], []).found


@pytest.mark.parametrize("kwargs", [{"threshold": 0}, {"threshold": 1.2}, {"threshold": "0.8"},
                                    {"shingle_size": 0}, {"shingle_size": 1.5}])
def test_bad_options(kwargs):
    with pytest.raises(InputError):
        find_overlap(["a"], ["b"], **kwargs)


def test_band_pruning_keeps_every_datasketch_candidate():
    """Pruning sets that share no band changes nothing: same candidates as indexing every set."""
    from datasketch import MinHashLSH

    from attnlab.diagnostics.leakage import _Corpus, _near_pairs
    from attnlab.diagnostics.minhash import LSHSignature

    train, test = corpus(300, seed=12, length=(4, 10)), corpus(80, seed=13, length=(4, 10))
    test[:20] = [" ".join(t.split()[:-1]) for t in train[:20]]  # drop one word: near-duplicates
    c = _Corpus.build(train + test, 1)
    train_sets = {c.set_of_key[c.key_of_row[i]] for i in range(300)}
    test_sets = {c.set_of_key[c.key_of_row[300 + j]] for j in range(80)}
    found, n_candidates, (bands, rows) = _near_pairs(c, train_sets, test_sets, 0.8, 0)
    used = sorted(train_sets | test_sets)
    sig = minhash_signatures([c.sets[i] for i in used], c.vocab_size, bands * rows, 0)
    lsh = MinHashLSH(num_perm=bands * rows, params=(bands, rows))
    for sid in sorted(test_sets):
        lsh.insert(sid, LSHSignature(sig[used.index(sid)]))
    full = sum(len(lsh.query(LSHSignature(sig[used.index(sid)]))) for sid in sorted(train_sets))
    assert n_candidates == full > 0 and len(found) >= 15
