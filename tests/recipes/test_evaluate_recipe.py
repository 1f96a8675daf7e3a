"""`attnlab evaluate PREDICTIONS`: any model's predictions file, checked against scikit-learn."""

import csv
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from sklearn import metrics as skm

from attnlab.cli import main
from attnlab.recipes.evaluate import EvaluateOptions, evaluate_predictions


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def binary_file(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.2
    score = np.clip(np.where(y, 0.65, 0.35) + rng.normal(0, 0.2, 300), 0, 1).round(4)
    rows = [[i, "fraud" if t else "ok", "fraud" if s >= 0.5 else "ok", s] for i, (t, s) in enumerate(zip(y, score))]
    return write_csv(tmp_path / "pred.csv", ["id", "label", "prediction", "score"], rows), y, score


def test_binary_scores_match_sklearn(binary_file):
    path, y, score = binary_file
    r = evaluate_predictions(path, EvaluateOptions(score_column="score", positive_label="fraud", bootstrap=0))
    yhat = score >= 0.5
    assert r["metrics"]["accuracy"] == pytest.approx(skm.accuracy_score(y, yhat), abs=1e-12)
    assert r["metrics"]["per_class"]["fraud"]["f1"] == pytest.approx(skm.f1_score(y, yhat), abs=1e-12)
    assert r["metrics"]["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    assert r["metrics"]["average_precision"] == pytest.approx(skm.average_precision_score(y, score), abs=1e-12)
    assert r["binary"]["tp"] == int((y & yhat).sum())
    assert "intervals" not in r and r["input"]["rows"] == 300


def test_threshold_and_target_recall(binary_file):
    path, y, score = binary_file
    r = evaluate_predictions(path, EvaluateOptions(score_column="score", positive_label="fraud", threshold=0.3,
                                                   bootstrap=0))
    assert r["metrics"]["per_class"]["fraud"]["recall"] == pytest.approx(skm.recall_score(y, score >= 0.3))
    assert r["threshold"] == {"value": 0.3, "objective": "given", "tuned_on": None}
    r = evaluate_predictions(path, EvaluateOptions(score_column="score", positive_label="fraud", target_recall=0.9,
                                                   bootstrap=0))
    t = r["threshold"]["value"]
    assert skm.recall_score(y, score >= t) >= 0.9
    # no threshold with recall >= 0.9 has better precision
    candidates = [s for s in np.unique(score) if skm.recall_score(y, score >= s) >= 0.9]
    best = max(skm.precision_score(y, score >= s) for s in candidates)
    assert r["metrics"]["per_class"]["fraud"]["precision"] == pytest.approx(best)
    assert r["threshold"]["tuned_on"] == "the evaluated file"


def test_multiclass_probabilities_and_logits(tmp_path):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(200, 3))
    proba = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array(["a", "b", "c"])[rng.integers(0, 3, 200)]
    rows_p = [[t, *np.round(p, 12)] for t, p in zip(y, proba)]
    rows_l = [[t, *lg] for t, lg in zip(y, logits)]
    fp = write_csv(tmp_path / "p.csv", ["label", "p_a", "p_b", "p_c"], rows_p)
    fl = write_csv(tmp_path / "l.jsonl", ["x"], [])
    fl.write_text("".join(json.dumps({"label": t, "a": a, "b": b, "c": c}) + "\n" for t, (a, b, c) in
                          zip(y, logits)))
    rp = evaluate_predictions(fp, EvaluateOptions(bootstrap=0))  # p_<label> columns found automatically
    rl = evaluate_predictions(fl, EvaluateOptions(proba_columns=("a", "b", "c"), scores="logits", bootstrap=0))
    assert rp["input"]["source"].startswith("auto")
    for r in (rp, rl):
        assert r["metrics"]["log_loss"] == pytest.approx(skm.log_loss(y, proba, labels=["a", "b", "c"]), abs=1e-9)
        assert r["metrics"]["roc_auc"] == pytest.approx(
            skm.roc_auc_score(y, proba, multi_class="ovr", average="macro"), abs=1e-9)
        assert r["metrics"]["accuracy"] == pytest.approx(skm.accuracy_score(y, np.array(["a", "b", "c"])[
            proba.argmax(1)]))


def test_bootstrap_intervals_bracket_the_estimates(binary_file):
    path, _, _ = binary_file
    r = evaluate_predictions(path, EvaluateOptions(score_column="score", positive_label="fraud", bootstrap=200))
    for key in ("accuracy", "macro.f1", "roc_auc", "per_class.fraud.recall"):
        low, high = r["intervals"][key]
        value = r["metrics"]["macro"]["f1"] if key == "macro.f1" else (
            r["metrics"]["per_class"]["fraud"]["recall"] if key.startswith("per_class") else r["metrics"][key])
        assert low <= value <= high
    assert r["bootstrap"]["n_resamples"] == 200


def run_cli(args, capsys):
    code = main(["evaluate", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


BAD = {
    "missing column": (["label", "prediction"], [["a", "a"], ["b", "b"]], ["--label-column", "y"], r"'y' not found.*label, prediction"),
    "nan score": (["label", "score"], [["1", "0.2"], ["0", "nan"]], ["--score-column", "score"], r"'score'.*row 2"),
    "score outside [0,1]": (["label", "score"], [["1", "1.7"], ["0", "0.1"]], ["--score-column", "score"], r"outside \[0, 1\]"),
    "rows not summing to 1": (["label", "p_a", "p_b"], [["a", "0.5", "0.6"], ["b", "0.1", "0.9"]], [], r"sum to 1"),
    "unknown label": (["label", "prediction"], [["a", "a"], ["b", "z"]], ["--labels", "a,b"], r"z"),
    "empty file": (["label", "prediction"], [], [], r"no (data )?rows|empty"),
    "text score": (["label", "score"], [["1", "high"], ["0", "0.1"]], ["--score-column", "score"], r"'high', not a number"),
    "threshold without scores": (["label", "prediction"], [["a", "a"], ["b", "b"]], ["--threshold", "0.5"], r"needs binary scores"),
    "two targets": (["label", "prediction"], [["a", "a"]], ["--threshold", "0.5", "--target-recall", "0.9"], r"not allowed with|at most one"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_one_line_exit_2(case, tmp_path, capsys):
    header, rows, flags, pattern = BAD[case]
    path = write_csv(tmp_path / "in.csv", header, rows)
    out = tmp_path / "report.json"
    code, _, err = run_cli([str(path), *flags, "--out", str(out)], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("attnlab: error:"), err
    assert re.search(pattern, err), err
    assert not out.exists()


def test_non_utf8_and_unwritable_out(tmp_path, capsys):
    bad = tmp_path / "latin.csv"
    bad.write_bytes(b"label,prediction\ncaf\xe9,a\n")
    code, _, err = run_cli([str(bad)], capsys)
    assert code == 2 and "UTF-8" in err
    good = write_csv(tmp_path / "g.csv", ["label", "prediction"], [["a", "a"], ["b", "a"]])
    code, _, err = run_cli([str(good), "--out", str(tmp_path / "no" / "such" / "r.json")], capsys)
    assert code == 2 and "does not exist" in err


def test_cli_writes_report_without_importing_torch(binary_file, tmp_path):
    path, _, _ = binary_file
    out = tmp_path / "r.json"
    code = ("import sys; from attnlab.cli import main; "
            f"rc = main(['evaluate', {str(path)!r}, '--score-column', 'score', '--positive', 'fraud', "
            f"'--bootstrap', '50', '--out', {str(out)!r}]); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["schema_version"] == 1 and report["positive_label"] == "fraud"
    assert "TP=" in proc.stdout and "95% CI" in proc.stdout


def test_translation_evaluate_through_the_cli(tmp_path, capsys):
    import sacrebleu

    hyp = ["the cat sat on the mat", "a dog barks loudly", "hello world"]
    ref = ["the cat sat on a mat", "the dog barks loudly", "hello there world"]
    (tmp_path / "h.txt").write_text("\n".join(hyp) + "\n")
    (tmp_path / "r.txt").write_text("\n".join(ref) + "\n")
    code, out, _ = run_cli(["--hyp", str(tmp_path / "h.txt"), "--ref", str(tmp_path / "r.txt"), "--bootstrap", "100",
                            "--out", str(tmp_path / "t.json")], capsys)
    assert code == 0
    report = json.loads((tmp_path / "t.json").read_text())
    assert report["metrics"]["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyp, [ref]).score)
    assert report["signatures"]["bleu"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")


def test_max_fbeta_and_min_cost_thresholds(binary_file):
    path, y, score = binary_file
    opts = dict(score_column="score", positive_label="fraud", bootstrap=0)
    r = evaluate_predictions(path, EvaluateOptions(max_fbeta=2.0, **opts))
    best = max(skm.fbeta_score(y, score >= s, beta=2.0) for s in np.unique(score))
    assert skm.fbeta_score(y, score >= r["threshold"]["value"], beta=2.0) == pytest.approx(best)
    r = evaluate_predictions(path, EvaluateOptions(costs=(1.0, 10.0), **opts))
    cost = lambda t: int(((score >= t) & ~y).sum()) + 10 * int(((score < t) & y).sum())  # noqa: E731
    assert cost(r["threshold"]["value"]) == min(min(cost(s) for s in np.unique(score)), cost(np.inf))
    assert r["threshold"]["objective"] == "min_cost"


def test_chunked_evaluation_equals_in_memory(binary_file):
    path, _, _ = binary_file
    common = dict(score_column="score", positive_label="fraud", threshold=0.5, bootstrap=0)
    whole = evaluate_predictions(path, EvaluateOptions(**common))
    chunked = evaluate_predictions(path, EvaluateOptions(chunk_rows=7, **common))
    assert chunked["metrics"] == whole["metrics"]
    assert chunked["confusion_matrix"] == whole["confusion_matrix"]
    assert chunked["input"]["chunked"]["chunks"] > 1
    with pytest.raises(Exception, match="cannot run with --chunk-rows"):
        evaluate_predictions(path, EvaluateOptions(chunk_rows=7, score_column="score", positive_label="fraud"))
