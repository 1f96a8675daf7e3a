"""The HTML report: escaping, self-containment, plots per section, the terminal summary's numbers,
re-rendering from report.json alone (without torch) and bad input."""

import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from attnlab.report.html import render_html

# Plot sections and the SVG each must hold (classification with scores, history and predictions).
PLOT_SECTIONS = {"confusion": "plot-confusion", "per-class": "plot-per-class", "roc": "plot-roc", "pr": "plot-pr",
                 "threshold": "plot-threshold", "calibration": "plot-calibration", "training": "plot-training"}
ORDER = ["verdict", "metrics", "confusion", "per-class", "roc", "pr", "threshold", "calibration", "training",
         "leakage", "errors"]


class Sections(HTMLParser):
    """Top-level ids in document order and, per section id, the classes of the <svg> elements in it."""

    def __init__(self):
        super().__init__()
        self.ids, self.svgs, self.stack, self.scripts = [], {}, [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if attrs.get("id") in ORDER:
            self.ids.append(attrs["id"])
            self.stack.append(attrs["id"])
        if tag == "svg" and self.ids:
            self.svgs.setdefault(self.ids[-1], []).extend((attrs.get("class") or "").split())


def parse(html):
    p = Sections()
    p.feed(html)
    return p


def test_sections_in_order_each_plot_an_svg(synthetic):
    p = parse(synthetic["html"].read_text(encoding="utf-8"))
    assert p.ids == ORDER
    for section, cls in PLOT_SECTIONS.items():
        assert cls in p.svgs.get(section, []), section


def test_dataset_text_is_escaped_everywhere(synthetic):
    html = synthetic["html"].read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "<b>bold" not in html
    # the text appears, as text: in the leakage pairs, the findings and the worst errors
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3
    assert parse(html).scripts == 0


def test_no_external_urls(synthetic):
    """No src/href/url() to another origin; the only http strings left are the SVG XML namespaces, which
    browsers never fetch."""
    html = synthetic["html"].read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", html, re.I) and "@import" not in html
    allowed = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert set(re.findall(r"https?://[^\s\"'<>)]+", html)) <= allowed


def headline_from_terminal(text):
    def number(pattern):
        m = re.search(pattern + r"\s*│\s*([0-9.]+|undefined)", text)
        return m.group(1)

    table = text[text.index("Per class"):text.index("Confusion matrix")]
    per_class = {m.group(1): m.group(3) for m in re.finditer(
        r"│ (\S+)(?: \(positive\))?\s*│\s*([0-9.]+|undefined) │\s*([0-9.]+|undefined) │", table)}
    verdict = "NOT READY" if text.lstrip().startswith("NOT READY") else "READY"
    return {"accuracy": number(r"│ accuracy\s"), "macro.f1": number(r"│ macro F1\s"), "recall": per_class,
            "verdict": verdict}


def headline_from_html(html):
    def value(key):
        return re.search(rf'data-metric="{re.escape(key)}"[^>]*>([^<]+)<', html).group(1)

    labels = re.findall(r'data-metric="per_class\.([^"]+)\.recall"', html)
    ready = re.search(r'data-ready="(true|false)"', html).group(1)
    badge = re.search(r"data-verdict>([^<]+)<", html).group(1)
    assert badge == ("READY" if ready == "true" else "NOT READY")
    return {"accuracy": value("accuracy"), "macro.f1": value("macro.f1"),
            "recall": {lab: value(f"per_class.{lab}.recall") for lab in labels}, "verdict": badge}


def test_terminal_summary_matches_the_html(synthetic):
    term = headline_from_terminal(synthetic["terminal"])
    page = headline_from_html(synthetic["html"].read_text(encoding="utf-8"))
    assert term == page
    report = json.loads(synthetic["report"].read_text())
    assert page["accuracy"] == f"{report['metrics']['accuracy']:.4f}"
    assert page["verdict"] == ("READY" if report["verdict"]["ready"] else "NOT READY") == "NOT READY"


def test_rerender_from_json_alone_without_torch(synthetic, tmp_path):
    """`attnlab report report.json` in a fresh interpreter: same page as `evaluate --html`, torch never imported."""
    out = tmp_path / "again.html"
    code = ("import sys; from attnlab.cli import main; rc = main(['report', sys.argv[1], '--out', sys.argv[2]]); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(synthetic["report"]), str(out)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text(encoding="utf-8") == synthetic["html"].read_text(encoding="utf-8")


def test_bare_report_uses_stored_curves(synthetic):
    """Without the predictions file, the curves come from report.json's downsampled points."""
    report = json.loads(synthetic["report"].read_text())
    html = render_html(report)
    p = parse(html)
    for section in ("roc", "pr", "threshold", "calibration", "confusion", "per-class"):
        assert p.svgs.get(section), section
    assert "Needs the predictions file" in html and "p(predicted)" not in html


def test_bare_classification_report_without_scores_renders():
    report = {"schema_version": 1, "task": "classification", "n": 4, "labels": ["a", "b", "c"],
              "positive_label": None,
              "metrics": {"accuracy": 0.5, "macro": {"precision": None, "recall": 0.5, "f1": 0.4},
                          "per_class": {k: {"precision": None, "recall": 0.5, "f1": 0.4, "support": 1} for k in "abc"}},
              "confusion_matrix": {"labels": ["a", "b", "c"], "matrix": [[1, 0, 0], [1, 0, 0], [0, 0, 1]]}}
    html = render_html(report)
    assert "plot-confusion" in html and "plot-roc" not in html and "undefined" in html


def test_translation_report_samples_lengths_escaped(tmp_path):
    from attnlab.cli import main

    (tmp_path / "hyp.txt").write_text("the cat sat on the mat\nhello <script>alert(1)</script>\na b c d\n")
    (tmp_path / "ref.txt").write_text("the cat sat on a mat\nhello there world\na b c e f\n")
    out = tmp_path / "t.html"
    assert main(["evaluate", "--hyp", str(tmp_path / "hyp.txt"), "--ref", str(tmp_path / "ref.txt"),
                 "--bootstrap", "50", "--html", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html and "hello &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert re.search(r'data-metric="bleu"[^>]*>\d+\.\d\d<', html) and "nrefs:1|case:mixed" in html
    assert "plot-lengths" in html and "length ratio" in html


@pytest.mark.parametrize("case", ["version", "truncated", "missing_dir", "dir_without_report", "not_object"])
def test_bad_input_one_line_exit_2_nothing_written(case, synthetic, tmp_path, capsys):
    from attnlab.cli import main

    good = synthetic["report"].read_text()
    target = tmp_path / "report.json"
    if case == "version":
        target.write_text(json.dumps({**json.loads(good), "schema_version": 2}))
    elif case == "truncated":
        target.write_text(good[: len(good) // 2])
    elif case == "missing_dir":
        target = tmp_path / "no-such-run"
    elif case == "dir_without_report":
        target = tmp_path / "empty-run"
        target.mkdir()
    else:
        target.write_text("[1, 2]")
    out = tmp_path / "out.html"
    assert main(["report", str(target), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("attnlab: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob("*.html")) and not list(tmp_path.glob(".*.tmp"))
