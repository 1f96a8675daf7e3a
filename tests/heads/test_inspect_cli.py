"""`attnlab inspect` end to end on a tiny classifier run, and attention capture for a translator.

The maps are checked against the attention recomputed by hand in float64 NumPy from the saved weights, the tokens
against the Hugging Face tokenizer's own output, and the statistics' row count against the run's split sizes.
"""

import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from attnlab.cli import main
from attnlab.config import translation_preset
from attnlab.data.subword import BOS_ID, EOS_ID, decode_batch, train_bpe
from attnlab.heads.capture import capture_translator, translator_statistics
from attnlab.models.generate import generate
from attnlab.models.seq2seq import Seq2SeqTransformer
from attnlab.train.checkpoint import load_classifier

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sms_small.csv"
TINY = ["--d-model", "16", "--heads", "2", "--layers", "2", "--d-ff", "32", "--epochs", "1",
        "--vocab-size", "400", "--max-len", "40"]
SPAM = "WINNER!! You have won a 1000 prize. Call now to claim, reply STOP to end."


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("inspect") / "run"
    assert main(["train", str(FIXTURE), "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture(scope="module")
def inspected(run_dir):
    assert main(["inspect", str(run_dir), "--text", SPAM, "--text", "ok see you", "--format", "svg,png",
                 "--no-importance"]) == 0
    return json.loads((run_dir / "inspect" / "inspect.json").read_text(encoding="utf-8"))


def manual_attention(loaded, ids):
    """Every layer's per-head weights recomputed in float64 NumPy from the state dict (pre-LN encoder)."""
    sd = {k: v.double().numpy() for k, v in loaded.model.state_dict().items()}

    def ln(x, name):
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * sd[f"{name}.weight"] + sd[f"{name}.bias"]

    def gelu(x):
        return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))

    x = sd["tok_emb.weight"][ids] + sd["pos_emb.weight"][: len(ids)]
    layers = []
    for i in range(len(loaded.model.blocks)):
        p = f"blocks.{i}."
        h = ln(x, p + "ln_attn")
        qkv = h @ sd[p + "attn.in_proj.weight"].T + sd[p + "attn.in_proj.bias"]
        d = x.shape[-1]
        H = loaded.model.blocks[i].attn.n_heads
        q, k, v = (qkv[:, j * d:(j + 1) * d].reshape(len(ids), H, -1).transpose(1, 0, 2) for j in range(3))
        s = q @ k.transpose(0, 2, 1) / math.sqrt(d // H)
        w = np.exp(s - s.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        layers.append(w)
        o = (w @ v).transpose(1, 0, 2).reshape(len(ids), d)
        x = x + o @ sd[p + "attn.out_proj.weight"].T + sd[p + "attn.out_proj.bias"]
        h = ln(x, p + "ln_ffn")
        f = gelu(h @ sd[p + "ffn.fc_in.weight"].T + sd[p + "ffn.fc_in.bias"])
        x = x + f @ sd[p + "ffn.fc_out.weight"].T + sd[p + "ffn.fc_out.bias"]
    return layers


def test_maps_match_a_float64_recomputation_and_the_tokenizer(run_dir, inspected):
    loaded = load_classifier(run_dir)
    item = inspected["texts"][0]
    enc = loaded.tokenizer.encode(SPAM)
    assert item["maps"][0]["query_tokens"] == enc.tokens == item["maps"][0]["key_tokens"]
    reference = manual_attention(loaded, np.array(enc.ids))
    for got, ref in zip(item["maps"][0]["weights"], reference):
        np.testing.assert_allclose(np.array(got), ref, atol=2e-4)  # stored to 4 decimals
    assert item["output"]["label"] in loaded.labels
    assert sum(item["rollout"]) == pytest.approx(1.0, abs=1e-4)


def test_files_html_and_statistics(run_dir, inspected):
    folder = run_dir / "inspect"
    for layer in range(2):
        for fmt in ("svg", "png"):
            assert (folder / "maps" / "text-1" / f"encoder-layer-{layer}.{fmt}").is_file()
            assert (folder / "maps" / "text-2" / f"encoder-layer-{layer}-head-1.{fmt}").is_file()
    assert (folder / "maps" / "text-1" / "rollout.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(inspected["files"]) == sorted(str(p.relative_to(folder)) for p in (folder / "maps").rglob("*.*"))
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    stats = inspected["statistics"]
    assert stats["split"] == "val" and stats["n"] == report["run"]["data"]["n_val"]
    enc_stats = stats["kinds"]["encoder"]
    assert enc_stats["n_examples"] == report["run"]["data"]["n_val"] and enc_stats["heads"] == [2, 2]
    assert all(r["share_padding"] == 0.0 for r in enc_stats["per_head"])
    page = (folder / "inspect.html").read_text(encoding="utf-8")
    assert "Inside the heads" in page and "WINNER!!" in page and "<script" not in page
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert 'id="heads"' in html and "inspect/inspect.html" in html
    before = (run_dir / "report.html").read_bytes()
    assert main(["report", str(run_dir)]) == 0  # the section is rendered from inspect.json alone
    assert (run_dir / "report.html").read_bytes() == before


def test_rerun_replaces_the_folder_and_long_inputs_are_paged(run_dir, inspected):
    long_text = " ".join(["free prize call now"] * 8)
    assert main(["inspect", str(run_dir), "--text", long_text, "--no-stats", "--full-max", "8",
                 "--page-size", "10", "--top-k", "3"]) == 0
    folder = run_dir / "inspect"
    doc = json.loads((folder / "inspect.json").read_text(encoding="utf-8"))
    n_tokens = len(doc["texts"][0]["maps"][0]["query_tokens"])
    assert n_tokens > 10 and doc["statistics"] is None
    pages = sorted((folder / "maps" / "text-1").glob("encoder-layer-0-head-0-page-*.svg"))
    assert len(pages) == math.ceil(n_tokens / 10)
    assert "top 3 keys per query" in pages[0].read_text(encoding="utf-8")
    assert not list(folder.rglob("*.png")) and not (folder / "maps" / "text-2").exists()  # old files are gone
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".inspect")]


def run_error(args, capsys):
    code = main(args)
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("extra, message", [
    (["--text", "hi", "--format", "gif"], "unknown map format"),
    (["--text", "hi", "--top-k", "0"], "--top-k must be a positive integer"),
    (["--text", "   "], "is empty"),
    (["--no-stats"], "nothing to inspect"),
])
def test_bad_options_are_one_line_exit_2(run_dir, capsys, extra, message):
    before = sorted(p.name for p in run_dir.iterdir())
    code, err = run_error(["inspect", str(run_dir), *extra], capsys)
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in run_dir.iterdir()) == before


def test_refuses_foreign_folders_and_moved_data(run_dir, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    code, err = run_error(["inspect", str(run_dir), "--text", "hi", "--out", str(mine)], capsys)
    assert code == 2 and "not an attnlab inspect folder" in err and (mine / "notes.txt").read_text() == "keep me"
    code, err = run_error(["inspect", str(tmp_path), "--text", "hi"], capsys)
    assert code == 2 and "not an attnlab run directory" in err
    edited = tmp_path / "edited.csv"
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    edited.write_text("\n".join(lines[:-40]) + "\n", encoding="utf-8")
    code, err = run_error(["inspect", str(run_dir), "--data", str(edited), "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "split fingerprint" in err and not (tmp_path / "x").exists()
    empty = tmp_path / "blank.txt"
    empty.write_text("\n  \n")
    code, err = run_error(["inspect", str(run_dir), "--file", str(empty)], capsys)
    assert code == 2 and "no non-empty lines" in err


@pytest.fixture(scope="module")
def translator():
    torch.manual_seed(0)
    texts = ["the house is small", "the house is big", "a small dog", "the dog is old", "an old house"]
    src_tok = train_bpe(texts, vocab_size=300, min_frequency=1)
    tgt_tok = train_bpe([t.replace("house", "haus").replace("dog", "hund") for t in texts], vocab_size=300,
                        min_frequency=1)
    model = Seq2SeqTransformer(src_vocab_size=src_tok.get_vocab_size(), tgt_vocab_size=tgt_tok.get_vocab_size(),
                               d_model=16, n_heads=2, n_encoder_layers=2, n_decoder_layers=2, d_ff=32, max_len=24,
                               dropout=0.0).eval()
    cfg = translation_preset("mt-tiny").replace(decode={"beam_size": 1, "max_new_tokens": 12})
    return SimpleNamespace(model=model, src_tokenizer=src_tok, tgt_tokenizer=tgt_tok, config=cfg)


def test_translator_maps_are_causal_and_follow_the_decoded_output(translator):
    item = capture_translator(translator, ["the small house is old"])[0]
    enc_map, self_map, cross_map = item.maps
    assert [m.kind for m in item.maps] == ["encoder", "decoder_self", "cross"]
    src = translator.src_tokenizer.encode("the small house is old", add_special_tokens=False).tokens + ["</s>"]
    assert enc_map.query_tokens == src == cross_map.key_tokens
    ids = torch.tensor([[translator.src_tokenizer.token_to_id(t) for t in src]])
    gen = generate(translator.model, ids, None, bos_id=BOS_ID, eos_id=EOS_ID, max_new_tokens=12, beam_size=1)
    produced = [translator.tgt_tokenizer.id_to_token(i) for i in gen.tokens[0]] + ["</s>"]
    assert self_map.query_tokens == produced and self_map.key_tokens == ["<s>"] + produced[:-1]
    assert item.output["translation"] == decode_batch(translator.tgt_tokenizer, gen.tokens)[0]
    for layer in self_map.weights:
        assert np.allclose(np.triu(layer, k=1), 0.0) and np.allclose(layer.sum(-1), 1.0, atol=1e-5)
    for m in (enc_map, cross_map):
        assert all(np.allclose(w.sum(-1), 1.0, atol=1e-5) for w in m.weights)


def test_translator_statistics_cover_every_real_row(translator):
    sources = ["the dog", "a small old house is big", "the house"]
    stats = translator_statistics(translator, sources, batch_size=2)
    lengths = [len(translator.src_tokenizer.encode(s, add_special_tokens=False).ids) + 1 for s in sources]
    assert stats["encoder"]["n_rows"] == sum(lengths)
    assert stats["cross"]["n_rows"] == stats["decoder_self"]["n_rows"]
    assert stats["cross"]["per_head"][0]["distance"] is None
    assert all(r["share_padding"] == 0.0 for kind in stats.values() for r in kind["per_head"])


def test_importance_section(run_dir, inspected, tmp_path):
    out = tmp_path / "with-importance"
    own = (run_dir / "inspect" / "inspect.json").read_bytes()
    assert main(["inspect", str(run_dir), "--out", str(out)]) == 0
    doc = json.loads((out / "inspect.json").read_text(encoding="utf-8"))
    imp = doc["statistics"]["importance"]
    ranks = sorted(r for row in imp["importance"]["rank"] for r in row)
    assert ranks == list(range(4)) and len(imp["ablation"]) == 4
    assert imp["importance"]["n_examples"] == doc["statistics"]["n"]
    assert imp["curve"]["points"][-1]["n_removed"] == 4
    page = (out / "inspect.html").read_text(encoding="utf-8")
    assert "Head importance" in page and "single-head ablation" in page
    assert (run_dir / "inspect" / "inspect.json").read_bytes() == own  # --out elsewhere leaves the run's folder alone
