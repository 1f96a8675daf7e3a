"""The Baselines section of the HTML report: the numbers of report.json's ``baselines`` (a real tiny
training run), absent when a report has none; the training report with baselines validates against the
schema."""

import contextlib
import copy
import io
import json
import re
from pathlib import Path

import pytest

from attnlab.baselines.report import metric_at
from attnlab.cli import main
from attnlab.report.html import render_html

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sms_small.csv"
TINY = ["--d-model", "32", "--heads", "2", "--layers", "1", "--d-ff", "64", "--epochs", "2", "--vocab-size", "600",
        "--max-len", "48", "--lr", "3e-3"]


@pytest.fixture(scope="module")
def run_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("baselines") / "run"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", str(FIXTURE), "--out", str(out), *TINY]) == 0
    return json.loads((out / "report.json").read_text(encoding="utf-8")), (out / "report.html").read_text("utf-8")


def _section(html):
    m = re.search(r'<section id="baselines">(.*?)</section>', html, re.S)
    assert m, "no Baselines section"
    return m.group(1)


def _cell(section, attr, key):
    m = re.search(rf'{attr}="{re.escape(key)}"[^>]*>([^<]*)<', section)
    assert m, f"no cell {attr}={key}"
    return m.group(1)


def _p(value):
    return "undefined" if value is None else f"{value:.3g}"


def test_html_shows_baselines_from_report_json(run_report):
    report, written = run_report
    bl = report["baselines"]
    html = render_html(report)
    assert html == written or _section(html) == _section(written)
    section = _section(html)
    assert html.index('id="metrics"') < html.index('id="baselines"') < html.index('id="confusion"')
    pos = report["positive_label"]
    paths = ["accuracy", "macro.f1"] + ([f"per_class.{pos}.f1"] if pos is not None else [])
    for key, metrics in (("attention", report["metrics"]), ("tfidf_logreg", bl["tfidf_logreg"]["metrics"]),
                         ("majority", bl["majority"]["metrics"])):
        for path in paths:
            value = metric_at(metrics, path)
            assert _cell(section, "data-baseline", f"{key}:{path}") == ("undefined" if value is None
                                                                         else f"{value:.4f}")
    tests = bl["comparison"]["paired_bootstrap"]
    assert bl["key_metric"] in tests and "accuracy" in tests
    for metric, t in tests.items():
        row = section[section.index(f'data-test="{metric}"'):]
        assert _cell(row, "data-field", "difference") == f"{t['difference']:+.4f}"
        assert _cell(row, "data-field", "ci") == f"[{t['low']:+.4f}, {t['high']:+.4f}]"
        assert _cell(row, "data-field", "p_value") == _p(t["p_value"])
    assert _cell(section, "data-field", "mcnemar_p") == _p(bl["comparison"]["mcnemar"]["p_value"])
    assert '<a href="#baselines">' in html


def test_baselines_values_are_escaped(run_report):
    report = copy.deepcopy(run_report[0])
    report["baselines"]["majority"]["params"]["predicts"] = "<script>alert(1)</script>"
    report["baselines"]["comparison"]["system"] = "<b>x</b>"
    section = _section(render_html(report))
    assert "<script>" not in section and "<b>x</b>" not in section
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section and "&lt;b&gt;x&lt;/b&gt;" in section


def test_report_without_baselines_has_no_section(run_report, synthetic):
    report = copy.deepcopy(run_report[0])
    del report["baselines"]
    for html in (render_html(report), synthetic["html"].read_text(encoding="utf-8")):
        assert 'id="baselines"' not in html and "#baselines" not in html and "Baselines" not in html


def test_training_report_with_baselines_validates(run_report):
    jsonschema = pytest.importorskip("jsonschema")
    from attnlab.report.schema import load_schema

    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    report = run_report[0]
    assert "baselines" in report
    assert [e.message for e in validator.iter_errors(report)] == []
    broken = copy.deepcopy(report)
    del broken["baselines"]["comparison"]["mcnemar"]["p_value"]
    assert list(validator.iter_errors(broken))
    del broken["baselines"]
    assert [e.message for e in validator.iter_errors(broken)] == []
