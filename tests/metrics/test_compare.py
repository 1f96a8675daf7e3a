"""Paired comparison: McNemar against hand and SciPy references, paired bootstrap against naive resampling."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from attnlab.errors import InputError
from attnlab.metrics import f1_score
from attnlab.metrics.bootstrap import resample_index_blocks
from attnlab.metrics.compare import mcnemar_test, mcnemar_test_from_counts, paired_bootstrap_test


# --------------------------------------------------------------------------- McNemar


def test_mcnemar_textbook_exact():
    r = mcnemar_test_from_counts(10, 2)
    assert r["method"] == "exact-binomial" and r["alternative"] == "two-sided"
    assert r["p_value"] == pytest.approx(2 * (1 + 12 + 66) / 2**12)  # 0.0386
    assert (r["b"], r["c"], r["n_discordant"], r["statistic"]) == (10, 2, 12, 2.0)


def test_mcnemar_chi2_with_continuity_correction():
    r = mcnemar_test_from_counts(40, 20)  # 60 discordant pairs: chi-square
    assert r["method"] == "chi2-continuity"
    assert r["statistic"] == pytest.approx(19**2 / 60)
    # chi-square(1) survival = P(|Z| > sqrt(x)) = 2 (1 - Phi(sqrt(x)))
    assert r["p_value"] == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(math.sqrt(19**2 / 60) / math.sqrt(2)))))


@pytest.mark.parametrize("b, c", [(0, 0), (5, 5), (0, 24), (3, 11), (12, 12), (1, 0)])
def test_mcnemar_exact_matches_scipy_binomtest(b, c):
    stats = pytest.importorskip("scipy.stats")
    r = mcnemar_test_from_counts(b, c)
    expected = 1.0 if b + c == 0 else stats.binomtest(min(b, c), b + c, 0.5).pvalue
    assert r["p_value"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("b, c", [(25, 0), (30, 18), (100, 130), (13, 13), (200, 199)])
def test_mcnemar_chi2_matches_scipy(b, c):
    stats = pytest.importorskip("scipy.stats")
    r = mcnemar_test_from_counts(b, c)
    assert r["method"] == "chi2-continuity"
    x = max(abs(b - c) - 1, 0) ** 2 / (b + c)
    assert r["p_value"] == pytest.approx(stats.chi2.sf(x, 1), rel=1e-10)


def test_mcnemar_method_override_and_counts_from_predictions():
    assert mcnemar_test_from_counts(30, 20, method="exact")["method"] == "exact-binomial"
    assert mcnemar_test_from_counts(3, 1, method="chi2")["method"] == "chi2-continuity"
    y = ["a", "b", "a", "b", "a", "b"]
    base = ["a", "b", "b", "a", "a", "a"]  # right on 0, 1, 4
    system = ["a", "a", "a", "b", "b", "b"]  # right on 0, 2, 3, 5
    r = mcnemar_test(y, base, system, labels=["a", "b"])
    assert (r["b"], r["c"]) == (2, 3)  # base-only right: 1, 4; system-only right: 2, 3, 5
    json.dumps(r, allow_nan=False)


@pytest.mark.parametrize("kwargs, match", [
    (dict(b=-1, c=2), "non-negative"), (dict(b=1.5, c=2), "non-negative"), (dict(b=1, c=2, method="z"), "method"),
])
def test_mcnemar_invalid(kwargs, match):
    with pytest.raises(InputError, match=match):
        mcnemar_test_from_counts(**kwargs)


# --------------------------------------------------------------------------- paired bootstrap


def systems(seed, n=200, n_classes=3, skill_a=0.6, skill_b=0.7):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    a = np.where(rng.random(n) < skill_a, y, rng.integers(0, n_classes, n))
    b = np.where(rng.random(n) < skill_b, y, rng.integers(0, n_classes, n))
    return y, a, b


@pytest.mark.parametrize("seed", [0, 3])
def test_paired_bootstrap_equals_naive_resampling(seed):
    y, a, b = systems(seed, n=80)
    labels = [0, 1, 2]
    res = paired_bootstrap_test(y, a, b, labels=labels, metrics=["macro.f1", "accuracy", "per_class.2.recall"],
                                n_resamples=150, seed=seed)
    diffs = {"macro.f1": [], "accuracy": [], "per_class.2.recall": []}
    for idx in np.concatenate(list(resample_index_blocks(len(y), 150, seed))):
        yt, pa, pb = y[idx], a[idx], b[idx]
        diffs["macro.f1"].append(f1_score(yt, pb, labels=labels, average="macro")
                                 - f1_score(yt, pa, labels=labels, average="macro"))
        diffs["accuracy"].append(np.mean(pb == yt) - np.mean(pa == yt))
        with np.errstate(invalid="ignore"):
            diffs["per_class.2.recall"].append(np.mean(pb[yt == 2] == 2) - np.mean(pa[yt == 2] == 2))
    for path, values in diffs.items():
        d = np.array(values)
        entry = res[path]
        observed = entry["difference"]
        assert entry["n_undefined"] == 0
        assert entry["mean_difference"] == pytest.approx(d.mean(), abs=1e-12)
        low, high = np.quantile(d, [0.025, 0.975])
        assert (entry["low"], entry["high"]) == pytest.approx((low, high), abs=1e-12)
        flips = np.sum(d <= 0) if observed > 0 else np.sum(d >= 0)
        assert entry["p_value"] == pytest.approx(min(1.0, 2 * (flips + 1) / 151))
    acc = res["accuracy"]
    assert acc["baseline"] == pytest.approx(np.mean(a == y)) and acc["system"] == pytest.approx(np.mean(b == y))
    assert acc["difference"] == pytest.approx(acc["system"] - acc["baseline"])


def test_identical_systems_do_not_differ():
    y, a, _ = systems(1)
    res = paired_bootstrap_test(y, a, a, labels=[0, 1, 2], n_resamples=100)
    for entry in res.values():
        assert entry["difference"] == 0 and entry["p_value"] == 1.0
        assert entry["low"] == entry["high"] == 0.0


def test_clearly_better_system_is_significant_and_swap_is_symmetric():
    y, a, b = systems(2, n=500, skill_a=0.5, skill_b=0.85)
    res = paired_bootstrap_test(y, a, b, labels=[0, 1, 2], n_resamples=500)
    swapped = paired_bootstrap_test(y, b, a, labels=[0, 1, 2], n_resamples=500)
    for path in ("macro.f1", "accuracy"):
        assert res[path]["difference"] > 0 and res[path]["low"] > 0
        assert res[path]["p_value"] == pytest.approx(2 / 501)  # no flip: the smallest p-value R resamples give
        assert swapped[path]["difference"] == pytest.approx(-res[path]["difference"])
        assert (swapped[path]["low"], swapped[path]["high"]) == pytest.approx((-res[path]["high"], -res[path]["low"]))
        assert swapped[path]["p_value"] == res[path]["p_value"]


@pytest.mark.parametrize("seed", range(8))
def test_p_value_agrees_with_the_interval(seed):
    y, a, b = systems(seed, n=150, skill_a=0.6, skill_b=0.6 + 0.03 * seed)
    res = paired_bootstrap_test(y, a, b, labels=[0, 1, 2], n_resamples=400, seed=seed)
    for entry in res.values():
        excludes_zero = entry["low"] > 0 or entry["high"] < 0
        if entry["p_value"] < 0.04:
            assert excludes_zero, entry
        if entry["p_value"] > 0.06:
            assert not excludes_zero, entry


def test_undefined_metric_gives_no_p_value():
    y = ["a"] * 40 + ["b"]
    res = paired_bootstrap_test(y, ["a"] * 41, ["a"] * 40 + ["b"], labels=["a", "b"],
                                metrics=["per_class.b.recall", "binary.npv"], positive_label="b", n_resamples=100)
    recall = res["per_class.b.recall"]
    assert recall["difference"] == 1.0 and recall["p_value"] is None and "undefined in" in recall["reason"]
    assert res["binary.npv"]["p_value"] is not None
    json.dumps(res, allow_nan=False)


@pytest.mark.parametrize("kwargs, match", [
    (dict(metrics=["f1"]), "unknown metric path"),
    (dict(metrics="accuracy"), "list of metric paths"),
    (dict(metrics=["binary.npv"]), "unknown metric path"),  # needs positive_label
    (dict(n_resamples=0), "n_resamples"),
])
def test_paired_bootstrap_invalid(kwargs, match):
    with pytest.raises(InputError, match=match):
        paired_bootstrap_test([0, 1], [0, 1], [1, 1], labels=[0, 1], **kwargs)


def test_systems_must_have_one_prediction_per_example():
    with pytest.raises(InputError, match="y_pred_system"):
        mcnemar_test([0, 1], [0, 1], [1], labels=[0, 1])
