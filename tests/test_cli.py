"""End to end through the command line: a tiny training run, its run directory, predict, and bad input."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from attnlab.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "sms_small.csv"
TINY = ["--d-model", "32", "--heads", "2", "--layers", "1", "--d-ff", "64", "--epochs", "3",
        "--vocab-size", "600", "--max-len", "48", "--lr", "3e-3"]


def train(tmp, name="run", *extra):
    out = Path(tmp) / name
    code = main(["train", str(FIXTURE), "--out", str(out), *TINY, *extra])
    return code, out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    code, out = train(tmp)
    assert code == 0
    return out


def read_predictions(run_dir):
    with open(run_dir / "predictions.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_run_directory_is_complete(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "history.jsonl", "predictions.csv",
            "report.json"} <= names
    assert not [p for p in run_dir.parent.iterdir() if p.name.endswith(".partial")]


def test_report_matches_sklearn_on_the_written_predictions(run_dir):
    report = json.loads((run_dir / "report.json").read_text())
    rows = read_predictions(run_dir)
    y, yhat = [r["label"] for r in rows], [r["prediction"] for r in rows]
    p_spam = np.array([float(r["p_spam"]) for r in rows])
    assert report["schema_version"] == 1 and report["task"] == "classification"
    assert report["n"] == len(rows) == report["run"]["data"]["n_test"]
    assert report["labels"] == ["ham", "spam"] and report["positive_label"] == "spam"
    m = report["metrics"]
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, yhat), abs=1e-12)
    p, r, f, s = skm.precision_recall_fscore_support(y, yhat, labels=["ham", "spam"], zero_division=0)
    for i, lab in enumerate(["ham", "spam"]):
        assert m["per_class"][lab]["recall"] == pytest.approx(r[i], abs=1e-12)
        assert m["per_class"][lab]["support"] == s[i]
    assert report["confusion_matrix"]["matrix"] == skm.confusion_matrix(y, yhat, labels=["ham", "spam"]).tolist()
    # probabilities are written rounded to 6 significant digits
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(np.array(y) == "spam", p_spam), abs=1e-3)


def test_history_has_one_line_per_epoch(run_dir):
    lines = [json.loads(x) for x in (run_dir / "history.jsonl").read_text().splitlines()]
    report = json.loads((run_dir / "report.json").read_text())
    assert [x["epoch"] for x in lines] == list(range(1, report["run"]["training"]["epochs_run"] + 1))
    assert all({"train_loss", "val_loss", "val_macro_f1", "val_accuracy"} <= set(x) for x in lines)
    best = max(lines, key=lambda x: x["val_macro_f1"])
    assert report["run"]["training"]["best_epoch"] == best["epoch"]


def test_split_covers_the_data_and_no_test_text_is_in_training(run_dir):
    report = json.loads((run_dir / "report.json").read_text())
    data = report["run"]["data"]
    assert data["n_train"] + data["n_val"] + data["n_test"] == data["n_rows"] == 400
    # the run's own leakage check over its three splits finds no exact train -> test duplicate
    exact = [f for f in report["findings"] if f["code"] == "leakage_exact"]
    assert exact == [], exact


def test_predict_reproduces_test_probabilities(run_dir, capsys):
    rows = read_predictions(run_dir)[:5]
    capsys.readouterr()
    assert main(["predict", str(run_dir), *[r["text"] for r in rows]]) == 0
    out = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [o["prediction"] for o in out] == [r["prediction"] for r in rows]
    np.testing.assert_allclose([float(o["p_spam"]) for o in out], [float(r["p_spam"]) for r in rows], atol=1e-4)


def test_predict_from_file_and_stdin(run_dir, tmp_path):
    texts = ["WINNER! Claim your free prize now, call 0800", "see you at lunch tomorrow?"]
    (tmp_path / "t.txt").write_text("\n".join(texts) + "\n")
    cmd = [sys.executable, "-m", "attnlab", "predict", str(run_dir)]
    by_file = subprocess.run(cmd + ["--file", str(tmp_path / "t.txt")], capture_output=True, text=True)
    by_stdin = subprocess.run(cmd, input="\n".join(texts), capture_output=True, text=True)
    assert by_file.returncode == by_stdin.returncode == 0, by_file.stderr
    assert by_file.stdout == by_stdin.stdout and len(by_file.stdout.splitlines()) == 3


def test_same_seed_same_run(run_dir, tmp_path):
    code, again = train(tmp_path, "again")
    assert code == 0
    assert (again / "predictions.csv").read_text() == (run_dir / "predictions.csv").read_text()


def test_summary_names_the_confusion_cells(tmp_path, capsys):
    code, _ = train(tmp_path, "s", "--epochs", "1")
    out = capsys.readouterr().out
    assert code == 0
    assert "Confusion matrix" in out and "TP=" in out and "FN=" in out and "spam" in out


def write(path, data: bytes):
    path.write_bytes(data)
    return path


BAD = {
    "missing file": (lambda d: d / "nope.csv", [], r"nope\.csv"),
    "unknown extension": (lambda d: write(d / "data.xlsx", b"text,label\na,b\n"), [], r"\.xlsx"),
    "missing column": (lambda d: write(d / "d.csv", b"text,y\nhi,a\nho,b\n"), [], r"label.*y"),
    "empty data": (lambda d: write(d / "e.csv", b"text,label\n"), [], r"e\.csv"),
    "single class": (lambda d: write(d / "one.csv", b"text,label\n" + b"".join(
        b"msg %d,ham\n" % i for i in range(20))), [], r"class"),
    "non-UTF-8": (lambda d: write(d / "l1.csv", b"text,label\ncaf\xe9 ok,a\nhello,b\n"), [], r"UTF-8"),
    "heads do not divide d_model": (lambda d: FIXTURE, ["--d-model", "30", "--heads", "4"], r"n_heads=4"),
    "unknown positive label": (lambda d: FIXTURE, ["--positive", "fraud"], r"'fraud' is not a label.*ham, spam"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2_and_nothing_written(case, tmp_path, capsys):
    make, flags, pattern = BAD[case]
    data = make(tmp_path)
    out = tmp_path / "out" / "run"
    code = main(["train", str(data), "--out", str(out), *TINY, *flags])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("attnlab: error: ") and "Traceback" not in err
    import re
    assert re.search(pattern, err), err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_predict_refuses_a_tampered_model(run_dir, tmp_path, capsys):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    blob = bytearray((copy / "model.safetensors").read_bytes())
    blob[-1] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(blob))
    assert main(["predict", str(copy), "hello"]) == 2
    assert "does not match the size/sha256" in capsys.readouterr().err


def test_predict_refuses_a_swapped_tokenizer(run_dir, tmp_path, capsys):
    """A tokenizer.json edited after training maps words to other ids: refused by its recorded sha256."""
    import json
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    assert "tokenizer.json" in json.loads((copy / "config.json").read_text(encoding="utf-8"))["files"]
    doc = json.loads((copy / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = doc["model"]["vocab"]
    a, b = sorted(vocab)[-2:]
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (copy / "tokenizer.json").write_text(json.dumps(doc), encoding="utf-8")
    assert main(["predict", str(copy), "hello"]) == 2
    assert "tokenizer.json does not match the size/sha256" in capsys.readouterr().err


def test_nothing_in_attnlab_unpickles():
    """Weights load through safetensors and configs through JSON: no pickle, no torch.load, no np.load."""
    import re
    src = Path(__file__).parents[1] / "src" / "attnlab"
    offenders = [f"{path.relative_to(src)}:{n}" for path in src.rglob("*.py")
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                 if re.search(r"\b(torch\.load|np\.load|numpy\.load|pickle\.loads?|import pickle|dill|joblib\.load)\b",
                              line.split("#")[0])]
    assert offenders == []


def test_predict_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["predict", str(tmp_path), "hello"]) == 2
    assert "not an attnlab run directory" in capsys.readouterr().err


def test_real_process_bad_input_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "attnlab", "train", str(tmp_path / "missing.csv")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    usage = subprocess.run([sys.executable, "-m", "attnlab", "frobnicate"], capture_output=True, text=True)
    assert usage.returncode == 2 and len(usage.stderr.strip().splitlines()) == 1
