"""Kaplan–Meier figures: numbers at risk under the ticks (read back from the rendering), determinism."""

from __future__ import annotations

import matplotlib
import pytest

from blincompass.report.figures import RC_PARAMS, draw_km_figure, figure_bytes, figure_groups, km_figure, x_ticks
from blincompass.report.sections import survival_results
from tests.report.conftest import PROTOCOL


@pytest.fixture(scope="module")
def survival(dataset, derived, adae):
    from blincompass.report.model import ReportContext

    ctx = ReportContext(dataset=dataset, derived=derived, protocol=PROTOCOL, adae=adae, synthetic=False)
    return survival_results(ctx)


def test_figure_ids_and_panels(survival):
    groups = dict(figure_groups(survival))
    assert list(groups) == ["1a", "1b", "1c", "2", "3a", "3b", "4"]
    assert [sd.analysis.id for sd in groups["1c"]] == ["os_by_stratum", "rfs_by_stratum"]


def test_x_ticks():
    assert x_ticks(24.016, 12) == [0, 12, 24, 36]
    assert x_ticks(24.0, 12) == [0, 12, 24]
    assert x_ticks(0.0, 12) == [0, 12]


@pytest.mark.parametrize("dpi", [100, 300])
def test_at_risk_numbers_sit_under_the_ticks(survival, dpi):
    """For every panel and tick: the centre of each at-risk number, in display pixels, equals the tick's x
    (and the centre of the tick label) within 1 px."""
    panels = dict(figure_groups(survival))
    checked = 0
    with matplotlib.rc_context(RC_PARAMS):
        for fid in ("1a", "1c", "4"):
            fig, artists = draw_km_figure(fid, panels[fid], PROTOCOL, synthetic=True)
            fig.set_dpi(dpi)
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            for pa in artists:
                labels = {round(t.get_position()[0], 9): t for t in pa.ax.get_xticklabels() if t.get_text()}
                for tick in pa.ticks:
                    tick_x = pa.ax.transData.transform((tick, 0.0))[0]
                    label = labels[round(tick, 9)]
                    lb = label.get_window_extent(renderer)
                    assert abs((lb.x0 + lb.x1) / 2 - tick_x) <= 1.0
                    at_tick = [t for t in pa.risk_texts if t.get_position()[0] == tick]
                    assert len(at_tick) == len(pa.risk_texts) // len(pa.ticks) >= 1
                    for text in at_tick:
                        bb = text.get_window_extent(renderer)
                        assert abs((bb.x0 + bb.x1) / 2 - tick_x) <= 1.0, (fid, tick, text.get_text())
                        checked += 1
    assert checked >= 20


def test_at_risk_values_drawn(survival):
    panels = dict(figure_groups(survival))
    with matplotlib.rc_context(RC_PARAMS):
        _, artists = draw_km_figure("1c", panels["1c"], PROTOCOL)
    os_panel = artists[0]
    # low: 3, 2, 2, 0 ; high: 2, 1, 1, 0 at 0, 12, 24, 36 months
    assert [t.get_text() for t in os_panel.risk_texts] == ["3", "2", "2", "0", "2", "1", "1", "0"]


def test_figure_files_are_deterministic(survival):
    panels = dict(figure_groups(survival))
    a = km_figure("1c", panels["1c"], PROTOCOL, synthetic=True, ci_bands=True)
    b = km_figure("1c", panels["1c"], PROTOCOL, synthetic=True, ci_bands=True)
    assert (a.png, a.svg, a.pdf) == (b.png, b.svg, b.pdf)
    assert a.png[:8] == b"\x89PNG\r\n\x1a\n"
    assert a.pdf.startswith(b"%PDF")
    assert b"<svg" in a.svg
    # no dates, no software version in the files
    assert b"CreationDate" not in a.pdf and b"<dc:date>" not in a.svg
    plain = km_figure("1c", panels["1c"], PROTOCOL, synthetic=False, ci_bands=True)
    assert plain.png != a.png  # the synthetic corner label is drawn
    # 300 dpi: two panels take a double journal column (174 mm)
    assert int.from_bytes(a.png[16:20], "big") == round(174 / 25.4 * 300)
    assert "(a) Overall survival by bone-marrow blasts" in a.caption and "one-sided p = " in a.caption


def test_figure_bytes_direct(survival):
    panels = dict(figure_groups(survival))
    with matplotlib.rc_context(RC_PARAMS):
        fig, _ = draw_km_figure("2", panels["2"], PROTOCOL)
        png, svg, pdf = figure_bytes(fig)
        fig2, _ = draw_km_figure("2", panels["2"], PROTOCOL)
        assert figure_bytes(fig2) == (png, svg, pdf)


def _embedded_fonts(pdf: bytes) -> list[bytes]:
    """The FontFile2 streams of a PDF written by matplotlib (Flate-compressed TrueType programs)."""
    import re
    import zlib

    out = []
    for m in re.finditer(rb"<< /Length1 (\d+) /Length (\d+) /Filter /FlateDecode >>\nstream\n", pdf):
        data = zlib.decompress(pdf[m.end():m.end() + int(m.group(2))])
        assert len(data) == int(m.group(1))
        out.append(data)
    return out


def test_pdf_fonts_subset_once_and_complete(survival):
    """Each font is subset once per process and that subset serves every figure: two different figures
    embed the same font programs, which hold outlines for the text drawn."""
    import io

    from fontTools.ttLib import TTFont

    from blincompass.report import figures

    panels = dict(figure_groups(survival))
    a = km_figure("1a", panels["1a"], PROTOCOL, synthetic=True).pdf
    b = km_figure("1c", panels["1c"], PROTOCOL, synthetic=True).pdf
    fonts_a, fonts_b = _embedded_fonts(a), _embedded_fonts(b)
    assert len(fonts_a) >= 2 and fonts_a == fonts_b
    assert len(figures._pdf_subsets) >= 2  # regular and bold, each subset once
    for data in fonts_a:
        font = TTFont(io.BytesIO(data))
        assert "fpgm" not in font and "GPOS" not in font  # no hinting programs or layout tables
        glyf = font["glyf"]
        drawn = [g for g in font.getGlyphOrder() if glyf[g].numberOfContours != 0]
        assert len(drawn) >= 90  # printable ASCII and the report's signs


def test_png_holds_the_drawn_pixels(survival):
    """The PNG is the Agg canvas drawn once: decoded, it gives the canvas's pixels exactly. A figure on an
    opaque background is written as RGB (smaller and faster than RGBA); the file carries 300 dpi and no
    text chunks (no software name or date)."""
    import io

    import numpy as np
    from PIL import Image

    panels = dict(figure_groups(survival))
    with matplotlib.rc_context(RC_PARAMS):
        fig, _ = draw_km_figure("2", panels["2"], PROTOCOL)
        png, _, _ = figure_bytes(fig)
        drawn = np.asarray(fig.canvas.buffer_rgba()).copy()
    img = Image.open(io.BytesIO(png))
    assert img.mode == "RGB" and img.size == (drawn.shape[1], drawn.shape[0])
    assert round(img.info["dpi"][0]) == 300 and round(img.info["dpi"][1]) == 300
    assert (np.asarray(img) == drawn[:, :, :3]).all() and (drawn[:, :, 3] == 255).all()
    assert b"tEXt" not in png and b"iTXt" not in png and b"zTXt" not in png


def test_png_keeps_transparency_when_there_is_some():
    import io

    import numpy as np
    from PIL import Image

    from blincompass.report.plotting import png_bytes

    rgba = np.zeros((3, 4, 4), dtype=np.uint8)
    rgba[..., 0] = np.arange(4, dtype=np.uint8) * 60
    rgba[..., 3] = 255
    rgba[1, 2, 3] = 128  # one half-transparent pixel
    img = Image.open(io.BytesIO(png_bytes(rgba)))
    assert img.mode == "RGBA" and (np.asarray(img) == rgba).all()
    rgba[1, 2, 3] = 255
    opaque = Image.open(io.BytesIO(png_bytes(rgba)))
    assert opaque.mode == "RGB" and (np.asarray(opaque) == rgba[:, :, :3]).all()
    with pytest.raises(ValueError, match="expected"):
        png_bytes(rgba[:, :, :3])
