"""Methodological notes: immortal-time-safe comparisons, competing risks and permutation p-values."""

from __future__ import annotations

import numpy as np
import pytest

from blincompass.derive import build_adae, derive_all
from blincompass.protocol import load_protocol
from blincompass.report.methods import methods_section
from blincompass.report.model import ReportContext, get
from blincompass.stats import cumulative_incidence, landmark, logrank_test, mantel_byar
from blincompass.synth import write_twin
from blincompass.validate import load_dataset

PROTOCOL = load_protocol()


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    d = tmp_path_factory.mktemp("twin")
    write_twin(d, 0)
    ds = load_dataset(d).dataset
    derived = derive_all(ds, PROTOCOL)
    c = ReportContext(ds, derived, PROTOCOL, build_adae(ds, derived.adsl, PROTOCOL), synthetic=True)
    c.section = methods_section(c)
    return c


def _os(ctx):
    adsl = ctx.derived.adsl.set_index("patient_id")
    t = ctx.derived.adtte
    os_ = t[t["PARAMCD"] == "OS"].set_index("USUBJID").join(adsl)
    return os_


def test_section_has_the_three_parts(ctx):
    ids = [t.id for t in ctx.section.tables]
    assert ids == ["immortal_time", "cir_cir_by_stratum", "permutation"]
    assert "immortal-time bias" in ctx.section.blocks[0].text


def test_paper_style_equals_the_publications_comparison(ctx):
    # the "as published" row is the report's own log-rank test of the paper
    os_ = _os(ctx)
    p = logrank_test(os_["AVAL"], os_["CNSR"] == 0, os_["hsct"].astype(bool), order=[True, False],
                     alternative="less").pvalue
    assert get(ctx.results, "methods.timedep.os_by_hsct_safe.paper_style.p") == pytest.approx(p, abs=1e-12)


def test_mantel_byar_recomputed_independently(ctx):
    os_ = _os(ctx)
    w = ((os_["hsct_date"] - os_["first_dose_date"]).dt.days / 30.4375).where(os_["hsct"].astype(bool))
    res = mantel_byar(os_["AVAL"], os_["CNSR"] == 0, w.to_numpy(float), alternative="less")
    assert get(ctx.results, "methods.timedep.os_by_hsct_safe.mantel_byar.p") == pytest.approx(res.pvalue, abs=1e-12)
    # HSCT looks protective from day 1 (p ~ 0.06) but not once the waiting time is counted (p ~ 0.44)
    assert get(ctx.results, "methods.timedep.os_by_hsct_safe.paper_style.p") < 0.1
    assert res.pvalue > 0.3


def test_landmark_counts(ctx):
    os_ = _os(ctx)
    w = ((os_["hsct_date"] - os_["first_dose_date"]).dt.days / 30.4375).where(os_["hsct"].astype(bool))
    res = landmark(os_["AVAL"], os_["CNSR"] == 0, w.to_numpy(float), landmark=6.0, alternative="less")
    base = "methods.timedep.os_by_hsct_safe.landmark_6m"
    assert get(ctx.results, f"{base}.n_excluded") == res.n_excluded == int((os_["AVAL"] <= 6.0).sum())
    assert get(ctx.results, f"{base}.n_exposed") + get(ctx.results, f"{base}.n_unexposed") == len(res.data)
    # a fractional landmark gets a dot-free key
    assert get(ctx.results, "methods.timedep.os_by_cr_safe.landmark_1_5m.n_excluded") >= 1


def test_cumulative_incidence_of_relapse(ctx):
    rfs = ctx.derived.adtte[ctx.derived.adtte["PARAMCD"] == "RFS"]
    code = np.where(rfs["CNSR"] == 0, np.where(rfs["EVNTDESC"] == "relapse", 1, 2), 0)
    ci = cumulative_incidence(rfs["AVAL"], code, group=rfs["STRATUM"].to_numpy(object), causes=[1, 2])
    tp = ci.timepoints([12.0])
    est = tp[(tp["group"] == "low") & (tp["cause"] == 1)]["est"].iloc[0]
    assert get(ctx.results, "methods.competing.cir_by_stratum.low.at_12m.estimate") == pytest.approx(est, abs=1e-12)
    assert get(ctx.results, "methods.competing.cir_by_stratum.low.events") == 7
    assert get(ctx.results, "methods.competing.cir_by_stratum.high.events") == 4


def test_permutation_beside_asymptotic(ctx):
    r = get(ctx.results, "methods.permutation.os_by_stratum")
    assert r["method"] in ("exact", "monte-carlo")
    assert r["asymptotic_p"] < 0.01
    # Monte Carlo p within 4 MC standard errors of the asymptotic p for a well-behaved comparison
    assert abs(r["permutation_p"] - r["asymptotic_p"]) < 0.01


def test_simon_makuch_figure(ctx):
    figs = ctx.section.figures
    assert [f.id for f in figs] == ["S1"]
    assert figs[0].png.startswith(b"\x89PNG") and b"<svg" in figs[0].svg
    assert "Simon–Makuch" in figs[0].caption and "Mantel–Byar" in figs[0].caption


def test_entry_curve_at_risk():
    from blincompass.protocol.layout import load_layout
    from blincompass.report.figures import simon_makuch_panel
    from blincompass.stats import simon_makuch

    # patient 0 moves at 1, patient 2 at 3: at risk in each state on (start, stop]
    sm = simon_makuch([2.0, 5.0, 4.0], [1, 0, 1], [np.nan, 1.0, 3.0])
    after, before = simon_makuch_panel(sm, ("after", "before"), "t", "OS", PROTOCOL, load_layout(),
                                       {"index_event": "x"}).curves
    assert [before.at_risk(t) for t in (0.0, 1.0, 2.0, 3.0, 4.0)] == [3, 3, 2, 1, 0]
    assert [after.at_risk(t) for t in (0.0, 1.0, 2.0, 4.0, 6.0)] == [0, 0, 1, 2, 0]

