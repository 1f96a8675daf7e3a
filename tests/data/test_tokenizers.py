"""Tokenizers: trained only on what they are given, fixed special ids, padding/truncation, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from attnlab.data.tokenizers import (
    SPECIAL_TOKENS,
    encode,
    load_tokenizer,
    save_tokenizer,
    special_ids,
    train_tokenizer,
)
from attnlab.errors import InputError

TRAIN = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog played",
    "the bird sang on the branch",
    "Free entry to win a prize now",
] * 3


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(TRAIN, vocab_size=200, min_frequency=1)


def test_special_ids_are_fixed(tok):
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    ids = special_ids(tok)
    assert (ids.pad_id, ids.unk_id, ids.cls_id, ids.sep_id, ids.mask_id) == (0, 1, 2, 3, 4)


def test_trained_only_on_given_texts(tok):
    vocab = tok.get_vocab()
    assert "cat" in vocab and "zebra" not in vocab
    tokens = tok.encode("zebra", add_special_tokens=False).tokens
    assert tokens != ["zebra"]  # unseen word: [UNK] or sub-pieces, never a whole-word entry
    assert all(t == "[UNK]" or t in vocab for t in tokens)
    assert tok.encode("€", add_special_tokens=False).tokens == ["[UNK]"]  # character never seen


def test_lowercase_and_accents(tok):
    assert tok.encode("THE CAT", add_special_tokens=False).tokens == ["the", "cat"]
    cased = train_tokenizer(["The cat", "the cat"], vocab_size=50, min_frequency=1, lowercase=False)
    assert cased.encode("The the", add_special_tokens=False).tokens[0] != cased.encode("the", add_special_tokens=False).tokens[0]


def test_encode_pads_truncates_and_masks(tok):
    texts = ["the cat sat on the mat the cat sat on the mat", "a dog", "", "the bird"]
    enc = encode(tok, texts, max_len=6)
    assert enc.input_ids.dtype == np.int64 and enc.input_ids.shape == (4, 6)
    assert enc.attention_mask.dtype == np.bool_ and enc.attention_mask.shape == (4, 6)
    assert enc.lengths.tolist() == [6, 3, 1, 3]
    assert enc.n_truncated == 1 and enc.max_len == 6
    assert (enc.input_ids[:, 0] == 2).all()  # [CLS] first, and kept by truncation
    assert (enc.input_ids[~enc.attention_mask] == 0).all()  # padding is [PAD] = 0
    assert (enc.attention_mask.sum(1) == enc.lengths).all()
    assert enc.input_ids[1, :3].tolist() == tok.encode("a dog").ids


def test_encode_pads_to_longest_not_max_len(tok):
    enc = encode(tok, ["a cat", "the dog sat"], max_len=128)
    assert enc.input_ids.shape == (2, 4) and enc.n_truncated == 0


def test_encode_without_cls(tok):
    enc = encode(tok, ["a cat"], max_len=10, add_cls=False)
    assert enc.input_ids.tolist() == [tok.encode("a cat", add_special_tokens=False).ids]
    assert encode(tok, [""], max_len=5, add_cls=False).input_ids.shape == (1, 1)


def test_encode_ignores_and_keeps_tokenizer_settings(tok):
    tok.enable_padding(length=20)
    tok.enable_truncation(max_length=3)
    try:
        enc = encode(tok, ["the cat sat on the mat"], max_len=8)
        assert enc.lengths.tolist() == [7] and enc.input_ids.shape == (1, 7)
        assert tok.padding is not None and tok.truncation is not None
    finally:
        tok.no_padding()
        tok.no_truncation()


def test_save_load_round_trip(tmp_path, tok):
    path = save_tokenizer(tok, tmp_path / "run" / "tokenizer.json")
    loaded = load_tokenizer(path)
    assert load_tokenizer(tmp_path / "run").get_vocab() == tok.get_vocab()
    texts = TRAIN + ["unseen zebra words", "ÜNÏCÖDE ﬁ"]
    a, b = encode(tok, texts, max_len=12), encode(loaded, texts, max_len=12)
    assert np.array_equal(a.input_ids, b.input_ids) and np.array_equal(a.attention_mask, b.attention_mask)
    assert loaded.decode(b.input_ids[0].tolist()) == "the cat sat on the mat"


def test_load_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_tokenizer(tmp_path / "missing.json")
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not a valid tokenizer.json") as info:
        load_tokenizer(bad)
    assert "\n" not in str(info.value)


def test_input_errors(tok):
    with pytest.raises(InputError, match="no texts"):
        train_tokenizer([])
    with pytest.raises(InputError, match="single string"):
        train_tokenizer("just one text")
    with pytest.raises(InputError, match="vocab_size"):
        train_tokenizer(["a"], vocab_size=3)
    with pytest.raises(InputError, match="max_len"):
        encode(tok, ["a"], max_len=0)
    with pytest.raises(InputError, match="expects strings"):
        encode(tok, ["a", None], max_len=4)


def test_training_is_deterministic():
    # huggingface/tokenizers#1794: the trainer's own output changes from run to run on ties
    texts = [f"{w} {v}ing {w}{v} unbelievable {v}s" for w in ("cat", "dog", "bird", "fish") for v in ("walk", "talk", "jump")]
    runs = {train_tokenizer(texts, vocab_size=80, min_frequency=1).to_str() for _ in range(8)}
    assert len(runs) == 1


def test_only_the_five_specials_are_special(tok):
    added = [t for t in tok.get_added_tokens_decoder().values()]
    assert sorted(t.content for t in added) == sorted(SPECIAL_TOKENS) and all(t.special for t in added)
    assert "##a" in tok.get_vocab()
    assert "##a" not in tok.encode("##a b", add_special_tokens=False).tokens  # not matched as an added token
