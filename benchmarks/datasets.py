"""Every built-in classification dataset, trained with its preset, beside its baselines; checks the bars.

For each dataset: ``attnlab train NAME`` (its tuned preset from ``attnlab.config.DATASET_PRESETS``; the
data is fetched into the cache on first use), then the key numbers are read back from the run's
report.json: the bar metric of the attention model, of the TF-IDF + logistic-regression baseline and of
the majority baseline (all on the same test split), and the wall time of the whole run (training,
evaluation, baselines, report).

Bars (issue #6): SMS spam spam-F1 >= 0.92; TREC coarse accuracy >= 0.85; movie sentences accuracy >= 0.72;
20 Newsgroups (official test) accuracy >= 0.75; each within 2 points of TF-IDF or above; each <= 15 minutes
on a 2-core CPU. A missed bar is printed as such (exit 1), never hidden.

Usage:
    python benchmarks/datasets.py                          # all four, one after the other
    python benchmarks/datasets.py --only trec --out bench-runs
    python benchmarks/datasets.py --table-only --out bench-runs   # the table from finished runs
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from attnlab.baselines.report import metric_at

#: dataset -> (bar metric path, display name, minimum)
BARS = {
    "sms-spam": ("per_class.spam.f1", "spam F1", 0.92),
    "trec": ("accuracy", "accuracy", 0.85),
    "movie-sentences": ("accuracy", "accuracy", 0.72),
    "20newsgroups": ("accuracy", "accuracy", 0.75),
}
WITHIN_TFIDF = 0.02
MAX_SECONDS = 15 * 60


def run_one(name: str, out: Path, extra: list[str]) -> dict[str, Any]:
    run_dir = out / name
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "attnlab", "train", name, "--out", str(run_dir), *extra],
                          stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name}: attnlab train exited with {proc.returncode}")
    row = summarise(name, json.loads((run_dir / "report.json").read_text()), seconds)
    (out / f"{name}.bench.json").write_text(json.dumps(row, indent=2))
    return row


def summarise(name: str, report: dict[str, Any], seconds: float) -> dict[str, Any]:
    path, metric_name, bar = BARS[name]
    section = report["baselines"]
    attention = metric_at(report["metrics"], path)
    tfidf = metric_at(section["tfidf_logreg"]["metrics"], path)
    majority = metric_at(section["majority"]["metrics"], path)
    test = section["comparison"]["paired_bootstrap"].get(path) or {}
    cfg = report["run"]["config"]
    return {"dataset": name, "metric": metric_name, "attention": attention, "tfidf_logreg": tfidf,
            "majority": majority, "p_value": test.get("p_value"), "seconds": round(seconds, 1),
            "train_seconds": report["run"]["training"]["seconds"], "epochs_run": report["run"]["training"]["epochs_run"],
            "n_test": report["n"], "preset": cfg["preset"], "model": cfg["model"], "train": cfg["train"],
            "bar": bar, "meets_bar": attention is not None and attention >= bar,
            "within_tfidf": attention is not None and tfidf is not None and attention >= tfidf - WITHIN_TFIDF,
            "in_time": seconds <= MAX_SECONDS,
            "findings": [f["code"] for f in report.get("findings", [])]}


def print_table(rows: list[dict[str, Any]]) -> bool:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="attnlab datasets benchmark (test split)", header_style="bold")
    for col in ("dataset", "key metric", "attention", "TF-IDF+LR", "majority", "p (boot.)", "time", "bar",
                "≤2 pts of TF-IDF", "≤15 min"):
        table.add_column(col, justify="left" if col in ("dataset", "key metric") else "right")
    ok = True

    def fmt(v: Any) -> str:
        return "—" if v is None else f"{v:.4f}"

    for r in rows:
        ok &= r["meets_bar"] and r["within_tfidf"] and r["in_time"]
        table.add_row(r["dataset"], r["metric"], fmt(r["attention"]), fmt(r["tfidf_logreg"]), fmt(r["majority"]),
                      "—" if r["p_value"] is None else f"{r['p_value']:.3g}", f"{r['seconds'] / 60:.1f} min",
                      f"{'ok' if r['meets_bar'] else 'MISSED'} (≥{r['bar']})",
                      "ok" if r["within_tfidf"] else "NO", "ok" if r["in_time"] else "NO")
    Console(width=140).print(table)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=list(BARS), help="run only this dataset (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("bench-runs"), help="folder for the run directories")
    parser.add_argument("--table-only", action="store_true", help="print the table of finished runs in --out")
    args, extra = parser.parse_known_args(argv)  # unknown flags go to `attnlab train` (e.g. --epochs 3)
    args.out.mkdir(parents=True, exist_ok=True)
    names = args.only or list(BARS)
    if not args.table_only:
        for name in names:
            row = run_one(name, args.out, extra)
            print(f"{name}: {row['metric']} {row['attention']:.4f} (TF-IDF {row['tfidf_logreg']:.4f}) "
                  f"in {row['seconds']:.0f} s", flush=True)
    rows = [json.loads((args.out / f"{n}.bench.json").read_text()) for n in names
            if (args.out / f"{n}.bench.json").exists()]
    return 0 if print_table(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
