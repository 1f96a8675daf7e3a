"""Recipe: exact and near-duplicate overlap between two data files (``attnlab check-leakage TRAIN TEST``).

read both text columns (and labels, when both files have the label column) -> overlap of TEST rows with
TRAIN rows (:func:`attnlab.diagnostics.find_overlap`) -> label conflicts within each file -> findings ->
a JSON-ready result with every leaked TEST row's best match. Torch is never imported on this path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from attnlab import __version__
from attnlab.data.readers import canonical_label, read_table
from attnlab.diagnostics import (
    DiagnosticOptions,
    conflict_findings,
    find_overlap,
    label_conflicts,
    leakage_findings,
    sort_findings,
)
from attnlab.diagnostics.leakage import DEFAULT_THRESHOLD
from attnlab.errors import InputError
from attnlab.io import sha256_file

__all__ = ["check_leakage_files", "read_texts"]


def read_texts(path: str | Path, text_column: str = "text", label_column: str | None = None, *,
               label_optional: bool = False) -> tuple[list[str], list[str] | None]:
    """The texts of ``path`` and, with ``label_column``, its labels (``None`` when ``label_optional`` and the
    column is absent). A missing column, an empty file, non-UTF-8 bytes, or an empty or non-text value raise
    :class:`InputError` naming the first bad row."""
    table = read_table(path)
    for column, flag in ((text_column, "--text-column"), (label_column, "--label-column")):
        if column is not None and column not in table and not (column == label_column and label_optional):
            raise InputError(f"column {column!r} not found in {path}; columns present: {', '.join(map(repr, table))} "
                             f"— pass {flag} NAME")
    texts = table[text_column]
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise InputError(f"{path}: {len(bad)} empty or non-text value(s) in column {text_column!r} (first at data row "
                         f"{bad[0] + 1}: {texts[bad[0]]!r}); fill or remove those rows, or pass --text-column")
    if label_column is None or label_column not in table:
        return texts, None
    labels = [canonical_label(v) for v in table[label_column]]
    missing = [i for i, v in enumerate(labels) if v is None]
    if missing:
        raise InputError(f"{path}: {len(missing)} missing label(s) in column {label_column!r} (first at data row "
                         f"{missing[0] + 1}); label or remove those rows")
    return texts, labels  # type: ignore[return-value]


def check_leakage_files(train: str | Path, test: str | Path, *, text_column: str = "text",
                        label_column: str | None = None, threshold: float = DEFAULT_THRESHOLD,
                        shingle_size: int = 1, seed: int = 0,
                        options: DiagnosticOptions = DiagnosticOptions()) -> dict[str, Any]:
    """Overlap of ``test`` with ``train`` as a JSON-ready dictionary (``leakage_found``, counts, ``pairs``,
    ``findings``). ``label_column=None`` uses a ``label`` column when both files have one."""
    optional = label_column is None
    column = None if optional and text_column == "label" else "label" if optional else label_column
    train_texts, train_labels = read_texts(train, text_column, column, label_optional=optional)
    test_texts, test_labels = read_texts(test, text_column, column, label_optional=optional)
    if train_labels is None or test_labels is None:
        train_labels = test_labels = None
        column = None
    result = find_overlap(train_texts, test_texts, threshold=threshold, shingle_size=shingle_size,
                          train_labels=train_labels, test_labels=test_labels, seed=seed)
    findings = leakage_findings([result], options)
    if train_labels is not None:
        findings += conflict_findings(label_conflicts(train_texts, train_labels), f"TRAIN ({Path(train).name})")
        findings += conflict_findings(label_conflicts(test_texts, test_labels), f"TEST ({Path(test).name})")
    out = {"schema_version": 1, "kind": "leakage",
           "inputs": {"train": {"path": str(train), "sha256": sha256_file(train), "rows": len(train_texts)},
                      "test": {"path": str(test), "sha256": sha256_file(test), "rows": len(test_texts)},
                      "text_column": text_column, "label_column": column},
           **result.to_dict(),
           "findings": [f.to_dict() for f in sort_findings(findings)],
           "attnlab_version": __version__}
    return out
