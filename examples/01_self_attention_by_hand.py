"""Self-attention by hand: scores, row-wise softmax, weighted sum.

Three words with the attention scores ``[[1, 0.5, 0], [0.5, 1, 0.2], [0, 0.2, 1]]`` (row = the word that
asks, column = the word it looks at). Each row goes through a softmax, so every word spreads one unit of
attention over the words; the output of a word is the weighted sum of the value vectors. The same numbers
come out of ``attnlab.nn.scaled_dot_product_attention`` when queries are the scores, keys are the identity and
the scale is 1 (so ``Q Kᵀ · scale`` is the scores matrix itself).
"""

from __future__ import annotations

import sys

import numpy as np

from _common import Example


def main(argv: list[str] | None = None) -> None:
    ex = Example(__doc__, argv)  # no training here: fast and full mode are the same
    words = ["the", "cat", "sat"]
    scores = np.array([[1.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 1.0]])

    # by hand: subtract the row maximum (the softmax does not change; exp cannot overflow), exponentiate, normalise
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights = e / e.sum(axis=1, keepdims=True)  # (T, T), rows sum to 1
    values = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # (T, d_v): a 2-number value vector per word
    output = weights @ values  # (T, d_v): each word's attention-weighted mix of the values

    import torch

    from attnlab.nn import scaled_dot_product_attention

    q = torch.tensor(scores)  # (T, d_head) with d_head = T, so that q @ I = scores
    out_t, w_t = scaled_dot_product_attention(q, torch.eye(3, dtype=torch.float64), torch.tensor(values), scale=1.0)
    max_diff = max(float(np.abs(w_t.numpy() - weights).max()), float(np.abs(out_t.numpy() - output).max()))
    assert max_diff < 1e-12, max_diff

    ex.md("Softmax of each row of the scores (by hand, NumPy):")
    ex.table(["query \\ key", *words], [[w, *map(float, row)] for w, row in zip(words, weights)])
    ex.md(f"Each row sums to 1: {np.round(weights.sum(axis=1), 12).tolist()}. 'cat' gives its largest weight "
          f"to itself ({weights[1, 1]:.4f}), then 'the' ({weights[1, 0]:.4f}) and 'sat' ({weights[1, 2]:.4f}).")
    ex.md("Outputs with the value vectors the=[1, 0], cat=[0, 1], sat=[1, 1]:")
    ex.table(["word", "output[0]", "output[1]"], [[w, *map(float, row)] for w, row in zip(words, output)])
    ex.md(f"`attnlab.nn.scaled_dot_product_attention` gives the same weights and outputs "
          f"(largest difference {max_diff:.1e}, float64).")

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6), layout="constrained")
    for ax, mat, title in [(axes[0], scores, "scores"), (axes[1], weights, "softmax(scores), row-wise")]:
        im = ax.imshow(mat, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(3), words)
        ax.set_yticks(range(3), words)
        ax.set_xlabel("key (looked at)")
        ax.set_ylabel("query (looking)")
        ax.set_title(title)
        for i in range(3):
            for j in range(3):
                ax.text(j, i, f"{mat[i, j]:.3f}", ha="center", va="center",
                        color="white" if mat[i, j] > 0.6 else "black")
        fig.colorbar(im, ax=ax, fraction=0.046)
    ex.savefig(fig, "attention.png")
    ex.finish()


if __name__ == "__main__":
    main(sys.argv[1:])
