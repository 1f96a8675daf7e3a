"""Head importance, ablation and the pruning curve against brute-force float64 references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, f1_score

from attnlab.errors import InputError
from attnlab.heads.importance import (
    ablate_heads,
    head_importance,
    head_metrics,
    masked_predictions,
    pruning_curve,
    removal_order,
)
from attnlab.metrics.compare import paired_bootstrap_test
from attnlab.models.classifier import EncoderClassifier
from attnlab.train.loop import TensorData

L, H, D, V, N, MAXLEN = 2, 4, 16, 30, 24, 9
LABELS = ["ham", "spam"]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = EncoderClassifier(vocab_size=V, n_classes=2, d_model=D, n_heads=H, n_layers=L, d_ff=32, max_len=MAXLEN,
                          dropout=0.1).double()
    with torch.no_grad():  # larger weights than the BERT init, so heads differ and decisions vary
        for p in m.parameters():
            p.mul_(8.0)
    return m.eval()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, MAXLEN + 1, size=N)
    ids = np.zeros((N, MAXLEN), dtype=np.int64)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1, V, size=n)
    mask = (ids != 0).astype(np.uint8)
    return TensorData(ids, mask, lengths.astype(np.int64), rng.integers(0, 2, size=N).astype(np.int64))


def brute_force_importance(model, data, mask=None):
    """One example at a time, unpadded: |∂L_x/∂ξ| per head, averaged; float64."""
    mask = np.ones((L, H)) if mask is None else mask
    total = np.zeros((L, H))
    for i in range(len(data)):
        ids = torch.from_numpy(data.input_ids[i:i + 1, :data.lengths[i]])
        xi = [torch.tensor(mask[l], dtype=torch.float64, requires_grad=True) for l in range(L)]
        loss = F.cross_entropy(model(ids, head_mask=xi).logits, torch.tensor([data.labels[i]]))
        for l, g in enumerate(torch.autograd.grad(loss, xi)):
            total[l] += g.abs().numpy()
    return total / len(data)


def manual_predictions(model, data, mask):
    out = []
    with torch.no_grad():
        for i in range(len(data)):
            ids = torch.from_numpy(data.input_ids[i:i + 1, :data.lengths[i]])
            xi = torch.tensor(mask, dtype=torch.float64)
            out.append(int(model(ids, head_mask=xi).logits.argmax()))
    return np.array(out)


def test_importance_matches_per_example_brute_force(model, data):
    imp = head_importance(model, data, batch_size=5)
    want = brute_force_importance(model, data)
    np.testing.assert_allclose(imp.scores, want, rtol=1e-9, atol=1e-12)
    norms = np.linalg.norm(want, axis=1, keepdims=True)
    np.testing.assert_allclose(imp.normalized, want / norms, rtol=1e-9)
    assert imp.n_examples == N
    # E|g| is not |E g|: the per-example magnitudes are at least the magnitude of the mean
    assert (imp.scores > 0).all()
    ranking = imp.ranking()
    assert sorted(ranking) == [(l, h) for l in range(L) for h in range(H)]
    values = [imp.normalized[lh] for lh in ranking]
    assert values == sorted(values)
    d = imp.to_dict()
    assert d["rank"][ranking[0][0]][ranking[0][1]] == 0 and len(d["scores"]) == L


def test_masked_heads_get_no_score_and_gradients_use_the_mask(model, data):
    mask = np.ones((L, H))
    mask[0, 1] = mask[1, 3] = 0.0
    imp = head_importance(model, data, mask=mask, batch_size=7)
    want = brute_force_importance(model, data, mask)
    assert np.isnan(imp.scores[0, 1]) and np.isnan(imp.scores[1, 3])
    keep = mask == 1.0
    np.testing.assert_allclose(imp.scores[keep], want[keep], rtol=1e-9, atol=1e-12)
    assert (0, 1) not in imp.ranking()


def test_really_pruned_model_has_the_masked_models_importance(model, data):
    pruned = EncoderClassifier(vocab_size=V, n_classes=2, d_model=D, n_heads=H, n_layers=L, d_ff=32,
                               max_len=MAXLEN).double().eval()
    pruned.load_state_dict(model.state_dict())
    pruned.prune_heads({0: [1], 1: [0, 1, 2, 3]})  # layer 1 loses every head
    mask = np.ones((L, H))
    mask[0, 1] = 0.0
    mask[1, :] = 0.0
    got = head_importance(pruned, data, batch_size=8)
    want = head_importance(model, data, mask=mask, batch_size=8)
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-9, equal_nan=True)
    assert np.isnan(got.scores[1]).all()
    np.testing.assert_array_equal(masked_predictions(pruned, data), masked_predictions(model, data, mask=mask))


def test_ablation_matches_manual_masked_forward(model, data):
    records = ablate_heads(model, data, labels=LABELS, positive_label="spam", n_resamples=200, seed=3)
    assert [(r["layer"], r["head"]) for r in records] == [(l, h) for l in range(L) for h in range(H)]
    y = [LABELS[i] for i in data.labels]
    base = [LABELS[i] for i in manual_predictions(model, data, np.ones((L, H)))]
    for r in records:
        mask = np.ones((L, H))
        mask[r["layer"], r["head"]] = 0.0
        pred = [LABELS[i] for i in manual_predictions(model, data, mask)]
        m = r["metrics"]
        assert m["accuracy"]["difference"] == pytest.approx(accuracy_score(y, pred) - accuracy_score(y, base))
        assert m["macro_f1"]["system"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))
        want = paired_bootstrap_test(y, base, pred, labels=LABELS, metrics=["per_class.spam.f1"],
                                     positive_label="spam", n_resamples=200, seed=3)["per_class.spam.f1"]
        assert m["positive_f1"] == want


def test_head_metrics_match_sklearn():
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    got = head_metrics(y, p, labels=["a", "b", "c"])
    assert got["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert got["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"))
    assert "positive_f1" not in got


def test_iterative_order_recomputes_importance(model, data):
    order, importances = removal_order(model, data, n_remove=3, step=1, batch_size=6)
    mask = np.ones((L, H))
    for k, head in enumerate(order):  # each removed head is the least important given the earlier removals
        want = brute_force_importance(model, data, mask)
        want[mask == 0] = np.nan
        normalized = want / np.sqrt(np.nansum(want**2, axis=1, keepdims=True))
        assert head == np.unravel_index(np.nanargmin(normalized), normalized.shape)
        np.testing.assert_allclose(importances[k].scores, want, rtol=1e-9, equal_nan=True)
        mask[head] = 0.0
    raw, _ = removal_order(model, data, n_remove=1, normalize=False)
    assert raw[0] == np.unravel_index(np.argmin(brute_force_importance(model, data)), (L, H))


@pytest.mark.parametrize("min_heads", [0, 1])
def test_pruning_curve_bookkeeping(model, data, min_heads):
    curve = pruning_curve(model, data, {"validation": data}, labels=LABELS, positive_label="spam",
                          step_fraction=0.25, min_heads_per_layer=min_heads)
    points, n_heads = curve["points"], L * H
    assert curve["step"] == 2 and curve["n_heads"] == n_heads
    fractions = [p["fraction_removed"] for p in points]
    assert fractions[0] == 0.0 and fractions == sorted(set(fractions))
    assert fractions[-1] == (n_heads - min_heads * L) / n_heads
    assert sorted(map(tuple, curve["order"])) == sorted(set(map(tuple, curve["order"])))  # no head twice
    for a, b in zip(points, points[1:]):  # removed sets nested
        assert set(map(tuple, a["removed"])) < set(map(tuple, b["removed"]))
    for p in points:  # every point is the metric of the model with exactly those heads masked
        mask = np.ones((L, H))
        for l, h in p["removed"]:
            mask[l, h] = 0.0
        assert min(mask.sum(axis=1)) >= min_heads
        pred = manual_predictions(model, data, mask)
        assert p["validation"]["accuracy"] == pytest.approx(accuracy_score(data.labels, pred))
    assert points[0]["validation"] == head_metrics(data.labels, masked_predictions(model, data), labels=LABELS,
                                                   positive_label="spam")


def test_bad_arguments_are_input_errors(model, data):
    with pytest.raises(InputError, match="shape"):
        head_importance(model, data, mask=np.ones((L, H + 1)))
    with pytest.raises(InputError, match="cannot remove"):
        removal_order(model, data, n_remove=L * H, min_heads_per_layer=1)
    with pytest.raises(InputError, match="step_fraction"):
        pruning_curve(model, data, {}, labels=LABELS, step_fraction=0.0)
