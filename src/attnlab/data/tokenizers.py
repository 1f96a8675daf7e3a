"""WordPiece tokenizers trained on the training split only, and batch encoding to NumPy arrays.

Built on Hugging Face ``tokenizers``: NFKC + BERT normalisation (optionally lower-casing, which also
strips accents as BERT does), BERT pre-tokenisation (whitespace and punctuation), a WordPiece model and
decoder. Special tokens have fixed ids: ``[PAD]`` 0, ``[UNK]`` 1, ``[CLS]`` 2, ``[SEP]`` 3, ``[MASK]`` 4.

Train only on the texts the model will learn from (the training split): a vocabulary built from
validation or test texts is a quiet form of leakage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from attnlab.errors import InputError

__all__ = [
    "CLS", "MASK", "PAD", "SEP", "UNK", "SPECIAL_TOKENS",
    "Encoded", "SpecialIds",
    "encode", "load_tokenizer", "read_tokenizer_file", "save_tokenizer", "special_ids", "train_tokenizer",
]

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, SEP, MASK)  # a token's position here is its id


@dataclass(frozen=True)
class SpecialIds:
    """Ids of the special tokens in a tokenizer's vocabulary."""

    pad_id: int
    unk_id: int
    cls_id: int
    sep_id: int
    mask_id: int


@dataclass(frozen=True)
class Encoded:
    """A batch of encoded texts.

    Attributes:
        input_ids: (N, L) int64 token ids, right-padded with ``[PAD]``; L is the longest encoded text
            in the batch, capped at ``max_len`` (and at least 1).
        attention_mask: (N, L) bool, True at real tokens, False at padding.
        lengths: (N,) int64 number of real tokens per text (after truncation).
        n_truncated: how many texts were cut to ``max_len``.
        max_len: the cap the batch was encoded with.
    """

    input_ids: np.ndarray
    attention_mask: np.ndarray
    lengths: np.ndarray
    n_truncated: int
    max_len: int


def _check_texts(texts: Sequence[str], what: str) -> list[str]:
    if isinstance(texts, str):
        raise InputError(f"{what} expects a list of texts, got a single string; wrap it in a list")
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise InputError(f"{what} expects strings, got {type(texts[bad[0]]).__name__} at position {bad[0]} ({len(bad)} non-strings); convert them to text")
    return texts


def train_tokenizer(
    texts: Sequence[str],
    *,
    vocab_size: int = 8000,
    lowercase: bool = True,
    min_frequency: int = 2,
) -> Tokenizer:
    """Train a WordPiece tokenizer on ``texts`` (pass the training split only).

    Args:
        texts: the training texts.
        vocab_size: upper bound on the vocabulary, special tokens and single characters included.
        lowercase: lower-case (and strip accents) before splitting.
        min_frequency: a merge must occur this often to enter the vocabulary.

    Example:
        >>> tok = train_tokenizer(["the cat sat", "the cat ran", "a dog sat"], vocab_size=60, min_frequency=1)
        >>> tok.token_to_id("[PAD]"), tok.encode("The cat").tokens
        (0, ['[CLS]', 'the', 'cat'])
    """
    texts = _check_texts(texts, "train_tokenizer")
    if not texts:
        raise InputError("cannot train a tokenizer on no texts; the training split is empty")
    if not isinstance(vocab_size, int) or vocab_size <= len(SPECIAL_TOKENS):
        raise InputError(f"vocab_size must be an integer above {len(SPECIAL_TOKENS)}, got {vocab_size!r}")
    if not isinstance(min_frequency, int) or min_frequency < 1:
        raise InputError(f"min_frequency must be a positive integer, got {min_frequency!r}")
    tokenizer = _empty_tokenizer(models.WordPiece(unk_token=UNK, continuing_subword_prefix="##"), lowercase)
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS) + _continuation_tokens(tokenizer, texts),
        continuing_subword_prefix="##",
        show_progress=False,
    )
    texts = [_without_overlong_words(tokenizer, t) for t in texts]
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    # Rebuild from the learned vocabulary so that only the five real special tokens are "special".
    model = models.WordPiece(vocab=tokenizer.get_vocab(), unk_token=UNK, continuing_subword_prefix="##")
    tokenizer = _empty_tokenizer(model, lowercase)
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    _set_post_processor(tokenizer)
    return tokenizer


_MAX_WORD_CHARS = 100  # WordPiece's max_input_chars_per_word: a longer word always encodes as [UNK]
_LONG_TEXT_CHARS = 1000


def _without_overlong_words(tokenizer: Tokenizer, text: str) -> str:
    """``text`` without the words WordPiece never encodes (over 100 characters), for training only.

    The trainer's time grows with the square of a word's length (a 1 MB line without spaces would take hours),
    and such a word can only ever become [UNK]. Texts up to 1,000 characters are passed through untouched, so
    ordinary data trains exactly as before.
    """
    if len(text) <= _LONG_TEXT_CHARS:
        return text
    words = tokenizer.pre_tokenizer.pre_tokenize_str(tokenizer.normalizer.normalize_str(text))
    return " ".join(w for w, _ in words if len(w) <= _MAX_WORD_CHARS)


def _empty_tokenizer(model: models.Model, lowercase: bool) -> Tokenizer:
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.BertNormalizer(clean_text=True, lowercase=lowercase)]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    return tokenizer


def _continuation_tokens(tokenizer: Tokenizer, texts: list[str]) -> list[str]:
    """``##c`` for every character of the normalised texts, in sorted order.

    The trainer creates these word-continuation tokens lazily while iterating over a hash map, so
    their ids, and through merge tie-breaking even the vocabulary, change from run to run
    (huggingface/tokenizers#1794). Reserving them up front, sorted, makes training deterministic.
    """
    chars: set[str] = set()
    for text in texts:
        chars.update(tokenizer.normalizer.normalize_str(text))
    chars.discard(" ")
    return ["##" + c for c in sorted(chars)]


def _set_post_processor(tokenizer: Tokenizer) -> None:
    from tokenizers import processors

    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A", pair=f"{CLS} $A {SEP} $B", special_tokens=[(CLS, tokenizer.token_to_id(CLS))]
        + [(SEP, tokenizer.token_to_id(SEP))]
    )


def special_ids(tokenizer: Tokenizer) -> SpecialIds:
    """The special token ids of ``tokenizer`` (InputError if one is missing)."""
    ids = [tokenizer.token_to_id(token) for token in SPECIAL_TOKENS]
    if None in ids:
        missing = [t for t, i in zip(SPECIAL_TOKENS, ids) if i is None]
        raise InputError(f"the tokenizer lacks the special tokens {', '.join(missing)}; use one made by attnlab's train_tokenizer")
    return SpecialIds(*ids)


def encode(tokenizer: Tokenizer, texts: Sequence[str], *, max_len: int, add_cls: bool = True) -> Encoded:
    """Encode texts into right-padded id and mask arrays, truncating each to ``max_len`` tokens.

    ``[CLS]`` (when ``add_cls``) counts towards ``max_len`` and survives truncation. The tokenizer's
    own padding/truncation settings are ignored; it is not modified.

    Example:
        >>> tok = train_tokenizer(["the cat sat", "the cat ran", "a dog sat"], vocab_size=60, min_frequency=1)
        >>> e = encode(tok, ["the cat sat on the mat", "a dog"], max_len=4)
        >>> e.input_ids.shape, e.lengths.tolist(), e.n_truncated, int(e.input_ids[1, -1])
        ((2, 4), [4, 3], 1, 0)
    """
    texts = _check_texts(texts, "encode")
    if not isinstance(max_len, int) or max_len < 1:
        raise InputError(f"max_len must be a positive integer, got {max_len!r}")
    pad_id = special_ids(tokenizer).pad_id
    if tokenizer.padding is not None or tokenizer.truncation is not None:
        tokenizer = Tokenizer.from_str(tokenizer.to_str())  # a copy, so the caller's settings stay
        tokenizer.no_padding()
        tokenizer.no_truncation()
    encodings = tokenizer.encode_batch(texts, add_special_tokens=add_cls)
    full = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
    lengths = np.minimum(full, max_len)
    width = max(1, int(lengths.max(initial=0)))
    input_ids = np.full((len(texts), width), pad_id, dtype=np.int64)
    for row, (enc, n) in enumerate(zip(encodings, lengths)):
        input_ids[row, :n] = enc.ids[:n]
    attention_mask = np.arange(width)[None, :] < lengths[:, None]  # (N, L)
    return Encoded(
        input_ids=input_ids,
        attention_mask=attention_mask,
        lengths=lengths,
        n_truncated=int((full > max_len).sum()),
        max_len=max_len,
    )


def save_tokenizer(tokenizer: Tokenizer, path: str | Path) -> Path:
    """Write ``tokenizer`` as a ``tokenizer.json`` file at ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(path))
    return path


def read_tokenizer_file(path: str | Path) -> Tokenizer:
    """A ``tokenizer.json`` (a directory means its ``tokenizer.json``); one-line errors for a missing or broken file."""
    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise InputError(f"tokenizer file not found: {path}; pass a run directory or its tokenizer.json")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as err:  # tokenizers raises plain Exception subclasses for bad JSON
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{path} is not a valid tokenizer.json ({first}); re-create it with attnlab") from None


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a tokenizer written by :func:`save_tokenizer` (a directory means its ``tokenizer.json``)."""
    tokenizer = read_tokenizer_file(path)
    special_ids(tokenizer)
    return tokenizer
