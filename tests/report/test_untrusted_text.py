"""Untrusted text (issue #10): dataset strings are escaped in every HTML page and never become paths.

A dataset whose labels, texts, column names and file name carry markup (and a label that looks like a path) goes
through the real commands — train, report, evaluate --html, inspect, sweep — and every page they write must show
the markup as text: no payload survives as a tag, not even inside the JSON a page embeds in a <script> element.
Nothing may be written outside the chosen output folders.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from attnlab.cli import main

SCRIPT_LABEL = '</script><script>alert("label")</script>'
PATH_LABEL = "../../escaped/evil"
TEXT_PAYLOAD = "<img src=x onerror=alert('text')>"
TOKEN_PAYLOAD = "<svg onload=alert('token')>"
COLUMN = "<b onmouseover=alert('column')>msg</b>"
FILE_NAME = "<i onclick=alert('file')>data.csv"  # a legal file name on Linux
PAYLOADS = [SCRIPT_LABEL, TEXT_PAYLOAD, TOKEN_PAYLOAD, COLUMN, "<i onclick=alert('file')>"]
TINY = ["--d-model", "16", "--heads", "2", "--layers", "1", "--d-ff", "32", "--epochs", "1", "--vocab-size", "400",
        "--max-len", "32"]
SPAM = ["win a free prize now", "claim your cash reward", "urgent call to win"]
HAM = ["see you at lunch", "are we still on for tonight", "thanks for the notes"]


def live_tags(html: str) -> list[str]:
    """Payloads that appear verbatim (so as live markup, or a way out of an embedded <script>) in ``html``."""
    return [payload for payload in [*PAYLOADS, '<script>alert("label")'] if payload in html]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("untrusted")
    data = root / "in" / FILE_NAME
    data.parent.mkdir()
    rows = []
    for i in range(60):
        kind = i % 3
        text = [SPAM, HAM, HAM][kind][i % 3] + f" {i}"
        if i % 5 == 0:
            text += f" {TEXT_PAYLOAD} {TOKEN_PAYLOAD}"
        rows.append((text, [SCRIPT_LABEL, "ham", PATH_LABEL][kind]))
    with open(data, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([COLUMN, "label"])
        writer.writerows(rows)
    before = {p for p in root.rglob("*")}
    run = root / "out" / "run"
    assert main(["train", str(data), "--text-column", COLUMN, "--out", str(run), *TINY]) == 0
    return {"root": root, "data": data, "run": run, "before": before}


def test_report_html_escapes_labels_texts_columns_and_file_name(world):
    html = (world["run"] / "report.html").read_text(encoding="utf-8")
    assert live_tags(html) == []
    assert "&lt;/script&gt;&lt;script&gt;alert" in html or "\\u003c/script\\u003e" in html  # shown, escaped
    assert main(["report", str(world["run"]), "--out", str(world["root"] / "out" / "again.html")]) == 0
    assert live_tags((world["root"] / "out" / "again.html").read_text(encoding="utf-8")) == []


def test_evaluate_html_escapes_everything(world):
    out = world["root"] / "out" / "eval.html"
    assert main(["evaluate", str(world["run"] / "predictions.csv"), "--bootstrap", "0", "--html", str(out)]) == 0
    assert live_tags(out.read_text(encoding="utf-8")) == []


def test_inspect_html_and_maps_escape_tokens_and_texts(world):
    out = world["root"] / "out" / "inspect"
    assert main(["inspect", str(world["run"]), "--text", f"win {TEXT_PAYLOAD} {TOKEN_PAYLOAD} {SCRIPT_LABEL}",
                 "--max-examples", "20", "--out", str(out)]) == 0
    pages = [p for p in out.rglob("*") if p.suffix in (".html", ".svg")]
    assert pages
    for page in pages:
        assert live_tags(page.read_text(encoding="utf-8")) == [], page
    # file names come from positions, never from the texts or labels
    assert all(re.fullmatch(r"[\w.-]+", p.name) for p in out.rglob("*")), sorted(p.name for p in out.rglob("*"))


def test_sweep_html_escapes_and_names_folders_by_number(world):
    out = world["root"] / "out" / "sweep"
    assert main(["sweep", str(world["data"]), "--text-column", COLUMN, "--heads", "1,2", "--bootstrap", "50",
                 "--repeats", "1", "--out", str(out), *[f for f in TINY if f not in ("--heads", "2")]]) == 0
    for page in out.rglob("*.html"):
        assert live_tags(page.read_text(encoding="utf-8")) == [], page
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["heads-1-seed-0", "heads-2-seed-0"]


def test_nothing_is_written_outside_the_output_folders(world):
    root = world["root"]
    new = {p for p in root.rglob("*")} - world["before"]
    outside = [p for p in new if not p.is_relative_to(root / "out")]
    assert outside == []
    assert not (root / "escaped").exists() and not (root.parent / "escaped").exists()
    assert not any("evil" in p.name or "script" in p.name for p in new)
