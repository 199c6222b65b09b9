"""Significance tests and intervals on cases with known answers."""

import numpy as np
import pytest

from rerankft.evaluation.stats import (
    bootstrap_ci,
    holm_bonferroni,
    paired_randomization_test,
    paired_t_test,
)


def test_randomization_test_exact_all_positive():
    # 5 queries, all +1: of the 2**5 sign patterns only all-plus and all-minus are as extreme.
    assert paired_randomization_test([1.0] * 5, [0.0] * 5) == pytest.approx(2 / 32)


def test_randomization_test_exact_one_negative():
    # diffs (1,1,1,1,-1), mean 0.6: patterns with |mean| >= 0.6 have 0 or 1 minus sign: 2 * (1 + 5) of 32.
    a = [0.5, 0.9, 0.2, 0.7, 0.0]
    b = [x - 1 for x in a[:4]] + [1.0]
    assert paired_randomization_test(a, b) == pytest.approx(12 / 32)


def test_randomization_test_identical_systems_and_symmetry():
    x = [0.1, 0.4, 0.3]
    assert paired_randomization_test(x, x) == 1.0
    rng = np.random.default_rng(1)
    a, b = rng.random(40), rng.random(40)
    assert paired_randomization_test(a, b, seed=3) == paired_randomization_test(b, a, seed=3)


def test_randomization_test_detects_a_real_difference_and_is_seeded():
    rng = np.random.default_rng(0)
    b = rng.random(60)
    a = b + 0.2 + rng.normal(0, 0.05, 60)
    p = paired_randomization_test(a, b, n_resamples=2000, seed=7)
    assert p < 0.001
    noise = b + rng.normal(0, 0.05, 60)
    p1 = paired_randomization_test(noise, b, n_resamples=2000, seed=7)
    assert p1 == paired_randomization_test(noise, b, n_resamples=2000, seed=7)
    assert p1 > 0.01


def test_randomization_test_rejects_unpaired_input():
    with pytest.raises(ValueError):
        paired_randomization_test([1, 2], [1, 2, 3])


def test_paired_t_test_known_value():
    # d = (1, 2, 3): t = 2 / (1 / sqrt(3)) = 3.464 with 2 df -> two-sided p = 0.0742
    assert paired_t_test([2, 4, 6], [1, 2, 3]) == pytest.approx(0.0742, abs=1e-3)


def test_holm_bonferroni_known_case():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    assert holm_bonferroni([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_bonferroni([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm_bonferroni([]) == []


def test_bootstrap_ci_contains_mean_is_seeded_and_degenerate_safe():
    x = np.random.default_rng(0).random(50)
    lo, hi = bootstrap_ci(x, n_resamples=500, seed=1)
    assert lo < x.mean() < hi
    assert hi - lo < 0.3
    assert (lo, hi) == bootstrap_ci(x, n_resamples=500, seed=1)
    assert bootstrap_ci([0.7] * 10) == (0.7, 0.7)
    assert bootstrap_ci([]) == (0.0, 0.0)
