"""A synthetic evaluation with everything the HTML report can show, built once per session (no training):
a predictions file whose texts include markup, a training file that leaks into it, a history that
overfits; evaluated through the real CLI (``attnlab evaluate ... --out --html``)."""

import contextlib
import csv
import io
import json

import numpy as np
import pytest

from attnlab.cli import main

SCRIPT_TEXT = "WIN a prize <script>alert(1)</script> & reply \"now\" <b>bold</b>"
WORDS = "free call now prize win claim text reply stop later home dinner tonight meeting love thanks".split()


def _write_inputs(folder):
    rng = np.random.default_rng(7)
    rows = []
    for i in range(160):
        label = "spam" if i % 4 == 0 else "ham"
        p_spam = float(np.clip(rng.beta(5, 2) if label == "spam" else rng.beta(2, 6), 0.001, 0.999))
        text = " ".join(rng.choice(WORDS, size=8)) + f" #{i}"
        rows.append([i, text, label, p_spam])
    rows[1] = [1, SCRIPT_TEXT, "ham", 0.97]  # a confident error whose text is markup
    with open(folder / "predictions.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "label", "prediction", "p_ham", "p_spam"])
        for i, text, label, p in rows:
            w.writerow([i, text, label, "spam" if p >= 0.5 else "ham", f"{1 - p:.6f}", f"{p:.6f}"])
    with open(folder / "train.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerow([SCRIPT_TEXT, "ham"])
        for k in range(40):
            w.writerow([f"unrelated training sentence number {k} about {WORDS[k % len(WORDS)]}", "ham"])
    train = [0.60, 0.40, 0.28, 0.20, 0.14, 0.10, 0.07, 0.05]
    val = [0.55, 0.42, 0.35, 0.33, 0.36, 0.41, 0.47, 0.52]
    with open(folder / "history.jsonl", "w", encoding="utf-8") as fh:
        for e, (t, v) in enumerate(zip(train, val), start=1):
            fh.write(json.dumps({"epoch": e, "train_loss": t, "val_loss": v, "val_accuracy": 0.8 + e / 100,
                                 "val_macro_f1": 0.7 + e / 80}) + "\n")


def run_cli(args):
    """(exit code, stdout) of ``attnlab ARGS`` run in this process."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([str(a) for a in args])
    return code, out.getvalue()


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    _write_inputs(folder)
    code, terminal = run_cli(["evaluate", folder / "predictions.csv", "--positive", "spam", "--bootstrap", "200",
                              "--train", folder / "train.csv", "--history", folder / "history.jsonl",
                              "--out", folder / "report.json", "--html", folder / "report.html"])
    assert code == 0
    return {"dir": folder, "report": folder / "report.json", "html": folder / "report.html", "terminal": terminal,
            "predictions": folder / "predictions.csv"}
