"""Fuzzed input files (issue #10): random bytes, CSV/TSV/JSON Lines with random columns, quotes, NaNs, encodings
and huge fields, through the file readers and `attnlab evaluate` (in memory and streamed).

The contract under test: the command either succeeds (and then its report.json is whole, valid JSON) or answers
with exactly one `attnlab: error:` line on stderr and exit code 2 — never another exception (a traceback), and
never a partial output file. The readers either return or raise :class:`InputError`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnlab.cli import main
from attnlab.data.readers import read_labelled_texts, read_table
from attnlab.errors import InputError

SETTINGS = settings(max_examples=int(os.environ.get("ATTNLAB_FUZZ_EXAMPLES", "100")), deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                             HealthCheck.data_too_large])

COLUMN_NAMES = st.sampled_from(["label", "prediction", "text", "p_a", "p_b", "score", "id", "", "lab,el", 'q"uote',
                                "new\nline", "ü"])
LABELS = st.sampled_from(["a", "b", "c", "1", "0", "1.0", "", "NaN", "null", " a ", "<b>x</b>"])
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["0.5", "0.25", "1", "0", "-0.1", "1e309", "nan", "inf", "", "x", "0,5"]))
HUGE = st.integers(1, 300_000).map(lambda n: "h" * n)
VALUES = st.one_of(LABELS, NUMBERS, st.text(max_size=12), HUGE)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"])


@st.composite
def delimited(draw) -> tuple[str, bytes]:
    """A CSV or TSV file: a header of random (often the expected) column names, rows of random values, written
    properly quoted or naively joined (so quotes and delimiters inside values can break it)."""
    ext = draw(st.sampled_from([".csv", ".tsv"]))
    delimiter = "," if ext == ".csv" else "\t"
    header = draw(st.lists(COLUMN_NAMES, min_size=1, max_size=5))
    if draw(st.booleans()):
        header = ["label", "prediction", "p_a", "p_b"][: draw(st.integers(1, 4))] + header[:1]
    rows = draw(st.lists(st.lists(VALUES, min_size=len(header), max_size=len(header)), max_size=8))
    if draw(st.booleans()):
        buf = io.StringIO()
        writer = csv.writer(buf, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
        writer.writerow(header)
        writer.writerows(rows)
        text = buf.getvalue()
    else:
        text = "\n".join(delimiter.join(row) for row in [header, *rows]) + draw(st.sampled_from(["", "\n"]))
    return ext, text.encode(draw(ENCODINGS), errors="replace")


@st.composite
def json_lines(draw) -> tuple[str, bytes]:
    scalar = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False), LABELS, HUGE)
    value = st.one_of(scalar, st.lists(scalar, max_size=2), st.dictionaries(st.text(max_size=3), scalar, max_size=2))
    records = draw(st.lists(st.dictionaries(COLUMN_NAMES, value, max_size=5), max_size=8))
    lines = [json.dumps(r) for r in records]
    if draw(st.booleans()) and lines:  # a broken line
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
    return draw(st.sampled_from([".jsonl", ".ndjson"])), "\n".join(lines).encode(draw(ENCODINGS), errors="replace")


def raw_bytes() -> st.SearchStrategy[tuple[str, bytes]]:
    return st.tuples(st.sampled_from([".csv", ".tsv", ".jsonl", ".parquet", ".csv.gz", ".txt"]), st.binary(max_size=300))


FILES = st.one_of(delimited(), json_lines(), raw_bytes())
FLAGS = st.sampled_from([[], ["--chunk-rows", "3"], ["--score-column", "p_b", "--positive", "b"],
                         ["--score-column", "p_b", "--positive", "b", "--chunk-rows", "2"],
                         ["--proba-columns", "p_a,p_b"], ["--labels", "a,b"], ["--text-column", "text"]])


def run_in_process(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    return code, err.getvalue()


def assert_contract(code: int, err: str, out_dir: Path) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    if code == 0:
        report = json.loads((out_dir / "report.json").read_text(encoding="utf-8"))
        assert report["schema_version"] == 1
    else:
        assert code == 2, (code, err)
        errors = [line for line in lines if line.startswith("attnlab: error: ")]
        assert len(errors) == 1 and lines[-1] == errors[0], err
        assert len(errors[0]) < 1000, errors[0][:300]
    leftovers = sorted(p.name for p in out_dir.iterdir() if p.name != "report.json" or code != 0)
    assert leftovers == [], leftovers


@SETTINGS
@given(FILES, FLAGS)
def test_evaluate_on_fuzzed_files_succeeds_or_is_one_line_exit_2(file, flags):
    ext, data = file
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / f"preds{ext}", Path(tmp) / "out"
        path.write_bytes(data)
        out.mkdir()
        code, err = run_in_process(["evaluate", str(path), *flags, "--bootstrap", "0", "--out", str(out / "report.json")])
        assert_contract(code, err, out)


@SETTINGS
@given(FILES)
def test_readers_return_or_raise_input_error(file):
    ext, data = file
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"data{ext}"
        path.write_bytes(data)
        for read in (lambda: read_table(path), lambda: read_labelled_texts(path)):
            try:
                read()
            except InputError as exc:
                assert "\n" not in str(exc) or "\\n" in repr(exc)


@SETTINGS
@given(FILES)
def test_check_leakage_on_fuzzed_files(file):
    ext, data = file
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / f"test{ext}", Path(tmp) / "out"
        path.write_bytes(data)
        out.mkdir()
        train = Path(tmp) / "train.csv"
        train.write_text("text,label\nhello there,a\ngood morning,b\n", encoding="utf-8")
        code, err = run_in_process(["check-leakage", str(train), str(path), "--out", str(out / "report.json")])
        if code == 1:  # leakage found: a check that ran, not an error
            code = 0
        assert "Traceback" not in err
        if code == 0:
            assert json.loads((out / "report.json").read_text(encoding="utf-8"))["leakage_found"] in (True, False)
            assert sorted(p.name for p in out.iterdir()) == ["report.json"]
        else:
            assert_contract(code, err, out)


@pytest.mark.parametrize("content", [b"label,prediction\n\xff\xfe,a\n", b"\x00" * 64, b"label\n" + b"x" * 2_000_000])
def test_a_real_process_never_prints_a_traceback(content, tmp_path):
    (tmp_path / "preds.csv").write_bytes(content)
    proc = subprocess.run([sys.executable, "-m", "attnlab", "evaluate", "preds.csv", "--out", "report.json"],
                          capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("attnlab: error: "), proc.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds.csv"]
