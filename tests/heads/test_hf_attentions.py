"""The documented recipe for Hugging Face models (docs/inspect-heads.md): their `output_attentions` feed attnlab's
head statistics, rollout and map figures unchanged. A tiny randomly initialised BERT: no download."""

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from attnlab.heads.stats import HeadStatistics, attention_rollout, token_kinds  # noqa: E402
from attnlab.report.attention_plots import figure_bytes, layer_grid_figure  # noqa: E402


def test_bert_attentions_through_attnlab_statistics():
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=60, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=32, max_position_embeddings=32, attn_implementation="eager")
    model = transformers.BertModel(config).eval()
    ids = torch.randint(5, 60, (3, 9))
    ids[:, 0] = 2  # [CLS]
    mask = (torch.arange(9)[None, :] < torch.tensor([[9], [5], [7]])).long()
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_attentions=True)
    tokens = [[("[CLS]" if i == 2 else f"w{i}") for i in row.tolist()] for row in ids]
    kinds = torch.tensor([token_kinds(row, special=["[CLS]", "[SEP]", "[PAD]"]) for row in tokens])

    stats = HeadStatistics()
    stats.update(out.attentions, mask, kinds)
    result = stats.compute()
    assert result["heads"] == [4, 4] and result["n_rows"] == 9 + 5 + 7
    assert all(r["share_padding"] == pytest.approx(0.0, abs=1e-6) for r in result["per_head"])
    cls_share = out.attentions[0][0, 0, :, 0].double().mean().item()  # layer 0, head 0, example 0, key [CLS]
    by_hand = (cls_share * 9 + out.attentions[0][1, 0, :5, 0].double().sum().item()
               + out.attentions[0][2, 0, :7, 0].double().sum().item()) / 21
    assert result["per_head"][0]["share_special"] == pytest.approx(by_hand, abs=1e-6)

    rollout = attention_rollout(out.attentions, key_mask=mask)
    assert torch.allclose(rollout[0].sum(-1), torch.ones(9, dtype=torch.float64), atol=1e-5)
    fig = layer_grid_figure(out.attentions[0][0].numpy(), tokens[0], tokens[0], title="BERT layer 0")
    assert figure_bytes(fig, "svg", "bert").startswith(b"<svg")
    assert np.isfinite(np.array(result["similarity"]["js"])).all()
