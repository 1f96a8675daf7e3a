"""Bar: the leakage check of 100k train x 20k test texts in <= 10 s on a 2-core CPU, finding >= 95% of the
planted near-duplicates (word-shingle Jaccard >= 0.8) that an exact brute-force check finds.

Texts are synthetic SMS-like sentences from a word-bigram model of the built-in SMS-spam data (realistic
word frequencies and shared phrases, no accidental flood of verbatim copies). Into the test side we plant
copies of random train texts changed by case and punctuation only (exact after normalisation) and by one to
three replaced, inserted or deleted words, plus case and punctuation (near). Ground truth is exact: the
Jaccard of every planted pair, and a brute-force comparison of a random sample of test rows with all train
rows (sparse matrix products over the same shingle sets the library uses).

    .venv/bin/python benchmarks/leakage_speed.py [--train 100000] [--test 20000] [--sample 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time

import numpy as np

from attnlab.data.builtin import load_builtin
from attnlab.diagnostics.leakage import find_overlap, leak_key, shingles

PUNCT = ["!", "!!", "?", ".", "...", ",", ":)", ""]


def bigram_model(texts: list[str]):
    """CSR-style next-word tables of a word-bigram model (token 0 = start/end of text)."""
    vocab = {"<s>": 0}
    pairs: dict[tuple[int, int], int] = {}
    for text in texts:
        ids = [0] + [vocab.setdefault(w, len(vocab)) for w in text.split()] + [0]
        for a, b in zip(ids, ids[1:]):
            pairs[a, b] = pairs.get((a, b), 0) + 1
    keys = sorted(pairs)
    first = np.array([a for a, _ in keys])
    nxt = np.array([b for _, b in keys])
    cum = np.cumsum([pairs[k] for k in keys]).astype(np.float64)
    start = np.searchsorted(first, np.arange(len(vocab)))
    end = np.searchsorted(first, np.arange(len(vocab)), side="right")
    lo = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
    hi = cum[end - 1]
    words = [None] * len(vocab)
    for w, i in vocab.items():
        words[i] = w
    return words, nxt, cum, lo, hi


def generate(n: int, model, rng: np.random.Generator, max_words: int = 45) -> list[str]:
    """``n`` texts sampled from the bigram model, all rows stepped at once."""
    words, nxt, cum, lo, hi = model
    cur = np.zeros(n, dtype=np.int64)
    out = np.zeros((n, max_words), dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    for t in range(max_words):
        r = lo[cur] + rng.random(n) * (hi[cur] - lo[cur])
        cur = nxt[np.minimum(np.searchsorted(cum, r, side="right"), len(cum) - 1)]
        if t < 3:  # at least 4 words
            cur = np.where(cur == 0, nxt[np.searchsorted(cum, lo[0] + rng.random(n) * (hi[0] - lo[0]), side="right")], cur)
        alive &= cur != 0
        out[:, t] = np.where(alive, cur, 0)
    return [" ".join(words[i] for i in row if i) for row in out]


def mutate(text: str, rnd: random.Random, vocab: list[str], n_words: int) -> str:
    """Change case and punctuation, and replace/insert/delete ``n_words`` words."""
    words = text.split()
    for _ in range(n_words):
        op = rnd.choice(("replace", "insert", "delete")) if len(words) > 3 else "insert"
        k = rnd.randrange(len(words))
        if op == "replace":
            words[k] = rnd.choice(vocab)
        elif op == "insert":
            words.insert(k, rnd.choice(vocab))
        else:
            del words[k]
    words = [w.upper() if rnd.random() < 0.15 else w.capitalize() if rnd.random() < 0.2 else w for w in words]
    return " ".join(w + (rnd.choice(PUNCT) if rnd.random() < 0.1 else "") for w in words) + rnd.choice(PUNCT)


def jaccard(a: str, b: str) -> float:
    x, y = shingles(leak_key(a)), shingles(leak_key(b))
    return len(x & y) / len(x | y) if x | y else 1.0


def brute_force_rows(train: list[str], test_rows: list[str], threshold: float) -> list[bool]:
    """For each test text: does some train text have an equal key or shingle Jaccard >= threshold? (exact)"""
    from scipy import sparse

    vocab: dict[str, int] = {}

    def matrix(texts):
        indptr, indices = [0], []
        for t in texts:
            ids = {vocab.setdefault(s, len(vocab)) for s in shingles(leak_key(t))}
            indices.extend(sorted(ids))
            indptr.append(len(indices))
        return indptr, indices

    tr, te = matrix(train), matrix(test_rows)
    shape = len(vocab)
    a = sparse.csr_matrix((np.ones(len(tr[1]), np.int32), tr[1], tr[0]), shape=(len(train), shape))
    b = sparse.csr_matrix((np.ones(len(te[1]), np.int32), te[1], te[0]), shape=(len(test_rows), shape))
    size_a, size_b = np.diff(a.indptr), np.diff(b.indptr)
    train_keys = {leak_key(t) for t in train}
    inter = (b @ a.T).tocoo()
    union = size_b[inter.row] + size_a[inter.col] - inter.data
    hit = np.zeros(len(test_rows), dtype=bool)
    hit[inter.row[inter.data >= threshold * union - 1e-9]] = True
    return [bool(h) or leak_key(t) in train_keys for h, t in zip(hit, test_rows)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=100_000)
    ap.add_argument("--test", type=int, default=20_000)
    ap.add_argument("--planted-exact", type=int, default=500)
    ap.add_argument("--planted-near", type=int, default=2_000)
    ap.add_argument("--sample", type=int, default=2_000, help="test rows checked by brute force")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng, rnd = np.random.default_rng(args.seed), random.Random(args.seed)
    sms = load_builtin("sms-spam").texts
    model = bigram_model(sms)
    vocab = [w for w in model[0][1:]]
    train = generate(args.train, model, rng)
    test = generate(args.test, model, rng)
    n_plant = args.planted_exact + args.planted_near
    slots = rnd.sample(range(args.test), n_plant)
    sources = [rnd.randrange(args.train) for _ in slots]
    for k, (slot, src) in enumerate(zip(slots, sources)):
        test[slot] = mutate(train[src], rnd, vocab, 0 if k < args.planted_exact else rnd.choice((1, 1, 2, 3)))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    t0, c0 = time.perf_counter(), time.process_time()
    result = find_overlap(train, test, threshold=args.threshold)  # includes importing datasketch
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    flagged = {p["test_index"] for p in result.pairs}

    planted_j = [jaccard(test[s], train[src]) for s, src in zip(slots, sources)]
    planted_true = [s for s, j, src in zip(slots, planted_j, sources)
                    if j >= args.threshold or leak_key(test[s]) == leak_key(train[src])]
    planted_recall = sum(s in flagged for s in planted_true) / len(planted_true)
    edge = [s for s, j in zip(slots, planted_j) if args.threshold <= j < args.threshold + 0.05]
    edge_recall = sum(s in flagged for s in edge) / max(1, len(edge))

    sample = sorted(rnd.sample(range(args.test), min(args.sample, args.test)))
    sample = sorted(set(sample) | set(rnd.sample(planted_true, min(len(planted_true), args.sample // 4))))
    t1 = time.perf_counter()
    truth = brute_force_rows(train, [test[i] for i in sample], args.threshold)
    brute_seconds = time.perf_counter() - t1
    positives = [i for i, t in zip(sample, truth) if t]
    sample_recall = sum(i in flagged for i in positives) / max(1, len(positives))
    false_flags = [i for i, t in zip(sample, truth) if not t and i in flagged]

    print(f"machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, load average before the check {load:.2f}")
    print(f"texts: train {len(train):,}  test {len(test):,}  (planted: {args.planted_exact} exact, "
          f"{args.planted_near} near; {len(planted_true)} planted pairs at Jaccard >= {args.threshold})")
    print(f"settings: {result.settings['signature']}")
    print(f"leakage check: {seconds:.2f} s wall, {cpu_seconds:.2f} s CPU  (test rows flagged: {result.n_exact:,} exact, {result.n_near:,} near; "
          f"{result.n_candidates:,} LSH candidates verified)")
    print(f"recall of planted near/exact duplicates: {planted_recall:.4f} ({sum(s in flagged for s in planted_true)}"
          f"/{len(planted_true)})")
    print(f"  of which at the edge, {args.threshold} <= Jaccard < {args.threshold + 0.05:g}: recall {edge_recall:.4f} "
          f"({sum(s in flagged for s in edge)}/{len(edge)})")
    print(f"brute-force sample of {len(sample):,} test rows x {len(train):,} train rows ({brute_seconds:.1f} s): "
          f"{len(positives)} leaked rows, recall {sample_recall:.4f}, rows flagged that brute force rejects: "
          f"{len(false_flags)}")
    ok = seconds <= 10.0 and planted_recall >= 0.95 and sample_recall >= 0.95 and not false_flags
    print("BAR", "MET" if ok else "MISSED", "(<= 10 s, recall >= 0.95, no false flags)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
