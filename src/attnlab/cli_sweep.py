"""`attnlab sweep DATA --heads 1,2,4,8`: the heads-count experiment (train, measure, compare, report).

Registers its parser with :func:`add_sweep_command`; the handler parses, calls the recipe, prints.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from attnlab.errors import InputError


def add_sweep_command(sub) -> None:
    """Add ``sweep`` to the ``attnlab`` subcommands (the model/training flags are ``train``'s)."""
    from attnlab.cli import _add_model_flags

    p = sub.add_parser("sweep", conflict_handler="resolve",
                       help="heads-count experiment: one model per head count (same d_model, data, split, "
                            "schedule, seeds); table, plot, JSON, paired tests")
    p.add_argument("data", help="data file or built-in dataset name")
    p.add_argument("--text-column", default="text")
    p.add_argument("--label-column", default="label")
    _add_model_flags(p)
    # replace train's single --heads/--seed with lists (conflict_handler="resolve" drops the int versions)
    p.add_argument("--heads", dest="heads_list", required=True, metavar="H1,H2,...",
                   help="comma-separated head counts, each dividing --d-model (e.g. 1,2,4,8)")
    p.add_argument("--seeds", "--seed", dest="seeds_list", default="0", metavar="S1,S2,...",
                   help="comma-separated seeds; each seed also fixes its run's data split (default 0)")
    p.add_argument("--bootstrap", type=int, default=1000, help="resamples of the paired tests (default 1000)")
    p.add_argument("--repeats", type=int, default=3, help="timed passes for latency and throughput (default 3)")
    p.add_argument("--out", help="sweep directory to create (default: runs/sweep-NAME-TIMESTAMP)")
    p.set_defaults(handler=cmd_sweep)


def cmd_sweep(args: argparse.Namespace) -> int:
    from attnlab.cli import _console, config_from_args
    from attnlab.heads.sweep import parse_int_list
    from attnlab.recipes.sweep import SweepOptions, run_sweep
    from attnlab.report.sweep_terminal import print_sweep

    if args.task != "classify":
        raise InputError(f"attnlab sweep trains classifiers; --task {args.task} is not supported (drop --task)")
    if args.resume:
        raise InputError("attnlab sweep has no --resume: each member is a fresh training run; run the sweep again "
                         "(or resume one member with `attnlab train ... --resume --out DIR/heads-H-seed-S`)")
    if args.ensemble is not None:
        raise InputError("attnlab sweep trains single models (its --seeds are the repeats); drop --ensemble")
    heads = parse_int_list(args.heads_list, "--heads", minimum=1)
    seeds = parse_int_list(args.seeds_list, "--seeds")
    args.n_heads = 1  # a placeholder that divides any d_model; each member gets its own head count
    cfg = config_from_args(args)
    out = args.out or f"runs/sweep-{Path(cfg.data.source).stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    console = _console(stderr=True)
    doc = run_sweep(cfg, heads, seeds, out, console=console,
                    options=SweepOptions(bootstrap=args.bootstrap, repeats=args.repeats,
                                         progress=console.is_terminal))
    print_sweep(doc, _console())
    print(f"sweep directory: {out}")
    return 0
