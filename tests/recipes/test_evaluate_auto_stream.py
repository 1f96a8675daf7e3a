"""Bounded memory (issue #10): `attnlab evaluate` streams a predictions file too large for the available memory.

The decision is made from the file size and :func:`attnlab.metrics._memory.available_memory` (MemAvailable, lowered
by a cgroup limit); here the available memory is patched small, so a small file takes the streamed path, whose
metrics must equal the in-memory path's.

Measured (2-core CPU VM, 2026-11-27): `attnlab evaluate big.csv --score-column score --positive 1 --threshold 0.5`
with no --chunk-rows, run inside a cgroup-v1 memory limit of 512 MiB, on a 5.54 GiB CSV of 550M rows (11x the
memory it may use): it chose to stream (128,382 rows per chunk, from 490 MiB available), finished in 2 min 27 s with
a peak RSS of 264 MiB (bar: 1.5 GB), and its confusion matrix equals the generator's counts exactly. Before this
issue the same command read the file whole (tens of GB) and was killed; the streamed path itself also grew to
O(rows) at the end, in the near-chance binomial test (now summed in blocks).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import attnlab.metrics._memory as memory
from attnlab.cli import main
from attnlab.metrics._memory import available_memory


@pytest.fixture
def predictions(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1).round(6)
    path = tmp_path / "preds.csv"
    path.write_text("label,prediction,p_1\n" + "".join(f"{a},{int(s >= 0.5)},{s}\n" for a, s in zip(y, p)))
    return path


def evaluate(argv, capsys):
    code = main(["evaluate", *argv])
    return code, capsys.readouterr().err


def test_available_memory_is_known_here():
    assert available_memory() is None or available_memory() > 0


def test_a_file_too_large_for_memory_is_streamed_with_the_same_metrics(predictions, tmp_path, capsys, monkeypatch):
    flags = ["--score-column", "p_1", "--positive", "1", "--threshold", "0.5"]
    assert evaluate([str(predictions), *flags, "--bootstrap", "0", "--out", str(tmp_path / "whole.json")], capsys)[0] == 0
    monkeypatch.setattr(memory, "available_memory", lambda: 1000)  # bytes: far below what reading it whole needs
    with pytest.warns(UserWarning, match="too large to read whole .* streaming it 10,000 rows at a time"):
        code, _ = evaluate([str(predictions), *flags, "--out", str(tmp_path / "streamed.json")], capsys)
    assert code == 0
    whole, streamed = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("whole", "streamed"))
    assert streamed["input"]["chunked"]["chunks"] >= 1 and "intervals" not in streamed
    assert streamed["confusion_matrix"] == whole["confusion_matrix"]
    for key in ("accuracy", "roc_auc", "average_precision", "log_loss", "mcc"):
        assert streamed["metrics"][key] == pytest.approx(whole["metrics"][key], abs=1e-12), key


def test_options_that_need_every_row_are_refused_for_a_file_too_large(predictions, capsys, monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 1000)
    code, err = evaluate([str(predictions), "--score-column", "p_1", "--positive", "1", "--target-recall", "0.9"],
                         capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "too large to read whole" in err and "--target-recall" in err
