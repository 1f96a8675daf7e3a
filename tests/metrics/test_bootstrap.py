"""Bootstrap intervals: estimates = classification_report, resampled-statistics route = naive resampling with
the same draws, containment of the estimate, coverage of the true accuracy, undefined resamples, API."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.errors import InputError
from attnlab.metrics import bootstrap as bs
from attnlab.metrics import classification_report
from attnlab.metrics.bootstrap import bootstrap_intervals, report_intervals, resample_index_blocks
from attnlab.metrics.functional import UndefinedMetricWarning


def report_values(rep: dict) -> dict[str, float]:
    """The report's scalar metrics by path, NaN where undefined (``None``)."""
    out = {}

    def walk(d, prefix):
        for key, value in d.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            elif key != "support":
                out[f"{prefix}{key}"] = np.nan if value is None else value

    walk(rep["metrics"], "")
    for key in ("specificity", "npv"):
        if "binary" in rep:
            out[f"binary.{key}"] = np.nan if rep["binary"][key] is None else rep["binary"][key]
    return out


def make_data(seed, n, n_classes, *, skill=0.7, proba=True, rare=False):
    rng = np.random.default_rng(seed)
    weights = np.ones(n_classes)
    if rare:
        weights[-1] = 0.02  # a class with a handful of examples: undefined in some resamples
    t = rng.choice(n_classes, size=n, p=weights / weights.sum())
    p = np.where(rng.random(n) < skill, t, rng.integers(0, n_classes, n))
    probs = None
    if proba:
        logits = rng.normal(size=(n, n_classes))
        logits[np.arange(n), t] += 1.5
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return t, p, probs


CASES = [  # (n_classes, positive_label, proba, zero_division, rare)
    (2, 1, True, "nan", False),
    (2, None, True, "nan", True),
    (3, None, True, 0, True),
    (4, 2, True, 1, False),
    (3, None, False, "nan", True),
]


@pytest.mark.parametrize("case", CASES)
def test_estimates_equal_classification_report(case):
    n_classes, pos, with_proba, zd, rare = case
    t, p, probs = make_data(3, 150, n_classes, proba=with_proba, rare=rare)
    labels = list(range(n_classes))
    rep = report_values(classification_report(t, p, labels=labels, proba=probs, positive_label=pos, zero_division=zd))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        iv = bootstrap_intervals(t, p, labels=labels, proba=probs, positive_label=pos, zero_division=zd,
                                 n_resamples=20)
    expected = {k: v for k, v in rep.items() if not (k in ("log_loss", "roc_auc", "average_precision")
                                                      and probs is None)}
    assert set(iv) == set(expected)
    for path, value in expected.items():
        got = iv[path]["estimate"]
        assert (got is None and np.isnan(value)) or got == pytest.approx(value, rel=1e-12, abs=1e-12), path


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("case", CASES)
def test_resampled_statistics_equal_naive_resampling(monkeypatch, case, seed):
    """Same draws: recounting statistics == calling classification_report on each resampled dataset."""
    monkeypatch.setattr(bs, "BLOCK_ELEMENTS", 7 * 60)  # several blocks, the last one partial
    n_classes, pos, with_proba, zd, rare = case
    t, p, probs = make_data(seed, 60, n_classes, proba=with_proba, rare=rare)
    labels = list(range(n_classes))
    n_resamples = 40
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        iv = bootstrap_intervals(t, p, labels=labels, proba=probs, positive_label=pos, zero_division=zd,
                                 n_resamples=n_resamples, seed=seed, confidence=0.9)
    naive: dict[str, list[float]] = {}
    blocks = list(resample_index_blocks(len(t), n_resamples, seed))
    assert len(blocks) > 1
    for idx in np.concatenate(blocks):
        rep = classification_report(t[idx], p[idx], labels=labels, proba=None if probs is None else probs[idx],
                                    positive_label=pos, zero_division=zd)
        for path, value in report_values(rep).items():
            naive.setdefault(path, []).append(value)
    for path, entry in iv.items():
        values = np.array(naive[path])
        undefined = np.isnan(values)
        assert entry["n_undefined"] == undefined.sum(), path
        if entry["low"] is None:
            assert undefined.sum() > bs.MAX_UNDEFINED_SHARE * n_resamples, path
            continue
        low, high = np.quantile(values[~undefined], [0.05, 0.95])
        assert entry["low"] == pytest.approx(low, abs=1e-12), path
        assert entry["high"] == pytest.approx(high, abs=1e-12), path


@st.composite
def well_conditioned(draw):
    return dict(seed=draw(st.integers(0, 10_000)), n=draw(st.integers(150, 400)), n_classes=draw(st.integers(2, 4)),
                skill=draw(st.floats(0.5, 0.9)), proba=draw(st.booleans()))


@settings(max_examples=25, deadline=None, derandomize=True)
@given(well_conditioned())
def test_intervals_contain_the_estimate(kw):
    t, p, probs = make_data(kw["seed"], kw["n"], kw["n_classes"], skill=kw["skill"], proba=kw["proba"])
    iv = bootstrap_intervals(t, p, labels=list(range(kw["n_classes"])), proba=probs, positive_label=None,
                             n_resamples=200, seed=kw["seed"])
    for path, entry in iv.items():
        if path == "ece":  # |sum| of noisy gaps: biased upwards, its percentile interval may sit above it
            continue
        assert entry["n_undefined"] == 0, path
        assert entry["low"] <= entry["estimate"] <= entry["high"], (path, entry)


def test_coverage_of_the_true_accuracy():
    """200 datasets drawn with a known accuracy of 0.8: about 95% of the 95% intervals contain it."""
    rng = np.random.default_rng(2024)
    hits = 0
    for i in range(200):
        y = rng.integers(0, 2, 120)
        pred = np.where(rng.random(120) < 0.8, y, 1 - y)
        iv = bootstrap_intervals(y, pred, labels=[0, 1], n_resamples=200, seed=i)["accuracy"]
        hits += iv["low"] <= 0.8 <= iv["high"]
    assert 0.88 <= hits / 200 <= 0.99


def test_seeded_and_reproducible():
    t, p, probs = make_data(0, 200, 3)
    a = bootstrap_intervals(t, p, labels=[0, 1, 2], proba=probs, n_resamples=100)
    b = bootstrap_intervals(t, p, labels=[0, 1, 2], proba=probs, n_resamples=100, seed=0)
    c = bootstrap_intervals(t, p, labels=[0, 1, 2], proba=probs, n_resamples=100, seed=1)
    assert a == b
    assert a["accuracy"] != c["accuracy"]
    assert a["accuracy"]["seed"] == 0 and a["accuracy"]["method"] == "percentile"
    assert a["accuracy"]["n_resamples"] == 100 and a["accuracy"]["confidence"] == 0.95


def test_undefined_resamples_are_counted_and_too_many_give_no_interval():
    y = ["ham"] * 38 + ["spam"] * 2
    pred = ["ham"] * 37 + ["spam"] * 3
    with pytest.warns(UndefinedMetricWarning, match="per_class.spam.recall"):
        iv = bootstrap_intervals(y, pred, labels=["ham", "spam"], n_resamples=300)
    spam = iv["per_class.spam.recall"]
    assert spam["estimate"] == 1.0
    assert spam["n_undefined"] > 0.1 * 300  # no spam drawn: about e^-2 of the resamples
    assert spam["low"] is None and spam["high"] is None and "undefined in" in spam["reason"]
    assert iv["accuracy"]["n_undefined"] == 0 and iv["accuracy"]["low"] is not None
    ci = report_intervals(iv)
    assert ci["per_class.spam.recall"] is None
    assert ci["accuracy"] == [iv["accuracy"]["low"], iv["accuracy"]["high"]]
    json.dumps(iv, allow_nan=False)
    json.dumps(ci, allow_nan=False)


def test_few_undefined_resamples_are_left_out():
    y = ["a"] * 95 + ["b"] * 5  # no "b" drawn in about e^-5 < 1% of the resamples
    pred = ["a"] * 93 + ["b"] * 2 + ["b"] * 3 + ["a"] * 2
    iv = bootstrap_intervals(y, pred, labels=["a", "b"], n_resamples=1000, positive_label="b")
    entry = iv["per_class.b.recall"]
    assert 0 < entry["n_undefined"] <= 100 and entry["low"] is not None
    assert {"binary.specificity", "binary.npv"} <= set(iv)


def test_binary_scores_route_equals_proba_route():
    t, _, probs = make_data(5, 300, 2)
    p = probs.argmax(axis=1)
    with_proba = bootstrap_intervals(t, p, labels=[0, 1], proba=probs, positive_label=1, n_resamples=100)
    logits = np.log(probs[:, 1] / probs[:, 0])  # monotone in the positive probability: same ranking
    with_score = bootstrap_intervals(t, p, labels=[0, 1], y_score=logits, positive_label=1, n_resamples=100)
    for path in ("roc_auc", "average_precision", "accuracy", "macro.f1"):
        assert with_score[path] == pytest.approx(with_proba[path]), path
    assert "log_loss" not in with_score and "log_loss" in with_proba


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_resamples=0), "n_resamples"),
    (dict(n_resamples=True), "n_resamples"),
    (dict(confidence=1.0), "confidence"),
    (dict(seed=-1), "seed"),
    (dict(seed=None), "seed"),
    (dict(zero_division="zero"), "zero_division"),
    (dict(y_score=[0.1, 0.9, 0.3], proba=[[0.9, 0.1], [0.1, 0.9], [0.7, 0.3]], positive_label=1), "not both"),
    (dict(y_score=[0.1, 0.9, 0.3]), "positive_label"),
    (dict(labels=[0]), "at least 2"),
])
def test_invalid_arguments(kwargs, match):
    kw = {"labels": [0, 1], **kwargs}
    with pytest.raises(InputError, match=match) as info:
        bootstrap_intervals([0, 1, 0], [0, 1, 1], **kw)
    assert "\n" not in str(info.value)


def test_resample_index_blocks_cover_every_resample_once():
    blocks = list(resample_index_blocks(1000, 2500, 3))
    assert sum(len(b) for b in blocks) == 2500
    assert all(b.shape[1] == 1000 and b.min() >= 0 and b.max() < 1000 for b in blocks)
