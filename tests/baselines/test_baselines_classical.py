"""Baselines against a direct scikit-learn pipeline on a tiny dataset."""

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import FeatureUnion

from attnlab.baselines import majority_baseline, tfidf_logreg_baseline
from attnlab.errors import InputError

POS = ["great fun film", "a great cast", "loved it , great", "fun and warm", "warm , clever , fun", "clever great story"]
NEG = ["dull and slow", "a boring mess", "slow , dull plot", "boring cast", "awful and dull", "a slow boring film"]


def tiny():
    rng = np.random.default_rng(0)
    texts = [f"{t} {w}" for t in POS + NEG for w in ("one", "two", "three")]
    labels = (["pos"] * len(POS) + ["neg"] * len(NEG))
    labels = [lab for lab in labels for _ in range(3)]
    order = rng.permutation(len(texts))
    texts, labels = [texts[i] for i in order], [labels[i] for i in order]
    return texts[:24], labels[:24], texts[24:30], labels[24:30], texts[30:], labels[30:]


def test_majority_predicts_train_mode_with_priors():
    res = majority_baseline(["b", "a", "b", "c"], 3, labels=["a", "b", "c"])
    assert res.predictions == ["b"] * 3 and res.params["predicts"] == "b"
    np.testing.assert_allclose(res.proba, [[0.25, 0.5, 0.25]] * 3)
    assert majority_baseline(["x", "y"], 1, labels=["x", "y"]).predictions == ["x"]  # tie: first label
    with pytest.raises(InputError):
        majority_baseline([], 1, labels=["a"])


def test_tfidf_matches_direct_sklearn_pipeline():
    xtr, ytr, xva, yva, xte, yte = tiny()
    grid = (0.5, 8.0)
    res = tfidf_logreg_baseline(xtr, ytr, xva, yva, xte, labels=["neg", "pos"], positive_label="pos", c_grid=grid)
    union = FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w+\b",
                                 max_features=200_000, dtype=np.float32)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, max_features=300_000,
                                 dtype=np.float32))])
    X = union.fit_transform(xtr)
    best = None
    clf = LogisticRegression(max_iter=1000, random_state=0, warm_start=True)
    for c in grid:  # increasing C, warm-started; C chosen on validation by positive-class F1, ties to the smaller C
        clf.set_params(C=c).fit(X, ytr)
        score = f1_score(yva, clf.predict(union.transform(xva)), pos_label="pos")
        if best is None or score > best[0]:
            best = (score, c, clf.predict_proba(union.transform(xte)), list(clf.predict(union.transform(xte))))
    assert res.params["C"] == best[1] and res.params["selected_on"] == "validation"
    np.testing.assert_allclose(res.proba, best[2], rtol=1e-6, atol=1e-9)  # classes_ = ['neg', 'pos']
    assert res.predictions == best[3]
    assert np.mean([p == y for p, y in zip(res.predictions, yte)]) >= 0.8


def test_tfidf_proba_columns_follow_labels_and_absent_class():
    xtr, ytr, xva, yva, xte, _ = tiny()
    res = tfidf_logreg_baseline(xtr, ytr, xva, yva, xte, labels=["pos", "neg", "meh"], c_grid=(1.0,))
    assert res.proba.shape == (len(xte), 3)
    assert np.all(res.proba[:, 2] == 0) and np.allclose(res.proba.sum(1), 1)
    assert set(res.predictions) <= {"pos", "neg"}
