"""The classifier's fast-path switches: precision (autocast) and torch.compile, through config, CLI and the loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnlab.cli import build_parser, config_from_args
from attnlab.config import RunConfig, TrainConfig
from attnlab.errors import InputError
from attnlab.models.classifier import EncoderClassifier
from attnlab.train import fast
from attnlab.train.loop import TensorData, fit, predict_logits

CPU = torch.device("cpu")


class NullProgress:
    def add_task(self, *a, **k):
        return 0

    def update(self, *a, **k):
        pass


def make_data(n=48, seed=0, width=10):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, width + 1, n)
    labels = rng.integers(0, 2, n)
    ids = np.zeros((n, width), dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.uint8)
    for i, (length, y) in enumerate(zip(lengths, labels)):
        ids[i, :length] = rng.integers(1, 20, length) + 20 * y
        mask[i, :length] = 1
    return TensorData(ids, mask, lengths.astype(np.int64), labels.astype(np.int64))


def make_model():
    torch.manual_seed(0)
    return EncoderClassifier(vocab_size=41, n_classes=2, d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=10,
                             dropout=0.1)


def run_fit(**train):
    model, data = make_model(), make_data()
    cfg = TrainConfig(epochs=2, batch_size=16, lr=1e-2, patience=0, **train)
    result = fit(model, data, data, train_cfg=cfg, evaluate=lambda logits: {"macro_f1": 0.0},
                 on_epoch=lambda record: None, progress=NullProgress(), device=CPU)
    return model, result


def test_autocast_dtype_auto_is_fp32_on_cpu_even_with_native_bf16():
    assert fast.classifier_autocast_dtype("auto", CPU) is None
    assert fast.classifier_autocast_dtype("fp32", CPU) is None
    assert fast.classifier_autocast_dtype("bf16", CPU) is torch.bfloat16
    with pytest.raises(InputError, match="precision"):
        fast.classifier_autocast_dtype("fp16", CPU)


def test_auto_precision_on_cpu_trains_exactly_as_fp32():
    model_auto, auto = run_fit(precision="auto")
    model_fp32, fp32 = run_fit(precision="fp32")
    assert [r["train_loss"] for r in auto.history] == [r["train_loss"] for r in fp32.history]
    for a, b in zip(model_auto.state_dict().values(), model_fp32.state_dict().values()):
        assert torch.equal(a, b)


def test_bf16_precision_runs_on_cpu_and_stays_close():
    model, result = run_fit(precision="bf16")
    assert all(np.isfinite(r["train_loss"]) and np.isfinite(r["val_loss"]) for r in result.history)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    data = make_data(seed=1)
    low = predict_logits(model, data, precision="bf16")
    full = predict_logits(model, data, precision="fp32")
    assert low.dtype == np.float32
    np.testing.assert_allclose(low, full, atol=0.1)
    assert not np.array_equal(low, full)  # bf16 really ran


def test_compile_flag_compiles_the_model_in_place_for_training_and_inference(monkeypatch):
    calls, real_compile = [], fast.compile_model

    def eager_compile(model, device):  # the real inductor compile takes minutes on this CPU
        calls.append(device)
        return real_compile(model, device, backend="eager")

    monkeypatch.setattr(fast, "compile_model", eager_compile)
    model, compiled = run_fit(compile=True)
    _, plain = run_fit()
    assert calls == [CPU]
    assert "_orig_mod" not in "".join(model.state_dict())  # in place: plain parameter names
    np.testing.assert_allclose([r["train_loss"] for r in compiled.history],
                               [r["train_loss"] for r in plain.history], rtol=1e-5)


def test_compile_is_refused_clearly_without_a_cpu_compiler(monkeypatch):
    monkeypatch.setattr(fast, "_cpp_compiler", lambda: None)
    with pytest.raises(InputError, match="C\\+\\+ compiler"):
        fast.compile_model(make_model(), CPU)
    with pytest.raises(InputError, match="C\\+\\+ compiler"):
        run_fit(compile=True)


def test_compile_is_refused_where_dynamo_is_unsupported(monkeypatch):
    import torch._dynamo

    monkeypatch.setattr(torch._dynamo, "is_dynamo_supported", lambda: False)
    with pytest.raises(InputError, match="torch.compile"):
        fast.compile_model(make_model(), CPU)


def test_precision_and_compile_come_from_config_and_cli():
    cfg = RunConfig.from_dict({"train": {"precision": "bf16", "compile": True}})
    assert cfg.train.precision == "bf16" and cfg.train.compile is True
    assert RunConfig().train.precision == "auto" and RunConfig().train.compile is False
    with pytest.raises(InputError, match="precision"):
        RunConfig.from_dict({"train": {"precision": "fp16"}})
    args = build_parser().parse_args(["train", "data.csv", "--precision", "fp32", "--compile"])
    cfg = config_from_args(args)
    assert cfg.train.precision == "fp32" and cfg.train.compile is True
    cfg = config_from_args(build_parser().parse_args(["train", "data.csv"]))
    assert cfg.train.precision == "auto" and cfg.train.compile is False
