"""Recipe: remove the least important heads of a classification run (``attnlab prune RUN_DIR``).

load the run -> rebuild its splits (fingerprint checked) -> encode validation and test with the run's
tokenizer -> head importance on VALIDATION, removing heads iteratively (Michel et al. 2019) -> prune the
``fraction`` least important heads for real -> test predictions of both models through the training metrics
engine, paired bootstrap test of the difference -> CPU inference time of both, interleaved repeats -> a new
run directory (config.json with ``pruned_heads``, model.safetensors, tokenizer.json, history.jsonl of the
source run, predictions.csv, report.json with a ``pruning`` section, report.html), built in a hidden folder
and renamed into place when complete. The source run is only read.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnlab.errors import InputError
from attnlab.heads.importance import ablate_heads, head_importance, metric_paths, pruning_curve
from attnlab.io import RunDirectory, atomic_write_csv, atomic_write_json
from attnlab.metrics.compare import paired_bootstrap_test
from attnlab.recipes.run_data import SplitTexts, load_run_splits
from attnlab.recipes.train_classifier import encode_split
from attnlab.train.checkpoint import (CONFIG_FILE, TOKENIZER_FILE, LoadedClassifier, load_classifier, require_single_model,
                                     save_classifier)
from attnlab.train.loop import TensorData, predict_logits

__all__ = ["PruneOptions", "encode_run_splits", "head_report", "prune_run", "time_inference"]


@dataclass(frozen=True)
class PruneOptions:
    """What ``attnlab prune`` does; :meth:`validate` checks it before anything is read or written."""

    fraction: float = 0.5  # share of all heads to remove
    out: str | None = None  # new run directory (default: RUN_DIR-prunedNN)
    data: str | None = None  # the run's data file, when it moved
    step_fraction: float = 0.1  # heads removed between importance recomputations, as a share of all heads
    normalize: bool = True  # rank by per-layer L2-normalised importance (Michel et al.)
    min_heads_per_layer: int = 0
    ablation: bool = True  # also switch off each head alone (validation metric change with CIs)
    bootstrap: int = 1000
    timing_repeats: int = 11
    seed: int = 0

    def validate(self) -> None:
        if not (isinstance(self.fraction, (int, float)) and 0.0 < self.fraction < 1.0):
            raise InputError(f"--fraction must be in (0, 1), the share of heads to remove, got {self.fraction}; "
                             "e.g. 0.5")
        if not 0.0 < self.step_fraction <= 1.0 or self.min_heads_per_layer < 0:
            raise InputError("step_fraction must be in (0, 1] and min_heads_per_layer >= 0")
        if self.timing_repeats < 1 or self.bootstrap < 1:
            raise InputError("timing_repeats and bootstrap must be positive")


def encode_run_splits(loaded: LoadedClassifier, splits: SplitTexts, parts=("val", "test")) -> dict[str, TensorData]:
    """The run's splits encoded with its own tokenizer and max_len, labels in ``loaded.labels`` order."""
    return {part: encode_split(loaded.tokenizer, splits.texts[part], splits.label_indices(part, loaded.labels),
                               loaded.config.model.max_len)[0] for part in parts}


def head_report(loaded: LoadedClassifier, splits: SplitTexts, *, step_fraction: float = 0.1, normalize: bool = True,
                min_heads_per_layer: int = 0, ablation: bool = True, n_resamples: int = 1000, seed: int = 0,
                encoded: Mapping[str, TensorData] | None = None) -> dict[str, Any]:
    """Importance table, single-head ablation and pruning curve of a run, as one JSON-ready dict.

    Importance and ablation are measured on the validation split; the curve ranks heads on validation and
    reports the metrics on validation and test at each fraction removed. Nothing is selected on test.

    Returns:
        ``{"heads": {n_layers, n_heads, head_ids}, "importance", "ablation" (list or None), "curve",
        "positive_label", "labels"}``.
    """
    enc = dict(encoded) if encoded is not None else encode_run_splits(loaded, splits)
    model, labels, pos = loaded.model, list(loaded.labels), loaded.positive_label
    importance = head_importance(model, enc["val"])
    curve = pruning_curve(model, enc["val"], {"validation": enc["val"], "test": enc["test"]}, labels=labels,
                          positive_label=pos, step_fraction=step_fraction, normalize=normalize,
                          min_heads_per_layer=min_heads_per_layer)
    ablated = ablate_heads(model, enc["val"], labels=labels, positive_label=pos, n_resamples=n_resamples,
                           seed=seed) if ablation else None
    return {"heads": {"n_layers": len(model.blocks), "head_ids": model.head_ids, "n_heads": curve["n_heads"]},
            "labels": labels, "positive_label": pos, "importance": {**importance.to_dict(), "split": "validation"},
            "ablation": ablated, "ablation_split": "validation", "curve": curve}


def _median_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """Distribution-free interval for a median from order statistics (binomial; ``None`` when too few values)."""
    x, n = np.sort(values), len(values)
    cdf = np.cumsum([math.comb(n, i) for i in range(n + 1)]) / 2.0**n  # P(Bin(n, 1/2) <= i)
    k = int(np.searchsorted(cdf, (1 - confidence) / 2, side="right"))  # P(X <= k - 1) <= alpha / 2
    if k == 0:
        return None, None
    return float(x[k - 1]), float(x[n - k])


def time_inference(models: Mapping[str, torch.nn.Module], data: TensorData, *, repeats: int = 11, warmup: int = 1,
                   batch_size: int = 128) -> dict[str, Any]:
    """Seconds per full inference pass over ``data`` for each model, timed alternately in one process.

    Every repeat times one pass of each model in turn (after ``warmup`` untimed passes each), so load from
    other processes hits both alike; the speed-up of the second model over the first is the per-repeat
    ratio, summarised by its median and a distribution-free 95% interval for the median. ``measurable`` is
    whether that interval lies above 1.
    """
    names = list(models)
    for _ in range(warmup):
        for name in names:
            predict_logits(models[name], data, batch_size=batch_size)
    seconds = {name: [] for name in names}
    for _ in range(repeats):
        for name in names:
            t0 = time.perf_counter()
            predict_logits(models[name], data, batch_size=batch_size)
            seconds[name].append(time.perf_counter() - t0)
    out: dict[str, Any] = {"repeats": repeats, "warmup": warmup, "batch_size": batch_size, "n_examples": len(data),
                           "threads": torch.get_num_threads(), "device": "cpu",
                           "seconds": {n: {"median": float(np.median(s)), "min": float(min(s)), "all": s}
                                       for n, s in seconds.items()}}
    if len(names) == 2:
        ratio = np.array(seconds[names[0]]) / np.array(seconds[names[1]])
        low, high = _median_ci(ratio)
        out["speedup"] = {"of": names[1], "over": names[0], "median": float(np.median(ratio)), "low": low,
                          "high": high, "confidence": 0.95, "method": "median of per-repeat ratios, order-statistic CI",
                          "measurable": low is not None and low > 1.0}
    return out


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _check_source(run_dir: Path) -> None:
    try:
        meta = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # load_classifier says what is wrong
    if isinstance(meta, dict) and meta.get("task") == "translate":
        raise InputError(f"{run_dir} is a translation run; attnlab prune works on classification runs")


def _test_outputs(model: torch.nn.Module, data: TensorData) -> np.ndarray:
    logits = torch.from_numpy(predict_logits(model, data))
    return torch.softmax(logits.double(), dim=1).numpy()  # (N, C)


def prune_run(run_dir: str | Path, opts: PruneOptions = PruneOptions()) -> dict[str, Any]:
    """Run the recipe and return the new run's report dictionary (also written as report.json)."""
    from attnlab.recipes.evaluate import score_predictions

    opts.validate()
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir} is not a directory; pass a run directory written by `attnlab run`/`train`")
    _check_source(run_dir)
    out = Path(opts.out) if opts.out else run_dir.with_name(f"{run_dir.name}-pruned{round(opts.fraction * 100)}")
    loaded = load_classifier(run_dir)
    require_single_model(loaded, run_dir, "head pruning")
    cfg, labels, pos = loaded.config, list(loaded.labels), loaded.positive_label
    n_heads = sum(len(ids) for ids in loaded.model.head_ids)
    room = sum(max(0, len(ids) - opts.min_heads_per_layer) for ids in loaded.model.head_ids)
    n_remove = round(opts.fraction * n_heads)
    if not 1 <= n_remove <= room:
        raise InputError(f"--fraction {opts.fraction} of {n_heads} heads removes {n_remove}; choose a fraction that "
                         f"removes between 1 and {room} heads")
    splits = load_run_splits(run_dir, cfg, data=opts.data)
    enc = encode_run_splits(loaded, splits)
    with RunDirectory(out) as run:  # refuses an existing or unwritable --out before the work starts
        torch.manual_seed(opts.seed)
        heads = head_report(loaded, splits, step_fraction=opts.step_fraction, normalize=opts.normalize,
                            min_heads_per_layer=opts.min_heads_per_layer, ablation=opts.ablation,
                            n_resamples=opts.bootstrap, seed=opts.seed, encoded=enc)
        order = [tuple(lh) for lh in heads["curve"]["order"]]
        removed = sorted(order[:n_remove])
        unpruned = loaded.model
        pruned = copy.deepcopy(unpruned)
        pruned.prune_heads({l: [h for ll, h in removed if ll == l] for l in sorted({l for l, _ in removed})})

        proba = {"before": _test_outputs(unpruned, enc["test"]), "after": _test_outputs(pruned, enc["test"])}
        y_true = [labels[i] for i in enc["test"].labels]
        y_pred = {k: [labels[i] for i in p.argmax(1)] for k, p in proba.items()}
        paths = metric_paths(pos)
        paired = paired_bootstrap_test(y_true, y_pred["before"], y_pred["after"], labels=labels,
                                       metrics=list(paths.values()), positive_label=pos, n_resamples=opts.bootstrap,
                                       seed=opts.seed)
        speed = time_inference({"unpruned": unpruned, "pruned": pruned}, enc["test"], repeats=opts.timing_repeats)
        report = score_predictions(y_true, y_pred["after"], labels=labels, proba=proba["after"], positive_label=pos,
                                   bootstrap=opts.bootstrap, seed=opts.seed)
        report["run"] = {**copy.deepcopy(_read_source_report(run_dir).get("run", {})),
                         "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        report["pruning"] = {
            "source_run": str(run_dir), "fraction": opts.fraction, "n_heads": n_heads, "n_removed": n_remove,
            "heads_removed": [list(lh) for lh in removed], "removal_order": [list(lh) for lh in order[:n_remove]],
            "pruned_heads": {str(l): hs for l, hs in pruned.pruned_heads.items()},
            "method": {"importance": "E_x |dL(x)/dxi_h| on the validation split (Michel et al. 2019)",
                       "normalize": opts.normalize, "step": heads["curve"]["step"],
                       "min_heads_per_layer": opts.min_heads_per_layer, "ranked_on": "validation"},
            "importance": heads["importance"], "ablation": heads["ablation"], "curve": heads["curve"],
            "test": {"n": len(y_true), "metric_paths": paths,
                     "paired": {name: paired[path] for name, path in paths.items()}},
            "speed": speed, "params": {"before": _n_params(unpruned), "after": _n_params(pruned),
                                       "removed": _n_params(unpruned) - _n_params(pruned)},
        }
        _annotate(report, splits, run_dir, seed=cfg.train.seed)
        _write_run(run, run_dir, pruned, loaded, report, splits, y_true, y_pred["after"], proba["after"])
    return report


def _read_source_report(run_dir: Path) -> dict[str, Any]:
    try:
        report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
        return report if isinstance(report, dict) else {}
    except (OSError, ValueError):
        return {}


def _annotate(report: dict[str, Any], splits: SplitTexts, run_dir: Path, *, seed: int) -> None:
    """Findings and verdict for the pruned model, as training does for a trained one (history of the source)."""
    from attnlab.diagnostics import annotate, conflict_findings, label_conflicts, splits_overlap
    from attnlab.recipes.report import read_history

    overlap = splits_overlap({"train": splits.texts["train"], "validation": splits.texts["val"],
                              "test": splits.texts["test"]}, seed=seed)
    annotate(report, history=read_history(run_dir / "history.jsonl"), overlap=overlap,
             extra=conflict_findings(label_conflicts(splits.data.texts, splits.data.labels), "the data set"))


def _write_run(run: RunDirectory, run_dir: Path, model: torch.nn.Module, loaded: LoadedClassifier,
               report: dict[str, Any], splits: SplitTexts, y_true: list[str], y_pred: list[str],
               proba: np.ndarray) -> None:
    """Fill the new run directory and rename it into place."""
    from attnlab.recipes.report import render_report

    labels = list(loaded.labels)
    source_meta = json.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    shutil.copyfile(run_dir / TOKENIZER_FILE, run.path / TOKENIZER_FILE)
    if (run_dir / "history.jsonl").is_file():  # the training history of the weights that were pruned
        shutil.copyfile(run_dir / "history.jsonl", run.path / "history.jsonl")
    save_classifier(run.path, model, loaded.config, labels=labels, positive_label=loaded.positive_label,
                    vocab_size=source_meta["vocab_size"], pad_id=source_meta["pad_id"])
    header = ["id", "text", "label", "prediction"] + [f"p_{lab}" for lab in labels]
    rows = ([int(i), splits.texts["test"][k], y_true[k], y_pred[k], *(f"{p:.6g}" for p in proba[k])]
            for k, i in enumerate(splits.split.test))
    atomic_write_csv(run.path / "predictions.csv", header, rows)
    atomic_write_json(run.path / "report.json", report)
    render_report(run.path)  # report.html from the files just written, as `attnlab report` does
    run.commit()
