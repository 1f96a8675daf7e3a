"""How much memory this process may still use: the machine's MemAvailable, lowered by a cgroup limit.

Used by ``attnlab evaluate`` to decide whether a predictions file can be read whole or must be streamed.
Linux only; elsewhere (or when nothing can be read) the answer is ``None``: unknown.
"""

from __future__ import annotations

from pathlib import Path

_NO_LIMIT = 1 << 60  # cgroup v1 writes a huge number for "no limit"


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_headroom() -> int | None:
    """limit - usage of this process's memory cgroup (v2 or v1), or None when unlimited or unknown."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if controllers == "":  # v2 unified hierarchy
            base = Path("/sys/fs/cgroup") / rel.lstrip("/")
            limit, usage = _read_int(base / "memory.max"), _read_int(base / "memory.current")
        elif "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory") / rel.lstrip("/")
            limit, usage = _read_int(base / "memory.limit_in_bytes"), _read_int(base / "memory.usage_in_bytes")
        else:
            continue
        if limit is not None and limit < _NO_LIMIT and usage is not None:
            return max(limit - usage, 0)
    return None


def available_memory() -> int | None:
    """Bytes this process can still allocate before the machine or its cgroup runs out, or None if unknown."""
    known = [x for x in (_meminfo_available(), _cgroup_headroom()) if x is not None]
    return min(known) if known else None
