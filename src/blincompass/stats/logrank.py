"""Log-rank test and its weighted relatives (Gehan–Breslow, Tarone–Ware, Peto–Peto, Fleming–Harrington).

The statistics reproduce R ``survival::survdiff`` (which covers the ``rho`` family) and, for the weights
``survdiff`` lacks, the same hypergeometric construction with a different weight function.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from ._checks import as_labels, check_alternative, check_lengths, plain_array
from ._dist import chi2_sf, norm_cdf, norm_sf
from ._fast import lattice_counts
from ._riskset import convert_unchecked, distinct_sorted, event_keys, key_counts, prepare

__all__ = [
    "LogrankResult",
    "PairwiseLogrankResult",
    "logrank_test",
    "pairwise_logrank",
]

F64 = NDArray[np.float64]
WeightSpec = str | tuple[str, float, float]
#: Per group: distinct exit times, cumulative exit counts (``cum[j]`` exits before ``times[j]``), events
#: per exit time, and for left-truncated data the distinct entry times with their cumulative counts
#: (``ecum[j]`` entries before ``etimes[j]``, ``ecum[-1]`` all entries), else None.
Cell = tuple[F64, F64, NDArray[Any], tuple[F64, F64] | None]

_NAMED_WEIGHTS = ("logrank", "gehan-breslow", "tarone-ware", "peto-peto")
_CHUNK = 1 << 16


@dataclass(frozen=True)
class LogrankResult:
    """Result of :func:`logrank_test`.

    Attributes
    ----------
    statistic : float
        Chi-square statistic :math:`(O-E)^\\top V^{-}(O-E)` (always the two-sided statistic).
    df : int
        Degrees of freedom (number of groups with non-zero expected count minus one).
    pvalue : float
        p-value for ``alternative`` (chi-square for two-sided, normal for one-sided).
    z : float or None
        Signed statistic :math:`(O_1-E_1)/\\sqrt{V_{11}}` of the first group in ``groups``
        (two groups only).
    observed, expected : pandas.Series
        Weighted observed and expected event counts per group (summed over strata).
    variance : pandas.DataFrame
        Covariance matrix of ``observed - expected``.
    groups : tuple
        Group labels in the order used.
    alternative : str
    weights : str or tuple
    n : pandas.Series
        Number of records per group.
    """

    statistic: float
    df: int
    pvalue: float
    z: float | None
    observed: pd.Series
    expected: pd.Series
    variance: pd.DataFrame
    groups: tuple[Any, ...]
    alternative: str
    weights: WeightSpec
    n: pd.Series


@dataclass(frozen=True)
class PairwiseLogrankResult:
    """Result of :func:`pairwise_logrank`: one row per pair (``group1, group2, statistic, pvalue,
    p_adjusted``)."""

    table: pd.DataFrame
    p_adjust: str
    weights: WeightSpec


def _parse_weights(weights: WeightSpec) -> tuple[str, float, float]:
    if isinstance(weights, str):
        if weights not in _NAMED_WEIGHTS:
            raise ValueError(
                f"weights: {weights!r} is not one of {', '.join(_NAMED_WEIGHTS)} "
                "or ('fleming-harrington', p, q)"
            )
        return weights, 1.0 if weights == "peto-peto" else 0.0, 0.0
    if (
        isinstance(weights, tuple)
        and len(weights) == 3
        and weights[0] == "fleming-harrington"
    ):
        p, q = float(weights[1]), float(weights[2])
        if not (np.isfinite(p) and np.isfinite(q) and p >= 0 and q >= 0):
            raise ValueError(f"weights: Fleming–Harrington exponents must be finite and >= 0, got {weights!r}")
        return "fleming-harrington", p, q
    raise ValueError(f"weights: {weights!r} is not a weight name or ('fleming-harrington', p, q)")


def _levels(labels: NDArray[Any], order: ArrayLike | None, name: str) -> list[Any]:
    if labels.dtype == object:
        present = sorted(set(labels.tolist()), key=lambda v: (str(type(v)), v))
    elif labels.dtype.kind in "iub" and labels.size:
        lo, hi = labels.min(), labels.max()
        if hi == lo:
            present = [lo.item()]
        elif labels.dtype.kind == "b" or hi - lo == 1:
            present = [lo.item(), hi.item()]  # both extremes occur: no pass needed
        elif lo >= 0 and hi < 1 << 20:
            present = np.flatnonzero(np.bincount(labels)).tolist()  # O(n), no sort
        else:
            present = np.unique(labels).tolist()
    else:
        present = np.unique(labels).tolist()
    return _order_levels(present, order, name)


def _order_levels(present: list[Any], order: ArrayLike | None, name: str) -> list[Any]:
    """The group levels: the sorted labels ``present`` in the data, or ``order`` after checking it."""
    if order is None:
        return present
    lev = list(order)  # type: ignore[arg-type]
    if len(set(lev)) != len(lev):
        raise ValueError(f"order: duplicated labels in {lev!r}")
    missing = [v for v in present if v not in lev]
    if missing:
        raise ValueError(f"order: {name} label {missing[0]!r} found in the data is not listed in order")
    absent = [v for v in lev if v not in present]
    if absent:
        raise ValueError(f"order: label {absent[0]!r} does not occur in {name}")
    return lev


def _masks(labels: NDArray[Any], levels: list[Any]) -> list[NDArray[np.bool_]]:
    return [labels == lev for lev in levels]


def _weight_fn(kind: str, p: float, q: float, n: F64, s_minus: F64 | None) -> F64 | float:
    if kind == "logrank":
        return 1.0
    if kind == "gehan-breslow":
        return n
    if kind == "tarone-ware":
        return np.sqrt(n)
    assert s_minus is not None
    w = np.ones_like(s_minus) if p == 0 else s_minus**p
    if q != 0:
        w = w * (1.0 - s_minus) ** q
    return w


def _accumulate_stratum(
    key: NDArray[np.uint64],
    entry: F64 | None,
    sel: NDArray[np.bool_] | None,
    gmasks: list[NDArray[np.bool_]],
    kind: str,
    p: float,
    q: float,
    obs: F64,
    exp: F64,
    var: F64,
) -> None:
    """Add one stratum's weighted O, E and hypergeometric V (in place).

    ``key`` holds the event-tagged sort keys of all records (:func:`event_keys`).  Each group is reduced
    to a table of distinct times with record and event counts; risk sets at the pooled distinct event
    times are then read off these tables with ``searchsorted``, in chunks to bound memory.
    """
    def cell(gm: NDArray[np.bool_]) -> Cell:
        m = gm if sel is None else (gm & sel)
        times, total, events = key_counts(np.compress(m, key))
        cum = np.zeros(total.size + 1)
        np.cumsum(total, out=cum[1:])
        ent = None
        if entry is not None:
            es = np.compress(m, entry)
            es.sort()
            etimes, starts = distinct_sorted(es)
            ecum = np.empty(etimes.size + 1)
            ecum[:-1] = starts
            ecum[-1] = es.size
            ent = (etimes, ecum)
        return times, cum, events, ent

    _accumulate_cells([cell(gm) for gm in gmasks], kind, p, q, obs, exp, var)



def _accumulate_cells(
    cells: list[Cell], kind: str, p: float, q: float, obs: F64, exp: F64, var: F64
) -> None:
    """Add O, E and V of one stratum given one :data:`Cell` per group (its distinct exit times, cumulative
    exit counts, events per exit time and entry counts).  Patient rows (:func:`logrank_test`) and count
    tables (:mod:`blincompass.stats.counts`) both reach the statistic through this function."""
    k = len(cells)
    allev = np.concatenate([c[0][c[2] > 0] for c in cells])
    allev.sort()
    dtimes, _ = distinct_sorted(allev)
    del allev
    nd = dtimes.size
    if nd == 0:
        return
    need_km = kind in ("peto-peto", "fleming-harrington")
    km_carry = 1.0
    # chunks of at most 64k event times, and of about 1/8 of them for small inputs (bounded work arrays)
    chunk = max(4096, min(_CHUNK, nd // 8 + 1))
    for lo in range(0, nd, chunk):
        hi = min(lo + chunk, nd)
        tc = dtimes[lo:hi]
        n_g = np.zeros((k, hi - lo))
        d_g = np.zeros((k, hi - lo))
        for g, (times, cum, events, ent) in enumerate(cells):
            if times.size == 0:
                continue
            idx = np.searchsorted(times, tc, side="left")
            if ent is None:
                np.subtract(cum[-1], cum[idx], out=n_g[g])
            else:
                etimes, ecum = ent
                np.subtract(ecum[np.searchsorted(etimes, tc, side="left")], cum[idx], out=n_g[g])
            np.minimum(idx, times.size - 1, out=idx)
            hit = times[idx] == tc
            d_g[g] = np.where(hit, events[idx], 0)
        n = n_g.sum(axis=0)
        d = d_g.sum(axis=0)
        s_minus = None
        if need_km:
            f = 1.0 - d / n
            cp = np.cumprod(f)
            s_minus = np.empty_like(cp)
            s_minus[0] = km_carry
            s_minus[1:] = km_carry * cp[:-1]
            km_carry = km_carry * cp[-1]
        w = _weight_fn(kind, p, q, n, s_minus)
        wd = w * d
        frac = n_g / n
        obs += (w * d_g).sum(axis=1) if not np.isscalar(w) else d_g.sum(axis=1) * w
        exp += (frac * wd).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(n > 1, (w * w) * d * (n - d) / (n - 1), 0.0)
        for g in range(k):
            cg = c * frac[g]
            var[g, g] += float(np.sum(cg))
            for h in range(k):
                var[g, h] -= float(np.sum(cg * frac[h]))


def _chisq(o_minus_e: F64, exp: F64, var: F64) -> tuple[float, int]:
    """Chi-square as R ``survdiff``: groups with E = 0 dropped, then the first remaining group."""
    keep = exp > 0
    df = int(keep.sum()) - 1
    if df < 1:
        return 0.0, max(df, 0)
    diff = o_minus_e[keep][1:]
    vv = var[np.ix_(keep, keep)][1:, 1:]
    try:
        sol = np.linalg.solve(vv, diff)
    except np.linalg.LinAlgError:
        sol = np.linalg.pinv(vv) @ diff
    return float(diff @ sol), df


def logrank_test(
    time: ArrayLike,
    event: ArrayLike,
    group: ArrayLike,
    *,
    entry: ArrayLike | None = None,
    strata: ArrayLike | None = None,
    weights: WeightSpec = "logrank",
    alternative: Literal["two-sided", "less", "greater"] = "two-sided",
    order: ArrayLike | None = None,
) -> LogrankResult:
    r"""Compare survival between groups with the log-rank test or a weighted variant.

    Parameters
    ----------
    time, event : array_like
        Exit times and event indicators (1/True = event).
    group : array_like
        Group label of each record (at least two distinct labels).
    entry : array_like, optional
        Entry times for left-truncated / counting-process data, at risk on ``(entry, time]``
        (Mantel–Byar style risk sets).
    strata : array_like, optional
        Stratum labels; O, E and V are computed within strata and summed (R
        ``survdiff(Surv(time, status) ~ group + strata(s))``, SPSS ``/COMPARE ... POOLED``).
    weights : str or tuple
        ``"logrank"`` (:math:`w=1`), ``"gehan-breslow"`` (:math:`w=n`, generalised Wilcoxon),
        ``"tarone-ware"`` (:math:`w=\sqrt{n}`), ``"peto-peto"`` (:math:`w=\hat S(t-)`, R
        ``survdiff(rho=1)``) or ``("fleming-harrington", p, q)``
        (:math:`w=\hat S(t-)^p\{1-\hat S(t-)\}^q`; R ``survdiff(rho=p)`` when ``q = 0``).
        :math:`n` is the pooled number at risk and :math:`\hat S` the pooled Kaplan–Meier estimate within
        the stratum.
    alternative : {"two-sided", "less", "greater"}
        One-sided alternatives refer to the first group in ``order`` and need exactly two groups:
        ``"less"`` — the first group has *fewer* (weighted) events than expected under H0, i.e. lower
        hazard / better survival; p = Φ(z).  ``"greater"`` — more events than expected; p = 1 − Φ(z).
    order : sequence, optional
        Group order; defaults to the sorted distinct labels.

    Returns
    -------
    LogrankResult

    Notes
    -----
    At each distinct event time :math:`t_i` (within a stratum) with :math:`n_{gi}` at risk and
    :math:`d_{gi}` events in group :math:`g`, :math:`n_i=\sum_g n_{gi}`, :math:`d_i=\sum_g d_{gi}`:

    .. math::

        O_g - E_g = \sum_i w_i \Bigl(d_{gi} - d_i \frac{n_{gi}}{n_i}\Bigr), \qquad
        V_{gh} = \sum_i w_i^2 \frac{d_i (n_i - d_i)}{n_i - 1}
                 \frac{n_{gi}}{n_i}\Bigl(\delta_{gh} - \frac{n_{hi}}{n_i}\Bigr),

    and :math:`\chi^2 = (O-E)^\top_{-1} V_{-1}^{-1} (O-E)_{-1}` over all groups but the first (groups
    with :math:`E_g = 0` are dropped first, as R ``survdiff``), on :math:`k-1` degrees of freedom.
    For two groups :math:`z = (O_1-E_1)/\sqrt{V_{11}}` and :math:`\chi^2 = z^2`.

    Without ``entry`` and ``strata``, with integer or boolean group labels and times on a decimal lattice
    (whole days, 0.1 day, ...; at most 6 decimals), the records are counted per distinct time and group
    in one pass with no sort (compiled with numba when the optional ``fast`` extra is installed); other
    data are sorted.  Both routes give the same counts and hence the same result.

    References
    ----------
    Mantel N (1966). Cancer Chemother Rep 50:163–170.  Peto R, Peto J (1972). JRSS A 135:185–207.
    Gehan EA (1965); Breslow N (1970). Biometrika 57:579–594.  Tarone RE, Ware J (1977). Biometrika
    64:156–160.  Harrington DP, Fleming TR (1982). Biometrika 69:553–566.
    Therneau TM. *survival* R package, ``survdiff``.
    """
    check_alternative(alternative)
    kind, p, q = _parse_weights(weights)
    if entry is None and strata is None:
        fast = _lattice_logrank(time, event, group, order, weights, kind, p, q, alternative)
        if fast is not None:
            return fast
    t, e, a, _ = prepare(time, event, entry)
    g = as_labels(group, "group")
    s = None if strata is None else as_labels(strata, "strata")
    check_lengths(time=t, group=g, strata=s)
    levels = _levels(g, order, "group")
    if len(levels) < 2:
        raise ValueError(f"group: only one group ({levels[0]!r}) is present; at least two are needed")
    k = len(levels)
    if alternative != "two-sided" and k != 2:
        raise ValueError(f"alternative: {alternative!r} needs exactly two groups, got {k}")
    gmasks = _masks(g, levels)
    obs = np.zeros(k)
    exp = np.zeros(k)
    var = np.zeros((k, k))
    key = event_keys(t, e)
    if s is None:
        _accumulate_stratum(key, a, None, gmasks, kind, p, q, obs, exp, var)
    else:
        for lev in _levels(s, None, "strata"):
            _accumulate_stratum(key, a, s == lev, gmasks, kind, p, q, obs, exp, var)
    del key
    n_per = np.array([int(np.count_nonzero(m)) for m in gmasks])
    del gmasks
    return _result(levels, n_per, obs, exp, var, weights, kind, p, q, alternative)


def _result(
    levels: list[Any],
    n_per: NDArray[np.int64],
    obs: F64,
    exp: F64,
    var: F64,
    weights: WeightSpec,
    kind: str,
    p: float,
    q: float,
    alternative: str,
) -> LogrankResult:
    k = len(levels)
    chi, df = _chisq(obs - exp, exp, var)
    z = None
    if k == 2:
        z = float((obs[0] - exp[0]) / np.sqrt(var[0, 0])) if var[0, 0] > 0 else float("nan")
    if alternative == "two-sided":
        pval = float(chi2_sf(chi, df)) if df > 0 else float("nan")
    elif alternative == "less":
        pval = float(norm_cdf(z))
    else:
        pval = float(norm_sf(z))
    idx = pd.Index(levels, name="group")
    wspec: WeightSpec = weights if isinstance(weights, str) else (kind, p, q)
    return LogrankResult(
        statistic=chi,
        df=df,
        pvalue=pval,
        z=z,
        observed=pd.Series(obs, index=idx, name="observed"),
        expected=pd.Series(exp, index=idx, name="expected"),
        variance=pd.DataFrame(var, index=idx, columns=idx.copy()),
        groups=tuple(levels),
        alternative=alternative,
        weights=wspec,
        n=pd.Series(n_per, index=idx, name="n"),
    )


def _lattice_logrank(
    time: object,
    event: object,
    group: object,
    order: ArrayLike | None,
    weights: WeightSpec,
    kind: str,
    p: float,
    q: float,
    alternative: str,
) -> LogrankResult | None:
    """:func:`logrank_test` without entry times or strata, by one counting pass (no sort) when the times
    lie on a decimal lattice and the group labels are integers or booleans (:mod:`._fast`).

    Returns ``None`` when the pass is declined or the input is bad; the caller then runs the general
    path, which reports the first problem.  The counts are those of the general path, so is the result.
    """
    try:
        t, e = convert_unchecked(time, event)
        g, categories = _integer_labels(group)
        check_lengths(time=t, group=g)
    except (TypeError, ValueError):
        return None
    if g is None:
        return None
    lc = lattice_counts(t, e, g)
    del t, e
    if lc is None:
        return None
    # From here on the input is valid, and errors are those of the general path.
    per_label = lc.counts.sum(axis=(0, 2))
    labels = np.flatnonzero(per_label)
    labels += lc.glo
    if categories is not None:
        # the labels are category codes: the levels are the categories present, ordered as the general
        # path orders the object array of the labels themselves
        col_of = {v: int(c) for c, v in zip(labels.tolist(), categories[labels].tolist(), strict=True)}
        levels = _levels(np.asarray(list(col_of), dtype=object), order, "group")
        cols = [col_of[lev] - lc.glo for lev in levels]
    else:
        present = [bool(v) for v in labels] if g.dtype == np.bool_ else labels.tolist()
        levels = _order_levels(present, order, "group")
        cols = [int(lev) - lc.glo for lev in levels]
    if len(levels) < 2:
        raise ValueError(f"group: only one group ({levels[0]!r}) is present; at least two are needed")
    k = len(levels)
    if alternative != "two-sided" and k != 2:
        raise ValueError(f"alternative: {alternative!r} needs exactly two groups, got {k}")
    cells: list[Cell] = []
    for h in cols:
        cnt = lc.counts[:, h, :]
        total = cnt[:, 0] + cnt[:, 1]
        keep = total > 0
        total = total[keep]
        cum = np.zeros(total.size + 1)
        np.cumsum(total, out=cum[1:])
        cells.append((lc.time[keep], cum, cnt[keep, 1], None))
    obs = np.zeros(k)
    exp = np.zeros(k)
    var = np.zeros((k, k))
    _accumulate_cells(cells, kind, p, q, obs, exp, var)
    return _result(levels, per_label[cols], obs, exp, var, weights, kind, p, q, alternative)


def _integer_labels(group: object) -> tuple[NDArray[Any] | None, NDArray[Any] | None]:
    """Group labels as an integer or boolean numpy array for the counting pass, or ``(None, None)``.

    Every integer width and signedness and booleans qualify, as do pandas nullable arrays without missing
    values; ``uint64`` labels are viewed as ``int64`` when they fit.  Categorical labels (pandas
    ``Categorical``, or a Series or Index of that dtype) are passed as their codes, returned with the
    categories as an object array; a missing label (code -1) declines, so the general path reports it.
    """
    dt = getattr(group, "dtype", None)
    if isinstance(dt, pd.CategoricalDtype):
        cat = group.array if isinstance(group, (pd.Series, pd.Index)) else group
        codes = np.asarray(cat.codes)  # type: ignore[union-attr]
        if codes.ndim != 1 or codes.size == 0 or int(codes.min()) < 0:
            return None, None
        return codes, np.asarray(cat.categories, dtype=object)  # type: ignore[union-attr]
    g = plain_array(group)
    # a list or Series of integers gives the same levels as the object array of the general path
    g = as_labels(g if isinstance(g, np.ndarray) else np.asarray(g), "group")
    if g.dtype.kind not in "iub":
        return None, None
    if g.dtype == np.uint64:
        if int(g.max()) >= 1 << 63:
            return None, None
        g = g.view(np.int64)
    return g, None


def p_adjust(pvalues: ArrayLike, method: str) -> F64:
    r"""Holm or Bonferroni adjustment as R ``p.adjust`` (``"none"`` returns the input).

    Missing p-values (NaN, e.g. a pair without events) stay missing and do not count: with :math:`m` the
    number of finite p-values, Bonferroni gives :math:`\min(1, m p)` and Holm, for the finite p-values in
    increasing order :math:`p_{(1)} \le \dots \le p_{(m)}`,
    :math:`\tilde p_{(j)} = \min\{1, \max_{i \le j} (m - i + 1) p_{(i)}\}` (Holm 1979, Scand J Stat 6:65-70).
    """
    pv = np.asarray(pvalues, dtype=np.float64)
    if method not in ("holm", "bonferroni", "none"):
        raise ValueError(f"p_adjust: {method!r} is not one of holm, bonferroni, none")
    out = pv.copy()
    ok = np.isfinite(pv)
    m = int(ok.sum())
    if method == "none" or m == 0:
        return out
    fin = pv[ok]
    if method == "bonferroni":
        out[ok] = np.minimum(1.0, m * fin)
        return out
    o = np.argsort(fin, kind="stable")
    adj = np.empty(m)
    adj[o] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * fin[o]))
    out[ok] = adj
    return out


def pairwise_logrank(
    time: ArrayLike,
    event: ArrayLike,
    group: ArrayLike,
    *,
    entry: ArrayLike | None = None,
    strata: ArrayLike | None = None,
    weights: WeightSpec = "logrank",
    p_adjust: Literal["holm", "bonferroni", "none"] = "holm",
    order: ArrayLike | None = None,
) -> PairwiseLogrankResult:
    r"""All pairwise two-group comparisons, each on the subset of the two groups' records.

    Each pair is tested with :func:`logrank_test` on its own subset (risk sets contain only the two
    groups), as R ``survminer::pairwise_survdiff``; p-values are adjusted for multiplicity by Holm's
    step-down method (:math:`\tilde p_{(j)} = \max_{i \le j} \min\{1, (m-i+1) p_{(i)}\}`) or
    Bonferroni (:math:`\min(1, m p)`), as R ``p.adjust``.

    References
    ----------
    Holm S (1979). A simple sequentially rejective multiple test procedure. Scand J Stat 6:65–70.
    """
    if p_adjust not in ("holm", "bonferroni", "none"):
        raise ValueError(f"p_adjust: {p_adjust!r} is not one of holm, bonferroni, none")
    _parse_weights(weights)
    t, e, a, _ = prepare(time, event, entry)
    g = as_labels(group, "group")
    s = None if strata is None else as_labels(strata, "strata")
    check_lengths(time=t, group=g, strata=s)
    levels = _levels(g, order, "group")
    if len(levels) < 2:
        raise ValueError(f"group: only one group ({levels[0]!r}) is present; at least two are needed")
    rows = []
    for g1, g2 in combinations(levels, 2):
        m = (g == g1) | (g == g2)
        r = logrank_test(
            t[m],
            e[m],
            g[m],
            entry=None if a is None else a[m],
            strata=None if s is None else s[m],
            weights=weights,
            order=[g1, g2],
        )
        rows.append((g1, g2, r.statistic, r.pvalue))
    table = pd.DataFrame(rows, columns=["group1", "group2", "statistic", "pvalue"])
    table["p_adjusted"] = _p_adjust(table["pvalue"].to_numpy(), p_adjust)
    return PairwiseLogrankResult(table=table, p_adjust=p_adjust, weights=weights)


_p_adjust = p_adjust
