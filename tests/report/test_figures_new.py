"""The figures besides the survival curves: cumulative incidence (values equal the competing-risks table's),
CONSORT flow, swimmer plot and forest plot (values equal cox_ph fits; events per variable stated)."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from blincompass.derive import build_adae, derive_all
from blincompass.protocol import load_protocol
from blincompass.protocol.layout import load_layout, parse_layout
from blincompass.report.figure_cif import cif_figures, cif_panel
from blincompass.report.figure_consort import consort_boxes, consort_figures
from blincompass.report.figure_forest import draw_forest, forest_figures, forest_rows
from blincompass.report.figure_swimmer import swimmer_figures, swimmer_lanes
from blincompass.report.figures import _step_value, draw_panels
from blincompass.report.methods import methods_section
from blincompass.report.model import ReportContext
from blincompass.report.plotting import RC_PARAMS
from blincompass.report.wording import layout_values
from blincompass.stats import cox_ph
from blincompass.synth import write_twin
from blincompass.validate import load_dataset
from tests.report.test_figures_placement import _check_figure

PROTOCOL = load_protocol()


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    d = tmp_path_factory.mktemp("twin-new-figures")
    write_twin(d, 0)
    ds = load_dataset(d).dataset
    derived = derive_all(ds, PROTOCOL)
    layout = load_layout()
    c = ReportContext(ds, derived, PROTOCOL, build_adae(ds, derived.adsl, PROTOCOL), synthetic=True,
                      layout=layout, values=layout_values(PROTOCOL, derived.adsl, layout))
    methods_section(c)  # fills the competing-risks results the figure is checked against
    return c


def test_cif_curve_values_equal_the_table(ctx):
    (c,) = PROTOCOL.analyses.competing
    spec = cif_panel(ctx, c)
    res = ctx.results["methods"]["competing"][c.id]
    assert [cv.name for cv in spec.curves] == [c.group_label(g) for g in c.order]
    for gid, cv in zip(c.order, spec.curves, strict=True):
        assert cv.t[0] == 0.0 and cv.y[0] == 0.0  # from t = 0 with no event yet
        assert np.all(np.diff(cv.y) >= 0)
        for m in c.times_months:
            want = res[gid][f"at_{m:g}m"]["estimate"]
            got = float(_step_value(cv.t, cv.y, np.array([m]))[0])
            if want is None:  # beyond the group's follow-up
                assert m > cv.t[-1]
            else:
                assert got == pytest.approx(want, abs=1e-12)
        assert f"events = {res[gid]['events']}" in cv.label and f"n = {res[gid]['n']}" in cv.label
    assert spec.note == f"Gray's test, two-sided: p = {res['gray']['p']:.3f}"
    with matplotlib.rc_context(RC_PARAMS):
        fig, artists = draw_panels("cif_x", [spec], layout=ctx.layout, synthetic=True)
        _check_figure(fig, artists, "cumulative incidence")
    (f,) = cif_figures(ctx)
    assert f.id == "cif_cir_by_stratum" and f.stem == "figure_S3" and "Aalen\u2013Johansen" in f.caption


def test_consort_boxes_and_figure(ctx, dataset, derived):
    b = consort_boxes(ctx)
    sc = ctx.derived.screening
    assert b["screened"] == f"Patients screened\n(n = {sc.n_screened})"
    assert b["analysed"] == f"Eligible and analysed\n(n = {sc.n_eligible})"
    assert b["excluded"] == ["Excluded (n = 0)"]
    # by the layout's grouping column, in the protocol's order of its values
    assert [g.split("\n")[1] for g in b["groups"]] == ["(n = 26)", "(n = 13)"]
    # a cohort with exclusions lists each criterion that excluded somebody, with the number
    c2 = ReportContext(dataset, derived, PROTOCOL, None, synthetic=False, layout=ctx.layout, values=ctx.values)
    b2 = consort_boxes(c2)
    n_ex = derived.screening.n_screened - derived.screening.n_eligible
    assert n_ex > 0 and b2["excluded"][0] == f"Excluded (n = {n_ex})"
    assert sum(int(x.rsplit("n\u00a0=\u00a0", 1)[1]) for x in b2["excluded"][1:]) == n_ex
    (f,) = consort_figures(ctx)
    assert f.stem == "figure_S2" and f.caption.startswith("Figure S2. Flow of patients")


def test_swimmer_lanes_deterministic_and_events_counted(ctx):
    lanes = swimmer_lanes(ctx)
    adsl = ctx.derived.adsl.set_index("patient_id")
    assert len(lanes) == 39
    # by group in the protocol's order (low, high), then longest follow-up first, then id
    ranks = lanes["group"].map({"low": 0, "high": 1}).to_numpy()
    assert np.all(np.diff(ranks) >= 0)
    for _, part in lanes.groupby("rank"):
        assert np.all(np.diff(part["end"].to_numpy()) <= 0)
    (f,) = swimmer_figures(ctx)
    counts = ctx.results["figures"]["swimmer"]["counts"]
    assert counts["hsct"] == int(adsl["hsct_date"].notna().sum())
    assert counts["death"] == int(adsl["death_date"].notna().sum())
    assert counts["alive_at_last_follow_up"] == 39 - counts["death"]
    assert counts["cr_after_course_1"] == int((adsl["cr_c1"].fillna(False).astype(bool)
                                               & adsl["assessment_c1_date"].notna()).sum())
    assert counts["blinatumomab_course"] == len(ctx.dataset.forms["courses"])
    assert ctx.results["figures"]["swimmer"]["order"] == lanes["patient_id"].tolist()
    again = swimmer_figures(ctx)[0]
    assert (again.png, again.svg, again.pdf) == (f.png, f.svg, f.pdf)


def test_forest_values_equal_cox_fits_and_epv_is_stated(ctx):
    rows, events, params = forest_rows(ctx)
    assert [r["key"] for r in rows] == ["stratum.high", "age_first_dose", "sex.F", "disease_status.persistent",
                                        "disease_status.second_relapse", "prior_hsct"]
    assert rows[0]["label"] == "Bone-marrow blasts: \u22655 % vs <5 %"
    adsl = ctx.derived.adsl.set_index("patient_id")
    os_ = ctx.derived.adtte[ctx.derived.adtte["PARAMCD"] == "OS"].set_index("USUBJID").join(adsl)
    d = pd.DataFrame({"t": os_["AVAL"].astype(float), "e": (os_["CNSR"] == 0).astype(int),
                      "x": (os_["stratum"] == "high").astype(float)})
    fit = cox_ph(d, "t", "e", ["x"])
    assert rows[0]["hr"] == pytest.approx(float(fit.coef["exp_coef"].iloc[0]), rel=1e-12)
    assert rows[0]["lower"] == pytest.approx(float(fit.coef["lower"].iloc[0]), rel=1e-12)
    assert rows[0]["p"] == pytest.approx(float(fit.coef["p"].iloc[0]), rel=1e-12)
    assert events == 14 and params == 6
    (f,) = forest_figures(ctx)
    r = ctx.results["forest"]
    assert r["events_per_variable"] == pytest.approx(14 / 6)
    assert r["stratum"]["high"]["hr"] == rows[0]["hr"]
    assert "14/6 = 2.3 (below 10" in f.caption and f.stem == "figure_S5"


def test_forest_columns_and_banner_do_not_overlap_and_p_states_its_sidedness(ctx):
    """Rendered positions read back: column headers, values and the synthetic banner are apart."""
    import matplotlib.pyplot as plt

    rows, _, _ = forest_rows(ctx)
    with matplotlib.rc_context(RC_PARAMS):
        fig, texts = draw_forest(ctx, rows, "Overall survival", "Events per variable: 14/6 = 2.3.")
        renderer = fig.canvas.get_renderer()
        boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts if t.get_text()]
        xlabel = fig.axes[0].get_xlabel()
        plt.close(fig)
    assert [b[0] for b in boxes[:2]] == ["HR (95 % CI)", "p (two-sided)"]
    assert boxes[-1][0].startswith("SYNTHETIC DATA")
    assert len(boxes) == 2 + 2 * len(rows) + 1
    for i, (ta, a) in enumerate(boxes):
        for tb, b in boxes[i + 1:]:
            assert not a.overlaps(b), f"{ta!r} overlaps {tb!r}"
    assert xlabel == "Hazard ratio, overall survival (log scale)"


def test_layout_checks_new_figure_keys(tmp_path):
    from blincompass.study import StudyError, load_study
    from tests.report.test_layout import _package

    root = _package(tmp_path / "pkg", "[figures]\nwidths = { nine = 'double' }\n")
    with pytest.raises(StudyError, match=r"figures\.widths: unknown figure 'nine'"):
        load_study(root)
    with pytest.raises(Exception, match="single_column_mm"):
        parse_layout("[figures]\nsingle_column_mm = 10\n", "layout.toml")


def test_simon_makuch_values_in_results(ctx):
    """The Simon–Makuch curves the figure draws, at the protocol's time points, are in results.json and
    equal the estimator's (stats.simon_makuch) step values; the "after" curve starts at the first move."""
    from blincompass.stats import simon_makuch

    td = next(t for t in PROTOCOL.analyses.timedep if t.figure)
    adsl = ctx.derived.adsl.set_index("patient_id")
    tte = ctx.derived.adtte[ctx.derived.adtte["PARAMCD"] == td.endpoint].set_index("USUBJID").join(adsl)
    if td.population:
        tte = tte[tte[td.population].fillna(False).astype(bool)]
    time = tte["AVAL"].to_numpy(float)
    event = (tte["CNSR"] == 0).to_numpy()
    w = ((tte[td.exposure_date] - tte["first_dose_date"]).dt.days / PROTOCOL.time.days_per_month).to_numpy(float)
    w = np.where(tte[td.exposure].fillna(False).astype(bool).to_numpy() & np.isfinite(w) & (w < time), w, np.nan)
    sm = simon_makuch(time, event, w)
    got = ctx.results["methods"]["timedep"][td.id]["simon_makuch"]
    assert got["exposed"]["start"] == pytest.approx(float(np.nanmin(w)))
    assert got["unexposed"]["start"] == 0.0
    for state, km in (("exposed", sm.exposed), ("unexposed", sm.unexposed)):
        tab = km.table
        for m in PROTOCOL.analyses.settings.survival_at_months:
            before = tab[tab["time"] <= m]
            want = float(before["surv"].iloc[-1]) if len(before) else 1.0
            value = got[state][f"at_{m:g}m"]
            if value is not None:
                assert value == pytest.approx(want, abs=1e-12), (state, m)
            else:
                assert m > float(tab["time"].max())


def test_word_and_html_embed_figures_at_print_size(report):
    """Word places each figure at its print width (a journal column, at most the text width); the HTML
    embeds every figure as SVG."""
    import io

    from docx import Document

    from blincompass.report.render_docx import USABLE, render_docx
    from blincompass.report.render_html import render_html

    doc = Document(io.BytesIO(render_docx(report)))
    widths_cm = [s.width / 360000 for s in doc.inline_shapes]
    want = [min(USABLE["portrait"], int.from_bytes(f.png[16:20], "big") / 300 * 2.54) for f in report.figures]
    assert widths_cm == pytest.approx(want, abs=0.01)
    assert sorted({round(w, 1) for w in widths_cm}) == [8.5, 17.0]  # single column; double capped at 17 cm
    html = render_html(report)
    assert html.count('<img src="data:image/svg+xml;base64,') == len(report.figures) == 12


def test_swimmer_not_drawn_past_max_lanes(ctx):
    from blincompass.report.model import ReportContext as Ctx

    lay = ctx.layout.model_copy(update={"figures": ctx.layout.figures.model_copy(update={
        "swimmer": ctx.layout.figures.swimmer.model_copy(update={"max_lanes": 10})})})
    c = Ctx(ctx.dataset, ctx.derived, PROTOCOL, None, synthetic=True, layout=lay, values=ctx.values)
    assert swimmer_figures(c) == []
    assert c.results["figures"]["swimmer"]["note"] == "not drawn: 39 patients; the layout's max_lanes is 10"


def test_swimmer_events_on_one_lane_at_one_time_are_drawn_apart(ctx, monkeypatch):
    import blincompass.report.figure_swimmer as fs

    drawn = []
    real_render = fs.render
    monkeypatch.setattr(fs, "render", lambda fig: (drawn.append(fig), real_render(fig))[1])
    swimmer_figures(ctx)
    (fig,) = drawn
    ax = fig.axes[0]
    width_in = ax.get_position().width * fig.get_figwidth()
    tol = fs.EVENT_MARKER_PT / 72 * ax.get_xlim()[1] / width_in
    points = [(float(x), float(y)) for line in ax.lines if line.get_marker() not in (None, "None", ">")
              for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)]
    close = [(a, b) for i, a in enumerate(points) for b in points[i + 1:]
             if round(a[1]) == round(b[1]) and abs(a[0] - b[0]) < tol]
    assert len(close) >= 10  # the twin's CR and MRD-negative markers share the assessment date
    assert all(abs(a[1] - b[1]) >= 0.3 for a, b in close)
