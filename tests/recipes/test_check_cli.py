"""`attnlab check REPORT_OR_RUN`: exit 0 ready / 1 not ready / 2 bad input, policies from flags and files,
no torch; findings and verdict of `attnlab evaluate` (incl. --train and --history) and of a training run."""

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from attnlab.cli import main
from attnlab.recipes.evaluate import score_predictions

FIXTURE = Path(__file__).parent.parent / "fixtures" / "sms_small.csv"
SEED = ([[9776, 24], [176, 24]], ["ok", "fraud"])
HEALTHY = ([[9786, 14], [10, 190]], ["ok", "fraud"])

pytestmark = pytest.mark.filterwarnings("ignore:no bootstrap interval")


def rows_of(matrix, labels):
    return [(labels[i], labels[j]) for i, row in enumerate(matrix) for j, c in enumerate(row) for _ in range(c)]


def write_report(path, matrix, labels, positive="fraud", **extra):
    y, yhat = zip(*rows_of(matrix, labels))
    report = score_predictions(list(y), list(yhat), labels=labels, proba=None, positive_label=positive, bootstrap=0)
    report.update(extra)
    path.write_text(json.dumps(report))
    return path


def run(args, capsys):
    """Exit code, stdout with rich's line wrapping undone, stderr."""
    code = main(args)
    out, err = capsys.readouterr()
    return code, " ".join(out.split()), err.strip()


def test_seed_case_exits_1_with_the_recall_reason_first(tmp_path, capsys):
    path = write_report(tmp_path / "seed.json", *SEED)
    code, out, _ = run(["check", str(path), "--out", str(tmp_path / "v.json")], capsys)
    assert code == 1
    assert out.startswith("NOT READY — recall of 'fraud' (the positive class) is 0.120")
    verdict = json.loads((tmp_path / "v.json").read_text())
    assert verdict["verdict"]["ready"] is False and verdict["findings_source"] == "computed from the report"
    assert verdict["verdict"]["reasons"][0].startswith("recall of 'fraud' (the positive class) is 0.120")


def test_healthy_model_exits_0_until_the_policy_tightens(tmp_path, capsys):
    path = write_report(tmp_path / "ok.json", *HEALTHY)
    code, out, _ = run(["check", str(path)], capsys)
    assert code == 0 and out.startswith("READY")
    code, out, _ = run(["check", str(path), "--min-recall", "fraud=0.97"], capsys)
    assert code == 1 and "below the required 0.97" in out
    code, _, _ = run(["check", str(path), "--min-precision", "0.96"], capsys)  # bare value: every class
    assert code == 1
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"min_f1": 0.95}))
    assert run(["check", str(path), "--policy", str(policy)], capsys)[0] == 1
    assert run(["check", str(path), "--policy", str(policy), "--min-recall", "0.1"], capsys)[0] == 1
    policy.write_text(json.dumps({"min_f1": 0.9, "min_recall_by_class": {"fraud": 0.9}}))
    assert run(["check", str(path), "--policy", str(policy)], capsys)[0] == 0


def test_stored_findings_are_used(tmp_path, capsys):
    finding = {"code": "leakage_exact", "severity": "error", "message": "Data leakage: 40 test texts seen.",
               "evidence": {}}
    path = write_report(tmp_path / "r.json", *HEALTHY, findings=[finding])
    code, out, _ = run(["check", str(path)], capsys)
    assert code == 1 and "NOT READY — Data leakage: 40 test texts seen." in out
    assert "findings stored in the report" in out


def test_check_does_not_import_torch(tmp_path):
    path = write_report(tmp_path / "seed.json", *SEED)
    code = ("import sys; from attnlab.cli import main; "
            f"rc = main(['check', {str(path)!r}]); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("NOT READY")


def _bad_reports(d):
    write_report(d / "t.json", *HEALTHY)
    (d / "empty.json").write_text("")
    (d / "broken.json").write_text('{"metrics": ')
    (d / "latin.json").write_bytes(b'{"labels": ["caf\xe9"]}')
    (d / "bleu.json").write_text(json.dumps({"task": "translation", "metrics": {"bleu": 30.0}}))
    (d / "list.json").write_text("[1, 2]")
    (d / "rundir").mkdir()
    (d / "policy.json").write_text('{"min_f": 0.9}')
    return {
        "missing file": (["nope.json"], r"not found: nope\.json"),
        "empty file": (["empty.json"], r"empty"),
        "not JSON": (["broken.json"], r"not valid JSON"),
        "non-UTF-8": (["latin.json"], r"UTF-8"),
        "translation report without findings": (["bleu.json"], r"translation report without stored findings"),
        "translation bound on classification": (["t.json", "--min-bleu", "20"], r"apply to translation reports"),
        "not an object": (["list.json"], r"not a JSON object"),
        "run dir without report": (["rundir"], r"no report\.json"),
        "bad bound": (["t.json", "--min-recall", "fraud=high"], r"LABEL=VALUE"),
        "bound out of range": (["t.json", "--min-recall", "fraud=1.5"], r"\[0, 1\]"),
        "unknown label": (["t.json", "--min-recall", "spam=0.9"], r"'spam', not a label"),
        "unknown policy key": (["t.json", "--policy", "policy.json"], r"unknown key"),
        "missing policy": (["t.json", "--policy", "nope.json"], r"not found"),
    }


def test_bad_input_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for case, (args, pattern) in _bad_reports(tmp_path).items():
        code, out, err = run(["check", *args], capsys)
        assert code == 2, case
        assert len(err.splitlines()) == 1 and err.startswith("attnlab: error: ") and out == "", (case, err)
        assert re.search(pattern, err), (case, err)


def write_predictions(path, rows, header=("text", "label", "prediction")):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_evaluate_adds_findings_verdict_leakage_and_history(tmp_path, capsys):
    train = write_predictions(tmp_path / "train.csv", [
        ("Congratulations you won a free cruise call now to claim your prize today", "spam", "spam"),
        ("are we still meeting for lunch tomorrow at noon", "ham", "ham")] +
        [(f"ordinary message number {i} about weekend plans", "ham", "ham") for i in range(20)])
    test_rows = [("CONGRATULATIONS you won a free cruise, call NOW to claim your prize today!!", "spam", "spam"),
                 ("Congratulations you won a free holiday call now to claim your prize today", "spam", "spam")]
    test_rows += [(f"totally new text {i} {'win cash' if i % 2 else 'see you soon'}", "spam" if i % 2 else "ham",
                   "spam" if i % 2 else "ham") for i in range(40)]
    preds = write_predictions(tmp_path / "pred.csv", test_rows)
    history = tmp_path / "history.jsonl"
    history.write_text(json.dumps({"epoch": 1, "train_loss": 0.5, "val_loss": 0.6}) + "\n")
    out = tmp_path / "r.json"
    code, text, _ = run(["evaluate", str(preds), "--positive", "spam", "--bootstrap", "0", "--train", str(train),
                         "--history", str(history), "--out", str(out)], capsys)
    assert code == 0  # evaluate reports; only `check` gates
    report = json.loads(out.read_text())
    codes = {f["code"]: f for f in report["findings"]}
    assert codes["leakage_exact"]["severity"] == "error" and codes["leakage_exact"]["evidence"]["rows"] == 1
    assert codes["leakage_near"]["evidence"]["rows"] == 1
    assert codes["overfitting_not_judged"]["severity"] == "info"
    assert report["verdict"]["ready"] is False and report["verdict"]["blocking_findings"][0] == "leakage_exact"
    assert text.startswith("NOT READY — Data leakage")
    assert text.index("Findings") < text.index("Metrics")  # findings come before the numbers
    assert run(["check", str(out)], capsys)[0] == 1


@pytest.mark.parametrize("case", ["no text column", "empty train", "non-UTF-8 train", "empty history"])
def test_evaluate_diagnostic_inputs_bad(case, tmp_path, capsys):
    preds = write_predictions(tmp_path / "p.csv", [("a b c", "x", "x"), ("d e f", "y", "y")])
    args = ["evaluate", str(preds), "--bootstrap", "0"]
    if case == "no text column":
        args = ["evaluate", str(write_predictions(tmp_path / "q.csv", [("x", "x")], ("label", "prediction"))),
                "--train", str(preds), "--bootstrap", "0"]
    elif case == "empty train":
        (tmp_path / "t.csv").write_text("")
        args += ["--train", str(tmp_path / "t.csv")]
    elif case == "non-UTF-8 train":
        (tmp_path / "t.csv").write_bytes(b"text,label\ncaf\xe9,x\n")
        args += ["--train", str(tmp_path / "t.csv")]
    else:
        (tmp_path / "h.jsonl").write_text("")
        args += ["--history", str(tmp_path / "h.jsonl")]
    code, _, err = run(args, capsys)
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("attnlab: error: "), err


def test_training_run_has_findings_and_check_agrees(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", str(FIXTURE), "--out", str(out), "--d-model", "16", "--heads", "2", "--layers", "1",
                 "--d-ff", "32", "--epochs", "1", "--vocab-size", "300", "--max-len", "32"])
    printed = capsys.readouterr().out
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    codes = [f["code"] for f in report["findings"]]
    assert "overfitting_not_judged" in codes  # one epoch: an info finding, not a crash
    assert "leakage_exact" not in codes  # duplicates were grouped by the same key before splitting
    leakage = report["diagnostics"]["leakage"]
    assert [(r["train"], r["test"]) for r in leakage] == [("train", "test"), ("train", "validation"),
                                                          ("validation", "test")]
    assert all(r["exact_rows"] == 0 for r in leakage)
    assert report["run"]["training"]["selected_on"] == "validation"
    ready = report["verdict"]["ready"]
    assert printed.startswith("READY" if ready else "NOT READY")
    assert main(["check", str(out)]) == (0 if ready else 1)
    # without stored findings, check computes them from the report and the run's history.jsonl
    del report["findings"]
    (out / "report.json").write_text(json.dumps(report))
    capsys.readouterr()
    main(["check", str(out)])
    assert "computed from the report and history.jsonl" in " ".join(capsys.readouterr().out.split())
