"""Decoding for :class:`attnlab.models.seq2seq.Seq2SeqTransformer`: greedy and beam search, batched, with a
key/value cache (or without, recomputing the whole prefix each step: same outputs, for tests and timing).

Beam search follows Hugging Face's ``BeamSearchScorer``: each step keeps the ``2·K`` best continuations of the
``K`` beams of every sentence, turns those ending in ``</s>`` (when they rank among the first ``K``) into
finished hypotheses scored ``sum log p / length ** length_penalty`` (``length`` counts the generated tokens,
``</s>`` included), and continues with the ``K`` best others. A sentence is done when it holds ``K`` finished
hypotheses and none of its live beams can still beat the worst of them at the current length (HF's default,
``early_stopping=False``). Beams still live at ``max_new_tokens`` are finished as they are and flagged as
having hit the maximum length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from attnlab.errors import InputError
from attnlab.models.seq2seq import Seq2SeqTransformer

__all__ = ["Generated", "generate"]


@dataclass(frozen=True)
class Generated:
    """Decoded token ids per source (without ``<s>``/``</s>``), their scores, and which hit the length cap.

    ``scores`` are length-normalised log-probabilities for beam search and plain sums for greedy decoding.
    """

    tokens: list[list[int]]
    scores: list[float]
    hit_max_length: list[bool]


@torch.no_grad()
def generate(model: Seq2SeqTransformer, src_ids: Tensor, src_mask: Tensor | None = None, *, bos_id: int,
             eos_id: int, max_new_tokens: int = 64, beam_size: int = 1, length_penalty: float = 1.0,
             use_cache: bool = True) -> Generated:
    """Translate a batch of sources.

    Args:
        model: A trained model (put in eval mode here).
        src_ids: ``(B, S)`` source ids.
        src_mask: ``(B, S)`` True at real tokens, or ``None``.
        bos_id: ``<s>``, the first decoder input.
        eos_id: ``</s>``, ends a hypothesis.
        max_new_tokens: Most tokens generated per source (``</s>`` included).
        beam_size: 1 = greedy.
        length_penalty: Exponent of the length normaliser in beam search (1.0 = mean log-prob; 0 = raw sum).
        use_cache: Keep keys/values between steps; ``False`` recomputes the prefix each step (same result).

    Returns:
        :class:`Generated`, one entry per source in input order.

    Example:
        >>> from attnlab.models.seq2seq import Seq2SeqTransformer
        >>> _ = torch.manual_seed(0)
        >>> model = Seq2SeqTransformer(src_vocab_size=20, tgt_vocab_size=20, d_model=16, n_heads=2,
        ...                            n_encoder_layers=1, n_decoder_layers=1, d_ff=32, max_len=16)
        >>> src = torch.tensor([[5, 6, 7, 3], [8, 9, 3, 0]])
        >>> a = generate(model, src, src != 0, bos_id=2, eos_id=3, max_new_tokens=6, beam_size=3)
        >>> b = generate(model, src, src != 0, bos_id=2, eos_id=3, max_new_tokens=6, beam_size=3, use_cache=False)
        >>> a.tokens == b.tokens, len(a.tokens)
        (True, 2)
    """
    _check_args(model, max_new_tokens, beam_size, length_penalty)
    model.eval()
    memory, memory_mask, _ = model.encode(src_ids, src_mask)  # (B, S, d_model), (B, 1, 1, S) or None
    if beam_size == 1:
        return _greedy(model, memory, memory_mask, bos_id, eos_id, max_new_tokens, use_cache)
    return _beam(model, memory, memory_mask, _BeamOptions(bos_id, eos_id, max_new_tokens, beam_size,
                                                          length_penalty, use_cache))


def _check_args(model: Seq2SeqTransformer, max_new_tokens: int, beam_size: int, length_penalty: float) -> None:
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise InputError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
    if max_new_tokens + 1 > model.max_len:
        raise InputError(f"max_new_tokens={max_new_tokens} needs {max_new_tokens + 1} positions but the model has "
                         f"{model.max_len}; ask for at most {model.max_len - 1}")
    if not isinstance(beam_size, int) or beam_size < 1:
        raise InputError(f"beam_size must be a positive integer, got {beam_size!r}")
    if not isinstance(length_penalty, (int, float)) or length_penalty != length_penalty:
        raise InputError(f"length_penalty must be a number, got {length_penalty!r}")


def _next_logprobs(model: Seq2SeqTransformer, tokens: Tensor, t: int, memory: Tensor, memory_mask: Tensor | None,
                   cache: list | None) -> Tensor:
    """Log-probabilities ``(N, V)`` of the token after position ``t`` given ``tokens[:, :t + 1]``."""
    if cache is not None:
        logits = model.decode(tokens[:, t:t + 1], memory, memory_mask, cache=cache, start=t).logits
    else:
        logits = model.decode(tokens[:, :t + 1], memory, memory_mask).logits
    last = logits[:, -1]  # (N, V); bf16/fp16 logits are scored in float32, float64 stays float64
    return last.to(torch.promote_types(last.dtype, torch.float32)).log_softmax(dim=-1)


def _score_dtype(memory: Tensor) -> torch.dtype:
    return torch.promote_types(memory.dtype, torch.float32)


def _greedy(model: Seq2SeqTransformer, memory: Tensor, memory_mask: Tensor | None, bos_id: int, eos_id: int,
            max_new: int, use_cache: bool) -> Generated:
    B, device = memory.size(0), memory.device
    tokens = torch.full((B, max_new + 1), eos_id, dtype=torch.long, device=device)  # (B, 1 + max_new)
    tokens[:, 0] = bos_id
    cache = model.new_cache(B, max_new + 1, device=device) if use_cache else None
    scores = torch.zeros(B, dtype=_score_dtype(memory), device=device)
    lengths = torch.full((B,), max_new, dtype=torch.long, device=device)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    for t in range(max_new):
        logprobs = _next_logprobs(model, tokens, t, memory, memory_mask, cache)  # (B, V)
        best, nxt = logprobs.max(dim=-1)  # (B,), (B,)
        nxt = torch.where(finished, torch.full_like(nxt, eos_id), nxt)
        scores += torch.where(finished, torch.zeros_like(best), best)
        tokens[:, t + 1] = nxt
        ended = (nxt == eos_id) & ~finished
        lengths[ended] = t
        finished |= ended
        if bool(finished.all()):
            break
    rows = tokens[:, 1:].tolist()
    out_len = lengths.tolist()
    return Generated([row[:n] for row, n in zip(rows, out_len)], scores.tolist(), (~finished).tolist())


@dataclass(frozen=True)
class _BeamOptions:
    bos_id: int
    eos_id: int
    max_new: int
    beam_size: int
    length_penalty: float
    use_cache: bool


class _Hypotheses:
    """The ``K`` best finished hypotheses of one source (HF's ``BeamHypotheses``)."""

    def __init__(self, k: int, length_penalty: float) -> None:
        self.k, self.length_penalty = k, length_penalty
        self.items: list[tuple[float, list[int], bool]] = []

    def add(self, tokens: list[int], sum_logprobs: float, length: int, hit_max: bool = False) -> None:
        score = sum_logprobs / (length ** self.length_penalty)
        if len(self.items) < self.k or score > self.worst:
            self.items.append((score, tokens, hit_max))
            if len(self.items) > self.k:
                self.items.remove(min(self.items, key=lambda item: item[0]))

    @property
    def worst(self) -> float:
        return min(item[0] for item in self.items)

    def is_done(self, best_running_sum: float, length: int) -> bool:
        return len(self.items) >= self.k and self.worst >= best_running_sum / (length ** self.length_penalty)

    def best(self) -> tuple[float, list[int], bool]:
        return max(self.items, key=lambda item: item[0])


def _beam(model: Seq2SeqTransformer, memory: Tensor, memory_mask: Tensor | None, opts: _BeamOptions) -> Generated:
    B, K, device = memory.size(0), opts.beam_size, memory.device
    memory = memory.repeat_interleave(K, dim=0)  # (B·K, S, d_model): the K beams of a source are adjacent
    memory_mask = None if memory_mask is None else memory_mask.repeat_interleave(K, dim=0)  # (B·K, 1, 1, S)
    tokens = torch.full((B * K, opts.max_new + 1), opts.eos_id, dtype=torch.long, device=device)
    tokens[:, 0] = opts.bos_id
    cache = model.new_cache(B * K, opts.max_new + 1, device=device) if opts.use_cache else None
    beam_scores = torch.zeros(B, K, dtype=_score_dtype(memory), device=device)  # (B, K) running sums of log p
    beam_scores[:, 1:] = float("-inf")  # all beams start identical: expand only the first at step 0
    hyps = [_Hypotheses(K, opts.length_penalty) for _ in range(B)]
    done = [False] * B
    offsets = (torch.arange(B, device=device) * K)[:, None]  # (B, 1)
    for t in range(opts.max_new):
        logprobs = _next_logprobs(model, tokens, t, memory, memory_mask, cache)  # (B·K, V)
        V = logprobs.size(-1)
        cand = (beam_scores[:, :, None] + logprobs.view(B, K, V)).view(B, K * V)  # (B, K·V)
        cand_scores, cand_idx = cand.topk(2 * K, dim=1)  # (B, 2K): at most K of them end in </s>
        cand_beam, cand_tok = cand_idx // V, cand_idx % V  # (B, 2K) x 2
        is_eos = cand_tok == opts.eos_id  # (B, 2K)
        _finish(hyps, done, tokens, t, K, cand_scores, cand_beam, is_eos)
        keep = (~is_eos) & ((~is_eos).cumsum(dim=1) <= K)  # (B, 2K): the K best live continuations
        next_scores = cand_scores[keep].view(B, K)
        next_beam = cand_beam[keep].view(B, K)
        next_tok = cand_tok[keep].view(B, K)
        best_running = next_scores[:, 0].tolist()
        for b in range(B):
            done[b] = done[b] or hyps[b].is_done(best_running[b], t + 1)
        if all(done):
            break
        index = (offsets + next_beam).view(-1)  # (B·K,) parent row of each new beam
        tokens[:, :t + 1] = tokens.index_select(0, index)[:, :t + 1]
        tokens[:, t + 1] = next_tok.view(-1)
        beam_scores = next_scores
        if cache is not None:
            for layer in cache:
                layer.reorder(index, t + 1, memory=False)  # beams move within their own source
    else:
        _finish_at_max_length(hyps, done, tokens, beam_scores, opts.max_new, K)
    best = [h.best() for h in hyps]
    return Generated([b[1] for b in best], [b[0] for b in best], [b[2] for b in best])


def _finish(hyps: list[_Hypotheses], done: list[bool], tokens: Tensor, t: int, K: int, cand_scores: Tensor,
            cand_beam: Tensor, is_eos: Tensor) -> None:
    """Turn ``</s>`` candidates ranked among the first ``K`` into finished hypotheses."""
    rows = is_eos[:, :K].nonzero().tolist()  # [(b, rank)]
    for b, rank in rows:
        if done[b]:
            continue
        parent = b * K + int(cand_beam[b, rank])
        hyps[b].add(tokens[parent, 1:t + 1].tolist(), float(cand_scores[b, rank]), t + 1)


def _finish_at_max_length(hyps: list[_Hypotheses], done: list[bool], tokens: Tensor, beam_scores: Tensor,
                          max_new: int, K: int) -> None:
    """Sources not done after ``max_new`` steps: their live beams become (truncated) hypotheses."""
    scores = beam_scores.tolist()
    for b in range(len(hyps)):
        if done[b]:
            continue
        for k in range(K):
            if scores[b][k] != float("-inf"):
                hyps[b].add(tokens[b * K + k, 1:max_new + 1].tolist(), scores[b][k], max_new, hit_max=True)
