"""End to end through the command line: `attnlab train --task translate` on a small parallel corpus, its run
directory and report (checked against sacreBLEU), `attnlab translate` reproducing the test translations after
save/load, determinism, the input formats, and bad input (one line, exit 2, nothing written)."""

import csv
import io
import json
import re
import shutil
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import sacrebleu
import torch

from attnlab.cli import main
from attnlab.data.parallel import read_parallel
from attnlab.report.schema import check_report, load_schema

jsonschema = pytest.importorskip("jsonschema")

TINY = ["--epochs", "2", "--d-model", "32", "--heads", "2", "--layers", "1", "--d-ff", "64", "--vocab-size", "400",
        "--beam", "2", "--max-new-tokens", "24", "--batch-tokens", "2000", "--precision", "fp32"]
TIMING = {"seconds", "elapsed_seconds", "train_target_tokens_per_s"}  # the only fields allowed to differ
RUN_FILES = {"config.json", "model.safetensors", "tokenizer.json", "history.jsonl", "translations.csv", "report.json",
             "report.html"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """300 pairs drawn at random from the shipped sample, as a TSV (src, tgt, book)."""
    folder = tmp_path_factory.mktemp("corpus")
    sample = read_parallel("bible-en-de-sample")
    rows = sorted(np.random.default_rng(0).choice(len(sample), 300, replace=False).tolist())
    pairs = SimpleNamespace(sources=[sample.sources[i] for i in rows], targets=[sample.targets[i] for i in rows],
                            groups=[sample.groups[i] for i in rows], dir=folder)
    pairs.tsv = folder / "pairs.tsv"
    with open(pairs.tsv, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["src", "tgt", "book"])
        writer.writerows(zip(pairs.sources, pairs.targets, pairs.groups))
    return pairs


def train(data, out, *flags) -> int:
    return main(["train", str(data), "--task", "translate", *TINY, "--out", str(out), *flags])


@pytest.fixture(scope="module")
def run_dir(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    assert train(corpus.tsv, out) == 0
    return out


def read_translations(run):
    with open(run / "translations.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_history(run):
    return [json.loads(line) for line in (run / "history.jsonl").read_text(encoding="utf-8").splitlines()]


def translate(argv, capsys) -> str:
    capsys.readouterr()
    assert main(["translate", *argv]) == 0
    return capsys.readouterr().out


def lines_of(hypotheses) -> str:
    return "".join(h + "\n" for h in hypotheses)


# ------------------------------------------------------------------------------------------------ the run


def test_run_directory_is_complete(run_dir):
    assert {p.name for p in run_dir.iterdir()} == RUN_FILES
    assert not [p for p in run_dir.parent.iterdir() if p.name.endswith(".partial")]
    history = read_history(run_dir)
    assert [h["epoch"] for h in history] == [1, 2]
    assert all({"train_loss", "val_loss", "val_bleu", "val_chrf", "lr", "best"} <= set(h) for h in history)
    meta = json.loads((run_dir / "config.json").read_text())
    assert meta["task"] == "translate" and meta["config"]["model"]["tie_embeddings"] == "all"
    assert set(meta["files"]) == {"model.safetensors", "tokenizer.json"}


def test_report_is_valid_and_its_metrics_are_sacrebleus(run_dir, corpus):
    report = json.loads((run_dir / "report.json").read_text())
    check_report(report)
    jsonschema.Draft202012Validator(load_schema()).validate(report)
    rows = read_translations(run_dir)
    data = report["run"]["data"]
    assert report["task"] == "translation" and report["n"] == len(rows) == data["split"]["test"] > 0
    assert sum(data["split"][p] for p in ("train", "val", "test")) == 300 and data["strategy"] == "random-grouped"
    for r in rows:  # each row is the test pair at that row of the data file
        assert (r["source"], r["reference"]) == (corpus.sources[int(r["id"])], corpus.targets[int(r["id"])])
    hyps, refs = [r["hypothesis"] for r in rows], [[r["reference"] for r in rows]]
    m = report["metrics"]
    assert m["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, refs).score, abs=1e-9)
    assert m["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, refs).score, abs=1e-9)
    assert m["ter"] == pytest.approx(sacrebleu.corpus_ter(hyps, refs).score, abs=1e-9)
    bleu = sacrebleu.BLEU()
    bleu.corpus_score(hyps, refs)
    assert report["signatures"]["bleu"] == str(bleu.get_signature())
    assert report["run"]["decoding"]["hit_max_length"] == sum(int(r["hit_max_length"]) for r in rows)
    # findings and verdict: two epochs of a 40k-parameter model are not a translator
    assert report["findings"] and all({"code", "severity", "message", "evidence"} <= set(f) for f in report["findings"])
    assert report["verdict"]["ready"] is False and report["verdict"]["reasons"]
    assert "BLEU" in (run_dir / "report.html").read_text(encoding="utf-8")


def test_best_epoch_is_the_validation_best(run_dir):
    report = json.loads((run_dir / "report.json").read_text())
    history = read_history(run_dir)
    best = max(history, key=lambda h: h["val_bleu"])  # first of equals: later epochs must improve strictly
    assert report["run"]["training"]["best_epoch"] == best["epoch"]
    assert report["run"]["training"]["epochs_run"] == 2


# ------------------------------------------------------------------------------------------------ translate


def test_translate_reproduces_the_test_translations(run_dir, capsys):
    rows = read_translations(run_dir)
    out = translate([str(run_dir), *[r["source"] for r in rows]], capsys)
    assert out == lines_of(r["hypothesis"] for r in rows)


def test_translate_from_a_file_and_from_stdin(run_dir, tmp_path, capsys, monkeypatch):
    rows = read_translations(run_dir)
    expected = lines_of(r["hypothesis"] for r in rows)
    text = "".join(r["source"] + "\n" for r in rows)
    (tmp_path / "src.txt").write_text(text, encoding="utf-8")
    assert translate([str(run_dir), "--file", str(tmp_path / "src.txt")], capsys) == expected
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    assert translate([str(run_dir)], capsys) == expected


def test_translate_greedy_equals_uncached_greedy_search_one_sentence_at_a_time(run_dir, capsys):
    from attnlab.data.subword import BOS_ID, EOS_ID, PAD_ID, decode_batch, encode_batch
    from attnlab.models.generate import generate
    from attnlab.train.checkpoint import load_translator

    sources = [r["source"] for r in read_translations(run_dir)][:6]
    out = translate([str(run_dir), "--beam", "1", *sources], capsys)  # texts after an option are texts too
    loaded = load_translator(run_dir)
    expected = []
    for text in sources:
        enc = encode_batch(loaded.src_tokenizer, [text], max_len=loaded.model.max_len, add_eos=True)
        src = torch.from_numpy(enc.ids)
        gen = generate(loaded.model, src, src != PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID, max_new_tokens=24,
                       beam_size=1, use_cache=False)
        expected += decode_batch(loaded.tgt_tokenizer, gen.tokens)
    assert out == lines_of(expected)


# ------------------------------------------------------------------------------------------------ determinism


def test_same_seed_same_run(run_dir, corpus, tmp_path):
    from safetensors.torch import load_file

    again = tmp_path / "again"
    assert train(corpus.tsv, again) == 0
    assert (again / "translations.csv").read_bytes() == (run_dir / "translations.csv").read_bytes()
    strip = [{k: v for k, v in h.items() if k not in TIMING} for h in read_history(run_dir)]
    assert [{k: v for k, v in h.items() if k not in TIMING} for h in read_history(again)] == strip
    a, b = (json.loads((d / "report.json").read_text()) for d in (run_dir, again))
    assert (a["metrics"], a["intervals"], a["findings"], a["verdict"]) == \
           (b["metrics"], b["intervals"], b["findings"], b["verdict"])
    assert (again / "tokenizer.json").read_bytes() == (run_dir / "tokenizer.json").read_bytes()
    # The weights are equal; the file's bytes need not be: safetensors writes its header's metadata map in
    # hash order, which changes from process to process.
    wa, wb = load_file(str(run_dir / "model.safetensors")), load_file(str(again / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


# ------------------------------------------------------------------------------------------------ input formats

ONE_EPOCH = ["--epochs", "1"]


def test_two_aligned_txt_files(corpus, tmp_path):
    src, tgt = tmp_path / "en.txt", tmp_path / "de.txt"
    src.write_text("".join(s + "\n" for s in corpus.sources[:150]), encoding="utf-8")
    tgt.write_text("".join(t + "\r\n" for t in corpus.targets[:150]), encoding="utf-8")  # CRLF is fine
    out = tmp_path / "run"
    assert train(src, out, "--target-file", str(tgt), *ONE_EPOCH) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["data"]["n_pairs"] == 150 and report["run"]["config"]["data"]["target_file"] == str(tgt)
    for r in read_translations(out):
        assert (r["source"], r["reference"]) == (corpus.sources[int(r["id"])], corpus.targets[int(r["id"])])


def test_jsonl_with_named_columns(corpus, tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps({"id": i, "en": s, "de": t}, ensure_ascii=False) + "\n"
                            for i, (s, t) in enumerate(zip(corpus.sources[:150], corpus.targets[:150]))),
                    encoding="utf-8")
    out = tmp_path / "run"
    assert train(path, out, "--source-column", "en", "--target-column", "de", *ONE_EPOCH) == 0
    rows = read_translations(out)
    assert rows and all(r["reference"] == corpus.targets[int(r["id"])] for r in rows)


def test_separate_vocabularies_round_trip(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(corpus.tsv, out, "--separate-vocab", *ONE_EPOCH) == 0
    names = {p.name for p in out.iterdir()}
    assert {"tokenizer_src.json", "tokenizer_tgt.json"} <= names and "tokenizer.json" not in names
    meta = json.loads((out / "config.json").read_text())
    assert meta["config"]["model"]["shared_vocab"] is False and meta["config"]["model"]["tie_embeddings"] == "decoder"
    assert set(meta["files"]) == {"model.safetensors", "tokenizer_src.json", "tokenizer_tgt.json"}
    rows = read_translations(out)
    assert translate([str(out), *[r["source"] for r in rows]], capsys) == lines_of(r["hypothesis"] for r in rows)


def test_group_column_holds_out_whole_groups(corpus, tmp_path):
    out = tmp_path / "run"
    assert train(corpus.tsv, out, "--group-column", "book", *ONE_EPOCH) == 0
    data = json.loads((out / "report.json").read_text())["run"]["data"]
    assert data["strategy"] == "held-out-groups"
    val, test = set(data["held_out"]["val"]), set(data["held_out"]["test"])
    assert val and test and not val & test and (val | test) < set(corpus.groups)
    ids = {int(r["id"]) for r in read_translations(out)}
    assert ids == {i for i, g in enumerate(corpus.groups) if g in test}  # every pair of the test groups, no other
    assert data["split"]["val"] == sum(g in val for g in corpus.groups)


# ------------------------------------------------------------------------------------------------ bad input


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def txt_pair(d, src_lines, tgt_lines):
    write(d / "tgt.txt", "".join(t + "\n" for t in tgt_lines))
    return [str(write(d / "src.txt", "".join(s + "\n" for s in src_lines))), "--target-file", str(d / "tgt.txt")]


LINES = [f"sentence number {i}" for i in range(12)]
BAD_TRAIN = {
    "misaligned txt files": (lambda d: txt_pair(d, LINES, LINES[:11]), r"has 12 lines but .*tgt\.txt has 11"),
    "empty source line": (lambda d: txt_pair(d, LINES[:3] + [""] + LINES[4:], LINES), r"src\.txt.*line 4"),
    "empty target line": (lambda d: txt_pair(d, LINES, LINES[:5] + ["  "] + LINES[6:]), r"tgt\.txt.*line 6"),
    "source-only table": (lambda d: [str(write(d / "s.tsv", "src\n" + "".join(s + "\n" for s in LINES)))],
                          r"no target column 'tgt'.*--target-column"),
    "two groups only": (lambda d: [str(write(d / "g.tsv", "src\ttgt\tdoc\n" + "".join(
        f"{s}\t{s}\t{i % 2}\n" for i, s in enumerate(LINES)))), "--group-column", "doc"], r"2 distinct group\(s\)"),
    "unknown built-in": (lambda d: ["bible-en-xx"], r"'bible-en-xx' is neither a file nor a built-in"),
    "--batch-size": (lambda d: [str(d / "never-read.tsv"), "--batch-size", "16"], r"--batch-size .*--batch-tokens"),
    "--pooling": (lambda d: [str(d / "never-read.tsv"), "--pooling", "max"], r"--pooling applies to classification only"),
    "--ema-decay 1": (lambda d: [str(d / "never-read.tsv"), "--ema-decay", "1.0"], r"ema_decay must be in \[0, 1\)"),
    "--monitor accuracy": (lambda d: [str(d / "never-read.tsv"), "--monitor", "accuracy"], r"bleu or val_loss"),
    "heads do not divide d_model": (lambda d: [str(d / "never-read.tsv"), "--d-model", "30", "--heads", "4"],
                                    r"n_heads=4"),
}


def one_line_error(capsys, code, pattern):
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("attnlab: error: ") and "Traceback" not in err, err
    assert re.search(pattern, err), err


@pytest.mark.parametrize("case", list(BAD_TRAIN))
def test_bad_training_input_is_one_line_exit_2_and_nothing_written(case, tmp_path, capsys):
    make, pattern = BAD_TRAIN[case]
    argv = make(tmp_path)
    out = tmp_path / "out" / "run"
    capsys.readouterr()
    code = main(["train", argv[0], "--task", "translate", *TINY, "--out", str(out), *argv[1:]])
    one_line_error(capsys, code, pattern)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_fetching_an_unknown_dataset_is_one_line(capsys):
    one_line_error(capsys, main(["data", "fetch", "bible-en-xx"]), r"unknown dataset 'bible-en-xx'")


@pytest.fixture
def classifier_dir(tmp_path):
    """A classifier's run directory, written by the classifier's own checkpoint writer."""
    from attnlab.config import preset
    from attnlab.train.checkpoint import save_classifier

    folder = tmp_path / "classifier"
    folder.mkdir()
    save_classifier(folder, torch.nn.Linear(2, 2), preset("tiny"), labels=["a", "b"], positive_label="b",
                    vocab_size=10, pad_id=0)
    write(folder / "tokenizer.json", "{}")
    return folder


def tampered(run_dir, tmp_path, name):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    blob = bytearray((copy / name).read_bytes())
    blob[-2] ^= 0x01
    (copy / name).write_bytes(bytes(blob))
    return copy


BAD_TRANSLATE = {
    "classifier run": (lambda run, d, cls: [str(cls), "hello"], r"holds a classifier.*attnlab predict"),
    "no config.json": (lambda run, d, cls: [str(d), "hello"], r"not an attnlab run directory \(config\.json"),
    "tampered weights": (lambda run, d, cls: [str(tampered(run, d, "model.safetensors")), "hello"],
                         r"model\.safetensors does not match the size/sha256"),
    "tampered tokenizer": (lambda run, d, cls: [str(tampered(run, d, "tokenizer.json")), "hello"],
                           r"tokenizer\.json does not match the size/sha256"),
    "damaged config.json": (lambda run, d, cls: [str(write(shutil.copytree(run, d / "c") / "config.json",
                                                           "[]").parent), "hello"], r"config\.json is damaged"),
    "blank line in --file": (lambda run, d, cls: [str(run), "--file", str(write(d / "in.txt", "one\n\nthree\n"))],
                             r"empty sentence at line 2 of 3"),
    "--beam 0": (lambda run, d, cls: [str(run), "hello", "--beam", "0"], r"beam_size must be a positive integer"),
    "--max-new-tokens 0": (lambda run, d, cls: [str(run), "hello", "--max-new-tokens", "0"],
                           r"max_new_tokens must be a positive integer"),
    "--max-new-tokens past max_len": (lambda run, d, cls: [str(run), "hello", "--max-new-tokens", "128"],
                                      r"below the model's max_len 128"),
}


@pytest.mark.parametrize("case", list(BAD_TRANSLATE))
def test_bad_translate_input_is_one_line_exit_2(case, run_dir, classifier_dir, tmp_path, capsys):
    make, pattern = BAD_TRANSLATE[case]
    argv = make(run_dir, tmp_path, classifier_dir)
    capsys.readouterr()
    one_line_error(capsys, main(["translate", *argv]), pattern)


def test_translate_without_any_input_asks_for_some(run_dir, capsys, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Terminal())
    capsys.readouterr()
    one_line_error(capsys, main(["translate", str(run_dir)]), r"no sentences given")
