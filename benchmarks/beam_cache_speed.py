"""Beam search with the key/value cache vs without it (the prefix recomputed every step), on CPU.

Decodes one batch of random sources with ``attnlab.models.generate.generate`` at a translation preset's
shape (default ``mt-small``: d_model 256, 4 heads, 3+3 layers, d_ff 1024, vocab 8000; random weights,
float32), beam 4 and greedy, each with ``use_cache=True`` and ``use_cache=False``. Every output is
exactly ``--max-new-tokens`` long: the ``</s>`` id passed is the vocabulary size, which no step can
produce. The four variants alternate over ``--rounds`` rounds (the order reversed every other round, so
machine noise hits all alike) after an untimed short warm-up; medians are reported. Cached and uncached
outputs of the same round must be identical token for token (exit 1 otherwise: with random weights a
float32 near-tie between two candidates can in principle flip one token; the scores are printed too).

Bar (issue #7): cached beam-4 decoding >= 3x faster than uncached (batch 32, sources ~30 tokens, exactly
64 new tokens). A missed bar is printed as such; ``--check`` also makes it exit 1.

Usage:
    python benchmarks/beam_cache_speed.py                          # mt-small, 3 rounds, all cores
    python benchmarks/beam_cache_speed.py --threads 2 --rounds 5 --json beam-cache.json
    python benchmarks/beam_cache_speed.py --tiny --rounds 1        # seconds: smoke test of the script
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

from attnlab.config import TRANSLATION_PRESETS
from attnlab.models.generate import Generated, generate
from attnlab.models.seq2seq import Seq2SeqTransformer

BAR = 3.0  # beam-4 uncached seconds / cached seconds
PAD, BOS = 0, 2
TINY = {"d_model": 32, "n_heads": 2, "n_encoder_layers": 1, "n_decoder_layers": 1, "d_ff": 64, "vocab_size": 500,
        "max_len": 64}
#: variant -> (beam search with --beam-size, else greedy; use_cache)
VARIANTS = {"beam cached": (True, True), "beam uncached": (True, False),
            "greedy cached": (False, True), "greedy uncached": (False, False)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="mt-small", choices=list(TRANSLATION_PRESETS), help="model shape")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--src-len", type=int, default=30, help="longest source; lengths vary from 80%% of it up")
    p.add_argument("--max-new-tokens", type=int, default=64, help="tokens generated per source (exactly)")
    p.add_argument("--beam-size", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3, help="timed rounds; medians are reported")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true",
                   help="a tiny model, batch 4, sources of 8, 16 new tokens (smoke test, seconds)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON")
    p.add_argument("--check", action="store_true", help=f"exit 1 if the beam speed-up is below {BAR}x")
    args = p.parse_args(argv)
    if args.tiny:
        args.batch_size, args.src_len, args.max_new_tokens = 4, 8, 16
    return args


def model_shape(args: argparse.Namespace) -> dict[str, int]:
    return dict(TINY) if args.tiny else dict(TRANSLATION_PRESETS[args.preset]["model"])


def build_model(shape: dict[str, int]) -> Seq2SeqTransformer:
    """Random N(0, 0.02) weights (the model's own init), float32, eval mode."""
    kw = {k: v for k, v in shape.items() if k != "vocab_size"}
    return Seq2SeqTransformer(src_vocab_size=shape["vocab_size"], tgt_vocab_size=shape["vocab_size"], dropout=0.0,
                              pad_id=PAD, **kw).eval()


def make_sources(batch: int, src_len: int, vocab: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids ``(B, S)`` right-padded to ``src_len`` (lengths from 80% of it up) and their mask ``(B, S)``."""
    ids = torch.randint(4, vocab, (batch, src_len), generator=gen)  # (B, S); 0-3 are the special ids
    lengths = torch.randint(max(1, (4 * src_len) // 5), src_len + 1, (batch,), generator=gen)  # (B,)
    lengths[0] = src_len  # the batch is as long as its longest source
    mask = torch.arange(src_len)[None, :] < lengths[:, None]  # (B, S)
    return ids * mask, mask


def decode(model: Seq2SeqTransformer, src: tuple, args: argparse.Namespace, variant: str,
           max_new: int | None = None) -> tuple[float, Generated]:
    """Seconds of one ``generate`` call (encoder included) and its output."""
    beam, use_cache = VARIANTS[variant]
    eos = model.lm_head.out_features  # never produced: every output runs to max_new_tokens
    start = time.perf_counter()
    out = generate(model, *src, bos_id=BOS, eos_id=eos, max_new_tokens=max_new or args.max_new_tokens,
                   beam_size=args.beam_size if beam else 1, use_cache=use_cache)
    return time.perf_counter() - start, out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Alternate the variants over the rounds; seconds per round and the output checks."""
    torch.manual_seed(args.seed)
    shape = model_shape(args)
    model = build_model(shape)
    src = make_sources(args.batch_size, args.src_len, shape["vocab_size"], torch.Generator().manual_seed(args.seed))
    for variant in VARIANTS:  # untimed warm-up: threads, allocator, first-call paths
        decode(model, src, args, variant, max_new=min(4, args.max_new_tokens))
    seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
    checks = {"beam": [], "greedy": []}
    for r in range(args.rounds):
        order = list(VARIANTS) if r % 2 == 0 else list(reversed(VARIANTS))
        outs = {}
        for variant in order:
            s, outs[variant] = decode(model, src, args, variant)
            seconds[variant].append(s)
        for kind in checks:
            checks[kind].append(compare(outs[f"{kind} cached"], outs[f"{kind} uncached"], args.max_new_tokens))
    return {"shape": shape, "seconds": seconds, "checks": {k: merge_checks(v) for k, v in checks.items()}}


def compare(cached: Generated, uncached: Generated, max_new: int) -> dict[str, Any]:
    """Token identity of two outputs, their largest score difference, and whether all ran to ``max_new``."""
    same = sum(a == b for a, b in zip(cached.tokens, uncached.tokens))
    lengths = {len(t) for out in (cached, uncached) for t in out.tokens}
    return {"n": len(cached.tokens), "identical": same,
            "max_score_diff": max(abs(a - b) for a, b in zip(cached.scores, uncached.scores)),
            "all_max_length": lengths == {max_new} and all(cached.hit_max_length + uncached.hit_max_length)}


def merge_checks(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return {"n": rounds[0]["n"], "identical_min": min(c["identical"] for c in rounds),
            "max_score_diff": max(c["max_score_diff"] for c in rounds),
            "all_max_length": all(c["all_max_length"] for c in rounds), "rounds": len(rounds)}


def summarise(args: argparse.Namespace, res: dict[str, Any]) -> dict[str, Any]:
    """The JSON document: provenance, per-round seconds, medians, speed-ups, checks, bar."""
    med = {v: statistics.median(s) for v, s in res["seconds"].items()}
    speedup, paired = {}, {}
    for kind in ("beam", "greedy"):
        c, u = res["seconds"][f"{kind} cached"], res["seconds"][f"{kind} uncached"]
        speedup[kind] = med[f"{kind} uncached"] / med[f"{kind} cached"]
        paired[kind] = statistics.median(b / a for a, b in zip(c, u))
    return {"benchmark": "beam_cache_speed", "torch": torch.__version__, "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "dtype": "float32", "device": "cpu", "weights": "random N(0, 0.02)", "seed": args.seed,
            "preset": "tiny" if args.tiny else args.preset, "shape": res["shape"], "batch_size": args.batch_size,
            "src_len": args.src_len, "max_new_tokens": args.max_new_tokens, "beam_size": args.beam_size,
            "rounds": args.rounds, "seconds": res["seconds"], "median_seconds": med,
            "sentences_per_s": {v: args.batch_size / s for v, s in med.items()},
            "speedup": speedup, "speedup_paired": paired, "checks": res["checks"],
            "bar": BAR, "meets_bar": speedup["beam"] >= BAR}


def report(doc: dict[str, Any]) -> None:
    s = doc["shape"]
    print(f"torch {doc['torch']} | {doc['processor']} | threads {doc['threads']} | {doc['dtype']} | "
          f"{doc['weights']} weights")
    print(f"shape {doc['preset']}: vocab {s['vocab_size']}, d_model {s['d_model']}, heads {s['n_heads']}, layers "
          f"{s['n_encoder_layers']}+{s['n_decoder_layers']}, d_ff {s['d_ff']} | batch {doc['batch_size']}, source "
          f"<= {doc['src_len']}, exactly {doc['max_new_tokens']} new tokens, beam {doc['beam_size']}")
    print(f"{'variant':<16} {'median s':>9} {'min s':>8} {'max s':>8} {'sent/s':>8} {'tok/s':>8}  "
          f"rounds={doc['rounds']}")
    for v, secs in doc["seconds"].items():
        sps = doc["sentences_per_s"][v]
        print(f"{v:<16} {doc['median_seconds'][v]:>9.3f} {min(secs):>8.3f} {max(secs):>8.3f} {sps:>8.1f} "
              f"{sps * doc['max_new_tokens']:>8.0f}")
    for kind in ("beam", "greedy"):
        c = doc["checks"][kind]
        bar = f" | bar >= {doc['bar']:g}x: {'ok' if doc['meets_bar'] else 'MISSED'}" if kind == "beam" else ""
        print(f"{kind} uncached / cached: {doc['speedup'][kind]:.2f}x (median of per-round ratios "
              f"{doc['speedup_paired'][kind]:.2f}x){bar} | tokens identical {c['identical_min']}/{c['n']} "
              f"(max score diff {c['max_score_diff']:.2e}), all {doc['max_new_tokens']} long: "
              f"{'yes' if c['all_max_length'] else 'NO'}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    doc = summarise(args, run(args))
    report(doc)
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2))
    failed = [k for k, c in doc["checks"].items() if c["identical_min"] < c["n"] or not c["all_max_length"]]
    if failed:
        print(f"FAIL: cached and uncached {' and '.join(failed)} outputs differ or are not all "
              f"{args.max_new_tokens} tokens long", file=sys.stderr)
        return 1
    if args.check and not doc["meets_bar"]:
        print(f"FAIL: beam speed-up {doc['speedup']['beam']:.2f}x < {BAR}x", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
