"""Classical baselines run beside every attention model: majority class and TF-IDF + logistic regression.

An attention model is only good relative to something: every classification run trains these on the same
training split, scores them on the same test split, and tests attention against TF-IDF with paired tests
(see :func:`compare_with_baselines`). scikit-learn is imported only when a baseline is fitted.
"""

from attnlab.baselines.classical import (BaselineResult, TFIDF_C_GRID, majority_baseline, tfidf_features,
                                         tfidf_logreg_baseline)
from attnlab.baselines.report import baseline_findings, compare_with_baselines, key_metric_path

__all__ = ["BaselineResult", "TFIDF_C_GRID", "baseline_findings", "compare_with_baselines", "key_metric_path",
           "majority_baseline", "tfidf_features", "tfidf_logreg_baseline"]
