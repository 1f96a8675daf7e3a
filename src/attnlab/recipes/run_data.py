"""The data splits of a classification run: made once at training time, rebuilt later for inspection.

Training and every later look at a run (head statistics, importance, pruning) go through
:func:`split_for_config`, so a run's validation and test rows can be recovered exactly from its
config.json; :func:`load_run_splits` checks the rebuilt split's fingerprint against the one recorded in
report.json and refuses a different split (an edited data file, another seed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attnlab.config import RunConfig
from attnlab.data.catalog import split_rows
from attnlab.data.datasets import load_data
from attnlab.data.readers import LabelledTexts, check_trainable
from attnlab.data.splits import Split
from attnlab.diagnostics import leak_key
from attnlab.errors import InputError

__all__ = ["SplitTexts", "load_run_splits", "split_for_config"]

PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitTexts:
    """A dataset cut into train/val/test: the rows, their texts and labels per part.

    Attributes:
        data: every row as loaded.
        split: the row indices and split facts (fingerprint, notes).
        texts: ``{"train"|"val"|"test": [text, ...]}``.
        labels: ``{"train"|"val"|"test": [label, ...]}`` (label names, not indices).
    """

    data: LabelledTexts
    split: Split
    texts: dict[str, list[str]]
    labels: dict[str, list[str]]

    def label_indices(self, part: str, label_names: list[str]) -> np.ndarray:
        """Labels of ``part`` as indices into ``label_names`` ``(N,)``."""
        index = {lab: i for i, lab in enumerate(label_names)}
        return np.array([index[lab] for lab in self.labels[part]], dtype=np.int64)


def split_for_config(cfg: RunConfig, source: str | Path | None = None) -> SplitTexts:
    """Load the run's data and cut it as training does.

    Duplicates are grouped by the leakage check's key (NFKC, case, whitespace AND punctuation), so no
    exact duplicate straddles two splits; an official test split (20newsgroups) is kept as the test split.

    Args:
        cfg: The run's configuration (data source and columns, fractions, seed).
        source: Read the data from here instead of ``cfg.data.source`` (a moved file).
    """
    data = load_data(cfg.data.source if source is None else source, text_column=cfg.data.text_column,
                     label_column=cfg.data.label_column)
    check_trainable(data)
    fractions = (1 - cfg.data.val_fraction - cfg.data.test_fraction, cfg.data.val_fraction, cfg.data.test_fraction)
    split = split_rows(data, [leak_key(t) for t in data.texts], seed=cfg.train.seed, fractions=fractions)
    texts = {part: [data.texts[i] for i in getattr(split, part)] for part in PARTS}
    labels = {part: [data.labels[i] for i in getattr(split, part)] for part in PARTS}
    return SplitTexts(data, split, texts, labels)


def load_run_splits(run_dir: str | Path, cfg: RunConfig, *, data: str | Path | None = None) -> SplitTexts:
    """Rebuild a finished run's splits and check they are the ones it was trained and tested on.

    Args:
        run_dir: The run directory (its report.json holds the split fingerprint).
        cfg: The run's configuration (from config.json).
        data: The data file, when it is no longer where the run found it.

    Raises:
        InputError: the data cannot be found, or it splits differently from the recorded split.
    """
    run_dir = Path(run_dir)
    where = data if data is not None else cfg.data.source
    try:
        rebuilt = split_for_config(cfg, data)
    except InputError as exc:
        raise InputError(f"cannot rebuild the run's data splits from {where!s}: {exc}; pass the data file "
                         "with --data") from None
    recorded = _recorded_fingerprint(run_dir)
    if recorded is not None and recorded != rebuilt.split.fingerprint:
        raise InputError(f"{where!s} does not split into the rows this run was trained on (split fingerprint "
                         f"{rebuilt.split.fingerprint}, run recorded {recorded}); pass the original data with --data")
    return rebuilt


def _recorded_fingerprint(run_dir: Path) -> str | None:
    path = run_dir / "report.json"
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        return report["run"]["data"]["split_fingerprint"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        return None
