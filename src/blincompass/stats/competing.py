"""Competing risks: Aalen–Johansen cumulative incidence and Gray's K-sample test.

Both estimators reproduce R ``cmprsk::cuminc`` (Gray, cmprsk 2.2) to rounding error: the cumulative
incidence function (CIF), its variance exactly as ``cuminc`` computes it, evaluation at arbitrary times
as ``cmprsk::timepoints`` does, and the test statistic of ``cuminc(..., group=, strata=, rho=)$Tests``.
Tied times are handled deterministically (no random tie-breaking): all events at one time enter the
same step, as in ``cuminc``.

References
----------
Aalen O.O., Johansen S. (1978). An empirical transition matrix for non-homogeneous Markov chains
based on censored observations. *Scand. J. Statist.* 5, 141–150.

Gray R.J. (1988). A class of K-sample tests for comparing the cumulative incidence of a competing
risk. *Ann. Statist.* 16, 1141–1154.

Aalen O.O. (1978). Nonparametric estimation of partial transition probabilities in multiple decrement
models. *Ann. Statist.* 6, 534–545 (variance of the cumulative incidence).

Pintilie M. (2006). *Competing Risks: A Practical Perspective*, Wiley (log(−log) confidence
interval).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from blincompass.stats._checks import as_labels, as_time, check_conf_level, check_lengths
from blincompass.stats._dist import chi2_sf, norm_ppf

__all__ = [
    "CumulativeIncidenceResult",
    "GrayTestResult",
    "cumulative_incidence",
    "gray_test",
]

_CONF_TYPES = ("log-log", "log", "plain", "none")


# ----------------------------------------------------------------------------------------------------
# input handling
# ----------------------------------------------------------------------------------------------------


def _sorted_levels(values: NDArray[Any]) -> list[Any]:
    levels = list(dict.fromkeys(values.tolist()))
    try:
        return sorted(levels)
    except TypeError:
        return sorted(levels, key=str)


def _code_key(value: Any) -> Any:
    """Normalise an event code so that 1, 1.0 and np.int64(1) compare equal."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        f = float(value)
        return int(f) if f.is_integer() else f
    return value


def _event_codes(
    event_code: ArrayLike, causes: Sequence[Hashable] | None, censor_code: Hashable
) -> tuple[NDArray[np.int64], tuple[Any, ...]]:
    """Map event codes to 0 (censored) and 1..C (the causes, in declared or sorted order)."""
    codes = as_labels(event_code, "event_code")
    keys = [_code_key(v) for v in codes.tolist()]
    cens = _code_key(censor_code)
    if causes is None:
        observed = [k for k in dict.fromkeys(keys) if k != cens]
        try:
            cause_keys = sorted(observed)
        except TypeError:
            cause_keys = sorted(observed, key=str)
        cause_labels: tuple[Any, ...] = tuple(cause_keys)
    else:
        cause_labels = tuple(causes)
        cause_keys = [_code_key(c) for c in cause_labels]
        if len(set(cause_keys)) != len(cause_keys):
            raise ValueError(f"causes: duplicated cause code in {list(cause_labels)!r}")
        if cens in cause_keys:
            raise ValueError(f"causes: censor_code {censor_code!r} is also declared as a cause")
    index = {k: j + 1 for j, k in enumerate(cause_keys)}
    index[cens] = 0
    out = np.empty(len(keys), dtype=np.int64)
    for i, k in enumerate(keys):
        j = index.get(k)
        if j is None:
            raise ValueError(
                f"event_code: value {codes[i]!r} at position {i} is neither censor_code "
                f"{censor_code!r} nor one of the causes {list(cause_labels)!r}"
            )
        out[i] = j
    return out, cause_labels


def _group_index(values: ArrayLike | None, n: int, name: str) -> tuple[NDArray[np.int64], tuple[Any, ...]]:
    if values is None:
        return np.zeros(n, dtype=np.int64), (None,)
    arr = as_labels(values, name)
    levels = _sorted_levels(arr)
    lookup = {v: i for i, v in enumerate(levels)}
    return np.fromiter((lookup[v] for v in arr.tolist()), dtype=np.int64, count=arr.size), tuple(levels)


# ----------------------------------------------------------------------------------------------------
# cumulative incidence
# ----------------------------------------------------------------------------------------------------


def _tie_factor(d: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """cmprsk's correction for tied events, 1 − (d − 1)/(y − 1) when d > 1, else 1."""
    out = np.ones_like(d)
    many = d > 1
    out[many] = 1.0 - (d[many] - 1.0) / (y[many] - 1.0)
    return out


def _cif_one_group(
    time: NDArray[np.float64], code: NDArray[np.int64], n_causes: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], list[NDArray[np.float64]],
           list[NDArray[np.float64]]]:
    """Aalen–Johansen CIF and cmprsk variance for all causes in one group.

    Returns the distinct event times (any cause), the risk-set sizes there, the per-cause event
    counts (T × C), and for each cause the CIF and its variance at every distinct event time.
    """
    ut, inv = np.unique(time, return_inverse=True)
    counts = np.zeros((ut.size, n_causes + 1))
    np.add.at(counts, (inv, code), 1.0)
    return _cif_from_counts(ut, counts, n_causes)


def _cif_from_counts(
    ut: NDArray[np.float64], counts: NDArray[np.float64], n_causes: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], list[NDArray[np.float64]],
           list[NDArray[np.float64]]]:
    """:func:`_cif_one_group` from the counts per distinct time ``ut`` (ascending): ``counts[j, 0]``
    censored and ``counts[j, c]`` events of cause ``c`` at ``ut[j]``.  Patient rows and count tables
    (:mod:`blincompass.stats.counts`) both reach the estimate through this function."""
    # risk set at each distinct time: number with time >= t
    n_at_time = counts.sum(axis=1)
    at_risk = n_at_time[::-1].cumsum()[::-1]
    d_cause = counts[:, 1:]
    d_all = d_cause.sum(axis=1)
    ev = d_all > 0
    t_ev, y, d_cause, d_all = ut[ev], at_risk[ev], d_cause[ev], d_all[ev]
    surv = np.cumprod((y - d_all) / y)  # all-cause KM just after each event time
    surv_minus = np.concatenate(([1.0], surv[:-1]))
    base = surv_minus**2 / y**2
    pos = surv > 0
    inv_s = np.where(pos, 1.0 / np.where(pos, surv, 1.0), 0.0)
    ests, variances = [], []
    for c in range(n_causes):
        dc = d_cause[:, c]
        do = d_all - dc
        f = np.cumsum(surv_minus * dc / y)
        # competing-event contributions (skipped where the KM has dropped to 0)
        w_o = np.where((do > 0) & pos, base * _tie_factor(do, y) * do, 0.0)
        a_o = f * inv_s
        # cause-of-interest contributions
        w_c = np.where(dc > 0, base * _tie_factor(dc, y) * dc, 0.0)
        a_c = 1.0 + inv_s * f
        v1 = np.cumsum(a_o * a_o * w_o + a_c * a_c * w_c)
        v2 = np.cumsum(inv_s * a_o * w_o + inv_s * a_c * w_c)
        v3 = np.cumsum(inv_s * inv_s * (w_o + w_c))
        # cmprsk evaluates this only where the CIF of this cause jumps (the caller keeps those rows)
        var = v1 + f * f * v3 - 2.0 * f * v2
        ests.append(f)
        variances.append(var)
    return t_ev, y, d_cause, ests, variances


def _conf_limits(
    est: NDArray[np.float64], var: NDArray[np.float64], conf_type: str, conf_level: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    z = norm_ppf(0.5 + conf_level / 2.0)
    se = np.sqrt(var)
    if conf_type == "none":
        nan = np.full_like(est, np.nan)
        return nan, nan.copy()
    if conf_type == "plain":
        return np.clip(est - z * se, 0.0, 1.0), np.clip(est + z * se, 0.0, 1.0)
    inner = (est > 0) & (est < 1)
    safe = np.where(inner, est, 0.5)
    if conf_type == "log":
        k = z * se / safe
        lo, hi = safe * np.exp(-k), np.minimum(safe * np.exp(k), 1.0)
    else:  # log-log
        k = z * se / (safe * np.log(safe))
        lo, hi = safe ** np.exp(-k), safe ** np.exp(k)
    return np.where(inner, lo, est), np.where(inner, hi, est)


@dataclass(frozen=True)
class GrayTestResult:
    """Gray's K-sample test for equality of the cumulative incidence of one cause.

    Attributes
    ----------
    statistic : float
        :math:`s^\\top V^{-1} s`, approximately chi-square with ``df`` degrees of freedom under
        the null hypothesis (``nan`` when :math:`V` is singular; cmprsk reports −1 there).
    df : int
        Number of groups minus one.
    pvalue : float
        Upper tail probability of the chi-square distribution.
    cause : Any
        The cause whose cumulative incidence is compared.
    groups : tuple
        Group labels in sorted order; ``score`` refers to all but the last.
    score : numpy.ndarray
        The scores :math:`s` of the first ``df`` groups (summed over strata).
    variance : numpy.ndarray
        Their estimated covariance matrix :math:`V`.
    rho : float
        Power of the weight :math:`(1 - \\hat F(t-))^{\\rho}`.
    n_strata : int
        Number of strata.
    """

    statistic: float
    df: int
    pvalue: float
    cause: Any
    groups: tuple[Any, ...]
    score: NDArray[np.float64]
    variance: NDArray[np.float64]
    rho: float
    n_strata: int


@dataclass(frozen=True)
class CumulativeIncidenceResult:
    """Aalen–Johansen cumulative incidence functions, one per cause and group.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per group, cause and distinct time at which that cause's CIF jumps, with columns
        ``group, cause, time, n_risk, n_event, est, var, std_err, lower, upper``. ``n_risk`` is the
        number at risk (all causes) just before ``time`` and ``n_event`` the number of events of
        ``cause`` at ``time``.
    causes : tuple
        Cause codes in the order used.
    groups : tuple
        Group labels in sorted order (``(None,)`` without a ``group`` argument).
    max_time : dict
        Largest follow-up time in each group; curves are undefined (``nan``) beyond it.
    conf_type, conf_level : str, float
        Confidence-interval transform and level.
    tests : tuple of GrayTestResult
        Gray's test (``rho=0``, unstratified) for each cause when there are at least two groups,
        as ``cuminc`` reports in ``$Tests``; empty otherwise.
    """

    table: pd.DataFrame
    causes: tuple[Any, ...]
    groups: tuple[Any, ...]
    max_time: dict[Any, float]
    conf_type: str
    conf_level: float
    tests: tuple[GrayTestResult, ...]

    def _curve(self, cause: Any, group: Any) -> pd.DataFrame:
        t = self.table
        mask = (t["cause"] == cause) & ((t["group"].isna()) if group is None else (t["group"] == group))
        return t.loc[mask]

    def timepoints(self, times: ArrayLike) -> pd.DataFrame:
        """Evaluate every curve at ``times``, as ``cmprsk::timepoints``.

        The CIF and its variance are right-continuous step functions; before the first jump they are
        0, and beyond the largest follow-up time of the group they are ``nan``. Times are sorted and
        de-duplicated. Returns a long DataFrame with columns
        ``group, cause, time, est, var, std_err, lower, upper``.
        """
        tp = np.unique(as_time(times, "times"))
        frames = []
        for g in self.groups:
            for c in self.causes:
                cur = self._curve(c, g)
                ct = cur["time"].to_numpy()
                idx = np.searchsorted(ct, tp, side="right") - 1
                est = np.where(idx >= 0, cur["est"].to_numpy()[np.maximum(idx, 0)] if ct.size else 0.0, 0.0)
                var = np.where(idx >= 0, cur["var"].to_numpy()[np.maximum(idx, 0)] if ct.size else 0.0, 0.0)
                beyond = tp > self.max_time[g]
                est = np.where(beyond, np.nan, est)
                var = np.where(beyond, np.nan, var)
                lo, hi = _conf_limits(est, var, self.conf_type, self.conf_level)
                frames.append(
                    pd.DataFrame(
                        {"group": [g] * tp.size, "cause": [c] * tp.size, "time": tp, "est": est, "var": var,
                         "std_err": np.sqrt(var), "lower": lo, "upper": hi}
                    )
                )
        return pd.concat(frames, ignore_index=True)

    def steps(
        self, cause: Any, group: Any = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Return ``(time, est, var)`` laid out as a ``cmprsk::cuminc`` curve.

        ``time`` starts at 0, each jump time appears twice (value before and after the jump), and the
        last entry is the largest follow-up time of the group.
        """
        if cause not in self.causes:
            raise ValueError(f"cause: {cause!r} is not one of {list(self.causes)!r}")
        if group not in self.groups:
            raise ValueError(f"group: {group!r} is not one of {list(self.groups)!r}")
        cur = self._curve(cause, group)
        t, f, v = (cur[k].to_numpy() for k in ("time", "est", "var"))
        f_prev = np.concatenate(([0.0], f[:-1]))[: f.size]
        v_prev = np.concatenate(([0.0], v[:-1]))[: v.size]
        x = np.concatenate(([0.0], np.repeat(t, 2), [self.max_time[group]]))
        est = np.concatenate(([0.0], np.column_stack([f_prev, f]).ravel(), [f[-1] if f.size else 0.0]))
        var = np.concatenate(([0.0], np.column_stack([v_prev, v]).ravel(), [v[-1] if v.size else 0.0]))
        return x, est, var


def cumulative_incidence(
    time: ArrayLike,
    event_code: ArrayLike,
    *,
    group: ArrayLike | None = None,
    causes: Sequence[Hashable] | None = None,
    censor_code: Hashable = 0,
    conf_type: str = "log-log",
    conf_level: float = 0.95,
) -> CumulativeIncidenceResult:
    r"""Aalen–Johansen estimate of the cumulative incidence function of each cause.

    With distinct event times :math:`t_1 < t_2 < \dots`, :math:`Y_j` at risk just before
    :math:`t_j`, :math:`d_{kj}` events of cause :math:`k` and :math:`d_j = \sum_k d_{kj}` events in
    all, the all-cause Kaplan–Meier estimate is :math:`S(t_j) = \prod_{l \le j} (1 - d_l / Y_l)` and

    .. math:: \hat F_k(t) = \sum_{t_j \le t} S(t_{j-1}) \, d_{kj} / Y_j .

    The variance is the delta-method (Aalen-type) estimator exactly as Gray implements it in
    ``cmprsk::cuminc`` (Fortran ``cinc``):

    .. math::

        \widehat{\mathrm{Var}}\,\hat F_k(t) = \sum_{t_j \le t} \frac{S(t_{j-1})^2}{Y_j^2}
        \Big[ c(d_{kj}, Y_j)\, d_{kj} \Big(1 + \frac{\hat F_k(t_j) - \hat F_k(t)}{S(t_j)}\Big)^2
            + c(d_j - d_{kj}, Y_j)\,(d_j - d_{kj}) \Big(\frac{\hat F_k(t_j) - \hat F_k(t)}{S(t_j)}\Big)^2
        \Big]

    with the tie correction :math:`c(d, Y) = 1 - (d - 1)/(Y - 1)` for :math:`d > 1` (else 1);
    terms with :math:`S(t_j) = 0` are handled as in cmprsk. Like cmprsk, the reported variance is
    updated only at the jump times of :math:`\hat F_k` and carried forward in between.

    Confidence limits (``conf_type="log-log"``, the usual choice with cmprsk, Pintilie 2006) are
    :math:`\hat F^{\exp(\mp z\,\widehat{se}/(\hat F \log \hat F))}`, which stay inside (0, 1).
    ``"log"`` gives :math:`\hat F e^{\pm z\,\widehat{se}/\hat F}` (upper limit capped at 1), ``"plain"``
    :math:`\hat F \pm z\,\widehat{se}` clipped to [0, 1], ``"none"`` no limits. Where
    :math:`\hat F` is 0 or 1 the transformed limits are degenerate and reported as :math:`\hat F`.

    Parameters
    ----------
    time : array_like
        Follow-up times (non-negative).
    event_code : array_like
        Event type per subject: ``censor_code`` for censored, otherwise the cause.
    group : array_like, optional
        Group labels; a CIF is estimated in each group, and Gray's test (``rho=0``) is run for each
        cause when there are at least two groups.
    causes : sequence, optional
        The admissible cause codes, in the order to report them (default: the observed non-censored
        codes, sorted). Any other code raises ``ValueError``.
    censor_code : hashable
        Code of censored observations (default 0).
    conf_type : {"log-log", "log", "plain", "none"}
    conf_level : float

    Returns
    -------
    CumulativeIncidenceResult

    References
    ----------
    Aalen & Johansen (1978); Aalen (1978); Gray (1988); R package cmprsk (Gray), function ``cuminc``.
    """
    t = as_time(time, "time")
    codes, cause_labels = _event_codes(event_code, causes, censor_code)
    check_lengths(time=t, event_code=codes, group=None if group is None else np.asarray(group, dtype=object))
    gi, groups = _group_index(group, t.size, "group")
    if conf_type not in _CONF_TYPES:
        raise ValueError(f"conf_type: {conf_type!r} is not one of {', '.join(_CONF_TYPES)}")
    conf_level = check_conf_level(conf_level)
    n_causes = len(cause_labels)

    curves = []
    for g_idx in range(len(groups)):
        sel = gi == g_idx
        tg, cg = t[sel], codes[sel]
        curves.append((float(tg.max()), _cif_one_group(tg, cg, n_causes)))
    tests: tuple[GrayTestResult, ...] = ()
    if len(groups) > 1:
        tests = tuple(
            _gray(t, codes, gi, groups, np.zeros(t.size, dtype=np.int64), c_idx + 1, c, 0.0)
            for c_idx, c in enumerate(cause_labels)
            if np.any(codes == c_idx + 1)
        )
    return cuminc_result(curves, cause_labels, groups, conf_type, conf_level, tests)


def cuminc_result(
    curves: list[tuple[float, tuple[Any, ...]]],
    cause_labels: tuple[Any, ...],
    groups: tuple[Any, ...],
    conf_type: str,
    conf_level: float,
    tests: tuple[GrayTestResult, ...],
) -> CumulativeIncidenceResult:
    """Assemble a :class:`CumulativeIncidenceResult` from, per group, the largest follow-up time and the
    output of :func:`_cif_from_counts` (shared by patient rows and count tables)."""
    rows: list[pd.DataFrame] = []
    max_time: dict[Any, float] = {}
    for g, (tmax, (t_ev, y, d_cause, ests, variances)) in zip(groups, curves, strict=True):
        max_time[g] = tmax
        for c_idx, c in enumerate(cause_labels):
            jump = d_cause[:, c_idx] > 0
            est, var = ests[c_idx][jump], variances[c_idx][jump]
            lo, hi = _conf_limits(est, var, conf_type, conf_level)
            k = int(jump.sum())
            rows.append(
                pd.DataFrame(
                    {"group": [g] * k, "cause": [c] * k, "time": t_ev[jump],
                     "n_risk": y[jump].astype(np.int64), "n_event": d_cause[jump, c_idx].astype(np.int64),
                     "est": est, "var": var,
                     "std_err": np.sqrt(var), "lower": lo, "upper": hi}
                )
            )
    table = pd.concat(rows, ignore_index=True)
    return CumulativeIncidenceResult(
        table=table,
        causes=cause_labels,
        groups=groups,
        max_time=max_time,
        conf_type=conf_type,
        conf_level=conf_level,
        tests=tests,
    )


# ----------------------------------------------------------------------------------------------------
# Gray's test
# ----------------------------------------------------------------------------------------------------


def _gray_stratum(
    time: NDArray[np.float64], m: NDArray[np.int64], g: NDArray[np.int64], n_groups: int, rho: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Score vector (all groups) and its covariance for one stratum, following cmprsk's crst.

    ``m`` is 0 censored, 1 cause of interest, 2 other cause; ``g`` is the group index 0..G-1.
    """
    G = n_groups
    ut, inv = np.unique(time, return_inverse=True)
    counts = np.zeros((ut.size, G, 3))
    np.add.at(counts, (inv, g, m), 1.0)
    return _gray_from_counts(counts, rho)


def _gray_from_counts(counts: NDArray[np.float64], rho: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """:func:`_gray_stratum` from ``counts[j, r, m]``: records of group ``r`` leaving at the ``j``-th
    distinct time (ascending) censored (``m = 0``), by the cause of interest (1) or by another cause (2).
    Patient rows and count tables both reach the test through this function."""
    G = counts.shape[1]
    per_time = counts.sum(axis=2)  # (T, G): all leaving at each time
    rs_all = per_time[::-1].cumsum(axis=0)[::-1]  # at risk at each time, per group
    d1_all, d2_all = counts[:, :, 1], counts[:, :, 2]
    ev = (d1_all.sum(axis=1) + d2_all.sum(axis=1)) > 0
    rs, d1, d2 = rs_all[ev], d1_all[ev], d2_all[ev]
    if rs.shape[0] == 0:
        return np.zeros(G), np.zeros((G, G))
    nd1 = d1.sum(axis=1)
    live = rs > 0
    rs_safe = np.where(live, rs, 1.0)

    # per-group all-cause KM (right- and left-continuous) and cause-1 CIF (left-continuous)
    step = np.where(live, (rs - d1 - d2) / rs_safe, 1.0)
    skm = np.cumprod(step, axis=0)
    skmm = np.vstack([np.ones((1, G)), skm[:-1]])
    f1 = np.cumsum(np.where(live, skmm * d1 / rs_safe, 0.0), axis=0)
    f1m = np.vstack([np.zeros((1, G)), f1[:-1]])

    t1 = np.where(live, rs / np.where(live, skmm, 1.0), 0.0)  # \hat h_r
    tr = t1.sum(axis=1)
    tq = (t1 * (1.0 - f1m)).sum(axis=1)
    f = np.cumsum(nd1 / tr)
    fm = np.concatenate(([0.0], f[:-1]))
    fb = (1.0 - fm) ** rho

    # a_t = fb (diag(h) - h h'/tr); c accumulates a_t * nd1 / (tr (1 - fm))
    a = -(fb / tr)[:, None, None] * t1[:, :, None] * t1[:, None, :]
    diag = np.arange(G)
    a[:, diag, diag] += fb[:, None] * t1
    with np.errstate(divide="ignore", invalid="ignore"):
        inc = np.where(nd1 > 0, nd1 / (tr * (1.0 - fm)), 0.0)
    c = np.cumsum(a * inc[:, None, None], axis=0)

    expected = nd1[:, None] * t1 * (1.0 - f1m) / tq[:, None]
    score = (fb[:, None] * np.where(live, d1 - expected, 0.0)).sum(axis=0)

    # cause-of-interest contributions
    skm_pos = skm > 0
    t4 = np.where(skm_pos, 1.0 - (1.0 - f[:, None]) / np.where(skm_pos, skm, 1.0), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t5 = np.where(nd1[:, None] > 1, 1.0 - (nd1[:, None] - 1.0) / (tr[:, None] * skmm - 1.0), 1.0)
    t3 = np.where(live & (nd1[:, None] > 0), t5 * skmm * nd1[:, None] / (tr[:, None] * rs_safe), 0.0)
    b = a - t4[:, None, :] * c  # (T, i, k)
    v3 = (t4 * t4 * t3).sum(axis=0)
    v2 = np.einsum("tik,tk->ik", b, t4 * t3)
    v = np.einsum("tik,tjk,tk->ij", b, b, t3)

    # other-cause contributions
    use2 = skm_pos & (d2 > 0)
    t4o = np.where(use2, (1.0 - f[:, None]) / np.where(skm_pos, skm, 1.0), 0.0)
    t5o = np.where(d2 > 1, 1.0 - (d2 - 1.0) / np.where(d2 > 1, rs - 1.0, 1.0), 1.0)
    t3o = np.where(use2, t5o * skmm**2 * d2 / rs_safe**2, 0.0)
    w = t4o * t4o * t3o
    v3 = v3 + w.sum(axis=0)
    v2 = v2 - np.einsum("tik,tk->ik", c, w)
    v = v + np.einsum("tik,tjk,tk->ij", c, c, w)

    cf = c[-1]
    v = v + (cf * v3[None, :]) @ cf.T + cf @ v2.T + v2 @ cf.T
    return score, v


def _gray(
    time: NDArray[np.float64],
    codes: NDArray[np.int64],
    gi: NDArray[np.int64],
    groups: tuple[Any, ...],
    si: NDArray[np.int64],
    cause_index: int,
    cause: Any,
    rho: float,
) -> GrayTestResult:
    G = len(groups)
    m = np.where(codes == 0, 0, np.where(codes == cause_index, 1, 2))
    score = np.zeros(G)
    var = np.zeros((G, G))
    strata = np.unique(si)
    for s in strata:
        sel = si == s
        sc, vv = _gray_stratum(time[sel], m[sel], gi[sel], G, rho)
        score += sc
        var += vv
    return gray_result(score, var, groups, cause, rho, int(strata.size))


def gray_result(
    score: NDArray[np.float64], var: NDArray[np.float64], groups: tuple[Any, ...], cause: Any, rho: float,
    n_strata: int,
) -> GrayTestResult:
    """Gray's statistic from the scores and covariance summed over strata (all groups); shared by
    patient rows and count tables."""
    G = len(groups)
    s1, v1 = score[: G - 1], var[: G - 1, : G - 1]
    sv = np.linalg.svd(v1, compute_uv=False)
    if sv.size and sv[0] > 0 and sv[-1] > 1e-7 * sv[0]:
        stat = float(s1 @ np.linalg.solve(v1, s1))
        pvalue = float(chi2_sf(stat, G - 1))
    else:
        stat, pvalue = float("nan"), float("nan")
    return GrayTestResult(
        statistic=stat,
        df=G - 1,
        pvalue=pvalue,
        cause=cause,
        groups=groups,
        score=s1,
        variance=v1,
        rho=float(rho),
        n_strata=n_strata,
    )


def gray_test(
    time: ArrayLike,
    event_code: ArrayLike,
    group: ArrayLike,
    *,
    cause: Hashable,
    strata: ArrayLike | None = None,
    rho: float = 0.0,
    causes: Sequence[Hashable] | None = None,
    censor_code: Hashable = 0,
) -> GrayTestResult:
    r"""Gray's K-sample test for equality of the cumulative incidence of ``cause`` across groups.

    For each group :math:`r` the score is

    .. math::

        s_r = \sum_j W(t_j)\, \Big[ d_{1rj} - \frac{R_r(t_j)}{\sum_l R_l(t_j)} \sum_l d_{1lj}
        \Big], \qquad R_r(t) = Y_r(t)\,\frac{1 - \hat F_{1r}(t-)}{\hat S_r(t-)},

    summed over the distinct event times :math:`t_j` (:math:`d_{1rj}` events of ``cause`` in group
    :math:`r`, :math:`Y_r` at risk), with :math:`W(t) = (1 - \hat F_1(t-))^{\rho}` built from the pooled
    estimate :math:`\hat F_1(t) = \sum_{t_j \le t} \sum_l d_{1lj} / \sum_l Y_l(t_j)/\hat S_l(t_j-)`,
    :math:`\hat S_r` the group's all-cause Kaplan–Meier estimate and
    :math:`\hat F_{1r}` its cumulative incidence of ``cause``. The statistic
    :math:`s^\top \hat V^{-1} s` over the first :math:`K-1` groups is compared with
    :math:`\chi^2_{K-1}`; :math:`\hat V` is Gray's (1988) variance estimator as computed by cmprsk's
    Fortran routine ``crstm``. With ``strata``, scores and variances are summed over strata.
    Matches ``cmprsk::cuminc(time, event_code, group, strata, rho)$Tests`` (cmprsk reports −1 for a
    singular :math:`\hat V`; here statistic and p-value are ``nan``; singularity is judged by a
    relative singular-value tolerance of 1e-7, close to R's ``qr`` rank tolerance).

    Parameters
    ----------
    time, event_code, group : array_like
        Follow-up time, event code (``censor_code`` or a cause) and group label per subject.
    cause : hashable
        The cause whose cumulative incidence is compared; all other causes are competing.
    strata : array_like, optional
        Stratum labels.
    rho : float
        Power of the weight function (0 gives the log-rank-like test).
    causes : sequence, optional
        Admissible cause codes (default: all observed non-censored codes).
    censor_code : hashable

    Returns
    -------
    GrayTestResult

    References
    ----------
    Gray R.J. (1988). *Ann. Statist.* 16, 1141–1154. R package cmprsk, ``cuminc`` / ``crstm``.
    """
    t = as_time(time, "time")
    codes, cause_labels = _event_codes(event_code, causes, censor_code)
    n = check_lengths(
        time=t,
        event_code=codes,
        group=np.asarray(group, dtype=object),
        strata=None if strata is None else np.asarray(strata, dtype=object),
    )
    gi, groups = _group_index(group, n, "group")
    si, _ = _group_index(strata, n, "strata")
    keys = [_code_key(c) for c in cause_labels]
    ck = _code_key(cause)
    if ck not in keys:
        raise ValueError(f"cause: {cause!r} is not one of the causes {list(cause_labels)!r}")
    cause_index = keys.index(ck) + 1
    if not np.any(codes == cause_index):
        raise ValueError(f"cause: no events of cause {cause!r} in the data")
    if len(groups) < 2:
        raise ValueError(f"group: need at least two groups, got {list(groups)!r}")
    rho = float(rho)
    if not np.isfinite(rho):
        raise ValueError(f"rho: {rho!r} is not finite")
    return _gray(t, codes, gi, groups, si, cause_index, cause_labels[cause_index - 1], rho)
