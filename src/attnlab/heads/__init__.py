"""Inside the heads: per-head attention maps, head statistics, head importance and pruning, heads-count sweeps.

- :mod:`attnlab.heads.stats` — :class:`HeadStatistics` (entropy, distance, shares, Jensen–Shannon similarity),
  :func:`attention_rollout`, :func:`token_kinds`; works on any ``(B, H, T_q, T_k)`` weights (attnlab or Hugging Face).
- :mod:`attnlab.heads.capture` — per-head maps and statistics of a saved classifier or translator run.
- :mod:`attnlab.heads.importance` — gradient importance E|∂L/∂ξ_h|, single-head ablation, the pruning curve.
- :mod:`attnlab.heads.sweep` / :mod:`attnlab.heads.sweep_summary` — the heads-count experiment's measurements
  and comparisons.

Names are imported lazily, so ``import attnlab.heads`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "HeadStatistics": "stats", "attention_rollout": "stats", "head_pattern": "stats", "js_divergence": "stats",
    "token_kinds": "stats",
    "AttentionMap": "capture", "TextAttention": "capture", "capture_classifier": "capture",
    "capture_translator": "capture", "classifier_statistics": "capture", "translator_statistics": "capture",
    "HeadImportance": "importance", "head_importance": "importance", "ablate_heads": "importance",
    "removal_order": "importance", "pruning_curve": "importance",
    "count_flops": "sweep", "parse_int_list": "sweep", "check_head_counts": "sweep",
    "attention_elements_per_token": "sweep", "peak_memory": "sweep",
    "compare_head_counts": "sweep_summary", "summarize": "sweep_summary",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'attnlab.heads' has no attribute {name!r}")
    return getattr(importlib.import_module(f"attnlab.heads.{_EXPORTS[name]}"), name)


def __dir__() -> list[str]:
    return __all__
