"""Per-dataset presets: applied for built-in names unless --preset is given; flags still override."""

from attnlab.cli import build_parser, config_from_args
from attnlab.config import DATASET_PRESETS, dataset_preset
from attnlab.data.catalog import CATALOG


def cfg(argv):
    return config_from_args(build_parser().parse_args(argv))


def test_every_classification_dataset_has_a_preset():
    assert {n for n, e in CATALOG.items() if e.task == "classification"} == set(DATASET_PRESETS)
    for name in DATASET_PRESETS:
        dataset_preset(name).validate()


def test_builtin_name_gets_its_preset_and_flags_override():
    assert cfg(["run"]).preset == "tiny" and cfg(["run"]).model.max_len == 128  # sms-spam stays tiny
    trec = cfg(["train", "trec"])
    assert trec.preset == "tiny+trec" and trec.model.max_len == DATASET_PRESETS["trec"]["model"]["max_len"]
    assert cfg(["train", "trec", "--max-len", "24"]).model.max_len == 24
    explicit = cfg(["train", "trec", "--preset", "tiny"])
    assert explicit.preset == "tiny" and explicit.model.max_len == 128 and explicit.data.source == "trec"
    assert cfg(["train", "my.csv"]).preset == "tiny"
