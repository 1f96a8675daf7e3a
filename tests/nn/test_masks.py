"""Mask helpers: conventions, shapes and combination."""

import pytest
import torch
import torch.nn.functional as F

from attnlab.errors import InputError
from attnlab.nn import causal_mask, combine_masks, key_padding_to_attn_mask, padding_mask_from_lengths


def test_causal_mask_matches_torch_is_causal():
    q, k, v = torch.randn(1, 1, 3, 4), torch.randn(1, 1, 5, 4), torch.randn(1, 1, 5, 4)
    mask = causal_mask(3, 5)
    assert mask.shape == (3, 5) and mask.dtype == torch.bool
    torch.testing.assert_close(F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
                               F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert torch.equal(causal_mask(4), torch.tril(torch.ones(4, 4, dtype=torch.bool)))
    with pytest.raises(InputError):
        causal_mask(-1)


def test_padding_mask_from_lengths():
    pad = padding_mask_from_lengths(torch.tensor([3, 1, 0]), max_len=4)
    assert pad.tolist() == [[False, False, False, True], [False, True, True, True], [True] * 4]
    assert padding_mask_from_lengths(torch.tensor([2, 1])).shape == (2, 2)
    with pytest.raises(InputError, match="1-D integer"):
        padding_mask_from_lengths(torch.tensor([[1.0]]))


def test_key_padding_to_attn_mask_inverts_and_broadcasts():
    pad = torch.tensor([[False, True, True], [False, False, False]])
    allowed = key_padding_to_attn_mask(pad)
    assert allowed.shape == (2, 1, 1, 3)
    assert torch.equal(allowed[:, 0, 0], ~pad)
    with pytest.raises(InputError, match="True at padding"):
        key_padding_to_attn_mask(pad.long())


def test_combine_masks():
    assert combine_masks() is None and combine_masks(None) is None
    pad = key_padding_to_attn_mask(torch.tensor([[False, False, True]]))
    both = combine_masks(pad, None, causal_mask(3))
    assert both.shape == (1, 1, 3, 3)
    assert both[0, 0].int().tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 0]]
    with pytest.raises(InputError, match="must be bool"):
        combine_masks(torch.zeros(3, 3))
