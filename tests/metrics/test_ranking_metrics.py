"""ROC / precision-recall curves, ROC-AUC, average precision and top-k accuracy against scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from attnlab.errors import InputError
from attnlab.metrics import functional as F
from attnlab.metrics.functional import UndefinedMetricWarning

TOL = dict(rtol=1e-10, atol=1e-10)
FAST = settings(max_examples=80, deadline=None)


@st.composite
def binary_scores(draw, max_n=50):
    """Both classes present; scores from a small grid (many ties) or arbitrary reals."""
    n = draw(st.integers(2, max_n))
    y = draw(arrays(np.int64, n, elements=st.integers(0, 1)))
    y[0], y[1] = 0, 1
    if draw(st.booleans()):
        score = draw(arrays(np.int64, n, elements=st.integers(0, 4))) / 4.0
    else:
        score = draw(arrays(np.float64, n, elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)))
    return y, score


@st.composite
def multiclass_proba(draw, min_classes=2, max_classes=5, max_n=50):
    """Every class present in y_true; integer weights normalised (exact zeros and ties)."""
    n_classes = draw(st.integers(min_classes, max_classes))
    n = draw(st.integers(n_classes, max_n))
    y = draw(arrays(np.int64, n, elements=st.integers(0, n_classes - 1)))
    y[:n_classes] = np.arange(n_classes)
    w = draw(arrays(np.int64, (n, n_classes), elements=st.integers(0, 4))).astype(np.float64)
    w[:, 0] += w.sum(axis=1) == 0
    return y, w / w.sum(axis=1, keepdims=True), list(range(n_classes))


# --------------------------------------------------------------------------- binary


@FAST
@given(binary_scores(), st.booleans())
def test_roc_curve_and_auc_match_sklearn(data, drop):
    y, s = data
    ours = F.binary_roc_curve(y, s, labels=[0, 1], positive_label=1, drop_intermediate=drop)
    ref = skm.roc_curve(y, s, drop_intermediate=drop)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, **TOL)
    np.testing.assert_allclose(F.binary_roc_auc_score(y, s, labels=[0, 1], positive_label=1),
                               skm.roc_auc_score(y, s), **TOL)
    # the negative class as positive: AUC of the negated score
    np.testing.assert_allclose(F.binary_roc_auc_score(y, -s, labels=[0, 1], positive_label=0),
                               skm.roc_auc_score(y, s), **TOL)


@FAST
@given(binary_scores())
def test_pr_curve_and_average_precision_match_sklearn(data):
    y, s = data
    labels = ["neg", "pos"]
    y_text = np.where(y == 1, "pos", "neg")
    ours = F.binary_precision_recall_curve(y_text, s, labels=labels, positive_label="pos")
    ref = skm.precision_recall_curve(y, s)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, **TOL)
    np.testing.assert_allclose(F.binary_average_precision_score(y_text, s, labels=labels, positive_label="pos"),
                               skm.average_precision_score(y, s), **TOL)


def test_average_precision_is_step_sum_not_trapezoid():
    y, s = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    ap = F.binary_average_precision_score(y, s, labels=[0, 1], positive_label=1)
    # thresholds 0.8 (R=.5, P=1), 0.4 (R=.5), 0.35 (R=1, P=2/3): .5 * 1 + .5 * 2/3
    assert ap == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-15)
    precision, recall, _ = F.binary_precision_recall_curve(y, s, labels=[0, 1], positive_label=1)
    assert ap != pytest.approx(np.trapezoid(precision[::-1], recall[::-1]))


def test_roc_auc_ties_count_half():
    assert F.binary_roc_auc_score([0, 1], [0.5, 0.5], labels=[0, 1], positive_label=1) == 0.5
    assert F.binary_roc_auc_score([0, 1, 1], [0.2, 0.2, 0.9], labels=[0, 1], positive_label=1) == 0.75


@pytest.mark.parametrize("y", [[1, 1, 1], [0, 0]])
def test_one_class_roc_auc_is_none_with_reason(y):
    s = np.linspace(0, 1, len(y))
    with pytest.warns(UndefinedMetricWarning, match="ROC-AUC undefined.*only one class"):
        assert F.binary_roc_auc_score(y, s, labels=[0, 1], positive_label=1) is None
    with pytest.warns(UndefinedMetricWarning):
        fpr, tpr, _ = F.binary_roc_curve(y, s, labels=[0, 1], positive_label=1)
    assert np.isnan(fpr).all() or np.isnan(tpr).all()
    result = F.ranking._roc_auc_compute(*F.ranking._binary_clf_curve_update(np.array(y) == 1, s)[:2])
    assert result.value is None and "only one class" in result.reason


def test_average_precision_without_positives_is_none():
    with pytest.warns(UndefinedMetricWarning, match="no positive"):
        assert F.binary_average_precision_score([0, 0], [0.2, 0.3], labels=[0, 1], positive_label=1) is None


def test_binary_score_validation():
    with pytest.raises(InputError, match="finite"):
        F.binary_roc_auc_score([0, 1], [0.1, np.nan], labels=[0, 1], positive_label=1)
    with pytest.raises(InputError, match="shape"):
        F.binary_roc_auc_score([0, 1], [[0.1, 0.9], [0.2, 0.8]], labels=[0, 1], positive_label=1)
    with pytest.raises(InputError, match="not in labels"):
        F.binary_roc_auc_score([0, 2], [0.1, 0.2], labels=[0, 1], positive_label=1)
    with pytest.raises(InputError, match="positive_label"):
        F.binary_roc_auc_score([0, 1], [0.1, 0.2], labels=[0, 1], positive_label=3)


# --------------------------------------------------------------------------- multiclass one-vs-rest


@FAST
@given(multiclass_proba(min_classes=3))
def test_multiclass_roc_auc_matches_sklearn(data):
    y, proba, labels = data
    for average in ("macro", "weighted"):
        np.testing.assert_allclose(
            F.multiclass_roc_auc_score(y, proba, labels=labels, average=average),
            skm.roc_auc_score(y, proba, multi_class="ovr", average=average, labels=labels), **TOL)
    per_class = F.multiclass_roc_auc_score(y, proba, labels=labels, average=None)
    ref = skm.roc_auc_score(label_binarize(y, classes=labels), proba, average=None)
    np.testing.assert_allclose(per_class, ref, **TOL)


@FAST
@given(multiclass_proba(min_classes=2))
def test_multiclass_average_precision_matches_sklearn(data):
    y, proba, labels = data
    per_class = F.multiclass_average_precision_score(y, proba, labels=labels, average=None)
    ref = [skm.average_precision_score(y == c, proba[:, c]) for c in labels]
    np.testing.assert_allclose(per_class, ref, **TOL)
    if len(labels) >= 3:
        for average in ("macro", "weighted"):
            np.testing.assert_allclose(
                F.multiclass_average_precision_score(y, proba, labels=labels, average=average),
                skm.average_precision_score(label_binarize(y, classes=labels), proba, average=average), **TOL)


def test_multiclass_roc_auc_binary_macro_equals_positive_column():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 100)
    p1 = rng.random(100)
    proba = np.c_[1 - p1, p1]
    assert F.multiclass_roc_auc_score(y, proba, labels=[0, 1]) == pytest.approx(skm.roc_auc_score(y, p1), abs=1e-12)


def test_multiclass_missing_class_is_left_out_with_warning():
    y = [0, 1, 0, 1]
    proba = [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.2, 0.3], [0.3, 0.3, 0.4]]
    with pytest.warns(UndefinedMetricWarning, match="label 2"):
        macro = F.multiclass_roc_auc_score(y, proba, labels=[0, 1, 2])
    with pytest.warns(UndefinedMetricWarning, match="label 2"):
        per_class = F.multiclass_roc_auc_score(y, proba, labels=[0, 1, 2], average=None)
    assert np.isnan(per_class[2]) and macro == pytest.approx(np.mean(per_class[:2]))
    with pytest.warns(UndefinedMetricWarning, match="every label"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="label")
        assert F.multiclass_roc_auc_score([0, 0], [[0.5, 0.5], [0.9, 0.1]], labels=[0, 1]) is None


@pytest.mark.parametrize("proba, match", [
    ([[0.5, 0.4, 0.2], [0.3, 0.3, 0.4]], "sum to 1"),
    ([[0.5, np.nan, 0.5], [0.3, 0.3, 0.4]], "finite"),
    ([[1.2, -0.2, 0.0], [0.3, 0.3, 0.4]], r"\[0, 1\]"),
    ([[0.5, 0.5], [0.5, 0.5]], "shape"),
])
def test_multiclass_proba_validation(proba, match):
    with pytest.raises(InputError, match=match):
        F.multiclass_roc_auc_score([0, 1], proba, labels=[0, 1, 2])


# --------------------------------------------------------------------------- top-k


@FAST
@given(multiclass_proba(min_classes=3, max_classes=6), st.data())
def test_top_k_accuracy_matches_sklearn(data, draw):
    y, proba, labels = data
    k = draw.draw(st.integers(1, len(labels) - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = skm.top_k_accuracy_score(y, proba, k=k, labels=labels)
    np.testing.assert_allclose(F.top_k_accuracy_score(y, proba, labels=labels, k=k), ref, **TOL)


def test_top_k_validation():
    proba = [[0.2, 0.3, 0.5]]
    for k in (0, 3, 1.5, True):
        with pytest.raises(InputError, match="k must be"):
            F.top_k_accuracy_score([0], proba, labels=[0, 1, 2], k=k)
    assert F.top_k_accuracy_score([1], proba, labels=[0, 1, 2], k=2) == 1.0
