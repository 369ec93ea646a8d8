"""Figures: legends and notes hide no curve or mark (positions read back from the rendering), no titles in
the images, colour-blind-safe palette with line styles, journal widths, fonts of at least 7 pt, and the
Simon–Makuch curves from t = 0."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib.lines import Line2D
from matplotlib.path import Path as MplPath

from blincompass.derive import derive_all
from blincompass.protocol import load_protocol
from blincompass.protocol.layout import load_layout, parse_layout
from blincompass.report.figures import draw_km_figure, draw_panels, figure_groups, simon_makuch_panel
from blincompass.report.model import ReportContext
from blincompass.report.plotting import COLOURS, LINESTYLES, RC_PARAMS
from blincompass.report.sections import survival_results
from blincompass.stats import simon_makuch
from blincompass.validate import load_dataset
from tests.report.conftest import PROTOCOL

twin = pytest.importorskip("blincompass.synth.twin", reason="synthetic twin module not present")


@pytest.fixture(scope="module")
def twin_derived(tmp_path_factory):
    folder = tmp_path_factory.mktemp("twin-figures")
    twin.write_twin(folder, seed=0)
    validation = load_dataset(folder)
    assert validation.ok
    return validation.dataset, derive_all(validation.dataset, load_protocol())


def _survival(dataset, derived, protocol):
    ctx = ReportContext(dataset=dataset, derived=derived, protocol=protocol, adae=None, synthetic=True)
    return survival_results(ctx)


def _drawn_segments(ax) -> tuple[list[np.ndarray], list[tuple[np.ndarray, float]]]:
    """The curves and marks of ``ax`` as drawn, in display pixels: polylines (step functions expanded as
    drawn) and marker centres with their radius."""
    lines, marks = [], []
    for line in ax.lines:
        assert isinstance(line, Line2D)
        xy = np.asarray(line.get_xydata(), float)
        if line.get_linestyle() not in ("None", "none", "", " "):
            if line.get_drawstyle() == "steps-post":
                x = np.repeat(xy[:, 0], 2)[1:]
                y = np.repeat(xy[:, 1], 2)[:-1]
                xy_line = np.column_stack([x, y])
            else:
                xy_line = xy
            lines.append(ax.transData.transform(xy_line))
        if line.get_marker() not in (None, "None", "none", ""):
            radius = line.get_markersize() / 2 * ax.figure.dpi / 72
            marks.append((ax.transData.transform(xy), radius))
    return lines, marks


def _hidden_by(box, lines, marks) -> str | None:
    for px in lines:
        if MplPath(px).intersects_bbox(box, filled=False):
            return "a curve"
    for px, r in marks:
        if ((px[:, 0] >= box.x0 - r) & (px[:, 0] <= box.x1 + r)
             & (px[:, 1] >= box.y0 - r) & (px[:, 1] <= box.y1 + r)).any():
            return "a mark"
    return None


def _check_figure(fig, artists, label: str) -> int:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    checked = 0
    risk_boxes = [t.get_window_extent(renderer) for pa in artists for t in pa.risk_texts]
    for pa in artists:
        lines, marks = _drawn_segments(pa.ax)
        assert lines, label
        boxes = ([("legend", pa.legend.get_window_extent(renderer))] if pa.legend is not None else [])
        boxes += [(f"note {t.get_text()!r}", t.get_window_extent(renderer)) for t in pa.notes]
        assert boxes, label
        for what, box in boxes:
            hit = _hidden_by(box, lines, marks)
            assert hit is None, f"{label}: the {what} hides {hit}"
            assert not any(box.overlaps(r) for r in risk_boxes), f"{label}: the {what} hides a number at risk"
            checked += 1
        if pa.legend is not None:
            for t in pa.notes:  # legend and note do not cover each other
                assert not pa.legend.get_window_extent(renderer).overlaps(t.get_window_extent(renderer)), label
        assert pa.ax.get_title() == "" and pa.ax.get_title(loc="left") == ""  # no title in the image
    assert fig._suptitle is None
    # nothing is cut at the edges of the image
    w, h = fig.bbox.width, fig.bbox.height
    for t in fig.findobj(matplotlib.text.Text):
        if t.get_text().strip() and t.get_visible():
            b = t.get_window_extent(renderer)
            assert b.x0 >= -0.5 and b.x1 <= w + 0.5 and b.y0 >= -0.5 and b.y1 <= h + 0.5, (label, t.get_text())
    return checked


@pytest.mark.parametrize("cohort", ["twin", "test"])
def test_legends_and_notes_hide_no_data(cohort, twin_derived, dataset, derived):
    if cohort == "twin":
        ds, dv = twin_derived
        proto = load_protocol()
    else:
        ds, dv, proto = dataset, derived, PROTOCOL
    checked = 0
    with matplotlib.rc_context(RC_PARAMS):
        for fid, panels in figure_groups(_survival(ds, dv, proto)):
            fig, artists = draw_km_figure(fid, panels, proto, synthetic=True)
            checked += _check_figure(fig, artists, f"{cohort} figure {fid}")
    assert checked >= 10


def test_known_collisions_are_gone(twin_derived):
    """Figure 2's p-value note met the No-CR curve; Figure 3a's legend hid the No-HSCT curve from ~44 to
    67 months. Both are drawn where nothing is."""
    ds, dv = twin_derived
    proto = load_protocol()
    groups = dict(figure_groups(_survival(ds, dv, proto)))
    with matplotlib.rc_context(RC_PARAMS):
        for fid in ("2", "3a"):
            fig, artists = draw_km_figure(fid, groups[fid], proto, synthetic=True)
            _check_figure(fig, artists, fid)
            assert artists[0].notes[0].get_text().startswith("Log-rank test, one-sided: p ")


def test_simon_makuch_from_time_zero(twin_derived):
    """The "after" curve starts where the first patient enters the state (nobody is at risk in it before),
    moves are drawn as moves (not censorings), and the drawn steps are the estimator's."""
    ds, dv = twin_derived
    proto = load_protocol()
    adsl = dv.adsl.set_index("patient_id")
    tte = dv.adtte[dv.adtte["PARAMCD"] == "OS"].set_index("USUBJID").join(adsl)
    time = tte["AVAL"].to_numpy(float)
    event = (tte["CNSR"] == 0).to_numpy()
    w = ((tte["hsct_date"] - tte["first_dose_date"]).dt.days / proto.time.days_per_month).to_numpy(float)
    w = np.where(np.isfinite(w) & (w >= time), np.nan, w)
    sm = simon_makuch(time, event, w)
    spec = simon_makuch_panel(sm, ("After", "Before"), "t", "Overall survival", proto, load_layout(),
                              {"index_event": "the first dose"})
    after, before = spec.curves
    first_entry = float(np.nanmin(w[np.isfinite(w) & (w > 0)]))
    assert after.t[0] == pytest.approx(first_entry) and after.t[0] > 0 and after.y[0] == 1.0
    assert after.at_risk(0.0) == 0 and before.at_risk(0.0) == len(time)
    # drawn steps are the estimator's
    np.testing.assert_allclose(after.y[1:], sm.exposed.table["surv"].to_numpy(float), atol=1e-12)
    np.testing.assert_allclose(before.y[1:], sm.unexposed.table["surv"].to_numpy(float), atol=1e-12)
    # every move is a move mark on the "before" curve, not a censoring mark
    moved = np.isfinite(w) & (w > 0)
    np.testing.assert_allclose(before.move_t, np.unique(w[moved]))
    stayed_censored = ~moved & ~event
    np.testing.assert_allclose(before.censor_t, np.unique(time[stayed_censored]))
    assert len(after.move_t) == 0
    with matplotlib.rc_context(RC_PARAMS):
        fig, artists = draw_panels("S1", [spec], layout=load_layout(), synthetic=True)
        _check_figure(fig, artists, "Simon–Makuch")
        line = artists[0].ax.lines[0]
        assert line.get_xdata()[0] == pytest.approx(first_entry)


def test_palette_line_styles_and_print_sizes(dataset, derived):
    groups = dict(figure_groups(_survival(dataset, derived, PROTOCOL)))
    assert COLOURS[:3] == ("#0072B2", "#D55E00", "#009E73")  # Okabe–Ito
    with matplotlib.rc_context(RC_PARAMS):
        fig, artists = draw_km_figure("1c", groups["1c"], PROTOCOL)
        assert fig.get_size_inches()[0] == pytest.approx(174 / 25.4)  # double column
        steps = [ln for ln in artists[0].ax.lines if ln.get_drawstyle() == "steps-post"]
        assert [matplotlib.colors.to_hex(ln.get_color()).upper() for ln in steps] == ["#0072B2", "#D55E00"]
        assert len({str(ln.get_linestyle()) for ln in steps}) == 2  # apart in greyscale too
        fig1, _ = draw_km_figure("1a", groups["1a"], PROTOCOL)
        assert fig1.get_size_inches()[0] == pytest.approx(85 / 25.4)  # single column
        fig1.canvas.draw()
        sizes = [t.get_fontsize() for t in fig1.findobj(matplotlib.text.Text) if t.get_text().strip()]
        assert sizes and min(sizes) >= 7.0
    assert LINESTYLES[0] == "-" and LINESTYLES[1] == "--"


def test_layout_width_and_titles(dataset, derived):
    groups = dict(figure_groups(_survival(dataset, derived, PROTOCOL)))
    lay = parse_layout('[figures]\ntitles = true\nsingle_column_mm = 90\nwidths = { "1c" = "single" }\n',
                       "layout.toml")
    with matplotlib.rc_context(RC_PARAMS):
        fig, artists = draw_km_figure("1c", groups["1c"], PROTOCOL, layout=lay)
    assert fig.get_size_inches()[0] == pytest.approx(90 / 25.4)
    assert artists[0].ax.get_title(loc="left").replace("\n", " ").startswith("(a) Overall survival by")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title_box = artists[0].ax.title.get_window_extent(renderer) if artists[0].ax.title.get_text() else None
    left_box = artists[0].ax._left_title.get_window_extent(renderer)
    assert title_box is None and left_box.y1 <= fig.bbox.height  # the wrapped title fits in the image
    assert fig._suptitle.get_text() == "Figure 1c"


def test_median_note_words(dataset, derived):
    groups = dict(figure_groups(_survival(dataset, derived, PROTOCOL)))
    with matplotlib.rc_context(RC_PARAMS):
        _, artists = draw_km_figure("1a", groups["1a"], PROTOCOL)
    note = artists[0].notes[0].get_text()
    assert "months;" not in note and "not reached months" not in note
    assert note.startswith("n = ") and ("median not reached" in note or note.endswith(" months"))


def test_example_package_figures_hide_nothing():
    """The CAR-T example (three groups, long group names, competing risks): survival and cumulative-incidence
    figures place legends and notes where they hide nothing, and shorten no legend entry."""
    from pathlib import Path

    from blincompass.report.figure_cif import cif_panel
    from blincompass.study import load_study
    from blincompass.validate import load_dataset as load

    root = Path(__file__).resolve().parents[2] / "examples" / "car-t"
    st = load_study(root)
    v = load(root / "data", st.dictionary, data_cutoff=st.protocol.study.data_cutoff)
    dv = derive_all(v.dataset, st.protocol, st.dictionary)
    from blincompass.report.wording import layout_values

    ctx = ReportContext(dataset=v.dataset, derived=dv, protocol=st.protocol, adae=None, synthetic=False,
                        layout=st.layout, values=layout_values(st.protocol, dv.adsl, st.layout))
    with matplotlib.rc_context(RC_PARAMS):
        for fid, panels in figure_groups(survival_results(ctx)):
            fig, artists = draw_km_figure(fid, panels, st.protocol, layout=st.layout, values=ctx.values)
            _check_figure(fig, artists, f"car-t figure {fid}")
        for c in st.protocol.analyses.competing:
            spec = cif_panel(ctx, c)
            fig, artists = draw_panels(f"cif_{c.id}", [spec], layout=st.layout)
            _check_figure(fig, artists, f"car-t cif {c.id}")
            texts = [t.get_text().replace("\n", " ") for t in artists[0].legend.get_texts()]
            assert texts == [cv.label for cv in spec.curves]
    # the CONSORT flow splits by the layout's column, named and ordered as the protocol's analyses do
    from blincompass.report.figure_consort import consort_boxes

    groups = consort_boxes(ctx)["groups"]
    assert [g.split("\n")[0] for g in groups] == ["Primary refractory", "First relapse (chemorefractory or after "
                                                   "HSCT)", "Second or later relapse"]
    assert sum(int(g.split("(n = ")[1].rstrip(")")) for g in groups) == dv.screening.n_eligible


def test_titles_wrap_without_an_orphan():
    from blincompass.report.plotting import wrap_to

    text = "Relapse-free survival by HSCT, patients in CR after course 1"
    for width in (2.0, 2.5, 2.9, 3.3):
        lines = wrap_to(text, width, 8.0, bold=True).split("\n")
        assert " ".join(lines) == text
        assert len(lines) == 1 or " " in lines[-1], (width, lines)
