"""Transformer encoder for sequence classification."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from attnlab.errors import InputError
from attnlab.models.outputs import ClassifierOutput
from attnlab.nn.layers import Dropout, EncoderBlock, init_transformer_weights
from attnlab.nn.packing import PackedBatch

__all__ = ["PACK_MIN_PADDING", "EncoderClassifier"]

_POOLINGS = ("mean", "max", "cls")
# Automatic packing (``packed=None``) on CUDA once at least this share of a batch's positions is padding: below
# it the saved work is small and the padded kernels (cuDNN attention) are faster than the varlen ones; a
# starting value to re-measure with benchmarks/classifier_speed.py --packed on the card.
PACK_MIN_PADDING = 0.2


class EncoderClassifier(nn.Module):
    """Token + learned position embeddings, pre-LN encoder blocks, pooling, linear head.

    ``input_ids → embed + position → dropout → n_layers × EncoderBlock → LayerNorm → pool →
    Linear``. Pooling ``"mean"`` averages the non-padding tokens; ``"max"`` takes each feature's maximum over
    them (max-over-time, as sentence encoders such as InferSent and Kim's CNN); ``"cls"`` takes position 0.

    A batch without padding runs without any mask, so the fused attention kernel takes its
    fastest path. A batch with padding can run packed (``packed=True``; automatic on CUDA when at least
    :data:`PACK_MIN_PADDING` of it is padding): the real tokens alone go through embeddings, LayerNorms,
    projections and feed-forward as ``(N, d_model)``, and attention runs per sequence
    (:mod:`attnlab.nn.packing`). Same function as the padded path (mean and max pooling: always; ``cls`` pooling: when
    position 0 of every row is a real token).

    Heads can be scaled per layer with ``head_mask`` (ξ of Michel et al. 2019; its gradient is the
    head importance signal) and removed for good with :meth:`prune_heads`.

    Args:
        vocab_size: Number of token ids.
        n_classes: Number of output classes ``C``.
        d_model: Model width.
        n_heads: Attention heads; must divide ``d_model``.
        n_layers: Number of encoder blocks.
        d_ff: Feed-forward hidden width.
        max_len: Longest sequence the position table covers.
        dropout: Dropout on embeddings, attention weights and residual branches.
        pad_id: Padding token id; its embedding row stays zero and gets no gradient.
        pooling: ``"mean"``, ``"max"`` or ``"cls"``.

    Example:
        >>> import torch
        >>> _ = torch.manual_seed(0)
        >>> model = EncoderClassifier(vocab_size=50, n_classes=3, d_model=16, n_heads=2,
        ...                           n_layers=2, d_ff=32, max_len=10)
        >>> ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
        >>> out = model(ids, ids != 0, return_attn=True)
        >>> out.logits.shape  # (B, C)
        torch.Size([2, 3])
        >>> [w.shape for w in out.attentions]  # per layer (B, H, T, T)
        [torch.Size([2, 2, 4, 4]), torch.Size([2, 2, 4, 4])]
        >>> _ = model.eval()  # no dropout: the two forward passes compare exactly
        >>> masked = model(ids, ids != 0, head_mask=torch.tensor([[1.0, 0.0], [1.0, 1.0]])).logits
        >>> model.prune_heads({0: [1]})  # layer 0 loses head 1 for good: same function
        >>> torch.allclose(model(ids, ids != 0).logits, masked, atol=1e-6), model.pruned_heads
        (True, {0: [1]})
    """

    def __init__(self, *, vocab_size: int, n_classes: int, d_model: int = 128, n_heads: int = 4,
                 n_layers: int = 2, d_ff: int = 512, max_len: int = 128, dropout: float = 0.1,
                 pad_id: int = 0, pooling: Literal["mean", "max", "cls"] = "mean") -> None:
        super().__init__()
        _validate_config(vocab_size=vocab_size, n_classes=n_classes, d_model=d_model,
                         n_heads=n_heads, n_layers=n_layers, d_ff=d_ff, max_len=max_len,
                         pad_id=pad_id, pooling=pooling)
        self.max_len, self.pad_id, self.pooling = max_len, pad_id, pooling
        self.tok_emb = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.drop = Dropout(dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(d_model, n_heads, d_ff, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)
        self.apply(init_transformer_weights)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None, *,
                return_attn: bool = False, head_mask: Tensor | Sequence[Tensor | None] | None = None,
                packed: bool | None = None) -> ClassifierOutput:
        """Classify a batch of token sequences.

        Args:
            input_ids: ``(B, T)`` integer token ids, ``T <= max_len``.
            attention_mask: ``(B, T)``, 1/True for real tokens and 0/False for padding; ``None``
                means every token is real.
            return_attn: Also return each layer's attention weights ``(B, H, T, T)``.
            head_mask: Float ξ scaling each head's output: a sequence with one entry per layer
                (``(H_l,)``, ``(B, H_l)`` or ``None``), or, when every layer has ``H`` heads, a
                tensor ``(n_layers, H)`` or ``(B, n_layers, H)``. A per-example mask ``(B, ...)``
                with ``requires_grad`` gives each example's own ``∂L_x/∂ξ_x`` from one backward
                pass of the summed loss. Indices are current heads (see :attr:`head_ids`).
            packed: Run the padded batch packed (no compute on padding): ``True`` always (unless there is
                no padding), ``False`` never, ``None`` (default) on CUDA when at least :data:`PACK_MIN_PADDING`
                of the positions are padding. Ignored with ``return_attn`` (weights are ``(B, H, T, T)``).

        Returns:
            ``ClassifierOutput(logits (B, C), attentions tuple or None)``.
        """
        self._check_inputs(input_ids, attention_mask)
        real = None if attention_mask is None else attention_mask.bool()  # (B, T)
        if real is not None and bool(real.all()):
            real = None  # no padding: skip masks so attention can use the unmasked kernel
        layer_masks = [None] * len(self.blocks) if head_mask is None else self._layer_masks(head_mask)
        if real is not None and not return_attn and self._pack(real, packed):
            return ClassifierOutput(self.head(self._forward_packed(input_ids, real, layer_masks)), None)
        mask = None if real is None else real[:, None, None, :]  # (B, 1, 1, T), True = may attend
        T = input_ids.size(1)
        x = self.drop(self.tok_emb(input_ids) + self.pos_emb.weight[:T])  # (B, T, d_model)
        attentions = []
        for block, xi in zip(self.blocks, layer_masks):
            x, weights = block(x, mask, return_attn=return_attn, head_mask=xi)  # (B, T, d_model)
            attentions.append(weights)
        pooled = self._pool(self.ln_f(x), real)  # (B, d_model)
        return ClassifierOutput(self.head(pooled), tuple(attentions) if return_attn else None)

    def _pack(self, real: Tensor, packed: bool | None) -> bool:
        if packed is not None:
            return packed
        return real.is_cuda and float((~real).sum()) >= PACK_MIN_PADDING * real.numel()

    def _forward_packed(self, input_ids: Tensor, real: Tensor, layer_masks: list[Tensor | None]) -> Tensor:
        """The pooled ``(B, d_model)`` states, computed on the real tokens only (:meth:`EncoderBlock.forward_packed`)."""
        packed = PackedBatch.from_mask(real)
        ids = packed.pack(input_ids)  # (N,)
        x = self.drop(self.tok_emb(ids) + self.pos_emb(packed.positions))  # (N, d_model)
        for block, xi in zip(self.blocks, layer_masks):
            x = block.forward_packed(x, packed, head_mask=xi)  # (N, d_model)
        # Back to (B, T, d_model) for pooling: the same reduction as the padded path, zeros at padding.
        return self._pool(packed.unpack(self.ln_f(x)), real)  # (B, d_model)

    @property
    def head_ids(self) -> list[list[int]]:
        """Per layer, the original indices of the heads still present (in computation order)."""
        return [block.attn.head_ids for block in self.blocks]

    @property
    def pruned_heads(self) -> dict[int, list[int]]:
        """``{layer: sorted original head indices removed}`` for the layers that lost heads."""
        return {i: sorted(block.attn.pruned_heads) for i, block in enumerate(self.blocks) if block.attn.pruned_heads}

    def prune_heads(self, heads: Mapping[int, Iterable[int]]) -> None:
        """Remove heads for good (see :meth:`MultiHeadAttention.prune_heads`).

        Args:
            heads: ``{layer: [head, ...]}``, heads in the ORIGINAL numbering; already pruned heads are
                ignored, so pruning twice composes.
        """
        bad = [layer for layer in heads if not (isinstance(layer, int) and 0 <= layer < len(self.blocks))]
        if bad:
            raise InputError(f"cannot prune heads of layers {bad}: the model has layers 0..{len(self.blocks) - 1}")
        for layer, layer_heads in heads.items():
            self.blocks[layer].attn.prune_heads(layer_heads)

    def _layer_masks(self, head_mask: Tensor | Sequence[Tensor | None]) -> list[Tensor | None]:
        """One ξ per layer from a per-layer sequence or an ``(L, H)`` / ``(B, L, H)`` tensor."""
        n_layers = len(self.blocks)
        if isinstance(head_mask, Tensor):
            if head_mask.dim() not in (2, 3) or head_mask.size(-2) != n_layers:
                raise InputError(f"a head_mask tensor must have shape (n_layers, H) or (B, n_layers, H) with "
                                 f"n_layers={n_layers}, got {tuple(head_mask.shape)}; pass a list of per-layer "
                                 "masks when layers have different head counts")
            return list(head_mask.unbind(-2))  # n_layers x (H,) or (B, H)
        masks = list(head_mask)
        if len(masks) != n_layers:
            raise InputError(f"head_mask needs one entry per layer ({n_layers}), got {len(masks)}")
        return masks

    def _pool(self, x: Tensor, real: Tensor | None) -> Tensor:
        """Reduce ``(B, T, d_model)`` to ``(B, d_model)``; padding never contributes."""
        if self.pooling == "cls":
            return x[:, 0]  # (B, d_model)
        if self.pooling == "max":
            if real is None:
                return x.amax(dim=1)  # (B, d_model)
            pooled = x.masked_fill(~real.unsqueeze(-1), float("-inf")).amax(dim=1)  # (B, d_model)
            return pooled.masked_fill(~real.any(dim=1, keepdim=True), 0.0)  # an all-padding row pools to zeros
        if real is None:
            return x.mean(dim=1)  # (B, d_model)
        weights = real.unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        # An all-padding row pools to zeros instead of 0/0.
        return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)  # (B, d_model)

    def _check_inputs(self, input_ids: Tensor, attention_mask: Tensor | None) -> None:
        if input_ids.dim() != 2 or input_ids.is_floating_point() or input_ids.is_complex():
            raise InputError(f"input_ids must be an integer (B, T) tensor, got {input_ids.dtype} "
                             f"of shape {tuple(input_ids.shape)}; batch token ids as torch.long")
        if input_ids.size(1) > self.max_len:
            raise InputError(f"sequence length {input_ids.size(1)} exceeds max_len={self.max_len}; "
                             "truncate the inputs or build the model with a larger max_len")
        if attention_mask is not None and attention_mask.shape != input_ids.shape:
            raise InputError(f"attention_mask shape {tuple(attention_mask.shape)} does not match "
                             f"input_ids shape {tuple(input_ids.shape)}; pass one flag per token")


def _validate_config(*, vocab_size: int, n_classes: int, d_model: int, n_heads: int,
                     n_layers: int, d_ff: int, max_len: int, pad_id: int, pooling: str) -> None:
    """Sizes, padding id and pooling; the layers check ``d_model % n_heads`` and ``dropout``."""
    sizes = dict(vocab_size=vocab_size, n_classes=n_classes, d_model=d_model, n_heads=n_heads,
                 n_layers=n_layers, d_ff=d_ff, max_len=max_len)
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise InputError(f"{name} must be a positive integer, got {value!r}; fix the model config")
    if not 0 <= pad_id < vocab_size:
        raise InputError(f"pad_id={pad_id} is outside the vocabulary [0, {vocab_size}); "
                         "use the tokenizer's padding id")
    if pooling not in _POOLINGS:
        raise InputError(f"unknown pooling {pooling!r}; use one of {list(_POOLINGS)}")
