"""A translation training run's report: a fake run directory written file by file as the recipe writes it
(no model is trained), then ``attnlab report`` / ``attnlab check`` on it and the terminal summary.

The run's report.html (rendered by ``render_report(run_dir)`` as the recipe does) is what ``attnlab report
RUN_DIR`` re-renders, byte for byte and without torch; the page shows the run card, the training curve
against elapsed minutes and the sources beside references and hypotheses, all dataset text escaped."""

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys

import pytest
from rich.console import Console

from attnlab.cli import main
from attnlab.diagnostics.translation_verdict import annotate_translation
from attnlab.io import atomic_write_csv, atomic_write_json
from attnlab.recipes.evaluate_translation import score_translations
from attnlab.recipes.report import load_for_report, read_translations, render_report
from attnlab.report.translation_terminal import render_translation_summary

SCRIPT = "He said <script>alert(1)</script> & left."
N = 40
HISTORY = [  # three epochs, the second one selected (best validation BLEU)
    {"epoch": 1, "step": 50, "train_loss": 6.1, "val_loss": 5.2, "val_bleu": 4.5, "val_chrf": 20.1, "lr": 1e-3,
     "seconds": 60.0, "elapsed_seconds": 60.0, "train_target_tokens_per_s": 1000.0, "best": True},
    {"epoch": 2, "step": 100, "train_loss": 4.2, "val_loss": 4.0, "val_bleu": 12.25, "val_chrf": 35.5, "lr": 8e-4,
     "seconds": 60.0, "elapsed_seconds": 120.0, "train_target_tokens_per_s": 1100.0, "best": True},
    {"epoch": 3, "step": 150, "train_loss": 3.5, "val_loss": 4.1, "val_bleu": 11.0, "val_chrf": 34.0, "lr": 4e-4,
     "seconds": 60.0, "elapsed_seconds": 180.0, "train_target_tokens_per_s": 1200.0, "best": False},
]


def _segments():
    sources = [f"The man number {i} went to the town and bought {i % 7 + 2} loaves of bread." for i in range(N)]
    refs = [f"Der Mann Nummer {i} ging in die Stadt und kaufte {i % 7 + 2} Brote." for i in range(N)]
    hyps = list(refs)
    for i in range(0, N, 5):  # a fifth of the outputs differ a little
        hyps[i] = f"Der Mann Nummer {i} ging zur Stadt und kaufte {i % 7 + 2} Brote."
    sources[3] = SCRIPT
    return sources, refs, hyps


def _run_block(n_test):
    config = {"task": "translate", "preset": "mt-tiny",
              "model": {"d_model": 64, "n_heads": 4, "n_encoder_layers": 2, "n_decoder_layers": 1, "d_ff": 256,
                        "dropout": 0.1, "vocab_size": 2000, "shared_vocab": True, "tie_embeddings": "all",
                        "max_len": 128},
              "train": {"epochs": 3, "batch_tokens": 2000, "lr": 0.002, "warmup_steps": 100, "label_smoothing": 0.1,
                        "monitor": "bleu", "precision": "auto", "seed": 0},
              "decode": {"beam_size": 4, "length_penalty": 1.0, "max_new_tokens": 126, "batch_size": 64},
              "data": {"source": "bible-en-de-sample"}, "device": "auto"}
    return {"attnlab_version": "0.1.0", "created": "2026-01-02T03:04:05+00:00", "torch_version": "2.13.0+cpu",
            "python": "3.11.7", "device": "cpu", "precision": "bf16", "config": config, "n_parameters": 1234567,
            "data": {"source": "bible-en-de-sample", "n_pairs": 400, "split": {"train": 320, "val": 40, "test": n_test,
                                                                             "excluded": 0},
                     "strategy": "held-out-groups", "held_out": {"val": ["Jonah", "Jude"], "test": ["Ruth", "Micah"]},
                     "split_fingerprint": "0123456789abcdef",
                     "split_notes": ["held out whole groups: val Jonah, Jude; test Ruth, Micah",
                                     "1 source text(s) occur in both val and test (kept: both are held out)"],
                     "truncated": {"train": {"source": 2, "target": 1}, "val": {"source": 0, "target": 0},
                                   "test": {"source": 0, "target": 0}}},
            "training": {"best_epoch": 2, "epochs_run": 3, "stopped_early": True, "monitor": "bleu",
                         "selected_on": "validation", "seconds": 180.4},
            "decoding": {"beam_size": 4, "length_penalty": 1.0, "max_new_tokens": 126, "seconds": 3.3,
                         "sentences_per_second": 12.13, "hit_max_length": 1, "sources_truncated": 0},
            "seconds_total": 200.0}


def write_translation_run(folder):
    """A run directory as ``train_translation`` writes it (minus the model): config.json, history.jsonl,
    translations.csv, report.json, then report.html through ``render_report``."""
    folder.mkdir(parents=True)
    sources, refs, hyps = _segments()
    hit = [i == 7 for i in range(N)]
    report = score_translations(hyps, [refs], bootstrap=100, seed=0)
    report["run"] = _run_block(N)
    report["details"]["inputs"] = {"translations": "translations.csv"}
    annotate_translation(report, sources=sources, hypotheses=hyps, references=[refs], hit_max_length=hit)
    atomic_write_json(folder / "config.json", report["run"]["config"])
    (folder / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in HISTORY), encoding="utf-8")
    atomic_write_csv(folder / "translations.csv", ["id", "source", "reference", "hypothesis", "hit_max_length"],
                     ([1000 + i, s, r, h, int(c)] for i, (s, r, h, c) in enumerate(zip(sources, refs, hyps, hit))))
    atomic_write_json(folder / "report.json", report)
    render_report(folder)
    return folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return write_translation_run(tmp_path_factory.mktemp("mt") / "run")


@pytest.fixture(scope="module")
def page(run_dir):
    return (run_dir / "report.html").read_text(encoding="utf-8")


def _section(html, name):
    start = html.index(f'<section id="{name}"')
    return html[start:html.index("</section>", start)]


def cli(args, capsys):
    """Exit code, stdout with rich's line wrapping undone, stderr."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, " ".join(out.split()), err.strip()


# --------------------------------------------------------------------------------------------------
# load_for_report and the re-render
# --------------------------------------------------------------------------------------------------


def test_load_for_report_reads_translations_and_history(run_dir):
    report, history, samples, out = load_for_report(run_dir)
    assert report["task"] == "translation" and out == run_dir / "report.html"
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert len(samples) == N and samples[3]["source"] == SCRIPT and samples[0]["id"] == "1000"
    assert samples[7]["hit_max_length"] is True and samples[6]["hit_max_length"] is False
    assert load_for_report(run_dir / "report.json")[1:3] == (history, samples)  # the report file: same inputs


def test_read_translations_needs_its_columns(tmp_path):
    (tmp_path / "t.csv").write_text("id,hypothesis\n1,hallo\n", encoding="utf-8")
    assert read_translations(tmp_path / "t.csv") is None
    assert read_translations(tmp_path / "missing.csv") is None


def test_rerender_is_byte_identical_without_torch(run_dir, tmp_path):
    """`attnlab report RUN_DIR` (and its report.json) in a fresh interpreter: the page the run wrote."""
    code = ("import sys; from attnlab.cli import main; "
            "rc = main(['report', sys.argv[1], '--out', sys.argv[2]]) or main(['report', sys.argv[3], '--out', "
            "sys.argv[4]]); assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    outs = [tmp_path / "again.html", tmp_path / "from-json.html"]
    proc = subprocess.run([sys.executable, "-c", code, str(run_dir), str(outs[0]), str(run_dir / "report.json"),
                           str(outs[1])], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    written = (run_dir / "report.html").read_bytes()
    assert outs[0].read_bytes() == written and outs[1].read_bytes() == written


# --------------------------------------------------------------------------------------------------
# The HTML page
# --------------------------------------------------------------------------------------------------


def test_run_card(page):
    card = _section(page, "run")
    for text in ("d_model 64 · 4 heads · 2 encoder + 1 decoder layers · d_ff 256", "1,234,567 (1.23 M)",
                 "bf16 (requested auto) on cpu", "train 320 · val 40 · test 40",
                 "val: Jonah, Jude; test: Ruth, Micah", "1 source text(s) occur in both val and test",
                 "train: 2 sources, 1 targets", "0123456789abcdef", "3.0 min", "stopped early",
                 "1,100 target tokens/s", "beam 4, length penalty 1.0, at most 126 new tokens",
                 "12.13 sentences/s", "1 of 40"):
        assert text in card, text
    assert card.count("held out whole groups") == 0  # said once, by the held-out books row


def test_training_curve_against_minutes_with_selected_epoch(page):
    training = _section(page, "training")
    assert "plot-training" in training
    svg = training[training.index("<svg"):training.index("</svg>")]
    for text in ("training time (minutes)", "selected epoch 2 (2.0 min)", "BLEU", "chrF", "train loss",
                 "validation loss"):
        assert text in svg, text
    assert "saved model is from epoch 2 (best validation bleu); stopped early" in training
    assert 'href="#run"' in page and 'href="#training"' in page


def test_samples_show_source_reference_hypothesis_escaped(page):
    samples = _section(page, "samples")
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", samples)
    assert headers == ["#", "source", "reference", "hypothesis"]
    assert "first 20 of 40 segments; all of them in translations.csv" in samples
    assert "The man number 0 went to the town" in samples and "Der Mann Nummer 5 ging zur Stadt" in samples
    assert "<script" not in page and "He said &lt;script&gt;alert(1)&lt;/script&gt; &amp; left." in samples
    assert "(stopped at the maximum length)" in samples  # segment 8 (index 7) hit the limit
    assert "plot-lengths" in _section(page, "lengths")


def test_run_without_history_or_translations_still_renders(run_dir, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(run_dir, bare)
    (bare / "history.jsonl").unlink()
    (bare / "translations.csv").unlink()
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["report", str(bare)]) == 0
    html = (bare / "report.html").read_text(encoding="utf-8")
    assert "history.jsonl is not in the run directory" in html and "translations.csv is not in the run" in html
    assert "<svg" not in _section(html, "training") and "1,234,567" in html


def test_evaluation_with_sources_shows_them_beside_the_segments(tmp_path):
    for name, text in (("hyp", "ein Haus\nzwei <b>Katzen</b>\n"), ("ref", "ein Haus\nzwei Katzen\n"),
                       ("src", "a house\ntwo <i>cats</i>\n")):
        (tmp_path / f"{name}.txt").write_text(text, encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["evaluate", "--hyp", str(tmp_path / "hyp.txt"), "--ref", str(tmp_path / "ref.txt"), "--src",
                     str(tmp_path / "src.txt"), "--bootstrap", "0", "--html", str(tmp_path / "e.html")]) == 0
    samples = _section((tmp_path / "e.html").read_text(encoding="utf-8"), "samples")
    assert re.findall(r"<th[^>]*>([^<]*)</th>", samples) == ["#", "source", "reference", "hypothesis"]
    assert "two &lt;i&gt;cats&lt;/i&gt;" in samples and "zwei &lt;b&gt;Katzen&lt;/b&gt;" in samples
    assert 'id="run"' not in samples and "translations.csv" not in samples


def test_training_curve_falls_back_to_epochs():
    from attnlab.report.plots import translation_training_svg

    svg = translation_training_svg([{k: v for k, v in h.items() if k != "elapsed_seconds"} for h in HISTORY], 3)
    assert ">epoch<" in svg and "selected epoch 3<" in svg and "minutes" not in svg


# --------------------------------------------------------------------------------------------------
# Schema and terminal
# --------------------------------------------------------------------------------------------------


def test_run_report_validates_against_the_schema(run_dir):
    jsonschema = pytest.importorskip("jsonschema")
    from attnlab.report.schema import load_schema

    validator = jsonschema.Draft202012Validator(load_schema())
    report = json.loads((run_dir / "report.json").read_text())
    assert list(validator.iter_errors(report)) == []
    broken = json.loads(json.dumps(report))
    del broken["run"]["decoding"]["beam_size"]
    broken["run"]["data"]["split"]["test"] = -1
    paths = sorted(str(list(e.absolute_path)) for e in validator.iter_errors(broken))
    assert paths == ["['run', 'data', 'split', 'test']", "['run', 'decoding']"]
    classification_shaped = json.loads(json.dumps(report))
    classification_shaped["run"]["data"] = {"source": "x", "n_rows": 5, "n_train": 3, "n_val": 1, "n_test": 1}
    assert list(validator.iter_errors(classification_shaped))  # a translation run has pairs and a split


def test_terminal_run_line(run_dir):
    report = json.loads((run_dir / "report.json").read_text())
    console = Console(record=True, width=250, color_system=None)
    render_translation_summary(report, console)
    text = console.export_text()
    assert ("Run bible-en-de-sample: 400 pairs -> train 320, val 40, test 40 (held-out-groups); best epoch 2 of 3, "
            "training 3.0 min; decoding beam 4, 12.1 sentences/s") in text
    assert text.index("Run bible") < text.index("Translation metrics")
    del report["run"]
    console = Console(record=True, width=250, color_system=None)
    render_translation_summary(report, console)
    assert "Run " not in console.export_text()


# --------------------------------------------------------------------------------------------------
# attnlab check on a translation run
# --------------------------------------------------------------------------------------------------


def test_check_follows_the_stored_verdict_and_bleu_bar(run_dir, tmp_path, capsys):
    report = json.loads((run_dir / "report.json").read_text())
    bleu = report["metrics"]["bleu"]
    assert report["verdict"]["ready"] is True  # close outputs of the right length: nothing blocks
    code, out, _ = cli(["check", run_dir, "--out", tmp_path / "v.json"], capsys)
    assert code == 0 and out.startswith("READY") and "findings stored in the report" in out
    code, out, _ = cli(["check", run_dir / "report.json", "--min-bleu", "99.5", "--min-chrf", "1"], capsys)
    assert code == 1 and out.startswith(f"NOT READY — BLEU is {bleu:.2f}, below the required 99.5")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"min_chrf": 100}))
    code, out, _ = cli(["check", run_dir, "--policy", policy, "--out", tmp_path / "v.json"], capsys)
    assert code == 1 and "chrF is" in out
    saved = json.loads((tmp_path / "v.json").read_text())
    assert saved["verdict"]["policy"] == {"min_bleu": None, "min_chrf": 100, "block_on_findings": True}


def test_check_computes_findings_from_translations_csv(run_dir, tmp_path, capsys):
    looping = tmp_path / "looping"
    shutil.copytree(run_dir, looping)
    report = json.loads((looping / "report.json").read_text())
    del report["findings"], report["verdict"]
    (looping / "report.json").write_text(json.dumps(report))
    rows = read_translations(looping / "translations.csv")
    atomic_write_csv(looping / "translations.csv", ["id", "source", "reference", "hypothesis", "hit_max_length"],
                     ([r["id"], r["source"], r["reference"], "und und und und und und", 0] for r in rows))
    code, out, _ = cli(["check", looping], capsys)
    assert code == 1 and "loop on a repeated phrase" in out
    assert "computed from the report and translations.csv (training data not read: leakage not checked)" in out
    code, _, err = cli(["check", looping / "report.json"], capsys)  # no run directory: nothing to compute from
    assert code == 2 and "without stored findings" in err and err.count("\n") == 0


@pytest.mark.parametrize("flags, message", [
    (["--min-recall", "0.9"], "apply to classification reports"),
    (["--min-bleu", "101"], "score in [0, 100]"),
    (["--min-bleu", "high"], "invalid float value"),
])
def test_check_bad_flags_are_one_line_exit_2(run_dir, capsys, flags, message):
    code, out, err = cli(["check", run_dir, *flags], capsys)
    assert code == 2 and out == "" and err.startswith("attnlab: error: ") and message in err
    assert len(err.splitlines()) == 1


def test_check_does_not_import_torch(run_dir):
    code = ("import sys; from attnlab.cli import main; rc = main(['check', sys.argv[1], '--min-bleu', '100']); "
            "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("NOT READY")
