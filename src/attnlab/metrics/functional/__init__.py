"""Pure metric functions (NumPy only, never torch): ``_x_update`` -> sufficient statistics,
``_x_compute`` -> value, and a public ``x()`` that validates raw labels against an explicit ``labels``
order and delegates.

Modules: :mod:`.classification` (confusion-matrix metrics), :mod:`.ranking` (curves, ROC-AUC, average
precision, top-k), :mod:`.calibration` (log loss, Brier score, ECE).
"""

from attnlab.metrics.functional._validation import (
    DEFAULT_ZERO_DIVISION,
    MetricValue,
    UndefinedMetricWarning,
)
from attnlab.metrics.functional.calibration import brier_score_loss, expected_calibration_error, log_loss
from attnlab.metrics.functional.classification import (
    BinaryCounts,
    accuracy_score,
    balanced_accuracy_score,
    binary_counts,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    fbeta_score,
    matthews_corrcoef,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
)
from attnlab.metrics.functional.ranking import (
    binary_average_precision_score,
    binary_precision_recall_curve,
    binary_roc_auc_score,
    binary_roc_curve,
    multiclass_average_precision_score,
    multiclass_roc_auc_score,
    top_k_accuracy_score,
)

__all__ = [
    "DEFAULT_ZERO_DIVISION",
    "BinaryCounts",
    "MetricValue",
    "UndefinedMetricWarning",
    "accuracy_score",
    "balanced_accuracy_score",
    "binary_average_precision_score",
    "binary_counts",
    "binary_precision_recall_curve",
    "binary_roc_auc_score",
    "binary_roc_curve",
    "brier_score_loss",
    "cohen_kappa_score",
    "confusion_matrix",
    "expected_calibration_error",
    "f1_score",
    "fbeta_score",
    "log_loss",
    "matthews_corrcoef",
    "multiclass_average_precision_score",
    "multiclass_roc_auc_score",
    "precision_recall_fscore_support",
    "precision_score",
    "recall_score",
    "top_k_accuracy_score",
]
