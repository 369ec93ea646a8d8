"""Cumulative-incidence figures: one per ``[[analyses.competing]]`` entry of the protocol, the Aalen–Johansen
cumulative incidence of the cause of interest by group (:func:`blincompass.stats.cumulative_incidence`, the
estimates the "Methodological notes" table prints), with censoring marks, numbers at risk and Gray's test.
"""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np

from blincompass.protocol.layout import fill
from blincompass.report.figures import CurveSpec, PanelSpec, _p_phrase, _step_value, draw_panels, render
from blincompass.report.model import Figure, ReportContext
from blincompass.report.plotting import RC_PARAMS
from blincompass.stats import cumulative_incidence, gray_test

__all__ = ["cif_data", "cif_figures", "cif_panel"]


def cif_data(ctx: ReportContext, c: Any) -> dict[str, Any] | None:
    """The patients of competing-risks analysis ``c`` as the report's table selects them: times, cause
    codes (0 = censored) and groups; ``None`` when fewer than two groups have patients."""
    from blincompass.report.methods import _endpoint_frame

    df = _endpoint_frame(ctx, c.endpoint)
    strata_col = getattr(c, "strata", None)
    if c.population:
        df = df[df[c.population].fillna(False).astype(bool)]
    df = df[df[c.group].isin(list(c.order))] if c.order else df[df[c.group].notna()]
    if strata_col:
        df = df[df[strata_col].notna()]
    if df.empty or df[c.group].nunique() < 2:
        return None
    code = df["EVNTDESC"].map(c.causes).where(df["CNSR"] == 0, 0).fillna(0).astype(int).to_numpy()
    strata = df[strata_col].astype(str).to_numpy(object) if strata_col else None
    return {"time": df["AVAL"].to_numpy(float), "code": code, "group": df[c.group].astype(object).to_numpy(),
            "strata": strata}


def cif_panel(ctx: ReportContext, c: Any) -> PanelSpec | None:
    """The panel of analysis ``c``: the cumulative incidence of its cause of interest in each group."""
    data = cif_data(ctx, c)
    if data is None:
        return None
    s = ctx.protocol.analyses.settings
    causes = sorted(set(c.causes.values()))
    cause = c.causes[c.cause_of_interest]
    ci = cumulative_incidence(data["time"], data["code"], group=data["group"], causes=causes,
                              conf_type=s.conf_type, conf_level=s.conf_level)
    gray = gray_test(data["time"], data["code"], data["group"], cause=cause, causes=causes, strata=data["strata"])
    curves = []
    for gval in (c.order or sorted(set(data["group"]), key=str)):
        sel = data["group"] == gval
        if not sel.any():
            continue
        cur = ci._curve(cause, gval)  # noqa: SLF001 - the jumps of this cause and group
        t = np.concatenate([[0.0], cur["time"].to_numpy(float), [ci.max_time[gval]]])
        est = cur["est"].to_numpy(float)
        y = np.concatenate([[0.0], est, [est[-1] if est.size else 0.0]])
        times = data["time"][sel]
        cens = np.unique(times[data["code"][sel] == 0])
        n_ev = int((data["code"][sel] == cause).sum())

        def at_risk(x: float, times: np.ndarray = times) -> int:
            return int((times >= x).sum())

        label = c.group_label(gval)
        curves.append(CurveSpec(label=f"{label} (n = {int(sel.sum())}, events = {n_ev})", name=label, t=t, y=y,
                                at_risk=at_risk, censor_t=cens, censor_y=_step_value(t, y, cens)))
    words = next((e.words for e in ctx.protocol.endpoint(c.endpoint).events
                  if e.cause == c.cause_of_interest and e.words), None) or c.cause_of_interest
    x_label = fill(ctx.layout.figures.x_label, {**ctx.values, "endpoint": words})
    strat = f" (stratified by {getattr(c, 'strata', '')})" if data["strata"] is not None else ""
    return PanelSpec(title=c.title, curves=curves, x_label=x_label,
                     y_label=f"Cumulative incidence of {words} (%)",
                     note=f"Gray's test, two-sided: {_p_phrase(gray.pvalue)}{strat}",
                     step=ctx.protocol.report.at_risk_step_months)


def cif_figures(ctx: ReportContext, analyses: Any = None) -> list[Figure]:
    """The cumulative-incidence figures of the protocol's competing-risks analyses (id ``cif_<id>``; all of
    them, or those in ``analyses``)."""
    out = []
    for c in (ctx.protocol.analyses.competing if analyses is None else analyses):
        spec = cif_panel(ctx, c)
        if spec is None:
            continue
        fid = f"cif_{c.id}"
        with matplotlib.rc_context(RC_PARAMS):
            fig, _ = draw_panels(fid, [spec], layout=ctx.layout, censor_marker=ctx.protocol.report.censor_marker,
                                 synthetic=ctx.synthetic)
        files = render(fig)
        number = ctx.layout.figure_number(fid)
        competing = ", ".join(k for k in c.causes if k != c.cause_of_interest)
        body = ctx.layout.figures.captions.get(fid)
        body = fill(body, ctx.values) if body else c.title
        caption = (f"Figure {number}. {body}. Aalen\u2013Johansen estimates of the cumulative incidence of "
                   f"{c.cause_of_interest}, with {competing} as competing event(s); censored patients are marked "
                   f"{ctx.protocol.report.censor_marker}; numbers at risk beneath the panel. {spec.note}.")
        out.append(Figure(id=fid, caption=caption, stem=f"figure_{number}", alt=f"Figure {number}: {body}",
                          files=files))
    return out
