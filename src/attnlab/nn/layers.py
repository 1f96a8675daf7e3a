"""Transformer building blocks: position-wise feed-forward and the pre-LayerNorm encoder block."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from attnlab.errors import InputError
from attnlab.nn.attention import AttentionOutput, MultiHeadAttention, dropout

__all__ = ["Dropout", "EncoderBlock", "FeedForward"]

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "gelu_tanh": lambda: nn.GELU(approximate="tanh")}


class Dropout(nn.Module):
    """Drop-in for ``torch.nn.Dropout`` backed by :func:`attnlab.nn.dropout` (cheaper on CPU).

    Args:
        p: Drop probability in ``[0, 1)``; active in training mode only.

    Example:
        >>> import torch
        >>> drop = Dropout(0.5).eval()
        >>> drop(torch.ones(3))
        tensor([1., 1., 1.])
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise InputError(f"dropout must be in [0, 1), got {p}; e.g. dropout=0.1")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        """Zero elements of ``x`` with probability ``p`` in training; identity in eval."""
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class FeedForward(nn.Module):
    """Position-wise ``Linear → activation → Linear → dropout``.

    The dropout sits on the output, where the residual connection picks it up (nanoGPT's MLP):
    one dropout per sub-layer, as in BERT.

    Args:
        d_model: Input and output width.
        d_ff: Hidden width, usually ``4 · d_model``.
        dropout: Output dropout probability (training mode only).
        activation: One of ``"gelu"``, ``"gelu_tanh"``, ``"relu"``.

    Example:
        >>> import torch
        >>> ffn = FeedForward(8, 32, dropout=0.0)
        >>> ffn(torch.randn(2, 5, 8)).shape  # (B, T, d_model)
        torch.Size([2, 5, 8])
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0,
                 activation: Literal["gelu", "gelu_tanh", "relu"] = "gelu") -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise InputError(f"unknown activation {activation!r}; use one of {sorted(_ACTIVATIONS)}")
        if d_model <= 0 or d_ff <= 0:
            raise InputError(f"d_model and d_ff must be positive, got d_model={d_model}, "
                             f"d_ff={d_ff}; e.g. d_ff = 4 * d_model")
        self.fc_in = nn.Linear(d_model, d_ff)
        self.act = _ACTIVATIONS[activation]()
        self.fc_out = nn.Linear(d_ff, d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the feed-forward network to ``x`` ``(B, T, d_model)``."""
        return self.dropout(self.fc_out(self.act(self.fc_in(x))))  # (B, T, d_model)


class EncoderBlock(nn.Module):
    """Pre-LayerNorm Transformer encoder block.

    ``x = x + dropout(MHA(LN(x)))`` then ``x = x + dropout(FFN(LN(x)))``. Pre-LN trains stably
    without learning-rate warm-up; the model adds a final LayerNorm after the last block.

    Args:
        d_model: Model width.
        n_heads: Attention heads; must divide ``d_model``.
        d_ff: Feed-forward hidden width.
        dropout: Dropout on attention weights and on both residual branches.
        activation: Feed-forward activation (see :class:`FeedForward`).

    Example:
        >>> import torch
        >>> block = EncoderBlock(d_model=8, n_heads=2, d_ff=16)
        >>> hidden, weights = block(torch.randn(2, 5, 8), return_attn=True)
        >>> hidden.shape, weights.shape  # (B, T, d_model), (B, H, T, T)
        (torch.Size([2, 5, 8]), torch.Size([2, 2, 5, 5]))
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0,
                 activation: Literal["gelu", "gelu_tanh", "relu"] = "gelu") -> None:
        super().__init__()
        self.ln_attn = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.drop_attn = Dropout(dropout)
        self.ln_ffn = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, d_ff, dropout, activation)

    def forward(self, x: Tensor, attn_mask: Tensor | None = None, *,
                return_attn: bool = False) -> AttentionOutput:
        """Run the block.

        Args:
            x: ``(B, T, d_model)``.
            attn_mask: Bool, broadcastable to ``(B, H, T, T)``, True = may attend; e.g.
                :func:`attnlab.nn.key_padding_to_attn_mask` of the padding. ``None`` keeps the
                fused unmasked kernel.
            return_attn: Also return the per-head weights ``(B, H, T, T)``.

        Returns:
            ``AttentionOutput(output (B, T, d_model), weights or None)``.
        """
        attended, weights = self.attn(self.ln_attn(x), attn_mask=attn_mask, return_attn=return_attn)
        x = x + self.drop_attn(attended)  # (B, T, d_model)
        x = x + self.ffn(self.ln_ffn(x))  # (B, T, d_model); FeedForward ends in dropout
        return AttentionOutput(x, weights)
