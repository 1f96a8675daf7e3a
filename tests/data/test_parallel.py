"""Parallel texts: every input form reads the same pairs, bad input is one clear line, splits never leak."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.data import catalog, parallel
from attnlab.data.parallel import (BIBLE_HELD_OUT, ParallelTexts, default_held_out, read_parallel, sample_path,
                                   split_parallel, translation_datasets)
from attnlab.diagnostics.leakage import leak_key
from attnlab.errors import InputError

SOURCES = ['Hello, "world"', "line one\nline two", "tab\there", "naïve café 😀"] + [f"plain {i}" for i in range(8)]
TARGETS = ["Hallo, „Welt“", "Zeile eins\nZeile zwei", "Tab\thier", "naiv Café 😀"] + [f"schlicht {i}" for i in range(8)]


def write_delimited(path, header, rows, delimiter=","):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path, records):
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if str(path).endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_txt(path, lines, ending="\n"):
    path.write_bytes("".join(line + ending for line in lines).encode("utf-8"))
    return path


def error(fn, *args, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message  # one line, for the CLI
    return message


@pytest.fixture
def pairs_csv(tmp_path):
    return write_delimited(tmp_path / "p.csv", ["id", "src", "tgt"], [[i, s, t] for i, (s, t) in enumerate(zip(SOURCES, TARGETS))])


# ---------------------------------------------------------------------------------------------------- reading


def test_every_table_format_reads_the_same_pairs_as_the_stdlib_reference(tmp_path, pairs_csv):
    reference = list(csv.DictReader(open(pairs_csv, encoding="utf-8", newline="")))
    records = [{"src": s, "tgt": t} for s, t in zip(SOURCES, TARGETS)]
    tsv = write_delimited(tmp_path / "p.tsv", ["src", "tgt"], zip(SOURCES, TARGETS), delimiter="\t")
    pq.write_table(pa.table({"src": SOURCES, "tgt": TARGETS}), tmp_path / "p.parquet")
    for path in (pairs_csv, tsv, write_jsonl(tmp_path / "p.jsonl", records), write_jsonl(tmp_path / "p.jsonl.gz", records),
                 tmp_path / "p.parquet"):
        data = read_parallel(path)
        assert data.sources == [r["src"] for r in reference] == SOURCES, path
        assert data.targets == [r["tgt"] for r in reference] == TARGETS, path
        assert data.groups is None and data.origin == str(path) and len(data) == len(SOURCES)


def test_custom_columns_and_groups(tmp_path):
    rows = [[f"g{i % 3}", f"de {i}", f"en {i}"] for i in range(12)]
    path = write_delimited(tmp_path / "p.csv", ["book", "de", "en"], rows)
    data = read_parallel(path, source_column="de", target_column="en", group_column="book")
    assert data.sources[5] == "de 5" and data.targets[5] == "en 5" and data.groups[:4] == ["g0", "g1", "g2", "g0"]
    assert data.subset([5, 1]).sources == ["de 5", "de 1"] and data.subset([5]).groups == ["g2"]


def test_txt_pair_follows_the_segment_rules(tmp_path):
    src = tmp_path / "en.txt"
    src.write_bytes(b"\xef\xbb\xbf" + "".join(f"  house {i}\t\r\n" for i in range(10)).encode())  # BOM, CRLF
    tgt = write_txt(tmp_path / "de.txt", [f"Haus {i}" for i in range(9)] + ["Haus\u2028neun"])
    tgt.write_bytes(tgt.read_bytes()[:-1])  # no final newline
    data = read_parallel(src, target_path=tgt)
    assert data.sources[0] == "  house 0\t" and data.targets[-1] == "Haus\u2028neun" and len(data) == 10


def test_sample_matches_an_independent_reader_and_holds_the_held_out_books():
    data = read_parallel("bible-en-de-sample")
    table = pacsv.read_csv(io.BytesIO(gzip.decompress(sample_path().read_bytes())),
                           parse_options=pacsv.ParseOptions(delimiter="\t"),
                           convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in ("src", "tgt")}))
    assert table.column_names == ["book", "book_name", "chapter", "verse", "src", "tgt"]
    assert data.sources == table.column("src").to_pylist() and data.targets == table.column("tgt").to_pylist()
    assert data.groups == table.column("book_name").to_pylist() and data.origin == "bible-en-de-sample"
    books = dict.fromkeys(data.groups)
    assert set(books) == set(BIBLE_HELD_OUT["val"] + BIBLE_HELD_OUT["test"] + parallel.SAMPLE_TRAIN_BOOKS)
    assert list(books)[:4] == ["Genesis", "Ruth", "Jonah", "Micah"]  # canonical (file) order
    assert len(data) == 4069 and sample_path().stat().st_size < 400_000


def test_sample_with_a_wrong_checksum_is_refused(monkeypatch):
    monkeypatch.setattr(parallel, "SAMPLE_SHA256", "0" * 64)
    assert "rerun scripts/make_bible_sample.py" in error(read_parallel, "bible-en-de-sample")


def bible_rows(n=12):
    return [[1 + i // 6, ["Genesis", "Exodus"][i // 6], 1, i % 6 + 1, f"verse {i}", f"Vers {i}"] for i in range(n)]


def test_bible_names_read_the_cache_and_fetch_on_first_use(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNLAB_CACHE", str(tmp_path))
    calls = []

    def fake_fetch(name, console=None, **_):
        calls.append(name)
        (tmp_path / "bible").mkdir(exist_ok=True)
        write_delimited(tmp_path / "bible" / f"{name}.tsv", ["book", "book_name", "chapter", "verse", "src", "tgt"],
                        bible_rows(), delimiter="\t")
        return tmp_path

    monkeypatch.setattr(catalog, "fetch", fake_fetch)
    data = read_parallel("bible-en-fr")
    assert calls == ["bible-en-fr"] and data.origin == "bible-en-fr" and data.groups[-1] == "Exodus"
    assert read_parallel("bible-en-fr").targets == [f"Vers {i}" for i in range(12)] and calls == ["bible-en-fr"]
    assert default_held_out(data) == (BIBLE_HELD_OUT["val"], BIBLE_HELD_OUT["test"])


def test_default_held_out_is_for_bible_data_only(pairs_csv):
    assert default_held_out(read_parallel(pairs_csv)) is None
    assert translation_datasets() == ("bible-en-de", "bible-en-de-sample", "bible-en-es", "bible-en-fr")


# ---------------------------------------------------------------------------------------------------- bad input


def test_missing_and_empty_files(tmp_path):
    assert "file not found" in error(read_parallel, tmp_path / "nope.tsv")
    assert "file not found" in error(read_parallel, tmp_path / "nope.txt", target_path=tmp_path / "de.txt")
    src = write_txt(tmp_path / "en.txt", [f"a {i}" for i in range(10)])
    assert "file not found" in error(read_parallel, src, target_path=tmp_path / "missing.txt")
    (tmp_path / "empty.csv").write_text("")
    assert "is empty" in error(read_parallel, tmp_path / "empty.csv")
    (tmp_path / "empty.txt").write_text("\n\n")
    assert "empty.txt is empty" in error(read_parallel, src, target_path=tmp_path / "empty.txt")
    write_delimited(tmp_path / "header.csv", ["src", "tgt"], [])
    assert "no data rows" in error(read_parallel, tmp_path / "header.csv")


def test_missing_columns_name_the_columns_present(tmp_path):
    path = write_delimited(tmp_path / "p.csv", ["english", "tgt"], [["a", "b"]] * 12)
    message = error(read_parallel, path)
    assert "'src' not found" in message and "'english', 'tgt'" in message and "--source-column" in message
    only = write_delimited(tmp_path / "only.csv", ["src", "label"], [["a", "b"]] * 12)
    message = error(read_parallel, only)
    assert "no target column 'tgt'" in message and "'src', 'label'" in message and "--target-column" in message
    assert "--group-column" in error(read_parallel, only, target_column="label", group_column="book")
    assert "both 'src'" in error(read_parallel, only, target_column="src")


def test_txt_files_of_different_lengths_name_both_counts(tmp_path):
    src = write_txt(tmp_path / "en.txt", [f"a {i}" for i in range(12)])
    tgt = write_txt(tmp_path / "de.txt", [f"b {i}" for i in range(11)])
    message = error(read_parallel, src, target_path=tgt)
    assert "has 12 lines" in message and "has 11" in message and "aligned" in message


@pytest.mark.parametrize("side", ["src", "tgt"])
def test_empty_segments_give_count_and_first_row(tmp_path, side):
    rows = [[f"a {i}", f"b {i}"] for i in range(12)]
    for i in (4, 9):
        rows[i][0 if side == "src" else 1] = "  \u3000 " if i == 4 else ""
    message = error(read_parallel, write_delimited(tmp_path / "p.csv", ["src", "tgt"], rows))
    assert f"column '{side}'" in message and "2 empty" in message and "first at line 6" in message
    assert "remove those pairs or fill them in" in message
    src = write_txt(tmp_path / "en.txt", [r[0] for r in rows])
    tgt = write_txt(tmp_path / "de.txt", [r[1] for r in rows])
    message = error(read_parallel, src, target_path=tgt)
    assert ("en.txt" if side == "src" else "de.txt") in message and "2 empty" in message and "line 5" in message


def test_non_utf8_files(tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_bytes("src,tgt\n".encode() + "caf\u00e9,x\n".encode("latin-1") * 12)
    assert "not valid UTF-8" in error(read_parallel, bad) and "iconv" in error(read_parallel, bad)
    src = write_txt(tmp_path / "en.txt", [f"a {i}" for i in range(12)])
    tgt = tmp_path / "de.txt"
    tgt.write_bytes(b"ok\n" * 5 + b"\xff\n" * 7)
    assert "not valid UTF-8" in error(read_parallel, src, target_path=tgt) and "line 6" in error(read_parallel, src, target_path=tgt)


def test_non_string_and_missing_cells(tmp_path):
    records = [{"src": f"a {i}", "tgt": f"b {i}"} for i in range(12)]
    records[3]["tgt"] = float("nan")
    (tmp_path / "nan.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))  # writes NaN
    message = error(read_parallel, tmp_path / "nan.jsonl")
    assert "non-text" in message and "float NaN" in message and "line 4" in message
    records[3]["tgt"] = None
    assert "missing segment" in error(read_parallel, write_jsonl(tmp_path / "null.jsonl", records))
    records[3]["tgt"] = 42
    assert "int 42" in error(read_parallel, write_jsonl(tmp_path / "int.jsonl", records))
    pq.write_table(pa.table({"src": [f"a {i}" for i in range(12)], "tgt": list(range(12))}), tmp_path / "p.parquet")
    assert "Parquet type int64" in error(read_parallel, tmp_path / "p.parquet")
    pq.write_table(pa.table({"src": [f"a {i}" for i in range(11)] + [None], "tgt": ["b"] * 12}), tmp_path / "n.parquet")
    assert "first at row 12" in error(read_parallel, tmp_path / "n.parquet")
    groups = [{"src": "a", "tgt": "b", "book": None if i == 2 else "x"} for i in range(12)]
    assert "missing group" in error(read_parallel, write_jsonl(tmp_path / "g.jsonl", groups), group_column="book")


def test_too_few_pairs(tmp_path):
    path = write_delimited(tmp_path / "p.csv", ["src", "tgt"], [["a", "b"]] * 9)
    assert "only 9 sentence pair(s)" in error(read_parallel, path) and "at least 10" in error(read_parallel, path)
    assert len(read_parallel(write_delimited(tmp_path / "q.csv", ["src", "tgt"], [["a", "b"]] * 10))) == 10


def test_unknown_names_and_wrong_combinations(tmp_path, pairs_csv):
    message = error(read_parallel, "bible-en-it")
    assert "bible-en-de, bible-en-de-sample, bible-en-es, bible-en-fr" in message
    assert "built-in translation" in error(read_parallel, "sms-spam")
    src = write_txt(tmp_path / "en.txt", [f"a {i}" for i in range(12)])
    assert "also pass the target .txt file" in error(read_parallel, src)
    assert "--target-column instead" in error(read_parallel, pairs_csv, target_path=src)
    (tmp_path / "p.xlsx").write_bytes(b"PK")
    assert "unsupported file type '.xlsx'" in error(read_parallel, tmp_path / "p.xlsx")


# ---------------------------------------------------------------------------------------------------- splitting


def grouped(n_groups=6, per_group=10, shared=None):
    sources, targets, groups = [], [], []
    for g in range(n_groups):
        for i in range(per_group):
            sources.append(f"book {g} verse {i}")
            targets.append(f"Buch {g} Vers {i}")
            groups.append(f"B{g}")
    for row, text in (shared or {}).items():
        sources[row] = text
    return ParallelTexts(sources, targets, groups, "grouped.tsv")


def test_held_out_groups_hold_exactly_the_named_books():
    data = read_parallel("bible-en-de-sample")
    split = split_parallel(data, seed=0, held_out=default_held_out(data))
    groups = np.asarray(data.groups)
    assert set(groups[split.val]) == set(BIBLE_HELD_OUT["val"]) and set(groups[split.test]) == set(BIBLE_HELD_OUT["test"])
    for books, part in ((BIBLE_HELD_OUT["val"], split.val), (BIBLE_HELD_OUT["test"], split.test)):
        assert part.tolist() == [i for i, g in enumerate(data.groups) if g in books]  # all pairs of those books
    assert set(groups[split.train]) == set(parallel.SAMPLE_TRAIN_BOOKS)
    assert split.train.dtype == np.int64 and split.strategy == "held-out-groups" and len(split.fingerprint) == 16
    assert len(split.train) + len(split.val) + len(split.test) == len(data)


def test_held_out_excludes_training_pairs_that_repeat_a_held_out_source():
    data = grouped(shared={3: "Grace to you!", 25: "grace to YOU", 47: "Grace to you."})
    split = split_parallel(data, seed=0, held_out=(("B2",), ("B4",)))
    assert split.excluded.tolist() == [3] and 3 not in split.train and 25 in split.val and 47 in split.test
    assert any("1 training pair(s) excluded" in n for n in split.notes)
    assert any("both val and test" in n for n in split.notes)
    assert sorted(np.concatenate([split.train, split.val, split.test, split.excluded]).tolist()) == list(range(60))


def test_held_out_errors():
    data = grouped()
    message = error(split_parallel, data, seed=0, held_out=(("B1", "Jonas"), ("B2",)))
    assert "'Jonas' not found" in message and "'B0', 'B1'" in message
    assert "both val and test" in error(split_parallel, data, seed=0, held_out=(("B1",), ("B1",)))
    everything = tuple(f"B{g}" for g in range(1, 6))
    assert "leaves no training pairs" in error(split_parallel, data, seed=0, held_out=(("B0",), everything))
    no_groups = ParallelTexts(data.sources, data.targets, None, "x.csv")
    assert "no groups" in error(split_parallel, no_groups, seed=0, held_out=(("B1",), ("B2",)))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["Amen.", "amen", "AMEN!", "And he said,", "and he said", "Selah.", "Yes"]), max_size=30),
       st.integers(0, 2**16), st.integers(20, 80))
def test_random_split_never_lets_a_source_straddle_splits(repeats, seed, n):
    rng = random.Random(seed)
    sources = [f"verse {i} {rng.random():.6f}" for i in range(n)]
    for text in repeats:
        sources[rng.randrange(n)] = text
    data = ParallelTexts(sources, [f"t{i}" for i in range(n)], None, "x.tsv")
    split = split_parallel(data, seed=seed, val_fraction=0.1, test_fraction=0.2)
    where = {}
    for name in ("train", "val", "test"):
        for i in getattr(split, name).tolist():
            assert where.setdefault(leak_key(sources[i]), name) == name
    rows = np.concatenate([split.train, split.val, split.test])
    assert sorted(rows.tolist()) == list(range(n)) and len(split.excluded) == 0
    if len({leak_key(t) for t in sources}) >= 3:  # enough groups for every split
        assert len(split.val) > 0 and len(split.test) > 0
    else:
        assert split.notes


def test_random_split_with_too_few_distinct_sources_says_so():
    data = ParallelTexts(["Amen."] * 6 + ["amen!"] * 6, ["x"] * 12, None, "x.tsv")
    split = split_parallel(data, seed=0)
    assert split.sizes()["train"] == 12 and any("too few" in n for n in split.notes)


def test_random_split_is_seeded_sized_and_fingerprinted():
    data = ParallelTexts([f"s{i}" for i in range(200)], [f"t{i}" for i in range(200)], None, "x.tsv")
    a, b, c = (split_parallel(data, seed=s) for s in (3, 3, 4))
    assert a.train.tolist() == b.train.tolist() and a.fingerprint == b.fingerprint and a.signature == b.signature
    assert a.test.tolist() != c.test.tolist() and a.fingerprint != c.fingerprint
    assert a.sizes() == {"train": 180, "val": 10, "test": 10, "excluded": 0} and a.strategy == "random-grouped"
    changed = ParallelTexts(data.sources, data.targets[:-1] + ["other"], None, "x.tsv")
    assert split_parallel(changed, seed=3).fingerprint != a.fingerprint
    assert split_parallel(data, seed=0, val_fraction=0, test_fraction=0.5).sizes()["val"] == 0


@pytest.mark.parametrize("fractions", [(-0.1, 0.1), (0.5, 0.5), (float("nan"), 0.1), ("0.1", 0.1), (True, 0.1)])
def test_bad_fractions(fractions):
    data = ParallelTexts([f"s{i}" for i in range(20)], [f"t{i}" for i in range(20)], None, "x.tsv")
    assert "fraction" in error(split_parallel, data, seed=0, val_fraction=fractions[0], test_fraction=fractions[1])
