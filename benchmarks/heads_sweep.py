"""Bar check for the heads-count sweep (issue #8): `attnlab sweep sms-spam --heads 1,2,4,8` in <= 15 minutes.

Runs exactly that command (a fresh process, the default preset for sms-spam: tiny), timed on the wall clock,
then prints the sweep's tables and summary (the command's own output), the total time, the load average
before and after (the machine may be shared), and the bar.

    python benchmarks/heads_sweep.py [--out DIR] [--check]
    python benchmarks/heads_sweep.py --tiny      # smoke test on the 400-row fixture, seconds; timings mean nothing
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

BAR_SECONDS = 15 * 60
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sms_small.csv"
TINY = ["--d-model", "32", "--layers", "1", "--d-ff", "64", "--epochs", "1", "--vocab-size", "600", "--max-len", "48"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="keep the sweep directory here (default: a temporary folder, removed)")
    ap.add_argument("--check", action="store_true", help="exit 1 if the bar is missed")
    ap.add_argument("--tiny", action="store_true", help="smoke test: the 400-row fixture, a tiny model, 1 epoch")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "sweep"
        data, extra = (str(FIXTURE), TINY) if args.tiny else ("sms-spam", [])
        cmd = [sys.executable, "-m", "attnlab", "sweep", data, "--heads", "1,2,4,8", "--out", str(out), *extra]
        print("$ attnlab " + " ".join(cmd[3:]), flush=True)
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "120"})
        seconds = time.perf_counter() - t0
        load_after = os.getloadavg()
        print(proc.stdout, flush=True)
        if proc.returncode != 0:
            print(f"attnlab sweep failed with exit code {proc.returncode}", file=sys.stderr)
            return 1
        doc = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    print(f"total wall-clock time: {seconds:.1f} s ({seconds / 60:.2f} min); sweep's own count "
          f"{doc['seconds_total']:.1f} s; per run (child process): "
          + ", ".join(f"{r['heads']} heads {r['measurements']['child_seconds']:.0f} s (load average "
                      f"{' -> '.join(str(x) for x in r['measurements']['load_average_1min'])})" for r in doc["runs"]))
    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cores, torch threads "
          f"{doc['environment']['torch_threads']}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; "
          f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    ok = seconds <= BAR_SECONDS
    print(f"bar: <= {BAR_SECONDS / 60:.0f} min -> {'PASS' if ok else 'FAIL'}")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main())
