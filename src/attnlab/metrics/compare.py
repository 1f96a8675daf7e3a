"""Is system B really better than baseline A? Paired tests on the same examples.

Both tests pair the two systems' predictions example by example (same examples, same gold labels):

* :func:`paired_bootstrap_test` (Koehn 2004; sacreBLEU's ``--paired-bs``): resample the examples, score
  *both* systems on each resample (the same draws, :func:`~attnlab.metrics.bootstrap.resample_index_blocks`)
  and look at the distribution of the difference ``system - baseline`` of any confusion-matrix metric.
  It reports the observed difference, the mean resampled difference, its percentile interval and a
  two-sided p-value: twice the share of resamples whose difference does not have the sign of the observed
  one (a difference of exactly 0 counts as a flip), with the +1 correction of sacreBLEU/MultEval so that it
  is never 0, capped at 1: ``p = min(1, 2 (flips + 1) / (R + 1))``. ``p < 1 - confidence`` then matches (up
  to the correction) the difference's percentile interval excluding 0. sacreBLEU's own p-value centres the
  absolute differences instead; attnlab uses the sign-flip form because it agrees with the reported interval.
* :func:`mcnemar_test`: McNemar's test on the discordant pairs, ``b`` = baseline right and system wrong,
  ``c`` = baseline wrong and system right. Exact two-sided binomial p-value when ``b + c < 25``
  (``min(1, 2 P[X <= min(b, c)])``, ``X ~ Bin(b + c, 1/2)``), else the chi-square statistic with continuity
  correction ``max(|b - c| - 1, 0)² / (b + c)`` and its 1-degree-of-freedom survival ``erfc(sqrt(x / 2))``.

NumPy and the standard library only (no SciPy).

>>> mcnemar_test_from_counts(10, 2)["p_value"]  # exact: 2 * (1 + 12 + 66) / 2**12
0.03857421875
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from attnlab.errors import InputError
from attnlab.metrics.bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_N_RESAMPLES,
    DEFAULT_SEED,
    MAX_UNDEFINED_SHARE,
    check_bootstrap_args,
    cm_metric_stack,
    resample_index_blocks,
    resampled_counts,
)
from attnlab.metrics.functional import classification as cls
from attnlab.metrics.functional._validation import (
    DEFAULT_ZERO_DIVISION,
    ZeroDivision,
    check_labels,
    check_lengths,
    check_zero_division,
    encode,
)

DEFAULT_METRICS = ("macro.f1", "accuracy")
#: Below this many discordant pairs McNemar's test uses the exact binomial p-value.
MCNEMAR_EXACT_BELOW = 25

__all__ = ["DEFAULT_METRICS", "mcnemar_test", "mcnemar_test_from_counts", "paired_bootstrap_test"]


def _encode_systems(y_true: Any, y_pred_baseline: Any, y_pred_system: Any, labels: Sequence[Any]
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Any]]:
    labels = check_labels(labels, min_labels=2)
    t = encode(y_true, labels, name="y_true")
    a = encode(y_pred_baseline, labels, name="y_pred_baseline")
    b = encode(y_pred_system, labels, name="y_pred_system")
    check_lengths(len(t), y_true=t, y_pred_baseline=a, y_pred_system=b)
    return t, a, b, labels


def _check_metric_paths(metrics: Any, available: Sequence[str]) -> list[str]:
    if isinstance(metrics, str) or not isinstance(metrics, Sequence) or not metrics:
        raise InputError(f"metrics must be a non-empty list of metric paths; got {metrics!r}; "
                         "pass e.g. ['macro.f1', 'accuracy']")
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise InputError(f"unknown metric path(s) {unknown!r} for a paired comparison; choose from "
                         f"{', '.join(available)}")
    return list(dict.fromkeys(metrics))


def paired_bootstrap_test(
    y_true: Any, y_pred_baseline: Any, y_pred_system: Any, *, labels: Sequence[Any],
    metrics: Sequence[str] = DEFAULT_METRICS, positive_label: Any = None, n_resamples: int = DEFAULT_N_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED,
    zero_division: ZeroDivision = DEFAULT_ZERO_DIVISION,
) -> dict[str, dict[str, Any]]:
    """Paired bootstrap test of ``metric(system) - metric(baseline)`` for each path in ``metrics``.

    ``metrics`` are confusion-matrix metric paths of report.json (``"accuracy"``, ``"macro.f1"``,
    ``"per_class.spam.recall"``, ``"mcc"``, ...; ``"binary.specificity"``/``"binary.npv"`` with
    ``positive_label``). Returns ``{PATH: {"baseline", "system", "difference", "mean_difference", "low",
    "high", "p_value", "n_resamples", "n_undefined", "confidence", "method": "paired-bootstrap", "seed",
    "reason"}}``: the two scores and their difference on the full data, the mean resampled difference, the
    difference's percentile interval and the two-sided sign-flip p-value (module docstring). Resamples
    where either system's metric is undefined are left out (``n_undefined``); above
    :data:`~attnlab.metrics.bootstrap.MAX_UNDEFINED_SHARE` of them, interval and p-value are ``None``.

    >>> res = paired_bootstrap_test([0, 1, 1, 0, 1, 0], [0, 0, 1, 1, 1, 0], [0, 1, 1, 0, 1, 0], labels=[0, 1],
    ...                             metrics=["accuracy"], n_resamples=200)
    >>> res["accuracy"]["difference"], res["accuracy"]["p_value"] > 0.05
    (0.33333333333333337, True)
    """
    t, a, b, labels = _encode_systems(y_true, y_pred_baseline, y_pred_system, labels)
    n_resamples, confidence, seed = check_bootstrap_args(n_resamples, confidence, seed)
    check_zero_division(zero_division)
    pos_idx = None if positive_label is None else cls.positive_index(labels, positive_label)
    n, n_classes = len(t), len(labels)
    codes = (t * n_classes + a, t * n_classes + b)  # confusion-matrix cells of each system

    def scores(idx: np.ndarray) -> list[dict[str, np.ndarray]]:
        return [cm_metric_stack(resampled_counts(code, n_classes**2, idx).reshape(len(idx), n_classes, n_classes),
                                labels, zero_division=zero_division, positive_idx=pos_idx) for code in codes]

    full = scores(np.arange(n)[None, :])
    paths = _check_metric_paths(metrics, list(full[0]))
    diffs = {path: np.empty(n_resamples) for path in paths}
    done = 0
    for idx in resample_index_blocks(n, n_resamples, seed):
        base, system = scores(idx)
        for path in paths:
            diffs[path][done:done + len(idx)] = system[path] - base[path]  # NaN if either is undefined
        done += len(idx)
    return {path: _difference_summary(float(full[0][path][0]), float(full[1][path][0]), diffs[path],
                                      confidence=confidence, seed=seed) for path in paths}


def _num(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _difference_summary(baseline: float, system: float, diffs: np.ndarray, *, confidence: float, seed: int
                        ) -> dict[str, Any]:
    observed = system - baseline
    undefined = np.isnan(diffs)
    n_undefined, r = int(undefined.sum()), len(diffs)
    out: dict[str, Any] = {"baseline": _num(baseline), "system": _num(system), "difference": _num(observed),
                           "mean_difference": None, "low": None, "high": None, "p_value": None,
                           "n_resamples": r, "n_undefined": n_undefined, "confidence": confidence,
                           "method": "paired-bootstrap", "seed": seed, "reason": None}
    if math.isnan(observed):
        out["reason"] = "the metric is undefined on the full data for at least one system"
        return out
    if n_undefined > MAX_UNDEFINED_SHARE * r:
        out["reason"] = (f"undefined in {n_undefined} of {r} resamples (more than {MAX_UNDEFINED_SHARE:.0%}) "
                         "for at least one system")
        return out
    d = diffs[~undefined]
    alpha = 1.0 - confidence
    low, high = np.quantile(d, [alpha / 2, 1.0 - alpha / 2])
    if observed == 0:
        p_value = 1.0
    else:
        flips = int(np.count_nonzero(d <= 0) if observed > 0 else np.count_nonzero(d >= 0))
        p_value = min(1.0, 2.0 * (flips + 1) / (len(d) + 1))
    out.update(mean_difference=float(d.mean()), low=float(low), high=float(high), p_value=p_value)
    return out


# --------------------------------------------------------------------------- McNemar


def _binomial_two_sided_half(k: int, n: int) -> float:
    """Exact ``min(1, 2 P[X <= k])`` for ``X ~ Bin(n, 1/2)`` (integer arithmetic, one rounding)."""
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2**n)


def mcnemar_test_from_counts(b: int, c: int, *, method: str = "auto") -> dict[str, Any]:
    """McNemar's test from the discordant counts ``b`` (baseline right, system wrong) and ``c``.

    ``method``: ``"auto"`` (exact below :data:`MCNEMAR_EXACT_BELOW` discordant pairs, else chi-square),
    ``"exact"`` or ``"chi2"``. Returns ``{"b", "c", "n_discordant", "statistic", "p_value", "method",
    "alternative": "two-sided"}``; ``statistic`` is ``min(b, c)`` for the exact test and the corrected
    chi-square value otherwise. With no discordant pair the p-value is 1.

    >>> r = mcnemar_test_from_counts(40, 20)
    >>> r["method"], round(r["statistic"], 6), round(r["p_value"], 6)
    ('chi2-continuity', 6.016667, 0.014171)
    """
    for name, value in (("b", b), ("c", c)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InputError(f"{name} must be a non-negative integer count; got {value!r}; pass the number of "
                             "discordant pairs")
    if method not in ("auto", "exact", "chi2"):
        raise InputError(f"method must be 'auto', 'exact' or 'chi2'; got {method!r}; 'auto' picks by sample size")
    b, c = int(b), int(c)
    n = b + c
    out = {"b": b, "c": c, "n_discordant": n, "alternative": "two-sided"}
    if method == "exact" or (method == "auto" and n < MCNEMAR_EXACT_BELOW):
        return {**out, "statistic": float(min(b, c)), "p_value": _binomial_two_sided_half(min(b, c), n),
                "method": "exact-binomial"}
    statistic = 0.0 if n == 0 else max(abs(b - c) - 1, 0) ** 2 / n
    return {**out, "statistic": statistic,
            "p_value": math.erfc(math.sqrt(statistic / 2.0)), "method": "chi2-continuity"}


def mcnemar_test(y_true: Any, y_pred_baseline: Any, y_pred_system: Any, *, labels: Sequence[Any],
                 method: str = "auto") -> dict[str, Any]:
    """McNemar's test of whether the two systems' accuracies differ; see :func:`mcnemar_test_from_counts`.

    >>> mcnemar_test(["a", "b", "a"], ["a", "a", "a"], ["a", "b", "b"], labels=["a", "b"])["p_value"]
    1.0
    """
    t, a, b, _ = _encode_systems(y_true, y_pred_baseline, y_pred_system, labels)
    right_a, right_b = a == t, b == t
    return mcnemar_test_from_counts(int(np.count_nonzero(right_a & ~right_b)),
                                    int(np.count_nonzero(~right_a & right_b)), method=method)
