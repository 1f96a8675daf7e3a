"""The documentation (issue #11): it builds with warnings as errors, its generated pages cover the whole CLI and
the examples, and every error message on the troubleshooting page is what the command really prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from attnlab.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """`make docs`' Sphinx command (-W: any warning fails), into a temporary folder."""
    out = tmp_path_factory.mktemp("docs") / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", "-E",
                           str(DOCS), str(out)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, f"docs build failed:\n{proc.stderr[-6000:]}"
    assert "WARNING" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr[-6000:]
    return out


def _text(html: Path) -> str:
    return re.sub(r"<[^>]+>", "", html.read_text(encoding="utf-8")).replace("&#8212;", "—").replace("&#8211;", "–")


def _commands(parser, path=("attnlab",)):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _commands(sub, (*path, name))


def test_cli_reference_lists_every_command_and_flag(built):
    page = (built / "cli.html").read_text(encoding="utf-8")
    commands = list(_commands(build_parser()))
    assert len(commands) >= 14
    for path, sub in commands:
        assert f">{' '.join(path)}<" in page, f"{' '.join(path)} missing from the CLI reference"
        for action in sub._actions:
            for flag in action.option_strings:
                assert f"{flag}" in page, f"{' '.join(path)} {flag} missing from the CLI reference"


def test_api_reference_documents_the_components(built):
    for page, names in {"nn": ["scaled_dot_product_attention", "MultiHeadAttention"],
                        "metrics": ["classification_report", "binary_roc_auc_score", "paired_bootstrap_test"],
                        "diagnostics": ["find_overlap", "overfitting_findings"],
                        "heads": ["attnlab.heads.sweep"], "data": ["stratified_split"],
                        "train": ["attnlab.train.loop"], "models": ["EncoderClassifier"]}.items():
        text = _text(built / "api" / f"{page}.html")
        for name in names:
            assert name in text, f"{name} missing from api/{page}"


def test_gallery_shows_every_example_with_its_outputs(built):
    text = (built / "gallery.html").read_text(encoding="utf-8")
    for script in sorted((ROOT / "examples").glob("[0-9][0-9]_*.py")):
        assert script.read_text(encoding="utf-8").splitlines()[0].strip('"') in _text(built / "gallery.html")
        for fig in (DOCS / "gallery" / script.stem).glob("*.png"):
            assert f"_images/{fig.name}" in text, f"{script.stem}: figure {fig.name} not shown"
    for page in ("getting-started", "troubleshooting", "metrics/classification", "metrics/ranking",
                 "metrics/probabilistic", "metrics/uncertainty", "metrics/translation", "report-schema",
                 "inspect-heads"):
        assert (built / f"{page}.html").is_file(), page


# ---- troubleshooting: every message on the page is what the command prints ---------------------------------------

_ROW = re.compile(r"^\| `(attnlab [^`]*)` \| `` (.+?) `` \|", re.M)
ROWS = _ROW.findall((DOCS / "troubleshooting.md").read_text(encoding="utf-8"))


@pytest.fixture
def files(tmp_path, monkeypatch):
    """The files the troubleshooting page names."""
    (tmp_path / "preds.csv").write_text("label,prediction,p_spam\nham,ham,0.1\nspam,spam,0.9\nham,spam,0.6\n"
                                        "spam,ham,0.4\n")
    (tmp_path / "one_class.csv").write_text("label,prediction\nham,ham\nham,ham\n")
    (tmp_path / "tiny.csv").write_text("text,label\nhello,ham\n")
    (tmp_path / "latin1.csv").write_bytes("text,label\ncafé,ham\n".encode("latin-1"))
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "notes.xlsx").write_text("x\n")
    (tmp_path / "v2.json").write_text('{"schema_version": 2}')
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_troubleshooting_page_lists_messages():
    assert len(ROWS) >= 25


@pytest.mark.parametrize("command,message", ROWS, ids=[c for c, _ in ROWS])
def test_troubleshooting_message_is_produced(files, capsys, command, message):
    code = main(command.split()[1:])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, (command, err)
    pattern = ".*?".join(re.escape(part) for part in message.split("…"))
    assert err and re.fullmatch(pattern, err[-1]), f"{command}:\n page: {message}\n real: {err[-1] if err else ''}"
    assert sorted(p.name for p in files.iterdir()) == sorted(
        ["preds.csv", "one_class.csv", "tiny.csv", "latin1.csv", "empty.csv", "notes.xlsx", "v2.json"]), \
        "a failing command wrote something"
