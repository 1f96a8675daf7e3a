"""EnsembleClassifier: its probabilities are the mean of its members' (float64 NumPy reference), stable for
extreme logits; head maps and masks are refused; the builder makes one from ``ensemble`` > 1."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

from attnlab.config import ModelConfig
from attnlab.errors import InputError
from attnlab.models.builders import build_classifier
from attnlab.models.classifier import EncoderClassifier
from attnlab.models.ensemble import EnsembleClassifier
from attnlab.models.outputs import ClassifierOutput


class Fixed(nn.Module):
    """A member that returns given logits, whatever the input."""

    def __init__(self, logits: np.ndarray) -> None:
        super().__init__()
        self.logits = torch.from_numpy(logits.astype(np.float32))
        self.max_len, self.pad_id, self.pooling = 8, 0, "mean"

    def forward(self, input_ids, attention_mask=None, *, packed=None):
        return ClassifierOutput(self.logits, None)


def mean_softmax(logits: np.ndarray) -> np.ndarray:
    """float64 reference: mean over members of the row-wise softmax."""
    z = logits.astype(np.float32).astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    return p.mean(axis=0)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(2, 5), st.integers(1, 4), st.integers(2, 6)),
              elements=st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)))
def test_probabilities_are_the_members_mean(logits):
    ens = EnsembleClassifier([Fixed(z) for z in logits])
    out = ens(torch.zeros(logits.shape[1], 3, dtype=torch.long))
    assert out.attentions is None and torch.isfinite(out.logits).all()
    got = torch.softmax(out.logits.double(), dim=-1).numpy()
    np.testing.assert_allclose(got, mean_softmax(logits), atol=2e-6)


def test_real_members_and_packing_agree():
    torch.manual_seed(0)
    members = [EncoderClassifier(vocab_size=30, n_classes=3, d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=8)
               for _ in range(3)]
    ens = EnsembleClassifier(members).eval()
    ids = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])
    ref = mean_softmax(np.stack([m(ids, ids != 0).logits.detach().double().numpy() for m in members]))
    for packed in (False, True):
        got = torch.softmax(ens(ids, ids != 0, packed=packed).logits.double(), -1).detach().numpy()
        np.testing.assert_allclose(got, ref, atol=1e-6)


def test_head_maps_and_masks_are_refused():
    torch.manual_seed(0)
    ens = EnsembleClassifier([EncoderClassifier(vocab_size=30, n_classes=2, d_model=8, n_heads=2, n_layers=1,
                                                d_ff=16, max_len=8) for _ in range(2)])
    ids = torch.tensor([[3, 4]])
    with pytest.raises(InputError, match="ensemble of 2"):
        ens(ids, return_attn=True)
    with pytest.raises(InputError, match="ensemble of 2"):
        ens(ids, head_mask=torch.ones(1, 2))
    with pytest.raises(InputError, match="at least 2"):
        EnsembleClassifier([ens.members[0]])


def test_builder_makes_an_ensemble_whose_first_member_is_the_single_model():
    cfg = ModelConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, vocab_size=40, max_len=8)
    torch.manual_seed(3)
    single = build_classifier(cfg, n_classes=3, vocab_size=40, pad_id=0)
    torch.manual_seed(3)
    ens = build_classifier(ModelConfig(**{**cfg.__dict__, "ensemble": 3}), n_classes=3, vocab_size=40, pad_id=0)
    assert isinstance(ens, EnsembleClassifier) and len(ens.members) == 3
    a, b = single.state_dict(), ens.members[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(ens.members[0].tok_emb.weight, ens.members[1].tok_emb.weight)  # members start apart
    with pytest.raises(InputError, match="pruned"):
        build_classifier(ModelConfig(**{**cfg.__dict__, "ensemble": 2}), n_classes=3, vocab_size=40, pad_id=0,
                         pruned_heads={0: [1]})


@pytest.mark.parametrize("value", [0, 33, 2.5, True, "3"])
def test_ensemble_size_is_validated(value):
    with pytest.raises(InputError, match="ensemble must be"):
        ModelConfig(ensemble=value).validate()
