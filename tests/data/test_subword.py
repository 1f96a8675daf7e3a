"""BPE subwords: fixed special ids, deterministic training, lossless round trip, seq2seq encoding."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.data import subword
from attnlab.data.subword import (BOS_ID, BYTE_TOKENS, EOS_ID, PAD_ID, SPECIAL_TOKENS, decode_batch, encode_batch,
                                  encode_pairs, load_bpe, save_bpe, train_bpe)
from attnlab.data.tokenizers import train_tokenizer
from attnlab.errors import InputError

EN = ["In the beginning God created the heavens and the earth.", "The earth was formless and empty.",
      "God said, \"Let there be light,\" and there was light.", "God saw the light, and saw that it was good."]
DE = ["Im Anfang schuf Gott die Himmel und die Erde.", "Und die Erde war wüst und leer.",
      "Und Gott sprach: Es werde Licht! und es ward Licht.", "Größe, Straße, Fuß; Übel, ähnlich, öde."]
FR = ["Au commencement, Dieu créa les cieux et la terre.", "Ça, c'était l'œuvre d'été: à où déjà Noël."]
TEXTS = (EN + DE + FR) * 5


@pytest.fixture(scope="module")
def tok():
    return train_bpe(TEXTS, vocab_size=400, min_frequency=2)


def error(fn, *args, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        fn(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_special_and_byte_tokens_have_fixed_ids(tok):
    assert [tok.id_to_token(i) for i in range(4)] == list(SPECIAL_TOKENS) == ["<pad>", "<unk>", "<s>", "</s>"]
    assert [tok.token_to_id(t) for t in BYTE_TOKENS] == list(range(4, 260))
    assert tok.get_vocab_size() <= 400 and tok.get_added_tokens_decoder() == {}  # nothing is an "added" token
    assert tok.encode("Im Anfang").tokens[0].startswith("\u2581")  # Metaspace: a word starts with ▁


def test_training_is_deterministic_across_processes(tmp_path, tok):
    assert train_bpe(TEXTS, vocab_size=400, min_frequency=2).to_str() == tok.to_str()
    script = ("import sys; from attnlab.data.subword import train_bpe; sys.path.insert(0, sys.argv[1]); "
              "from test_subword import TEXTS; sys.stdout.write(train_bpe(TEXTS, vocab_size=400, min_frequency=2).to_str())")
    here = str(Path(__file__).parent)
    outputs = []
    for hash_seed, threads in (("1", "1"), ("2", "2")):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "RAYON_NUM_THREADS": threads, "OMP_NUM_THREADS": "1"}
        run = subprocess.run([sys.executable, "-c", script, here], env=env, capture_output=True, check=True)
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1] == tok.to_str().encode("utf-8")


def test_cased_and_nfkc(tok):
    assert decode_batch(tok, encode_batch(tok, ["GOTT gott Gott", "ﬁ ①"], max_len=64).ids) == ["GOTT gott Gott", "fi 1"]


ORDINARY = st.text(st.sampled_from(list("abcxyzABCXYZ019  .,;:!?'\"()-\t\r\näöüÄÖÜßéèêàçœÉÇ€«»„“\u00a0")), max_size=60)


@settings(max_examples=60, deadline=None)
@given(ORDINARY)
def test_round_trip_of_ordinary_text_up_to_whitespace(tok, text):
    ids = encode_batch(tok, [text], max_len=1000).ids
    assert decode_batch(tok, ids) == [" ".join(unicodedata.normalize("NFKC", text).split())]


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(exclude_characters="\u2581", exclude_categories=["Cs"]), max_size=40))
def test_round_trip_of_any_text_up_to_the_normaliser(tok, text):
    ids = encode_batch(tok, [text], max_len=1000, add_bos=True).ids
    assert decode_batch(tok, ids) == [tok.normalizer.normalize_str(text)]
    assert subword.UNK_ID not in ids  # byte fallback: nothing is unknown


def test_text_spelling_control_tokens_stays_text(tok):
    texts = ["<s> a </s> <pad> <unk> <0x41>", "a\u2581b"]
    batch = encode_batch(tok, texts, max_len=100)
    assert (batch.ids[0, : batch.lengths[0] - 1] > 3).all()
    assert decode_batch(tok, batch.ids) == [texts[0], "a b"]  # the one documented exception: ▁ is a space


def test_encode_batch_matches_the_tokenizer_and_frames_rows(tok):
    texts = [EN[0], "", "Gott"]
    batch = encode_batch(tok, texts, max_len=100, add_bos=True, add_eos=True)
    for row, text, n in zip(batch.ids, texts, batch.lengths):
        assert row[:n].tolist() == [BOS_ID] + tok.encode(text).ids + [EOS_ID]
        assert (row[n:] == PAD_ID).all()
    assert batch.ids.dtype == np.int64 and batch.ids.shape == (3, batch.lengths.max()) and batch.n_truncated == 0
    plain = encode_batch(tok, texts, max_len=100, add_bos=False, add_eos=False)
    assert plain.lengths.tolist() == [len(tok.encode(t).ids) for t in texts] and plain.ids.shape[1] >= 1


def test_truncation_keeps_bos_and_eos_and_counts_rows(tok):
    full = len(tok.encode(EN[0]).ids)
    batch = encode_batch(tok, [EN[0], "Gott", EN[2]], max_len=6, add_bos=True)
    assert batch.ids.shape == (3, 6) and batch.n_truncated == 2 and batch.max_len == 6
    assert batch.ids[0].tolist() == [BOS_ID] + tok.encode(EN[0]).ids[:4] + [EOS_ID] and full > 4
    assert batch.lengths.tolist()[0] == 6 and batch.ids[1, -1] == PAD_ID
    assert encode_batch(tok, [EN[0]], max_len=full + 1).n_truncated == 0  # exactly fits with </s>
    assert encode_batch(tok, [EN[0]], max_len=full).n_truncated == 1


def test_encode_pairs_gives_a_seq2seq_batch(tok):
    pairs = encode_pairs(tok, EN, DE, max_src_len=12, max_tgt_len=10)
    assert pairs.src_ids.shape[0] == pairs.tgt_ids.shape[0] == 4
    assert (pairs.tgt_ids[:, 0] == BOS_ID).all() and (pairs.src_ids != BOS_ID).all()
    rows = np.arange(4)
    assert (pairs.tgt_ids[rows, pairs.tgt_lengths - 1] == EOS_ID).all()
    assert (pairs.src_ids[rows, pairs.src_lengths - 1] == EOS_ID).all()
    decoder_input, labels = pairs.tgt_ids[:, :-1], pairs.tgt_ids[:, 1:]  # (N, Lt - 1) each
    assert decoder_input.shape == labels.shape and pairs.n_tgt_truncated == sum(len(tok.encode(t).ids) > 8 for t in DE)
    assert decode_batch(tok, encode_pairs(tok, EN, DE, max_src_len=64, max_tgt_len=64).tgt_ids) == DE
    separate = encode_pairs(tok, EN, DE, max_src_len=64, max_tgt_len=64, target_tokenizer=train_bpe(DE, vocab_size=300))
    assert decode_batch(tok, separate.src_ids) == EN and separate.n_src_truncated == 0
    assert "3 targets" in error(encode_pairs, tok, EN, DE[:3], max_src_len=8, max_tgt_len=8)


def test_decode_batch_stops_at_eos_and_drops_bos_and_pad(tok):
    ids = tok.encode("Gott sprach").ids
    rows = [[BOS_ID, *ids, EOS_ID, *ids], [*ids, PAD_ID, PAD_ID], [BOS_ID, EOS_ID], []]
    assert decode_batch(tok, rows) == ["Gott sprach", "Gott sprach", "", ""]
    assert decode_batch(tok, np.array([[BOS_ID, *ids, EOS_ID]])) == ["Gott sprach"]


def test_padding_settings_of_the_caller_are_ignored_and_kept(tok):
    padded = train_bpe(TEXTS, vocab_size=300)
    padded.enable_padding(length=50)
    assert encode_batch(padded, ["Gott"], max_len=10).ids.shape[1] < 10 and padded.padding is not None


def test_save_and_load(tmp_path, tok):
    path = save_bpe(tok, tmp_path / "run" / "tokenizer.json")
    assert load_bpe(path).to_str() == tok.to_str() == load_bpe(tmp_path / "run").to_str()
    assert "not found" in error(load_bpe, tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text('{"model": ')
    assert "not a valid tokenizer.json" in error(load_bpe, tmp_path / "bad.json")
    wordpiece = train_tokenizer(EN, vocab_size=100, min_frequency=1)
    wordpiece.save(str(tmp_path / "wp.json"))
    assert "lacks '<pad>' at id 0" in error(load_bpe, tmp_path / "wp.json")
    assert "train_bpe" in error(save_bpe, wordpiece, tmp_path / "wp2.json")


def test_bad_arguments(tok):
    assert "training split is empty" in error(train_bpe, [])
    assert "single string" in error(train_bpe, "Gott")
    assert "expects strings" in error(train_bpe, ["a", None])
    assert "above 260" in error(train_bpe, EN, vocab_size=260)
    assert "min_frequency" in error(train_bpe, EN, min_frequency=0)
    assert "above 2" in error(encode_batch, tok, EN, max_len=2, add_bos=True)
    assert "above 1" in error(encode_batch, tok, EN, max_len=True)
