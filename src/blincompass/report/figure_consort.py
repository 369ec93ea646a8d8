"""The CONSORT flow diagram of the screening the report computes (:mod:`blincompass.derive`): patients
screened, excluded with the reasons (each criterion of the protocol that excluded somebody, with the number),
and analysed, by group when the layout names a grouping column (``[figures] consort_group``)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import matplotlib

from blincompass.protocol.layout import EXTRA_FIGURES, fill
from blincompass.report.figures import protocol_labels, protocol_order, render
from blincompass.report.model import Figure, ReportContext, put
from blincompass.report.plotting import RC_PARAMS, SMALL_PT, new_figure, wrap_to

__all__ = ["consort_boxes", "consort_figures"]


def consort_boxes(ctx: ReportContext) -> dict[str, Any]:
    """The texts of the diagram: ``screened``, ``excluded`` (lines), ``analysed`` and ``groups``."""
    sc = ctx.derived.screening
    by_step = Counter(e.step for e in sc.exclusions)
    lines = [f"{s.label}: not met, n\u00a0=\u00a0{by_step.get(s.id, s.n_excluded)}" for s in sc.steps
             if s.n_excluded]
    excluded = sc.n_screened - sc.n_eligible
    groups: list[tuple[str, int]] = []
    col = ctx.layout.figures.consort_group
    adsl = ctx.derived.adsl
    if col and col in adsl.columns:
        eligible = adsl[adsl["eligible"].fillna(False).astype(bool)] if "eligible" in adsl.columns else adsl
        label_col = f"{col}_label" if f"{col}_label" in adsl.columns else col
        names = protocol_labels(ctx.protocol, col)
        values = eligible[col]
        for v in protocol_order(ctx.protocol, col, values.dropna().unique()):
            sel = eligible[values == v]
            key = str(v).lower() if isinstance(v, bool) else str(v)
            groups.append((names.get(key, str(sel[label_col].iloc[0])), len(sel)))
        missing = int(values.isna().sum())
        if missing:
            groups.append(("Not known", missing))
    return {"screened": f"Patients screened\n(n = {sc.n_screened})",
            "excluded": [f"Excluded (n = {excluded})", *lines],
            "analysed": f"Eligible and analysed\n(n = {sc.n_eligible})",
            "groups": [f"{label}\n(n = {n})" for label, n in groups]}


def _box(ax: Any, x: float, y: float, text: str, *, ha: str = "center") -> Any:
    return ax.text(x, y, text, ha=ha, va="center", fontsize=SMALL_PT, linespacing=1.3,
                   bbox={"boxstyle": "square,pad=0.4", "facecolor": "white", "edgecolor": "black", "lw": 0.6})


def consort_figures(ctx: ReportContext) -> list[Figure]:
    """The CONSORT figure (id ``consort``)."""
    boxes = consort_boxes(ctx)
    width = ctx.layout.figures.width_in("consort")
    side_w = width * 0.5
    excluded = [boxes["excluded"][0]] + ["\u2022 " + wrap_to(t, side_w - 0.3, SMALL_PT).replace("\n", "\n   ")
                                         for t in boxes["excluded"][1:]]
    ex_text = "\n".join(excluded)
    ex_lines = ex_text.count("\n") + 1
    line_in = SMALL_PT * 1.3 / 72
    ex_h = ex_lines * line_in + 0.15
    groups = boxes["groups"]
    n_g = len(groups)
    span = min(width - 0.4, max(1.2 * n_g, 1.0))
    slot = span / max(n_g, 1) - 0.2
    groups = ["\n".join(wrap_to(line, slot, SMALL_PT) for line in t.split("\n")) for t in groups]
    halves = [(t.count("\n") + 1) * line_in / 2 + 0.07 for t in groups]  # half heights of the group boxes
    # from the top: screened box, the exclusion box between two arrows, analysed box, the groups
    height = 0.35 + 0.45 + ex_h + 0.45 + ((0.5 + 2 * max(halves)) if groups else 0.25) + 0.1
    with matplotlib.rc_context(RC_PARAMS):
        fig = new_figure(width, height)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_xlim(0, width)
        ax.set_ylim(0, height)
        ax.axis("off")
        main_x = min(width * 0.3, width / 2)
        y_top = height - 0.35
        _box(ax, main_x, y_top, boxes["screened"])
        y_ex = y_top - 0.45 - ex_h / 2
        _box(ax, main_x + 0.35, y_ex, ex_text, ha="left")
        y_an = y_ex - ex_h / 2 - 0.45
        _box(ax, main_x, y_an, boxes["analysed"])
        arrow = {"arrowstyle": "-|>", "lw": 0.6, "color": "black", "shrinkA": 0, "shrinkB": 0,
                 "mutation_scale": 6}
        ax.annotate("", xy=(main_x, y_an + 0.2), xytext=(main_x, y_top - 0.2), arrowprops=arrow)
        ax.annotate("", xy=(main_x + 0.3, y_ex), xytext=(main_x, y_ex), arrowprops=arrow)
        if groups:
            y_bar = y_an - 0.3
            y_g = y_bar - 0.2 - max(halves)
            left = min(max(0.1, main_x - span / 2), width - 0.1 - span)
            xs = [left + span * (i + 0.5) / n_g for i in range(n_g)]
            ax.plot([min(xs[0], main_x), max(xs[-1], main_x)], [y_bar, y_bar], color="black", lw=0.6)
            ax.plot([main_x, main_x], [y_an - 0.2, y_bar], color="black", lw=0.6)
            for x, t, half in zip(xs, groups, halves, strict=True):
                ax.annotate("", xy=(x, y_g + half), xytext=(x, y_bar), arrowprops=arrow)
                _box(ax, x, y_g, t)
        if ctx.synthetic:
            ax.text(width - 0.03, height - 0.05, "SYNTHETIC DATA \u2013 not real patients", ha="right", va="top",
                    fontsize=SMALL_PT, fontweight="bold", color="#b00020")
    files = render(fig)
    for k, v in boxes.items():
        put(ctx.results, f"figures.consort.{k}", v)
    number = ctx.layout.figure_number("consort")
    body = fill(ctx.layout.figures.captions.get("consort", EXTRA_FIGURES["consort"]), ctx.values)
    return [Figure(id="consort", caption=f"Figure {number}. {body}", stem=f"figure_{number}",
                   alt=f"Figure {number}: {body}", files=files)]
