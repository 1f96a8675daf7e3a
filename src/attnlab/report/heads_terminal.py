"""Terminal summary of ``attnlab inspect``: what was drawn, what each head does, which heads are alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["print_inspect_summary"]

def _f(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def print_inspect_summary(doc: Mapping[str, Any], console: Any) -> None:
    """Print the texts' outputs with their most-read tokens, a head table per attention kind and the importance."""
    from rich.table import Table

    from attnlab.report.attention_plots import kind_title

    for t, item in enumerate(doc.get("texts") or [], start=1):
        out = item.get("output") or {}
        answer = out.get("translation") if "translation" in out else out.get("label")
        console.print(f"[bold]text {t}[/bold]: {item['text'][:100]!s} → [bold]{answer}[/bold]", markup=True,
                      highlight=False)
        if item.get("rollout"):
            tokens = item["maps"][0]["key_tokens"]
            top = sorted(range(len(tokens)), key=lambda i: -item["rollout"][i])[:5]
            console.print("  most read (attention rollout): " + ", ".join(f"{tokens[i]} {item['rollout'][i]:.2f}"
                                                                       for i in top), highlight=False)
    stats = doc.get("statistics") or {}
    for kind, s in (stats.get("kinds") or {}).items():
        table = Table(title=f"{kind_title(kind)}: {s['n_examples']} {stats.get('split')} examples, "
                            f"{s['n_rows']} query rows", title_justify="left")
        for col in ("head", "pattern", "entropy", "norm.", "distance", "special", "self", "previous"):
            table.add_column(col, justify="left" if col in ("head", "pattern") else "right")
        for r in s["per_head"]:
            table.add_row(f"L{r['layer']}H{r['head']}", r["pattern"], _f(r["entropy"]), _f(r["normalized_entropy"]),
                          _f(r["distance"], 2), _f(r["share_special"]), _f(r["share_self"]), _f(r["share_previous"]))
        console.print(table)
        pairs = s["similarity"]["most_similar"][:3]
        if pairs:
            console.print("  most alike (Jensen–Shannon, bits): " + ", ".join(f"{p['a']}–{p['b']} {p['js']:.3f}"
                                                                            for p in pairs), highlight=False)
    importance = stats.get("importance")
    if importance:
        rank = importance["importance"]["rank"]
        order = sorted(((r, f"L{l}H{h}") for l, row in enumerate(rank) for h, r in enumerate(row) if r is not None),
                       reverse=True)
        console.print("importance (most important first, E|dL/dxi| on validation): "
                      + ", ".join(name for _, name in order), highlight=False)
    console.print(f"inspect folder: {doc.get('out')} ({len(doc.get('files') or [])} map files; open inspect.html)",
                  highlight=False)
