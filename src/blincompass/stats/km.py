"""Kaplan–Meier (product-limit) estimator with R-compatible confidence bands, quantiles and restricted mean.

Conventions follow R ``survival`` (``survfit``, ``summary.survfit``, ``quantile.survfit``, ``print.survfit``)
so that results can be checked number by number against R; the SPSS convention for the median and its
standard error is available as an option.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from ._checks import check_conf_level
from ._dist import norm_ppf
from ._riskset import R_TOLERANCE, RiskTable, prepare, r_findq, right_censored_table, risk_table

__all__ = [
    "KaplanMeierResult",
    "MedianCI",
    "QuantileResult",
    "SurvivalAt",
    "FollowUpResult",
    "bound_interval",
    "kaplan_meier",
    "km_from_risk_table",
    "median_follow_up",
]

F64 = NDArray[np.float64]
ConfType = Literal["log-log", "log", "plain"]
MedianMethod = Literal["brookmeyer-crowley", "spss"]

_CONF_TYPES = ("log-log", "log", "plain")
_MEDIAN_METHODS = ("brookmeyer-crowley", "spss")
#: Half-width of the uniform kernel in SPSS's density estimate for the percentile standard error.
_SPSS_BAND = 0.05


@dataclass(frozen=True)
class MedianCI:
    """Confidence limits of a median or quantile; ``None`` where the limit is not reached."""

    lower: float | None
    upper: float | None


@dataclass(frozen=True)
class QuantileResult:
    """A quantile of the survival-time distribution, ``p`` on the scale ``F = 1 - S`` (as R)."""

    p: float
    estimate: float | None
    lower: float | None
    upper: float | None
    se: float | None
    method: str


@dataclass(frozen=True)
class SurvivalAt:
    """The survival curve and its pointwise confidence band evaluated at given times."""

    time: F64
    surv: F64
    std_err: F64
    lower: F64
    upper: F64


def _none_if_nan(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)


def conf_band(
    surv: F64, se_log: F64, conf_type: str, conf_level: float, which: str = "both"
) -> tuple[F64, ...]:
    """Pointwise confidence limits exactly as R ``survival:::survfit_confint`` (with ``logse=TRUE``).

    ``se_log`` is the standard error of ``-log S`` (R's ``std.err``).  NaN where R gives ``NA``: at
    ``S = 0`` for every type and also at ``S = 1`` for ``"log-log"``.  Returns ``(lower, upper)``, or a
    1-tuple when ``which`` is ``"lower"`` or ``"upper"``.
    """
    z = float(norm_ppf(1 - (1 - conf_level) / 2))
    sides = ("lower", "upper") if which == "both" else (which,)
    out = []
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "plain":
            se2 = se_log * surv
            se2 *= z
            for side in sides:
                if side == "lower":
                    b = np.subtract(surv, se2)
                    np.maximum(b, 0.0, out=b)
                else:
                    b = np.add(surv, se2)
                    np.minimum(b, 1.0, out=b)
                out.append(b)
        elif conf_type == "log":
            lxx = np.log(surv)  # -inf at S = 0 -> NaN below, as R's NA
            lxx[surv == 0] = np.nan
            for side in sides:
                b = np.subtract(lxx, z * se_log) if side == "lower" else np.add(lxx, z * se_log)
                np.exp(b, out=b)
                if side == "upper":
                    np.minimum(b, 1.0, out=b)
                out.append(b)
        elif conf_type == "log-log":
            lll = np.log(surv)
            lll[(surv == 0) | (surv == 1)] = np.nan
            se2 = z * se_log
            se2 /= lll
            np.negative(lll, out=lll)
            np.log(lll, out=lll)
            for side in sides:
                b = np.subtract(lll, se2) if side == "lower" else np.add(lll, se2)
                np.exp(b, out=b)
                np.negative(b, out=b)
                np.exp(b, out=b)
                out.append(b)
        else:  # pragma: no cover - validated by callers
            raise ValueError(f"conf_type: {conf_type!r} is not one of {', '.join(_CONF_TYPES)}")
    return tuple(out)


@dataclass(frozen=True)
class KaplanMeierResult:
    """Result of :func:`kaplan_meier`.

    Attributes
    ----------
    n : float
        Number of records (sum of case weights if weighted).
    n_events : float
        Number (weight) of events.
    median : float or None
        Median survival time (``None`` when the curve does not reach 0.5).
    median_ci : MedianCI
        Confidence limits of the median by the method in ``median_ci_method``.
    median_se : float or None
        Standard error of the median (only for ``median_ci="spss"``).
    mean, mean_se : float
        Restricted mean survival time up to the largest observed time and its standard error, as R
        ``print(survfit, rmean="individual")`` / SPSS "Means for survival time".
    conf_type, conf_level, median_ci_method : str, float, str
        The options used.

    The curve itself is available as :attr:`table` (one row per distinct time, as R
    ``summary(fit, censored=TRUE)``), :meth:`survival_at` and :meth:`quantile`; these are built from the
    stored per-time counts on first use.
    """

    n: float
    n_events: float
    median: float | None
    median_ci: MedianCI
    median_se: float | None
    mean: float
    mean_se: float
    conf_type: str
    conf_level: float
    median_ci_method: str
    _time: F64 = field(repr=False, compare=False)
    _n_risk: F64 = field(repr=False, compare=False)
    _n_event: F64 = field(repr=False, compare=False)
    _n_censor: F64 = field(repr=False, compare=False)

    @property
    def time(self) -> F64:
        """Distinct observed times (events and censorings), ascending."""
        return self._time

    @property
    def surv(self) -> F64:
        """Survival estimate at :attr:`time`."""
        return self._curve[0]

    # The curve, its variance and the band are recomputed from the counts on first use (a few linear
    # passes) rather than kept from construction: this keeps the memory held by a result small.
    @cached_property
    def _curve(self) -> tuple[F64, F64]:
        surv, gw, _, _ = _km_stats(self._time, self._n_risk, self._n_event, with_mean=False)
        return surv, gw

    @property
    def _surv(self) -> F64:
        return self._curve[0]

    @property
    def _gw(self) -> F64:
        return self._curve[1]

    @cached_property
    def _band(self) -> tuple[F64, F64]:
        with np.errstate(invalid="ignore"):
            se_log = np.sqrt(self._gw)
        return conf_band(self._surv, se_log, self.conf_type, self.conf_level)

    @cached_property
    def table(self) -> pd.DataFrame:
        """One row per distinct observed time, as R ``summary(survfit(...), censored=TRUE)``.

        Columns ``time, n_risk, n_event, n_censor, surv, std_err, lower, upper``; ``std_err`` is the
        Greenwood standard error of ``S`` itself, ``S * sqrt(sum d / (n (n - d)))``.
        """
        lower, upper = self._band
        with np.errstate(invalid="ignore"):
            std_err = self._surv * np.sqrt(self._gw)
        return pd.DataFrame(
            {
                "time": self._time,
                "n_risk": self._n_risk,
                "n_event": self._n_event,
                "n_censor": self._n_censor,
                "surv": self._surv,
                "std_err": std_err,
                "lower": lower,
                "upper": upper,
            }
        )

    def survival_at(self, times: ArrayLike) -> SurvivalAt:
        """Evaluate the right-continuous step function at ``times``.

        Before the first observed time S = 1 with limits 1; beyond the largest observed time the last
        value is carried forward (R ``summary(fit, times=, extend=TRUE)``).
        """
        q = np.atleast_1d(np.asarray(times, dtype=np.float64))
        if np.isnan(q).any():
            i = int(np.flatnonzero(np.isnan(q))[0])
            raise ValueError(f"times: NaN at position {i}")
        idx = np.searchsorted(self._time, q, side="right") - 1
        before = idx < 0
        idx_c = np.where(before, 0, idx)
        surv = np.where(before, 1.0, self._surv[idx_c])
        gw = np.where(before, 0.0, self._gw[idx_c])
        with np.errstate(invalid="ignore"):
            se_log = np.sqrt(gw)
            std_err = surv * se_log
        lower, upper = conf_band(surv, se_log, self.conf_type, self.conf_level)
        # As R summary(fit, times=): limits are 1 before the first observed time.
        lower[before] = 1.0
        upper[before] = 1.0
        return SurvivalAt(q, surv, std_err, lower, upper)

    def quantile(self, p: float, method: MedianMethod | None = None) -> QuantileResult:
        """Quantile ``p`` of the survival-time distribution (``p = 0.5`` is the median).

        ``p`` applies to ``F = 1 - S`` as in R ``quantile.survfit``.  ``method`` defaults to
        :attr:`median_ci_method`; see :func:`kaplan_meier` for both methods.
        """
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p: {p!r} must lie in [0, 1]")
        method = self.median_ci_method if method is None else _check_method(method)
        surv, gw = self._curve
        return _quantile(
            self._time, self._n_event, surv, gw, p, method, self.conf_type, self.conf_level
        )


def _quantile(
    time: F64,
    n_event: F64,
    surv: F64,
    gw: F64,
    p: float,
    method: str,
    conf_type: str,
    conf_level: float,
) -> QuantileResult:
    """Quantile and limits; works on the event rows only (censored rows repeat the previous values)."""
    if method == "spss":
        est, se, lo, hi = _spss_quantile(time, n_event, surv, gw, p, conf_level)
        return QuantileResult(p, est, lo, hi, se, method)
    if time.size == 0:
        return QuantileResult(p, None, None, None, None, method)
    ev = n_event > 0
    # boolean indexing rather than np.compress: no intermediate index array (memory at 1e7 rows)
    return _bc_quantile(time[ev], surv[ev], gw[ev], float(time[-1]), p, conf_type, conf_level)


def _bc_quantile(
    x: F64, s_ev: F64, g_ev: F64, xmax: float, p: float, conf_type: str, conf_level: float
) -> QuantileResult:
    """R ``quantile.survfit`` on event rows ``x``; ``g_ev`` (Greenwood sums) is overwritten."""
    pp = np.array([p])
    y = np.subtract(1.0, s_ev)
    est = r_findq(x, y, pp, xmax=xmax)[0]
    del y
    with np.errstate(invalid="ignore"):
        np.sqrt(g_ev, out=g_ev)
    lim = []
    for which in ("lower", "upper"):
        b = conf_band(s_ev, g_ev, conf_type, conf_level, which=which)[0]
        np.subtract(1.0, b, out=b)
        lim.append(r_findq(x, b, pp, xmax=xmax)[0])
        del b
    return QuantileResult(
        p, _none_if_nan(est), _none_if_nan(lim[0]), _none_if_nan(lim[1]), None, "brookmeyer-crowley"
    )


def _check_method(method: str) -> str:
    if method not in _MEDIAN_METHODS:
        raise ValueError(f"median_ci: {method!r} is not one of {', '.join(_MEDIAN_METHODS)}")
    return method


def _spss_quantile(
    time: F64, n_event: F64, surv: F64, gw: F64, p: float, conf_level: float
) -> tuple[float | None, float | None, float | None, float | None]:
    """SPSS percentile, its standard error and the symmetric interval ``t_p -/+ z SE``."""
    ev = n_event > 0
    te = time[ev]
    se_ = surv[ev]
    target = 1.0 - p
    hit = np.flatnonzero(se_ <= target + R_TOLERANCE)
    if hit.size == 0:
        return None, None, None, None
    j = int(hit[0])
    est = float(te[j])
    with np.errstate(invalid="ignore"):
        se_s = float(se_[j] * np.sqrt(gw[ev][j]))
    # Uniform-kernel density estimate over the band S in [target - 0.05, target + 0.05].
    upper_idx = np.flatnonzero(se_ >= target + _SPSS_BAND)
    if upper_idx.size:
        t_u, s_u = float(te[upper_idx[-1]]), float(se_[upper_idx[-1]])
    else:
        t_u, s_u = 0.0, 1.0
    lower_idx = np.flatnonzero(se_ <= target - _SPSS_BAND)
    if lower_idx.size == 0 or not np.isfinite(se_s):
        return est, None, None, None
    t_l, s_l = float(te[lower_idx[0]]), float(se_[lower_idx[0]])
    if t_l <= t_u:  # the band is crossed at time 0 (events at time 0): no density estimate
        return est, None, None, None
    dens = (s_u - s_l) / (t_l - t_u)
    se_t = se_s / dens
    z = float(norm_ppf(1 - (1 - conf_level) / 2))
    return est, se_t, est - z * se_t, est + z * se_t


def bound_interval(
    lower: float | None, upper: float | None, low: float, high: float
) -> tuple[float | None, float | None, bool]:
    r"""A confidence interval for a time, bounded to the range the data can speak of.

    A symmetric (Wald) interval :math:`\hat t \pm z\,\mathrm{SE}` of a survival time, as SPSS prints
    for the median, can reach below 0 or beyond the largest observed time. Each limit outside
    ``[low, high]`` is replaced by the nearest bound:

    .. math::

        L^* = \min\{\max(L, \text{low}), \text{high}\}, \qquad
        U^* = \max\{\min(U, \text{high}), \text{low}\}.

    The report uses ``low = 0`` (a survival time is not negative, so no value below 0 is in the parameter
    space; the smallest observed time is *not* used, since the true median may lie below it) and
    ``high`` = the largest observed time (the Kaplan–Meier curve is not estimated past it). Truncating the
    lower limit at 0 keeps the interval's coverage, since only impossible values are removed (an interval
    cut to the parameter space, Mandelkern 2002). The upper limit is different: times past the largest
    observation are possible but the data say nothing about them, so an upper limit set to ``high`` reads
    "at least the end of follow-up" (the Brookmeyer–Crowley interval reports it as not estimable). A
    missing limit (``None``, not estimable) stays missing.

    Returns
    -------
    tuple
        ``(lower, upper, bounded)``; ``bounded`` tells whether a limit was moved.

    References
    ----------
    Mandelkern M (2002). Setting confidence intervals for bounded parameters. Statistical Science
    17:149–172.
    """
    if low > high:
        raise ValueError(f"bound_interval: low {low!r} is above high {high!r}")
    lo, hi = lower, upper
    if lo is not None:
        lo = min(max(lo, low), high)
    if hi is not None:
        hi = max(min(hi, high), low)
    return lo, hi, (lo != lower) or (hi != upper)


def _km_stats(
    time: F64, n_risk: F64, n_event: F64, *, with_mean: bool = True
) -> tuple[F64, F64, float, float]:
    """Product-limit curve, Greenwood sum (variance of -log S) and the restricted mean with its SE.

    The restricted mean follows R ``survival:::survmean``: the area under the curve from 0 to the last
    time, with variance ``sum_i A_i^2 d_i / (n_i (n_i - d_i))`` where ``A_i`` is the area after ``t_i``
    (terms with ``n_i = d_i`` count as 0).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.divide(n_event, n_risk)
        np.subtract(1.0, surv, out=surv)
        np.cumprod(surv, out=surv)
        inc = np.subtract(n_risk, n_event)
        inc *= n_risk
        np.divide(n_event, inc, out=inc)  # d / (n (n - d)); inf where n = d > 0
    inc[np.isnan(inc)] = 0.0  # 0/0: nobody at risk and no event
    mean = mean_se = 0.0
    if with_mean and time.size:
        rect = np.diff(time, prepend=0.0)
        rect[1:] *= surv[:-1]
        mean = float(rect.sum())
        after = np.cumsum(rect[::-1])[::-1]  # after[i] = area from t_{i-1} on
        del rect
        after[:-1] = after[1:]
        after[-1] = 0.0  # now the area after t_i
        np.square(after, out=after)
        inf = np.isinf(inc)
        inc[inf] = 0.0
        mean_se = float(np.sqrt(np.dot(after, inc)))
        inc[inf] = np.inf
        del after, inf
    np.cumsum(inc, out=inc)
    return surv, inc, mean, mean_se


def kaplan_meier(
    time: ArrayLike,
    event: ArrayLike,
    *,
    entry: ArrayLike | None = None,
    conf_type: ConfType = "log-log",
    conf_level: float = 0.95,
    median_ci: MedianMethod = "brookmeyer-crowley",
    weights: ArrayLike | None = None,
) -> KaplanMeierResult:
    r"""Kaplan–Meier (product-limit) estimate of the survival function.

    Parameters
    ----------
    time : array_like
        Exit time of each record (event or censoring), finite and non-negative.
    event : array_like
        1/True for an event, 0/False for censoring.
    entry : array_like, optional
        Entry time for left-truncated / counting-process data: the record is at risk on
        ``(entry, time]`` (R ``Surv(entry, time, event)``).  ``entry < time`` is required.
    conf_type : {"log-log", "log", "plain"}
        Transformation for the pointwise confidence band, as R ``survfit(conf.type=)``.
    conf_level : float
        Confidence level of the band and of the median interval.
    median_ci : {"brookmeyer-crowley", "spss"}
        How the median (and :meth:`KaplanMeierResult.quantile`) and its interval are computed.
    weights : array_like, optional
        Case (frequency) weights; counts become sums of weights and the variance is Greenwood's
        formula on the weighted counts, as R ``survfit(weights=, robust=FALSE)`` (R's default for
        integer weights).

    Returns
    -------
    KaplanMeierResult

    Notes
    -----
    With :math:`n_i` at risk and :math:`d_i` events at the distinct times :math:`t_i`

    .. math::

        \hat S(t) = \prod_{t_i \le t} \Bigl(1 - \frac{d_i}{n_i}\Bigr), \qquad
        \widehat{\operatorname{Var}}\bigl(-\log \hat S(t)\bigr) = \sigma^2(t)
            = \sum_{t_i \le t} \frac{d_i}{n_i (n_i - d_i)}

    (Kaplan & Meier 1958; Greenwood 1926).  The standard error of :math:`\hat S` is
    :math:`\hat S\,\sigma`.  Confidence limits (R ``survfit``): plain :math:`\hat S \pm z \hat S \sigma`
    clipped to [0, 1]; log :math:`\hat S e^{\pm z\sigma}` (upper clipped at 1); log-log
    :math:`\exp\{-\exp(\log(-\log \hat S) \mp z\sigma/\log \hat S)\}` (Kalbfleisch & Prentice 2002).
    Limits are NaN where R gives ``NA`` (``S = 0``, and ``S = 1`` for log-log).

    Median and quantiles, ``median_ci="brookmeyer-crowley"``: the quantile is where the curve crosses
    ``1 - p``, the midpoint of a flat stretch lying at exactly ``1 - p`` (tolerance
    ``sqrt(machine eps)``), and its limits are where the lower and upper confidence curves cross
    ``1 - p`` (Brookmeyer & Crowley 1982) — identical to R ``quantile.survfit``.

    ``median_ci="spss"`` follows the IBM SPSS Statistics Algorithms, *KM* chapter: the percentile is
    the smallest event time with :math:`\hat S(t) \le 1 - p` (no midpoint rule), its standard error is

    .. math::

        \operatorname{SE}(\hat t_p) = \frac{\operatorname{SE}\{\hat S(\hat t_p)\}}{\hat f(\hat t_p)},
        \qquad
        \hat f(\hat t_p) = \frac{\hat S(\hat u_p) - \hat S(\hat l_p)}{\hat l_p - \hat u_p},

    with :math:`\hat u_p = \max\{t_j : \hat S(t_j) \ge 1 - p + 0.05\}` and
    :math:`\hat l_p = \min\{t_j : \hat S(t_j) \le 1 - p - 0.05\}` over the event times (time 0 with
    :math:`\hat S = 1` when no event time qualifies for :math:`\hat u_p`), a uniform-kernel density
    estimate (Collett 2015, *Modelling Survival Data in Medical Research*, 3rd ed., §2.4; Klein &
    Moeschberger 2003, §4.5 practical note 3).  The interval is the symmetric
    :math:`\hat t_p \pm z\,\operatorname{SE}` and is not truncated at 0; it is ``None`` when
    :math:`\hat l_p` does not exist.

    The restricted mean is :math:`\hat\mu = \int_0^{t_{max}} \hat S(t)\,dt` with
    :math:`\widehat{\operatorname{Var}}(\hat\mu) = \sum_i A_i^2\, d_i/\{n_i(n_i-d_i)\}`,
    :math:`A_i = \int_{t_i}^{t_{max}} \hat S(t)\,dt` (Klein & Moeschberger 2003, §4.5), as R
    ``print(survfit, rmean="individual")``.

    Without ``weights`` and ``entry``, times that lie on a decimal lattice (whole days, 0.1 day, ...;
    at most 6 decimals) are counted per distinct value in one pass with no sort of the records (compiled
    with numba when the optional ``fast`` extra is installed); other data are sorted once.  Both routes
    give the same counts and hence the same result.

    References
    ----------
    Kaplan EL, Meier P (1958). JASA 53:457–481.  Brookmeyer R, Crowley J (1982). Biometrics 38:29–41.
    Therneau TM. *survival* R package, ``survfit``/``quantile.survfit``.
    IBM Corp. *IBM SPSS Statistics Algorithms*, "Kaplan-Meier Survival Analysis (KM)".
    """
    conf_level = check_conf_level(conf_level)
    if conf_type not in _CONF_TYPES:
        raise ValueError(f"conf_type: {conf_type!r} is not one of {', '.join(_CONF_TYPES)}")
    _check_method(median_ci)
    if entry is None and weights is None:
        rt, n = right_censored_table(time, event)
        n_total = float(n)
    else:
        t, e, a, w = prepare(time, event, entry, weights)
        n_total = float(w.sum()) if w is not None else float(t.size)
        rt = risk_table(t, e, a, w)
        del t, e, a
    return km_from_risk_table(rt, n_total, conf_type=conf_type, conf_level=conf_level, median_ci=median_ci)


def km_from_risk_table(
    rt: RiskTable,
    n_total: float,
    *,
    conf_type: str = "log-log",
    conf_level: float = 0.95,
    median_ci: str = "brookmeyer-crowley",
) -> KaplanMeierResult:
    """The Kaplan–Meier result from the counts at every distinct exit time (options already checked).

    This is the one computation behind :func:`kaplan_meier` (patient rows) and
    :func:`blincompass.stats.counts.kaplan_meier_from_counts` (count tables): both reduce their input to
    a :class:`RiskTable` and call this function.
    """
    surv, gw, mean, mean_se = _km_stats(rt.time, rt.n_risk, rt.n_event)
    if median_ci == "spss" or rt.time.size == 0:
        q = _quantile(rt.time, rt.n_event, surv, gw, 0.5, median_ci, conf_type, conf_level)
        del surv, gw
    else:
        # keep only the event rows alive while the limits are computed
        ev = rt.n_event > 0
        x, s_ev, g_ev = rt.time[ev], surv[ev], gw[ev]  # boolean indexing: no index array
        del surv, gw, ev
        q = _bc_quantile(x, s_ev, g_ev, float(rt.time[-1]), 0.5, conf_type, conf_level)
        del x, s_ev, g_ev
    return KaplanMeierResult(
        n=n_total,
        n_events=float(np.sum(rt.n_event)),
        median=q.estimate,
        median_ci=MedianCI(q.lower, q.upper),
        median_se=q.se,
        mean=mean,
        mean_se=mean_se,
        conf_type=conf_type,
        conf_level=conf_level,
        median_ci_method=median_ci,
        _time=rt.time,
        _n_risk=rt.n_risk,
        _n_event=rt.n_event,
        _n_censor=rt.n_censor,
    )


@dataclass(frozen=True)
class FollowUpResult:
    """Result of :func:`median_follow_up`."""

    median: float | None
    median_ci: MedianCI
    median_observed: float
    minimum: float
    maximum: float
    n: int
    conf_type: str
    conf_level: float


def median_follow_up(
    time: ArrayLike,
    event: ArrayLike,
    *,
    conf_type: ConfType = "log-log",
    conf_level: float = 0.95,
) -> FollowUpResult:
    r"""Median follow-up by the reverse Kaplan–Meier method, with the simple summary of observation times.

    The reverse Kaplan–Meier estimate treats censoring as the event and events as censoring
    (Schemper & Smith 1996), i.e. R ``survfit(Surv(time, 1 - status) ~ 1)``; its median and
    Brookmeyer–Crowley interval are computed as in :func:`kaplan_meier`.  ``median_observed``,
    ``minimum`` and ``maximum`` summarise the observed times regardless of status.

    References
    ----------
    Schemper M, Smith TL (1996). A note on quantifying follow-up in studies of failure time.
    Controlled Clinical Trials 17:343–346.
    """
    t, e, _, _ = prepare(time, event)
    km = kaplan_meier(t, ~e, conf_type=conf_type, conf_level=conf_level)
    return FollowUpResult(
        median=km.median,
        median_ci=km.median_ci,
        median_observed=float(np.median(t)),
        minimum=float(t.min()),
        maximum=float(t.max()),
        n=int(t.size),
        conf_type=conf_type,
        conf_level=conf_level,
    )
