from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from attnlab.config import TrainConfig
from attnlab.errors import InputError
from attnlab.train.loop import TensorData, batch_order, fit, predict_logits, to_batch


class BagModel(torch.nn.Module):
    """Mean of token embeddings over real tokens -> linear: small, but a real trainable classifier."""

    def __init__(self, vocab=50, n_classes=2):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, 8)
        self.head = torch.nn.Linear(8, n_classes)

    def forward(self, ids, mask):
        m = mask.unsqueeze(-1).float()
        pooled = (self.emb(ids) * m).sum(1) / m.sum(1).clamp(min=1)
        return SimpleNamespace(logits=self.head(pooled))


class NullProgress:
    def add_task(self, *a, **k):
        return 0

    def update(self, *a, **k):
        pass


def make_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 12, n)
    labels = rng.integers(0, 2, n)
    ids = np.zeros((n, 12), dtype=np.int64)
    mask = np.zeros((n, 12), dtype=np.uint8)
    for i, (length, y) in enumerate(zip(lengths, labels)):
        ids[i, :length] = rng.integers(1, 25, length) + 25 * y  # class-specific tokens: learnable
        mask[i, :length] = 1
    return TensorData(ids, mask, lengths.astype(np.int64), labels.astype(np.int64))


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 500), batch=st.integers(1, 64), seed=st.integers(0, 10), shuffle=st.booleans())
def test_batch_order_covers_every_row_once(n, batch, seed, shuffle):
    lengths = np.random.default_rng(seed).integers(1, 100, n)
    batches = batch_order(lengths, batch, np.random.default_rng(seed) if shuffle else None)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(n))
    assert all(1 <= len(b) <= batch for b in batches)


def test_batch_order_is_seeded():
    lengths = np.arange(300) % 17
    a = batch_order(lengths, 8, np.random.default_rng(3))
    b = batch_order(lengths, 8, np.random.default_rng(3))
    assert all((x == y).all() for x, y in zip(a, b))


def test_to_batch_trims_to_longest_row():
    data = make_data()
    idx = np.array([0, 1, 2])
    ids, mask, labels = to_batch(data, idx, torch.device("cpu"))
    assert ids.shape[1] == data.lengths[idx].max() and mask.dtype == torch.bool
    assert (mask.sum(1).numpy() == data.lengths[idx]).all()


def test_predict_logits_keeps_original_order():
    data = make_data(40)
    model = BagModel().eval()
    got = predict_logits(model, data, batch_size=7)
    for i in (0, 13, 39):
        ids, mask, _ = to_batch(data, np.array([i]), torch.device("cpu"))
        torch.testing.assert_close(torch.from_numpy(got[i]), model(ids, mask).logits[0].detach())


def run_fit(scores, patience, epochs=6):
    torch.manual_seed(0)
    data = make_data()
    model = BagModel()
    seen_states, records = [], []
    script = iter(scores)

    def evaluate(logits):
        seen_states.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"macro_f1": next(script)}

    cfg = TrainConfig(epochs=epochs, batch_size=16, patience=patience, lr=1e-2)
    result = fit(model, data, data, train_cfg=cfg, evaluate=evaluate, on_epoch=records.append,
                 progress=NullProgress(), device=torch.device("cpu"))
    return model, result, seen_states, records


def test_early_stopping_restores_best_epoch_weights():
    model, result, states, records = run_fit([0.5, 0.8, 0.7, 0.6, 0.9, 0.95], patience=2)
    assert result.best_epoch == 2 and result.stopped_early and len(records) == 4
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, states[1][k])
    assert [r["best"] for r in records] == [True, True, False, False]
    assert {"epoch", "train_loss", "val_loss", "val_macro_f1", "lr", "train_tokens_per_s"} <= set(records[0])


def test_patience_zero_runs_every_epoch():
    _, result, _, records = run_fit([0.9, 0.1, 0.1, 0.1], patience=0, epochs=4)
    assert len(records) == 4 and result.best_epoch == 1 and not result.stopped_early


def test_fit_learns_a_separable_task_and_is_deterministic():
    cfg = TrainConfig(epochs=5, batch_size=8, lr=5e-2, patience=0)
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        data = make_data(128)
        records = []
        fit(BagModel(), data, data, train_cfg=cfg, evaluate=lambda lg: {"macro_f1": 0.0},
            on_epoch=records.append, progress=NullProgress(), device=torch.device("cpu"))
        losses.append([r["train_loss"] for r in records])
    assert losses[0] == losses[1]
    assert losses[0][-1] < 0.5 * losses[0][0]


@pytest.mark.parametrize("scores, best_epoch", [([0.1, 0.9], 2), ([0.9, 0.1], 1)])
def test_ema_validates_keeps_and_saves_the_moving_average(scores, best_epoch, weight_trajectory):
    """--ema-decay: after every optimizer step e ← d·e + (1-d)·w (e = w at the first step); validation sees the
    average and the model ends holding the best epoch's average (float64 reference from the raw trajectory)."""
    decay, steps_per_epoch = 0.8, 4  # 64 rows, batch 16
    torch.manual_seed(0)
    data, model = make_data(), BagModel()
    val_logits = []
    weight_trajectory.record(model)
    script = iter(scores)

    def evaluate(logits):
        val_logits.append(logits)
        return {"macro_f1": next(script)}

    cfg = TrainConfig(epochs=2, batch_size=16, patience=0, lr=5e-2, ema_decay=decay)
    result = fit(model, data, data, train_cfg=cfg, evaluate=evaluate, on_epoch=lambda r: None,
                 progress=NullProgress(), device=torch.device("cpu"))
    assert len(weight_trajectory.steps) == 2 * steps_per_epoch and result.best_epoch == best_epoch
    averages = weight_trajectory.averages(decay)
    for epoch in (1, 2):  # what validation scored: the average at the epoch's end, not the raw weights
        reference = BagModel().double()
        reference.load_state_dict(averages[epoch * steps_per_epoch - 1])
        ids = torch.from_numpy(data.input_ids)
        expected = reference(ids, torch.from_numpy(data.attention_mask.astype(bool))).logits.detach().numpy()
        np.testing.assert_allclose(val_logits[epoch - 1], expected, rtol=1e-4, atol=1e-5)
    weight_trajectory.assert_holds_average(model, decay, best_epoch * steps_per_epoch - 1)


def test_ema_decay_is_validated():
    with pytest.raises(InputError, match="ema_decay"):
        TrainConfig(ema_decay=1.0).validate()
