"""Forest plot of univariable Cox hazard ratios (:func:`blincompass.stats.cox_ph`, checked against R
``survival::coxph``) for the covariates the layout lists (``[figures.forest]``), with the events-per-variable
count a multivariable model of all of them would have, stated under the plot and in the caption before any
such model is reported. The values go to results.json under ``forest.<column>[.<level>]``."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
import pandas as pd

from blincompass.protocol.layout import EXTRA_FIGURES, fill
from blincompass.report.figures import render
from blincompass.report.fmt import fmt_p
from blincompass.report.model import Figure, ReportContext, put
from blincompass.report.plotting import (
    COLOURS,
    RC_PARAMS,
    SMALL_PT,
    log_tick_label,
    new_figure,
    text_width_in,
    wrap_to,
)
from blincompass.stats import cox_ph

__all__ = ["EPV_THRESHOLD", "draw_forest", "forest_figures", "forest_rows"]

#: Events per variable below which a multivariable Cox model is unreliable (Peduzzi P. et al. (1995). J Clin
#: Epidemiol 48:1503–1510; Concato J. et al. (1995). J Clin Epidemiol 48:1495–1501).
EPV_THRESHOLD = 10


def _frame(ctx: ReportContext, endpoint: str, population: str | None) -> pd.DataFrame:
    adsl = ctx.derived.adsl.set_index("patient_id")
    tte = ctx.derived.adtte
    df = tte[tte["PARAMCD"] == endpoint].set_index("USUBJID").join(adsl, how="left")
    if population:
        df = df[df[population].fillna(False).astype(bool)]
    df = df.assign(_time=df["AVAL"].astype(float), _event=(df["CNSR"] == 0).astype(int))
    return df


def forest_rows(ctx: ReportContext) -> tuple[list[dict[str, Any]], int, int]:
    """One row per hazard ratio (a boolean or numeric covariate, or a non-reference level of a categorical
    one): label, hr, lower, upper, p, n, events, key. Returns the rows, the number of events among the
    patients of the endpoint and the number of parameters a model of every covariate would have."""
    cfg = ctx.layout.figures.forest
    assert cfg is not None
    df = _frame(ctx, cfg.endpoint, cfg.population)
    rows: list[dict[str, Any]] = []
    n_params = 0
    for cov in cfg.covariates:
        if cov.column not in df.columns:
            raise ValueError(f"figures.forest: covariate {cov.column!r} is not a patient-level column")
        raw = df[cov.column]
        cols: list[tuple[str, str, pd.Series]] = []  # (key, label, x)
        if pd.api.types.is_bool_dtype(raw) or set(raw.dropna().unique()) <= {True, False}:
            x = raw.astype("float64")
            cols.append((cov.column, f"{cov.label}: {cov.levels.get('true', 'yes')} vs "
                         f"{cov.levels.get('false', 'no')}", x))
        elif pd.api.types.is_numeric_dtype(raw):
            unit = f" (per {cov.unit})" if cov.unit else ""
            cols.append((cov.column, f"{cov.label}{unit}", raw.astype("float64")))
        else:
            levels = sorted(str(v) for v in raw.dropna().unique())
            ref = cov.reference if cov.reference is not None else (levels[0] if levels else "")
            ref_label = cov.levels.get(ref, ref)
            for lev in levels:
                if lev == ref:
                    continue
                x = (raw.astype("string") == lev).astype("float64").where(raw.notna())
                cols.append((f"{cov.column}.{lev}", f"{cov.label}: {cov.levels.get(lev, lev)} vs {ref_label}", x))
        n_params += len(cols)
        if not cols:
            continue
        data = pd.DataFrame({"t": df["_time"].to_numpy(), "e": df["_event"].to_numpy(),
                             **{f"x{i}": c[2].to_numpy() for i, c in enumerate(cols)}})
        names = [f"x{i}" for i in range(len(cols))]
        try:
            fit = cox_ph(data, "t", "e", names, missing="drop")
            coef = fit.coef
            n, n_events, warn = fit.n, fit.n_events, bool(fit.warnings)
        except ValueError:
            coef, n, n_events, warn = None, 0, 0, True
        for i, (key, label, _) in enumerate(cols):
            if coef is None:
                hr = lo = hi = p = float("nan")
            else:
                r = coef.iloc[i]
                hr, lo, hi, p = (float(r["exp_coef"]), float(r["lower"]), float(r["upper"]), float(r["p"]))
            estimable = not warn and all(np.isfinite(v) for v in (hr, lo, hi))
            rows.append({"key": key, "label": label, "hr": hr if estimable else None,
                         "lower": lo if estimable else None, "upper": hi if estimable else None,
                         "p": p if estimable else None, "n": int(n), "events": int(n_events)})
    return rows, int(df["_event"].sum()), n_params


def forest_figures(ctx: ReportContext) -> list[Figure]:
    """The forest figure (id ``forest``) and its numbers in results.json."""
    cfg = ctx.layout.figures.forest
    if cfg is None:
        return []
    rows, events, n_params = forest_rows(ctx)
    epv = events / n_params if n_params else float("nan")
    for r in rows:
        for k in ("label", "hr", "lower", "upper", "p", "n", "events"):
            put(ctx.results, f"forest.{r['key']}.{k}", r[k])
    put(ctx.results, "forest.endpoint", cfg.endpoint)
    put(ctx.results, "forest.events", events)
    put(ctx.results, "forest.parameters", n_params)
    put(ctx.results, "forest.events_per_variable", epv)
    endpoint = ctx.protocol.endpoint(cfg.endpoint).param.split(" (")[0]
    epv_text = (f"Events per variable of a multivariable model of all {n_params} parameters: {events}/{n_params} "
                f"= {epv:.1f}" + (f" (below {EPV_THRESHOLD}: such a model would be unreliable and is not "
                                  "reported)" if epv < EPV_THRESHOLD else "") + ".")
    with matplotlib.rc_context(RC_PARAMS):
        fig, _ = draw_forest(ctx, rows, endpoint, epv_text)
    files = render(fig)
    number = ctx.layout.figure_number("forest")
    body = fill(ctx.layout.figures.captions.get("forest", EXTRA_FIGURES["forest"]), ctx.values)
    caption = (f"Figure {number}. {body} Endpoint: {endpoint}. Each covariate in its own Cox model (Efron ties; "
               f"Wald 95 % confidence intervals and two-sided p-values); patients with a missing value are left "
               f"out of that model. {epv_text}")
    return [Figure(id="forest", caption=caption, stem=f"figure_{number}", alt=f"Figure {number}: {body}",
                   files=files)]


def draw_forest(ctx: ReportContext, rows: list[dict[str, Any]], endpoint: str, epv_text: str) -> tuple[Any, list[Any]]:
    """Draw the forest plot of ``rows`` (from :func:`forest_rows`); returns the matplotlib figure and its
    column texts (headers, values, the synthetic banner) so their rendered positions can be checked. Call
    inside ``matplotlib.rc_context(RC_PARAMS)``."""
    width = ctx.layout.figures.width_in("forest")
    texts = [f"{r['hr']:.2f} ({r['lower']:.2f}\u2013{r['upper']:.2f})" if r["hr"] is not None else "not estimable"
             for r in rows]
    ps = [fmt_p(r["p"]) if r["p"] is not None else "" for r in rows]
    hr_head, p_head = "HR (95 % CI)", "p (two-sided)"
    label_w = max([text_width_in(r["label"], SMALL_PT) for r in rows] + [0.5]) + 0.1
    label_w = min(label_w, width * 0.42)
    labels = [wrap_to(r["label"], label_w - 0.1, SMALL_PT) for r in rows]
    # the HR column, a gap, then the p column wide enough for its header (which states the sidedness)
    p_w = max([text_width_in(p_head, SMALL_PT, bold=True)] + [text_width_in(p, SMALL_PT) for p in ps])
    right_w = max([text_width_in(t, SMALL_PT) for t in texts] + [text_width_in(hr_head, SMALL_PT, bold=True)]) \
        + 0.2 + p_w + 0.2
    row_h = 0.2 if all("\n" not in t for t in labels) else 0.3
    top = 0.3 + (0.2 if ctx.synthetic else 0.0)  # room for the column headers, and the banner above them
    height = 0.3 + row_h * max(len(rows), 1) + 0.55 + top
    fig = new_figure(width, height)
    texts_out: list[Any] = []
    ax_w = width - label_w - right_w - 0.1
    ax = fig.add_axes((label_w / width, 0.85 / height, ax_w / width, (row_h * max(len(rows), 1)) / height))
    ax.set_xscale("log")
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels)
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    finite = [v for r in rows for v in (r["lower"], r["upper"]) if v is not None]
    lo = min(finite + [0.5]) / 1.2
    hi = max(finite + [2.0]) * 1.2
    ax.set_xlim(lo, hi)
    ax.axvline(1.0, color="#666666", lw=0.6, ls="--")
    for i, r in enumerate(rows):
        if r["hr"] is None:
            continue
        ax.plot([r["lower"], r["upper"]], [i, i], color=COLOURS[0], lw=1.0)
        ax.plot([r["hr"]], [i], marker="s", color=COLOURS[0], markersize=4)
    in_text = endpoint[:1].lower() + endpoint[1:] if endpoint[1:2].islower() else endpoint
    ax.set_xlabel(f"Hazard ratio, {in_text} (log scale)")
    from matplotlib.ticker import FuncFormatter, LogLocator

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(0.1, 0.2, 0.5, 1.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(log_tick_label))
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=()))
    x_text = (label_w + ax_w + 0.15) / width
    trans = matplotlib.transforms.blended_transform_factory(fig.transFigure, ax.transData)
    texts_out.append(fig.text(x_text, (0.85 + row_h * len(rows) + 0.05) / height, hr_head, fontsize=SMALL_PT,
                              fontweight="bold", va="bottom"))
    texts_out.append(fig.text((width - 0.05) / width, (0.85 + row_h * len(rows) + 0.05) / height, p_head,
                              fontsize=SMALL_PT, fontweight="bold", va="bottom", ha="right"))
    for i, (t, p) in enumerate(zip(texts, ps, strict=True)):
        texts_out.append(fig.text(x_text, i, t, transform=trans, fontsize=SMALL_PT, va="center"))
        texts_out.append(fig.text((width - 0.05) / width, i, p, transform=trans, fontsize=SMALL_PT,
                                  va="center", ha="right"))
    fig.text(0.05 / width, 0.08 / height, wrap_to(epv_text, width - 0.1, SMALL_PT), fontsize=SMALL_PT,
             va="bottom", ha="left")
    if ctx.synthetic:
        texts_out.append(fig.text(1 - 0.03 / width, 1 - 0.05 / height, "SYNTHETIC DATA \u2013 not real patients",
                                  ha="right", va="top", fontsize=SMALL_PT, fontweight="bold", color="#b00020"))
    return fig, texts_out
