"""Fisher's 2x2 p-value, the rank-sum test and the G test computed without ``scipy.stats`` give the values of
``scipy.stats`` (bit for bit where they share the arithmetic) and of R (fixtures)."""

from __future__ import annotations

import collections
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as sps

from blincompass.stats.exact import _BOOST_HYPERGEOM, _fisher_2x2_pvalue, g_test
from blincompass.stats.group_tests import _mann_whitney, _wilcox_counts

R_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "r"
ALTERNATIVES = ("two-sided", "less", "greater")


def _tables(seed: int, count: int) -> list[np.ndarray]:
    """Random 2x2 tables without an empty row or column: small, with zero cells, mirrored (tied
    probabilities on both sides of the mode) and large (N up to ~12,000)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        t = rng.integers(0, int(rng.choice([3, 8, 30, 200, 3000])), (2, 2))
        u = rng.random()
        if u < 0.2:
            t[rng.integers(2), rng.integers(2)] = 0
        elif u < 0.3:
            t[1] = t[0][::-1]
        if (t.sum(axis=0) > 0).all() and (t.sum(axis=1) > 0).all():
            out.append(t)
    return out


def test_boost_functions_are_available() -> None:
    # the bit-for-bit agreement below rests on them; without them the own pmf is used (next tests)
    assert _BOOST_HYPERGEOM is not None


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_fisher_2x2_is_scipy_bit_for_bit(alternative: str) -> None:
    for t in _tables(1, 400) + [np.array([[1, 0], [0, 1]]), np.array([[5, 5], [5, 5]]),
                                np.array([[0, 7], [9, 0]]), np.array([[2, 2], [1, 0]])]:
        assert _fisher_2x2_pvalue(t, alternative) == sps.fisher_exact(t, alternative).pvalue, t.tolist()


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_fisher_2x2_own_pmf_matches_scipy(alternative: str) -> None:
    worst = 0.0
    for t in _tables(2, 400):
        want = float(sps.fisher_exact(t, alternative).pvalue)
        got = _fisher_2x2_pvalue(t, alternative, own=True)
        if want > 1e-300:
            worst = max(worst, abs(got / want - 1))
        else:
            assert got <= 1e-290
    assert worst < 1e-12


def test_fisher_2x2_own_pmf_matches_r() -> None:
    cases = json.loads((R_DIR / "exact.json").read_text())["fisher_2x2"]
    assert len(cases) >= 10
    for c in cases:
        got = _fisher_2x2_pvalue(np.asarray(c["table"]), c["alternative"], own=True)
        assert got == pytest.approx(float(c["pvalue"]), rel=1e-10, abs=1e-300), c["name"]


def test_wilcox_counts_are_the_enumerated_ones() -> None:
    for m, n in ((1, 1), (3, 4), (5, 5), (2, 7), (6, 3)):
        seen = collections.Counter()
        for pos in itertools.combinations(range(m + n), m):
            seen[sum(pos) + m - m * (m + 1) // 2] += 1
        assert _wilcox_counts(m, n, m * n) == [seen[k] for k in range(m * n + 1)], (m, n)
    assert _wilcox_counts(3, 4, 5) == _wilcox_counts(3, 4, 12)[:6]  # truncation
    assert sum(_wilcox_counts(30, 40, 1200)) == math.comb(70, 30)


def test_rank_sum_is_scipy_mannwhitneyu() -> None:
    rng = np.random.default_rng(3)
    for _ in range(600):
        n1, n2 = (int(v) for v in rng.integers(1, 50, 2))
        tied = rng.random() < 0.5
        a = rng.integers(0, 8, n1).astype(float) if tied else rng.normal(size=n1)
        b = rng.integers(0, 8, n2).astype(float) + rng.integers(2) if tied else rng.normal(0.3, 1.0, n2)
        alternative = str(rng.choice(ALTERNATIVES))
        exact = not tied and rng.random() < 0.7
        correct = bool(rng.random() < 0.7)
        if exact:
            want = sps.mannwhitneyu(a, b, alternative=alternative, method="exact")
        else:
            want = sps.mannwhitneyu(a, b, alternative=alternative, method="asymptotic", use_continuity=correct)
        u, p = _mann_whitney(a, b, alternative, exact, correct)
        assert u == want.statistic
        if not exact or math.comb(n1 + n2, n1) < 2**40:
            assert p == want.pvalue, (n1, n2, alternative, exact, correct)
        else:
            # scipy sums products of the counts in floating point, inexact beyond 2**53; these are exact integers
            assert p == pytest.approx(float(want.pvalue), rel=1e-12, abs=1e-300)


def test_g_test_is_scipy_chi2_contingency() -> None:
    rng = np.random.default_rng(4)
    for _ in range(300):
        shape = (2, 2) if rng.random() < 0.6 else tuple(int(v) for v in rng.integers(2, 5, 2))
        t = rng.integers(0, int(rng.choice([5, 40, 500])), shape)
        if rng.random() < 0.3:
            t[0, 0] = 0
        if (t.sum(axis=0) == 0).any() or (t.sum(axis=1) == 0).any():
            continue
        got = g_test(t)
        want = sps.chi2_contingency(t, correction=False, lambda_="log-likelihood")
        assert (got.statistic, got.pvalue, got.df) == (want.statistic, want.pvalue, want.dof)
        assert np.array_equal(got.expected, want.expected_freq)
    # by hand: G = 2 sum O ln(O / E)
    t = np.array([[21.0, 5.0], [6.0, 7.0]])
    e = np.outer(t.sum(axis=1), t.sum(axis=0)) / t.sum()
    assert g_test(t).statistic == pytest.approx(2 * float((t * np.log(t / e)).sum()), rel=1e-14)
    assert g_test(t).pvalue == pytest.approx(0.02941205362130878, rel=1e-14)
