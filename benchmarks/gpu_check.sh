#!/usr/bin/env bash
# Issue #9 GPU bars in one command, on one H100/H200, in under 5 minutes: benchmarks/encoder_speed.py at the BERT-base
# shape (12 layers, d_model 768, 12 heads, FFN 3072, vocab 30522), bf16, every case compared with its peer in the
# same process, then ONE table with the card's name:
#   attention 32x512      MultiHeadAttention fwd+bwd vs torch.nn.MultiheadAttention and raw SDPA   (bar >= 1.0x)
#   train 64x128          EncoderClassifier training tokens/s vs HF BertForSequenceClassification  (bar >= 1.5x)
#   train 32x512          the same                                                                  (bar >= 1.2x)
#   varlen 32 x <=512     log-normal lengths, median 60: real tokens/s, ours packed vs HF padded   (bar >= 3x)
#   train 64x128 compiled both models under torch.compile (last: the slowest to start)
# Each case runs in its own process under a hard timeout (a case that overruns or fails is reported and the
# others still count); inside, a soft budget stops adding timing rounds. Case JSON files go to $OUT (the device
# tool's result folder) or ./benchmarks/out/gpu-check/.
#
# Through the device tool (attnlab is not installed there: src/ goes on PYTHONPATH; python3 there has torch and
# transformers), from the repository root; the hard timeouts add up to 290 s:
#     run(command="bash benchmarks/gpu_check.sh", timeout_s=330)
# Extra arguments go to every case; a CPU smoke run of the script itself (timings meaningless):
#     DEVICE=cpu PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh --tiny
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
out_dir=${OUT:-benchmarks/out/gpu-check}
mkdir -p "$out_dir"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>/dev/null || true
bench=(benchmarks/encoder_speed.py --device "${DEVICE:-cuda}" --shape bert-base --warmup 3 --steps 10 --rounds 5)
extra=("$@")

run_case() {  # run_case NAME HARD_TIMEOUT_S ARGS...
    local name=$1 limit=$2
    shift 2
    local start=$SECONDS
    timeout "$limit" "$py" "${bench[@]}" --json "$out_dir/$name.json" "$@" "${extra[@]}" > "$out_dir/$name.log" 2>&1
    local rc=$?
    echo "case $name: exit $rc after $((SECONDS - start)) s (limit $limit s)$([ $rc = 124 ] && echo ' TIMED OUT')"
    [ $rc = 0 ] || tail -n 5 "$out_dir/$name.log"
}

run_case attention-32x512 35 --case attention --batch 32 --seq-len 512 --budget-s 10
run_case train-64x128 45 --case train --batch 64 --seq-len 128 --budget-s 12
run_case train-32x512 45 --case train --batch 32 --seq-len 512 --budget-s 12
run_case varlen-32 50 --case varlen --batch 32 --seq-len 512 --median-len 60 --budget-s 15
run_case train-64x128-compiled 115 --case train --batch 64 --seq-len 128 --compile --warmup 3 --rounds 3 --budget-s 10
echo
"$py" benchmarks/encoder_speed.py --table "$out_dir"/attention-32x512.json "$out_dir"/train-64x128.json \
    "$out_dir"/train-32x512.json "$out_dir"/varlen-32.json "$out_dir"/train-64x128-compiled.json
