"""EncoderClassifier's packed path (no compute on padding) computes the padded path's function, in float64."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.models.classifier import PACK_MIN_PADDING, EncoderClassifier
from attnlab.nn import packing

V, H, L = 40, 4, 3


def make_model(pooling="mean", dropout=0.0, prune=None):
    torch.manual_seed(0)
    model = EncoderClassifier(vocab_size=V, n_classes=3, d_model=16, n_heads=H, n_layers=L, d_ff=24, max_len=12,
                              dropout=dropout, pooling=pooling).double().eval()
    with torch.no_grad():  # larger weights than the init: differences would show
        for name, p in model.named_parameters():
            if "ln" not in name:
                p.normal_(0, 0.2)
    if prune:
        model.prune_heads(prune)
    return model


def batch(lengths, seed=0, extra=0):
    g = torch.Generator().manual_seed(seed)
    T = max(lengths) + extra
    real = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]  # (B, T), right padding
    ids = torch.randint(1, V, (len(lengths), T), generator=g) * real  # padding id 0
    return ids, real


@pytest.mark.parametrize("pooling", ["mean", "max", "cls"])
@given(lengths=st.lists(st.integers(1, 12), min_size=1, max_size=6), seed=st.integers(0, 50))
@settings(max_examples=25, deadline=None)
def test_packed_logits_equal_padded_logits(pooling, lengths, seed):
    model = make_model(pooling)
    ids, real = batch(lengths, seed)
    padded = model(ids, real, packed=False).logits
    torch.testing.assert_close(model(ids, real, packed=True).logits, padded, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("pooling", ["mean", "max"])
@given(lengths=st.lists(st.integers(0, 10), min_size=2, max_size=6), seed=st.integers(0, 50))
@settings(max_examples=20, deadline=None)
def test_packed_pooling_handles_empty_rows_and_extra_padding(pooling, lengths, seed):
    if max(lengths) == 0:
        lengths = [*lengths[:-1], 1]
    model = make_model(pooling)
    ids, real = batch(lengths, seed, extra=2)
    torch.testing.assert_close(model(ids, real, packed=True).logits, model(ids, real, packed=False).logits,
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("prune", [None, {0: [1], 2: [0, 2, 3]}, {1: [0, 1, 2, 3]}])
@pytest.mark.parametrize("per_example", [False, True])
def test_packed_path_with_head_masks_and_pruned_heads(prune, per_example):
    model = make_model(prune=prune)
    ids, real = batch([5, 2, 7, 1], seed=3)
    torch.manual_seed(4)
    masks = [torch.rand((4, n) if per_example else (n,), dtype=torch.float64) for n in map(len, model.head_ids)]
    padded = model(ids, real, head_mask=masks, packed=False).logits
    torch.testing.assert_close(model(ids, real, head_mask=masks, packed=True).logits, padded,
                               rtol=1e-10, atol=1e-12)


def test_packed_gradients_equal_padded_gradients():
    model = make_model("mean").train()  # dropout 0: training mode is deterministic
    ids, real = batch([6, 3, 1, 4], seed=1)
    xi = torch.ones(4, L, H, dtype=torch.float64, requires_grad=True)  # per-example head importance gates
    labels = torch.tensor([0, 2, 1, 0])
    grads = []
    for packed in (False, True):
        model.zero_grad()
        xi.grad = None
        loss = torch.nn.functional.cross_entropy(model(ids, real, head_mask=xi, packed=packed).logits, labels)
        loss.backward()
        grads.append([xi.grad.clone(), *(p.grad.clone() for p in model.parameters())])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_packed_path_runs_in_training_with_dropout_and_under_bf16_autocast():
    model = make_model(dropout=0.2).float().train()
    ids, real = batch([6, 3, 1, 4], seed=2)
    model(ids, real, packed=True).logits.sum().backward()
    model.eval()
    ref = model(ids, real, packed=False).logits
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(ids, real, packed=True).logits
    assert low.dtype == torch.bfloat16
    torch.testing.assert_close(low.float(), ref, rtol=0.1, atol=0.1)


def test_automatic_packing_is_off_on_cpu_and_return_attn_stays_padded(monkeypatch):
    model = make_model()
    ids, real = batch([9, 1, 1, 1], seed=0)  # 67% padding: over the threshold
    assert (~real).float().mean() >= PACK_MIN_PADDING
    calls = []
    original = packing.PackedBatch.from_mask
    monkeypatch.setattr(packing.PackedBatch, "from_mask", classmethod(lambda cls, r: calls.append(1) or original(r)))
    model(ids, real)  # default: automatic, which is padded on CPU
    out = model(ids, real, packed=True, return_attn=True)  # weights need the padded path
    assert calls == [] and out.attentions[0].shape == (4, H, 9, 9)
    model(ids, real, packed=True)
    assert calls == [1]
    full = torch.ones_like(real)
    model(ids, full, packed=True)  # no padding: nothing to pack, the unmasked kernel runs
    assert calls == [1]
