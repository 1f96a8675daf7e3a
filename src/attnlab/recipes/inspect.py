"""Recipe: look inside a saved run's heads (``attnlab inspect RUN_DIR``).

texts -> per-head maps (explicit attention path) -> SVG/PNG files (full maps for short inputs, pages of top-k
rows for long ones) and, for classifiers, attention rollout; a split of the run's data -> head statistics
(entropy, distance, shares, head-to-head Jensen–Shannon) and, for classifiers, head importance, ablation and the
pruning curve -> inspect.json + a self-contained inspect.html, written into a folder that appears whole or not
at all (default RUN_DIR/inspect, replaced on a re-run); the run's report.html is re-rendered with an "Inside the
heads" section. Nothing else in the run directory changes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attnlab.errors import InputError
from attnlab.io import atomic_write_bytes, atomic_write_json, atomic_write_text
from attnlab.recipes.report import INSPECT_DIR, INSPECT_HTML, INSPECT_JSON, INSPECT_SCHEMA

__all__ = ["InspectOptions", "inspect_run"]

_FORMATS = ("svg", "png")
_VIEWS = ("auto", "full", "topk")


@dataclass(frozen=True)
class InspectOptions:
    """What ``attnlab inspect`` computes and how maps are drawn.

    Attributes:
        formats: map file formats, any of ``svg``, ``png``.
        view: ``full`` maps, ``topk`` rows, or ``auto`` (full up to ``full_max`` tokens, else top-k).
        top_k: keys listed per query row in the top-k view.
        page_size: query rows per map page.
        full_max: longest input drawn as a full map under ``auto``.
        statistics: compute head statistics (and, for classifiers, importance) over a split of the run's data.
        split: ``val`` (default) or ``test`` for classifiers; translation runs use their test translations.
        max_examples: at most this many examples of the split (the first ones).
        importance: with statistics, also gradient importance, ablation and the pruning curve (classifiers).
        data: the data file, when it moved since training.
        beam_size: translation runs: beam for the decoded output (default: the run's).
    """

    formats: tuple[str, ...] = ("svg",)
    view: str = "auto"
    top_k: int = 5
    page_size: int = 48
    full_max: int = 64
    statistics: bool = True
    split: str = "val"
    max_examples: int = 2000
    importance: bool = True
    data: str | None = None
    beam_size: int | None = None

    def validate(self) -> None:
        bad = [f for f in self.formats if f not in _FORMATS]
        if not self.formats or bad:
            raise InputError(f"unknown map format {', '.join(bad) or '(none)'}; use svg, png or svg,png")
        if self.view not in _VIEWS:
            raise InputError(f"unknown view {self.view!r}; use one of {', '.join(_VIEWS)}")
        for name in ("top_k", "page_size", "full_max", "max_examples"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.split not in ("val", "test"):
            raise InputError(f"unknown split {self.split!r}; use val or test")


def _task(run_dir: Path) -> str:
    path = run_dir / "config.json"
    if not path.is_file():
        raise InputError(f"{run_dir} is not an attnlab run directory (config.json is missing); pass a folder "
                         "written by `attnlab run` or `attnlab train`")
    try:
        return "translate" if json.loads(path.read_text(encoding="utf-8")).get("task") == "translate" else "classify"
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        raise InputError(f"{path} is damaged; re-run training to recreate it") from None


def _pages(n_rows: int, page_size: int) -> list[tuple[int, int]]:
    return [(s, min(n_rows, s + page_size)) for s in range(0, max(n_rows, 1), page_size)]


def _write_maps(folder: Path, captured: list, opts: InspectOptions) -> list[dict[str, Any]]:
    """Draw every map; return, per text, the files written and the inline SVGs for the HTML page."""
    from attnlab.report.attention_plots import (figure_bytes, head_map_figure, inline_svg, kind_title,
                                                layer_grid_figure, rollout_figure, topk_figure)
    
    pages = []
    for t, item in enumerate(captured, start=1):
        base = folder / "maps" / f"text-{t}"
        base.mkdir(parents=True, exist_ok=True)
        entry: dict[str, Any] = {"index": t, "files": [], "layers": [], "rollout_svg": None}

        def save(fig, stem: str) -> None:
            for fmt in opts.formats:
                path = base / f"{stem}.{fmt}"
                atomic_write_bytes(path, figure_bytes(fig, fmt, f"t{t}-{stem}"))
                entry["files"].append(str(path.relative_to(folder)))

        for amap in item.maps:
            full = opts.view == "full" or (opts.view == "auto" and max(len(amap.query_tokens),
                                                                       len(amap.key_tokens)) <= opts.full_max)
            for layer, weights in enumerate(amap.weights):
                title = f"{kind_title(amap.kind)} · layer {layer}"
                grid = layer_grid_figure(weights, amap.query_tokens, amap.key_tokens, title=title)
                save(grid, f"{amap.kind}-layer-{layer}")
                heads = []
                for h in range(weights.shape[0]):
                    svgs = []
                    for p, rows in enumerate(_pages(weights.shape[1], opts.page_size), start=1):
                        label = f"{title} · head {h}" + (f" · rows {rows[0]}–{rows[1] - 1}" if rows[1] - rows[0]
                                                        < weights.shape[1] else "")
                        fig = (head_map_figure(weights[h], amap.query_tokens, amap.key_tokens, title=label, rows=rows)
                               if full else topk_figure(weights[h], amap.query_tokens, amap.key_tokens, k=opts.top_k,
                                                        title=label, rows=rows))
                        stem = f"{amap.kind}-layer-{layer}-head-{h}" + (f"-page-{p}" if rows[0] > 0 or
                                                                        rows[1] < weights.shape[1] else "")
                        save(fig, stem)
                        svgs.append(inline_svg(fig, f"t{t}-{stem}"))
                    heads.append({"head": h, "svgs": svgs})
                entry["layers"].append({"kind": amap.kind, "title": title, "layer": layer,
                                        "grid_svg": inline_svg(grid, f"t{t}-{amap.kind}-layer-{layer}"), "heads": heads,
                                        "view": "full" if full else f"top {opts.top_k}"})
        if item.rollout is not None:
            fig = rollout_figure(item.maps[0].key_tokens, item.rollout, title="attention rollout by input token")
            save(fig, "rollout")
            entry["rollout_svg"] = inline_svg(fig, f"t{t}-rollout")
        pages.append(entry)
    return pages


def _statistics(run_dir: Path, task: str, loaded: Any, opts: InspectOptions) -> dict[str, Any]:
    """Head statistics (and classifier importance) over a split; ``{"split", "n", ...}``."""
    from attnlab.heads.capture import classifier_statistics, translator_statistics

    if task == "translate":
        from attnlab.recipes.report import TRANSLATIONS_FILE, read_translations

        rows = read_translations(run_dir / TRANSLATIONS_FILE)
        if not rows:
            raise InputError(f"{run_dir / TRANSLATIONS_FILE} is missing or unreadable; head statistics of a "
                             "translation run read its test sources from it (or pass --no-stats)")
        sources = [r["source"] for r in rows if r["source"].strip()][: opts.max_examples]
        return {"split": "test", "n": len(sources), "kinds": translator_statistics(loaded, sources)}
    from attnlab.recipes.run_data import load_run_splits

    cut = load_run_splits(run_dir, loaded.config, data=opts.data)
    texts = cut.texts[opts.split][: opts.max_examples]
    if not texts:
        raise InputError(f"the run's {opts.split} split is empty; use --split test or --split val")
    result: dict[str, Any] = {"split": opts.split, "n": len(texts),
                              "kinds": {"encoder": classifier_statistics(loaded, texts)}}
    if opts.importance:
        result["importance"] = _importance(loaded, cut)
    return result


def _importance(loaded: Any, cut: Any) -> dict[str, Any]:
    """Gradient importance and ablation on validation, and the pruning curve (ranked on validation, measured on
    validation and test): :func:`attnlab.recipes.prune.head_report`."""
    from attnlab.recipes.prune import head_report

    return head_report(loaded, cut, seed=loaded.config.train.seed)


def _replace_folder(final: Path, build) -> Path:
    """Build a folder in a hidden sibling and swap it into place; an earlier inspect folder is replaced."""
    if final.exists() and (not final.is_dir() or (any(final.iterdir()) and not (final / INSPECT_JSON).is_file())):
        raise InputError(f"{final} exists and is not an attnlab inspect folder; pass --out with a new directory")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    except OSError as exc:
        raise InputError(f"cannot write into {final.parent}: {exc.strerror}; pass --out with a writable folder") from None
    try:
        build(tmp)
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def inspect_run(run_dir: str | Path, texts: Sequence[str] = (), *, out: str | Path | None = None,
                opts: InspectOptions = InspectOptions()) -> dict[str, Any]:
    """Capture, measure and draw; returns the inspect.json document (also written to the output folder).

    Args:
        run_dir: A run directory written by ``attnlab run``/``train`` (classification or translation).
        texts: Inputs to draw maps for (may be empty when only statistics are wanted).
        out: Output folder (default ``RUN_DIR/inspect``).
        opts: See :class:`InspectOptions`.
    """
    opts.validate()
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir} not found; pass a run directory written by `attnlab run` or `attnlab train`")
    task = _task(run_dir)
    if not texts and not opts.statistics:
        raise InputError("nothing to inspect: pass --text \"...\" for maps, or leave out --no-stats")
    from attnlab.heads.capture import capture_classifier, capture_translator

    if task == "translate":
        from attnlab.train.checkpoint import load_translator

        loaded = load_translator(run_dir)
        captured = capture_translator(loaded, texts, beam_size=opts.beam_size) if texts else []
    else:
        from attnlab.train.checkpoint import load_classifier, require_single_model

        loaded = load_classifier(run_dir)
        require_single_model(loaded, run_dir, "attention inspection")
        captured = capture_classifier(loaded, texts) if texts else []
    stats = _statistics(run_dir, task, loaded, opts) if opts.statistics else None
    doc = {"schema": INSPECT_SCHEMA, "run_dir": str(run_dir), "task": "translation" if task == "translate"
           else "classification", "options": {"formats": list(opts.formats), "view": opts.view, "top_k": opts.top_k,
                                             "page_size": opts.page_size, "full_max": opts.full_max},
           "texts": [c.to_dict() for c in captured], "statistics": stats, "files": []}
    final = Path(out) if out is not None else run_dir / INSPECT_DIR

    def build(folder: Path) -> None:
        pages = _write_maps(folder, captured, opts)
        doc["files"] = [f for page in pages for f in page["files"]]
        atomic_write_json(folder / INSPECT_JSON, doc)
        from attnlab.report.heads_html import render_inspect_html

        atomic_write_text(folder / INSPECT_HTML, render_inspect_html(doc, pages))

    _replace_folder(final, build)
    if final.resolve() == (run_dir / INSPECT_DIR).resolve() and (run_dir / "report.json").is_file():
        from attnlab.recipes.report import render_report

        render_report(run_dir)  # the run's report.html gains the "Inside the heads" section
    doc["out"] = str(final)
    return doc
