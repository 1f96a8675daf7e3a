"""Readers: every format round-trips, labels are canonical strings, bad input is one clear line."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from attnlab.data.readers import (
    LabelledTexts,
    canonical_label,
    check_trainable,
    order_labels,
    read_labelled_texts,
    read_table,
)
from attnlab.errors import InputError

TEXTS = ['Hello, "world"', "line one\nline two", "tab\there", "naïve café 😀", "plain"]
LABELS = ["spam", "ham", "ham", "spam", "ham"]


def write_csv(path, header, rows, delimiter=","):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def write_parquet(path, columns):
    pq.write_table(pa.table(columns), path)
    return path


def make_file(tmp_path, fmt, texts=TEXTS, labels=LABELS):
    rows = list(zip(texts, labels))
    if fmt == "csv":
        return write_csv(tmp_path / "d.csv", ["text", "label"], rows)
    if fmt == "tsv":
        return write_csv(tmp_path / "d.tsv", ["text", "label"], rows, delimiter="\t")
    if fmt in ("jsonl", "ndjson"):
        return write_jsonl(tmp_path / f"d.{fmt}", [{"text": t, "label": y} for t, y in rows])
    if fmt == "csv.gz":
        plain = write_csv(tmp_path / "plain.csv", ["text", "label"], rows)
        out = tmp_path / "d.csv.gz"
        out.write_bytes(gzip.compress(plain.read_bytes()))
        return out
    return write_parquet(tmp_path / "d.parquet", {"text": list(texts), "label": list(labels)})


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "ndjson", "csv.gz", "parquet"])
def test_round_trip_every_format(tmp_path, fmt):
    data = read_labelled_texts(make_file(tmp_path, fmt))
    assert data.texts == TEXTS
    assert data.labels == LABELS
    assert data.label_names == ("ham", "spam")
    assert data.ids == ["0", "1", "2", "3", "4"]
    assert data.source.endswith(fmt)
    assert len(data) == 5 and data.label_counts() == {"ham": 3, "spam": 2}
    assert data.label_indices() == [1, 0, 0, 1, 0]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_integer_labels_become_strings_in_numeric_order(tmp_path, fmt):
    labels = [10, 2, 1, 2, 10]
    if fmt == "csv":
        path = write_csv(tmp_path / "d.csv", ["text", "label"], [(t, f"{y}.0") for t, y in zip(TEXTS, labels)])
    elif fmt == "jsonl":
        path = write_jsonl(tmp_path / "d.jsonl", [{"text": t, "label": y} for t, y in zip(TEXTS, labels)])
    else:
        path = write_parquet(tmp_path / "d.parquet", {"text": TEXTS, "label": pa.array(labels, pa.int64())})
    data = read_labelled_texts(path)
    assert data.labels == ["10", "2", "1", "2", "10"]
    assert data.label_names == ("1", "2", "10")


def test_float_parquet_labels_that_are_integral(tmp_path):
    path = write_parquet(tmp_path / "d.parquet", {"text": TEXTS[:3], "label": [1.0, 0.0, 1.0]})
    assert read_labelled_texts(path).labels == ["1", "0", "1"]


def test_canonical_label_and_ordering():
    assert canonical_label(" 1.00 ") == "1" and canonical_label("-3") == "-3" and canonical_label("007") == "007"
    assert canonical_label(2.5) == "2.5" and canonical_label(False) == "False"
    assert [canonical_label(v) for v in ("NaN", "null", "None", "<NA>", "  ")] == [None] * 5
    assert order_labels(["b", "a", "10", "2"]) == ("10", "2", "a", "b")
    assert order_labels(["-1", "1", "0"]) == ("-1", "0", "1")


def test_bom_index_column_and_embedded_newlines(tmp_path):
    path = tmp_path / "sms.csv"
    body = ',spam,text\n0,0,"Go until jurong, point"\n1,1,"Free\r\nentry ""now"""\n\n2,0,ok\n'
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    data = read_labelled_texts(path, label_column="spam", id_column="")
    assert data.texts == ["Go until jurong, point", 'Free\r\nentry "now"', "ok"]
    assert data.labels == ["0", "1", "0"]
    assert data.ids == ["0", "1", "2"]
    assert read_table(path) == {"": ["0", "1", "2"], "spam": ["0", "1", "0"], "text": data.texts}


def test_read_table_keeps_types_and_missing_values(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"y": "a", "p": 0.25}, {"y": "b"}])
    assert read_table(path, ["y", "p"]) == {"y": ["a", "b"], "p": [0.25, None]}
    csv_path = write_csv(tmp_path / "p.csv", ["y", "p"], [("a", "0.25"), ("b", "")])
    assert read_table(csv_path, {"p": "--score-column"}) == {"p": ["0.25", ""]}


def test_subset_keeps_label_names(tmp_path):
    data = read_labelled_texts(make_file(tmp_path, "csv"))
    part = data.subset([1, 2])
    assert part.labels == ["ham", "ham"] and part.label_names == ("ham", "spam") and part.ids == ["1", "2"]


def test_data_package_does_not_import_torch():
    code = "import sys, attnlab.data; attnlab.data.load_builtin('sms-spam'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# Errors: InputError, one line, naming the file and the fix
# ---------------------------------------------------------------------------------------------


def assert_input_error(path, needles, **kwargs):
    with pytest.raises(InputError) as info:
        read_labelled_texts(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert path.name in message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    return message


def test_missing_file(tmp_path):
    assert_input_error(tmp_path / "nope.csv", ["not found", "check the path"])


def test_directory(tmp_path):
    folder = tmp_path / "data.csv"
    folder.mkdir()
    assert_input_error(folder, ["is a directory", "pass a data file"])


def test_unknown_extension(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_text("x")
    assert_input_error(path, [".xlsx", ".csv", ".tsv", ".jsonl", ".parquet"])


@pytest.mark.parametrize("content", ["", "  \n\n", "text,label\n"])
def test_empty_file_or_no_rows(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_text(content)
    assert_input_error(path, ["empty" if not content.startswith("text") else "no data rows"])


def test_empty_jsonl_and_parquet(tmp_path):
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text("\n")
    assert_input_error(jsonl, ["empty"])
    parquet = write_parquet(tmp_path / "e.parquet", {"text": pa.array([], pa.string()), "label": pa.array([], pa.string())})
    assert_input_error(parquet, ["no rows"])


@pytest.mark.parametrize(("kwargs", "flag"), [({"label_column": "y"}, "--label-column"), ({"text_column": "body"}, "--text-column")])
def test_missing_column_lists_columns_and_flag(tmp_path, kwargs, flag):
    path = write_csv(tmp_path / "data.csv", ["text", "label"], [("a", "b")])
    message = assert_input_error(path, [flag, "'text', 'label'", "not found"], **kwargs)
    assert repr(next(iter(kwargs.values()))) in message


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_missing_labels_counted_with_first_row(tmp_path, fmt):
    if fmt == "csv":
        path = write_csv(tmp_path / "d.csv", ["text", "label"], [("a", "x"), ("b", ""), ("c", "NaN")])
        where = "line 3"
    elif fmt == "jsonl":
        path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": 1}, {"text": "b", "label": None}, {"text": "c"}])
        where = "line 2"
    else:
        path = write_parquet(tmp_path / "d.parquet", {"text": ["a", "b", "c"], "label": [1.0, float("nan"), None]})
        where = "row 2"
    assert_input_error(path, ["missing labels", "2 rows", f"first at {where}", "label those rows"])


def test_empty_texts_are_an_error_with_location(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["text", "label"], [("a", "x"), ("multi\nline", "y"), ("   ", "x")])
    assert_input_error(path, ["empty texts", "1 row", "first at line 5", "remove those rows"])


def test_non_string_text_in_jsonl(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": "x"}, {"text": 12, "label": "y"}])
    assert_input_error(path, ["non-string", "line 2", "int"])


def test_non_utf8_names_offset_and_iconv(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ncaf".encode() + b"\xe9,x\n")
    assert_input_error(path, ["not valid UTF-8", "0xe9", "byte offset 14", "line 2", "iconv -f latin1 -t utf-8"])


def test_parquet_wrong_column_type(tmp_path):
    path = write_parquet(tmp_path / "d.parquet", {"text": [1, 2], "label": ["a", "b"]})
    assert_input_error(path, ["'text'", "int64", "expected string", "astype(str)"])
    path = write_parquet(tmp_path / "n.parquet", {"text": ["a", "b"], "label": pa.array([[1], [2]])})
    assert_input_error(path, ["'label'", "list"])


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_text("text,label\n")
    assert_input_error(path, ["not a readable Parquet file"])


def test_ragged_and_unbalanced_quotes(tmp_path):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("text,label\nhello, world,x\n")
    assert_input_error(ragged, ["line 2", "3 fields", "header has 2", "quote fields"])
    unbalanced = tmp_path / "quote.csv"
    unbalanced.write_text('text,label\n"oops,x\nb,y\n')
    assert_input_error(unbalanced, ["not well-formed CSV", "unbalanced"])


def test_bad_jsonl_lines(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "a", "label": "x"}\n{"text": "b", \n')
    assert_input_error(broken, ["line 2", "not valid JSON"])
    listy = tmp_path / "list.jsonl"
    listy.write_text('["a", "x"]\n')
    assert_input_error(listy, ["line 1", "not an object"])


def test_same_and_duplicate_columns(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["text", "label", "label"], [("a", "x", "y")])
    assert_input_error(path, ["appears 2 times", "rename"])
    assert_input_error(path, ["both 'text'", "--label-column"], label_column="text")


def test_repeated_ids(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["id", "text", "label"], [("1", "a", "x"), ("1", "b", "y")])
    assert_input_error(path, ["repeated ids", "unique"], id_column="id")


def test_bad_gzip(tmp_path):
    path = tmp_path / "d.csv.gz"
    path.write_bytes(b"not gzip")
    assert_input_error(path, ["not a valid gzip file"])


def test_read_table_missing_column_without_flag(tmp_path):
    path = write_csv(tmp_path / "preds.csv", ["y"], [("a",)])
    with pytest.raises(InputError, match=r"column 'yhat' not found in .*preds\.csv; columns present: 'y'"):
        read_table(path, ["yhat"])


def test_single_class_is_readable_but_not_trainable(tmp_path):
    path = write_csv(tmp_path / "one.csv", ["text", "label"], [("a", "x"), ("b", "x")])
    data = read_labelled_texts(path)
    assert data.label_names == ("x",)
    with pytest.raises(InputError) as info:
        check_trainable(data)
    assert "one.csv" in str(info.value) and "at least 2 classes" in str(info.value)
    check_trainable(LabelledTexts(["a", "b"], ["x", "y"], ("x", "y"), "two.csv", ["0", "1"]))
