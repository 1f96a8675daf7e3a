"""`attnlab inspect RUN_DIR`: per-head attention maps for texts, head statistics and importance over the run's data.

Same rules as :mod:`attnlab.cli`: parse, call, print; bad input is one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
from typing import Any

from attnlab.errors import InputError


def add_inspect_command(sub: Any) -> None:
    p = sub.add_parser("inspect", help="attention maps (image files + HTML), head statistics and importance of a run",
                       description="Draw every layer's per-head attention for the given texts (tokens on both axes; "
                                   "SVG/PNG files and an HTML page), and measure each head over a split of the run's "
                                   "data: entropy, attention distance, shares on special/punctuation tokens, "
                                   "head-to-head similarity, and (classifiers) importance, ablation and the pruning "
                                   "curve. Output: RUN_DIR/inspect/ (replaced on a re-run) unless --out is given; "
                                   "the run's report.html gains an 'Inside the heads' section.")
    p.add_argument("run_dir", help="run directory written by `attnlab run`/`train` (classification or translation)")
    p.add_argument("--text", action="append", dest="texts", default=[], help="a text to draw maps for (repeatable)")
    p.add_argument("--file", help="a .txt file of texts, one per line, to draw maps for")
    p.add_argument("--out", help="output folder (default: RUN_DIR/inspect)")
    p.add_argument("--format", default="svg", help="map files: svg, png or svg,png (default svg)")
    p.add_argument("--view", choices=["auto", "full", "topk"], default="auto",
                   help="full maps, top-k rows (legible for long inputs), or auto: full up to --full-max tokens")
    p.add_argument("--top-k", type=int, default=5, dest="top_k", help="keys listed per query in the top-k view")
    p.add_argument("--page-size", type=int, default=48, dest="page_size", help="query rows per map page")
    p.add_argument("--full-max", type=int, default=64, dest="full_max", help="longest input drawn in full under auto")
    p.add_argument("--no-stats", action="store_false", dest="statistics",
                   help="maps only: skip statistics and importance over the run's data")
    p.add_argument("--no-importance", action="store_false", dest="importance",
                   help="statistics without head importance, ablation and the pruning curve")
    p.add_argument("--split", choices=["val", "test"], default="val",
                   help="classifier split for statistics and importance (default val)")
    p.add_argument("--max-examples", type=int, default=2000, dest="max_examples",
                   help="at most this many examples for the statistics (default 2000)")
    p.add_argument("--data", help="the run's data file, when it has moved since training")
    p.add_argument("--beam", type=int, dest="beam_size", help="translation runs: beam for the decoded output")
    p.set_defaults(handler=cmd_inspect)


def _texts(args: argparse.Namespace) -> list[str]:
    texts = list(args.texts)
    if args.file:
        from attnlab.io import read_input_text

        texts += [line for line in read_input_text(args.file, expected="a .txt file, one text per line").splitlines()
                  if line.strip()]
        if len(texts) == len(args.texts):
            raise InputError(f"{args.file} has no non-empty lines; put one text per line")
    return texts


def cmd_inspect(args: argparse.Namespace) -> int:
    from rich.console import Console

    from attnlab.recipes.inspect import InspectOptions, inspect_run
    from attnlab.report.heads_terminal import print_inspect_summary

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    opts = InspectOptions(formats=formats, view=args.view, top_k=args.top_k, page_size=args.page_size,
                          full_max=args.full_max, statistics=args.statistics, split=args.split,
                          max_examples=args.max_examples, importance=args.importance, data=args.data,
                          beam_size=args.beam_size)
    doc = inspect_run(args.run_dir, _texts(args), out=args.out, opts=opts)  # validates opts before any work
    print_inspect_summary(doc, Console())
    return 0
