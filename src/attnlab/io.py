"""Atomic file output and run directories that appear whole or not at all."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

from attnlab.errors import InputError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """JSON with NaN forbidden: undefined numbers must already be ``None``."""
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def atomic_write_csv(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def atomic_write_jsonl(path: str | os.PathLike, records: Iterable[Any]) -> None:
    """A whole JSON Lines file (one record per line), atomically; see :func:`append_jsonl` to add a line."""
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def append_jsonl(path: str | os.PathLike, record: Any) -> None:
    """Append one JSON line (strict JSON: NaN/inf refused) to ``path``, e.g. a training history."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, allow_nan=False) + "\n")


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RunDirectory:
    """A run directory built in a hidden sibling folder and renamed into place on success.

    Nothing appears at ``final`` until :meth:`commit`; on an error the partial folder is removed, so a
    failed run never leaves a half-written directory behind.

    A ``resumable`` run builds in the fixed sibling ``.NAME.partial`` so that a run killed (even by SIGKILL)
    can be found and continued with ``resume=True``. Such a folder is kept whenever it holds a checkpoint
    (``checkpoint.safetensors``) — after Ctrl-C, a failed resume or a failure while writing the outputs — and
    is never taken over without ``resume=True``.
    """

    checkpoint_name = "checkpoint.safetensors"

    def __init__(self, final: str | os.PathLike, *, resumable: bool = False, resume: bool = False) -> None:
        self.final = Path(final)
        self.resumable, self.resumed = resumable, False
        if self.final.exists() and not self.final.is_dir():
            raise InputError(f"output path {self.final} exists and is a file; pass --out with a new directory name")
        if self.final.exists() and any(self.final.iterdir()):
            raise InputError(f"output directory {self.final} already exists and is not empty; "
                             "pass --out with a new name (attnlab never overwrites a run)")
        parent = self.final.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            if not resumable:
                self.path = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.", suffix=".partial", dir=parent))
                return
            self.path = parent / f".{self.final.name}.partial"
            if self.path.exists() and not resume:
                raise InputError(f"an interrupted run of {self.final} is in {self.path}: continue it with --resume "
                                 "(same data and flags), or delete that folder to start over")
            if resume and not self.path.is_dir():
                raise InputError(f"nothing to resume: there is no interrupted run of {self.final} ({self.path} does "
                                 "not exist); run again without --resume")
            self.resumed = resume
            self.path.mkdir(exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the run directory in {parent}: {exc.strerror}; "
                             "pass --out with a writable location") from None

    def __enter__(self) -> "RunDirectory":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None or not self.path.exists():
            return
        if self.resumable and (self.path / self.checkpoint_name).is_file():
            return  # keep the checkpoint, whatever stopped the run: `--resume` continues from it
        shutil.rmtree(self.path, ignore_errors=True)

    def commit(self) -> Path:
        if self.final.exists():
            self.final.rmdir()  # only ever an empty folder here (checked in __init__)
        os.replace(self.path, self.final)
        self.path = self.final
        return self.final


def read_input_bytes(path: str | os.PathLike, *, expected: str) -> bytes:
    """The bytes of a user's input file, or a one-line :class:`InputError` (missing, a folder, unreadable).

    ``expected`` says what the file should be, for the message: e.g. ``"a report.json written by attnlab"``.
    """
    p, shown = Path(path), _shown(path)
    if p.is_dir():
        raise InputError(f"{shown} is a directory; pass {expected}")
    if not p.exists():
        raise InputError(f"file not found: {shown}; pass {expected} (relative paths start at the current directory)")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {shown}: {exc.strerror or exc}; check the file's permissions") from None


def decode_utf8(data: bytes, path: str | os.PathLike) -> str:
    """UTF-8 text with a leading byte-order mark dropped, or an :class:`InputError` saying where it breaks."""
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset, shown = start + err.start, _shown(path)
        line = data.count(b"\n", 0, offset) + 1
        raise InputError(f"{shown} is not valid UTF-8: byte 0x{data[offset]:02x} on line {line} (byte offset {offset}); "
                         f"re-encode it, e.g. iconv -f latin1 -t utf-8 {shown} > fixed{Path(path).suffix}") from None


def read_input_text(path: str | os.PathLike, *, expected: str) -> str:
    """:func:`read_input_bytes` then :func:`decode_utf8`."""
    return decode_utf8(read_input_bytes(path, expected=expected), path)


def _shown(path: str | os.PathLike) -> str:
    """The path as the user gave it, kept on one line."""
    return str(path).replace("\n", "\\n").replace("\r", "\\r")
