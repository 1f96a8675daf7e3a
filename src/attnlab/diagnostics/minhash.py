"""MinHash signatures and LSH banding with NumPy, for :mod:`attnlab.diagnostics.leakage`.

A set's MinHash signature holds, per permutation, the minimum permuted id of its elements; two sets agree
on one position with probability equal to their Jaccard similarity. Cut into ``bands`` of ``rows``
positions, two sets share at least one whole band with probability ``1 - (1 - J**rows) ** bands`` — the
LSH candidate rule that ``datasketch.MinHashLSH`` applies (:class:`LSHSignature` is what it reads).

>>> sig = minhash_signatures([frozenset({1, 2, 3}), frozenset({1, 2, 3}), frozenset({7, 8})], 10, 8, seed=0)
>>> sig.shape, bool((sig[0] == sig[1]).all())
((3, 8), True)
>>> keys = band_keys(sig, 2, 4)
>>> sharing_a_band(keys, np.array([0]), np.array([1, 2]))[1].tolist()
[True, False]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

__all__ = ["CANDIDATE_RECALL", "LSHSignature", "MAX_PERM", "band_keys", "lsh_params", "minhash_signatures",
           "sharing_a_band"]

#: Probability that a pair exactly at the threshold becomes an LSH candidate.
CANDIDATE_RECALL = 0.99
#: Most permutations spent on the LSH index (bands x rows).
MAX_PERM = 64


def lsh_params(threshold: float, *, recall: float = CANDIDATE_RECALL, max_perm: int = MAX_PERM) -> tuple[int, int]:
    """(bands, rows) of the LSH index: the most rows per band (fewest low-similarity candidates) for which
    enough bands to reach ``recall`` at ``threshold`` fit in ``max_perm`` permutations.

    A pair of Jaccard ``s`` shares a band with probability ``1 - (1 - s**rows) ** bands``.

    >>> lsh_params(0.8)
    (12, 5)
    >>> b, r = lsh_params(0.8); round(1 - (1 - 0.8 ** r) ** b, 4)
    0.9915
    """
    best = (1, 1)
    for rows in range(1, max_perm + 1):
        p = threshold ** rows
        if p >= 1.0:
            bands = 2
        elif p <= 0.0:
            break
        else:
            bands = max(2, math.ceil(math.log(1 - recall) / math.log1p(-p)))
        if bands * rows > max_perm:
            break
        best = (bands, rows)
    return best


def _fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: spreads consecutive ids over all 64 bits (wrapping multiply)."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


#: Largest permutation table (ids x permutations, uint32) tabulated up front; beyond it ids are hashed per block.
_TABLE_BYTES = 1 << 27


def minhash_signatures(sets: Sequence[frozenset[int]], vocab_size: int, num_perm: int, seed: int) -> np.ndarray:
    """(S, num_perm) uint32 MinHash signatures of non-empty sets of integer ids in ``[0, vocab_size)``.

    Permutation ``k`` of id ``x`` is ``(a_k * fmix64(x) + b_k) mod 2**64 >> 32`` (multiply-shift, ``a_k``
    odd): tabulated once per id when the table is small (the usual case: a vocabulary of words), else
    computed per block. A set's signature is the column-wise minimum over its ids. Memory stays bounded:
    blocks of about 2**22 hash values.
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**63, num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, num_perm, dtype=np.uint64)
    salt = np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64)

    def permuted(ids: np.ndarray) -> np.ndarray:  # (len(ids), P)
        with np.errstate(over="ignore"):
            h = _fmix64(ids.astype(np.uint64) + salt)
            return ((h[:, None] * a[None, :] + b[None, :]) >> np.uint64(32)).astype(np.uint32)

    table = permuted(np.arange(vocab_size)) if vocab_size * num_perm * 4 <= _TABLE_BYTES else None
    lengths = np.fromiter(map(len, sets), dtype=np.int64, count=len(sets))
    flat = np.fromiter(itertools.chain.from_iterable(sets), dtype=np.int64, count=int(lengths.sum()))
    ends = np.cumsum(lengths)
    out = np.empty((len(sets), num_perm), dtype=np.uint32)
    step = max(1, (1 << 22) // num_perm)
    s = 0
    while s < len(sets):
        lo = int(ends[s] - lengths[s])
        e = max(s + 1, int(np.searchsorted(ends, lo + step, side="right")))
        ids = flat[lo:int(ends[e - 1])]
        block = table[ids] if table is not None else permuted(ids)  # (ids of sets s..e, P)
        out[s:e] = np.minimum.reduceat(block, ends[s:e] - lengths[s:e] - lo, axis=0)
        s = e
    return out


class LSHSignature:
    """What ``datasketch.MinHashLSH`` reads of a MinHash (``hashvalues``, ``len``), over a row of our
    NumPy signature matrix; building a ``LeanMinHash`` per set would copy and re-check each row."""

    __slots__ = ("hashvalues",)

    def __init__(self, hashvalues: np.ndarray):
        self.hashvalues = hashvalues

    def __len__(self) -> int:
        return len(self.hashvalues)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(S, bands) uint64: a hash of each band of each signature (equal bands give equal keys)."""
    out = np.empty((len(sig), bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            h = np.zeros(len(sig), dtype=np.uint64)
            for col in range(band * rows, (band + 1) * rows):
                h = _fmix64(h ^ (sig[:, col].astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)))
            out[:, band] = h
    return out


def sharing_a_band(keys: np.ndarray, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the ``left`` and ``right`` rows whose band keys meet one of the other side's in some band."""
    hit_left, hit_right = np.zeros(len(left), dtype=bool), np.zeros(len(right), dtype=bool)
    for band in range(keys.shape[1]):
        hit_left |= np.isin(keys[left, band], keys[right, band])
        hit_right |= np.isin(keys[right, band], keys[left, band])
    return hit_left, hit_right
