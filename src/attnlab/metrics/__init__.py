"""Evaluation metrics users can trust: built from sufficient statistics, explicit about undefined values,
each number signed with its provenance. NumPy only — importing this package never imports torch.

``classification_report`` gives the report.json metrics; :mod:`attnlab.metrics.functional` holds the
individual functions. :class:`ClassificationEvaluator` and the states of :mod:`attnlab.metrics.stateful`
accumulate the same report over batches, processes (:func:`sync_states`) and chunks of a file
(:func:`evaluate_file`).
"""

from attnlab.metrics.functional import *  # noqa: F403
from attnlab.metrics.functional import __all__ as _functional_all
from attnlab.metrics.distributed import sync_states
from attnlab.metrics.evaluator import ClassificationEvaluator
from attnlab.metrics.stateful import ConfusionMatrixState, ProbabilityState, ScoreCurveState
from attnlab.metrics.streaming import evaluate_file
from attnlab.metrics.summary import classification_report, metric_signature

__all__ = [*_functional_all, "ClassificationEvaluator", "ConfusionMatrixState", "ProbabilityState",
           "ScoreCurveState", "classification_report", "evaluate_file", "metric_signature", "sync_states"]
