"""Recipe: the heads-count sweep. Same data, split, d_model, schedule and seeds; only the head count changes.

plan (every configuration validated first) -> the data loaded once to refuse bad input before anything is
written -> per (heads, seed), in a fresh child process ("spawn"): the training recipe writes a complete run
directory DIR/heads-H-seed-S/, then the model is measured on its test split (parameters, FLOPs per token,
batch-1 latency, batch throughput) and the child's peak memory read -> paired comparisons, table and
summary (:mod:`attnlab.heads.sweep_summary`) -> sweep.json, sweep.csv, sweep-runs.csv, sweep.svg/.png,
sweep.html. The sweep directory is built in a hidden folder and renamed into place only when complete.

A child process per configuration makes peak memory a per-configuration number (``ru_maxrss`` only grows)
and starts every configuration from the same state.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import multiprocessing
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from attnlab import __version__
from attnlab.config import RunConfig
from attnlab.errors import InputError
from attnlab.heads.sweep import check_head_counts
from attnlab.heads.sweep_summary import (add_cost_ratios, aggregate_runs, compare_head_counts, quality_paths,
                                         summarize)
from attnlab.io import RunDirectory, atomic_write_bytes, atomic_write_csv, atomic_write_json, atomic_write_text

__all__ = ["SweepOptions", "measure_run", "member_name", "plan_sweep", "run_sweep", "train_and_measure"]


@dataclasses.dataclass(frozen=True)
class SweepOptions:
    """How a sweep measures. ``repeats``: timed passes for latency and throughput (after a warm-up);
    ``latency_rows``: test rows timed one by one; ``bootstrap``: resamples of the paired tests."""

    bootstrap: int = 1000
    repeats: int = 3
    latency_rows: int = 200
    progress: bool = False

    def validate(self) -> "SweepOptions":
        if self.bootstrap < 1 or self.repeats < 1 or self.latency_rows < 1:
            raise InputError(f"bootstrap, repeats and latency_rows must be positive, got {self.bootstrap}, "
                             f"{self.repeats}, {self.latency_rows}")
        return self


def member_name(heads: int, seed: int) -> str:
    return f"heads-{heads}-seed-{seed}"


def plan_sweep(base: RunConfig, heads: Sequence[int], seeds: Sequence[int]) -> list[tuple[int, int, RunConfig]]:
    """``(heads, seed, config)`` per member, head counts ascending; every config validated. Each member is one
    model (a base config's ``ensemble`` is set to 1: the sweep's own seeds are its repeats)."""
    if not heads or not seeds:
        raise InputError("a sweep needs at least one head count and one seed; e.g. --heads 1,2,4,8 --seeds 0")
    for name, values in (("head count", heads), ("seed", seeds)):
        if len(set(values)) != len(values):
            raise InputError(f"each {name} may appear once; got {', '.join(map(str, values))}")
    check_head_counts(heads, d_model=base.model.d_model)
    return [(h, s, base.replace(model={"n_heads": h, "ensemble": 1}, train={"seed": s}))
            for h in sorted(heads) for s in seeds]


def measure_run(run_dir: str | Path, *, device: Any = "cpu", repeats: int = 3, latency_rows: int = 200
                ) -> dict[str, Any]:
    """Parameters, FLOPs per token, attention-weight elements, latency and throughput of a saved run, on its
    own test split (rebuilt from config.json and checked against the recorded split fingerprint)."""
    from attnlab.heads.sweep import (attention_elements_per_token, batch1_latency, batch_throughput, count_flops,
                                     length_groups, parameter_counts)
    from attnlab.recipes.run_data import load_run_splits
    from attnlab.recipes.train_classifier import encode_split
    from attnlab.train.checkpoint import load_classifier

    loaded = load_classifier(run_dir, device=device)
    cfg, model = loaded.config, loaded.model
    cut = load_run_splits(run_dir, cfg)
    test, _ = encode_split(loaded.tokenizer, cut.texts["test"], cut.label_indices("test", loaded.labels),
                           cfg.model.max_len)
    rows = [test.input_ids[i, :n] for i, n in enumerate(test.lengths[:latency_rows]) if n > 0]
    return {"params": parameter_counts(model),
            "flops": count_flops(model, length_groups(test.input_ids, test.lengths), device=device),
            "attention_elements_per_token": attention_elements_per_token(
                n_heads=cfg.model.n_heads, n_layers=cfg.model.n_layers, lengths=test.lengths),
            "latency": batch1_latency(model, rows, device=device, repeats=repeats),
            "throughput": batch_throughput(model, test, device=device, repeats=repeats)}


def train_and_measure(cfg_dict: dict[str, Any], run_dir: str, options: dict[str, Any]) -> dict[str, Any]:
    """One member, in its own process: train (a complete run directory), measure, read the peak memory."""
    import torch
    from rich.console import Console

    from attnlab.heads.sweep import peak_memory
    from attnlab.recipes.train_classifier import resolve_device, train_classifier

    t0, load_start = time.perf_counter(), _load_average()
    cfg = RunConfig.from_dict(cfg_dict)
    device = resolve_device(cfg.device)
    start = peak_memory("cpu")["mib"]  # the runtime before any data or model (CPU RSS)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    train_classifier(cfg, run_dir, console=Console(stderr=True, quiet=not options["progress"]))
    out = measure_run(run_dir, device=device, repeats=options["repeats"], latency_rows=options["latency_rows"])
    out["peak_memory"] = peak_memory(device, rss_at_start_mib=start)
    out.update(device=str(device), torch_threads=torch.get_num_threads(), child_seconds=time.perf_counter() - t0,
               load_average_1min=[load_start, _load_average()])  # other work on the machine skews the timings
    return out


def _load_average() -> float | None:
    import os

    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on every platform
        return None


def _in_child(fn, *args: Any, name: str) -> Any:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool:
            raise RuntimeError(f"the process training {name} ended abruptly (killed, or out of memory?); the sweep "
                               "directory was not kept") from None


def _read_member(run_dir: Path, heads: int, seed: int, measures: dict[str, Any], paths: dict[str, str]
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The run's entry in sweep.json (from its report.json and the measurements) and its test predictions."""
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    with open(run_dir / "history.jsonl", encoding="utf-8") as fh:
        history = [json.loads(line) for line in fh if line.strip()]
    quality = {}
    for key, path in paths.items():
        node: Any = report["metrics"]
        for part in path.split("."):
            node = node[part]
        ci = (report.get("intervals") or {}).get(path) or (None, None)
        quality[key] = {"path": path, "value": node, "low": ci[0], "high": ci[1]}
    training = report["run"]["training"]
    costs = {"params": measures["params"]["total"], "flops_per_token": measures["flops"]["per_token"],
             "attention_elements_per_token": measures["attention_elements_per_token"],
             "train_seconds": training["seconds"],
             "train_tokens_per_s": statistics.median(h["train_tokens_per_s"] for h in history),
             "latency_ms": measures["latency"]["median_ms"],
             "throughput_per_s": measures["throughput"]["examples_per_s"],
             "peak_memory_mib": measures["peak_memory"]["mib"]}
    cfg = report["run"]["config"]["model"]
    run = {"heads": heads, "seed": seed, "d_head": cfg["d_model"] // heads, "run_dir": run_dir.name,
           "split_fingerprint": report["run"]["data"]["split_fingerprint"], "best_epoch": training["best_epoch"],
           "epochs_run": training["epochs_run"], "quality": quality, "costs": costs, "measurements": measures}
    with open(run_dir / "predictions.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    preds = {"ids": [r["id"] for r in rows], "y_true": [r["label"] for r in rows],
             "y_pred": [r["prediction"] for r in rows]}
    return run, preds


def run_sweep(base: RunConfig, heads: Sequence[int], seeds: Sequence[int], out_dir: str | Path, *,
              console: Any = None, options: SweepOptions = SweepOptions()) -> dict[str, Any]:
    """Train and measure every (heads, seed), compare, summarise, write the sweep directory; return sweep.json."""
    from rich.console import Console

    from attnlab.recipes.run_data import split_for_config

    console = console or Console(stderr=True)
    options.validate()
    plan = plan_sweep(base, heads, seeds)
    heads, seeds = sorted(heads), list(seeds)
    cut = split_for_config(plan[0][2])  # unreadable or untrainable data is refused before anything is written
    t0 = time.perf_counter()
    runs, predictions, labels, positive = [], {}, list(cut.data.label_names), None
    with RunDirectory(out_dir) as sweep_dir:
        for i, (h, s, cfg) in enumerate(plan, 1):
            console.print(f"sweep [{i}/{len(plan)}]: {h} head(s), seed {s} -> {member_name(h, s)}/")
            path = sweep_dir.path / member_name(h, s)
            measures = _in_child(train_and_measure, cfg.to_dict(), str(path), dataclasses.asdict(options),
                                 name=member_name(h, s))
            report = json.loads((path / "report.json").read_text(encoding="utf-8"))
            labels, positive = report["labels"], report.get("positive_label")
            run, predictions[(h, s)] = _read_member(path, h, s, measures, quality_paths(labels, positive))
            runs.append(run)
        table = aggregate_runs(runs, heads)
        comparisons = compare_head_counts(predictions, heads=heads, seeds=seeds, labels=labels,
                                          positive_label=positive, n_resamples=options.bootstrap)
        add_cost_ratios(comparisons, table)
        doc = _document(base, heads, seeds, cut, labels, positive, runs, table, comparisons, options)
        doc["summary"] = summarize(table, comparisons, positive_label=positive, confidence=0.95,
                                   n_resamples=options.bootstrap, seeds=seeds, runs=runs)
        doc["seconds_total"] = round(time.perf_counter() - t0, 2)
        write_sweep_outputs(sweep_dir.path, doc)
        sweep_dir.commit()
    return doc


def _document(base, heads, seeds, cut, labels, positive, runs, table, comparisons, options) -> dict[str, Any]:
    import os

    from attnlab.heads.sweep import FLOPS_COUNTED

    first = runs[0]["measurements"]
    return {
        "schema": "attnlab-sweep", "schema_version": 1, "attnlab_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": {"python": platform.python_version(), "platform": platform.platform(),
                        "machine": platform.machine(), "cpu_count": os.cpu_count(), "device": first["device"],
                        "torch_threads": first["torch_threads"]},
        "heads": list(heads), "seeds": list(seeds), "varied": ["model.n_heads", "train.seed"],
        "config": {**base.to_dict(), "model": {**base.to_dict()["model"], "n_heads": None},
                   "train": {**base.to_dict()["train"], "seed": None}},
        "data": {"source": base.data.source, "n_rows": len(cut.data.texts), "n_test": len(cut.split.test),
                 "labels": labels, "positive_label": positive},
        "measurement": {
            "flops": FLOPS_COUNTED,
            "attention_elements": "n_layers * H * T attention weights per token (T = its row's real length), "
                                  "averaged over the test tokens",
            "latency": f"batch 1, each of the first {first['latency']['rows']} test rows at its real length; median "
                       f"of every call over {options.repeats} passes after {first['latency']['warmup_calls']} warm-up "
                       "calls; inference mode",
            "throughput": f"the whole test split in length-sorted batches of 128; median of {options.repeats} "
                          "passes after one warm-up pass",
            "peak_memory": first["peak_memory"]["kind"] + ": training + measurement of one configuration",
            "training_time": "seconds of the training loop incl. per-epoch validation (early stopping may end "
                             "configurations after different numbers of epochs; training tokens/s is the median "
                             "over epochs)",
            "intervals": "per run: the run's report.json bootstrap percentile intervals (95%, 1000 resamples)",
            "comparisons": f"paired bootstrap on the same test rows, {options.bootstrap} resamples, 95%",
        },
        "runs": runs, "table": table, "comparisons": comparisons,
    }


def write_sweep_outputs(folder: Path, doc: dict[str, Any]) -> None:
    """sweep.json, sweep.csv (the table), sweep-runs.csv, sweep.svg, sweep.png and sweep.html in ``folder``."""
    from attnlab.heads.sweep_summary import runs_csv, table_csv
    from attnlab.report.sweep_html import render_sweep_html
    from attnlab.report.sweep_plots import sweep_png, sweep_svg

    atomic_write_json(folder / "sweep.json", doc)
    atomic_write_csv(folder / "sweep.csv", *table_csv(doc))
    atomic_write_csv(folder / "sweep-runs.csv", *runs_csv(doc))
    atomic_write_text(folder / "sweep.svg", sweep_svg(doc))
    atomic_write_bytes(folder / "sweep.png", sweep_png(doc))
    atomic_write_text(folder / "sweep.html", render_sweep_html(doc))
