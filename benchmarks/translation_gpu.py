"""GPU decoding throughput: attnlab's ``generate`` vs Hugging Face ``MarianMTModel.generate``, same shape, bf16.

Both models get the Marian-base shape (6+6 layers, d_model 512, 8 heads, FFN 2048, vocab 32k, shared
embeddings), random weights, cast to bfloat16 with ``.to(torch.bfloat16)`` (both score log-probabilities in
float32). One batch of random sources (``--batch-size`` x ``--src-len``, no padding) is translated into
exactly ``--max-new-tokens`` tokens: HF with ``min_new_tokens = max_new_tokens`` (``</s>`` suppressed) and no
forced ``</s>``; attnlab with an ``</s>`` id no step can produce (the vocabulary size). Greedy and beam 4
(length penalty 1.0 on both sides); the encoder is included in the timing. Each variant is warmed up, then
the models alternate over ``--rounds`` rounds (order reversed every other round), each timed over
``--repeats`` ``generate`` calls between ``torch.cuda.synchronize()``; medians are reported as
sentences/s.

Bar (issue #7): attnlab >= 2x HF sentences/s, greedy and beam 4 (the issue quotes HF at about 190
sentences/s greedy and 119 beam-4 on an H200). A missed bar is printed as such; ``--check`` also makes it
exit 1.

Usage:
    python benchmarks/translation_gpu.py --json translation-gpu.json      # on a CUDA machine
    bash benchmarks/gpu_translation_check.sh                              # the same, on a device machine
    python benchmarks/translation_gpu.py --tiny --device cpu              # seconds: smoke test of the script

Needs ``transformers`` (``pip install attnlab[bench]``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from attnlab.models.generate import generate
from attnlab.models.seq2seq import Seq2SeqTransformer

BAR = 2.0  # attnlab sentences/s over HF's, greedy and beam
PAD, BOS, EOS = 0, 2, 3  # attnlab's subword ids; HF gets the same pad/start/eos
MARIAN = {"vocab_size": 32000, "d_model": 512, "n_heads": 8, "n_layers": 6, "d_ff": 2048}
TINY = {"vocab_size": 500, "d_model": 32, "n_heads": 2, "n_layers": 1, "d_ff": 64}
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", help="torch device (default cuda)")
    p.add_argument("--dtype", default="bf16", choices=list(DTYPES), help="weights of both models")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--src-len", type=int, default=32)
    p.add_argument("--max-new-tokens", type=int, default=64, help="tokens generated per source (exactly)")
    p.add_argument("--beam-size", type=int, default=4)
    p.add_argument("--warmup", type=int, default=2, help="untimed generate calls per variant")
    p.add_argument("--repeats", type=int, default=3, help="timed generate calls per variant per round")
    p.add_argument("--rounds", type=int, default=5, help="rounds; medians are reported")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true", help="a tiny shape, batch 4, sources of 8, 8 new tokens, "
                   "1 round of 1 call (smoke test of the script on CPU)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON")
    p.add_argument("--check", action="store_true", help=f"exit 1 if attnlab / HF is below {BAR}x")
    args = p.parse_args(argv)
    if args.tiny:
        args.batch_size, args.src_len, args.max_new_tokens = 4, 8, 8
        args.warmup, args.repeats, args.rounds = 1, 1, 1
    return args


def build_attnlab(shape: dict[str, int], max_len: int) -> Seq2SeqTransformer:
    return Seq2SeqTransformer(src_vocab_size=shape["vocab_size"], tgt_vocab_size=shape["vocab_size"],
                              d_model=shape["d_model"], n_heads=shape["n_heads"], n_encoder_layers=shape["n_layers"],
                              n_decoder_layers=shape["n_layers"], d_ff=shape["d_ff"], max_len=max_len,
                              dropout=0.0, pad_id=PAD, tie_embeddings="all")


def build_hf(shape: dict[str, int], max_len: int) -> torch.nn.Module:
    from transformers import MarianConfig, MarianMTModel
    from transformers.utils import logging

    logging.set_verbosity_error()
    config = MarianConfig(vocab_size=shape["vocab_size"], d_model=shape["d_model"],
                          encoder_layers=shape["n_layers"], decoder_layers=shape["n_layers"],
                          encoder_attention_heads=shape["n_heads"], decoder_attention_heads=shape["n_heads"],
                          encoder_ffn_dim=shape["d_ff"], decoder_ffn_dim=shape["d_ff"],
                          max_position_embeddings=max_len, pad_token_id=PAD, decoder_start_token_id=BOS,
                          eos_token_id=EOS, forced_eos_token_id=None, dropout=0.0, attention_dropout=0.0,
                          activation_dropout=0.0)
    return MarianMTModel(config)


def make_runners(args: argparse.Namespace, shape: dict[str, int]) -> tuple[dict[str, Callable[[], int]], str]:
    """``{variant: call}`` for the four variants; each call returns how many sentences came back full length."""
    device, dtype, n_new = torch.device(args.device), DTYPES[args.dtype], args.max_new_tokens
    max_len = max(args.src_len, n_new + 1)
    torch.manual_seed(args.seed)
    ours = build_attnlab(shape, max_len).to(device=device, dtype=dtype).eval()
    hf = build_hf(shape, max(max_len, 512)).to(device=device, dtype=dtype).eval()
    src = torch.randint(4, shape["vocab_size"], (args.batch_size, args.src_len), device=device)  # (B, S)
    mask = torch.ones_like(src)  # (B, S): no padding
    never = shape["vocab_size"]  # an </s> no step can produce: exactly n_new tokens

    def attnlab_call(beam: int) -> Callable[[], int]:
        def call() -> int:
            out = generate(ours, src, mask, bos_id=BOS, eos_id=never, max_new_tokens=n_new, beam_size=beam)
            return sum(len(t) == n_new for t in out.tokens)
        return call

    def hf_call(beam: int) -> Callable[[], int]:
        beam_kw = {"num_beams": beam, **({"length_penalty": 1.0, "early_stopping": False} if beam > 1 else {})}

        def call() -> int:
            out = hf.generate(input_ids=src, attention_mask=mask, max_new_tokens=n_new, min_new_tokens=n_new,
                              do_sample=False, **beam_kw)
            # (B, 1 + n_new): decoder start + the new tokens; </s> is suppressed, so no sequence ends early
            return int((out[:, 1:] != EOS).all(dim=1).sum()) if out.size(1) == n_new + 1 else 0
        return call

    runners = {"attnlab greedy": attnlab_call(1), "hf greedy": hf_call(1),
               f"attnlab beam{args.beam_size}": attnlab_call(args.beam_size),
               f"hf beam{args.beam_size}": hf_call(args.beam_size)}
    return runners, hf.config._attn_implementation


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(call: Callable[[], int], repeats: int, device: torch.device) -> tuple[float, int]:
    """Seconds per call over ``repeats`` calls (synchronised), and the fewest full-length outputs of a call."""
    sync(device)
    start = time.perf_counter()
    full = min(call() for _ in range(repeats))
    sync(device)
    return (time.perf_counter() - start) / repeats, full


def run(args: argparse.Namespace, runners: dict[str, Callable[[], int]]) -> dict[str, Any]:
    device = torch.device(args.device)
    with torch.no_grad():
        for call in runners.values():
            for _ in range(args.warmup):
                call()
        seconds: dict[str, list[float]] = {v: [] for v in runners}
        full = {v: args.batch_size for v in runners}
        pairs = [v for v in runners if v.startswith("attnlab")]
        for r in range(args.rounds):
            for ours in pairs:  # alternate who goes first, per decoding mode
                order = [ours, ours.replace("attnlab", "hf")]
                for v in order if r % 2 == 0 else reversed(order):
                    s, n = timed(runners[v], args.repeats, device)
                    seconds[v].append(s)
                    full[v] = min(full[v], n)
    return {"seconds": seconds, "full_length": full}


def summarise(args: argparse.Namespace, shape: dict[str, int], attn_impl: str, res: dict[str, Any]) -> dict[str, Any]:
    import transformers

    device = torch.device(args.device)
    med = {v: statistics.median(s) for v, s in res["seconds"].items()}
    sps = {v: args.batch_size / s for v, s in med.items()}
    modes = [v.split(" ", 1)[1] for v in res["seconds"] if v.startswith("attnlab")]
    ratio = {m: sps[f"attnlab {m}"] / sps[f"hf {m}"] for m in modes}
    paired = {m: statistics.median(h / a for a, h in zip(res["seconds"][f"attnlab {m}"], res["seconds"][f"hf {m}"]))
              for m in modes}
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return {"benchmark": "translation_gpu", "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version(), "device": str(device), "device_name": gpu, "dtype": args.dtype,
            "hf_attn_implementation": attn_impl, "weights": "random (each library's own init)", "seed": args.seed,
            "shape": shape, "tiny": args.tiny, "batch_size": args.batch_size, "src_len": args.src_len,
            "max_new_tokens": args.max_new_tokens, "beam_size": args.beam_size, "warmup": args.warmup,
            "repeats": args.repeats, "rounds": args.rounds, "seconds_per_call": res["seconds"],
            "median_seconds": med, "sentences_per_s": sps, "ratio": ratio, "ratio_paired": paired,
            "full_length": res["full_length"], "bar": BAR, "meets_bar": all(r >= BAR for r in ratio.values())}


def report(doc: dict[str, Any]) -> None:
    s = doc["shape"]
    print(f"torch {doc['torch']} | transformers {doc['transformers']} | {doc['device_name']} | {doc['dtype']} | "
          f"HF attention {doc['hf_attn_implementation']}")
    print(f"shape: vocab {s['vocab_size']}, d_model {s['d_model']}, heads {s['n_heads']}, layers {s['n_layers']}+"
          f"{s['n_layers']}, ffn {s['d_ff']} | batch {doc['batch_size']}, source {doc['src_len']}, exactly "
          f"{doc['max_new_tokens']} new tokens | {doc['rounds']} rounds x {doc['repeats']} calls")
    print(f"{'variant':<16} {'sent/s':>9} {'min':>9} {'max':>9} {'tok/s':>9} {'full len':>9}")
    for v, secs in doc["seconds_per_call"].items():
        b = doc["batch_size"]
        print(f"{v:<16} {doc['sentences_per_s'][v]:>9.1f} {b / max(secs):>9.1f} {b / min(secs):>9.1f} "
              f"{doc['sentences_per_s'][v] * doc['max_new_tokens']:>9.0f} {doc['full_length'][v]:>5}/{b}")
    for m, r in doc["ratio"].items():
        print(f"attnlab / hf {m}: {r:.2f}x (median of per-round ratios {doc['ratio_paired'][m]:.2f}x) | "
              f"bar >= {doc['bar']:g}x: {'ok' if r >= doc['bar'] else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        print("error: CUDA is not available here; run on a GPU machine, or smoke-test with --tiny --device cpu",
              file=sys.stderr)
        return 2
    shape = dict(TINY if args.tiny else MARIAN)
    runners, attn_impl = make_runners(args, shape)
    doc = summarise(args, shape, attn_impl, run(args, runners))
    report(doc)
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
    short = [v for v, n in doc["full_length"].items() if n < args.batch_size]
    if short:
        print(f"FAIL: not every output of {', '.join(short)} is {args.max_new_tokens} tokens long", file=sys.stderr)
        return 1
    if args.check and not doc["meets_bar"]:
        print(f"FAIL: attnlab / HF below {BAR}x", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
