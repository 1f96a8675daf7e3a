"""MultiHeadAttention and scaled_dot_product_attention against torch and a float64 NumPy reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import attnlab.nn.attention as attention_module
from attnlab.errors import InputError
from attnlab.nn import (
    MultiHeadAttention,
    causal_mask,
    dropout,
    padding_mask_from_lengths,
    scaled_dot_product_attention,
)

B, T, S, D, H = 3, 5, 4, 16, 4
MASK_KINDS = ["none", "padding", "causal", "causal+padding"]


def make_pair(seed: int = 0, **kwargs) -> tuple[nn.MultiheadAttention, MultiHeadAttention]:
    torch.manual_seed(seed)
    ref = nn.MultiheadAttention(D, H, batch_first=True, **kwargs).eval()
    with torch.no_grad():  # torch zero-initialises biases; make them matter
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return ref, MultiHeadAttention.from_torch(ref)


def masks_for(kind: str, T_q: int, T_k: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(key_padding_mask True = pad, attn_mask True = may attend); no query row fully masked."""
    pad = padding_mask_from_lengths(torch.tensor([T_k, 2, 1][:B]), max_len=T_k)
    causal = causal_mask(T_q, T_k)
    return {"none": (None, None), "padding": (pad, None), "causal": (None, causal),
            "causal+padding": (pad, causal)}[kind]


def torch_forward(ref, q, k, v, pad, allowed):
    torch_mask = None if allowed is None else ~allowed  # torch: True = NOT allowed
    return ref(q, k, v, key_padding_mask=pad, attn_mask=torch_mask, need_weights=True,
               average_attn_weights=False)


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("return_attn", [False, True])
def test_self_attention_matches_torch(kind, return_attn):
    ref, ours = make_pair()
    x = torch.randn(B, T, D)
    pad, allowed = masks_for(kind, T, T)
    want_out, want_w = torch_forward(ref, x, x, x, pad, allowed)
    got = ours(x, key_padding_mask=pad, attn_mask=allowed, return_attn=return_attn)
    torch.testing.assert_close(got.output, want_out, atol=1e-5, rtol=1e-5)
    if return_attn:
        torch.testing.assert_close(got.weights, want_w, atol=1e-6, rtol=1e-5)
    else:
        assert got.weights is None


@pytest.mark.parametrize("return_attn", [False, True])
def test_is_causal_equals_causal_attn_mask(return_attn):
    _, ours = make_pair()
    x = torch.randn(B, T, D)
    pad, _ = masks_for("padding", T, T)
    a = ours(x, key_padding_mask=pad, is_causal=True, return_attn=return_attn)
    b = ours(x, key_padding_mask=pad, attn_mask=causal_mask(T), return_attn=return_attn)
    torch.testing.assert_close(a.output, b.output, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("same_kv", [True, False])
@pytest.mark.parametrize("return_attn", [False, True])
def test_cross_attention_matches_torch(kind, same_kv, return_attn):
    ref, ours = make_pair(seed=1)
    q, mem = torch.randn(B, T, D), torch.randn(B, S, D)
    v = mem if same_kv else torch.randn(B, S, D)
    pad, allowed = masks_for(kind, T, S)
    want_out, want_w = torch_forward(ref, q, mem, v, pad, allowed)
    got = ours(q, mem, v, key_padding_mask=pad, attn_mask=allowed, return_attn=return_attn)
    torch.testing.assert_close(got.output, want_out, atol=1e-5, rtol=1e-5)
    if return_attn:
        torch.testing.assert_close(got.weights, want_w, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("return_attn", [False, True])
def test_separate_kdim_vdim_and_no_bias_match_torch(return_attn):
    ref, ours = make_pair(seed=2, kdim=6, vdim=10, bias=False)
    assert not ours.fused_proj and ours.out_proj.bias is None
    q, k, v = torch.randn(B, T, D), torch.randn(B, S, 6), torch.randn(B, S, 10)
    pad, allowed = masks_for("causal+padding", T, S)
    want_out, want_w = torch_forward(ref, q, k, v, pad, allowed)
    got = ours(q, k, v, key_padding_mask=pad, attn_mask=allowed, return_attn=return_attn)
    torch.testing.assert_close(got.output, want_out, atol=1e-5, rtol=1e-5)
    if return_attn:
        torch.testing.assert_close(got.weights, want_w, atol=1e-6, rtol=1e-5)


def test_from_torch_sequence_first_module():
    torch.manual_seed(3)
    ref = nn.MultiheadAttention(D, H, batch_first=False).eval()
    ours = MultiHeadAttention.from_torch(ref)
    x = torch.randn(T, B, D)  # (T, B, E) for torch, transposed for ours
    want, _ = ref(x, x, x)
    torch.testing.assert_close(ours(x.transpose(0, 1)).output, want.transpose(0, 1), atol=1e-5, rtol=1e-5)


def test_from_torch_copies_mode_and_dropout():
    ref = nn.MultiheadAttention(D, H, dropout=0.3, batch_first=True).train()
    ours = MultiHeadAttention.from_torch(ref)
    assert ours.training and ours.dropout == 0.3


@pytest.mark.parametrize("kwargs", [{"add_bias_kv": True}, {"add_zero_attn": True}])
def test_from_torch_rejects_unsupported(kwargs):
    with pytest.raises(InputError, match="add_bias_kv=True or add_zero_attn=True"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(D, H, batch_first=True, **kwargs))


# ---------------------------------------------------------------- float64 NumPy reference


def numpy_mha(xq, xk, xv, w_in, b_in, w_out, b_out, n_heads, allowed=None):
    """Loop over heads, concatenate head outputs, project. ``allowed``: (B, H, T_q, T_k) or None."""
    d = w_in.shape[1]
    d_head = d // n_heads
    q, k, v = xq @ w_in[:d].T + b_in[:d], xk @ w_in[d:2 * d].T + b_in[d:2 * d], xv @ w_in[2 * d:].T + b_in[2 * d:]
    heads, weights = [], []
    for h in range(n_heads):
        cols = slice(h * d_head, (h + 1) * d_head)
        scores = q[..., cols] @ k[..., cols].transpose(0, 2, 1) / math.sqrt(d_head)  # (B, T_q, T_k)
        ok = np.ones(scores.shape, bool) if allowed is None else np.broadcast_to(allowed[:, h], scores.shape)
        scores = np.where(ok, scores, -np.inf)
        row_ok = ok.any(-1, keepdims=True)
        e = np.exp(np.where(row_ok, scores - np.where(row_ok, scores, 0).max(-1, keepdims=True), 0)) * ok
        w = e / np.maximum(e.sum(-1, keepdims=True), 1e-300)
        heads.append(w @ v[..., cols])
        weights.append(w)
    return np.concatenate(heads, axis=-1) @ w_out.T + b_out, np.stack(weights, axis=1)


def numpy_args(ours: MultiHeadAttention):
    p = {n: t.detach().double().numpy() for n, t in ours.named_parameters()}
    return p["in_proj.weight"], p["in_proj.bias"], p["out_proj.weight"], p["out_proj.bias"]


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("return_attn", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_numpy_reference(kind, return_attn, dtype):
    _, ours = make_pair(seed=4)
    ours = ours.to(dtype)
    q, mem = torch.randn(B, T, D, dtype=dtype), torch.randn(B, S, D, dtype=dtype)
    pad, allowed = masks_for(kind, T, S)
    allowed_np = np.ones((B, 1, T, S), bool)
    if pad is not None:
        allowed_np &= ~pad.numpy()[:, None, None, :]
    if allowed is not None:
        allowed_np &= allowed.numpy()
    want_out, want_w = numpy_mha(q.double().numpy(), *[mem.double().numpy()] * 2, *numpy_args(ours), H,
                                 np.broadcast_to(allowed_np, (B, H, T, S)))
    got = ours(q, mem, key_padding_mask=pad, attn_mask=allowed, return_attn=return_attn)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    np.testing.assert_allclose(got.output.detach().double().numpy(), want_out, atol=tol, rtol=tol)
    if return_attn:
        np.testing.assert_allclose(got.weights.detach().double().numpy(), want_w, atol=tol, rtol=tol)


def test_heads_are_concatenated_not_averaged():
    """The classic bug: averaging head outputs (or weights) instead of concatenating heads."""
    _, ours = make_pair(seed=5)
    with torch.no_grad():  # identity output projection exposes the concatenated heads
        ours.out_proj.weight.copy_(torch.eye(D))
        ours.out_proj.bias.zero_()
    x = torch.randn(B, T, D, dtype=torch.float64)
    ours = ours.double()
    w_in, b_in, _, _ = numpy_args(ours)
    x_np = x.numpy()
    concat, weights = numpy_mha(x_np, x_np, x_np, w_in, b_in, np.eye(D), np.zeros(D), H)
    d_head = D // H
    per_head = [concat[..., h * d_head:(h + 1) * d_head] for h in range(H)]  # (B, T, d_head) each
    averaged = np.tile(np.mean(per_head, axis=0), (1, 1, H))  # averaged heads, tiled to d_model
    v = x_np @ w_in[2 * D:].T + b_in[2 * D:]
    mean_weights = np.concatenate([weights.mean(1) @ v[..., h * d_head:(h + 1) * d_head] for h in range(H)], -1)
    for return_attn in (False, True):
        got = ours(x, return_attn=return_attn).output.detach().numpy()
        for h in range(H):  # head h's output lands in its own d_head slice
            np.testing.assert_allclose(got[..., h * d_head:(h + 1) * d_head], per_head[h], atol=1e-10)
        assert not np.allclose(got, averaged, atol=1e-3)
        assert not np.allclose(got, mean_weights, atol=1e-3)
    assert not np.allclose(weights[:, 0], weights[:, 1], atol=1e-3)  # heads differ per head


# ---------------------------------------------------------------- masks, NaN-safety, properties


def test_fully_masked_rows_are_zero_and_nan_free_on_both_paths():
    _, ours = make_pair(seed=6)
    x = torch.randn(B, T, D, requires_grad=True)
    allowed = torch.ones(T, T, dtype=torch.bool)
    allowed[1] = False  # query 1 may attend nowhere
    pad = torch.zeros(B, T, dtype=torch.bool)
    pad[2] = True  # every key of sequence 2 is padding
    outs = []
    for return_attn in (False, True):
        x.grad = None
        out, weights = ours(x, key_padding_mask=pad, attn_mask=allowed, return_attn=return_attn)
        pre_proj = (out - ours.out_proj.bias).detach()  # zero attention output -> bias only
        assert torch.equal(pre_proj[:, 1], torch.zeros_like(pre_proj[:, 1]))
        assert torch.equal(pre_proj[2], torch.zeros_like(pre_proj[2]))
        assert not out.isnan().any()
        loss = out.square().sum() + (weights.sum() if return_attn else 0)
        loss.backward()
        assert torch.isfinite(x.grad).all()
        assert all(torch.isfinite(p.grad).all() for p in ours.parameters())
        if return_attn:
            assert torch.equal(weights[:, :, 1], torch.zeros_like(weights[:, :, 1]))
            assert torch.equal(weights[2], torch.zeros_like(weights[2]))
        outs.append(out.detach())
        ours.zero_grad()
    torch.testing.assert_close(outs[0], outs[1], atol=1e-6, rtol=1e-6)


def test_functional_fully_masked_row_gradients_are_finite():
    q, k, v = (torch.randn(2, 3, 4, 8, requires_grad=True) for _ in range(3))
    mask = torch.ones(4, 4, dtype=torch.bool)
    mask[0] = False
    out, w = scaled_dot_product_attention(q, k, v, mask)
    (out.sum() + (w * torch.randn_like(w)).sum()).backward()
    assert torch.equal(out[:, :, 0], torch.zeros_like(out[:, :, 0]))
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 3), heads=st.integers(1, 3), t_q=st.integers(1, 6), t_k=st.integers(1, 6),
       d_head=st.integers(1, 5), density=st.floats(0.0, 1.0), seed=st.integers(0, 2**16),
       causal=st.booleans())
def test_weight_rows_sum_to_one_or_zero(batch, heads, t_q, t_k, d_head, density, seed, causal):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, heads, t, d_head, generator=g) for t in (t_q, t_k, t_k))
    mask = torch.rand(batch, 1, t_q, t_k, generator=g) < density  # broadcast over heads
    out, w = scaled_dot_product_attention(q, k, v, mask, is_causal=causal)
    allowed = mask & causal_mask(t_q, t_k) if causal else mask
    expected = allowed.any(-1).to(w.dtype).expand(batch, heads, t_q)
    torch.testing.assert_close(w.sum(-1), expected, atol=1e-6, rtol=0)
    assert not w[~allowed.expand_as(w)].any()  # masked keys get exactly zero
    assert not out.isnan().any()
    assert not out[~allowed.any(-1).expand(batch, heads, t_q)].any()
    fused = attention_module._fused_attention(q, k, v, mask, 0.0, causal)
    torch.testing.assert_close(fused, out, atol=1e-5, rtol=1e-5)


def test_worked_example_weight():
    scores = torch.tensor([[1.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 1.0]])
    _, w = scaled_dot_product_attention(scores, torch.eye(3), torch.eye(3), scale=1.0)
    assert w[1, 2].item() == pytest.approx(math.exp(0.2) / (math.exp(0.5) + math.e + math.exp(0.2)))
    assert w[1, 2].item() == pytest.approx(0.218, abs=1e-3)


def test_fused_kernel_used_without_mask_and_explicit_with_return_attn(monkeypatch):
    calls = []
    real_sdpa = attention_module.F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(kwargs.get("attn_mask"))
        return real_sdpa(*args, **kwargs)

    monkeypatch.setattr(attention_module.F, "scaled_dot_product_attention", spy)
    _, ours = make_pair()
    x = torch.randn(B, T, D)
    ours(x)
    assert calls == [None]  # no mask tensor at all: torch may pick its fastest kernel
    ours(x, key_padding_mask=masks_for("padding", T, T)[0])
    assert len(calls) == 2 and calls[1] is not None
    ours(x, return_attn=True)
    assert len(calls) == 2  # explicit path


def test_dropout_only_in_training():
    _, ours = make_pair()
    ours.dropout = 0.5
    x = torch.randn(B, T, D)
    ref = ours(x).output
    torch.testing.assert_close(ours(x, return_attn=True).output, ref)  # eval: no dropout
    ours.train()
    torch.manual_seed(0)
    a = ours(x).output
    torch.manual_seed(0)
    b = ours(x).output
    assert torch.equal(a, b) and not torch.allclose(a, ref)


def test_dropout_function_statistics_and_dtypes():
    torch.manual_seed(0)
    x = torch.ones(200_000)
    y = dropout(x, 0.1)
    assert abs((y == 0).float().mean().item() - 0.1) < 0.005
    assert abs(y.mean().item() - 1.0) < 0.01  # inverted dropout keeps the expectation
    assert dropout(x, 0.1, training=False) is x and dropout(x, 0.0) is x
    assert dropout(torch.ones(7, 3, dtype=torch.bfloat16), 0.5).dtype == torch.bfloat16
    with pytest.raises(InputError, match="dropout probability"):
        dropout(x, 1.0)


# ---------------------------------------------------------------- validation


def test_indivisible_heads_is_a_helpful_input_error():
    with pytest.raises(InputError, match=r"d_model=130 is not divisible by n_heads=4.*\[1, 2, 5, 10, 13"):
        MultiHeadAttention(130, 4)
    with pytest.raises(InputError, match="must be positive"):
        MultiHeadAttention(16, 0)


def test_bad_inputs_are_input_errors():
    _, ours = make_pair()
    x = torch.randn(B, T, D)
    with pytest.raises(InputError, match="batch-first"):
        ours(torch.randn(B, T, D + 1))
    with pytest.raises(InputError, match="bool"):
        ours(x, attn_mask=torch.zeros(T, T))
    with pytest.raises(InputError, match="reshape"):
        ours(x, attn_mask=torch.ones(B, T, T, dtype=torch.bool))
    with pytest.raises(InputError, match="reshape"):
        ours(x, attn_mask=torch.ones(T, T + 1, dtype=torch.bool))
    with pytest.raises(InputError, match="reshape"):
        ours(x, attn_mask=torch.ones(B, H + 1, T, T, dtype=torch.bool))
    ours(x, attn_mask=torch.ones(B, H, T, T, dtype=torch.bool))  # per-head masks are fine
    with pytest.raises(InputError, match="key_padding_mask"):
        ours(x, key_padding_mask=torch.zeros(B, T + 1, dtype=torch.bool))


def test_cpu_half_training_takes_the_explicit_path_and_matches_the_fused_one(monkeypatch):
    """bf16 training on CPU with short inputs runs the explicit path (faster there); same result as the fused path."""
    import attnlab.nn.attention as attention

    torch.manual_seed(0)
    mha = MultiHeadAttention(32, 4)
    x = torch.randn(3, 9, 32, requires_grad=True)
    padding = torch.zeros(3, 9, dtype=torch.bool)
    padding[1, 6:] = True
    calls = []
    real = attention.scaled_dot_product_attention
    monkeypatch.setattr(attention, "scaled_dot_product_attention", lambda *a, **k: calls.append(1) or real(*a, **k))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        explicit = mha(x, key_padding_mask=padding).output
    assert calls  # the rule chose the explicit path
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        before = len(calls)
        fused = mha(x, key_padding_mask=padding).output  # inference keeps the fused kernel
    assert len(calls) == before
    torch.testing.assert_close(explicit.float(), fused.float(), atol=3e-2, rtol=3e-2)
    calls.clear()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mha(torch.randn(1, attention.CPU_HALF_EXPLICIT_MAX_KEYS + 1, 32, requires_grad=True))
    assert not calls  # long inputs: the fused kernel is faster
