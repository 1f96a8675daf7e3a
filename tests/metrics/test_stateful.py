"""Stateful metrics: batched == merged == one-shot, exactly; values match scikit-learn."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as skm

from attnlab.errors import InputError
from attnlab.metrics import (
    ClassificationEvaluator,
    ConfusionMatrixState,
    ProbabilityState,
    ScoreCurveState,
    UndefinedMetricWarning,
    binary_precision_recall_curve,
    binary_roc_curve,
    classification_report,
)
from attnlab.metrics.functional.exact_sum import _exact_sum_compute, _exact_sum_update


def split_points(draw, n, max_parts=6):
    cuts = draw(st.lists(st.integers(0, n), max_size=max_parts - 1))
    return [0, *sorted(cuts), n]


@st.composite
def evaluator_inputs(draw):
    n_classes = draw(st.integers(2, 4))
    labels = draw(st.sampled_from([[f"c{i}" for i in range(n_classes)], list(range(n_classes))[::-1]]))
    n = draw(st.integers(1, 40))
    y_true = np.array([labels[i] for i in draw(arrays(np.int64, n, elements=st.integers(0, n_classes - 1)))])
    y_pred = np.array([labels[i] for i in draw(arrays(np.int64, n, elements=st.integers(0, n_classes - 1)))])
    proba = None
    if draw(st.booleans()):
        # few distinct values, so ties between rows and chunks are common
        w = draw(arrays(np.int64, (n, n_classes), elements=st.integers(0, 4))).astype(np.float64)
        w[:, 0] += w.sum(axis=1) == 0
        proba = w / w.sum(axis=1, keepdims=True)
    positive = draw(st.sampled_from([None, labels[-1]]))
    if proba is not None and n_classes == 2 and positive is not None and draw(st.booleans()):
        proba = proba[:, labels.index(positive)]  # the positive label's probability only
    kwargs = dict(labels=labels, positive_label=positive, zero_division=draw(st.sampled_from([0, 1, "nan"])))
    return y_true, y_pred, proba, kwargs, split_points(draw, n)


def make_evaluator(kwargs, proba):
    return ClassificationEvaluator(kwargs["labels"], positive_label=kwargs["positive_label"],
                                   zero_division=kwargs["zero_division"], proba=proba is not None)


@settings(max_examples=80, deadline=None)
@given(evaluator_inputs(), st.randoms(use_true_random=False))
def test_batched_and_merged_equal_one_shot_report(inputs, rnd):
    y_true, y_pred, proba, kwargs, cuts = inputs
    one_shot = classification_report(y_true, y_pred, proba=proba, **kwargs)
    parts = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        ev = make_evaluator(kwargs, proba)
        if hi > lo:
            ev.update(y_true[lo:hi], y_pred[lo:hi], proba=None if proba is None else proba[lo:hi])
        parts.append(ev)
    rnd.shuffle(parts)  # merge order must not matter
    merged = parts[0]
    for other in parts[1:]:
        merged.merge(other)
    assert merged.compute() == one_shot
    # one evaluator, many updates, then a state_dict round trip through pickle
    batched = make_evaluator(kwargs, proba)
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        if hi > lo:
            batched.update(y_true[lo:hi], y_pred[lo:hi], proba=None if proba is None else proba[lo:hi])
    restored = ClassificationEvaluator.from_state(pickle.loads(pickle.dumps(batched.state_dict())))
    assert restored.compute() == one_shot


def test_evaluator_matches_sklearn_multiclass():
    rng = np.random.default_rng(3)
    labels = ["neg", "neu", "pos"]
    y = rng.integers(0, 3, 3000)
    proba = rng.dirichlet(np.ones(3), 3000)
    pred = proba.argmax(1)
    ev = ClassificationEvaluator(labels, proba=True)
    for lo in range(0, 3000, 700):
        ev.update([labels[i] for i in y[lo:lo + 700]], [labels[i] for i in pred[lo:lo + 700]], proba[lo:lo + 700])
    m = ev.compute()["metrics"]
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"), abs=1e-12)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, proba), abs=1e-12)
    assert m["macro"]["f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=1e-12)
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(y, pred), abs=1e-12)
    ap = [skm.average_precision_score(y == c, proba[:, c]) for c in range(3)]
    assert m["average_precision"] == pytest.approx(np.mean(ap), abs=1e-12)


def test_binary_vector_and_matrix_paths_agree_including_half_ties():
    rng = np.random.default_rng(4)
    p = rng.choice([0.0, 0.25, 0.5, 0.5, 0.75, 1.0, 0.3], 500)
    for labels, positive in ((["a", "b"], "b"), (["b", "a"], "b")):  # positive second, then first
        y = rng.choice(labels, 500)
        pred = np.where(p >= 0.5, positive, [lab for lab in labels if lab != positive][0])
        pos_col = labels.index(positive)
        matrix = np.empty((500, 2))
        matrix[:, pos_col], matrix[:, 1 - pos_col] = p, 1.0 - p
        from_vector = classification_report(y, pred, labels=labels, proba=p, positive_label=positive)
        from_matrix = classification_report(y, pred, labels=labels, proba=matrix, positive_label=positive)
        assert from_vector == from_matrix
        is_pos = y == positive
        assert from_vector["metrics"]["brier_score"] == pytest.approx(skm.brier_score_loss(is_pos, p), abs=1e-15)


def test_probability_sums_do_not_depend_on_chunking():
    rng = np.random.default_rng(5)
    proba = rng.dirichlet(np.full(5, 0.3), 20_000)
    y = rng.integers(0, 5, 20_000)
    whole = ProbabilityState(5)
    whole.update(y, proba)
    pieces = ProbabilityState(5)
    for lo in range(0, 20_000, 1_234):
        pieces.update(y[lo:lo + 1_234], proba[lo:lo + 1_234])
    assert pieces.compute() == whole.compute()
    terms = -np.log(np.clip(proba[np.arange(20_000), y], 2.2e-16, 1))
    assert whole.compute()["log_loss"] == math.fsum(terms.tolist()) / 20_000


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=60))
def test_exact_sum_is_correctly_rounded(values):
    total = _exact_sum_compute(_exact_sum_update(np.array(values, dtype=np.float64)))[0]
    try:
        assert total == math.fsum(values)
    except OverflowError:  # fsum overflows on huge intermediate totals; the exact sum is still finite
        pass


# --------------------------------------------------------------------------- score curves


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 60), st.integers(0, 5), st.data())
def test_curve_state_is_exact_under_any_chunking(n, n_distinct_exp, data):
    values = np.round(np.linspace(-1, 1, 2 ** n_distinct_exp + 1), 6)
    scores = data.draw(arrays(np.float64, n, elements=st.sampled_from(values.tolist())))
    y = data.draw(arrays(np.bool_, n))
    cuts = split_points(data.draw, n)
    whole, merged = ScoreCurveState(), None
    whole.update(y, scores)
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        part = ScoreCurveState()
        part.update(y[lo:hi], scores[lo:hi])
        merged = part if merged is None else part.merge(merged)
    for a, b in zip(whole.counts(), merged.counts()):
        np.testing.assert_array_equal(a, b)
    labels = [False, True]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for ours, ref in zip(merged.roc_curve(), binary_roc_curve(y, scores, labels=labels, positive_label=True)):
            np.testing.assert_array_equal(ours, ref)
        for ours, ref in zip(merged.precision_recall_curve(),
                             binary_precision_recall_curve(y, scores, labels=labels, positive_label=True)):
            np.testing.assert_array_equal(ours, ref)
    if y.any() and not y.all():
        assert merged.roc_auc() == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)
        assert merged.average_precision() == pytest.approx(skm.average_precision_score(y, scores), abs=1e-12)
        fpr, tpr, thr = merged.roc_curve()
        sk_fpr, sk_tpr, sk_thr = skm.roc_curve(y, scores)
        np.testing.assert_array_equal(fpr, sk_fpr)
        np.testing.assert_array_equal(tpr, sk_tpr)
        np.testing.assert_array_equal(thr[1:], sk_thr[1:])  # scikit-learn's first threshold is inf too (>= 1.3)


def test_curve_state_float32_counts_match_float64_thresholds():
    rng = np.random.default_rng(6)
    s32 = rng.random(5000).astype(np.float32).round(3)
    y = rng.random(5000) < 0.4
    a, b = ScoreCurveState(), ScoreCurveState()
    a.update(y, s32)
    b.update(y, s32.astype(np.float64))
    assert a.counts()[0].dtype == np.float32
    np.testing.assert_array_equal(a.counts()[0], b.counts()[0])
    assert a.roc_auc() == b.roc_auc() and a.average_precision() == b.average_precision()


def test_signed_zero_is_one_score():
    state = ScoreCurveState()
    state.update([True, False], [0.0, -0.0])
    values, pos, neg = state.counts()
    assert values.tolist() == [0.0] and not np.signbit(values[0]) and pos.tolist() == neg.tolist() == [1]


def test_binned_curve_is_exact_at_grid_thresholds_and_close_overall():
    rng = np.random.default_rng(7)
    y = rng.random(50_000) < 0.3
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.15), 0, 1)
    binned = ScoreCurveState(n_bins=201)
    for lo in range(0, 50_000, 9_999):
        binned.update(y[lo:lo + 9_999], s[lo:lo + 9_999])
    fps, tps, thr = binned._curve()
    for k in (0, len(thr) // 2, len(thr) - 2):
        assert tps[k] == np.count_nonzero(y & (s >= thr[k])) and fps[k] == np.count_nonzero(~y & (s >= thr[k]))
    assert binned.roc_auc() == pytest.approx(skm.roc_auc_score(y, s), abs=2e-3)
    assert binned.average_precision() == pytest.approx(skm.average_precision_score(y, s), abs=5e-3)
    restored = ScoreCurveState.from_state(binned.state_dict())
    assert restored.roc_auc() == binned.roc_auc()


def test_empty_and_one_class_curves_are_undefined_not_zero():
    empty = ScoreCurveState()
    with pytest.warns(UndefinedMetricWarning, match="no examples"):
        assert empty.roc_auc() is None
    one_class = ScoreCurveState()
    one_class.update([True, True], [0.2, 0.9])
    with pytest.warns(UndefinedMetricWarning, match="only one class"):
        assert one_class.compute()["roc_auc"] is None


# --------------------------------------------------------------------------- confusion state, configuration


def test_confusion_state_methods_match_functional_and_sklearn():
    rng = np.random.default_rng(8)
    y, p = rng.integers(0, 4, 400), rng.integers(0, 4, 400)
    state = ConfusionMatrixState([0, 1, 2, 3])
    state.update(y[:150], p[:150])
    state.update_indices(y[150:], p[150:])
    np.testing.assert_array_equal(state.matrix, skm.confusion_matrix(y, p))
    assert state.accuracy() == pytest.approx(skm.accuracy_score(y, p))
    assert state.cohen_kappa() == pytest.approx(skm.cohen_kappa_score(y, p))
    assert state.balanced_accuracy() == pytest.approx(skm.balanced_accuracy_score(y, p))
    f = state.precision_recall_fscore_support(average="weighted")[2]
    assert f == pytest.approx(skm.f1_score(y, p, average="weighted"))
    assert state.binary_counts(2).tp == int(np.sum((y == 2) & (p == 2)))
    assert state.compute()["macro"]["recall"] == pytest.approx(skm.recall_score(y, p, average="macro"))


def test_merge_and_restore_reject_mismatched_configuration():
    with pytest.raises(InputError, match="different labels"):
        ConfusionMatrixState(["a", "b"]).merge(ConfusionMatrixState(["b", "a"]))
    with pytest.raises(InputError, match="same labels and options"):
        ClassificationEvaluator(["a", "b"], proba=True).merge(ClassificationEvaluator(["a", "b"]))
    with pytest.raises(InputError, match="different n_bins"):
        ScoreCurveState().merge(ScoreCurveState(n_bins=10))
    with pytest.raises(InputError, match="ScoreCurveState"):
        ScoreCurveState().merge(ConfusionMatrixState(["a", "b"]))
    bad = ConfusionMatrixState(["a", "b"]).state_dict()
    bad["matrix"] = np.zeros((3, 3))
    with pytest.raises(InputError, match="shape"):
        ConfusionMatrixState.from_state(bad)


@pytest.mark.parametrize("kwargs, update, match", [
    (dict(proba=True), dict(proba=None), "pass proba"),
    (dict(), dict(proba=[0.5, 0.5]), "proba=False"),
    (dict(proba=True, positive_label="b"), dict(proba=[0.5, 1.5]), r"\[0, 1\]"),
    (dict(proba=True, positive_label="b"), dict(proba=[0.5, np.nan]), "finite"),
    (dict(proba=True), dict(proba=[0.5, 0.5]), "shape"),
])
def test_evaluator_rejects_bad_updates(kwargs, update, match):
    ev = ClassificationEvaluator(["a", "b"], **kwargs)
    with pytest.raises(InputError, match=match):
        ev.update(["a", "b"], ["a", "a"], **update)


def test_evaluator_curve_access_and_reset():
    ev = ClassificationEvaluator(["a", "b", "c"], proba=True)
    ev.update(["a", "b", "c"], ["a", "b", "b"], np.eye(3))
    assert ev.curve("b").roc_auc() == 1.0
    with pytest.raises(InputError, match="name the label"):
        ev.curve()
    ev.reset()
    assert ev.confusion.n == 0 and ev.curve("a").n_distinct == 0
    with pytest.raises(InputError, match="at least one example"):
        ev.compute()
