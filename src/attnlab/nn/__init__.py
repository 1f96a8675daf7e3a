"""Attention components: explicit and fused attention, multi-head attention, masks, blocks."""

from attnlab.nn.attention import (
    AttentionOutput,
    MultiHeadAttention,
    dropout,
    scaled_dot_product_attention,
)
from attnlab.nn.layers import Dropout, EncoderBlock, FeedForward
from attnlab.nn.masks import (
    causal_mask,
    combine_masks,
    key_padding_to_attn_mask,
    padding_mask_from_lengths,
)

__all__ = [
    "AttentionOutput",
    "Dropout",
    "EncoderBlock",
    "FeedForward",
    "MultiHeadAttention",
    "causal_mask",
    "combine_masks",
    "dropout",
    "key_padding_to_attn_mask",
    "padding_mask_from_lengths",
    "scaled_dot_product_attention",
]
