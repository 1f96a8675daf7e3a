"""`attnlab prune RUN_DIR`: remove the least important attention heads of a classification run (issue #8).

Kept beside :mod:`attnlab.cli` with the same rules: parse, call the recipe, print; bad input is one line on
stderr and exit 2 (the recipe raises :class:`~attnlab.errors.InputError` before anything is written).
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_prune_command", "cmd_prune", "print_prune_summary"]


def add_prune_command(sub: Any) -> None:
    """Register ``attnlab prune`` on the CLI's subparsers."""
    p = sub.add_parser("prune", help="remove the least important attention heads of a run (gradient importance on "
                                     "validation), compare with the unpruned model on test, time CPU inference")
    p.add_argument("run_dir", help="a classification run directory (attnlab run/train)")
    p.add_argument("--fraction", type=float, default=0.5, help="share of all heads to remove, in (0, 1) (default 0.5)")
    p.add_argument("--out", help="new run directory (default: RUN_DIR-prunedNN); the source run is never modified")
    p.add_argument("--data", help="the run's data file, if it is no longer where the run found it")
    p.add_argument("--min-heads-per-layer", type=int, default=0, dest="min_heads_per_layer",
                   help="never remove the last N heads of a layer (default 0: a layer may lose every head)")
    p.set_defaults(handler=cmd_prune)


def cmd_prune(args: argparse.Namespace) -> int:
    from attnlab.cli import _console
    from attnlab.recipes.prune import PruneOptions, prune_run

    opts = PruneOptions(fraction=args.fraction, out=args.out, data=args.data,
                        min_heads_per_layer=args.min_heads_per_layer)
    opts.validate()  # before torch and the run are loaded
    report = prune_run(args.run_dir, opts)
    print_prune_summary(report, _console())
    return 0


def _fmt(x: float | None, digits: int = 4) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def print_prune_summary(report: dict[str, Any], console: Any) -> None:
    """Heads removed, test metrics before/after with the paired difference, speed and parameters."""
    from rich.table import Table

    pr = report["pruning"]
    console.print(f"[bold]Pruned {pr['n_removed']} of {pr['n_heads']} heads[/bold] ({pr['fraction']:.0%}, ranked on "
                  f"validation): " + ", ".join(f"L{l}H{h}" for l, h in pr["heads_removed"]))
    table = Table(title=f"test split (n={pr['test']['n']}), paired bootstrap")
    for col in ("metric", "unpruned", "pruned", "difference [95% CI]", "p"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    pos = report.get("positive_label")
    for name, res in pr["test"]["paired"].items():
        shown = f"{pos} F1" if name == "positive_f1" else name.replace("_", "-")
        table.add_row(shown, _fmt(res["baseline"]), _fmt(res["system"]),
                      f"{res['difference']:+.4f} [{_fmt(res['low'])}, {_fmt(res['high'])}]"
                      if res["difference"] is not None else "—", _fmt(res["p_value"], 3))
    console.print(table)
    sp, s = pr["speed"]["speedup"], pr["speed"]["seconds"]
    verdict = "measurable" if sp["measurable"] else "NOT measurable (interval includes 1)"
    console.print(f"CPU inference ({pr['speed']['n_examples']} examples, {pr['speed']['threads']} threads, "
                  f"{pr['speed']['repeats']} interleaved repeats): {s['unpruned']['median'] * 1e3:.1f} ms -> "
                  f"{s['pruned']['median'] * 1e3:.1f} ms, speed-up x{sp['median']:.2f} "
                  f"[{_fmt(sp['low'], 2)}, {_fmt(sp['high'], 2)}] — {verdict}")
    p = pr["params"]
    console.print(f"parameters: {p['before']:,} -> {p['after']:,} (-{p['removed']:,}, "
                  f"{p['removed'] / p['before']:.1%})")
