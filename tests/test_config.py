import pytest
from hypothesis import given, strategies as st

from attnlab.config import PRESETS, RunConfig, preset
from attnlab.errors import InputError


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_validate_and_round_trip(name):
    cfg = preset(name)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_key_is_an_error_naming_the_known_keys():
    with pytest.raises(InputError, match=r"unknown key\(s\) n_head .*known keys: .*n_heads"):
        RunConfig.from_dict({"model": {"n_head": 4}})


def test_wrong_type_is_an_error():
    with pytest.raises(InputError, match=r"config.train.epochs must be int, got str"):
        RunConfig.from_dict({"train": {"epochs": "3"}})
    with pytest.raises(InputError, match=r"must be int, got bool"):
        RunConfig.from_dict({"model": {"n_layers": True}})


def test_literal_choices_are_checked():
    with pytest.raises(InputError, match=r"pooling must be one of mean, max, cls"):
        RunConfig.from_dict({"model": {"pooling": "attention"}})


@given(d_model=st.integers(1, 512), n_heads=st.integers(1, 64))
def test_heads_must_divide_d_model(d_model, n_heads):
    raw = {"model": {"d_model": d_model, "n_heads": n_heads}}
    if d_model % n_heads == 0:
        assert RunConfig.from_dict(raw).model.n_heads == n_heads
    else:
        with pytest.raises(InputError) as info:
            RunConfig.from_dict(raw)
        message = str(info.value)
        assert f"d_model={d_model}" in message and f"n_heads={n_heads}" in message and "\n" not in message
        suggested = [int(h) for h in message.split("e.g. ")[1].split(", ")]
        assert suggested and all(d_model % h == 0 for h in suggested)


def test_replace_overrides_and_validates():
    cfg = preset("tiny").replace(model={"n_heads": 8}, train={"epochs": 2})
    assert (cfg.model.n_heads, cfg.train.epochs, cfg.model.d_model) == (8, 2, 128)
    with pytest.raises(InputError):
        preset("tiny").replace(model={"n_heads": 3})


def test_unknown_preset():
    with pytest.raises(InputError, match="unknown preset 'huge'; choose one of tiny"):
        preset("huge")
