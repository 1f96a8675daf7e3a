"""Recipe: compare systems from their predictions files (what ``attnlab compare A B [...]`` runs).

read every file → check they hold the same examples (ids) with the same gold labels → score each system →
paired bootstrap test and McNemar's test of every system against the first (the baseline) → one
JSON-serialisable dict. Nothing is printed or written here; the CLI renders the result. No torch.

Labels are compared as text, normalised as everywhere in attnlab (:func:`attnlab.data.readers.canonical_label`:
``1``, ``1.0`` and ``"1"`` agree), and so are ids, so files written by different tools line up.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attnlab.data.readers import canonical_label, check_label_lengths, order_labels, read_table
from attnlab.errors import InputError
from attnlab.metrics.bootstrap import DEFAULT_CONFIDENCE, DEFAULT_N_RESAMPLES, DEFAULT_SEED
from attnlab.metrics.compare import DEFAULT_METRICS, mcnemar_test, paired_bootstrap_test
from attnlab.metrics.functional._validation import DEFAULT_ZERO_DIVISION, ZeroDivision, zero_division_tag


def _read_system(path: str, id_column: str, label_column: str, pred_column: str) -> dict[str, Any]:
    """One file's rows as ``{"ids", "gold", "pred"}`` of canonical strings, checked for gaps and duplicates."""
    table = read_table(path, {id_column: "--id-column", label_column: "--label-column", pred_column: "--pred-column"})
    out: dict[str, list[str]] = {}
    for key, column in (("ids", id_column), ("gold", label_column), ("pred", pred_column)):
        values = [canonical_label(v) for v in table[column]]
        if key != "ids":
            check_label_lengths(values, column, path)
        missing = [i for i, v in enumerate(values) if v is None]
        if missing:
            raise InputError(f"{path}: column {column!r} is empty in {len(missing)} row(s), first in data row "
                             f"{missing[0] + 1}; fill those rows or remove them from every file")
        out[key] = values
    first_row: dict[str, int] = {}
    for row, ident in enumerate(out["ids"]):
        if ident in first_row:
            raise InputError(f"{path}: id {ident!r} appears twice (data rows {first_row[ident] + 1} and {row + 1}); "
                             f"make column {id_column!r} unique, one row per example")
        first_row[ident] = row
    return {**out, "row_of": first_row}


def _align(base: dict[str, Any], other: dict[str, Any], base_path: str, path: str) -> list[str]:
    """``other``'s predictions in ``base``'s row order; an error if the examples or gold labels differ."""
    extra = [i for i in other["ids"] if i not in base["row_of"]]
    if extra:
        raise InputError(f"{path}: id {extra[0]!r} (data row {other['row_of'][extra[0]] + 1}) is not in {base_path} "
                         f"({len(extra)} such id(s)); compare predictions on the same examples")
    if len(other["ids"]) != len(base["ids"]):
        absent = next(i for i in base["ids"] if i not in other["row_of"])
        raise InputError(f"{path}: id {absent!r} of {base_path} (data row {base['row_of'][absent] + 1}) is missing "
                         f"({len(base['ids']) - len(other['ids'])} id(s) in all); compare predictions on the same "
                         "examples")
    pred = []
    for ident, gold in zip(base["ids"], base["gold"]):
        row = other["row_of"][ident]
        if other["gold"][row] != gold:
            raise InputError(f"{path}: gold label of id {ident!r} (data row {row + 1}) is {other['gold'][row]!r} but "
                             f"{gold!r} in {base_path}; score every system against the same gold labels")
        pred.append(other["pred"][row])
    return pred


def compare_prediction_files(
    paths: Sequence[str | Path], *, id_column: str = "id", label_column: str = "label",
    pred_column: str = "prediction", metrics: Sequence[str] = DEFAULT_METRICS, positive_label: str | None = None,
    n_resamples: int = DEFAULT_N_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED,
    zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION,
) -> dict[str, Any]:
    """Compare each predictions file to the first one (the baseline) on the same examples.

    Every file needs the id, gold-label and prediction columns; rows are aligned by id (order may differ).
    Raises :class:`InputError` when fewer than two files are given, or ids are missing, extra or
    duplicated, or the gold labels disagree. ``metrics`` are confusion-matrix metric paths
    (``"macro.f1"``, ``"accuracy"``, ``"per_class.spam.recall"``, ...).

    Returns::

        {"baseline": PATH, "n": int, "labels": [...],
         "settings": {"metrics", "n_resamples", "confidence", "seed", "zero_division", "id_column",
                      "label_column", "pred_column", "positive_label"},
         "systems": [{"path": PATH, "scores": {METRIC: value | None}}, ...],      # baseline first
         "comparisons": [{"baseline": PATH, "system": PATH,
                          "paired_bootstrap": {METRIC: paired_bootstrap_test entry},
                          "mcnemar": mcnemar_test result}, ...]}                 # one per non-baseline file
    """
    if isinstance(paths, (str, Path)) or len(paths) < 2:
        raise InputError(f"compare needs at least two predictions files, the first being the baseline; got "
                         f"{[str(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]}; pass A B [...]")
    names = [str(p) for p in paths]
    systems = [_read_system(name, id_column, label_column, pred_column) for name in names]
    base = systems[0]
    preds = [base["pred"]] + [_align(base, other, names[0], name) for other, name in zip(systems[1:], names[1:])]
    labels = list(order_labels([*base["gold"], *(p for pred in preds for p in pred)]))
    if len(labels) < 2:
        raise InputError(f"every gold label and prediction in {', '.join(names)} is {labels[0]!r}; a comparison "
                         "needs at least two classes, so compare on data with more than one label")
    options = dict(labels=labels, metrics=metrics, positive_label=positive_label, n_resamples=n_resamples,
                   confidence=confidence, seed=seed, zero_division=zero_division)
    comparisons, scores = [], None
    for name, pred in zip(names[1:], preds[1:]):
        tests = paired_bootstrap_test(base["gold"], preds[0], pred, **options)
        if scores is None:
            scores = [{"path": names[0], "scores": {m: t["baseline"] for m, t in tests.items()}}]
        scores.append({"path": name, "scores": {m: t["system"] for m, t in tests.items()}})
        comparisons.append({"baseline": names[0], "system": name, "paired_bootstrap": tests,
                            "mcnemar": mcnemar_test(base["gold"], preds[0], pred, labels=labels)})
    return {
        "baseline": names[0], "n": len(base["ids"]), "labels": labels,
        "settings": {"metrics": list(dict.fromkeys(metrics)), "n_resamples": n_resamples, "confidence": confidence,
                     "seed": seed, "zero_division": zero_division_tag(zero_division), "id_column": id_column,
                     "label_column": label_column, "pred_column": pred_column, "positive_label": positive_label},
        "systems": scores, "comparisons": comparisons,
    }
