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

The module also builds the "Statistical methods and references" section (:func:`statistical_methods_section`):
a methods paragraph generated from the analyses the report ran, with software versions, citing the numbered
entries of :data:`REFERENCES`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from blincompass.report.figures import simon_makuch_figure
from blincompass.report.fmt import EM_DASH
from blincompass.report.model import Figure, HeaderCell, Paragraph, ReportContext, Row, Section, Table, put
from blincompass.report.survival import estimated_at, post_baseline_note
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

__all__ = ["REFERENCES", "methods_section", "methods_text", "software_versions", "statistical_methods_section"]

def _fmt_p(p: float | None) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def _p_eq(p: float | None) -> str:
    """"p = 0.0632", or "p < 0.0001" (never "p = < 0.0001") for running text."""
    text = _fmt_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _num_key(x: float) -> str:
    """A number as a results-key part (no dot: 1.5 -> "1_5")."""
    return f"{x:g}".replace(".", "_")


def _months(adsl: pd.DataFrame, col: str, per_month: float, origin: str) -> pd.Series:
    return (adsl[col] - adsl[origin]).dt.days / per_month


def _endpoint_frame(ctx: ReportContext, endpoint: str) -> pd.DataFrame:
    """The endpoint's ADTTE rows joined with ADSL; built once per endpoint and report (the callers only
    select from it)."""
    key = f"methods.endpoint_frame.{endpoint}"
    if key not in ctx.cache:
        adsl = ctx.derived.adsl.set_index("patient_id")
        tte = ctx.derived.adtte
        t = tte[tte["PARAMCD"] == endpoint].set_index("USUBJID")
        ctx.cache[key] = t.join(adsl, how="left")
    return ctx.cache[key]


def _sided_words(alternative: str, first: str) -> str:
    """A log-rank alternative in short words: "one-sided (H1: fewer events in <first>)", "two-sided"."""
    if alternative == "less":
        return f"one-sided (H1: fewer events in {first})"
    if alternative == "greater":
        return f"one-sided (H1: more events in {first})"
    return "two-sided"


def _permutation_rows(ctx: ReportContext, disagree: list[str] | None = None) -> list[Row]:
    """Rows of the permutation table; comparisons whose asymptotic and permutation p fall on different
    sides of the protocol's ``alpha`` are appended to ``disagree`` as sentences."""
    cfg = ctx.protocol.analyses.permutation
    alpha = ctx.protocol.analyses.settings.alpha
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
        sided = _sided_words(a.alternative, a.group_label(present[0]) if present else "")
        if len(present) < 2 or not (df["CNSR"] == 0).any():
            rows.append(Row((a.title, sided, EM_DASH, EM_DASH, "not computable: a group is empty or no events")))
            continue
        n_groups = len(present)
        if n_groups > 2:
            rows.append(Row((a.title, "two-sided", EM_DASH, EM_DASH,
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
        put(ctx.results, f"{base}.sided", "two" if a.alternative == "two-sided" else "one")
        if perm.method != "exact" and perm.n_extreme == 0:
            # no relabelling as extreme: the estimate is its floor 1/(B + 1), and a standard error says nothing
            p_text = f"≤ 1/{perm.n_resamples + 1} (none of B = {perm.n_resamples} as extreme)"
        else:
            p_text = _fmt_p(perm.pvalue) + ("" if perm.method == "exact" else f" ± {perm.mc_se:.4f}")
        differs = bool((asym.pvalue < alpha) != (perm.pvalue < alpha))
        put(ctx.results, f"{base}.conclusions_differ", differs)
        if differs and disagree is not None:
            disagree.append(f"{a.title}: asymptotic {_p_eq(asym.pvalue)}, permutation "
                            f"{_p_eq(perm.pvalue)} ({sided.split(' (')[0]}; significance level {alpha:g})")
        rows.append(Row((a.title, sided, _fmt_p(asym.pvalue), p_text,
                         f"Monte Carlo, B = {perm.n_resamples} random relabellings (seed {cfg.seed})"
                         if perm.method != "exact"
                         else f"exact, all {perm.n_combinations} relabellings"),
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
        put(ctx.results, f"{base}.gray.sided", "two")
        codes = code.to_numpy()
        n_competing = int(((codes != cause) & (codes != 0)).sum())
        put(ctx.results, f"{base}.competing_events", n_competing)
        not_estimated: list[str] = []
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
            in_group = grp == gval
            gtime, gevent = time[in_group], codes[in_group] != 0
            for m in c.times_months:
                sel = tp[(tp["group"] == gval) & (tp["cause"] == cause) & (tp["time"] == m)]
                nan = float("nan")  # a group of the protocol's order without patients
                r = sel.iloc[0] if len(sel) else {"est": nan, "lower": nan, "upper": nan}
                k = f"{base}.{gkey}.at_{_num_key(m)}m"
                # as the survival table: no estimate past the group's last observation (unless every
                # patient had an event by then, so the incidence is final)
                beyond = not estimated_at(gtime, gevent, m)
                if beyond or not np.isfinite(r["est"]):
                    why = (f"not estimated: the last observation is at {float(gtime.max()):.1f} months, before "
                           f"{m:g} months" if gtime.size else "no patients in the group")
                    put(ctx.results, f"{k}.estimate", None)
                    put(ctx.results, f"{k}.lower", None)
                    put(ctx.results, f"{k}.upper", None)
                    put(ctx.results, f"{k}.note", why)
                    cells.append(EM_DASH)
                    if gtime.size:
                        not_estimated.append(f"{label} at {m:g} months (last observation "
                                             f"{float(gtime.max()):.1f} months)")
                else:
                    put(ctx.results, f"{k}.estimate", r["est"])
                    put(ctx.results, f"{k}.lower", r["lower"])
                    put(ctx.results, f"{k}.upper", r["upper"])
                    cells.append(f"{100 * r['est']:.1f} % ({100 * r['lower']:.1f}–{100 * r['upper']:.1f})")
                keys.append(f"{k}.estimate")
            rows.append(Row(tuple(cells), tuple(keys)))
        words = next((e.words for e in ctx.protocol.endpoint(c.endpoint).events
                       if e.cause == c.cause_of_interest and e.words), None)
        what = words[:1].upper() + words[1:] if words else f"{c.cause_of_interest.capitalize()}s"
        header = ((HeaderCell("Group"), HeaderCell("n"), HeaderCell(what),
                   HeaderCell("Competing events"),
                   *[HeaderCell(f"CIF at {m:g} months (95 % CI)") for m in c.times_months]),)
        competing_words = ctx.layout.text_of("competing_present" if n_competing else "competing_absent",
                                             ctx.values)
        alts = {a.alternative for a in ctx.protocol.analyses.survival if a.group}
        others = (" (unlike the one-sided log-rank p-values of the protocol's comparisons)"
                  if alts and "two-sided" not in alts else "")
        foot = [f"Gray's test for {c.cause_of_interest}"
                + (f" (stratified by {strata_col})" if strata_col else "")
                + f": chi-square {gray.statistic:.3f} on {gray.df} df, two-sided {_p_eq(gray.pvalue)}; "
                f"Gray's test has no one-sided form{others}. Competing: "
                + ", ".join(k for k in c.causes if k != c.cause_of_interest)
                + f" ({n_competing} competing event{'s' if n_competing != 1 else ''} in this analysis). "
                + competing_words]
        if not_estimated:
            foot.append(f"{EM_DASH}: not estimated, because the group's last observation (event or censoring) "
                        "comes before that time: " + "; ".join(not_estimated) + ".")
        foot.append(ctx.layout.text_of("competing_time_note", ctx.values))
        blocks += [
            Paragraph(ctx.layout.text_of("competing_explanation", ctx.values) + " " + competing_words),
            Table(f"cir_{c.id}", c.title, header, tuple(rows), sheet=f"cir_{c.id}"[:21],
                  footnotes=tuple(foot)),
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
        sided = "two-sided" if td.alternative == "two-sided" else "one-sided"
        summary.append(f"{td.title}: {sided} {_p_eq(naive.pvalue)} {naive_words}, {sided} "
                       f"{_p_eq(mb.pvalue)} when each patient changes group on the day the status is reached "
                       f"(Mantel–Byar).")
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
    alt = {td.alternative for td in ctx.protocol.analyses.timedep}
    p_head = ("p (one-sided unless stated)" if "two-sided" not in alt else
              "p (two-sided unless stated)" if alt == {"two-sided"} else "p (sidedness in the footnote)")
    header = ((HeaderCell("Comparison"), HeaderCell("Analysis"), HeaderCell("Exposed / not"),
               HeaderCell(p_head), HeaderCell("Detail")),)
    note = ("p-values of log-rank and Mantel–Byar tests are one-sided (H1: the exposed group has fewer events). "
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
    disagree: list[str] = []
    perm = _permutation_rows(ctx, disagree)
    if perm:
        cfg = a.permutation
        header = ((HeaderCell("Comparison"), HeaderCell("Sidedness (alternative)"),
                   HeaderCell("Asymptotic p (log-rank)"), HeaderCell("Permutation p"), HeaderCell("Method")),)
        foot: tuple[str, ...] = (
            "Both p-values of a row have the sidedness of its second column. Monte Carlo: p = (1 + number of "
            f"relabellings at least as extreme) / (B + 1) with B = {cfg.n_resamples} relabellings (seed "
            f"{cfg.seed}), given with its Monte Carlo standard error; when no relabelling is as extreme, p is "
            f"at most its floor 1/(B + 1) = 1/{cfg.n_resamples + 1}.",)
        caveat = post_baseline_note(ctx.protocol, [s for s in a.survival if s.group], ctx.layout, ctx.values)
        if caveat:
            foot += (caveat,)
        blocks += [
            Paragraph(ctx.layout.text_of("permutation_intro", ctx.values) + " The "
                      "permutation test relabels the groups (within strata) and recomputes the statistic: "
                      "exactly over every relabelling when there are few enough, otherwise by Monte Carlo over "
                      f"B = {cfg.n_resamples} random relabellings (seed {cfg.seed}, p = (1 + #extreme) / (B + 1) "
                      "with its Monte Carlo standard error)."),
            Table("permutation", ctx.layout.table_title("permutation", ctx.values), header,
                  tuple(perm), sheet="permutation", align=("l", "l", "r", "r", "l"), footnotes=foot),
        ]
        if disagree:
            blocks.append(Paragraph(ctx.layout.text_of("permutation_disagrees", ctx.values) + " "
                                    + "; ".join(disagree) + "."))
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
                               note=f"Mantel\u2013Byar test, {sided}-sided: {_p_eq(mb_p)}",
                               caption_tail=f" Mantel\u2013Byar {sided}-sided {_p_eq(mb_p)}.",
                               results=ctx.results, key=f"methods.timedep.{td.id}.simon_makuch")


# ------------------------------------------------------------------------------------------------------
# Statistical methods paragraph and numbered references
# ------------------------------------------------------------------------------------------------------

#: Bibliographic entries the methods paragraph cites, by key (Vancouver-like style). Only the entries a
#: report's analyses use are listed, numbered in order of first citation.
REFERENCES: dict[str, str] = {
    "kaplan_meier": "Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. J Am Stat Assoc. "
                    "1958;53:457\u2013481.",
    "greenwood": "Greenwood M. The natural duration of cancer. Reports on Public Health and Medical Subjects, "
                 "no. 33. London: His Majesty's Stationery Office; 1926.",
    "kalbfleisch_prentice": "Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure Time Data. 2nd ed. "
                            "Hoboken: Wiley; 2002.",
    "brookmeyer_crowley": "Brookmeyer R, Crowley J. A confidence interval for the median survival time. "
                          "Biometrics. 1982;38:29\u201341.",
    "spss": "IBM Corp. IBM SPSS Statistics Algorithms: Kaplan-Meier survival analysis (KM). Armonk, NY: IBM Corp.",
    "mandelkern": "Mandelkern M. Setting confidence intervals for bounded parameters. Stat Sci. "
                  "2002;17:149\u2013172.",
    "schemper_smith": "Schemper M, Smith TL. A note on quantifying follow-up in studies of failure time. Control "
                      "Clin Trials. 1996;17:343\u2013346.",
    "mantel": "Mantel N. Evaluation of survival data and two new rank order statistics arising in its "
              "consideration. Cancer Chemother Rep. 1966;50:163\u2013170.",
    "peto_peto": "Peto R, Peto J. Asymptotically efficient rank invariant test procedures. J R Stat Soc Ser A. "
                 "1972;135:185\u2013207.",
    "holm": "Holm S. A simple sequentially rejective multiple test procedure. Scand J Stat. 1979;6:65\u201370.",
    "klein_moeschberger": "Klein JP, Moeschberger ML. Survival Analysis: Techniques for Censored and Truncated "
                          "Data. 2nd ed. New York: Springer; 2003.",
    "royston_parmar": "Royston P, Parmar MKB. Restricted mean survival time: an alternative to the hazard ratio "
                      "for the design and analysis of randomized trials with a time-to-event outcome. BMC Med "
                      "Res Methodol. 2013;13:152.",
    "uno": "Uno H, Claggett B, Tian L, et al. Moving beyond the hazard ratio in quantifying the between-group "
           "difference in survival analysis. J Clin Oncol. 2014;32:2380\u20132385.",
    "anderson": "Anderson JR, Cain KC, Gelber RD. Analysis of survival by tumor response. J Clin Oncol. "
                "1983;1:710\u2013719.",
    "mantel_byar": "Mantel N, Byar DP. Evaluation of response-time data involving transient states: an "
                   "illustration using heart-transplant data. J Am Stat Assoc. 1974;69:81\u201386.",
    "simon_makuch": "Simon R, Makuch RW. A non-parametric graphical representation of the relationship between "
                    "survival and the occurrence of an event: application to responder versus non-responder "
                    "bias. Stat Med. 1984;3:35\u201344.",
    "cox": "Cox DR. Regression models and life-tables. J R Stat Soc Ser B. 1972;34:187\u2013220.",
    "efron": "Efron B. The efficiency of Cox's likelihood function for censored data. J Am Stat Assoc. "
             "1977;72:557\u2013565.",
    "aalen_johansen": "Aalen OO, Johansen S. An empirical transition matrix for non-homogeneous Markov chains "
                      "based on censored observations. Scand J Stat. 1978;5:141\u2013150.",
    "gray": "Gray RJ. A class of K-sample tests for comparing the cumulative incidence of a competing risk. "
            "Ann Stat. 1988;16:1141\u20131154.",
    "clopper_pearson": "Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the case "
                       "of the binomial. Biometrika. 1934;26:404\u2013413.",
    "fisher": "Fisher RA. Statistical Methods for Research Workers. 5th ed. Edinburgh: Oliver and Boyd; 1934.",
    "pearson": "Pearson K. On the criterion that a given system of deviations from the probable in the case of a "
               "correlated system of variables is such that it can be reasonably supposed to have arisen from "
               "random sampling. Philos Mag. 1900;50:157\u2013175.",
    "wilcoxon": "Wilcoxon F. Individual comparisons by ranking methods. Biometrics Bull. 1945;1:80\u201383.",
    "kruskal_wallis": "Kruskal WH, Wallis WA. Use of ranks in one-criterion variance analysis. J Am Stat Assoc. "
                      "1952;47:583\u2013621.",
    "agresti": "Agresti A. Categorical Data Analysis. 3rd ed. Hoboken: Wiley; 2013.",
    "heinze": "Heinze G, Gnant M, Schemper M. Exact log-rank tests for unequal follow-up. Biometrics. "
              "2003;59:1151\u20131157.",
    "phipson_smyth": "Phipson B, Smyth GK. Permutation p-values should never be zero: calculating exact "
                     "p-values when permutations are randomly drawn. Stat Appl Genet Mol Biol. 2010;9:Article 39.",
    "r_survival": "Therneau TM. A Package for Survival Analysis in R. R package survival.",
    "r_cmprsk": "Gray B. cmprsk: Subdistribution Analysis of Competing Risks. R package.",
}

_CONF_WORDS = {"log-log": "log\u2013log", "log": "log", "plain": "linear (plain)"}
_WEIGHT_WORDS = {"gehan-breslow": "Gehan\u2013Breslow", "tarone-ware": "Tarone\u2013Ware",
                 "peto-peto": "Peto\u2013Peto"}


def software_versions() -> dict[str, str]:
    """Versions of the software the methods paragraph names: blincompass, Python, numpy, scipy."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    from blincompass import __version__

    out = {"blincompass": __version__, "Python": platform.python_version()}
    for name in ("numpy", "scipy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - both are dependencies
            out[name] = "unknown"
    return out


class _Citations:
    """Numbers references in order of first citation."""

    def __init__(self) -> None:
        self.order: list[str] = []

    def __call__(self, *keys: str) -> str:
        nums = []
        for k in keys:
            if k not in self.order:
                self.order.append(k)
            nums.append(self.order.index(k) + 1)
        return "[" + ", ".join(str(n) for n in nums) + "]"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _table1_tests(node: Any) -> set[str]:
    """Names of the group tests Table 1 ran (``table1.<row>.test.name`` in results.json)."""
    found: set[str] = set()
    if isinstance(node, dict):
        test = node.get("test")
        if isinstance(test, dict) and isinstance(test.get("name"), str):
            found.add(test["name"])
        for key, value in node.items():
            if key != "test":
                found |= _table1_tests(value)
    return found


def methods_text(ctx: ReportContext) -> tuple[list[str], list[str]]:
    """The statistical methods paragraph(s) of the analyses this report ran (read from ``ctx.results``,
    so only what was computed is described) and the numbered reference list they cite."""
    prot = ctx.protocol
    s = prot.analyses.settings
    r = ctx.results
    cite = _Citations()
    lvl = f"{100 * s.conf_level:g} %"
    paras: list[str] = []
    tests = r.get("tests", {})
    survival = r.get("survival", {})
    methods = r.get("methods", {})

    first: list[str] = []
    if survival:
        first.append(
            f"Time-to-event endpoints were measured from {ctx.layout.names.index_event} in months (days / "
            f"{prot.time.days_per_month:g}). Survival curves were estimated by the Kaplan\u2013Meier method "
            f"{cite('kaplan_meier')} with Greenwood's variance {cite('greenwood')} and {lvl} pointwise "
            f"confidence intervals on the {_CONF_WORDS.get(s.conf_type, s.conf_type)} scale "
            f"{cite('kalbfleisch_prentice')}. Median survival is given with the Brookmeyer\u2013Crowley "
            f"confidence interval {cite('brookmeyer_crowley')}"
            + (f" and with the interval SPSS prints (median \u00b1 z SE) {cite('spss')}, bounded to 0 and the "
               f"largest observed time {cite('mandelkern')}" if "spss" in s.median_ci else "")
            + ". Survival at fixed times is not given past a group's last observation. Follow-up was "
            f"summarised by the reverse Kaplan\u2013Meier method {cite('schemper_smith')}.")
    logrank = [v for v in tests.values() if v.get("test") not in (None, "Fisher exact")]
    if logrank:
        one = [v for v in logrank if v.get("sided") == "one"]
        words = ("The log-rank test " + cite("mantel", "peto_peto") + " compared groups"
                 + (", one-sided in the direction the protocol states for each comparison (stated with each p) "
                    "and two-sided otherwise" if one else ", two-sided") + ".")
        if any(v.get("strata") for v in logrank):
            words += " Stratified tests sum the observed minus expected events and their variances over strata."
        weights = sorted({v["test"] for v in logrank if v.get("test") in _WEIGHT_WORDS})
        if weights:
            words += f" Weighted versions: {_join([_WEIGHT_WORDS[w] for w in weights])}."
        if any("k_groups" in v for v in logrank):
            words += (" With three or more groups the k-sample test was followed by pairwise tests with Holm's "
                      f"adjustment {cite('holm')}.")
        if any("rmst" in v for v in tests.values()):
            words += (" Restricted mean survival times were compared over one horizon \u03c4 per comparison, "
                      "the smallest of the groups' last observation times, as the difference of the groups' "
                      f"estimates with variance the sum of their variances "
                      f"{cite('klein_moeschberger', 'royston_parmar', 'uno')} (two-sided).")
        first.append(words)
    if first:
        paras.append(" ".join(first))
    second: list[str] = []
    group_tests = _table1_tests(r.get("table1", {}))
    if group_tests:
        parts = []
        if group_tests & {"chi-square", "fisher"}:
            parts.append(f"categorical characteristics by Pearson's chi-square test without continuity correction "
                         f"{cite('pearson')} when every expected count was at least 5 and otherwise by Fisher's "
                         f"exact test {cite('fisher')}")
        if "rank-sum" in group_tests:
            parts.append(f"continuous ones by the Wilcoxon rank-sum test {cite('wilcoxon')}")
        if "kruskal-wallis" in group_tests:
            parts.append(f"{'continuous ones' if 'rank-sum' not in group_tests else 'with three or more groups'} "
                         f"by the Kruskal\u2013Wallis test {cite('kruskal_wallis')}")
        second.append("Baseline characteristics were compared between groups (two-sided): " + "; ".join(parts) + ".")
    if "response" in r and prot.report.response:
        second.append(f"Proportions are given with exact Clopper\u2013Pearson {lvl} confidence intervals "
                      f"{cite('clopper_pearson')}.")
    fisher = [v for v in tests.values() if v.get("test") == "Fisher exact"]
    if fisher:
        words = (f"Proportions were compared by Fisher's exact test {cite('fisher')}"
                 + (", one-sided where the protocol states a direction" if any(v.get("sided") == "one"
                                                                              for v in fisher) else "")
                 + f", with the conditional maximum-likelihood odds ratio and its exact interval {cite('agresti')}")
        if any("k_groups" in v for v in fisher):
            words += "; with three or more groups, Fisher's exact test of the k \u00d7 2 table and Pearson's " \
                     "chi-square test"
        second.append(words + ".")
    if second:
        paras.append(" ".join(second))
    third: list[str] = []
    timedep = methods.get("timedep", {})
    if timedep:
        words = ("Comparisons by a status reached during follow-up were repeated without immortal-time bias: "
                 f"landmark analyses {cite('anderson')}, the Mantel\u2013Byar test {cite('mantel_byar')}")
        if any(td.figure for td in prot.analyses.timedep):
            words += f", Simon\u2013Makuch curves {cite('simon_makuch')}"
        words += (f" and a Cox model with the status as a time-dependent covariate {cite('cox')} (Efron's "
                  f"method for ties {cite('efron')}; two-sided Wald test).")
        third.append(words)
    competing = methods.get("competing", {})
    if competing:
        third.append("Cumulative incidences with competing events were estimated by the Aalen\u2013Johansen "
                     f"estimator {cite('aalen_johansen')} and compared by Gray's test {cite('gray')} "
                     "(two-sided).")
    perm = methods.get("permutation", {})
    if perm:
        ns = sorted({int(v["n_resamples"]) for v in perm.values() if v.get("n_resamples")})
        b = f" over B = {_join([str(n) for n in ns])} random relabellings (seed {prot.analyses.permutation.seed})" \
            if ns else ""
        third.append("Because the chi-square approximation of the log-rank test can be poor with few patients, "
                     f"permutation p-values {cite('heinze')} were computed{b}, as (1 + number at least as "
                     f"extreme) / (B + 1) {cite('phipson_smyth')}, or exactly over every relabelling when few "
                     "enough.")
    if third:
        paras.append(" ".join(third))
    v = software_versions()
    paras.append(f"Analyses were run with blincompass {v['blincompass']} (Python {v['Python']}, numpy "
                 f"{v['numpy']}, scipy {v['scipy']}); its estimators are tested number by number against the R "
                 f"package survival {cite('r_survival')}"
                 + (f" and, for competing risks, cmprsk {cite('r_cmprsk')}" if competing else "") + ".")
    refs = [f"[{i}] {REFERENCES[k]}" for i, k in enumerate(cite.order, 1)]
    return paras, refs


def statistical_methods_section(ctx: ReportContext) -> Section | None:
    """The "Statistical methods and references" section: a methods paragraph to paste, generated from the
    analyses the report ran, with software versions, and the numbered references it cites
    (``statistics.text``, ``statistics.references``, ``statistics.software`` in results.json)."""
    paras, refs = methods_text(ctx)
    if not refs:
        return None
    put(ctx.results, "statistics.text", paras)
    put(ctx.results, "statistics.references", refs)
    put(ctx.results, "statistics.software", software_versions())
    blocks: list[Any] = [Paragraph(p) for p in paras]
    blocks.append(Paragraph("References", "text"))
    blocks += [Paragraph(x, "note") for x in refs]
    return Section("statistics", ctx.layout.section_title("statistics", ctx.values), tuple(blocks))
