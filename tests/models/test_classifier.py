"""EncoderClassifier: shapes, padding invariance, pooling, attention weights, training, determinism."""

import pytest
import torch
import torch.nn.functional as F

from attnlab.errors import InputError
from attnlab.models import ClassifierOutput, EncoderClassifier

CFG = dict(vocab_size=40, n_classes=3, d_model=16, n_heads=4, n_layers=2, d_ff=32, max_len=12)


def model(seed: int = 0, **overrides) -> EncoderClassifier:
    torch.manual_seed(seed)
    return EncoderClassifier(**{**CFG, **overrides})


def batch(B: int = 4, T: int = 6, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, CFG["vocab_size"], (B, T), generator=g)
    lengths = torch.tensor([T, 3, 1, 5][:B])
    mask = torch.arange(T)[None] < lengths[:, None]  # (B, T), True = real token
    return ids * mask, mask


def test_output_shapes_and_type():
    ids, mask = batch()
    out = model().eval()(ids, mask)
    assert isinstance(out, ClassifierOutput)
    assert out.logits.shape == (4, 3) and out.attentions is None


@pytest.mark.parametrize("pooling", ["mean", "max", "cls"])
def test_padding_does_not_change_logits(pooling):
    m = model(pooling=pooling).eval()
    ids, mask = batch()
    logits = m(ids, mask).logits
    extra = 5  # append more padding, with junk ids under it
    ids_padded = torch.cat([ids, torch.randint(1, 40, (4, extra))], dim=1)
    mask_padded = torch.cat([mask, torch.zeros(4, extra, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(m(ids_padded, mask_padded).logits, logits, atol=1e-5, rtol=1e-5)
    # each sequence alone, unpadded, gives the same logits as in the padded batch
    for i, n in enumerate(mask.sum(1).tolist()):
        alone = m(ids[i:i + 1, :n]).logits
        torch.testing.assert_close(alone, logits[i:i + 1], atol=1e-5, rtol=1e-5)


def test_mean_pooling_ignores_padding():
    m = model().eval()
    x = torch.randn(2, 4, 16)
    real = torch.tensor([[True, True, False, False], [True, True, True, True]])
    pooled = m._pool(x, real)
    torch.testing.assert_close(pooled[0], x[0, :2].mean(0))
    torch.testing.assert_close(pooled[1], x[1].mean(0))
    assert torch.equal(m._pool(x, torch.zeros(2, 4, dtype=torch.bool)), torch.zeros(2, 16))


def test_max_pooling_is_the_featurewise_max_over_real_tokens():
    """Against a float64 NumPy reference; padding (even with larger values under it) never wins."""
    import numpy as np

    m = model(pooling="max").eval()
    x = torch.randn(3, 5, 16)
    real = torch.tensor([[True, True, False, False, False], [True] * 5, [False] * 5])
    x[0, 2:] = 100.0  # junk under the padding
    pooled = m._pool(x, real).double().numpy()
    xs = x.double().numpy()
    np.testing.assert_allclose(pooled[0], xs[0, :2].max(axis=0))
    np.testing.assert_allclose(pooled[1], xs[1].max(axis=0))
    assert not pooled[2].any()  # an all-padding row pools to zeros, not -inf
    torch.testing.assert_close(m._pool(x[1:2], None), x[1:2].amax(dim=1))


def test_all_ones_mask_equals_no_mask():
    m = model().eval()
    ids, _ = batch()
    torch.testing.assert_close(m(ids, torch.ones_like(ids)).logits, m(ids).logits)


def test_return_attn_gives_per_layer_weights():
    m = model(n_layers=3).eval()
    ids, mask = batch()
    out = m(ids, mask, return_attn=True)
    assert len(out.attentions) == 3
    for w in out.attentions:
        assert w.shape == (4, 4, 6, 6)  # (B, H, T, T)
        torch.testing.assert_close(w.sum(-1), torch.ones(4, 4, 6))
        assert not w[~mask[:, None, None, :].expand_as(w)].any()  # padding keys get no weight
    torch.testing.assert_close(out.logits, m(ids, mask).logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "max", "cls"])
def test_all_padding_row_is_finite(pooling):
    m = model(pooling=pooling).eval()
    ids, mask = batch()
    mask[2] = False
    assert torch.isfinite(m(ids, mask).logits).all()


def test_tiny_overfit():
    m = model(dropout=0.0)
    ids, mask = batch()
    labels = torch.tensor([0, 1, 2, 1])
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = F.cross_entropy(m(ids, mask).logits, labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert (m.eval()(ids, mask).logits.argmax(-1) == labels).all()


def test_seed_determinism_including_dropout():
    ids, mask = batch()
    results = []
    for _ in range(2):
        m = model(seed=7).train()
        torch.manual_seed(123)
        results.append(m(ids, mask).logits)
    assert torch.equal(results[0], results[1])
    m.eval()
    assert torch.equal(m(ids, mask).logits, m(ids, mask).logits)


def test_pad_embedding_row_is_zero_and_gets_no_gradient():
    m = model()
    assert not m.tok_emb.weight[0].any()
    ids, mask = batch()
    m(ids, mask).logits.sum().backward()
    assert not m.tok_emb.weight.grad[0].any()


@pytest.mark.parametrize("overrides, match", [
    ({"d_model": 18}, "d_model=18 is not divisible by n_heads=4"),
    ({"n_layers": 0}, "n_layers must be a positive integer"),
    ({"vocab_size": -1}, "vocab_size must be a positive integer"),
    ({"pooling": "attention"}, "unknown pooling 'attention'"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"pad_id": 40}, "pad_id=40 is outside the vocabulary"),
])
def test_bad_config_is_input_error(overrides, match):
    with pytest.raises(InputError, match=match):
        model(**overrides)


def test_bad_inputs_are_input_errors():
    m = model()
    with pytest.raises(InputError, match="exceeds max_len=12"):
        m(torch.ones(1, 13, dtype=torch.long))
    with pytest.raises(InputError, match="integer"):
        m(torch.ones(1, 3))
    with pytest.raises(InputError, match="does not match"):
        m(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 4))
