"""``classification_report``: every classification metric of report.json, as plain JSON-ready Python.

The result has exactly the CONTRACT shapes (docs: /work/shared/design/CONTRACT.md)::

    {"n": int, "labels": [...], "positive_label": label | None,
     "metrics": {"accuracy", "balanced_accuracy", "mcc", "cohen_kappa",
                 "log_loss", "roc_auc", "average_precision",       # None without proba
                 "brier_score", "ece",                             # only with proba
                 "macro": {"precision", "recall", "f1"}, "micro": {...}, "weighted": {...},
                 "per_class": {str(label): {"precision", "recall", "f1", "support"}}},
     "confusion_matrix": {"labels": [...], "matrix": [[int]]},     # rows = true, columns = predicted
     "binary": {"positive_label", "tp", "fn", "fp", "tn", "specificity", "npv"},  # with positive_label
     "signatures": {METRIC_PATH: "name|opt:val|...|labels:a,b|version:attnlab-X"},
     "undefined": [{"metric": METRIC_PATH, "reason": str}]}

Values are Python ``int``/``float``/``None`` only — never NumPy scalars or NaN — so
``json.dumps(report, allow_nan=False)`` works. ``None`` means undefined, and every ratio that was 0/0 is
listed in ``undefined`` with its reason (also when ``zero_division=0`` or ``1`` gave it a number).
Metric paths are dotted: ``"macro.f1"``, ``"per_class.spam.recall"``, ``"binary.npv"``.

Built by :class:`~attnlab.metrics.evaluator.ClassificationEvaluator` (one update, then ``compute()``), so
a report accumulated over batches, chunks of a file or processes is the same dict. Log loss, Brier score
and ECE sum their terms exactly, so they do not depend on how the rows were split either.

ROC-AUC and average precision: with 2 labels and a ``positive_label``, those of the positive column;
otherwise one-vs-rest macro averages over the labels (for 2 labels the macro ROC-AUC equals the binary
one). With ≥ 3 labels a ``positive_label`` only adds the one-vs-rest ``binary`` counts.

>>> rep = classification_report(["ham", "spam", "ham"], ["ham", "ham", "ham"], labels=["ham", "spam"])
>>> rep["metrics"]["per_class"]["spam"]
{'precision': None, 'recall': 0.0, 'f1': 0.0, 'support': 1}
>>> rep["signatures"]["macro.f1"]
'f1|avg:macro|beta:1|zero_division:nan|labels:ham,spam|version:attnlab-0.1.0'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attnlab.metrics._report import metric_signature
from attnlab.metrics.evaluator import DEFAULT_N_BINS, ClassificationEvaluator
from attnlab.metrics.functional._validation import DEFAULT_ZERO_DIVISION, ZeroDivision

__all__ = ["DEFAULT_N_BINS", "classification_report", "metric_signature"]


def classification_report(
    y_true: Any, y_pred: Any, *, labels: Sequence[Any], proba: Any = None, positive_label: Any = None,
    zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION, n_bins: int = DEFAULT_N_BINS, eps: float | str = "auto",
) -> dict[str, Any]:
    """All classification metrics of report.json (shape in the module docstring).

    ``labels`` fixes the label set and order (every value of ``y_true``/``y_pred`` must be in it, at least
    2 labels). ``proba`` is an optional ``(N, len(labels))`` probability matrix, columns in label order
    (with 2 labels and a ``positive_label`` also the positive label's probability ``(N,)``); without it
    ``log_loss``, ``roc_auc`` and ``average_precision`` are ``None``. ``zero_division`` is the policy for
    0/0 ratios (default ``"nan"``: ``None`` and left out of averages); ``n_bins`` and ``eps`` configure ECE
    and the log-loss clip. Invalid input raises :class:`attnlab.errors.InputError`.
    """
    evaluator = ClassificationEvaluator(labels, positive_label=positive_label, zero_division=zero_division,
                                        proba=proba is not None, n_bins=n_bins, eps=eps)
    evaluator.update(y_true, y_pred, proba=proba)
    return evaluator.compute()
