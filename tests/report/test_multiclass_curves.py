"""One-vs-rest ROC and PR curves of multiclass reports: per-class AUC/AP equal scikit-learn's on the
class-vs-rest labels, absent classes are null, more than 20 classes are cut to the most frequent, the
HTML draws one line per class in the ROC and PR sections, an evaluate report validates against the schema,
and binary curves are unchanged."""

import csv
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from attnlab.metrics import multiclass_average_precision_score, multiclass_roc_auc_score
from attnlab.recipes.evaluate import EvaluateOptions, evaluate_predictions
from attnlab.report.curves import MAX_OVR_CLASSES, classification_curves
from attnlab.report.html import render_html

jsonschema = pytest.importorskip("jsonschema")

LABELS = ["business", "sports", "world"]


def _data(n=300, labels=LABELS, seed=3, digits=2):
    """Noisy softmax probabilities that favour the true class, rounded so that scores tie."""
    rng = np.random.default_rng(seed)
    k = len(labels)
    y_idx = rng.integers(0, k, size=n)
    logits = rng.normal(size=(n, k)) + 1.5 * np.eye(k)[y_idx]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    proba = np.round(proba, digits)
    proba[:, -1] = 1.0 - proba[:, :-1].sum(axis=1)  # rows still sum to 1 after rounding
    return [labels[i] for i in y_idx], np.clip(proba, 0.0, 1.0)


def test_per_class_auc_ap_equal_sklearn_and_the_multiclass_functions():
    y, proba = _data()
    curves = classification_curves(y, proba, labels=LABELS, positive_label=None)
    assert curves["roc"] is None and curves["ovr_truncated"] is False and list(curves["ovr"]) == LABELS
    ours_auc = multiclass_roc_auc_score(y, proba, labels=LABELS, average=None)
    ours_ap = multiclass_average_precision_score(y, proba, labels=LABELS, average=None)
    for c, lab in enumerate(LABELS):
        entry, hit = curves["ovr"][lab], np.array(y) == lab
        assert entry["auc"] == pytest.approx(roc_auc_score(hit, proba[:, c]), abs=1e-12) == ours_auc[c]
        assert entry["ap"] == pytest.approx(average_precision_score(hit, proba[:, c]), abs=1e-12) == ours_ap[c]
        roc, pr = entry["roc"], entry["pr"]
        assert len(roc["fpr"]) == len(roc["tpr"]) <= curves["max_points"]
        assert len(pr["precision"]) == len(pr["recall"]) <= curves["max_points"]
        assert (roc["fpr"][0], roc["tpr"][0], roc["fpr"][-1], roc["tpr"][-1]) == (0.0, 0.0, 1.0, 1.0)
        assert (pr["precision"][-1], pr["recall"][-1]) == (1.0, 0.0)


def test_downsampled_to_max_points_with_exact_auc():
    y, proba = _data(n=2000, digits=6)
    curves = classification_curves(y, proba, labels=LABELS, positive_label=None, max_points=50)
    for c, lab in enumerate(LABELS):
        entry = curves["ovr"][lab]
        assert len(entry["roc"]["fpr"]) <= 50 and len(entry["pr"]["recall"]) <= 50
        assert entry["auc"] == pytest.approx(roc_auc_score(np.array(y) == lab, proba[:, c]), abs=1e-12)


def test_absent_class_is_null_two_labels_without_positive_is_multiclass():
    y, proba = _data(labels=["a", "b", "c"])
    proba4 = np.hstack([proba, np.zeros((len(y), 1))])
    curves = classification_curves(y, proba4, labels=["a", "b", "c", "never"], positive_label=None)
    assert curves["ovr"]["never"] is None and all(curves["ovr"][k] for k in "abc")
    json.dumps(curves, allow_nan=False)  # no NaN anywhere
    y2 = ["x", "y", "y", "x", "y"]
    p2 = [[.9, .1], [.2, .8], [.6, .4], [.3, .7], [.4, .6]]
    two = classification_curves(y2, p2, labels=["x", "y"], positive_label=None)
    assert set(two["ovr"]) == {"x", "y"}
    assert two["ovr"]["y"]["auc"] == roc_auc_score([0, 1, 1, 0, 1], [.1, .8, .4, .7, .6])
    single = classification_curves(["a", "a"], [[.7, .2, .1], [.5, .3, .2]], labels=["a", "b", "c"],
                                   positive_label=None)
    assert single["ovr"]["a"]["roc"] is None and single["ovr"]["a"]["auc"] is None and single["ovr"]["a"]["ap"] == 1.0


def test_more_than_20_classes_keeps_the_most_frequent():
    labels = [f"c{i:02d}" for i in range(25)]
    rng = np.random.default_rng(0)
    y_idx = np.repeat(np.arange(25), np.arange(25) + 2)  # class i occurs i + 2 times
    proba = rng.dirichlet(np.ones(25), size=y_idx.size)
    curves = classification_curves([labels[i] for i in y_idx], proba, labels=labels, positive_label=None)
    assert curves["ovr_truncated"] is True and len(curves["ovr"]) == MAX_OVR_CLASSES == 20
    assert set(curves["ovr"]) == set(labels[5:])  # the 20 most frequent


def test_binary_curves_have_no_ovr():
    y, p = ["a", "b", "b", "a"], [[.9, .1], [.2, .8], [.6, .4], [.7, .3]]
    c = classification_curves(y, p, labels=["a", "b"], positive_label="b")
    assert "ovr" not in c and "ovr_truncated" not in c and c["roc"]["fpr"] == [0.0, 0.0, 0.0, 1.0]


class _SectionText(HTMLParser):
    """Per section id (roc, pr): the classes of its <svg> elements and all text inside it."""

    def __init__(self):
        super().__init__()
        self.current, self.svgs, self.text = None, {}, {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.current = attrs.get("id")
        if tag == "svg" and self.current:
            self.svgs.setdefault(self.current, []).extend((attrs.get("class") or "").split())

    def handle_data(self, data):
        if self.current:
            self.text[self.current] = self.text.get(self.current, "") + data


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("multiclass")
    y, proba = _data(n=240, seed=11)
    path = folder / "predictions.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "label", *[f"p_{lab}" for lab in LABELS]])
        for i, (lab, row) in enumerate(zip(y, proba)):
            w.writerow([i, f"headline number {i}", lab, *[f"{v:.6f}" for v in row]])
    report = evaluate_predictions(path, EvaluateOptions(bootstrap=0))
    return {"report": json.loads(json.dumps(report, allow_nan=False)), "y": y, "proba": proba}


def test_evaluate_report_validates_and_matches_macro(evaluated):
    from attnlab.report.schema import load_schema

    report = evaluated["report"]
    validator = jsonschema.Draft202012Validator(load_schema())
    assert not [e.message for e in validator.iter_errors(report)]
    ovr = report["curves"]["ovr"]
    assert list(ovr) == LABELS and report["positive_label"] is None
    assert np.mean([ovr[lab]["auc"] for lab in LABELS]) == pytest.approx(report["metrics"]["roc_auc"], abs=1e-12)
    assert np.mean([ovr[lab]["ap"] for lab in LABELS]) == pytest.approx(report["metrics"]["average_precision"],
                                                                         abs=1e-12)
    broken = json.loads(json.dumps(report))
    broken["curves"]["ovr"]["sports"]["auc"] = 1.5
    assert list(validator.iter_errors(broken))


def test_html_draws_one_line_per_class_in_roc_and_pr(evaluated):
    html = render_html(evaluated["report"])  # from report.json alone: the stored points
    p = _SectionText()
    p.feed(html)
    assert "plot-roc-ovr" in p.svgs["roc"] and "plot-pr-ovr" in p.svgs["pr"]
    assert "plot-roc" not in p.svgs["roc"] and "plot-threshold" not in html
    ovr = evaluated["report"]["curves"]["ovr"]
    for lab in LABELS:
        assert f"{lab} (AUC {ovr[lab]['auc']:.3f})" in p.text["roc"]
        assert f"{lab} (AP {ovr[lab]['ap']:.3f})" in p.text["pr"]
    assert "one-vs-rest" in p.text["roc"] and "one-vs-rest" in p.text["pr"]
    assert "One-vs-rest" in p.text["roc"] and "One-vs-rest" in p.text["pr"]
    # five distinct line colours at least: chance line plus three classes
    roc_svg = html[html.index('class="plot plot-roc-ovr"'):]
    roc_svg = roc_svg[:roc_svg.index("</svg>")]
    assert len(set(re.findall(r"stroke: (#[0-9a-f]{6})", roc_svg))) >= 4


def test_html_with_predictions_recomputes_the_same_curves(evaluated):
    rows = [{"id": i, "text": "t", "label": lab, "prediction": LABELS[int(np.argmax(p))],
             **{f"p_{k}": f"{v:.6f}" for k, v in zip(LABELS, p)}}
            for i, (lab, p) in enumerate(zip(evaluated["y"], evaluated["proba"]))]
    assert render_html(evaluated["report"], predictions=rows).count("plot-roc-ovr") == 1
