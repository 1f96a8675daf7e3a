"""Head masks ξ and real head pruning, against a float64 NumPy reference and the masked unpruned module."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from attnlab.errors import InputError
from attnlab.models.classifier import EncoderClassifier
from attnlab.nn import EncoderBlock, MultiHeadAttention, causal_mask, padding_mask_from_lengths

B, T, S, D, H = 3, 5, 4, 16, 4
d_head = D // H


def make(seed: int = 0, *, kdim: int | None = None, bias: bool = True) -> MultiHeadAttention:
    """A float64 module in eval mode with non-zero biases (so pruning the bias rows matters)."""
    torch.manual_seed(seed)
    m = MultiHeadAttention(D, H, kdim=kdim, vdim=kdim, bias=bias).double().eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return m


def clone(m: MultiHeadAttention) -> MultiHeadAttention:
    c = MultiHeadAttention(m.d_model, m.n_heads, kdim=m.kdim, vdim=m.vdim,
                           bias=m.out_proj.bias is not None).double().eval()
    c.load_state_dict(m.state_dict())
    return c


def numpy_reference(m: MultiHeadAttention, x: np.ndarray, kv: np.ndarray, xi: np.ndarray,
                    allowed: np.ndarray | None = None) -> np.ndarray:
    """Michel et al.'s MHA: sum over heads of ξ_h · Att_h(x) W_o^h, written out in float64 NumPy."""
    sd = {k: v.detach().numpy().astype(np.float64) for k, v in m.state_dict().items()}
    if m.fused_proj:
        (wq, wk, wv), (bq, bk, bv) = np.split(sd["in_proj.weight"], 3), np.split(sd["in_proj.bias"], 3)
    else:
        wq, wk, wv = sd["q_proj.weight"], sd["k_proj.weight"], sd["v_proj.weight"]
        bq, bk, bv = sd["q_proj.bias"], sd["k_proj.bias"], sd["v_proj.bias"]
    xi = np.broadcast_to(xi, (x.shape[0], H))
    out = np.zeros(x.shape[:2] + (D,))
    for b in range(x.shape[0]):
        for h in range(H):
            rows = slice(h * d_head, (h + 1) * d_head)
            q = x[b] @ wq[rows].T + bq[rows]  # (T, d_head)
            k = kv[b] @ wk[rows].T + bk[rows]  # (S, d_head)
            v = kv[b] @ wv[rows].T + bv[rows]
            scores = q @ k.T / np.sqrt(d_head)  # (T, S)
            if allowed is not None:
                scores = np.where(allowed[b], scores, -np.inf)
            w = np.exp(scores - scores.max(-1, keepdims=True))
            w /= w.sum(-1, keepdims=True)
            out[b] += xi[b, h] * (w @ v) @ sd["out_proj.weight"][:, rows].T
        out[b] += sd["out_proj.bias"]
    return out


def head_mask_of(pruned: set[int], dtype=torch.float64) -> torch.Tensor:
    return torch.tensor([0.0 if h in pruned else 1.0 for h in range(H)], dtype=dtype)


@pytest.mark.parametrize("kdim", [None, 6])
@pytest.mark.parametrize("per_example", [False, True])
@pytest.mark.parametrize("return_attn", [False, True])
def test_head_mask_matches_numpy_reference(kdim, per_example, return_attn):
    m = make(kdim=kdim)
    x = torch.randn(B, T, D, dtype=torch.float64)
    kv = x if kdim is None else torch.randn(B, S, kdim, dtype=torch.float64)
    xi = torch.rand(B, H, dtype=torch.float64) if per_example else torch.tensor([1.0, 0.0, 0.5, -2.0], dtype=torch.float64)
    pad = padding_mask_from_lengths(torch.tensor([kv.size(1), 2, 1]), max_len=kv.size(1))  # True = padding
    got = m(x, kv, kv, key_padding_mask=pad, return_attn=return_attn, head_mask=xi).output
    allowed = np.broadcast_to(~pad.numpy()[:, None, :], (B, T, kv.size(1)))
    want = numpy_reference(m, x.numpy(), kv.numpy(), xi.numpy(), allowed)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-10, atol=1e-12)


def test_head_mask_of_ones_is_the_identity_on_both_paths():
    m = make()
    x = torch.randn(B, T, D, dtype=torch.float64)
    ones = torch.ones(H, dtype=torch.float64)
    for return_attn in (False, True):
        torch.testing.assert_close(m(x, head_mask=ones, return_attn=return_attn).output, m(x).output,
                                   rtol=1e-12, atol=1e-12)


def test_per_example_mask_gradients_equal_one_example_at_a_time():
    """∂(Σ_x L_x)/∂ξ_{x,h} from one backward equals ∂L_x/∂ξ_h computed example by example."""
    m = make()
    x = torch.randn(B, T, D, dtype=torch.float64)
    target = torch.randn(B, T, D, dtype=torch.float64)
    xi = torch.ones(B, H, dtype=torch.float64, requires_grad=True)
    loss = ((m(x, head_mask=xi).output - target) ** 2).sum()
    (grad,) = torch.autograd.grad(loss, xi)
    for b in range(B):
        xi_b = torch.ones(H, dtype=torch.float64, requires_grad=True)
        loss_b = ((m(x[b:b + 1], head_mask=xi_b).output - target[b:b + 1]) ** 2).sum()
        (g_b,) = torch.autograd.grad(loss_b, xi_b)
        torch.testing.assert_close(grad[b], g_b, rtol=1e-10, atol=1e-12)
    # and the gradient is what a central finite difference says
    eps, b, h = 1e-6, 1, 2
    with torch.no_grad():
        plus, minus = torch.ones(B, H, dtype=torch.float64), torch.ones(B, H, dtype=torch.float64)
        plus[b, h] += eps
        minus[b, h] -= eps
        fd = (((m(x, head_mask=plus).output - target) ** 2).sum()
              - ((m(x, head_mask=minus).output - target) ** 2).sum()) / (2 * eps)
    assert grad[b, h].item() == pytest.approx(fd.item(), rel=1e-6)


def test_no_head_mask_adds_no_work(monkeypatch):
    m = make()
    calls = []
    monkeypatch.setattr(MultiHeadAttention, "_head_scale", lambda *a: calls.append(a))
    m(torch.randn(B, T, D, dtype=torch.float64))
    assert calls == []


@pytest.mark.parametrize("kdim", [None, 6])
@pytest.mark.parametrize("kind", ["none", "padding", "causal"])
@pytest.mark.parametrize("return_attn", [False, True])
def test_pruned_module_equals_masked_module(kdim, kind, return_attn):
    m = make(kdim=kdim)
    x = torch.randn(B, T, D, dtype=torch.float64)
    kv = x if kdim is None else torch.randn(B, T, kdim, dtype=torch.float64)
    pad = padding_mask_from_lengths(torch.tensor([T, 3, 2]), max_len=T) if kind == "padding" else None
    allowed = causal_mask(T, T) if kind == "causal" else None
    masked = m(x, kv, kv, key_padding_mask=pad, attn_mask=allowed, head_mask=head_mask_of({1, 3}),
               return_attn=return_attn)
    m.prune_heads([1, 3])
    got = m(x, kv, kv, key_padding_mask=pad, attn_mask=allowed, return_attn=return_attn)
    torch.testing.assert_close(got.output, masked.output, rtol=1e-12, atol=1e-12)
    if return_attn:  # the kept heads' weights are unchanged
        torch.testing.assert_close(got.weights, masked.weights[:, [0, 2]], rtol=1e-12, atol=1e-12)
    assert m.n_heads == 2 and m.head_ids == [0, 2] and m.pruned_heads == {1, 3}


@settings(max_examples=30, deadline=None)
@given(first=st.sets(st.integers(0, H - 1)), second=st.sets(st.integers(0, H - 1)),
       fused=st.booleans(), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_pruning_twice_composes_and_drops_exactly_the_parameters(first, second, fused, bias, seed):
    m = make(seed, kdim=None if fused else 6, bias=bias)
    kv_width = D if fused else 6
    x = torch.randn(2, T, D, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    kv = x if fused else torch.randn(2, S, kv_width, dtype=torch.float64)
    removed = first | second
    want = m(x, kv, kv, head_mask=head_mask_of(removed)).output
    n_params = sum(p.numel() for p in m.parameters())
    m.prune_heads(first)
    m.prune_heads(second)  # indices of the original numbering; already pruned ones ignored
    assert m.pruned_heads == removed and m.n_heads == H - len(removed)
    assert m.head_ids == [h for h in range(H) if h not in removed]
    torch.testing.assert_close(m(x, kv, kv).output, want, rtol=1e-11, atol=1e-12)
    # each head owns d_head rows of q, k, v (+ biases) and d_head columns of out_proj
    per_head = d_head * (D + 2 * kv_width) + d_head * D + (3 * d_head if bias else 0)
    assert sum(p.numel() for p in m.parameters()) == n_params - len(removed) * per_head
    assert all(p.dtype == torch.float64 and p.requires_grad for p in m.parameters())


def test_pruning_every_head_leaves_the_output_bias():
    m = make()
    x = torch.randn(B, T, D, dtype=torch.float64)
    m.prune_heads(range(H))
    out = m(x, return_attn=True)
    torch.testing.assert_close(out.output, m.out_proj.bias.expand(B, T, D))
    assert out.weights.shape == (B, 0, T, T)
    assert m.in_proj.weight.shape == (0, D) and m.out_proj.weight.shape == (D, 0)
    out.output.sum().backward()  # still trainable: the bias gets its gradient
    assert m.out_proj.bias.grad is not None


@pytest.mark.parametrize("kdim", [None, 6])
def test_pruned_module_matches_torch_with_those_heads_zeroed(kdim):
    """torch.nn.MultiheadAttention with the pruned heads' out_proj columns set to 0 is the reference."""
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(D, H, batch_first=True, kdim=kdim, vdim=kdim).double().eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ours = MultiHeadAttention.from_torch(ref)
    with torch.no_grad():
        for h in (0, 2):
            ref.out_proj.weight[:, h * d_head:(h + 1) * d_head] = 0.0
    x = torch.randn(B, T, D, dtype=torch.float64)
    kv = x if kdim is None else torch.randn(B, S, kdim, dtype=torch.float64)
    pad = padding_mask_from_lengths(torch.tensor([kv.size(1), 2, 1]), max_len=kv.size(1))
    ours.prune_heads([2, 0])
    want, want_w = ref(x, kv, kv, key_padding_mask=pad, need_weights=True,
                       average_attn_weights=False)
    got = ours(x, kv, kv, key_padding_mask=pad, return_attn=True)
    torch.testing.assert_close(got.output, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got.weights, want_w[:, [1, 3]], rtol=1e-10, atol=1e-12)


def test_pruned_module_trains():
    m = make()
    m.prune_heads([1])
    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    x = torch.randn(B, T, D, dtype=torch.float64)
    loss = m(x).output.pow(2).mean()
    loss.backward()
    opt.step()
    assert m(x).output.pow(2).mean() < loss


def test_bad_head_masks_and_indices_are_input_errors():
    m = make()
    x = torch.randn(B, T, D, dtype=torch.float64)
    for bad in (torch.ones(H + 1, dtype=torch.float64), torch.ones(B, H, 2, dtype=torch.float64),
                torch.ones(H, dtype=torch.long), torch.ones(B + 1, H, dtype=torch.float64)):
        with pytest.raises(InputError, match="head_mask"):
            m(x, head_mask=bad)
    with pytest.raises(InputError, match="heads 0..3"):
        m.prune_heads([4])
    m.prune_heads([0])
    with pytest.raises(InputError, match=r"\(3,\)"):  # masks index the heads that are left
        m(x, head_mask=torch.ones(H, dtype=torch.float64))


def test_encoder_block_passes_the_head_mask():
    torch.manual_seed(0)
    block = EncoderBlock(D, H, 32).double().eval()
    x = torch.randn(B, T, D, dtype=torch.float64)
    masked = block(x, head_mask=head_mask_of({2})).output
    block.attn.prune_heads([2])
    torch.testing.assert_close(block(x).output, masked, rtol=1e-12, atol=1e-12)


def tiny_classifier(seed: int = 0, n_layers: int = 2) -> EncoderClassifier:
    torch.manual_seed(seed)
    return EncoderClassifier(vocab_size=40, n_classes=3, d_model=D, n_heads=H, n_layers=n_layers, d_ff=32,
                             max_len=12, dropout=0.0).double().eval()


def test_classifier_head_mask_forms_agree():
    model = tiny_classifier()
    ids = torch.randint(1, 40, (B, 7))
    real = torch.ones(B, 7, dtype=torch.bool)
    real[1, 4:] = False
    xi = torch.rand(2, H, dtype=torch.float64)
    as_tensor = model(ids, real, head_mask=xi).logits
    as_list = model(ids, real, head_mask=[xi[0], xi[1]]).logits
    per_example = model(ids, real, head_mask=xi.expand(B, 2, H)).logits
    layer_one_only = model(ids, real, head_mask=[None, xi[1]]).logits
    torch.testing.assert_close(as_tensor, as_list)
    torch.testing.assert_close(as_tensor, per_example)
    torch.testing.assert_close(model(ids, real, head_mask=[torch.ones(H, dtype=torch.float64), xi[1]]).logits,
                               layer_one_only)
    with pytest.raises(InputError, match="n_layers"):
        model(ids, real, head_mask=torch.ones(3, H, dtype=torch.float64))
    with pytest.raises(InputError, match="one entry per layer"):
        model(ids, real, head_mask=[xi[0]])


def test_classifier_prune_heads_equals_masking_and_records_original_indices():
    model = tiny_classifier()
    ids = torch.randint(1, 40, (B, 7))
    real = torch.ones(B, 7, dtype=torch.bool)
    real[2, 3:] = False
    xi = torch.ones(2, H, dtype=torch.float64)
    xi[0, [0, 3]] = 0.0
    xi[1, :] = 0.0
    want = model(ids, real, head_mask=xi).logits
    n_before = sum(p.numel() for p in model.parameters())
    model.prune_heads({0: [3]})
    model.prune_heads({0: [0, 3], 1: range(H)})
    assert model.pruned_heads == {0: [0, 3], 1: [0, 1, 2, 3]}
    assert model.head_ids == [[1, 2], []]
    torch.testing.assert_close(model(ids, real).logits, want, rtol=1e-11, atol=1e-12)
    per_head = 4 * d_head * D + 3 * d_head
    assert sum(p.numel() for p in model.parameters()) == n_before - 6 * per_head
    # masks of a pruned model index its remaining heads, per layer
    torch.testing.assert_close(model(ids, real, head_mask=[torch.tensor([1.0, 1.0], dtype=torch.float64),
                                                           torch.ones(0, dtype=torch.float64)]).logits, want,
                               rtol=1e-11, atol=1e-12)
    with pytest.raises(InputError, match="layers 0..1"):
        model.prune_heads({2: [0]})
