"""Shared plumbing of the gallery examples: the --fast switch, the output folder, running the CLI in-process.

Every example writes into its output folder an ``output.md`` (the tables and text shown in the docs) and its
figures (PNG). ``--fast`` (or ``ATTNLAB_EXAMPLES_FAST=1``) uses small data and a tiny model so the test
suite can run every example in seconds; the docs show the full-mode outputs (``make examples``).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import csv
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display


class Example:
    """One example's settings and output: ``ex.fast``, ``ex.out`` (a folder), ``ex.md(...)``, ``ex.savefig(...)``."""

    def __init__(self, description: str, argv: list[str] | None = None) -> None:
        parser = argparse.ArgumentParser(description=description.splitlines()[0])
        parser.add_argument("--fast", action="store_true",
                            help="small data, tiny model, 1-2 epochs (also: ATTNLAB_EXAMPLES_FAST=1)")
        parser.add_argument("--out", help="folder for output.md and the figures (default: a new temporary folder)")
        args = parser.parse_args(argv)
        self.fast = args.fast or os.environ.get("ATTNLAB_EXAMPLES_FAST", "") not in ("", "0")
        self.out = Path(args.out).resolve() if args.out else Path(tempfile.mkdtemp(prefix="attnlab-example-"))
        self.out.mkdir(parents=True, exist_ok=True)
        # run directories and data files: scratch, removed at the end (ATTNLAB_EXAMPLES_KEEP=1 keeps them)
        # The example works in it, so the paths it prints are short and relative.
        self.work = Path(tempfile.mkdtemp(prefix="attnlab-example-work-"))
        self._cwd = os.getcwd()
        os.chdir(self.work)
        atexit.register(self._clean)  # also when the example fails
        self._md: list[str] = []

    def md(self, *lines: str) -> None:
        """Add lines to output.md (Markdown) and print them."""
        for line in lines:
            print(line)
            self._md.append(line)
        self._md.append("")

    def table(self, header: list[str], rows: list[list[object]]) -> None:
        """A Markdown table in output.md."""
        def fmt(v: object) -> str:
            text = f"{v:.4f}" if isinstance(v, float) else "—" if v is None else str(v)
            return text.replace("|", "\\|").replace("\n", " ")  # a Markdown table cell: one line, no bare pipe

        self.md("| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                *("| " + " | ".join(fmt(v) for v in row) + " |" for row in rows))

    def code(self, text: str, lang: str = "text") -> None:
        self.md(f"```{lang}", text.rstrip(), "```")

    def savefig(self, fig, name: str) -> Path:
        path = self.out / name
        fig.savefig(path, dpi=110, bbox_inches="tight")
        print(f"figure: {path}")
        return path

    def finish(self) -> None:
        (self.out / "output.md").write_text("\n".join(self._md).rstrip() + "\n", encoding="utf-8")
        print(f"outputs: {self.out}")

    def _clean(self) -> None:
        os.chdir(self._cwd)
        if os.environ.get("ATTNLAB_EXAMPLES_KEEP", "") in ("", "0"):
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            print(f"scratch files kept in {self.work}")


def attnlab(*args: str, expect: int | tuple[int, ...] = 0) -> tuple[int, str]:
    """Run ``attnlab ARGS`` in this process; return (exit code, what it printed on stdout)."""
    from attnlab.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main([str(a) for a in args])
    expected = (expect,) if isinstance(expect, int) else expect
    if code not in expected:
        sys.stdout.write(buf.getvalue())
        raise SystemExit(f"`attnlab {' '.join(map(str, args))}` exited {code}, expected {expected}")
    return code, buf.getvalue()


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def sms_subset(path: Path, n: int | None, seed: int = 0) -> Path:
    """The embedded SMS-spam data (or a stratified random n of it) as a CSV file with text,label columns."""
    import numpy as np

    from attnlab.data import load_builtin

    data = load_builtin("sms-spam")
    idx = np.arange(len(data.texts))
    if n is not None and n < len(idx):
        rng = np.random.default_rng(seed)
        labels = np.array(data.labels)
        idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == lab),
                                                 round(n * np.mean(labels == lab)), replace=False)
                                      for lab in sorted(set(data.labels))]))
    return write_csv(path, ["text", "label"], [[data.texts[i], data.labels[i]] for i in idx])


# A small classifier for the examples that train on SMS spam: seconds on a CPU, still ~98% accurate.
SMALL_MODEL = ["--d-model", "32", "--heads", "2", "--layers", "1", "--d-ff", "64", "--max-len", "48",
               "--vocab-size", "1000"]
