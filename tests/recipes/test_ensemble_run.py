"""`attnlab train --ensemble N` end to end on a tiny run: member 0 is exactly the single model, the run's
probabilities are the mean of its members' (checked member by member against the saved weights and scikit-learn),
the report lists each member, the history keeps every member and its readers take the first, and what works on one
model only (head maps, pruning) or on classification only refuses an ensemble in one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from attnlab.cli import main
from attnlab.diagnostics import read_history
from attnlab.models.ensemble import EnsembleClassifier
from attnlab.recipes.predict import predict_proba
from attnlab.recipes.prune import encode_run_splits
from attnlab.recipes.run_data import load_run_splits
from attnlab.train.checkpoint import load_classifier
from attnlab.train.loop import predict_logits

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sms_small.csv"
# dropout 0: the single model and member 0 draw nothing from torch's RNG while training, so they must agree bit
# for bit (same initial weights, same batch order)
TINY = ["--d-model", "16", "--heads", "2", "--layers", "1", "--d-ff", "32", "--epochs", "3", "--vocab-size", "400",
        "--max-len", "32", "--lr", "1e-2", "--batch-size", "16", "--dropout", "0", "--patience", "0", "--seed", "4"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ensemble")
    single, ens = tmp / "single", tmp / "ens"
    assert main(["train", str(FIXTURE), "--out", str(single), *TINY]) == 0
    assert main(["train", str(FIXTURE), "--out", str(ens), *TINY, "--ensemble", "3"]) == 0
    return single, ens


def test_member_zero_is_the_single_model_and_members_differ(runs):
    single, ens = runs
    one, many = load_classifier(single), load_classifier(ens)
    assert isinstance(many.model, EnsembleClassifier) and len(many.model.members) == 3
    assert many.config.model.ensemble == 3
    a, b = one.model.state_dict(), many.model.members[0].state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(many.model.members[1].tok_emb.weight, many.model.members[2].tok_emb.weight)
    assert not [p.name for p in ens.iterdir() if p.name.startswith(("member-", "checkpoint"))]  # folded in


def test_probabilities_are_the_mean_of_the_members(runs):
    _, ens = runs
    loaded = load_classifier(ens)
    test = encode_run_splits(loaded, load_run_splits(ens, loaded.config), parts=("test",))["test"]
    member_logits = [predict_logits(m, test) for m in loaded.model.members]
    member_proba = [torch.softmax(torch.from_numpy(z).double(), 1).numpy() for z in member_logits]
    mean = np.mean(member_proba, axis=0)
    labels = loaded.labels
    with open(ens / "predictions.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    written = np.array([[float(r[f"p_{lab}"]) for lab in labels] for r in rows])
    np.testing.assert_allclose(written, mean, rtol=1e-5, atol=1e-7)  # written with 6 significant digits
    # the saved ensemble predicts the same (its logits are the log of the mean, in float32)
    np.testing.assert_allclose(predict_proba(loaded, [r["text"] for r in rows]), mean, atol=2e-6)

    report = json.loads((ens / "report.json").read_text(encoding="utf-8"))
    y = test.labels
    assert report["metrics"]["accuracy"] == pytest.approx(skm.accuracy_score(y, mean.argmax(1)), abs=1e-12)
    record = report["run"]["training"]["ensemble"]
    assert record["members"] == 3 and record["seeds"] == [4, 5, 6] and record["monitor"] == "macro_f1"
    for m, z in enumerate(member_logits):
        assert record["test_accuracy"][m] == pytest.approx(skm.accuracy_score(y, z.argmax(1)), abs=1e-12)
        assert record["test_macro_f1"][m] == pytest.approx(
            skm.f1_score(y, z.argmax(1), average="macro", labels=[0, 1], zero_division=0), abs=1e-12)
    assert len(record["best_epochs"]) == 3 and all(1 <= e <= 3 for e in record["best_epochs"])


def test_history_keeps_every_member_and_readers_take_the_first(runs):
    single, ens = runs
    rows = [json.loads(line) for line in (ens / "history.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["member"], r["epoch"]) for r in rows] == [(m, e) for m in range(3) for e in (1, 2, 3)]
    first = read_history(ens / "history.jsonl")
    assert [r["epoch"] for r in first] == [1, 2, 3] and all(r["member"] == 0 for r in first)
    keep = {"epoch", "train_loss", "val_loss"}
    ref = read_history(single / "history.jsonl")
    assert [{k: r[k] for k in keep} for r in first] == [{k: r[k] for k in keep} for r in ref]
    report = json.loads((ens / "report.json").read_text(encoding="utf-8"))
    assert report["run"]["training"]["best_epoch"] == report["run"]["training"]["ensemble"]["best_epochs"][0]
    assert main(["report", str(ens)]) == 0 and (ens / "report.html").is_file()
    acc = report["run"]["training"]["ensemble"]["test_accuracy"]
    assert f"Ensemble of 3 models (each alone: test accuracy {min(acc):.3f}–{max(acc):.3f}" in \
        (ens / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("argv", [["inspect", "{run}", "--text", "free prize"], ["prune", "{run}", "--fraction", "0.5"]],
                         ids=["inspect", "prune"])
def test_one_model_commands_refuse_an_ensemble(runs, argv, capsys, tmp_path):
    _, ens = runs
    before = sorted(p.name for p in ens.iterdir())
    code = main([a.replace("{run}", str(ens)) for a in argv] + ["--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "ensemble of 3 models" in err and "--ensemble 1" in err
    assert sorted(p.name for p in ens.iterdir()) == before and not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, message", [
    (["train", str(FIXTURE), "--ensemble", "0"], "ensemble must be"),
    (["train", str(FIXTURE), "--ensemble", "40"], "ensemble must be"),
    (["run", "--task", "translate", "--ensemble", "2"], "--ensemble applies to classification only"),
    (["sweep", str(FIXTURE), "--heads", "1,2", "--ensemble", "2"], "drop --ensemble"),
])
def test_bad_ensemble_flags(argv, message, capsys, tmp_path):
    code = main([*argv, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err and not (tmp_path / "run").exists()


def test_terminal_summary_names_the_ensemble_and_its_members_spread(runs):
    from rich.console import Console

    from attnlab.report.terminal import print_classification_summary

    _, ens = runs
    report = json.loads((ens / "report.json").read_text(encoding="utf-8"))
    console = Console(record=True, width=200)
    print_classification_summary(report, console)
    text = console.export_text()
    acc = report["run"]["training"]["ensemble"]["test_accuracy"]
    assert "an ensemble of 3 models (seeds 4–6" in text
    assert f"test accuracy {min(acc):.3f}–{max(acc):.3f} (mean {sum(acc) / 3:.3f})" in text
