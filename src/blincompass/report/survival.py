"""Survival analyses of the protocol: Kaplan–Meier summaries, log-rank tests, follow-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from blincompass.protocol import Protocol, SurvivalAnalysis
from blincompass.protocol.layout import Layout
from blincompass.protocol.model import TimeDependentAnalysis
from blincompass.report.fmt import DASH, EM_DASH, MINUS, fmt_ci, fmt_num, fmt_p
from blincompass.report.model import HeaderCell, Row, Table, put
from blincompass.report.table1 import apply_distinct, code_key, eligible, norm_series, norm_value
from blincompass.report.wording import resolve, sided_header
from blincompass.stats import (
    KaplanMeierResult,
    LogrankResult,
    RMSTDifferenceResult,
    RMSTResult,
    bound_interval,
    kaplan_meier,
    logrank_test,
    median_follow_up,
    pairwise_logrank,
    rmst,
    rmst_difference,
)
from blincompass.stats.logrank import PairwiseLogrankResult

__all__ = [
    "GroupCurve",
    "SurvivalData",
    "alternative_text",
    "build_followup_table",
    "build_logrank_table",
    "build_pairwise_table",
    "build_rmst_table",
    "build_survival_table",
    "estimated_at",
    "event_words",
    "is_post_baseline",
    "post_baseline_note",
    "month_key",
    "rmst_horizon",
    "survival_data",
]

_EVENT_WORDS = {"death": "deaths", "relapse": "relapses", "hsct": "HSCTs"}


def event_words(protocol: Protocol, paramcd: str) -> str:
    """The events of an endpoint in words, e.g. "relapses or deaths" (an event's ``words``, else its cause)."""
    return " or ".join(e.words or _EVENT_WORDS.get(e.cause, e.cause.replace("_", " "))
                       for e in protocol.endpoint(paramcd).events)


def month_key(t: float) -> str:
    """Results-key component of a time in months, e.g. 12.0 -> "12m", 1.5 -> "1_5m"."""
    return f"{t:g}".replace(".", "_") + "m"


def estimated_at(time: np.ndarray, event: np.ndarray, t: float) -> bool:
    """Whether a curve of the records ``time``/``event`` is estimated at time ``t``: ``t`` is not past the
    last observation (event or censoring), or the curve has reached its end there (every record at the
    last time is an event, so nobody is left at risk and the estimate stays as it is)."""
    if time.size == 0:
        return False
    last = float(time.max())
    if t <= last:
        return True
    return bool(np.asarray(event, dtype=bool)[time == last].all())


@dataclass(frozen=True)
class GroupCurve:
    """One group of a survival analysis: times (months), events and both Kaplan–Meier fits."""

    id: str
    label: str
    time: np.ndarray
    event: np.ndarray
    km: KaplanMeierResult
    km_spss: KaplanMeierResult

    def at_risk(self, t: float) -> int:
        """Number at risk at time ``t`` (patients whose time is >= t)."""
        return int((self.time >= t).sum())


@dataclass(frozen=True)
class SurvivalData:
    """Data and results of one ``[[analyses.survival]]`` entry."""

    analysis: SurvivalAnalysis
    pooled: GroupCurve | None  # None when the analysis population is empty
    groups: tuple[GroupCurve, ...]
    test: LogrankResult | None
    test_two_sided: LogrankResult | None
    n_excluded: int
    note: str = ""
    #: Pairwise log-rank tests with Holm-adjusted p-values (three or more groups only).
    pairwise: PairwiseLogrankResult | None = None

    def rmst_horizon(self) -> float | None:
        """τ of the restricted means of this analysis (see :func:`rmst_horizon`)."""
        return rmst_horizon(self)

    def rmst_of(self, g: GroupCurve) -> RMSTResult | None:
        """Restricted mean of one curve of this analysis up to the analysis's τ (``None`` when τ is 0)."""
        tau = self.rmst_horizon()
        if tau is None or tau <= 0 or not g.time.size:
            return None
        return rmst(g.time, g.event, tau, conf_level=float(g.km.conf_level))

    def rmst_comparison(self) -> RMSTDifferenceResult | None:
        """Difference of the two groups' restricted means over τ (two groups only), two-sided."""
        if len(self.groups) != 2:
            return None
        g1, g2 = self.groups
        tau = self.rmst_horizon()
        if tau is None or tau <= 0:
            return None
        t = np.concatenate([g1.time, g2.time])
        e = np.concatenate([g1.event, g2.event])
        lab = np.array([g1.id] * g1.time.size + [g2.id] * g2.time.size, dtype=object)
        return rmst_difference(t, e, lab, tau=tau, order=[g1.id, g2.id], conf_level=float(g1.km.conf_level))


def rmst_horizon(sd: SurvivalData) -> float | None:
    """The horizon τ of an analysis's restricted means: with two or more groups, the smallest of the
    groups' last observation times (event or censoring), so that every group's curve is estimated up to τ
    and their restricted means compare (Uno et al. 2014; Royston & Parmar 2013); without groups, the last
    observation time. ``None`` for an empty analysis."""
    if len(sd.groups) >= 2:
        return min(float(g.time.max()) for g in sd.groups)
    if sd.pooled is None or not sd.pooled.time.size:
        return None
    return float(sd.pooled.time.max())


def _fit(t: np.ndarray, e: np.ndarray, gid: str, label: str, protocol: Protocol) -> GroupCurve:
    s = protocol.analyses.settings
    km = kaplan_meier(t, e, conf_type=s.conf_type, conf_level=s.conf_level, median_ci="brookmeyer-crowley")
    km2 = kaplan_meier(t, e, conf_type=s.conf_type, conf_level=s.conf_level, median_ci="spss")
    return GroupCurve(gid, label, t, e, km, km2)


def survival_data(adsl: pd.DataFrame, adtte: pd.DataFrame, protocol: Protocol, a: SurvivalAnalysis) -> SurvivalData:
    """Select the analysis population (eligible, endpoint, ``population``), split by ``group`` in ``order``
    (patients with a missing group or a group outside ``order`` are excluded), fit Kaplan–Meier curves
    and run the log-rank test (protocol ``alternative``, ``strata``, ``weights``) and its two-sided version.
    Patients with a missing stratum are excluded as well; ``n_excluded`` counts every exclusion. An empty
    population gives ``pooled = None`` and a note."""
    tte = adtte[adtte["PARAMCD"] == a.endpoint]
    pats = eligible(adsl).set_index("patient_id")
    tte = tte[tte["USUBJID"].isin(pats.index)]
    if a.population:
        if a.population not in pats.columns:
            raise ValueError(f"analyses.survival {a.id}: population {a.population!r} is not a patient-level column")
        keep = pats[a.population].astype("boolean").fillna(False).astype(bool)
        tte = tte[tte["USUBJID"].map(keep).fillna(False).astype(bool)]
    n_before = len(tte)
    if a.strata:
        if a.strata not in pats.columns:
            raise ValueError(f"analyses.survival {a.id}: strata {a.strata!r} is not a patient-level column")
        tte = tte[norm_series(tte["USUBJID"].map(pats[a.strata])).notna()]  # missing stratum: excluded
    groups: list[GroupCurve] = []
    test = test2 = None
    pairwise = None
    note = ""
    if a.group:
        if a.group not in pats.columns:
            raise ValueError(f"analyses.survival {a.id}: group {a.group!r} is not a patient-level column")
        gval = norm_series(tte["USUBJID"].map(pats[a.group]))
        order = list(a.order) if a.order else sorted({v for v in gval if v is not None}, key=str)
        in_order = apply_distinct(gval, lambda v: v is not None and any(
            v == o and isinstance(v, bool) == isinstance(o, bool) for o in order))
        tte = tte[in_order.astype(bool)]
        gval = gval[in_order.astype(bool)]
        labels = apply_distinct(gval, code_key).to_numpy(dtype=object)
        for o in order:
            sel = labels == code_key(o)
            if sel.any():
                groups.append(_fit(tte["AVAL"].to_numpy(float)[sel], (tte["CNSR"].to_numpy() == 0)[sel],
                                   code_key(o), a.group_label(o), protocol))
        present = [g.id for g in groups]
        if len(present) >= 2:
            strata = None
            if a.strata:
                strata = apply_distinct(tte["USUBJID"].map(pats[a.strata]), lambda v: str(norm_value(v))).to_numpy()
            t = tte["AVAL"].to_numpy(float)
            e = tte["CNSR"].to_numpy() == 0
            order_keys = [code_key(o) for o in order if code_key(o) in present]
            alt = a.alternative if len(order_keys) == 2 else "two-sided"
            test = logrank_test(t, e, labels, strata=strata, weights=a.weights,
                                alternative=alt, order=order_keys)
            test2 = logrank_test(t, e, np.array(labels, dtype=object), strata=strata, weights=a.weights,
                                 alternative="two-sided", order=order_keys)
            if len(order_keys) > 2:
                try:
                    pairwise = _holm_pairwise(t, e, np.array(labels, dtype=object), strata, a.weights, order_keys)
                except ValueError as exc:  # e.g. a pair without any patient left in a stratum
                    note = f"pairwise comparisons not computable: {exc}"
        else:
            note = "fewer than two groups with patients: no test"
    if not len(tte):
        return SurvivalData(a, None, (), None, None, n_before, "no patients in the analysis population")
    pooled = _fit(tte["AVAL"].to_numpy(float), tte["CNSR"].to_numpy() == 0, "all", "All", protocol)
    return SurvivalData(a, pooled, tuple(groups), test, test2, n_before - len(tte), note, pairwise)


def _holm_pairwise(t: np.ndarray, e: np.ndarray, g: np.ndarray, strata: np.ndarray | None, weights: Any,
                   order: list[str]) -> PairwiseLogrankResult:
    """Pairwise log-rank tests with Holm's adjustment over the pairs that have a p-value (a pair without
    events has none and, as in R ``p.adjust``, does not count)."""
    return pairwise_logrank(t, e, g, strata=strata, weights=weights, p_adjust="holm", order=order)


def safe_analysis(protocol: Protocol, a: SurvivalAnalysis) -> TimeDependentAnalysis | None:
    """The protocol's immortal-time-safe analysis of a comparison: the ``[[analyses.timedep]]`` entry whose
    exposure is the comparison's group (same endpoint preferred)."""
    cands = [td for td in protocol.analyses.timedep if a.group and td.exposure == a.group]
    same = [td for td in cands if td.endpoint == a.endpoint and td.population == a.population]
    same = same or [td for td in cands if td.endpoint == a.endpoint]
    return (same or cands or [None])[0]


def is_post_baseline(protocol: Protocol, a: SurvivalAnalysis) -> bool:
    """Whether a comparison's groups are a status reached after the time origin: declared
    (``post_baseline = true``) or the exposure of a time-dependent analysis of the protocol."""
    return bool(a.group) and (a.post_baseline or safe_analysis(protocol, a) is not None)


def post_baseline_note(protocol: Protocol, analyses: list[SurvivalAnalysis], layout: Layout | None = None,
                       values: dict[str, Any] | None = None) -> str | None:
    """The caveat of the comparisons among ``analyses`` grouped by a post-baseline status (``None`` when
    there is none): the layout's ``post_baseline_caveat``, the comparisons concerned, and where the
    immortal-time-safe analyses of each are (landmark, Mantel–Byar, time-dependent Cox, Simon–Makuch)."""
    lay, v = resolve(protocol, None, layout, values)
    hit = [a for a in analyses if is_post_baseline(protocol, a)]
    if not hit:
        return None
    parts = []
    for a in hit:
        td = safe_analysis(protocol, a)
        if td is None:
            parts.append(f"{a.title} (the protocol asks for no immortal-time-safe analysis of it)")
            continue
        lm = ", ".join(f"{m:g}" for m in td.landmarks_months)
        fig = f", Simon{DASH}Makuch curves in Figure {lay.figure_number(td.figure)}" if td.figure else ""
        parts.append(f"{a.title} (immortal-time-safe: landmark analyses at {lm} months, the Mantel{DASH}Byar test, "
                     f"a Cox model with a time-dependent covariate{fig}; methodological notes, '{td.title}')")
    return lay.text_of("post_baseline_caveat", v) + " Comparisons concerned: " + "; ".join(parts) + "."


def alternative_text(alternative: str, first: str, second: str, what: str) -> str:
    """A log-rank alternative in words, e.g. "one-sided, H1: <5% blasts has fewer deaths"."""
    if alternative == "less":
        return f"one-sided, H1: {first} has fewer {what} than {second}"
    if alternative == "greater":
        return f"one-sided, H1: {first} has more {what} than {second}"
    return f"two-sided, H1: {first} and {second} differ"


def _beyond(g: GroupCurve, t: float) -> str | None:
    """Why a group's curve has no estimate at ``t`` (``None`` when it has one)."""
    if estimated_at(g.time, g.event, t):
        return None
    return f"not estimated: the last observation is at {float(g.time.max()):.1f} months, before {t:g} months"


def _spss_bounded(g: GroupCurve) -> tuple[float | None, float | None, bool]:
    """The SPSS median interval bounded to [0, largest observed time] (:func:`bound_interval`)."""
    km2 = g.km_spss
    high = float(g.time.max()) if g.time.size else 0.0
    return bound_interval(km2.median_ci.lower, km2.median_ci.upper, 0.0, high)


def _store_curve(results: dict[str, Any], base: str, g: GroupCurve, protocol: Protocol,
                 rm: RMSTResult | None = None) -> None:
    s = protocol.analyses.settings
    km, km2 = g.km, g.km_spss
    put(results, f"{base}.n", int(km.n))
    put(results, f"{base}.events", int(km.n_events))
    put(results, f"{base}.median.estimate", km.median)
    put(results, f"{base}.median.brookmeyer_crowley.estimate", km.median)
    put(results, f"{base}.median.brookmeyer_crowley.lower", km.median_ci.lower)
    put(results, f"{base}.median.brookmeyer_crowley.upper", km.median_ci.upper)
    put(results, f"{base}.median.brookmeyer_crowley.conf_type", s.conf_type)
    lo, hi, bounded = _spss_bounded(g)
    put(results, f"{base}.median.spss.estimate", km2.median)
    put(results, f"{base}.median.spss.se", km2.median_se)
    put(results, f"{base}.median.spss.lower", lo)
    put(results, f"{base}.median.spss.upper", hi)
    put(results, f"{base}.median.spss.bounded", bounded)
    put(results, f"{base}.median.spss.lower_unbounded", km2.median_ci.lower)
    put(results, f"{base}.median.spss.upper_unbounded", km2.median_ci.upper)
    at = km.survival_at(list(s.survival_at_months))
    for i, t in enumerate(s.survival_at_months):
        k = f"{base}.at.{month_key(t)}"
        why = _beyond(g, t)
        put(results, f"{k}.surv", None if why else float(at.surv[i]))
        put(results, f"{k}.std_err", None if why else float(at.std_err[i]))
        put(results, f"{k}.lower", None if why else float(at.lower[i]))
        put(results, f"{k}.upper", None if why else float(at.upper[i]))
        if why:
            put(results, f"{k}.note", why)
    put(results, f"{base}.rmean.tau", None if rm is None else rm.tau)
    put(results, f"{base}.rmean.estimate", None if rm is None else rm.estimate)
    put(results, f"{base}.rmean.se", None if rm is None else rm.se)
    put(results, f"{base}.rmean.lower", None if rm is None else rm.lower)
    put(results, f"{base}.rmean.upper", None if rm is None else rm.upper)
    put(results, f"{base}.rmean.tmax", float(g.time.max()) if g.time.size else None)


def store_survival(results: dict[str, Any], sd: SurvivalData, protocol: Protocol) -> None:
    """Write one analysis's numbers under ``survival.<id>`` (pooled) and ``survival.<id>.groups.<g>``."""
    a = sd.analysis
    base = f"survival.{a.id}"
    put(results, f"{base}.endpoint", a.endpoint)
    put(results, f"{base}.title", a.title)
    put(results, f"{base}.n_excluded", sd.n_excluded)
    if sd.pooled is None:
        put(results, f"{base}.n", 0)
        put(results, f"{base}.events", 0)
        put(results, f"{base}.note", sd.note)
        return
    tau = sd.rmst_horizon()
    put(results, f"{base}.rmean_tau", tau)
    put(results, f"{base}.rmean_tau_rule", "smallest last observation of the groups" if len(sd.groups) >= 2
        else "last observation")
    _store_curve(results, base, sd.pooled, protocol, sd.rmst_of(sd.pooled))
    for g in sd.groups:
        put(results, f"{base}.groups.{g.id}.label", g.label)
        _store_curve(results, f"{base}.groups.{g.id}", g, protocol, sd.rmst_of(g))


def _median_cells(g: GroupCurve) -> tuple[str, str, str]:
    km, km2 = g.km, g.km_spss
    med = fmt_num(km.median, 1, missing="NR")
    bc = fmt_ci(km.median_ci.lower, km.median_ci.upper)
    med2 = fmt_num(km2.median, 1, missing="NR")
    lo, hi, _ = _spss_bounded(g)
    sp = fmt_ci(lo, hi)
    return med, f"{med} ({bc})", f"{med2} ({sp})"


def build_survival_table(data: list[SurvivalData], protocol: Protocol, results: dict[str, Any],
                         layout: Layout | None = None, values: dict[str, Any] | None = None) -> Table:
    """One row per analysis (all patients of the analysis) and per group: n, events, median with both
    interval methods, survival at the protocol's time points with CI, restricted mean up to the analysis's
    common horizon τ (:func:`rmst_horizon`).

    A survival estimate at a time past a group's last observation is not given ("—", ``null`` in
    results.json with a ``note``), unless the curve has reached 0 there (:func:`estimated_at`). The SPSS
    median interval is bounded to [0, largest observed time] (:func:`blincompass.stats.bound_interval`).
    """
    lay, v = resolve(protocol, None, layout, values)
    s = protocol.analyses.settings
    rows: list[Row] = []
    not_estimated: list[str] = []
    bounded: list[str] = []
    for sd in data:
        store_survival(results, sd, protocol)
        a = sd.analysis
        fig = f" (Figure {lay.figure_number(a.figure)})" if a.figure else ""
        if sd.pooled is None:
            rows.append(Row((f"{a.title}{fig}", *[""] * (5 + len(s.survival_at_months))), (), 0, "heading"))
            rows.append(Row((sd.note, "0", "0", *[""] * (3 + len(s.survival_at_months))),
                            (None, f"survival.{a.id}.n", f"survival.{a.id}.events",
                             *[None] * (3 + len(s.survival_at_months))), 1))
            continue
        items: list[tuple[str, GroupCurve, str]] = [(f"survival.{a.id}", sd.pooled, "All" if sd.groups else "")]
        items += [(f"survival.{a.id}.groups.{g.id}", g, g.label) for g in sd.groups]
        tau = sd.rmst_horizon()
        tau_words = "" if tau is None else (f"; restricted mean{'s' if sd.groups else ''} up to "
                                            f"\u03c4 = {tau:.1f} months")
        rows.append(Row((f"{a.title}{fig}{tau_words}", *[""] * (5 + len(s.survival_at_months))), (), 0,
                        "heading"))
        for base, g, label in items:
            _, bc, sp = _median_cells(g)
            if _spss_bounded(g)[2]:
                km2 = g.km_spss
                bounded.append(f"{a.title}, {label or 'all patients'} "
                               f"(unbounded {fmt_ci(km2.median_ci.lower, km2.median_ci.upper)})")
            at = g.km.survival_at(list(s.survival_at_months))
            surv = []
            for i, t in enumerate(s.survival_at_months):
                if _beyond(g, t):
                    surv.append(EM_DASH)
                    not_estimated.append(f"{a.title}, {label or 'all patients'} at {t:g} months "
                                         f"(last observation {float(g.time.max()):.1f} months)")
                else:
                    surv.append(f"{fmt_num(100 * at.surv[i])} ({fmt_ci(at.lower[i], at.upper[i], scale=100)})")
            r = sd.rmst_of(g)
            rm = DASH if r is None else f"{fmt_num(r.estimate)} ({fmt_ci(r.lower, r.upper)})"
            cells = (label or "All patients", str(int(g.km.n)), str(int(g.km.n_events)), bc, sp, *surv, rm)
            keys = (None, f"{base}.n", f"{base}.events", f"{base}.median.brookmeyer_crowley.estimate",
                    f"{base}.median.spss.estimate",
                    *[f"{base}.at.{month_key(t)}.surv" for t in s.survival_at_months], f"{base}.rmean.estimate")
            rows.append(Row(cells, keys, 1))
    lvl = f"{100 * s.conf_level:g} %"
    header = ((HeaderCell("Analysis / group"), HeaderCell("n"), HeaderCell("Events"),
               HeaderCell(f"Median, months ({lvl} CI, Brookmeyer{DASH}Crowley, {s.conf_type})"),
               HeaderCell(f"Median, months ({lvl} CI, SPSS, bounded to the observed range)"),
               *[HeaderCell(f"Survival at {t:g} months, % ({lvl} CI)") for t in s.survival_at_months],
               HeaderCell(f"Restricted mean up to \u03c4, months ({lvl} CI)")),)
    foot = [
        "Kaplan" + DASH + f"Meier estimates; time from {lay.names.index_event} in months "
        f"(days / {protocol.time.days_per_month:g}). NR: median not reached; NE: limit not estimable.",
        f"Median CI by Brookmeyer{DASH}Crowley (inverting the {s.conf_type} pointwise band, as R survfit) and as SPSS "
        f"prints it (median " + "\u00b1" + " z SE, SE from the Kaplan" + DASH + "Meier variance and a density "
        "estimate). Pointwise survival CIs use the " + s.conf_type + " transformation.",
        "SPSS median CI bounded to the observed range: a limit below 0 is set to 0 (a survival time is not "
        "negative) and a limit beyond the group's largest observed time is set to that time (the curve is not "
        "estimated past it, so such an upper limit reads 'at least the end of follow-up')"
        + (". Bounded here: " + "; ".join(bounded) if bounded else "; no limit needed it")
        + ".",
    ]
    if not_estimated:
        foot.append(f"{EM_DASH}: not estimated, because the group's last observation (event or censoring) comes "
                    "before that time and the curve is not extended past its data (a curve that has reached 0 "
                    "stays 0): " + "; ".join(not_estimated) + ".")
    foot += [
        "Restricted mean: area under the Kaplan" + DASH + "Meier curve from 0 to \u03c4 (R survfit, rmean = "
        "\u03c4), with a normal-theory CI. \u03c4 is one horizon per analysis, stated in its heading row: for a "
        "comparison, the smallest of the groups' last observation times (event or censoring), so that no curve "
        "is extended past its data and the groups' restricted means can be compared (Uno et al. 2014); "
        "without groups, the last observation time. The differences between groups are tabulated with the "
        "statistical tests.",
        "Patients with a missing group or stratum are left out of that grouped analysis.",
    ]
    return Table(id="survival", caption=lay.table_title("survival", v), header=header, rows=tuple(rows),
                 footnotes=tuple(foot), sheet="Survival")


def build_rmst_table(data: list[SurvivalData], protocol: Protocol, results: dict[str, Any],
                     layout: Layout | None = None, values: dict[str, Any] | None = None) -> Table | None:
    """Restricted mean survival time of the two groups of each two-group comparison over one common
    horizon τ (the smallest of the groups' last observation times), with the difference, its SE, CI and
    two-sided p (:func:`blincompass.stats.rmst_difference`). ``None`` when no analysis compares two groups.

    Result keys: ``tests.<id>.rmst.tau``, ``.difference``, ``.se``, ``.lower``, ``.upper``, ``.z``, ``.p``,
    ``.sided`` ("two"), ``.groups.<g>.estimate`` / ``.se`` / ``.lower`` / ``.upper`` / ``.events``.
    """
    lay, v = resolve(protocol, None, layout, values)
    lvl = f"{100 * protocol.analyses.settings.conf_level:g} %"
    rows: list[Row] = []
    for sd in data:
        res = sd.rmst_comparison()
        if res is None:
            continue
        a = sd.analysis
        base = f"tests.{a.id}.rmst"
        put(results, f"{base}.tau", res.tau)
        put(results, f"{base}.tau_rule", res.tau_rule)
        fig = f" (Figure {lay.figure_number(a.figure)})" if a.figure else ""
        rows.append(Row((f"{a.title}{fig}: up to \u03c4 = {res.tau:.1f} months", "", "", "", "", ""), (), 0,
                        "heading"))
        for g, r in zip(sd.groups, res.rmst, strict=True):
            k = f"{base}.groups.{g.id}"
            put(results, f"{k}.estimate", r.estimate)
            put(results, f"{k}.se", r.se)
            put(results, f"{k}.lower", r.lower)
            put(results, f"{k}.upper", r.upper)
            put(results, f"{k}.events", r.n_events)
            rows.append(Row((g.label, str(r.n), str(r.n_events), f"{fmt_num(r.estimate)} "
                             f"({fmt_ci(r.lower, r.upper)})", fmt_num(r.se, 2), ""),
                            (None, None, f"{k}.events", f"{k}.estimate", f"{k}.se", None), 1))
        for name, val in (("difference", res.difference), ("se", res.se), ("lower", res.lower),
                          ("upper", res.upper), ("z", res.statistic), ("p", res.pvalue)):
            put(results, f"{base}.{name}", val)
        put(results, f"{base}.sided", "two")
        g1, g2 = sd.groups
        rows.append(Row((f"Difference, {g1.label} {MINUS} {g2.label}", "", "",
                         f"{fmt_num(res.difference)} ({fmt_ci(res.lower, res.upper)})", fmt_num(res.se, 2),
                         fmt_p(res.pvalue)),
                        (None, None, None, f"{base}.difference", f"{base}.se", f"{base}.p"), 1, "total"))
    if not rows:
        return None
    header = ((HeaderCell("Comparison / group"), HeaderCell("n"), HeaderCell("Events up to \u03c4"),
               HeaderCell(f"Restricted mean, months ({lvl} CI)"), HeaderCell("SE"),
               HeaderCell("p (two-sided)")),)
    foot = (
        "Restricted mean survival time: area under the Kaplan" + DASH + "Meier curve from 0 to \u03c4, the "
        "expected time alive (or event-free) within the first \u03c4 months. \u03c4 is the same for both groups "
        "of a comparison: the smallest of their last observation times (event or censoring), as in "
        "restricted-mean comparisons (Royston & Parmar 2013; Uno et al. 2014), and is stated in each heading "
        "row.",
        "Difference of independent estimates: SE = \u221a(SE\u2081\u00b2 + SE\u2082\u00b2), normal-theory CI, "
        "z = difference / SE, two-sided p (the log-rank p-values are one-sided where the protocol says so).",
    )
    caveat = post_baseline_note(protocol, [sd.analysis for sd in data if sd.rmst_comparison() is not None],
                                lay, v)
    if caveat:
        foot += (caveat,)
    return Table(id="rmst", caption=lay.table_title("rmst", v), header=header, rows=tuple(rows),
                 footnotes=foot, sheet="Restricted means", align=("l", "r", "r", "r", "r", "r"))


def build_logrank_table(data: list[SurvivalData], protocol: Protocol, results: dict[str, Any],
                        layout: Layout | None = None, values: dict[str, Any] | None = None) -> Table:
    """One row per grouped analysis: O and E per group, chi-square, z, p as the protocol states (in words),
    the two-sided p beside it, strata.

    Result keys: ``tests.<id>.observed.<g>``, ``.expected.<g>``, ``.chisq``, ``.df``, ``.z``, ``.p``,
    ``.alternative``, ``.alternative_text``, ``.sided``, ``.p_one_sided``, ``.p_two_sided``, ``.strata``.
    With three or more groups the test is the k-sample log-rank test (two-sided, chi-square on k - 1 df; no
    z) and ``.k_groups`` gives k; the pairwise comparisons are in :func:`build_pairwise_table`.
    """
    lay, v = resolve(protocol, None, layout, values)
    rows: list[Row] = []
    alts: list[str] = []
    for sd in data:
        a = sd.analysis
        if not a.group:
            continue
        base = f"tests.{a.id}"
        put(results, f"{base}.test", "log-rank" if a.weights == "logrank" else a.weights)
        put(results, f"{base}.title", a.title)
        if sd.test is None or sd.test_two_sided is None:
            put(results, f"{base}.note", sd.note)
            rows.append(Row((a.title, sd.note, *[""] * 7), (), 0))
            continue
        t, t2 = sd.test, sd.test_two_sided
        labels = {g.id: g.label for g in sd.groups}
        first, second = labels[t.groups[0]], labels[t.groups[1]] if len(t.groups) > 1 else ""
        if len(t.groups) > 2:
            words = (f"two-sided: the {len(t.groups)} groups differ (a one-sided test needs two groups; "
                     "pairwise comparisons below, Holm-adjusted)")
            put(results, f"{base}.k_groups", len(t.groups))
        else:
            words = alternative_text(t.alternative, first, second, event_words(protocol, a.endpoint))
        oe = []
        for gid in t.groups:
            o = float(t.observed[gid])
            e = float(t.expected[gid])
            put(results, f"{base}.observed.{gid}", o)
            put(results, f"{base}.expected.{gid}", e)
            oe.append(f"{labels[gid]}: {o:g} / {e:.2f}")
        put(results, f"{base}.chisq", t.statistic)
        put(results, f"{base}.df", t.df)
        put(results, f"{base}.z", t.z)
        put(results, f"{base}.alternative", t.alternative)
        put(results, f"{base}.alternative_text", words)
        put(results, f"{base}.sided", "two" if t.alternative == "two-sided" else "one")
        put(results, f"{base}.p", t.pvalue)
        put(results, f"{base}.p_one_sided", None if t.alternative == "two-sided" else t.pvalue)
        put(results, f"{base}.p_two_sided", t2.pvalue)
        put(results, f"{base}.strata", a.strata)
        put(results, f"{base}.post_baseline", is_post_baseline(protocol, a))
        alts.append(t.alternative)
        fig = f" (Figure {lay.figure_number(a.figure)})" if a.figure else ""
        rows.append(Row(
            (f"{a.title}{fig}", "; ".join(oe), f"{t.statistic:.3f}", str(t.df),
             DASH if t.z is None else fmt_num(t.z, 3), fmt_p(t.pvalue),
             words, fmt_p(t2.pvalue), a.strata or "none"),
            (None, f"{base}.observed.{t.groups[0]}", f"{base}.chisq", f"{base}.df", f"{base}.z", f"{base}.p",
             None, f"{base}.p_two_sided", None),
            0,
        ))
    header = ((HeaderCell("Comparison"), HeaderCell("Observed / expected events"), HeaderCell("Chi-square"),
               HeaderCell("df"), HeaderCell("z (first group)"),
               HeaderCell(sided_header(alts, "p, protocol's alternative")),
               HeaderCell("Alternative (protocol)"), HeaderCell("p (two-sided)"), HeaderCell("Strata")),)
    foot: tuple[str, ...] = (
        "Log-rank (Mantel" + DASH + "Cox) tests. z = (O " + DASH + " E) / sqrt(V) of the first group; a "
        "one-sided p is the normal tail of z in the direction the protocol states; the two-sided p is from "
        "the chi-square statistic.",)
    caveat = post_baseline_note(protocol, [sd.analysis for sd in data], lay, v)
    if caveat:
        foot += (caveat,)
    return Table(id="logrank", caption=lay.table_title("logrank", v), header=header, rows=tuple(rows),
                 footnotes=foot, sheet="Log-rank tests", align=("l", "l", "r", "r", "r", "r", "l", "r", "l"))


def build_followup_table(adsl: pd.DataFrame, adtte: pd.DataFrame, protocol: Protocol,
                         results: dict[str, Any], paramcd: str = "OS", *, layout: Layout | None = None,
                         values: dict[str, Any] | None = None) -> Table:
    """Follow-up of the eligible patients: reverse Kaplan–Meier median (with CI) and the mean, median and
    range of the observation times (time to death or last follow-up).

    Result keys: ``followup.n``, ``followup.reverse_km.median``/``.lower``/``.upper``, ``followup.mean``,
    ``followup.median_observed``, ``followup.min``, ``followup.max``.
    """
    lay, lv = resolve(protocol, adsl, layout, values)
    s = protocol.analyses.settings
    tte = adtte[(adtte["PARAMCD"] == paramcd) & adtte["USUBJID"].isin(eligible(adsl)["patient_id"])]
    t = tte["AVAL"].to_numpy(float)
    e = tte["CNSR"].to_numpy() == 0
    rows: list[Row] = []
    put(results, "followup.endpoint", paramcd)
    kn = put(results, "followup.n", len(t))
    if len(t):
        fu = median_follow_up(t, e, conf_type=s.conf_type, conf_level=s.conf_level)
        mean = float(t.mean())
        vals = (fu.median, fu.median_ci.lower, fu.median_ci.upper, mean, fu.median_observed, fu.minimum, fu.maximum)
    else:
        vals = (None,) * 7
    keys = ("reverse_km.median", "reverse_km.lower", "reverse_km.upper", "mean", "median_observed", "min", "max")
    for k, v in zip(keys, vals, strict=True):
        put(results, f"followup.{k}", v)
    rows.append(Row(("Patients", str(len(t))), (None, kn)))
    rows.append(Row((f"Median follow-up, reverse Kaplan{DASH}Meier ({100 * s.conf_level:g} % CI)",
                     f"{fmt_num(vals[0], missing='NR')} ({fmt_ci(vals[1], vals[2])})"),
                    (None, "followup.reverse_km.median")))
    mean_range = f"{fmt_num(vals[3])} ({fmt_num(vals[5])}{DASH}{fmt_num(vals[6])})"
    rows.append(Row(("Mean observation time (range)", mean_range), (None, "followup.mean")))
    rows.append(Row(("Median observation time", fmt_num(vals[4])), (None, "followup.median_observed")))
    return Table(
        id="followup",
        caption=lay.table_title("followup", lv),
        header=((HeaderCell("Follow-up"), HeaderCell("Months")),),
        rows=tuple(rows),
        footnotes=(lay.text_of("followup_note", lv),),
        sheet="Follow-up",
    )



def build_pairwise_table(data: list[SurvivalData], results: dict[str, Any], layout: Layout | None = None,
                         values: dict[str, Any] | None = None) -> Table | None:
    """Pairwise log-rank tests of every comparison of three or more groups (``None`` when there is none).

    Each pair is tested on the patients of its two groups (risk sets of those two groups only; stratified
    and weighted as the comparison), two-sided; p-values are adjusted for the k(k - 1)/2 comparisons of
    the analysis by Holm's step-down method (as R ``pairwise_survdiff`` / ``p.adjust``).
    Result keys: ``tests.<id>.pairwise.<g1>__<g2>.chisq``, ``.p``, ``.p_holm``; ``tests.<id>.pairwise_adjust``.
    """
    lay, v = resolve(None, None, layout, values)
    rows: list[Row] = []
    for sd in data:
        if sd.pairwise is None:
            continue
        a = sd.analysis
        labels = {g.id: g.label for g in sd.groups}
        base = f"tests.{a.id}"
        put(results, f"{base}.pairwise_adjust", "holm")
        for r in sd.pairwise.table.itertuples():
            key = f"{base}.pairwise.{r.group1}__{r.group2}"
            put(results, f"{key}.chisq", float(r.statistic))
            put(results, f"{key}.p", float(r.pvalue))
            put(results, f"{key}.p_holm", float(r.p_adjusted))
            rows.append(Row((a.title, f"{labels[r.group1]} vs {labels[r.group2]}", f"{r.statistic:.3f}",
                             fmt_p(float(r.pvalue)), fmt_p(float(r.p_adjusted)), a.strata or "none"),
                            (None, None, f"{key}.chisq", f"{key}.p", f"{key}.p_holm", None)))
    if not rows:
        return None
    header = ((HeaderCell("Comparison"), HeaderCell("Groups"), HeaderCell("Chi-square (1 df)"),
               HeaderCell("p (two-sided)"), HeaderCell("p (Holm)"), HeaderCell("Strata")),)
    foot = ("Each pair of groups is compared by the log-rank test on the patients of the two groups (two-sided). "
            "Holm's step-down adjustment for the number of pairs of each comparison: the j-th smallest p is "
            "multiplied by (m - j + 1), made non-decreasing and capped at 1 (Holm 1979).",)
    return Table(id="logrank_pairwise", caption=lay.table_title("logrank_pairwise", v), header=header,
                 rows=tuple(rows), footnotes=foot, sheet="Pairwise log-rank", align=("l", "l", "r", "r", "r", "l"))
