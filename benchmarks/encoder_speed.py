"""Encoder speed (issue #9): attnlab's attention and classifier training vs PyTorch and Hugging Face, same run.

Cases (``--case``), each comparing against its peer on the same device in the same process:

``attention``  ``MultiHeadAttention`` forward+backward (self-attention, no mask) vs ``torch.nn.MultiheadAttention``
               (``need_weights=False``) and raw ``F.scaled_dot_product_attention`` on already projected heads (the
               kernel alone, a floor). Also ours with torch's own SDPA kernel order ("torch") beside the default
               ("auto": cuDNN first on Hopper). Weights and inputs in ``--dtype``. Metric: ms per step.
``train``      Training steps of ``EncoderClassifier`` vs ``transformers.BertForSequenceClassification``
               (``attn_implementation="sdpa"``) at ``--batch`` x ``--seq-len`` (no padding), both with bf16 autocast
               on CUDA (float32 on CPU: the classifier's ``precision: auto``), cross-entropy on float32 logits,
               the same AdamW (``attnlab.train.optim.build_optimizer``: fused on CUDA), no gradient clipping.
               ``--compile`` compiles both (``torch.compile``; ours through ``attnlab.train.fast.compile_model``).
               Metric: tokens/s.
``varlen``     The same training step on variable-length batches: lengths log-normal (median ``--median-len``,
               sigma ``--sigma``) clipped to [1, ``--seq-len``]; ``--n-batches`` fixed batches cycled. HF pads each
               batch to its longest row; ours packs (``packed=True``: varlen attention, no compute on padding).
               Ours padded (``packed=False``) is shown beside. Metric: REAL tokens/s (padding not counted). Before
               timing, ours packed vs padded logits are compared on one batch in eval mode (``packed_max_diff``).

Both models get the same shape (``--shape``: ``bert-base`` = 12 layers, d_model 768, 12 heads, FFN 3072, vocab
30522, 512 positions; ``small`` = 4 layers, 256, 8 heads, 1024, vocab 16000; ``tiny`` for smoke tests), random
weights, 2 classes, hidden dropout 0.1 and attention-weight dropout 0 on both sides (the varlen kernel has no
attention dropout; many BERT recipes drop it too). Architectures differ as the libraries do (ours pre-LN with mean
pooling, BERT post-LN with a tanh pooler on [CLS]); the parameter counts are printed.

Timing: ``--warmup`` untimed steps per variant, then ``--rounds`` rounds, in each every variant runs ``--steps``
steps between device synchronisations, the variant order reversed every other round (alternating, so a shared
CPU's load hits both). Medians over rounds; ratios are ours / peer. A soft ``--budget-s`` stops adding rounds once
it is used up (at least one round runs); the shell script adds a hard timeout per case.

Usage:
    python benchmarks/encoder_speed.py --case train --device cuda --batch 64 --seq-len 128 --json t.json
    bash benchmarks/gpu_check.sh                      # every GPU case, one table, < 5 minutes
    python benchmarks/encoder_speed.py --case varlen --device cpu --shape small --threads 2
    python benchmarks/encoder_speed.py --table out/*.json                      # one table from saved cases
    python benchmarks/encoder_speed.py --case train --tiny                     # smoke test, seconds

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

import numpy as np
import torch
import torch.nn.functional as F

from attnlab.models.classifier import EncoderClassifier
from attnlab.nn.attention import MultiHeadAttention
from attnlab.nn.backends import use_sdpa_backends
from attnlab.train.fast import autocast, classifier_autocast_dtype, compile_model
from attnlab.train.optim import build_optimizer

SHAPES = {"bert-base": {"n_layers": 12, "d_model": 768, "n_heads": 12, "d_ff": 3072, "vocab_size": 30522},
          "small": {"n_layers": 4, "d_model": 256, "n_heads": 8, "d_ff": 1024, "vocab_size": 16000},
          "tiny": {"n_layers": 1, "d_model": 32, "n_heads": 2, "d_ff": 64, "vocab_size": 500}}
MAX_POSITIONS = 512
BARS = {"attention": 1.0, "train": {128: 1.5, 512: 1.2}, "varlen": 3.0}  # ours / peer, issue #9 (GPU)
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", choices=["attention", "train", "varlen"])
    p.add_argument("--table", nargs="+", type=Path, metavar="JSON", help="print one table from saved case files")
    p.add_argument("--device", default="cuda")
    p.add_argument("--shape", choices=list(SHAPES), default="bert-base")
    p.add_argument("--dtype", choices=list(DTYPES), help="attention case: weights and inputs (default bf16 on "
                                                         "CUDA, fp32 on CPU)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=128, help="train/attention: T; varlen: the longest row")
    p.add_argument("--median-len", type=float, default=60.0)
    p.add_argument("--sigma", type=float, default=0.8, help="log-normal sigma of the varlen lengths")
    p.add_argument("--n-batches", type=int, default=8, help="varlen: distinct batches, cycled")
    p.add_argument("--compile", action="store_true", help="train/varlen: torch.compile both models")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=10, help="steps per variant per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--budget-s", type=float, default=0.0, help="soft time budget of the timed rounds (0 = none)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true", help="tiny shape, batch 4 x 16, 1 round of 1 step (smoke test)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the results as JSON")
    args = p.parse_args(argv)
    if not args.table and not args.case:
        p.error("give --case or --table")
    if args.tiny:
        args.shape, args.batch, args.seq_len, args.median_len = "tiny", 4, 16, 6.0
        args.warmup, args.steps, args.rounds, args.n_batches = 1, 1, 1, 2
    return args


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def build_ours(shape: dict[str, int], device: torch.device) -> torch.nn.Module:
    model = EncoderClassifier(vocab_size=shape["vocab_size"], n_classes=2, d_model=shape["d_model"],
                              n_heads=shape["n_heads"], n_layers=shape["n_layers"], d_ff=shape["d_ff"],
                              max_len=MAX_POSITIONS, dropout=0.1, pooling="mean")
    for block in model.blocks:
        block.attn.dropout = 0.0  # attention-weight dropout off, as in the HF config below
    return model.to(device)


def build_hf(shape: dict[str, int], device: torch.device) -> torch.nn.Module:
    from transformers import BertConfig, BertForSequenceClassification
    from transformers.utils import logging

    logging.set_verbosity_error()
    config = BertConfig(vocab_size=shape["vocab_size"], hidden_size=shape["d_model"],
                        num_hidden_layers=shape["n_layers"], num_attention_heads=shape["n_heads"],
                        intermediate_size=shape["d_ff"], max_position_embeddings=MAX_POSITIONS, num_labels=2,
                        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.0, attn_implementation="sdpa")
    return BertForSequenceClassification(config).to(device)


def make_batches(args: argparse.Namespace, vocab: int, device: torch.device, varlen: bool) -> list[tuple]:
    """``(ids (B, T), mask (B, T) bool, labels (B,), real tokens)`` per batch; right padding with id 0."""
    rng = np.random.default_rng(args.seed)
    batches = []
    for _ in range(args.n_batches if varlen else 1):
        if varlen:
            lengths = np.clip(np.rint(rng.lognormal(np.log(args.median_len), args.sigma, args.batch)), 1, args.seq_len)
        else:
            lengths = np.full(args.batch, args.seq_len)
        lengths = torch.as_tensor(lengths, dtype=torch.long)
        T = int(lengths.max())
        mask = torch.arange(T)[None, :] < lengths[:, None]  # (B, T)
        ids = torch.randint(1, vocab, (args.batch, T)) * mask
        labels = torch.randint(0, 2, (args.batch,))
        batches.append((ids.to(device), mask.to(device), labels.to(device), int(lengths.sum())))
    return batches


def train_step(model: torch.nn.Module, optimizer: Any, device: torch.device, dtype: torch.dtype | None,
               hf: bool, packed: bool | None) -> Callable[[tuple], None]:
    def step(batch: tuple) -> None:
        ids, mask, labels, _ = batch
        with autocast(device, dtype):
            logits = (model(input_ids=ids, attention_mask=mask) if hf else model(ids, mask, packed=packed)).logits
        loss = F.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def training_variants(args: argparse.Namespace, device: torch.device) -> tuple[dict[str, Callable], list, dict]:
    """``{variant: step(batch)}``, the batches, and facts about the models."""
    shape, varlen = SHAPES[args.shape], args.case == "varlen"
    torch.manual_seed(args.seed)
    ours, hf = build_ours(shape, device).train(), build_hf(shape, device).train()
    dtype = classifier_autocast_dtype("auto", device)
    facts = {"params_ours": sum(p.numel() for p in ours.parameters()),
             "params_hf": sum(p.numel() for p in hf.parameters()), "hf_attn": hf.config._attn_implementation,
             "autocast": str(dtype).replace("torch.", "") if dtype else "fp32"}
    batches = make_batches(args, shape["vocab_size"], device, varlen)
    if varlen:
        ours.eval()
        with torch.no_grad(), autocast(device, dtype):
            ids, mask, _, _ = batches[0]
            a, b = ours(ids, mask, packed=True).logits.float(), ours(ids, mask, packed=False).logits.float()
        facts["packed_max_diff"] = float((a - b).abs().max())
        facts["padding_share"] = 1 - sum(b[3] for b in batches) / sum(b[1].numel() for b in batches)
        ours.train()
    if args.compile:
        compile_model(ours, device)
        hf.compile()
    opt_ours = build_optimizer(ours, lr=1e-4, weight_decay=0.01)
    opt_hf = build_optimizer(hf, lr=1e-4, weight_decay=0.01)
    tag = " compiled" if args.compile else ""
    variants = {f"attnlab{tag}": train_step(ours, opt_ours, device, dtype, False, True if varlen else None),
                f"hf{tag}": train_step(hf, opt_hf, device, dtype, True, None)}
    if varlen:
        variants[f"attnlab padded{tag}"] = train_step(ours, opt_ours, device, dtype, False, False)
    return variants, batches, facts


def attention_variants(args: argparse.Namespace, device: torch.device) -> tuple[dict[str, Callable], list, dict]:
    shape = SHAPES[args.shape]
    dtype = DTYPES[args.dtype or ("bf16" if device.type == "cuda" else "fp32")]
    d, H = shape["d_model"], shape["n_heads"]
    torch.manual_seed(args.seed)
    ref = torch.nn.MultiheadAttention(d, H, batch_first=True).to(device, dtype)
    ours = MultiHeadAttention.from_torch(ref)
    x = torch.randn(args.batch, args.seq_len, d, device=device, dtype=dtype, requires_grad=True)
    qkv = [torch.randn(args.batch, H, args.seq_len, d // H, device=device, dtype=dtype, requires_grad=True)
           for _ in range(3)]

    def ours_step(order: str) -> Callable[[Any], None]:
        def step(_: Any) -> None:
            with use_sdpa_backends(order):
                ours(x).output.sum().backward()
        return step

    variants = {"attnlab MHA": ours_step("auto"), "torch nn.MHA": lambda _: ref(x, x, x, need_weights=False)[0]
                .sum().backward(), "raw SDPA": lambda _: F.scaled_dot_product_attention(*qkv).sum().backward()}
    if device.type == "cuda":
        variants["attnlab MHA torch-order"] = ours_step("torch")
    return variants, [None], {"dtype": str(dtype).replace("torch.", "")}


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    build = attention_variants if args.case == "attention" else training_variants
    variants, batches, facts = build(args, device)
    seconds: dict[str, list[float]] = {v: [] for v in variants}
    cursor = 0
    for step in variants.values():
        for i in range(args.warmup):
            step(batches[i % len(batches)])
    sync(device)
    start = time.perf_counter()
    for r in range(args.rounds):
        if r and args.budget_s and time.perf_counter() - start > args.budget_s:
            break
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in order:
            sync(device)
            t0 = time.perf_counter()
            for i in range(args.steps):
                variants[name](batches[(cursor + i) % len(batches)])
            sync(device)
            seconds[name].append(time.perf_counter() - t0)
        cursor += args.steps  # every variant saw the same batches this round
    return {"seconds": seconds, "facts": facts, "batches": batches}


def summarise(args: argparse.Namespace, res: dict[str, Any]) -> dict[str, Any]:
    import transformers

    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    sec = res["seconds"]
    batches = res["batches"]
    if args.case == "attention":
        value = {v: 1000 * statistics.median(s) / args.steps for v, s in sec.items()}  # ms per step
        unit, peer = "ms/step", "torch nn.MHA"
        ratio = {v: value[peer] / value[v] for v in value if v != peer}
        bar = BARS["attention"]
    else:
        rounds = len(next(iter(sec.values())))
        per_round = [sum(batches[(r * args.steps + i) % len(batches)][3] for i in range(args.steps))
                     for r in range(rounds)]  # real tokens each variant processed in round r
        value = {v: sum(per_round) / sum(s) for v, s in sec.items()}
        unit = "real tok/s" if args.case == "varlen" else "tok/s"
        tag = " compiled" if args.compile else ""
        peer = f"hf{tag}"
        ratio = {v: value[v] / value[peer] for v in value if v != peer}
        bar = BARS["varlen"] if args.case == "varlen" else BARS["train"].get(args.seq_len)
    # Every variant did the same work in a round: the speed ratio of a round is the peer's time over the variant's.
    paired = {v: statistics.median(p / s for p, s in zip(sec[peer], sec[v])) for v in ratio}
    label = f"{args.case} {args.batch}x{args.seq_len}" + (f" median {args.median_len:g}" if args.case == "varlen"
                                                          else "") + (" compiled" if args.compile else "")
    return {"benchmark": "encoder_speed", "case": args.case, "label": label, "device": str(device),
            "device_name": name, "torch": torch.__version__, "transformers": transformers.__version__,
            "python": platform.python_version(), "threads": torch.get_num_threads(), "shape": args.shape,
            "shape_dims": SHAPES[args.shape], "batch": args.batch, "seq_len": args.seq_len, "compile": args.compile,
            "warmup": args.warmup, "steps": args.steps, "rounds": len(next(iter(sec.values()))),
            "seconds_per_round": sec, "unit": unit, "value": value, "peer": peer, "ratio": ratio,
            "ratio_paired": paired, "bar": bar, "tiny": args.tiny, **res["facts"]}


def print_table(docs: list[dict[str, Any]]) -> None:
    names = sorted({d["device_name"] for d in docs})
    d0 = docs[0]
    print(f"device: {', '.join(names)} | torch {d0['torch']} | transformers {d0['transformers']} | "
          f"shape {d0['shape']} {d0['shape_dims']}")
    print(f"{'case':<34} {'variant':<26} {'value':>12} {'unit':<10} {'vs peer':>8} {'paired':>7}  bar")
    for d in docs:
        for v, val in d["value"].items():
            r, paired = d["ratio"].get(v), d["ratio_paired"].get(v)
            barred = r is not None and d["bar"] is not None and v.split(" ")[0] == "attnlab" and (
                v in ("attnlab", "attnlab compiled", "attnlab MHA"))
            verdict = "" if not barred else (f">= {d['bar']:g}x {'ok' if r >= d['bar'] else 'MISSED'}"
                                             if d["device"].startswith("cuda") else f"(GPU bar {d['bar']:g}x)")
            r_text = "" if r is None else f"{r:.2f}x"
            p_text = "" if paired is None else f"{paired:.2f}x"
            print(f"{d['label']:<34} {v:<26} {val:>12.1f} {d['unit']:<10} {r_text:>8} {p_text:>7}  {verdict}")
        extra = {k: d[k] for k in ("packed_max_diff", "padding_share", "autocast", "dtype", "hf_attn") if k in d}
        print(f"{'':<34} rounds {d['rounds']} x {d['steps']} steps; " + ", ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in extra.items()))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.table:
        docs = [json.loads(p.read_text()) for p in args.table if p.exists()]
        if not docs:
            print("error: none of the case files exist (did every case time out?)", file=sys.stderr)
            return 1
        print_table(docs)
        return 0
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        print("error: CUDA is not available here; use --device cpu (e.g. with --tiny)", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    doc = summarise(args, run(args))
    print_table([doc])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
