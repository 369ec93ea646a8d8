"""Edge cases: empty analysis populations, no adverse events, a stratified log-rank test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from blincompass.report import build_report
from blincompass.report.sections import survival_results
from blincompass.stats import logrank_test
from tests.derive.builders import make_dataset
from tests.report.conftest import PROTOCOL


def _no_figures(protocol):
    analyses = protocol.analyses.model_copy(
        update={"survival": tuple(a.model_copy(update={"figure": None}) for a in protocol.analyses.survival),
                "timedep": tuple(a.model_copy(update={"figure": None}) for a in protocol.analyses.timedep)})
    return protocol.model_copy(update={"analyses": analyses})


def test_no_responders_no_adverse_events():
    """Nobody reaches CR (RFS population empty), nobody has an AE, one patient is not eligible."""
    patients = [{"patient_id": "A1"}, {"patient_id": "A2", "sex": "F"}, {"patient_id": "A3", "in_trial": True}]
    courses = [{"patient_id": p, "course": 1, "start_date": "2018-01-01", "end_date": "2018-01-28"}
               for p in ("A1", "A2", "A3")]
    assessments = [
        {"patient_id": p, "timepoint": tp, "assessment_date": d, "bm_blasts": 30.0}
        for p in ("A1", "A2", "A3") for tp, d in (("baseline", "2017-12-20"), ("after_c1", "2018-01-29"))
    ]
    outcomes = [{"patient_id": "A1", "last_followup_date": "2018-06-01", "death_date": "2018-06-01",
                 "death_cause": "disease"},
                {"patient_id": "A2", "last_followup_date": "2019-01-01"},
                {"patient_id": "A3", "last_followup_date": "2019-01-01"}]
    ds = make_dataset(patients, courses, assessments, [], outcomes)
    rep = build_report(ds, PROTOCOL, synthetic=True)
    r = rep.results
    assert r["screening"]["n_eligible"] == 2
    assert r["survival"]["rfs_cr"] == {"endpoint": "RFS", "title": r["survival"]["rfs_cr"]["title"],
                                       "n_excluded": 0, "n": 0, "events": 0,
                                       "note": "no patients in the analysis population"}
    assert r["survival"]["os_all"]["n"] == 2
    assert r["table2"]["n_events"] == 0 and r["table2"]["patients_with_ae"]["n"] == 0
    assert r["response"]["cr_c1"]["all"]["n"] == 0
    assert r["tests"]["response_c1_by_stratum"]["note"].startswith("test not computable")
    assert "note" in r["tests"]["os_by_stratum"]  # one stratum only
    figs = [f.id for f in rep.figures]
    assert "1b" not in figs and "1a" in figs
    assert "1c" in figs  # the OS panel is drawn, the empty RFS panel left out


def test_stratified_logrank_matches_stats(derived):
    from blincompass.report.model import ReportContext

    a = next(x for x in PROTOCOL.analyses.survival if x.id == "os_by_stratum").model_copy(
        update={"strata": "sex"})
    analyses = PROTOCOL.analyses.model_copy(update={"survival": (a,)})
    proto = PROTOCOL.model_copy(update={"analyses": analyses})
    ctx = ReportContext(dataset=None, derived=derived, protocol=proto, adae=None, synthetic=False)
    sd = survival_results(ctx)[0]
    adsl = derived.adsl.set_index("patient_id")
    os_ = derived.adtte[derived.adtte["PARAMCD"] == "OS"]
    os_ = os_[os_["STRATUM"].notna()]
    ref = logrank_test(os_["AVAL"].to_numpy(), (os_["CNSR"] == 0).to_numpy(), os_["STRATUM"].to_numpy(),
                       strata=os_["USUBJID"].map(adsl["sex"]).to_numpy(), alternative="less",
                       order=["low", "high"])
    assert sd.test is not None
    assert sd.test.pvalue == pytest.approx(ref.pvalue)
    assert np.allclose(sd.test.expected.to_numpy(), ref.expected.to_numpy())
    res: dict = {}
    from blincompass.report.survival import build_logrank_table

    t = build_logrank_table([sd], proto, res)
    assert res["tests"]["os_by_stratum"]["strata"] == "sex"
    assert t.rows[0].cells[-1] == "sex"


def test_protocol_without_figures_builds_quickly(dataset, derived):
    rep = build_report(dataset, _no_figures(PROTOCOL), derived=derived)
    # no survival figure; the layout's own figures (flow, cumulative incidence, swimmer, forest) remain
    assert [f.id for f in rep.figures] == ["consort", "cif_cir_by_stratum", "swimmer", "forest"]
    from blincompass.protocol.layout import parse_layout

    plain = parse_layout("[figures]\nconsort = false\ncif = false\n", "layout.toml")
    rep = build_report(dataset, _no_figures(PROTOCOL), derived=derived, layout=plain)
    assert "figures" not in [s.id for s in rep.sections]


def test_unmapped_term_spellings_count_as_one(adae, derived):
    from blincompass.report.adverse import build_table2

    extra = adae.iloc[[-1]].copy()  # R7 "Strange feeling"
    extra["AETERM"] = "strange  FEELING"
    res: dict = {}
    t = build_table2(pd.concat([adae, extra], ignore_index=True), derived.adsl, PROTOCOL, res)
    assert res["table2"]["terms"]["strange_feeling"]["total"]["n"] == 2
    assert res["table2"]["terms"]["strange_feeling"]["term"] == "Strange feeling"
    assert sum(r.cells[0].startswith("Strange") for r in t.rows) == 1


def test_stale_figures_removed(tmp_path, dataset, derived):
    from blincompass.report import write_report

    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "figure_9z.png").write_bytes(b"old")
    (tmp_path / "figures" / "notes.txt").write_text("kept")
    from blincompass.protocol.layout import parse_layout

    plain = parse_layout("[figures]\nconsort = false\ncif = false\n", "layout.toml")
    rep = build_report(dataset, _no_figures(PROTOCOL), derived=derived, layout=plain)
    write_report(rep, tmp_path)
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["notes.txt"]


def test_three_group_comparisons_are_computed_or_skipped_with_a_reason(dataset, derived):
    """A 3-group Fisher comparison gives the k x 2 exact test; the permutation step skips 3 groups with its
    reason instead of failing; the asymptotic log-rank test is the k-sample one."""
    from blincompass.report.table1 import eligible
    from blincompass.stats import fisher_exact

    levels = ("first_relapse", "second_relapse", "persistent")
    proto = _no_figures(PROTOCOL)
    prop = proto.analyses.proportions[0].model_copy(update={
        "id": "response_by_status", "group": "disease_status", "order": levels, "labels": {}, "paper": None})
    surv = next(a for a in proto.analyses.survival if a.id == "os_by_stratum").model_copy(update={
        "id": "os_by_status", "group": "disease_status", "order": levels, "labels": {}, "paper": None,
        "figure": None})
    analyses = proto.analyses.model_copy(update={"proportions": (*proto.analyses.proportions, prop),
                                                 "survival": (*proto.analyses.survival, surv)})
    proto = proto.model_copy(update={"analyses": analyses})
    rep = build_report(dataset, proto, derived=derived, synthetic=True)
    r = rep.results
    t = r["tests"]["response_by_status"]
    d = eligible(derived.adsl)
    d = d[d["disease_status"].isin(levels) & d["response_c1"].notna()]
    table = np.array([[int((d[d["disease_status"] == lv]["response_c1"] == True).sum()),  # noqa: E712
                       int((d[d["disease_status"] == lv]["response_c1"] == False).sum())] for lv in levels])  # noqa: E712
    assert [t["counts"][lv]["yes"] for lv in levels] == table[:, 0].tolist()
    assert t["p"] == fisher_exact(table).pvalue and t["sided"] == "two"
    assert "3 groups differ" in t["alternative_text"]
    perm = [row for sec in rep.sections for blk in sec.blocks if getattr(blk, "id", "") == "permutation"
            for row in blk.rows]
    assert any("this comparison has 3" in str(cell) for row in perm for cell in row.cells)
    pats = eligible(derived.adsl)
    pats = pats[pats["disease_status"].isin(levels)]
    tte = derived.adtte[derived.adtte["PARAMCD"] == "OS"].merge(
        pats[["patient_id", "disease_status"]], left_on="USUBJID", right_on="patient_id")
    assert r["tests"]["os_by_status"]["p"] == pytest.approx(
        logrank_test(tte["AVAL"].to_numpy(float), (tte["CNSR"] == 0).to_numpy(), tte["disease_status"].to_numpy(),
                     order=list(levels)).pvalue, abs=1e-12)
