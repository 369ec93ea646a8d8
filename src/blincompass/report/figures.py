"""Step-function figures (Kaplan–Meier, Simon–Makuch, cumulative incidence) with numbers at risk, written
deterministically as PNG, SVG and PDF.

Every figure is drawn on a fresh :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot state), at
its print width (the layout's single or double journal column) with fonts of at least 7 pt. Axes are placed
in inches, so the legend and the note (test or median) can be placed where they cover no curve, censoring
mark or number at risk (:mod:`blincompass.report.plotting`). The numbers-at-risk table is drawn in an axes
that shares the x axis of the curve axes, each number placed at its tick in data coordinates (x) and axes
coordinates (y), so the columns sit exactly under the ticks. No title is drawn inside the image unless the
layout asks for it (``[figures] titles = true``): the caption carries it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure as MplFigure  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.transforms import blended_transform_factory, offset_copy  # noqa: E402

from blincompass.protocol import Protocol  # noqa: E402
from blincompass.protocol.layout import Layout, fill  # noqa: E402
from blincompass.report.fmt import fmt_num, fmt_p  # noqa: E402
from blincompass.report.model import Figure, FigureFiles, put  # noqa: E402
from blincompass.report.plotting import (  # noqa: E402
    DPI,
    FONT_PT,
    RC_PARAMS,
    SMALL_PT,
    Obstacles,
    _pdf_subsets,
    figure_bytes,
    new_figure,
    place_legend,
    place_note,
    render_figure,
    style_of,
    text_width_in,
    wrap_to,
)
from blincompass.report.survival import SurvivalData, event_words, month_key  # noqa: E402
from blincompass.report.wording import resolve  # noqa: E402

__all__ = [
    "DPI",
    "RC_PARAMS",
    "CurveSpec",
    "PanelArtists",
    "PanelSpec",
    "draw_km_figure",
    "draw_panels",
    "figure_bytes",
    "figure_groups",
    "km_figure",
    "km_panel",
    "render",
    "render_now",
    "x_ticks",
]

_ = _pdf_subsets  # the per-process font subsets (tests read them here)


def x_ticks(max_time: float, step: float) -> list[float]:
    """Ticks 0, step, 2 step, ... up to the first multiple of ``step`` >= ``max_time`` (at least one step)."""
    n = max(1, math.ceil(max_time / step - 1e-9)) if max_time > 0 else 1
    return [i * step for i in range(n + 1)]


def figure_groups(data: Sequence[SurvivalData]) -> list[tuple[str, list[SurvivalData]]]:
    """Analyses with a ``figure`` id grouped by it, in protocol order (analyses sharing an id are panels)."""
    out: dict[str, list[SurvivalData]] = {}
    for sd in data:
        if sd.analysis.figure and sd.pooled is not None:  # an empty analysis has nothing to draw
            out.setdefault(sd.analysis.figure, []).append(sd)
    return list(out.items())


@dataclass
class CurveSpec:
    """One curve of a panel, as drawn: a right-continuous step function through ``(t, y)`` (the first
    point is where the curve starts), optional pointwise limits, censoring marks and marks of moves to
    another state, and the numbers at risk under the panel."""

    label: str
    name: str
    t: np.ndarray
    y: np.ndarray
    at_risk: Callable[[float], int]
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    censor_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    censor_y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    move_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    move_y: np.ndarray = field(default_factory=lambda: np.zeros(0))
    results_key: str | None = None


@dataclass
class PanelSpec:
    """One panel: its title (drawn only when the layout asks for titles), curves, axis labels, the note
    (test or median) and the tick step of the time axis."""

    title: str
    curves: list[CurveSpec]
    x_label: str
    y_label: str
    note: str | None
    step: float
    legend: bool = True
    y_max: float = 1.0


@dataclass
class PanelArtists:
    """The axes, legend, notes and at-risk texts of one panel (for tests reading positions back)."""

    ax: Axes
    risk_ax: Axes
    ticks: list[float]
    risk_texts: list[Text]
    legend: Legend | None = None
    notes: list[Text] = field(default_factory=list)


#: Sizes in inches at print size.
_AXES_H = 2.05
_RISK_ROW = 0.15
_RISK_HEAD = 0.17
_X_AXIS = 0.42
_PAD = 0.06
_SYNTH = 0.2
_LINE_PT = 1.1
_MARK_PT = 5.0


def _curves(sd: SurvivalData) -> list[Any]:
    return list(sd.groups) if sd.groups else [g for g in (sd.pooled,) if g is not None]


def _km_points(g: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The step points of a Kaplan–Meier curve: from (start, 1), where ``start`` is 0 or, for a curve on
    rows with delayed entry, the first time somebody is at risk in it."""
    tab = g.km.table
    start = 0.0
    entry = getattr(g, "entry", None)
    if entry is not None and len(entry) and float(np.min(entry)) > 0:
        start = float(np.min(entry))
    t = np.concatenate([[start], tab["time"].to_numpy(float)])
    s = np.concatenate([[1.0], tab["surv"].to_numpy(float)])
    lo = np.concatenate([[1.0], tab["lower"].to_numpy(float)])
    hi = np.concatenate([[1.0], tab["upper"].to_numpy(float)])
    return t, s, lo, hi


def _p_phrase(p: float) -> str:
    text = fmt_p(p)
    return f"p {text[0]} {text[1:]}" if text[0] in "<>" else f"p = {text}"


def km_panel(sd: SurvivalData, protocol: Protocol, layout: Layout, values: dict[str, Any], *,
             ci_bands: bool = False, letter: str = "") -> PanelSpec:
    """The panel of one survival analysis: a curve per group (or the pooled curve), the log-rank test or
    the median as its note."""
    a = sd.analysis
    endpoint = protocol.endpoint(a.endpoint).param.split(" (")[0]
    curves = []
    for g in _curves(sd):
        t, s, lo, hi = _km_points(g)
        tab = g.km.table
        cens = tab[tab["n_censor"] > 0]
        name = g.label if sd.groups else "All"
        curves.append(CurveSpec(
            label=f"{name} (n = {int(g.km.n)}, events = {int(g.km.n_events)})", name=name, t=t, y=s,
            at_risk=g.at_risk, lower=lo if ci_bands else None, upper=hi if ci_bands else None,
            censor_t=cens["time"].to_numpy(float), censor_y=cens["surv"].to_numpy(float),
            results_key=f"survival.{a.id}" + (f".groups.{g.id}" if sd.groups else "")))
    note = None
    if sd.test is not None:
        sided = "two-sided" if sd.test.alternative == "two-sided" else "one-sided"
        note = f"Log-rank test, {sided}: {_p_phrase(sd.test.pvalue)}"
        if a.strata:
            note += f" (stratified by {a.strata})"
    elif not sd.groups and sd.pooled is not None:
        km = sd.pooled.km
        med = "not reached" if km.median is None or not np.isfinite(km.median) else f"{fmt_num(km.median, 1)} months"
        note = (f"n = {int(km.n)}; {event_words(protocol, a.endpoint)}: {int(km.n_events)}; "
                f"median {med}")
    return PanelSpec(title=f"{letter}{a.title}", curves=curves,
                     x_label=fill(layout.figures.x_label, {**values, "endpoint": endpoint}),
                     y_label=fill(layout.figures.y_label, {**values, "endpoint": endpoint}),
                     note=note, step=protocol.report.at_risk_step_months, legend=bool(sd.groups))


def _height(specs: Sequence[PanelSpec], title_h: float, synthetic: bool, reserve: float,
            x_lines: int) -> tuple[float, float]:
    """Figure height and the bottom of the curve axes (inches)."""
    rows = max(len(p.curves) for p in specs)
    bottom = _PAD + _RISK_ROW * rows + _RISK_HEAD + _X_AXIS + (x_lines - 1) * FONT_PT * 1.25 / 72
    top = _PAD + (_SYNTH if synthetic else 0.0) + title_h + reserve
    return bottom + _AXES_H + top, bottom


def _draw_panels(fig_id: str, specs: Sequence[PanelSpec], *, width: float, censor_marker: str, synthetic: bool,
                 layout: Layout, outside: set[int], reserve: float,
                 results: dict[str, Any] | None) -> tuple[MplFigure, list[PanelArtists], list[Obstacles], set[int]]:
    titles = layout.figures.titles
    n = len(specs)
    cell = width / n
    numbers = max((len(str(c.at_risk(0.0))) for p in specs for c in p.curves), default=1)
    number_half = text_width_in("0" * max(numbers, 2), SMALL_PT) / 2
    y_labels = [wrap_to(p.y_label, _AXES_H, FONT_PT) for p in specs]
    y_lines = max(s.count("\n") + 1 for s in y_labels)
    # at-risk row names longer than a third of the panel are shortened (the legend names the group in full)
    max_name = cell / 3 - number_half - 0.1
    names = {c.name: _fit(c.name, max_name, SMALL_PT) for p in specs for c in p.curves}
    left = max(0.5 + (y_lines - 1) * FONT_PT * 1.25 / 72,
               max(text_width_in(s, SMALL_PT) for s in names.values()) + number_half + 0.1)
    axes_w = cell - left - 0.14
    x_labels = [wrap_to(p.x_label, axes_w, FONT_PT) for p in specs]
    x_lines = max(s.count("\n") + 1 for s in x_labels)
    title_texts = [wrap_to(p.title, axes_w, FONT_PT, bold=True) for p in specs] if titles else []
    title_h = max((t.count("\n") + 1 for t in title_texts), default=0) * FONT_PT * 1.3 / 72 + 0.1 if titles else 0.0
    height, bottom = _height(specs, title_h, synthetic, reserve, x_lines)
    fig = new_figure(width, height)
    failed: set[int] = set()
    artists: list[PanelArtists] = []
    obstacles: list[Obstacles] = []
    for i, spec in enumerate(specs):
        x0 = i * cell + left
        ax = fig.add_axes((x0 / width, bottom / height, axes_w / width, _AXES_H / height))
        n_rows = len(spec.curves)
        risk_h = _RISK_ROW * n_rows
        rax = fig.add_axes((x0 / width, _PAD / height, axes_w / width, risk_h / height), sharex=ax)
        tmax = max((float(np.max(c.t)) for c in spec.curves if len(c.t)), default=0.0)
        ticks = x_ticks(tmax, spec.step)
        obs = Obstacles(ax)
        for j, c in enumerate(spec.curves):
            st = style_of(j)
            ax.step(c.t, c.y, where="post", lw=_LINE_PT, label=wrap_to(c.label, axes_w - 0.5, SMALL_PT), **st)
            obs.add_step(c.t, c.y)
            if c.lower is not None and c.upper is not None:
                # where a limit is not estimable (S = 0 or no variance) the band collapses onto the curve
                lo = np.where(np.isnan(c.lower), c.y, c.lower)
                hi = np.where(np.isnan(c.upper), c.y, c.upper)
                ax.fill_between(c.t, lo, hi, step="post", color=st["color"], alpha=0.15, lw=0)
            if len(c.censor_t):
                ax.plot(c.censor_t, c.censor_y, linestyle="none", marker=censor_marker, color=st["color"],
                        markersize=_MARK_PT, markeredgewidth=0.8)
                obs.add_points(c.censor_t, c.censor_y, _MARK_PT)
            if len(c.move_t):
                ax.plot(c.move_t, c.move_y, linestyle="none", marker="o", color=st["color"],
                        markerfacecolor="white", markersize=_MARK_PT * 0.8, markeredgewidth=0.8)
                obs.add_points(c.move_t, c.move_y, _MARK_PT * 0.8)
        ax.set_xlim(0, ticks[-1])
        ax.set_ylim(0, spec.y_max * 1.04)
        ax.set_xticks(ticks)
        yt = [0, 0.25, 0.5, 0.75, 1.0] if spec.y_max >= 1.0 else list(np.linspace(0, spec.y_max, 5))
        ax.set_yticks(yt)
        ax.set_yticklabels([f"{100 * v:g}" for v in yt])
        ax.set_ylabel(y_labels[i])
        ax.set_xlabel(x_labels[i])
        ax.grid(axis="y", color="#dddddd", lw=0.4)
        ax.set_axisbelow(True)
        if titles:
            ax.set_title(title_texts[i], loc="left", fontsize=FONT_PT, fontweight="bold")
        legend = None
        if spec.legend:
            legend = ax.legend(loc="upper right", frameon=False, handlelength=2.6, borderaxespad=0.3)
        note = None
        if spec.note:
            note = ax.text(0.02, 0.03, wrap_to(spec.note, axes_w - 0.15, SMALL_PT), transform=ax.transAxes,
                           fontsize=SMALL_PT)
        if i in outside:
            _outside(ax, legend, note, 1.0 + title_h / _AXES_H)  # above the title, when there is one
        else:
            if legend is not None and not place_legend(obs, legend):
                failed.add(i)
            if note is not None and not place_note(obs, note):
                failed.add(i)
        _at_risk(rax, spec, ticks, layout, results, artists, ax, legend, note, number_half, names)
        obstacles.append(obs)
    if titles:
        fig.suptitle(f"Figure {layout.figure_number(fig_id)}", x=0.01, y=1 - _PAD / height, ha="left",
                     va="top", fontsize=FONT_PT, fontweight="bold")
    if synthetic:
        fig.text(1 - 0.02 / width, 1 - _PAD / height, "SYNTHETIC DATA \u2013 not real patients", ha="right",
                 va="top", fontsize=SMALL_PT, fontweight="bold", color="#b00020")
    return fig, artists, obstacles, failed


def _fit(text: str, width_in: float, size_pt: float) -> str:
    """``text``, cut at a word and ended with "…" when wider than ``width_in``."""
    if text_width_in(text, size_pt) <= width_in:
        return text
    words = text.split()
    while len(words) > 1 and text_width_in(" ".join(words) + "\u2026", size_pt) > width_in:
        words.pop()
    return " ".join(words) + "\u2026"


def _outside(ax: Axes, legend: Legend | None, note: Text | None, y0: float = 1.0) -> None:
    """Legend and note above the axes, from ``y0`` in axes coordinates (the room is reserved): the note as
    the legend's title, or alone."""
    if legend is not None:
        legend.set_loc("lower left")
        legend.set_bbox_to_anchor((0.0, y0), transform=ax.transAxes)
        legend.set_alignment("left")  # the title left-aligned over the entries
        if note is not None:
            legend.set_title(note.get_text(), prop={"size": SMALL_PT})
            note.remove()
    elif note is not None:
        note.set_position((0.0, y0 + 0.02))
        note.set_ha("left")
        note.set_va("bottom")


def _outside_height(legend: Legend | None, note: Text | None, fig: MplFigure) -> float:
    """Height (inches) the legend and note need above the axes."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    h = 0.0
    if legend is not None:
        h += legend.get_window_extent(renderer).height / fig.dpi
    if note is not None:
        h += note.get_window_extent(renderer).height / fig.dpi + 0.04
    return h + 0.06


def _at_risk(rax: Axes, spec: PanelSpec, ticks: list[float], layout: Layout, results: dict[str, Any] | None,
             artists: list[PanelArtists], ax: Axes, legend: Legend | None, note: Text | None,
             number_half: float, names: dict[str, str]) -> None:
    """Numbers at risk: x in data coordinates of the shared x axis, y in axes coordinates."""
    rax.set_ylim(0, 1)
    rax.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
    rax.set_yticks([])
    for side in ("top", "right", "bottom", "left"):
        rax.spines[side].set_visible(False)
    rax.set_facecolor("none")
    trans = blended_transform_factory(rax.transData, rax.transAxes)
    label_trans = blended_transform_factory(rax.transAxes, rax.transAxes)
    names_trans = offset_copy(label_trans, fig=rax.figure, x=-(number_half * 72 + 5), units="points")
    rax.text(0.0, 1.0 + 0.03 / (_RISK_ROW * len(spec.curves)), layout.figures.at_risk, transform=label_trans,
             fontsize=SMALL_PT, fontweight="bold", ha="left", va="bottom")
    texts: list[Text] = []
    n_rows = len(spec.curves)
    for i, c in enumerate(spec.curves):
        y = 1.0 - (i + 0.5) / n_rows
        colour = style_of(i)["color"]
        rax.text(0.0, y, names[c.name], transform=names_trans, fontsize=SMALL_PT, ha="right", va="center", color=colour)
        for tk in ticks:
            n = c.at_risk(tk)
            if results is not None and c.results_key:
                put(results, f"{c.results_key}.at_risk.{month_key(tk)}", n)
            texts.append(rax.text(tk, y, str(n), transform=trans, fontsize=SMALL_PT, ha="center", va="center",
                                  color=colour))
    notes = [note] if note is not None and note.figure is not None else []
    artists.append(PanelArtists(ax, rax, ticks, texts, legend, notes))


def draw_panels(fig_id: str, specs: Sequence[PanelSpec], *, layout: Layout, censor_marker: str = "+",
                synthetic: bool = False, results: dict[str, Any] | None = None,
                width: float | None = None) -> tuple[MplFigure, list[PanelArtists]]:
    """Draw one figure of step-function panels at its print width, legends and notes placed where they
    hide no curve or mark: inside the axes when a position is free there, otherwise above the axes (the
    figure grows by the room they need)."""
    w = width if width is not None else layout.figures.width_in(fig_id, len(specs))
    fig, artists, _, failed = _draw_panels(fig_id, specs, width=w, censor_marker=censor_marker,
                                           synthetic=synthetic, layout=layout, outside=set(), reserve=0.0,
                                           results=results)
    if failed:  # draw again with room above the axes for what did not fit inside (measured on this drawing)
        reserve = max(_outside_height(artists[i].legend, artists[i].notes[0] if artists[i].notes else None, fig)
                      for i in failed)
        fig, artists, _, _ = _draw_panels(fig_id, specs, width=w, censor_marker=censor_marker,
                                          synthetic=synthetic, layout=layout, outside=failed, reserve=reserve,
                                          results=None)
    return fig, artists


def draw_km_figure(fig_id: str, panels: Sequence[SurvivalData], protocol: Protocol, *, synthetic: bool = False,
                   ci_bands: bool = False, censor_marker: str | None = None,
                   results: dict[str, Any] | None = None, layout: Layout | None = None,
                   values: dict[str, Any] | None = None) -> tuple[MplFigure, list[PanelArtists]]:
    """Draw one figure (one panel per analysis sharing ``fig_id``) and return it with its panels.

    Numbers at risk go to ``results`` under ``survival.<id>[.groups.<g>].at_risk.<t>m`` when given.
    ``censor_marker`` defaults to the protocol's ``report.censor_marker``; axis labels, the figure's
    number, its width and whether titles are drawn come from ``layout`` (default: the built-in study's).
    """
    lay, v = resolve(protocol, None, layout, values)
    n = len(panels)
    specs = [km_panel(sd, protocol, lay, v, ci_bands=ci_bands,
                      letter=f"({chr(ord('a') + i)}) " if n > 1 else "") for i, sd in enumerate(panels)]
    with matplotlib.rc_context(RC_PARAMS):
        return draw_panels(fig_id, specs, layout=lay, censor_marker=censor_marker or protocol.report.censor_marker,
                           synthetic=synthetic, results=results)


def protocol_order(protocol: Protocol, column: str | None, values: Any) -> list[Any]:
    """``values`` of a patient-level column in the order the protocol's analyses grouped by it give (the
    first survival or competing analysis with an ``order``), the rest sorted after them."""
    vals = list(values)
    order: tuple[Any, ...] = ()
    for a in (*protocol.analyses.survival, *protocol.analyses.competing):
        if column and getattr(a, "group", None) == column and getattr(a, "order", None):
            order = tuple(a.order)
            break
    known = [o for o in order if any(str(o) == str(v) for v in vals)]
    known = [next(v for v in vals if str(v) == str(o)) for o in known]
    return known + sorted((v for v in vals if all(str(v) != str(k) for k in known)), key=str)


def protocol_labels(protocol: Protocol, column: str | None) -> dict[str, str]:
    """Labels of the values of a patient-level column, from the first protocol analysis grouped by it that
    names them (``labels``); empty when none does."""
    for a in (*protocol.analyses.survival, *protocol.analyses.competing, *protocol.analyses.proportions):
        if column and getattr(a, "group", None) == column and getattr(a, "labels", None):
            return {str(k): str(v) for k, v in a.labels.items()}
    return {}


def render_now(fig: MplFigure) -> tuple[bytes, bytes, bytes]:
    """PNG, SVG and PDF bytes of a figure drawn by this package (report style), drawn here and now."""
    return render_figure(fig)


def render(fig: MplFigure) -> Any:
    """The PNG, SVG and PDF files of a laid-out figure drawn by this package (report style): drawn here
    (:class:`~blincompass.report.model.FigureFiles`), or handed to the active figure pool
    (:class:`~blincompass.report.figpool.PendingFiles`, see :mod:`blincompass.report.figpool`). ``fig`` must
    not change afterwards."""
    from blincompass.report.figpool import NotPicklable, active_pool

    pool = active_pool()
    if pool is not None:
        try:
            return pool.submit(fig)
        except NotPicklable:  # drawn here instead
            pass
    return FigureFiles(*render_now(fig))


def km_figure(fig_id: str, panels: Sequence[SurvivalData], protocol: Protocol, *, synthetic: bool = False,
              ci_bands: bool = False, results: dict[str, Any] | None = None, layout: Layout | None = None,
              values: dict[str, Any] | None = None) -> Figure:
    """Draw and render one figure of the report (caption from the analyses' titles, number from the
    layout)."""
    lay, v = resolve(protocol, None, layout, values)
    fig, _ = draw_km_figure(fig_id, panels, protocol, synthetic=synthetic, ci_bands=ci_bands, results=results,
                            layout=lay, values=v)
    files = render(fig)
    if len(panels) == 1:
        body = panels[0].analysis.title
    else:
        body = "; ".join(f"({chr(ord('a') + i)}) {sd.analysis.title}" for i, sd in enumerate(panels))
    tests = [sd for sd in panels if sd.test is not None]
    extra = ""
    if tests:
        extra = " " + "; ".join(
            f"{sd.analysis.title}: log-rank {'two' if sd.test.alternative == 'two-sided' else 'one'}-sided "  # type: ignore[union-attr]
            f"{_p_phrase(sd.test.pvalue)}" for sd in tests  # type: ignore[union-attr]
        ) + "."
    number = lay.figure_number(fig_id)
    n_groups = max(len(sd.groups) for sd in panels)
    styles = " Groups are told apart by colour and line style." if n_groups > 1 else ""
    caption = (f"Figure {number}. Kaplan\u2013Meier estimates: {body}.{extra} Censored patients are marked "
               f"{protocol.report.censor_marker}; numbers at risk beneath each panel.{styles}")
    if ci_bands:
        caption += " Shaded: pointwise 95 % confidence bands."
    return Figure(id=fig_id, caption=caption, stem=f"figure_{number}", alt=f"Figure {number}: {body}",
                  files=files)


def simon_makuch_panel(sm: Any, labels: tuple[str, str], title: str, endpoint: str, protocol: Protocol,
                       layout: Layout, values: dict[str, Any], note: str | None = None) -> PanelSpec:
    """The panel of Simon–Makuch curves (:func:`blincompass.stats.simon_makuch`): the "after" curve
    starts when the first patient enters the state (nothing is drawn before anybody is at risk in it); a
    move from the "before" to the "after" state is marked ○ on the "before" curve, not as a censoring.

    ``labels`` = (after, before)."""
    d = sm.data
    moved = d[(d["exposed"] == 1) & (d["start"] > sm.landmark)]
    move_times = moved["start"].to_numpy(float)
    moved_ids = set(moved["id"].tolist())
    curves = []
    for flag, km, label in ((1, sm.exposed, labels[0]), (0, sm.unexposed, labels[1])):
        rows = d[d["exposed"] == flag]
        start = rows["start"].to_numpy(float)
        stop = rows["stop"].to_numpy(float)

        def at_risk(t: float, start: np.ndarray = start, stop: np.ndarray = stop) -> int:
            # rows with start < t <= stop; at the start of the curves, the rows that start there
            began = (start < t) | ((t == sm.landmark) & (start == sm.landmark))
            return int((began & (stop >= t)).sum())

        if km is None:
            continue
        tab = km.table
        first = float(start.min()) if len(start) else 0.0
        t = np.concatenate([[first], tab["time"].to_numpy(float)])
        y = np.concatenate([[1.0], tab["surv"].to_numpy(float)])
        # censorings: rows ending without the event, except the rows that end because the patient moved
        ends = rows[(rows["event"] == 0) & ~((flag == 0) & rows["id"].isin(moved_ids))]["stop"].to_numpy(float)
        ct = np.unique(ends)
        cy = _step_value(t, y, ct)
        mt = np.unique(move_times) if flag == 0 else np.zeros(0)
        my = _step_value(t, y, mt)
        curves.append(CurveSpec(label=f"{label} (n = {len(np.unique(rows['id']))}, events = {int(km.n_events)})",
                                name=label, t=t, y=y, at_risk=at_risk, censor_t=ct, censor_y=cy,
                                move_t=mt, move_y=my))
    return PanelSpec(title=title, curves=curves,
                     x_label=fill(layout.figures.x_label, {**values, "endpoint": endpoint}),
                     y_label=fill(layout.figures.y_label, {**values, "endpoint": endpoint}),
                     note=note, step=protocol.report.at_risk_step_months)


def _step_value(t: np.ndarray, y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Value at ``at`` of the right-continuous step function through ``(t, y)``."""
    if not len(at):
        return np.zeros(0)
    idx = np.searchsorted(t, at, side="right") - 1
    return y[np.clip(idx, 0, len(y) - 1)]


def simon_makuch_figure(fig_id: str, sm: Any, labels: tuple[str, str], title: str, endpoint_id: str,
                        protocol: Protocol, *, layout: Layout, values: dict[str, Any], synthetic: bool = False,
                        note: str | None = None, caption_tail: str = "", results: dict[str, Any] | None = None,
                        key: str | None = None) -> Figure:
    """The Simon–Makuch figure of the report (caption says how moves and censorings are drawn). With
    ``results`` and ``key``, the drawn curves' values at the protocol's ``survival_at_months`` go to
    ``<key>.<exposed|unexposed>.at_<t>m`` (``None`` before the curve starts or after its last time) and the
    curve's start to ``<key>.<state>.start``."""
    endpoint = protocol.endpoint(endpoint_id).param.split(" (")[0]
    spec = simon_makuch_panel(sm, labels, title, endpoint, protocol, layout, values, note=note)
    if results is not None and key:
        for state, c in zip(("exposed", "unexposed"), spec.curves, strict=False):
            put(results, f"{key}.{state}.start", float(c.t[0]))
            for m in protocol.analyses.settings.survival_at_months:
                inside = c.t[0] <= m <= c.t[-1]
                put(results, f"{key}.{state}.at_{month_key(m)}",
                    float(_step_value(c.t, c.y, np.array([m]))[0]) if inside else None)
    with matplotlib.rc_context(RC_PARAMS):
        fig, _ = draw_panels(fig_id, [spec], layout=layout, censor_marker=protocol.report.censor_marker,
                             synthetic=synthetic)
    files = render(fig)
    number = layout.figure_number(fig_id)
    after, before = labels
    caption = (f"Figure {number}. Simon\u2013Makuch curves, {title}. Patients count in '{before}' until the day "
               f"of the status change and in '{after}' from then on; the '{after}' curve starts when the first "
               f"patient enters that state. Moves from '{before}' to '{after}' are marked \u25cb on the "
               f"'{before}' curve; censored patients are marked {protocol.report.censor_marker}. Numbers at "
               f"risk beneath the panel count patients in each state.{caption_tail}")
    return Figure(id=fig_id, caption=caption, stem=f"figure_{number}",
                  alt=f"Figure {number}: Simon\u2013Makuch curves, {title}", files=files)
