"""Byte-level-safe BPE subword tokenizers for translation, and seq2seq batch encoding to NumPy arrays.

Built on Hugging Face ``tokenizers``: a BPE model with byte fallback (a character never seen in training
becomes its UTF-8 bytes ``<0x..>``, so nothing is ever ``<unk>``), a sentencepiece-style Metaspace
pre-tokenizer and decoder (a space becomes ``▁`` and starts the next piece). Case is kept: translation
output is cased. Fixed ids: ``<pad>`` 0, ``<unk>`` 1, ``<s>`` 2 (BOS), ``</s>`` 3 (EOS), then the 256 byte
tokens (4-259), then the learned pieces.

Normalisation, and so the round trip: Unicode NFKC, every run of whitespace (tab, newline, no-break
space, ...) becomes one space, and leading/trailing whitespace is stripped. Hence, for ordinary text,
``decode(encode(x)) == " ".join(unicodedata.normalize("NFKC", x).split())``; in general it equals
``tokenizer.normalizer.normalize_str(x)``. Two exceptions: the character ``▁`` (U+2581) itself decodes
as a space; and the NFKC is the ``tokenizers`` library's, whose Unicode tables are older than Python
3.11's, so 72 recently added characters (e.g. U+32FF SQUARE ERA NAME REIWA) are kept where Python folds
them. Lone surrogates are not text and cannot be encoded.

The special tokens live in the vocabulary but are not "added tokens": text that contains ``<s>`` or
``</s>`` is encoded as those characters, never as a control token. :func:`encode_batch` adds BOS/EOS by
id and :func:`decode_batch` removes them.

Shared or separate vocabularies: ``train_bpe(src_train + tgt_train)`` gives one vocabulary for both
languages (needed to tie source, target and output embeddings); ``train_bpe(src_train)`` and
``train_bpe(tgt_train)`` give one each. Train on the training split only: a vocabulary built from
validation or test texts is a quiet form of leakage. Training is deterministic: the same texts give a
byte-identical ``tokenizer.json`` in every process (checked by the tests; BPE, unlike WordPiece, needs no
workaround for huggingface/tokenizers#1794).

Example:
    >>> tok = train_bpe(["Im Anfang schuf Gott", "In the beginning God created"], vocab_size=300, min_frequency=1)
    >>> [tok.id_to_token(i) for i in range(5)]
    ['<pad>', '<unk>', '<s>', '</s>', '<0x00>']
    >>> batch = encode_batch(tok, ["Gott  schuf", "Über"], max_len=8, add_bos=True)
    >>> [tok.id_to_token(i) for i in batch.ids[1]]  # "Ü" was not in the training texts: its UTF-8 bytes
    ['<s>', '▁', '<0xC3>', '<0x9C>', 'be', 'r', '</s>']
    >>> batch.ids.shape, batch.lengths.tolist(), decode_batch(tok, batch.ids)
    ((2, 7), [7, 7], ['Gott schuf', 'Über'])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from attnlab.data.tokenizers import _check_texts, read_tokenizer_file, save_tokenizer
from attnlab.errors import InputError

__all__ = ["BOS", "BOS_ID", "BYTE_TOKENS", "EOS", "EOS_ID", "PAD", "PAD_ID", "SPECIAL_TOKENS", "UNK", "UNK_ID",
           "EncodedBatch", "EncodedPairs", "check_bpe", "decode_batch", "encode_batch", "encode_pairs", "load_bpe",
           "save_bpe", "train_bpe"]

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)  # a token's position here is its id
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)
BYTE_TOKENS = tuple(f"<0x{b:02X}>" for b in range(256))  # ids 4..259, the names byte fallback looks up
_RESERVED = SPECIAL_TOKENS + BYTE_TOKENS
_SPACE = "\u2581"  # ▁


def train_bpe(texts: Sequence[str], *, vocab_size: int = 8000, min_frequency: int = 2) -> Tokenizer:
    """Train a cased BPE tokenizer with byte fallback on ``texts`` (the training split only).

    Args:
        texts: the training texts (source and target texts together for a shared vocabulary).
        vocab_size: upper bound on the vocabulary, the 4 special and 256 byte tokens included.
        min_frequency: a merge must occur this often to enter the vocabulary.

    Raises:
        InputError: no texts, non-string texts, or a bad ``vocab_size`` / ``min_frequency``.

    Example:
        >>> tok = train_bpe(["der Hund", "der Hut", "die Hand"], vocab_size=300, min_frequency=2)
        >>> tok.encode("der Hund").tokens, tok.encode("Der Hund?").tokens
        (['▁der', '▁Hu', 'nd'], ['▁', '<0x44>', 'er', '▁Hu', 'nd', '<0x3F>'])
    """
    texts = _check_texts(texts, "train_bpe")
    if not texts:
        raise InputError("cannot train a tokenizer on no texts; the training split is empty")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size <= len(_RESERVED):
        raise InputError(f"vocab_size must be an integer above {len(_RESERVED)} (4 special + 256 byte tokens), "
                         f"got {vocab_size!r}; e.g. 8000")
    if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 1:
        raise InputError(f"min_frequency must be a positive integer, got {min_frequency!r}")
    tokenizer = _empty_tokenizer(models.BPE(unk_token=UNK, byte_fallback=True))
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=list(_RESERVED), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    # Rebuild from the learned vocabulary and merges, so that no token is an "added" special token: text
    # spelling "<s>" or "<0x41>" then stays text. A merge that would spell a reserved token is dropped.
    model = json.loads(tokenizer.to_str())["model"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    merges = [m for m in merges if m[0] + m[1] not in _RESERVED]
    tokenizer = _empty_tokenizer(models.BPE(vocab=model["vocab"], merges=merges, unk_token=UNK, byte_fallback=True))
    check_bpe(tokenizer)
    return tokenizer


def _empty_tokenizer(model: models.Model) -> Tokenizer:
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "),
                                                 normalizers.Strip()])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_SPACE, prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Sequence([decoders.Metaspace(replacement=_SPACE, prepend_scheme="always", split=True),
                                           decoders.ByteFallback(), decoders.Fuse()])
    return tokenizer


def check_bpe(tokenizer: Tokenizer) -> None:
    """Raise :class:`InputError` unless the 4 special tokens sit at their fixed ids (0-3).

    Example:
        >>> from tokenizers import models
        >>> check_bpe(Tokenizer(models.BPE(vocab={"<pad>": 0, "a": 1}, merges=[])))
        Traceback (most recent call last):
        ...
        attnlab.errors.InputError: the tokenizer lacks '<unk>' at id 1, '<s>' at id 2, '</s>' at id 3; use one made by attnlab's train_bpe
    """
    wrong = [f"{token!r} at id {i}" for i, token in enumerate(SPECIAL_TOKENS) if tokenizer.token_to_id(token) != i]
    if wrong:
        raise InputError(f"the tokenizer lacks {', '.join(wrong)}; use one made by attnlab's train_bpe")


@dataclass(frozen=True)
class EncodedBatch:
    """A batch of encoded texts.

    Attributes:
        ids: (N, L) int64 token ids, right-padded with ``<pad>`` (0); L is the longest row, at most
            ``max_len`` and at least 1.
        lengths: (N,) int64 real tokens per row, BOS/EOS included.
        n_truncated: how many texts were cut to fit ``max_len`` (EOS is kept at the end).
        max_len: the cap the batch was encoded with.
    """

    ids: np.ndarray
    lengths: np.ndarray
    n_truncated: int
    max_len: int


@dataclass(frozen=True)
class EncodedPairs:
    """Sentence pairs encoded for a seq2seq training loop.

    Attributes:
        src_ids: (N, Ls) int64 ``x1 .. xm </s>``, right-padded with 0.
        src_lengths: (N,) int64.
        tgt_ids: (N, Lt) int64 ``<s> y1 .. yn </s>``, right-padded with 0: the decoder input is
            ``tgt_ids[:, :-1]`` and the labels are ``tgt_ids[:, 1:]`` (padding labels are 0 = ``<pad>``).
        tgt_lengths: (N,) int64, ``<s>`` and ``</s>`` included.
        n_src_truncated, n_tgt_truncated: rows cut to ``max_src_len`` / ``max_tgt_len``.
    """

    src_ids: np.ndarray
    src_lengths: np.ndarray
    tgt_ids: np.ndarray
    tgt_lengths: np.ndarray
    n_src_truncated: int
    n_tgt_truncated: int


def encode_batch(tokenizer: Tokenizer, texts: Sequence[str], *, max_len: int, add_bos: bool = False,
                 add_eos: bool = True) -> EncodedBatch:
    """Encode texts into a right-padded id array, optionally framed by ``<s>`` and ``</s>``.

    A text longer than ``max_len`` keeps its first pieces; ``<s>`` and ``</s>`` count towards ``max_len``
    and survive truncation. The tokenizer's own padding/truncation settings are ignored (not modified).

    Example:
        >>> tok = train_bpe(["a b c d e f"], vocab_size=270, min_frequency=1)
        >>> e = encode_batch(tok, ["a b c d e f", "a"], max_len=4, add_bos=True)
        >>> [[tok.id_to_token(i) for i in row] for row in e.ids], e.lengths.tolist(), e.n_truncated
        ([['<s>', '▁a', '▁b', '</s>'], ['<s>', '▁a', '</s>', '<pad>']], [4, 3], 1)
    """
    texts = _check_texts(texts, "encode_batch")
    n_special = int(bool(add_bos)) + int(bool(add_eos))
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len <= n_special:
        raise InputError(f"max_len must be an integer above {n_special} (the <s>/</s> tokens), got {max_len!r}")
    check_bpe(tokenizer)
    if tokenizer.padding is not None or tokenizer.truncation is not None:
        tokenizer = Tokenizer.from_str(tokenizer.to_str())  # a copy, so the caller's settings stay
        tokenizer.no_padding()
        tokenizer.no_truncation()
    pieces = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    budget = max_len - n_special
    rows = [([BOS_ID] if add_bos else []) + ids[:budget] + ([EOS_ID] if add_eos else []) for ids in pieces]
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    ids = np.full((len(rows), max(1, int(lengths.max(initial=0)))), PAD_ID, dtype=np.int64)  # (N, L)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    return EncodedBatch(ids=ids, lengths=lengths, n_truncated=sum(len(p) > budget for p in pieces), max_len=max_len)


def encode_pairs(tokenizer: Tokenizer, sources: Sequence[str], targets: Sequence[str], *, max_src_len: int,
                 max_tgt_len: int, target_tokenizer: Tokenizer | None = None) -> EncodedPairs:
    """Encode sentence pairs: sources as ``x </s>``, targets as ``<s> y </s>``.

    Args:
        tokenizer: the source tokenizer (and the target one, unless ``target_tokenizer`` is given).
        sources, targets: aligned segments.
        max_src_len, max_tgt_len: caps on the encoded rows, BOS/EOS included.
        target_tokenizer: a separate target-language tokenizer.

    Example:
        >>> tok = train_bpe(["a b", "x y"], vocab_size=270, min_frequency=1)
        >>> p = encode_pairs(tok, ["a b"], ["x y"], max_src_len=8, max_tgt_len=8)
        >>> [tok.id_to_token(i) for i in p.src_ids[0]], [tok.id_to_token(i) for i in p.tgt_ids[0]]
        (['▁a', '▁b', '</s>'], ['<s>', '▁x', '▁y', '</s>'])
        >>> p.src_lengths.tolist(), p.tgt_lengths.tolist(), p.tgt_ids[:, :-1].shape  # decoder input (N, Lt - 1)
        ([3], [4], (1, 3))
    """
    sources, targets = _check_texts(sources, "encode_pairs"), _check_texts(targets, "encode_pairs")
    if len(sources) != len(targets):
        raise InputError(f"got {len(sources)} sources but {len(targets)} targets; pass one target per source")
    src = encode_batch(tokenizer, sources, max_len=max_src_len, add_bos=False, add_eos=True)
    tgt = encode_batch(target_tokenizer or tokenizer, targets, max_len=max_tgt_len, add_bos=True, add_eos=True)
    return EncodedPairs(src.ids, src.lengths, tgt.ids, tgt.lengths, src.n_truncated, tgt.n_truncated)


def decode_batch(tokenizer: Tokenizer, id_rows) -> list[str]:
    """Decode rows of ids (a 2-D array or tensor, or a list of lists) into texts.

    Each row stops at its first ``</s>``; ``<s>`` and ``<pad>`` are dropped.

    Example:
        >>> tok = train_bpe(["a b"], vocab_size=270, min_frequency=1)
        >>> a, b = tok.token_to_id("▁a"), tok.token_to_id("▁b")
        >>> decode_batch(tok, [[2, a, b, 3, a], [a, 0, 0]])
        ['a b', 'a']
    """
    rows = id_rows.tolist() if hasattr(id_rows, "tolist") else [list(r) for r in id_rows]
    cleaned = []
    for row in rows:
        row = [int(i) for i in row]
        if EOS_ID in row:
            row = row[: row.index(EOS_ID)]
        cleaned.append([i for i in row if i not in (BOS_ID, PAD_ID)])
    return tokenizer.decode_batch(cleaned, skip_special_tokens=False)


def save_bpe(tokenizer: Tokenizer, path: str | Path) -> Path:
    """Check ``tokenizer`` (see :func:`check_bpe`) and write it as a ``tokenizer.json`` file at ``path``."""
    check_bpe(tokenizer)
    return save_tokenizer(tokenizer, path)


def load_bpe(path: str | Path) -> Tokenizer:
    """Read a tokenizer written by :func:`save_bpe` (a directory means its ``tokenizer.json``).

    Raises:
        InputError: the file is missing, not a tokenizer, or lacks the special tokens at ids 0-3.
    """
    tokenizer = read_tokenizer_file(path)
    check_bpe(tokenizer)
    return tokenizer
