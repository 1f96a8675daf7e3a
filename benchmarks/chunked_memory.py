"""Chunked evaluation of a huge predictions file: time and peak memory of ``evaluate_file``.

Generates (in chunks, so generation stays small) a Parquet file of --rows predictions — ``label`` int8,
``prediction`` int8, ``score`` float32 rounded to 6 significant digits — into a temporary directory,
then evaluates it with ``attnlab.metrics.evaluate_file`` in a fresh subprocess that does nothing else,
and reports wall time and peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``). Generation runs in a
subprocess of its own and this driver imports nothing heavy: on Linux a child's ``ru_maxrss`` starts at
its parent's, so the evaluating process must be spawned from a small one. The confusion matrix is checked
against counts kept while generating. Bar: peak RSS <= 1.5 GB.

Usage:
    python benchmarks/chunked_memory.py                       # 100M rows
    python benchmarks/chunked_memory.py --rows 10000000 --chunk-rows 500000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PEAK_RSS_BAR_MB = 1536

EVALUATE = """
import json, resource, sys, time
from attnlab.metrics import evaluate_file
rss_after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
report = evaluate_file(sys.argv[1], label_column="label", pred_column="prediction", score_column="score",
                       positive_label=1, chunk_rows=int(sys.argv[2]))
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_after_import_mb": rss_after_import, "n": report["n"], "source": report["source"],
                  "matrix": report["confusion_matrix"]["matrix"], "labels": report["labels"],
                  "roc_auc": report["metrics"]["roc_auc"], "average_precision": report["metrics"]["average_precision"],
                  "log_loss": report["metrics"]["log_loss"], "f1_macro": report["metrics"]["macro"]["f1"]}))
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000_000)
    p.add_argument("--chunk-rows", type=int, default=1_000_000, help="rows per evaluate_file chunk")
    p.add_argument("--dir", default=None, help="where to write the file (default: a temporary directory)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--generate-only", metavar="PATH", help=argparse.SUPPRESS)  # internal: the generating child
    return p.parse_args(argv)


def round_significant(x: Any, digits: int) -> Any:
    """``x`` (positive entries) rounded to ``digits`` significant decimal digits; zeros stay zero."""
    import numpy as np

    out = np.zeros_like(x)
    nz = x > 0
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(x[nz])))
    out[nz] = np.round(x[nz] * scale) / scale
    return out


def generate(path: Path, rows: int, seed: int, block: int = 2_000_000) -> list[list[int]]:
    """Write the file block by block; return the (2, 2) confusion counts it holds."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    counts = np.zeros(4, dtype=np.int64)
    schema = pa.schema([("label", pa.int8()), ("prediction", pa.int8()), ("score", pa.float32())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, block):
            n = min(block, rows - start)
            label = (rng.random(n) < 0.3).astype(np.int8)
            score = np.clip(rng.normal(0.3 + 0.4 * label, 0.2), 0.0, 1.0)
            score = round_significant(score, 6).astype(np.float32)
            prediction = (score >= 0.5).astype(np.int8)
            counts += np.bincount(label.astype(np.int64) * 2 + prediction, minlength=4)
            writer.write_table(pa.table({"label": label, "prediction": prediction, "score": score}, schema=schema),
                               row_group_size=1_000_000)
    return counts.reshape(2, 2).tolist()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.generate_only:
        print(json.dumps(generate(Path(args.generate_only), args.rows, args.seed)))
        return 0
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "predictions.parquet"
        start = time.perf_counter()
        gen = subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--seed", str(args.seed),
                              "--generate-only", str(path)], capture_output=True, text=True, check=True)
        expected = json.loads(gen.stdout.strip().splitlines()[-1])
        gen_seconds = time.perf_counter() - start
        size_mb = path.stat().st_size / 2**20
        print(f"generated {args.rows:,} rows in {gen_seconds:.1f} s: {path.name}, {size_mb:.0f} MiB "
              "(label int8, prediction int8, score float32 with 6 significant digits)")
        proc = subprocess.run([sys.executable, "-c", EVALUATE, str(path), str(args.chunk_rows)],
                              capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if proc.returncode != 0:
            print(proc.stderr[-3000:])
            return 1
        r = json.loads(proc.stdout.strip().splitlines()[-1])
    ok_counts = r["matrix"] == expected and r["n"] == args.rows
    ok_rss = r["peak_rss_mb"] <= PEAK_RSS_BAR_MB
    src = r["source"]
    print(f"evaluate_file (chunk_rows={args.chunk_rows:,}, {src['chunks']} chunks) in a fresh process:")
    print(f"  time           {r['seconds']:.1f} s  ({args.rows / r['seconds'] / 1e6:.1f} M rows/s)")
    print(f"  peak RSS       {r['peak_rss_mb']:.0f} MiB  (after imports: {r['rss_after_import_mb']:.0f} MiB)")
    print(f"  exact curve    {src.get('distinct_scores')} distinct scores")
    print(f"  metrics        ROC-AUC {r['roc_auc']:.6f}, AP {r['average_precision']:.6f}, "
          f"log loss {r['log_loss']:.6f}, macro F1 {r['f1_macro']:.6f}")
    print(f"  confusion      {r['matrix']} {'== generator counts' if ok_counts else '!= generator counts ' + str(expected)}")
    print(f"bar peak RSS <= {PEAK_RSS_BAR_MB} MiB: {'PASS' if ok_rss else 'FAIL'}")
    return 0 if ok_counts and ok_rss else 1


if __name__ == "__main__":
    sys.exit(main())
