"""evaluate_translation_files: file reading and alignment, errors naming files, report shape, rendering."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sacrebleu
from rich.console import Console

from attnlab.errors import InputError
from attnlab.io import sha256_file
from attnlab.metrics.translation import corpus_scores
from attnlab.recipes.evaluate_translation import evaluate_translation_files, read_segments
from attnlab.report.translation_terminal import render_translation_summary

PARALLEL = Path(__file__).resolve().parents[1] / "fixtures" / "parallel"


def _corpus(name: str) -> list[str]:
    """A hand-written 30-segment parallel text, one segment per line (tests/fixtures/parallel/)."""
    return (PARALLEL / f"{name}.txt").read_text(encoding="utf-8").splitlines()


REF, REF2, HYP = _corpus("ref_a")[:12], _corpus("ref_b")[:12], _corpus("sys_fair")[:12]


def write(path, lines, *, newline="\n", final=True):
    path.write_bytes((newline.join(lines) + (newline if final else "")).encode("utf-8"))
    return path


@pytest.fixture
def files(tmp_path):
    return write(tmp_path / "sys.txt", HYP), write(tmp_path / "ref.txt", REF), write(tmp_path / "ref2.txt", REF2)


# --------------------------------------------------------------------------------------------------
# Reading segments
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data,expected", [
    (b"a\nb\n", ["a", "b"]),                       # the final newline makes no extra segment
    (b"a\nb", ["a", "b"]),                         # nor does its absence lose one
    (b"a\n\nb\n", ["a", "", "b"]),                 # empty lines are empty segments: alignment holds
    (b"\n", [""]),
    (b"", []),
    (b"a\r\nb\r\n", ["a", "b"]),                   # CRLF line endings
    (b"\xef\xbb\xbfa\nb\n", ["a", "b"]),           # UTF-8 byte-order mark dropped
    (b"  a  \n\tb\n", ["  a  ", "\tb"]),           # only the newline is stripped
    ("x\u2028y\fz\x85w\n".encode(), ["x\u2028y\fz\x85w"]),  # not split like str.splitlines would
    ("caf\u00e9 \u00fcber\n".encode(), ["caf\u00e9 \u00fcber"]),
])
def test_read_segments(tmp_path, data, expected):
    path = tmp_path / "f.txt"
    path.write_bytes(data)
    assert read_segments(path) == expected


def test_read_segments_errors(tmp_path):
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("ok\ncaf\u00e9\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin1\.txt is not valid UTF-8: byte 0xe9 on line 2.*iconv"):
        read_segments(latin)
    with pytest.raises(InputError, match=r"file not found: .*missing\.txt"):
        read_segments(tmp_path / "missing.txt")
    with pytest.raises(InputError, match=r"is a directory"):
        read_segments(tmp_path)


# --------------------------------------------------------------------------------------------------
# The recipe
# --------------------------------------------------------------------------------------------------


def test_report_shape_and_values(files):
    hyp, ref, ref2 = files
    report = evaluate_translation_files(hyp, [ref, ref2], bootstrap=200)
    assert report["schema_version"] == 1 and report["task"] == "translation" and report["n"] == len(HYP)
    assert set(report["metrics"]) == {"bleu", "chrf", "ter"}
    assert report["metrics"]["bleu"] == sacrebleu.corpus_bleu(HYP, [REF, REF2]).score
    assert report["metrics"]["chrf"] == sacrebleu.corpus_chrf(HYP, [REF, REF2]).score
    assert report["metrics"]["ter"] == sacrebleu.corpus_ter(HYP, [REF, REF2]).score
    expected = corpus_scores(HYP, [REF, REF2], n_bootstrap=200)
    assert report["signatures"] == expected["signatures"]
    assert report["signatures"]["bleu"].startswith("nrefs:2|")
    assert report["intervals"] == expected["bootstrap"]["intervals"]
    for name, (low, high) in report["intervals"].items():
        assert low <= report["metrics"][name] <= high
    details = report["details"]
    assert details["bleu"] == expected["bleu"] and details["n_refs"] == 2
    assert details["bootstrap"]["n_resamples"] == 200 and details["bootstrap"]["seed"] == 12345
    assert details["inputs"]["hyp"] == {"path": str(hyp), "sha256": sha256_file(hyp), "lines": len(HYP)}
    assert [r["path"] for r in details["inputs"]["refs"]] == [str(ref), str(ref2)]
    json.dumps(report, allow_nan=False)


def test_single_reference_path_options_and_no_bootstrap(files):
    hyp, ref, _ = files
    report = evaluate_translation_files(str(hyp), str(ref), bootstrap=0, metrics=("bleu",), lowercase=True,
                                        tokenize="intl")
    assert set(report["metrics"]) == {"bleu"} and "intervals" not in report
    assert report["metrics"]["bleu"] == sacrebleu.corpus_bleu(HYP, [REF], lowercase=True, tokenize="intl").score
    assert "|case:lc|" in report["signatures"]["bleu"] and "|tok:intl|" in report["signatures"]["bleu"]


def test_empty_lines_keep_alignment(tmp_path):
    hyp = write(tmp_path / "sys.txt", [HYP[0], "", HYP[2]])
    ref = write(tmp_path / "ref.txt", [REF[0], REF[1], REF[2]], newline="\r\n", final=False)
    report = evaluate_translation_files(hyp, [ref], bootstrap=0)
    assert report["n"] == 3
    assert report["metrics"]["bleu"] == sacrebleu.corpus_bleu([HYP[0], "", HYP[2]], [REF[:3]]).score


def test_seeded_intervals_are_deterministic(files):
    hyp, ref, _ = files
    a = evaluate_translation_files(hyp, ref, bootstrap=100, seed=5, metrics=("chrf",))
    b = evaluate_translation_files(hyp, ref, bootstrap=100, seed=5, metrics=("chrf",))
    assert a == b


def test_mismatched_line_counts_name_both_files(tmp_path, files):
    hyp, ref, _ = files
    short = write(tmp_path / "short_ref.txt", REF[:-2])
    with pytest.raises(InputError) as err:
        evaluate_translation_files(hyp, [ref, short])
    message = str(err.value)
    assert f"{hyp} has 12 lines but {short} has 10" in message and "\n" not in message


@pytest.mark.parametrize("case,match", [
    ("empty_hyp", r"sys\.txt is empty"),
    ("blank_ref", r"blank\.txt has only empty lines"),
    ("no_refs", r"no reference file given"),
    ("latin_ref", r"latin\.txt is not valid UTF-8"),
    ("bad_metric", r"metrics must be distinct names"),
])
def test_input_errors(tmp_path, files, case, match):
    hyp, ref, _ = files
    refs = [ref]
    if case == "empty_hyp":
        hyp = write(tmp_path / "sys.txt", [], final=False)
    elif case == "blank_ref":
        refs = [write(tmp_path / "blank.txt", [""] * len(HYP))]
    elif case == "no_refs":
        refs = []
    elif case == "latin_ref":
        (tmp_path / "latin.txt").write_bytes("\n".join(REF).replace("'", "\u00e9").encode("latin-1"))
        refs = [tmp_path / "latin.txt"]
    kwargs = {"metrics": ("bleu", "rouge")} if case == "bad_metric" else {}
    with pytest.raises(InputError, match=match):
        evaluate_translation_files(hyp, refs, **kwargs)


# --------------------------------------------------------------------------------------------------
# Terminal rendering (from the JSON alone)
# --------------------------------------------------------------------------------------------------


def test_render_summary_from_saved_json(files):
    hyp, ref, ref2 = files
    report = json.loads(json.dumps(evaluate_translation_files(hyp, [ref, ref2], bootstrap=50,
                                                              chrf_word_order=2)))
    console = Console(record=True, width=200, color_system=None)
    render_translation_summary(report, console)
    text = console.export_text()
    assert "chrF2++" in text and "TER (lower is better)" in text and "95% CI" in text
    low, high = report["intervals"]["bleu"]
    assert f"[{low:.2f}, {high:.2f}]" in text
    for signature in report["signatures"].values():
        assert signature in text  # printed whole, with rich markup escaped
    assert "50 resamples, seed 12345" in text


def test_render_summary_without_intervals(files):
    hyp, ref, _ = files
    report = evaluate_translation_files(hyp, ref, bootstrap=0, metrics=("bleu",))
    console = Console(record=True, width=200, color_system=None)
    render_translation_summary(report, console)
    text = console.export_text()
    assert "not computed" in text and "BLEU|nrefs:1|" in text


# --------------------------------------------------------------------------------------------------
# Findings and verdict; --src / --train-src through the CLI
# --------------------------------------------------------------------------------------------------


def _cli(argv, capsys):
    from attnlab.cli import main

    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_report_carries_findings_and_verdict(files):
    hyp, ref, _ = files
    report = evaluate_translation_files(hyp, ref, bootstrap=0)
    assert [f["code"] for f in report["findings"]] == ["small_test_set"]  # 12 segments; a warning only
    assert report["verdict"]["ready"] is True and report["verdict"]["reasons"] == []
    assert report["diagnostics"]["leakage"] == [] and "src" not in report["details"]["inputs"]


def test_cli_src_and_train_src_find_leakage(tmp_path, files, capsys):
    jsonschema = pytest.importorskip("jsonschema")
    from attnlab.report.schema import load_schema

    hyp, ref, _ = files
    src = write(tmp_path / "src.txt", REF2)
    train = write(tmp_path / "train_src.txt", _corpus("sys_poor") + [s.upper() for s in REF2[:4]])
    out, html = tmp_path / "report.json", tmp_path / "report.html"
    code, stdout, _ = _cli(["evaluate", "--hyp", str(hyp), "--ref", str(ref), "--src", str(src), "--train-src",
                            str(train), "--bootstrap", "50", "--out", str(out), "--html", str(html)], capsys)
    assert code == 0
    report = json.loads(out.read_text())
    assert not list(jsonschema.Draft202012Validator(load_schema()).iter_errors(report))
    leak = report["findings"][0]
    assert leak["code"] == "source_leakage_exact" and leak["severity"] == "error" and leak["evidence"]["segments"] == 4
    assert report["verdict"]["ready"] is False
    assert report["verdict"]["reasons"][0].startswith("test sources appear in training: BLEU is inflated (4 of 12")
    assert report["details"]["inputs"]["src"]["lines"] == 12 and report["details"]["inputs"]["train_src"]["lines"] == 34
    assert stdout.startswith("NOT READY") and stdout.index("source_leakage_exact") < stdout.index("Translation metrics")
    page = html.read_text(encoding="utf-8")
    assert 'data-ready="false"' in page and page.index("source_leakage_exact") < page.index('id="metrics"')


def test_cli_src_without_training_data(tmp_path, files, capsys):
    hyp, ref, _ = files
    src = write(tmp_path / "src.txt", REF2)
    out = tmp_path / "report.json"
    assert _cli(["evaluate", "--hyp", str(hyp), "--ref", str(ref), "--src", str(src), "--bootstrap", "0",
                 "--out", str(out)], capsys)[0] == 0
    report = json.loads(out.read_text())
    assert report["verdict"]["ready"] and not any(f["code"].startswith("source_leakage") for f in report["findings"])


@pytest.mark.parametrize("case,match", [
    ("short_src", r"src\.txt has 10 lines but .*sys\.txt has 12; line i of the source file"),
    ("train_without_src", r"--train-src needs --src"),
    ("empty_train", r"train_src\.txt is empty"),
    ("src_with_predictions", r"translation evaluation takes --hyp SYS\.txt and --ref REF\.txt"),
])
def test_cli_bad_src_input_is_one_line(tmp_path, files, capsys, case, match):
    hyp, ref, _ = files
    src = write(tmp_path / "src.txt", REF2[:10] if case == "short_src" else REF2)
    train = write(tmp_path / "train_src.txt", [] if case == "empty_train" else REF2, final=False)
    argv = {"short_src": ["--hyp", str(hyp), "--ref", str(ref), "--src", str(src)],
            "train_without_src": ["--hyp", str(hyp), "--ref", str(ref), "--train-src", str(train)],
            "empty_train": ["--hyp", str(hyp), "--ref", str(ref), "--src", str(src), "--train-src", str(train)],
            "src_with_predictions": [str(ref), "--src", str(src)]}[case]
    code, _, err = _cli(["evaluate", *argv, "--bootstrap", "0"], capsys)
    assert code == 2 and err.count("\n") == 1 and re.search(match, err), err
