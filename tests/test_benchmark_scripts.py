"""The decoding benchmarks run end to end at their ``--tiny`` settings (seconds) and write sound JSON."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def keep_threads():
    """The script sets torch's thread count for the process: give the other tests theirs back."""
    import torch

    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_beam_cache_speed_tiny_run_gives_identical_full_length_outputs(tmp_path, keep_threads):
    out = tmp_path / "beam.json"
    assert _load("beam_cache_speed").main(["--tiny", "--rounds", "1", "--threads", "1", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert set(doc["median_seconds"]) == {"beam cached", "beam uncached", "greedy cached", "greedy uncached"}
    for check in doc["checks"].values():
        assert check["identical_min"] == check["n"] == doc["batch_size"]
        assert check["all_max_length"]
    assert doc["speedup"]["beam"] > 0 and doc["bar"] == 3.0


def test_translation_gpu_tiny_run_on_cpu_compares_both_libraries(tmp_path):
    pytest.importorskip("transformers")
    out = tmp_path / "gpu.json"
    assert _load("translation_gpu").main(["--tiny", "--device", "cpu", "--dtype", "fp32", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert set(doc["ratio"]) == {"greedy", "beam4"}
    assert all(n == doc["batch_size"] for n in doc["full_length"].values())
    assert doc["device"] == "cpu" and doc["dtype"] == "fp32"


def test_encoder_speed_tiny_cases_on_cpu_compare_with_their_peers(tmp_path, capsys):
    pytest.importorskip("transformers")
    bench = _load("encoder_speed")
    paths = []
    for case in ("attention", "train", "varlen"):
        paths.append(tmp_path / f"{case}.json")
        assert bench.main(["--case", case, "--tiny", "--device", "cpu", "--json", str(paths[-1])]) == 0
    attention, train, varlen = (json.loads(p.read_text()) for p in paths)
    assert set(attention["value"]) == {"attnlab MHA", "torch nn.MHA", "raw SDPA"} and attention["unit"] == "ms/step"
    assert set(train["ratio"]) == {"attnlab"} and train["peer"] == "hf" and train["hf_attn"] == "sdpa"
    assert set(varlen["ratio"]) == {"attnlab", "attnlab padded"} and varlen["unit"] == "real tok/s"
    assert varlen["packed_max_diff"] < 1e-5 and 0 < varlen["padding_share"] < 1
    assert all(v > 0 for doc in (attention, train, varlen) for v in doc["value"].values())
    capsys.readouterr()
    assert bench.main(["--table", *map(str, paths)]) == 0
    table = capsys.readouterr().out
    assert "varlen 4x16" in table and "attnlab padded" in table and "(GPU bar 3x)" in table
