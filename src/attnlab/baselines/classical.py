"""Majority-class and TF-IDF + logistic-regression baselines (scikit-learn, imported lazily).

Both are fitted on the training split only; the TF-IDF model's ``C`` is chosen on the validation split
(never on test) by the same key metric the comparison uses (positive-class F1 for a binary task with a
positive class, else macro F1).

Example:
    >>> res = majority_baseline(["ham", "ham", "spam"], 2, labels=["ham", "spam"])
    >>> res.predictions, res.proba.tolist()
    (['ham', 'ham'], [[0.6666666666666666, 0.3333333333333333], [0.6666666666666666, 0.3333333333333333]])
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attnlab.errors import InputError

__all__ = ["BaselineResult", "TFIDF_C_GRID", "majority_baseline", "tfidf_features", "tfidf_logreg_baseline"]

#: Inverse regularisation strengths tried on the validation split.
TFIDF_C_GRID = (1.0, 4.0, 16.0, 64.0)
#: Feature caps keep memory and time bounded on 20 Newsgroups-sized corpora.
MAX_WORD_FEATURES = 200_000
MAX_CHAR_FEATURES = 300_000


@dataclass(frozen=True)
class BaselineResult:
    """A baseline's test predictions, class probabilities ``(N, C)`` in ``labels`` order, and its parameters."""

    name: str
    predictions: list[str]
    proba: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)


def majority_baseline(train_labels: Sequence[str], n_test: int, *, labels: Sequence[str]) -> BaselineResult:
    """Always predict the most frequent training label (ties: first in ``labels``); the probabilities are
    the training class frequencies."""
    if not train_labels:
        raise InputError("the majority baseline needs at least one training label")
    counts = Counter(train_labels)
    labels = list(labels)
    winner = max(labels, key=lambda lab: (counts[lab], -labels.index(lab)))
    priors = np.array([counts[lab] for lab in labels], dtype=np.float64) / len(train_labels)
    return BaselineResult("majority", [winner] * n_test, np.tile(priors, (n_test, 1)),
                          {"predicts": winner, "train_share": float(priors[labels.index(winner)])})


#: Above this mean length (characters) texts are documents: word n-grams only (char n-grams cost minutes there).
CHAR_NGRAMS_UP_TO_MEAN_CHARS = 400


def tfidf_features(*, char_ngrams: bool = True, min_df: int = 1):
    """Word 1–2-gram (+ character word-boundary 2–5-gram) TF-IDF, sublinear tf, concatenated."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    parts = [("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=min_df,
                                      max_features=MAX_WORD_FEATURES, token_pattern=r"(?u)\b\w+\b",
                                      dtype=np.float32))]
    if char_ngrams:
        parts.append(("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                              min_df=min_df, max_features=MAX_CHAR_FEATURES, dtype=np.float32)))
    return FeatureUnion(parts)


def _selection_score(y_true: Sequence[str], y_pred: Sequence[str], positive_label: str | None) -> float:
    from sklearn.metrics import f1_score

    if positive_label is not None:
        return float(f1_score(y_true, y_pred, pos_label=positive_label, average="binary", zero_division=0))
    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def _aligned_proba(clf, X, labels: list[str]) -> np.ndarray:
    """``predict_proba`` with one column per label in ``labels`` (0 for a class absent from training)."""
    raw = clf.predict_proba(X)
    proba = np.zeros((raw.shape[0], len(labels)), dtype=np.float64)
    for j, cls in enumerate(clf.classes_):
        proba[:, labels.index(cls)] = raw[:, j]
    return proba


def tfidf_logreg_baseline(train_texts: Sequence[str], train_labels: Sequence[str], val_texts: Sequence[str],
                          val_labels: Sequence[str], test_texts: Sequence[str], *, labels: Sequence[str],
                          positive_label: str | None = None, c_grid: Sequence[float] = TFIDF_C_GRID,
                          seed: int = 0) -> BaselineResult:
    """TF-IDF features (fitted on train) + multinomial logistic regression, ``C`` chosen on validation.

    The selection score is the positive-class F1 when ``positive_label`` is given, else macro F1; ties
    go to the smaller ``C`` (stronger regularisation). The grid is fitted in increasing ``C`` with warm
    starts (each fit starts from the previous solution), which converges in far fewer iterations.
    Character n-grams are used for short texts only (mean length <= ``CHAR_NGRAMS_UP_TO_MEAN_CHARS``).
    """
    from sklearn.linear_model import LogisticRegression

    labels = list(labels)
    if len(set(train_labels)) < 2:
        raise InputError("the TF-IDF baseline needs at least two classes in the training split")
    char_ngrams = float(np.mean([len(t) for t in train_texts])) <= CHAR_NGRAMS_UP_TO_MEAN_CHARS
    features = tfidf_features(char_ngrams=char_ngrams)
    X_train = features.fit_transform(list(train_texts))
    X_val, X_test = features.transform(list(val_texts)), features.transform(list(test_texts))
    scores: dict[float, float] = {}
    best_c, proba = None, None
    clf = LogisticRegression(max_iter=1000, random_state=seed, warm_start=True)
    for c in sorted(float(c) for c in c_grid):
        clf.set_params(C=c).fit(X_train, list(train_labels))
        scores[c] = _selection_score(list(val_labels), list(clf.predict(X_val)), positive_label) if len(val_texts) else 0.0
        if best_c is None or scores[c] > scores[best_c]:
            best_c, proba = c, _aligned_proba(clf, X_test, labels)  # kept for the C chosen on validation
    predictions = [labels[i] for i in proba.argmax(1)]
    params = {"C": best_c, "C_grid": [float(c) for c in c_grid], "val_scores": scores,
              "selected_on": "validation", "selection_metric": f"per_class.{positive_label}.f1" if positive_label
              else "macro.f1", "features": "tfidf word 1-2-grams" + (" + char_wb 2-5-grams" if char_ngrams else "") + ", sublinear tf",
              "n_features": int(X_train.shape[1]), "classifier": "LogisticRegression(lbfgs, multinomial)"}
    return BaselineResult("tfidf_logreg", predictions, proba, params)
