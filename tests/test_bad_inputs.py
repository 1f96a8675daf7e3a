"""The bad-input catalogue (issue #10): every command against the bad inputs that apply to it.

Each case runs ``attnlab.cli.main`` in a folder of its own (relative paths, so messages are the same on every
machine) and must keep the contract: exit code 2, exactly one ``attnlab: error:`` line on stderr that names the
problem and the fix (and nothing else on stderr, except for failures found late — a disk filling up during
training — where progress lines may come first), no traceback, and nothing new in the folder: no output file, no
partial run directory, no temporary file.

The same run writes the table ``docs/bad-inputs.md`` (case, command, exit code, the exact stderr line); the test
fails when the committed file differs, so the documented messages cannot rot. Regenerate it with
``ATTNLAB_UPDATE_DOCS=1 .venv/bin/python -m pytest tests/test_bad_inputs.py``.

Unwritable output and a full disk are simulated in-process (tests run as root in CI, where permissions do not
stop writes): :func:`failing_writes` makes every write under one folder fail with EACCES or ENOSPC.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from attnlab.cli import main

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "bad-inputs.md"
FIXTURE = Path(__file__).parent / "fixtures" / "sms_small.csv"
TINY = ["--d-model", "16", "--heads", "2", "--layers", "1", "--d-ff", "32", "--epochs", "1", "--vocab-size", "400",
        "--max-len", "40"]
RUN = "../run"  # the module's tiny classification run, seen from a case folder
MB = 1 << 20

GOOD = "text,label\n" + "".join(f"message number {i},{'ham' if i % 3 else 'spam'}\n" for i in range(40))
PRED = "id,text,label,prediction,p_ham,p_spam\n" + "".join(
    f"{i},text {i},{'ham' if i % 3 else 'spam'},{'ham' if i % 2 else 'spam'},0.{i % 9 + 1},{1 - (i % 9 + 1) / 10:.1f}\n"
    for i in range(30))
SIMPLE = "id,label,prediction\n" + "".join(f"{i},{'ham' if i % 3 else 'spam'},{'ham' if i % 2 else 'spam'}\n"
                                           for i in range(30))


# --------------------------------------------------------------------------------------------------
# Simulated write failures
# --------------------------------------------------------------------------------------------------

class _NoRoom:
    """A file object that opened fine but whose writes fail (a full disk)."""

    def __init__(self, fh: Any, fail: Callable[[], None]):
        self._fh, self._fail = fh, fail

    def write(self, *_: Any, **__: Any) -> None:
        self._fail()

    writelines = write

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> "_NoRoom":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._fh.close()


@contextlib.contextmanager
def failing_writes(folder: Path, code: int):
    """Every write under ``folder`` fails with ``code``: EACCES refuses to create anything there; ENOSPC lets files
    and folders be created but no byte be written (the Rust safetensors writer is the one thing it cannot reach)."""
    folder_s = os.path.realpath(folder)
    real = {"io.open": io.open, "os.open": os.open, "os.mkdir": os.mkdir, "os.replace": os.replace}

    def inside(path: Any) -> bool:
        if isinstance(path, int):
            try:
                path = os.readlink(f"/proc/self/fd/{path}")
            except OSError:
                return False
        path = os.path.realpath(os.fspath(path))
        return path == folder_s or path.startswith(folder_s + os.sep)

    def fail(path: Any = None) -> None:
        raise OSError(code, os.strerror(code), None if isinstance(path, int) else path)

    def fake_open(file: Any, mode: str = "r", *a: Any, **k: Any) -> Any:
        if any(c in mode for c in "wax+") and inside(file):
            if code != errno.ENOSPC:
                fail(file)
            return _NoRoom(real["io.open"](file, mode, *a, **k), fail)
        return real["io.open"](file, mode, *a, **k)

    def refuse(name: str) -> Callable[..., Any]:
        def call(path: Any, *a: Any, **k: Any) -> Any:
            target = a[0] if name == "os.replace" else path
            writing = name != "os.open" or a[0] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            if code != errno.ENOSPC and writing and inside(target):
                fail(target)
            return real[name](path, *a, **k)
        return call

    patches = [(io, "open", fake_open), (builtins, "open", fake_open), (os, "open", refuse("os.open")),
               (os, "mkdir", refuse("os.mkdir")), (os, "replace", refuse("os.replace"))]
    saved = [(mod, name, getattr(mod, name)) for mod, name, _ in patches]
    for mod, name, new in patches:
        setattr(mod, name, new)
    try:
        yield
    finally:
        for mod, name, old in saved:
            setattr(mod, name, old)


# --------------------------------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    case: str  # the bad input, in words
    argv: list[str]
    files: dict[str, Any]  # written into the case folder first: str or bytes content, or a callable(folder)
    fails: int | None = None  # simulate EACCES/ENOSPC under ./out
    late: bool = False  # found after work began: progress lines may precede the error line

    @property
    def command(self) -> str:
        return " ".join(self.argv[:2]) if self.argv[0] == "data" else self.argv[0]


def parquet(table: dict[str, list]) -> Callable[[Path], bytes]:
    def write(path: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table(table), path)
    return write


def report_json(edit: Callable[[dict], Any] | None = None) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        report = json.loads((path.parent / RUN / "report.json").read_text())
        path.write_text(json.dumps(edit(report) if edit else report))
    return write


def out_dir(path: Path) -> None:
    path.mkdir()


LATIN1 = GOOD.encode() + b"caf\xe9 au lait,ham\n"
ONE_CLASS = "text,label\n" + "".join(f"message {i},ham\n" for i in range(30))
SCORE = ["--score-column", "p_spam", "--positive", "spam"]

CASES: list[Case] = [
    # run / train / sweep: a data file
    Case("missing file", ["run", "--data", "missing.csv", "--out", "out", *TINY], {}),
    Case("wrong extension", ["run", "--data", "data.txt", "--out", "out", *TINY], {"data.txt": GOOD}),
    Case("missing file", ["train", "missing.csv", "--out", "out", *TINY], {}),
    Case("empty file", ["train", "empty.csv", "--out", "out", *TINY], {"empty.csv": ""}),
    Case("header but no rows", ["train", "header.csv", "--out", "out", *TINY], {"header.csv": "text,label\n"}),
    Case("wrong extension", ["train", "data.xlsx", "--out", "out", *TINY], {"data.xlsx": GOOD}),
    Case("missing column", ["train", "data.csv", "--label-column", "y", "--out", "out", *TINY], {"data.csv": GOOD}),
    Case("NaN label", ["train", "data.csv", "--out", "out", *TINY], {"data.csv": GOOD + "hello,NaN\n"}),
    Case("empty label", ["train", "data.csv", "--out", "out", *TINY], {"data.csv": GOOD + "hello,\n"}),
    Case("zero-length text", ["train", "data.csv", "--out", "out", *TINY], {"data.csv": GOOD + '"",ham\n'}),
    Case("non-UTF-8 bytes", ["train", "data.csv", "--out", "out", *TINY], {"data.csv": LATIN1}),
    Case("UTF-16 file", ["train", "data.csv", "--out", "out", *TINY], {"data.csv": GOOD.encode("utf-16")}),
    Case("1 MB single line, no newline", ["train", "data.csv", "--out", "out", *TINY], {"data.csv": "x" * MB}),
    Case("1 MB label (the text column as labels)", ["train", "data.csv", "--out", "out", *TINY],
         {"data.csv": GOOD + "hello," + "y" * MB + "\n"}),
    Case("single class", ["train", "data.csv", "--out", "out", *TINY], {"data.csv": ONE_CLASS}),
    Case("unbalanced quote", ["train", "data.csv", "--out", "out", *TINY], {"data.csv": 'text,label\n"abc,ham\n'}),
    Case("ragged row", ["train", "data.csv", "--out", "out", *TINY], {"data.csv": "text,label\nabc,ham,x\n"}),
    Case("duplicated column", ["train", "data.csv", "--out", "out", *TINY], {"data.csv": "text,label,text\na,b,c\n"}),
    Case("not gzip", ["train", "data.csv.gz", "--out", "out", *TINY], {"data.csv.gz": b"plain text"}),
    Case("JSON Lines: a list, not an object", ["train", "data.jsonl", "--out", "out", *TINY],
         {"data.jsonl": '{"text": "a", "label": "ham"}\n[1, 2]\n'}),
    Case("JSON Lines: nested label", ["train", "data.jsonl", "--out", "out", *TINY],
         {"data.jsonl": '{"text": "a", "label": ["ham"]}\n'}),
    Case("Parquet: integer text column", ["train", "data.parquet", "--out", "out", *TINY],
         {"data.parquet": parquet({"text": [1, 2], "label": ["ham", "spam"]})}),
    Case("Parquet: list label column", ["train", "data.parquet", "--out", "out", *TINY],
         {"data.parquet": parquet({"text": ["a", "b"], "label": [[1], [2]]})}),
    Case("corrupt Parquet", ["train", "data.parquet", "--out", "out", *TINY], {"data.parquet": b"PAR1 not parquet"}),
    Case("--out is a file", ["train", "data.csv", "--out", "taken", *TINY], {"data.csv": GOOD, "taken": "x"}),
    Case("output directory not writable", ["train", "data.csv", "--out", "out/run", *TINY],
         {"data.csv": GOOD, "out": out_dir}, fails=errno.EACCES),
    Case("disk full", ["train", "data.csv", "--out", "out/run", *TINY], {"data.csv": GOOD, "out": out_dir},
         fails=errno.ENOSPC, late=True),
    # predict / translate: a run directory and texts
    Case("not a run directory", ["predict", "missing-run", "hello"], {}),
    Case("zero-length text argument", ["predict", RUN, ""], {}),
    Case("--file missing", ["predict", RUN, "--file", "texts.txt"], {}),
    Case("--file empty", ["predict", RUN, "--file", "texts.txt"], {"texts.txt": ""}),
    Case("--file non-UTF-8 bytes", ["predict", RUN, "--file", "texts.txt"], {"texts.txt": b"caf\xe9\n"}),
    Case("--file wrong extension", ["predict", RUN, "--file", "texts.doc"], {"texts.doc": "hello\n"}),
    Case("--file missing column", ["predict", RUN, "--file", "texts.csv"], {"texts.csv": "body\nhello\n"}),
    Case("--file zero-length text", ["predict", RUN, "--file", "texts.csv"], {"texts.csv": 'text\nhello\n""\n'}),
    Case("damaged config.json", ["predict", "run", "hello"],
         {"run": lambda p: (shutil.copytree(p.parent / RUN, p), (p / "config.json").write_text("{"))}),
    Case("run of the other task", ["translate", RUN, "hello"], {}),
    Case("--file missing", ["translate", RUN, "--file", "src.txt"], {}),
    Case("--file empty", ["translate", RUN, "--file", "src.txt"], {"src.txt": ""}),
    Case("--file blank line", ["translate", RUN, "--file", "src.txt"], {"src.txt": "one\n\ntwo\n"}),
    Case("--file non-UTF-8 bytes", ["translate", RUN, "--file", "src.txt"], {"src.txt": b"caf\xe9\n"}),
    # evaluate: a predictions file
    Case("missing file", ["evaluate", "missing.csv"], {}),
    Case("empty file", ["evaluate", "preds.csv"], {"preds.csv": ""}),
    Case("header but no rows", ["evaluate", "preds.csv"], {"preds.csv": "label,prediction\n"}),
    Case("wrong extension", ["evaluate", "preds.xlsx"], {"preds.xlsx": SIMPLE}),
    Case("missing column", ["evaluate", "preds.csv", "--label-column", "y"], {"preds.csv": SIMPLE}),
    Case("no prediction column and no scores", ["evaluate", "preds.csv"], {"preds.csv": "label,x\nham,1\nspam,2\n"}),
    Case("NaN label", ["evaluate", "preds.csv"], {"preds.csv": SIMPLE + "99,NaN,ham\n"}),
    Case("empty prediction", ["evaluate", "preds.csv"], {"preds.csv": SIMPLE + "99,ham,\n"}),
    Case("label outside --labels (unseen class)", ["evaluate", "preds.csv", "--labels", "ham,spam"],
         {"preds.csv": SIMPLE + "99,fraud,ham\n"}),
    Case("single class", ["evaluate", "preds.csv"], {"preds.csv": "label,prediction\nham,ham\nham,ham\n"}),
    Case("NaN score", ["evaluate", "preds.csv", *SCORE], {"preds.csv": PRED + "99,t,ham,ham,0.5,nan\n"}),
    Case("infinite score", ["evaluate", "preds.csv", *SCORE], {"preds.csv": PRED + "99,t,ham,ham,0.5,inf\n"}),
    Case("score outside [0, 1]", ["evaluate", "preds.csv", *SCORE], {"preds.csv": PRED + "99,t,ham,ham,0.5,1.5\n"}),
    Case("score not a number", ["evaluate", "preds.csv", *SCORE], {"preds.csv": PRED + "99,t,ham,ham,0.5,high\n"}),
    Case("probability below 0", ["evaluate", "preds.csv"], {"preds.csv": PRED + "99,t,ham,ham,-0.2,1.2\n"}),
    Case("probability rows not summing to 1", ["evaluate", "preds.csv"], {"preds.csv": PRED + "99,t,ham,ham,0.7,0.7\n"}),
    Case("probability rows not summing to 1 (streamed)",
         ["evaluate", "preds.csv", "--proba-columns", "p_ham,p_spam", "--chunk-rows", "8"],
         {"preds.csv": PRED + "99,t,ham,ham,0.7,0.7\n"}),
    Case("non-UTF-8 bytes", ["evaluate", "preds.csv"], {"preds.csv": SIMPLE.encode() + b"99,caf\xe9,ham\n"}),
    Case("non-UTF-8 bytes (streamed)", ["evaluate", "preds.csv", "--chunk-rows", "8"],
         {"preds.csv": SIMPLE.encode() + b"99,caf\xe9,ham\n"}),
    Case("1 MB single line, no newline", ["evaluate", "preds.csv"], {"preds.csv": "x" * MB}),
    Case("1 MB single line, no newline (streamed)", ["evaluate", "preds.csv", "--chunk-rows", "8"],
         {"preds.csv": "x" * MB}),
    Case("1 MB label", ["evaluate", "preds.csv"], {"preds.csv": SIMPLE + "99," + "y" * MB + ",ham\n"}),
    Case("Parquet: string score column", ["evaluate", "preds.parquet", "--score-column", "s", "--positive", "1"],
         {"preds.parquet": parquet({"label": [1, 0], "prediction": [1, 0], "s": ["0.3", "high"]})}),
    Case("Parquet: string score column (streamed)",
         ["evaluate", "preds.parquet", "--score-column", "s", "--positive", "1", "--chunk-rows", "8"],
         {"preds.parquet": parquet({"label": [1, 0], "prediction": [1, 0], "s": ["0.3", "high"]})}),
    Case("Parquet: struct label column", ["evaluate", "preds.parquet"],
         {"preds.parquet": parquet({"label": [{"a": 1}, {"a": 2}], "prediction": [1, 0]})}),
    Case("Parquet: list label column (streamed)", ["evaluate", "preds.parquet", "--chunk-rows", "8"],
         {"preds.parquet": parquet({"label": [[1], [0]], "prediction": [1, 0]})}),
    Case("JSON Lines: label type changes (streamed)", ["evaluate", "preds.jsonl", "--chunk-rows", "8"],
         {"preds.jsonl": '{"label": "ham", "prediction": "ham"}\n{"label": 1, "prediction": "spam"}\n'}),
    Case("--train: zero-length text", ["evaluate", "preds.csv", "--train", "train.csv"],
         {"preds.csv": "text,label,prediction\n,ham,ham\nhello,spam,spam\n", "train.csv": GOOD}),
    Case("--train missing", ["evaluate", "preds.csv", "--train", "missing.csv"], {"preds.csv": PRED}),
    Case("--history not JSON lines", ["evaluate", "preds.csv", "--history", "history.jsonl"],
         {"preds.csv": SIMPLE, "history.jsonl": "not json\n"}),
    Case("--out folder missing", ["evaluate", "preds.csv", "--out", "nowhere/report.json"], {"preds.csv": SIMPLE}),
    Case("output directory not writable", ["evaluate", "preds.csv", "--out", "out/report.json", "--bootstrap", "0"],
         {"preds.csv": SIMPLE, "out": out_dir}, fails=errno.EACCES),
    Case("disk full", ["evaluate", "preds.csv", "--out", "out/report.json", "--bootstrap", "0"],
         {"preds.csv": SIMPLE, "out": out_dir}, fails=errno.ENOSPC),
    Case("disk full (--html)", ["evaluate", "preds.csv", "--html", "out/report.html", "--bootstrap", "0"],
         {"preds.csv": SIMPLE, "out": out_dir}, fails=errno.ENOSPC),
    Case("translation: mismatched lengths", ["evaluate", "--hyp", "hyp.txt", "--ref", "ref.txt"],
         {"hyp.txt": "a b\nc d\n", "ref.txt": "a b\n"}),
    Case("translation: empty file", ["evaluate", "--hyp", "hyp.txt", "--ref", "ref.txt"],
         {"hyp.txt": "", "ref.txt": ""}),
    Case("translation: non-UTF-8 bytes", ["evaluate", "--hyp", "hyp.txt", "--ref", "ref.txt"],
         {"hyp.txt": b"caf\xe9\n", "ref.txt": "cafe\n"}),
    Case("translation: 1 MB single line", ["evaluate", "--hyp", "hyp.txt", "--ref", "ref.txt"],
         {"hyp.txt": "ab " * (MB // 3) + "\n", "ref.txt": "ab\n"}),
    # compare: predictions files of several systems
    Case("missing file", ["compare", "a.csv", "b.csv"], {"a.csv": SIMPLE}),
    Case("duplicated ids", ["compare", "a.csv", "b.csv"], {"a.csv": SIMPLE + "3,ham,ham\n", "b.csv": SIMPLE}),
    Case("mismatched lengths", ["compare", "a.csv", "b.csv"],
         {"a.csv": SIMPLE, "b.csv": "\n".join(SIMPLE.splitlines()[:-3]) + "\n"}),
    Case("gold labels differ", ["compare", "a.csv", "b.csv"],
         {"a.csv": SIMPLE, "b.csv": SIMPLE.replace("\n0,spam,", "\n0,ham,")}),
    Case("missing id column", ["compare", "a.csv", "b.csv"], {"a.csv": SIMPLE.replace("id,", "row,"), "b.csv": SIMPLE}),
    Case("NaN label", ["compare", "a.csv", "b.csv"], {"a.csv": SIMPLE, "b.csv": SIMPLE + "99,nan,ham\n"}),
    Case("single class", ["compare", "a.csv", "b.csv"],
         {"a.csv": "id,label,prediction\n1,ham,ham\n2,ham,ham\n", "b.csv": "id,label,prediction\n1,ham,ham\n2,ham,ham\n"}),
    Case("non-UTF-8 bytes", ["compare", "a.csv", "b.csv"], {"a.csv": SIMPLE, "b.csv": SIMPLE.encode() + b"99,caf\xe9,x\n"}),
    Case("1 MB id", ["compare", "a.csv", "b.csv"], {"a.csv": SIMPLE + "y" * MB + ",ham,ham\n", "b.csv": SIMPLE}),
    Case("disk full", ["compare", "a.csv", "a.csv", "--bootstrap", "10", "--out", "out/compare.json"],
         {"a.csv": SIMPLE, "out": out_dir}, fails=errno.ENOSPC),
    # check: a report
    Case("missing file", ["check", "report.json"], {}),
    Case("empty file", ["check", "report.json"], {"report.json": ""}),
    Case("not JSON", ["check", "report.json"], {"report.json": "{"}),
    Case("non-UTF-8 bytes", ["check", "report.json"], {"report.json": b'{"a": "\xe9"}'}),
    Case("not a report", ["check", "report.json"], {"report.json": '{"schema_version": 1}'}),
    Case("folder without report.json", ["check", "."], {}),
    Case("unknown label in --min-recall", ["check", "report.json", "--min-recall", "fraud=0.9"],
         {"report.json": report_json()}),
    Case("--min-recall out of range", ["check", "report.json", "--min-recall", "spam=1.5"],
         {"report.json": report_json()}),
    Case("--policy with an unknown key", ["check", "report.json", "--policy", "policy.json"],
         {"report.json": report_json(), "policy.json": '{"min_fone": 0.5}'}),
    Case("output directory not writable", ["check", "report.json", "--out", "out/verdict.json"],
         {"report.json": report_json(), "out": out_dir}, fails=errno.EACCES),
    # check-leakage: two data files
    Case("missing file", ["check-leakage", "train.csv", "test.csv"], {"train.csv": GOOD}),
    Case("empty file", ["check-leakage", "train.csv", "test.csv"], {"train.csv": GOOD, "test.csv": ""}),
    Case("wrong extension", ["check-leakage", "train.csv", "test.doc"], {"train.csv": GOOD, "test.doc": GOOD}),
    Case("missing column", ["check-leakage", "train.csv", "test.csv"], {"train.csv": GOOD, "test.csv": "body\nhi\n"}),
    Case("zero-length text", ["check-leakage", "train.csv", "test.csv"],
         {"train.csv": GOOD, "test.csv": 'text,label\n"",ham\nhello,spam\n'}),
    Case("empty label", ["check-leakage", "train.csv", "test.csv", "--label-column", "label"],
         {"train.csv": GOOD, "test.csv": "text,label\nhello,\n"}),
    Case("non-UTF-8 bytes", ["check-leakage", "train.csv", "test.csv"], {"train.csv": GOOD, "test.csv": LATIN1}),
    Case("Parquet: integer text column", ["check-leakage", "train.parquet", "test.csv"],
         {"train.parquet": parquet({"text": [1, 2]}), "test.csv": GOOD}),
    Case("disk full", ["check-leakage", "train.csv", "train.csv", "--out", "out/leakage.json"],
         {"train.csv": GOOD, "out": out_dir}, fails=errno.ENOSPC),
    # report: a report.json or run directory
    Case("missing file", ["report", "report.json"], {}),
    Case("not JSON", ["report", "report.json"], {"report.json": "{"}),
    Case("non-UTF-8 bytes", ["report", "report.json"], {"report.json": b"\xff\xfe"}),
    Case("newer schema", ["report", "report.json"], {"report.json": report_json(lambda r: {**r, "schema_version": 2})}),
    Case("folder without report.json", ["report", "."], {}),
    Case("output directory not writable", ["report", "report.json", "--out", "out/report.html"],
         {"report.json": report_json(), "out": out_dir}, fails=errno.EACCES),
    Case("disk full", ["report", "report.json", "--out", "out/report.html"],
         {"report.json": report_json(), "out": out_dir}, fails=errno.ENOSPC),
    # inspect / prune / sweep
    Case("not a run directory", ["inspect", "missing-run", "--text", "hello"], {}),
    Case("zero-length text", ["inspect", RUN, "--text", "", "--no-stats", "--out", "out"], {}),
    Case("--file empty", ["inspect", RUN, "--file", "texts.txt", "--no-stats", "--out", "out"], {"texts.txt": ""}),
    Case("--file non-UTF-8 bytes", ["inspect", RUN, "--file", "texts.txt", "--no-stats", "--out", "out"],
         {"texts.txt": b"caf\xe9\n"}),
    Case("--data is other data", ["inspect", RUN, "--data", "data.csv", "--out", "out"], {"data.csv": GOOD}),
    Case("--out is a file", ["inspect", RUN, "--text", "hello", "--no-stats", "--out", "taken"], {"taken": "x"}),
    Case("disk full", ["inspect", RUN, "--text", "hello", "--no-stats", "--out", "out/inspect"], {"out": out_dir},
         fails=errno.ENOSPC),
    Case("not a run directory", ["prune", "missing-run"], {}),
    Case("--data missing", ["prune", RUN, "--data", "missing.csv", "--out", "out"], {}),
    Case("--data non-UTF-8 bytes", ["prune", RUN, "--data", "data.csv", "--out", "out"], {"data.csv": LATIN1}),
    Case("output directory not writable", ["prune", RUN, "--out", "out/pruned"], {"out": out_dir}, fails=errno.EACCES),
    Case("missing file", ["sweep", "missing.csv", "--heads", "1,2", "--out", "out"], {}),
    Case("NaN label", ["sweep", "data.csv", "--heads", "1,2", "--out", "out"], {"data.csv": GOOD + "hello,nan\n"}),
    Case("single class", ["sweep", "data.csv", "--heads", "1,2", "--out", "out"], {"data.csv": ONE_CLASS}),
    Case("non-UTF-8 bytes", ["sweep", "data.csv", "--heads", "1,2", "--out", "out"], {"data.csv": LATIN1}),
    Case("--out is a file", ["sweep", "data.csv", "--heads", "1,2", "--out", "taken"], {"data.csv": GOOD, "taken": "x"}),
    # data
    Case("unknown dataset", ["data", "fetch", "no-such-data"], {}),
    Case("a path as the dataset name", ["data", "fetch", "../../etc/passwd"], {}),
]


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _setup(folder: Path, files: dict[str, Any]) -> None:
    for name, content in files.items():
        path = folder / name
        if callable(content):
            content(path)
        else:
            path.write_bytes(content.encode() if isinstance(content, str) else content)


def run_case(case: Case, folder: Path, capsys) -> dict[str, Any]:
    """Run one case in ``folder``; return what happened (exit code, stderr lines, files left behind)."""
    folder.mkdir()
    _setup(folder, case.files)
    before = _files(folder)
    capsys.readouterr()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        with failing_writes(folder / "out", case.fails) if case.fails else contextlib.nullcontext():
            code = main(case.argv)
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    return {"code": code, "err": err, "lines": [line for line in err.splitlines() if line.strip()],
            "new": sorted(_files(folder) - before)}


def contract_problems(case: Case, got: dict[str, Any]) -> list[str]:
    problems = []
    lines = got["lines"]
    errors = [line for line in lines if line.startswith("attnlab: error: ")]
    if got["code"] != 2:
        problems.append(f"exit code {got['code']}")
    if len(errors) != 1 or lines[-1:] != errors:
        problems.append(f"{len(errors)} error line(s), last line {lines[-1:]!r}")
    if not case.late and len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines: {lines!r}")
    if "Traceback" in got["err"]:
        problems.append("a traceback")
    if errors and (len(errors[0]) > 400 or "; " not in errors[0] and " — " not in errors[0]):
        problems.append("the message is over 400 characters or names no fix")
    if got["new"]:
        problems.append(f"left behind {got['new'][:5]}")
    return problems


def render_table(rows: list[tuple[Case, dict[str, Any]]]) -> str:
    out = ["# Bad-input catalogue", "",
           "Generated by `tests/test_bad_inputs.py` (regenerate: `ATTNLAB_UPDATE_DOCS=1 .venv/bin/python -m pytest "
           "tests/test_bad_inputs.py`); the test fails when this file differs from what the commands print. Each "
           "case runs in an empty folder holding only the files it names (`../run` is a tiny classification run); "
           "every one exits with code 2, prints the one line shown (after any progress lines, for a disk that fills "
           "up during training) and leaves nothing behind: no output file, no partial run directory, no temporary "
           "file. \"Not writable\" and \"disk full\" are simulated (every write under the output folder fails with "
           "EACCES or ENOSPC).", "",
           "Accepted, not errors: a 1 MB text in a data file (truncated to `--max-len` tokens; words over 100 "
           "characters never enter the tokenizer's vocabulary), a class with one example (a warning names the "
           "splits it is missing from), NUL bytes inside a quoted text.", "",
           "| command | bad input | exit | stderr |", "|---|---|---|---|"]
    for case, got in rows:
        line = got["lines"][-1] if got["lines"] else ""
        line = line.replace("|", "\\|").replace("``", "` `")
        out.append(f"| `{case.command}` | {case.case} | {got['code']} | `` {line} `` |")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad-inputs")
    assert main(["train", str(FIXTURE), "--out", str(root / "run"), *TINY]) == 0
    return root


def test_every_bad_input_gets_one_line_exit_2_and_leaves_nothing(workdir, capsys):
    rows, failures = [], []
    for i, case in enumerate(CASES):
        got = run_case(case, workdir / f"case-{i:03d}", capsys)
        rows.append((case, got))
        problems = contract_problems(case, got)
        if problems:
            failures.append(f"{case.command} / {case.case}: {'; '.join(problems)} — stderr: {got['err'][-500:]!r}")
    assert not failures, "\n".join(failures)
    table = render_table(rows)
    if os.environ.get("ATTNLAB_UPDATE_DOCS") == "1":
        TABLE.write_text(table, encoding="utf-8")
    committed = TABLE.read_text(encoding="utf-8") if TABLE.is_file() else ""
    assert committed == table, ("docs/bad-inputs.md differs from the messages the commands print; regenerate it with "
                                "ATTNLAB_UPDATE_DOCS=1 .venv/bin/python -m pytest tests/test_bad_inputs.py")


def test_every_command_is_in_the_catalogue():
    from attnlab.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    covered = {case.argv[0] for case in CASES}
    assert set(sub.choices) <= covered, set(sub.choices) - covered


@pytest.mark.parametrize("argv, files", [
    (["evaluate", "preds.csv"], {"preds.csv": SIMPLE + "99,NaN,ham\n"}),
    (["train", "data.csv", "--out", "out"], {"data.csv": LATIN1}),
    (["check-leakage", "train.csv", "test.csv"], {"train.csv": GOOD, "test.csv": "x" * MB}),
])
def test_a_real_process_prints_no_traceback(argv, files, tmp_path):
    _setup(tmp_path, files)
    proc = subprocess.run([sys.executable, "-m", "attnlab", *argv], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("attnlab: error: "), proc.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)
