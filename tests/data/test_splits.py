"""Splits: deterministic, stratified, disjoint and covering, and duplicates never straddle splits."""

from __future__ import annotations

import warnings
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import train_test_split

from attnlab.data.splits import normalize_text, stratified_split
from attnlab.errors import InputError


def synthetic(n=1000, spam_rate=0.13, seed=0):
    import random

    rng = random.Random(seed)
    labels = ["spam" if rng.random() < spam_rate else "ham" for _ in range(n)]
    texts = [f"message number {i}" for i in range(n)]
    return texts, labels


def parts(split):
    return split.train, split.val, split.test


def test_normalize_text():
    assert normalize_text("  Hello\tWORLD \n") == "hello world"
    assert normalize_text("ﬁne Straße") == normalize_text("fine STRASSE")  # NFKC ligature, casefold ß
    assert normalize_text("a\u00a0b") == "a b"


def test_deterministic_for_a_seed_and_different_across_seeds():
    texts, labels = synthetic()
    a = stratified_split(texts, labels, seed=3)
    b = stratified_split(texts, labels, seed=3)
    c = stratified_split(texts, labels, seed=4)
    assert a == b
    assert a.test != c.test and a.fingerprint != c.fingerprint
    assert a.signature.startswith("split:stratified|grouped:yes|fractions:0.8,0.1,0.1|seed:3|fp:")


def test_disjoint_covering_sorted():
    texts, labels = synthetic(537)
    split = stratified_split(texts, labels, fractions=(0.7, 0.15, 0.15), seed=1)
    everything = [i for part in parts(split) for i in part]
    assert sorted(everything) == list(range(537))
    assert all(part == sorted(part) for part in parts(split))


def test_sizes_and_class_ratios_match_sklearn_stratification():
    texts, labels = synthetic(2000, spam_rate=0.13)
    split = stratified_split(texts, labels, seed=0)
    rest, test = train_test_split(range(2000), test_size=0.1, stratify=labels, random_state=0)
    train, val = train_test_split(rest, test_size=1 / 9, stratify=[labels[i] for i in rest], random_state=0)
    for ours, theirs in zip(parts(split), (train, val, test)):
        assert abs(len(ours) - len(theirs)) <= 2
        ours_rate = Counter(labels[i] for i in ours)["spam"] / len(ours)
        theirs_rate = Counter(labels[i] for i in theirs)["spam"] / len(theirs)
        assert abs(ours_rate - theirs_rate) < 0.01


def test_duplicates_grouped_and_counted():
    texts = ["Win a prize!", "hello", "win a  PRIZE!", "bye", "hello", "x", "y", "z", "w", "v"]
    labels = ["spam", "ham", "spam", "ham", "ham", "ham", "spam", "ham", "spam", "spam"]
    split = stratified_split(texts, labels, fractions=(0.5, 0.25, 0.25))
    assert split.n_duplicate_texts == 2 and split.n_duplicate_groups == 2 and split.n_label_conflicts == 0
    for group in ([0, 2], [1, 4]):
        homes = {name for name, part in zip(("train", "val", "test"), parts(split)) for i in group if i in part}
        assert len(homes) == 1


def test_label_conflicts_use_majority_label():
    texts = ["same"] * 3 + [f"t{i}" for i in range(9)]
    labels = ["b", "a", "a"] + ["a", "b", "c"] * 3
    split = stratified_split(texts, labels)
    assert split.n_label_conflicts == 1
    assert split.n_duplicate_texts == 2


def test_group_duplicates_off_still_counts():
    texts = ["dup"] * 50 + [f"u{i}" for i in range(50)]
    labels = ["a", "b"] * 50
    split = stratified_split(texts, labels, group_duplicates=False)
    assert split.n_duplicate_texts == 49 and not split.group_duplicates
    homes = {name for name, part in zip(("train", "val", "test"), parts(split)) for i in range(50) if i in part}
    assert len(homes) == 3  # rows split independently: this is the leak grouping prevents
    assert "grouped:no" in split.signature


def test_tiny_class_warns_and_fills_train_then_test():
    texts = [f"t{i}" for i in range(22)]
    labels = ["a"] * 20 + ["b", "b"]
    with pytest.warns(UserWarning, match="class 'b' has 2 distinct"):
        split = stratified_split(texts, labels)
    b_rows = {20, 21}
    assert b_rows & set(split.train) and b_rows & set(split.test) and not b_rows & set(split.val)
    assert split.notes


def test_zero_validation_fraction():
    texts, labels = synthetic(100)
    split = stratified_split(texts, labels, fractions=(0.8, 0.0, 0.2))
    assert split.val == [] and len(split.test) == 20


def test_every_split_non_empty_for_tiny_data():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = stratified_split(["a", "b", "c", "d"], ["x", "x", "y", "y"])
    assert all(parts(split))


def test_fingerprint_depends_on_content():
    texts, labels = synthetic(200)
    a = stratified_split(texts, labels)
    b = stratified_split(texts[:-1] + ["changed"], labels)
    assert len(a.fingerprint) == 16 and a.fingerprint != b.fingerprint


@pytest.mark.parametrize("fractions", [(0.8, 0.1), (0.8, 0.3, 0.1), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1), ("a", 1, 0), (float("nan"), 0.5, 0.5)])
def test_bad_fractions(fractions):
    with pytest.raises(InputError, match="fractions") as info:
        stratified_split(["a", "b", "c"], ["x", "y", "x"], fractions=fractions)
    assert "\n" not in str(info.value) and "0.8,0.1,0.1" in str(info.value)


def test_bad_inputs():
    with pytest.raises(InputError, match="2 texts but 1 labels"):
        stratified_split(["a", "b"], ["x"])
    with pytest.raises(InputError, match="empty"):
        stratified_split([], [])


texts_strategy = st.lists(
    st.tuples(st.sampled_from(["Hi", "hi ", "spam now", "SPAM  NOW", "ok", "call me", "x", "y", "z"]) | st.text(min_size=1, max_size=6),
              st.sampled_from(["a", "b", "c"])),
    min_size=1, max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(rows=texts_strategy, seed=st.integers(0, 2**16))
def test_property_duplicates_never_straddle_and_partition(rows, seed):
    texts = [t for t, _ in rows]
    labels = [y for _, y in rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = stratified_split(texts, labels, seed=seed)
    home = {}
    for name, part in zip(("train", "val", "test"), parts(split)):
        for i in part:
            assert home.setdefault(normalize_text(texts[i]), name) == name
    assert sorted(i for part in parts(split) for i in part) == list(range(len(texts)))
    # a class with at least 3 distinct texts reaches every split
    groups = {}
    for text, label in zip(texts, labels):
        groups.setdefault(normalize_text(text), []).append(label)
    majority = Counter(max(dict.fromkeys(ls), key=ls.count) for ls in groups.values())
    for label, n_groups in majority.items():
        if n_groups >= 3:
            for part in parts(split):
                assert any(labels[i] == label for i in part)
