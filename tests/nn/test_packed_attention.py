"""Packed (unpadded) attention equals padded attention with a key-padding mask; SDPA backend setting is a CPU no-op."""

from __future__ import annotations

import contextlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.errors import InputError
from attnlab.nn import backends, packing
from attnlab.nn.attention import MultiHeadAttention, scaled_dot_product_attention
from attnlab.nn.packing import PackedBatch, can_use_varlen_kernel, varlen_attention

lengths_st = st.lists(st.integers(0, 9), min_size=1, max_size=5)


def mask_from(lengths: list[int], T: int | None = None) -> torch.Tensor:
    T = max(max(lengths), 1) if T is None else T
    return torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]  # (B, T), right padding


@given(lengths=lengths_st, extra=st.integers(0, 3))
@settings(max_examples=40, deadline=None)
def test_packed_batch_indexes_the_real_tokens(lengths, extra):
    real = mask_from(lengths, max(max(lengths), 1) + extra)
    packed = PackedBatch.from_mask(real)
    B, T = real.shape
    assert packed.n_tokens == sum(lengths) and packed.max_len == max(lengths)
    assert packed.cu_seqlens.dtype == torch.int32
    assert packed.cu_seqlens.tolist() == [sum(lengths[:i]) for i in range(B + 1)]
    assert packed.positions.tolist() == [t for n in lengths for t in range(n)]
    assert packed.batch_ids.tolist() == [b for b, n in enumerate(lengths) for _ in range(n)]
    x = torch.randn(B, T, 3)
    torch.testing.assert_close(packed.pack(x), x[real])
    torch.testing.assert_close(packed.unpack(packed.pack(x)), x * real[..., None])


def test_packed_batch_keeps_positions_of_non_contiguous_masks():
    real = torch.tensor([[False, True, False, True], [True, True, True, False]])
    packed = PackedBatch.from_mask(real)
    assert packed.positions.tolist() == [1, 3, 0, 1, 2] and packed.lengths.tolist() == [2, 3]
    slots, keys = packed.compact()
    assert slots.tolist() == [0, 1, 3, 4, 5] and keys.tolist() == [[True, True, False], [True, True, True]]


def test_packed_batch_rejects_a_non_bool_mask():
    with pytest.raises(InputError, match="bool"):
        PackedBatch.from_mask(torch.ones(2, 3))


def padded_reference(q, k, v, real):
    """Per-sequence attention done the padded way: scatter, mask the padding keys, gather the real queries."""
    packed = PackedBatch.from_mask(real)
    grids = [packed.unpack(x).transpose(1, 2) for x in (q, k, v)]  # (B, H, T, d_head)
    out, _ = scaled_dot_product_attention(*grids, real[:, None, None, :])
    return packed.pack(out.transpose(1, 2))  # (N, H, d_head)


@pytest.mark.parametrize("explicit", [False, True])
@pytest.mark.parametrize("fallback", ["default", "grid"])
@given(lengths=lengths_st, seed=st.integers(0, 100))
@settings(max_examples=30, deadline=None)
def test_varlen_attention_equals_padded_attention_float64(explicit, fallback, lengths, seed):
    torch.manual_seed(seed)
    real = mask_from(lengths)
    packed = PackedBatch.from_mask(real)
    q, k, v = (torch.randn(packed.n_tokens, 3, 4, dtype=torch.float64) for _ in range(3))
    if fallback == "grid" and packed.n_tokens:  # the CUDA fallback (float32 or dropout), run here on CPU
        out = packing._grid_attention(q, k, v, packed, 0.0, explicit)
    else:  # on CPU: one call per sequence
        out = varlen_attention(q, k, v, packed, explicit=explicit)
    assert out.shape == q.shape
    torch.testing.assert_close(out, padded_reference(q, k, v, real), rtol=1e-12, atol=1e-12)


def test_varlen_attention_of_each_sequence_ignores_the_others():
    torch.manual_seed(0)
    real = mask_from([3, 5, 2])
    packed = PackedBatch.from_mask(real)
    q, k, v = (torch.randn(packed.n_tokens, 2, 4, dtype=torch.float64) for _ in range(3))
    out = varlen_attention(q, k, v, packed)
    for b, (start, end) in enumerate(zip(packed.cu_seqlens[:-1].tolist(), packed.cu_seqlens[1:].tolist())):
        alone, _ = scaled_dot_product_attention(*(x[start:end].transpose(0, 1) for x in (q, k, v)))
        torch.testing.assert_close(out[start:end], alone.transpose(0, 1), rtol=1e-12, atol=1e-12)


def test_varlen_kernel_is_cuda_bf16_only():
    q = torch.randn(5, 2, 8)
    assert not can_use_varlen_kernel(q, 0.0)
    assert not can_use_varlen_kernel(q.bfloat16(), 0.0)  # CPU


def make_mha(d_model=12, n_heads=3, prune=(), dropout=0.0):
    torch.manual_seed(1)
    mha = MultiHeadAttention(d_model, n_heads, dropout=dropout).double().eval()
    with torch.no_grad():
        for p in mha.parameters():
            p.normal_(0, 0.3)
    if prune:
        mha.prune_heads(prune)
    return mha


@pytest.mark.parametrize("prune", [(), (1,), (0, 2), (0, 1, 2)])
@pytest.mark.parametrize("mask_kind", [None, "shared", "per_example"])
@given(lengths=lengths_st, seed=st.integers(0, 100))
@settings(max_examples=15, deadline=None)
def test_forward_packed_equals_padded_forward_with_head_masks_and_pruning(prune, mask_kind, lengths, seed):
    mha = make_mha(prune=prune)
    torch.manual_seed(seed)
    real = mask_from(lengths)
    B, T = real.shape
    H = mha.n_heads
    head_mask = {None: None, "shared": torch.rand(H, dtype=torch.float64),
                 "per_example": torch.rand(B, H, dtype=torch.float64)}[mask_kind]
    x = torch.randn(B, T, 12, dtype=torch.float64)
    padded = mha(x, key_padding_mask=~real, head_mask=head_mask).output  # (B, T, d_model)
    packed = PackedBatch.from_mask(real)
    out = mha.forward_packed(packed.pack(x), packed, head_mask=head_mask)  # (N, d_model)
    torch.testing.assert_close(out, packed.pack(padded), rtol=1e-10, atol=1e-12)


def test_forward_packed_gradients_equal_the_padded_ones():
    mha = make_mha()
    real = mask_from([4, 1, 3])
    packed = PackedBatch.from_mask(real)
    x = torch.randn(3, 4, 12, dtype=torch.float64)
    xi = torch.rand(3, 3, dtype=torch.float64, requires_grad=True)
    grads = []
    for use_packed in (False, True):
        mha.zero_grad()
        xi.grad = None
        xin = x.clone().requires_grad_()
        if use_packed:
            out = mha.forward_packed(packed.pack(xin), packed, head_mask=xi)
        else:
            out = packed.pack(mha(xin, key_padding_mask=~real, head_mask=xi).output)
        (out.sin().sum()).backward()
        grads.append([xin.grad, xi.grad, *(p.grad for p in mha.parameters())])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_forward_packed_rejects_padded_input():
    mha = make_mha()
    packed = PackedBatch.from_mask(mask_from([2]))
    with pytest.raises(InputError, match="packed tokens"):
        mha.forward_packed(torch.randn(1, 2, 12, dtype=torch.float64), packed)


def test_forward_packed_with_dropout_trains_on_cpu():
    mha = make_mha(dropout=0.5).train()
    packed = PackedBatch.from_mask(mask_from([3, 2]))
    out = mha.forward_packed(torch.randn(5, 12, dtype=torch.float64), packed)
    out.sum().backward()
    assert out.shape == (5, 12) and torch.isfinite(out).all()


# --- SDPA backend priority -------------------------------------------------------------------------------------


def test_backend_setting_parses_and_restores():
    assert backends.sdpa_backends() == "auto"
    with backends.use_sdpa_backends("cudnn, flash,math"):
        assert backends.sdpa_backends() == ("cudnn", "flash", "math")
    assert backends.sdpa_backends() == "auto"
    for bad in ("cudnn,cudnn", "fast", [], ["flash", "sdpa"]):
        with pytest.raises(InputError, match="SDPA backends"):
            backends.set_sdpa_backends(bad)
    assert backends.sdpa_backends() == "auto"


@pytest.mark.parametrize("order", ["auto", "torch", ("math",), ("cudnn", "flash", "efficient", "math")])
def test_backend_setting_is_a_no_op_on_cpu(order):
    assert isinstance(backends.sdpa_backend_context(torch.device("cpu")), contextlib.nullcontext)
    mha = make_mha().float()
    x = torch.randn(2, 5, 12)
    kpm = torch.tensor([[False] * 5, [False, False, True, True, True]])
    expected = mha(x, key_padding_mask=kpm).output
    with backends.use_sdpa_backends(order):
        torch.testing.assert_close(mha(x, key_padding_mask=kpm).output, expected, rtol=0, atol=0)


def test_backend_context_traces_into_one_graph_under_torch_compile(monkeypatch):
    """The CUDA branch (here on CPU tensors, with Hopper assumed) adds no graph break and restores torch's order."""
    import torch.nn.functional as F

    monkeypatch.setattr(backends, "_is_hopper", torch.compiler.assume_constant_result(lambda index: True))
    before = torch._C._get_sdp_priority_order()

    def attend(q):
        with backends.sdpa_backend_context(torch.device("cuda", 0)):
            return F.scaled_dot_product_attention(q, q, q) * 2

    q = torch.randn(1, 2, 4, 8)
    torch.testing.assert_close(torch.compile(attend, backend="eager", fullgraph=True)(q), attend(q))
    assert torch._C._get_sdp_priority_order() == before
