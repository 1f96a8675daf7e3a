"""Run every gallery example and keep its outputs: ``python examples/run_all.py --out docs/gallery [--fast]``.

``make examples`` runs this in full mode to regenerate the outputs the documentation shows (docs/gallery/NAME/:
output.md and the figures); the test suite runs each example in fast mode (tests/test_examples.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def examples() -> list[Path]:
    """The gallery, in order: examples/NN_name.py."""
    return sorted(p for p in HERE.glob("[0-9][0-9]_*.py"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder that receives one subfolder per example")
    parser.add_argument("--fast", action="store_true", help="small data, tiny models")
    parser.add_argument("names", nargs="*", help="only these examples (e.g. 03_accuracy_paradox)")
    args = parser.parse_args(argv)
    failed = []
    for script in examples():
        if args.names and script.stem not in args.names:
            continue
        out = Path(args.out) / script.stem
        tmp = out.with_name(f".{script.stem}.partial")
        shutil.rmtree(tmp, ignore_errors=True)
        start = time.perf_counter()
        cmd = [sys.executable, str(script), "--out", str(tmp), *(["--fast"] if args.fast else [])]
        code = subprocess.call(cmd, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
        print(f"== {script.name}: exit {code} in {time.perf_counter() - start:.0f} s", flush=True)
        if code:
            failed.append(script.name)
            shutil.rmtree(tmp, ignore_errors=True)
            continue
        shutil.rmtree(out, ignore_errors=True)  # replaced whole, so no stale figure survives
        tmp.rename(out)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
