"""Small helpers shared by the metric states: configuration checks on merge, array loading on restore."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from attnlab.errors import InputError


def check_same(state: Any, other: Any, **config: Any) -> None:
    if type(other) is not type(state):
        raise InputError(f"cannot merge a {type(other).__name__} into a {type(state).__name__}; merge states of "
                         "the same kind")
    for name, mine in config.items():
        theirs = getattr(other, name)
        if mine != theirs:
            raise InputError(f"cannot merge {type(state).__name__}s with different {name} ({mine!r} vs {theirs!r}); "
                             "build every state with the same configuration")


def load_arrays(obj: Any, state: dict[str, Any], names: Sequence[str]) -> Any:
    """Copy the arrays ``names`` from ``state`` into ``obj``, checking each keeps its shape."""
    for name in names:
        current = getattr(obj, name)
        value = np.array(state[name], dtype=current.dtype)
        if value.shape != current.shape:
            raise InputError(f"state {name!r} has shape {value.shape}, expected {current.shape}; pass a state_dict "
                             f"written by the same {type(obj).__name__} configuration")
        setattr(obj, name, value)
    return obj
