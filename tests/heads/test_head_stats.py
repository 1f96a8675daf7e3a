"""Head statistics and attention rollout against float64 NumPy/SciPy references written out loop by loop."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from attnlab.errors import InputError
from attnlab.heads.stats import HeadStatistics, attention_rollout, head_pattern, js_divergence, token_kinds
from attnlab.models.classifier import EncoderClassifier
from attnlab.nn.attention import MultiHeadAttention


def random_attention(rng, B, H, T, lengths):
    """Row-stochastic (B, H, T, T) weights that put no weight on padding keys; padding rows are zero."""
    w = rng.random((B, H, T, T)) ** 3
    for b, n in enumerate(lengths):
        w[b, :, :, n:] = 0.0
        w[b, :, n:, :] = 0.0
    sums = w.sum(-1, keepdims=True)
    return np.divide(w, sums, out=np.zeros_like(w), where=sums > 0)


def reference_stats(layers, lengths, kinds):
    """Per (layer, head): mean over real rows of each statistic, by explicit loops."""
    out = []
    for w in layers:
        B, H, T, _ = w.shape
        for h in range(H):
            acc = {k: [] for k in ("entropy", "max_weight", "distance", "share_special", "share_punctuation",
                                   "share_padding", "share_self", "share_previous", "share_next", "normalized_entropy")}
            for b in range(B):
                n = lengths[b]
                for i in range(n):
                    p = w[b, h, i]
                    nz = p[p > 0]
                    ent = float(-(nz * np.log(nz)).sum())
                    acc["entropy"].append(ent)
                    if n > 1:
                        acc["normalized_entropy"].append(ent / np.log(n))
                    acc["max_weight"].append(p.max())
                    acc["distance"].append(sum(p[j] * abs(i - j) for j in range(T)))
                    acc["share_special"].append(sum(p[j] for j in range(T) if kinds[b][j] == 1))
                    acc["share_punctuation"].append(sum(p[j] for j in range(T) if kinds[b][j] == 2))
                    acc["share_padding"].append(p[n:].sum())
                    acc["share_self"].append(p[i])
                    acc["share_previous"].append(p[i - 1] if i > 0 else 0.0)
                    acc["share_next"].append(p[i + 1] if i + 1 < T else 0.0)
            out.append({k: float(np.mean(v)) for k, v in acc.items()})
    return out


def test_statistics_match_a_loop_reference_across_batches():
    rng = np.random.default_rng(0)
    T, lengths = 7, [7, 4, 1, 5, 6]
    layers = [random_attention(rng, 5, 3, T, lengths), random_attention(rng, 5, 2, T, lengths)]
    kinds = rng.integers(0, 3, size=(5, T))
    key_mask = np.arange(T)[None, :] < np.array(lengths)[:, None]
    stats = HeadStatistics()
    for rows in (slice(0, 2), slice(2, 5)):  # two batches, the second trimmed to its own longest row
        width = max(lengths[rows])
        stats.update([torch.from_numpy(w[rows, :, :width, :width]) for w in layers],
                     torch.from_numpy(key_mask[rows, :width]), torch.from_numpy(kinds[rows, :width]))
    got = stats.compute()
    assert got["heads"] == [3, 2] and got["n_examples"] == 5 and got["n_rows"] == sum(lengths)
    for row, ref in zip(got["per_head"], reference_stats(layers, lengths, kinds)):
        for key, value in ref.items():
            assert row[key] == pytest.approx(value, abs=1e-10), (row["layer"], row["head"], key)


def test_js_matrix_matches_scipy():
    rng = np.random.default_rng(1)
    lengths = [6, 3]
    w = random_attention(rng, 2, 4, 6, lengths)
    mask = np.arange(6)[None, :] < np.array(lengths)[:, None]
    stats = HeadStatistics()
    stats.update([torch.from_numpy(w)], torch.from_numpy(mask))
    js = np.array(stats.compute()["similarity"]["js"])
    rows = [(b, i) for b in range(2) for i in range(lengths[b])]
    for a in range(4):
        for c in range(4):
            ref = np.mean([jensenshannon(w[b, a, i], w[b, c, i], base=2) ** 2 for b, i in rows])
            assert js[a, c] == pytest.approx(ref, abs=2e-6)  # stored rounded to 6 decimals
    assert np.allclose(js, js.T) and np.allclose(np.diag(js), 0.0)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 9), st.integers(0, 2**31 - 1))
def test_js_divergence_is_scipy_squared(n, seed):
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.ones(n) * 0.3), rng.dirichlet(np.ones(n) * 0.3)
    p[rng.integers(n)] = 0.0
    p /= p.sum()
    got = js_divergence(torch.from_numpy(p), torch.from_numpy(q)).item()
    assert got == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)
    assert 0.0 <= got <= 1.0 + 1e-12


def test_similarity_rows_caps_the_js_sample():
    rng = np.random.default_rng(2)
    w = torch.from_numpy(random_attention(rng, 3, 2, 5, [5, 5, 5]))
    stats = HeadStatistics(similarity_rows=7)
    stats.update([w])
    out = stats.compute()
    assert out["similarity"]["rows"] == 7 and out["n_rows"] == 15


def test_rollout_matches_numpy_products():
    rng = np.random.default_rng(3)
    layers = [random_attention(rng, 2, 3, 5, [5, 5]) for _ in range(3)]
    got = attention_rollout([torch.from_numpy(w) for w in layers], residual=0.5).numpy()
    for b in range(2):
        ref = np.eye(5)
        for w in layers:
            step = 0.5 * np.eye(5) + 0.5 * w[b].mean(0)
            step /= step.sum(-1, keepdims=True)
            ref = step @ ref
        np.testing.assert_allclose(got[b], ref, atol=1e-12)
    identity = attention_rollout([torch.from_numpy(w) for w in layers], residual=1.0)
    assert torch.allclose(identity, torch.eye(5, dtype=torch.float64).expand(2, 5, 5))
    with pytest.raises(InputError):
        attention_rollout([], residual=0.5)


def test_padding_gets_no_weight_from_a_masked_attnlab_model():
    """A masking check users can run on any model: attnlab's encoder puts exactly zero weight on padding."""
    torch.manual_seed(0)
    model = EncoderClassifier(vocab_size=30, n_classes=2, d_model=16, n_heads=4, n_layers=2, d_ff=32, max_len=12).eval()
    ids = torch.randint(5, 30, (3, 9))
    mask = torch.arange(9)[None, :] < torch.tensor([[9], [4], [6]])
    ids[~mask] = 0
    with torch.no_grad():
        attn = model(ids, mask, return_attn=True).attentions
    stats = HeadStatistics()
    stats.update(attn, mask)
    out = stats.compute()
    assert all(r["share_padding"] == 0.0 for r in out["per_head"])
    assert out["n_rows"] == 9 + 4 + 6


def test_same_statistics_from_torch_multihead_attention_weights():
    """Any model that returns per-head weights works: torch's own MultiheadAttention gives the same numbers."""
    torch.manual_seed(1)
    ref = torch.nn.MultiheadAttention(16, 4, batch_first=True).double().eval()
    ours = MultiHeadAttention.from_torch(ref)
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    padding = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    _, w_ref = ref(x, x, x, key_padding_mask=padding, average_attn_weights=False)
    w_ours = ours(x, key_padding_mask=padding, return_attn=True).weights
    results = []
    for w in (w_ref, w_ours):
        stats = HeadStatistics()
        stats.update([w], ~padding)
        results.append(stats.compute()["per_head"])
    for a, b in zip(*results):
        for key in ("entropy", "distance", "share_self", "normalized_entropy"):
            assert a[key] == pytest.approx(b[key], abs=1e-12)


def test_token_kinds_and_patterns():
    assert token_kinds(["[CLS]", "win", "!", "##.", "▁,", "Ġ?", "a-b", "[SEP]"]) == [1, 0, 2, 2, 2, 2, 0, 1]
    assert head_pattern({"share_special": 0.7, "share_self": 0.9}) == "special tokens"
    assert head_pattern({"share_special": 0.1, "share_previous": 0.6}) == "previous token"
    assert head_pattern({"normalized_entropy": 0.95, "max_weight": 0.1}) == "broad"
    assert head_pattern({"normalized_entropy": 0.3, "max_weight": 0.7}) == "focused"
    assert head_pattern({"normalized_entropy": 0.5, "max_weight": 0.3}) == "mixed"


def test_bad_updates_are_refused():
    stats = HeadStatistics()
    with pytest.raises(InputError):
        stats.update([])
    with pytest.raises(InputError):
        stats.compute()
    w = torch.softmax(torch.randn(2, 2, 4, 4), -1)
    stats.update([w])
    with pytest.raises(InputError, match="heads per layer changed"):
        stats.update([torch.softmax(torch.randn(2, 3, 4, 4), -1)])
    with pytest.raises(InputError, match="must all be"):
        HeadStatistics().update([w, torch.softmax(torch.randn(2, 2, 5, 5), -1)])
