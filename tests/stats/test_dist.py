"""The distribution functions of ``blincompass.stats._dist`` are those of ``scipy.stats``, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as sps

from blincompass.stats import _dist

RNG = np.random.default_rng(20261204)
N = 5000


def identical(got: object, want: object) -> bool:
    """Same dtype, shape and values (NaN where NaN), and the same sign of zeros."""
    g, w = np.asarray(got), np.asarray(want)
    if g.dtype != w.dtype or g.shape != w.shape or not np.array_equal(g, w, equal_nan=True):
        return False
    finite = ~np.isnan(w)
    return bool(np.array_equal(np.signbit(g)[finite], np.signbit(w)[finite]))


X = np.concatenate([RNG.normal(0, 4, N), [0.0, -0.0, np.inf, -np.inf, np.nan, 40.0, -40.0, 1e-300, 8.5]])
Q = np.concatenate([RNG.random(N), 10.0 ** -RNG.uniform(1, 15, 200), 1 - 10.0 ** -RNG.uniform(1, 15, 200),
                    [0.0, 1.0, -0.1, 1.1, np.nan, 0.5, 0.025, 0.975]])
XPOS = np.concatenate([RNG.exponential(5, N), [0.0, -1.0, np.inf, np.nan, 1e-300, 1e4, -0.0, 3.0, 3.841458820694124]])
DF = RNG.choice([1, 2, 3, 4, 5, 10, 0.5, 30, 0, -1, np.nan], XPOS.size)
DFQ = RNG.choice([1, 2, 3, 4, 5, 10, 0.5, 30, 0, -1, np.nan], Q.size)


@pytest.mark.parametrize("name", ["cdf", "sf", "ppf", "isf"])
def test_normal(name: str) -> None:
    arg = X if name in ("cdf", "sf") else Q
    assert identical(getattr(_dist, f"norm_{name}")(arg), getattr(sps.norm, name)(arg))
    for v in arg[-9:]:  # scalars give NumPy scalars, as scipy.stats
        got, want = getattr(_dist, f"norm_{name}")(float(v)), getattr(sps.norm, name)(float(v))
        assert type(got) is type(want) and identical(got, want)


@pytest.mark.parametrize("name", ["cdf", "sf"])
def test_chi2_tails(name: str) -> None:
    got = getattr(_dist, f"chi2_{name}")(XPOS, DF)
    assert identical(got, getattr(sps.chi2, name)(XPOS, DF))
    # broadcasting of a column of statistics against a row of degrees of freedom, and scalars
    col, row = XPOS[:50, None], np.array([1, 2, 3, 7.5])
    assert identical(getattr(_dist, f"chi2_{name}")(col, row), getattr(sps.chi2, name)(col, row))
    for x, df in ((3.2, 1), (0.0, 1), (np.inf, 2), (np.nan, 1), (2.0, 0), (25.0, 3), (1e-8, 2)):
        got, want = getattr(_dist, f"chi2_{name}")(x, df), getattr(sps.chi2, name)(x, df)
        assert type(got) is type(want) and identical(got, want), (x, df)


@pytest.mark.parametrize("name", ["ppf", "isf"])
def test_chi2_quantiles(name: str) -> None:
    assert identical(getattr(_dist, f"chi2_{name}")(Q, DFQ), getattr(sps.chi2, name)(Q, DFQ))
    for q, df in ((0.95, 1), (0.0, 2), (1.0, 3), (1.5, 1), (0.5, -1)):
        assert identical(getattr(_dist, f"chi2_{name}")(q, df), getattr(sps.chi2, name)(q, df)), (q, df)


def test_beta_quantile() -> None:
    # the arguments of Clopper-Pearson and Jeffreys intervals: integer and half-integer shapes; q away from
    # 0 by more than 1e-15 (below ~1e-200 scipy.special.betaincinv may give NaN where scipy.stats.beta.ppf,
    # through another Boost entry point, still returns a number)
    a = RNG.integers(0, 80, Q.size) + RNG.choice([0.0, 0.5], Q.size)
    b = RNG.integers(0, 80, Q.size) + RNG.choice([0.0, 0.5], Q.size)
    assert identical(_dist.beta_ppf(Q, a, b), sps.beta.ppf(Q, a, b))
    for q, x, y in ((0.025, 3, 10), (0.975, 4, 9), (0.0, 2, 2), (1.0, 2, 2), (0.5, 0, 3), (0.2, 1, -1)):
        got, want = _dist.beta_ppf(q, x, y), sps.beta.ppf(q, x, y)
        assert type(got) is type(want) and identical(got, want), (q, x, y)
