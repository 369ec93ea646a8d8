"""Methodological notes: competing risks, immortal-time-safe comparisons and permutation p-values.

Comparing survival between groups defined by a status reached during follow-up (a response, a
transplant) with plain Kaplan–Meier curves from the index date credits the "yes" group with the time
before the status was reached, during which it cannot die (immortal-time bias). This section shows each
such comparison grouped by the later status and immortal-time-safe (landmark analyses at protocol-defined
times and the Mantel–Byar test, with the Cox model with a time-dependent covariate), cumulative incidences
with competing events (Gray's k-sample test), and permutation p-values beside the asymptotic log-rank ones
(two groups; a comparison of more groups is listed with the reason it is not permuted). What to run lives
in the protocol (``[analyses.permutation]``, ``[[analyses.competing]]``, ``[[analyses.timedep]]``); the
wording in the study's layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from blincompass.report.figures import simon_makuch_figure
from blincompass.report.model import Figure, HeaderCell, Paragraph, ReportContext, Row, Section, Table, put
from blincompass.stats import (
    cox_time_dependent,
    cumulative_incidence,
    gray_test,
    landmark,
    logrank_test,
    mantel_byar,
    permutation_logrank,
    simon_makuch,
)

__all__ = ["methods_section"]

def _fmt_p(p: float | None) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def _num_key(x: float) -> str:
    """A number as a results-key part (no dot: 1.5 -> "1_5")."""
    return f"{x:g}".replace(".", "_")


def _months(adsl: pd.DataFrame, col: str, per_month: float, origin: str) -> pd.Series:
    return (adsl[col] - adsl[origin]).dt.days / per_month


def _endpoint_frame(ctx: ReportContext, endpoint: str) -> pd.DataFrame:
    adsl = ctx.derived.adsl.set_index("patient_id")
    tte = ctx.derived.adtte
    t = tte[tte["PARAMCD"] == endpoint].set_index("USUBJID")
    return t.join(adsl, how="left")


def _permutation_rows(ctx: ReportContext) -> list[Row]:
    cfg = ctx.protocol.analyses.permutation
    rows = []
    for a in ctx.protocol.analyses.survival:
        if not a.group:
            continue
        df = _endpoint_frame(ctx, a.endpoint)
        if a.population:
            df = df[df[a.population].fillna(False).astype(bool)]
        df = df[df[a.group].isin(list(a.order or ()))] if a.order else df[df[a.group].notna()]
        if a.strata:  # patients with a missing stratum are excluded, as in the log-rank test
            df = df[df[a.strata].notna()]
        g = df[a.group].astype(object).to_numpy()
        levels = list(a.order) if a.order else sorted(set(g), key=str)
        present = [v for v in levels if any(x == v and isinstance(x, bool) == isinstance(v, bool) for x in g)]
        if len(present) < 2 or not (df["CNSR"] == 0).any():
            rows.append(Row((a.title, a.alternative, "n/a", "n/a", "not computable: a group is empty or no events")))
            continue
        n_groups = len(present)
        if n_groups > 2:
            rows.append(Row((a.title, a.alternative, "n/a", "n/a",
                             f"not computed: the permutation test compares two groups, this comparison has "
                             f"{n_groups}")))
            continue
        time, event = df["AVAL"].to_numpy(float), (df["CNSR"] == 0).to_numpy()
        strata = df[a.strata].to_numpy() if a.strata else None
        asym = logrank_test(time, event, g, strata=strata, alternative=a.alternative, order=present)
        perm = permutation_logrank(time, event, g, strata=strata, alternative=a.alternative, order=present,
                                   n_resamples=cfg.n_resamples, seed=cfg.seed, max_exact=cfg.max_exact)
        base = f"methods.permutation.{a.id}"
        put(ctx.results, f"{base}.asymptotic_p", asym.pvalue)
        put(ctx.results, f"{base}.permutation_p", perm.pvalue)
        put(ctx.results, f"{base}.method", perm.method)
        put(ctx.results, f"{base}.n_resamples", perm.n_resamples)
        put(ctx.results, f"{base}.mc_se", perm.mc_se)
        put(ctx.results, f"{base}.n_extreme", perm.n_extreme)
        if perm.method != "exact" and perm.n_extreme == 0:
            # no relabelling as extreme: the estimate is its floor 1/(B + 1), and a standard error says nothing
            p_text = f"≤ 1/{perm.n_resamples + 1} (none of B = {perm.n_resamples} as extreme)"
        else:
            p_text = _fmt_p(perm.pvalue) + ("" if perm.method == "exact" else f" ± {perm.mc_se:.4f}")
        rows.append(Row((a.title, a.alternative, _fmt_p(asym.pvalue), p_text,
                         f"{perm.method} ({perm.n_resamples} relabellings)" if perm.method != "exact"
                         else f"exact ({perm.n_combinations} relabellings)"),
                        (None, None, f"{base}.asymptotic_p", f"{base}.permutation_p", None)))
    return rows


def _competing_blocks(ctx: ReportContext) -> list[Any]:
    blocks: list[Any] = []
    for c in ctx.protocol.analyses.competing:
        df = _endpoint_frame(ctx, c.endpoint)
        strata_col = getattr(c, "strata", None)  # a stratified Gray test, when the protocol's analysis has strata
        for col in (c.population, c.group, strata_col):
            if col and col not in df.columns:
                raise ValueError(f"analyses.competing {c.id}: {col!r} is not a patient-level column")
        if c.population:
            df = df[df[c.population].fillna(False).astype(bool)]
        if c.order:
            df = df[df[c.group].isin(list(c.order))]
        else:  # patients with a missing group are excluded, as in the other comparisons
            df = df[df[c.group].notna()]
        if strata_col:  # and so are patients with a missing stratum
            df = df[df[strata_col].notna()]
        if df.empty or df[c.group].nunique() < 2:
            blocks.append(Paragraph(f"{c.title}: not computable (fewer than two groups).", "note"))
            continue
        code = df["EVNTDESC"].map(c.causes).where(df["CNSR"] == 0, 0).fillna(0).astype(int)
        cause = c.causes[c.cause_of_interest]
        time = df["AVAL"].to_numpy(float)
        grp = df[c.group].astype(object).to_numpy()
        ci = cumulative_incidence(time, code.to_numpy(), group=grp, causes=sorted(set(c.causes.values())),
                                  conf_type=ctx.protocol.analyses.settings.conf_type,
                                  conf_level=ctx.protocol.analyses.settings.conf_level)
        tp = ci.timepoints(list(c.times_months))
        strata = df[strata_col].astype(str).to_numpy(object) if strata_col else None
        gray = gray_test(time, code.to_numpy(), grp, cause=cause, causes=sorted(set(c.causes.values())),
                         strata=strata)
        base = f"methods.competing.{c.id}"
        if strata_col:
            put(ctx.results, f"{base}.gray.strata", strata_col)
        put(ctx.results, f"{base}.gray.statistic", gray.statistic)
        put(ctx.results, f"{base}.gray.df", gray.df)
        put(ctx.results, f"{base}.gray.p", gray.pvalue)
        rows = []
        for gval in (c.order or sorted(set(grp), key=str)):
            label = c.group_label(gval)
            gkey = str(gval).lower() if isinstance(gval, (bool, np.bool_)) else str(gval)  # results keys
            n = int((grp == gval).sum())
            n_ev = int(((grp == gval) & (code.to_numpy() == cause)).sum())
            n_comp = int(((grp == gval) & (code.to_numpy() != cause) & (code.to_numpy() != 0)).sum())
            cells = [label, str(n), str(n_ev), str(n_comp)]
            keys: list[str | None] = [None, f"{base}.{gkey}.n", f"{base}.{gkey}.events", f"{base}.{gkey}.competing"]
            put(ctx.results, f"{base}.{gkey}.n", n)
            put(ctx.results, f"{base}.{gkey}.events", n_ev)
            put(ctx.results, f"{base}.{gkey}.competing", n_comp)
            for m in c.times_months:
                sel = tp[(tp["group"] == gval) & (tp["cause"] == cause) & (tp["time"] == m)]
                nan = float("nan")  # a group of the protocol's order without patients
                r = sel.iloc[0] if len(sel) else {"est": nan, "lower": nan, "upper": nan}
                k = f"{base}.{gkey}.at_{_num_key(m)}m"
                put(ctx.results, f"{k}.estimate", r["est"])
                put(ctx.results, f"{k}.lower", r["lower"])
                put(ctx.results, f"{k}.upper", r["upper"])
                cells.append("n/a" if not np.isfinite(r["est"]) else
                             f"{100 * r['est']:.1f} % ({100 * r['lower']:.1f}–{100 * r['upper']:.1f})")
                keys.append(f"{k}.estimate")
            rows.append(Row(tuple(cells), tuple(keys)))
        words = next((e.words for e in ctx.protocol.endpoint(c.endpoint).events
                       if e.cause == c.cause_of_interest and e.words), None)
        what = words[:1].upper() + words[1:] if words else f"{c.cause_of_interest.capitalize()}s"
        header = ((HeaderCell("Group"), HeaderCell("n"), HeaderCell(what),
                   HeaderCell("Competing events"),
                   *[HeaderCell(f"CIF at {m:g} months (95 % CI)") for m in c.times_months]),)
        blocks += [
            Paragraph(ctx.layout.text_of("competing_explanation", ctx.values)),
            Table(f"cir_{c.id}", c.title, header, tuple(rows), sheet=f"cir_{c.id}"[:21],
                  footnotes=(f"Gray's test for {c.cause_of_interest}"
                             + (f" (stratified by {strata_col})" if strata_col else "")
                             + f": chi-square {gray.statistic:.3f} on "
                             f"{gray.df} df, p = {_fmt_p(gray.pvalue)}. Competing: "
                             + ", ".join(k for k in c.causes if k != c.cause_of_interest)
                             + ". " + ctx.layout.text_of("competing_time_note", ctx.values),)),
        ]
    return blocks


def _timedep_blocks(ctx: ReportContext) -> list[Any]:
    per_month = ctx.protocol.time.days_per_month
    rows: list[Row] = []
    summary: list[str] = []
    figures: list[Figure] = []
    for td in ctx.protocol.analyses.timedep:
        df = _endpoint_frame(ctx, td.endpoint)
        if td.population:
            df = df[df[td.population].fillna(False).astype(bool)]
        exposed = df[td.exposure].fillna(False).astype(bool)
        # the endpoint's time origin: its ADSL date variable, or the first dose (protocols with start = "first_dose")
        origin = getattr(ctx.protocol.endpoint(td.endpoint), "origin", None) or "first_dose_date"
        w = _months(df, td.exposure_date, per_month, origin).where(exposed)
        time, event = df["AVAL"].to_numpy(float), (df["CNSR"] == 0).to_numpy()
        # a transition recorded on the day of the event or after it cannot change the risk set
        wv = w.to_numpy(float)
        wv = np.where(np.isfinite(wv) & (wv >= time), np.nan, wv)
        base = f"methods.timedep.{td.id}"
        if exposed.all() or not exposed.any() or not event.any():
            rows.append(Row((td.title, "", "", "not computable", "every patient or nobody has the status, "
                             "or there is no event")))
            continue
        naive = logrank_test(time, event, exposed.to_numpy(), order=[True, False], alternative=td.alternative)
        put(ctx.results, f"{base}.paper_style.p", naive.pvalue)
        rows.append(Row((td.title, ctx.layout.text_of("timedep_as_published", ctx.values),
                         f"{int(exposed.sum())} / {int((~exposed).sum())}", _fmt_p(naive.pvalue), ""),
                        (None, None, None, f"{base}.paper_style.p", None)))
        for lm in td.landmarks_months:
            try:
                res = landmark(time, event, wv, landmark=lm,
                               alternative=td.alternative)
            except ValueError as exc:
                rows.append(Row((td.title, f"Landmark at {lm:g} months", "", "not computable", str(exc))))
                continue
            k = f"{base}.landmark_{_num_key(lm)}m"
            n1 = int(res.data["exposed"].sum())
            n0 = int(len(res.data) - n1)
            put(ctx.results, f"{k}.n_exposed", n1)
            put(ctx.results, f"{k}.n_unexposed", n0)
            put(ctx.results, f"{k}.n_excluded", res.n_excluded)
            p = None if res.logrank is None else res.logrank.pvalue
            put(ctx.results, f"{k}.p", p)
            rows.append(Row((td.title, f"Landmark at {lm:g} months (status at the landmark)", f"{n1} / {n0}",
                             _fmt_p(p), f"{res.n_excluded} died or censored before the landmark"),
                            (None, None, None, f"{k}.p", None)))
        mb = mantel_byar(time, event, wv, alternative=td.alternative)
        put(ctx.results, f"{base}.mantel_byar.statistic", mb.statistic)
        put(ctx.results, f"{base}.mantel_byar.p", mb.pvalue)
        if td.figure:
            figures.append(_simon_makuch_figure(ctx, td, time, event, wv, mb.pvalue))
        naive_words = ctx.layout.text_of("timedep_as_published_short", ctx.values)
        summary.append(f"{td.title}: p = {_fmt_p(naive.pvalue)} {naive_words}, p = {_fmt_p(mb.pvalue)} when each "
                       f"patient changes group on the day the status is reached (Mantel–Byar).")
        rows.append(Row((td.title, "Mantel–Byar (status changes on the day it happens)",
                         f"{mb.n_transitions} transitions", _fmt_p(mb.pvalue), f"chi-square {mb.statistic:.3f}"),
                        (None, None, None, f"{base}.mantel_byar.p", None)))
        cox = cox_time_dependent(time, event, wv)
        hr = cox.coef.iloc[0]
        put(ctx.results, f"{base}.cox_td.hr", hr["exp_coef"])
        put(ctx.results, f"{base}.cox_td.lower", hr["lower"])
        put(ctx.results, f"{base}.cox_td.upper", hr["upper"])
        put(ctx.results, f"{base}.cox_td.p", hr["p"])
        rows.append(Row((td.title, "Cox model, time-dependent exposure (Efron ties)", "",
                         _fmt_p(hr["p"]) + " (two-sided Wald)",
                         f"HR {hr['exp_coef']:.2f} (95 % CI {hr['lower']:.2f}–{hr['upper']:.2f})"),
                        (None, None, None, f"{base}.cox_td.p", f"{base}.cox_td.hr")))
    header = ((HeaderCell("Comparison"), HeaderCell("Analysis"), HeaderCell("Exposed / not"),
               HeaderCell("p"), HeaderCell("Detail")),)
    alt = {td.alternative for td in ctx.protocol.analyses.timedep}
    note = ("p-values of log-rank and Mantel–Byar tests are one-sided (H1: the exposed group has fewer events) "
            if alt == {"less"} else "p-values follow each analysis's alternative in the protocol. ")
    return [Paragraph(ctx.layout.text_of("immortal_time_explanation", ctx.values)),
            Table("immortal_time", ctx.layout.table_title("immortal_time", ctx.values), header, tuple(rows),
                  sheet="immortal_time", align=("l", "l", "r", "r", "l"),
                  footnotes=(note + "Landmark: patients alive and under follow-up at the landmark, grouped by "
                             "their status then, time reset to the landmark.",)),
            *[Paragraph(line) for line in summary], *figures]


def methods_section(ctx: ReportContext) -> Section | None:
    """Build the "Methodological notes" section (``None`` when the protocol asks for none of it)."""
    a = ctx.protocol.analyses
    if not (a.competing or a.timedep or any(s.group for s in a.survival)):
        return None
    blocks: list[Any] = []
    if a.timedep:
        blocks += _timedep_blocks(ctx)
    if a.competing:
        blocks += _competing_blocks(ctx)
    perm = _permutation_rows(ctx)
    if perm:
        cfg = a.permutation
        header = ((HeaderCell("Comparison"), HeaderCell("Alternative"), HeaderCell("Asymptotic p"),
                   HeaderCell("Permutation p"), HeaderCell("Method")),)
        blocks += [
            Paragraph(ctx.layout.text_of("permutation_intro", ctx.values) + " The "
                      "permutation test relabels the groups (within strata) and recomputes the statistic: "
                      "exactly over every relabelling when there are few enough, otherwise by Monte Carlo "
                      f"(seed {cfg.seed}, p = (1 + #extreme) / (B + 1) with its Monte Carlo standard error)."),
            Table("permutation", ctx.layout.table_title("permutation", ctx.values), header,
                  tuple(perm), sheet="permutation", align=("l", "l", "r", "r", "l")),
        ]
    return Section("methods", ctx.layout.section_title("methods", ctx.values), tuple(blocks))


def _simon_makuch_figure(ctx: ReportContext, td: Any, time: np.ndarray, event: np.ndarray, wv: np.ndarray,
                         mb_p: float) -> Figure:
    """Simon–Makuch curves: each patient is in the "false" curve until the status is reached, then in the
    "true" curve (delayed entry), so nobody's waiting time is credited to the "true" group."""
    sm = simon_makuch(time, event, wv, conf_type=ctx.protocol.analyses.settings.conf_type,
                      conf_level=ctx.protocol.analyses.settings.conf_level)
    labels = (td.labels.get("true", "True"), td.labels.get("false", "False"))
    sided = "one" if td.alternative != "two-sided" else "two"
    return simon_makuch_figure(td.figure, sm, labels, td.title, td.endpoint, ctx.protocol, layout=ctx.layout,
                               values=ctx.values, synthetic=ctx.synthetic,
                               note=f"Mantel\u2013Byar test, {sided}-sided: p = {_fmt_p(mb_p)}",
                               caption_tail=f" Mantel\u2013Byar {sided}-sided p = {_fmt_p(mb_p)}.",
                               results=ctx.results, key=f"methods.timedep.{td.id}.simon_makuch")
