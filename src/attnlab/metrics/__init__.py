"""Evaluation metrics users can trust: built from sufficient statistics, explicit about undefined values,
each number signed with its provenance. NumPy only — importing this package never imports torch.

``classification_report`` gives the report.json metrics; :mod:`attnlab.metrics.functional` holds the
individual functions.
"""

from attnlab.metrics.functional import *  # noqa: F403
from attnlab.metrics.functional import __all__ as _functional_all
from attnlab.metrics.summary import classification_report, metric_signature

__all__ = [*_functional_all, "classification_report", "metric_signature"]
