"""Translate texts with a trained encoder–decoder: ``attnlab translate RUN_DIR`` and the training recipe's test pass.

texts -> subword ids (sources sorted by length, batched) -> beam search or greedy with the key/value cache ->
detokenised strings in the input order, with a flag for outputs cut at the length cap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnlab.data.subword import BOS_ID, EOS_ID, PAD_ID, decode_batch, encode_batch
from attnlab.errors import InputError
from attnlab.models.generate import generate
from attnlab.train.distributed import SINGLE, DistContext, gather_objects, shard_indices
from attnlab.train.seq2seq_loop import autocast, autocast_dtype

__all__ = ["Translations", "translate_run", "translate_texts"]


@dataclass(frozen=True)
class Translations:
    """Hypotheses in input order, which hit the length cap, how many sources were truncated, and the timing."""

    hypotheses: list[str]
    hit_max_length: list[bool]
    n_source_truncated: int
    seconds: float

    @property
    def sentences_per_second(self) -> float:
        return len(self.hypotheses) / self.seconds if self.seconds > 0 else float("inf")


def translate_texts(model: torch.nn.Module, src_tokenizer: Any, tgt_tokenizer: Any, texts: list[str], *,
                    beam_size: int, length_penalty: float, max_new_tokens: int, batch_size: int,
                    device: torch.device, precision: str = "fp32", ctx: DistContext = SINGLE) -> Translations:
    """Translate ``texts`` in batches of similar length; returns them in the input order.

    Sources are cut to the model's position table (``</s>`` kept) and the cuts counted.

    Under torch.distributed (``ctx``) each rank decodes whole batches of the single-process batching (round
    robin) and the strings are gathered onto every rank: each sentence is decoded exactly once, in the same batch
    as in one process, so every rank returns the single-process translations.
    """
    if not texts:
        raise InputError("no texts to translate; pass at least one sentence")
    t0 = time.perf_counter()
    enc = encode_batch(src_tokenizer, texts, max_len=model.max_len, add_eos=True)
    dtype = autocast_dtype(precision, device)
    order = np.argsort(-enc.lengths, kind="stable")  # longest first: the largest batch shape comes first
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    mine: list[tuple[int, str, bool]] = []
    for b in shard_indices(len(batches), ctx):
        idx = batches[b]
        width = int(enc.lengths[idx].max())
        src = torch.from_numpy(enc.ids[idx, :width]).to(device)  # (B, S)
        with autocast(device, dtype):
            out = generate(model, src, src != PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID, max_new_tokens=max_new_tokens,
                           beam_size=beam_size, length_penalty=length_penalty)
        mine += [(int(i), text, bool(cut)) for i, text, cut in
                 zip(idx, decode_batch(tgt_tokenizer, out.tokens), out.hit_max_length)]
    hyps: list[str | None] = [None] * len(texts)
    hit: list[bool] = [False] * len(texts)
    for part in gather_objects(ctx, mine):
        for i, text, cut in part:
            hyps[i], hit[i] = text, cut
    if any(h is None for h in hyps):
        raise RuntimeError("distributed decoding left sentences untranslated; every sentence must be decoded once")
    return Translations(hyps, hit, enc.n_truncated, time.perf_counter() - t0)


def translate_run(run_dir: str | Path, texts: list[str], *, beam_size: int | None = None,
                  length_penalty: float | None = None, max_new_tokens: int | None = None,
                  device: str = "cpu") -> Translations:
    """``attnlab translate``: load a run directory (hashes verified) and translate ``texts``."""
    from attnlab.train.checkpoint import load_translator

    loaded = load_translator(run_dir, device=device)
    decode = loaded.config.decode
    max_new = decode.max_new_tokens if max_new_tokens is None else max_new_tokens  # 0 is refused, not a default
    if max_new >= loaded.model.max_len:
        raise InputError(f"--max-new-tokens {max_new} must be below the model's max_len {loaded.model.max_len}")
    return translate_texts(loaded.model, loaded.src_tokenizer, loaded.tgt_tokenizer, texts,
                           beam_size=decode.beam_size if beam_size is None else beam_size,
                           length_penalty=decode.length_penalty if length_penalty is None else length_penalty,
                           max_new_tokens=max_new, batch_size=decode.batch_size, device=torch.device(device),
                           precision=loaded.config.train.precision)  # as the run decoded its test set
