"""The translator's training loop: token-bucketed batches, the learning-rate schedule, autocast choice, the
teacher-forced validation loss, and the wall-time budget."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from attnlab.config import Seq2SeqTrainConfig
from attnlab.data.subword import BOS_ID, EOS_ID, PAD_ID, EncodedPairs
from attnlab.errors import InputError
from attnlab.models.seq2seq import Seq2SeqTransformer
from attnlab.train import seq2seq_loop
from attnlab.train.seq2seq_loop import (_lr_factor, autocast, autocast_dtype, fit_seq2seq, pair_batch,
                                        teacher_forced_loss, token_batches)

# ------------------------------------------------------------------------------------------------ token_batches


def check_batches(batches, lengths, budget):
    """Every row exactly once; a batch of two or more rows fits the budget in padded tokens."""
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    for b in batches:
        assert len(b) >= 1
        if len(b) > 1:
            assert int(lengths[b].max()) * len(b) <= budget


@settings(max_examples=60, deadline=None)
@given(src=st.lists(st.integers(1, 60), min_size=1, max_size=120), extra=st.integers(-20, 20),
       budget=st.integers(1, 400), seed=st.integers(0, 2**16))
def test_batches_cover_every_pair_once_within_the_budget(src, extra, budget, seed):
    src = np.array(src)
    tgt = np.maximum(1, src + extra)  # targets longer or shorter: the longer side counts
    lengths = np.maximum(src, tgt)
    for rng in (None, np.random.default_rng(seed)):
        check_batches(token_batches(src, tgt, budget, rng), lengths, budget)


def test_evaluation_batches_are_in_length_order_and_greedy():
    src = np.array([3, 9, 4, 8, 2, 9])
    batches = token_batches(src, src, 18, None)
    assert [b.tolist() for b in batches] == [[4, 0, 2], [3, 1], [5]]  # 3*4=12, then 8 + 9 = 2*9, then 9 alone
    flat = np.concatenate(batches)
    assert (np.diff(src[flat]) >= 0).all()


def test_a_pair_longer_than_the_budget_gets_a_batch_of_its_own():
    src = np.array([5, 50, 5, 5])
    batches = token_batches(src, src, 12, None)
    assert [b.tolist() for b in batches] == [[0, 2], [3], [1]]


def test_shuffled_batches_are_seeded():
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(1, 40, 500), rng.integers(1, 40, 500)
    a = token_batches(src, tgt, 200, np.random.default_rng(1))
    b = token_batches(src, tgt, 200, np.random.default_rng(1))
    c = token_batches(src, tgt, 200, np.random.default_rng(2))
    assert [x.tolist() for x in a] == [x.tolist() for x in b]
    assert [x.tolist() for x in a] != [x.tolist() for x in c]
    # sorted within blocks, so batches are nearly uniform in length: little padding
    lengths = np.maximum(src, tgt)
    padded = sum(int(lengths[x].max()) * len(x) for x in a)
    assert padded < 1.3 * lengths.sum()


def test_pair_batch_trims_to_the_longest_row():
    data = EncodedPairs(np.array([[5, 6, EOS_ID, 0, 0], [7, EOS_ID, 0, 0, 0]]), np.array([3, 2]),
                        np.array([[BOS_ID, 5, EOS_ID, 0], [BOS_ID, EOS_ID, 0, 0]]), np.array([3, 2]), 0, 0)
    src, tgt = pair_batch(data, np.array([1]), torch.device("cpu"))
    assert src.tolist() == [[7, EOS_ID]] and tgt.tolist() == [[BOS_ID, EOS_ID]]
    src, tgt = pair_batch(data, np.array([1, 0]), torch.device("cpu"))
    assert src.shape == (2, 3) and tgt.shape == (2, 3)


# ------------------------------------------------------------------------------------------------ lr schedule


def sched(**kw):
    return SimpleNamespace(**{"warmup_steps": 0, "max_minutes": 0.0, **kw})


def test_lr_warms_up_linearly_then_decays_linearly_to_zero():
    cfg, total = sched(warmup_steps=10), 110
    f = np.array([_lr_factor(s, cfg, total, 0.0) for s in range(total)])
    np.testing.assert_allclose(f[:10], np.arange(1, 11) / 10)  # (step + 1) / warmup
    assert f.max() == 1.0 and f[9] == f[10] == 1.0
    np.testing.assert_allclose(f[10:], (total - np.arange(10, total)) / 100)  # to 1/100 at the last step
    assert (f > 0).all() and (np.diff(f[10:]) < 0).all()


def test_lr_without_warmup_starts_at_the_peak():
    f = [_lr_factor(s, sched(), 4, 0.0) for s in range(4)]
    assert f == [1.0, 0.75, 0.5, 0.25]


def test_lr_decays_over_the_wall_time_budget():
    cfg = sched(warmup_steps=5, max_minutes=2.0)
    assert _lr_factor(0, cfg, 10**6, 0.0) == pytest.approx(0.2)  # warmup still applies
    assert _lr_factor(50, cfg, 10**6, 30.0) == pytest.approx(0.75)  # a quarter of 120 s gone
    assert _lr_factor(50, cfg, 10**6, 119.0) == pytest.approx(1 / 120)
    assert _lr_factor(50, cfg, 10**6, 500.0) == 0.0  # never negative


# ------------------------------------------------------------------------------------------------ autocast


def test_autocast_dtype(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype("fp32", cpu) is None and autocast_dtype("fp32", cuda) is None
    assert autocast_dtype("bf16", cpu) is torch.bfloat16  # asked for: used even where it is emulated
    for native in (True, False):
        monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda native=native: native)
        assert autocast_dtype("auto", cpu) is (torch.bfloat16 if native else None)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda native=native: native)
        assert autocast_dtype("auto", cuda) is (torch.bfloat16 if native else None)


def test_autocast_context():
    layer = torch.nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with autocast(torch.device("cpu"), None):
        assert layer(x).dtype == torch.float32
    with autocast(torch.device("cpu"), torch.bfloat16):
        assert layer(x).dtype == torch.bfloat16
    assert layer.weight.dtype == torch.float32  # master weights stay float32


# ------------------------------------------------------------------------------------------------ loss and fit


def copy_task(n=40, seed=0, vocab=12, max_len=8):
    """Targets copy the sources: ``x </s>`` -> ``<s> x </s>``, right-padded."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, max_len - 1, n)
    src = np.zeros((n, max_len), dtype=np.int64)
    tgt = np.zeros((n, max_len + 1), dtype=np.int64)
    for i, k in enumerate(lengths):
        x = rng.integers(4, vocab, k)
        src[i, :k + 1] = [*x, EOS_ID]
        tgt[i, :k + 2] = [BOS_ID, *x, EOS_ID]
    return EncodedPairs(src, lengths + 1, tgt, lengths + 2, 0, 0)


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return Seq2SeqTransformer(src_vocab_size=12, tgt_vocab_size=12, d_model=16, n_heads=2, n_encoder_layers=1,
                              n_decoder_layers=1, d_ff=32, max_len=16, dropout=0.0)


def test_teacher_forced_loss_is_the_token_mean_whatever_the_batching():
    data, model = copy_task(), tiny_model()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(len(data.src_lengths)):  # one pair at a time, no padding at all
            src = torch.from_numpy(data.src_ids[i:i + 1, :data.src_lengths[i]])
            tgt = torch.from_numpy(data.tgt_ids[i:i + 1, :data.tgt_lengths[i]])
            logits = model(src, src != PAD_ID, tgt[:, :-1]).logits
            total += F.cross_entropy(logits[0], tgt[0, 1:], reduction="sum").item()
            count += tgt.shape[1] - 1
    for budget in (9, 40, 10_000):
        loss = teacher_forced_loss(model, data, batch_tokens=budget, pad_id=PAD_ID, device=torch.device("cpu"))
        assert loss == pytest.approx(total / count, rel=1e-5)


class NullProgress:
    def __init__(self, on_update=None):
        self.on_update = on_update

    def add_task(self, *a, **k):
        return 0

    def update(self, *a, **k):
        if self.on_update and k.get("advance"):
            self.on_update()


def fit(model, data, cfg, validate, progress=None):
    records = []
    result = fit_seq2seq(model, data, cfg=cfg, validate=validate, on_epoch=records.append,
                         progress=progress or NullProgress(), device=torch.device("cpu"), pad_id=PAD_ID)
    return result, records


def test_fit_learns_keeps_the_best_epoch_and_follows_the_schedule():
    data, model = copy_task(), tiny_model()
    cfg = Seq2SeqTrainConfig(epochs=4, batch_tokens=60, lr=1e-2, warmup_steps=3, label_smoothing=0.0,
                             patience=0, monitor="val_loss", precision="fp32")
    scripted = iter([3.0, 1.0, 2.0, 2.5])  # the best validation loss is epoch 2's

    def validate(module):
        return {"loss": next(scripted), "bleu": 0.0}

    result, records = fit(model, data, cfg, validate)
    steps = len(token_batches(data.src_lengths, data.tgt_lengths, 60, np.random.default_rng(0)))
    assert [r["epoch"] for r in records] == [1, 2, 3, 4] and records == result.history
    assert [r["best"] for r in records] == [True, True, False, False] and result.best_epoch == 2
    assert records[-1]["step"] == 4 * steps
    assert records[-1]["lr"] == pytest.approx(1e-2 * _lr_factor(4 * steps - 1, cfg, 4 * steps, 0.0))
    assert records[-1]["train_loss"] < records[0]["train_loss"]  # it trains


def test_early_stopping_on_bleu_restores_the_best_weights():
    data, model = copy_task(), tiny_model()
    cfg = Seq2SeqTrainConfig(epochs=6, batch_tokens=60, lr=1e-2, warmup_steps=0, patience=2, precision="fp32")
    snapshots, bleus = [], iter([5.0, 9.0, 8.0, 7.0, 20.0, 20.0])

    def validate(module):
        assert module is model  # without --ema-decay the trained weights themselves are validated
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return {"loss": 1.0, "bleu": next(bleus)}

    result, records = fit(model, data, cfg, validate)
    assert result.stopped_early and len(records) == 4 and result.best_epoch == 2
    assert all(torch.equal(v, snapshots[1][k]) for k, v in model.state_dict().items())


def test_wall_time_budget_cuts_the_epoch_and_records_no_empty_epoch(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(seq2seq_loop, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    data = copy_task()
    cfg = Seq2SeqTrainConfig(epochs=5, batch_tokens=60, lr=1e-2, warmup_steps=0, patience=0, max_minutes=1.0,
                             precision="fp32")

    def tick():
        clock[0] += 25.0

    # the minute runs out in the middle of epoch 1: batches start at 0, 25, 50 s; the one at 75 s is not run
    result, records = fit(tiny_model(), data, cfg, lambda module: {"loss": 1.0, "bleu": 0.0}, NullProgress(tick))
    assert len(records) == 1 and records[0]["step"] == 3

    # the minute runs out exactly at the end of epoch 1 (during validation): epoch 2 has no batch to run and
    # must not be recorded as an epoch with train_loss 0
    clock[0] = 0.0

    def validate(module):
        clock[0] += 120.0
        return {"loss": 1.0, "bleu": 0.0}

    result, records = fit(tiny_model(), data, cfg, validate)
    assert len(records) == 1 and records[0]["train_loss"] > 0 and result.best_epoch == 1


@pytest.mark.parametrize("bleus, best_epoch", [([1.0, 9.0], 2), ([9.0, 1.0], 1)])
def test_ema_validates_keeps_and_saves_the_moving_average(bleus, best_epoch, weight_trajectory):
    """ema_decay: after every optimizer step e <- d*e + (1-d)*w (e = w at the first step); validation sees the
    average and the model ends holding the best epoch's average (float64 reference from the raw trajectory)."""
    decay, data, model = 0.7, copy_task(), tiny_model()
    cfg = Seq2SeqTrainConfig(epochs=2, batch_tokens=60, lr=1e-2, warmup_steps=0, patience=0, precision="fp32",
                             ema_decay=decay)
    validated, script = [], iter(bleus)
    weight_trajectory.record(model)

    def validate(module):
        assert module is not model
        validated.append({k: v.detach().double().clone() for k, v in module.state_dict().items()})
        return {"loss": 1.0, "bleu": next(script)}

    result, records = fit(model, data, cfg, validate)
    steps = len(weight_trajectory.steps) // 2
    assert steps > 1 and len(weight_trajectory.steps) == 2 * steps and result.best_epoch == best_epoch
    averages = weight_trajectory.averages(decay)
    for epoch in (1, 2):  # validation scored the average at the epoch's end, not the raw weights
        for k, v in validated[epoch - 1].items():
            np.testing.assert_allclose(v.numpy(), averages[epoch * steps - 1][k].numpy(), rtol=1e-5, atol=1e-6)
    weight_trajectory.assert_holds_average(model, decay, best_epoch * steps - 1)


def test_ema_decay_is_validated():
    with pytest.raises(InputError, match="ema_decay"):
        Seq2SeqTrainConfig(ema_decay=1.0).validate()
