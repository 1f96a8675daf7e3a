"""classification_report: the CONTRACT report.json shapes, JSON safety, signatures, undefined values."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn import metrics as skm

from attnlab import __version__
from attnlab.errors import InputError
from attnlab.metrics import classification_report, metric_signature

METRIC_KEYS = {"accuracy", "balanced_accuracy", "mcc", "cohen_kappa", "log_loss", "roc_auc", "average_precision",
               "macro", "micro", "weighted", "per_class"}


def walk(value, path="report"):
    """Every leaf is a plain JSON type: no NumPy scalars, no NaN or inf."""
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), f"{path}: key {k!r}"
            walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            walk(v, f"{path}[{i}]")
    else:
        assert value is None or type(value) in (str, int, float, bool), f"{path}: {type(value)}"
        if type(value) is float:
            assert np.isfinite(value), path


@st.composite
def report_inputs(draw):
    n_classes = draw(st.integers(2, 4))
    labels = draw(st.sampled_from([[f"c{i}" for i in range(n_classes)], list(range(n_classes))[::-1]]))
    n = draw(st.integers(1, 30))
    y_true = [labels[i] for i in draw(arrays(np.int64, n, elements=st.integers(0, n_classes - 1)))]
    y_pred = [labels[i] for i in draw(arrays(np.int64, n, elements=st.integers(0, n_classes - 1)))]
    proba = None
    if draw(st.booleans()):
        w = draw(arrays(np.int64, (n, n_classes), elements=st.integers(0, 4))).astype(np.float64)
        w[:, 0] += w.sum(axis=1) == 0
        proba = w / w.sum(axis=1, keepdims=True)
    positive = draw(st.sampled_from([None, labels[0]]))
    zero_division = draw(st.sampled_from([0, 1, "nan"]))
    return dict(y_true=y_true, y_pred=y_pred, labels=labels, proba=proba, positive_label=positive,
                zero_division=zero_division)


@settings(max_examples=60, deadline=None)
@given(report_inputs())
def test_report_shape_and_json_round_trip(kw):
    rep = classification_report(kw["y_true"], kw["y_pred"], labels=kw["labels"], proba=kw["proba"],
                                positive_label=kw["positive_label"], zero_division=kw["zero_division"])
    walk(rep)
    assert json.loads(json.dumps(rep, allow_nan=False)) == rep
    expected_top = {"n", "labels", "positive_label", "metrics", "confusion_matrix", "signatures", "undefined"}
    assert set(rep) == expected_top | ({"binary"} if kw["positive_label"] is not None else set())
    m = rep["metrics"]
    assert METRIC_KEYS <= set(m)
    assert ({"brier_score", "ece"} <= set(m)) == (kw["proba"] is not None)
    for avg in ("macro", "micro", "weighted"):
        assert set(m[avg]) == {"precision", "recall", "f1"}
    assert list(m["per_class"]) == [str(lab) for lab in kw["labels"]]
    for row in m["per_class"].values():
        assert set(row) == {"precision", "recall", "f1", "support"} and type(row["support"]) is int
    assert rep["n"] == len(kw["y_true"]) and rep["labels"] == kw["labels"]
    assert rep["confusion_matrix"]["labels"] == kw["labels"]
    assert sum(map(sum, rep["confusion_matrix"]["matrix"])) == rep["n"]
    for entry in rep["undefined"]:
        assert set(entry) == {"metric", "reason"} and entry["reason"]
    # every None metric is explained
    explained = {e["metric"] for e in rep["undefined"]}
    for key in ("mcc", "cohen_kappa", "balanced_accuracy", "roc_auc", "average_precision", "log_loss"):
        if m[key] is None:
            assert key in explained
    for sig in rep["signatures"].values():
        assert sig.endswith(f"|version:attnlab-{__version__}")


@settings(max_examples=40, deadline=None)
@given(report_inputs())
def test_report_values_match_sklearn(kw):
    labels, zd = kw["labels"], kw["zero_division"]
    rep = classification_report(kw["y_true"], kw["y_pred"], labels=labels, proba=kw["proba"], zero_division=zd)
    m = rep["metrics"]
    sk_zd = np.nan if zd == "nan" else float(zd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert m["accuracy"] == pytest.approx(skm.accuracy_score(kw["y_true"], kw["y_pred"]), abs=1e-12)
        p, r, f, s = skm.precision_recall_fscore_support(kw["y_true"], kw["y_pred"], labels=labels,
                                                         zero_division=sk_zd)
        macro = skm.precision_recall_fscore_support(kw["y_true"], kw["y_pred"], labels=labels,
                                                    average="macro", zero_division=sk_zd)
    np.testing.assert_array_equal(rep["confusion_matrix"]["matrix"],
                                  skm.confusion_matrix(kw["y_true"], kw["y_pred"], labels=labels))
    for i, lab in enumerate(labels):
        row = m["per_class"][str(lab)]
        for ours, ref in ((row["precision"], p[i]), (row["recall"], r[i]), (row["f1"], f[i])):
            np.testing.assert_allclose(np.nan if ours is None else ours, ref, rtol=1e-12, atol=1e-12)
        assert row["support"] == s[i]
    for ours, ref in zip((m["macro"][k] for k in ("precision", "recall", "f1")), macro[:3]):
        np.testing.assert_allclose(np.nan if ours is None else ours, ref, rtol=1e-12, atol=1e-12)


def test_binary_report_example():
    y_true = ["spam", "ham", "ham", "spam", "ham"]
    y_pred = ["spam", "spam", "ham", "ham", "ham"]
    proba = np.array([[0.1, 0.9], [0.4, 0.6], [0.8, 0.2], [0.7, 0.3], [0.9, 0.1]])
    rep = classification_report(y_true, y_pred, labels=["ham", "spam"], proba=proba, positive_label="spam")
    assert rep["positive_label"] == "spam"
    assert rep["binary"] == {"positive_label": "spam", "tp": 1, "fn": 1, "fp": 1, "tn": 2,
                             "specificity": pytest.approx(2 / 3), "npv": pytest.approx(2 / 3)}
    m = rep["metrics"]
    is_spam = np.array(y_true) == "spam"
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(is_spam, proba[:, 1]))
    assert m["average_precision"] == pytest.approx(skm.average_precision_score(is_spam, proba[:, 1]))
    assert m["log_loss"] == pytest.approx(skm.log_loss(y_true, proba, labels=["ham", "spam"]))
    assert m["brier_score"] == pytest.approx(skm.brier_score_loss(is_spam, proba[:, 1]))
    assert 0.0 <= m["ece"] <= 1.0
    assert rep["confusion_matrix"] == {"labels": ["ham", "spam"], "matrix": [[2, 1], [1, 1]]}
    sig = rep["signatures"]
    assert sig["roc_auc"] == f"roc_auc|pos:spam|labels:ham,spam|version:attnlab-{__version__}"
    assert sig["macro.f1"] == f"f1|avg:macro|beta:1|zero_division:nan|labels:ham,spam|version:attnlab-{__version__}"
    assert sig["log_loss"].startswith("log_loss|eps:2.220446049250313e-16|")
    assert sig["brier_score"].startswith("brier_score|definition:binary-mse|")
    assert sig["ece"].startswith("ece|bins:15|binning:equal-width|conf:top-label|")
    assert rep["undefined"] == []


def test_one_class_roc_auc_is_none_with_reason_in_report():
    rep = classification_report(["spam"] * 3, ["spam", "ham", "spam"], labels=["ham", "spam"],
                                proba=[[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]], positive_label="spam")
    assert rep["metrics"]["roc_auc"] is None and rep["metrics"]["roc_auc"] != 0.5
    reasons = {e["metric"]: e["reason"] for e in rep["undefined"]}
    assert "only one class" in reasons["roc_auc"]
    assert rep["metrics"]["mcc"] is None and "MCC undefined" in reasons["mcc"]
    assert rep["binary"]["specificity"] is None and "binary.specificity" in reasons
    assert rep["metrics"]["average_precision"] == pytest.approx(1.0)


def test_zero_division_policies_in_report():
    y_true, y_pred = ["a", "a", "b"], ["a", "a", "a"]
    nan_rep = classification_report(y_true, y_pred, labels=["a", "b"])  # default: "nan"
    zero_rep = classification_report(y_true, y_pred, labels=["a", "b"], zero_division=0)
    assert nan_rep["metrics"]["per_class"]["b"]["precision"] is None
    assert nan_rep["metrics"]["macro"]["precision"] == pytest.approx(2 / 3)  # "b" left out
    assert zero_rep["metrics"]["per_class"]["b"]["precision"] == 0.0
    assert zero_rep["metrics"]["macro"]["precision"] == pytest.approx(1 / 3)
    for rep, shown in ((nan_rep, "None"), (zero_rep, "0")):
        (entry,) = [e for e in rep["undefined"] if e["metric"] == "per_class.b.precision"]
        assert "never predicted" in entry["reason"] and f"reported as {shown}" in entry["reason"]
    assert "zero_division:0" in zero_rep["signatures"]["macro.precision"]
    assert "zero_division:nan" in nan_rep["signatures"]["per_class"]


def test_no_proba_metrics_are_none_and_explained():
    rep = classification_report([0, 1, 1], [0, 1, 0], labels=[0, 1])
    m = rep["metrics"]
    assert m["log_loss"] is None and m["roc_auc"] is None and m["average_precision"] is None
    assert "brier_score" not in m and "ece" not in m
    reasons = {e["metric"]: e["reason"] for e in rep["undefined"]}
    assert "no class probabilities" in reasons["log_loss"]
    assert list(m["per_class"]) == ["0", "1"] and rep["labels"] == [0, 1]


def test_multiclass_report_uses_ovr_macro():
    rng = np.random.default_rng(0)
    labels = ["neg", "neu", "pos"]
    y = rng.integers(0, 3, 200)
    proba = rng.dirichlet(np.ones(3), 200)
    y_true = [labels[i] for i in y]
    y_pred = [labels[i] for i in proba.argmax(1)]
    rep = classification_report(y_true, y_pred, labels=labels, proba=proba, positive_label="pos")
    m = rep["metrics"]
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"), abs=1e-12)
    assert m["brier_score"] == pytest.approx(skm.brier_score_loss(y_true, proba, labels=labels), abs=1e-12)
    assert rep["signatures"]["roc_auc"].startswith("roc_auc|avg:macro|multi:ovr|")
    assert rep["signatures"]["brier_score"].startswith("brier_score|definition:multiclass-sum|")
    assert rep["binary"]["tp"] == int(np.sum((y == 2) & (proba.argmax(1) == 2)))  # one-vs-rest counts


def test_signature_escapes_separators():
    sig = metric_signature("accuracy", ["a|b", "c,d", "e:f", "100%"])
    assert sig == f"accuracy|labels:a%7Cb,c%2Cd,e%3Af,100%25|version:attnlab-{__version__}"


def test_report_accepts_numpy_inputs_from_training_loop():
    # the training recipe passes integer index arrays and an int label list
    y_true = np.array([0, 1, 2, 1], dtype=np.int64)
    y_pred = np.array([0, 2, 2, 1], dtype=np.int64)
    rep = classification_report(y_true, y_pred, labels=list(range(3)))
    walk(rep)
    assert rep["metrics"]["accuracy"] == 0.75


@pytest.mark.parametrize("kwargs, match", [
    (dict(labels=["a", "b"], proba=[[0.5, 0.5]] * 2), "shape"),
    (dict(labels=["a", "b"], proba=[[0.5, np.nan]] * 3), "finite"),
    (dict(labels=["a", "b"], proba=[[0.5, 0.6]] * 3), "sum to 1"),
    (dict(labels=["a", "b"], proba=[[1.5, -0.5]] * 3), r"\[0, 1\]"),
    (dict(labels=["a", "b"], positive_label="c"), "positive_label"),
    (dict(labels=["a"]), "at least 2"),
    (dict(labels=["b", "c"]), "not in labels"),
    (dict(labels=["a", "b"], zero_division="warn"), "zero_division"),
    (dict(labels=["a", "b"], n_bins=0), "n_bins"),
])
def test_report_invalid_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        classification_report(["a", "b", "a"], ["a", "a", "b"], **kwargs)
    with pytest.raises(InputError, match="one entry per example"):
        classification_report(["a", "b"], ["a"], labels=["a", "b"])
