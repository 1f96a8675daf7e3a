"""Operating points: brute force over every candidate threshold, ties, scikit-learn's PR curve, targets that
cannot be met, provenance."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import precision_recall_curve

from attnlab.errors import InputError
from attnlab.metrics.thresholds import ThresholdWarning, apply_threshold, choose_threshold


def counts_at(y, s, thr):
    pred = s >= thr
    return int(np.sum(pred & y)), int(np.sum(pred & ~y)), int(np.sum(~pred & y)), int(np.sum(~pred & ~y))


def brute_force(y, s, objective, params):
    """Evaluate the objective at every candidate with plain Python; best value, ties → higher threshold."""
    candidates = sorted(set(s.tolist()), reverse=True)
    if objective == "min_cost":
        candidates = [np.nextafter(candidates[0], np.inf)] + candidates
    n_pos = int(y.sum())
    rows = []
    for thr in candidates:
        tp, fp, fn, tn = counts_at(y, s, thr)
        precision = tp / (tp + fp) if tp + fp else None
        recall = tp / n_pos
        if objective == "f_beta":
            b2 = params["beta"] ** 2
            key = ((1 + b2) * tp / ((1 + b2) * tp + b2 * fn + fp),)
        elif objective == "min_cost":
            key = (-(params["cost_fp"] * fp + params["cost_fn"] * fn) / len(y),)
        elif objective == "target_recall":
            key = (recall >= params["target"], precision)
        else:
            ok = precision >= params["target"]
            key = (ok, recall) if ok else (ok, precision, recall)
        rows.append((key, thr))
    best = max(key for key, _ in rows)
    return next(thr for key, thr in rows if key == best)  # first = highest threshold


@st.composite
def scored(draw):
    n = draw(st.integers(1, 40))
    y = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    y[draw(st.integers(0, n - 1))] = True  # at least one positive
    s = np.array(draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))) / 6.0  # many ties
    return y, s


OBJECTIVES = [
    ("f_beta", dict(beta=1.0)), ("f_beta", dict(beta=2.0)), ("f_beta", dict(beta=0.5)),
    ("target_recall", dict(target=0.8)), ("target_recall", dict(target=1.0)), ("target_recall", dict(target=0.0)),
    ("target_precision", dict(target=0.75)), ("target_precision", dict(target=0.5)),
    ("min_cost", dict(cost_fp=1.0, cost_fn=5.0)), ("min_cost", dict(cost_fp=3.0, cost_fn=1.0)),
]


@settings(max_examples=60, deadline=None)
@given(scored(), st.sampled_from(OBJECTIVES))
def test_matches_brute_force_over_every_candidate(data, objective_params):
    y, s = data
    objective, params = objective_params
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdWarning)
        op = choose_threshold(y, s, labels=[False, True], positive_label=True, objective=objective,
                              tuned_on="validation", **params)
    assert op.value == brute_force(y, s, objective, params)
    tp, fp, fn, tn = counts_at(y, s, op.value)
    assert (op.tp, op.fp, op.fn, op.tn) == (tp, fp, fn, tn)
    assert op.recall == tp / (tp + fn)
    assert op.precision == (tp / (tp + fp) if tp + fp else None)
    assert op.f1 == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert apply_threshold(s, op.value).sum() == tp + fp
    if objective == "target_precision":
        assert op.achievable == any(counts_at(y, s, t)[0] / max(1, sum(counts_at(y, s, t)[:2])) >= params["target"]
                                    for t in set(s.tolist()))
    else:
        assert op.achievable


def test_ties_are_one_threshold():
    y = np.array([1, 0, 1, 0, 1, 0, 0])
    s = np.array([0.9, 0.7, 0.7, 0.7, 0.4, 0.4, 0.1])
    op = choose_threshold(y, s, labels=[0, 1], positive_label=1, objective="target_recall", target=0.6,
                          tuned_on="validation")
    # recall 2/3 needs every 0.7 example: the group of tied scores moves together
    assert (op.value, op.tp, op.fp, op.precision) == (0.7, 2, 2, 0.5)
    # precision >= 0.5 at 0.9 (1/1), 0.7 (2/4) and 0.4 (3/6): the highest recall wins
    op = choose_threshold(y, s, labels=[0, 1], positive_label=1, objective="target_precision", target=0.5,
                          tuned_on="validation")
    assert (op.value, op.recall) == (0.4, 1.0)


def test_equal_objective_prefers_the_higher_threshold():
    y = np.array([1, 0, 0, 1])
    s = np.array([0.9, 0.8, 0.3, 0.2])  # F1: 2/3 at 0.9, 2/4 at 0.8, 2/5 at 0.3, 4/6 = 2/3 at 0.2
    op = choose_threshold(y, s, labels=[0, 1], positive_label=1, objective="f_beta", tuned_on="validation")
    assert op.value == 0.9 and op.objective_value == pytest.approx(2 / 3)


@settings(max_examples=30, deadline=None)
@given(scored(), st.sampled_from(OBJECTIVES[:8]))
def test_precision_recall_agree_with_sklearn_curve(data, objective_params):
    y, s = data
    objective, params = objective_params
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ThresholdWarning)
        op = choose_threshold(y.astype(int), s, labels=[0, 1], positive_label=1, objective=objective,
                              tuned_on="validation", **params)
    precision, recall, thresholds = precision_recall_curve(y.astype(int), s)
    (i,) = np.flatnonzero(thresholds == op.value)
    assert op.precision == pytest.approx(precision[i]) and op.recall == pytest.approx(recall[i])


def test_unreachable_precision_says_so():
    y = np.array([0, 1, 0, 1, 0, 1])
    s = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])  # the best precision is 1/2 (at 0.8 and 0.6 and 0.4)
    with pytest.warns(ThresholdWarning, match="no threshold reaches precision >= 0.9"):
        op = choose_threshold(y, s, labels=[0, 1], positive_label=1, objective="target_precision", target=0.9,
                              tuned_on="validation")
    assert not op.achievable and "best available" in op.note
    assert (op.precision, op.recall, op.value) == (0.5, 1.0, 0.4)  # highest precision, then highest recall


def test_min_cost_may_predict_nothing_positive():
    y = np.array([0, 0, 0, 1, 0, 0])
    s = np.array([0.1, 0.9, 0.8, 0.7, 0.2, 0.3])
    op = choose_threshold(y, s, labels=[0, 1], positive_label=1, objective="min_cost", cost_fp=10, cost_fn=1,
                          tuned_on="validation")
    assert op.value > 0.9 and not apply_threshold(s, op.value).any()
    assert (op.tp, op.fp, op.fn, op.tn, op.precision, op.recall) == (0, 0, 1, 5, None, 0.0)
    assert op.objective_value == pytest.approx(1 / 6)
    op = choose_threshold(y, s, labels=[0, 1], positive_label=1, objective="min_cost", cost_fp=1, cost_fn=10,
                          tuned_on="validation")
    assert op.value == 0.7 and op.objective_value == pytest.approx(2 / 6)


def test_provenance_and_json():
    op = choose_threshold(["ham", "spam", "spam"], [0.2, 0.9, 0.4], labels=["ham", "spam"], positive_label="spam",
                          objective="f_beta", beta=2, tuned_on="validation")
    d = op.to_dict()
    assert set(d) >= {"value", "objective", "params", "tuned_on", "precision", "recall", "f1", "tp", "fp", "fn", "tn",
                      "achievable"}
    assert d["params"] == {"beta": 2.0} and d["tuned_on"] == "validation"
    assert op.report_entry() == {"value": 0.4, "objective": "f_beta", "tuned_on": "validation"}
    json.dumps(d, allow_nan=False)


def test_tuning_on_test_warns():
    with pytest.warns(ThresholdWarning, match="test split"):
        choose_threshold([0, 1], [0.1, 0.9], labels=[0, 1], positive_label=1, objective="f_beta", tuned_on="test")


@pytest.mark.parametrize("kwargs, match", [
    (dict(objective="youden"), "objective must be one of"),
    (dict(objective="target_recall"), "needs target"),
    (dict(objective="target_precision", target=1.5), "target"),
    (dict(objective="f_beta", beta=0), "beta"),
    (dict(objective="min_cost", cost_fp=0, cost_fn=0), "both 0"),
    (dict(objective="min_cost", cost_fp=-1), "cost_fp"),
    (dict(objective="f_beta", tuned_on=""), "tuned_on"),
    (dict(objective="f_beta", y_true=[0, 0]), "no example of the positive label"),
    (dict(objective="f_beta", y_score=[0.1, float("nan")]), "finite"),
])
def test_invalid_arguments(kwargs, match):
    kw = {"y_true": [0, 1], "y_score": [0.1, 0.9], "labels": [0, 1], "positive_label": 1, "tuned_on": "validation",
          **kwargs}
    with pytest.raises(InputError, match=match) as info:
        choose_threshold(**kw)
    assert "\n" not in str(info.value)


def test_apply_threshold_rule_and_validation():
    assert apply_threshold(np.array([0.5, 0.49999, 1.0]), 0.5).tolist() == [True, False, True]
    with pytest.raises(InputError, match="finite"):
        apply_threshold([0.1], float("inf"))
    with pytest.raises(InputError, match="shape"):
        apply_threshold([[0.1, 0.2]], 0.5)
    with pytest.raises(InputError, match="1-D"):
        apply_threshold(0.3, 0.5)
