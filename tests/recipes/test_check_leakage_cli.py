"""`attnlab check-leakage TRAIN TEST`: exit 1 with the leaked pairs, 0 when clean, 2 for bad input; no torch."""

import csv
import json
import re
import subprocess
import sys

import pytest

from attnlab.cli import main

TRAIN = [
    ("Congratulations! You have won a 1000 pound voucher, call 09061701461 to claim before Friday", "spam"),
    ("Are we still on for dinner tonight at the Italian place near the station?", "ham"),
    ("Sorry I'll call you later, stuck in a meeting", "ham"),
    ("Your account has been selected for a free upgrade text YES to 80082 now", "spam"),
] + [(f"plain message {i} about the weather and the garden and the week", "ham") for i in range(30)]
TEST = [
    ("CONGRATULATIONS you have won a 1000 pound voucher call 09061701461 to claim before friday!!!", "spam"),  # exact
    ("Are we still on for dinner tomorrow at the Italian place near the station?", "ham"),  # one word changed
    ("Sorry, I'll call you later - stuck in a MEETING.", "spam"),  # exact, label conflict
    ("Brand new text that shares nothing with training", "ham"),
]


def write_csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, " ".join(out.split()), err.strip()


def test_leakage_found_exit_1_with_pairs(tmp_path, capsys):
    train, test = write_csv(tmp_path / "train.csv", TRAIN), write_csv(tmp_path / "test.csv", TEST)
    out = tmp_path / "leak.json"
    code, text, _ = run(["check-leakage", str(train), str(test), "--out", str(out)], capsys)
    assert code == 1 and text.startswith("LEAKAGE")
    result = json.loads(out.read_text())
    assert result["leakage_found"] and result["exact_rows"] == 2 and result["near_rows"] == 1
    assert result["inputs"]["label_column"] == "label"
    pairs = {p["test_index"]: p for p in result["pairs"]}
    assert set(pairs) == {0, 1, 2}
    assert pairs[0]["kind"] == "exact" and pairs[0]["similarity"] == 1.0 and pairs[0]["train_index"] == 0
    assert pairs[0]["test_text"] == TEST[0][0] and pairs[0]["train_text"] == TRAIN[0][0]
    assert pairs[1]["kind"] == "near" and pairs[1]["train_index"] == 1 and 0.8 <= pairs[1]["similarity"] < 1
    assert pairs[2]["label_conflict"] is True and (pairs[2]["test_label"], pairs[2]["train_label"]) == ("spam", "ham")
    assert result["label_conflicts"] == 1
    codes = [(f["code"], f["severity"]) for f in result["findings"]]
    assert codes == [("leakage_exact", "error"), ("leakage_near", "error"), ("label_conflict", "warning")]
    assert result["settings"]["threshold"] == 0.8 and "lsh:" in result["settings"]["signature"]


def test_clean_files_exit_0(tmp_path, capsys):
    train, test = write_csv(tmp_path / "a.csv", TRAIN), write_csv(tmp_path / "b.csv", TEST[3:])
    code, text, _ = run(["check-leakage", str(train), str(test)], capsys)
    assert code == 0 and text.startswith("NO LEAKAGE")


def test_options_text_column_threshold_and_jsonl(tmp_path, capsys):
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(json.dumps({"body": t}) for t, _ in TRAIN) + "\n")
    test = write_csv(tmp_path / "test.csv", [(t,) for t, _ in TEST[1:2]], header=("body",))
    args = ["check-leakage", str(train), str(test), "--text-column", "body"]
    assert run(args, capsys)[0] == 1
    assert run(args + ["--threshold", "0.95"], capsys)[0] == 0  # the one-word change is below 0.95


def test_check_leakage_does_not_import_torch(tmp_path):
    train, test = write_csv(tmp_path / "train.csv", TRAIN), write_csv(tmp_path / "test.csv", TEST)
    code = ("import sys; from attnlab.cli import main; "
            f"rc = main(['check-leakage', {str(train)!r}, {str(test)!r}]); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr


BAD = {
    "empty file": (b"", r"empty"),
    "header only": (b"text,label\n", r"no data rows"),
    "missing text column": (b"body,label\nhello,a\n", r"column 'text' not found.*--text-column"),
    "non-UTF-8": (b"text,label\ncaf\xe9 au lait,a\n", r"not valid UTF-8"),
    "empty text": (b"text,label\nhello,a\n   ,b\n", r"empty or non-text.*row 2"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_exit_2(case, tmp_path, capsys):
    content, pattern = BAD[case]
    good = write_csv(tmp_path / "good.csv", TRAIN)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    out = tmp_path / "leak.json"
    for args in ([str(good), str(bad)], [str(bad), str(good)]):
        code, text, err = run(["check-leakage", *args, "--out", str(out)], capsys)
        assert code == 2 and text == "" and len(err.splitlines()) == 1 and err.startswith("attnlab: error: "), err
        assert re.search(pattern, err), err
        assert not out.exists()


@pytest.mark.parametrize("flags,pattern", [(["--threshold", "0"], r"\(0, 1\]"), (["--threshold", "x"], r"invalid float"),
                                           (["--shingle-size", "0"], r"positive"),
                                           (["--label-column", "y"], r"column 'y' not found")])
def test_bad_options_exit_2(flags, pattern, tmp_path, capsys):
    good = write_csv(tmp_path / "good.csv", TRAIN)
    code, _, err = run(["check-leakage", str(good), str(good), *flags], capsys)
    assert code == 2 and re.search(pattern, err), err
