"""Exact and asymptotic tests for contingency tables, and confidence intervals for a proportion.

* :func:`fisher_exact` -- Fisher's exact test (2x2 with the conditional MLE odds ratio and its exact
  confidence interval; r x c by exact enumeration or Monte Carlo), matching R's ``fisher.test``.
* :func:`chi2_test` -- Pearson's chi-square test of independence, matching R's ``chisq.test``.
* :func:`g_test` -- the likelihood-ratio (G) test of independence.
* :func:`proportion_ci` -- Clopper-Pearson, Wilson (with or without continuity correction) and
  Jeffreys intervals, matching R's ``binom.test`` / ``prop.test``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special
from scipy.special import gammaln

from blincompass.stats._checks import check_alternative, check_conf_level
from blincompass.stats._dist import beta_ppf, chi2_sf, norm_ppf
from blincompass.stats._solve import brent_root

__all__ = [
    "ConfidenceInterval",
    "FisherExactResult",
    "Chi2TestResult",
    "ProportionCI",
    "fisher_exact",
    "GTestResult",
    "chi2_test",
    "g_test",
    "proportion_ci",
]

Alternative = Literal["two-sided", "less", "greater"]

#: R's ``fisher.test`` counts tables whose probability is at most ``d_obs * (1 + 1e-7)`` so that
#: tables tied in exact arithmetic are not lost to rounding; the same relative tolerance is used here.
_REL_ERR = 1.0 + 1e-7

#: R's r x c code (FEXACT, Mehta & Patel) compares log-probabilities with tolerance 3.45254e-7
#: ("the square root of the smallest relative spacing"); the same is used for r x c tables here.
_FEXACT_TOL = 3.45254e-07

try:  # Boost.Math's hypergeometric pmf, cdf and sf as scipy.special exposes them (see _Hypergeometric)
    from scipy.special._ufuncs import _hypergeom_cdf, _hypergeom_pmf, _hypergeom_sf

    _BOOST_HYPERGEOM: tuple[Any, Any, Any] | None = (_hypergeom_pmf, _hypergeom_cdf, _hypergeom_sf)
except ImportError:  # pragma: no cover - scipy without them: the own pmf is used
    _BOOST_HYPERGEOM = None

#: Upper limit on the work (partial tables examined) of the exact r x c enumeration.
_DEFAULT_MAX_WORK = 5_000_000


@dataclass(frozen=True)
class ConfidenceInterval:
    """A confidence interval ``[lower, upper]``."""

    lower: float
    upper: float


@dataclass(frozen=True)
class FisherExactResult:
    """Result of :func:`fisher_exact`.

    Attributes
    ----------
    pvalue : float
        Exact (or Monte Carlo) p-value.
    odds_ratio : float or None
        Conditional maximum-likelihood odds ratio (2x2 tables only).
    conf_int : ConfidenceInterval or None
        Exact conditional confidence interval of the odds ratio (2x2 tables only).
    alternative : str
        Alternative hypothesis (``"two-sided"`` for r x c tables).
    conf_level : float
        Confidence level of ``conf_int``.
    method : str
        ``"exact"`` or ``"monte-carlo"``.
    n_simulations : int or None
        Number of simulated tables ``B`` for the Monte Carlo p-value.
    shape : tuple of int
        Shape of the table.
    """

    pvalue: float
    odds_ratio: float | None
    conf_int: ConfidenceInterval | None
    alternative: str
    conf_level: float
    method: str
    n_simulations: int | None
    shape: tuple[int, int]


@dataclass(frozen=True)
class Chi2TestResult:
    """Result of :func:`chi2_test`.

    Attributes
    ----------
    statistic : float
        Pearson's X-squared (Yates-corrected for 2x2 tables when ``correction`` is true).
    df : int
        Degrees of freedom ``(r - 1)(c - 1)``.
    pvalue : float
        Upper tail of the chi-square distribution.
    expected : ndarray
        Expected counts under independence.
    residuals : ndarray
        Pearson residuals ``(O - E) / sqrt(E)``.
    stdres : ndarray
        Standardised residuals ``(O - E) / sqrt(E (1 - r_i/N)(1 - c_j/N))``.
    correction : bool
        Whether Yates' continuity correction was applied.
    low_expected : bool
        ``True`` when any expected count is below 5 (R: "Chi-squared approximation may be incorrect").
    """

    statistic: float
    df: int
    pvalue: float
    expected: NDArray[np.float64]
    residuals: NDArray[np.float64]
    stdres: NDArray[np.float64]
    correction: bool
    low_expected: bool


@dataclass(frozen=True)
class ProportionCI:
    """Result of :func:`proportion_ci`: ``estimate = x / n`` and the interval ``[lower, upper]``."""

    estimate: float
    lower: float
    upper: float
    method: str
    conf_level: float
    alternative: str
    x: int
    n: int


# ----------------------------------------------------------------------------------------- checks


def _as_count_table(table: ArrayLike, name: str = "table") -> NDArray[np.int64]:
    """Return a 2-D table of non-negative integer counts, at least 2x2, with no all-zero row/column."""
    try:
        arr = np.asarray(table, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: cannot be read as numbers ({exc})") from exc
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D table, got shape {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ValueError(f"{name}: needs at least 2 rows and 2 columns, got shape {arr.shape}")
    for label, bad in (
        ("non-finite", ~np.isfinite(arr)),
        ("negative", np.isfinite(arr) & (arr < 0)),
        ("non-integer", np.isfinite(arr) & (arr != np.round(arr))),
    ):
        if bad.any():
            i, j = (int(v) for v in np.argwhere(bad)[0])
            raise ValueError(f"{name}: {label} count {float(arr[i, j]):g} at row {i}, column {j}")
    counts = arr.astype(np.int64)
    for axis, label in ((1, "row"), (0, "column")):
        sums = counts.sum(axis=axis)
        if (sums == 0).any():
            k = int(np.flatnonzero(sums == 0)[0])
            raise ValueError(f"{name}: {label} {k} has all-zero counts (margin 0)")
    return counts


def _as_count(value: int | float, name: str) -> int:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: {value!r} is not a number") from exc
    if not math.isfinite(v) or v < 0 or v != round(v):
        raise ValueError(f"{name}: {value!r} is not a non-negative integer")
    return int(v)


# ----------------------------------------------------------------------------------------- Fisher


def fisher_exact(
    table: ArrayLike,
    alternative: Alternative = "two-sided",
    conf_level: float = 0.95,
    *,
    simulate_p_value: bool = False,
    B: int = 2000,
    seed: int | None = None,
    max_work: int = _DEFAULT_MAX_WORK,
    conf_int: bool = True,
) -> FisherExactResult:
    r"""Fisher's exact test of independence for a 2x2 or r x c table of counts.

    Conditional on both margins, the table has the (multivariate) hypergeometric distribution

    .. math:: P(\{n_{ij}\}) = \frac{\prod_i r_i!\,\prod_j c_j!}{N!\,\prod_{ij} n_{ij}!} .

    **2x2 tables.**  With ``x = n_11``, under odds ratio :math:`\psi` the conditional law of ``x`` is the
    non-central hypergeometric :math:`P_\psi(x) \propto \binom{c_1}{x}\binom{c_2}{r_1 - x}\psi^x`.
    One-sided p-values are :math:`P_1(X \le x)` (``"less"``) and :math:`P_1(X \ge x)` (``"greater"``);
    the two-sided p-value sums :math:`P_1(y)` over all ``y`` with :math:`P_1(y) \le P_1(x)(1 + \epsilon)`,
    the relative tolerance keeping tables tied in exact arithmetic (R: :math:`\epsilon = 10^{-7}`; here, as
    scipy, :math:`10^{-14}` with Boost's probabilities, accurate to ~1e-15 -- see :func:`_fisher_2x2_pvalue`).
    The estimate is the conditional MLE, solving :math:`E_\psi[X] = x` (0 at the lower end of the support,
    infinity at the upper end).  The confidence limits solve :math:`P_\psi(X \ge x) = \alpha` (lower)
    and :math:`P_\psi(X \le x) = \alpha` (upper) with :math:`\alpha = (1 - \text{conf\_level})/2` for
    two-sided and :math:`1 - \text{conf\_level}` for one-sided intervals (the other limit is 0 or
    infinity).  This is R's ``fisher.test``; the p-value is that of ``scipy.stats.fisher_exact`` (to the
    last bit, from the same Boost.Math hypergeometric probabilities, without importing ``scipy.stats``), and
    the estimate and interval follow ``scipy.stats.contingency.odds_ratio(kind="conditional")``; all agree
    with R on the committed fixtures (including zero cells).
    R finds the estimate and limits with ``uniroot`` at its default tolerance (~1.2e-4 absolute, on the
    scale of the odds ratio when it is below 1 and of its reciprocal otherwise), so R's printed values
    can differ from the exact solution in the fourth digit (more for large odds ratios); the values
    returned here are solved to full precision and equal R's when R is run with a tight tolerance.

    **r x c tables.**  Only ``alternative="two-sided"``: the p-value is the total probability of the
    tables with the observed margins whose probability does not exceed that of the observed table
    (tolerance :math:`3.45 \cdot 10^{-7}` on the log scale, as R's FEXACT).  It is computed exactly by
    a column-by-column enumeration that merges equivalent partial tables and prunes sub-trees that lie
    entirely inside or outside the critical region (the idea of Mehta & Patel's network algorithm, with
    simpler bounds).  When this would take more than ``max_work`` steps a ``ValueError`` suggests
    ``simulate_p_value=True``, which
    draws ``B`` tables with the observed margins (Patefield's algorithm, ``scipy.stats.random_table``)
    and returns :math:`(1 + \#\{P(\text{sim}) \le P(\text{obs})\})/(B + 1)` as R does.

    Parameters
    ----------
    table : array_like
        Table of non-negative integer counts, at least 2x2, no all-zero row or column.
    alternative : {"two-sided", "less", "greater"}
        Alternative hypothesis for the odds ratio of a 2x2 table (``"less"``: odds ratio < 1).
    conf_level : float
        Confidence level of the odds-ratio interval (2x2 only).
    simulate_p_value : bool
        Monte Carlo p-value instead of the exact one (r x c tables larger than 2x2 only; like R).
    B : int
        Number of simulated tables.
    seed : int, optional
        Seed of the random generator (same seed, same p-value).
    max_work : int
        Limit on the enumeration work for exact r x c p-values.
    conf_int : bool
        Compute the odds-ratio interval of a 2x2 table (default). ``False`` leaves ``conf_int`` empty: the
        interval's root finding costs seconds for tables of tens of thousands, the p-value milliseconds.

    Returns
    -------
    FisherExactResult

    References
    ----------
    Fisher RA (1935). The logic of inductive inference. JRSS 98:39-82.
    Agresti A (2002). *Categorical Data Analysis*, 2nd ed., sections 3.5.1-3.5.7. Wiley.
    Mehta CR, Patel NR (1983). A network algorithm for performing Fisher's exact test in r x c
    contingency tables. JASA 78:427-434.
    Patefield WM (1981). Algorithm AS 159. Applied Statistics 30:91-97.
    """
    counts = _as_count_table(table)
    check_alternative(alternative)
    conf_level = check_conf_level(conf_level)
    shape = (int(counts.shape[0]), int(counts.shape[1]))
    if counts.shape == (2, 2):
        pvalue = _fisher_2x2_pvalue(counts, alternative)
        estimate, ci = _conditional_odds_ratio(counts, alternative, conf_level, conf_int)
        return FisherExactResult(
            pvalue=min(1.0, max(0.0, pvalue)),
            odds_ratio=estimate,
            conf_int=ci,
            alternative=alternative,
            conf_level=conf_level,
            method="exact",
            n_simulations=None,
            shape=shape,
        )
    if alternative != "two-sided":
        raise ValueError(f"alternative: {alternative!r} is only defined for 2x2 tables, table is {shape}")
    if simulate_p_value:
        if int(B) < 1:
            raise ValueError(f"B: {B!r} must be a positive integer")
        pvalue = _fisher_monte_carlo(counts, int(B), seed)
        method, nsim = "monte-carlo", int(B)
    else:
        pvalue = _fisher_rxc_exact(counts, max_work)
        method, nsim = "exact", None
    return FisherExactResult(
        pvalue=min(1.0, max(0.0, pvalue)),
        odds_ratio=None,
        conf_int=None,
        alternative=alternative,
        conf_level=conf_level,
        method=method,
        n_simulations=nsim,
        shape=shape,
    )


class _Hypergeometric:
    r"""Central hypergeometric law: the number ``k`` of marked items among ``N`` drawn without replacement from
    ``M`` items of which ``n`` are marked, :math:`P(k) = \binom{n}{k}\binom{M - n}{N - k} / \binom{M}{N}` on
    :math:`\max(0, N - M + n) \le k \le \min(n, N)` (0 outside; the distribution function is 0 below and 1
    above the support, as ``scipy.stats.hypergeom``).

    The probabilities come from Boost.Math's hypergeometric functions, which ``scipy.special`` exposes as
    ``_hypergeom_pmf``, ``_hypergeom_cdf`` and ``_hypergeom_sf`` and ``scipy.stats.hypergeom`` evaluates, so
    that the p-values are those of ``scipy.stats.fisher_exact`` to the last bit without importing
    ``scipy.stats`` (~0.5 s). Where a scipy lacks them, :meth:`_own_pmf` gives the same values to ~1e-12
    (relative): the pmf over the whole support from the ratio
    :math:`P(k + 1)/P(k) = (n - k)(N - k) / ((k + 1)(M - n - N + k + 1))`, multiplied outward from the mode
    and normalised; tails are summed exactly (``math.fsum``).
    """

    def __init__(self, M: int, n: int, N: int, *, own: bool = False) -> None:
        self.M, self.n, self.N = M, n, N
        self.lo, self.hi = max(0, N - (M - n)), min(n, N)
        self._boost = None if own else _BOOST_HYPERGEOM
        if self._boost is None:
            self._p = self._own_pmf()

    def _own_pmf(self) -> NDArray[np.float64]:
        M, n, N, lo, hi = self.M, self.n, self.N, self.lo, self.hi
        mode = min(max((n + 1) * (N + 1) // (M + 2), lo), hi)
        # products of the ratios outward from the mode (weight 1): each step one rounding, no overflow,
        # underflow only where the probability is below 1e-308 of the mode's; numerators and denominators
        # are exact integers in double precision below 2**53
        up = np.arange(mode, hi, dtype=np.float64)
        w_up = np.cumprod(((n - up) * (N - up)) / ((up + 1.0) * (M - n - N + up + 1.0)))
        down = np.arange(mode, lo, -1, dtype=np.float64)
        w_down = np.cumprod((down * (M - n - N + down)) / ((n - down + 1.0) * (N - down + 1.0)))
        w = np.concatenate([w_down[::-1], [1.0], w_up])
        return w / math.fsum(w)

    def pmf(self, k: int) -> float:
        if not self.lo <= k <= self.hi:
            return 0.0
        if self._boost is not None:
            return float(self._boost[0](k, self.n, self.N, self.M))
        return float(self._p[k - self.lo])

    def cdf(self, k: int) -> float:
        r""":math:`P(X \le k)`."""
        if k < self.lo:
            return 0.0
        if k >= self.hi:
            return 1.0
        if self._boost is not None:
            return float(self._boost[1](k, self.n, self.N, self.M))
        return math.fsum(self._p[: k - self.lo + 1])

    def sf(self, k: int) -> float:
        r""":math:`P(X > k)`."""
        if k < self.lo:
            return 1.0
        if k >= self.hi:
            return 0.0
        if self._boost is not None:
            return float(self._boost[2](k, self.n, self.N, self.M))
        return math.fsum(self._p[k - self.lo + 1:])


def _last_at_least(fun: Callable[[int], float], d: float, lo: int, hi: int) -> int:
    """Binary search for ``i`` in ``[lo, hi]`` with ``fun(i) <= d < fun(i + 1)``, ``fun`` non-decreasing
    (``lo - 1`` when ``d < fun(lo)``)."""
    while lo < hi:
        mid = lo + (hi - lo) // 2
        v = fun(mid)
        if v < d:
            lo = mid + 1
        elif v > d:
            hi = mid - 1
        else:
            return mid
    return lo if fun(lo) <= d else lo - 1


def _fisher_2x2_pvalue(counts: NDArray[np.int64], alternative: str, *, own: bool = False) -> float:
    r"""p-value of Fisher's exact test of a 2x2 table (no empty row or column), as
    ``scipy.stats.fisher_exact``.

    With ``x = n_11``, :math:`X \sim` hypergeometric (``M = N``, ``n = r_1``, ``N = c_1``):
    ``"less"`` :math:`P(X \le x)`, ``"greater"`` :math:`P(X \ge x)`; ``"two-sided"`` sums the tables at most
    as probable as the observed one: all of the observed side of the mode beyond ``x`` (the tail
    :math:`P(X \le x)` or :math:`P(X \ge x)`) plus the tail of the other side where
    :math:`P(y) < P(x)(1 + 10^{-14})` (found by binary search, the pmf being unimodal); it is 1 when ``x`` is
    (numerically) the mode. The relative tolerance keeps tables tied in exact arithmetic in the sum (R's
    ``fisher.test`` uses :math:`10^{-7}`, as does the own pmf of :class:`_Hypergeometric`, whose ties agree
    to ~1e-13 only; the sets of tables differ only for probabilities within 1e-7 of each other that are not
    tied in exact arithmetic).
    """
    c = counts
    n1 = int(c[0, 0] + c[0, 1])
    n2 = int(c[1, 0] + c[1, 1])
    n = int(c[0, 0] + c[1, 0])
    x = int(c[0, 0])
    if alternative == "less":
        return min(_Hypergeometric(n1 + n2, n1, n, own=own).cdf(x), 1.0)
    if alternative == "greater":
        # the upper tail of x as the lower tail of n_12 (the second column)
        y = int(c[0, 1])
        return min(_Hypergeometric(n1 + n2, n1, y + int(c[1, 1]), own=own).cdf(y), 1.0)
    hg = _Hypergeometric(n1 + n2, n1, n, own=own)
    mode = int((n + 1) * (n1 + 1) / (n1 + n2 + 2))
    pexact = hg.pmf(x)
    pmode = hg.pmf(mode)
    # Boost's probabilities of tables tied in exact arithmetic agree to ~1e-15 (scipy's tolerance 1e-14);
    # the own pmf's to ~1e-13, so it takes R's tolerance 1e-7 (``_REL_ERR``)
    epsilon = 1e-14 if hg._boost is not None else _REL_ERR - 1.0
    gamma = 1 + epsilon
    if abs(pexact - pmode) / max(pexact, pmode) <= epsilon:
        return 1.0
    if x < mode:
        plower = hg.cdf(x)
        if hg.pmf(n) > pexact * gamma:
            return min(plower, 1.0)
        guess = _last_at_least(lambda k: -hg.pmf(k), -pexact * gamma, mode, n)
        return min(plower + hg.sf(guess), 1.0)
    pupper = hg.sf(x - 1)
    if hg.pmf(0) > pexact * gamma:
        return min(pupper, 1.0)
    guess = _last_at_least(hg.pmf, pexact * gamma, 0, mode)
    return min(pupper + hg.cdf(guess), 1.0)


class _NonCentralHypergeometric:
    r"""Fisher's non-central hypergeometric law of ``x = n_11`` given the margins of a 2x2 table, held on
    its whole support so that a mean or a tail for one odds ratio is a few array operations.

    :math:`P_\psi(x) = \binom{c_1}{x}\binom{N - c_1}{r_1 - x}\psi^x / \sum_y \binom{c_1}{y}
    \binom{N - c_1}{r_1 - y}\psi^y` for :math:`\max(0, r_1 + c_1 - N) \le x \le \min(r_1, c_1)`.

    Written here because ``scipy.stats.nchypergeom_fisher`` evaluates its mean and tails through a
    Python-level call per support point: the conditional interval of a table of a few thousand
    patients took about 0.05 s per table that way, a few milliseconds this way.
    """

    def __init__(self, counts: NDArray[np.int64]) -> None:
        r1 = int(counts[0].sum())
        c1 = int(counts[:, 0].sum())
        n = int(counts.sum())
        self.lo, self.hi = max(0, r1 + c1 - n), min(r1, c1)
        self.x = np.arange(self.lo, self.hi + 1, dtype=np.float64)
        x = self.x
        self.log_w = (gammaln(c1 + 1.0) - gammaln(x + 1.0) - gammaln(c1 - x + 1.0)
                      + gammaln(n - c1 + 1.0) - gammaln(r1 - x + 1.0) - gammaln(n - c1 - r1 + x + 1.0))

    def pmf(self, log_psi: float) -> NDArray[np.float64]:
        log_p = self.log_w + self.x * log_psi
        p = np.exp(log_p - log_p.max())
        return p / p.sum()

    def mean(self, log_psi: float) -> float:
        return float(self.pmf(log_psi) @ self.x)

    def cdf(self, x: int, log_psi: float) -> float:
        r""":math:`P_\psi(X \le x)`."""
        return float(self.pmf(log_psi)[: x - self.lo + 1].sum())

    def sf(self, x: int, log_psi: float) -> float:
        r""":math:`P_\psi(X \ge x)`."""
        return float(self.pmf(log_psi)[x - self.lo:].sum())


def _solve_log_psi(fun: Callable[[float], float]) -> float:
    r"""The odds ratio :math:`\psi` where the increasing function ``fun`` of :math:`\log\psi` crosses 0:
    bracketed by doubling steps from :math:`\psi = 1`, then Brent's method to full double precision."""
    f0 = fun(0.0)
    if f0 == 0.0:
        return 1.0
    step = -1.0 if f0 > 0 else 1.0
    a, b = 0.0, step
    while (fun(b) > 0) == (f0 > 0):
        a, b = b, 2.0 * b
        if abs(b) > 1e4:  # pragma: no cover - the support's ends are handled before any solving
            raise ArithmeticError("odds ratio out of range")
    lo, hi = (a, b) if a < b else (b, a)
    return math.exp(brent_root(fun, lo, hi, xtol=1e-15, rtol=8.9e-16, maxiter=500))


def _conditional_odds_ratio(
    counts: NDArray[np.int64], alternative: Alternative, conf_level: float, conf_int: bool,
) -> tuple[float, ConfidenceInterval | None]:
    """Conditional MLE of the odds ratio of a 2x2 table and its exact interval (definitions in
    :func:`fisher_exact`; the same as R's ``fisher.test`` and ``scipy.stats.contingency.odds_ratio``).
    A table with an empty row or column has an undefined estimate (NaN) and the interval (0, inf)."""
    if (counts.sum(axis=0) == 0).any() or (counts.sum(axis=1) == 0).any():
        return math.nan, (ConfidenceInterval(0.0, math.inf) if conf_int else None)
    law = _NonCentralHypergeometric(counts)
    x = int(counts[0, 0])
    if x == law.lo:
        estimate = 0.0
    elif x == law.hi:
        estimate = math.inf
    else:
        estimate = _solve_log_psi(lambda t: law.mean(t) - x)
    if not conf_int:
        return estimate, None

    def lower(alpha: float) -> float:
        return 0.0 if x == law.lo else _solve_log_psi(lambda t: law.sf(x, t) - alpha)

    def upper(alpha: float) -> float:
        return math.inf if x == law.hi else _solve_log_psi(lambda t: alpha - law.cdf(x, t))

    if alternative == "two-sided":
        alpha = (1.0 - conf_level) / 2.0
        return estimate, ConfidenceInterval(lower(alpha), upper(alpha))
    if alternative == "less":
        return estimate, ConfidenceInterval(0.0, upper(1.0 - conf_level))
    return estimate, ConfidenceInterval(lower(1.0 - conf_level), math.inf)


def _fisher_monte_carlo(counts: NDArray[np.int64], B: int, seed: int | None) -> float:
    # Statistic -sum(log n_ij!) as R; R compares with STATISTIC / (1 + 64 eps) to allow for rounding.
    from scipy import stats as sps  # here, not at module level: importing scipy.stats costs ~0.5 s

    stat_obs = -float(gammaln(counts + 1.0).sum())
    dist = sps.random_table(counts.sum(axis=1), counts.sum(axis=0), seed=np.random.default_rng(seed))
    sims = dist.rvs(size=B)
    stat_sim = -gammaln(sims + 1.0).sum(axis=(1, 2))
    almost_one = 1.0 + 64.0 * np.finfo(float).eps
    return float((1 + np.count_nonzero(stat_sim <= stat_obs / almost_one)) / (B + 1))


@lru_cache(maxsize=16384)
def _compositions(total: int, caps: tuple[int, ...]) -> NDArray[np.int64]:
    """All vectors ``n`` with ``sum(n) == total`` and ``0 <= n_i <= caps_i`` (rows of the result)."""
    if len(caps) == 1:
        if total <= caps[0]:
            return np.array([[total]], dtype=np.int64)
        return np.empty((0, 1), dtype=np.int64)
    rest_cap = sum(caps[1:])
    blocks = []
    for first in range(max(0, total - rest_cap), min(caps[0], total) + 1):
        tail = _compositions(total - first, caps[1:])
        if tail.shape[0]:
            blocks.append(np.column_stack([np.full(tail.shape[0], first, dtype=np.int64), tail]))
    if not blocks:
        return np.empty((0, len(caps)), dtype=np.int64)
    return np.vstack(blocks)


def _lfact_sum(v: NDArray[np.int64] | list[int] | tuple[int, ...]) -> float:
    return float(gammaln(np.asarray(v, dtype=np.float64) + 1.0).sum())


def _spread_max(total: int, caps: tuple[int, ...]) -> float:
    """max of -sum log n_i! subject to sum n_i = total, 0 <= n_i <= caps_i (water-filling)."""
    capsa = np.asarray(caps, dtype=np.int64)
    # level L: the largest integer with sum(min(caps, L)) <= total; the remaining units go one each to
    # rows whose capacity exceeds L
    lo, hi = 0, int(capsa.max())
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if np.minimum(capsa, mid).sum() <= total:
            lo = mid
        else:
            hi = mid - 1
    n = np.minimum(capsa, lo)
    extra = total - int(n.sum())
    if extra > 0:
        idx = np.flatnonzero(capsa > lo)[:extra]
        n[idx] += 1
    return -_lfact_sum(n)


def _concentrate_min(total: int, caps: tuple[int, ...]) -> float:
    """min of -sum log n_i! subject to sum n_i = total, 0 <= n_i <= caps_i (greedy, largest first)."""
    left = total
    n = []
    for cap in sorted(caps, reverse=True):
        take = min(cap, left)
        n.append(take)
        left -= take
    return -_lfact_sum(n)


def _fisher_rxc_exact(counts: NDArray[np.int64], max_work: int) -> float:
    try:
        return _fisher_rxc_enumerate(counts, max_work)
    finally:
        _compositions.cache_clear()  # the cached arrays are specific to this table's margins


def _fisher_rxc_enumerate(counts: NDArray[np.int64], max_work: int) -> float:
    # Own implementation: neither scipy nor statsmodels offers Fisher's exact test beyond 2x2.
    # Stage j distributes column j over the remaining row totals.  A node is the multiset of
    # remaining row totals (sorted tuple: the future does not depend on the row order); each node keeps
    # the distinct "past" values sum(-log n_ij!) reached so far with their multiplicities.
    if counts.shape[0] > counts.shape[1]:
        counts = counts.T
    rows = counts.sum(axis=1)
    cols = np.sort(counts.sum(axis=0))  # the largest column is last and is then fully determined
    n_total = int(rows.sum())
    const = _lfact_sum(rows) + _lfact_sum(cols) - float(gammaln(n_total + 1.0))
    obs = -_lfact_sum(counts.ravel())
    tol = _FEXACT_TOL
    ncols = cols.size
    col_t = tuple(int(c) for c in cols)
    lf_cols_suffix = [_lfact_sum(col_t[j:]) for j in range(ncols + 1)]

    bound_cache: dict[tuple[int, tuple[int, ...]], tuple[float, float]] = {}

    def bounds(j: int, node: tuple[int, ...]) -> tuple[float, float]:
        key = (j, node)
        if key not in bound_cache:
            rem = col_t[j:]
            hi_c = sum(_spread_max(c, node) for c in rem)
            hi_r = sum(_spread_max(r, rem) for r in node if r > 0)
            lo_c = sum(_concentrate_min(c, node) for c in rem)
            lo_r = sum(_concentrate_min(r, rem) for r in node if r > 0)
            bound_cache[key] = (max(lo_c, lo_r), min(hi_c, hi_r))
        return bound_cache[key]

    def log_all(j: int, node: tuple[int, ...]) -> float:
        # log of sum over all completions of prod 1/n_ij! = N_rem! / (prod R_i! prod_{j'>=j} c_j'!)
        return float(gammaln(sum(node) + 1.0)) - _lfact_sum(node) - lf_cols_suffix[j]

    accepted: list[float] = []  # log of accepted mass (before the constant)
    thr = obs + tol
    # level: node -> (distinct past values, multiplicities)
    level: dict[tuple[int, ...], tuple[NDArray[np.float64], NDArray[np.float64]]] = {
        tuple(sorted(int(r) for r in rows)): (np.zeros(1), np.ones(1))
    }
    work = 0
    for j in range(ncols):
        child_ids: dict[tuple[int, ...], int] = {}
        ids_parts: list[NDArray[np.int64]] = []
        val_parts: list[NDArray[np.float64]] = []
        mult_parts: list[NDArray[np.float64]] = []
        for node, (vals, mults) in level.items():
            fmin, fmax = bounds(j, node)
            acc = vals + fmax <= thr
            if acc.any():
                v, m = vals[acc], mults[acc]
                top = float(v.max())
                accepted.append(top + math.log(float((m * np.exp(v - top)).sum())) + log_all(j, node))
            keep = ~acc & (vals + fmin <= thr)
            if not keep.any():
                continue
            vals, mults = vals[keep], mults[keep]
            comps = _compositions(col_t[j], node)
            if j == ncols - 2:
                # two columns left: the last one is determined, so the complete futures of this node are
                # known; add, for every past value at once, the mass of the futures below its threshold
                # (sorted futures and a cumulative sum instead of all past x future pairs)
                last = np.asarray(node, dtype=np.int64) - comps
                fut = np.sort(-gammaln(comps + 1.0).sum(axis=1) - gammaln(last + 1.0).sum(axis=1))
                ftop = float(fut[-1])
                cum = np.concatenate([[0.0], np.cumsum(np.exp(fut - ftop))])
                mass = cum[np.searchsorted(fut, thr - vals, side="right")]
                ok = mass > 0
                if ok.any():
                    lv = vals[ok] + np.log(mults[ok]) + np.log(mass[ok])
                    top = float(lv.max())
                    accepted.append(top + ftop + math.log(float(np.exp(lv - top).sum())))
                work += comps.shape[0] + vals.size
                continue
            work += comps.shape[0] * vals.size
            if work > max_work:
                r, c = counts.shape
                raise ValueError(
                    f"table: exact enumeration for this {r}x{c} table (N={n_total}) exceeds the work "
                    f"limit of {max_work} partial tables; use simulate_p_value=True (Monte Carlo) "
                    "or raise max_work"
                )
            contrib = -gammaln(comps + 1.0).sum(axis=1)
            new_nodes = np.sort(np.asarray(node, dtype=np.int64) - comps, axis=1)
            ids = np.fromiter(
                (child_ids.setdefault(tuple(row), len(child_ids)) for row in new_nodes.tolist()),
                dtype=np.int64,
                count=new_nodes.shape[0],
            )
            ids_parts.append(np.repeat(ids, vals.size))
            val_parts.append((contrib[:, None] + vals[None, :]).ravel())
            mult_parts.append(np.tile(mults, comps.shape[0]))
        level = {}
        if not ids_parts:
            break
        ids_all = np.concatenate(ids_parts)
        val_all = np.concatenate(val_parts)
        mult_all = np.concatenate(mult_parts)
        # merge equal (node, past) pairs; pasts equal up to rounding share a key
        key_all = np.round(val_all * 1e9).astype(np.int64)
        order = np.lexsort((key_all, ids_all))
        ids_s, key_s = ids_all[order], key_all[order]
        first = np.ones(order.size, dtype=bool)
        first[1:] = (ids_s[1:] != ids_s[:-1]) | (key_s[1:] != key_s[:-1])
        starts = np.flatnonzero(first)
        m_merged = np.add.reduceat(mult_all[order], starts)
        v_merged = val_all[order][starts]
        id_merged = ids_s[starts]
        bounds_id = np.flatnonzero(np.r_[True, id_merged[1:] != id_merged[:-1], True])
        nodes_by_id = list(child_ids)
        for a, b in zip(bounds_id[:-1], bounds_id[1:], strict=True):
            level[nodes_by_id[int(id_merged[a])]] = (v_merged[a:b], m_merged[a:b])
    # after the last column every node is all zeros: remaining pasts are complete tables
    for vals, mults in level.values():
        ok = vals <= thr
        if ok.any():
            v, m = vals[ok], mults[ok]
            top = float(v.max())
            accepted.append(top + math.log(float((m * np.exp(v - top)).sum())))
    if not accepted:
        return 0.0
    return float(np.exp(const + np.asarray(accepted)).sum())


# ----------------------------------------------------------------------------------------- chi-square


def chi2_test(table: ArrayLike, correction: bool = True) -> Chi2TestResult:
    r"""Pearson's chi-square test of independence for an r x c table, as R's ``chisq.test``.

    .. math:: X^2 = \sum_{ij} \frac{(|O_{ij} - E_{ij}| - Y)^2}{E_{ij}}, \qquad
              E_{ij} = \frac{r_i c_j}{N}, \qquad df = (r - 1)(c - 1),

    with Yates' correction :math:`Y = \min(0.5, \min_{ij}|O_{ij} - E_{ij}|)` for 2x2 tables when
    ``correction`` is true (``Y = 0`` otherwise).  The p-value is the upper tail of
    :math:`\chi^2_{df}`.  ``low_expected`` flags expected counts below 5, where the approximation may be
    poor (consider :func:`fisher_exact`).

    References
    ----------
    Pearson K (1900). Philosophical Magazine 50:157-175.
    Yates F (1934). Contingency tables involving small numbers and the chi-squared test.
    Supplement to JRSS 1:217-235.
    Agresti A (2002). *Categorical Data Analysis*, 2nd ed., section 3.2. Wiley.
    """
    counts = _as_count_table(table).astype(np.float64)
    n = counts.sum()
    sr = counts.sum(axis=1)
    sc = counts.sum(axis=0)
    expected = np.outer(sr, sc) / n
    apply_yates = bool(correction) and counts.shape == (2, 2)
    yates = min(0.5, float(np.abs(counts - expected).min())) if apply_yates else 0.0
    statistic = float(((np.abs(counts - expected) - yates) ** 2 / expected).sum())
    df = (counts.shape[0] - 1) * (counts.shape[1] - 1)
    pvalue = float(chi2_sf(statistic, df))
    residuals = (counts - expected) / np.sqrt(expected)
    stdres = (counts - expected) / np.sqrt(expected * np.outer(1 - sr / n, 1 - sc / n))
    return Chi2TestResult(
        statistic=statistic,
        df=int(df),
        pvalue=pvalue,
        expected=expected,
        residuals=residuals,
        stdres=stdres,
        correction=apply_yates,
        low_expected=bool((expected < 5).any()),
    )


@dataclass(frozen=True)
class GTestResult:
    """Result of :func:`g_test`: the likelihood-ratio statistic ``G``, its degrees of freedom, the upper-tail
    chi-square p-value and the expected counts."""

    statistic: float
    df: int
    pvalue: float
    expected: NDArray[np.float64]


def g_test(table: ArrayLike) -> GTestResult:
    r"""Likelihood-ratio (G) test of independence for an r x c table (SPSS's "Likelihood Ratio" row).

    .. math:: G = 2 \sum_{ij} O_{ij} \ln\frac{O_{ij}}{E_{ij}}, \qquad E_{ij} = \frac{r_i c_j}{N},
              \qquad df = (r - 1)(c - 1),

    (empty cells add 0), without continuity correction; the p-value is the upper tail of
    :math:`\chi^2_{df}`. The same arithmetic as ``scipy.stats.chi2_contingency(table, correction=False,
    lambda_="log-likelihood")``, so the same values to the last bit.

    References
    ----------
    Woolf B (1957). The log likelihood ratio test (the G-test). Annals of Human Genetics 21:397-409.
    Agresti A (2002). *Categorical Data Analysis*, 2nd ed., section 3.2.1. Wiley.
    """
    counts = _as_count_table(table).astype(np.float64)
    expected = counts.sum(axis=1, keepdims=True) * counts.sum(axis=0, keepdims=True) / counts.sum()
    df = (counts.shape[0] - 1) * (counts.shape[1] - 1)
    statistic = float((2.0 * special.xlogy(counts, counts / expected)).sum())
    return GTestResult(statistic=statistic, df=int(df), pvalue=float(chi2_sf(statistic, float(df))),
                       expected=expected)


# ----------------------------------------------------------------------------------------- proportions

_PROP_METHODS = ("clopper-pearson", "wilson", "wilson-cc", "jeffreys")


def proportion_ci(
    x: int,
    n: int,
    method: Literal["clopper-pearson", "wilson", "wilson-cc", "jeffreys"] = "clopper-pearson",
    conf_level: float = 0.95,
    alternative: Alternative = "two-sided",
) -> ProportionCI:
    r"""Confidence interval for a binomial proportion ``x / n``.

    With :math:`\alpha = 1 - \text{conf\_level}` split as :math:`\alpha/2` per side for two-sided
    intervals (one-sided: ``"less"`` gives ``[0, upper]``, ``"greater"`` gives ``[lower, 1]`` with
    :math:`\alpha` on the one side):

    ``"clopper-pearson"`` (exact, R ``binom.test``):
        :math:`L = B^{-1}(\alpha/2;\, x, n - x + 1)`, :math:`U = B^{-1}(1 - \alpha/2;\, x + 1, n - x)`,
        with :math:`L = 0` if ``x = 0`` and :math:`U = 1` if ``x = n``.
    ``"wilson"`` (score interval, R ``prop.test(correct=FALSE)``):
        :math:`\left(\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}\right)
        \big/ \left(1 + \frac{z^2}{n}\right)`.
    ``"wilson-cc"`` (R ``prop.test(correct=TRUE)`` with its default null ``p = 0.5``):
        as Wilson with :math:`\hat p` replaced by :math:`\hat p \pm Y/n` (upper/lower),
        :math:`Y = \min(0.5, |x - n/2|)`; a limit is 1 (0) when :math:`\hat p + Y/n \ge 1`
        (:math:`\hat p - Y/n \le 0`).
    ``"jeffreys"`` (equal-tailed Bayesian interval under the Beta(1/2, 1/2) prior):
        quantiles of Beta(x + 1/2, n - x + 1/2), with the usual boundary convention of Brown, Cai &
        DasGupta: :math:`L = 0` when ``x = 0`` and :math:`U = 1` when ``x = n``.

    References
    ----------
    Clopper CJ, Pearson ES (1934). Biometrika 26:404-413.
    Wilson EB (1927). JASA 22:209-212.
    Newcombe RG (1998). Two-sided confidence intervals for the single proportion: comparison of seven
    methods. Statistics in Medicine 17:857-872.
    Brown LD, Cai TT, DasGupta A (2001). Interval estimation for a binomial proportion.
    Statistical Science 16:101-133.
    """
    xi = _as_count(x, "x")
    ni = _as_count(n, "n")
    if ni == 0:
        raise ValueError("n: must be at least 1, got 0")
    if xi > ni:
        raise ValueError(f"x: {x!r} exceeds n = {n!r}")
    if method not in _PROP_METHODS:
        raise ValueError(f"method: {method!r} is not one of {', '.join(_PROP_METHODS)}")
    check_alternative(alternative)
    conf_level = check_conf_level(conf_level)
    alpha = (1.0 - conf_level) / 2.0 if alternative == "two-sided" else 1.0 - conf_level
    est = xi / ni
    if method == "clopper-pearson":
        lower = 0.0 if xi == 0 else float(beta_ppf(alpha, xi, ni - xi + 1))
        upper = 1.0 if xi == ni else float(beta_ppf(1.0 - alpha, xi + 1, ni - xi))
    elif method == "jeffreys":
        lower = 0.0 if xi == 0 else float(beta_ppf(alpha, xi + 0.5, ni - xi + 0.5))
        upper = 1.0 if xi == ni else float(beta_ppf(1.0 - alpha, xi + 0.5, ni - xi + 0.5))
    else:
        # Written out (not statsmodels' proportion_confint) to follow prop.test exactly, including the
        # continuity-corrected variant and its clipping at 0 and 1.
        z = float(norm_ppf(1.0 - alpha))
        yates = min(0.5, abs(xi - ni * 0.5)) if method == "wilson-cc" else 0.0
        z22n = z * z / (2.0 * ni)
        pc = est + yates / ni
        upper = 1.0 if pc >= 1 else (pc + z22n + z * math.sqrt(pc * (1 - pc) / ni + z22n / (2 * ni))) / (
            1 + 2 * z22n
        )
        pc = est - yates / ni
        lower = 0.0 if pc <= 0 else (pc + z22n - z * math.sqrt(pc * (1 - pc) / ni + z22n / (2 * ni))) / (
            1 + 2 * z22n
        )
        lower, upper = max(lower, 0.0), min(upper, 1.0)
    if alternative == "less":
        lower = 0.0
    elif alternative == "greater":
        upper = 1.0
    return ProportionCI(
        estimate=est,
        lower=lower,
        upper=upper,
        method=method,
        conf_level=conf_level,
        alternative=alternative,
        x=xi,
        n=ni,
    )
