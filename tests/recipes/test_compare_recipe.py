"""compare_prediction_files: alignment by id across formats, JSON result, one-line errors naming file and row."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from attnlab.errors import InputError
from attnlab.metrics.compare import mcnemar_test, paired_bootstrap_test
from attnlab.recipes.compare import compare_prediction_files


def write_csv(path, rows, header=("id", "label", "prediction")):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def three_systems(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    gold = rng.choice(["ham", "spam", "promo"], n)
    preds = [np.where(rng.random(n) < skill, gold, rng.choice(["ham", "spam", "promo"], n)) for skill in (0.5, 0.9, 0.5)]
    ids = [f"m{i:03d}" for i in range(n)]
    paths = []
    for k, pred in enumerate(preds):
        rows = list(zip(ids, gold, pred))
        if k == 1:
            rows = rows[::-1]  # row order does not matter: rows are aligned by id
        paths.append(write_csv(tmp_path / f"sys{k}.csv", rows))
    return paths, gold, preds


def test_compares_every_system_to_the_first(three_systems):
    paths, gold, preds = three_systems
    result = compare_prediction_files(paths, n_resamples=200)
    json.dumps(result, allow_nan=False)
    assert result["baseline"] == str(paths[0]) and result["n"] == 120
    assert result["labels"] == ["ham", "promo", "spam"]
    assert result["settings"]["metrics"] == ["macro.f1", "accuracy"] and result["settings"]["seed"] == 0
    assert [s["path"] for s in result["systems"]] == [str(p) for p in paths]
    for system, pred in zip(result["systems"], preds):
        assert system["scores"]["accuracy"] == pytest.approx(np.mean(pred == gold))
    assert [(c["baseline"], c["system"]) for c in result["comparisons"]] == [(str(paths[0]), str(p)) for p in paths[1:]]
    better = result["comparisons"][0]
    expected = paired_bootstrap_test(list(gold), list(preds[0]), list(preds[1]), labels=result["labels"],
                                     n_resamples=200)
    assert better["paired_bootstrap"] == expected
    assert better["paired_bootstrap"]["accuracy"]["p_value"] < 0.05
    assert better["mcnemar"] == mcnemar_test(list(gold), list(preds[0]), list(preds[1]), labels=result["labels"])
    assert compare_prediction_files(paths, n_resamples=200) == result  # seeded


def test_aligns_jsonl_and_csv_with_normalised_ids_and_labels(tmp_path):
    a = write_csv(tmp_path / "a.csv", [("1", "0", "0"), ("2", "1", "0"), ("3", "1", "1"), ("4", "0", "1")])
    b = tmp_path / "b.jsonl"
    records = [{"id": 3, "label": 1, "prediction": 1.0}, {"id": 1, "label": 0, "prediction": 0},
               {"id": 4, "label": 0, "prediction": 0}, {"id": 2, "label": 1, "prediction": 1}]
    b.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = compare_prediction_files([a, b], metrics=["accuracy", "per_class.1.recall"], n_resamples=50, seed=3)
    assert result["labels"] == ["0", "1"]
    assert result["systems"][0]["scores"] == {"accuracy": 0.5, "per_class.1.recall": 0.5}
    assert result["systems"][1]["scores"] == {"accuracy": 1.0, "per_class.1.recall": 1.0}
    assert result["comparisons"][0]["mcnemar"]["c"] == 2


def test_custom_columns(tmp_path):
    header = ("uid", "gold", "yhat")
    a = write_csv(tmp_path / "a.csv", [("x", "a", "a"), ("y", "b", "a")], header)
    b = write_csv(tmp_path / "b.csv", [("y", "b", "b"), ("x", "a", "a")], header)
    result = compare_prediction_files([a, b], id_column="uid", label_column="gold", pred_column="yhat",
                                      metrics=["accuracy"], n_resamples=20)
    assert result["comparisons"][0]["paired_bootstrap"]["accuracy"]["difference"] == 0.5


def one_line_error(paths, match, **kwargs):
    with pytest.raises(InputError, match=match) as info:
        compare_prediction_files(paths, n_resamples=10, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_errors_name_the_file_the_row_and_the_fix(tmp_path):
    a = write_csv(tmp_path / "a.csv", [("1", "x", "x"), ("2", "y", "x"), ("3", "y", "y")])
    dup = write_csv(tmp_path / "dup.csv", [("1", "x", "x"), ("2", "y", "x"), ("2", "y", "y")])
    msg = one_line_error([a, dup], "appears twice")
    assert "dup.csv" in msg and "rows 2 and 3" in msg
    extra = write_csv(tmp_path / "extra.csv", [("1", "x", "x"), ("2", "y", "x"), ("9", "y", "y")])
    msg = one_line_error([a, extra], "'9'.*not in")
    assert "extra.csv" in msg and "data row 3" in msg and "same examples" in msg
    short = write_csv(tmp_path / "short.csv", [("1", "x", "x"), ("3", "y", "y")])
    msg = one_line_error([a, short], "'2'.*missing")
    assert "short.csv" in msg
    gold = write_csv(tmp_path / "gold.csv", [("3", "x", "y"), ("1", "x", "x"), ("2", "y", "x")])
    msg = one_line_error([a, gold], "gold label of id '3'")
    assert "gold.csv" in msg and "data row 1" in msg and "same gold labels" in msg
    empty = write_csv(tmp_path / "empty.csv", [("1", "x", ""), ("2", "y", "x"), ("3", "y", "y")])
    assert "empty.csv" in one_line_error([empty, a], "'prediction' is empty")
    one_line_error([a], "at least two")
    one_line_error(str(a), "at least two")
    one_line_error([a, tmp_path / "nope.csv"], "not found")
    assert "--pred-column" in one_line_error([a, a], "'yhat' not found", pred_column="yhat")
    one_line_error([a, a], "unknown metric path", metrics=["f2"])
    same = write_csv(tmp_path / "same.csv", [("1", "x", "x")])
    one_line_error([same, same], "at least two classes")


def test_compare_path_does_not_import_torch():
    code = ("import sys, attnlab.recipes.compare, attnlab.metrics.bootstrap, attnlab.metrics.thresholds; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
