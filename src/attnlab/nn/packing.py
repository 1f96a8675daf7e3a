"""Packing ("unpadding") variable-length batches: no compute on padding.

A padded batch ``(B, T, d_model)`` whose rows have lengths ``n_b`` holds ``N = Σ n_b`` real tokens. Everything
in an encoder except attention works token by token (embeddings, LayerNorm, projections, feed-forward), so it
can run on the ``(N, d_model)`` real tokens alone; attention runs per sequence from cumulative offsets
``cu_seqlens`` (FlashAttention's varlen layout: sequence ``b`` holds tokens ``cu_seqlens[b] ..
cu_seqlens[b + 1] - 1``). :class:`PackedBatch` records where the tokens came from; :func:`varlen_attention`
is the attention (``torch.nn.attention.varlen.varlen_attn`` on CUDA, an exact padded fallback elsewhere).

Example:
    >>> import torch
    >>> real = torch.tensor([[True, True, True], [True, False, False]])
    >>> packed = PackedBatch.from_mask(real)
    >>> packed.cu_seqlens.tolist(), packed.positions.tolist(), packed.max_len
    ([0, 3, 4], [0, 1, 2, 0], 3)
    >>> x = torch.arange(6.0).reshape(2, 3, 1)  # (B, T, 1)
    >>> packed.pack(x).flatten().tolist()  # (N, 1): the real tokens only
    [0.0, 1.0, 2.0, 3.0]
    >>> packed.unpack(packed.pack(x)).flatten().tolist()  # back to (B, T, 1), zeros at padding
    [0.0, 1.0, 2.0, 3.0, 0.0, 0.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from attnlab.errors import InputError

__all__ = ["PackedBatch", "can_use_varlen_kernel", "varlen_attention"]


@dataclass(frozen=True)
class PackedBatch:
    """Where the real tokens of a padded ``(B, T)`` batch sit in the packed ``(N, ...)`` layout.

    Tokens are packed row by row in their original order; a row may be empty (length 0) and real tokens need
    not be contiguous (each keeps its original position ``t``).

    Attributes:
        indices: ``(N,)`` int64 flat positions ``b · T + t`` of the real tokens.
        batch_ids: ``(N,)`` int64 row ``b`` of each token.
        positions: ``(N,)`` int64 original position ``t`` of each token (for position embeddings).
        lengths: ``(B,)`` int64 real tokens per row.
        cu_seqlens: ``(B + 1,)`` int32 cumulative lengths, ``cu_seqlens[0] = 0``.
        max_len: The longest row (a Python int: kernels size their grids with it).
        batch: ``B``.
        seq_len: ``T`` of the padded layout.
    """

    indices: Tensor
    batch_ids: Tensor
    positions: Tensor
    lengths: Tensor
    cu_seqlens: Tensor
    max_len: int
    batch: int
    seq_len: int

    @classmethod
    def from_mask(cls, real: Tensor) -> PackedBatch:
        """Pack the positions where ``real`` ``(B, T)`` (bool, True = real token) is True.

        One host synchronisation (the token count and the longest row are needed as Python ints).
        """
        if real.dim() != 2 or real.dtype != torch.bool:
            raise InputError(f"real must be a bool (B, T) mask with True = real token, got {real.dtype} of shape "
                             f"{tuple(real.shape)}; pass attention_mask.bool()")
        B, T = real.shape
        indices = real.reshape(-1).nonzero().squeeze(1)  # (N,)
        lengths = real.sum(dim=1)  # (B,)
        cu_seqlens = torch.zeros(B + 1, dtype=torch.int32, device=real.device)
        cu_seqlens[1:] = lengths.cumsum(0)
        max_len = int(lengths.max()) if B else 0
        return cls(indices=indices, batch_ids=indices // T, positions=indices % T, lengths=lengths,
                   cu_seqlens=cu_seqlens, max_len=max_len, batch=B, seq_len=T)

    @property
    def n_tokens(self) -> int:
        """``N``, the number of real tokens."""
        return self.indices.numel()

    def pack(self, x: Tensor) -> Tensor:
        """``(B, T, ...)`` to ``(N, ...)``: the real tokens' rows."""
        return x.reshape(self.batch * self.seq_len, *x.shape[2:]).index_select(0, self.indices)  # (N, ...)

    def unpack(self, x: Tensor) -> Tensor:
        """``(N, ...)`` to ``(B, T, ...)`` with zeros at padding (differentiable)."""
        out = x.new_zeros(self.batch * self.seq_len, *x.shape[1:])  # (B·T, ...)
        return out.index_copy(0, self.indices, x).reshape(self.batch, self.seq_len, *x.shape[1:])  # (B, T, ...)

    def compact(self) -> tuple[Tensor, Tensor]:
        """Indices of the tokens in a left-aligned ``(B, max_len)`` layout and its key mask ``(B, max_len)``.

        The padded fallback of :func:`varlen_attention` runs attention there: ``B · max_len`` positions,
        never the original ``T``.
        """
        rank = torch.arange(self.n_tokens, device=self.indices.device) - self.cu_seqlens[:-1].long()[self.batch_ids]
        slots = self.batch_ids * self.max_len + rank  # (N,) in the flattened (B, max_len) layout
        keys = torch.arange(self.max_len, device=self.indices.device) < self.lengths[:, None]  # (B, max_len)
        return slots, keys


def can_use_varlen_kernel(q: Tensor, dropout_p: float) -> bool:
    """Whether ``torch.nn.attention.varlen.varlen_attn`` can run ``q`` ``(N, H, d_head)``.

    Its FlashAttention kernel needs CUDA, float16/bfloat16, a head size that is a multiple of 8 up to 256, and
    no attention dropout (the wrapper fixes dropout at 0).
    """
    d_head = q.size(-1)
    return (q.is_cuda and q.dtype in (torch.float16, torch.bfloat16) and d_head % 8 == 0 and d_head <= 256
            and dropout_p == 0.0)


def varlen_attention(q: Tensor, k: Tensor, v: Tensor, packed: PackedBatch, *, dropout_p: float = 0.0,
                     explicit: bool = False) -> Tensor:
    """Self-attention of packed tokens within their own sequence: ``(N, H, d_head)`` in and out.

    Token ``i`` of sequence ``b`` attends to every token of ``b`` and nothing else, exactly as the padded
    computation with a key-padding mask. On CUDA with bf16/fp16 inputs and no attention dropout (see
    :func:`can_use_varlen_kernel`) this is one ``varlen_attn`` call over the ``cu_seqlens``. Otherwise, exact
    fallbacks with the usual fused (or explicit) kernel: on CPU one unmasked call per sequence (``Σ n_b²``
    scores, not ``B · max_len²``; a loop of ``B`` calls costs little there), on CUDA (float32, dropout) the
    tokens scattered into a left-aligned ``(B, H, max_len, d_head)`` batch with a key mask, and gathered back.

    Args:
        q: ``(N, H, d_head)`` queries; ``k``, ``v`` alike.
        packed: The batch layout.
        dropout_p: Dropout on the attention weights (the fallback path applies it).
        explicit: Use the written-out attention in the fallback (:func:`attnlab.nn.scaled_dot_product_attention`).

    Example:
        >>> import torch
        >>> from attnlab.nn.attention import scaled_dot_product_attention
        >>> _ = torch.manual_seed(0)
        >>> real = torch.tensor([[True, True, True], [True, True, False]])
        >>> packed = PackedBatch.from_mask(real)
        >>> q, k, v = (torch.randn(packed.n_tokens, 2, 4) for _ in range(3))  # (N, H, d_head)
        >>> out = varlen_attention(q, k, v, packed)
        >>> ref, _ = scaled_dot_product_attention(q[3:5].transpose(0, 1), k[3:5].transpose(0, 1),
        ...                                       v[3:5].transpose(0, 1))  # sequence 1 alone
        >>> torch.allclose(out[3:5], ref.transpose(0, 1), atol=1e-6)
        True
    """
    if packed.n_tokens == 0:
        return q.new_zeros(q.shape)
    if not explicit and can_use_varlen_kernel(q, dropout_p):
        from torch.nn.attention.varlen import varlen_attn

        cu, n = packed.cu_seqlens, packed.max_len
        return varlen_attn(q, k, v, cu, cu, n, n)  # (N, H, d_head)
    if q.device.type == "cpu":
        return _per_sequence_attention(q, k, v, packed, dropout_p, explicit)
    return _grid_attention(q, k, v, packed, dropout_p, explicit)


def _per_sequence_attention(q: Tensor, k: Tensor, v: Tensor, packed: PackedBatch, dropout_p: float,
                            explicit: bool) -> Tensor:
    """One unmasked attention call per non-empty sequence; ``(N, H, d_head)``."""
    from attnlab.nn.attention import attention_kernel  # attention builds on this module's PackedBatch

    sizes = packed.lengths.tolist()
    outs = []
    for qs, ks, vs in zip(q.split(sizes), k.split(sizes), v.split(sizes)):
        if qs.size(0) == 0:
            continue
        heads = [x.transpose(0, 1)[None] for x in (qs, ks, vs)]  # 3 x (1, H, n_b, d_head)
        out, _ = attention_kernel(*heads, dropout_p=dropout_p, explicit=explicit)  # (1, H, n_b, d_head)
        outs.append(out[0].transpose(0, 1))  # (n_b, H, d_head)
    return torch.cat(outs)  # (N, H, d_head)


def _grid_attention(q: Tensor, k: Tensor, v: Tensor, packed: PackedBatch, dropout_p: float,
                    explicit: bool) -> Tensor:
    """Scatter into a left-aligned ``(B, H, max_len, d_head)`` batch, attend with a key mask, gather back."""
    from attnlab.nn.attention import attention_kernel

    B, L, H, d_head = packed.batch, packed.max_len, q.size(1), q.size(2)
    slots, keys = packed.compact()
    grid = [x.new_zeros(B * L, H, d_head).index_copy(0, slots, x).reshape(B, L, H, d_head).transpose(1, 2)
            for x in (q, k, v)]  # 3 x (B, H, L, d_head)
    mask = keys[:, None, None, :]  # (B, 1, 1, L), True = may attend
    out, _ = attention_kernel(*grid, mask, dropout_p=dropout_p, explicit=explicit)  # (B, H, L, d_head)
    return out.transpose(1, 2).reshape(B * L, H, d_head).index_select(0, slots)  # (N, H, d_head)
