"""Choosing an operating point: high recall (medical-style) vs high precision (spam-style).

A classifier gives a score; the threshold that turns it into a decision is a choice, and the right one
depends on what an error costs. Screening for a disease, a missed case is the expensive error: ask for high
recall (``--target-recall``). Filtering spam, a real message thrown away is the expensive error: ask for high
precision (``--target-precision``). The example trains a small attention model on the embedded SMS-spam
data, chooses both thresholds on the **validation** split (``attnlab evaluate --target-recall 0.98`` /
``--target-precision 0.99``), then applies each, fixed, to the **test** split (``--threshold T``): a threshold
tuned on the test split would report a score it cannot deliver (attnlab's finding
``threshold_tuned_on_evaluated_file`` says so when you do).
"""

from __future__ import annotations

import json
import sys

from _common import SMALL_MODEL, Example, attnlab, sms_subset, write_csv

TARGET_RECALL, TARGET_PRECISION = 0.98, 0.99


def validation_predictions(run: str, path: str) -> str:
    """The run's validation split (rebuilt from its config, fingerprint-checked) scored by its model."""
    from attnlab.config import RunConfig
    from attnlab.recipes.predict import predict
    from attnlab.recipes.run_data import load_run_splits

    cfg = RunConfig.from_dict(json.loads(open(f"{run}/config.json", encoding="utf-8").read())["config"])
    split = load_run_splits(run, cfg)
    labels, proba = predict(run, split.texts["val"])
    rows = [[gold, labels[int(p.argmax())], *(round(float(x), 6) for x in p)]
            for gold, p in zip(split.labels["val"], proba)]
    write_csv(path, ["label", "prediction", *(f"p_{lab}" for lab in labels)], rows)
    return path


def _with_ci(value: float | None, ci: list | None) -> str:
    if value is None:
        return "undefined (0/0: nothing flagged)"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else " (no interval)")


def evaluate(path: str, out: str, *flags: object) -> dict:
    attnlab("evaluate", path, "--positive", "spam", "--out", out, *flags)
    return json.loads(open(out, encoding="utf-8").read())


def main(argv: list[str] | None = None) -> None:
    ex = Example(__doc__, argv)
    data = sms_subset("sms.csv", 800 if ex.fast else None)
    attnlab("train", data, "--out", "run", *SMALL_MODEL, "--epochs", 1 if ex.fast else 4, "--positive", "spam")
    val = validation_predictions("run", "val_predictions.csv")

    rows, points = [], {}
    for name, flag, target in [("default (argmax, 0.5)", None, None),
                               ("high recall (medical-style)", "--target-recall", TARGET_RECALL),
                               ("high precision (spam-style)", "--target-precision", TARGET_PRECISION)]:
        threshold = 0.5
        if flag:
            chosen = evaluate(val, f"val{flag}.json", flag, target)["threshold"]
            threshold = chosen["value"]
        test = evaluate("run/predictions.csv", f"test{flag or ''}.json", "--score-column", "p_spam",
                        "--threshold", threshold)
        spam, iv, b = test["metrics"]["per_class"]["spam"], test["intervals"], test["binary"]
        ci = {k: iv.get(f"per_class.spam.{k}") for k in ("precision", "recall")}
        rows.append([name, f"{flag} {target}" if flag else "—", f"{threshold:.4f}",
                     *(_with_ci(spam[k], ci[k]) for k in ("precision", "recall")), b["fn"], b["fp"]])
        points[name] = (spam["recall"], spam["precision"])
    curves = test["curves"]

    ex.md(f"Thresholds chosen on the validation split ({len(open(val).readlines()) - 1} messages), "
          f"then applied unchanged to the test split ({test['n']} messages, {test['binary']['tp'] + test['binary']['fn']} spam):")
    ex.table(["operating point", "chosen with", "threshold on p(spam)", "test precision [95% CI]",
              "test recall [95% CI]", "spam missed (FN)", "ham flagged (FP)"], rows)
    (_, _, _, _, _, fn0, fp0), (_, _, t_rec, _, _, fn_rec, fp_rec), (_, _, t_prec, _, _, fn_prec, fp_prec) = rows
    ex.md(f"Lowering the threshold to {t_rec} (high recall) flags {fp_rec} ham messages to miss {fn_rec} spam; "
          f"raising it to {t_prec} (high precision) flags {fp_prec} ham and misses {fn_prec} spam; the default "
          f"threshold misses {fn0} and flags {fp0}. The recall target is set by the few validation spams the model "
          "scores lowest: insuring against such messages is what the extra false alarms buy.")
    ex.md("The validation target is not a promise on the test split: a recall target met on validation can be "
          "missed on test by a few examples (see the interval). Where a missed case is costly, set the target "
          "above what you need, check the test interval's lower end, and gate the model with "
          "`attnlab check --min-recall spam=R`.")

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.2), layout="constrained")
    ax.step(curves["pr"]["recall"], curves["pr"]["precision"], where="post", c="#347", label="test PR curve")
    for (name, (r, p)), marker in zip(points.items(), "osD"):
        if r is not None and p is not None:
            ax.plot(r, p, marker, ms=9, label=name)
    ax.set_xlabel("recall (spam caught)")
    ax.set_ylabel("precision (flagged that are spam)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("One model, three operating points")
    ex.savefig(fig, "operating_points.png")
    ex.finish()


if __name__ == "__main__":
    main(sys.argv[1:])
