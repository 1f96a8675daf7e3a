"""Overlap between two sets of texts: exact duplicates after normalisation, and near-duplicates.

A test text the model saw in training — verbatim, or with a changed word, case or punctuation — scores
as memorised, not generalised. :func:`find_overlap` finds such texts in four steps:

1. **Normalise** (:func:`leak_key`): Unicode NFKC, case folding, apostrophes dropped, other
   punctuation and symbols turned into spaces, whitespace collapsed. Texts with equal keys are *exact*
   duplicates ("Call NOW!!" and "call now").
2. **Shingle**: the set of word n-grams of the key (``shingle_size``, default 1 — for SMS-length texts a
   bigram shingle turns one changed word into two changed shingles, so a 20-word spam template with a new
   phone number and claim code would fall below 0.8). Near-duplicates are pairs whose shingle sets have a
   Jaccard similarity of at least ``threshold`` (default 0.8).
3. **Candidates** from MinHash LSH: each distinct shingle set gets a MinHash signature computed with
   NumPy (shingle ids hashed once per permutation by multiply-shift, minimum per set), cut into
   ``bands`` x ``rows`` chosen so that a pair *at* the threshold is a candidate with probability at least
   0.99 (:func:`lsh_params`); more similar pairs are more likely. A NumPy pass over hashed bands keeps the
   sets that share a band with the other side, and ``datasketch.MinHashLSH`` indexes those of one side and
   is queried with the other's (the same candidates as indexing everything, without paying Python's
   per-set cost for the many sets that collide with nothing).
4. **Verification**: every candidate's exact Jaccard is computed on the shingle sets; only pairs at or
   above the threshold are reported. There are no false positives; a miss needs every band to differ.

Only distinct keys and distinct shingle sets are indexed, so a corpus full of repeated texts costs no more
than its distinct texts. ``datasketch`` is imported only when there is something to index. Torch never is.

>>> r = find_overlap(["Free entry to win a prize now", "see you at lunch"],
...                  ["FREE entry, to win a prize NOW!", "free entry to win a big prize now", "new text"])
>>> [(p["test_index"], p["train_index"], p["kind"], round(p["similarity"], 3)) for p in r.pairs]
[(0, 0, 'exact', 1.0), (1, 0, 'near', 0.875)]
>>> r.n_exact, r.n_near, r.found
(1, 1, True)
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attnlab.diagnostics.minhash import LSHSignature, band_keys, lsh_params, minhash_signatures, sharing_a_band
from attnlab.errors import InputError

__all__ = ["DEFAULT_THRESHOLD", "OverlapResult", "find_overlap", "label_conflicts", "leak_key", "shingles",
           "splits_overlap"]

DEFAULT_THRESHOLD = 0.8
NORMALISATION = "nfkc|casefold|punctuation:removed|whitespace:collapsed"

_APOSTROPHES = "'\u2019\u02bc`"  # dropped, so "don't" == "dont"
_NON_WORD = re.compile(r"[^\w\s]|_")  # punctuation and symbols (incl. emoji) become spaces
_NON_WORD_ASCII = ({c: " " for c in range(128) if not (chr(c).isalnum() or chr(c).isspace())}
                   | {ord(c): None for c in _APOSTROPHES if c.isascii()})
_APOSTROPHE_TABLE = {ord(c): None for c in _APOSTROPHES}


def leak_key(text: str) -> str:
    """The form in which two texts count as exact duplicates.

    A text made only of punctuation or symbols keeps its case-folded form, so ":)" and ":(" stay apart.

    >>> leak_key("  Don\u2019t MISS:\\u00a0the   FREE  entry!!! ") == leak_key("dont miss the free entry")
    True
    >>> leak_key(":-)")
    ':-)'
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    if folded.isascii():  # fast path; same result as the general one
        stripped = folded.translate(_NON_WORD_ASCII)
    else:
        folded = unicodedata.normalize("NFKC", folded)  # casefold can leave a non-NFKC string
        stripped = _NON_WORD.sub(" ", folded.translate(_APOSTROPHE_TABLE))
    return " ".join(stripped.split()) or " ".join(folded.split())


def shingles(key: str, size: int = 1) -> set[str]:
    """Word n-grams of a normalised text; a text shorter than ``size`` words is one shingle.

    >>> sorted(shingles("win a prize now", 2))
    ['a prize', 'prize now', 'win a']
    """
    words = key.split()
    if size == 1 or len(words) <= size:
        return set(words) if size == 1 else {key}
    return {" ".join(words[i:i + size]) for i in range(len(words) - size + 1)}


class _Vocab(dict):
    """Shingle -> consecutive id, assigned in order of first appearance (deterministic)."""

    def __missing__(self, key: str) -> int:
        value = self[key] = len(self)
        return value


@dataclass
class _Corpus:
    """Both sides' texts as keys and distinct shingle sets: row -> key id -> set id."""

    keys: list[str]  # distinct keys, in order of first appearance
    key_of_row: list[int]
    set_of_key: list[int]
    sets: list[frozenset[int]]  # distinct shingle sets (of shingle ids)
    vocab_size: int

    @classmethod
    def build(cls, texts: Sequence[str], shingle_size: int) -> _Corpus:
        key_index: dict[str, int] = {}
        key_of_row = [key_index.setdefault(leak_key(t), len(key_index)) for t in texts]
        vocab, set_index = _Vocab(), {}
        set_of_key = []
        for key in key_index:
            words = key.split() if shingle_size == 1 else shingles(key, shingle_size)
            ids = frozenset(map(vocab.__getitem__, words))
            set_of_key.append(set_index.setdefault(ids, len(set_index)))
        return cls(list(key_index), key_of_row, set_of_key, list(set_index), len(vocab))


def _jaccard_hits(a: frozenset[int], candidates, sets, threshold: float) -> list[tuple[int, float]]:
    """The candidates whose exact Jaccard with ``a`` is at least ``threshold``."""
    hits = []
    for cand in candidates:
        b = sets[cand]
        if min(len(a), len(b)) < threshold * max(len(a), len(b)):  # Jaccard <= |small| / |large|
            continue
        inter = len(a & b)
        jaccard = inter / (len(a) + len(b) - inter)
        if jaccard >= threshold - 1e-12:
            hits.append((cand, jaccard))
    return hits


def _near_pairs(corpus: _Corpus, train_sets: set[int], test_sets: set[int], threshold: float, seed: int
                ) -> tuple[dict[int, list[tuple[int, float]]], int, tuple[int, int]]:
    """{test set id: [(train set id, Jaccard >= threshold)]}: MinHash LSH candidates, verified exactly.

    Only sets that share a band with some set of the other side can become candidates, so a NumPy pass
    over hashed bands picks those first; ``datasketch.MinHashLSH`` then indexes the smaller side's and is
    queried by the other's (the candidates are the same as indexing and querying every set, at a fraction
    of the per-set Python cost).
    """
    bands, rows = lsh_params(threshold)
    train_ids = np.array(sorted(i for i in train_sets if corpus.sets[i]), dtype=np.int64)
    test_ids = np.array(sorted(i for i in test_sets if corpus.sets[i]), dtype=np.int64)
    if not len(train_ids) or not len(test_ids):
        return {}, 0, (bands, rows)
    used = np.union1d(train_ids, test_ids)
    sig = minhash_signatures([corpus.sets[i] for i in used], corpus.vocab_size, bands * rows, seed)
    train_pos, test_pos = np.searchsorted(used, train_ids), np.searchsorted(used, test_ids)
    hit_train, hit_test = sharing_a_band(band_keys(sig, bands, rows), train_pos, test_pos)
    if not hit_test.any():
        return {}, 0, (bands, rows)
    from datasketch import MinHashLSH  # lazily: only when there is something to index

    sides = [(train_ids[hit_train], train_pos[hit_train]), (test_ids[hit_test], test_pos[hit_test])]
    index_test = len(sides[1][0]) <= len(sides[0][0])
    (indexed, indexed_pos), (queries, query_pos) = sides[::-1] if index_test else sides
    lsh = MinHashLSH(num_perm=bands * rows, params=(bands, rows))
    with lsh.insertion_session() as session:
        for sid, pos in zip(indexed.tolist(), indexed_pos.tolist()):
            session.insert(sid, LSHSignature(sig[pos]), check_duplication=False)
    found: dict[int, list[tuple[int, float]]] = {}
    n_candidates = 0
    for sid, pos in zip(queries.tolist(), query_pos.tolist()):
        candidates = lsh.query(LSHSignature(sig[pos]))
        n_candidates += len(candidates)
        for cand, jaccard in _jaccard_hits(corpus.sets[sid], candidates, corpus.sets, threshold):
            test_sid, train_sid = (cand, sid) if index_test else (sid, cand)
            found.setdefault(test_sid, []).append((train_sid, jaccard))
    return found, n_candidates, (bands, rows)


@dataclass(frozen=True)
class OverlapResult:
    """Where the ``test`` texts overlap the ``train`` texts.

    Attributes:
        pairs: one entry per test row that has a duplicate in train: its best match (an exact duplicate
            first, else the most similar near-duplicate; ties go to the earliest train row) with
            ``{test}_index``, ``{train}_index``, ``kind`` ("exact" | "near"), ``similarity`` (Jaccard of
            the shingle sets; 1.0 for exact), ``n_matches`` (train rows it duplicates), both texts and,
            when labels were given, both labels and ``label_conflict`` (an exact duplicate with
            another label).
        n_exact: test rows with an exact duplicate in train.
        n_near: test rows with a near-duplicate (and no exact duplicate) in train.
        n_label_conflicts: test rows whose exact duplicate in train carries another label.
        settings: threshold, shingle size, normalisation, LSH bands/rows, seed, and a signature.
        n_candidates: distinct-set pairs proposed by LSH (all verified exactly).
    """

    names: tuple[str, str]
    n_train: int
    n_test: int
    pairs: list[dict[str, Any]]
    n_exact: int
    n_near: int
    n_label_conflicts: int
    n_candidates: int
    settings: dict[str, Any]
    seconds: float = field(default=0.0, compare=False)

    @property
    def found(self) -> bool:
        """Whether any test row duplicates a train row, exactly or nearly."""
        return bool(self.pairs)

    def to_dict(self, max_pairs: int | None = None) -> dict[str, Any]:
        """JSON-ready summary and (up to ``max_pairs``) pairs, most similar first."""
        train, test = self.names
        shown = self.pairs if max_pairs is None else self.pairs[:max_pairs]
        return {
            "train": train, "test": test, f"n_{train}": self.n_train, f"n_{test}": self.n_test,
            "leakage_found": self.found, "exact_rows": self.n_exact, "near_rows": self.n_near,
            "leaked_share": (self.n_exact + self.n_near) / self.n_test if self.n_test else 0.0,
            "label_conflicts": self.n_label_conflicts, "candidate_pairs": self.n_candidates,
            "settings": self.settings, "seconds": round(self.seconds, 3),
            "n_pairs": len(self.pairs), "pairs": shown, "pairs_truncated": len(shown) < len(self.pairs),
        }


def _check_options(threshold: Any, shingle_size: Any) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
        raise InputError(f"the near-duplicate threshold must be a Jaccard similarity in (0, 1], got {threshold!r}; "
                         "0.8 is the default")
    if isinstance(shingle_size, bool) or not isinstance(shingle_size, int) or shingle_size < 1:
        raise InputError(f"the shingle size must be a positive number of words, got {shingle_size!r}; 1 is the default")


def find_overlap(
    train_texts: Sequence[str],
    test_texts: Sequence[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    shingle_size: int = 1,
    train_labels: Sequence[str] | None = None,
    test_labels: Sequence[str] | None = None,
    names: tuple[str, str] = ("train", "test"),
    seed: int = 0,
) -> OverlapResult:
    """Exact and near-duplicates of ``test_texts`` rows in ``train_texts`` (see the module docstring).

    Args:
        train_texts, test_texts: the two sides; the result has one pair per leaked test row.
        threshold: smallest word-shingle Jaccard similarity of a near-duplicate, in (0, 1].
        shingle_size: words per shingle.
        train_labels, test_labels: optional labels (both or neither) to flag exact duplicates whose
            labels disagree.
        names: what to call the two sides in the pairs (``("train", "validation")`` gives
            ``train_index`` and ``validation_index``).
        seed: seeds the MinHash permutations (the result is the same for the same inputs and seed).
    """
    _check_options(threshold, shingle_size)
    if (train_labels is None) != (test_labels is None):
        raise InputError("give labels for both sides or for neither")
    t0 = time.perf_counter()
    n_train = len(train_texts)
    corpus = _Corpus.build(list(train_texts) + list(test_texts), shingle_size)
    train_rows_of_key: dict[int, list[int]] = {}
    for i in range(n_train):
        train_rows_of_key.setdefault(corpus.key_of_row[i], []).append(i)
    train_keys_of_set: dict[int, list[int]] = {}
    for k in train_rows_of_key:
        train_keys_of_set.setdefault(corpus.set_of_key[k], []).append(k)
    test_sets = {corpus.set_of_key[k] for k in corpus.key_of_row[n_train:]}
    near, n_candidates, (bands, rows) = _near_pairs(corpus, set(train_keys_of_set), test_sets, threshold, seed)
    best_by_key: dict[int, tuple[int, str, float, int] | None] = {}
    for key in dict.fromkeys(corpus.key_of_row[n_train:]):
        matches = [(k, jaccard) for train_set, jaccard in near.get(corpus.set_of_key[key], ())
                   for k in train_keys_of_set[train_set] if k != key]
        best_by_key[key] = _best_match(train_rows_of_key.get(key, ()), matches, train_rows_of_key)
    sides = _Sides(names, train_texts, test_texts, train_labels, test_labels)
    pairs = [sides.pair(j, best, train_rows_of_key.get(corpus.key_of_row[n_train + j], ()))
             for j in range(len(test_texts)) if (best := best_by_key[corpus.key_of_row[n_train + j]]) is not None]
    pairs.sort(key=lambda p: (p["kind"] != "exact", -p["similarity"], p[f"{names[1]}_index"]))
    settings = {"threshold": threshold, "shingle_size": shingle_size, "normalisation": NORMALISATION,
                "lsh_bands": bands, "lsh_rows": rows, "seed": seed,
                "signature": f"leakage|norm:nfkc-casefold-nopunct|shingle:word-{shingle_size}|jaccard:{threshold:g}"
                             f"|lsh:{bands}x{rows}|verify:exact|seed:{seed}"}
    return OverlapResult(names=names, n_train=n_train, n_test=len(test_texts), pairs=pairs,
                         n_exact=sum(p["kind"] == "exact" for p in pairs), n_near=sum(p["kind"] == "near" for p in pairs),
                         n_label_conflicts=sum(bool(p.get("label_conflict")) for p in pairs),
                         n_candidates=n_candidates, settings=settings, seconds=time.perf_counter() - t0)


@dataclass(frozen=True)
class _Sides:
    """Both sides' names, texts and labels: turns a best match into a pair entry."""

    names: tuple[str, str]
    train_texts: Sequence[str]
    test_texts: Sequence[str]
    train_labels: Sequence[str] | None
    test_labels: Sequence[str] | None

    def pair(self, j: int, best: tuple[int, str, float, int], exact_rows: Sequence[int]) -> dict[str, Any]:
        train, test = self.names
        i, kind, similarity, n_matches = best
        pair = {f"{test}_index": j, f"{train}_index": i, "kind": kind, "similarity": similarity,
                "n_matches": n_matches, f"{test}_text": self.test_texts[j], f"{train}_text": self.train_texts[i]}
        if self.test_labels is not None:
            pair[f"{test}_label"], pair[f"{train}_label"] = self.test_labels[j], self.train_labels[i]
            pair["label_conflict"] = any(self.train_labels[r] != self.test_labels[j] for r in exact_rows)
        return pair


def _best_match(exact_rows: Sequence[int], near_keys: list[tuple[int, float]],
                train_rows_of_key: dict[int, list[int]]) -> tuple[int, str, float, int] | None:
    """(train row, kind, similarity, number of matching train rows) for one test key, or None.

    An exact duplicate wins; else the most similar near-duplicate, ties to the earliest train row.
    """
    n_near = sum(len(train_rows_of_key[k]) for k, _ in near_keys)
    if exact_rows:
        return exact_rows[0], "exact", 1.0, len(exact_rows) + n_near
    if not near_keys:
        return None
    jaccard, row = max((j, -train_rows_of_key[k][0]) for k, j in near_keys)
    return -row, "near", jaccard, n_near


def label_conflicts(texts: Sequence[str], labels: Sequence[str], *, max_examples: int = 5) -> dict[str, Any]:
    """Normalised texts (:func:`leak_key`) that occur with more than one label in one set of rows.

    >>> label_conflicts(["Call me!", "call me", "hi"], ["ham", "spam", "ham"])
    {'n_texts': 1, 'n_rows': 2, 'examples': [{'text': 'Call me!', 'labels': {'ham': 1, 'spam': 1}, 'rows': [0, 1]}]}
    """
    groups: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        groups.setdefault(leak_key(text), []).append(i)
    bad = [rows for rows in groups.values() if len({labels[i] for i in rows}) > 1]
    examples = [{"text": texts[rows[0]], "labels": dict(Counter(labels[i] for i in rows)), "rows": rows[:20]}
                for rows in bad[:max_examples]]
    return {"n_texts": len(bad), "n_rows": sum(map(len, bad)), "examples": examples}


def splits_overlap(texts: Mapping[str, Sequence[str]], labels: Mapping[str, Sequence[str]] | None = None, *,
                   threshold: float = DEFAULT_THRESHOLD, seed: int = 0) -> list[OverlapResult]:
    """Overlap of ``test`` with ``train``, ``validation`` with ``train`` and ``test`` with ``validation`` (the
    pairs whose sides are present and non-empty), for a training run's own splits."""
    out = []
    for a, b in (("train", "test"), ("train", "validation"), ("validation", "test")):
        if texts.get(a) and texts.get(b):
            out.append(find_overlap(texts[a], texts[b], threshold=threshold, names=(a, b), seed=seed,
                                    train_labels=None if labels is None else labels[a],
                                    test_labels=None if labels is None else labels[b]))
    return out
