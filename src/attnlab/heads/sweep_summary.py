"""Heads-count sweep, the reading: the table across seeds, paired comparisons of head counts, the summary.

NumPy only (no torch): a sweep's numbers can be re-read and re-rendered from sweep.json. The quality
comparisons reuse :func:`attnlab.metrics.compare.paired_bootstrap_test` on the same test rows: two head
counts trained with the same seed are scored on the same split, so their predictions pair row by row; with
several seeds the rows of every seed are stacked (paired within each seed) and each seed is also tested on
its own. The rule that calls a difference significant is stated in the summary: its percentile interval
excludes 0. Nothing else decides.

>>> spread([0.5, 1.0, None])["mean"], round(spread([0.5, 1.0])["sd"], 4)
(0.75, 0.3536)
>>> signed(0.0041), interval(-0.01, 0.018)
('+0.0041', '[-0.0100, +0.0180]')
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any


from attnlab.metrics.compare import paired_bootstrap_test

__all__ = ["COSTS", "DECISION_METRIC", "QUALITY", "add_cost_ratios", "aggregate_runs", "compare_head_counts",
           "comparison_sentence", "interval", "quality_paths", "runs_csv", "signed", "spread", "summarize",
           "table_csv"]

#: Quality numbers of a run (key -> display name); ``positive_f1`` only for a binary task.
QUALITY = {"accuracy": "accuracy", "macro_f1": "macro-F1", "positive_f1": "F1"}
#: Cost numbers of a run (key -> display name), in table order.
COSTS = {"params": "parameters", "flops_per_token": "FLOPs per token",
         "attention_elements_per_token": "attention-weight elements per token", "train_seconds": "training time",
         "train_tokens_per_s": "training tokens/s", "latency_ms": "batch-1 latency",
         "throughput_per_s": "batch throughput", "peak_memory_mib": "peak memory"}
#: The metric whose significant improvement counts as "more heads helped".
DECISION_METRIC = "macro_f1"


def quality_paths(labels: Sequence[str], positive_label: str | None) -> dict[str, str]:
    """Quality keys -> report.json metric paths: accuracy, macro F1 and, when binary, the positive class's F1."""
    paths = {"accuracy": "accuracy", "macro_f1": "macro.f1"}
    if positive_label is not None and len(labels) == 2:
        paths["positive_f1"] = f"per_class.{positive_label}.f1"
    return paths


def spread(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean, sample standard deviation (``None`` for one value), min and max; ``None`` values are left out."""
    v = [float(x) for x in values if x is not None and not math.isnan(x)]
    if not v:
        return {"mean": None, "sd": None, "min": None, "max": None, "n": 0}
    return {"mean": statistics.fmean(v), "sd": statistics.stdev(v) if len(v) > 1 else None, "min": min(v),
            "max": max(v), "n": len(v)}


def signed(x: float | None, digits: int = 4) -> str:
    return "undefined" if x is None else f"{x:+.{digits}f}"


def interval(low: float | None, high: float | None, digits: int = 4) -> str:
    return "undefined" if low is None or high is None else f"[{low:+.{digits}f}, {high:+.{digits}f}]"


def aggregate_runs(runs: Sequence[Mapping[str, Any]], heads: Sequence[int]) -> list[dict[str, Any]]:
    """One table row per head count: each quality and cost number as its spread across seeds.

    A run is ``{"heads", "seed", "d_head", "quality": {key: {"value", "low", "high"}}, "costs": {key: value}}``.
    With one seed, a quality number keeps that run's bootstrap interval (``low``/``high``).
    """
    table = []
    for h in heads:
        group = [r for r in runs if r["heads"] == h]
        row: dict[str, Any] = {"heads": h, "d_head": group[0]["d_head"], "seeds": [r["seed"] for r in group],
                               "quality": {}, "costs": {}}
        for key in group[0]["quality"]:
            row["quality"][key] = spread([r["quality"][key]["value"] for r in group])
            one = group[0]["quality"][key] if len(group) == 1 else {}
            row["quality"][key].update(low=one.get("low"), high=one.get("high"))
        for key in group[0]["costs"]:
            row["costs"][key] = spread([r["costs"][key] for r in group])
        table.append(row)
    return table


def _pairs(heads: Sequence[int]) -> list[tuple[int, int, str]]:
    """(baseline, system, kind): every count against the smallest, and each against the next smaller one."""
    pairs = [(heads[0], h, "vs the smallest") for h in heads[1:]]
    pairs += [(heads[i - 1], heads[i], "vs the next smaller") for i in range(2, len(heads))]
    return pairs


def _test(rows_a: Sequence[Mapping[str, Any]], rows_b: Sequence[Mapping[str, Any]], *, labels, paths, positive_label,
          n_resamples, seed, confidence) -> dict[str, Any]:
    y_true = [y for r in rows_a for y in r["y_true"]]
    pred_a = [y for r in rows_a for y in r["y_pred"]]
    pred_b = [y for r in rows_b for y in r["y_pred"]]
    res = paired_bootstrap_test(y_true, pred_a, pred_b, labels=labels, metrics=list(paths.values()),
                                positive_label=positive_label, n_resamples=n_resamples, seed=seed,
                                confidence=confidence)
    out = {}
    for key, path in paths.items():
        r = dict(res[path])
        r["significant"] = r["low"] is not None and (r["low"] > 0 or r["high"] < 0)
        out[key] = {"path": path, **r}
    return out


def compare_head_counts(predictions: Mapping[tuple[int, int], Mapping[str, Any]], *, heads: Sequence[int],
                        seeds: Sequence[int], labels: Sequence[str], positive_label: str | None,
                        n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95) -> list[dict[str, Any]]:
    """Paired bootstrap tests of ``metric(system) - metric(baseline)`` for the pairs of head counts.

    ``predictions[(heads, seed)]`` is ``{"ids", "y_true", "y_pred"}`` over that run's test rows; runs with
    the same seed must hold the same rows in the same order. Pairs: every head count against the smallest,
    and each against the next smaller one. Each comparison has ``tests`` over the stacked rows of all seeds
    and, with several seeds, ``per_seed`` tests.
    """
    paths = quality_paths(labels, positive_label)
    for s in seeds:
        first = predictions[(heads[0], s)]
        for h in heads[1:]:
            other = predictions[(h, s)]
            if list(other["ids"]) != list(first["ids"]) or list(other["y_true"]) != list(first["y_true"]):
                raise ValueError(f"runs heads={heads[0]} and heads={h} with seed {s} were tested on different rows; "
                                 "a paired comparison needs the same test split")
    kw = dict(labels=list(labels), paths=paths, positive_label=positive_label, n_resamples=n_resamples, seed=seed,
              confidence=confidence)
    out = []
    for base, system, kind in _pairs(heads):
        entry: dict[str, Any] = {
            "baseline": base, "system": system, "kind": kind,
            "n_rows": sum(len(predictions[(base, s)]["y_true"]) for s in seeds),
            "tests": _test([predictions[(base, s)] for s in seeds], [predictions[(system, s)] for s in seeds], **kw)}
        if len(seeds) > 1:
            entry["per_seed"] = {str(s): _test([predictions[(base, s)]], [predictions[(system, s)]], **kw)
                                 for s in seeds}
        out.append(entry)
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def add_cost_ratios(comparisons: list[dict[str, Any]], table: Sequence[Mapping[str, Any]]) -> None:
    """Each comparison gets ``cost_ratios``: system mean / baseline mean of every cost number."""
    rows = {r["heads"]: r for r in table}
    for c in comparisons:
        a, b = rows[c["system"]]["costs"], rows[c["baseline"]]["costs"]
        c["cost_ratios"] = {k: _ratio(a[k]["mean"], b[k]["mean"]) for k in a}


def _x(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}×"


def _quality_name(key: str, positive_label: str | None) -> str:
    return f"F1 of {positive_label}" if key == "positive_f1" else QUALITY[key]


def comparison_sentence(c: Mapping[str, Any], positive_label: str | None) -> str:
    """``"8 heads vs 4: macro-F1 +0.0040 [-0.0100, +0.0180], not significant; ...; 1.30× batch-1 latency, ..."``"""
    parts = []
    for key, t in c["tests"].items():
        verdict = ("significant" if t["significant"] else "not significant") if t["low"] is not None else (
            f"no interval ({t['reason']})")
        parts.append(f"{_quality_name(key, positive_label)} {signed(t['difference'])} "
                     f"{interval(t['low'], t['high'])}, {verdict}")
    r = c["cost_ratios"]
    costs = (f"{_x(r['latency_ms'])} batch-1 latency, {_x(r['throughput_per_s'])} batch throughput, "
             f"{_x(r['peak_memory_mib'])} peak memory, {_x(r['flops_per_token'])} FLOPs per token, "
             f"{_x(r['attention_elements_per_token'])} attention-weight elements per token, "
             f"{_x(r['train_seconds'])} training time, {_x(r['params'])} parameters")
    return f"{c['system']} heads vs {c['baseline']}: {'; '.join(parts)}; {costs}."


def _timing_note(runs: Sequence[Mapping[str, Any]]) -> str:
    loads = [x for r in runs for x in (r.get("measurements") or {}).get("load_average_1min") or [] if x is not None]
    where = "" if not loads else (f" The machine's 1-minute load average, read when each run started and ended, "
                                  f"ranged from {min(loads):.2f} to {max(loads):.2f}: other work on the machine "
                                  "lengthens the timings of the runs it overlapped.")
    return ("Timings (training time, latency, throughput) are wall-clock medians on this machine; sweep.json holds "
            "each run's latency quartiles." + where)


def summarize(table: Sequence[Mapping[str, Any]], comparisons: Sequence[Mapping[str, Any]], *,
              positive_label: str | None, confidence: float, n_resamples: int, seeds: Sequence[int],
              runs: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The sweep's conclusions, every one computed from ``table`` and ``comparisons``.

    Returns ``{"helped", "hurt", "verdict", "costs", "comparisons": [sentence, ...], "rule", "notes"}``:
    ``helped`` lists the head counts whose decision metric (macro-F1) beats the smallest count's with an
    interval that excludes 0, ``hurt`` those significantly below it.
    """
    smallest = table[0]["heads"]
    vs_smallest = [c for c in comparisons if c["baseline"] == smallest]
    helped = [c["system"] for c in vs_smallest if c["tests"][DECISION_METRIC]["significant"]
              and c["tests"][DECISION_METRIC]["difference"] > 0]
    hurt = [c["system"] for c in vs_smallest if c["tests"][DECISION_METRIC]["significant"]
            and c["tests"][DECISION_METRIC]["difference"] < 0]
    best = max(table, key=lambda r: -math.inf if r["quality"][DECISION_METRIC]["mean"] is None
               else r["quality"][DECISION_METRIC]["mean"])
    best_text = f"highest macro-F1: {best['heads']} head(s), {best['quality'][DECISION_METRIC]['mean']:.4f}"
    if helped:
        verdict = (f"More heads helped on this data: macro-F1 of {', '.join(map(str, helped))} head(s) is above "
                   f"{smallest} head(s) with a {confidence:.0%} interval of the difference that excludes 0 ({best_text}).")
    else:
        verdict = (f"More heads did not measurably help on this data: no head count's macro-F1 beat {smallest} "
                   f"head(s) with a {confidence:.0%} interval of the difference that excludes 0 ({best_text}).")
    if hurt:
        verdict += f" Significantly worse than {smallest} head(s): {', '.join(map(str, hurt))} head(s)."
    largest = vs_smallest[-1] if vs_smallest else None
    costs = "one head count only: nothing to compare." if largest is None else _cost_sentence(table, largest)
    rule = (f"Rule: a difference is significant when its {confidence:.0%} paired-bootstrap percentile interval "
            f"({n_resamples} resamples of the same test rows, system minus baseline) excludes 0; \"helped\" means a "
            f"significant macro-F1 gain over the smallest head count.")
    notes = [_timing_note(runs)]
    if len(seeds) > 1:
        notes.insert(0, f"{len(seeds)} seeds ({', '.join(map(str, seeds))}): the table shows mean ± sd across seeds; "
                        "comparisons stack the test rows of all seeds (paired within each seed; each seed's own "
                        "split), per-seed tests are in sweep.json.")
    return {"helped": helped, "hurt": hurt, "verdict": verdict, "costs": costs,
            "comparisons": [comparison_sentence(c, positive_label) for c in comparisons], "rule": rule,
            "notes": notes}


def _cost_sentence(table: Sequence[Mapping[str, Any]], c: Mapping[str, Any]) -> str:
    params = {r["costs"]["params"]["mean"] for r in table}
    flops = [r["costs"]["flops_per_token"]["mean"] for r in table]
    r = c["cost_ratios"]
    same_params = (f"the same {int(next(iter(params))):,} parameters for every head count" if len(params) == 1
                   else f"{_x(r['params'])} parameters")
    flop_range = f"{min(flops):,.0f}–{max(flops):,.0f}" if max(flops) != min(flops) else f"{flops[0]:,.0f} for all"
    d_model = table[0]["heads"] * table[0]["d_head"]
    return (f"What {c['system']} heads cost against {c['baseline']} at d_model {d_model}: "
            f"{same_params}; FLOPs per token {_x(r['flops_per_token'])} ({flop_range}); attention-weight elements "
            f"per token {_x(r['attention_elements_per_token'])}; batch-1 latency {_x(r['latency_ms'])}; batch "
            f"throughput {_x(r['throughput_per_s'])}; peak memory {_x(r['peak_memory_mib'])}; training time "
            f"{_x(r['train_seconds'])} (training tokens/s {_x(r['train_tokens_per_s'])}).")


def _cell(x: Any) -> Any:
    return "" if x is None else x


def table_csv(doc: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """sweep.csv: one row per head count (means across seeds; ``_low``/``_high`` the run's interval with one
    seed, ``_sd`` the spread with several)."""
    quality, costs = list(doc["table"][0]["quality"]), list(doc["table"][0]["costs"])
    header = ["heads", "d_head", "n_seeds"]
    header += [f"{k}{s}" for k in quality for s in ("", "_low", "_high", "_sd")]
    header += [f"{k}{s}" for k in costs for s in ("", "_sd")]
    rows = []
    for r in doc["table"]:
        row = [r["heads"], r["d_head"], len(r["seeds"])]
        row += [_cell(r["quality"][k][f]) for k in quality for f in ("mean", "low", "high", "sd")]
        row += [_cell(r["costs"][k][f]) for k in costs for f in ("mean", "sd")]
        rows.append(row)
    return header, rows


def runs_csv(doc: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """sweep-runs.csv: one row per (heads, seed) run with its intervals and costs."""
    quality, costs = list(doc["runs"][0]["quality"]), list(doc["runs"][0]["costs"])
    header = ["heads", "seed", "d_head", "run_dir", "epochs_run", "best_epoch"]
    header += [f"{k}{s}" for k in quality for s in ("", "_low", "_high")] + costs
    rows = [[r["heads"], r["seed"], r["d_head"], r["run_dir"], r["epochs_run"], r["best_epoch"],
             *(_cell(r["quality"][k][f]) for k in quality for f in ("value", "low", "high")),
             *(_cell(r["costs"][k]) for k in costs)] for r in doc["runs"]]
    return header, rows
