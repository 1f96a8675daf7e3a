"""Capture every layer's per-head attention weights of a saved run, for given texts or a whole split.

Weights come from the explicit attention path (``return_attn=True``); ordinary prediction keeps the fused
kernel. Texts are encoded one at a time for maps (no padding rows to hide), in length-sorted batches for
statistics.

Classifier runs give one map kind, ``encoder`` (self-attention). Translation runs decode the text first
(the run's beam settings) and then run the source and the produced target through the model with teacher
forcing, giving ``encoder`` (source × source), ``decoder_self`` (target × target, causal) and ``cross``
(target × source). Decoder rows are labelled with the token each row PRODUCES (``y1 … </s>``); the decoder
self-attention keys are the tokens it reads (``<s> y1 …``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from attnlab.errors import InputError
from attnlab.heads.stats import HeadStatistics, attention_rollout, token_kinds

__all__ = ["AttentionMap", "TextAttention", "capture_classifier", "capture_translator", "classifier_statistics",
           "translator_statistics"]

KINDS = ("encoder", "decoder_self", "cross")


@dataclass
class AttentionMap:
    """One attention kind of one text: per layer ``(H, T_q, T_k)`` weights and the tokens on both axes."""

    kind: str
    query_tokens: list[str]
    key_tokens: list[str]
    weights: list[np.ndarray]

    def to_dict(self, digits: int = 4) -> dict[str, Any]:
        return {"kind": self.kind, "query_tokens": self.query_tokens, "key_tokens": self.key_tokens,
                "weights": [np.round(w.astype(np.float64), digits).tolist() for w in self.weights]}


@dataclass
class TextAttention:
    """What was captured for one input text.

    Attributes:
        text: the input as given.
        maps: one :class:`AttentionMap` per attention kind.
        output: the model's answer — ``{"label", "probabilities"}`` or ``{"translation"}``.
        truncated: whether the text was cut to the model's ``max_len``.
        rollout: per input token, its share in the representation the classifier pools (attention rollout);
            ``None`` for translation runs.
    """

    text: str
    maps: list[AttentionMap]
    output: dict[str, Any]
    truncated: bool
    rollout: list[float] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "output": self.output, "truncated": self.truncated,
                "rollout": None if self.rollout is None else [round(v, 6) for v in self.rollout],
                "maps": [m.to_dict() for m in self.maps]}


def _check_texts(texts: Sequence[str]) -> list[str]:
    texts = [t for t in texts]
    if not texts:
        raise InputError("no texts to inspect; pass --text \"...\" (repeatable) or --file FILE")
    empty = [i for i, t in enumerate(texts) if not str(t).strip()]
    if empty:
        raise InputError(f"text {empty[0] + 1} is empty; give every --text/line some words")
    return texts


def _layers(attentions: Sequence[torch.Tensor], row: int = 0, q: int | None = None, k: int | None = None
            ) -> list[np.ndarray]:
    return [a[row, :, :q, :k].float().cpu().numpy() for a in attentions]  # (H, T_q, T_k) per layer


def _rollout_scores(loaded: Any, attentions: Sequence[torch.Tensor]) -> list[float]:
    """Each token's share in the pooled representation: row 0 for [CLS] pooling, else the mean of rows (mean or
    max pooling)."""
    r = attention_rollout(attentions)[0]  # (T, T)
    scores = r[0] if getattr(loaded.model, "pooling", "mean") == "cls" else r.mean(dim=0)
    return scores.tolist()


@torch.no_grad()
def capture_classifier(loaded: Any, texts: Sequence[str]) -> list[TextAttention]:
    """Per-head attention maps of a classifier run (``LoadedClassifier``) for each text."""
    from attnlab.data.tokenizers import encode

    texts = _check_texts(texts)
    model, tok = loaded.model, loaded.tokenizer
    device = next(model.parameters()).device
    out = []
    for text in texts:
        enc = encode(tok, [text], max_len=loaded.config.model.max_len)
        n = int(enc.lengths[0])
        ids = torch.from_numpy(enc.input_ids[:, :n]).to(device)  # (1, T)
        result = model(ids, None, return_attn=True)
        proba = torch.softmax(result.logits.double(), dim=-1)[0].cpu().numpy()
        tokens = [tok.id_to_token(int(i)) for i in ids[0]]
        out.append(TextAttention(
            text=text, maps=[AttentionMap("encoder", tokens, tokens, _layers(result.attentions))],
            output={"label": loaded.labels[int(proba.argmax())],
                    "probabilities": {lab: round(float(p), 6) for lab, p in zip(loaded.labels, proba)}},
            truncated=bool(enc.n_truncated), rollout=_rollout_scores(loaded, result.attentions)))
    return out


def _kind_table(tok: Any, special: Sequence[str]) -> torch.Tensor:
    """Token kind per vocabulary id (special / punctuation / word), for batched statistics."""
    vocab = tok.get_vocab()
    names = [""] * len(vocab)
    for name, i in vocab.items():
        names[i] = name
    return torch.tensor(token_kinds(names, special=special), dtype=torch.long)


@torch.no_grad()
def classifier_statistics(loaded: Any, texts: Sequence[str], *, batch_size: int = 64,
                          similarity_rows: int = 4096) -> dict[str, Any]:
    """:class:`~attnlab.heads.stats.HeadStatistics` of a classifier run's self-attention over ``texts``."""
    from attnlab.data.tokenizers import SPECIAL_TOKENS, encode

    texts = _check_texts(texts)
    model, tok = loaded.model, loaded.tokenizer
    device = next(model.parameters()).device
    kinds_of = _kind_table(tok, SPECIAL_TOKENS).to(device)
    enc = encode(tok, texts, max_len=loaded.config.model.max_len)
    order = np.argsort(enc.lengths, kind="stable")
    stats = HeadStatistics(similarity_rows=similarity_rows)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = int(enc.lengths[idx].max())
        ids = torch.from_numpy(enc.input_ids[idx, :width]).to(device)  # (B, T)
        real = torch.from_numpy(enc.attention_mask[idx, :width]).to(device)  # (B, T)
        result = model(ids, real, return_attn=True)
        stats.update(result.attentions, real, kinds_of[ids])
    summary = stats.compute()
    summary["n_truncated"] = int(enc.n_truncated)
    return summary


def _translation_pass(loaded: Any, sources: Sequence[str], beam_size: int | None):
    """Decode ``sources``, then one teacher-forced pass with weights. Yields per-row tensors and ids."""
    from attnlab.data.subword import BOS_ID, EOS_ID, PAD_ID, encode_batch
    from attnlab.models.generate import generate

    model, cfg = loaded.model, loaded.config
    device = next(model.parameters()).device
    enc = encode_batch(loaded.src_tokenizer, list(sources), max_len=model.max_len, add_eos=True)
    src = torch.from_numpy(enc.ids).to(device)  # (B, S)
    src_real = src != PAD_ID
    max_new = min(cfg.decode.max_new_tokens, model.max_len - 2)
    gen = generate(model, src, src_real, bos_id=BOS_ID, eos_id=EOS_ID, max_new_tokens=max_new,
                   beam_size=cfg.decode.beam_size if beam_size is None else beam_size,
                   length_penalty=cfg.decode.length_penalty)
    rows = [[BOS_ID, *ids, EOS_ID][: model.max_len] for ids in gen.tokens]
    width = max(len(r) for r in rows)
    tgt = torch.full((len(rows), width), PAD_ID, dtype=torch.long, device=device)  # (B, T + 1)
    for i, r in enumerate(rows):
        tgt[i, :len(r)] = torch.tensor(r, device=device)
    result = model(src, src_real, tgt[:, :-1], return_attn=True)
    return enc, src, tgt, gen, result


@torch.no_grad()
def capture_translator(loaded: Any, texts: Sequence[str], *, beam_size: int | None = None) -> list[TextAttention]:
    """Encoder self-, decoder self- and cross-attention maps of a translation run for each source text."""
    from attnlab.data.subword import decode_batch

    texts = _check_texts(texts)
    out = []
    for text in texts:  # one at a time: no padding in the maps
        enc, src, tgt, gen, result = _translation_pass(loaded, [text], beam_size)
        S, T = int(enc.lengths[0]), int((tgt[0] != 0).sum()) - 1  # T decoder rows: y1 .. </s>
        src_tokens = [loaded.src_tokenizer.id_to_token(int(i)) for i in src[0, :S]]
        read = [loaded.tgt_tokenizer.id_to_token(int(i)) for i in tgt[0, :T]]  # <s> y1 ..
        produced = [loaded.tgt_tokenizer.id_to_token(int(i)) for i in tgt[0, 1:T + 1]]  # y1 .. </s>
        maps = [AttentionMap("encoder", src_tokens, src_tokens, _layers(result.encoder_attentions, 0, S, S)),
                AttentionMap("decoder_self", produced, read, _layers(result.decoder_attentions, 0, T, T)),
                AttentionMap("cross", produced, src_tokens, _layers(result.cross_attentions, 0, T, S))]
        translation = decode_batch(loaded.tgt_tokenizer, [gen.tokens[0]])[0]
        out.append(TextAttention(text=text, maps=maps, truncated=bool(enc.n_truncated),
                                 output={"translation": translation, "hit_max_length": bool(gen.hit_max_length[0])}))
    return out


@torch.no_grad()
def translator_statistics(loaded: Any, sources: Sequence[str], *, batch_size: int = 32,
                          similarity_rows: int = 4096) -> dict[str, dict[str, Any]]:
    """Head statistics of a translation run over ``sources`` (decoded first), per attention kind."""
    from attnlab.data.subword import SPECIAL_TOKENS, PAD_ID

    sources = _check_texts(sources)
    src_kinds = _kind_table(loaded.src_tokenizer, SPECIAL_TOKENS)
    tgt_kinds = _kind_table(loaded.tgt_tokenizer, SPECIAL_TOKENS)
    stats = {"encoder": HeadStatistics(similarity_rows=similarity_rows),
             "decoder_self": HeadStatistics(similarity_rows=similarity_rows),
             "cross": HeadStatistics(self_attention=False, similarity_rows=similarity_rows)}
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    for start in range(0, len(order), batch_size):
        batch = [sources[i] for i in order[start:start + batch_size]]
        _, src, tgt, _, result = _translation_pass(loaded, batch, None)
        src_real, tgt_in = src != PAD_ID, tgt[:, :-1]
        tgt_real = tgt[:, 1:] != PAD_ID  # rows that produce a real token (y1 .. </s>)
        src_k, tgt_k = src_kinds.to(src.device)[src], tgt_kinds.to(src.device)[tgt_in]
        stats["encoder"].update(result.encoder_attentions, src_real, src_k)
        stats["decoder_self"].update(result.decoder_attentions, tgt_real, tgt_k)
        stats["cross"].update(result.cross_attentions, src_real, src_k, query_mask=tgt_real)
    return {kind: s.compute() for kind, s in stats.items()}
