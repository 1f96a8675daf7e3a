"""``evaluate_file``: the classification report of a predictions file of any size, read in chunks.

The file (CSV, TSV, JSON Lines — optionally ``.gz`` — or Parquet) is read ``chunk_rows`` rows at a time
with pyarrow's streaming readers; each chunk updates the states of :mod:`attnlab.metrics.stateful` and is
dropped, so memory is one chunk plus the states (the exact score curves grow with the number of
*distinct* scores only). The result is the dict of :func:`attnlab.metrics.classification_report` for the
same rows, plus ``source`` (what was read) and, when predictions were derived from a score, ``threshold``.

Policies (every problem is an :class:`~attnlab.errors.InputError` naming the file, column, row and fix):

* **Labels** are compared as text, as :mod:`attnlab.data.readers` does (``1``, ``1.0`` and ``"1"`` are one
  label). Given ``labels`` fix the set and order (a value outside them is an error) and are reported as
  given. Otherwise the label set is the union of both label columns over the whole file, ordered by
  :func:`attnlab.data.readers.order_labels` (numeric when every label is a number), reported as strings.
* **Predictions**: ``pred_column``, or derived from the scores — argmax of ``proba_columns`` (first column
  on ties), or ``score >= threshold`` for a binary ``score_column`` (``threshold`` 0.5 unless given, on
  the probability scale; recorded in ``threshold``).
* **Scores** are ``"probabilities"`` (checked: in [0, 1]; rows of ``proba_columns`` sum to 1 within 1e-3)
  or ``"logits"`` (sigmoid / softmax first) — declared, never guessed. A ``score_column`` is the
  probability of ``positive_label``, which is then required. ``proba_columns`` follow the order of
  ``labels``; without ``labels`` a first pass over the label columns fixes that order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from attnlab.data.readers import MAX_LABEL_CHARS, canonical_label, order_labels
from attnlab.errors import InputError
from attnlab.metrics import _chunks
from attnlab.metrics.evaluator import DEFAULT_N_BINS, ClassificationEvaluator
from attnlab.metrics.functional._validation import DEFAULT_ZERO_DIVISION, ZeroDivision, check_labels, check_zero_division
from attnlab.metrics.stateful import ProbabilityState, ScoreCurveState

SCORE_KINDS = ("probabilities", "logits")
PROBA_SUM_ATOL = 1e-3  # files hold rounded probabilities (attnlab writes 6 significant digits)
DEFAULT_THRESHOLD = 0.5


class _LabelMap:
    """Label text (:func:`canonical_label`) → index: fixed by the given labels, or growing as seen."""

    def __init__(self, path: Any, labels: Sequence[Any] | None):
        self.path, self.fixed = path, labels is not None
        self.names: list[Any] = [] if labels is None else check_labels(labels, min_labels=2)
        self.index: dict[str, int] = {}
        for i, label in enumerate(self.names):
            key = canonical_label(label)
            if key is None or key in self.index:
                raise InputError(f"labels {self.names!r} hold a missing or repeated label ({label!r} as text); "
                                 "list each class once")
            self.index[key] = i

    def add(self, label: Any) -> int:
        key = canonical_label(label)
        if key not in self.index:
            self.index[key] = len(self.names)
            self.names.append(key)
        return self.index[key]

    def codes(self, arr: Any, column: str, first_row: int) -> np.ndarray:
        """``int64`` label indices of a chunk: the distinct values are looked up once, rows are gathered."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if arr.null_count:
            self._fail(column, first_row, np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0], None)
        kind = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
        if pa.types.is_nested(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            raise InputError(f"column {column!r} in {_chunks.show(self.path)} has type {kind}; labels must be single "
                             "strings, integers, floats or booleans — choose another column or cast it")
        if not pa.types.is_dictionary(arr.type):
            arr = pc.dictionary_encode(arr)
        indices = arr.indices.to_numpy(zero_copy_only=False)
        lut = np.empty(len(arr.dictionary), dtype=np.int64)
        for j, value in enumerate(arr.dictionary.to_pylist()):
            key = canonical_label(value)
            if key is not None and len(key) > MAX_LABEL_CHARS:
                raise InputError(f"column {column!r} in {_chunks.show(self.path)} holds a label of {len(key):,} "
                                 f"characters near data row {first_row + int(np.argmax(indices == j)) + 1}; labels are "
                                 f"class names (at most {MAX_LABEL_CHARS:,} characters) — check the label column")
            if key is None or (self.fixed and key not in self.index):
                self._fail(column, first_row, int(np.argmax(indices == j)), value)
            lut[j] = self.add(key) if not self.fixed else self.index[key]
        return lut[indices]

    def _fail(self, column: str, first_row: int, row: int, value: Any) -> None:
        where = f"column {column!r} in {_chunks.show(self.path)} at data row {first_row + row + 1}"
        if value is None or canonical_label(value) is None:
            raise InputError(f"{where} has a missing label; fill it in or drop the row")
        raise InputError(f"{where} holds label {value!r}, which is not in labels {self.names!r}; "
                         "add it to labels or fix the row")


def _numbers(path: Any, arr: Any, column: str, first_row: int, *, unit_interval: bool) -> np.ndarray:
    """A score column as finite floats (float32 stays float32), in [0, 1] when ``unit_interval``."""
    where = f"column {column!r} in {_chunks.show(path)}"
    if arr.null_count:
        row = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise InputError(f"{where} has a missing value (empty, NaN or null) at data row {first_row + row + 1}; "
                         "fill it in or drop the row")
    import pyarrow as pa

    if not (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_boolean(arr.type)):
        raise InputError(f"{where} has type {arr.type}, not numbers; scores and probabilities must be a numeric "
                         "column — cast it (e.g. df[col].astype(float)) before writing the file")
    x = arr.to_numpy(zero_copy_only=False)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    bad = ~np.isfinite(x)
    if unit_interval:
        bad |= (x < 0) | (x > 1)
    if bad.any():
        row = int(np.argmax(bad))
        fix = ("scores must be finite numbers — fix or drop the row" if not np.isfinite(x[row]) else
               "probabilities must be in [0, 1]; pass scores='logits' if the column holds logits")
        raise InputError(f"{where} holds {x[row]!r} at data row {first_row + row + 1}; {fix}")
    return x


def _sigmoid(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class _FileEvaluation:
    """The states of one pass over a file, filled chunk by chunk, then turned into a report."""

    def __init__(self, path: Any, opts: dict[str, Any], labels: _LabelMap):
        self.path, self.opts, self.map = path, opts, labels
        self.positive_key = None if opts["positive_label"] is None else canonical_label(opts["positive_label"])
        if self.positive_key is not None and not labels.fixed:
            labels.add(self.positive_key)
        self.derive = opts["pred_column"] is None  # predictions from the scores
        self.binary = opts["score_column"] is not None
        self.counts = np.zeros((0, 2 if self.binary and self.derive else 0), dtype=np.int64)
        self.prob: ProbabilityState | None = None
        self.curves: list[ScoreCurveState] = []
        if self.binary:
            self.prob = ProbabilityState(2, n_bins=opts["n_bins"])
            self.curves = [ScoreCurveState(n_bins=opts["curve_bins"])]
        elif opts["proba_columns"]:
            n_classes = len(labels.names)
            self.prob = ProbabilityState(n_classes, n_bins=opts["n_bins"])
            n_curves = 1 if n_classes == 2 and self.positive_key is not None else n_classes
            self.curves = [ScoreCurveState(n_bins=opts["curve_bins"]) for _ in range(n_curves)]
        self.n = 0

    def _grow(self, k: int) -> None:
        rows, cols = self.counts.shape
        new_cols = cols if self.binary and self.derive else k
        if k > rows or new_cols > cols:
            grown = np.zeros((k, new_cols), dtype=np.int64)
            grown[:rows, :cols] = self.counts
            self.counts = grown

    def update(self, first_row: int, chunk: dict[str, Any]) -> None:
        o = self.opts
        t = self.map.codes(chunk[o["label_column"]], o["label_column"], first_row)
        p = None if self.derive else self.map.codes(chunk[o["pred_column"]], o["pred_column"], first_row)
        if self.binary:
            s = _numbers(self.path, chunk[o["score_column"]], o["score_column"], first_row,
                         unit_interval=o["scores"] == "probabilities")
            s = _sigmoid(s) if o["scores"] == "logits" else s
            is_pos = t == self.map.index[self.positive_key]
            self.prob.update_binary(is_pos, s)
            self.curves[0]._update_trusted(is_pos, s)
            if self.derive:
                p = (s >= o["threshold"]).astype(np.int64)  # column 1 = predicted positive
        elif self.prob is not None:
            proba = self._proba_matrix(chunk, first_row)
            self.prob.update(t, proba)
            columns = [self.map.index[self.positive_key]] if len(self.curves) == 1 else range(len(self.curves))
            for curve, c in zip(self.curves, columns):  # a loop over labels, not rows
                curve._update_trusted(t == c, proba[:, c])
            if self.derive:
                p = proba.argmax(axis=1)
        self._grow(len(self.map.names))
        width = self.counts.shape[1]
        self.counts += np.bincount(t * width + p, minlength=self.counts.size).reshape(self.counts.shape)
        self.n += len(t)

    def _proba_matrix(self, chunk: dict[str, Any], first_row: int) -> np.ndarray:
        o = self.opts
        cols = [_numbers(self.path, chunk[c], c, first_row, unit_interval=o["scores"] == "probabilities")
                for c in o["proba_columns"]]
        proba = np.column_stack(cols).astype(np.float64, copy=False)
        if o["scores"] == "logits":
            return _softmax(proba)
        off = np.abs(proba.sum(axis=1) - 1.0) > PROBA_SUM_ATOL
        if off.any():
            row = int(np.argmax(off))
            raise InputError(f"the probability columns {list(o['proba_columns'])!r} in {_chunks.show(self.path)} "
                             f"sum to {proba[row].sum():.6g} at data row {first_row + row + 1}; each row must sum "
                             f"to 1 (within {PROBA_SUM_ATOL:g}) — pass a softmax over all labels, or "
                             "scores='logits'")
        return proba

    def report(self) -> dict[str, Any]:
        if self.n == 0:
            raise InputError(f"{_chunks.show(self.path)} has a header but no data rows; add one row per example")
        final = list(self.map.names) if self.map.fixed else list(order_labels(self.map.names))
        column = self.opts["label_column"]
        if len(final) < 2:
            raise InputError(f"only one label ({final[0]!r}) occurs in column {column!r} of "
                             f"{_chunks.show(self.path)}; pass labels=[...] listing every class")
        if self.binary and len(final) != 2:
            raise InputError(f"a single score column needs exactly 2 labels; {_chunks.show(self.path)} holds "
                             f"{len(final)} ({', '.join(map(repr, final[:10]))}); pass proba_columns for "
                             "multiclass scores, or fix the label column")
        self._grow(len(final))
        perm = [self.map.index[canonical_label(lab)] for lab in final]
        pos = None if self.positive_key is None else next(i for i, lab in enumerate(final)
                                                          if canonical_label(lab) == self.positive_key)
        matrix = self.counts[perm]
        if self.binary and self.derive:  # columns: predicted negative, predicted positive
            matrix = np.stack([matrix[:, 0], matrix[:, 1]] if pos == 1 else [matrix[:, 1], matrix[:, 0]], axis=1)
        else:
            matrix = matrix[:, perm]
        ev = ClassificationEvaluator(final, positive_label=None if pos is None else final[pos],
                                     zero_division=self.opts["zero_division"], proba=self.prob is not None,
                                     n_bins=self.opts["n_bins"], curve_bins=self.opts["curve_bins"])
        ev.confusion.matrix = matrix
        if self.prob is not None:
            self.prob.positive_index = pos
            ev.probability, ev.curves = self.prob, self.curves
        return ev.compute()


def _check_options(opts: dict[str, Any]) -> None:
    check_zero_division(opts["zero_division"])
    rows = opts["chunk_rows"]
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 1:
        raise InputError(f"chunk_rows must be a positive integer; got {rows!r}; 1_000_000 is a good size")
    if opts["scores"] not in SCORE_KINDS:
        raise InputError(f"scores must be 'probabilities' or 'logits'; got {opts['scores']!r}; say which the "
                         "score columns hold (it is never guessed)")
    if opts["score_column"] is not None and opts["proba_columns"]:
        raise InputError("pass score_column (binary) or proba_columns (one per label), not both")
    if opts["pred_column"] is None and opts["score_column"] is None and not opts["proba_columns"]:
        raise InputError("no predictions: pass pred_column, or score_column / proba_columns to derive them")
    if opts["score_column"] is not None and opts["positive_label"] is None:
        raise InputError("a score column is the probability of one label; pass positive_label=... to say which")
    if opts["proba_columns"] is not None and len(opts["proba_columns"]) < 2:
        raise InputError("proba_columns needs one column per label (at least 2); for one score column use "
                         "score_column with positive_label")
    t = opts["threshold"]
    if t is not None:
        if opts["score_column"] is None or opts["pred_column"] is not None:
            raise InputError("threshold applies only when predictions come from score_column; drop threshold "
                             "or pred_column")
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= t <= 1.0:
            raise InputError(f"threshold must be a probability in [0, 1]; got {t!r}")


def _first_pass_labels(path: Any, fmt: str, columns: list[str], chunk_rows: int) -> list[str]:
    """The label order of ``proba_columns`` when no labels are given: one pass over the label columns."""
    seen = _LabelMap(path, None)
    for first_row, chunk in _chunks.iter_chunks(path, fmt, columns, [], chunk_rows):
        for name in columns:
            seen.codes(chunk[name], name, first_row)
    return list(order_labels(seen.names))


def evaluate_file(
    path: str | Path, *, label_column: str, pred_column: str | None = None, score_column: str | None = None,
    proba_columns: Sequence[str] | None = None, labels: Sequence[Any] | None = None, positive_label: Any = None,
    scores: str = "probabilities", threshold: float | None = None,
    zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION, chunk_rows: int = 1_000_000, **options: Any,
) -> dict[str, Any]:
    """The classification report of a predictions file, read ``chunk_rows`` rows at a time.

    Options beyond the signature: ``n_bins`` (ECE bins, 15) and ``curve_bins`` (``None``: exact curves;
    an integer: constant-memory approximate ROC-AUC / average precision). See the module docstring for
    the label, prediction and score policies.

    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "pred.csv"
    >>> _ = f.write_text("y,p\\nspam,0.9\\nham,0.2\\nham,0.6\\n")
    >>> rep = evaluate_file(f, label_column="y", score_column="p", positive_label="spam")
    >>> rep["labels"], rep["metrics"]["roc_auc"], rep["threshold"]["value"], rep["confusion_matrix"]["matrix"]
    (['ham', 'spam'], 1.0, 0.5, [[1, 1], [0, 1]])
    """
    unknown = set(options) - {"n_bins", "curve_bins"}
    if unknown:
        raise InputError(f"unknown option(s) {sorted(unknown)}; evaluate_file also takes n_bins and curve_bins")
    opts = {"label_column": label_column, "pred_column": pred_column, "score_column": score_column,
            "proba_columns": None if proba_columns is None else list(proba_columns), "positive_label": positive_label,
            "scores": scores, "threshold": threshold, "zero_division": zero_division, "chunk_rows": chunk_rows,
            "n_bins": options.get("n_bins", DEFAULT_N_BINS), "curve_bins": options.get("curve_bins")}
    _check_options(opts)
    if threshold is None and score_column is not None and pred_column is None:
        opts["threshold"] = DEFAULT_THRESHOLD
    fmt = _chunks.file_format(path)
    label_cols = [c for c in (label_column, pred_column) if c is not None]
    number_cols = [score_column] if score_column is not None else list(opts["proba_columns"] or [])
    wanted = {label_column: "label_column", **({pred_column: "pred_column"} if pred_column else {}),
              **({score_column: "score_column"} if score_column else {}),
              **{c: "proba_columns" for c in opts["proba_columns"] or []}}
    _chunks.require_columns(path, _chunks.column_names(path, fmt), wanted)
    if opts["proba_columns"] and labels is None:
        labels = _first_pass_labels(path, fmt, label_cols, chunk_rows)
        if len(labels) != len(opts["proba_columns"]):
            raise InputError(f"{len(opts['proba_columns'])} proba_columns but {len(labels)} labels occur in "
                             f"{_chunks.show(path)} ({', '.join(map(repr, labels[:10]))}); pass labels=[...] "
                             "in the order of the probability columns")
    label_map = _LabelMap(path, labels)
    if opts["proba_columns"] and len(label_map.names) != len(opts["proba_columns"]):
        raise InputError(f"{len(opts['proba_columns'])} proba_columns for {len(label_map.names)} labels; pass one "
                         "probability column per label, in label order")
    if positive_label is not None and label_map.fixed and canonical_label(positive_label) not in label_map.index:
        raise InputError(f"positive_label {positive_label!r} is not one of the labels {label_map.names!r}")
    if score_column is not None and label_map.fixed and len(label_map.names) != 2:
        raise InputError(f"a single score column needs exactly 2 labels; got labels {label_map.names!r}; pass "
                         "proba_columns for multiclass scores")
    run = _FileEvaluation(path, opts, label_map)
    n_chunks = 0
    for first_row, chunk in _chunks.iter_chunks(path, fmt, label_cols, number_cols, chunk_rows):
        run.update(first_row, chunk)
        n_chunks += 1
    report = run.report()
    if opts["threshold"] is not None:
        report["threshold"] = {"value": float(opts["threshold"]), "objective": "given" if threshold is not None
                               else "default", "tuned_on": None, "rule": f"probability of {report['positive_label']!r} >= value"}
    report["source"] = {"path": str(path), "format": fmt, "rows": run.n, "chunks": n_chunks,
                        "chunk_rows": int(chunk_rows),
                        "columns": {"label": label_column, "pred": pred_column, "score": score_column,
                                    "proba": opts["proba_columns"]},
                        "scores": None if not number_cols else scores}
    if run.curves and run.curves[0].n_bins is None:  # what the exact curves cost in memory
        report["source"]["distinct_scores"] = [curve.n_distinct for curve in run.curves]
    return report


__all__ = ["SCORE_KINDS", "evaluate_file"]
