"""Read some columns of a predictions file in chunks of rows, with pyarrow's streaming readers.

CSV/TSV through ``pyarrow.csv.open_csv``, JSON Lines through ``pyarrow.json.open_json`` (both block by
block, ``.gz`` decompressed on the fly), Parquet through ``ParquetFile.iter_batches``. Only the named
columns are converted; memory is one block plus one chunk, whatever the file size. pyarrow is imported
here, on first use, never by ``import attnlab.metrics``.

Row numbers in messages count data rows from 1 (the CSV header is not a row).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from attnlab.errors import InputError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
_BYTES_PER_ROW_GUESS = 24  # sizes CSV/JSON blocks so one block holds about chunk_rows rows


def show(path: Any) -> str:
    return str(path).replace("\n", "\\n").replace("\r", "\\r")


def file_format(path: str | Path) -> str:
    """``csv``, ``tsv``, ``jsonl`` or ``parquet`` from the extension (text formats may end in ``.gz``)."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{show(path)} is a directory; pass the predictions file inside it")
    if not p.exists():
        raise InputError(f"file not found: {show(path)}; check the path (relative paths start at the current directory)")
    name = p.name.lower()
    base = name[:-3] if name.endswith(".gz") else name
    fmt = FORMATS.get(Path(base).suffix)
    if fmt is None or (fmt == "parquet" and base != name):
        raise InputError(f"unsupported file type for {show(path)}; supported: .csv, .tsv, .jsonl, .ndjson "
                         "(optionally .gz) and .parquet — export the predictions to one of these")
    if p.stat().st_size == 0:
        raise InputError(f"{show(path)} is empty; expected a header row, then one row per example")
    return fmt


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def column_names(path: str | Path, fmt: str) -> list[str]:
    """The columns present in the file (CSV header, Parquet schema, keys of the first JSON block)."""
    import pyarrow as pa

    try:
        if fmt in ("csv", "tsv"):
            old_limit = csv.field_size_limit(2**31 - 1)  # a long header is the user's business, not csv's limit
            try:
                with _open_text(Path(path)) as fh:
                    return next(csv.reader(fh, delimiter="," if fmt == "csv" else "\t"), [])
            finally:
                csv.field_size_limit(old_limit)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(path).schema_arrow.names)
        import pyarrow.json as pj

        return list(pj.open_json(path).schema.names)
    except pa.ArrowInvalid as err:
        raise InputError(_explain(path, fmt, err, 0, [])) from None
    except UnicodeDecodeError as err:
        raise InputError(_not_utf8(path)) from None
    except (pa.ArrowException, OSError, csv.Error) as err:
        raise InputError(f"{show(path)} is not a readable {fmt} file ({_one_line(err)}); re-export it") from None


def _not_utf8(path: Any) -> str:
    return (f"{show(path)} is not valid UTF-8; re-encode it, e.g. iconv -f latin1 -t utf-8 {show(path)} > "
            f"fixed{Path(str(path)).suffix}")


def require_columns(path: Any, present: Sequence[str], wanted: dict[str, str]) -> None:
    """Every ``{column: option that names it}`` must be present, else an error listing what is."""
    for column, option in wanted.items():
        if column not in present:
            shown = ", ".join(repr(c) for c in present[:30]) + (", ..." if len(present) > 30 else "")
            raise InputError(f"column {column!r} ({option}) not found in {show(path)}; columns present: "
                             f"{shown or '(none)'} — pass {option}= one of them")


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def iter_chunks(path: str | Path, fmt: str, label_columns: Sequence[str], number_columns: Sequence[str],
                chunk_rows: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(rows before this chunk, {column: pyarrow.Array})`` with at most ``chunk_rows`` rows each.

    ``label_columns`` keep their file type (strings are dictionary-encoded by the CSV reader);
    ``number_columns`` are read as float64 (Parquet keeps its float32/float64 type).
    """
    import pyarrow as pa

    columns = list(dict.fromkeys([*label_columns, *number_columns]))
    done = 0
    try:
        for batch in _batches(path, fmt, label_columns, number_columns, columns, chunk_rows):
            for start in range(0, batch.num_rows, chunk_rows):
                part = batch.slice(start, chunk_rows)
                yield done, {name: part.column(name) for name in columns}
                done += part.num_rows
    except pa.ArrowInvalid as err:
        raise InputError(_explain(path, fmt, err, done, list(number_columns))) from None
    except (pa.ArrowException, OSError, UnicodeDecodeError) as err:
        raise InputError(f"{show(path)} could not be read after data row {done} ({_one_line(err)}); "
                         "re-export the file") from None


def _batches(path: Any, fmt: str, label_columns: Sequence[str], number_columns: Sequence[str],
             columns: list[str], chunk_rows: int) -> Iterator[Any]:
    import pyarrow as pa

    if fmt == "parquet":
        import pyarrow.parquet as pq

        # pre_buffer=False: read column chunks as needed rather than prefetching row groups (half the memory)
        parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
        yield from parquet.iter_batches(batch_size=chunk_rows, columns=columns)
        return
    block = int(min(max(chunk_rows * _BYTES_PER_ROW_GUESS, 1 << 20), 1 << 30))
    if fmt == "jsonl":
        import pyarrow.json as pj

        schema = pa.schema([(name, pa.float64()) for name in number_columns])
        reader = pj.open_json(path, read_options=pj.ReadOptions(block_size=block),
                              parse_options=pj.ParseOptions(explicit_schema=schema))
        for batch in reader:
            yield batch.select(columns)
        return
    import pyarrow.csv as pcsv

    types = {name: pa.dictionary(pa.int32(), pa.string()) for name in label_columns}
    types.update({name: pa.float64() for name in number_columns})
    reader = pcsv.open_csv(
        path, read_options=pcsv.ReadOptions(block_size=block),
        parse_options=pcsv.ParseOptions(delimiter="," if fmt == "csv" else "\t"),
        convert_options=pcsv.ConvertOptions(include_columns=columns, column_types=types))
    yield from reader


def _explain(path: Any, fmt: str, err: Exception, done: int, number_columns: list[str]) -> str:
    """A one-line InputError message for a parse/conversion failure, with the row where we can find it."""
    text = _one_line(err)
    if re.search(r"invalid UTF-?8", text, re.IGNORECASE):
        return _not_utf8(path)
    json_row = re.search(r"Column\(/([^)]*)\) changed from (\w+) to (\w+) in row (\d+)", text)
    if json_row:
        column, old, new, row = json_row.groups()
        return (f"column {column!r} in {show(path)} changes from {old} to {new} values near data row "
                f"{done + int(row) + 1}; write every value of a column with one type (quote the labels)")
    bad = re.search(r"CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to \w+: invalid value '(.*)'", text)
    if bad and fmt in ("csv", "tsv"):
        value = bad.group(2)
        column, row = _find_bad_number(path, fmt, number_columns, value, done)
        where = f"data row {row}" if row else f"a row after data row {done}"
        return (f"column {column!r} in {show(path)} holds {value!r} at {where}, which is not a number; "
                "scores and probabilities must be numbers — fix or drop that row")
    return f"{show(path)} could not be parsed after data row {done} ({text}); fix the file or re-export it"


def _find_bad_number(path: Any, fmt: str, columns: list[str], value: str, done: int) -> tuple[str, int | None]:
    """Error path only: scan the text for the first row at or after ``done`` holding ``value`` in a column."""
    old_limit = csv.field_size_limit(2**31 - 1)  # the file may hold long texts beside the number columns
    try:
        return _scan_bad_number(path, fmt, columns, value, done)
    except (csv.Error, UnicodeDecodeError):
        return "?", None
    finally:
        csv.field_size_limit(old_limit)


def _scan_bad_number(path: Any, fmt: str, columns: list[str], value: str, done: int) -> tuple[str, int | None]:
    with _open_text(Path(path)) as fh:
        reader = csv.reader(fh, delimiter="," if fmt == "csv" else "\t")
        header = next(reader, [])
        where = {name: header.index(name) for name in columns if name in header}
        for row_number, row in enumerate(reader, start=1):
            if row_number <= done:
                continue
            for name, i in where.items():
                if i < len(row) and row[i] == value:
                    return name, row_number
    return "?", None
