"""Translation under torchrun on CPU (gloo): a 2-process training run's report equals the single-process
decoding and scoring of its saved model exactly; only rank 0 writes; sharded decoding returns exactly the
single-process hypotheses; each rank trains on its own share of every epoch's batches; `--compile` trains."""

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import save_model

from attnlab.cli import main
from attnlab.data.parallel import read_parallel
from attnlab.data.subword import PAD_ID, encode_pairs, save_bpe, train_bpe
from attnlab.errors import InputError
from attnlab.models.seq2seq import Seq2SeqTransformer
from attnlab.recipes.evaluate_translation import score_translations
from attnlab.recipes.translate import translate_texts
from attnlab.train import seq2seq_loop
from attnlab.train.checkpoint import load_translator
from attnlab.train.distributed import SINGLE, DistContext
from attnlab.train.seq2seq_loop import _epoch_share, teacher_forced_loss, token_batches

CPU = torch.device("cpu")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TINY = ["--task", "translate", "--epochs", "2", "--d-model", "32", "--heads", "2", "--layers", "1", "--d-ff", "64",
        "--vocab-size", "400", "--beam", "2", "--max-new-tokens", "24", "--batch-tokens", "1000", "--precision", "fp32"]


def torchrun(*args, timeout=300):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def one_thread(fn, *args, **kwargs):
    """Run ``fn`` with one thread, as each worker does: the same kernels, the same bits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn(*args, **kwargs)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """240 pairs drawn at random from the shipped sample, as a TSV (src, tgt)."""
    sample = read_parallel("bible-en-de-sample")
    rows = sorted(np.random.default_rng(2).choice(len(sample), 240, replace=False).tolist())
    pairs = SimpleNamespace(sources=[sample.sources[i] for i in rows], targets=[sample.targets[i] for i in rows])
    pairs.tsv = tmp_path_factory.mktemp("corpus") / "pairs.tsv"
    with open(pairs.tsv, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(["src", "tgt"])
        writer.writerows(zip(pairs.sources, pairs.targets))
    return pairs


@pytest.fixture(scope="module")
def ddp_run(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "run"
    proc = torchrun("-m", "attnlab", "train", str(corpus.tsv), "--out", str(out), *TINY,
                    "--checkpoint-every", "5")  # mid-epoch checkpoints: a collective on every rank
    return out, proc


def test_two_processes_report_what_one_process_computes_from_the_saved_model(ddp_run, corpus):
    out, _ = ddp_run
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["run"]["processes"] == 2
    with open(out / "translations.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == report["n"] == report["run"]["data"]["split"]["test"] > 0
    for r in rows:  # each row is the test pair at that row of the data file
        assert (r["source"], r["reference"]) == (corpus.sources[int(r["id"])], corpus.targets[int(r["id"])])
    loaded = load_translator(out)
    decode = loaded.config.decode
    single = one_thread(translate_texts, loaded.model, loaded.src_tokenizer, loaded.tgt_tokenizer,
                        [r["source"] for r in rows], beam_size=decode.beam_size,
                        length_penalty=decode.length_penalty, max_new_tokens=decode.max_new_tokens,
                        batch_size=decode.batch_size, device=CPU, precision=loaded.config.train.precision)
    assert single.hypotheses == [r["hypothesis"] for r in rows]
    scored = score_translations(single.hypotheses, [[r["reference"] for r in rows]], seed=loaded.config.train.seed)
    assert scored["metrics"] == report["metrics"]  # BLEU, chrF, TER: exactly
    assert scored["intervals"] == report["intervals"]


def test_only_rank_zero_writes_and_the_history_is_global(ddp_run):
    out, proc = ddp_run
    history = [json.loads(line) for line in (out / "history.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [h["epoch"] for h in history] == [1, 2]  # one line per epoch, not one per rank
    assert proc.stdout.count("run directory:") == 1
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no partial folders left
    assert {p.name for p in out.iterdir()} == {"config.json", "model.safetensors", "tokenizer.json", "report.json",
                                               "report.html", "translations.csv", "history.jsonl"}
    assert all(h["train_loss"] > 0 and h["train_target_tokens_per_s"] > 0 for h in history)


def test_each_rank_trains_on_a_disjoint_equal_share_of_the_epoch():
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(1, 40, 300), rng.integers(1, 40, 300)
    batches = token_batches(src, tgt, 200, np.random.default_rng(3))
    assert len(batches) % 4  # some batches are left over
    shares = [_epoch_share(batches, DistContext(rank=r, world_size=4)) for r in range(4)]
    assert len({len(s) for s in shares}) == 1 and len(shares[0]) == len(batches) // 4  # the same step count
    rows = np.concatenate([b for s in shares for b in s])
    assert len(rows) == len(set(rows.tolist()))  # no pair twice in one epoch
    assert _epoch_share(batches, SINGLE) is batches
    with pytest.raises(InputError, match="fewer than the 4 processes"):
        _epoch_share(batches[:3], DistContext(rank=0, world_size=4))


def test_the_batches_of_one_step_have_neighbouring_lengths():
    """Grouped for 2 processes: the same batches as the plain shuffle, but each step's pair costs about the same."""
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(1, 80, 2000), rng.integers(1, 80, 2000)
    lengths = np.maximum(src, tgt)
    plain = token_batches(src, tgt, 301, np.random.default_rng(5))
    grouped = token_batches(src, tgt, 301, np.random.default_rng(5), group=2)
    assert len(plain) % 2  # an incomplete last run exists and must not shift the pairs
    assert sorted(map(tuple, (b.tolist() for b in plain))) == sorted(map(tuple, (b.tolist() for b in grouped)))

    def shares(batches):
        return [_epoch_share(batches, DistContext(rank=r, world_size=2)) for r in range(2)]

    def step_gaps(ranks):
        return np.array([abs(int(lengths[a].max()) - int(lengths[b].max())) for a, b in zip(*ranks)])

    grouped_shares = shares(grouped)
    gaps, random_gaps = step_gaps(grouped_shares), step_gaps(shares(plain))
    assert np.median(gaps) <= 1 and gaps.mean() < 0.2 * random_gaps.mean()
    assert not any(grouped[-1] is b for s in grouped_shares for b in s)  # the incomplete run (last) is the one left out
    check_order = token_batches(src, tgt, 301, np.random.default_rng(5), group=2)
    assert [b.tolist() for b in check_order] == [b.tolist() for b in grouped]  # seeded


SHARDED_DECODE = """
    import json, sys, torch
    from safetensors.torch import load_model
    from attnlab.data.subword import PAD_ID, encode_pairs, load_bpe
    from attnlab.models.seq2seq import Seq2SeqTransformer
    from attnlab.recipes.translate import translate_texts
    from attnlab.train.distributed import setup
    from attnlab.train.seq2seq_loop import teacher_forced_loss

    folder = sys.argv[1]
    ctx, _ = setup("cpu")
    tok = load_bpe(folder + "/tokenizer.json")
    model = Seq2SeqTransformer(**json.load(open(folder + "/shape.json")))
    load_model(model, folder + "/model.safetensors")
    pairs = json.load(open(folder + "/pairs.json"))
    out = {}
    for beam in (1, 3):
        t = translate_texts(model, tok, tok, pairs["sources"], beam_size=beam, length_penalty=1.0, max_new_tokens=12,
                            batch_size=4, device=torch.device("cpu"), ctx=ctx)
        out[beam] = [t.hypotheses, t.hit_max_length]
    enc = encode_pairs(tok, pairs["sources"], pairs["targets"], max_src_len=48, max_tgt_len=48)
    out["loss"] = teacher_forced_loss(model, enc, batch_tokens=200, pad_id=PAD_ID, device=torch.device("cpu"), ctx=ctx)
    json.dump(out, open(f"{folder}/rank{ctx.rank}.json", "w"))
"""


def test_sharded_decoding_gives_exactly_the_single_process_hypotheses(corpus, tmp_path):
    sources, targets = corpus.sources[:37], corpus.targets[:37]  # 10 batches of 4 (the last short), dealt to 2
    tok = train_bpe(corpus.sources + corpus.targets, vocab_size=300)
    save_bpe(tok, tmp_path / "tokenizer.json")
    shape = {"src_vocab_size": tok.get_vocab_size(), "tgt_vocab_size": tok.get_vocab_size(), "d_model": 32,
             "n_heads": 2, "n_encoder_layers": 1, "n_decoder_layers": 1, "d_ff": 64, "max_len": 48, "pad_id": PAD_ID}
    torch.manual_seed(0)
    model = Seq2SeqTransformer(**shape).eval()
    save_model(model, str(tmp_path / "model.safetensors"))
    (tmp_path / "shape.json").write_text(json.dumps(shape))
    (tmp_path / "pairs.json").write_text(json.dumps({"sources": sources, "targets": targets}))
    script = tmp_path / "decode.py"
    script.write_text(textwrap.dedent(SHARDED_DECODE))
    torchrun(str(script), str(tmp_path))
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1]  # every rank holds all translations and the same loss
    for beam in (1, 3):
        single = one_thread(translate_texts, model, tok, tok, sources, beam_size=beam, length_penalty=1.0,
                            max_new_tokens=12, batch_size=4, device=CPU)
        assert ranks[0][str(beam)] == [single.hypotheses, single.hit_max_length]
    enc = encode_pairs(tok, sources, targets, max_src_len=48, max_tgt_len=48)
    loss = one_thread(teacher_forced_loss, model, enc, batch_tokens=200, pad_id=PAD_ID, device=CPU)
    assert ranks[0]["loss"] == pytest.approx(loss, rel=1e-9)  # the same sums, added in another order


def test_compile_trains_a_tiny_run_and_keeps_plain_weight_names(corpus, tmp_path, monkeypatch, capsys):
    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        pytest.skip("torch.compile (dynamo) is not supported by this Python/PyTorch build")
    calls, real = [], seq2seq_loop.compile_for_training

    def eager_compile(module, device):  # dynamo traces for real; inductor's codegen takes minutes on this CPU
        calls.append(type(module).__name__)
        return real(module, device, backend="eager")

    monkeypatch.setattr(seq2seq_loop, "compile_for_training", eager_compile)
    plain, compiled = tmp_path / "plain", tmp_path / "compiled"
    assert main(["train", str(corpus.tsv), *TINY, "--out", str(plain)]) == 0
    assert main(["train", str(corpus.tsv), *TINY, "--compile", "--out", str(compiled)]) == 0
    assert calls == ["Seq2SeqTransformer"]
    meta = json.loads((compiled / "config.json").read_text(encoding="utf-8"))
    assert meta["config"]["train"]["compile"] is True
    loaded = load_translator(compiled)  # strict load: plain parameter names, no _orig_mod
    assert not [k for k in loaded.model.state_dict() if "_orig_mod" in k]
    history = [[json.loads(line)["train_loss"] for line in (run / "history.jsonl").read_text().splitlines()]
               for run in (plain, compiled)]
    np.testing.assert_allclose(history[1], history[0], rtol=1e-4)
    capsys.readouterr()


def test_compile_is_a_validated_translation_config_field():
    from attnlab.config import Seq2SeqTrainConfig, TranslationRunConfig

    assert TranslationRunConfig().train.compile is False
    assert TranslationRunConfig.from_dict({"train": {"compile": True}}).train.compile is True
    with pytest.raises(InputError, match="compile"):
        Seq2SeqTrainConfig(compile="yes").validate()


def test_benchmark_launches_torchrun_and_passes_compile(tmp_path):
    import importlib.util

    path = Path(__file__).parents[2] / "benchmarks" / "translation_bleu.py"
    spec = importlib.util.spec_from_file_location("bench_translation_bleu", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    cmd = bench.command(tmp_path / "r", 2.0, ["--seed", "1"], nproc=2, compile=True)
    assert cmd[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    assert cmd[6:8] == ["-m", "attnlab"] and "--compile" in cmd and cmd[-2:] == ["--seed", "1"]
    assert "torch.distributed.run" not in bench.command(tmp_path / "r", 2.0, [])
