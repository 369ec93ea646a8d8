"""Permutation (re-randomisation) log-rank test and the exact conditional test for stratified 2x2 tables.

With small samples (the motivating cohort has 39 children) the chi-square approximation to the log-rank
statistic can be poor. :func:`permutation_logrank` refers the observed log-rank statistic to its
distribution over all relabellings of the two groups that keep the group sizes (within strata), either by
complete enumeration or by seeded Monte Carlo sampling. :func:`exact_stratified_2x2` is the exact
conditional test of a common odds ratio of 1 in a set of 2x2 tables (R ``mantelhaen.test(exact=TRUE)``).

References
----------
Peto R., Peto J. (1972). Asymptotically efficient rank invariant test procedures. *J. R. Statist. Soc. A*
135, 185–207 (log-rank scores).

Heimann G., Neuhaus G. (1998). Permutational distribution of the log-rank statistic under random
censorship with applications to carcinogenicity assays. *Biometrics* 54, 168–184.

Mehta C.R., Patel N.R., Gray R. (1985). Computing an exact confidence interval for the common odds ratio
in several 2x2 contingency tables. *JASA* 80, 969–973.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from blincompass.stats._checks import (
    as_event,
    as_labels,
    as_time,
    check_alternative,
    check_conf_level,
    check_lengths,
)
from blincompass.stats._dist import chi2_sf, norm_cdf, norm_sf
from blincompass.stats._solve import brent_root

__all__ = [
    "PermutationLogrankResult",
    "ExactStratified2x2Result",
    "permutation_logrank",
    "exact_stratified_2x2",
]

#: Relative tolerance when comparing permuted with observed statistics, so that statistics equal in exact
#: arithmetic are not lost to rounding (the same guard R uses in ``fisher.test``).
_REL_TOL = 1e-7

_WEIGHTS = ("logrank", "gehan-breslow", "tarone-ware", "peto-peto")

#: Monte Carlo draws relabel subject by subject (each draw a shuffle of the observed labels) while
#: ``n_resamples * n`` is at most this; above it, a stratum whose subjects fall in fewer than a quarter as
#: many exchangeable cells is drawn as counts per cell (see :func:`_draw_cells`), whose cost grows with the
#: number of distinct (time, event) pairs instead of ``n``.
_SUBJECT_LEVEL_MAX = 4_000_000
#: Relabellings × subjects (or cells) scored at a time: bounds the memory of enumeration and Monte Carlo.
_BLOCK = 1 << 20


# ----------------------------------------------------------------------------------------------------
# permutation log-rank
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PermutationLogrankResult:
    """Result of :func:`permutation_logrank`.

    Attributes
    ----------
    statistic : float
        Observed statistic that was permuted: the signed ``z`` of ``groups[0]`` for a one-sided
        alternative, ``z**2`` (the log-rank chi-square) for ``"two-sided"``; with ``statistic="score"``
        the score ``U = O - E`` (one-sided) or ``|U|`` (two-sided).
    pvalue : float
        Permutation p-value.
    method : str
        ``"exact"`` (complete enumeration) or ``"monte-carlo"``.
    n_resamples : int
        Number of relabellings enumerated (exact) or drawn (Monte Carlo).
    mc_se : float
        Monte Carlo standard error of ``pvalue``, ``sqrt(p (1 - p) / B)``; 0 for exact enumeration.
    n_extreme : int
        Number of relabellings at least as extreme as the observed one.
    z : float
        Observed standardised log-rank statistic ``(O - E) / sqrt(V)`` of ``groups[0]``.
    score : float
        Observed ``O - E`` of ``groups[0]`` (summed over strata).
    variance : float
        Observed hypergeometric variance ``V``.
    asymptotic_pvalue : float
        The usual normal / chi-square(1) p-value of the same test, for comparison.
    alternative : str
    groups : tuple
        The two group labels; ``groups[0]`` is the one whose ``O - E`` is reported.
    weights : str or tuple
    n_combinations : int
        Number of distinct relabellings (product over strata of binomial coefficients).
    """

    statistic: float
    pvalue: float
    method: str
    n_resamples: int
    mc_se: float
    n_extreme: int
    z: float
    score: float
    variance: float
    asymptotic_pvalue: float
    alternative: str
    groups: tuple[Any, ...]
    weights: str | tuple[str, float, float]
    n_combinations: int


@dataclass(frozen=True)
class _Stratum:
    """Precomputed risk-set structure of one stratum (subjects sorted by time)."""

    index: NDArray[np.intp]  # positions in the input
    scores: NDArray[np.float64]  # a_i, so that U = sum_i a_i x_i
    start: NDArray[np.intp]  # first (sorted) subject at risk at each event time
    n_risk: NDArray[np.float64]
    var_coef: NDArray[np.float64]  # c_j, V = sum_j c_j n1_j (n_j - n1_j)
    x: NDArray[np.bool_]  # observed indicators of groups[0], sorted
    cell_size: NDArray[np.int64]  # subjects per exchangeable cell (same time and event), cells in time order
    cell_score: NDArray[np.float64]  # a_i shared by the subjects of each cell
    cell_start: NDArray[np.intp]  # first cell at each event time (n1_j = members of cells >= cell_start_j)


def _parse_weights(weights: str | tuple[str, float, float]) -> tuple[str, float, float]:
    msg = f"weights: {weights!r} is not one of {', '.join(_WEIGHTS)} or ('fleming-harrington', p, q)"
    if isinstance(weights, str):
        if weights not in _WEIGHTS:
            raise ValueError(msg)
        return weights, 0.0, 0.0
    if (
        isinstance(weights, tuple)
        and len(weights) == 3
        and weights[0] == "fleming-harrington"
        and all(isinstance(v, (int, float)) and np.isfinite(v) and v >= 0 for v in weights[1:])
    ):
        return "fleming-harrington", float(weights[1]), float(weights[2])
    raise ValueError(msg)


def _event_weights(
    kind: str, p: float, q: float, n_risk: NDArray[np.float64], d: NDArray[np.float64]
) -> NDArray[np.float64]:
    if kind == "logrank":
        return np.ones_like(n_risk)
    if kind == "gehan-breslow":
        return n_risk.copy()
    if kind == "tarone-ware":
        return np.sqrt(n_risk)
    # pooled Kaplan–Meier just before each event time, within the stratum
    km = np.cumprod(1.0 - d / n_risk)
    s_minus = np.concatenate(([1.0], km[:-1]))
    if kind == "peto-peto":
        return s_minus
    return s_minus**p * (1.0 - s_minus) ** q


def _prepare_stratum(
    index: NDArray[np.intp], time: NDArray[np.float64], event: NDArray[np.bool_], x: NDArray[np.bool_],
    kind: str,
    p: float,
    q: float,
) -> _Stratum:
    order = np.argsort(time, kind="stable")
    idx, t, e, xs = index[order], time[order], event[order], x[order]
    ut, first = np.unique(t, return_index=True)
    n_risk_all = (t.size - first).astype(np.float64)
    d_all = np.bincount(np.searchsorted(ut, t[e]), minlength=ut.size).astype(np.float64)
    ev = d_all > 0
    n_risk, d, start = n_risk_all[ev], d_all[ev], first[ev]
    w = _event_weights(kind, p, q, n_risk, d)
    # cumulative weighted hazard increments up to each subject's own time
    haz = np.concatenate(([0.0], np.cumsum(w * d / n_risk)))
    cum = haz[np.searchsorted(ut[ev], t, side="right")]
    w_own = np.zeros(t.size)
    w_own[e] = w[np.searchsorted(ut[ev], t[e])]
    scores = w_own - cum
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(n_risk > 1, w * w * d * (n_risk - d) / ((n_risk - 1.0) * n_risk * n_risk), 0.0)
    # exchangeable cells: subjects with the same time and event indicator have the same score and the same
    # risk-set membership, so a relabelling acts on U and V only through how many of each cell it puts in
    # groups[0]; cells are ordered by time (censored before events at a tie; both belong to the risk set)
    t_idx = np.searchsorted(ut, t)
    code = t_idx * 2 + e.astype(np.intp)
    cells, cell_first, cell_size = np.unique(code, return_index=True, return_counts=True)
    cell_start = np.searchsorted(cells // 2, np.searchsorted(ut, ut[ev]))
    return _Stratum(index=idx, scores=scores, start=start.astype(np.intp), n_risk=n_risk, var_coef=c, x=xs,
                    cell_size=cell_size.astype(np.int64), cell_score=scores[cell_first],
                    cell_start=cell_start.astype(np.intp))


def _score_and_variance(st: _Stratum, xmat: NDArray[np.bool_]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """U and V for every row of ``xmat`` (relabellings × subjects of the stratum, sorted order).

    Rows are scored in blocks of about ``_BLOCK`` cells so that memory stays bounded for any number of
    relabellings; every row is computed by the same operations whatever the block size.
    """
    rows = max(1, _BLOCK // max(1, xmat.shape[1]))
    if xmat.shape[0] > rows:
        parts = [_score_and_variance(st, xmat[i:i + rows]) for i in range(0, xmat.shape[0], rows)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    xf = xmat.astype(np.float64)
    u = xf @ st.scores
    # n1 at each event time = number of group-0 members with time >= t_j: reverse cumulative sums
    rev = np.cumsum(xf[:, ::-1], axis=1)[:, ::-1]
    n1 = rev[:, st.start]
    v = (n1 * (st.n_risk - n1)) @ st.var_coef
    return u, v


def _cell_score_and_variance(
    st: _Stratum, counts: NDArray[np.int64], k: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """U and V for every row of ``counts`` (relabellings × cells: members of ``groups[0]`` per cell)."""
    u = counts.astype(np.float64) @ st.cell_score
    # n1_j = k - members in the cells before the first cell at t_j
    before = np.zeros((counts.shape[0], counts.shape[1] + 1), dtype=np.int64)
    np.cumsum(counts, axis=1, out=before[:, 1:])
    n1 = (k - before[:, st.cell_start]).astype(np.float64)
    v = (n1 * (st.n_risk - n1)) @ st.var_coef
    return u, v


def _draw_cells(
    st: _Stratum, k: int, n_draws: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """U and V of ``n_draws`` uniformly random relabellings of one stratum, drawn cell by cell.

    A uniformly random choice of the ``k`` members of ``groups[0]`` among the ``n`` subjects puts a
    multivariate hypergeometric number of them in each cell, so the cell counts are drawn directly
    (:meth:`numpy.random.Generator.multivariate_hypergeometric`, ``"marginals"`` method: one hypergeometric
    draw per cell; blocks of draws consume the stream as one call would).
    """
    rows = max(1, _BLOCK // max(1, st.cell_size.size))
    u_parts, v_parts = [], []
    for start in range(0, n_draws, rows):
        counts = rng.multivariate_hypergeometric(st.cell_size, k, size=min(rows, n_draws - start),
                                                 method="marginals")
        u, v = _cell_score_and_variance(st, counts, k)
        u_parts.append(u)
        v_parts.append(v)
    return np.concatenate(u_parts), np.concatenate(v_parts)


def _draw_subjects(
    st: _Stratum, n_draws: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """U and V of ``n_draws`` shuffles of the observed labels of one stratum (in blocks; a block of shuffles
    consumes the stream as one call would)."""
    rows = max(1, _BLOCK // max(1, st.x.size))
    u_parts, v_parts = [], []
    for start in range(0, n_draws, rows):
        xmat = rng.permuted(np.broadcast_to(st.x, (min(rows, n_draws - start), st.x.size)), axis=1)
        u, v = _score_and_variance(st, xmat)
        u_parts.append(u)
        v_parts.append(v)
    return np.concatenate(u_parts), np.concatenate(v_parts)


def _z(u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.zeros_like(u)
    ok = v > 0
    out[ok] = u[ok] / np.sqrt(v[ok])
    return out


def _enumerate_scores(st: _Stratum) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """U and V of every relabelling of one stratum (all choices of its ``groups[0]`` members, in
    lexicographic order), built and scored in blocks so that memory stays bounded."""
    n, k = st.x.size, int(st.x.sum())
    m = math.comb(n, k)
    if k == 0:  # the single relabelling with nobody in groups[0]
        return _score_and_variance(st, np.zeros((1, n), dtype=bool))
    combos = itertools.combinations(range(n), k)
    rows = max(1, _BLOCK // n)
    u_parts, v_parts = [], []
    done = 0
    while done < m:
        b = min(rows, m - done)
        cols = np.fromiter(itertools.chain.from_iterable(itertools.islice(combos, b)), dtype=np.intp,
                           count=b * k).reshape(b, k)
        block = np.zeros((b, n), dtype=bool)
        block[np.repeat(np.arange(b), k), cols.ravel()] = True
        u, v = _score_and_variance(st, block)
        u_parts.append(u)
        v_parts.append(v)
        done += b
    return np.concatenate(u_parts), np.concatenate(v_parts)


def _count_extreme(perm: NDArray[np.float64], obs: float, alternative: str) -> int:
    tol = _REL_TOL * max(1.0, abs(obs))
    if alternative == "less":
        return int(np.count_nonzero(perm <= obs + tol))
    return int(np.count_nonzero(perm >= obs - tol))


def permutation_logrank(
    time: ArrayLike,
    event: ArrayLike,
    group: ArrayLike,
    *,
    strata: ArrayLike | None = None,
    weights: str | tuple[str, float, float] = "logrank",
    alternative: str = "two-sided",
    method: str = "auto",
    n_resamples: int = 10_000,
    seed: int | np.random.Generator | None = 0,
    max_exact: int = 200_000,
    order: Sequence[Any] | None = None,
    statistic: str = "logrank",
) -> PermutationLogrankResult:
    r"""Permutation test of the (weighted, stratified) two-sample log-rank statistic.

    **What is permuted.** Under the null hypothesis the group labels are exchangeable (within strata),
    so the reference set is every assignment of the labels to subjects that keeps the number in
    ``groups[0]`` in each stratum fixed: :math:`\prod_s \binom{n_s}{n_{1s}}` relabellings, all equally
    likely. For a relabelling :math:`x` (indicator of ``groups[0]``) and fixed pooled data,

    .. math::

        U(x) = \sum_i a_i x_i, \qquad
        a_i = w(t_i)\,\delta_i - \sum_{t_j \le t_i} w_j\, d_j / n_j ,

    is :math:`O - E` of ``groups[0]`` (the :math:`a_i` are Peto's log-rank scores: event indicator minus
    the weighted Nelson–Aalen increments up to :math:`t_i`, with :math:`n_j, d_j` pooled within the
    stratum), and

    .. math::

        V(x) = \sum_j w_j^2\, \frac{d_j (n_j - d_j)}{n_j - 1}\, \frac{n_{1j}(x)\,(n_j - n_{1j}(x))}{n_j^2},
        \qquad n_{1j}(x) = \sum_i x_i\, 1\{t_i \ge t_j\}

    is the hypergeometric variance. With ``statistic="logrank"`` (default) the permuted statistic is the
    usual log-rank statistic itself, recomputed for each relabelling: :math:`z = U/\sqrt{V}` for a
    one-sided alternative and :math:`z^2` for ``"two-sided"``; enumeration therefore gives exactly the
    p-value one obtains by looping over all relabellings with an ordinary log-rank routine. With
    ``statistic="score"`` only :math:`U` is permuted (:math:`|U|` two-sided); this is equivalent to
    standardising by the permutation variance of :math:`U`, which is the same for every relabelling.

    All relabellings are scored in batches: :math:`U` is a matrix–vector product, the
    :math:`n_{1j}` are reverse cumulative sums of the indicator matrix read at the first subject at risk.
    Monte Carlo draws shuffle the observed labels subject by subject while ``n_resamples`` × n is at most
    4·10⁶. Above that, in a stratum whose subjects share few (time, event) pairs (fewer than n/4), each
    draw is the vector of ``groups[0]`` counts in these exchangeable cells (subjects with the same time
    and event indicator have equal scores and risk-set membership), drawn from its multivariate
    hypergeometric distribution: the distribution of :math:`(U, V)` is the same, and the cost follows the
    number of cells rather than n.

    p-values: exact, :math:`\#\{T(x) \ge T_{obs}\}/M` over all :math:`M` relabellings (``"less"``:
    :math:`\le`); Monte Carlo, :math:`(1 + \#\{T_b \ge T_{obs}\})/(B + 1)` with Monte Carlo standard error
    :math:`\sqrt{p(1-p)/B}`. Comparisons allow a relative tolerance of 1e-7 for ties in exact arithmetic.
    ``alternative="greater"`` means ``groups[0]`` has more events than expected (:math:`z` large),
    ``"less"`` fewer.

    Parameters
    ----------
    time, event, group : array_like
        Follow-up time, event indicator (0/1) and group label (exactly two groups).
    strata : array_like, optional
        Relabelling is done within strata and scores/variances are summed over strata.
    weights : str or tuple
        Weight :math:`w_j`, as in :func:`blincompass.stats.logrank.logrank_test`: ``"logrank"`` (1),
        ``"gehan-breslow"`` (:math:`n_j`), ``"tarone-ware"`` (:math:`\sqrt{n_j}`), ``"peto-peto"``
        (:math:`\hat S(t_j-)`, the pooled within-stratum Kaplan–Meier estimate; R ``survdiff(rho = 1)``)
        or ``("fleming-harrington", p, q)`` (:math:`\hat S(t_j-)^p (1 - \hat S(t_j-))^q`).
    alternative : {"two-sided", "less", "greater"}
    method : {"auto", "exact", "monte-carlo"}
        ``"auto"`` enumerates when the number of relabellings is at most ``max_exact``.
    n_resamples : int
        Monte Carlo sample size :math:`B`.
    seed : int, numpy.random.Generator or None
        Seed of the ``numpy.random.Generator`` used for Monte Carlo (default 0: reproducible).
    max_exact : int
        Largest number of relabellings enumerated by ``"auto"``.
    order : sequence, optional
        The two group labels, ``groups[0]`` first (default: sorted labels).
    statistic : {"logrank", "score"}

    Returns
    -------
    PermutationLogrankResult

    References
    ----------
    Peto & Peto (1972); Heimann & Neuhaus (1998); Good P. (2005) *Permutation, Parametric and Bootstrap
    Tests of Hypotheses*, 3rd ed., Springer.
    """
    t = as_time(time, "time")
    e = as_event(event, "event")
    g = as_labels(group, "group")
    n = check_lengths(time=t, event=e, group=g, strata=None if strata is None else np.asarray(strata, dtype=object))
    alternative = check_alternative(alternative)
    kind, wp, wq = _parse_weights(weights)
    if method not in ("auto", "exact", "monte-carlo"):
        raise ValueError(f"method: {method!r} is not one of auto, exact, monte-carlo")
    if statistic not in ("logrank", "score"):
        raise ValueError(f"statistic: {statistic!r} is not one of logrank, score")
    if int(n_resamples) < 1:
        raise ValueError(f"n_resamples: {n_resamples!r} must be a positive integer")
    levels = list(dict.fromkeys(g.tolist()))
    if len(levels) != 2:
        raise ValueError(f"group: exactly two groups are needed, got {len(levels)}: {levels!r}")
    if order is None:
        try:
            groups = tuple(sorted(levels))
        except TypeError:
            groups = tuple(sorted(levels, key=str))
    else:
        groups = tuple(order)
        if len(groups) != 2 or set(groups) != set(levels):
            raise ValueError(f"order: {list(groups)!r} does not list the two groups {levels!r}")
    x = np.fromiter((v == groups[0] for v in g.tolist()), dtype=bool, count=n)
    if strata is None:
        s_codes = np.zeros(n, dtype=np.intp)
    else:
        s_lab = as_labels(strata, "strata")
        _, s_codes = np.unique(np.asarray([str(v) for v in s_lab.tolist()]), return_inverse=True)
    strata_list = [
        _prepare_stratum(np.flatnonzero(s_codes == s), t[s_codes == s], e[s_codes == s], x[s_codes == s], kind, wp, wq)
        for s in np.unique(s_codes)
    ]
    if not e.any():
        raise ValueError("event: no events, the log-rank statistic is undefined")

    # observed
    u_obs = v_obs = 0.0
    for st in strata_list:
        u1, v1 = _score_and_variance(st, st.x[None, :])
        u_obs += float(u1[0])
        v_obs += float(v1[0])
    if v_obs <= 0:
        raise ValueError("the log-rank variance is 0 (no informative event times); the test is undefined")
    z_obs = u_obs / math.sqrt(v_obs)
    if alternative == "two-sided":
        asym = float(chi2_sf(z_obs * z_obs, 1))
    elif alternative == "less":
        asym = float(norm_cdf(z_obs))
    else:
        asym = float(norm_sf(z_obs))

    def transform(u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
        if statistic == "score":
            return np.abs(u) if alternative == "two-sided" else u
        z = _z(u, v)
        return z * z if alternative == "two-sided" else z

    t_obs = float(transform(np.array([u_obs]), np.array([v_obs]))[0])
    n_comb = math.prod(math.comb(st.x.size, int(st.x.sum())) for st in strata_list)
    if method == "exact" and n_comb > max_exact:
        raise ValueError(
            f"method: 'exact' needs {n_comb} relabellings, more than max_exact={max_exact}; "
            "raise max_exact or use method='monte-carlo'"
        )
    use_exact = method == "exact" or (method == "auto" and n_comb <= max_exact)

    if use_exact:
        u_tot = np.zeros(1)
        v_tot = np.zeros(1)
        for st in strata_list:
            u_s, v_s = _enumerate_scores(st)
            u_tot = (u_tot[:, None] + u_s[None, :]).ravel()
            v_tot = (v_tot[:, None] + v_s[None, :]).ravel()
        perm = transform(u_tot, v_tot)
        count = _count_extreme(perm, t_obs, alternative)
        p = count / perm.size
        return PermutationLogrankResult(
            statistic=t_obs, pvalue=p, method="exact", n_resamples=int(perm.size), mc_se=0.0, n_extreme=count,
            z=z_obs, score=u_obs, variance=v_obs, asymptotic_pvalue=asym, alternative=alternative,
            groups=groups, weights=weights, n_combinations=n_comb,
        )

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    B = int(n_resamples)
    u_tot = np.zeros(B)
    v_tot = np.zeros(B)
    for st in strata_list:
        if B * n <= _SUBJECT_LEVEL_MAX or 4 * st.cell_size.size >= st.x.size:
            u_s, v_s = _draw_subjects(st, B, rng)
        else:
            u_s, v_s = _draw_cells(st, int(st.x.sum()), B, rng)
        u_tot += u_s
        v_tot += v_s
    perm = transform(u_tot, v_tot)
    count = _count_extreme(perm, t_obs, alternative)
    p = (1 + count) / (B + 1)
    return PermutationLogrankResult(
        statistic=t_obs, pvalue=p, method="monte-carlo", n_resamples=B, mc_se=math.sqrt(p * (1 - p) / B),
        n_extreme=count, z=z_obs, score=u_obs, variance=v_obs, asymptotic_pvalue=asym, alternative=alternative,
        groups=groups, weights=weights, n_combinations=n_comb,
    )


# ----------------------------------------------------------------------------------------------------
# exact conditional test for K 2x2 tables
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExactStratified2x2Result:
    """Result of :func:`exact_stratified_2x2`.

    Attributes
    ----------
    statistic : int
        :math:`S = \\sum_k x_{11k}`, the sum of the upper-left cells.
    pvalue : float
    estimate : float
        Conditional maximum-likelihood estimate of the common odds ratio.
    conf_int : tuple of float
        Exact conditional confidence interval for the common odds ratio.
    conf_level : float
    alternative : str
    support : numpy.ndarray
        Possible values of :math:`S` given the margins.
    null_pmf : numpy.ndarray
        Conditional null distribution of :math:`S` on ``support``.
    """

    statistic: int
    pvalue: float
    estimate: float
    conf_int: tuple[float, float]
    conf_level: float
    alternative: str
    support: NDArray[np.int64]
    null_pmf: NDArray[np.float64]


def _as_tables(tables: ArrayLike) -> NDArray[np.int64]:
    try:
        arr = np.asarray(tables, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"tables: cannot be read as numbers ({exc})") from exc
    if arr.ndim == 2 and arr.shape == (2, 2):
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (2, 2):
        raise ValueError(f"tables: expected shape (K, 2, 2), got {arr.shape}")
    bad = ~np.isfinite(arr) | (arr < 0) | (arr != np.round(arr))
    if bad.any():
        k, i, j = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(f"tables: cell [{k}, {i}, {j}] = {arr[k, i, j]!r} is not a non-negative integer count")
    counts = arr.astype(np.int64)
    small = counts.sum(axis=(1, 2)) < 2
    if small.any():
        k = int(np.flatnonzero(small)[0])
        raise ValueError(f"tables: table {k} has total {int(counts[k].sum())}; each table needs at least 2")
    return counts


def _noncentral(logdc: NDArray[np.float64], support: NDArray[np.float64], log_ncp: float) -> NDArray[np.float64]:
    d = logdc + log_ncp * support
    d = np.exp(d - d.max())
    return d / d.sum()


def exact_stratified_2x2(
    tables: ArrayLike, *, alternative: str = "two-sided", conf_level: float = 0.95
) -> ExactStratified2x2Result:
    r"""Exact conditional test that the common odds ratio of K 2x2 tables equals 1.

    Table :math:`k` is :math:`\begin{pmatrix} x_k & \cdot \\ \cdot & \cdot \end{pmatrix}` with column
    totals :math:`m_k, n_k` and first-row total :math:`t_k`. Given all margins, :math:`x_k` is
    (non-central) hypergeometric and :math:`S = \sum_k x_k` has the distribution

    .. math:: P_\psi(S = s) \propto c(s)\, \psi^{s}, \qquad
              c = \mathop{\ast}_k \mathrm{Hyper}(m_k, n_k, t_k)

    (a convolution of the central hypergeometric densities), where :math:`\psi` is the common odds
    ratio. The p-value is :math:`P_1(S \le s)` (``"less"``), :math:`P_1(S \ge s)` (``"greater"``) or the
    total probability of values no more probable than the observed one (``"two-sided"``, relative
    tolerance :math:`10^{-7}` as R). The estimate is the conditional MLE (solution of
    :math:`E_\psi S = s`), and the confidence limits solve :math:`P_\psi(S \ge s) = \alpha` and
    :math:`P_\psi(S \le s) = \alpha` (:math:`\alpha = (1 - \text{level})/2` two-sided). This is
    R ``mantelhaen.test(x, exact = TRUE)``, with the roots found to full precision (R's ``uniroot``
    stops at a tolerance of about 1e-4, so R's estimate and limits agree only to that accuracy).

    Parameters
    ----------
    tables : array_like, shape (K, 2, 2)
        The K tables (a single 2x2 table is accepted); rows are e.g. exposure, columns outcome.
    alternative : {"two-sided", "less", "greater"}
    conf_level : float

    Returns
    -------
    ExactStratified2x2Result

    References
    ----------
    Mehta, Patel & Gray (1985); Agresti A. (2013) *Categorical Data Analysis*, 3rd ed., Wiley.
    """
    counts = _as_tables(tables)
    alternative = check_alternative(alternative)
    conf_level = check_conf_level(conf_level)
    m = counts[:, 0, 0] + counts[:, 1, 0]
    nn = counts[:, 0, 1] + counts[:, 1, 1]
    tt = counts[:, 0, 0] + counts[:, 0, 1]
    s = int(counts[:, 0, 0].sum())
    lo = int(np.maximum(0, tt - nn).sum())
    hi = int(np.minimum(m, tt).sum())
    from scipy import stats as _sps  # here, not at module level: importing scipy.stats costs ~0.5 s

    dc = np.ones(1)
    for mk, nk, tk in zip(m.tolist(), nn.tolist(), tt.tolist(), strict=True):
        xs = np.arange(max(0, tk - nk), min(mk, tk) + 1)
        dc = np.convolve(dc, _sps.hypergeom.pmf(xs, mk + nk, mk, tk))
        dc = dc / dc.sum()
    support = np.arange(lo, hi + 1)
    sup_f = support.astype(np.float64)
    with np.errstate(divide="ignore"):
        logdc = np.log(dc)
    i_obs = s - lo

    if alternative == "less":
        p = float(dc[: i_obs + 1].sum())
    elif alternative == "greater":
        p = float(dc[i_obs:].sum())
    else:
        p = float(dc[dc <= dc[i_obs] * (1.0 + _REL_TOL)].sum())
    p = min(p, 1.0)

    def mean(log_ncp: float) -> float:
        return float(sup_f @ _noncentral(logdc, sup_f, log_ncp))

    def lower_tail(log_ncp: float) -> float:
        return float(_noncentral(logdc, sup_f, log_ncp)[: i_obs + 1].sum())

    def upper_tail(log_ncp: float) -> float:
        return float(_noncentral(logdc, sup_f, log_ncp)[i_obs:].sum())

    def solve(fun: Any, target: float) -> float:
        # fun is monotone in log(psi); bracket the root by doubling
        a, b = -1.0, 1.0
        fa, fb = fun(a) - target, fun(b) - target
        while fa * fb > 0:
            a, b = 2 * a, 2 * b
            fa, fb = fun(a) - target, fun(b) - target
            if b > 1e3:
                break
        return math.exp(brent_root(lambda u: fun(u) - target, a, b, xtol=1e-14, rtol=1e-15, maxiter=500))

    estimate = 0.0 if s == lo else math.inf if s == hi else solve(mean, s)

    def ncp_upper(alpha: float) -> float:
        return math.inf if s == hi else solve(lower_tail, alpha)

    def ncp_lower(alpha: float) -> float:
        return 0.0 if s == lo else solve(upper_tail, alpha)

    if alternative == "less":
        ci = (0.0, ncp_upper(1 - conf_level))
    elif alternative == "greater":
        ci = (ncp_lower(1 - conf_level), math.inf)
    else:
        a2 = (1 - conf_level) / 2
        ci = (ncp_lower(a2), ncp_upper(a2))
    return ExactStratified2x2Result(
        statistic=s, pvalue=p, estimate=estimate, conf_int=ci, conf_level=conf_level, alternative=alternative,
        support=support, null_pmf=dc,
    )
