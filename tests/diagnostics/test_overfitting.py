"""Overfitting from a training history: planted rise of validation loss, healthy curves, too-short histories."""

import json

import pytest

from attnlab.diagnostics import DiagnosticOptions, diagnose, overfitting_findings, read_history
from attnlab.errors import InputError


def history(train, val):
    return [{"epoch": i + 1, "train_loss": t, "val_loss": v} for i, (t, v) in enumerate(zip(train, val))]


def test_planted_overfitting():
    h = history([0.7, 0.5, 0.35, 0.25, 0.15, 0.08, 0.04], [0.65, 0.5, 0.42, 0.40, 0.44, 0.52, 0.61])
    [f] = overfitting_findings(h, selected_epoch=4)
    assert f.code == "overfitting" and f.severity == "warning"
    ev = f.evidence
    assert (ev["best_epoch"], ev["last_epoch"], ev["epochs_rising"]) == (4, 7, 3)
    assert ev["val_loss_min"] == 0.40 and ev["val_loss_last"] == 0.61
    assert ev["train_loss_at_best"] == 0.25 and ev["train_loss_last"] == 0.04
    assert ev["gap_last"] == pytest.approx(0.57)
    assert "early stopping" in f.message and "regularisation" in f.message and "more data" in f.message
    assert "saved model is from epoch 4 (before the rise)" in f.message


@pytest.mark.parametrize("train,val", [
    ([0.7, 0.5, 0.35, 0.25, 0.2], [0.65, 0.5, 0.42, 0.40, 0.39]),  # still improving
    ([0.7, 0.5, 0.35, 0.25, 0.2], [0.65, 0.5, 0.42, 0.40, 0.41]),  # rose for one epoch only (k = 2)
    ([0.7, 0.5, 0.5, 0.6, 0.7], [0.65, 0.5, 0.52, 0.55, 0.60]),  # training loss rises too: not overfitting
])
def test_healthy_or_inconclusive_curves(train, val):
    assert overfitting_findings(history(train, val)) == []


def test_k_is_an_option():
    h = history([0.7, 0.5, 0.35, 0.25, 0.2], [0.65, 0.5, 0.42, 0.40, 0.41])
    assert overfitting_findings(h, DiagnosticOptions(overfit_epochs=1))[0].code == "overfitting"


@pytest.mark.parametrize("records", [history([0.5], [0.6]), history([0.5, 0.4], [0.6, 0.5]),
                                     [{"epoch": 1, "train_loss": 0.5}] * 4,
                                     [{"epoch": 1, "train_loss": 0.5, "val_loss": float("nan")}] * 4])
def test_too_short_or_incomplete_history_cannot_be_judged(records):
    [f] = overfitting_findings(records)
    assert f.code == "overfitting_not_judged" and f.severity == "info"


def test_diagnose_adds_history_findings(healthy_report):
    h = history([0.7, 0.5, 0.3, 0.2], [0.6, 0.5, 0.55, 0.7])
    codes = [f.code for f in diagnose(healthy_report, history=h)]
    assert codes == ["class_imbalance", "overfitting"]  # warnings, in check order


def test_read_history(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in history([0.5, 0.4], [0.6, 0.5])) + "\n\n")
    assert [r["epoch"] for r in read_history(path)] == [1, 2]


@pytest.mark.parametrize("content,match", [(b"", "empty"), (b"\n  \n", "empty"), (b'{"epoch": 1,\n', "line 1"),
                                           (b"[1, 2]\n", "not a JSON object"), (b'{"x": "caf\xe9"}\n', "UTF-8")])
def test_read_history_bad_files(tmp_path, content, match):
    path = tmp_path / "h.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=match):
        read_history(path)
    with pytest.raises(InputError, match="not found"):
        read_history(tmp_path / "missing.jsonl")
