"""evaluate_file: chunked reading of CSV/TSV/JSONL/Parquet equals the one-shot report; errors name the row."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from sklearn import metrics as skm

from attnlab.errors import InputError
from attnlab.metrics import classification_report, evaluate_file

EXTRA_KEYS = ("threshold", "source")


def core(report):
    return {k: v for k, v in report.items() if k not in EXTRA_KEYS}


def write(path, columns):
    """Write ``{name: list}`` in the format of ``path``'s extension."""
    table = pa.table(columns)
    name = path.name
    if name.endswith(".parquet"):
        pq.write_table(table, path, row_group_size=97)
    elif name.endswith((".csv", ".tsv")):
        pcsv.write_csv(table, path, write_options=pcsv.WriteOptions(delimiter="\t" if name.endswith(".tsv") else ","))
    else:
        text = "".join(json.dumps(row) + "\n" for row in table.to_pylist())
        if name.endswith(".gz"):
            with gzip.open(path, "wt") as fh:
                fh.write(text)
        else:
            path.write_text(text)
    return path


@pytest.fixture(scope="module")
def binary_data():
    rng = np.random.default_rng(0)
    n = 1_000
    y = rng.choice(["ham", "spam"], n, p=[0.7, 0.3])
    s = np.clip(rng.normal(0.35 + 0.3 * (y == "spam"), 0.2), 0, 1).round(3)  # ties across chunks
    return y, s


@pytest.mark.parametrize("name", ["p.csv", "p.tsv", "p.jsonl", "p.jsonl.gz", "p.parquet"])
@pytest.mark.parametrize("chunk_rows", [1, 64, 10_000])
def test_every_format_and_chunking_equals_one_shot_report(tmp_path, binary_data, name, chunk_rows):
    y, s = binary_data
    if chunk_rows == 1:
        y, s = y[:60], s[:60]
    pred = np.where(s >= 0.4, "spam", "ham")
    path = write(tmp_path / name, {"label": y.tolist(), "pred": pred.tolist(), "score": s.tolist()})
    rep = evaluate_file(path, label_column="label", pred_column="pred", score_column="score",
                        positive_label="spam", chunk_rows=chunk_rows)
    assert core(rep) == classification_report(y, pred, labels=["ham", "spam"], proba=s, positive_label="spam")
    assert rep["source"]["rows"] == len(y) and "threshold" not in rep


def test_predictions_from_threshold_are_recorded(tmp_path, binary_data):
    y, s = binary_data
    path = write(tmp_path / "p.csv", {"y": y.tolist(), "p": s.tolist()})
    rep = evaluate_file(path, label_column="y", score_column="p", positive_label="spam", threshold=0.3,
                        chunk_rows=128)
    pred = np.where(s >= 0.3, "spam", "ham")
    assert core(rep) == classification_report(y, pred, labels=["ham", "spam"], proba=s, positive_label="spam")
    assert rep["threshold"]["value"] == 0.3 and rep["threshold"]["objective"] == "given"
    default = evaluate_file(path, label_column="y", score_column="p", positive_label="spam")
    assert default["threshold"]["value"] == 0.5 and default["threshold"]["objective"] == "default"
    is_spam = y == "spam"
    assert default["metrics"]["roc_auc"] == pytest.approx(skm.roc_auc_score(is_spam, s), abs=1e-12)
    assert default["metrics"]["average_precision"] == pytest.approx(skm.average_precision_score(is_spam, s),
                                                                    abs=1e-12)


def test_logits_are_declared_and_converted(tmp_path, binary_data):
    y, s = binary_data
    z = np.log(np.clip(s, 1e-3, 1 - 1e-3) / (1 - np.clip(s, 1e-3, 1 - 1e-3)))
    path = write(tmp_path / "p.parquet", {"y": y.tolist(), "z": z.tolist()})
    rep = evaluate_file(path, label_column="y", score_column="z", positive_label="spam", scores="logits")
    p = 1 / (1 + np.exp(-z))
    ref = classification_report(y, np.where(p >= 0.5, "spam", "ham"), labels=["ham", "spam"], proba=p,
                                positive_label="spam")
    assert core(rep) == ref and rep["source"]["scores"] == "logits"
    with pytest.raises(InputError, match="scores='logits'"):
        evaluate_file(path, label_column="y", score_column="z", positive_label="spam")


def test_multiclass_proba_columns_argmax_and_first_pass_labels(tmp_path):
    rng = np.random.default_rng(1)
    labels = ["2", "10", "1"]  # numeric order: 1, 2, 10
    proba = rng.dirichlet(np.ones(3), 500).round(6)
    y = rng.choice(labels, 500)
    path = write(tmp_path / "m.csv", {"y": y.tolist(), "p1": proba[:, 0].tolist(), "p2": proba[:, 1].tolist(),
                                      "p10": proba[:, 2].tolist()})
    rep = evaluate_file(path, label_column="y", proba_columns=["p1", "p2", "p10"], chunk_rows=50)
    assert rep["labels"] == ["1", "2", "10"]
    order = ["1", "2", "10"]
    pred = [order[i] for i in proba.argmax(1)]
    ref = ClassRef(y, pred, order, proba)
    assert rep["confusion_matrix"]["matrix"] == ref.matrix
    assert rep["metrics"]["roc_auc"] == pytest.approx(ref.roc_auc, abs=1e-12)
    idx = np.array([order.index(v) for v in y])
    assert rep["metrics"]["log_loss"] == pytest.approx(-np.mean(np.log(proba[np.arange(500), idx])), abs=1e-12)


class ClassRef:
    def __init__(self, y, pred, order, proba):
        self.matrix = skm.confusion_matrix(y, pred, labels=order).tolist()
        idx = np.array([order.index(v) for v in y])
        self.roc_auc = skm.roc_auc_score(idx, proba / proba.sum(1, keepdims=True), multi_class="ovr")


def test_label_set_grows_across_chunks_and_includes_predicted_only_labels(tmp_path):
    y = ["a"] * 50 + ["c"] * 30 + ["b"] * 5
    pred = ["a"] * 40 + ["d"] * 10 + ["c"] * 30 + ["b"] * 5
    path = write(tmp_path / "g.jsonl", {"y": y, "p": pred})
    rep = evaluate_file(path, label_column="y", pred_column="p", chunk_rows=16)
    assert rep["labels"] == ["a", "b", "c", "d"]
    assert core(rep) == classification_report(y, pred, labels=["a", "b", "c", "d"])


def test_integer_labels_match_given_labels_as_text(tmp_path):
    rng = np.random.default_rng(2)
    y, p = rng.integers(0, 3, 300).astype(np.int8), rng.integers(0, 3, 300).astype(np.int8)
    path = tmp_path / "i.parquet"
    pq.write_table(pa.table({"y": y, "p": p}), path, row_group_size=64)
    inferred = evaluate_file(path, label_column="y", pred_column="p", chunk_rows=50)
    assert inferred["labels"] == ["0", "1", "2"]
    given = evaluate_file(path, label_column="y", pred_column="p", labels=[2, 1, 0])
    assert given["labels"] == [2, 1, 0]
    assert core(given) == classification_report(y, p, labels=[2, 1, 0])
    assert given["confusion_matrix"]["matrix"] == skm.confusion_matrix(y, p, labels=[2, 1, 0]).tolist()


def test_binned_curves_are_marked_approximate(tmp_path, binary_data):
    y, s = binary_data
    path = write(tmp_path / "p.csv", {"y": y.tolist(), "p": s.tolist()})
    rep = evaluate_file(path, label_column="y", score_column="p", positive_label="spam", curve_bins=101)
    exact = evaluate_file(path, label_column="y", score_column="p", positive_label="spam")
    assert "curve:binned-101-approx" in rep["signatures"]["roc_auc"]
    assert rep["metrics"]["roc_auc"] == pytest.approx(exact["metrics"]["roc_auc"], abs=0.01)


# --------------------------------------------------------------------------- errors


def error(tmp_path, columns, name="e.csv", **kwargs):
    path = write(tmp_path / name, columns)
    with pytest.raises(InputError) as info:
        evaluate_file(path, **{"label_column": "y", **kwargs})
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_column_lists_the_columns_present(tmp_path):
    msg = error(tmp_path, {"y": ["a", "b"], "yhat": ["a", "a"]}, pred_column="prediction")
    assert "'prediction'" in msg and "'y', 'yhat'" in msg and "pred_column" in msg


@pytest.mark.parametrize("name", ["e.csv", "e.parquet", "e.jsonl"])
def test_nan_and_out_of_range_scores_name_the_row(tmp_path, name):
    s = [0.1] * 70 + [float("nan")] + [0.2] * 5
    msg = error(tmp_path, {"y": ["a", "b"] * 38, "s": s}, name=name, score_column="s", positive_label="b",
                chunk_rows=32)
    assert "'s'" in msg and "row 71" in msg and name in msg
    msg = error(tmp_path, {"y": ["a", "b"] * 3, "s": [0.1, 0.2, 1.5, 0.1, 0.1, 0.1]}, name=name,
                score_column="s", positive_label="b")
    assert "row 3" in msg and "[0, 1]" in msg


def test_rows_must_sum_to_one_and_labels_must_be_known(tmp_path):
    msg = error(tmp_path, {"y": ["a", "b", "a"], "pa": [0.5, 0.2, 0.7], "pb": [0.5, 0.8, 0.2]},
                proba_columns=["pa", "pb"], labels=["a", "b"])
    assert "row 3" in msg and "sum to 0.9" in msg
    msg = error(tmp_path, {"y": ["a", "b", "c"], "p": ["a", "a", "a"]}, pred_column="p", labels=["a", "b"])
    assert "'c'" in msg and "row 3" in msg and "not in labels" in msg


def test_empty_missing_and_non_numeric_inputs(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty"):
        evaluate_file(tmp_path / "empty.csv", label_column="y", pred_column="p")
    (tmp_path / "header.csv").write_text("y,p\n")
    with pytest.raises(InputError, match="no data rows"):
        evaluate_file(tmp_path / "header.csv", label_column="y", pred_column="p")
    (tmp_path / "bad.csv").write_text("y,s\na,0.1\nb,0.2\nb,abc\n")
    with pytest.raises(InputError, match=r"'abc' at data row 3.*not a number"):
        evaluate_file(tmp_path / "bad.csv", label_column="y", score_column="s", positive_label="b")
    (tmp_path / "gap.csv").write_text("y,p\na,a\n,b\n")
    with pytest.raises(InputError, match="row 2 has a missing label"):
        evaluate_file(tmp_path / "gap.csv", label_column="y", pred_column="p")
    with pytest.raises(InputError, match="not found"):
        evaluate_file(tmp_path / "nope.csv", label_column="y", pred_column="p")


@pytest.mark.parametrize("kwargs, match", [
    (dict(score_column="s"), "positive_label"),
    (dict(score_column="s", proba_columns=["s", "s"], positive_label="a"), "not both"),
    (dict(), "no predictions"),
    (dict(score_column="s", positive_label="a", scores="auto"), "never guessed"),
    (dict(pred_column="y", chunk_rows=0), "chunk_rows"),
    (dict(pred_column="y", score_column="s", positive_label="a", threshold=0.3), "threshold"),
])
def test_option_errors(tmp_path, kwargs, match):
    path = write(tmp_path / "o.csv", {"y": ["a", "b"], "s": [0.1, 0.9]})
    with pytest.raises(InputError, match=match):
        evaluate_file(path, label_column="y", **kwargs)


def test_score_column_needs_exactly_two_labels(tmp_path):
    msg = error(tmp_path, {"y": ["a", "b", "c"], "s": [0.1, 0.9, 0.5]}, score_column="s", positive_label="b")
    assert "exactly 2 labels" in msg
    msg = error(tmp_path, {"y": ["b", "b"], "s": [0.1, 0.9]}, score_column="s", positive_label="b")
    assert "only one label" in msg


def test_two_proba_columns_with_a_positive_label_equal_the_report(tmp_path):
    rng = np.random.default_rng(3)
    y = rng.choice(["neg", "pos"], 400)
    p_pos = rng.random(400).round(2)
    path = write(tmp_path / "two.parquet", {"y": y.tolist(), "a": (1 - p_pos).tolist(), "b": p_pos.tolist()})
    rep = evaluate_file(path, label_column="y", proba_columns=["a", "b"], positive_label="pos", chunk_rows=90)
    proba = np.column_stack([1 - p_pos, p_pos])
    pred = np.array(["neg", "pos"])[proba.argmax(1)]
    assert core(rep) == classification_report(y, pred, labels=["neg", "pos"], proba=proba, positive_label="pos")


def test_json_lines_mixing_label_types_names_the_row(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps({"y": 1, "p": 1}) + "\n" for _ in range(3)) + '{"y": "a", "p": 1}\n')
    with pytest.raises(InputError, match=r"'y'.*row 4.*one type"):
        evaluate_file(path, label_column="y", pred_column="p")
