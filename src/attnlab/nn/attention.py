"""Scaled dot-product attention and multi-head attention.

Mask convention everywhere in this module: a bool mask broadcastable to ``(B, H, T_q, T_k)`` where
True means "this query may attend to this key" (the convention of
``torch.nn.functional.scaled_dot_product_attention``). The one exception is ``key_padding_mask``
``(B, T_k)``, where True marks PADDING, as in ``torch.nn.MultiheadAttention``.

A query whose keys are all masked gets all-zero weights and an all-zero output (never NaN, in the
forward or the backward pass), on both the explicit and the fused path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnlab.errors import InputError
from attnlab.nn.backends import sdpa_backend_context, set_sdpa_backends, use_sdpa_backends
from attnlab.nn.masks import causal_mask, combine_masks, key_padding_to_attn_mask

if TYPE_CHECKING:
    from attnlab.nn.packing import PackedBatch

__all__ = ["AttentionOutput", "MultiHeadAttention", "attention_kernel", "dropout", "scaled_dot_product_attention",
           "set_sdpa_backends", "use_sdpa_backends"]

_DROPOUT_LEVELS = 1 << 16  # dropout draws one 16-bit lane per element


class AttentionOutput(NamedTuple):
    """What attention modules return.

    Attributes:
        output: ``(B, T_q, d_model)`` attended values.
        weights: ``(B, H, T_q, T_k)`` softmax weights per head, or ``None`` unless asked for.
    """

    output: Tensor
    weights: Tensor | None


def _additive_mask(mask: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Turn a "may attend" mask into a score bias and a factor that zeroes key-less rows.

    Softmax over a row of ``-inf`` is NaN, and NaN leaks into every gradient through the shared
    keys. So a query row with no allowed key gets bias 0 everywhere (a finite softmax) and
    factor 0, which zeroes its weights or output and also its gradient. Adding a bias costs one
    pass and nothing in the backward, unlike ``masked_fill``.

    Returns:
        ``bias`` shaped like ``mask`` (0 or ``-inf``) and ``row_factor`` ``(..., T_q, 1)`` (0 or 1).
    """
    has_key = mask.any(dim=-1, keepdim=True)  # (..., T_q, 1)
    bias = torch.zeros(mask.shape, dtype=dtype, device=mask.device)  # (..., T_q, T_k)
    bias.masked_fill_(~mask & has_key, float("-inf"))
    return bias, has_key.to(dtype)


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Inverted dropout with a cheap random mask: zero each element with probability ``p``.

    Same semantics as ``torch.nn.functional.dropout``, but the mask comes from 64-bit random
    words split into four 16-bit lanes, and stays in floating point: on CPU, torch's
    per-element ``bernoulli_`` made dropout about a fifth of a small model's training step.
    ``p`` is rounded to a multiple of ``1/65536``; survivors are scaled by ``1 / (1 - p)``
    with that rounded ``p``. Draws from torch's default generator, so ``torch.manual_seed``
    makes it reproducible.

    Args:
        x: Any floating tensor.
        p: Drop probability in ``[0, 1)``.
        training: Identity when False.

    Returns:
        A tensor shaped like ``x``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> y = dropout(torch.ones(100_000), 0.25)
        >>> sorted(y.unique().tolist())  # dropped, or scaled by 1 / (1 - p)
        [0.0, 1.3333333730697632]
        >>> round((y == 0).float().mean().item(), 2)
        0.25
    """
    if not training or p == 0.0:
        return x
    if not 0.0 <= p < 1.0:
        raise InputError(f"dropout probability must be in [0, 1), got {p}; e.g. 0.1")
    if x.device.type != "cpu":  # accelerators have fast fused dropout kernels of their own
        return F.dropout(x, p, training=True)
    n = x.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device)
    words.random_(-(2**63), None)  # the full 64-bit range: every 16-bit lane is uniform
    lanes = words.view(torch.int16)[:n].view(x.shape)  # uniform in [-32768, 32767]
    drop_levels = round(p * _DROPOUT_LEVELS)
    exact = x.dtype if x.element_size() >= 4 else torch.float32  # int16 is exact in float32
    keep = lanes.to(exact).ge_(drop_levels - _DROPOUT_LEVELS // 2)  # 1.0 = keep, 0.0 = drop
    # Float multiplies only: bool masks take a slow type-promotion path on CPU.
    keep = keep.mul_(_DROPOUT_LEVELS / (_DROPOUT_LEVELS - drop_levels)).to(x.dtype)
    return x * keep


def _check_mask(mask: Tensor | None, name: str) -> None:
    if mask is not None and mask.dtype != torch.bool:
        raise InputError(f"{name} must be a bool tensor with True = may attend, got {mask.dtype}; "
                         "convert an additive float mask with `mask == 0`")


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    *,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Attention written out: ``softmax(Q Kᵀ · scale, masked) · V``.

    Args:
        q: Queries ``(..., T_q, d_head)``, usually ``(B, H, T_q, d_head)``.
        k: Keys ``(..., T_k, d_head)``.
        v: Values ``(..., T_k, d_v)``.
        mask: Bool, broadcastable to ``(..., T_q, T_k)``; True = may attend.
        dropout_p: Dropout on the weights before they multiply ``V``. Applied whenever it is
            positive, like the torch function: pass ``0.0`` in evaluation.
        is_causal: Also forbid keys after the query (top-left aligned, as in torch).
        scale: Score multiplier; defaults to ``1 / sqrt(d_head)``.

    Returns:
        ``(output, weights)``: output ``(..., T_q, d_v)`` and the softmax weights
        ``(..., T_q, T_k)`` before dropout. Rows with no allowed key are all zero.

    Example:
        The worked example: scores ``[[1, .5, 0], [.5, 1, .2], [0, .2, 1]]`` for three words. With
        ``k`` the identity and ``scale=1``, ``Q Kᵀ · scale`` is ``q`` itself; in the second word's
        row the third word gets ``softmax([0.5, 1, 0.2])[2] ≈ 0.218``.

        >>> import torch
        >>> scores = torch.tensor([[1.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 1.0]])
        >>> out, w = scaled_dot_product_attention(scores, torch.eye(3), torch.eye(3), scale=1.0)
        >>> w[1].round(decimals=4)
        tensor([0.2950, 0.4864, 0.2186])
        >>> torch.equal(out, w)  # V = identity, so each output row is its weight row
        True

        A query whose keys are all masked gets zeros, not NaN:

        >>> mask = torch.tensor([[True, True, True], [False, False, False], [True, False, True]])
        >>> out, w = scaled_dot_product_attention(scores, torch.eye(3), torch.eye(3), mask, scale=1.0)
        >>> w.sum(dim=-1)
        tensor([1., 0., 1.])
    """
    _check_mask(mask, "mask")
    scale = q.size(-1) ** -0.5 if scale is None else scale
    scores = (q * scale) @ k.transpose(-2, -1)  # (B, H, T_q, T_k); scaling q is the smaller op
    if is_causal:
        mask = combine_masks(mask, causal_mask(q.size(-2), k.size(-2), q.device))
    row_factor = None
    if mask is not None:
        bias, row_factor = _additive_mask(mask, scores.dtype)
        scores = scores + bias  # (B, H, T_q, T_k)
    weights = scores.softmax(dim=-1)  # (B, H, T_q, T_k)
    if row_factor is not None:
        weights = weights * row_factor  # rows with no allowed key become 0
    return dropout(weights, dropout_p) @ v, weights  # (B, H, T_q, d_v), (B, H, T_q, T_k)


def _fused_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, dropout_p: float,
                     is_causal: bool) -> Tensor:
    """``F.scaled_dot_product_attention`` with the same empty-row guarantee as the explicit path.

    On CUDA the kernel priority of :mod:`attnlab.nn.backends` applies (cuDNN first on Hopper by default).
    """
    with sdpa_backend_context(q.device):
        if mask is None:  # no mask tensor at all lets torch pick its fastest kernel
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=is_causal)
        if is_causal:
            mask = combine_masks(mask, causal_mask(q.size(-2), k.size(-2), q.device))
        bias, row_factor = _additive_mask(mask, q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p)
    return out * row_factor  # (B, H, T_q, d_head); rows with no allowed key become 0


def attention_kernel(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *, dropout_p: float = 0.0,
                     is_causal: bool = False, explicit: bool = False) -> tuple[Tensor, Tensor | None]:
    """Attention over heads ``(B, H, T, d_head)`` by the fastest path that gives what is asked for.

    The explicit path (:func:`scaled_dot_product_attention`) when ``explicit`` (weights wanted), or on CPU when
    it is the faster one: with dropout (torch's CPU SDPA has no fused dropout kernel and runs an unfused path
    with slow per-element bernoulli), and when training in bf16/fp16 (autocast) with at most
    :data:`CPU_HALF_EXPLICIT_MAX_KEYS` keys — there the fused kernel's forward+backward measured 2.0–2.9× slower
    than the explicit path at 35 keys, 2.3× at 128 and 1.1× at 256, even at 512 and 2.2× faster at 1024
    (2-core AMD EPYC, bf16, d_head 32). Otherwise the fused ``F.scaled_dot_product_attention`` (with the CUDA
    kernel priority of :mod:`attnlab.nn.backends`).

    Returns:
        ``(output (B, H, T_q, d_v), weights (B, H, T_q, T_k) or None)``; weights come from the explicit path only.
    """
    if explicit or (q.device.type == "cpu" and (dropout_p > 0.0 or _cpu_half_training(q, k))):
        return scaled_dot_product_attention(q, k, v, mask, dropout_p=dropout_p, is_causal=is_causal)
    return _fused_attention(q, k, v, mask, dropout_p, is_causal), None


CPU_HALF_EXPLICIT_MAX_KEYS = 256


def _cpu_half_training(q: Tensor, k: Tensor) -> bool:
    """bf16/fp16 attention on CPU that will be differentiated, over at most ``CPU_HALF_EXPLICIT_MAX_KEYS`` keys."""
    return (q.dtype in (torch.bfloat16, torch.float16) and torch.is_grad_enabled() and q.requires_grad
            and k.size(-2) <= CPU_HALF_EXPLICIT_MAX_KEYS)


def _divisors(n: int) -> list[int]:
    return [h for h in range(1, n + 1) if n % h == 0]


class MultiHeadAttention(nn.Module):
    """Multi-head attention: project, split into heads, attend per head, concatenate, project.

    Parameters mirror ``torch.nn.MultiheadAttention`` so weights copy across (see
    :meth:`from_torch`): when ``kdim == vdim == d_model`` the query/key/value projections are one
    ``in_proj`` Linear ``(3·d_model, d_model)``. Self-attention runs it as one fused matmul;
    cross-attention uses its query rows and, when ``key is value``, its fused key/value rows.
    Otherwise there are separate ``q_proj``, ``k_proj``, ``v_proj`` Linears.

    Tensors are batch-first: ``(B, T, d_model)``.

    Heads can be scaled by a head mask ξ (``head_mask`` of :meth:`forward`; Michel et al. 2019) and removed
    for good with :meth:`prune_heads`, which deletes their projection rows and output-projection columns.
    After pruning, ``n_heads`` counts the heads left, ``d_head`` is unchanged and the attention width
    ``n_heads * d_head`` may be smaller than ``d_model``; ``pruned_heads`` holds the removed heads'
    indices in the ORIGINAL numbering (as Hugging Face's ``pruned_heads``).

    Args:
        d_model: Model width; must be divisible by ``n_heads``.
        n_heads: Number of heads ``H``; each has ``d_head = d_model // n_heads``.
        dropout: Dropout on the attention weights, in training mode only.
        bias: Whether the projections have biases.
        kdim: Width of ``key`` inputs; defaults to ``d_model``.
        vdim: Width of ``value`` inputs; defaults to ``d_model``.

    Example:
        >>> import torch
        >>> mha = MultiHeadAttention(d_model=8, n_heads=2)
        >>> x = torch.randn(3, 5, 8)  # (B, T, d_model)
        >>> out, weights = mha(x, return_attn=True)
        >>> out.shape, weights.shape  # (B, T, d_model), (B, H, T_q, T_k)
        (torch.Size([3, 5, 8]), torch.Size([3, 2, 5, 5]))
        >>> mha(x).weights is None
        True
    """

    def __init__(self, d_model: int, n_heads: int, *, dropout: float = 0.0, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None) -> None:
        super().__init__()
        _validate_config(d_model, n_heads, dropout)
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.pruned_heads: set[int] = set()  # original indices of removed heads
        self.kdim = d_model if kdim is None else kdim
        self.vdim = d_model if vdim is None else vdim
        self.dropout = dropout
        self.fused_proj = self.kdim == d_model and self.vdim == d_model
        if self.fused_proj:
            self.in_proj = nn.Linear(d_model, 3 * d_model, bias=bias)
        else:
            self.q_proj = nn.Linear(d_model, d_model, bias=bias)
            self.k_proj = nn.Linear(self.kdim, d_model, bias=bias)
            self.v_proj = nn.Linear(self.vdim, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform projections and zero biases, as ``torch.nn.MultiheadAttention``."""
        projections = [self.in_proj] if self.fused_proj else [self.q_proj, self.k_proj, self.v_proj]
        for lin in projections:
            nn.init.xavier_uniform_(lin.weight)
        for lin in [*projections, self.out_proj]:
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)

    def forward(self, query: Tensor, key: Tensor | None = None, value: Tensor | None = None, *,
                key_padding_mask: Tensor | None = None, attn_mask: Tensor | None = None,
                is_causal: bool = False, return_attn: bool = False,
                head_mask: Tensor | None = None) -> AttentionOutput:
        """Attend from ``query`` to ``key``/``value`` (self-attention when they are omitted).

        Args:
            query: ``(B, T_q, d_model)``.
            key: ``(B, T_k, kdim)``; defaults to ``query``.
            value: ``(B, T_k, vdim)``; defaults to ``key``.
            key_padding_mask: Bool ``(B, T_k)``, True marks PADDING keys (torch's convention).
            attn_mask: Bool ``(T_q, T_k)`` or ``(B or 1, H or 1, T_q, T_k)``, True = may attend
                (the OPPOSITE of ``torch.nn.MultiheadAttention``'s bool ``attn_mask``).
            is_causal: Also forbid attending to later keys; combines with both masks.
            return_attn: Return per-head weights ``(B, H, T_q, T_k)`` (before dropout). Uses the
                explicit path; otherwise the fused ``F.scaled_dot_product_attention`` kernel runs
                (except when training with dropout on CPU, where the explicit path is faster).
            head_mask: Float ξ of shape ``(H,)`` or ``(B, H)`` scaling each head's attended values
                before the heads are concatenated (see :meth:`attend`); gradients flow to it.

        Returns:
            ``AttentionOutput(output (B, T_q, d_model), weights or None)``.
        """
        key = query if key is None else key
        value = key if value is None else value
        self._check_inputs(query, key, value, key_padding_mask, attn_mask)
        q, k, v = self.project(query, key, value)  # (B, H, T_q, d_head), (B, H, T_k, d_head) x 2
        padding = None if key_padding_mask is None else key_padding_to_attn_mask(key_padding_mask)
        mask = combine_masks(attn_mask, padding)  # (B, H, T_q, T_k)-broadcastable or None
        return self.attend(q, k, v, mask, is_causal=is_causal, return_attn=return_attn, head_mask=head_mask)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *,
               is_causal: bool = False, return_attn: bool = False,
               head_mask: Tensor | None = None) -> AttentionOutput:
        """Attention over already projected heads, then concatenation and the output projection.

        The second half of :meth:`forward`, for callers that keep keys and values between calls
        (a decoder's key/value cache during generation).

        Args:
            q: ``(B, H, T_q, d_head)`` from :meth:`project`.
            k: ``(B, H, T_k, d_head)``.
            v: ``(B, H, T_k, d_head)``.
            mask: Bool broadcastable to ``(B, H, T_q, T_k)``, True = may attend.
            is_causal: Also forbid later keys (top-left aligned).
            return_attn: Return the per-head weights through the explicit path.
            head_mask: Float ξ, ``(H,)`` (all examples) or ``(B, H)`` (per example): head ``h``'s
                attended values ``(B, T_q, d_head)`` are multiplied by ξ_h before concatenation,
                so ξ_h = 0 removes the head and ``∂loss/∂ξ_h`` is Michel et al.'s head importance
                signal. The returned weights are not scaled. ``None`` adds no work.

        Returns:
            ``AttentionOutput(output (B, T_q, d_model), weights or None)``.

        Example:
            Masking a head to 0 equals pruning it:

            >>> import torch
            >>> _ = torch.manual_seed(0)
            >>> mha = MultiHeadAttention(d_model=8, n_heads=2).eval()
            >>> x = torch.randn(2, 3, 8)
            >>> masked = mha(x, head_mask=torch.tensor([1.0, 0.0])).output
            >>> mha.prune_heads([1])
            >>> torch.allclose(mha(x).output, masked, atol=1e-6), mha.n_heads, mha.pruned_heads
            (True, 1, {1})
        """
        _check_mask(mask, "mask")
        B, T_q = q.size(0), q.size(2)
        if self.n_heads == 0:  # every head pruned: the sub-layer is its output bias alone
            weights = q.new_zeros(B, 0, T_q, k.size(2)) if return_attn else None
            return AttentionOutput(self.out_proj(q.new_zeros(B, T_q, 0)), weights)
        dropout_p = self.dropout if self.training else 0.0
        out, weights = attention_kernel(q, k, v, mask, dropout_p=dropout_p, is_causal=is_causal,
                                        explicit=return_attn)  # (B, H, T_q, d_head)
        weights = weights if return_attn else None
        if head_mask is not None:
            out = out * self._head_scale(head_mask, B)  # (B, H, T_q, d_head)
        out = out.transpose(1, 2).reshape(B, T_q, self.n_heads * self.d_head)  # (B, T_q, H·d_head): concat
        return AttentionOutput(self.out_proj(out), weights)

    def forward_packed(self, x: Tensor, packed: PackedBatch, *, head_mask: Tensor | None = None) -> Tensor:
        """Self-attention of a packed variable-length batch: ``(N, d_model)`` real tokens in and out.

        The same function as :meth:`forward` on the padded batch with its key-padding mask, restricted to the
        real tokens, but projections run on the ``N`` real tokens only and attention per sequence
        (:func:`attnlab.nn.packing.varlen_attention`: ``varlen_attn`` on CUDA in bf16/fp16, an exact padded
        fallback elsewhere). No weights: use :meth:`forward` with ``return_attn=True`` for those.

        Args:
            x: ``(N, d_model)`` tokens laid out by ``packed`` (:meth:`PackedBatch.pack` of a ``(B, T, d_model)``).
            packed: Where the tokens came from (:class:`attnlab.nn.packing.PackedBatch`).
            head_mask: Float ξ ``(H,)`` or ``(B, H)``, as in :meth:`attend`.

        Returns:
            ``(N, d_model)``.
        """
        from attnlab.nn.packing import varlen_attention  # packing's fallback builds on this module

        if not self.fused_proj or x.dim() != 2 or x.size(-1) != self.d_model:
            raise InputError(f"forward_packed is self-attention over packed tokens (N, d_model={self.d_model}) with "
                             f"kdim == vdim == d_model; got input {tuple(x.shape)}, kdim={self.kdim}, "
                             f"vdim={self.vdim}")
        N, H, d_head = x.size(0), self.n_heads, self.d_head
        if H == 0:  # every head pruned: the output bias alone
            return self.out_proj(x.new_zeros(N, 0))
        q, k, v = self.in_proj(x).unflatten(-1, (3, H, d_head)).unbind(1)  # 3 x (N, H, d_head)
        dropout_p = self.dropout if self.training else 0.0
        out = varlen_attention(q, k, v, packed, dropout_p=dropout_p)  # (N, H, d_head)
        if head_mask is not None:
            self._head_scale(head_mask, packed.batch)  # checks the shape
            xi = head_mask[packed.batch_ids] if head_mask.dim() == 2 else head_mask  # (N, H) or (H,)
            out = out * xi[..., None]  # (N, H, d_head)
        return self.out_proj(out.reshape(N, H * d_head))  # (N, d_model)

    def _head_scale(self, head_mask: Tensor, batch: int) -> Tensor:
        """ξ ``(H,)`` or ``(B, H)`` as a factor broadcastable to ``(B, H, T_q, d_head)``."""
        shape = tuple(head_mask.shape)
        if not head_mask.is_floating_point() or shape not in ((self.n_heads,), (batch, self.n_heads)):
            raise InputError(f"head_mask must be a float tensor of shape (H,) = ({self.n_heads},) or "
                             f"(B, H) = ({batch}, {self.n_heads}), got {head_mask.dtype} of shape {shape}; "
                             "e.g. torch.ones(n_heads) with 0.0 for the heads to switch off")
        return head_mask.reshape(-1 if head_mask.dim() == 2 else 1, self.n_heads, 1, 1)  # (B or 1, H, 1, 1)

    @property
    def head_ids(self) -> list[int]:
        """Original indices of the heads still present, in the order they are computed."""
        total = self.n_heads + len(self.pruned_heads)
        return [h for h in range(total) if h not in self.pruned_heads]

    def prune_heads(self, heads: Iterable[int]) -> None:
        """Remove heads for good: their q/k/v projection rows and ``out_proj`` columns are deleted.

        The module then has fewer parameters and does less work, and computes exactly what the
        unpruned module computes with those heads masked to 0 (``head_mask``). Pruning every head
        leaves a sub-layer that outputs ``out_proj``'s bias. New Linears keep dtype, device and
        ``requires_grad``; like Hugging Face's ``prune_linear_layer`` they hold copies of the kept rows.

        Args:
            heads: Head indices in the ORIGINAL numbering (before any pruning), so pruning twice
                composes; heads already pruned are ignored.

        Raises:
            InputError: an index outside ``[0, original n_heads)``.
        """
        heads = {int(h) for h in heads}
        ids = self.head_ids
        total = len(ids) + len(self.pruned_heads)
        bad = sorted(h for h in heads if not 0 <= h < total)
        if bad:
            raise InputError(f"cannot prune heads {bad}: this attention has heads 0..{total - 1} "
                             "(original numbering)")
        keep = [pos for pos, h in enumerate(ids) if h not in heads]  # current positions kept
        if len(keep) == len(ids):
            return
        d_head, width = self.d_head, len(ids) * self.d_head
        rows = (torch.tensor(keep, dtype=torch.long)[:, None] * d_head + torch.arange(d_head)).flatten()  # (H'·d_head,)
        if self.fused_proj:  # q, k and v blocks of width H·d_head stacked in in_proj
            self.in_proj = _prune_linear(self.in_proj, torch.cat([rows + i * width for i in range(3)]), dim=0)
        else:
            for name in ("q_proj", "k_proj", "v_proj"):
                setattr(self, name, _prune_linear(getattr(self, name), rows, dim=0))
        self.out_proj = _prune_linear(self.out_proj, rows, dim=1)
        self.n_heads = len(keep)
        self.pruned_heads |= heads & set(ids)

    def project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Project inputs and split heads: ``q (B, H, T_q, d_head)``, ``k, v (B, H, T_k, d_head)``.

        One matmul for self-attention (``key is value is query``), one for the keys and values of
        cross-attention (``key is value``).
        """
        H, d_head = self.n_heads, self.d_head
        if self.fused_proj and key is query and value is query:
            qkv = self.in_proj(query).unflatten(-1, (3, H, d_head))  # (B, T, 3, H, d_head)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, H, T, d_head)
            return q, k, v
        return (self.project_query(query), *self.project_key_value(key, value))

    def project_query(self, query: Tensor) -> Tensor:
        """Query heads ``(B, H, T_q, d_head)`` alone (the query rows of the fused projection)."""
        if not self.fused_proj:
            return self._split_heads(self.q_proj(query))
        d, bias = self.n_heads * self.d_head, self.in_proj.bias  # attention width (< d_model once pruned)
        return self._split_heads(F.linear(query, self.in_proj.weight[:d], None if bias is None else bias[:d]))

    def project_key_value(self, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """Key and value heads ``(B, H, T_k, d_head)`` each; one matmul when ``key is value``."""
        H, d_head = self.n_heads, self.d_head
        d = H * d_head  # attention width (< d_model once pruned)
        if not self.fused_proj:
            return self._split_heads(self.k_proj(key)), self._split_heads(self.v_proj(value))
        weight, bias = self.in_proj.weight, self.in_proj.bias  # (3·d, d), (3·d,)
        if key is value:
            kv_bias = None if bias is None else bias[d:]
            kv = F.linear(key, weight[d:], kv_bias).unflatten(-1, (2, H, d_head))  # (B, T_k, 2, H, d_head)
            k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)  # 2 x (B, H, T_k, d_head)
            return k, v
        b = [None] * 3 if bias is None else bias.split(d)
        k = self._split_heads(F.linear(key, weight[d:2 * d], b[1]))  # (B, H, T_k, d_head)
        v = self._split_heads(F.linear(value, weight[2 * d:], b[2]))  # (B, H, T_k, d_head)
        return k, v

    def _split_heads(self, x: Tensor) -> Tensor:
        return x.unflatten(-1, (self.n_heads, self.d_head)).transpose(1, 2)  # (B, H, T, d_head)

    def _check_inputs(self, query: Tensor, key: Tensor, value: Tensor,
                      key_padding_mask: Tensor | None, attn_mask: Tensor | None) -> None:
        """Shape and dtype checks (metadata only: no device sync)."""
        for name, x, width in (("query", query, self.d_model), ("key", key, self.kdim),
                               ("value", value, self.vdim)):
            if x.dim() != 3 or x.size(-1) != width:
                raise InputError(f"{name} must be batch-first (B, T, {width}), got shape "
                                 f"{tuple(x.shape)}; transpose (T, B, E) inputs with x.transpose(0, 1)")
        if not (query.size(0) == key.size(0) == value.size(0)) or key.size(1) != value.size(1):
            raise InputError(f"query/key/value shapes {tuple(query.shape)}, {tuple(key.shape)}, "
                             f"{tuple(value.shape)} disagree; key and value need the same (B, T_k)")
        B, T_k = key.shape[:2]
        if key_padding_mask is not None and tuple(key_padding_mask.shape) != (B, T_k):
            raise InputError(f"key_padding_mask must have shape (B, T_k) = {(B, T_k)}, got "
                             f"{tuple(key_padding_mask.shape)}; True marks padding keys")
        _check_mask(attn_mask, "attn_mask")
        if attn_mask is None:
            return
        full = (B, self.n_heads, query.size(1), T_k)
        shape = (1,) * (4 - attn_mask.dim()) + tuple(attn_mask.shape)
        if attn_mask.dim() not in (2, 4) or any(n not in (1, m) for n, m in zip(shape, full)):
            raise InputError(f"attn_mask must broadcast to (B, H, T_q, T_k) = {full} from 2 or 4 "
                             f"dims, got shape {tuple(attn_mask.shape)}; reshape a "
                             "(B, T_q, T_k) mask with mask[:, None]")

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> MultiHeadAttention:
        """Build an equivalent module from a ``torch.nn.MultiheadAttention`` (weights copied).

        Ours is always batch-first: with a ``batch_first=False`` source, feed it ``(T, B, E)`` and
        ours ``(B, T, E)``. Bool ``attn_mask`` conventions are opposite: pass ours ``~mask``.
        ``key_padding_mask`` means the same in both. Dropout, device, dtype and train/eval mode
        are copied.

        Args:
            module: The torch module. ``add_bias_kv`` and ``add_zero_attn`` are not supported.

        Returns:
            A new :class:`MultiHeadAttention` computing the same function.

        Example:
            >>> import torch
            >>> ref = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
            >>> ours = MultiHeadAttention.from_torch(ref)
            >>> x = torch.randn(2, 4, 8)
            >>> torch.allclose(ours(x).output, ref(x, x, x)[0], atol=1e-6)
            True
        """
        if module.bias_k is not None or module.add_zero_attn:
            raise InputError("from_torch does not support add_bias_kv=True or add_zero_attn=True; "
                             "build the torch module without them")
        has_bias = module.in_proj_bias is not None
        ours = cls(module.embed_dim, module.num_heads, dropout=module.dropout, bias=has_bias,
                   kdim=module.kdim, vdim=module.vdim)
        ours.to(device=module.out_proj.weight.device, dtype=module.out_proj.weight.dtype)
        with torch.no_grad():
            if ours.fused_proj:
                targets = [(ours.in_proj, module.in_proj_weight, module.in_proj_bias)]
            else:
                biases = module.in_proj_bias.split(module.embed_dim) if has_bias else [None] * 3
                targets = [(ours.q_proj, module.q_proj_weight, biases[0]),
                           (ours.k_proj, module.k_proj_weight, biases[1]),
                           (ours.v_proj, module.v_proj_weight, biases[2])]
            targets.append((ours.out_proj, module.out_proj.weight, module.out_proj.bias))
            for lin, weight, bias in targets:
                lin.weight.copy_(weight)
                if lin.bias is not None:
                    lin.bias.copy_(bias)
        return ours.train(module.training)


def _prune_linear(layer: nn.Linear, index: Tensor, dim: int) -> nn.Linear:
    """A new Linear keeping the output rows (``dim=0``) or input columns (``dim=1``) listed in ``index``.

    Hugging Face's ``prune_linear_layer``, except that dtype and ``requires_grad`` are kept (theirs builds
    the new layer in the default dtype).
    """
    weight = layer.weight.detach().index_select(dim, index.to(layer.weight.device))  # (out', in) or (out, in')
    bias = None if layer.bias is None else layer.bias.detach()
    if bias is not None and dim == 0:
        bias = bias.index_select(0, index.to(bias.device))
    new = nn.Linear(1, 1, bias=bias is not None, device="meta")  # a shell; no random init to overwrite
    new.in_features, new.out_features = weight.size(1), weight.size(0)
    grad = layer.weight.requires_grad
    new.weight = nn.Parameter(weight.clone(), requires_grad=grad)
    if bias is not None:
        new.bias = nn.Parameter(bias.clone(), requires_grad=grad)
    return new


def _validate_config(d_model: int, n_heads: int, dropout: float) -> None:
    if d_model <= 0 or n_heads <= 0:
        raise InputError(f"d_model and n_heads must be positive, got d_model={d_model}, "
                         f"n_heads={n_heads}; e.g. d_model=128, n_heads=4")
    if d_model % n_heads:
        raise InputError(f"d_model={d_model} is not divisible by n_heads={n_heads}; pick n_heads "
                         f"from {_divisors(d_model)} or change d_model")
    if not 0.0 <= dropout < 1.0:
        raise InputError(f"dropout must be in [0, 1), got {dropout}; e.g. dropout=0.1")
