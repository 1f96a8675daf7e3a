"""torchrun on CPU: a 2-process training run (gloo) evaluates to exactly the metrics that one process computes
on the same checkpoint and data; only rank 0 writes; evaluation counts every example exactly once."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from attnlab.recipes.evaluate import score_predictions
from attnlab.recipes.prune import encode_run_splits
from attnlab.recipes.run_data import load_run_splits
from attnlab.train.checkpoint import load_classifier
from attnlab.train.distributed import SINGLE, DistContext, gather_rows, shard_indices
from attnlab.train.loop import predict_logits

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sms_small.csv"
TINY = ["--d-model", "32", "--heads", "2", "--layers", "1", "--d-ff", "64", "--epochs", "2", "--vocab-size", "600",
        "--max-len", "48", "--lr", "3e-3", "--batch-size", "16"]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "attnlab", "train", str(FIXTURE), "--out", str(out), *TINY],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_two_processes_match_one_process_on_the_same_checkpoint(ddp_run):
    out, _ = ddp_run
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["run"]["processes"] == 2
    loaded = load_classifier(out)
    test = encode_run_splits(loaded, load_run_splits(out, loaded.config), parts=("test",))["test"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' thread count: the same kernels, the same bits
    try:
        logits = predict_logits(loaded.model, test)
    finally:
        torch.set_num_threads(threads)
    proba = torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()
    labels = loaded.labels
    y_true = [labels[i] for i in test.labels]
    single = score_predictions(y_true, [labels[i] for i in proba.argmax(1)], labels=labels, proba=proba,
                               positive_label=loaded.positive_label, seed=loaded.config.train.seed)
    assert single["metrics"] == report["metrics"]
    assert single["intervals"] == report["intervals"]
    assert single["confusion_matrix"] == report["confusion_matrix"]
    assert report["n"] == len(test) == report["run"]["data"]["n_test"]
    with open(out / "predictions.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(test)
    written = np.array([[float(r[f"p_{lab}"]) for lab in labels] for r in rows])
    np.testing.assert_allclose(written, proba, rtol=1e-5)  # written with 6 significant digits


def test_only_rank_zero_writes(ddp_run):
    out, proc = ddp_run
    history = [json.loads(line) for line in (out / "history.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [h["epoch"] for h in history] == [1, 2]  # one line per epoch, not one per rank
    assert proc.stdout.count("run directory:") == 1
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no partial folders left
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json", "report.json",
                                               "report.html", "predictions.csv", "history.jsonl"}


def test_shards_cover_every_batch_once():
    for world in (1, 2, 3, 5):
        seen = sorted(b for r in range(world) for b in shard_indices(11, DistContext(rank=r, world_size=world)))
        assert seen == list(range(11))


def test_gather_refuses_missing_or_repeated_rows():
    values = np.arange(8, dtype=np.float32).reshape(4, 2)
    np.testing.assert_array_equal(gather_rows(SINGLE, np.array([2, 0, 3, 1]), values, 4), values[[1, 3, 0, 2]])
    with pytest.raises(RuntimeError, match="counted once"):
        gather_rows(SINGLE, np.array([0, 0, 1, 2]), values, 4)
    with pytest.raises(RuntimeError, match="counted once"):
        gather_rows(SINGLE, np.array([0, 1, 2]), values[:3], 4)


def test_an_ensemble_trains_member_by_member_under_torchrun(tmp_path):
    """Two processes train each member data-parallel in turn; the written probabilities are the mean of the
    saved members' (recomputed here in one process), and history.jsonl has each member's epochs once."""
    out = tmp_path / "ens"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "attnlab", "train", str(FIXTURE), "--out", str(out), *TINY, "--ensemble", "2"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["run"]["processes"] == 2 and report["run"]["training"]["ensemble"]["members"] == 2
    history = [json.loads(line) for line in (out / "history.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(h["member"], h["epoch"]) for h in history] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]
    assert not [p.name for p in out.iterdir() if p.name.startswith(("member-", "checkpoint"))]
    loaded = load_classifier(out)
    test = encode_run_splits(loaded, load_run_splits(out, loaded.config), parts=("test",))["test"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        proba = np.mean([torch.softmax(torch.from_numpy(predict_logits(m, test)).double(), dim=1).numpy()
                         for m in loaded.model.members], axis=0)
    finally:
        torch.set_num_threads(threads)
    with open(out / "predictions.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    written = np.array([[float(r[f"p_{lab}"]) for lab in loaded.labels] for r in rows])
    np.testing.assert_allclose(written, proba, rtol=1e-5, atol=1e-7)
    assert report["metrics"]["accuracy"] == float(np.mean(proba.argmax(1) == test.labels))
