"""Read labelled texts (and other tables) from CSV, TSV, JSON Lines and Parquet files.

Formats are chosen by extension: ``.csv``, ``.tsv``, ``.jsonl`` / ``.ndjson`` (each optionally
``.gz``-compressed) and ``.parquet``. CSV/TSV go through the standard library ``csv`` module (quoted
fields with embedded delimiters and newlines, a UTF-8 byte-order mark, a pandas-style unnamed index
column); Parquet through ``pyarrow`` (imported only when needed). Nothing here imports torch.

Policies, decided once here so every command behaves the same:

* Labels become strings. Integral numbers are written without a fraction (``1``, ``1.0`` and ``"1.0"``
  all become ``"1"``) so files written by different tools agree; surrounding whitespace is stripped.
* A missing label (empty, ``NaN``, ``None``, ``null``, ``<NA>``) is an error naming how many and where.
* An empty (or whitespace-only) text is an error naming how many and where: a silently dropped row
  would change what was evaluated, so the user removes or fills those rows.
* Every problem raises :class:`~attnlab.errors.InputError` with one line naming the file and the fix.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attnlab.errors import InputError
from attnlab.io import decode_utf8, read_input_bytes

__all__ = [
    "LabelledTexts",
    "SUPPORTED_EXTENSIONS",
    "canonical_label",
    "check_label_lengths",
    "check_trainable",
    "order_labels",
    "read_labelled_texts",
    "read_table",
]

SUPPORTED_EXTENSIONS = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet")
_MISSING_STRINGS = frozenset({"", "nan", "none", "null", "<na>"})
_INTEGRAL = re.compile(r"[+-]?(?:0|[1-9]\d*)(?:\.0*)?")  # "007" is a code, not the number 7


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with one string label each, as read from ``source``.

    Attributes:
        texts: the texts, in file order.
        labels: one label per text, as strings (see :func:`canonical_label`).
        label_names: the distinct labels, ordered numerically when all are numbers, else sorted.
        source: where the data came from (a path, or ``builtin:NAME``).
        ids: one id per row: the ``id_column`` values, or the 0-based data row position.
    """

    texts: list[str]
    labels: list[str]
    label_names: tuple[str, ...]
    source: str
    ids: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def label_counts(self) -> dict[str, int]:
        """Rows per label, in ``label_names`` order."""
        counts = Counter(self.labels)
        return {name: counts[name] for name in self.label_names}

    def subset(self, indices: Sequence[int]) -> LabelledTexts:
        """The rows at ``indices``, keeping the full ``label_names`` so class indices stay aligned."""
        return LabelledTexts(
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            label_names=self.label_names,
            source=self.source,
            ids=[self.ids[i] for i in indices],
        )

    def label_indices(self) -> list[int]:
        """Each label's position in ``label_names`` (the class index a model predicts)."""
        index = {name: i for i, name in enumerate(self.label_names)}
        return [index[label] for label in self.labels]


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _show(path: str | Path) -> str:
    """The path as the user gave it, kept on one line."""
    return str(path).replace("\n", "\\n").replace("\r", "\\r")


def _list_names(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return (shown + more) if names else "(none)"


def _format(path: str | Path) -> tuple[str, bool]:
    """(extension, gzipped) for a supported path, else InputError."""
    name = Path(path).name.lower()
    gz = name.endswith(".gz")
    base = name[:-3] if gz else name
    ext = Path(base).suffix
    if ext in SUPPORTED_EXTENSIONS and not (gz and ext == ".parquet"):
        return ext, gz
    got = Path(name).suffix or "(no extension)"
    raise InputError(
        f"unsupported file type {got!r} for {_show(path)}; supported: "
        f"{', '.join(SUPPORTED_EXTENSIONS)} (the text formats optionally .gz) — "
        "export the data to one of these or rename the file"
    )


def _check_file(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{_show(path)} is a directory; pass a data file inside it")
    if not p.exists():
        raise InputError(f"file not found: {_show(path)}; check the path (relative paths start at the current directory)")
    return p


def _read_text(path: str | Path, gz: bool) -> str:
    """Whole file as text: UTF-8 (a byte-order mark is dropped), or InputError saying where it breaks."""
    data = read_input_bytes(path, expected="a data file")
    if gz:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise InputError(f"{_show(path)} is not a valid gzip file ({err}); decompress or re-create it") from None
    return decode_utf8(data, path)


# --------------------------------------------------------------------------------------------------
# Per-format readers: each returns (column names, {name: values}, location of each data row)
# --------------------------------------------------------------------------------------------------


def _read_delimited(path: str | Path, text: str, delimiter: str) -> tuple[list[str], list[list[str]], list[int]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    header: list[str] | None = None
    old_limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # texts may be long; the default 128 KiB limit is for safety, not meaning
    try:
        previous = 0
        for row in reader:
            start, previous = previous + 1, reader.line_num
            if not row:
                continue  # blank line
            if header is None:
                header = row
                continue
            if len(row) != len(header):
                raise InputError(
                    f"line {start} of {_show(path)} has {len(row)} fields but the header has {len(header)}; "
                    "quote fields that contain the delimiter, quotes or newlines"
                )
            rows.append(row)
            lines.append(start)
    except csv.Error as err:
        raise InputError(
            f"{_show(path)} is not well-formed CSV near line {reader.line_num} ({err}); check for an unbalanced "
            'double quote (a quote inside a quoted field is written as "")'
        ) from None
    finally:
        csv.field_size_limit(old_limit)
    if header is None:
        raise InputError(f"{_show(path)} is empty; expected a header row naming the columns, then one row per example")
    return header, rows, lines


def _read_delimited_columns(path, text, delimiter, columns):
    header, rows, lines = _read_delimited(path, text, delimiter)
    wanted = header if columns is None else list(columns)
    _require_columns(path, header, columns)
    positions = {}
    for name in wanted:
        if header.count(name) > 1:
            raise InputError(f"column {name!r} appears {header.count(name)} times in the header of {_show(path)}; rename the duplicates")
        positions[name] = header.index(name)
    table = {name: [row[i] for row in rows] for name, i in positions.items()}
    return header, table, [f"line {n}" for n in lines]


def _read_jsonl(path, text, columns):
    records: list[dict] = []
    locations: list[str] = []
    present: dict[str, None] = {}
    for number, line in enumerate(text.split("\n"), start=1):  # JSON strings never hold a raw "\n"
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(
                f"line {number} of {_show(path)} is not valid JSON ({err.msg} at column {err.colno}); "
                "JSON Lines needs one complete JSON object per line"
            ) from None
        if not isinstance(record, dict):
            raise InputError(
                f"line {number} of {_show(path)} holds a JSON {type(record).__name__}, not an object; "
                'write one object per line, e.g. {"text": "...", "label": "..."}'
            )
        present.update(dict.fromkeys(record))
        records.append(record)
        locations.append(f"line {number}")
    header = list(present)
    if not records:
        raise InputError(f"{_show(path)} is empty; expected one JSON object per line")
    _require_columns(path, header, columns)
    wanted = header if columns is None else list(columns)
    table = {name: [record.get(name) for record in records] for name in wanted}
    return header, table, locations


def _read_parquet(path, columns, expected_types):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise InputError(f"{_show(path)} is not a readable Parquet file ({err}); re-export it with pyarrow or pandas") from None
    schema = parquet.schema_arrow
    header = list(schema.names)
    _require_columns(path, header, columns)
    wanted = header if columns is None else list(columns)
    for name in wanted:
        kind = expected_types.get(name)
        if kind is not None and not _arrow_type_ok(schema.field(name).type, kind):
            raise InputError(
                f"column {name!r} in {_show(path)} has Parquet type {schema.field(name).type}, expected {kind}; "
                f"cast it before writing, e.g. df[{name!r}] = df[{name!r}].astype(str)"
            )
    table = parquet.read(columns=wanted)
    if table.num_rows == 0:
        raise InputError(f"{_show(path)} has no rows; expected one row per example")
    data = {name: table.column(name).to_pylist() for name in wanted}
    return header, data, [f"row {i + 1}" for i in range(table.num_rows)]


def _arrow_type_ok(arrow_type, kind: str) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    is_string = pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    is_string = is_string or getattr(pa.types, "is_string_view", lambda _: False)(arrow_type)
    if kind == "string":
        return is_string
    # a label: strings, integers, floats (integral ones become integers) or booleans
    return (is_string or pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
            or pa.types.is_boolean(arrow_type) or pa.types.is_null(arrow_type))


def _require_columns(path, header: Sequence[str], columns) -> None:
    if columns is None:
        return
    for name in columns:
        if name not in header:
            flag = columns.get(name) if isinstance(columns, Mapping) else None
            fix = f"pass {flag} NAME" if flag else "name one of the columns present"
            raise InputError(f"column {name!r} not found in {_show(path)}; columns present: {_list_names(list(header))} — {fix}")


def _read_any(path, columns, expected_types=None):
    p = _check_file(path)
    ext, gz = _format(path)
    if columns is not None and not isinstance(columns, Mapping):
        columns = list(columns)
    if ext == ".parquet":
        header, table, locations = _read_parquet(p, columns, expected_types or {})
    else:
        text = _read_text(p, gz)
        if not text.strip():
            raise InputError(f"{_show(path)} is empty; expected a header row, then one row per example")
        if ext in (".csv", ".tsv"):
            header, table, locations = _read_delimited_columns(p, text, "," if ext == ".csv" else "\t", columns)
        else:
            header, table, locations = _read_jsonl(p, text, columns)
    if not locations:
        raise InputError(f"{_show(path)} has a header but no data rows; add one row per example")
    return header, table, locations


def read_table(path: str | Path, columns: Sequence[str] | Mapping[str, str] | None = None) -> dict[str, list]:
    """Read some (or all) columns of a data file as ``{column: values}``.

    CSV/TSV values are strings exactly as written (no type inference); JSON Lines and Parquet values
    keep their JSON/Arrow types, with ``None`` where a value is missing.

    Args:
        path: a ``.csv``, ``.tsv``, ``.jsonl``/``.ndjson`` (optionally ``.gz``) or ``.parquet`` file.
        columns: column names to read, or a mapping ``{column: CLI flag that selects it}`` so that a
            missing column's error names the flag to pass (e.g. ``{"y": "--label-column"}``);
            ``None`` reads every column.

    Raises:
        InputError: the file is missing, unreadable, malformed, empty, or lacks a requested column.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "p.csv"
        >>> _ = f.write_text('id,y,yhat\\n1,spam,ham\\n2,ham,ham\\n')
        >>> read_table(f, ["y", "yhat"])
        {'y': ['spam', 'ham'], 'yhat': ['ham', 'ham']}
    """
    return _read_any(path, columns)[1]


# --------------------------------------------------------------------------------------------------
# Labels and labelled texts
# --------------------------------------------------------------------------------------------------


def canonical_label(value: Any) -> str | None:
    """A label value as a string, or ``None`` when it is missing.

    Example:
        >>> [canonical_label(v) for v in (1, 1.0, "1.0", " spam ", 2.5, True, float("nan"), "", None)]
        ['1', '1', '1', 'spam', '2.5', 'True', None, None, None]
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        value = value.strip()
        if value.casefold() in _MISSING_STRINGS:
            return None
        if _INTEGRAL.fullmatch(value):
            return str(int(value.split(".")[0]))
        return value
    return None if value != value else str(value)  # other scalars (e.g. numpy) — NaN-safe


def order_labels(labels: Sequence[str]) -> tuple[str, ...]:
    """Distinct labels: numeric order when every label is a number (so "2" < "10"), else sorted.

    Example:
        >>> order_labels(["10", "2", "1", "2"]), order_labels(["spam", "ham"])
        (('1', '2', '10'), ('ham', 'spam'))
    """
    distinct = set(labels)
    try:
        return tuple(sorted(distinct, key=lambda s: (float(s), s)))
    except ValueError:
        return tuple(sorted(distinct))


MAX_LABEL_CHARS = 1000  # a longer "label" is a text or a broken column, and would flood every table and page


def check_label_lengths(labels: Sequence[str | None], column: str, path: str | Path, where: str = "data row") -> None:
    """:class:`InputError` when a label is over :data:`MAX_LABEL_CHARS` characters (e.g. the text column given
    as the label column); ``where`` names the row kind in the message (``"data row"`` counts from 1)."""
    for i, label in enumerate(labels):
        if label is not None and len(label) > MAX_LABEL_CHARS:
            raise InputError(f"column {column!r} in {_show(path)} holds a label of {len(label):,} characters at "
                             f"{where} {i + 1}; labels are class names (at most {MAX_LABEL_CHARS:,} characters) — "
                             "check --label-column (is it the text column?)")


def _first(bad: list[int], locations: list[str]) -> str:
    return f"{len(bad)} row{'s' if len(bad) != 1 else ''} (first at {locations[bad[0]]})"


def _clean_texts(path, column, values, locations) -> list[str]:
    wrong = [i for i, v in enumerate(values) if v is not None and not isinstance(v, str)]
    if wrong:
        kind = type(values[wrong[0]]).__name__
        raise InputError(
            f"column {column!r} in {_show(path)} holds non-string values in {_first(wrong, locations)}, e.g. {kind}; "
            "texts must be strings — quote them or convert the column to text"
        )
    empty = [i for i, v in enumerate(values) if v is None or not v.strip()]
    if empty:
        raise InputError(
            f"column {column!r} in {_show(path)} has empty texts in {_first(empty, locations)}; "
            "remove those rows or fill them in (or choose another column with --text-column)"
        )
    return list(values)


def _clean_labels(path, column, values, locations) -> list[str]:
    wrong = [i for i, v in enumerate(values) if isinstance(v, (list, dict, tuple))]
    if wrong:
        raise InputError(
            f"column {column!r} in {_show(path)} holds nested values in {_first(wrong, locations)}; "
            "labels must be single strings or numbers (choose another column with --label-column)"
        )
    labels = [canonical_label(v) for v in values]
    check_label_lengths(labels, column, path)
    missing = [i for i, v in enumerate(labels) if v is None]
    if missing:
        raise InputError(
            f"column {column!r} in {_show(path)} has missing labels (empty, NaN, None or null) in "
            f"{_first(missing, locations)}; label those rows or remove them"
        )
    return labels  # type: ignore[return-value]


def read_labelled_texts(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    id_column: str | None = None,
) -> LabelledTexts:
    """Read texts and their labels from a data file.

    Single-class data is accepted (evaluating it is legitimate); call :func:`check_trainable`
    before training.

    Args:
        path: a ``.csv``, ``.tsv``, ``.jsonl``/``.ndjson`` (optionally ``.gz``) or ``.parquet`` file.
        text_column: the column holding the texts (``--text-column``).
        label_column: the column holding the labels (``--label-column``).
        id_column: a column of unique row ids; by default ids are the 0-based data row positions.

    Raises:
        InputError: see the module docstring; the message names the file and the fix.

    Example:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
        >>> _ = f.write_text('text,label\\n"Hello, world",10\\nbye,2\\n')
        >>> d = read_labelled_texts(f)
        >>> d.texts, d.labels, d.label_names
        (['Hello, world', 'bye'], ['10', '2'], ('2', '10'))
    """
    if text_column == label_column:
        raise InputError(f"the text and label columns are both {text_column!r} for {_show(path)}; pass different --text-column and --label-column")
    columns = {text_column: "--text-column", label_column: "--label-column"}
    if id_column is not None:
        columns[id_column] = "--id-column"
    expected = {text_column: "string", label_column: "a label (string, integer, float or boolean)"}
    _, table, locations = _read_any(path, columns, expected)
    texts = _clean_texts(path, text_column, table[text_column], locations)
    labels = _clean_labels(path, label_column, table[label_column], locations)
    ids = [str(i) for i in range(len(texts))]
    if id_column is not None:
        ids = [canonical_label(v) or "" for v in table[id_column]]
        repeated = [name for name, n in Counter(ids).items() if n > 1]
        if repeated or "" in ids:
            raise InputError(f"column {id_column!r} in {_show(path)} has missing or repeated ids (e.g. {(repeated or [''])[0]!r}); ids must be unique")
    return LabelledTexts(texts=texts, labels=labels, label_names=order_labels(labels), source=str(path), ids=ids)


def check_trainable(data: LabelledTexts) -> None:
    """Raise :class:`InputError` unless ``data`` can train a classifier (at least two classes).

    Example:
        >>> check_trainable(LabelledTexts(["a", "b"], ["x", "x"], ("x",), "d.csv", ["0", "1"]))
        Traceback (most recent call last):
        ...
        attnlab.errors.InputError: d.csv has a single label ('x', 2 rows); a classifier needs at least 2 classes — check --label-column or add examples of the other classes
    """
    if len(data.label_names) < 2:
        only = data.label_names[0] if data.label_names else None
        raise InputError(
            f"{_show(data.source)} has a single label ({only!r}, {len(data)} rows); a classifier needs at least 2 classes "
            "— check --label-column or add examples of the other classes"
        )
