"""Overfitting read off a training history (history.jsonl: one record per epoch with ``epoch``,
``train_loss`` and ``val_loss``).

Overfitting is called when validation loss reaches its minimum and then stays above it for at least ``k``
more epochs (``DiagnosticOptions.overfit_epochs``, default 2) while training loss keeps falling — the
model is fitting the training set's noise. The finding gives the best and last epochs, the train/validation
gap, and what to do. A history too short to show that (fewer than ``k + 1`` epochs) or without both losses
gives an ``info`` finding saying it cannot be judged, never an error.

>>> h = [{"epoch": e, "train_loss": t, "val_loss": v} for e, t, v in
...      [(1, 0.60, 0.50), (2, 0.40, 0.35), (3, 0.25, 0.30), (4, 0.15, 0.34), (5, 0.08, 0.41)]]
>>> f = overfitting_findings(h)[0]
>>> f.code, f.severity, f.evidence["best_epoch"], f.evidence["epochs_rising"]
('overfitting', 'warning', 3, 2)
>>> overfitting_findings(h[:3])
[]
>>> overfitting_findings(h[:1])[0].code
'overfitting_not_judged'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from attnlab.diagnostics.findings import DiagnosticOptions, Finding
from attnlab.errors import InputError
from attnlab.io import read_input_text

__all__ = ["first_member", "overfitting_findings", "read_history"]


def first_member(records: Sequence[Mapping[str, Any]]) -> list:
    """An ensemble run's history holds every member's epochs (each record has ``member``); its curves and the
    overfitting check are those of the first member, as its report's training record. A single model's
    history is returned whole.

    >>> first_member([{"epoch": 1, "member": 0}, {"epoch": 1, "member": 1}])
    [{'epoch': 1, 'member': 0}]
    """
    return [r for r in records if r.get("member", 0) == 0]


def read_history(path: str | Path) -> list[dict[str, Any]]:
    """The records of a history.jsonl file; a missing, empty, non-UTF-8 or malformed file raises
    :class:`InputError` naming the line."""
    p = Path(path)
    text = read_input_text(p, expected="the history.jsonl of a training run")
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {number} of {p} is not valid JSON ({exc.msg}); history.jsonl holds one JSON "
                             "object per epoch") from None
        if not isinstance(record, dict):
            raise InputError(f"line {number} of {p} is not a JSON object; write one object per epoch, e.g. "
                             '{"epoch": 1, "train_loss": 0.5, "val_loss": 0.6}')
        records.append(record)
    if not records:
        raise InputError(f"{p} is empty; a history needs one JSON line per epoch with train_loss and val_loss")
    return first_member(records)


def _losses(history: Sequence[Mapping[str, Any]]) -> tuple[list[int], list[float], list[float]] | None:
    epochs, train, val = [], [], []
    for i, record in enumerate(history):
        t, v = record.get("train_loss"), record.get("val_loss")
        ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in (t, v))
        if not ok:
            return None
        epochs.append(int(record.get("epoch", i + 1)))
        train.append(float(t))
        val.append(float(v))
    return epochs, train, val


def overfitting_findings(history: Sequence[Mapping[str, Any]], options: DiagnosticOptions = DiagnosticOptions(), *,
                         selected_epoch: int | None = None) -> list[Finding]:
    """``overfitting`` (warning) or ``overfitting_not_judged`` (info) findings for a training history.

    ``selected_epoch`` is the epoch whose weights the model kept (early stopping), when known.
    """
    k = options.overfit_epochs
    series = _losses(history)
    if series is None or len(history) < k + 1:
        why = ("its records lack finite train_loss and val_loss values" if series is None
               else f"it has {len(history)} epoch{'s' if len(history) != 1 else ''}; at least {k + 1} are needed")
        return [Finding("overfitting_not_judged", "info", f"Overfitting cannot be judged from the training history: "
                        f"{why}.", {"epochs": len(history), "needed": k + 1})]
    epochs, train, val = series
    m = min(range(len(val)), key=val.__getitem__)  # first minimum
    after = len(val) - 1 - m
    if after < k or not train[-1] < train[m] or not val[-1] > val[m]:
        return []
    gap = val[-1] - train[-1]
    kept = ""
    if selected_epoch is not None:
        kept = (f" The saved model is from epoch {selected_epoch}" +
                (" (before the rise)." if selected_epoch <= epochs[m] else ", after the minimum of validation loss."))
    msg = (f"Overfitting: validation loss reached its minimum {val[m]:.4f} at epoch {epochs[m]}, then stayed above it "
           f"for {after} epochs (last {val[-1]:.4f}) while training loss kept falling ({train[m]:.4f} -> "
           f"{train[-1]:.4f}; train/validation gap {gap:.4f}).{kept} Use early stopping (--patience, "
           "--monitor val_loss), more regularisation (--dropout, weight decay), a smaller model, or more data.")
    return [Finding("overfitting", "warning", msg, {
        "best_epoch": epochs[m], "last_epoch": epochs[-1], "epochs_rising": after, "val_loss_min": val[m],
        "val_loss_last": val[-1], "train_loss_at_best": train[m], "train_loss_last": train[-1], "gap_last": gap,
        "selected_epoch": selected_epoch, "k": k})]
