"""End to end on the synthetic twin of the cohort (when present): the report reproduces the numbers the
publication prints (Table 1, Table 2, Section 3), read from results.json keys."""

from __future__ import annotations

import pytest

from blincompass.protocol import load_protocol
from blincompass.report import build_report, detect_synthetic
from blincompass.validate import load_dataset

twin = pytest.importorskip("blincompass.synth.twin", reason="synthetic twin module not present")


@pytest.fixture(scope="module")
def twin_results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("twin")
    twin.write_twin(folder, seed=0)
    validation = load_dataset(folder)
    assert validation.ok
    proto = load_protocol()
    # figures are covered elsewhere; leave them out to keep this test fast
    analyses = proto.analyses.model_copy(
        update={"survival": tuple(a.model_copy(update={"figure": None}) for a in proto.analyses.survival),
                "timedep": tuple(a.model_copy(update={"figure": None}) for a in proto.analyses.timedep)})
    proto = proto.model_copy(update={"analyses": analyses})
    rep = build_report(validation.dataset, proto, synthetic=detect_synthetic(folder, validation.dataset))
    return rep.results


def test_marked_synthetic(twin_results):
    assert twin_results["synthetic"] is True


def test_table1_as_published(twin_results):
    t1 = twin_results["table1"]
    assert t1["total"]["n"] == 39
    assert (t1["sex"]["M"]["n"], t1["sex"]["F"]["n"]) == (22, 17)
    assert round(t1["sex"]["M"]["pct"], 1) == 56.4
    assert (t1["age_diagnosis"]["lt1"]["n"], t1["age_diagnosis"]["1to18"]["n"], t1["age_diagnosis"]["gt18"]["n"]) == (
        3, 35, 1)
    # the publication's "Median (IQR) 5.3 (0.2-20.4)": median 5.3 and the range 0.2-20.4
    assert round(t1["age_diagnosis"]["median"], 1) == 5.3
    assert (round(t1["age_diagnosis"]["min"], 1), round(t1["age_diagnosis"]["max"], 1)) == (0.2, 20.4)
    assert (t1["months_to_treatment"]["lt18"]["n"], t1["months_to_treatment"]["18to30"]["n"],
            t1["months_to_treatment"]["gt30"]["n"]) == (9, 8, 22)
    assert (t1["courses"]["c1"]["n"], t1["courses"]["c2"]["n"], t1["courses"]["gt2"]["n"]) == (17, 18, 4)
    b = t1["bm_blasts"]
    assert (b["low"]["n"], b["debulking"]["n"], b["pcr_mrd_pos"]["n"], b["fc_mrd_pos"]["n"]) == (26, 18, 5, 3)
    assert (b["high"]["n"], b["b5to25"]["n"], b["gt25"]["n"]) == (13, 6, 7)
    assert (t1["relapse_site"]["bone_marrow"]["n"], t1["relapse_site"]["molecular"]["n"],
            t1["relapse_site"]["combined"]["n"]) == (24, 3, 8)
    assert t1["prior_hsct"]["yes"]["n"] == 10


def test_table2_as_published(twin_results):
    t2 = twin_results["table2"]
    assert t2["n_events"] == 46
    # the publication's 56.4 % is of all 39 patients; the table's percentage is of the 36 with toxicity data
    assert (t2["patients_with_ae"]["n"], t2["n_toxicity_data"], round(t2["patients_with_ae"]["pct"], 1)) == (
        22, 36, 61.1)
    tot = t2["total"]
    assert (tot["g1_2"]["n"], tot["g3"]["n"], tot["g4"]["n"], tot["unknown"]["n"]) == (27, 15, 1, 3)
    assert round(tot["g1_2"]["pct"], 1) == 58.7
    neuro = t2["groups"]["neurotoxicity"]
    assert (neuro["g1_2"]["n"], neuro["g3"]["n"], neuro["g4"]["n"], neuro["unknown"]["n"], neuro["total"]["n"]) == (
        7, 9, 1, 1, 18)
    assert t2["terms"]["fever"]["total"]["n"] == 11
    assert t2["groups"]["hematological"]["total"]["n"] == 5
    assert twin_results["ae_patients"]["tox_missing"]["n"] == 3
    assert twin_results["ae_by_course"]["c1"]["patients_with_ae"]["n"] == 19


def test_response_and_survival_as_published(twin_results):
    r = twin_results["response"]
    assert (r["cr_c1"]["high"]["n"], r["cr_c1"]["high"]["denominator"]) == (6, 13)
    assert (r["response_c1"]["low"]["n"], r["response_c1"]["low"]["denominator"]) == (21, 26)
    assert (r["cr_c1"]["all"]["n"], r["cr_c1"]["all"]["denominator"]) == (29, 39)
    assert (r["cr_after_c3"]["all"]["n"], round(r["cr_after_c3"]["all"]["pct"])) == (25, 64)
    assert r["cd19_negative_relapse"]["all"]["n"] == 1
    assert (r["relapse_after_cr"]["all"]["n"], r["relapse_after_cr"]["all"]["denominator"]) == (11, 29)
    s = twin_results["survival"]
    assert s["os_all"]["median"]["estimate"] is None  # not reached
    rfs = s["rfs_cr"]["median"]["spss"]
    assert (round(rfs["estimate"], 1), round(rfs["lower"], 1), round(rfs["upper"], 1)) == (33.4, 7.5, 59.3)
    assert round(twin_results["followup"]["mean"]) == 16
    assert round(twin_results["tests"]["os_by_stratum"]["p"], 3) == 0.005
