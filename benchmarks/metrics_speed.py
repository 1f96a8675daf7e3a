"""Metrics engine speed: attnlab vs scikit-learn and torchmetrics on the same arrays, in one process.

1. Binary, N predictions with float32 scores: confusion matrix, per-class precision/recall/F1, ROC-AUC,
   average precision, ROC and precision-recall curves (exact, every distinct threshold).
   scikit-learn: classification_report + confusion_matrix + roc_auc_score + average_precision_score +
   roc_curve + precision_recall_curve. torchmetrics: the functional binary_/multiclass_ equivalents on CPU
   tensors. attnlab: ConfusionMatrixState + ScoreCurveState ("same metrics"), and, for information, the
   whole ClassificationEvaluator report (also MCC, kappa, log loss, Brier, ECE, signatures) + curves.
2. Multiclass, N predictions, C classes: confusion matrix + full per-class report. scikit-learn:
   classification_report; attnlab: ClassificationEvaluator (whole report).

Each tool runs --repeats times (median reported, tools interleaved so machine noise hits all alike).
Values are checked against scikit-learn (within 1e-9) before any timing is printed. Bars: binary ≥ 5x
scikit-learn and ≥ 2x torchmetrics; multiclass ≥ 20x scikit-learn. Exit 1 if a check or bar fails.

Usage:
    python benchmarks/metrics_speed.py                 # 10M rows, 3 repeats
    python benchmarks/metrics_speed.py --n 1000000 --repeats 5

Needs scikit-learn and torchmetrics (``pip install attnlab[bench]``); installs nothing itself.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from attnlab.metrics import ClassificationEvaluator, ConfusionMatrixState, ScoreCurveState

BARS = {("binary", "scikit-learn"): 5.0, ("binary", "torchmetrics"): 2.0, ("multiclass", "scikit-learn"): 20.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000_000, help="predictions per task")
    p.add_argument("--classes", type=int, default=20, help="classes of the multiclass task")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def make_data(n: int, n_classes: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    score = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0.0, 1.0).astype(np.float32)  # model-like float32 scores
    my = np.minimum(rng.geometric(0.15, n) - 1, n_classes - 1).astype(np.int64)  # skewed class sizes
    mpred = np.where(rng.random(n) < 0.7, my, rng.integers(0, n_classes, n))
    return {"y": y, "score": score, "pred": (score >= 0.5).astype(np.int64), "my": my, "mpred": mpred}


# --------------------------------------------------------------------------- the tools


def sklearn_binary(d: dict[str, np.ndarray]) -> dict[str, Any]:
    from sklearn import metrics as skm

    y, s, p = d["y"], d["score"], d["pred"]
    return {"report": skm.classification_report(y, p, output_dict=True, zero_division=np.nan),
            "cm": skm.confusion_matrix(y, p), "auc": skm.roc_auc_score(y, s),
            "ap": skm.average_precision_score(y, s), "roc": skm.roc_curve(y, s), "pr": skm.precision_recall_curve(y, s)}


def torchmetrics_binary(d: dict[str, Any]) -> dict[str, Any]:
    from torchmetrics.functional import classification as tmf

    y, s, p = d["y_t"], d["score_t"], d["pred_t"]
    return {"cm": tmf.binary_confusion_matrix(s, y),
            "prf": [f(p, y, num_classes=2, average=None) for f in
                    (tmf.multiclass_precision, tmf.multiclass_recall, tmf.multiclass_f1_score)],
            "auc": tmf.binary_auroc(s, y), "ap": tmf.binary_average_precision(s, y),
            "roc": tmf.binary_roc(s, y), "pr": tmf.binary_precision_recall_curve(s, y)}


def attnlab_binary(d: dict[str, np.ndarray]) -> dict[str, Any]:
    cm = ConfusionMatrixState([0, 1])
    cm.update(d["y"], d["pred"])
    curve = ScoreCurveState()
    curve.update(d["y"] == 1, d["score"])
    return {"metrics": cm.compute(), "cm": cm.matrix, "auc": curve.roc_auc(), "ap": curve.average_precision(),
            "roc": curve.roc_curve(), "pr": curve.precision_recall_curve()}


def attnlab_binary_full(d: dict[str, np.ndarray]) -> dict[str, Any]:
    ev = ClassificationEvaluator([0, 1], positive_label=1, proba=True)
    ev.update(d["y"], d["pred"], proba=d["score"])
    return {"report": ev.compute(), "roc": ev.curve().roc_curve(), "pr": ev.curve().precision_recall_curve()}


def sklearn_multiclass(d: dict[str, np.ndarray]) -> dict[str, Any]:
    from sklearn import metrics as skm

    return skm.classification_report(d["my"], d["mpred"], output_dict=True, zero_division=np.nan)


def attnlab_multiclass(d: dict[str, np.ndarray], n_classes: int) -> dict[str, Any]:
    ev = ClassificationEvaluator(list(range(n_classes)))
    ev.update(d["my"], d["mpred"])
    return ev.compute()


# --------------------------------------------------------------------------- checks


def close(a: Any, b: Any, what: str, failures: list[str], tol: float = 1e-9) -> None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=tol, equal_nan=True):
        failures.append(f"{what}: attnlab {a.shape} vs reference {b.shape} differ beyond {tol:g}")


def check_per_class(ours: dict[str, Any], sk: dict[str, Any], labels: list[int], task: str, failures: list[str]) -> None:
    for lab in labels:
        row, ref = ours["per_class"][str(lab)], sk[str(lab)]
        for name, sk_name in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score"),
                              ("support", "support")):
            value = np.nan if row[name] is None else row[name]
            close(value, ref[sk_name], f"{task} per_class[{lab}].{name}", failures)
    for avg, sk_avg in (("macro", "macro avg"), ("weighted", "weighted avg")):
        for name, sk_name in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            close(ours[avg][name], sk[sk_avg][sk_name], f"{task} {avg}.{name}", failures)


def check_binary(ours: dict[str, Any], full: dict[str, Any], sk: dict[str, Any], tm: dict[str, Any] | None,
                 failures: list[str]) -> None:
    close(ours["cm"], sk["cm"], "binary confusion matrix", failures, tol=0)
    check_per_class(ours["metrics"], sk["report"], [0, 1], "binary", failures)
    for key in ("auc", "ap"):
        close(ours[key], sk[key], f"binary {key}", failures)
        if tm is not None:  # torchmetrics computes in float32: informational, loose tolerance
            close(ours[key], float(tm[key]), f"binary {key} vs torchmetrics", failures, tol=1e-4)
    for key in ("roc", "pr"):
        for i, (a, b) in enumerate(zip(ours[key], sk[key])):
            close(a, b, f"binary {key} curve array {i}", failures)
            close(full[key][i], b, f"binary full-report {key} curve array {i}", failures)
    m = full["report"]["metrics"]
    close(m["roc_auc"], sk["auc"], "binary full-report roc_auc", failures)
    close(m["average_precision"], sk["ap"], "binary full-report average_precision", failures)
    close(m["macro"]["f1"], sk["report"]["macro avg"]["f1-score"], "binary full-report macro f1", failures)


# --------------------------------------------------------------------------- timing


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run_all(tools: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, list[float]], dict[str, Any]]:
    times: dict[str, list[float]] = {name: [] for name in tools}
    results: dict[str, Any] = {}
    for _ in range(repeats):
        for name, fn in tools.items():  # interleaved rounds
            seconds, results[name] = timed(fn)
            times[name].append(seconds)
    return times, results


def table(task: str, times: dict[str, list[float]], baseline: str) -> list[tuple[str, str, float]]:
    base = statistics.median(times[baseline])
    print(f"\n{task}")
    print(f"  {'tool':34s} {'median s':>9s}  {'runs':28s} {'tool / attnlab':>14s}")
    ratios = []
    for name, runs in times.items():
        med = statistics.median(runs)
        ratio = med / base
        shown = " ".join(f"{r:.3f}" for r in runs)
        print(f"  {name:34s} {med:9.3f}  {shown:28s} {ratio:13.1f}x")
        ratios.append((task.split()[0], name.split(" ")[0], ratio))
    return ratios


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore")
    import sklearn
    import torch
    import torchmetrics

    print(f"metrics speed: n={args.n:,}, classes={args.classes}, repeats={args.repeats}, "
          f"{os.cpu_count()} CPU(s), torch threads {torch.get_num_threads()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, torchmetrics {torchmetrics.__version__}, "
          f"torch {torch.__version__}")
    d: dict[str, Any] = make_data(args.n, args.classes, args.seed)
    d.update(y_t=torch.from_numpy(d["y"]), score_t=torch.from_numpy(d["score"]), pred_t=torch.from_numpy(d["pred"]))

    failures: list[str] = []
    times, res = run_all({
        "scikit-learn": lambda: sklearn_binary(d),
        "torchmetrics": lambda: torchmetrics_binary(d),
        "attnlab (same metrics)": lambda: attnlab_binary(d),
        "attnlab (whole report + curves)": lambda: attnlab_binary_full(d),
    }, args.repeats)
    check_binary(res["attnlab (same metrics)"], res["attnlab (whole report + curves)"], res["scikit-learn"],
                 res["torchmetrics"], failures)
    ratios = table(f"binary, {args.n:,} rows: confusion matrix, per-class P/R/F1, ROC-AUC, AP, ROC + PR curves "
                   f"({len(res['attnlab (same metrics)']['roc'][0]):,} ROC points)", times, "attnlab (same metrics)")

    times, res = run_all({
        "scikit-learn": lambda: sklearn_multiclass(d),
        "attnlab (whole report)": lambda: attnlab_multiclass(d, args.classes),
    }, args.repeats)
    check_per_class(res["attnlab (whole report)"]["metrics"], res["scikit-learn"], list(range(args.classes)),
                    "multiclass", failures)
    ratios += table(f"multiclass, {args.n:,} rows, {args.classes} classes: confusion matrix + per-class report",
                    times, "attnlab (whole report)")

    print()
    ok = not failures
    for failure in failures:
        print(f"CHECK FAILED: {failure}")
    if ok:
        print("values: attnlab equals scikit-learn within 1e-9 (confusion matrices exactly)")
    for (task, tool), bar in BARS.items():
        ratio = next(r for t, name, r in ratios if t.startswith(task) and name == tool)
        passed = ratio >= bar
        ok &= passed
        print(f"bar {task:10s} vs {tool:13s}: {ratio:6.1f}x (need >= {bar:g}x)  {'PASS' if passed else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
