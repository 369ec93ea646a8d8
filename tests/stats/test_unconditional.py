"""Barnard's and Boschloo's unconditional exact tests against ``scipy.stats.barnard_exact`` and
``boschloo_exact`` (R's package Exact is not installed here; scipy is the reference)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as sps

from blincompass.stats.unconditional import _maximise, barnard_exact, boschloo_exact

ALTERNATIVES = ("two-sided", "less", "greater")


def _tables() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = [np.array(t) for t in ([[21, 5], [6, 7]], [[19, 7], [5, 8]], [[3, 10], [3, 23]], [[0, 0], [4, 5]],
                                 [[7, 12], [0, 0]], [[1, 0], [0, 1]], [[50, 10], [10, 50]], [[0, 3], [6, 0]])]
    while len(out) < 50:
        n1, n2 = (int(v) for v in rng.integers(1, 61, 2))
        x1, x2 = int(rng.integers(0, n1 + 1)), int(rng.integers(0, n2 + 1))
        out.append(np.array([[x1, x2], [n1 - x1, n2 - x2]]))
    return out


TABLES = _tables()


@pytest.mark.parametrize("alternative", ALTERNATIVES)
@pytest.mark.parametrize("test", ["barnard", "boschloo"])
def test_matches_scipy(test: str, alternative: str) -> None:
    ours, theirs = {"barnard": (barnard_exact, sps.barnard_exact),
                    "boschloo": (boschloo_exact, sps.boschloo_exact)}[test]
    higher = []
    for t in TABLES:
        got = ours(t, alternative)
        want = theirs(t, alternative=alternative)
        assert (got.test, got.alternative) == (test, alternative)
        if math.isnan(want.statistic):
            assert math.isnan(got.statistic)
            assert got.pvalue == want.pvalue or (math.isnan(got.pvalue) and math.isnan(want.pvalue))
            continue
        assert got.statistic == want.statistic, t.tolist()
        assert got.pvalue == pytest.approx(float(want.pvalue), rel=1e-8, abs=1e-300), t.tolist()
        # scipy's value is its log-scale evaluation (good to ~1e-13) at the point its search stopped at; ours is
        # the exact polynomial at the best point found: never below scipy's beyond that evaluation error
        assert got.pvalue >= want.pvalue * (1 - 2e-13), t.tolist()
        if got.pvalue > want.pvalue * (1 + 1e-13):
            higher.append(t.tolist())
    if test == "boschloo" and alternative == "greater":
        # scipy's search stops 3e-13 (relative) short of the maximum here
        assert [[19, 7], [5, 8]] in higher


def test_known_values() -> None:
    # two-sided Boschloo is twice the smaller one-sided p-value; Barnard without observations in a column
    t = np.array([[21, 5], [6, 7]])
    less, greater = boschloo_exact(t, "less"), boschloo_exact(t, "greater")
    assert boschloo_exact(t).pvalue == min(1.0, 2 * min(less.pvalue, greater.pvalue))
    assert greater.pvalue == pytest.approx(0.017888854474016, rel=1e-12)
    assert barnard_exact(t, "greater").pvalue == pytest.approx(0.017648231740618, rel=1e-12)
    assert barnard_exact([[0, 0], [3, 4]]).pvalue == 1.0
    assert math.isnan(boschloo_exact([[0, 3], [0, 4]]).pvalue)
    with pytest.raises(ValueError, match="2x2"):
        barnard_exact([[1, 2, 3], [4, 5, 6]])
    with pytest.raises(ValueError, match="non-negative"):
        boschloo_exact([[1, -2], [4, 5]])


def test_maximiser_finds_the_supremum_of_a_two_peaked_polynomial() -> None:
    # a_s nonzero only at s = 1 and s = N - 1: P(pi) = N pi (1 - pi)^(N - 1) + N pi^(N - 1) (1 - pi), two
    # maxima near 1/N and 1 - 1/N of equal height
    n = 40
    a = [0] * (n + 1)
    a[1] = a[n - 1] = n
    p, pi = _maximise(a)
    x = np.linspace(0, 1, 2_000_001)
    dense = float((n * x * (1 - x) ** (n - 1) + n * x ** (n - 1) * (1 - x)).max())
    assert p == pytest.approx(dense, rel=1e-10) and p >= dense * (1 - 1e-15)
    assert min(abs(pi - 1 / n), abs(pi - (1 - 1 / n))) < 1e-6


def test_boschloo_without_the_boost_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    # the fallback (own hypergeometric pmf) gives the same statistics and p-values to ~1e-12
    import blincompass.stats.unconditional as unc

    tables = TABLES[:10]
    want = [(boschloo_exact(t, a).statistic, boschloo_exact(t, a).pvalue) for t in tables for a in ALTERNATIVES]
    monkeypatch.setattr(unc, "_BOOST_HYPERGEOM", None)
    got = [(boschloo_exact(t, a).statistic, boschloo_exact(t, a).pvalue) for t in tables for a in ALTERNATIVES]
    for (s0, p0), (s1, p1) in zip(want, got, strict=True):
        assert s1 == pytest.approx(s0, rel=1e-12, nan_ok=True)
        assert p1 == pytest.approx(p0, rel=1e-10, nan_ok=True)


@pytest.mark.parametrize("table", [[[21, 5], [6, 7]], [[19, 7], [5, 8]], [[3, 10], [3, 23]], [[2, 9], [12, 4]]])
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_pvalue_is_the_exact_supremum(table: list[list[int]], alternative: str) -> None:
    # the supremum of the polynomial evaluated exactly (golden-section search around the reported nuisance
    # value): the p-value is within two units in the last place of it. scipy's is up to 3e-13 below
    # (its search stops short: Boschloo, [[19, 7], [5, 8]], "greater") or ~1e-14 above (its log-scale
    # evaluation; [[3, 10], [3, 23]])
    from fractions import Fraction

    import blincompass.stats.unconditional as unc

    t = np.asarray(table)
    n1, n2 = (int(v) for v in t.sum(axis=0))
    for fun in (barnard_exact, boschloo_exact):
        if fun is boschloo_exact and alternative == "two-sided":
            continue  # twice a one-sided supremum
        res = fun(t, alternative)
        if fun is barnard_exact:
            w = unc._wald(n1, n2, True)
            obs = w[t[0, 0], t[0, 1]]
            region = {"two-sided": np.abs(w) >= abs(obs), "less": w <= obs, "greater": w >= obs}[alternative]
        else:
            f = unc._fisher_one_sided_all(n1, n2, alternative == "less")
            region = f <= f[t[0, 0], t[0, 1]] * (1 + 1e-13)
        a = unc._region_coefficients(region, n1, n2)

        def exact(pi: float, a: list[int] = a) -> Fraction:
            u, v = pi.as_integer_ratio()  # the polynomial at this binary fraction, in integers
            return Fraction(sum(c * u**k * (v - u) ** (n1 + n2 - k) for k, c in enumerate(a) if c), v ** (n1 + n2))

        lo, hi = max(0.0, res.nuisance - 1e-4), min(1.0, res.nuisance + 1e-4)
        while hi - lo > 1e-13:
            m1, m2 = lo + (hi - lo) * 0.382, lo + (hi - lo) * 0.618
            lo, hi = (m1, hi) if exact(m1) < exact(m2) else (lo, m2)
        assert res.pvalue == pytest.approx(float(exact((lo + hi) / 2)), rel=4.5e-16), (fun.__name__, table)
