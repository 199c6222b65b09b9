"""Significance and uncertainty over queries: paired randomization test, Holm correction, bootstrap CIs.

The tests and intervals come from scipy (``permutation_test``, ``bootstrap``); this module
fixes the choices that matter for IR comparisons so every caller makes the same ones:
pairing by query, a two-sided test, seeded resampling, and the percentile interval
(BCa, scipy's default, is undefined when every query has the same score, which happens
for Recall@k with k >= top_k).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats as sps


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def paired_randomization_test(a: Sequence[float], b: Sequence[float], n_resamples: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value of the paired randomization (sign-flip) test on mean(a - b).

    Under the null hypothesis the two systems are exchangeable on every query, so each
    per-query difference is equally likely to have either sign (Smucker et al., CIKM 2007).
    With ``2**n <= n_resamples`` all sign patterns are enumerated (exact p-value);
    otherwise ``n_resamples`` random patterns are drawn with ``seed``.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired test needs two equal-length 1-d score lists, got shapes {a.shape} and {b.shape}")
    d = a - b
    if d.size == 0 or np.allclose(d, 0.0):
        return 1.0  # identical systems: no evidence of a difference
    res = sps.permutation_test(
        (d,), _mean, permutation_type="samples", vectorized=True, n_resamples=n_resamples,
        alternative="two-sided", rng=np.random.default_rng(seed),
    )
    return float(min(1.0, res.pvalue))


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided paired t-test p-value (reported alongside; the randomization test is the one marked)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = a - b
    if d.size < 2 or np.allclose(d, d[0]):
        return 1.0 if d.size == 0 or np.allclose(d, 0.0) else 0.0
    return float(sps.ttest_rel(a, b).pvalue)


def holm_bonferroni(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given): controls the family-wise error rate.

    The i-th smallest p (1-based) is multiplied by (m - i + 1); adjusted values are made
    monotone and capped at 1, so "adjusted p < alpha" is Holm's step-down decision.
    """
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        adjusted[idx] = running
    return adjusted.tolist()


def bootstrap_ci(values: Sequence[float], n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean over queries (seeded)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (0.0, 0.0)
    if x.size == 1 or np.allclose(x, x[0]):
        return (float(x[0]), float(x[0]))  # no spread: the interval is the value itself
    res = sps.bootstrap(
        (x,), _mean, n_resamples=n_resamples, confidence_level=confidence, method="percentile",
        vectorized=True, rng=np.random.default_rng(seed),
    )
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))
