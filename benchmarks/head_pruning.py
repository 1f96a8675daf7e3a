"""Bar check for head pruning (issue #8): prune the 50% least important heads of the default SMS model.

Trains the default SMS-spam model exactly as `attnlab run` does (tiny preset, embedded data, seed 0; fresh
process) or reuses a run directory, then runs the `attnlab prune` recipe in this process: gradient importance
on validation (Michel et al. 2019, iterative), real pruning, paired bootstrap test of spam F1 on the test split
and CPU inference timed alternately for both models in this same process. Bars: spam F1 within 0.02 of the
unpruned model, and a measurable CPU inference speed-up (95% interval of the median speed-up above 1).

    OMP_NUM_THREADS=2 python benchmarks/head_pruning.py [--run RUN_DIR] [--fraction 0.5] [--json out.json] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def train_default(out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "attnlab", "run", "--out", str(out)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def summarise(report: dict, seconds_train: float | None, seconds_prune: float) -> dict:
    pr = report["pruning"]
    spam = pr["test"]["paired"]["positive_f1"]
    sp, s = pr["speed"]["speedup"], pr["speed"]["seconds"]
    n = pr["speed"]["n_examples"]
    return {"machine": f"{platform.machine()} CPU, {os.cpu_count()} cores", "threads": pr["speed"]["threads"],
            "fraction": pr["fraction"], "heads_removed": pr["heads_removed"], "n_heads": pr["n_heads"],
            "spam_f1_unpruned": spam["baseline"], "spam_f1_pruned": spam["system"], "spam_f1_difference": spam["difference"],
            "spam_f1_ci": [spam["low"], spam["high"]], "spam_f1_p": spam["p_value"],
            "accuracy": pr["test"]["paired"]["accuracy"], "macro_f1": pr["test"]["paired"]["macro_f1"],
            "throughput_unpruned": n / s["unpruned"]["median"], "throughput_pruned": n / s["pruned"]["median"],
            "speedup_median": sp["median"], "speedup_ci": [sp["low"], sp["high"]], "speedup_measurable": sp["measurable"],
            "timing_repeats": pr["speed"]["repeats"], "n_test": n, "params": pr["params"],
            "curve_test_spam_f1": [(p["fraction_removed"], p["test"]["positive_f1"]) for p in pr["curve"]["points"]],
            "seconds_train": seconds_train, "seconds_prune": seconds_prune}


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="reuse this run directory instead of training the default model")
    ap.add_argument("--fraction", type=float, default=0.5)
    ap.add_argument("--min-heads-per-layer", type=int, default=0)
    ap.add_argument("--no-normalize", action="store_true", help="rank raw importance (no per-layer L2 normalisation)")
    ap.add_argument("--repeats", type=int, default=21, help="interleaved timing repeats")
    ap.add_argument("--json", help="write the summary here")
    ap.add_argument("--check", action="store_true", help="exit 1 if a bar is missed")
    args = ap.parse_args(argv)
    from attnlab.recipes.prune import PruneOptions, prune_run

    with tempfile.TemporaryDirectory() as tmp:
        run, seconds_train = (Path(args.run), None) if args.run else (Path(tmp) / "run", None)
        if not args.run:
            seconds_train = train_default(run)
        t0 = time.perf_counter()
        report = prune_run(run, PruneOptions(fraction=args.fraction, out=str(Path(tmp) / "pruned"),
                                             min_heads_per_layer=args.min_heads_per_layer,
                                             normalize=not args.no_normalize, timing_repeats=args.repeats))
        r = summarise(report, seconds_train, time.perf_counter() - t0)
    ci, sci = r["spam_f1_ci"], r["speedup_ci"]
    print(f"machine: {r['machine']}, torch threads {r['threads']}; test rows {r['n_test']}")
    print(f"removed {len(r['heads_removed'])}/{r['n_heads']} heads: {r['heads_removed']}")
    print(f"spam F1: unpruned {r['spam_f1_unpruned']:.4f}, pruned {r['spam_f1_pruned']:.4f}, difference "
          f"{r['spam_f1_difference']:+.4f} (95% CI [{ci[0]:+.4f}, {ci[1]:+.4f}], p={r['spam_f1_p']:.3f})")
    print(f"CPU inference: {r['throughput_unpruned']:.0f} -> {r['throughput_pruned']:.0f} examples/s, speed-up "
          f"x{r['speedup_median']:.3f} (95% CI [{_num(sci[0])}, {_num(sci[1])}], {r['timing_repeats']} interleaved repeats; "
          f"measurable: {r['speedup_measurable']})")
    p = r["params"]
    print(f"parameters: {p['before']:,} -> {p['after']:,} (-{p['removed']:,})")
    print("pruning curve (test spam F1): " + ", ".join(f"{f:.0%}: {v:.3f}" for f, v in r["curve_test_spam_f1"]))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n")
    within = abs(r["spam_f1_difference"]) <= 0.02
    print(f"bar spam F1 within 0.02: {'met' if within else 'NOT met'}; measurable speed-up: "
          f"{'met' if r['speedup_measurable'] else 'NOT met'}")
    return 1 if args.check and not (within and r["speedup_measurable"]) else 0


if __name__ == "__main__":
    sys.exit(main())
