#!/usr/bin/env bash
# Issue #7 GPU bar in one command: benchmarks/translation_gpu.py (attnlab generate vs HF MarianMTModel.generate,
# Marian-base shape, bf16, batch 64, source 32, exactly 64 new tokens, greedy and beam 4) on one H100/H200.
# Prints one table; writes the JSON to $OUT (the device tool's result folder) or ./benchmarks/out/.
#
# Through the device tool (attnlab is not installed there: src/ goes on PYTHONPATH; python3 there has torch and
# transformers), from the repository root; the whole run takes about a minute, capped at 280 s here:
#     run(command="bash benchmarks/gpu_translation_check.sh", timeout_s=330)
# Extra arguments go to translation_gpu.py, e.g. `bash benchmarks/gpu_translation_check.sh --rounds 7`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
out_dir=${OUT:-benchmarks/out}
mkdir -p "$out_dir"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null || true
timeout 280 "$py" benchmarks/translation_gpu.py --device cuda --json "$out_dir/translation_gpu.json" "$@"
