"""Transformer building blocks: position-wise feed-forward and the pre-LayerNorm encoder block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from attnlab.errors import InputError
from attnlab.nn.attention import AttentionOutput, MultiHeadAttention, dropout
from attnlab.nn.packing import PackedBatch

__all__ = ["DecoderBlock", "DecoderBlockOutput", "Dropout", "EncoderBlock", "FeedForward", "LayerCache",
           "init_transformer_weights"]

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "gelu_tanh": lambda: nn.GELU(approximate="tanh")}


def init_transformer_weights(module: nn.Module) -> None:
    """BERT/GPT-2 initialisation, for ``model.apply``: N(0, 0.02) weights, zero biases, zero padding embedding."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].zero_()


class DecoderBlockOutput(NamedTuple):
    """What :class:`DecoderBlock` returns; the weights are ``None`` unless ``return_attn=True``."""

    output: Tensor
    self_weights: Tensor | None
    cross_weights: Tensor | None


@dataclass
class LayerCache:
    """One decoder layer's key/value cache for incremental decoding.

    ``self_k``/``self_v`` are preallocated ``(B, H, T_max, d_head)`` buffers filled position by
    position (no re-allocation per step); ``cross_k``/``cross_v`` ``(B, H, S, d_head)`` hold the
    projected encoder memory, computed on the first step.
    """

    self_k: Tensor
    self_v: Tensor
    cross_k: Tensor | None = None
    cross_v: Tensor | None = None

    @classmethod
    def empty(cls, batch: int, n_heads: int, max_len: int, d_head: int, *,
              dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> "LayerCache":
        """A cache with room for ``max_len`` positions of ``batch`` sequences."""
        shape = (batch, n_heads, max_len, d_head)
        return cls(torch.empty(shape, dtype=dtype, device=device), torch.empty(shape, dtype=dtype, device=device))

    def append(self, k: Tensor, v: Tensor, start: int) -> tuple[Tensor, Tensor]:
        """Store ``k, v`` ``(B, H, T, d_head)`` at positions ``start ..``; return all keys/values so far."""
        end = start + k.size(2)
        if end > self.self_k.size(2):
            raise InputError(f"the cache holds {self.self_k.size(2)} positions, asked for {end}; "
                             "allocate it with a larger max_len")
        self.self_k[:, :, start:end] = k
        self.self_v[:, :, start:end] = v
        return self.self_k[:, :, :end], self.self_v[:, :, :end]  # (B, H, end, d_head) x 2

    def reorder(self, index: Tensor, length: int, *, memory: bool = True) -> None:
        """Keep the rows ``index`` ``(B,)`` (beam search: each new hypothesis takes its parent's cache).

        Only the first ``length`` positions are copied. ``memory=False`` leaves the memory
        keys/values alone: right when every row moves within a group sharing one source (beams).
        """
        for name in ("self_k", "self_v"):
            buf = getattr(self, name)
            buf[:, :, :length] = buf[:, :, :length].index_select(0, index)
        if memory and self.cross_k is not None:
            self.cross_k = self.cross_k.index_select(0, index)
            self.cross_v = self.cross_v.index_select(0, index)


class Dropout(nn.Module):
    """Drop-in for ``torch.nn.Dropout`` backed by :func:`attnlab.nn.dropout` (cheaper on CPU).

    Args:
        p: Drop probability in ``[0, 1)``; active in training mode only.

    Example:
        >>> import torch
        >>> drop = Dropout(0.5).eval()
        >>> drop(torch.ones(3))
        tensor([1., 1., 1.])
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {p}; e.g. dropout=0.1")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        """Zero elements of ``x`` with probability ``p`` in training; identity in eval."""
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class FeedForward(nn.Module):
    """Position-wise ``Linear → activation → Linear → dropout``.

    The dropout sits on the output, where the residual connection picks it up (nanoGPT's MLP):
    one dropout per sub-layer, as in BERT.

    Args:
        d_model: Input and output width.
        d_ff: Hidden width, usually ``4 · d_model``.
        dropout: Output dropout probability (training mode only).
        activation: One of ``"gelu"``, ``"gelu_tanh"``, ``"relu"``.

    Example:
        >>> import torch
        >>> ffn = FeedForward(8, 32, dropout=0.0)
        >>> ffn(torch.randn(2, 5, 8)).shape  # (B, T, d_model)
        torch.Size([2, 5, 8])
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0,
                 activation: Literal["gelu", "gelu_tanh", "relu"] = "gelu") -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise InputError(f"unknown activation {activation!r}; use one of {sorted(_ACTIVATIONS)}")
        if d_model <= 0 or d_ff <= 0:
            raise InputError(f"d_model and d_ff must be positive, got d_model={d_model}, "
                             f"d_ff={d_ff}; e.g. d_ff = 4 * d_model")
        self.fc_in = nn.Linear(d_model, d_ff)
        self.act = _ACTIVATIONS[activation]()
        self.fc_out = nn.Linear(d_ff, d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the feed-forward network to ``x`` ``(B, T, d_model)``."""
        return self.dropout(self.fc_out(self.act(self.fc_in(x))))  # (B, T, d_model)


class EncoderBlock(nn.Module):
    """Pre-LayerNorm Transformer encoder block.

    ``x = x + dropout(MHA(LN(x)))`` then ``x = x + dropout(FFN(LN(x)))``. Pre-LN trains stably
    without learning-rate warm-up; the model adds a final LayerNorm after the last block.

    Args:
        d_model: Model width.
        n_heads: Attention heads; must divide ``d_model``.
        d_ff: Feed-forward hidden width.
        dropout: Dropout on attention weights and on both residual branches.
        activation: Feed-forward activation (see :class:`FeedForward`).

    Example:
        >>> import torch
        >>> block = EncoderBlock(d_model=8, n_heads=2, d_ff=16)
        >>> hidden, weights = block(torch.randn(2, 5, 8), return_attn=True)
        >>> hidden.shape, weights.shape  # (B, T, d_model), (B, H, T, T)
        (torch.Size([2, 5, 8]), torch.Size([2, 2, 5, 5]))
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0,
                 activation: Literal["gelu", "gelu_tanh", "relu"] = "gelu") -> None:
        super().__init__()
        self.ln_attn = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.drop_attn = Dropout(dropout)
        self.ln_ffn = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff, dropout, activation)

    def forward(self, x: Tensor, attn_mask: Tensor | None = None, *,
                return_attn: bool = False, head_mask: Tensor | None = None) -> AttentionOutput:
        """Run the block.

        Args:
            x: ``(B, T, d_model)``.
            attn_mask: Bool, broadcastable to ``(B, H, T, T)``, True = may attend; e.g.
                :func:`attnlab.nn.key_padding_to_attn_mask` of the padding. ``None`` keeps the
                fused unmasked kernel.
            return_attn: Also return the per-head weights ``(B, H, T, T)``.
            head_mask: Float ξ ``(H,)`` or ``(B, H)`` scaling each head's output (see
                :meth:`MultiHeadAttention.attend`); ``None`` leaves the heads as they are.

        Returns:
            ``AttentionOutput(output (B, T, d_model), weights or None)``.
        """
        attended, weights = self.attn(self.ln_attn(x), attn_mask=attn_mask, return_attn=return_attn,
                                      head_mask=head_mask)
        x = x + self.drop_attn(attended)  # (B, T, d_model)
        x = x + self.ffn(self.ln_ffn(x))  # (B, T, d_model); FeedForward ends in dropout
        return AttentionOutput(x, weights)

    def forward_packed(self, x: Tensor, packed: PackedBatch, *, head_mask: Tensor | None = None) -> Tensor:
        """The same block on packed tokens ``(N, d_model)`` (no padding; see :mod:`attnlab.nn.packing`):
        the same sub-layers in the same order, with :meth:`MultiHeadAttention.forward_packed` for attention."""
        attended = self.attn.forward_packed(self.ln_attn(x), packed, head_mask=head_mask)  # (N, d_model)
        x = x + self.drop_attn(attended)  # (N, d_model)
        return x + self.ffn(self.ln_ffn(x))  # (N, d_model)


class DecoderBlock(nn.Module):
    """Pre-LayerNorm Transformer decoder block: causal self-attention, cross-attention, feed-forward.

    ``x = x + dropout(SelfMHA(LN(x), causal))``, ``x = x + dropout(CrossMHA(LN(x), memory))``,
    ``x = x + FFN(LN(x))``. All three sub-layers are :class:`MultiHeadAttention` /
    :class:`FeedForward` modules, so the fused and the explicit attention paths are the same code as
    the encoder's.

    With a :class:`LayerCache` the block runs incrementally: the keys and values of the new
    positions are written into the cache, the queries attend over everything cached so far, and
    the cross-attention keys/values of ``memory`` are projected once and kept.

    Args:
        d_model: Model width.
        n_heads: Attention heads; must divide ``d_model``.
        d_ff: Feed-forward hidden width.
        dropout: Dropout on attention weights and on the residual branches.
        activation: Feed-forward activation (see :class:`FeedForward`).

    Example:
        >>> import torch
        >>> block = DecoderBlock(d_model=8, n_heads=2, d_ff=16).eval()
        >>> x, memory = torch.randn(2, 4, 8), torch.randn(2, 6, 8)
        >>> out = block(x, memory, return_attn=True)
        >>> out.output.shape, out.self_weights.shape, out.cross_weights.shape
        (torch.Size([2, 4, 8]), torch.Size([2, 2, 4, 4]), torch.Size([2, 2, 4, 6]))
        >>> cache = LayerCache.empty(2, 2, 4, 4, dtype=x.dtype)  # step by step gives the same
        >>> steps = [block(x[:, t:t + 1], memory, cache=cache, start=t).output for t in range(4)]
        >>> torch.allclose(torch.cat(steps, dim=1), out.output, atol=1e-6)
        True
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0,
                 activation: Literal["gelu", "gelu_tanh", "relu"] = "gelu") -> None:
        super().__init__()
        self.ln_self = nn.LayerNorm(d_model)
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.ln_cross = nn.LayerNorm(d_model)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.drop = Dropout(dropout)
        self.ln_ffn = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff, dropout, activation)

    def forward(self, x: Tensor, memory: Tensor, memory_mask: Tensor | None = None, *,
                cache: LayerCache | None = None, start: int = 0,
                return_attn: bool = False) -> DecoderBlockOutput:
        """Run the block.

        Args:
            x: ``(B, T, d_model)`` target-side states (positions ``start .. start + T - 1``).
            memory: ``(B, S, d_model)`` encoder output.
            memory_mask: Bool broadcastable to ``(B, H, T, S)``, True = may attend (e.g.
                ``src_real[:, None, None, :]``); ``None`` when the source has no padding.
            cache: Keys/values of earlier positions; ``None`` runs the whole prefix with a causal mask.
            start: Position of ``x[:, 0]`` (with a cache: how many positions are cached already).
            return_attn: Also return self- and cross-attention weights per head.

        Returns:
            ``DecoderBlockOutput(output (B, T, d_model), self_weights (B, H, T, start + T) or None,
            cross_weights (B, H, T, S) or None)``.
        """
        h = self.ln_self(x)
        if cache is None:
            attended, self_w = self.self_attn(h, is_causal=True, return_attn=return_attn)
        else:
            q, k, v = self.self_attn.project(h, h, h)  # (B, H, T, d_head) x 3
            keys, values = cache.append(k, v, start)  # (B, H, start + T, d_head) x 2
            T = x.size(1)
            # Bottom-right causal alignment: query i (position start + i) sees keys 0 .. start + i.
            mask = None if T == 1 else (torch.arange(start + T, device=x.device)[None, :]
                                        <= start + torch.arange(T, device=x.device)[:, None])
            attended, self_w = self.self_attn.attend(q, keys, values, mask, return_attn=return_attn)
        x = x + self.drop(attended)  # (B, T, d_model)
        h = self.ln_cross(x)
        if cache is None:
            attended, cross_w = self.cross_attn(h, memory, memory, attn_mask=memory_mask,
                                                return_attn=return_attn)
        else:
            if cache.cross_k is None:  # the memory's keys/values are the same at every step
                cache.cross_k, cache.cross_v = self.cross_attn.project_key_value(memory, memory)
            attended, cross_w = self.cross_attn.attend(self.cross_attn.project_query(h), cache.cross_k,
                                                       cache.cross_v, memory_mask, return_attn=return_attn)
        x = x + self.drop(attended)  # (B, T, d_model)
        x = x + self.ffn(self.ln_ffn(x))  # (B, T, d_model)
        return DecoderBlockOutput(x, self_w, cross_w)
