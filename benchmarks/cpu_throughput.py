"""CPU training throughput: attnlab's EncoderClassifier vs Hugging Face BERT (SDPA attention).

Measures tokens/s of a full training step (forward + cross-entropy + backward + AdamW step,
float32) for both models at the same shape, in one process, alternating the two between timed
rounds so that machine noise hits both alike. Reports the median over rounds.

Usage:
    python benchmarks/cpu_throughput.py            # default small shape, prints a table
    python benchmarks/cpu_throughput.py --check    # exit 1 if attnlab / HF < --min-ratio

Needs ``transformers`` (``pip install attnlab[bench]``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from attnlab.models import EncoderClassifier


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--vocab-size", type=int, default=8000)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--d-ff", type=int, default=512)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-len", type=int, default=128, help="position table size (both models)")
    p.add_argument("--n-classes", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.1, help="hidden and attention dropout")
    p.add_argument("--padded", action="store_true",
                   help="give half the sequences random lengths (masked path) instead of none")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per model")
    p.add_argument("--steps", type=int, default=10, help="timed steps per model per round")
    p.add_argument("--rounds", type=int, default=7, help="rounds; the median is reported")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check", action="store_true", help="exit 1 if the ratio is below --min-ratio")
    p.add_argument("--min-ratio", type=float, default=1.2)
    return p.parse_args(argv)


def make_batch(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random ids ``(B, T)``, attention mask ``(B, T)`` (1 = real) and labels ``(B,)``."""
    B, T = args.batch_size, args.seq_len
    ids = torch.randint(1, args.vocab_size, (B, T))  # (B, T); 0 is padding
    mask = torch.ones(B, T, dtype=torch.long)  # (B, T)
    if args.padded:
        lengths = torch.randint(T // 4, T + 1, (B,))
        lengths[: B // 2] = T
        mask = (torch.arange(T)[None, :] < lengths[:, None]).long()  # (B, T)
        ids = ids * mask
    return ids, mask, torch.randint(0, args.n_classes, (B,))


def build_attnlab(args: argparse.Namespace) -> torch.nn.Module:
    return EncoderClassifier(vocab_size=args.vocab_size, n_classes=args.n_classes,
                             d_model=args.d_model, n_heads=args.n_heads, n_layers=args.n_layers,
                             d_ff=args.d_ff, max_len=args.max_len, dropout=args.dropout)


def build_hf(args: argparse.Namespace) -> torch.nn.Module:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=args.vocab_size, hidden_size=args.d_model,
                        num_attention_heads=args.n_heads, num_hidden_layers=args.n_layers,
                        intermediate_size=args.d_ff, max_position_embeddings=args.max_len,
                        hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout,
                        num_labels=args.n_classes, pad_token_id=0, attn_implementation="sdpa")
    model = BertForSequenceClassification(config)
    if model.config._attn_implementation != "sdpa":
        raise RuntimeError(f"HF picked {model.config._attn_implementation!r} attention, not sdpa")
    return model


def make_step(model: torch.nn.Module, batch: tuple, hf: bool) -> Callable[[], float]:
    """One training step closure; same optimizer and loss for both models."""
    ids, mask, labels = batch
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        if hf:
            logits = model(input_ids=ids, attention_mask=mask).logits  # (B, C)
        else:
            logits = model(ids, mask).logits  # (B, C)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def timed_tokens_per_s(step: Callable[[], float], n_steps: int, tokens_per_step: int) -> float:
    start = time.perf_counter()
    for _ in range(n_steps):
        step()
    return n_steps * tokens_per_step / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> dict[str, list[float]]:
    """Alternate timed rounds of both models; returns tokens/s per round per model."""
    torch.manual_seed(args.seed)
    batch = make_batch(args)
    steps = {"attnlab": make_step(build_attnlab(args), batch, hf=False),
             "hf-bert-sdpa": make_step(build_hf(args), batch, hf=True)}
    tokens = args.batch_size * args.seq_len
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    results: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(args.rounds):
        order = list(steps) if r % 2 == 0 else list(reversed(steps))  # alternate who goes first
        for name in order:
            results[name].append(timed_tokens_per_s(steps[name], args.steps, tokens))
    return results


def report(args: argparse.Namespace, results: dict[str, list[float]]) -> float:
    print(f"torch {torch.__version__} | {platform.processor() or platform.machine()} | "
          f"threads {torch.get_num_threads()} | float32")
    print(f"shape: vocab {args.vocab_size}, d_model {args.d_model}, heads {args.n_heads}, "
          f"layers {args.n_layers}, d_ff {args.d_ff}, seq {args.seq_len}, batch {args.batch_size}, "
          f"dropout {args.dropout}, padded {args.padded}")
    print(f"{'model':<14} {'median tok/s':>13} {'min':>10} {'max':>10}  rounds={args.rounds} "
          f"x {args.steps} steps")
    medians = {}
    for name, values in results.items():
        medians[name] = statistics.median(values)
        print(f"{name:<14} {medians[name]:>13,.0f} {min(values):>10,.0f} {max(values):>10,.0f}")
    ratio = medians["attnlab"] / medians["hf-bert-sdpa"]
    paired = statistics.median(a / h for a, h in zip(results["attnlab"], results["hf-bert-sdpa"]))
    print(f"ratio attnlab / hf-bert-sdpa: {ratio:.2f}x (median of per-round ratios: {paired:.2f}x)")
    return ratio


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    ratio = report(args, run(args))
    if args.check and ratio < args.min_ratio:
        print(f"FAIL: ratio {ratio:.2f} < {args.min_ratio}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
