"""Confusion-matrix metrics and probabilistic scores against scikit-learn, plus input validation."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as skm

from attnlab.errors import InputError
from attnlab.metrics import functional as F
from attnlab.metrics.functional import UndefinedMetricWarning

TOL = dict(rtol=1e-10, atol=1e-10)
FAST = settings(max_examples=60, deadline=None)


@st.composite
def label_pairs(draw, min_classes=2, max_classes=5, max_n=40):
    """Integer labels 0..C-1; y_pred drawn from a random subset so classes go missing."""
    n_classes = draw(st.integers(min_classes, max_classes))
    n = draw(st.integers(1, max_n))
    true_classes = draw(st.lists(st.integers(0, n_classes - 1), min_size=1, max_size=n_classes, unique=True))
    pred_classes = draw(st.lists(st.integers(0, n_classes - 1), min_size=1, max_size=n_classes, unique=True))
    y_true = draw(arrays(np.int64, n, elements=st.sampled_from(true_classes)))
    y_pred = draw(arrays(np.int64, n, elements=st.sampled_from(pred_classes)))
    return y_true, y_pred, list(range(n_classes))


@st.composite
def proba_inputs(draw, min_classes=2, max_classes=5, max_n=40):
    """Labels plus a probability matrix with exact zeros and ties (integer weights, normalised)."""
    n_classes = draw(st.integers(min_classes, max_classes))
    n = draw(st.integers(1, max_n))
    y_true = draw(arrays(np.int64, n, elements=st.integers(0, n_classes - 1)))
    weights = draw(arrays(np.int64, (n, n_classes), elements=st.integers(0, 5))).astype(np.float64)
    weights[:, 0] += weights.sum(axis=1) == 0
    return y_true, weights / weights.sum(axis=1, keepdims=True), list(range(n_classes))


def sk_zero_division(zd):
    return np.nan if zd == "nan" else float(zd)


@contextlib.contextmanager
def quiet():
    """Silence the UndefinedMetricWarnings both libraries emit on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --------------------------------------------------------------------------- confusion matrix


@FAST
@given(label_pairs())
def test_confusion_matrix_matches_sklearn(data):
    y_true, y_pred, labels = data
    order = labels[::-1]  # a non-sorted order must be respected too
    ours = F.confusion_matrix(y_true, y_pred, labels=order)
    np.testing.assert_array_equal(ours, skm.confusion_matrix(y_true, y_pred, labels=order))
    assert ours.dtype == np.int64 and ours.sum() == len(y_true)


def test_confusion_matrix_label_order_rows_true_columns_predicted():
    y_true = ["spam", "spam", "ham", "eggs"]
    y_pred = ["ham", "spam", "ham", "spam"]
    cm = F.confusion_matrix(y_true, y_pred, labels=["spam", "ham", "eggs"])
    # row = true label, column = predicted label, both in the given order
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert F.confusion_matrix(y_true, y_pred, labels=["eggs", "ham", "spam"]).tolist() == [
        [0, 0, 1], [0, 1, 0], [0, 1, 1]]


def test_update_merges_by_addition():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 4, 1000), rng.integers(0, 4, 1000)
    whole = F.classification._confusion_matrix_update(t, p, 4)
    parts = sum(F.classification._confusion_matrix_update(t[i:i + 100], p[i:i + 100], 4) for i in range(0, 1000, 100))
    np.testing.assert_array_equal(whole, parts)


# --------------------------------------------------------------------------- precision / recall / F


@settings(max_examples=80, deadline=None)
@given(label_pairs(), st.sampled_from([0, 1, "nan"]), st.sampled_from([1.0, 0.5, 2.0]))
def test_prfs_matches_sklearn(data, zero_division, beta):
    y_true, y_pred, labels = data
    zd = sk_zero_division(zero_division)
    with quiet():
        for average in (None, "macro", "micro", "weighted"):
            ours = F.precision_recall_fscore_support(y_true, y_pred, labels=labels, beta=beta, average=average,
                                                     zero_division=zero_division)
            ref = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, beta=beta, average=average,
                                                      zero_division=zd)
            if average is None:
                for a, b in zip(ours, ref):
                    np.testing.assert_allclose(a, b, **TOL)
                continue
            assert ours[3] is None
            for a, b in zip(ours[:3], ref[:3]):
                if a is None and not np.isnan(b):
                    # the one deliberate difference: every class with a defined value has support 0;
                    # scikit-learn then drops the weights, attnlab calls the weighted mean undefined
                    assert average == "weighted" and zero_division == "nan"
                else:
                    np.testing.assert_allclose(np.nan if a is None else a, b, **TOL)


@FAST
@given(label_pairs(), st.sampled_from([0, 1, "nan"]))
def test_single_metric_helpers_match_sklearn(data, zero_division):
    y_true, y_pred, labels = data
    zd = sk_zero_division(zero_division)
    kw = dict(labels=labels, zero_division=zero_division)
    with quiet():
        for average in (None, "macro", "micro"):
            pairs = [(F.precision_score(y_true, y_pred, average=average, **kw),
                      skm.precision_score(y_true, y_pred, labels=labels, average=average, zero_division=zd)),
                     (F.recall_score(y_true, y_pred, average=average, **kw),
                      skm.recall_score(y_true, y_pred, labels=labels, average=average, zero_division=zd)),
                     (F.f1_score(y_true, y_pred, average=average, **kw),
                      skm.f1_score(y_true, y_pred, labels=labels, average=average, zero_division=zd)),
                     (F.fbeta_score(y_true, y_pred, beta=3.0, average=average, **kw),
                      skm.fbeta_score(y_true, y_pred, beta=3.0, labels=labels, average=average, zero_division=zd))]
            for a, b in pairs:
                np.testing.assert_allclose(np.nan if a is None else a, b, **TOL)


def test_zero_division_policies():
    y_true, y_pred, labels = ["a", "a", "b"], ["a", "a", "a"], ["a", "b", "c"]
    # b: never predicted -> precision 0/0; c: in neither -> precision, recall, F all 0/0
    p, r, f, s = F.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division="nan")
    assert np.isnan(p[1]) and np.isnan(p[2]) and np.isnan(r[2]) and np.isnan(f[2])
    assert r[1] == 0.0 and f[1] == 0.0 and s.tolist() == [2, 1, 0]
    # "nan": undefined classes are left out of the macro average
    assert F.precision_score(y_true, y_pred, labels=labels, average="macro", zero_division="nan") == 2 / 3
    assert F.recall_score(y_true, y_pred, labels=labels, average="macro", zero_division="nan") == 0.5
    assert F.precision_score(y_true, y_pred, labels=labels, average="macro", zero_division=0) == pytest.approx(2 / 9)
    assert F.precision_score(y_true, y_pred, labels=labels, average="macro", zero_division=1) == pytest.approx(
        (2 / 3 + 1 + 1) / 3)
    assert F.precision_score(y_true, y_pred, labels=labels, average="macro", zero_division=np.nan) == 2 / 3
    for bad in (0.5, "warn", None, True, 2):
        with pytest.raises(InputError, match="zero_division"):
            F.f1_score(y_true, y_pred, labels=labels, zero_division=bad)


def test_default_zero_division_is_nan():
    assert F.DEFAULT_ZERO_DIVISION == "nan"
    p = F.precision_score([0, 1], [0, 0], labels=[0, 1])
    assert np.isnan(p[1])


def test_all_undefined_average_is_none_with_warning():
    # y_true all "a", y_pred all "b": precision of "a" undefined; precision of "b" = 0 with support 0
    with pytest.warns(UndefinedMetricWarning, match="weighted"):
        assert F.precision_score(["a"], ["b"], labels=["a", "b"], average="weighted") is None


# --------------------------------------------------------------------------- agreement scores


@settings(max_examples=80, deadline=None)
@given(label_pairs(max_classes=6))
def test_agreement_scores_match_sklearn(data):
    y_true, y_pred, labels = data
    with quiet():
        np.testing.assert_allclose(F.accuracy_score(y_true, y_pred, labels=labels),
                                   skm.accuracy_score(y_true, y_pred), **TOL)
        np.testing.assert_allclose(F.balanced_accuracy_score(y_true, y_pred, labels=labels),
                                   skm.balanced_accuracy_score(y_true, y_pred), **TOL)
        ours = F.balanced_accuracy_score(y_true, y_pred, labels=labels, adjusted=True)
        if len(np.unique(y_true)) == 1:
            assert ours is None  # chance level 1: scikit-learn divides by zero here
        else:
            np.testing.assert_allclose(ours, skm.balanced_accuracy_score(y_true, y_pred, adjusted=True), **TOL)
        ours = F.matthews_corrcoef(y_true, y_pred, labels=labels)
        ref = skm.matthews_corrcoef(y_true, y_pred)
        if ours is None:  # documented policy: undefined where scikit-learn says 0.0
            assert ref == 0.0 and (len(np.unique(y_true)) == 1 or len(np.unique(y_pred)) == 1)
        else:
            np.testing.assert_allclose(ours, ref, **TOL)
        ours = F.cohen_kappa_score(y_true, y_pred, labels=labels)
        ref = skm.cohen_kappa_score(y_true, y_pred, labels=labels)
        np.testing.assert_allclose(np.nan if ours is None else ours, ref, **TOL)


def test_mcc_constant_predictions_is_none_with_reason():
    with pytest.warns(UndefinedMetricWarning, match="MCC undefined"):
        assert F.matthews_corrcoef(["a", "b", "a"], ["a", "a", "a"], labels=["a", "b"]) is None
    assert F.matthews_corrcoef(["a", "b"], ["a", "b"], labels=["a", "b"]) == 1.0


def test_binary_counts_match_sklearn():
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.choice(["ham", "spam"], 200), rng.choice(["ham", "spam"], 200)
    tn, fp, fn, tp = skm.confusion_matrix(y_true, y_pred, labels=["ham", "spam"]).ravel()
    c = F.binary_counts(y_true, y_pred, labels=["ham", "spam"], positive_label="spam")
    assert (c.tp, c.fn, c.fp, c.tn) == (tp, fn, fp, tn)
    assert c.specificity == pytest.approx(tn / (tn + fp), abs=1e-12)
    assert c.npv == pytest.approx(tn / (tn + fn), abs=1e-12)
    assert c.specificity == pytest.approx(skm.recall_score(y_true, y_pred, pos_label="ham"), abs=1e-12)
    assert c.npv == pytest.approx(skm.precision_score(y_true, y_pred, pos_label="ham"), abs=1e-12)
    with pytest.raises(InputError, match="positive_label"):
        F.binary_counts(y_true, y_pred, labels=["ham", "spam"], positive_label="eggs")
    c = F.binary_counts(["spam"], ["spam"], labels=["ham", "spam"], positive_label="spam")
    assert np.isnan(c.specificity) and c.specificity_undefined and np.isnan(c.npv)


# --------------------------------------------------------------------------- probabilistic scores


@settings(max_examples=80, deadline=None)
@given(proba_inputs())
def test_log_loss_and_brier_match_sklearn(data):
    y_true, proba, labels = data
    np.testing.assert_allclose(F.log_loss(y_true, proba, labels=labels),
                               skm.log_loss(y_true, proba, labels=labels), **TOL)
    np.testing.assert_allclose(F.brier_score_loss(y_true, proba, labels=labels),
                               skm.brier_score_loss(y_true, proba, labels=labels), **TOL)
    if len(labels) == 2:  # binary Brier = MSE of the positive-class probability
        np.testing.assert_allclose(F.brier_score_loss(y_true, proba, labels=labels),
                                   skm.brier_score_loss(y_true, proba[:, 1]), **TOL)


def test_log_loss_eps_clipping():
    proba = np.array([[1.0, 0.0], [0.5, 0.5]])
    expected = (-np.log(1e-3) - np.log(0.5)) / 2
    assert F.log_loss([1, 0], proba, labels=[0, 1], eps=1e-3) == pytest.approx(expected, rel=1e-12)
    assert np.isfinite(F.log_loss([1, 0], proba, labels=[0, 1]))
    with pytest.raises(InputError, match="eps"):
        F.log_loss([1, 0], proba, labels=[0, 1], eps=0)


def ece_reference(y_true, proba, n_bins):
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        rows = [i for i in range(len(y_true))
                if (lo < proba[i].max() <= hi) or (b == 0 and proba[i].max() == 0)]
        if rows:
            conf = sum(proba[i].max() for i in rows)
            correct = sum(int(np.argmax(proba[i]) == y_true[i]) for i in rows)
            total += abs(correct - conf)
    return total / len(y_true)


@FAST
@given(proba_inputs(), st.sampled_from([1, 3, 10, 15]))
def test_ece_matches_loop_reference(data, n_bins):
    y_true, proba, labels = data
    proba = np.round(proba, 3) + 1e-9  # keep away from exact bin edges, where float binning may differ
    proba /= proba.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(F.expected_calibration_error(y_true, proba, labels=labels, n_bins=n_bins),
                               ece_reference(y_true, proba, n_bins), **TOL)


def test_ece_perfectly_calibrated_and_edges():
    proba = np.array([[0.75, 0.25]] * 4)
    assert F.expected_calibration_error([0, 0, 0, 1], proba, labels=[0, 1]) == pytest.approx(0.0, abs=1e-15)
    # a confidence equal to a bin edge goes to the lower bin (bins are (lo, hi])
    counts, _, _ = F.calibration._calibration_bins_update(np.array([0]), np.array([[0.6, 0.4]]), 5)
    assert counts.tolist() == [0, 0, 1, 0, 0]
    with pytest.raises(InputError, match="n_bins"):
        F.expected_calibration_error([0], [[1.0, 0.0]], labels=[0, 1], n_bins=0)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("call, match", [
    (lambda: F.confusion_matrix(["a", "x"], ["a", "a"], labels=["a", "b"]), "not in labels"),
    (lambda: F.confusion_matrix(["a", "b"], ["a", "zz"], labels=["a", "b"]), "y_pred has 1 value"),
    (lambda: F.confusion_matrix(["a", "b"], ["a"], labels=["a", "b"]), "one entry per example"),
    (lambda: F.confusion_matrix([], [], labels=["a", "b"]), "at least one example"),
    (lambda: F.confusion_matrix(["a"], ["a"], labels=["a", "a"]), "unique"),
    (lambda: F.confusion_matrix(["a"], ["a"], labels="ab"), "list of class labels"),
    (lambda: F.confusion_matrix([[0, 1]], [[0, 1]], labels=[0, 1]), "1-D"),
    (lambda: F.confusion_matrix([0.0, np.nan], [0.0, 0.0], labels=[0.0, 1.0]), "not in labels"),
    (lambda: F.f1_score(["a"], ["a"], labels=["a", "b"], average="samples"), "average"),
    (lambda: F.fbeta_score(["a"], ["a"], labels=["a", "b"], beta=-1), "beta"),
    (lambda: F.log_loss([0, 1], [[0.5, np.nan], [0.5, 0.5]], labels=[0, 1]), "finite"),
    (lambda: F.log_loss([0, 1], [[0.5, np.inf], [0.5, 0.5]], labels=[0, 1]), "finite"),
    (lambda: F.log_loss([0, 1], [[0.5, 0.6], [0.5, 0.5]], labels=[0, 1]), "sum to 1"),
    (lambda: F.log_loss([0, 1], [[1.5, -0.5], [0.5, 0.5]], labels=[0, 1]), r"\[0, 1\]"),
    (lambda: F.log_loss([0, 1], [[0.5, 0.5]], labels=[0, 1]), "shape"),
    (lambda: F.log_loss([0, 1], [0.5, 0.5], labels=[0, 1]), "shape"),
    (lambda: F.brier_score_loss([0, 1], [["a", "b"], ["c", "d"]], labels=[0, 1]), "numeric"),
    (lambda: F.brier_score_loss([0], [[1.0]], labels=[0]), "at least 2"),
])
def test_invalid_input_raises_input_error(call, match):
    with pytest.raises(InputError, match=match) as info:
        call()
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_string_and_mixed_label_encoding():
    y = np.array(["b", "a", "b"], dtype=object)
    assert F.confusion_matrix(y, ["a", "a", "b"], labels=["b", "a"]).tolist() == [[1, 1], [0, 1]]
    mixed = np.array([1, "a", None], dtype=object)
    with pytest.raises(InputError, match="not in labels"):
        F.confusion_matrix(mixed, mixed, labels=[1, "a"])
    # numpy integer labels and values are accepted and reported as plain ints
    assert F.accuracy_score(np.array([0, 2]), np.array([0, 1]), labels=np.arange(3)) == 0.5


def test_import_does_not_pull_torch():
    code = "import attnlab.metrics, sys; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bool_and_set_labels():
    assert F.confusion_matrix(np.array([True, False, True]), np.array([True, True, True]),
                              labels=[False, True]).tolist() == [[0, 1], [0, 2]]
    with pytest.raises(InputError, match="order"):
        F.confusion_matrix(["a"], ["a"], labels={"a", "b"})


def test_empty_confusion_matrix_computes_are_undefined_not_nan():
    cm = np.zeros((2, 2), dtype=np.int64)  # e.g. a streaming state before any update
    for compute in (F.classification._accuracy_compute, F.classification._balanced_accuracy_compute):
        result = compute(cm)
        assert result.value is None and "no examples" in result.reason
