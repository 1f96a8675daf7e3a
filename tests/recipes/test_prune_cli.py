"""`attnlab prune` end to end on a tiny run: the new run directory, references for its numbers, bad input."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from attnlab.cli import main
from attnlab.recipes.prune import _median_ci, encode_run_splits, head_report
from attnlab.recipes.run_data import load_run_splits
from attnlab.train.checkpoint import load_classifier
from attnlab.train.loop import predict_logits

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sms_small.csv"
TINY = ["--d-model", "16", "--heads", "4", "--layers", "2", "--d-ff", "32", "--epochs", "4", "--vocab-size", "400",
        "--max-len", "32", "--lr", "1e-2", "--batch-size", "16"]


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prune")
    source = tmp / "run"
    assert main(["train", str(FIXTURE), "--out", str(source), *TINY]) == 0
    before = digest(source)
    pruned = tmp / "pruned"
    assert main(["prune", str(source), "--fraction", "0.5", "--out", str(pruned)]) == 0
    assert digest(source) == before  # the source run is never modified
    return source, pruned


def test_new_run_directory_is_complete(runs):
    source, pruned = runs
    assert {"config.json", "model.safetensors", "tokenizer.json", "history.jsonl", "predictions.csv", "report.json",
            "report.html"} <= {p.name for p in pruned.iterdir()}
    assert not [p for p in pruned.parent.iterdir() if p.name.endswith(".partial")]
    assert (pruned / "tokenizer.json").read_bytes() == (source / "tokenizer.json").read_bytes()
    report = json.loads((pruned / "report.json").read_text())
    meta = json.loads((pruned / "config.json").read_text())
    pr = report["pruning"]
    assert pr["n_heads"] == 8 and pr["n_removed"] == 4 and len(pr["heads_removed"]) == 4
    recorded = sorted([int(l), h] for l, hs in meta["pruned_heads"].items() for h in hs)
    assert recorded == sorted(pr["heads_removed"])
    from jsonschema import validate

    from attnlab.report.schema import load_schema

    validate(report, load_schema())


def test_pruned_run_is_the_source_model_with_those_heads_masked(runs):
    source, pruned = runs
    src, new = load_classifier(source), load_classifier(pruned)
    report = json.loads((pruned / "report.json").read_text())
    mask = torch.ones(2, 4)
    for l, h in report["pruning"]["heads_removed"]:
        mask[l, h] = 0.0
    splits = load_run_splits(source, src.config)
    test = encode_run_splits(src, splits, parts=("test",))["test"]
    ids, real = torch.from_numpy(test.input_ids), torch.from_numpy(test.attention_mask.astype(bool))
    with torch.no_grad():
        want = src.model(ids, real, head_mask=mask).logits
    torch.testing.assert_close(torch.from_numpy(predict_logits(new.model, test)), want, atol=1e-5, rtol=1e-5)
    params = report["pruning"]["params"]
    assert params["after"] == sum(p.numel() for p in new.model.parameters())
    assert params["before"] - params["after"] == 4 * (4 * 4 * 16 + 3 * 4)  # 4 heads x (q,k,v rows + out cols + bias)


def test_report_numbers_match_references(runs):
    source, pruned = runs
    report = json.loads((pruned / "report.json").read_text())
    src_report = json.loads((source / "report.json").read_text())
    with open(pruned / "predictions.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    y, yhat = [r["label"] for r in rows], [r["prediction"] for r in rows]
    assert report["metrics"]["accuracy"] == pytest.approx(skm.accuracy_score(y, yhat), abs=1e-12)
    paired = report["pruning"]["test"]["paired"]
    # baseline = the unpruned run's own test scores on the same rows; system = this report's
    assert paired["accuracy"]["baseline"] == pytest.approx(src_report["metrics"]["accuracy"], abs=1e-12)
    assert paired["macro_f1"]["baseline"] == pytest.approx(src_report["metrics"]["macro"]["f1"], abs=1e-12)
    assert paired["accuracy"]["system"] == pytest.approx(report["metrics"]["accuracy"], abs=1e-12)
    spam = skm.f1_score(y, yhat, pos_label="spam", average="binary", zero_division=0)
    assert paired["positive_f1"]["system"] == pytest.approx(spam, abs=1e-12)
    # the pruning curve's point at 50% (masking) gives what the really pruned model scored
    point = next(p for p in report["pruning"]["curve"]["points"] if p["fraction_removed"] == 0.5)
    assert sorted(point["removed"]) == sorted(report["pruning"]["heads_removed"])
    assert point["test"]["accuracy"] == pytest.approx(report["metrics"]["accuracy"], abs=1e-12)
    speed = report["pruning"]["speed"]
    assert speed["repeats"] == len(speed["seconds"]["pruned"]["all"]) == 11
    assert isinstance(speed["speedup"]["measurable"], bool)


def test_predict_report_and_check_work_on_the_pruned_run(runs, capsys):
    _, pruned = runs
    capsys.readouterr()
    assert main(["predict", str(pruned), "WIN a free prize, call now", "see you at lunch"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "prediction,p_ham,p_spam,text"
    (pruned / "report.html").unlink()
    assert main(["report", str(pruned)]) == 0 and (pruned / "report.html").is_file()
    assert main(["check", str(pruned)]) in (0, 1)


def test_head_report_is_json_and_plots_render(runs):
    source, _ = runs
    loaded = load_classifier(source)
    doc = head_report(loaded, load_run_splits(source, loaded.config), ablation=True, n_resamples=100)
    doc = json.loads(json.dumps(doc, allow_nan=False))
    assert len(doc["importance"]["scores"]) == 2 and len(doc["ablation"]) == 8
    from attnlab.report.heads_plots import importance_heatmap_svg, pruning_curve_svg

    assert importance_heatmap_svg(doc["importance"]).startswith("<svg")
    assert pruning_curve_svg(doc["curve"], metric="positive_f1", positive_label="spam").startswith("<svg")


def test_median_interval_is_the_binomial_order_statistic_interval():
    x = np.arange(1.0, 10.0)  # n = 9: P(Bin(9, 1/2) <= 1) = 10/512 <= 0.025 < P(<= 2) -> [x(2), x(8)]
    assert _median_ci(x) == (2.0, 8.0)
    assert _median_ci(np.arange(5.0)) == (None, None)  # 2/32 > 0.05: no 95% interval from 5 values
    n = 20
    k = max(j for j in range(n + 1) if sum(math.comb(n, i) for i in range(j)) / 2**n <= 0.025)
    assert _median_ci(np.arange(n, dtype=float)) == (float(k - 1), float(n - k))


def test_bad_input_is_one_line_and_nothing_is_written(runs, tmp_path, capsys):
    source, pruned = runs
    translate = tmp_path / "mt"
    translate.mkdir()
    (translate / "config.json").write_text(json.dumps({"task": "translate", "files": {}}))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cases = [(["prune", str(tmp_path / "missing")], "not a directory"),
             (["prune", str(tmp_path)], "not an attnlab run directory"),
             (["prune", str(source), "--fraction", "0"], "--fraction"),
             (["prune", str(source), "--fraction", "1.5"], "--fraction"),
             (["prune", str(translate)], "translation run"),
             (["prune", str(source), "--out", str(pruned)], "already exists"),
             (["prune", str(source), "--out", str(blocker / "sub")], "cannot create"),
             (["prune", str(source), "--fraction", "0.01", "--out", str(tmp_path / "x")], "removes 0")]
    for argv, message in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("attnlab: error:") and message in err and err.count("\n") == 1, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "mt"]
