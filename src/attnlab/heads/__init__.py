"""Inside the heads: per-head attention maps, head statistics, head importance and pruning, heads-count sweeps."""
