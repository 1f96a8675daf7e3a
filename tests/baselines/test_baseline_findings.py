"""The baselines section of a report and the worse_than_baseline finding (planted, and a negative control)."""

from attnlab.baselines import baseline_findings, compare_with_baselines
from attnlab.recipes.evaluate import score_predictions

TRAIN = ([f"cheap offer win prize {i}" for i in range(10)] + [f"see you at lunch {i}" for i in range(30)])
TRAIN_Y = ["spam"] * 10 + ["ham"] * 30
VAL = ["win a cheap prize now", "lunch at noon then", "see you soon", "prize offer"]
VAL_Y = ["spam", "ham", "ham", "spam"]
TEST = ["cheap prize win", "offer win now", "lunch with you", "see you later", "at lunch today", "you at lunch"]
TEST_Y = ["spam", "spam", "ham", "ham", "ham", "ham"]


def run(y_pred):
    report = score_predictions(TEST_Y, y_pred, labels=["ham", "spam"], proba=None, positive_label="spam",
                               bootstrap=0)
    report["baselines"] = compare_with_baselines(TRAIN, TRAIN_Y, VAL, VAL_Y, TEST, TEST_Y, y_pred,
                                                 labels=["ham", "spam"], positive_label="spam", n_resamples=200)
    return report


def test_section_shape_and_significance_tests():
    report = run(TEST_Y)
    section = report["baselines"]
    assert section["key_metric"] == "per_class.spam.f1"
    assert section["majority"]["params"]["predicts"] == "ham" and section["majority"]["metrics"]["accuracy"] == 4 / 6
    assert section["tfidf_logreg"]["metrics"]["per_class"]["spam"]["f1"] == 1.0
    assert "C" in section["tfidf_logreg"]["params"]
    comparison = section["comparison"]
    assert set(comparison["paired_bootstrap"]) == {"per_class.spam.f1", "accuracy"}
    assert comparison["mcnemar"]["p_value"] == 1.0  # no discordant pairs


def test_not_better_than_tfidf_is_a_warning():
    findings = baseline_findings(run(TEST_Y))  # ties the (perfect) TF-IDF baseline: not better
    assert [(f.code, f.severity) for f in findings] == [("worse_than_baseline", "warning")]
    assert findings[0].evidence["key_metric"] == "per_class.spam.f1"


def test_worse_than_majority_is_an_error():
    findings = baseline_findings(run(["spam", "ham", "spam", "spam", "ham", "spam"]))
    assert [(f.code, f.severity) for f in findings] == [("worse_than_baseline", "error")]
    assert "majority" in findings[0].message


def test_negative_control_better_model_no_finding():
    report = run(TEST_Y)
    report["baselines"]["tfidf_logreg"]["metrics"]["per_class"]["spam"]["f1"] = 0.5  # planted weaker baseline
    assert baseline_findings(report) == []
    del report["baselines"]
    assert baseline_findings(report) == []
