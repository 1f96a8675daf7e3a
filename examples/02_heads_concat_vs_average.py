"""Why heads are concatenated, not averaged.

Two heads with hand-set weights look in opposite directions: head 0 attends to the previous word, head 1 to
the next. Concatenating their outputs keeps both answers apart ("before me: the; after me: sat"); averaging
them mixes the answers into one vector, so the next layer can no longer tell which word came before and
which after. The example runs ``attnlab.nn.MultiHeadAttention`` on "the cat sat" and on "sat cat the" and
shows the output for "cat" both ways: concatenated, the two sentences differ; averaged, they are identical.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from _common import Example

WORDS = {"the": [1.0, 0.0], "cat": [0.0, 1.0], "sat": [1.0, 1.0]}  # 2-number "meanings"


def build_heads(c: float = 12.0):
    """MultiHeadAttention(d_model=4, n_heads=2): inputs are [position (cos, sin), meaning (2)].

    Queries are the position rotated by -90° (head 0) or +90° (head 1), keys the position, values the meaning,
    the output projection the identity: head 0's score c·cos(θ(t - s - 1)) peaks at s = t - 1, head 1's at
    s = t + 1.
    """
    import torch

    from attnlab.nn import MultiHeadAttention

    mha = MultiHeadAttention(d_model=4, n_heads=2, bias=False)
    rot = {0: [[0.0, 1.0], [-1.0, 0.0]], 1: [[0.0, -1.0], [1.0, 0.0]]}  # R(-90°), R(+90°) acting on (cos, sin)
    w = torch.zeros(12, 4)  # in_proj: rows 0-3 queries, 4-7 keys, 8-11 values; head h owns 2 rows of each
    for h in (0, 1):
        w[2 * h:2 * h + 2, 0:2] = c * torch.tensor(rot[h])  # query: rotated position
        w[4 + 2 * h:6 + 2 * h, 0:2] = torch.eye(2)  # key: position
        w[8 + 2 * h:10 + 2 * h, 2:4] = torch.eye(2)  # value: meaning
    with torch.no_grad():
        mha.in_proj.weight.copy_(w)
        mha.out_proj.weight.copy_(torch.eye(4))
    return mha.eval()


def embed(sentence: list[str]):
    import torch

    theta = math.pi / 2
    rows = [[math.cos(theta * t), math.sin(theta * t), *WORDS[w]] for t, w in enumerate(sentence)]
    return torch.tensor([rows])  # (B=1, T, d_model=4)


def main(argv: list[str] | None = None) -> None:
    ex = Example(__doc__, argv)  # no training here: fast and full mode are the same
    import torch

    torch.set_printoptions(precision=3)
    mha = build_heads()
    results = {}
    for sentence in (["the", "cat", "sat"], ["sat", "cat", "the"]):
        with torch.no_grad():
            out, weights = mha(embed(sentence), return_attn=True)  # (1, T, 4), (1, H=2, T, T)
        concat = out[0].numpy()  # out_proj is the identity, so this is [head 0 | head 1], (T, 2·d_head)
        average = (concat[:, :2] + concat[:, 2:]) / 2  # (T, d_head): the heads' outputs averaged
        results[" ".join(sentence)] = (concat, average, weights[0].numpy())

    rows = []
    for name, (concat, average, _) in results.items():
        rows.append([name, "concatenated", np.round(concat[1], 3).tolist()])
        rows.append([name, "averaged", np.round(average[1], 3).tolist()])
    ex.md('Output for "cat" (the middle word). Meanings: the=[1, 0], cat=[0, 1], sat=[1, 1].')
    ex.table(["sentence", "heads", "output for 'cat'"], rows)
    (c1, a1, _), (c2, a2, _) = results.values()
    ex.md(f"Concatenated outputs differ between the two sentences by {np.abs(c1[1] - c2[1]).max():.3f} "
          f"(head 0 = the word before, head 1 = the word after); averaged outputs differ by "
          f"{np.abs(a1[1] - a2[1]).max():.3f}: the average of 'the' and 'sat' is the same whichever came first.",
          "A model averages nothing: `MultiHeadAttention` concatenates the heads and lets the output projection "
          "(a learned d_model × d_model matrix) mix them; averaging would be one fixed choice of that matrix, "
          "with each head's slot shrunk to d_model / H numbers.")

    import matplotlib.pyplot as plt

    sentence = ["the", "cat", "sat"]
    concat, average, weights = results["the cat sat"]
    fig, axes = plt.subplots(1, 5, figsize=(15, 3.2), layout="constrained",
                             gridspec_kw={"width_ratios": [3, 3, 3, 4, 2]})
    maps = [(weights[0], "head 0 (previous word)"), (weights[1], "head 1 (next word)"),
            (weights.mean(axis=0), "heads' weights averaged")]
    for ax, (mat, title) in zip(axes[:3], maps):
        ax.imshow(mat, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(3), sentence)
        ax.set_yticks(range(3), sentence)
        ax.set_title(title, fontsize=10)
    for ax, mat, title, cols in [(axes[3], concat, "concatenated (T × 4)", ["h0·0", "h0·1", "h1·0", "h1·1"]),
                                 (axes[4], average, "averaged (T × 2)", ["0", "1"])]:
        ax.imshow(mat, cmap="Greens", vmin=0, vmax=1)
        ax.set_xticks(range(len(cols)), cols)
        ax.set_yticks(range(3), sentence)
        ax.set_title(title, fontsize=10)
        for i in range(mat.shape[0]):
            for j in range(mat.shape[1]):
                ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if mat[i, j] > 0.6 else "black")
    fig.suptitle('"the cat sat": attention maps of the two heads, and their outputs concatenated vs averaged')
    ex.savefig(fig, "heads.png")
    ex.finish()


if __name__ == "__main__":
    main(sys.argv[1:])
