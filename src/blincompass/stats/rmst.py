"""Restricted mean survival time (RMST) up to a horizon τ, and the difference between two groups.

The restricted mean is the area under the Kaplan–Meier curve from 0 to τ: the expected survival time
within the first τ time units. Two groups are compared over one common horizon, by default the smallest
of the groups' largest observed times, so that neither estimate extends the curve past its data (Royston &
Parmar 2013; Uno et al. 2014).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import check_conf_level
from ._dist import norm_cdf, norm_ppf, norm_sf
from ._riskset import prepare, right_censored_table

__all__ = ["RMSTDifferenceResult", "RMSTResult", "common_horizon", "rmst", "rmst_difference"]

F64 = NDArray[np.float64]
_ALTERNATIVES = ("two-sided", "less", "greater")


@dataclass(frozen=True)
class RMSTResult:
    """Restricted mean survival time of one sample up to ``tau``.

    Attributes
    ----------
    tau : float
        The horizon.
    estimate, se : float
        Restricted mean and its standard error.
    lower, upper : float
        Normal-theory confidence limits ``estimate -/+ z se``.
    conf_level : float
    n : int
        Number of records.
    n_events : int
        Events up to and including ``tau``.
    """

    tau: float
    estimate: float
    se: float
    lower: float
    upper: float
    conf_level: float
    n: int
    n_events: int


@dataclass(frozen=True)
class RMSTDifferenceResult:
    """Difference of the restricted means of two groups over one horizon (first group minus second).

    Attributes
    ----------
    tau : float
        The common horizon.
    groups : tuple
        The two group values, first and second.
    rmst : tuple of RMSTResult
        Each group's restricted mean, in the order of ``groups``.
    difference, se : float
        ``rmst[0].estimate - rmst[1].estimate`` and its standard error.
    lower, upper : float
        Two-sided confidence limits of the difference (``conf_level``).
    statistic : float
        z = difference / se.
    pvalue : float
        p-value for ``alternative``.
    alternative : str
        "two-sided"; "greater" (H1: the first group's restricted mean is larger); "less".
    conf_level : float
    tau_rule : str
        "given" (``tau`` passed) or "smallest last observation" (the default rule).
    """

    tau: float
    groups: tuple[object, object]
    rmst: tuple[RMSTResult, RMSTResult]
    difference: float
    se: float
    lower: float
    upper: float
    statistic: float
    pvalue: float
    alternative: str
    conf_level: float
    tau_rule: str


def rmst(time: ArrayLike, event: ArrayLike, tau: float, *, conf_level: float = 0.95) -> RMSTResult:
    r"""Restricted mean survival time up to ``tau`` from the Kaplan–Meier curve, with its standard error.

    Parameters
    ----------
    time : array_like
        Time of each record (event or censoring), finite and non-negative.
    event : array_like
        1/True for an event, 0/False for censoring.
    tau : float
        The horizon, positive and not beyond the largest observed time (the curve is not estimated
        past the last observation).
    conf_level : float
        Level of the normal-theory interval.

    Returns
    -------
    RMSTResult

    Notes
    -----
    With the distinct event times :math:`t_1 < \dots < t_k \le \tau`, :math:`n_i` at risk and :math:`d_i`
    events,

    .. math::

        \hat\mu(\tau) = \int_0^\tau \hat S(t)\,dt, \qquad
        \widehat{\operatorname{Var}}\{\hat\mu(\tau)\} = \sum_{i=1}^{k} A_i^2\,\frac{d_i}{n_i(n_i - d_i)},
        \qquad A_i = \int_{t_i}^{\tau} \hat S(t)\,dt,

    terms with :math:`n_i = d_i` counting as 0 (Klein & Moeschberger 2003, §4.5; Andersen et al. 2004).
    This is R ``survival`` ``print(survfit(...), rmean = tau)`` (``rmean`` and ``se(rmean)``) and
    ``survRM2::rmst2``'s per-group estimate. The interval is :math:`\hat\mu \pm z_{1-\alpha/2}\,SE`.

    References
    ----------
    Royston P, Parmar MKB (2013). Restricted mean survival time: an alternative to the hazard ratio for
    the design and analysis of randomized trials with a time-to-event outcome. BMC Med Res Methodol 13:152.
    Klein JP, Moeschberger ML (2003). *Survival Analysis*, 2nd ed., Springer, §4.5.
    """
    conf_level = check_conf_level(conf_level)
    t, e, _, _ = prepare(time, event)
    tau = float(tau)
    if not np.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau: {tau!r} must be a positive finite time")
    if t.size == 0:
        raise ValueError("time: no records")
    tmax = float(t.max())
    if tau > tmax:
        raise ValueError(f"tau: {tau:g} is beyond the largest observed time {tmax:g}; the curve is not "
                         "estimated past the last observation")
    rt, _ = right_censored_table(t, e)
    ev = (rt.n_event > 0) & (rt.time <= tau)
    te, n, d = rt.time[ev], rt.n_risk[ev], rt.n_event[ev]
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - d / n)
        h = np.where(n - d > 0, d / (n * (n - d)), 0.0)
    # the step function on [0, tau]: S = 1 on [0, t_1), surv[i] on [t_i, t_{i+1}) (t_{k+1} = tau)
    edges = np.append(te, tau)
    pieces = np.diff(edges) * surv  # area of [t_i, t_{i+1})
    first = float(te[0]) if te.size else tau
    estimate = first + float(pieces.sum())
    after = np.cumsum(pieces[::-1])[::-1]  # A_i = area from t_i to tau
    se = float(np.sqrt(np.dot(after**2, h)))
    z = float(norm_ppf(1 - (1 - conf_level) / 2))
    return RMSTResult(tau=tau, estimate=estimate, se=se, lower=estimate - z * se, upper=estimate + z * se,
                      conf_level=conf_level, n=int(t.size), n_events=int(d.sum()))


def common_horizon(time: ArrayLike, group: ArrayLike, order: Sequence[object] | None = None) -> float:
    """The smallest of the groups' largest observed times (event or censoring): the longest horizon over
    which every group's Kaplan–Meier curve is estimated (Uno et al. 2014, Tian et al. 2020)."""
    t = np.asarray(time, dtype=np.float64)
    g = np.asarray(group, dtype=object)
    levels = list(order) if order is not None else sorted(set(g.tolist()), key=str)
    lasts = []
    for v in levels:
        sel = g == v
        if not sel.any():
            raise ValueError(f"group: no records in group {v!r}")
        lasts.append(float(t[sel].max()))
    return min(lasts)


def rmst_difference(
    time: ArrayLike,
    event: ArrayLike,
    group: ArrayLike,
    *,
    tau: float | None = None,
    order: Sequence[object] | None = None,
    alternative: str = "two-sided",
    conf_level: float = 0.95,
) -> RMSTDifferenceResult:
    r"""Difference of the restricted mean survival times of two groups over one horizon τ.

    Parameters
    ----------
    time, event : array_like
        As :func:`rmst`.
    group : array_like
        Group of each record; exactly two groups.
    tau : float, optional
        The horizon; default the smallest of the two groups' largest observed times (event or
        censoring), the default of ``survRM2::rmst2`` (Uno et al. 2014, Tian et al. 2020).
    order : sequence, optional
        The two group values, first and second (default: sorted). The difference is first minus second.
    alternative : {"two-sided", "greater", "less"}
        "greater": H1 the first group's restricted mean is larger; "less": smaller.
    conf_level : float
        Level of the two-sided interval of the difference.

    Returns
    -------
    RMSTDifferenceResult

    Notes
    -----
    The groups are independent samples, so

    .. math::

        \hat\Delta = \hat\mu_1(\tau) - \hat\mu_2(\tau), \qquad
        \operatorname{SE}(\hat\Delta) = \sqrt{\operatorname{SE}(\hat\mu_1)^2 + \operatorname{SE}(\hat\mu_2)^2},
        \qquad z = \hat\Delta / \operatorname{SE}(\hat\Delta),

    with the interval :math:`\hat\Delta \pm z_{1-\alpha/2}\operatorname{SE}` and the p-value from the
    standard normal distribution of z (two-sided :math:`2\{1 - \Phi(|z|)\}`; "greater" :math:`1 - \Phi(z)`;
    "less" :math:`\Phi(z)`), as ``survRM2::rmst2`` ("RMST (arm=1)-(arm=0)").

    References
    ----------
    Uno H, Claggett B, Tian L, et al. (2014). Moving beyond the hazard ratio in quantifying the
    between-group difference in survival analysis. J Clin Oncol 32:2380–2385.
    Royston P, Parmar MKB (2013). BMC Med Res Methodol 13:152.
    Tian L, Jin H, Uno H, et al. (2020). On the empirical choice of the time window for restricted mean
    survival time. Biometrics 76:1157–1166.
    """
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative: {alternative!r} is not one of {', '.join(_ALTERNATIVES)}")
    conf_level = check_conf_level(conf_level)
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event)
    g = np.asarray(group, dtype=object)
    if not (t.shape == e.shape == g.shape):
        raise ValueError(f"time, event and group differ in length ({t.size}, {e.size}, {g.size})")
    levels = list(order) if order is not None else sorted(set(g.tolist()), key=str)
    if len(levels) != 2:
        raise ValueError(f"group: the difference of restricted means compares two groups, got {len(levels)}")
    rule = "given"
    if tau is None:
        tau = common_horizon(t, g, levels)
        rule = "smallest last observation"
    parts = tuple(rmst(t[g == v], e[g == v], tau, conf_level=conf_level) for v in levels)
    r1, r2 = parts
    diff = r1.estimate - r2.estimate
    se = float(np.hypot(r1.se, r2.se))
    zq = float(norm_ppf(1 - (1 - conf_level) / 2))
    if se > 0:
        z = diff / se
        if alternative == "two-sided":
            p = float(2 * norm_sf(abs(z)))
        elif alternative == "greater":
            p = float(norm_sf(z))
        else:
            p = float(norm_cdf(z))
    else:
        z, p = float("nan"), float("nan")
    return RMSTDifferenceResult(tau=float(tau), groups=(levels[0], levels[1]), rmst=(r1, r2), difference=diff,
                                se=se, lower=diff - zq * se, upper=diff + zq * se, statistic=float(z),
                                pvalue=p, alternative=alternative, conf_level=conf_level, tau_rule=rule)
