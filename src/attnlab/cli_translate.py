"""The translation half of the command line: `run/train --task translate` flags and config, `translate` input.

Kept beside :mod:`attnlab.cli` so that module stays a readable list of commands; same rules: parse, call, print;
bad input is one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from attnlab.errors import InputError

SAMPLE = "bible-en-de-sample"
# Flags shared with classification (same names), mapped onto the translation config's sections.
_SHARED = {"model": ("n_heads", "d_model", "d_ff", "max_len", "vocab_size", "dropout"),
           "train": ("epochs", "lr", "patience", "monitor", "seed")}
_OWN = {"model": ("n_encoder_layers", "n_decoder_layers", "tie_embeddings", "positions"),
        "train": ("batch_tokens", "max_minutes", "precision", "warmup_steps", "label_smoothing", "checkpoint_every",
                  "compile", "ema_decay"),
        "decode": ("beam_size", "length_penalty", "max_new_tokens"),
        "data": ("source_column", "target_column", "target_file", "group_column")}
_CLASSIFY_ONLY = {"class_weights": "--class-weights", "positive_label": "--positive", "pooling": "--pooling",
                  "ensemble": "--ensemble",
                  "batch_size": "--batch-size "
                  "(translation batches by tokens: use --batch-tokens)"}


def add_translation_flags(p: argparse.ArgumentParser) -> None:
    """Flags that only ``--task translate`` reads."""
    g = p.add_argument_group("translation (--task translate)")
    g.add_argument("--source-column", dest="source_column", help="source-text column of a table (default src)")
    g.add_argument("--target-column", dest="target_column", help="target-text column of a table (default tgt)")
    g.add_argument("--target-file", dest="target_file", help="with a .txt DATA file: the aligned target .txt file")
    g.add_argument("--group-column", dest="group_column",
                   help="column of document/book ids; whole groups are held out (default: random split)")
    g.add_argument("--encoder-layers", type=int, dest="n_encoder_layers")
    g.add_argument("--decoder-layers", type=int, dest="n_decoder_layers")
    g.add_argument("--tie-embeddings", choices=["none", "decoder", "all"], dest="tie_embeddings")
    g.add_argument("--positions", choices=["learned", "sinusoidal"], help="position encodings (default: the preset's)")
    g.add_argument("--separate-vocab", action="store_true", dest="separate_vocab",
                   help="one BPE vocabulary per language (default: one shared; implies --tie-embeddings decoder)")
    g.add_argument("--batch-tokens", type=int, dest="batch_tokens", help="padded tokens per batch and side (per process under torchrun)")
    g.add_argument("--warmup-steps", type=int, dest="warmup_steps")
    g.add_argument("--label-smoothing", type=float, dest="label_smoothing")
    g.add_argument("--max-minutes", type=float, dest="max_minutes",
                   help="stop training after this wall time, decaying the learning rate over it (0 = off)")
    g.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                   help="auto (default): bf16 autocast where the CPU/GPU supports it natively")
    g.add_argument("--beam", type=int, dest="beam_size", help="beam size for the test translations (1 = greedy)")
    g.add_argument("--length-penalty", type=float, dest="length_penalty")
    g.add_argument("--max-new-tokens", type=int, dest="max_new_tokens")


def translation_config_from_args(args: argparse.Namespace):
    """The dataset's translation preset (or --preset) with the flags the user gave laid over it (validated)."""
    from attnlab.config import translation_preset

    given = {k: v for k, v in vars(args).items() if v is not None}
    for key, flag in _CLASSIFY_ONLY.items():
        if key in given:
            raise InputError(f"{flag} applies to classification only; drop it for --task translate")
    if given.get("n_layers") is not None:  # --layers sets both stacks
        given.setdefault("n_encoder_layers", given["n_layers"])
        given.setdefault("n_decoder_layers", given["n_layers"])
    source = getattr(args, "data", None) or SAMPLE
    cfg = translation_preset(args.preset or ("mt-tiny" if source == SAMPLE else "mt-small"))
    changes: dict[str, Any] = {s: {k: given[k] for k in keys if k in given} for s, keys in _OWN.items()}
    for section, keys in _SHARED.items():
        changes[section].update({k: given[k] for k in keys if k in given})
    if changes["train"].get("monitor") in ("macro_f1", "accuracy"):
        raise InputError("--monitor for translation is bleu or val_loss")
    if given.get("separate_vocab"):
        changes["model"]["shared_vocab"] = False
        changes["model"].setdefault("tie_embeddings", "decoder")
    changes["data"]["source"] = source
    if "device" in given:
        changes["device"] = given["device"]
    return cfg.replace(**changes)


def cmd_train_translation(args: argparse.Namespace, console: Callable[..., Any]) -> int:
    """``attnlab run/train --task translate``: train, evaluate on held-out data, print the summary."""
    cfg = translation_config_from_args(args)  # validates before anything is created on disk
    out = args.out or f"runs/{Path(cfg.data.source).stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    from attnlab.recipes.train_translation import train_translation
    from attnlab.report.translation_terminal import render_translation_summary

    if args.resume and not args.out:
        raise InputError("--resume needs --out NAME: the run directory of the interrupted run")
    report = train_translation(cfg, out, console=console(stderr=True), resume=args.resume)
    if report is None:  # a torchrun rank other than 0: rank 0 prints and writes
        return 0
    render_translation_summary(report, console())
    print(f"run directory: {out}")
    return 0


def read_sentences(texts: list[str], file: str | None) -> list[str]:
    """Sentences from the arguments, else a .txt file (one per line), else stdin; blank lines are an error."""
    if texts:
        lines = list(texts)
    elif file:
        from attnlab.io import read_input_text

        lines = read_input_text(file, expected="a text file with one sentence per line").splitlines()
    elif sys.stdin is None or sys.stdin.isatty():
        raise InputError("no sentences given; pass them as arguments, --file FILE, or pipe one per line to stdin")
    else:
        lines = sys.stdin.read().splitlines()
    blank = [i + 1 for i, line in enumerate(lines) if not line.strip()]
    if blank or not lines:
        where = f"line {blank[0]} of {len(lines)}" if blank else "the input"
        raise InputError(f"empty sentence at {where}; remove blank lines (each line is translated on its own)")
    return lines
