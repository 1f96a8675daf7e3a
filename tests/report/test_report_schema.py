"""Every report.json attnlab writes validates against report.schema.json (draft 2020-12): a tiny training run,
``evaluate`` with and without intervals / a threshold, ``evaluate --hyp/--ref``. The training run's
report.html is the same page ``attnlab report RUN_DIR`` re-renders, and its terminal numbers match it."""

import contextlib
import io
import json
from pathlib import Path

import pytest

jsonschema = pytest.importorskip("jsonschema")

from attnlab.cli import main  # noqa: E402
from attnlab.report.schema import SCHEMA_VERSION, load_schema  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sms_small.csv"
TINY = ["--d-model", "32", "--heads", "2", "--layers", "1", "--d-ff", "64", "--epochs", "2", "--vocab-size", "600",
        "--max-len", "48", "--lr", "3e-3"]


@pytest.fixture(scope="module")
def validator():
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("schema") / "run"
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        assert main(["train", str(FIXTURE), "--out", str(out), *TINY]) == 0
    out.joinpath("terminal.txt").write_text(buf.getvalue(), encoding="utf-8")
    return out


def errors(validator, obj):
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]


def test_training_report_validates_and_has_html(validator, run_dir):
    report = json.loads((run_dir / "report.json").read_text())
    assert report["schema_version"] == SCHEMA_VERSION and not errors(validator, report)
    assert report["curves"]["roc"] and len(report["curves"]["pr"]["recall"]) <= report["curves"]["max_points"]
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "plot-training" in html and "plot-pr" in html and "Worst misclassified" in html


def test_training_html_is_what_attnlab_report_renders(run_dir, tmp_path):
    out = tmp_path / "again.html"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["report", str(run_dir), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == (run_dir / "report.html").read_text(encoding="utf-8")


def test_training_terminal_matches_html(run_dir):
    import re

    text, html = (run_dir / "terminal.txt").read_text(), (run_dir / "report.html").read_text()
    report = json.loads((run_dir / "report.json").read_text())
    for key, value in (("accuracy", report["metrics"]["accuracy"]), ("macro.f1", report["metrics"]["macro"]["f1"]),
                       ("per_class.spam.recall", report["metrics"]["per_class"]["spam"]["recall"])):
        shown = f"{value:.4f}"
        assert re.search(rf'data-metric="{re.escape(key)}"[^>]*>{shown}<', html) and shown in text
    verdict = "READY" if report["verdict"]["ready"] else "NOT READY"
    assert text.lstrip().startswith(verdict) and f"data-verdict>{verdict}<" in html


@pytest.mark.parametrize("flags", [[], ["--bootstrap", "0"], ["--threshold", "0.3"], ["--target-recall", "0.9"],
                                   ["--bootstrap", "0", "--chunk-rows", "7"]],
                         ids=["intervals", "no-intervals", "threshold", "target-recall", "chunked"])
def test_evaluate_reports_validate(validator, run_dir, tmp_path, flags):
    out = tmp_path / "e.json"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["evaluate", str(run_dir / "predictions.csv"), "--positive", "spam", "--out", str(out),
                     "--html", str(tmp_path / "e.html"), *flags]) == 0
    report = json.loads(out.read_text())
    assert not errors(validator, report)
    assert ("intervals" in report) == (flags[:2] != ["--bootstrap", "0"])
    assert (tmp_path / "e.html").stat().st_size > 10_000


def test_translation_report_validates(validator, tmp_path):
    (tmp_path / "hyp.txt").write_text("a small cat sat\nthe dog runs fast\n", encoding="utf-8")
    (tmp_path / "ref.txt").write_text("a small cat sat down\nthe dog runs quickly\n", encoding="utf-8")
    out = tmp_path / "t.json"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["evaluate", "--hyp", str(tmp_path / "hyp.txt"), "--ref", str(tmp_path / "ref.txt"),
                     "--bootstrap", "20", "--out", str(out)]) == 0
    assert not errors(validator, json.loads(out.read_text()))


def test_schema_rejects_other_versions_and_broken_shapes(validator, run_dir):
    report = json.loads((run_dir / "report.json").read_text())
    assert errors(validator, {**report, "schema_version": 2})
    assert errors(validator, {**report, "task": "regression"})
    broken = json.loads(json.dumps(report))
    broken["findings"].append({"code": "x", "severity": "fatal", "message": "m", "evidence": {}})
    assert errors(validator, broken)
    del broken["metrics"]["accuracy"]
    assert errors(validator, broken)


def test_report_with_undefined_intervals_validates(validator, tmp_path):
    # A model that always predicts the majority class: MCC and the minority's precision are undefined in
    # most resamples, so their intervals are null — the report must still validate.
    from attnlab.recipes.evaluate import EvaluateOptions, evaluate_predictions

    rows = "".join(f"{'spam' if i % 5 == 0 else 'ham'},ham\n" for i in range(60))
    (tmp_path / "p.csv").write_text("label,prediction\n" + rows)
    report = evaluate_predictions(tmp_path / "p.csv", EvaluateOptions(bootstrap=100))
    assert report["intervals"]["mcc"] is None
    assert errors(validator, json.loads(json.dumps(report))) == []
