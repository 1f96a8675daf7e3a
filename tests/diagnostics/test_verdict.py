"""The readiness verdict: the seed case (98% accuracy, 12% fraud recall) and its opposite, policies,
per-class overrides and the order of the reasons."""

import json

import pytest

from attnlab.diagnostics import Finding, ReadinessPolicy, decide, diagnose
from attnlab.errors import InputError


def test_seed_case_is_not_ready_with_the_recall_reason_first(seed_report):
    verdict = decide(seed_report, diagnose(seed_report))
    assert verdict.ready is False
    assert verdict.reasons[0].startswith("recall of 'fraud' (the positive class) is 0.120, below the required 0.5")
    assert "176 of 200" in verdict.reasons[0]
    failed = [c["check"] for c in verdict.checks if not c["passed"]]
    assert failed == ["class_recall", "positive_f1", "macro_f1", "precision_recall_balance"]
    accuracy = next(c for c in verdict.checks if c["check"] == "accuracy")
    assert accuracy["passed"] and accuracy["value"] == pytest.approx(0.98)  # 98% accuracy alone would pass
    assert verdict.blocking_findings == ["accuracy_paradox"]
    assert verdict.reasons[-1].startswith("Accuracy paradox")
    json.dumps(verdict.to_dict(), allow_nan=False)


def test_seed_case_with_a_stricter_fraud_recall(seed_report):
    verdict = decide(seed_report, [], ReadinessPolicy(min_recall_by_class={"fraud": 0.9}))
    assert verdict.reasons[0].startswith("recall of 'fraud' (the positive class) is 0.120, below the required 0.9")


def test_healthy_model_is_ready(healthy_report):
    findings = diagnose(healthy_report)
    assert not [f for f in findings if f.severity == "error"]
    verdict = decide(healthy_report, findings)
    assert verdict.ready is True and verdict.reasons == [] and verdict.blocking_findings == []
    assert all(c["passed"] for c in verdict.checks)
    # ... until the policy asks for more than it gives
    strict = decide(healthy_report, findings, ReadinessPolicy(min_recall_by_class={"fraud": 0.97}))
    assert not strict.ready and strict.reasons == [
        "recall of 'fraud' (the positive class) is 0.950, below the required 0.97: 10 of 200 'fraud' examples "
        "are missed"]


def test_error_findings_block_unless_the_policy_checks_them(healthy_report):
    leak = Finding("leakage_exact", "error", "Data leakage: 40 test texts also occur in train.", {})
    low = Finding("low_recall", "error", "Recall of 'x' is low.", {})
    warning = Finding("leakage_near", "warning", "near", {})
    verdict = decide(healthy_report, [leak, low, warning])
    assert not verdict.ready and verdict.reasons == [leak.message] and verdict.blocking_findings == ["leakage_exact"]
    assert decide(healthy_report, [leak], ReadinessPolicy(block_on_findings=False)).ready


def test_reason_order_multiclass(make_report):
    # recall: b 0.30, c 0.45; precision: b 0.33, c 0.45. Class recalls come first (worst first), then
    # class precisions, then F1, the precision/recall balance and accuracy.
    report = make_report([[90, 5, 5], [20, 30, 50], [0, 55, 45]], ["a", "b", "c"])
    reasons = decide(report, []).reasons
    assert [r.split(",")[0] for r in reasons] == [
        "recall of 'b' is 0.300", "recall of 'c' is 0.450", "precision of 'b' is 0.333", "precision of 'c' is 0.450",
        "macro F1 is 0.541", "accuracy is 0.550"]


def test_never_predicted_class_precision_is_a_reason(make_report):
    report = make_report([[90, 0], [10, 0]], ["ham", "spam"], "spam")
    reasons = decide(report, []).reasons
    assert reasons[:2] == ["recall of 'spam' (the positive class) is 0.000, below the required 0.5: 10 of 10 'spam' "
                           "examples are missed",
                           "precision of 'spam' (the positive class) is undefined: it is never predicted"]


def test_policy_from_dict_and_file(tmp_path, healthy_report):
    policy = ReadinessPolicy.from_dict({"min_f1": 0.95, "min_recall_by_class": {"fraud": 0.9}})
    assert policy.min_f1 == 0.95 and policy.min_recall_by_class == {"fraud": 0.9}
    assert not decide(healthy_report, [], policy).ready  # F1 of fraud is 0.94
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy.to_dict()))
    assert ReadinessPolicy.from_file(path) == policy
    merged = policy.replace(min_recall_by_class={"ok": 0.99}, min_accuracy=0.5)
    assert merged.min_recall_by_class == {"fraud": 0.9, "ok": 0.99} and merged.min_accuracy == 0.5


@pytest.mark.parametrize("data,match", [
    ({"min_f": 0.9}, "unknown key"), ({"min_f1": 1.5}, r"\[0, 1\]"), ({"min_f1": "high"}, "min_f1"),
    ({"min_recall_by_class": [0.9]}, "map class labels"), ({"min_recall_by_class": {"x": 2}}, "x"),
    ({"block_on_findings": "yes"}, "true or false"), ([1], "JSON object")])
def test_bad_policies(data, match):
    with pytest.raises(InputError, match=match):
        ReadinessPolicy.from_dict(data)


def test_policy_naming_an_unknown_label(healthy_report):
    with pytest.raises(InputError, match="'spam', not a label"):
        decide(healthy_report, [], ReadinessPolicy(min_recall_by_class={"spam": 0.9}))
