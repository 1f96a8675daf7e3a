"""Head statistics over a dataset: what each head attends to, and which heads do the same thing.

Works on any stack of attention weights: attnlab models (``return_attn=True``) and Hugging Face models
(``output_attentions=True``) both give one ``(B, H, T_q, T_k)`` tensor per layer.

Per head, averaged over every real query row of the data (padding rows never count):

- ``entropy``: ``-Σ_j p_ij ln p_ij`` in nats; ``normalized_entropy`` divides by ``ln(n real keys)`` (1 =
  uniform over the row, 0 = all weight on one key; rows with a single key are left out of it).
- ``max_weight``: the largest weight of the row (a head's "confidence", Voita et al. 2019).
- ``distance``: ``Σ_j p_ij |i - j|``, the mean attention distance in tokens (self-attention only).
- ``share_special`` / ``share_punctuation`` / ``share_padding``: weight on special tokens ([CLS], [SEP]…),
  on punctuation, and on padding keys (this one must be 0 when masks work: a check, not a feature).
- ``share_self`` / ``share_previous`` / ``share_next``: weight on the query's own position and its
  neighbours (positional heads, Voita et al. 2019; Clark et al. 2019).
- ``pattern``: a plain-words label from those shares (the rule is :func:`head_pattern`).

Across heads: the Jensen–Shannon divergence (base 2, in [0, 1]) between two heads' distributions on the
same query rows, averaged over rows: near 0 means the two heads attend alike (redundant candidates).
And :func:`attention_rollout` (Abnar & Zuidema, 2020) for a whole-model view of one input.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from attnlab.errors import InputError

__all__ = ["HeadStatistics", "TOKEN_KINDS", "attention_rollout", "head_pattern", "js_divergence", "token_kinds"]

WORD, SPECIAL, PUNCTUATION = 0, 1, 2
TOKEN_KINDS = {"word": WORD, "special": SPECIAL, "punctuation": PUNCTUATION}
_SHARES = ("share_special", "share_punctuation", "share_padding", "share_self", "share_previous", "share_next")
_SUMS = ("entropy", "max_weight", "distance", *_SHARES)
_LN2 = math.log(2.0)


def token_kinds(tokens: Sequence[str], special: Iterable[str] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
                ) -> list[int]:
    """Kind of each token: 1 special, 2 punctuation (every character a Unicode P* category), else 0.

    WordPiece continuation marks (``##``) and SentencePiece/BPE word marks (``▁``, ``Ġ``) are ignored.

    >>> token_kinds(["[CLS]", "hello", ",", "##!", "world", "<s>"], special=["[CLS]", "<s>"])
    [1, 0, 2, 2, 0, 1]
    """
    special = set(special)
    kinds = []
    for tok in tokens:
        if tok in special:
            kinds.append(SPECIAL)
            continue
        core = tok[2:] if tok.startswith("##") else tok.lstrip("▁Ġ")
        punct = bool(core) and all(unicodedata.category(ch).startswith("P") for ch in core)
        kinds.append(PUNCTUATION if punct else WORD)
    return kinds


def js_divergence(p: Tensor, q: Tensor) -> Tensor:
    """Jensen–Shannon divergence in bits between distributions along the last dimension.

    ``0.5·KL(p‖m) + 0.5·KL(q‖m)`` with ``m = (p + q) / 2``; ``0 ln 0 = 0``. Broadcasts; the result drops
    the last dimension. It is the square of ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.
    """
    m = 0.5 * (p + q)
    return 0.5 * (_kl_terms(p, m) + _kl_terms(q, m)) / _LN2


def _kl_terms(p: Tensor, m: Tensor) -> Tensor:
    ratio = torch.where(p > 0, p / m.clamp_min(torch.finfo(m.dtype).tiny), torch.ones_like(p))
    return (p * ratio.log()).sum(dim=-1)


def head_pattern(stats: dict[str, float | None]) -> str:
    """A head's dominant behaviour in words, from its statistics.

    The first rule that holds wins: more than half the weight on special tokens, on the query itself, on the
    previous token, on the next token, on punctuation; else "broad" when the normalised entropy is above
    0.8 (close to uniform over the row), "focused" when the average largest weight is above 0.5, else "mixed".
    """
    for key, name in (("share_special", "special tokens"), ("share_self", "itself"),
                      ("share_previous", "previous token"), ("share_next", "next token"),
                      ("share_punctuation", "punctuation")):
        value = stats.get(key)
        if value is not None and value > 0.5:
            return name
    if (stats.get("normalized_entropy") or 0.0) > 0.8:
        return "broad"
    if (stats.get("max_weight") or 0.0) > 0.5:
        return "focused"
    return "mixed"


class HeadStatistics:
    """Accumulates per-head statistics over batches of attention weights; :meth:`compute` summarises.

    Args:
        self_attention: Whether queries and keys are the same positions (enables distance and the
            self/previous/next shares). False for cross-attention.
        similarity_rows: At most this many query rows (the first ones seen) enter the head-to-head
            Jensen–Shannon matrix, which costs ``rows × heads² × T``.

    Example:
        >>> import torch
        >>> w = torch.softmax(torch.randn(2, 3, 5, 5, dtype=torch.float64), dim=-1)  # (B, H, T, T)
        >>> stats = HeadStatistics()
        >>> stats.update([w, w])  # two layers
        >>> out = stats.compute()
        >>> out["layers"], out["heads"], len(out["per_head"])
        (2, [3, 3], 6)
        >>> round(out["similarity"]["js"][0][3], 12)  # layer 0 head 0 vs layer 1 head 0: identical maps
        0.0
    """

    def __init__(self, *, self_attention: bool = True, similarity_rows: int = 4096) -> None:
        self.self_attention = self_attention
        self.similarity_rows = similarity_rows
        self._heads: list[int] | None = None
        self._sums: dict[str, np.ndarray] = {}
        self._norm_entropy = self._norm_rows = None
        self._rows = 0
        self._examples = 0
        self._js_sum: np.ndarray | None = None
        self._js_rows = 0

    def update(self, attentions: Sequence[Tensor], key_mask: Tensor | None = None,
               kinds: Tensor | None = None, query_mask: Tensor | None = None) -> None:
        """Add one batch.

        Args:
            attentions: One ``(B, H_l, T_q, T_k)`` tensor per layer (heads may differ per layer).
            key_mask: ``(B, T_k)`` bool/0-1, True at real keys; ``None`` = all real.
            kinds: ``(B, T_k)`` token kinds (:func:`token_kinds` codes); ``None`` = all words.
            query_mask: ``(B, T_q)`` real query rows; defaults to ``key_mask`` for self-attention, else all.
        """
        attentions = [a.detach() for a in attentions]
        if not attentions:
            raise InputError("no attention layers given; pass one (B, H, T_q, T_k) tensor per layer")
        B, _, T_q, T_k = attentions[0].shape
        for a in attentions:
            if a.dim() != 4 or a.shape[0] != B or a.shape[2:] != (T_q, T_k):
                raise InputError(f"attention tensors must all be (B, H, T_q, T_k) = ({B}, H, {T_q}, {T_k}); "
                                 f"got {tuple(a.shape)}")
        heads = [a.shape[1] for a in attentions]
        if self._heads is None:
            self._heads = heads
            total = sum(heads)
            self._sums = {k: np.zeros(total) for k in _SUMS}
            self._norm_entropy, self._norm_rows = np.zeros(total), 0
            self._js_sum = np.zeros((total, total))
        elif heads != self._heads:
            raise InputError(f"heads per layer changed between batches ({self._heads} then {heads})")
        dev = attentions[0].device
        keys = torch.ones(B, T_k, dtype=torch.bool, device=dev) if key_mask is None else key_mask.bool().to(dev)
        if query_mask is None:
            query_mask = keys if self.self_attention else torch.ones(B, T_q, dtype=torch.bool, device=dev)
        rows = query_mask.bool().to(dev)  # (B, T_q)
        kinds = torch.zeros(B, T_k, dtype=torch.long, device=dev) if kinds is None else kinds.to(dev)
        P = torch.cat(attentions, dim=1).double()  # (B, G, T_q, T_k), G = all heads of all layers
        sel = P.permute(0, 2, 1, 3)[rows]  # (N, G, T_k): the real query rows
        n = sel.shape[0]
        if n == 0:
            return
        row_keys = keys.unsqueeze(1).expand(B, T_q, T_k)[rows]  # (N, T_k)
        row_kinds = kinds.unsqueeze(1).expand(B, T_q, T_k)[rows]  # (N, T_k)
        plogp = torch.where(sel > 0, sel * sel.clamp_min(1e-300).log(), torch.zeros_like(sel))
        entropy = -plogp.sum(-1)  # (N, G)
        self._add("entropy", entropy)
        self._add("max_weight", sel.amax(-1))
        n_keys = row_keys.sum(-1)  # (N,)
        many = n_keys > 1
        if bool(many.any()):
            self._norm_entropy += (entropy[many] / n_keys[many, None].double().log()).sum(0).cpu().numpy()
            self._norm_rows += int(many.sum())
        self._add("share_special", (sel * (row_kinds == SPECIAL)[:, None]).sum(-1))
        self._add("share_punctuation", (sel * (row_kinds == PUNCTUATION)[:, None]).sum(-1))
        self._add("share_padding", (sel * (~row_keys)[:, None]).sum(-1))
        if self.self_attention:
            pos = torch.arange(T_q, device=dev).unsqueeze(0).expand(B, T_q)[rows]  # (N,) query positions
            dist = (torch.arange(T_k, device=dev)[None, :] - pos[:, None]).abs().double()  # (N, T_k)
            self._add("distance", (sel * dist[:, None]).sum(-1))
            for key, offset in (("share_self", 0), ("share_previous", -1), ("share_next", 1)):
                j = pos + offset
                ok = (j >= 0) & (j < T_k)
                picked = sel.gather(2, j.clamp(0, T_k - 1)[:, None, None].expand(n, sel.shape[1], 1))[..., 0]
                self._add(key, picked * ok[:, None])
        self._rows += n
        self._examples += B
        take = min(n, self.similarity_rows - self._js_rows)
        if take > 0:
            self._accumulate_js(sel[:take])

    def _add(self, key: str, values: Tensor) -> None:
        self._sums[key] += values.sum(0).cpu().numpy()

    def _accumulate_js(self, sel: Tensor) -> None:
        """Sum over rows of JS(head a, head b) for all pairs; chunked to bound memory."""
        n, G, T = sel.shape
        chunk = max(1, int(2e7 // max(1, G * G * T)))
        for start in range(0, n, chunk):
            part = sel[start:start + chunk]  # (c, G, T)
            js = js_divergence(part[:, :, None, :], part[:, None, :, :])  # (c, G, G)
            self._js_sum += js.sum(0).cpu().numpy()
        self._js_rows += n

    def compute(self) -> dict[str, Any]:
        """The statistics as plain JSON-ready data (see the module docstring for each field)."""
        if self._heads is None or self._rows == 0:
            raise InputError("no attention rows were added; run update() on at least one non-empty batch")
        means = {k: v / self._rows for k, v in self._sums.items()}
        norm = self._norm_entropy / self._norm_rows if self._norm_rows else np.full(len(means["entropy"]), np.nan)
        names, per_head, g = [], [], 0
        for layer, n_heads in enumerate(self._heads):
            for head in range(n_heads):
                row: dict[str, Any] = {"layer": layer, "head": head}
                for key in _SUMS:
                    value = float(means[key][g])
                    row[key] = None if not self.self_attention and (key == "distance" or key in _SHARES[3:]) \
                        else value
                row["normalized_entropy"] = None if math.isnan(norm[g]) else float(norm[g])
                row["pattern"] = head_pattern(row)
                per_head.append(row)
                names.append(f"L{layer}H{head}")
                g += 1
        js = self._js_sum / max(1, self._js_rows)
        pairs = [(float(js[a, b]), a, b) for a in range(g) for b in range(a + 1, g)]
        pairs.sort()
        return {
            "n_examples": self._examples, "n_rows": self._rows, "layers": len(self._heads), "heads": list(self._heads),
            "self_attention": self.self_attention, "per_head": per_head,
            "similarity": {"heads": names, "js": js.round(6).tolist(), "rows": self._js_rows, "unit": "bits",
                           "most_similar": [{"a": names[a], "b": names[b], "js": round(d, 6)} for d, a, b in pairs[:5]]},
        }


def attention_rollout(attentions: Sequence[Tensor], *, residual: float = 0.5,
                      key_mask: Tensor | None = None) -> Tensor:
    """Attention rollout (Abnar & Zuidema, 2020): how much each input token feeds each position at the top.

    Each layer's heads are averaged, the residual connection is modelled as ``residual·I + (1 - residual)·A``,
    rows are renormalised, and the layers are multiplied from the bottom: ``R = Â_L ⋯ Â_1``.

    Args:
        attentions: One ``(B, H, T, T)`` self-attention tensor per layer, first layer first.
        residual: Weight of the identity (0.5 in the paper).
        key_mask: ``(B, T)`` real tokens; padding rows of the result are zero.

    Returns:
        ``(B, T, T)`` float64: row ``i`` is position ``i``'s mix of input tokens (rows of real positions sum to 1).

    Example:
        >>> import torch
        >>> w = torch.softmax(torch.randn(1, 2, 4, 4), dim=-1)
        >>> r = attention_rollout([w, w])
        >>> r.shape, r.dtype, torch.allclose(r.sum(-1), torch.ones(1, 4, dtype=torch.float64))
        (torch.Size([1, 4, 4]), torch.float64, True)
    """
    if not attentions:
        raise InputError("attention_rollout needs at least one layer of attention weights")
    if not 0.0 <= residual <= 1.0:
        raise InputError(f"residual must be in [0, 1], got {residual}")
    rollout = None
    for a in attentions:
        eye = torch.eye(a.shape[-1], dtype=torch.float64, device=a.device)
        if a.shape[1] == 0:  # a layer whose heads were all pruned passes its input through
            step = eye.expand(a.shape[0], -1, -1)
        else:
            step = residual * eye + (1.0 - residual) * a.detach().double().mean(dim=1)  # (B, T, T)
        step = step / step.sum(-1, keepdim=True).clamp_min(1e-300)
        rollout = step if rollout is None else step @ rollout
    if key_mask is not None:
        rollout = rollout * key_mask.bool()[:, :, None]
    return rollout
