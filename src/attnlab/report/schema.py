"""report.json's version and a light structural check for readers (the full JSON Schema is beside it).

``report.schema.json`` (JSON Schema draft 2020-12) describes every key of schema version 1 and is what the
tests validate written reports against (with the ``jsonschema`` package, a test dependency only).
:func:`check_report` is the run-time guard of ``attnlab report``: it refuses another schema version and
the absence of the keys the renderers read, with one line naming the problem and the fix. Docs:
docs/report-schema.md.

>>> check_report({"schema_version": 2, "task": "classification"}, "r.json")
Traceback (most recent call last):
...
attnlab.errors.InputError: r.json has schema_version 2, but this attnlab (0.1.0) reads schema_version 1; render it with the attnlab version that wrote it, or re-run the evaluation
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from attnlab import __version__
from attnlab.errors import InputError

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).parent / "report.schema.json"
_REQUIRED = {"classification": ("n", "labels", "metrics", "confusion_matrix"), "translation": ("n", "metrics")}


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of report.json, schema version 1."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def check_report(obj: Any, source: str | Path = "report.json") -> dict[str, Any]:
    """``obj`` if it is a report.json of schema version 1 with the keys the renderers need, else
    :class:`InputError`."""
    if not isinstance(obj, dict):
        raise InputError(f"{source} holds a JSON {type(obj).__name__}, not a report object; pass a report.json "
                         "written by attnlab")
    version = obj.get("schema_version")
    if version is None:
        raise InputError(f"{source} has no schema_version; it is not an attnlab report.json (pass the report.json "
                         "of a run directory or of `attnlab evaluate --out`)")
    if version != SCHEMA_VERSION:
        raise InputError(f"{source} has schema_version {version!r}, but this attnlab ({__version__}) reads "
                         f"schema_version {SCHEMA_VERSION}; render it with the attnlab version that wrote it, or "
                         "re-run the evaluation")
    task = obj.get("task")
    if task not in _REQUIRED:
        raise InputError(f"{source} has task {task!r}; expected one of {', '.join(_REQUIRED)}")
    missing = [k for k in _REQUIRED[task] if k not in obj]
    if missing or not isinstance(obj.get("metrics"), dict):
        raise InputError(f"{source} lacks {', '.join(missing) or 'a metrics object'} required for a {task} report; "
                         "it may be truncated or edited — re-run the evaluation that wrote it")
    return obj
