"""Tests comparing groups of patients on one characteristic, as a descriptive table (Table 1 by group) uses.

* :func:`rank_sum_test` -- Wilcoxon rank-sum (Mann-Whitney) test of two samples, as R's ``wilcox.test``.
* :func:`kruskal_wallis_test` -- Kruskal-Wallis test of k samples, as R's ``kruskal.test``.
* :func:`compare_categorical` -- a count table (categories x groups): Pearson's chi-square test without
  continuity correction when every expected count is at least 5, otherwise Fisher's exact test.
* :func:`compare_continuous` -- k samples: the rank-sum test for two, Kruskal-Wallis for more.

The functions take arrays and count tables; they know nothing about studies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from blincompass.stats._checks import check_alternative
from blincompass.stats.exact import _as_count_table, chi2_test, fisher_exact

__all__ = [
    "GroupComparison",
    "KruskalWallisResult",
    "RankSumResult",
    "compare_categorical",
    "compare_continuous",
    "kruskal_wallis_test",
    "rank_sum_test",
]

Alternative = Literal["two-sided", "less", "greater"]

#: Below this many observations in each sample (and without ties) R's ``wilcox.test`` computes the exact
#: p-value by default.
_EXACT_BELOW = 50


@dataclass(frozen=True)
class RankSumResult:
    """Result of :func:`rank_sum_test`.

    Attributes
    ----------
    statistic : float
        R's ``W``: the sum of the ranks of ``x`` minus :math:`n_x(n_x + 1)/2` (the Mann-Whitney ``U`` of x).
    pvalue : float
    method : {"exact", "normal"}
        Exact null distribution of ``W``, or the normal approximation (with tie correction).
    correction : bool
        Whether the continuity correction was applied (normal approximation only).
    ties : bool
        Whether the pooled sample has ties.
    n : tuple of int
        Sizes of ``x`` and ``y`` (missing values removed).
    alternative : str
    """

    statistic: float
    pvalue: float
    method: str
    correction: bool
    ties: bool
    n: tuple[int, int]
    alternative: str


@dataclass(frozen=True)
class KruskalWallisResult:
    """Result of :func:`kruskal_wallis_test`: the tie-corrected statistic ``H``, its degrees of freedom
    (k - 1), the upper-tail chi-square p-value and the sample sizes."""

    statistic: float
    df: int
    pvalue: float
    n: tuple[int, ...]


@dataclass(frozen=True)
class GroupComparison:
    """The test a descriptive table reports for one characteristic.

    Attributes
    ----------
    test : {"chi-square", "fisher", "rank-sum", "kruskal-wallis"}
    pvalue : float
        Two-sided p-value.
    statistic : float or None
        Chi-square, W or H; ``None`` for Fisher's test.
    df : int or None
        Degrees of freedom of a chi-square statistic (chi-square and Kruskal-Wallis tests).
    method : str
        "asymptotic" (chi-square, Kruskal-Wallis), "exact" or "monte-carlo" (Fisher), "exact" or "normal"
        (rank-sum).
    min_expected : float or None
        Smallest expected count of a categorical comparison (what chose the test).
    """

    test: str
    pvalue: float
    statistic: float | None
    df: int | None
    method: str
    min_expected: float | None = None


def _sample(values: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        arr = np.asarray(values, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{name}: values must be numbers") from None
    if np.isinf(arr).any():
        raise ValueError(f"{name}: infinite values are not allowed")
    return arr[~np.isnan(arr)]


def rank_sum_test(x: ArrayLike, y: ArrayLike, alternative: Alternative = "two-sided", *,
                  exact: bool | None = None, correct: bool = True) -> RankSumResult:
    r"""Wilcoxon rank-sum test of two independent samples, with R's ``wilcox.test`` defaults.

    With :math:`R_x` the sum of the ranks of ``x`` in the pooled sample (mid-ranks for ties), the statistic
    is :math:`W = R_x - n_x(n_x + 1)/2`, the number of pairs with :math:`x_i > y_j` (ties counting 1/2).

    * **Exact** (default when both samples have fewer than 50 values and there are no ties, as in R): the
      p-value comes from the exact null distribution of ``W``; two-sided
      :math:`p = \min(1, 2\min(P(W \le w), P(W \ge w)))`.
    * **Normal approximation** (otherwise): :math:`z = (W - n_x n_y / 2 - c)/\sigma` with
      :math:`\sigma^2 = \frac{n_x n_y}{12}\left(n_x + n_y + 1 - \frac{\sum_k (t_k^3 - t_k)}{(n_x + n_y)
      (n_x + n_y - 1)}\right)` (:math:`t_k` the sizes of the tie groups) and the continuity correction
      :math:`c = \operatorname{sign}(W - n_x n_y/2)/2` for two-sided tests (:math:`\pm 1/2` for one-sided
      ones) when ``correct`` (R's default ``correct = TRUE``).

    The same values as ``scipy.stats.mannwhitneyu`` (``method="exact"`` or ``"asymptotic"``), whose ``U`` of
    ``x`` is R's ``W``; the choice between them is R's, not scipy's own "auto" rule (which uses the exact
    distribution only up to 8 observations per sample). Missing values (NaN) are removed.

    Parameters
    ----------
    x, y : array_like
        The two samples (at least one value each).
    alternative : {"two-sided", "less", "greater"}
        ``"greater"``: ``x`` tends to be larger than ``y``.
    exact : bool, optional
        Force the exact (``True``) or normal (``False``) p-value; ``None``: R's rule above. With ties the
        exact distribution does not apply and the normal approximation is used, as R does.
    correct : bool
        Continuity correction of the normal approximation.

    Returns
    -------
    RankSumResult

    References
    ----------
    Wilcoxon F (1945). Individual comparisons by ranking methods. Biometrics Bulletin 1:80-83.
    Mann HB, Whitney DR (1947). On a test of whether one of two random variables is stochastically larger
    than the other. Ann Math Stat 18:50-60.
    Hollander M, Wolfe DA (1973). *Nonparametric Statistical Methods*, pp. 27-33, 68-75. Wiley.
    Andrews GE (1976). *The Theory of Partitions*, chapter 3. Addison-Wesley.
    """
    check_alternative(alternative)
    a, b = _sample(x, "x"), _sample(y, "y")
    if a.size == 0 or b.size == 0:
        raise ValueError(f"rank-sum test: each sample needs at least one value (sizes {a.size} and {b.size})")
    pooled = np.concatenate([a, b])
    ties = bool(np.unique(pooled).size < pooled.size)
    use_exact = (a.size < _EXACT_BELOW and b.size < _EXACT_BELOW) if exact is None else bool(exact)
    if ties:
        use_exact = False
    statistic, pvalue = _mann_whitney(a, b, alternative, use_exact, correct)
    return RankSumResult(
        statistic=statistic,
        pvalue=min(1.0, pvalue),
        method="exact" if use_exact else "normal",
        correction=bool(correct and not use_exact),
        ties=ties,
        n=(int(a.size), int(b.size)),
        alternative=alternative,
    )


def _average_ranks(pooled: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mid-ranks (1-based; ties share the mean of their ranks) and the sizes of the tie groups."""
    order = np.argsort(pooled, kind="mergesort")
    sorted_ = pooled[order]
    starts = np.flatnonzero(np.r_[True, sorted_[1:] != sorted_[:-1]])
    sizes = np.diff(np.r_[starts, pooled.size])
    mid = starts + (sizes + 1) / 2.0  # mean of the ranks start + 1 ... start + size
    ranks = np.empty(pooled.size)
    ranks[order] = np.repeat(mid, sizes)
    return ranks, sizes.astype(np.float64)


def _wilcox_counts(m: int, n: int, upto: int) -> list[int]:
    r"""Number of arrangements of ``m`` x's and ``n`` y's with Mann-Whitney :math:`U = k`, for
    ``k = 0 .. upto`` (exact integers).

    The generating function of these counts is the Gaussian binomial coefficient
    :math:`\sum_k c(k) q^k = \prod_{i=1}^{m} (1 - q^{n+i}) / (1 - q^i)` (Andrews 1976, 3.3; the recursion
    :math:`c(k; m, n) = c(k - n; m - 1, n) + c(k; m, n - 1)` of R's ``cwilcox`` counts the same numbers).
    The product is taken as power series truncated at ``upto``: multiplying by :math:`1 - q^j` subtracts a
    shifted copy, dividing by :math:`1 - q^i` is a running sum with stride ``i``.
    """
    c = np.zeros(upto + 1, dtype=object)
    c[:] = 0
    c[0] = 1
    for i in range(1, m + 1):
        j = n + i
        if j <= upto:
            c[j:] = c[j:] - c[: upto + 1 - j]
        for r in range(min(i, upto + 1)):  # running sums along each residue class modulo i
            c[r::i] = np.cumsum(c[r::i])
    return [int(v) for v in c]


def _mann_whitney(a: NDArray[np.float64], b: NDArray[np.float64], alternative: str, exact: bool,
                  correct: bool) -> tuple[float, float]:
    r"""Mann-Whitney ``U`` of ``a`` and its p-value (exact null distribution, or the normal approximation with
    tie and continuity corrections); formulas in :func:`rank_sum_test`.

    Written here rather than calling ``scipy.stats.mannwhitneyu`` because importing ``scipy.stats`` costs
    about 0.5 s of CPU in every command. The arithmetic follows that function step by step (the upper tail
    of the larger of :math:`U_x` and :math:`U_y` for two-sided tests, taken from the lower tail of the
    smaller by symmetry, doubled and clipped at 1), so the p-values are the same to the last bit; the
    counts of the exact distribution are exact integers (scipy accumulates them in floating point beyond
    :math:`2^{64}`, which can change the last digits for samples of 30 and more without ties).
    """
    n1, n2 = a.size, b.size
    ranks, t = _average_ranks(np.concatenate([a, b]))
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    u2 = n1 * n2 - u1
    if alternative == "greater":
        u, f = u1, 1
    elif alternative == "less":
        u, f = u2, 1
    else:
        u, f = max(u1, u2), 2
    if exact:
        k = int(u)
        kc = n1 * n2 - k  # the distribution is symmetric about n1 n2 / 2: P(U >= k) = P(U <= n1 n2 - k)
        lo = min(k, kc)
        counts = _wilcox_counts(min(n1, n2), max(n1, n2), lo)
        pmf = np.array([float(v) for v in counts]) / special.binom(n1 + n2, n1)
        cdf = np.cumsum(pmf)
        p = 1.0 - cdf[lo] + pmf[lo] if k < kc else cdf[lo]
    else:
        n = n1 + n2
        tie_term = np.sum(t**3 - t)
        s = np.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
        numerator = u - n1 * n2 / 2
        if correct:
            numerator -= 0.5
        with np.errstate(divide="ignore", invalid="ignore"):
            z = numerator / s
        p = special.ndtr(-z)
    p *= f
    return float(u1), float(np.clip(p, 0.0, 1.0))


def kruskal_wallis_test(*samples: ArrayLike) -> KruskalWallisResult:
    r"""Kruskal-Wallis rank-sum test of k independent samples, as R's ``kruskal.test``.

    .. math:: H = \frac{\frac{12}{N(N + 1)} \sum_i \frac{R_i^2}{n_i} - 3(N + 1)}
                       {1 - \sum_k (t_k^3 - t_k)/(N^3 - N)},

    with :math:`R_i` the rank sum of sample i in the pooled sample (mid-ranks for ties) and :math:`t_k` the
    tie-group sizes; p is the upper tail of :math:`\chi^2_{k-1}`. Computed with ``scipy.stats.kruskal``
    (same definition). Missing values are removed.

    References
    ----------
    Kruskal WH, Wallis WA (1952). Use of ranks in one-criterion variance analysis. JASA 47:583-621.
    Hollander M, Wolfe DA (1973). *Nonparametric Statistical Methods*, pp. 115-120. Wiley.
    """
    groups = [_sample(s, f"sample {i + 1}") for i, s in enumerate(samples)]
    if len(groups) < 2:
        raise ValueError(f"Kruskal-Wallis test: needs at least two samples, got {len(groups)}")
    empty = [i + 1 for i, g in enumerate(groups) if g.size == 0]
    if empty:
        raise ValueError(f"Kruskal-Wallis test: sample {empty[0]} has no values")
    pooled = np.concatenate(groups)
    if np.unique(pooled).size < 2:
        raise ValueError("Kruskal-Wallis test: all values are equal")
    from scipy import stats as sps  # here, not at module level: importing scipy.stats costs ~0.5 s

    res = sps.kruskal(*groups)
    return KruskalWallisResult(statistic=float(res.statistic), df=len(groups) - 1, pvalue=float(res.pvalue),
                               n=tuple(int(g.size) for g in groups))


def compare_categorical(table: ArrayLike, *, min_expected: float = 5.0, max_work: int = 5_000_000,
                        B: int = 10_000, seed: int | None = None) -> GroupComparison:
    r"""Test of independence of a categories x groups count table, chosen by the usual rule.

    With :math:`E_{ij} = r_i c_j / N` the expected counts (all-zero rows and columns left out first: a
    category nobody has adds nothing to either test): when every :math:`E_{ij} \ge` ``min_expected``,
    Pearson's chi-square test **without** continuity correction,
    :math:`X^2 = \sum (O_{ij} - E_{ij})^2 / E_{ij}` on :math:`(r - 1)(c - 1)` df (R
    ``chisq.test(correct = FALSE)``); otherwise Fisher's exact test (R ``fisher.test``, two-sided: the 2 x 2
    test, or the exact r x c test; when the r x c enumeration exceeds ``max_work`` the Monte Carlo p-value
    of ``B`` tables with ``seed``, as R's ``simulate.p.value``).

    Raises
    ------
    ValueError
        Fewer than two non-empty rows or columns (nothing to compare).

    References
    ----------
    Cochran WG (1954). Some methods for strengthening the common chi-square tests. Biometrics 10:417-451.
    Agresti A (2002). *Categorical Data Analysis*, 2nd ed., sections 3.2 and 3.5. Wiley.
    """
    try:
        arr = np.asarray(table, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("table: counts must be numbers") from None
    if arr.ndim != 2:
        raise ValueError(f"table: must be two-dimensional, got {arr.ndim} dimension(s)")
    kept = arr[np.nansum(arr, axis=1) != 0][:, np.nansum(arr, axis=0) != 0]
    if kept.shape[0] < 2 or kept.shape[1] < 2:
        raise ValueError(f"categorical comparison: needs at least 2 non-empty rows and columns, the table has "
                         f"{kept.shape[0]} x {kept.shape[1]}")
    counts = _as_count_table(kept)  # non-negative integer counts (names the bad cell otherwise)
    n = counts.sum()
    expected = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / n
    low = float(expected.min())
    if low >= min_expected:
        chi = chi2_test(counts, correction=False)
        return GroupComparison("chi-square", chi.pvalue, chi.statistic, chi.df, "asymptotic", low)
    try:
        res = fisher_exact(counts, conf_int=False)
    except ValueError:
        res = fisher_exact(counts, simulate_p_value=True, B=B, seed=seed)
    return GroupComparison("fisher", res.pvalue, None, None, res.method, low)


def compare_continuous(samples: list[ArrayLike] | tuple[ArrayLike, ...]) -> GroupComparison:
    """The rank test of k samples: :func:`rank_sum_test` (two-sided, R's defaults) for two,
    :func:`kruskal_wallis_test` for three or more (formulas and references there)."""
    if len(samples) == 2:
        r = rank_sum_test(samples[0], samples[1])
        return GroupComparison("rank-sum", r.pvalue, r.statistic, None, r.method)
    kw = kruskal_wallis_test(*samples)
    if math.isnan(kw.pvalue):
        raise ValueError("Kruskal-Wallis test: not computable")
    return GroupComparison("kruskal-wallis", kw.pvalue, kw.statistic, kw.df, "asymptotic")
