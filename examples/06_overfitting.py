"""Overfitting: a run that memorises its training set, its curves, and the finding.

A model with more capacity than its data supports keeps lowering its training loss while its validation
loss turns and climbs: from then on it is learning the training examples, not the task. The example trains
a wider attention model without dropout, at a high learning rate, with early stopping off, on a few hundred
SMS messages of which 20% carry the wrong label (noisy labels, as crowd-sourced data often has: SMS spam with
clean labels is too easy to overfit quickly); ``history.jsonl`` records both losses per epoch, and the run's report carries the
``overfitting`` finding (best epoch, epochs of rising validation loss, what to do). attnlab saves the
weights of the epoch with the best monitored validation metric (macro-F1 by default), never the last
epoch's; the finding says which epoch that was and what to try: early stopping, dropout, weight decay, a
smaller model or more data.
"""

from __future__ import annotations

import csv
import json
import sys

import numpy as np

from _common import Example, attnlab, sms_subset, write_csv

OVERFIT = ["--d-model", "128", "--heads", "4", "--layers", "2", "--d-ff", "256", "--max-len", "48",
           "--vocab-size", "2000", "--dropout", "0", "--lr", "0.003", "--patience", "0", "--batch-size", "16"]


def noisy_labels(path, share: float, seed: int = 0):
    """Flip the label of a random `share` of the rows (ham <-> spam), in place."""
    rows = list(csv.reader(open(path, encoding="utf-8")))
    rng = np.random.default_rng(seed)
    for i in rng.choice(np.arange(1, len(rows)), round(share * (len(rows) - 1)), replace=False):
        rows[i][1] = {"ham": "spam", "spam": "ham"}[rows[i][1]]
    return write_csv(path, rows[0], rows[1:])


def main(argv: list[str] | None = None) -> None:
    ex = Example(__doc__, argv)
    data = noisy_labels(sms_subset("sms.csv", 400 if ex.fast else 800), share=0.2)
    epochs = 6 if ex.fast else 12
    attnlab("train", data, "--out", "run", *OVERFIT, "--epochs", epochs, "--positive", "spam")
    history = [json.loads(line) for line in open("run/history.jsonl", encoding="utf-8")]
    report = json.loads(open("run/report.json", encoding="utf-8").read())
    found = [f for f in report["findings"] if f["code"].startswith("overfitting")]

    ex.md("`run/history.jsonl`, one line per epoch:")
    ex.table(["epoch", "train loss", "validation loss", "validation macro-F1"],
             [[h["epoch"], h["train_loss"], h["val_loss"], h["val_macro_f1"]] for h in history])
    ex.md("The finding in `run/report.json`:")
    ex.table(["code", "severity", "message"], [[f["code"], f["severity"], f["message"]] for f in found])
    assert found, "the run must carry an overfitting finding"

    import matplotlib.pyplot as plt

    epochs_seen = [h["epoch"] for h in history]
    best = min(history, key=lambda h: h["val_loss"])["epoch"]
    fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
    ax.plot(epochs_seen, [h["train_loss"] for h in history], "o-", label="training loss")
    ax.plot(epochs_seen, [h["val_loss"] for h in history], "s-", label="validation loss")
    ax.axvline(best, ls="--", c="#999", lw=1, label=f"lowest validation loss (epoch {best})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.set_title("Training loss falls; validation loss turns")
    ax.legend(fontsize=8)
    ex.savefig(fig, "curves.png")
    ex.finish()


if __name__ == "__main__":
    main(sys.argv[1:])
