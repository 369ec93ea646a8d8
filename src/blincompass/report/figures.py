"""Kaplan–Meier figures with numbers at risk, written deterministically as PNG, SVG and PDF.

Every figure is drawn on a fresh :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot state).
The numbers-at-risk table is drawn in an axes that shares the x axis of the curve axes, each number placed
at its tick in data coordinates (x) and axes coordinates (y), so the columns sit exactly under the ticks.
"""

from __future__ import annotations

import contextlib
import io
import math
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure as MplFigure  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from blincompass.protocol import Protocol  # noqa: E402
from blincompass.protocol.layout import Layout, fill  # noqa: E402
from blincompass.report.fmt import fmt_num, fmt_p  # noqa: E402
from blincompass.report.model import Figure, put  # noqa: E402
from blincompass.report.survival import SurvivalData, event_words, month_key  # noqa: E402
from blincompass.report.wording import resolve  # noqa: E402

__all__ = [
    "RC_PARAMS",
    "PanelArtists",
    "draw_km_figure",
    "figure_bytes",
    "figure_groups",
    "km_figure",
    "x_ticks",
]

#: Matplotlib settings for reproducible files (fixed SVG ids, embedded fonts, no dates).
RC_PARAMS: dict[str, Any] = {
    "svg.hashsalt": "blincompass",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
#: Colour-blind-safe colours (Okabe–Ito) for the groups, in protocol order.
COLOURS: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
DPI = 300


@dataclass
class PanelArtists:
    """The axes and at-risk texts of one panel (for tests reading positions back)."""

    ax: Axes
    risk_ax: Axes
    ticks: list[float]
    risk_texts: list[Text]


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


def _curves(sd: SurvivalData) -> list[Any]:
    return list(sd.groups) if sd.groups else [g for g in (sd.pooled,) if g is not None]


def _step(g: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    tab = g.km.table
    t = np.concatenate([[0.0], tab["time"].to_numpy(float)])
    s = np.concatenate([[1.0], tab["surv"].to_numpy(float)])
    lo = np.concatenate([[1.0], tab["lower"].to_numpy(float)])
    hi = np.concatenate([[1.0], tab["upper"].to_numpy(float)])
    return t, s, lo, hi


def _panel(fig: MplFigure, spec: Any, sd: SurvivalData, protocol: Protocol, *, letter: str, ci_bands: bool,
           censor_marker: str, results: dict[str, Any] | None, layout: Layout,
           values: dict[str, Any]) -> PanelArtists:
    curves = _curves(sd)
    n_rows = len(curves)
    sub = spec.subgridspec(2, 1, height_ratios=[4.2, 0.45 + 0.28 * n_rows], hspace=0.42)
    ax = fig.add_subplot(sub[0])
    rax = fig.add_subplot(sub[1], sharex=ax)
    step = protocol.report.at_risk_step_months
    tmax = max((float(g.time.max()) for g in curves if g.time.size), default=0.0)
    ticks = x_ticks(tmax, step)
    a = sd.analysis
    for i, g in enumerate(curves):
        colour = COLOURS[i % len(COLOURS)]
        t, s, lo, hi = _step(g)
        label = f"{g.label} (n = {int(g.km.n)}, events = {int(g.km.n_events)})" if sd.groups else (
            f"All (n = {int(g.km.n)}, events = {int(g.km.n_events)})")
        ax.step(t, s, where="post", color=colour, lw=1.6, label=label)
        if ci_bands:
            # where a limit is not estimable (S = 0 or no variance) the band collapses onto the curve
            lo = np.where(np.isnan(lo), s, lo)
            hi = np.where(np.isnan(hi), s, hi)
            ax.fill_between(t, lo, hi, step="post", color=colour, alpha=0.15, lw=0)
        tab = g.km.table
        cens = tab[tab["n_censor"] > 0]
        if len(cens):
            ax.plot(cens["time"].to_numpy(float), cens["surv"].to_numpy(float), linestyle="none",
                    marker=censor_marker, color=colour, markersize=7, markeredgewidth=1.2)
    ax.set_xlim(0, ticks[-1])
    ax.set_ylim(0, 1.04)
    ax.set_xticks(ticks)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_yticklabels(["0", "25", "50", "75", "100"])
    endpoint = protocol.endpoint(a.endpoint).param.split(" (")[0]
    ax.set_ylabel(fill(layout.figures.y_label, {**values, "endpoint": endpoint}))
    ax.set_xlabel(fill(layout.figures.x_label, {**values, "endpoint": endpoint}))
    ax.set_title(textwrap.fill(f"{letter}{a.title}", 58), loc="left", fontsize=9.5, fontweight="bold")
    ax.legend(loc="upper right", frameon=True, framealpha=0.9, edgecolor="none", fontsize=7.5)
    ax.grid(axis="y", color="#dddddd", lw=0.5)
    if sd.test is not None:
        t = sd.test
        sided = "two-sided" if t.alternative == "two-sided" else "one-sided"
        txt = f"Log-rank {sided} p = {fmt_p(t.pvalue)}" if fmt_p(t.pvalue)[0] != "<" else (
            f"Log-rank {sided} p {fmt_p(t.pvalue)}")
        if a.strata:
            txt += f" (stratified by {a.strata})"
        ax.text(0.02, 0.04, txt, transform=ax.transAxes, fontsize=8, ha="left", va="bottom")
    elif not sd.groups and sd.pooled is not None:
        km = sd.pooled.km
        med = fmt_num(km.median, 1, missing="not reached")
        ax.text(0.02, 0.04, f"Median {med} months; {event_words(protocol, a.endpoint)}: {int(km.n_events)}",
                transform=ax.transAxes, fontsize=8, ha="left", va="bottom")
    # numbers at risk: x in data coordinates of the shared x axis, y in axes coordinates
    rax.set_ylim(0, 1)
    rax.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
    rax.set_yticks([])
    for side in ("top", "right", "bottom", "left"):
        rax.spines[side].set_visible(False)
    rax.set_facecolor("none")
    trans = blended_transform_factory(rax.transData, rax.transAxes)
    label_trans = blended_transform_factory(rax.transAxes, rax.transAxes)
    at_risk = fill(layout.figures.at_risk, {**values, "endpoint": endpoint})
    rax.text(0.0, 1.0, at_risk, transform=label_trans, fontsize=7.5, fontweight="bold",
             ha="left", va="bottom")
    texts: list[Text] = []
    for i, g in enumerate(curves):
        y = 1.0 - (i + 0.5) / n_rows
        colour = COLOURS[i % len(COLOURS)]
        name = g.label if sd.groups else "All"
        rax.text(-0.07, y, name, transform=label_trans, fontsize=7.5, ha="right", va="center", color=colour)
        base = f"survival.{a.id}" + (f".groups.{g.id}" if sd.groups else "")
        for tk in ticks:
            n = g.at_risk(tk)
            if results is not None:
                put(results, f"{base}.at_risk.{month_key(tk)}", n)
            texts.append(rax.text(tk, y, str(n), transform=trans, fontsize=7.5, ha="center", va="center",
                                  color=colour))
    return PanelArtists(ax, rax, ticks, texts)


def draw_km_figure(fig_id: str, panels: Sequence[SurvivalData], protocol: Protocol, *, synthetic: bool = False,
                   ci_bands: bool = False, censor_marker: str | None = None,
                   results: dict[str, Any] | None = None, layout: Layout | None = None,
                   values: dict[str, Any] | None = None) -> tuple[MplFigure, list[PanelArtists]]:
    """Draw one figure (one panel per analysis sharing ``fig_id``) and return it with its panels.

    Numbers at risk go to ``results`` under ``survival.<id>[.groups.<g>].at_risk.<t>m`` when given.
    ``censor_marker`` defaults to the protocol's ``report.censor_marker``; axis labels and the figure's
    number come from ``layout`` (default: the built-in study's).
    """
    lay, v = resolve(protocol, None, layout, values)
    censor_marker = censor_marker or protocol.report.censor_marker
    n = len(panels)
    height = 4.6 + 0.2 * max(len(_curves(sd)) for sd in panels)
    fig = MplFigure(figsize=(6.4 * n, height), dpi=100)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(1, n, left=0.17 / n + 0.02, right=0.97, top=0.84, bottom=0.06, wspace=0.42)
    artists = []
    for i, sd in enumerate(panels):
        letter = f"({chr(ord('a') + i)}) " if n > 1 else ""
        artists.append(_panel(fig, grid[0, i], sd, protocol, letter=letter, ci_bands=ci_bands,
                              censor_marker=censor_marker, results=results, layout=lay, values=v))
    fig.suptitle(f"Figure {lay.figure_number(fig_id)}", x=0.01, y=0.985, ha="left", fontsize=10, fontweight="bold")
    if synthetic:
        fig.text(0.99, 0.99, "SYNTHETIC DATA \u2013 not real patients", ha="right", va="top", fontsize=10,
                 fontweight="bold", color="#b00020")
    return fig, artists


#: Characters whose glyphs every embedded PDF font carries (printable ASCII and the punctuation and signs the
#: report writes, and the Latin ligatures text shaping substitutes), so that one subset of each font serves
#: every figure; other text gets its own subset.
_PDF_BASE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F)) + (
    "\u00b0\u00b1\u00b5\u00b7\u00d7\u2013\u2014\u2018\u2019\u201c\u201d\u2022\u2026\u2212\u2264\u2265"
    "\ufb00\ufb01\ufb02\ufb03\ufb04")
#: Tables a PDF viewer never reads from an embedded TrueType font (the page content positions every glyph).
_PDF_DROP_TABLES = ("GSUB", "GPOS", "GDEF", "FFTM", "PfEd", "BDF", "meta", "MERG", "TSIV", "Zapf")
_pdf_subsets: dict[tuple[str, int], tuple[bytes, dict[int, int], frozenset[int]]] = {}


def _subset_font(path: str, face_index: int, glyphs: set[int]) -> tuple[bytes, dict[int, int]]:
    """TrueType subset of ``path`` holding ``glyphs`` (fontTools), without the layout tables."""
    from fontTools import subset

    # no hinting programs and no glyph names: PDF viewers rasterise outlines themselves and find glyphs
    # through the CIDToGIDMap matplotlib writes
    options = subset.Options(glyph_names=False, recommended_glyphs=True, hinting=False)
    options.drop_tables += list(_PDF_DROP_TABLES)
    options.font_number = face_index
    font = subset.load_font(path, options)
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(gids=glyphs)
    subsetter.subset(font)
    buf = io.BytesIO()
    font.save(buf, reorderTables=False)
    return buf.getvalue(), dict(subsetter.glyph_index_map)


def _cached_glyphs_subset(fontfile: Any, glyphs: Any) -> Any:
    """Stand-in for matplotlib's per-document font subsetting: each font is subset once per process to the
    glyphs of ``_PDF_BASE_CHARS`` (plus nothing else) and that subset is embedded in every PDF whose text it
    covers; text outside it gets its own subset. The embedded bytes depend only on the font and the glyphs
    asked for, so PDFs stay byte-identical run to run."""
    from fontTools.ttLib import TTFont
    from matplotlib.backends import _backend_pdf_ps
    from matplotlib.ft2font import FT2Font

    path, face = str(fontfile), int(getattr(fontfile, "face_index", 0))
    wanted = {int(g) for g in glyphs}
    entry = _pdf_subsets.get((path, face))
    if entry is None:
        ft = FT2Font(fontfile)
        cmap = ft.get_charmap()
        base = {cmap[ord(c)] for c in _PDF_BASE_CHARS if ord(c) in cmap}
        data, gmap = _subset_font(path, face, base)
        entry = _pdf_subsets[(path, face)] = (data, gmap, frozenset(gmap))
    data, gmap, covered = entry
    if not wanted <= covered:
        data, gmap = _subset_font(path, face, wanted)
    font = TTFont(io.BytesIO(data), recalcTimestamp=False)  # as fontTools.subset loads it: no new date
    return _backend_pdf_ps.SubsetResults(font, dict(gmap))._as_cm()


@contextlib.contextmanager
def _pdf_fonts_once() -> Iterator[None]:
    """Route matplotlib's PDF font subsetting through :func:`_cached_glyphs_subset` (when this matplotlib
    has the hook; otherwise matplotlib subsets each document itself, slower but the same kind of file)."""
    try:
        from matplotlib.backends import _backend_pdf_ps
    except ImportError:  # pragma: no cover - matplotlib layout changed
        yield
        return
    original = getattr(_backend_pdf_ps, "get_glyphs_subset", None)
    if original is None or not hasattr(_backend_pdf_ps, "SubsetResults"):  # pragma: no cover
        yield
        return
    _backend_pdf_ps.get_glyphs_subset = _cached_glyphs_subset
    try:
        yield
    finally:
        _backend_pdf_ps.get_glyphs_subset = original


def figure_bytes(fig: MplFigure) -> tuple[bytes, bytes, bytes]:
    """PNG (300 dpi), SVG and PDF bytes of ``fig`` with no dates or versions in the metadata."""
    out = []
    for fmt, meta in (
        ("png", {"Software": None}),
        ("svg", {"Date": None, "Creator": None}),
        ("pdf", {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}),
    ):
        buf = io.BytesIO()
        with _pdf_fonts_once():
            fig.savefig(buf, format=fmt, dpi=DPI, metadata=meta)
        out.append(buf.getvalue())
    return out[0], out[1], out[2]


def km_figure(fig_id: str, panels: Sequence[SurvivalData], protocol: Protocol, *, synthetic: bool = False,
              ci_bands: bool = False, results: dict[str, Any] | None = None, layout: Layout | None = None,
              values: dict[str, Any] | None = None) -> Figure:
    """Draw and render one figure of the report (caption from the analyses' titles, number from the
    layout)."""
    lay, v = resolve(protocol, None, layout, values)
    with matplotlib.rc_context(RC_PARAMS):
        fig, _ = draw_km_figure(fig_id, panels, protocol, synthetic=synthetic, ci_bands=ci_bands, results=results,
                                layout=lay, values=v)
        png, svg, pdf = figure_bytes(fig)
    if len(panels) == 1:
        body = panels[0].analysis.title
    else:
        body = "; ".join(f"({chr(ord('a') + i)}) {sd.analysis.title}" for i, sd in enumerate(panels))
    tests = [sd for sd in panels if sd.test is not None]
    extra = ""
    if tests:
        extra = " " + "; ".join(
            f"{sd.analysis.title}: log-rank {'two' if sd.test.alternative == 'two-sided' else 'one'}-sided "  # type: ignore[union-attr]
            f"p = {fmt_p(sd.test.pvalue)}" for sd in tests  # type: ignore[union-attr]
        ) + "."
    number = lay.figure_number(fig_id)
    caption = (f"Figure {number}. Kaplan\u2013Meier estimates: {body}.{extra} Censored patients are marked "
               f"{protocol.report.censor_marker}; "
               "numbers at risk beneath each panel.")
    if ci_bands:
        caption += " Shaded: pointwise 95% confidence bands."
    return Figure(id=fig_id, caption=caption, stem=f"figure_{number}", alt=f"Figure {number}: {body}",
                  png=png, svg=svg, pdf=pdf)
