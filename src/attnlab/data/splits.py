"""Seeded, stratified train/val/test splits that never let a duplicated text straddle two splits.

Texts are compared after :func:`normalize_text` (Unicode NFKC, case folding, whitespace collapsed and
stripped). With ``group_duplicates=True`` all copies of a text form one *group* that lands in a single
split, so a test score is never inflated by a message the model saw verbatim in training. Groups are
stratified by their label (the most common label among the copies; ties go to the label seen first).

Allocation, per class: the class's groups are shuffled with ``random.Random(seed)``; when a class has at
least one group per split, its smallest groups seed the splits (one to each) so every class appears in
every split; the rest go, in shuffled order, to the split furthest below its target row count. A class
with fewer groups than splits fills train first, then test, then val, and a warning names it.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import unicodedata
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from attnlab.errors import InputError

__all__ = ["Split", "normalize_text", "stratified_split"]

_PARTS = ("train", "val", "test")


def normalize_text(text: str) -> str:
    """The form in which two texts count as duplicates: NFKC, case-folded, whitespace collapsed.

    Example:
        >>> normalize_text("  Free\\u00a0ENTRY\\n\\n now ") == normalize_text("free entry now")
        True
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(folded.split())


@dataclass(frozen=True)
class Split:
    """Row indices of a train/val/test split, with the facts a report needs to describe it.

    Attributes:
        train, val, test: sorted row indices; disjoint, and together all rows.
        fractions: the requested (train, val, test) fractions.
        seed: the seed that made the split.
        group_duplicates: whether duplicate texts were kept together.
        n_duplicate_texts: rows whose normalised text occurred on an earlier row.
        n_duplicate_groups: distinct normalised texts that occur more than once.
        n_label_conflicts: duplicate groups whose copies carry more than one label.
        fingerprint: 16 hex digits of sha256 over each split's (text, label) rows.
        notes: policy decisions worth reporting (e.g. a class too small to reach every split).
    """

    train: list[int]
    val: list[int]
    test: list[int]
    fractions: tuple[float, float, float]
    seed: int
    group_duplicates: bool
    n_duplicate_texts: int
    n_duplicate_groups: int
    n_label_conflicts: int
    fingerprint: str
    notes: tuple[str, ...] = ()

    @property
    def signature(self) -> str:
        """One-line provenance, e.g. ``split:stratified|grouped:yes|fractions:0.8,0.1,0.1|seed:0|fp:…``."""
        fractions = ",".join(f"{f:g}" for f in self.fractions)
        grouped = "yes" if self.group_duplicates else "no"
        return f"split:stratified|grouped:{grouped}|fractions:{fractions}|seed:{self.seed}|fp:{self.fingerprint}"

    def sizes(self) -> dict[str, int]:
        """Rows per split."""
        return {part: len(getattr(self, part)) for part in _PARTS}


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise InputError(f"split fractions must be three numbers (train, val, test), got {fractions!r}; e.g. 0.8,0.1,0.1") from None
    if len(values) != 3 or not all(math.isfinite(f) and f >= 0 for f in values) or values[0] <= 0:
        raise InputError(f"split fractions must be three non-negative numbers with train > 0, got {fractions!r}; e.g. 0.8,0.1,0.1")
    if abs(sum(values) - 1.0) > 1e-6:
        raise InputError(f"split fractions must sum to 1, got {fractions!r} (sum {sum(values):g}); e.g. 0.8,0.1,0.1")
    return values  # type: ignore[return-value]


def _group_rows(texts: Sequence[str]) -> list[list[int]]:
    """Rows grouped by normalised text, groups in order of first appearance."""
    by_key: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        by_key.setdefault(normalize_text(text), []).append(i)
    return list(by_key.values())


def _group_label(rows: list[int], labels: Sequence[str]) -> str:
    counts = Counter(labels[i] for i in rows)
    return max(dict.fromkeys(labels[i] for i in rows), key=counts.__getitem__)  # max keeps the first tie


def _allocate_class(groups, fractions, rng, label, notes) -> list[list[list[int]]]:
    """Assign one class's groups to (train, val, test); returns the groups of each part."""
    active = [p for p in range(3) if fractions[p] > 0]
    parts: list[list[list[int]]] = [[], [], []]
    order = list(groups)
    rng.shuffle(order)
    total = sum(len(g) for g in order)
    target = [f * total for f in fractions]
    filled = [0, 0, 0]
    if len(order) >= len(active):
        smallest = sorted(order, key=len)[: len(active)]  # sorted() is stable: ties stay shuffled
        for part, group in zip(sorted(active, key=lambda p: target[p]), smallest):
            parts[part].append(group)
            filled[part] += len(group)
        chosen = {id(g) for g in smallest}
        rest = [g for g in order if id(g) not in chosen]
    else:
        rest = []
        for part, group in zip([p for p in (0, 2, 1) if p in active], order):
            parts[part].append(group)
        missing = [_PARTS[p] for p in active if not parts[p]]
        notes.append(f"class {label!r} has {len(order)} distinct text(s), too few for every split; absent from {', '.join(missing)}")
    for group in rest:
        part = max(active, key=lambda p: target[p] - filled[p])
        parts[part].append(group)
        filled[part] += len(group)
    return parts


def _fill_empty_parts(parts, fractions, notes) -> None:
    """Move a smallest group into any requested split that ended up empty, when another can spare one."""
    for part in (p for p in range(3) if fractions[p] > 0):
        if parts[part]:
            continue
        donor = max(range(3), key=lambda p: len(parts[p]))
        if len(parts[donor]) < 2:
            notes.append(f"too few distinct texts to fill the {_PARTS[part]} split")
            continue
        group = min(parts[donor], key=len)
        parts[donor].remove(group)
        parts[part].append(group)
        notes.append(f"moved one group from {_PARTS[donor]} to the otherwise empty {_PARTS[part]} split")


def _fingerprint(index_lists, texts, labels) -> str:
    doc = {part: [[texts[i], labels[i]] for i in rows] for part, rows in zip(_PARTS, index_lists)}
    return hashlib.sha256(json.dumps(doc, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def stratified_split(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    group_duplicates: bool = True,
) -> Split:
    """Split rows into train/val/test, stratified by label, keeping duplicate texts together.

    Args:
        texts: one text per row.
        labels: one label per row.
        fractions: (train, val, test) fractions of rows; non-negative, train > 0, summing to 1.
            A zero fraction gives an empty split.
        seed: the same seed, texts and labels always give the same split.
        group_duplicates: keep all copies of a (normalised) text in one split; ``False`` splits
            rows independently (duplicates are still counted).

    Raises:
        InputError: bad fractions, no rows, or texts and labels of different lengths.

    Example:
        >>> texts = [f"message {i}" for i in range(20)] + ["message 0"]
        >>> labels = ["ham"] * 10 + ["spam"] * 10 + ["ham"]
        >>> s = stratified_split(texts, labels, fractions=(0.6, 0.2, 0.2), seed=1)
        >>> s.sizes(), s.n_duplicate_texts
        ({'train': 13, 'val': 4, 'test': 4}, 1)
        >>> (0 in s.test) == (20 in s.test)  # the two copies of "message 0" share a split
        True
    """
    fractions = _check_fractions(fractions)
    if len(texts) != len(labels):
        raise InputError(f"got {len(texts)} texts but {len(labels)} labels; pass one label per text")
    if not texts:
        raise InputError("cannot split an empty dataset; the data file has no rows")
    duplicate_groups = _group_rows(texts)
    groups = duplicate_groups if group_duplicates else [[i] for i in range(len(texts))]
    by_label: dict[str, list[list[int]]] = {}
    for group in groups:
        by_label.setdefault(_group_label(group, labels), []).append(group)
    rng = random.Random(seed)
    notes: list[str] = []
    parts: list[list[list[int]]] = [[], [], []]
    for label in sorted(by_label, key=str):
        for part, allocated in enumerate(_allocate_class(by_label[label], fractions, rng, label, notes)):
            parts[part].extend(allocated)
    _fill_empty_parts(parts, fractions, notes)
    for note in notes:
        warnings.warn(f"stratified_split: {note}", UserWarning, stacklevel=2)
    index_lists = [sorted(i for group in part for i in group) for part in parts]
    return Split(
        train=index_lists[0],
        val=index_lists[1],
        test=index_lists[2],
        fractions=fractions,
        seed=seed,
        group_duplicates=group_duplicates,
        n_duplicate_texts=len(texts) - len(duplicate_groups),
        n_duplicate_groups=sum(len(g) > 1 for g in duplicate_groups),
        n_label_conflicts=sum(len({labels[i] for i in g}) > 1 for g in duplicate_groups),
        fingerprint=_fingerprint(index_lists, texts, labels),
        notes=tuple(notes),
    )
