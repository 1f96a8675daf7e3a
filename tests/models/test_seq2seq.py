"""The encoder–decoder against torch's own Transformer layers, masks, tying, and the key/value cache."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnlab.errors import InputError
from attnlab.models.seq2seq import Seq2SeqTransformer, seq2seq_loss
from attnlab.nn.attention import MultiHeadAttention
from attnlab.nn.layers import DecoderBlock, LayerCache


def _copy_mha(ours: MultiHeadAttention, ref: nn.MultiheadAttention) -> None:
    ours.in_proj.weight.copy_(ref.in_proj_weight)
    ours.in_proj.bias.copy_(ref.in_proj_bias)
    ours.out_proj.weight.copy_(ref.out_proj.weight)
    ours.out_proj.bias.copy_(ref.out_proj.bias)


def _block_from_torch(ref: nn.TransformerDecoderLayer, d_model: int, n_heads: int, d_ff: int) -> DecoderBlock:
    block = DecoderBlock(d_model, n_heads, d_ff).to(torch.float64)
    with torch.no_grad():
        _copy_mha(block.self_attn, ref.self_attn)
        _copy_mha(block.cross_attn, ref.multihead_attn)
        for ours, theirs in ((block.ln_self, ref.norm1), (block.ln_cross, ref.norm2), (block.ln_ffn, ref.norm3),
                             (block.ffn.fc_in, ref.linear1), (block.ffn.fc_out, ref.linear2)):
            ours.weight.copy_(theirs.weight)
            ours.bias.copy_(theirs.bias)
    return block.eval()


@pytest.mark.parametrize("padded", [False, True])
def test_decoder_block_matches_torch_transformer_decoder_layer(padded):
    torch.manual_seed(0)
    d, h, ff, B, T, S = 16, 4, 32, 3, 5, 7
    ref = nn.TransformerDecoderLayer(d, h, ff, dropout=0.0, activation="gelu", batch_first=True,
                                     norm_first=True).to(torch.float64).eval()
    ours = _block_from_torch(ref, d, h, ff)
    x, memory = torch.randn(B, T, d, dtype=torch.float64), torch.randn(B, S, d, dtype=torch.float64)
    src_pad = torch.zeros(B, S, dtype=torch.bool)
    if padded:
        src_pad[1, 4:] = True
        src_pad[2, 2:] = True
    causal = nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    expected = ref(x, memory, tgt_mask=causal, tgt_is_causal=True,
                   memory_key_padding_mask=src_pad if padded else None)
    got = ours(x, memory, (~src_pad)[:, None, None, :] if padded else None).output
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    explicit = ours(x, memory, (~src_pad)[:, None, None, :] if padded else None, return_attn=True)
    torch.testing.assert_close(explicit.output, expected, rtol=1e-10, atol=1e-10)
    assert torch.all(explicit.self_weights.triu(diagonal=1) == 0)  # causal: nothing from later positions
    if padded:
        assert torch.all(explicit.cross_weights[2, :, :, 2:] == 0)  # padding keys get no weight


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_incremental_decoding_with_cache_equals_full_pass_and_prefill(positions):
    torch.manual_seed(1)
    model = Seq2SeqTransformer(src_vocab_size=40, tgt_vocab_size=40, d_model=16, n_heads=4, n_encoder_layers=2,
                               n_decoder_layers=2, d_ff=32, max_len=20, positions=positions).to(torch.float64).eval()
    src = torch.tensor([[5, 6, 7, 8, 3], [9, 10, 3, 0, 0]])
    tgt = torch.tensor([[2, 11, 12, 13, 14, 15], [2, 16, 17, 18, 19, 20]])
    memory, mask, _ = model.encode(src, src != 0)
    full = model.decode(tgt, memory, mask).logits  # (B, T, V)
    cache = model.new_cache(2, 6)
    steps = [model.decode(tgt[:, t:t + 1], memory, mask, cache=cache, start=t).logits for t in range(6)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-10, atol=1e-10)
    cache = model.new_cache(2, 6)  # a prefill of 4 positions, then 2 single steps
    pre = model.decode(tgt[:, :4], memory, mask, cache=cache, start=0).logits
    rest = [model.decode(tgt[:, t:t + 1], memory, mask, cache=cache, start=t).logits for t in (4, 5)]
    torch.testing.assert_close(torch.cat([pre, *rest], dim=1), full, rtol=1e-10, atol=1e-10)


def test_source_padding_does_not_change_a_sentence_translation():
    torch.manual_seed(2)
    model = Seq2SeqTransformer(src_vocab_size=30, tgt_vocab_size=30, d_model=16, n_heads=2, n_encoder_layers=1,
                               n_decoder_layers=1, d_ff=32, max_len=16).to(torch.float64).eval()
    alone = torch.tensor([[5, 6, 3]])
    padded = torch.tensor([[5, 6, 3, 0, 0], [7, 8, 9, 10, 3]])
    tgt = torch.tensor([[2, 11, 12]])
    a = model(alone, alone != 0, tgt).logits
    b = model(padded, padded != 0, tgt.repeat(2, 1)).logits[:1]
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_tied_embeddings_share_one_table_and_untied_do_not():
    kw = dict(d_model=16, n_heads=2, n_encoder_layers=1, n_decoder_layers=1, d_ff=32, max_len=8)
    tied = Seq2SeqTransformer(src_vocab_size=30, tgt_vocab_size=30, tie_embeddings="all", **kw)
    assert tied.src_emb.weight is tied.tgt_emb.weight is tied.lm_head.weight
    dec = Seq2SeqTransformer(src_vocab_size=25, tgt_vocab_size=30, tie_embeddings="decoder", **kw)
    assert dec.lm_head.weight is dec.tgt_emb.weight and dec.src_emb.weight is not dec.tgt_emb.weight
    none = Seq2SeqTransformer(src_vocab_size=30, tgt_vocab_size=30, tie_embeddings="none", **kw)
    n_tied, n_none = (sum(p.numel() for p in m.parameters()) for m in (tied, none))
    assert n_none - n_tied == 2 * 30 * 16  # the separate source table and output matrix
    with pytest.raises(InputError, match="shared vocabulary"):
        Seq2SeqTransformer(src_vocab_size=25, tgt_vocab_size=30, tie_embeddings="all", **kw)


def test_loss_ignores_padding_and_matches_cross_entropy_on_real_tokens():
    torch.manual_seed(3)
    logits = torch.randn(2, 4, 7)
    labels = torch.tensor([[3, 4, 0, 0], [5, 6, 2, 0]])
    real = labels != 0
    expected = nn.functional.cross_entropy(logits[real], labels[real], label_smoothing=0.1)
    torch.testing.assert_close(seq2seq_loss(logits, labels, pad_id=0, label_smoothing=0.1), expected)


def test_gradients_flow_to_every_parameter_and_padding_rows_stay_zero():
    torch.manual_seed(4)
    model = Seq2SeqTransformer(src_vocab_size=30, tgt_vocab_size=30, d_model=16, n_heads=2, n_encoder_layers=1,
                               n_decoder_layers=1, d_ff=32, max_len=8, dropout=0.1, tie_embeddings="none")
    src = torch.tensor([[5, 6, 3, 0], [7, 8, 9, 3]])
    tgt = torch.tensor([[2, 10, 11, 3], [2, 12, 3, 0]])
    loss = seq2seq_loss(model(src, src != 0, tgt[:, :-1]).logits, tgt[:, 1:], pad_id=0)
    loss.backward()
    assert torch.isfinite(loss)
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert torch.all(model.tgt_emb.weight.grad[0] == 0)  # padding_idx gets no gradient (untied)
    assert torch.all(model.src_emb.weight.grad[0] == 0)


def test_bad_inputs_are_one_line_errors():
    model = Seq2SeqTransformer(src_vocab_size=30, tgt_vocab_size=30, d_model=16, n_heads=2, n_encoder_layers=1,
                               n_decoder_layers=1, d_ff=32, max_len=4)
    with pytest.raises(InputError, match="max_len=4"):
        model.encode(torch.ones(1, 5, dtype=torch.long))
    with pytest.raises(InputError, match="integer"):
        model.encode(torch.ones(1, 3))
    with pytest.raises(InputError, match="position table"):
        model.new_cache(1, 5)
    with pytest.raises(InputError, match="positive integer"):
        Seq2SeqTransformer(src_vocab_size=0, tgt_vocab_size=30)
    cache = LayerCache.empty(1, 2, 2, 8)
    with pytest.raises(InputError, match="holds 2 positions"):
        cache.append(torch.zeros(1, 2, 3, 8), torch.zeros(1, 2, 3, 8), 0)


def test_sinusoidal_positions_match_the_formula_and_are_not_trained():
    import numpy as np

    from attnlab.models.seq2seq import sinusoidal_positions

    T, d = 50, 12
    pos, i = np.arange(T)[:, None], np.arange(d)[None, :]
    angle = pos / np.power(10000.0, (2 * (i // 2)) / d)
    expected = np.where(i % 2 == 0, np.sin(angle), np.cos(angle))
    np.testing.assert_allclose(sinusoidal_positions(T, d).numpy(), expected, atol=1e-6)
    model = Seq2SeqTransformer(src_vocab_size=30, tgt_vocab_size=30, d_model=16, n_heads=2, n_encoder_layers=1,
                               n_decoder_layers=1, d_ff=32, max_len=8, positions="sinusoidal")
    assert not any("pos" in name for name, _ in model.named_parameters())
    assert "pos_table" not in model.state_dict()  # rebuilt from the formula, never loaded
    assert model.embed_scale == 4.0 and torch.all(model.tgt_emb.weight[0] == 0)
    with pytest.raises(InputError, match="learned or sinusoidal"):
        Seq2SeqTransformer(src_vocab_size=30, tgt_vocab_size=30, positions="rotary")
