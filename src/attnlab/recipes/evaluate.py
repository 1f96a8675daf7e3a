"""Recipe: evaluate ANY model's predictions file (``attnlab evaluate PREDICTIONS``).

read columns -> labels -> probabilities (declared probabilities or logits, never guessed) -> optional
operating point -> metrics (the same engine as training) -> bootstrap intervals -> findings and readiness
verdict (with ``--train``: leakage of training texts into the evaluated ones; with ``--history``:
overfitting) -> report dictionary. Torch is never imported on this path.

Probability columns: ``--proba-columns`` names one column per label; a column's label is its name with a
``p_``/``proba_``/``prob_`` prefix removed. When neither ``--proba-columns`` nor ``--score-column`` is given
and the file has a ``p_<label>`` column for every label (as attnlab's own predictions.csv does), those are
used and the report says so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from attnlab import __version__
from attnlab.data.readers import canonical_label, check_label_lengths, order_labels, read_table
from attnlab.diagnostics import annotate, conflict_findings, find_overlap, label_conflicts, read_history
from attnlab.errors import InputError
from attnlab.io import sha256_file
from attnlab.metrics.bootstrap import bootstrap_intervals, report_intervals
from attnlab.metrics.functional._validation import PROBA_SUM_ATOL
from attnlab.metrics.summary import classification_report
from attnlab.metrics.thresholds import apply_threshold, choose_threshold
from attnlab.recipes.check_leakage import read_texts

_PREFIXES = ("p_", "proba_", "prob_")


@dataclass(frozen=True)
class EvaluateOptions:
    label_column: str = "label"
    pred_column: str = "prediction"
    score_column: str | None = None
    proba_columns: tuple[str, ...] | None = None
    scores: Literal["probabilities", "logits"] = "probabilities"
    positive_label: str | None = None
    labels: tuple[str, ...] | None = None
    threshold: float | None = None
    target_recall: float | None = None
    target_precision: float | None = None
    max_fbeta: float | None = None
    costs: tuple[float, float] | None = None  # (cost of a false positive, cost of a false negative)
    bootstrap: int = 1000
    seed: int = 0
    zero_division: str = "nan"
    train_path: str | None = None  # training data: check the evaluated texts for leakage from it
    text_column: str = "text"
    history_path: str | None = None  # training history (history.jsonl) for the overfitting check
    chunk_rows: int | None = None  # stream the file this many rows at a time (files larger than memory)

    def validate(self) -> None:
        targets = [x for x in (self.threshold, self.target_recall, self.target_precision, self.max_fbeta,
                               self.costs) if x is not None]
        if len(targets) > 1:
            raise InputError("give at most one of --threshold, --target-recall, --target-precision, --max-fbeta, "
                             "--costs")
        if self.chunk_rows is not None:
            if self.chunk_rows <= 0:
                raise InputError(f"--chunk-rows must be a positive row count, got {self.chunk_rows}")
            unsupported = [flag for flag, value in (("--bootstrap", self.bootstrap), ("--train", self.train_path),
                                                    ("--target-recall", self.target_recall),
                                                    ("--target-precision", self.target_precision),
                                                    ("--max-fbeta", self.max_fbeta), ("--costs", self.costs)) if value]
            if unsupported:
                raise InputError(f"{', '.join(unsupported)} need(s) every example in memory and cannot run with "
                                 "--chunk-rows; drop --chunk-rows or pass --bootstrap 0 and a fixed --threshold")
        if self.max_fbeta is not None and self.max_fbeta <= 0:
            raise InputError(f"--max-fbeta takes beta > 0 (1 = F1, 2 favours recall), got {self.max_fbeta}")
        if self.costs is not None and (len(self.costs) != 2 or min(self.costs) < 0 or max(self.costs) == 0):
            raise InputError(f"--costs takes FP,FN costs >= 0, not both 0 (e.g. 1,10), got {self.costs}")
        for name in ("target_recall", "target_precision"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value <= 1.0:
                raise InputError(f"--{name.replace('_', '-')} must be in (0, 1], got {value}")
        if self.score_column and self.proba_columns:
            raise InputError("give either --score-column (binary) or --proba-columns, not both")
        if self.bootstrap < 0:
            raise InputError(f"--bootstrap must be >= 0 (0 turns intervals off), got {self.bootstrap}")


def _label_of(column: str) -> str:
    for prefix in _PREFIXES:
        if column.startswith(prefix):
            return column[len(prefix):]
    return column


def _numbers(values: list[Any], column: str, path: Path) -> np.ndarray:
    """A column as float64, with a one-line error naming the first bad row."""
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        try:
            out[i] = float(v) if v is not None and v != "" else math.nan
        except (TypeError, ValueError):
            raise InputError(f"{path}: column {column!r} row {i + 1} is {v!r}, not a number; "
                             "fix the value or choose another column") from None
    bad = ~np.isfinite(out)
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(f"{path}: column {column!r} has {int(bad.sum())} missing, NaN or infinite value(s) "
                         f"(first at row {row + 1}: {values[row]!r}); fix or drop those rows")
    return out


def _labels_column(values: list[Any], column: str, path: Path) -> list[str]:
    nested = [i for i, v in enumerate(values) if isinstance(v, (list, dict, tuple))]
    if nested:
        raise InputError(f"{path}: column {column!r} holds a nested value ({type(values[nested[0]]).__name__}) at row "
                         f"{nested[0] + 1}; labels must be single strings or numbers — choose another column")
    out = [canonical_label(v) for v in values]
    check_label_lengths(out, column, path)
    missing = [i for i, v in enumerate(out) if v is None]
    if missing:
        raise InputError(f"{path}: column {column!r} has {len(missing)} empty value(s) (first at row "
                         f"{missing[0] + 1}); fill or drop those rows")
    return out  # type: ignore[return-value]


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _probabilities(table: dict[str, list], opts: EvaluateOptions, path: Path, labels: list[str],
                   positive: str | None) -> tuple[np.ndarray | None, dict[str, Any]]:
    """(N, C) probabilities in label order, or None, and a record of where they came from."""
    logits = opts.scores == "logits"
    if opts.score_column:
        if len(labels) != 2 or positive is None:
            raise InputError("--score-column needs a binary task with a positive class; pass --positive LABEL "
                             "(or --proba-columns for multiclass)")
        s = _numbers(table[opts.score_column], opts.score_column, path)
        s = 1.0 / (1.0 + np.exp(-s)) if logits else s
        if not logits and (s.min() < 0 or s.max() > 1):
            raise InputError(f"{path}: column {opts.score_column!r} has values outside [0, 1] "
                             f"({s.min():.6g} to {s.max():.6g}); pass --scores logits if they are logits")
        pos = labels.index(positive)
        proba = np.empty((len(s), 2))
        proba[:, pos], proba[:, 1 - pos] = s, 1.0 - s
        return proba, {"score_column": opts.score_column, "scores": opts.scores}
    columns = list(opts.proba_columns or [])
    source = "given"
    if not columns:
        auto = [f"p_{lab}" for lab in labels]
        if not all(c in table for c in auto):
            return None, {}
        columns, source = auto, "auto: one p_<label> column per label"
    by_label = {_label_of(c): c for c in columns}
    if sorted(by_label) != sorted(labels):
        raise InputError(f"--proba-columns {','.join(columns)} give labels {','.join(by_label)} but the data has "
                         f"labels {','.join(labels)}; name one column per label (label or p_<label>)")
    raw = np.stack([_numbers(table[by_label[lab]], by_label[lab], path) for lab in labels], axis=1)
    proba = _softmax(raw) if logits else raw
    if not logits:
        _check_rows(proba, [by_label[lab] for lab in labels], path)
    return proba, {"proba_columns": [by_label[lab] for lab in labels], "scores": opts.scores, "source": source}


def _check_rows(proba: np.ndarray, columns: list[str], path: Path) -> None:
    """Probabilities in [0, 1] whose rows sum to 1, or a one-line error naming the file, columns and data row."""
    outside = (proba < 0) | (proba > 1)
    if outside.any():
        row, col = (int(i) for i in np.argwhere(outside)[0])
        raise InputError(f"{path}: column {columns[col]!r} holds {proba[row, col]:.6g} at data row {row + 1}, outside "
                         "[0, 1]; pass --scores logits if the columns hold logits")
    off = np.abs(proba.sum(axis=1) - 1.0) > PROBA_SUM_ATOL
    if off.any():
        row = int(np.argmax(off))
        raise InputError(f"{path}: the probability columns {', '.join(columns)} sum to {proba[row].sum():.6g} at data "
                         f"row {row + 1} ({int(off.sum())} row(s) in all); each row must sum to 1 (within "
                         f"{PROBA_SUM_ATOL:g}) — write a softmax over all labels, or pass --scores logits")


def _positive(opts: EvaluateOptions, labels: list[str]) -> str | None:
    if opts.positive_label is not None:
        if opts.positive_label not in labels:
            raise InputError(f"--positive {opts.positive_label!r} is not a label of the data; labels are: "
                             f"{', '.join(labels)}")
        return opts.positive_label
    if len(labels) == 2 and set(labels) == {"0", "1"}:
        return "1"
    return None


def _predictions(y_true: list[str], y_pred_given: list[str] | None, proba: np.ndarray | None, labels: list[str],
                 positive: str | None, opts: EvaluateOptions) -> tuple[list[str] | None, dict[str, Any] | None]:
    """Predicted labels: from a threshold on the positive score when one is asked for, else the prediction
    column, else the argmax of the probabilities. Also the report's ``threshold`` entry."""
    if opts.threshold is None and opts.target_recall is None and opts.target_precision is None \
            and opts.max_fbeta is None and opts.costs is None:
        if y_pred_given is not None:
            return y_pred_given, None
        return (None if proba is None else [labels[i] for i in proba.argmax(axis=1)]), None
    if positive is None or proba is None or len(labels) != 2:
        raise InputError("a threshold needs binary scores: pass --score-column (or --proba-columns) and "
                         "--positive LABEL")
    score = proba[:, labels.index(positive)]
    if opts.threshold is not None:
        value, entry = opts.threshold, {"value": opts.threshold, "objective": "given", "tuned_on": None}
    else:
        if opts.target_recall is not None or opts.target_precision is not None:
            objective = "target_recall" if opts.target_recall is not None else "target_precision"
            kwargs: dict[str, Any] = {"target": opts.target_recall or opts.target_precision}
        elif opts.max_fbeta is not None:
            objective, kwargs = "f_beta", {"beta": opts.max_fbeta}
        else:
            objective, kwargs = "min_cost", {"cost_fp": opts.costs[0], "cost_fn": opts.costs[1]}
        point = choose_threshold(y_true, score, labels=labels, positive_label=positive, objective=objective,
                                 tuned_on="the evaluated file", **kwargs)
        value, entry = point.value, {**point.report_entry(), "details": point.to_dict()}
    negative = labels[1 - labels.index(positive)]
    return [positive if hit else negative for hit in apply_threshold(score, value)], entry


def score_predictions(y_true: list[str], y_pred: list[str], *, labels: list[str], proba: np.ndarray | None,
                      positive_label: str | None, bootstrap: int = 1000, seed: int = 0,
                      zero_division: Any = "nan") -> dict[str, Any]:
    """The report.json core shared by every classification path (training runs and ``attnlab evaluate``):
    metrics, confusion matrix, signatures and, when ``bootstrap`` > 0, percentile intervals."""
    report = classification_report(y_true, y_pred, labels=labels, proba=proba, positive_label=positive_label,
                                   zero_division=zero_division)
    report = {"schema_version": 1, "task": "classification", **report}
    if bootstrap:
        details = bootstrap_intervals(y_true, y_pred, labels=labels, proba=proba, positive_label=positive_label,
                                      n_resamples=bootstrap, seed=seed, zero_division=zero_division)
        report["intervals"] = report_intervals(details)
        report["bootstrap"] = {"n_resamples": bootstrap, "seed": seed, "confidence": 0.95, "method": "percentile"}
    if proba is not None:  # display points for the HTML report (re-renderable from report.json alone)
        from attnlab.report.curves import classification_curves

        report["curves"] = classification_curves(y_true, proba, labels=labels, positive_label=positive_label)
    return report


def evaluate_predictions(path: str | Path, opts: EvaluateOptions = EvaluateOptions()) -> dict[str, Any]:
    """Metrics, operating point and intervals for a predictions file, as a report.json dictionary."""
    opts.validate()
    path = Path(path)
    opts = _stream_if_too_large(path, opts)
    if opts.chunk_rows:
        return _evaluate_chunked(path, opts)
    table = read_table(path, None)
    wanted = {opts.label_column: "--label-column", **({opts.score_column: "--score-column"} if opts.score_column
                                                       else {}), **{c: "--proba-columns" for c in opts.proba_columns or ()}}
    for column, flag in wanted.items():
        if column not in table:
            raise InputError(f"column {column!r} not found in {path}; columns present: {', '.join(table)} — "
                             f"pass {flag}")
    y_true = _labels_column(table[opts.label_column], opts.label_column, path)
    has_pred = opts.pred_column in table
    y_pred_given = _labels_column(table[opts.pred_column], opts.pred_column, path) if has_pred else None
    if opts.labels:
        labels = list(opts.labels)
    else:
        seen = y_true + (y_pred_given or []) + [_label_of(c) for c in opts.proba_columns or ()]
        labels = list(order_labels(seen))
    positive = _positive(opts, labels)
    proba, proba_record = _probabilities(table, opts, path, labels, positive)
    y_pred, threshold_entry = _predictions(y_true, y_pred_given, proba, labels, positive, opts)
    if y_pred is None:
        raise InputError(f"column {opts.pred_column!r} not found in {path} and no scores given; columns present: "
                         f"{', '.join(table)} — pass --pred-column, --score-column or --proba-columns")
    # every input is read and checked before the (slow, warning-printing) scoring, so bad input is one line
    overlap, extra = _leakage(table, y_true, opts, path) if opts.train_path else ([], [])
    history = read_history(opts.history_path) if opts.history_path else None
    report = score_predictions(y_true, y_pred, labels=labels, proba=proba, positive_label=positive,
                               bootstrap=opts.bootstrap, seed=opts.seed, zero_division=opts.zero_division)
    if threshold_entry:
        report["threshold"] = threshold_entry
    report["input"] = {"path": str(path), "sha256": sha256_file(path), "rows": len(y_true),
                       "label_column": opts.label_column, "pred_column": opts.pred_column if has_pred else None,
                       **proba_record, "options": asdict(opts), "attnlab_version": __version__}
    return annotate(report, history=history, overlap=overlap, extra=extra)


AUTO_CHUNK_ROWS = 1_000_000
# Peak memory of the in-memory path per byte of file (Python objects per value, then arrays), measured on a 1M-row
# label,prediction,score file: 29x for its 12 MiB CSV, 86x for its 4.6 MiB Parquet.
_MEMORY_PER_BYTE = {"text": 32, "compressed": 100}


def _stream_if_too_large(path: Path, opts: EvaluateOptions) -> EvaluateOptions:
    """``opts`` with ``chunk_rows`` set when reading ``path`` whole would need over half the available memory.

    The file is then streamed (constant memory; no bootstrap intervals, which need every example at once) and a
    warning says so; options that need every example in memory are refused with a one-line error instead."""
    from attnlab.metrics._memory import available_memory

    if opts.chunk_rows or not path.is_file():
        return opts
    compressed = path.suffix.lower() in (".parquet", ".gz")
    needed = path.stat().st_size * _MEMORY_PER_BYTE["compressed" if compressed else "text"]
    available = available_memory()
    if available is None or needed <= available // 2:
        return opts
    size = f"{path.stat().st_size / 2**20:,.0f} MiB"
    blocking = [flag for flag, value in (("--train", opts.train_path), ("--target-recall", opts.target_recall),
                                         ("--target-precision", opts.target_precision),
                                         ("--max-fbeta", opts.max_fbeta), ("--costs", opts.costs)) if value]
    if blocking:
        raise InputError(f"{path} ({size}) is too large to read whole with {available / 2**20:,.0f} MiB of memory "
                         f"available, and {', '.join(blocking)} need(s) every example at once; drop them (the file "
                         "is then streamed) or evaluate on a machine with more memory")
    import warnings

    # about 700 bytes per chunk row at the peak (pyarrow parses several blocks at once): keep it near a fifth
    rows = int(min(AUTO_CHUNK_ROWS, max(10_000, available // 4000)))
    warnings.warn(f"{path} ({size}) is too large to read whole with {available / 2**20:,.0f} MiB of memory "
                  f"available; streaming it {rows:,} rows at a time, without bootstrap intervals "
                  "(--chunk-rows N sets the chunk size)", stacklevel=2)
    from dataclasses import replace

    return replace(opts, chunk_rows=rows, bootstrap=0)


def _evaluate_chunked(path: Path, opts: EvaluateOptions) -> dict[str, Any]:
    """Stream the file through the mergeable metric states: constant memory in the number of rows.

    Predictions come from the score/probability columns when given (score >= threshold, default 0.5; argmax),
    else from the prediction column. No bootstrap intervals: they need every example at once."""
    from attnlab.metrics.streaming import evaluate_file

    history = read_history(opts.history_path) if opts.history_path else None  # checked before the long pass
    scored = bool(opts.score_column or opts.proba_columns)
    report = evaluate_file(path, label_column=opts.label_column, pred_column=None if scored else opts.pred_column,
                           score_column=opts.score_column, proba_columns=opts.proba_columns, labels=opts.labels,
                           positive_label=opts.positive_label, scores=opts.scores, threshold=opts.threshold,
                           zero_division=opts.zero_division, chunk_rows=opts.chunk_rows)
    report = {"schema_version": 1, "task": "classification", **report}
    report["input"] = {"path": str(path), "sha256": sha256_file(path), "rows": report["n"],
                       "chunked": report.pop("source", None), "options": asdict(opts),
                       "attnlab_version": __version__}
    return annotate(report, history=history)


def _leakage(table: dict[str, list], y_true: list[str], opts: EvaluateOptions, path: Path):
    """Overlap of the evaluated texts with the ``--train`` file, and label conflicts inside each."""
    if opts.text_column not in table:
        raise InputError(f"column {opts.text_column!r} not found in {path}; --train compares texts, so the "
                         f"predictions file needs them — pass --text-column (columns present: {', '.join(table)})")
    texts = table[opts.text_column]
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise InputError(f"{path}: {len(bad)} empty or non-text value(s) in column {opts.text_column!r} (first at "
                         f"data row {bad[0] + 1}); fill or remove those rows")
    train_texts, train_labels = read_texts(opts.train_path, opts.text_column, opts.label_column, label_optional=True)
    result = find_overlap(train_texts, texts, train_labels=train_labels,
                          test_labels=None if train_labels is None else y_true)
    extra = conflict_findings(label_conflicts(texts, y_true), f"the evaluated file ({path.name})")
    if train_labels is not None:
        extra += conflict_findings(label_conflicts(train_texts, train_labels), f"--train ({Path(opts.train_path).name})")
    return [result], extra
