"""Findings read off a report: one planted case per finding, and healthy models that trigger no error."""

import json

import numpy as np
import pytest
from scipy import stats

from attnlab.diagnostics import DiagnosticOptions, Finding, binomial_sf, diagnose, report_findings, sort_findings
from attnlab.errors import InputError

pytestmark = pytest.mark.filterwarnings("ignore:no bootstrap interval")


def codes(findings, severity=None):
    return [f.code for f in findings if severity is None or f.severity == severity]


def by_code(findings, code):
    [found] = [f for f in findings if f.code == code]
    return found


@pytest.mark.parametrize("k,n,p", [(0, 5, 0.3), (3, 5, 0.3), (5, 5, 0.3), (9800, 10000, 0.98), (9850, 10000, 0.98),
                                   (520, 1000, 0.5), (1, 1, 0.999), (60, 100, 0.0), (60, 100, 1.0), (101, 100, 0.5)])
def test_binomial_sf_matches_scipy(k, n, p):
    assert binomial_sf(k, n, p) == pytest.approx(stats.binom.sf(k - 1, n, p), rel=1e-9, abs=1e-300)


def test_seed_case_says_accuracy_paradox_and_low_recall(seed_report):
    findings = diagnose(seed_report)
    assert codes(findings, "error") == ["low_recall", "accuracy_paradox"]
    assert set(codes(findings, "warning")) >= {"class_imbalance"}
    low = by_code(findings, "low_recall")
    assert low.evidence == {"label": "fraud", "recall": 0.12, "support": 200, "missed": 176, "bound": 0.5}
    paradox = by_code(findings, "accuracy_paradox").evidence
    assert paradox["accuracy"] == pytest.approx(0.98) and paradox["majority_baseline"] == pytest.approx(0.98)
    assert paradox["majority_label"] == "ok" and paradox["balanced_accuracy"] == pytest.approx((0.12 + 9776 / 9800) / 2)
    assert paradox["mcc"] == pytest.approx(seed_report["metrics"]["mcc"])
    imbalance = by_code(findings, "class_imbalance")
    assert imbalance.evidence["minority_label"] == "fraud" and imbalance.evidence["minority_share"] == 0.02
    assert "F1" in imbalance.message and "MCC" in imbalance.message and "PR-AUC" in imbalance.message
    # not near chance: the model is significantly better than random guessing with the class priors
    assert "near_chance" not in codes(findings)
    json.dumps([f.to_dict() for f in findings], allow_nan=False)


def test_healthy_models_have_no_error_findings(healthy_report, make_report):
    findings = diagnose(healthy_report)
    assert codes(findings, "error") == []
    assert codes(findings) == ["class_imbalance"]  # the data are imbalanced; the model is fine
    balanced = make_report([[470, 30], [25, 475]], ["ham", "spam"], "spam", bootstrap=300)
    assert diagnose(balanced) == []
    multi = make_report([[95, 3, 2], [4, 92, 4], [1, 5, 94]], ["a", "b", "c"], bootstrap=300)
    assert codes(diagnose(multi), "error") == []


def test_accuracy_below_the_majority_baseline(make_report):
    findings = report_findings(make_report([[850, 50], [80, 20]], ["neg", "pos"], "pos"))
    paradox = by_code(findings, "accuracy_paradox")
    assert paradox.severity == "error" and "no better than always predicting 'neg'" in paradox.message
    assert paradox.evidence["accuracy"] == pytest.approx(0.87) and paradox.evidence["majority_baseline"] == 0.9
    assert paradox.evidence["p_value_vs_majority"] == pytest.approx(stats.binom.sf(869, 1000, 0.9))


def test_near_chance_random_predictions(make_report):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    guess = rng.integers(0, 2, 400)
    matrix = [[int(((y == i) & (guess == j)).sum()) for j in range(2)] for i in range(2)]
    findings = report_findings(make_report(matrix, ["a", "b"], bootstrap=300))
    near = by_code(findings, "near_chance")
    assert near.severity == "error"
    ev = near.evidence
    correct = matrix[0][0] + matrix[1][1]
    q = np.array([sum(matrix[0]), sum(matrix[1])]) / 400
    assert ev["stratified_baseline"] == pytest.approx((q ** 2).sum())
    assert ev["p_value_vs_stratified"] == pytest.approx(stats.binom.sf(correct - 1, 400, (q ** 2).sum()))
    assert ev["p_value_vs_stratified"] >= 0.05 and ev["balanced_accuracy_ci"][0] <= 0.5


def test_near_chance_from_the_interval_alone(make_report):
    # 92% accuracy beats the stratified baseline 0.82 (p ~ 0.003), but 2 of 10 'b' caught: the CI of
    # balanced accuracy reaches 0.5
    report = make_report([[90, 0], [8, 2]], ["a", "b"], bootstrap=300)
    near = by_code(report_findings(report), "near_chance")
    assert near.evidence["p_value_vs_stratified"] < 0.01 and near.evidence["balanced_accuracy_ci"][0] <= 0.5
    assert "reaches chance" in near.message


def test_low_precision_and_never_predicted(make_report):
    report = make_report([[400, 100, 0], [10, 90, 0], [30, 20, 0]], ["a", "b", "c"])
    findings = report_findings(report)
    never = by_code(findings, "class_never_predicted")
    assert never.evidence == {"label": "c", "support": 50} and never.severity == "error"
    low_p = by_code(findings, "low_precision")
    assert low_p.evidence["label"] == "b" and low_p.evidence["precision"] == pytest.approx(90 / 210)
    assert low_p.evidence["false_positives"] == 120
    assert "low_recall" not in codes(findings)  # c is reported once, as never predicted


def test_undefined_metrics_one_class_roc_auc(make_report):
    # every example is 'a': recall of 'b' and ROC-AUC are undefined
    report = make_report([[40, 10], [0, 0]], ["a", "b"], "b", proba=np.full((50, 2), 0.5))
    findings = report_findings(report)
    undefined = by_code(findings, "undefined_metrics")
    assert undefined.severity == "warning"
    assert "roc_auc" in {e["metric"] for e in undefined.evidence["metrics"]}
    assert by_code(findings, "single_class_test_set").severity == "error"


def test_small_test_set(make_report):
    small = make_report([[45, 5], [4, 16]], ["ham", "spam"], "spam", bootstrap=300)
    f = by_code(report_findings(small), "small_test_set")
    assert f.severity == "warning" and f.evidence["width"] > 0.1 and f.evidence["support"] == 20
    assert f.evidence["metric"] == "per_class.spam.f1"
    # no intervals: the count rule alone
    assert by_code(report_findings(make_report([[45, 5], [4, 16]], ["ham", "spam"], "spam")), "small_test_set")
    options = DiagnosticOptions(max_ci_width=1.0, min_class_support=10)
    assert "small_test_set" not in codes(report_findings(small, options))


def test_threshold_and_early_stopping_on_test(healthy_report):
    report = dict(healthy_report, threshold={"value": 0.4, "objective": "f_beta", "tuned_on": "test"},
                  run={"training": {"selected_on": "test"}})
    assert codes(report_findings(report), "error") == ["threshold_tuned_on_test", "early_stopping_on_test"]
    report["threshold"]["tuned_on"] = "the evaluated file"
    assert by_code(report_findings(report), "threshold_tuned_on_evaluated_file").severity == "warning"
    report["threshold"]["tuned_on"] = "validation"
    report["run"]["training"]["selected_on"] = "validation"
    assert codes(report_findings(report), "error") == []


def test_findings_sort_by_severity_and_round_trip():
    findings = [Finding("i", "info", "."), Finding("w", "warning", "."), Finding("e", "error", "."),
                Finding("e2", "error", ".", {"x": 1})]
    assert codes(sort_findings(findings)) == ["e", "e2", "w", "i"]
    assert [Finding.from_dict(f.to_dict()) for f in findings] == findings
    with pytest.raises(ValueError):
        Finding("x", "fatal", ".")
    with pytest.raises(InputError):
        Finding.from_dict({"code": "x", "severity": "fatal", "message": "."})


@pytest.mark.parametrize("bad", [{}, {"metrics": {}}, {"task": "translation", "metrics": {"bleu": 1}}, [1, 2],
                                 {"labels": ["a"], "metrics": {"per_class": {"b": {}}},
                                  "confusion_matrix": {"matrix": [[1]]}}])
def test_malformed_reports_are_input_errors(bad):
    with pytest.raises(InputError):
        report_findings(bad)


def test_options_are_validated():
    with pytest.raises(InputError, match="min_class_score"):
        DiagnosticOptions(min_class_score=1.5)
    with pytest.raises(InputError, match="overfit_epochs"):
        DiagnosticOptions(overfit_epochs=0)


def test_seed_reports_are_what_they_claim(seed_report, healthy_report):
    assert seed_report["metrics"]["accuracy"] == pytest.approx(0.98)
    assert seed_report["metrics"]["per_class"]["fraud"]["recall"] == pytest.approx(0.12)
    assert healthy_report["metrics"]["per_class"]["fraud"]["recall"] == pytest.approx(0.95)
