"""Encoder–decoder Transformer for translation (pre-LN, learned or sinusoidal positions, optional tied embeddings)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from attnlab.errors import InputError
from attnlab.nn.layers import DecoderBlock, Dropout, EncoderBlock, LayerCache, init_transformer_weights
from attnlab.nn.losses import smoothed_cross_entropy

__all__ = ["Seq2SeqOutput", "Seq2SeqTransformer", "seq2seq_loss", "sinusoidal_positions"]


class Seq2SeqOutput(NamedTuple):
    """What :class:`Seq2SeqTransformer` returns.

    Attributes:
        logits: ``(B, T, V)`` next-token scores for every target position.
        encoder_attentions: Per encoder layer ``(B, H, S, S)``, when asked for.
        decoder_attentions: Per decoder layer ``(B, H, T, T)`` causal self-attention, when asked for.
        cross_attentions: Per decoder layer ``(B, H, T, S)``, when asked for.
    """

    logits: Tensor
    encoder_attentions: tuple[Tensor, ...] | None = None
    decoder_attentions: tuple[Tensor, ...] | None = None
    cross_attentions: tuple[Tensor, ...] | None = None


class Seq2SeqTransformer(nn.Module):
    """Transformer encoder–decoder: ``source → encoder → memory``; ``target prefix + memory → decoder → next token``.

    Encoder and decoder are stacks of :class:`attnlab.nn.EncoderBlock` / :class:`attnlab.nn.DecoderBlock`
    (the same :class:`attnlab.nn.MultiHeadAttention` everywhere: self-attention in the encoder, causal
    self-attention and cross-attention over the encoder output in the decoder), each stack closed by a
    LayerNorm. Embeddings are learned token + position tables.

    Args:
        src_vocab_size: Source token ids.
        tgt_vocab_size: Target token ids.
        d_model: Model width.
        n_heads: Attention heads; must divide ``d_model``.
        n_encoder_layers: Encoder blocks.
        n_decoder_layers: Decoder blocks.
        d_ff: Feed-forward hidden width.
        max_len: Longest source or target sequence (position tables).
        dropout: Dropout on embeddings, attention weights and residual branches.
        pad_id: Padding id of both vocabularies.
        tie_embeddings: ``"none"``; ``"decoder"`` (the output projection reuses the decoder's token
            table); ``"all"`` (one table for source, target and output: needs one shared vocabulary).
        positions: ``"learned"`` (a trained table per side, N(0, 0.02) like every weight) or
            ``"sinusoidal"`` (Vaswani et al.'s fixed encodings; token embeddings are then drawn from
            N(0, 1/d_model) and scaled by √d_model, as in fairseq, so both terms have unit scale).

    Example:
        >>> _ = torch.manual_seed(0)
        >>> model = Seq2SeqTransformer(src_vocab_size=30, tgt_vocab_size=30, d_model=16, n_heads=2,
        ...                            n_encoder_layers=1, n_decoder_layers=1, d_ff=32, max_len=12).eval()
        >>> src = torch.tensor([[5, 6, 7, 3], [8, 9, 3, 0]])
        >>> tgt_in = torch.tensor([[2, 10, 11], [2, 12, 0]])
        >>> out = model(src, src != 0, tgt_in, return_attn=True)
        >>> out.logits.shape, out.cross_attentions[0].shape  # (B, T, V), (B, H, T, S)
        (torch.Size([2, 3, 30]), torch.Size([2, 2, 3, 4]))
    """

    def __init__(self, *, src_vocab_size: int, tgt_vocab_size: int, d_model: int = 256, n_heads: int = 4,
                 n_encoder_layers: int = 3, n_decoder_layers: int = 3, d_ff: int = 1024, max_len: int = 256,
                 dropout: float = 0.1, pad_id: int = 0, tie_embeddings: str = "all",
                 positions: str = "learned") -> None:
        super().__init__()
        _validate(src_vocab_size, tgt_vocab_size, d_model, n_encoder_layers, n_decoder_layers, d_ff, max_len,
                  pad_id, tie_embeddings, positions)
        self.max_len, self.pad_id, self.tie_embeddings, self.positions = max_len, pad_id, tie_embeddings, positions
        self.embed_scale = d_model ** 0.5 if positions == "sinusoidal" else 1.0
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.tgt_emb = nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_id)
        self.src_emb = self.tgt_emb if tie_embeddings == "all" else nn.Embedding(src_vocab_size, d_model,
                                                                                   padding_idx=pad_id)
        if positions == "learned":
            self.src_pos = nn.Embedding(max_len, d_model)
            self.tgt_pos = nn.Embedding(max_len, d_model)
        else:  # fixed: a buffer, not a parameter (saved with the weights, never trained)
            self.register_buffer("pos_table", sinusoidal_positions(max_len, d_model), persistent=False)
        self.drop = Dropout(dropout)
        self.encoder = nn.ModuleList(EncoderBlock(d_model, n_heads, d_ff, dropout) for _ in range(n_encoder_layers))
        self.ln_enc = nn.LayerNorm(d_model)
        self.decoder = nn.ModuleList(DecoderBlock(d_model, n_heads, d_ff, dropout) for _ in range(n_decoder_layers))
        self.ln_dec = nn.LayerNorm(d_model)
        self.lm_head = nn.Linear(d_model, tgt_vocab_size, bias=False)
        self.apply(init_transformer_weights)
        if positions == "sinusoidal":
            with torch.no_grad():
                for table in {id(e): e for e in (self.src_emb, self.tgt_emb)}.values():
                    nn.init.normal_(table.weight, mean=0.0, std=d_model ** -0.5)
                    table.weight[pad_id].zero_()
        if tie_embeddings != "none":
            self.lm_head.weight = self.tgt_emb.weight

    @property
    def memory_dtype(self) -> torch.dtype:
        return self.lm_head.weight.dtype

    def encode(self, src_ids: Tensor, src_mask: Tensor | None = None, *,
               return_attn: bool = False) -> tuple[Tensor, Tensor | None, tuple[Tensor, ...] | None]:
        """Encode sources.

        Args:
            src_ids: ``(B, S)`` token ids.
            src_mask: ``(B, S)`` True/1 at real tokens; ``None`` = no padding.
            return_attn: Also return each encoder layer's weights ``(B, H, S, S)``.

        Returns:
            ``(memory (B, S, d_model), memory_mask (B, 1, 1, S) or None, attentions or None)``; the
            mask is ``None`` when no source is padded (the fused kernels then run unmasked).
        """
        self._check_ids(src_ids, "src_ids")
        real = None if src_mask is None else src_mask.bool()  # (B, S)
        if real is not None and bool(real.all()):
            real = None
        mask = None if real is None else real[:, None, None, :]  # (B, 1, 1, S), True = may attend
        x = self.drop(self.src_emb(src_ids) * self.embed_scale + self._positions("src", 0, src_ids.size(1)))
        attentions = []
        for block in self.encoder:
            x, weights = block(x, mask, return_attn=return_attn)  # (B, S, d_model)
            attentions.append(weights)
        return self.ln_enc(x), mask, tuple(attentions) if return_attn else None

    def decode(self, tgt_in: Tensor, memory: Tensor, memory_mask: Tensor | None = None, *,
               cache: list[LayerCache] | None = None, start: int = 0,
               return_attn: bool = False) -> Seq2SeqOutput:
        """Next-token logits for target prefixes.

        Args:
            tgt_in: ``(B, T)`` target ids at positions ``start .. start + T - 1`` (``<s>`` first).
            memory: ``(B, S, d_model)`` from :meth:`encode`.
            memory_mask: ``(B, 1, 1, S)`` from :meth:`encode`, or ``None``.
            cache: One :class:`LayerCache` per decoder layer (incremental decoding), else ``None``.
            start: Position of ``tgt_in[:, 0]``; with a cache, the number of positions cached.
            return_attn: Also return decoder self- and cross-attention weights.

        Returns:
            :class:`Seq2SeqOutput` with ``logits (B, T, V)``.
        """
        self._check_ids(tgt_in, "tgt_in", offset=start)
        x = self.drop(self.tgt_emb(tgt_in) * self.embed_scale + self._positions("tgt", start, tgt_in.size(1)))
        self_ws, cross_ws = [], []
        for i, block in enumerate(self.decoder):
            x, self_w, cross_w = block(x, memory, memory_mask, cache=None if cache is None else cache[i],
                                       start=start, return_attn=return_attn)  # (B, T, d_model)
            self_ws.append(self_w)
            cross_ws.append(cross_w)
        logits = self.lm_head(self.ln_dec(x))  # (B, T, V)
        if not return_attn:
            return Seq2SeqOutput(logits)
        return Seq2SeqOutput(logits, None, tuple(self_ws), tuple(cross_ws))

    def forward(self, src_ids: Tensor, src_mask: Tensor | None, tgt_in: Tensor, *,
                return_attn: bool = False) -> Seq2SeqOutput:
        """Teacher-forced logits ``(B, T, V)`` for ``tgt_in`` (``<s> y1 .. y_{n-1}``, right-padded).

        Target padding needs no mask: padding comes after the real tokens, so the causal mask already
        hides it from every real position, and the loss ignores the padded positions.
        """
        memory, memory_mask, enc_ws = self.encode(src_ids, src_mask, return_attn=return_attn)
        out = self.decode(tgt_in, memory, memory_mask, return_attn=return_attn)
        return out._replace(encoder_attentions=enc_ws)

    def new_cache(self, batch: int, max_len: int, *, device: torch.device | str | None = None) -> list[LayerCache]:
        """Empty key/value caches for ``batch`` sequences of up to ``max_len`` target positions."""
        if max_len > self.max_len:
            raise InputError(f"max_len={max_len} exceeds the model's position table ({self.max_len}); "
                             "ask for fewer new tokens")
        return [LayerCache.empty(batch, self.n_heads, max_len, self.d_head, dtype=self.memory_dtype, device=device)
                for _ in self.decoder]

    def _positions(self, side: str, start: int, length: int) -> Tensor:
        """Position encodings ``(length, d_model)`` for positions ``start .. start + length - 1``."""
        if self.positions == "sinusoidal":
            return self.pos_table[start:start + length]
        return (self.src_pos if side == "src" else self.tgt_pos).weight[start:start + length]

    def _check_ids(self, ids: Tensor, name: str, offset: int = 0) -> None:
        if ids.dim() != 2 or ids.is_floating_point() or ids.is_complex():
            raise InputError(f"{name} must be an integer (B, T) tensor, got {ids.dtype} of shape "
                             f"{tuple(ids.shape)}; batch token ids as torch.long")
        if offset + ids.size(1) > self.max_len:
            raise InputError(f"{name}: position {offset + ids.size(1)} exceeds max_len={self.max_len}; truncate "
                             "the inputs or build the model with a larger max_len")


def sinusoidal_positions(max_len: int, d_model: int) -> Tensor:
    """Vaswani et al.'s encodings ``(max_len, d_model)``: sin on even, cos on odd dimensions.

    >>> table = sinusoidal_positions(4, 6)
    >>> table.shape, table[0].tolist()
    (torch.Size([4, 6]), [0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    """
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]  # (T, 1)
    inv_freq = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (ceil(d/2),)
    table = torch.zeros(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(pos * inv_freq)
    table[:, 1::2] = torch.cos(pos * inv_freq)[:, : d_model // 2]
    return table.float()


def seq2seq_loss(logits: Tensor, labels: Tensor, *, pad_id: int, label_smoothing: float = 0.0) -> Tensor:
    """Mean token cross-entropy over non-padding labels (``labels`` ``(B, T)``, ``logits`` ``(B, T, V)``):
    ``F.cross_entropy``'s value with a one-pass backward (:func:`attnlab.nn.losses.smoothed_cross_entropy`).

    >>> logits = torch.zeros(1, 2, 4)
    >>> round(seq2seq_loss(logits, torch.tensor([[1, 0]]), pad_id=0).item(), 4)  # log(4); padding ignored
    1.3863
    """
    return smoothed_cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=pad_id,
                                  label_smoothing=label_smoothing)


def _validate(src_vocab_size: int, tgt_vocab_size: int, d_model: int, n_encoder_layers: int,
              n_decoder_layers: int, d_ff: int, max_len: int, pad_id: int, tie_embeddings: str,
              positions: str) -> None:
    sizes = dict(src_vocab_size=src_vocab_size, tgt_vocab_size=tgt_vocab_size, d_model=d_model,
                 n_encoder_layers=n_encoder_layers, n_decoder_layers=n_decoder_layers, d_ff=d_ff, max_len=max_len)
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InputError(f"{name} must be a positive integer, got {value!r}; fix the model config")
    if positions not in ("learned", "sinusoidal"):
        raise InputError(f"positions must be learned or sinusoidal, got {positions!r}")
    if tie_embeddings not in ("none", "decoder", "all"):
        raise InputError(f"tie_embeddings must be none, decoder or all, got {tie_embeddings!r}")
    if tie_embeddings == "all" and src_vocab_size != tgt_vocab_size:
        raise InputError("tie_embeddings='all' needs one shared vocabulary (src and tgt sizes differ); train a "
                         "shared tokenizer or use tie_embeddings='decoder'")
    if not 0 <= pad_id < min(src_vocab_size, tgt_vocab_size):
        raise InputError(f"pad_id={pad_id} is outside the vocabulary; use the tokenizer's padding id")
