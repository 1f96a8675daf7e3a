"""`attnlab sweep` end to end on the 400-row fixture with a tiny model (one child process per run): the sweep
directory, the numbers against the runs' own files, FLOPs against a hand count, parameters against the saved
models, the paired tests against direct calls, the table against the JSON, and bad input."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from attnlab.cli import main
from attnlab.metrics.compare import paired_bootstrap_test

FIXTURE = Path(__file__).parent.parent / "fixtures" / "sms_small.csv"
D, FF, LAYERS = 32, 64, 1
TINY = ["--d-model", str(D), "--layers", str(LAYERS), "--d-ff", str(FF), "--epochs", "1", "--vocab-size", "600",
        "--max-len", "48", "--lr", "3e-3", "--bootstrap", "200", "--repeats", "1"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "sw"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["sweep", str(FIXTURE), "--heads", "4,1,2", "--seeds", "0,1", "--out", str(out), *TINY])
    assert code == 0
    return out, json.loads((out / "sweep.json").read_text(encoding="utf-8")), buf.getvalue()


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_sweep_directory_is_complete(sweep):
    out, doc, _ = sweep
    names = {p.name for p in out.iterdir()}
    members = {f"heads-{h}-seed-{s}" for h in (1, 2, 4) for s in (0, 1)}
    assert names == {"sweep.json", "sweep.csv", "sweep-runs.csv", "sweep.svg", "sweep.png", "sweep.html"} | members
    for m in members:  # each member is a complete run directory
        assert {"config.json", "model.safetensors", "tokenizer.json", "history.jsonl", "predictions.csv",
                "report.json", "report.html"} <= {p.name for p in (out / m).iterdir()}
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".partial")]
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "sweep.svg").read_text().startswith("<svg")
    assert doc["heads"] == [1, 2, 4] and doc["seeds"] == [0, 1]  # head counts in ascending order
    assert [(r["heads"], r["seed"]) for r in doc["runs"]] == [(h, s) for h in (1, 2, 4) for s in (0, 1)]


def test_members_differ_only_in_heads_and_seed(sweep):
    out, doc, _ = sweep
    configs = {(r["heads"], r["seed"]): json.loads((out / r["run_dir"] / "config.json").read_text())["config"]
               for r in doc["runs"]}
    base = configs[(1, 0)]
    for (h, s), cfg in configs.items():
        assert cfg["model"]["n_heads"] == h and cfg["train"]["seed"] == s
        assert {**cfg, "model": {**cfg["model"], "n_heads": 1}, "train": {**cfg["train"], "seed": 0}} == base
    assert base["model"]["d_model"] == D and base["train"]["epochs"] == 1
    # the same seed means the same split for every head count
    for s in (0, 1):
        assert len({r["split_fingerprint"] for r in doc["runs"] if r["seed"] == s}) == 1


def test_run_numbers_are_the_runs_own(sweep):
    out, doc, _ = sweep
    for r in doc["runs"]:
        report = json.loads((out / r["run_dir"] / "report.json").read_text())
        rows = read_csv(out / r["run_dir"] / "predictions.csv")
        y, yhat = [x["label"] for x in rows], [x["prediction"] for x in rows]
        q = r["quality"]
        assert q["macro_f1"]["value"] == pytest.approx(skm.f1_score(y, yhat, average="macro"), abs=1e-12)
        assert q["accuracy"]["value"] == pytest.approx(skm.accuracy_score(y, yhat), abs=1e-12)
        assert q["positive_f1"]["value"] == pytest.approx(skm.f1_score(y, yhat, pos_label="spam"), abs=1e-12)
        assert [q["macro_f1"]["low"], q["macro_f1"]["high"]] == report["intervals"]["macro.f1"]
        assert r["costs"]["train_seconds"] == report["run"]["training"]["seconds"]
        assert r["d_head"] == D // r["heads"]


def test_parameters_and_flops_against_the_saved_models(sweep):
    from attnlab.recipes.run_data import load_run_splits
    from attnlab.recipes.train_classifier import encode_split
    from attnlab.train.checkpoint import load_classifier

    out, doc, _ = sweep
    for r in doc["runs"]:
        loaded = load_classifier(out / r["run_dir"])
        assert r["costs"]["params"] == sum(p.numel() for p in loaded.model.parameters())
        cut = load_run_splits(out / r["run_dir"], loaded.config)
        test, _ = encode_split(loaded.tokenizer, cut.texts["test"], cut.label_indices("test", loaded.labels), 48)
        t = test.lengths.astype(np.int64)
        classes = len(loaded.labels)
        # per sequence: Q,K,V,O projections 8·T·d², feed-forward 4·T·d·d_ff, QKᵀ and AV 4·T²·d; the head 2·d·C
        hand = int((LAYERS * (8 * t * D * D + 4 * t * D * FF + 4 * t * t * D) + 2 * D * classes).sum())
        flops = r["measurements"]["flops"]
        assert flops["total"] == hand and flops["tokens"] == int(t.sum())
        assert r["costs"]["flops_per_token"] == pytest.approx(hand / t.sum())
        assert r["costs"]["attention_elements_per_token"] == pytest.approx(LAYERS * r["heads"] * (t**2).sum() / t.sum())
        assert r["measurements"]["latency"]["calls"] == len(t) and r["costs"]["peak_memory_mib"] > 0
        assert len(r["measurements"]["load_average_1min"]) == 2  # how busy the machine was: the timings' context


def test_comparisons_are_paired_bootstrap_tests_on_the_runs_predictions(sweep):
    out, doc, _ = sweep
    preds = {(r["heads"], r["seed"]): read_csv(out / r["run_dir"] / "predictions.csv") for r in doc["runs"]}
    assert [(c["baseline"], c["system"]) for c in doc["comparisons"]] == [(1, 2), (1, 4), (2, 4)]
    for c in doc["comparisons"]:
        y = [x["label"] for s in (0, 1) for x in preds[(c["baseline"], s)]]
        a = [x["prediction"] for s in (0, 1) for x in preds[(c["baseline"], s)]]
        b = [x["prediction"] for s in (0, 1) for x in preds[(c["system"], s)]]
        direct = paired_bootstrap_test(y, a, b, labels=["ham", "spam"], metrics=["macro.f1", "per_class.spam.f1"],
                                       positive_label="spam", n_resamples=200, seed=0)
        for key, path in (("macro_f1", "macro.f1"), ("positive_f1", "per_class.spam.f1")):
            t = c["tests"][key]
            assert (t["difference"], t["low"], t["high"], t["p_value"]) == tuple(
                direct[path][k] for k in ("difference", "low", "high", "p_value"))
        assert set(c["per_seed"]) == {"0", "1"}
        rows = {row["heads"]: row for row in doc["table"]}
        assert c["cost_ratios"]["latency_ms"] == pytest.approx(
            rows[c["system"]]["costs"]["latency_ms"]["mean"] / rows[c["baseline"]]["costs"]["latency_ms"]["mean"])
    helped = [c["system"] for c in doc["comparisons"] if c["baseline"] == 1
              and c["tests"]["macro_f1"]["significant"] and c["tests"]["macro_f1"]["difference"] > 0]
    assert doc["summary"]["helped"] == helped


def test_table_csv_matches_the_json(sweep):
    out, doc, _ = sweep
    rows = read_csv(out / "sweep.csv")
    assert [int(r["heads"]) for r in rows] == [1, 2, 4]
    for row, t in zip(rows, doc["table"]):
        assert int(row["n_seeds"]) == 2
        for key, stats in t["quality"].items():
            assert float(row[key]) == stats["mean"] and float(row[f"{key}_sd"]) == stats["sd"]
            runs = [r["quality"][key]["value"] for r in doc["runs"] if r["heads"] == t["heads"]]
            assert stats["mean"] == pytest.approx(np.mean(runs)) and stats["sd"] == pytest.approx(np.std(runs, ddof=1))
        for key, stats in t["costs"].items():
            assert float(row[key]) == stats["mean"]
    runs = read_csv(out / "sweep-runs.csv")
    assert [(int(r["heads"]), int(r["seed"])) for r in runs] == [(r["heads"], r["seed"]) for r in doc["runs"]]
    for row, r in zip(runs, doc["runs"]):
        assert float(row["macro_f1_low"]) == r["quality"]["macro_f1"]["low"]
        assert float(row["latency_ms"]) == r["costs"]["latency_ms"]


def test_terminal_and_html_show_the_summary_and_the_table(sweep):
    out, doc, stdout = sweep
    assert stdout.startswith(doc["summary"]["verdict"][:60])
    for r in doc["table"]:
        assert re.search(rf"│\s+{r['heads']} │\s+{r['d_head']} │", stdout)
    assert doc["summary"]["rule"][:40] in stdout and f"sweep directory: {out}" in stdout
    html = (out / "sweep.html").read_text(encoding="utf-8")
    assert html.index(doc["summary"]["verdict"][:40]) < html.index('id="table"') < html.index("<svg")
    assert "<script" not in html and not re.search(r'(src|href)="(https?:)?//', html)
    for r in doc["table"]:
        assert f'data-heads="{r["heads"]}"' in html


def error_of(capsys, argv):
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("extra, fragment", [
    (["--heads", "3,4"], "valid head counts for d_model=32: 1, 2, 4, 8, 16, 32"),
    (["--heads", ""], "--heads is empty"),
    (["--heads", "2,4,2"], "more than once"),
    (["--heads", "0,2"], "must be >= 1"),
    (["--heads", "1,2", "--seeds", "0,x"], "--seeds takes comma-separated integers"),
    (["--heads", "1,2", "--task", "translate"], "--task translate is not supported"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, extra, fragment):
    out = tmp_path / "sw"
    code, err = error_of(capsys, ["sweep", str(FIXTURE), "--out", str(out), *TINY, *extra])
    assert code == 2 and err.startswith("attnlab: error:") and err.count("\n") == 1 and fragment in err, err
    assert list(tmp_path.iterdir()) == []


def test_unknown_data_and_unwritable_out(tmp_path, capsys):
    code, err = error_of(capsys, ["sweep", "no-such-dataset", "--heads", "1,2", "--out", str(tmp_path / "a"), *TINY])
    assert code == 2 and err.startswith("attnlab: error:") and err.count("\n") == 1
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    code, err = error_of(capsys, ["sweep", str(FIXTURE), "--heads", "1,2", "--out", str(blocker / "sw"), *TINY])
    assert code == 2 and "pass --out with a writable location" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_a_failing_run_leaves_no_sweep_directory(tmp_path, capsys):
    # the error is raised inside the first child process, after the sweep's hidden folder was created
    code, err = error_of(capsys, ["sweep", str(FIXTURE), "--heads", "1,2", "--positive", "nope",
                                  "--out", str(tmp_path / "sw"), *TINY])
    lines = err.splitlines()
    assert code == 2 and lines[-1].startswith("attnlab: error: --positive 'nope' is not a label"), err
    assert lines[:-1] == ["sweep [1/2]: 1 head(s), seed 0 -> heads-1-seed-0/"]  # progress, then the error; no traceback
    assert list(tmp_path.iterdir()) == []


def test_a_child_process_that_dies_is_a_clear_error():
    import os

    from attnlab.recipes.sweep import _in_child

    with pytest.raises(RuntimeError, match="the process training heads-2-seed-0 ended abruptly"):
        _in_child(os._exit, 3, name="heads-2-seed-0")  # as when the kernel kills a run for memory


def test_a_sweep_trains_single_models_even_from_an_ensemble_preset():
    """The sweep's seeds are its repeats: each member is one model whatever the base config's ``ensemble``."""
    from attnlab.config import preset
    from attnlab.recipes.sweep import plan_sweep

    base = preset("tiny").replace(model={"ensemble": 4})
    plan = plan_sweep(base, [1, 2], [0, 1])
    assert [(h, s) for h, s, _ in plan] == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert all(cfg.model.ensemble == 1 and cfg.model.n_heads == h and cfg.train.seed == s for h, s, cfg in plan)
    assert all(cfg.model.d_model == base.model.d_model for _, _, cfg in plan)
