r"""Unconditional exact tests of a 2x2 table: Barnard's and Boschloo's.

The two columns of the table are two independent binomial samples, ``x1 = table[0, 0]`` successes out of
``n1 = table[:, 0].sum()`` and ``x2 = table[0, 1]`` out of ``n2 = table[:, 1].sum()`` (the orientation of
``scipy.stats.barnard_exact`` and ``boschloo_exact``). Under the null hypothesis both have the same success
probability :math:`\pi`, a nuisance parameter. For a statistic :math:`T` and the region :math:`R` of tables
at least as extreme as the observed one, the p-value is the largest null probability of :math:`R`,

.. math:: p = \sup_{0 \le \pi \le 1} P_\pi(R), \qquad
          P_\pi(R) = \sum_{(y_1, y_2) \in R} \binom{n_1}{y_1}\binom{n_2}{y_2}
          \pi^{y_1 + y_2} (1 - \pi)^{n_1 + n_2 - y_1 - y_2}.

:math:`P_\pi(R)` is a polynomial of degree :math:`n_1 + n_2` in :math:`\pi`; it is written as
:math:`\sum_s a_s \pi^s (1 - \pi)^{N - s}` with :math:`a_s` the exact integer sums of the binomial
coefficients of the tables of ``R`` with :math:`y_1 + y_2 = s`, evaluated in logarithms. The supremum is
found on a dense grid of :math:`\pi` (2001 points plus 10 per observation, ends included), then each of the
best grid maxima is refined by a bounded scalar search between its grid neighbours (Brent's method on
:math:`-\log P_\pi(R)`, ``xatol`` 1e-12); the largest value found, evaluated exactly (integer arithmetic
at the binary fraction :math:`\pi`, correctly rounded), is the p-value.

Written here rather than calling ``scipy.stats`` because importing it costs about 0.5 s of CPU in every
command, and because its search (``shgo`` from 32 Sobol points) can stop short of the maximum in the last
digits (see ``tests/stats/test_unconditional.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from blincompass.stats._checks import check_alternative
from blincompass.stats._solve import brent_minimize
from blincompass.stats.exact import _BOOST_HYPERGEOM, _Hypergeometric

__all__ = ["UnconditionalExactResult", "barnard_exact", "boschloo_exact"]

Alternative = Literal["two-sided", "less", "greater"]

#: Grid of the nuisance parameter: this many points plus ``_GRID_PER_OBS`` per observation.
_GRID_BASE = 2001
_GRID_PER_OBS = 10
#: Grid maxima refined by the local search.
_N_REFINE = 8


@dataclass(frozen=True)
class UnconditionalExactResult:
    """Result of :func:`barnard_exact` and :func:`boschloo_exact`.

    Attributes
    ----------
    statistic : float
        Barnard: the Wald statistic of the observed table; Boschloo: its one-sided Fisher p-value (of the
        smaller side for two-sided tests). NaN when a column is empty.
    pvalue : float
        :math:`\\sup_\\pi P_\\pi(R)` (two-sided Boschloo: twice the smaller one-sided p-value, at most 1).
    nuisance : float
        The :math:`\\pi` where the supremum is reached (NaN when a column is empty).
    alternative : str
    test : {"barnard", "boschloo"}
    """

    statistic: float
    pvalue: float
    nuisance: float
    alternative: str
    test: str


def _table(table: ArrayLike) -> NDArray[np.int64]:
    try:
        arr = np.asarray(table, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"table: cannot be read as numbers ({exc})") from exc
    if arr.shape != (2, 2):
        raise ValueError(f"table: expected a 2x2 table, got shape {arr.shape}")
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr != np.round(arr)).any():
        raise ValueError(f"table: counts must be non-negative integers, got {arr.tolist()}")
    return arr.astype(np.int64)


def _region_coefficients(region: NDArray[np.bool_], n1: int, n2: int) -> list[int]:
    """``a_s`` = sum of C(n1, y1) C(n2, y2) over the tables of the region with y1 + y2 = s (exact)."""
    c1 = [math.comb(n1, k) for k in range(n1 + 1)]
    c2 = [math.comb(n2, k) for k in range(n2 + 1)]
    a = [0] * (n1 + n2 + 1)
    for y1, y2 in zip(*np.nonzero(region), strict=True):
        a[int(y1) + int(y2)] += c1[int(y1)] * c2[int(y2)]
    return a


def _maximise(a: list[int]) -> tuple[float, float]:
    """(max over pi in [0, 1] of sum_s a_s pi^s (1 - pi)^(N - s), the maximising pi)."""
    big_n = len(a) - 1
    s = np.flatnonzero(np.asarray([v > 0 for v in a]))
    if s.size == 0:
        return 0.0, math.nan
    log_a = np.array([math.log(a[int(k)]) for k in s])
    sf = s.astype(np.float64)

    def log_p(pi: NDArray[np.float64]) -> NDArray[np.float64]:
        terms = log_a + special.xlogy(sf, pi[:, None]) + special.xlog1py(big_n - sf, -pi[:, None])
        top = terms.max(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = top + np.log(np.exp(terms - np.where(np.isfinite(top), top, 0.0)[:, None]).sum(axis=1))
        return np.where(np.isfinite(top), out, -np.inf)

    grid = np.linspace(0.0, 1.0, _GRID_BASE + _GRID_PER_OBS * big_n)
    values = log_p(grid)
    candidates = [float(grid[int(np.argmax(values))])]
    # local maxima of the grid (ends included), best first
    left = np.r_[-np.inf, values[:-1]]
    right = np.r_[values[1:], -np.inf]
    peaks = np.flatnonzero((values >= left) & (values >= right) & np.isfinite(values))
    peaks = peaks[np.argsort(-values[peaks], kind="stable")][:_N_REFINE]
    for i in peaks:
        lo, hi = float(grid[max(i - 1, 0)]), float(grid[min(i + 1, grid.size - 1)])
        x, _ = brent_minimize(lambda x: -float(log_p(np.array([x]))[0]), lo, hi, xatol=1e-12, maxiter=500)
        candidates.append(x)
    # the logarithmic evaluation is good to ~1e-14 (relative); the candidates are compared, and the p-value
    # returned, exactly: the polynomial at the binary fraction pi = u / v (v = 2^k) is the integer
    # sum_s a_s u^s (v - u)^(N - s) over v^N, and the integer quotient is correctly rounded
    best_val, best_pi = -1.0, math.nan
    for pi in candidates:
        u, v = pi.as_integer_ratio()
        num = sum(a[k] * u**k * (v - u) ** (big_n - k) for k in s.tolist())
        val = num / v**big_n
        if val > best_val:
            best_val, best_pi = val, pi
    return min(1.0, best_val), best_pi


def _wald(n1: int, n2: int, pooled: bool) -> NDArray[np.float64]:
    """Wald statistics of all tables (rows y1 = 0..n1, columns y2 = 0..n2); 0 where the proportions agree."""
    y1 = np.arange(n1 + 1, dtype=np.int64).reshape(-1, 1)
    y2 = np.arange(n2 + 1, dtype=np.int64).reshape(1, -1)
    p1, p2 = y1 / n1, y2 / n2
    if pooled:
        p = (y1 + y2) / (n1 + n2)
        var = p * (1 - p) * (1 / n1 + 1 / n2)
    else:
        var = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.divide(p1 - p2, np.sqrt(var))
    w[np.broadcast_to(p1 == p2, w.shape)] = 0.0
    return w


def barnard_exact(table: ArrayLike, alternative: Alternative = "two-sided", *,
                  pooled: bool = True) -> UnconditionalExactResult:
    r"""Barnard's unconditional exact test of a 2x2 table (columns = the two binomial samples).

    The statistic is the Wald statistic of the difference of proportions,
    :math:`T = (\hat p_1 - \hat p_2) / \sqrt{\hat p(1 - \hat p)(1/n_1 + 1/n_2)}` with the pooled
    :math:`\hat p = (x_1 + x_2)/(n_1 + n_2)` (``pooled=False``:
    :math:`\sqrt{\hat p_1(1 - \hat p_1)/n_1 + \hat p_2(1 - \hat p_2)/n_2}`), 0 when
    :math:`\hat p_1 = \hat p_2`. The region ``R`` is :math:`|T| \ge |T_{obs}|` (two-sided),
    :math:`T \le T_{obs}` (``"less"``: the first column's proportion is smaller) or :math:`T \ge T_{obs}`
    (``"greater"``); the p-value is :math:`\sup_\pi P_\pi(R)` (module docstring). This is
    ``scipy.stats.barnard_exact``; a column without observations gives p = 1 and a NaN statistic, as there.

    References
    ----------
    Barnard GA (1945). A new test for 2x2 tables. Nature 156:177.
    Barnard GA (1947). Significance tests for 2x2 tables. Biometrika 34:123-138.
    Suissa S, Shuster JJ (1985). Exact unconditional sample sizes for the 2x2 binomial trial. JRSS A
    148:317-327.
    Mehta CR, Senchaudhuri P (2003). Conditional versus unconditional exact tests for comparing two
    binomials. Cytel Software Corporation.
    """
    check_alternative(alternative)
    t = _table(table)
    n1, n2 = (int(v) for v in t.sum(axis=0))
    if n1 == 0 or n2 == 0:
        return UnconditionalExactResult(math.nan, 1.0, math.nan, alternative, "barnard")
    w = _wald(n1, n2, pooled)
    obs = w[t[0, 0], t[0, 1]]
    if alternative == "two-sided":
        region = np.abs(w) >= abs(obs)
    elif alternative == "less":
        region = w <= obs
    else:
        region = w >= obs
    p, pi = _maximise(_region_coefficients(region, n1, n2))
    return UnconditionalExactResult(float(obs), p, pi, alternative, "barnard")


def _fisher_one_sided_all(n1: int, n2: int, first: bool) -> NDArray[np.float64]:
    """One-sided Fisher p-values of all tables (rows y1, columns y2): ``first`` the lower tail of y1
    (:math:`P(Y_1 \\le y_1 \\mid y_1 + y_2)`), otherwise the lower tail of y2."""
    total = n1 + n2
    y1 = np.arange(n1 + 1).reshape(-1, 1)
    y2 = np.arange(n2 + 1).reshape(1, -1)
    s = np.broadcast_to(y1 + y2, (n1 + 1, n2 + 1))
    k = np.broadcast_to(y1 if first else y2, s.shape)
    draws = n1 if first else n2
    out = np.empty(s.shape)
    if _BOOST_HYPERGEOM is not None:
        lo = np.maximum(draws - (total - s), 0)
        hi = np.minimum(s, draws)
        inside = (k >= lo) & (k < hi)
        out[:] = np.where(k >= hi, 1.0, 0.0)
        out[inside] = _BOOST_HYPERGEOM[1](k[inside], s[inside], draws, total)
        return out
    for (i, j), kk in np.ndenumerate(k):  # scipy without the Boost functions
        out[i, j] = _Hypergeometric(total, int(s[i, j]), draws, own=True).cdf(int(kk))
    return out


def boschloo_exact(table: ArrayLike, alternative: Alternative = "two-sided") -> UnconditionalExactResult:
    r"""Boschloo's unconditional exact test of a 2x2 table (columns = the two binomial samples).

    The statistic is the one-sided p-value of Fisher's exact test: for ``"less"``
    :math:`F(y_1, y_2) = P(Y_1 \le y_1 \mid y_1 + y_2)` (hypergeometric), for ``"greater"`` the same with the
    second column, :math:`P(Y_2 \le y_2 \mid y_1 + y_2)`. The region is the tables with
    :math:`F \le F_{obs}(1 + 10^{-13})` (the tolerance keeps ties), and the one-sided p-value is
    :math:`\sup_\pi P_\pi(R)` (module docstring); it is never larger than Fisher's. Two-sided: twice the
    smaller one-sided p-value (at most 1), whose statistic is reported. This is
    ``scipy.stats.boschloo_exact``; a column without observations gives NaN, as there.

    References
    ----------
    Boschloo RD (1970). Raised conditional level of significance for the 2x2-table when testing the equality
    of two probabilities. Statistica Neerlandica 24:1-35.
    Mehta CR, Senchaudhuri P (2003). Conditional versus unconditional exact tests for comparing two
    binomials. Cytel Software Corporation.
    Lydersen S, Fagerland MW, Laake P (2009). Recommended tests for association in 2x2 tables. Statistics in
    Medicine 28:1159-1175.
    """
    check_alternative(alternative)
    t = _table(table)
    n1, n2 = (int(v) for v in t.sum(axis=0))
    if n1 == 0 or n2 == 0:
        return UnconditionalExactResult(math.nan, math.nan, math.nan, alternative, "boschloo")
    if alternative == "two-sided":
        less = boschloo_exact(t, "less")
        greater = boschloo_exact(t, "greater")
        res = less if less.pvalue < greater.pvalue else greater
        return UnconditionalExactResult(res.statistic, min(1.0, 2.0 * res.pvalue), res.nuisance,
                                        alternative, "boschloo")
    f = _fisher_one_sided_all(n1, n2, alternative == "less")
    obs = f[t[0, 0], t[0, 1]]
    region = f <= obs * (1 + 1e-13)
    p, pi = _maximise(_region_coefficients(region, n1, n2))
    return UnconditionalExactResult(float(obs), p, pi, alternative, "boschloo")
