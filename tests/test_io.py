import json

import pytest

from attnlab.errors import InputError
from attnlab.io import RunDirectory, atomic_write_json, sha256_file


def test_run_directory_appears_only_on_commit(tmp_path):
    final = tmp_path / "runs" / "a"
    with RunDirectory(final) as run:
        (run.path / "x.txt").write_text("hello")
        assert not final.exists()
        run.commit()
    assert (final / "x.txt").read_text() == "hello"
    assert [p.name for p in final.parent.iterdir()] == ["a"]


def test_run_directory_removed_on_error(tmp_path):
    final = tmp_path / "b"
    with pytest.raises(RuntimeError):
        with RunDirectory(final) as run:
            (run.path / "half.txt").write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_run_is_never_overwritten(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "report.json").write_text("{}")
    with pytest.raises(InputError, match="already exists and is not empty"):
        RunDirectory(tmp_path / "c")
    assert (tmp_path / "c" / "report.json").read_text() == "{}"


def test_unwritable_parent_is_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="cannot create the run directory"):
        RunDirectory(blocker / "run")


def test_atomic_json_rejects_nan_and_leaves_no_temp(tmp_path):
    target = tmp_path / "r.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(ValueError):
        atomic_write_json(target, {"a": float("nan")})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_sha256_matches_hashlib(tmp_path):
    import hashlib

    data = bytes(range(256)) * 5000
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()
