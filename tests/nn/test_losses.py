"""smoothed_cross_entropy against torch.nn.functional.cross_entropy (float64): value and gradient, with padding
rows, label smoothing, bf16 logits and a scaled upstream gradient."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from attnlab.nn.losses import smoothed_cross_entropy


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), vocab=st.integers(2, 50), eps=st.sampled_from([0.0, 0.1, 0.35]),
       ignore=st.sampled_from([0, -100]), scale=st.floats(0.1, 10.0), seed=st.integers(0, 2**16))
def test_value_and_gradient_equal_pytorchs(n, vocab, eps, ignore, scale, seed):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n, vocab, generator=g, dtype=torch.float64) * 4).requires_grad_()
    labels = torch.randint(0, vocab, (n,), generator=g)
    labels[torch.rand(n, generator=g) < 0.3] = ignore  # padding rows
    if not (labels != ignore).any():
        labels[0] = 1  # F.cross_entropy is NaN when every row is ignored (checked below)
    expected = F.cross_entropy(logits, labels, ignore_index=ignore, label_smoothing=eps)
    (want,) = torch.autograd.grad(expected * scale, logits)
    got = smoothed_cross_entropy(logits, labels, ignore_index=ignore, label_smoothing=eps)
    (grad,) = torch.autograd.grad(got * scale, logits)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.item(), expected.item(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)
    assert not grad[labels == ignore].any()  # ignored rows get no gradient


def test_bf16_logits_are_read_as_float32_and_the_gradient_comes_back_in_bf16():
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(64, 300, generator=g) * 3).to(torch.bfloat16).requires_grad_()
    labels = torch.randint(1, 300, (64,), generator=g)
    labels[::5] = 0
    loss = smoothed_cross_entropy(logits, labels, ignore_index=0, label_smoothing=0.1)
    (grad,) = torch.autograd.grad(loss, logits)
    reference = logits.detach().double().requires_grad_()
    expected = F.cross_entropy(reference, labels, ignore_index=0, label_smoothing=0.1)
    (want,) = torch.autograd.grad(expected, reference)
    assert loss.dtype == torch.float32 and grad.dtype == torch.bfloat16
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    torch.testing.assert_close(grad.double(), want, rtol=1e-2, atol=1e-5)  # bf16 rounding of the gradient


def test_every_row_ignored_gives_zero_not_nan():
    logits = torch.randn(3, 5, requires_grad=True)
    loss = smoothed_cross_entropy(logits, torch.zeros(3, dtype=torch.long), ignore_index=0, label_smoothing=0.1)
    loss.backward()
    assert loss.item() == 0.0 and not logits.grad.any()


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 7, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([1, 0, 3, 6, 0, 2])
    assert torch.autograd.gradcheck(
        lambda x: smoothed_cross_entropy(x, labels, ignore_index=0, label_smoothing=0.2), (logits,))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"logits must be \(N, V\)"):
        smoothed_cross_entropy(torch.randn(2, 3, 4), torch.zeros(2, 3, dtype=torch.long))
