"""The synthetic twin reproduces every count the publication reports (tests prove each one)."""

from __future__ import annotations

import pandas as pd
import pytest

from blincompass.derive import derive_all
from blincompass.derive.adae import build_adae
from blincompass.protocol import load_protocol
from blincompass.report.model import ReportContext
from blincompass.report.published import compare_published, load_published, rerun_tests
from blincompass.stats import kaplan_meier, logrank_test
from blincompass.synth import write_twin
from blincompass.validate import load_dataset

PROTOCOL = load_protocol()
PUBLISHED = load_published()


def _build(tmp_path_factory: pytest.TempPathFactory, seed: int) -> tuple:
    d = tmp_path_factory.mktemp(f"twin{seed}")
    write_twin(d, seed)
    res = load_dataset(d)
    derived = derive_all(res.dataset, PROTOCOL)
    adae = build_adae(res.dataset, derived.adsl, PROTOCOL)
    return d, res, derived, adae


@pytest.fixture(scope="module", params=[0, 7])
def twin(request, tmp_path_factory):
    return _build(tmp_path_factory, request.param)


def test_valid_without_errors(twin):
    _, res, _, _ = twin
    assert res.ok
    assert res.n_errors == 0
    # the only warnings are the non-CTCAE terms of Table 2, flagged and mapped
    assert {f.rule for f in res.findings if f.severity != "info"} == {"ae.term_not_ctcae"}


def test_every_published_count_is_reproduced(twin):
    _, res, derived, adae = twin
    ctx = ReportContext(res.dataset, derived, PROTOCOL, adae, synthetic=True)
    cmp_ = compare_published(PUBLISHED, ctx)
    counts = cmp_[~cmp_["key"].isin([n["key"] for n in PUBLISHED.numbers if "result" in n])]
    bad = counts[~counts["status"].str.startswith("reproduced")]
    # the one count that cannot match: the text's rounded maximum age (21.5 years printed as 21)
    assert bad["key"].tolist() == ["age_tx_max_text"]
    assert len(counts) >= 120


def test_table2_cells(twin):
    _, _, _, adae = twin
    cell = adae.assign(g=adae["AETOXGR"].map(lambda x: "unknown" if pd.isna(x) else ("1-2" if x <= 2 else str(int(x)))))
    tab = cell.groupby(["AETERM", "g"]).size().unstack(fill_value=0)
    expected = {
        "Unspecified neurotoxicity": {"1-2": 3, "3": 2}, "Altered mental status": {"1-2": 1, "3": 1},
        "Dysmetria": {"3": 1}, "Aphasia": {"3": 1}, "Dysarthria": {"3": 1},
        "Seizure": {"1-2": 1, "3": 1, "4": 1}, "Tremor": {"1-2": 1, "3": 1, "unknown": 1},
        "Polyneuropathy": {"1-2": 1, "3": 1}, "Hepatotoxicity": {"1-2": 3, "3": 1},
        "Fever": {"1-2": 8, "3": 1, "unknown": 2}, "Rash": {"1-2": 2}, "Thrombocytopenia": {"1-2": 1, "3": 1},
        "Anemia": {"1-2": 1, "3": 1}, "Neutropenia": {"1-2": 1}, "Progressive candidiasis": {"3": 1},
        "Pneumocystosis": {"3": 1}, "Ascites": {"1-2": 1}, "Hypogammaglobulinemia": {"1-2": 2},
        "Autoimmune arthritis": {"1-2": 1},
    }
    assert sorted(tab.index) == sorted(expected)
    for term, cells in expected.items():
        got = {g: int(n) for g, n in tab.loc[term].items() if n}
        assert got == cells, term
    assert len(adae) == 46
    assert adae["USUBJID"].nunique() == 22


def test_courses_schedules_and_discontinuations(twin):
    _, res, derived, _ = twin
    c = res.dataset.courses
    stops = sorted(c[c["discontinuation_reason"] == "progression"]["discontinuation_day"].astype(int))
    assert stops == [11, 15, 17]
    assert int((c["discontinuation_reason"] == "toxicity").sum()) == 1
    assert int(c["interrupted"].fillna(False).sum()) == 2
    assert sorted(derived.adsl["first_schedule"].value_counts().to_dict().items()) == [
        ("adult_full", 1), ("adult_stepup", 3), ("ped_full", 14), ("ped_stepup", 21)]


def test_outcome_story(twin):
    _, _, derived, _ = twin
    a = derived.adsl.set_index("patient_id")
    cr = a[a["cr_c1"] == True]  # noqa: E712
    # 21 HSCT: 16 without bridging (all in CR), 5 after chemotherapy (3 non-responders, 2 early relapses)
    hs = a[a["hsct"] == True]  # noqa: E712
    assert len(hs) == 21
    bridged = hs[hs["hsct_bridging"] == True]  # noqa: E712
    assert int((bridged["cr_c1"] == False).sum()) == 3  # noqa: E712
    assert int((bridged["early_relapse"] == True).sum()) == 2  # noqa: E712
    # 18 never transplanted: 10 in CR, 7 non-responders, 1 relapsed after the second course
    no = a[a["hsct"] == False]  # noqa: E712
    after_c2 = no["early_relapse"] & (no["n_courses"] == 2)
    assert (int((no["cr_c1"] & ~after_c2).sum()), int((no["cr_c1"] == False).sum()),  # noqa: E712
            int(after_c2.sum())) == (10, 7, 1)
    # relapses: 3 early after course 2, 1 CD19-negative during course 3, 4 after HSCT, 3 late
    rel = cr[cr["relapse"] == True]  # noqa: E712
    assert len(rel) == 11
    assert int(((rel["early_relapse"]) & (rel["n_courses"] == 2)).sum()) == 3
    assert int(rel["relapse_cd19_negative"].sum()) == 1
    # deaths: 14, causes stated, no toxic death
    dead = a[a["death"] == True]  # noqa: E712
    assert len(dead) == 14
    assert dead["death_cause"].value_counts().to_dict() == {"disease": 13, "infection": 1}


def test_followup(twin):
    _, _, derived, _ = twin
    fu = derived.adsl["followup_months"]
    assert round(fu.mean()) == 16
    assert round(fu.min()) == 0
    assert round(fu.max()) == 67


def test_survival_results_match_the_publication(twin):
    _, _, derived, _ = twin
    t = derived.adtte
    rfs = t[t["PARAMCD"] == "RFS"]
    km = kaplan_meier(rfs["AVAL"], rfs["CNSR"] == 0, median_ci="spss")
    assert round(km.median, 1) == 33.4
    assert (round(km.median_ci.lower, 1), round(km.median_ci.upper, 1)) == (7.5, 59.3)
    os_ = t[t["PARAMCD"] == "OS"]
    assert kaplan_meier(os_["AVAL"], os_["CNSR"] == 0).median is None  # not reached
    a = derived.adsl.set_index("patient_id")
    o = os_.set_index("USUBJID")
    p = logrank_test(o["AVAL"], o["CNSR"] == 0, a.loc[o.index, "stratum"], order=["low", "high"],
                     alternative="less").pvalue
    assert round(p, 3) == 0.005
    r = rfs.set_index("USUBJID")
    p = logrank_test(r["AVAL"], r["CNSR"] == 0, a.loc[r.index, "stratum"], order=["low", "high"],
                     alternative="less").pvalue
    assert round(p, 2) == 0.03
    p = logrank_test(o["AVAL"], o["CNSR"] == 0, a.loc[o.index, "cr_c1"].astype(bool), order=[True, False],
                     alternative="less").pvalue
    assert p < 1e-4
    # HSCT overall: one-sided p near 0.052 (the twin gives 0.063); among CR: no benefit (p > 0.5)
    p = logrank_test(o["AVAL"], o["CNSR"] == 0, a.loc[o.index, "hsct"].astype(bool), order=[True, False],
                     alternative="less").pvalue
    assert 0.04 < p < 0.08


def test_reported_tests_rerun():
    tests = rerun_tests(PUBLISHED)
    c1 = tests[tests["key"] == "response_c1"].set_index("test")["pvalue"]
    assert round(c1["Fisher exact, one-sided"], 3) == 0.034
    assert round(c1["Fisher exact, two-sided"], 3) == 0.062
    assert not tests[tests["key"] == "response_c1"]["matches"].any()
    c3 = tests[(tests["key"] == "response_c3") & tests["matches"]]["test"].tolist()
    assert "Pearson chi-square, halved (one-sided)" in c3


def test_deterministic_and_labelled(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_twin(a, 3)
    write_twin(b, 3)
    write_twin(c, 4)
    for f in sorted(a.iterdir()):
        assert f.read_bytes() == (b / f.name).read_bytes(), f.name
    assert (a / "patients.csv").read_bytes() != (c / "patients.csv").read_bytes()
    assert "SYNTHETIC" in (a / "SYNTHETIC.txt").read_text()
    assert all(line.startswith("SYN-") for line in (a / "patients.csv").read_text().splitlines()[1:])


def test_twin_workbook_bytes_do_not_depend_on_the_clock(tmp_path):
    import re
    import zipfile

    from blincompass.io.ooxml import FIXED_ZIP_TIME
    from blincompass.synth import write_twin

    write_twin(tmp_path, 0, xlsx=True)
    with zipfile.ZipFile(tmp_path / "twin.xlsx") as z:
        assert {i.date_time for i in z.infolist()} == {FIXED_ZIP_TIME}
        core = z.read("docProps/core.xml").decode()
    assert set(re.findall(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", core)) == {"2020-01-01T00:00:00Z"}


def test_permutation_p_without_an_extreme_relabelling_is_its_floor(tmp_path_factory) -> None:
    """A Monte Carlo permutation p with no relabelling as extreme prints as <= 1/(B + 1), without a standard error."""
    from blincompass.report import build_report

    _, res, derived, _ = _build(tmp_path_factory, 0)
    report = build_report(res.dataset, PROTOCOL, derived=derived, synthetic=True, published=False)
    results = report.results
    cells = [r.cells for s in report.sections for b in s.blocks if getattr(b, "id", "") == "permutation"
             for r in b.rows]
    floors = 0
    for key, entry in results["methods"]["permutation"].items():
        if entry["method"] == "monte-carlo" and entry["n_extreme"] == 0:
            b = entry["n_resamples"]
            assert entry["permutation_p"] == pytest.approx(1 / (b + 1))
            assert any(c[3] == f"≤ 1/{b + 1} (none of B = {b} as extreme)" for c in cells), key
            floors += 1
        elif entry["method"] == "monte-carlo":
            assert entry["n_extreme"] == round(entry["permutation_p"] * (entry["n_resamples"] + 1)) - 1
    assert floors >= 1  # OS by CR after course 1: no relabelling is as extreme
