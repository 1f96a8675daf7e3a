"""Reports built by the real metrics engine from planted confusion matrices."""

import numpy as np
import pytest

from attnlab.recipes.evaluate import score_predictions


def report_from_matrix(matrix, labels, positive=None, bootstrap=0, proba=None, seed=0):
    """A report.json dictionary whose confusion matrix is ``matrix`` (rows = true, columns = predicted)."""
    y_true, y_pred = [], []
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            y_true += [labels[i]] * count
            y_pred += [labels[j]] * count
    order = np.random.default_rng(seed).permutation(len(y_true))  # rows in no particular order
    y_true, y_pred = [y_true[k] for k in order], [y_pred[k] for k in order]
    return score_predictions(y_true, y_pred, labels=list(labels), proba=proba, positive_label=positive,
                             bootstrap=bootstrap, seed=seed)


@pytest.fixture
def make_report():
    return report_from_matrix


#: The seed case: 10,000 transactions, 200 fraud; 98% accuracy, 12% fraud recall.
SEED = ([[9776, 24], [176, 24]], ["ok", "fraud"], "fraud")
#: Its opposite: the same data, a model that catches 95% of fraud at 93% precision.
HEALTHY = ([[9786, 14], [10, 190]], ["ok", "fraud"], "fraud")


@pytest.fixture(scope="session")
def seed_report():
    return report_from_matrix(*SEED, bootstrap=300)


@pytest.fixture(scope="session")
def healthy_report():
    return report_from_matrix(*HEALTHY, bootstrap=300)
