"""The accuracy paradox: 98% accuracy that catches 12% of the fraud.

A fraud-like test set: 2% of 5,000 transactions are fraud. A model that flags 24 transactions, 12 of them
fraud, is 98% accurate — exactly as accurate as a "model" that never says fraud — and misses 88% of the
fraud. ``attnlab evaluate`` reports the metrics that show it (recall, F1, MCC, balanced accuracy, PR-AUC, each
with a bootstrap interval) and its findings; ``attnlab check`` gives the verdict, NOT READY, reasons first
(exit code 1, so a CI job that gates a model on it fails).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from _common import Example, attnlab, write_csv


def fraud_predictions(n: int, n_fraud: int, caught: int, false_alarms: int, seed: int = 0) -> list[list[object]]:
    """id, label, prediction, p_fraud rows: `caught` frauds and `false_alarms` legit ones scored above 0.5."""
    rng = np.random.default_rng(seed)
    labels = np.array(["fraud"] * n_fraud + ["legit"] * (n - n_fraud))
    scores = np.where(labels == "fraud", rng.uniform(0.05, 0.5, n), np.minimum(rng.beta(1, 12, n), 0.49))  # all below 0.5
    flagged = np.concatenate([np.arange(caught), n_fraud + rng.choice(n - n_fraud, false_alarms, replace=False)])
    scores[flagged] = rng.uniform(0.5, 0.95, len(flagged))
    order = rng.permutation(n)
    return [[i + 1, labels[j], "fraud" if scores[j] >= 0.5 else "legit", round(float(scores[j]), 4)]
            for i, j in enumerate(order)]


def main(argv: list[str] | None = None) -> None:
    ex = Example(__doc__, argv)
    n, n_fraud = (2500, 50) if ex.fast else (5000, 100)  # 2% fraud either way
    caught = round(0.12 * n_fraud)  # 12% recall
    false_alarms = n // 50 - (n_fraud - caught)  # errors = 2% of n, so accuracy = 98%
    preds = write_csv("fraud_predictions.csv", ["id", "label", "prediction", "p_fraud"],
                      fraud_predictions(n, n_fraud, caught, false_alarms))
    report_path = Path("report.json")
    _, summary = attnlab("evaluate", preds, "--positive", "fraud", "--score-column", "p_fraud",
                         "--out", report_path)
    code, verdict = attnlab("check", report_path, expect=(0, 1))
    report = json.loads(report_path.read_text())

    m, iv = report["metrics"], report["intervals"]
    fraud = m["per_class"]["fraud"]

    def with_ci(path: str, value: float | None) -> str:
        low_high = iv.get(path)
        return "—" if value is None else f"{value:.3f}" + (f" [{low_high[0]:.3f}, {low_high[1]:.3f}]" if low_high else "")

    ex.md(f"{n:,} transactions, {n_fraud} fraud ({n_fraud / n:.0%}); the model flags {caught + false_alarms}, "
          f"{caught} of them fraud. Metrics from `attnlab evaluate` (95% bootstrap intervals):")
    ex.table(["metric", "value [95% CI]", "a model that never says fraud"],
             [["accuracy", with_ci("accuracy", m["accuracy"]), f"{1 - n_fraud / n:.3f}"],
              ["recall (fraud)", with_ci("per_class.fraud.recall", fraud["recall"]), "0.000"],
              ["precision (fraud)", with_ci("per_class.fraud.precision", fraud["precision"]), "undefined (0/0)"],
              ["F1 (fraud)", with_ci("per_class.fraud.f1", fraud["f1"]), "0.000"],
              ["balanced accuracy", with_ci("balanced_accuracy", m["balanced_accuracy"]), "0.500"],
              ["MCC", with_ci("mcc", m["mcc"]), "undefined (0/0)"],
              ["PR-AUC (average precision)", with_ci("average_precision", m["average_precision"]), "0.020"]])
    ex.md("Findings (errors first):")
    ex.table(["code", "severity", "message"],
             [[f["code"], f["severity"], f["message"]] for f in report["findings"]])
    ex.md(f"`attnlab check report.json` exits {code}:")
    ex.code(verdict)
    assert code == 1 and not report["verdict"]["ready"], "the verdict must be NOT READY"
    assert abs(m["accuracy"] - 0.98) < 1e-9 and abs(fraud["recall"] - 0.12) < 1e-9

    import matplotlib.pyplot as plt

    names = ["accuracy", "balanced\naccuracy", "recall\n(fraud)", "precision\n(fraud)", "F1\n(fraud)", "MCC"]
    values = [m["accuracy"], m["balanced_accuracy"], fraud["recall"], fraud["precision"], fraud["f1"], m["mcc"]]
    paths = ["accuracy", "balanced_accuracy", "per_class.fraud.recall", "per_class.fraud.precision",
             "per_class.fraud.f1", "mcc"]
    err = np.array([[v - iv[p][0], iv[p][1] - v] if p in iv else [0, 0] for v, p in zip(values, paths)]).T
    fig, ax = plt.subplots(figsize=(7, 3.4), layout="constrained")
    ax.bar(names, values, yerr=err, capsize=4, color=["#999"] + ["#3a7"] * 5)
    ax.axhline(1 - n_fraud / n, ls="--", c="#c33", lw=1, label="accuracy of never saying fraud")
    ax.set_ylim(0, 1.05)
    ax.set_title("98% accurate, 12% of the fraud caught")
    ax.legend(loc="upper right", fontsize=8)
    ex.savefig(fig, "metrics.png")
    ex.finish()


if __name__ == "__main__":
    main(sys.argv[1:])
