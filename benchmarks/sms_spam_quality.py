"""Bar check for the main job: `attnlab run` on the embedded SMS-spam data.

Runs the real command line end to end (fresh process, default preset) for several seeds, and reports
wall-clock time and the spam-class F1 / recall on the held-out test split, plus the majority-class
accuracy for context. Bars (issue #2): spam F1 >= 0.92, spam recall >= 0.88, end to end <= 180 s.

    python benchmarks/sms_spam_quality.py [--seeds 0,1,2] [--check]
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


def run_once(seed: int, out: Path, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "attnlab", "run", "--out", str(out), *extra]
    if seed != 0:
        cmd += ["--seed", str(seed)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    report = json.loads((out / "report.json").read_text())
    spam = report["metrics"]["per_class"]["spam"]
    counts = report["run"]["data"]["label_counts"]["test"]
    return {"seed": seed, "seconds": seconds, "spam_f1": spam["f1"], "spam_recall": spam["recall"],
            "spam_precision": spam["precision"], "accuracy": report["metrics"]["accuracy"],
            "majority_accuracy": max(counts.values()) / sum(counts.values()),
            "best_epoch": report["run"]["training"]["best_epoch"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--args", default="", help="extra `attnlab run` flags, e.g. '--lr 5e-4'")
    ap.add_argument("--check", action="store_true", help="exit 1 if a bar is missed (seed 0 = the default run)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in map(int, args.seeds.split(",")):
            rows.append(run_once(seed, Path(tmp) / f"seed{seed}", args.args.split()))
            r = rows[-1]
            print(f"seed {seed}: {r['seconds']:.1f} s  spam F1 {r['spam_f1']:.4f}  recall {r['spam_recall']:.4f}  "
                  f"precision {r['spam_precision']:.4f}  accuracy {r['accuracy']:.4f} "
                  f"(majority {r['majority_accuracy']:.4f})  best epoch {r['best_epoch']}", flush=True)
    for key in ("spam_f1", "spam_recall", "seconds"):
        values = [r[key] for r in rows]
        print(f"{key}: mean {sum(values) / len(values):.4f}  min {min(values):.4f}  max {max(values):.4f}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    default = next((r for r in rows if r["seed"] == 0), rows[0])
    ok = default["spam_f1"] >= 0.92 and default["spam_recall"] >= 0.88 and default["seconds"] <= 180
    print(f"bars (default run): spam F1 >= 0.92, recall >= 0.88, <= 180 s -> {'PASS' if ok else 'FAIL'}")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main())
