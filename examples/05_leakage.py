"""Leakage: what duplicated texts do to a test score, and the finding that catches it.

Real collections repeat themselves: the same spam goes to thousands of phones, and a scraped data set often
holds a message twice. Split such a set at random, row by row, and many test messages have an exact copy in
the training data — the test score then rewards memory, not generalisation. The example builds a duplicated
SMS set (every message twice), splits it naively 80/20, trains on the training part and scores the test
part: overall, on the test messages that have a copy in training, and on those that do not. ``attnlab
evaluate --train`` and ``attnlab check-leakage`` find the copies (exact and near duplicates, with the pairs),
and the verdict refuses the leaky score. attnlab's own splits keep duplicates together (``attnlab train``
groups them), so its test scores are not inflated this way.
"""

from __future__ import annotations

import csv
import json
import sys

import numpy as np

from _common import SMALL_MODEL, Example, attnlab, sms_subset, write_csv


def naive_split(path: str, seed: int = 0) -> tuple[str, str]:
    """Every row twice, shuffled, cut 80/20 by row: the mistake this example is about."""
    rows = list(csv.reader(open(path, encoding="utf-8")))[1:]
    rows = rows + rows
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    cut = int(0.8 * len(rows))
    write_csv("train.csv", ["text", "label"], [rows[i] for i in order[:cut]])
    write_csv("test.csv", ["id", "text", "label"], [[k + 1, *rows[i]] for k, i in enumerate(order[cut:])])
    return "train.csv", "test.csv"


def score(run: str, test: str, out: str) -> tuple[str, list[bool]]:
    """Predict the test file with the run's model; write a predictions file; flag rows seen in training."""
    from attnlab.diagnostics import leak_key
    from attnlab.recipes.predict import predict

    rows = list(csv.DictReader(open(test, encoding="utf-8")))
    labels, proba = predict(run, [r["text"] for r in rows])
    train_keys = {leak_key(r["text"]) for r in csv.DictReader(open("train.csv", encoding="utf-8"))}
    seen = [leak_key(r["text"]) in train_keys for r in rows]
    write_csv(out, ["id", "text", "label", "prediction", *(f"p_{lab}" for lab in labels)],
              [[r["id"], r["text"], r["label"], labels[int(p.argmax())], *(round(float(x), 6) for x in p)]
               for r, p in zip(rows, proba)])
    return out, seen


def subset(path: str, keep: list[bool], out: str) -> str:
    rows = list(csv.reader(open(path, encoding="utf-8")))
    write_csv(out, rows[0], [r for r, k in zip(rows[1:], keep) if k])
    return out


def main(argv: list[str] | None = None) -> None:
    ex = Example(__doc__, argv)
    data = sms_subset("sms.csv", 600 if ex.fast else None)
    train, test = naive_split(data)
    attnlab("train", train, "--out", "run", *SMALL_MODEL, "--epochs", 1 if ex.fast else 4, "--positive", "spam")
    preds, seen = score("run", test, "predictions.csv")

    parts = [("whole test split", preds), ("  with a copy in training", subset(preds, seen, "seen.csv")),
             ("  without a copy in training", subset(preds, [not s for s in seen], "unseen.csv"))]
    rows = []
    for name, path in parts:
        attnlab("evaluate", path, "--positive", "spam", "--out", "r.json")
        rep = json.loads(open("r.json", encoding="utf-8").read())
        m, iv = rep["metrics"], rep["intervals"]
        f1, ci = m["per_class"]["spam"]["f1"], iv.get("per_class.spam.f1")
        rows.append([name, rep["n"], f"{m['accuracy']:.3f}",
                     "undefined" if f1 is None else f"{f1:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")])
    ex.md(f"Every SMS message twice, split 80/20 by row: {sum(seen)} of {len(seen)} test messages "
          f"({np.mean(seen):.0%}) have an exact copy in the training file.")
    ex.table(["test messages", "n", "accuracy", "spam F1 [95% CI]"], rows)

    attnlab("evaluate", preds, "--positive", "spam", "--train", train, "--out", "leaky.json")
    rep = json.loads(open("leaky.json", encoding="utf-8").read())
    leaks = [f for f in rep["findings"] if f["code"].startswith("leakage")]
    ex.md("`attnlab evaluate predictions.csv --positive spam --train train.csv` finds the copies:")
    ex.table(["code", "severity", "message"], [[f["code"], f["severity"], f["message"]] for f in leaks])
    ex.md(f"Verdict: {'READY' if rep['verdict']['ready'] else 'NOT READY'} — "
          f"{rep['verdict']['reasons'][0] if rep['verdict']['reasons'] else 'no reasons'}")
    code, out = attnlab("check-leakage", train, test, "--out", "leakage.json", expect=(0, 1))
    pairs = json.loads(open("leakage.json", encoding="utf-8").read())
    ex.md(f"`attnlab check-leakage train.csv test.csv` exits {code} (1 = leakage found); the start of its report:")
    ex.code("\n".join(out.splitlines()[:14]))
    assert leaks and not rep["verdict"]["ready"] and code == 1 and pairs["leakage_found"]

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
    ax.barh([r[0].strip() for r in rows][::-1], [float(r[2]) for r in rows][::-1], color=["#3a7", "#c63", "#347"])
    ax.set_xlim(min(float(r[2]) for r in rows) - 0.05, 1.0)
    ax.set_xlabel("test accuracy")
    ax.set_title("A naive split of duplicated data: memory scores too")
    ex.savefig(fig, "leakage.png")
    ex.finish()


if __name__ == "__main__":
    main(sys.argv[1:])
