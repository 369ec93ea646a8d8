"""Swimmer plot: one lane per eligible patient from the index date to the end of follow-up, with the spans
(e.g. treatment courses) and events the layout declares (``[figures.swimmer]``), coloured by group. Lanes are
ordered by group, then by follow-up (longest first), then by patient id, so the plot is the same run to
run. Everything drawn is vectorised (one collection per kind), so large cohorts draw in one pass."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from blincompass.protocol.layout import EXTRA_FIGURES, fill
from blincompass.report.figures import protocol_labels, protocol_order, render
from blincompass.report.fmt import slug
from blincompass.report.model import Figure, ReportContext, put
from blincompass.report.plotting import COLOURS, FONT_PT, RC_PARAMS, SMALL_PT, new_figure, wrap_to

__all__ = ["swimmer_figures", "swimmer_lanes"]


#: Size of an event marker, points.
EVENT_MARKER_PT = 3.5
#: Vertical shift (lane units) of an event drawn where 0, 1, 2 or more earlier events of its lane lie within
#: a marker's width.
LANE_SHIFTS = (0.0, -0.33, 0.33, 0.0)


def _months(d: pd.Series, origin: pd.Series, per_month: float) -> np.ndarray:
    return ((pd.to_datetime(d) - pd.to_datetime(origin)).dt.days / per_month).to_numpy(float)


def swimmer_lanes(ctx: ReportContext) -> pd.DataFrame:
    """One row per lane, in drawing order (top first): patient_id, group, start 0, end (months)."""
    cfg = ctx.layout.figures.swimmer
    assert cfg is not None
    adsl = ctx.derived.adsl
    if "eligible" in adsl.columns:
        adsl = adsl[adsl["eligible"].fillna(False).astype(bool)]
    for col in (cfg.origin, cfg.end, cfg.group, cfg.end_event):
        if col and col not in adsl.columns:
            raise ValueError(f"figures.swimmer: {col!r} is not a patient-level column")
    per_month = ctx.protocol.time.days_per_month
    lanes = pd.DataFrame({"patient_id": adsl["patient_id"].astype(str).to_numpy(),
                          "end": _months(adsl[cfg.end], adsl[cfg.origin], per_month)})
    groups: list[str | None] = [None] * len(lanes)
    if cfg.group:
        groups = [None if pd.isna(v) else str(v) for v in adsl[cfg.group].astype(object).to_numpy()]
    levels = [str(v) for v in protocol_order(ctx.protocol, cfg.group, {v for v in groups if v is not None})]
    lanes["group"] = pd.Series(groups, dtype=object)
    lanes["rank"] = [levels.index(v) if v is not None else len(levels) for v in groups]
    lanes = lanes.sort_values(["rank", "end", "patient_id"], ascending=[True, False, True], kind="mergesort")
    return lanes.reset_index(drop=True)


def swimmer_figures(ctx: ReportContext) -> list[Figure]:
    """The swimmer figure (id ``swimmer``)."""
    cfg = ctx.layout.figures.swimmer
    if cfg is None:
        return []
    lanes = swimmer_lanes(ctx)
    if len(lanes) > cfg.max_lanes or not len(lanes):
        put(ctx.results, "figures.swimmer.note", f"not drawn: {len(lanes)} patients; the layout's max_lanes is "
            f"{cfg.max_lanes}" if len(lanes) else "not drawn: no eligible patient")
        return []
    adsl = ctx.derived.adsl.set_index("patient_id")
    adsl.index = adsl.index.astype(str)
    per_month = ctx.protocol.time.days_per_month
    pos = pd.Series(np.arange(len(lanes)), index=lanes["patient_id"])
    origin = adsl.loc[lanes["patient_id"], cfg.origin]
    n = len(lanes)
    width = ctx.layout.figures.width_in("swimmer")
    lane_h = min(0.075, 6.0 / max(n, 1))
    axes_h = max(1.0, lane_h * n)
    legend_rows = 2 + (len(cfg.events) + len(cfg.intervals) + 2) // 3
    bottom = 0.45 + legend_rows * 0.16
    height = bottom + axes_h + 0.25
    group_label = dict(protocol_labels(ctx.protocol, cfg.group)) if not cfg.group_label else {}
    if cfg.group:
        label_col = cfg.group_label if cfg.group_label and cfg.group_label in adsl.columns else cfg.group
        for gid, lab in zip(adsl[cfg.group].astype(object), adsl[label_col].astype(object), strict=True):
            if not pd.isna(gid):
                group_label.setdefault(str(gid), str(lab))
    levels = [str(v) for v in protocol_order(ctx.protocol, cfg.group,
                                             {v for v in lanes["group"] if isinstance(v, str)})]
    colour = {g: COLOURS[i % len(COLOURS)] for i, g in enumerate(levels)}
    counts: dict[str, int] = {}
    with matplotlib.rc_context(RC_PARAMS):
        fig = new_figure(width, height)
        ax = fig.add_axes((0.45 / width, bottom / height, (width - 0.6) / width, axes_h / height))
        y = np.arange(n)
        cols = [colour.get(g, "#999999") if isinstance(g, str) else "#999999" for g in lanes["group"]]
        ax.hlines(y, 0, lanes["end"].to_numpy(float), colors=cols, lw=max(0.8, lane_h * 72 * 0.35), alpha=0.45)
        handles: list[Any] = [Line2D([], [], color=colour[g], lw=3, alpha=0.45, label=group_label.get(g, g))
                              for g in levels if cfg.group]
        for iv in cfg.intervals:
            form = ctx.dataset.forms.get(iv.form) if hasattr(ctx.dataset, "forms") else None
            if form is None or form.empty:
                continue
            f = form[form["patient_id"].astype(str).isin(pos.index)]
            o = adsl.loc[f["patient_id"].astype(str), cfg.origin].to_numpy()
            s = _months(f[iv.start].reset_index(drop=True), pd.Series(o), per_month)
            e = _months(f[iv.end].reset_index(drop=True), pd.Series(o), per_month)
            e = np.where(np.isnan(e), s, e)
            yy = pos.loc[f["patient_id"].astype(str)].to_numpy()
            ok = np.isfinite(s)
            ax.hlines(yy[ok], s[ok], e[ok], colors="#222222", lw=max(1.2, lane_h * 72 * 0.6))
            handles.append(Line2D([], [], color="#222222", lw=2.5, label=iv.label))
            counts[iv.label] = int(ok.sum())
        # Events closer on one lane than a marker's width would hide each other: the second is drawn a
        # third of a lane above the lane, the third a third below (x range and axes width as set below).
        x_max = max(float(np.nanmax(lanes["end"])) if n else 1.0, 1.0) * 1.02
        tol = EVENT_MARKER_PT / 72 * x_max / (width - 0.6)
        placed: dict[int, list[float]] = {}
        for i, ev in enumerate(cfg.events):
            if ev.date not in adsl.columns or (ev.when and ev.when not in adsl.columns):
                raise ValueError(f"figures.swimmer: event {ev.label!r} names a column the patient table lacks")
            sub = adsl.loc[lanes["patient_id"]]
            t = _months(sub[ev.date].reset_index(drop=True), origin.reset_index(drop=True), per_month)
            keep = np.isfinite(t)
            if ev.when:
                w = sub[ev.when]
                cond = (w.astype("string") == ev.value) if ev.value is not None else w.fillna(False).astype(bool)
                keep &= cond.fillna(False).to_numpy(bool)
            c = COLOURS[(i + 2) % len(COLOURS)] if ev.filled else "white"
            y_ev = y.astype(float)
            for j in np.flatnonzero(keep):
                near = sum(abs(t[j] - u) < tol for u in placed.get(int(j), []))
                y_ev[j] += LANE_SHIFTS[min(near, len(LANE_SHIFTS) - 1)]
                placed.setdefault(int(j), []).append(float(t[j]))
            ax.plot(t[keep], y_ev[keep], linestyle="none", marker=ev.marker, markersize=EVENT_MARKER_PT,
                    markerfacecolor=c, markeredgecolor="black", markeredgewidth=0.5)
            handles.append(Line2D([], [], linestyle="none", marker=ev.marker, markersize=4, markerfacecolor=c,
                                  markeredgecolor="black", markeredgewidth=0.5, label=ev.label))
            counts[ev.label] = int(keep.sum())
        ended = np.zeros(n, bool)
        if cfg.end_event:
            ended = adsl.loc[lanes["patient_id"], cfg.end_event].notna().to_numpy()
        ongoing = ~ended
        ax.plot(lanes["end"].to_numpy(float)[ongoing], y[ongoing], linestyle="none", marker=">", markersize=3,
                color="#444444")
        handles.append(Line2D([], [], linestyle="none", marker=">", markersize=4, color="#444444",
                              label=cfg.ongoing))
        counts[cfg.ongoing] = int(ongoing.sum())
        ax.set_ylim(n - 0.5, -0.5)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_xlim(0, x_max)
        ax.set_xlabel(fill(ctx.layout.figures.x_label, {**ctx.values, "endpoint": ""}))
        ax.set_ylabel(wrap_to(f"Patients (n = {n}), one lane each", axes_h, FONT_PT))
        fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.02, 0.01), ncol=3, frameon=False,
                   fontsize=SMALL_PT, handlelength=1.6, columnspacing=1.2)
        if ctx.synthetic:
            fig.text(1 - 0.03 / width, 1 - 0.04 / height, "SYNTHETIC DATA \u2013 not real patients", ha="right",
                     va="top", fontsize=SMALL_PT, fontweight="bold", color="#b00020")
    files = render(fig)
    put(ctx.results, "figures.swimmer.lanes", int(n))
    put(ctx.results, "figures.swimmer.order", lanes["patient_id"].tolist())
    for label, k in counts.items():
        put(ctx.results, f"figures.swimmer.counts.{slug(label)}", k)
    number = ctx.layout.figure_number("swimmer")
    body = fill(ctx.layout.figures.captions.get("swimmer", EXTRA_FIGURES["swimmer"]), ctx.values)
    order = "group, then follow-up (longest first)" if cfg.group else "follow-up (longest first)"
    caption = (f"Figure {number}. {body} One lane per patient, ordered by {order}; the lane ends at the last "
               f"follow-up, with an arrow when {cfg.ongoing[:1].lower() + cfg.ongoing[1:]}.")
    return [Figure(id="swimmer", caption=caption, stem=f"figure_{number}", alt=f"Figure {number}: {body}",
                   files=files)]
