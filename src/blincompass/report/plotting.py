"""What every figure of the report shares: style (colour-blind-safe palette with line styles, print sizes),
placement of legends and notes where they hide no data, and rendering to PNG, SVG and PDF.

Placement works in display coordinates on the figure as it will be drawn: the figure's axes are placed
at fixed positions in inches (no automatic layout), so the drawn data (curve segments and markers) can
be transformed to pixels without drawing, and the legend's and notes' boxes measured with the Agg
renderer. Each candidate position is tried in order and the first whose box meets no drawn data (nor a
box already placed) is kept.

Rendering draws each figure once per output format: the Agg canvas is drawn once at 300 dpi and its
pixel buffer written as the PNG (``savefig`` would draw again); SVG and PDF are written by their own
backends, the PDF with one font subset per font and process (see :func:`pdf_fonts_once`).
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure as MplFigure  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

__all__ = [
    "COLOURS",
    "DPI",
    "FONT_PT",
    "LINESTYLES",
    "RC_PARAMS",
    "SMALL_PT",
    "Obstacles",
    "figure_bytes",
    "log_tick_label",
    "new_figure",
    "pdf_fonts_once",
    "place_legend",
    "place_note",
    "png_bytes",
    "render_figure",
    "style_of",
    "text_width_in",
    "wrap_to",
]

#: Font sizes at print size (points); journals ask for at least 7 pt.
FONT_PT = 8.0
SMALL_PT = 7.0
#: Matplotlib settings for reproducible files (fixed SVG ids, embedded fonts, no dates) at print size.
RC_PARAMS: dict[str, Any] = {
    "svg.hashsalt": "blincompass",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "font.family": "DejaVu Sans",
    "font.size": FONT_PT,
    "axes.labelsize": FONT_PT,
    "xtick.labelsize": SMALL_PT,
    "ytick.labelsize": SMALL_PT,
    "legend.fontsize": SMALL_PT,
    "axes.linewidth": 0.6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.unicode_minus": True,
}
#: Colour-blind-safe colours (Okabe & Ito 2008, "Color Universal Design"): blue, vermillion, bluish green,
#: reddish purple, orange, sky blue, black. Groups take them in protocol order.
COLOURS: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: Line styles paired with the colours, so that groups stay apart in greyscale.
LINESTYLES: tuple[Any, ...] = ("-", "--", "-.", ":", (0, (5, 1.5, 1, 1.5, 1, 1.5)), (0, (8, 2)), (0, (1, 3)))
DPI = 300


def style_of(i: int) -> dict[str, Any]:
    """Colour and line style of the ``i``-th group (cycling; the pairs repeat only after 7 groups)."""
    return {"color": COLOURS[i % len(COLOURS)], "linestyle": LINESTYLES[i % len(LINESTYLES)]}


@functools.lru_cache(maxsize=4096)
def text_width_in(text: str, size_pt: float, bold: bool = False) -> float:
    """Width of ``text`` set in the report's font at ``size_pt``, in inches (FreeType advance widths, as
    the Agg renderer lays the text out)."""
    if not text:
        return 0.0
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(family=RC_PARAMS["font.family"], weight="bold" if bold else "normal", size=size_pt)
    width, _, _ = text_to_path.get_text_width_height_descent(text, prop, ismath=False)
    return float(width) / 72.0


def wrap_to(text: str, width_in: float, size_pt: float, bold: bool = False) -> str:
    """``text`` broken at spaces (not at no-break spaces) into lines no wider than ``width_in`` (a single
    word longer than that stays on its own line)."""
    lines: list[str] = []
    for word in (w for w in text.split(" ") if w):  # a no-break space keeps "n = 2" together
        if lines and text_width_in(f"{lines[-1]} {word}", size_pt, bold) <= width_in:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    # no orphan: a last line of one short word takes the word before it along
    if len(lines) > 1 and " " not in lines[-1] and len(lines[-1]) <= 3 and " " in lines[-2]:
        head, moved = lines[-2].rsplit(" ", 1)
        lines[-2:] = [head, f"{moved} {lines[-1]}"]
    return "\n".join(lines)


def new_figure(width_in: float, height_in: float) -> MplFigure:
    """A figure of the given print size at :data:`DPI` with an Agg canvas (no pyplot state)."""
    fig = MplFigure(figsize=(width_in, height_in), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


@dataclass
class Obstacles:
    """What is drawn in one axes and must stay visible: polylines (curve segments) and markers, in data
    coordinates of ``ax``; and boxes already placed (display coordinates)."""

    ax: Axes
    lines: list[np.ndarray] = field(default_factory=list)
    points: list[tuple[np.ndarray, float]] = field(default_factory=list)  # (xy, marker size in points)
    boxes: list[Bbox] = field(default_factory=list)

    def add_line(self, x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> None:
        xy = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
        xy = xy[np.isfinite(xy).all(axis=1)]
        if len(xy):
            self.lines.append(xy)

    def add_step(self, t: np.ndarray, s: np.ndarray) -> None:
        """A right-continuous step function drawn with ``where="post"``."""
        t = np.asarray(t, float)
        s = np.asarray(s, float)
        if not len(t):
            return
        x = np.repeat(t, 2)[1:]
        y = np.repeat(s, 2)[:-1]
        self.add_line(x, y)

    def add_points(self, x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, size_pt: float) -> None:
        xy = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
        xy = xy[np.isfinite(xy).all(axis=1)]
        if len(xy):
            self.points.append((xy, size_pt))

    def hits(self, box: Bbox, pad_px: float = 0.0) -> bool:
        """Whether ``box`` (display coordinates) meets a drawn segment, marker or placed box."""
        box = box.padded(pad_px)
        to_px = self.ax.transData.transform
        for xy in self.lines:
            if MplPath(to_px(xy)).intersects_bbox(box, filled=False):
                return True
        dpi = self.ax.figure.dpi
        for xy, size in self.points:
            r = size / 2.0 * dpi / 72.0
            px = to_px(xy)
            inside = ((px[:, 0] >= box.x0 - r) & (px[:, 0] <= box.x1 + r)
                      & (px[:, 1] >= box.y0 - r) & (px[:, 1] <= box.y1 + r))
            if inside.any():
                return True
        return any(box.overlaps(b) for b in self.boxes)


#: Legend positions tried inside the axes, in order.
LEGEND_LOCS: tuple[str, ...] = ("upper right", "lower left", "lower right", "center right", "upper center",
                                "lower center", "center left", "center", "upper left")
#: Note anchors tried inside the axes (x, y in axes coordinates, ha, va), in order.
NOTE_SPOTS: tuple[tuple[float, float, str, str], ...] = (
    (0.02, 0.03, "left", "bottom"), (0.98, 0.03, "right", "bottom"), (0.98, 0.97, "right", "top"),
    (0.50, 0.03, "center", "bottom"), (0.02, 0.97, "left", "top"), (0.98, 0.50, "right", "center"),
    (0.02, 0.50, "left", "center"), (0.50, 0.97, "center", "top"), (0.50, 0.50, "center", "center"),
)


def _renderer(fig: MplFigure) -> Any:
    return fig.canvas.get_renderer()  # type: ignore[attr-defined]


def place_legend(obstacles: Obstacles, legend: Legend, pad_pt: float = 2.0) -> bool:
    """Move ``legend`` to the first of :data:`LEGEND_LOCS` where it meets no obstacle; ``False`` (legend
    left at the last position tried) when every position meets one. A placed legend becomes an obstacle."""
    renderer = _renderer(obstacles.ax.figure)
    pad = pad_pt * obstacles.ax.figure.dpi / 72.0
    for loc in LEGEND_LOCS:
        legend.set_loc(loc)
        box = legend.get_window_extent(renderer)
        if not obstacles.hits(box, pad):
            obstacles.boxes.append(box)
            return True
    return False


def place_note(obstacles: Obstacles, text: Text, pad_pt: float = 2.0) -> bool:
    """Move the note ``text`` (drawn in axes coordinates) to the first of :data:`NOTE_SPOTS` where it
    meets no obstacle; ``False`` when none is free. A placed note becomes an obstacle."""
    renderer = _renderer(obstacles.ax.figure)
    pad = pad_pt * obstacles.ax.figure.dpi / 72.0
    for x, y, ha, va in NOTE_SPOTS:
        text.set_position((x, y))
        text.set_ha(ha)
        text.set_va(va)
        box = text.get_window_extent(renderer)
        if not obstacles.hits(box, pad):
            obstacles.boxes.append(box)
            return True
    return False


# ------------------------------------------------------------------------------------------------ PDF fonts

#: Characters whose glyphs every embedded PDF font carries (printable ASCII and the punctuation and signs the
#: report writes, and the Latin ligatures text shaping substitutes), so that one subset of each font serves
#: every figure; other text gets its own subset.
_PDF_BASE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F)) + (
    "\u00b0\u00b1\u00b5\u00b7\u00d7\u2013\u2014\u2018\u2019\u201c\u201d\u2022\u2026\u2192\u2212\u2264\u2265"
    "\u25cb\u25cf\ufb00\ufb01\ufb02\ufb03\ufb04")
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
def pdf_fonts_once() -> Iterator[None]:
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
    """PNG (300 dpi), SVG and PDF bytes of ``fig`` with no dates or versions in the metadata.

    The Agg canvas is drawn once at 300 dpi and its buffer written as the PNG (:func:`png_bytes`, without
    drawing again); SVG and PDF are drawn by their backends."""
    fig.set_dpi(DPI)
    canvas = fig.canvas
    canvas.draw()  # type: ignore[attr-defined]
    out = [png_bytes(np.asarray(canvas.buffer_rgba()))]  # type: ignore[attr-defined]
    for fmt, meta in (
        ("svg", {"Date": None, "Creator": None}),
        ("pdf", {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}),
    ):
        buf = io.BytesIO()
        with pdf_fonts_once():
            fig.savefig(buf, format=fmt, dpi=DPI, metadata=meta)
        out.append(buf.getvalue())
    return out[0], out[1], out[2]


#: zlib level of the figures' PNG files. With the alpha channel dropped (see :func:`png_bytes`), level 3
#: gives files about as small as level 6 with all four channels, in half the time (the twin's 12 figures:
#: 1.17 MB against 1.18 MB, 0.27 s against 0.54 s).
PNG_COMPRESS_LEVEL = 3


def png_bytes(rgba: NDArray[np.uint8], dpi: int = DPI) -> bytes:
    """The PNG file of the ``(height, width, 4)`` RGBA pixels ``rgba``, marked as ``dpi`` dots per inch and
    with no text chunks (no software name or date).

    An image that is fully opaque (every figure of the report: white background) is written as RGB: the
    same pixels, a quarter less to compress. Matplotlib's ``imsave`` always writes RGBA, so Pillow (which
    matplotlib itself uses for PNG) is called directly."""
    from PIL import Image

    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"expected (height, width, 4) uint8 pixels, not {rgba.shape} {rgba.dtype}")
    img = Image.fromarray(np.ascontiguousarray(rgba))  # (h, w, 4) uint8: RGBA
    if bool((rgba[:, :, 3] == 255).all()):
        img = img.convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="png", dpi=(dpi, dpi), compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def render_figure(fig: MplFigure) -> tuple[bytes, bytes, bytes]:
    """:func:`figure_bytes` under the report's :data:`RC_PARAMS` (what every figure of the report is written
    with, in whichever process draws it)."""
    with matplotlib.rc_context(RC_PARAMS):
        return figure_bytes(fig)


def log_tick_label(v: float, _: Any = None) -> str:
    """Tick label on a log axis in its shortest form (``0.5``, ``1``, ``10``); a top-level function, so that
    a figure using it as its formatter pickles."""
    return f"{v:g}"
