"""Greedy and beam search: cached == uncached, beam search == exhaustive search when the beam is wide enough."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnlab.errors import InputError
from attnlab.models.generate import generate
from attnlab.models.seq2seq import Seq2SeqTransformer

BOS, EOS = 2, 3


def _model(seed: int, vocab: int = 24, dtype=torch.float64) -> Seq2SeqTransformer:
    torch.manual_seed(seed)
    model = Seq2SeqTransformer(src_vocab_size=vocab, tgt_vocab_size=vocab, d_model=16, n_heads=2,
                               n_encoder_layers=2, n_decoder_layers=2, d_ff=32, max_len=24)
    with torch.no_grad():  # larger weights than the N(0, 0.02) init, so the distributions are far from flat
        for p in model.parameters():
            p.mul_(20.0 if p.dim() > 1 else 1.0)
    return model.to(dtype).eval()


def _sources(seed: int, vocab: int, batch: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, vocab, (batch, 7), generator=g)
    for i in range(batch):  # different lengths: padding in the batch
        src[i, 7 - i:] = 0
        src[i, 6 - i] = EOS
    return src


@torch.no_grad()
def _reference_greedy(model, src, max_new):
    """Greedy decoding written out: run the whole prefix through the model for every new token."""
    out = []
    for row in src:
        row = row[row != 0][None]
        prefix = [BOS]
        while len(prefix) <= max_new:
            logits = model(row, None, torch.tensor([prefix])).logits[0, -1]
            nxt = int(logits.argmax())
            if nxt == EOS:
                break
            prefix.append(nxt)
        out.append(prefix[1:])
    return out


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), beam=st.sampled_from([1, 2, 4]), length_penalty=st.sampled_from([0.0, 0.6, 1.0]))
def test_cached_and_uncached_decoding_give_identical_outputs(seed, beam, length_penalty):
    model = _model(seed % 7)
    src = _sources(seed, 24)
    kw = dict(bos_id=BOS, eos_id=EOS, max_new_tokens=12, beam_size=beam, length_penalty=length_penalty)
    cached = generate(model, src, src != 0, use_cache=True, **kw)
    uncached = generate(model, src, src != 0, use_cache=False, **kw)
    assert cached.tokens == uncached.tokens
    assert cached.hit_max_length == uncached.hit_max_length
    assert cached.scores == pytest.approx(uncached.scores, abs=1e-9)


def test_cached_and_uncached_agree_in_float32_too():
    model = _model(11, dtype=torch.float32)
    src = _sources(5, 24, batch=6)
    for beam in (1, 4):
        kw = dict(bos_id=BOS, eos_id=EOS, max_new_tokens=16, beam_size=beam)
        assert generate(model, src, src != 0, **kw).tokens == generate(model, src, src != 0, use_cache=False,
                                                                          **kw).tokens


def test_greedy_matches_the_written_out_reference_and_ignores_batch_padding():
    model = _model(3)
    src = _sources(9, 24)
    got = generate(model, src, src != 0, bos_id=BOS, eos_id=EOS, max_new_tokens=10)
    assert got.tokens == _reference_greedy(model, src, 10)
    assert all(len(t) <= 10 for t in got.tokens)
    assert all(len(t) == 10 for t, hit in zip(got.tokens, got.hit_max_length) if hit)


@torch.no_grad()
def _exhaustive_best(model, src_row, max_new, vocab):
    """Highest raw log-probability over every sequence: ended by </s> within max_new tokens, or cut at max_new."""
    memory, mask, _ = model.encode(src_row[None])
    best = (-math.inf, None)
    for n in range(max_new + 1):
        for seq in itertools.product(range(vocab), repeat=n):
            if EOS in seq:
                continue
            prefix = torch.tensor([[BOS, *seq]])
            logp = model.decode(prefix, memory, mask).logits[0].log_softmax(-1)  # (n + 1, V)
            score = sum(float(logp[i, tok]) for i, tok in enumerate(seq))
            if n < max_new:
                score += float(logp[n, EOS])
            if score > best[0]:
                best = (score, list(seq))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_wide_enough_beam_finds_the_exhaustive_search_optimum(seed):
    vocab, max_new = 5, 3
    model = _model(seed, vocab=vocab)
    src = torch.tensor([[4, 4, 3], [4, 3, 0]])
    got = generate(model, src, src != 0, bos_id=BOS, eos_id=EOS, max_new_tokens=max_new,
                   beam_size=vocab ** max_new, length_penalty=0.0)
    for row, tokens, score in zip(src, got.tokens, got.scores):
        best_score, best_tokens = _exhaustive_best(model, row[row != 0], max_new, vocab)
        assert tokens == best_tokens
        assert score == pytest.approx(best_score, abs=1e-9)


def test_beam_search_never_scores_below_greedy_with_raw_sums():
    model = _model(4)
    src = _sources(2, 24)
    kw = dict(bos_id=BOS, eos_id=EOS, max_new_tokens=10, length_penalty=0.0)
    greedy = generate(model, src, src != 0, **kw)
    beam = generate(model, src, src != 0, beam_size=4, **kw)
    for g, b, hit in zip(greedy.scores, beam.scores, greedy.hit_max_length):
        if not hit:  # a greedy output that ended is one of the candidates beam search compares
            assert b >= g - 1e-9


def test_hit_max_length_flags_outputs_cut_at_the_cap():
    model = _model(6)
    with torch.no_grad():
        model.lm_head.weight[EOS] = -100.0  # </s> can never win: every output runs to the cap
    src = _sources(1, 24)
    for beam in (1, 3):
        got = generate(model, src, src != 0, bos_id=BOS, eos_id=EOS, max_new_tokens=5, beam_size=beam)
        assert got.hit_max_length == [True] * 4 and all(len(t) == 5 for t in got.tokens)


@pytest.mark.parametrize("kwargs, match", [
    (dict(max_new_tokens=0), "max_new_tokens"), (dict(max_new_tokens=24), "positions"),
    (dict(beam_size=0), "beam_size"), (dict(length_penalty=float("nan")), "length_penalty")])
def test_bad_generation_arguments_are_one_line_errors(kwargs, match):
    model = _model(0)
    src = torch.tensor([[4, 3]])
    with pytest.raises(InputError, match=match):
        generate(model, src, bos_id=BOS, eos_id=EOS, **{"max_new_tokens": 4, **kwargs})
