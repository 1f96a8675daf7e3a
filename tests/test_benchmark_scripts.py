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
