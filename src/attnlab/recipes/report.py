"""Recipe: (re)render the HTML report from saved JSON (``attnlab report RUN_DIR|report.json``).

read report.json (checked against schema version 1) -> optional history.jsonl and predictions.csv of a run
directory (translations.csv for a translation run; or the files an evaluation report names) -> ``render_html``
-> atomic write. Torch is never imported on this path; a bad input is one :class:`InputError` line and nothing
is written.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attnlab.diagnostics.overfitting import first_member
from attnlab.errors import InputError
from attnlab.io import atomic_write_text, read_input_text
from attnlab.report.schema import check_report

REPORT_FILE, HTML_FILE, HISTORY_FILE, PREDICTIONS_FILE = "report.json", "report.html", "history.jsonl", "predictions.csv"
TRANSLATIONS_FILE = "translations.csv"
INSPECT_DIR, INSPECT_JSON, INSPECT_HTML, INSPECT_SCHEMA = "inspect", "inspect.json", "inspect.html", "attnlab.inspect/1"
_TRANSLATION_COLUMNS = ("source", "reference", "hypothesis")
_MAX_ROWS = 200_000  # predictions rows read for curves and worst errors


def _read_json(path: Path) -> dict[str, Any]:
    text = read_input_text(path, expected="a report.json written by attnlab")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); it may be "
                         "truncated — re-run the evaluation or training that wrote it") from None
    return check_report(obj, path)


def read_history(path: Path) -> list[dict[str, Any]] | None:
    """history.jsonl rows, or ``None`` when the file is missing or unreadable (the plot is then left out)."""
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError):
        return None
    return first_member([r for r in rows if isinstance(r, dict) and "epoch" in r]) or None


def read_predictions(path: Path, report: Mapping[str, Any] | None = None) -> list[dict[str, Any]] | None:
    """Rows of a predictions file as ``{id, text, label, prediction, p_<label>...}``.

    attnlab's own predictions.csv has these columns already; for an evaluation report the column names
    come from its ``input`` record (label/prediction/probability columns), and a chosen threshold is
    re-applied to the positive score so that the "prediction" is the one the report scored."""
    record = (report or {}).get("input") or {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            rows = []
            for i, row in enumerate(csv.DictReader(fh)):
                if i >= _MAX_ROWS:
                    break
                rows.append(row)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if not record:
        return rows
    return _canonical_rows(rows, report, record)  # type: ignore[arg-type]


def _canonical_rows(rows: list[dict[str, Any]], report: Mapping[str, Any], record: Mapping[str, Any]):
    labels, pos = report.get("labels") or [], report.get("positive_label")
    options = record.get("options") or {}
    label_col, pred_col = record.get("label_column", "label"), record.get("pred_column")
    text_col = options.get("text_column", "text")
    proba_cols = record.get("proba_columns")
    out = []
    for i, r in enumerate(rows):
        row = {"id": r.get("id", i), "text": r.get(text_col, ""), "label": r.get(label_col),
               "prediction": r.get(pred_col) if pred_col else None}
        try:
            if proba_cols and record.get("scores") == "probabilities":
                row.update({f"p_{lab}": float(r[c]) for lab, c in zip(labels, proba_cols)})
            elif record.get("score_column") and record.get("scores") == "probabilities" and pos is not None:
                s = float(r[record["score_column"]])
                row.update({f"p_{lab}": (s if lab == pos else 1.0 - s) for lab in labels})
        except (KeyError, TypeError, ValueError):
            return None
        out.append(row)
    threshold = report.get("threshold")
    for row in out:
        if threshold and pos is not None and f"p_{pos}" in row:
            neg = next(lab for lab in labels if lab != pos)
            row["prediction"] = pos if row[f"p_{pos}"] >= threshold["value"] else neg
        elif row["prediction"] is None and all(f"p_{lab}" in row for lab in labels):
            row["prediction"] = max(labels, key=lambda lab: row[f"p_{lab}"])
    return out


def read_translations(path: Path) -> list[dict[str, Any]] | None:
    """A translation run's translations.csv as rows ``{id, source, reference, hypothesis, hit_max_length}``
    (``hit_max_length`` a bool), or ``None`` when the file is missing, unreadable or lacks those columns.

    >>> read_translations(Path("no-such-run") / TRANSLATIONS_FILE) is None
    True
    """
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not set(_TRANSLATION_COLUMNS) <= set(reader.fieldnames or ()):
                return None
            rows = [row for _, row in zip(range(_MAX_ROWS), reader)]
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return [{"id": r.get("id"), **{k: r[k] or "" for k in _TRANSLATION_COLUMNS},
             "hit_max_length": (r.get("hit_max_length") or "0").strip().lower() in ("1", "true")} for r in rows]


def _run_inputs(folder: Path, report: Mapping[str, Any]) -> tuple[list | None, list | None]:
    """(history, predictions rows or translation samples) of the run directory ``folder``."""
    history = read_history(folder / HISTORY_FILE)
    if report.get("task") == "translation":
        return history, read_translations(folder / TRANSLATIONS_FILE)
    predictions = read_predictions(folder / PREDICTIONS_FILE) if (folder / PREDICTIONS_FILE).is_file() else None
    return history, predictions


def translation_samples(report: Mapping[str, Any]) -> list[dict[str, str]] | None:
    """Hypotheses beside the first references (and the sources, when ``--src`` was given), read from the files
    the report names (when still there)."""
    from attnlab.recipes.evaluate_translation import read_segments

    inputs = (report.get("details") or {}).get("inputs") or {}
    try:
        hyps = read_segments(inputs["hyp"]["path"])
        refs = read_segments(inputs["refs"][0]["path"])
    except (KeyError, IndexError, TypeError, InputError):
        return None
    if len(hyps) != len(refs):
        return None
    rows = [{"hypothesis": h, "reference": r} for h, r in zip(hyps, refs)]
    try:
        sources = read_segments(inputs["src"]["path"]) if inputs.get("src") else None
    except (KeyError, TypeError, InputError):
        sources = None
    if sources is not None and len(sources) == len(rows):
        for row, src in zip(rows, sources):
            row["source"] = src
    return rows


def _evaluation_inputs(report: Mapping[str, Any]) -> tuple[list | None, list | None]:
    """The predictions file and --history an evaluation report names, when they are still there unchanged."""
    from attnlab.io import sha256_file

    record = report.get("input") or {}
    options = record.get("options") or {}
    history = read_history(Path(options["history_path"])) if options.get("history_path") else None
    source = Path(record["path"]) if record.get("path") else None
    if source is None or not source.is_file() or record.get("chunked") or sha256_file(source) != record.get("sha256"):
        return history, None
    return history, read_predictions(source, report)


def load_for_report(target: str | Path) -> tuple[dict[str, Any], list | None, list | None, Path]:
    """(report, history, predictions, default output path) for a run directory or a report.json."""
    path = Path(target)
    if not path.exists():
        raise InputError(f"{path} not found; pass a run directory or a report.json written by attnlab")
    if path.is_dir():
        report_path = path / REPORT_FILE
        if not report_path.is_file():
            raise InputError(f"{path} has no {REPORT_FILE}; pass a run directory written by `attnlab train`/`run` "
                             "or a report.json")
        report = _read_json(report_path)
        history, predictions = _run_inputs(path, report)
        out = path / HTML_FILE
    else:
        report = _read_json(path)
        names_run_files = ((report.get("details") or {}).get("inputs") or {}).get("translations")
        # a translation run's own report.json: its history and translations.csv are beside it
        history, predictions = _run_inputs(path.parent, report) if names_run_files else load_inputs(report)
        out = path.with_suffix(".html") if path.suffix == ".json" else path.with_name(path.name + ".html")
    return report, history, predictions, out


def load_inputs(report: Mapping[str, Any]) -> tuple[list | None, list | None]:
    """(history, predictions rows or translation samples) from the files a report names, where still there."""
    if report.get("task") == "translation":
        return None, translation_samples(report)
    return _evaluation_inputs(report)


def write_html(report: Mapping[str, Any], out: str | Path, *, history: list | None = None,
               predictions: list | None = None, heads: Mapping[str, Any] | None = None) -> Path:
    """Render and write the HTML report atomically (a temporary file renamed into place)."""
    from attnlab.report.html import render_html

    out = Path(out)
    if not out.parent.is_dir():
        raise InputError(f"folder {out.parent} does not exist; create it or pass another --out")
    html = render_html(dict(report), history=history, predictions=predictions, heads=heads)
    try:
        atomic_write_text(out, html)
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror}; pass --out with a writable path") from None
    return out


def render_report(target: str | Path, out: str | Path | None = None) -> Path:
    """``attnlab report``: re-render a run directory's or a report.json's HTML; returns the written path."""
    report, history, predictions, default = load_for_report(target)
    heads = _inspection(Path(target)) if Path(target).is_dir() else None
    return write_html(report, out or default, history=history, predictions=predictions, heads=heads)


def _inspection(run_dir: Path) -> dict[str, Any] | None:
    """The "Inside the heads" context from RUN_DIR/inspect/inspect.json (``attnlab inspect``), when there."""
    path = run_dir / INSPECT_DIR / INSPECT_JSON
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a damaged inspect.json only loses the section, never the report
    if not isinstance(doc, dict) or doc.get("schema") != INSPECT_SCHEMA:
        return None
    from attnlab.report.heads_html import heads_context

    return heads_context(doc, link=f"{INSPECT_DIR}/{INSPECT_HTML}")
