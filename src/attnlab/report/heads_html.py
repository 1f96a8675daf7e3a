"""The "Inside the heads" HTML: a section of the run's report.html and the standalone inspect.html page.

Both come from an inspect.json document (``attnlab inspect``): maps are redrawn from its weights when no
pre-drawn pages are given, so ``attnlab report RUN_DIR`` renders the section from JSON alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from attnlab import __version__

__all__ = ["heads_context", "render_inspect_html"]


def _markup(value: Any) -> Any:
    import markupsafe

    return markupsafe.Markup(value) if isinstance(value, str) else value  # matplotlib's XML-escaped SVG


def _output_line(output: Mapping[str, Any]) -> str:
    if "translation" in output:
        return f"translation: {output['translation']}" + (" (stopped at the length cap)" if output.get("hit_max_length")
                                                           else "")
    probs = output.get("probabilities") or {}
    label = output.get("label")
    return f"prediction: {label}" + (f" (p = {probs[label]:.3f})" if label in probs else "")


def _text_pages(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Layer grids (and rollout) redrawn from the weights stored in inspect.json; no per-head pages."""
    from attnlab.report.attention_plots import inline_svg, kind_title, layer_grid_figure, rollout_figure
    
    pages = []
    for t, item in enumerate(doc.get("texts") or [], start=1):
        layers = []
        for amap in item["maps"]:
            for layer, weights in enumerate(amap["weights"]):
                title = f"{kind_title(amap['kind'])} · layer {layer}"
                w = np.asarray(weights, dtype=float).reshape(-1, len(amap["query_tokens"]), len(amap["key_tokens"]))
                fig = layer_grid_figure(w, amap["query_tokens"], amap["key_tokens"], title=title)
                layers.append({"title": title, "grid_svg": inline_svg(fig, f"r{t}-{amap['kind']}-layer-{layer}"), "heads": []})
        rollout = None
        if item.get("rollout") is not None:
            fig = rollout_figure(item["maps"][0]["key_tokens"], item["rollout"],
                                 title="attention rollout by input token")
            rollout = inline_svg(fig, f"r{t}-rollout")
        pages.append({"layers": layers, "rollout_svg": rollout})
    return pages


def _stats_context(stats: Mapping[str, Any]) -> dict[str, Any]:
    from attnlab.report.attention_plots import head_stats_svg, kind_title, similarity_svg

    kinds = []
    for kind, s in (stats.get("kinds") or {}).items():
        kinds.append({"title": kind_title(kind).capitalize(), "rows": s["per_head"],
                      "stats_svg": _markup(head_stats_svg(s, f"stats-{kind}")),
                      "similarity_svg": _markup(similarity_svg(s["similarity"], f"similarity-{kind}")),
                      "most_similar": s["similarity"]["most_similar"], "js_rows": s["similarity"]["rows"]})
    split = stats.get("split")
    return {"n": stats.get("n"), "split_name": {"val": "validation", "test": "test"}.get(split, split), "kinds": kinds}


def _importance_context(importance: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not importance:
        return None
    from attnlab.report.attention_plots import natural_size
    from attnlab.report.heads_plots import importance_heatmap_svg, pruning_curve_svg

    pos = importance.get("positive_label")
    metric = "positive_f1" if pos is not None else "macro_f1"
    metric_name = f"{pos} F1" if pos is not None else "macro-F1"
    svgs = [importance_heatmap_svg(importance["importance"]),
            pruning_curve_svg(importance["curve"], metric=metric, positive_label=pos)]
    table = None
    ablation = importance.get("ablation") or []
    if ablation:
        rank = importance["importance"]["rank"]
        rows = []
        for rec in ablation:
            m = rec["metrics"][metric]
            ci = "—" if m.get("low") is None else f"[{m['low']:+.4f}, {m['high']:+.4f}]"
            rows.append([f"L{rec['layer']}H{rec['head']}", rank[rec["layer"]][rec["head"]],
                         f"{m['difference']:+.4f}" if m.get("difference") is not None else "—", ci,
                         "—" if m.get("p_value") is None else f"{m['p_value']:.3g}"])
        table = {"columns": ["head", "importance rank (0 = least)", f"{metric_name} change when masked",
                             "95% CI", "p"], "rows": rows}
    points = importance["curve"]["points"]
    half = min(points, key=lambda p: abs(p["fraction_removed"] - 0.5))
    val0, valh = points[0].get("validation", {}).get(metric), half.get("validation", {}).get(metric)
    summary = None
    if val0 is not None and valh is not None:
        summary = (f"Masking the {half['n_removed']} least important of {importance['curve']['n_heads']} heads "
                   f"({half['fraction_removed']:.0%}) moves validation {metric_name} from {val0:.4f} to {valh:.4f}.")
    n = importance["importance"].get("n_examples")
    return {"svgs": [_markup(natural_size(s)) for s in svgs], "table": table, "summary": summary,
            "table_title": "single-head ablation on validation (paired bootstrap)",
            "subtitle": f"E|∂L/∂ξ| over {n} validation examples (Michel et al., 2019); pruning curve ranked on "
                        "validation, measured on validation and test"}


def heads_context(doc: Mapping[str, Any], pages: Sequence[Mapping[str, Any]] | None = None,
                  link: str | None = None) -> dict[str, Any]:
    """Template context for ``_heads.html.j2`` from an inspect.json document (and pre-drawn pages, if any)."""
    pages = list(pages) if pages is not None else _text_pages(doc)
    texts = []
    for item, page in zip(doc.get("texts") or [], pages):
        layers = [{**layer, "grid_svg": _markup(layer["grid_svg"]),
                   "heads": [{"head": h["head"], "svgs": [_markup(s) for s in h["svgs"]]} for h in layer["heads"]]}
                  for layer in page["layers"]]
        texts.append({"text": item["text"], "output_line": _output_line(item.get("output") or {}),
                      "truncated": item.get("truncated"), "layers": layers,
                      "rollout_svg": _markup(page.get("rollout_svg"))})
    stats = doc.get("statistics")
    return {"texts": texts, "stats": _stats_context(stats) if stats else None,
            "importance": _importance_context((stats or {}).get("importance")), "link": link}


def render_inspect_html(doc: Mapping[str, Any], pages: Sequence[Mapping[str, Any]] | None = None) -> str:
    """The standalone inspect.html page: every text's maps (each head, page by page), statistics, importance."""
    n = len(doc.get("texts") or [])
    subtitle = f"{doc.get('run_dir')} · {doc.get('task')} · {n} text{'s' if n != 1 else ''}"
    from attnlab.report.html import template_env

    return template_env().get_template("inspect.html.j2").render(heads=heads_context(doc, pages), subtitle=subtitle,
                                                         version=__version__)
