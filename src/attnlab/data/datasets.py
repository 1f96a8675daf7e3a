"""Resolve a ``DATA`` argument: a data file path or the name of a built-in dataset (see ``catalog.py``)."""

from __future__ import annotations

from pathlib import Path

from attnlab.data.catalog import CATALOG, load_catalog
from attnlab.data.readers import LabelledTexts, read_labelled_texts
from attnlab.errors import InputError

__all__ = ["load_data"]


def load_data(data: str | Path, *, text_column: str = "text", label_column: str = "label") -> LabelledTexts:
    """Load labelled texts from a file path, or from a built-in dataset when ``data`` names one.

    A path that exists always wins over a built-in name; the column options apply to files only
    (built-in datasets have fixed ``text`` and ``label`` columns).

    Example:
        >>> load_data("sms-spam").source
        'builtin:sms-spam'
    """
    path = Path(data)
    if path.exists() or str(data) not in CATALOG:
        if not path.exists() and path.suffix == "" and "/" not in str(data):
            raise InputError(f"{str(data)!r} is neither a file nor a built-in dataset; built-in: {', '.join(sorted(CATALOG))} — pass a .csv/.tsv/.jsonl/.parquet path or one of those names (see `attnlab data list`)")
        return read_labelled_texts(path, text_column=text_column, label_column=label_column)
    return load_catalog(str(data))  # fetched from its pinned archive on first use
