"""Attention mask helpers.

Three mask forms meet in attention code; these helpers convert between them:

* ``attention_mask`` ``(B, T)``: 1/True for real tokens (Hugging Face's convention; the models'
  ``forward`` takes this).
* ``key_padding_mask`` ``(B, T_k)`` bool: True marks PADDING (``torch.nn.MultiheadAttention``'s
  convention).
* attention mask broadcastable to ``(B, H, T_q, T_k)`` bool: True means "may attend"
  (``torch.nn.functional.scaled_dot_product_attention``'s convention). Everything inside
  :mod:`attnlab.nn` that combines masks works in this form.

Example:
    >>> import torch
    >>> pad = padding_mask_from_lengths(torch.tensor([3, 1]), max_len=3)
    >>> pad
    tensor([[False, False, False],
            [False,  True,  True]])
    >>> mask = combine_masks(key_padding_to_attn_mask(pad), causal_mask(3, 3))
    >>> mask.shape  # (B, 1, T_q, T_k)
    torch.Size([2, 1, 3, 3])
    >>> mask[1, 0].int()
    tensor([[1, 0, 0],
            [1, 0, 0],
            [1, 0, 0]], dtype=torch.int32)
"""

from __future__ import annotations

import torch
from torch import Tensor

from attnlab.errors import InputError

__all__ = ["causal_mask", "combine_masks", "key_padding_to_attn_mask", "padding_mask_from_lengths"]


def causal_mask(T_q: int, T_k: int | None = None, device: torch.device | str | None = None) -> Tensor:
    """Lower-triangular "may attend" mask: query ``i`` sees keys ``j <= i``.

    Aligned top-left like ``scaled_dot_product_attention(is_causal=True)``: with ``T_q < T_k`` the
    queries are the first ``T_q`` positions.

    Args:
        T_q: Number of queries.
        T_k: Number of keys; defaults to ``T_q``.
        device: Device of the returned mask.

    Returns:
        Bool tensor ``(T_q, T_k)``, True where attention is allowed.

    Example:
        >>> causal_mask(3).int()
        tensor([[1, 0, 0],
                [1, 1, 0],
                [1, 1, 1]], dtype=torch.int32)
    """
    T_k = T_q if T_k is None else T_k
    if T_q < 0 or T_k < 0:
        raise InputError(f"causal_mask got T_q={T_q}, T_k={T_k}; pass non-negative sequence lengths")
    return torch.ones(T_q, T_k, dtype=torch.bool, device=device).tril()  # (T_q, T_k)


def padding_mask_from_lengths(lengths: Tensor, max_len: int | None = None) -> Tensor:
    """Key-padding mask (True = padding) from per-sequence lengths.

    Args:
        lengths: ``(B,)`` integer tensor of real-token counts.
        max_len: Padded length ``T``; defaults to ``lengths.max()``.

    Returns:
        Bool tensor ``(B, T)``, True at padding positions.

    Example:
        >>> padding_mask_from_lengths(torch.tensor([2, 0, 1])).int()
        tensor([[0, 0],
                [1, 1],
                [0, 1]], dtype=torch.int32)
    """
    if lengths.dim() != 1 or lengths.is_floating_point():
        raise InputError(f"lengths must be a 1-D integer tensor, got {lengths.dtype} of shape "
                         f"{tuple(lengths.shape)}; pass one length per sequence")
    if max_len is None:
        max_len = int(lengths.max()) if lengths.numel() else 0
    positions = torch.arange(max_len, device=lengths.device)  # (T,)
    return positions.unsqueeze(0) >= lengths.unsqueeze(1)  # (B, T)


def key_padding_to_attn_mask(key_padding_mask: Tensor) -> Tensor:
    """Turn a ``(B, T_k)`` key-padding mask (True = pad) into a "may attend" mask.

    Args:
        key_padding_mask: Bool ``(B, T_k)``, True at padding keys.

    Returns:
        Bool ``(B, 1, 1, T_k)``, True where attention is allowed; broadcasts over heads and queries.

    Example:
        >>> key_padding_to_attn_mask(torch.tensor([[False, True]]))
        tensor([[[[ True, False]]]])
    """
    if key_padding_mask.dtype != torch.bool or key_padding_mask.dim() != 2:
        raise InputError(f"key_padding_mask must be a bool (B, T_k) tensor with True at padding, got "
                         f"{key_padding_mask.dtype} of shape {tuple(key_padding_mask.shape)}; "
                         "build it with `attention_mask == 0`")
    return (~key_padding_mask)[:, None, None, :]  # (B, 1, 1, T_k)


def combine_masks(*masks: Tensor | None) -> Tensor | None:
    """AND together "may attend" masks, skipping ``None``.

    Args:
        *masks: Bool masks broadcastable to a common shape (e.g. ``(T_q, T_k)`` and
            ``(B, 1, 1, T_k)``), or ``None``.

    Returns:
        The broadcast logical AND, or ``None`` when every mask is ``None`` (so callers can keep
        the unmasked fast path).

    Example:
        >>> combine_masks(None, None) is None
        True
        >>> combine_masks(torch.tensor([True, False]), None, torch.tensor([True, True]))
        tensor([ True, False])
    """
    present = [m for m in masks if m is not None]
    for m in present:
        if m.dtype != torch.bool:
            raise InputError(f"attention masks must be bool (True = may attend), got {m.dtype}; "
                             "convert an additive float mask with `mask == 0`")
    if not present:
        return None
    combined = present[0]
    for m in present[1:]:
        combined = combined & m  # broadcast, e.g. (B, 1, T_q, T_k)
    return combined
