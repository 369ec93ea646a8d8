"""The descriptive tables on the synthetic twin: Table 1 by group (tests chosen by expected counts, p-values
equal to R's), Table 2 per patient and per event, the adverse events in both courses, Table 3's notes and
the per-centre table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blincompass.derive import build_adae, derive_all
from blincompass.protocol import load_protocol
from blincompass.report.table1 import build_table1, eligible
from blincompass.stats.group_tests import rank_sum_test
from blincompass.validate import load_dataset

twin = pytest.importorskip("blincompass.synth.twin", reason="synthetic twin module not present")
R = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "r" / "group_tests.json").read_text())
PROTOCOL = load_protocol()


def _r(name: str) -> dict:
    return next(c for c in R["categorical"] if c["name"] == name)


@pytest.fixture(scope="module")
def twin_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("twin")
    twin.write_twin(folder, seed=0)
    validation = load_dataset(folder)
    assert validation.ok
    derived = derive_all(validation.dataset, PROTOCOL)
    adae = build_adae(validation.dataset, derived.adsl, PROTOCOL)
    return validation.dataset, derived, adae


@pytest.fixture(scope="module")
def table1(twin_data):
    results: dict = {}
    table = build_table1(twin_data[1].adsl, PROTOCOL, results)
    return table, results


def _row(table, label: str):
    return next(r for r in table.rows if r.cells[0] == label)


def test_table1_columns_by_stratum(table1):
    table, res = table1
    assert [h.text for h in table.header[0]] == [
        "Characteristic", "All patients (n = 39)", "<5 % blasts (n = 26)", "\u22655 % blasts (n = 13)", "p", "Test"]
    assert res["table1"]["groups"]["low"]["n"] + res["table1"]["groups"]["high"]["n"] == 39
    assert _row(table, "Male").cells[1:4] == ("22 (56.4)", "15 (57.7)", "7 (53.8)")
    assert res["table1"]["sex"]["by_group"]["high"]["M"]["n"] == 7


def test_table1_chi_square_when_expected_counts_are_large(table1):
    table, res = table1
    want = _r("sex_by_stratum")
    assert want["min_expected"] >= 5
    t = res["table1"]["sex"]["test"]
    assert t["name"] == "chi-square"
    assert t["p"] == pytest.approx(want["chisq_p"], rel=1e-8, abs=1e-10)
    assert t["statistic"] == pytest.approx(want["chisq_statistic"], rel=1e-8)
    row = _row(table, "Sex")
    letter = row.cells[-1]
    assert row.cells[-2] == f"{want['chisq_p']:.3f}"
    assert f"{letter}: Pearson's chi-square test without continuity correction" in " ".join(table.footnotes)


def test_table1_fisher_when_an_expected_count_is_below_5(table1):
    table, res = table1
    want = _r("immunophenotype_by_stratum")
    assert want["min_expected"] < 5
    t = res["table1"]["immunophenotype"]["test"]
    assert (t["name"], t["method"]) == ("fisher", "exact")
    assert t["p"] == pytest.approx(want["fisher_p"], rel=1e-8, abs=1e-10)
    letter = _row(table, "Immunophenotype").cells[-1]
    assert f"{letter}: Fisher's exact test (an expected count < 5)" in " ".join(table.footnotes)
    assert letter != _row(table, "Sex").cells[-1]


def test_table1_rank_sum_for_continuous_rows(table1, twin_data):
    _, res = table1
    elig = eligible(twin_data[1].adsl)
    x = elig.loc[elig["stratum"] == "low", "age_first_dose"]
    y = elig.loc[elig["stratum"] == "high", "age_first_dose"]
    t = res["table1"]["age_treatment"]["test"]
    want = rank_sum_test(x, y)
    assert t["name"] == "rank-sum"
    assert (t["p"], t["method"], t["statistic"]) == (want.pvalue, want.method, want.statistic)
    letter = _row(table1[0], "Age at treatment").cells[-1]
    words = "exact p-value" if want.method == "exact" else "normal approximation with tie and continuity"
    assert f"{letter}: Wilcoxon rank-sum test, {words}" in " ".join(table1[0].footnotes)


def test_table1_grouping_row_is_not_tested(table1):
    table, res = table1
    assert "test" not in res["table1"]["bm_blasts"]
    assert _row(table, "Bone-marrow blasts before blinatumomab").cells[-2:] == ("", "")


def test_table1_k_groups_use_kruskal_wallis(twin_data):
    report = PROTOCOL.report.model_copy(update={"table1_group": "disease_status"})
    proto = PROTOCOL.model_copy(update={"report": report})
    results: dict = {}
    table = build_table1(twin_data[1].adsl, proto, results)
    groups = results["table1"]["groups"]
    assert sum(g["n"] for g in groups.values()) == 39
    # the groups of a form variable are its dictionary codes, named by their labels
    assert groups["first_relapse"] == {"n": 23, "label": "First relapse"}
    assert [h.text for h in table.header[0]][2] == f"{groups['persistent']['label']} (n = 4)"
    assert results["table1"]["age_treatment"]["test"]["name"] == "kruskal-wallis"
    assert results["table1"]["age_treatment"]["test"]["df"] == len([g for g in groups.values() if g["n"]]) - 1
    assert "Kruskal\u2013Wallis test" in " ".join(table.footnotes)


def test_table1_without_group_has_one_column(twin_data):
    report = PROTOCOL.report.model_copy(update={"table1_group": None})
    proto = PROTOCOL.model_copy(update={"report": report})
    table = build_table1(twin_data[1].adsl, proto, {})
    assert [h.text for h in table.header[0]] == ["Characteristic", "n (%)"]
    assert _row(table, "Male").cells == ("Male", "22 (56.4)")


# ---------------------------------------------------------------------------------------------- Table 2
@pytest.fixture(scope="module")
def safety(twin_data):
    from blincompass.report.adverse import build_ae_by_course, build_ae_patients, build_table2

    _, derived, adae = twin_data
    results: dict = {}
    t2 = build_table2(adae, derived.adsl, PROTOCOL, results)
    t2b = build_ae_patients(adae, derived.adsl, results, protocol=PROTOCOL)
    t2c = build_ae_by_course(adae, derived.adsl, results, protocol=PROTOCOL)
    return (t2, t2b, t2c), results


def test_table2_patients_over_the_patients_with_toxicity_data(safety):
    (t2, _, _), res = safety
    t = res["table2"]
    assert (t["n_eligible"], t["n_toxicity_data"], t["n_events"]) == (39, 36, 46)
    assert t["patients_with_ae"]["n"] == 22
    assert t["patients_with_ae"]["pct"] == pytest.approx(100 * 22 / 36)
    # worst grade per patient partitions the patients with an event
    tot = t["total"]
    assert sum(tot[k]["patients"] for k in ("g1_2", "g3", "g4", "unknown")) == tot["total"]["patients"] == 22
    # neurotoxicity: 14 patients (the publication's "Fourteen patients (36 %)" is of 39), 18 events
    neuro = t["groups"]["neurotoxicity"]
    assert (neuro["total"]["patients"], neuro["total"]["n"]) == (14, 18)
    assert neuro["total"]["patients_pct"] == pytest.approx(100 * 14 / 36)
    assert t["terms"]["fever"]["total"]["patients"] == 11
    assert "% of the 36 patients with toxicity data (of 39 eligible)" in t2.footnotes[0]
    assert t2.header[1][0].text == "n (%): of 36 patients with toxicity data / of 46 events"


def test_table2b_denominators(safety):
    (_, t2b, _), res = safety
    p = res["ae_patients"]
    assert (p["any_ae"]["n"], p["any_ae"]["denominator"]) == (22, 36)
    assert (p["tox_missing"]["n"], p["tox_missing"]["denominator"]) == (3, 39)
    assert next(r for r in t2b.rows if r.cells[0] == "At least one adverse event").cells[1:] == ("22/36", "61.1")


def test_both_courses_of_exactly_two_courses_as_the_publication(safety, twin_data):
    (_, _, t2c), res = safety
    b = res["ae_by_course"]["both_courses"]
    assert (b["n"], b["denominator"], b["rule"]) == (4, 18, "exactly_two")
    assert round(b["pct"], 1) == 22.2
    assert t2c.rows[-1].cells[1:3] == ("18", "4 (22.2)")
    assert "exactly two courses (18)" in t2c.footnotes[-1]
    from blincompass.report.adverse import build_ae_by_course

    _, derived, adae = twin_data
    other: dict = {}
    build_ae_by_course(adae, derived.adsl, other, protocol=PROTOCOL, both_courses_of="two_or_more")
    assert (other["ae_by_course"]["both_courses"]["n"], other["ae_by_course"]["both_courses"]["denominator"]) == (
        4, 22)


# ---------------------------------------------------------------------------------------------- Table 3
@pytest.fixture(scope="module")
def response(twin_data):
    from blincompass.report.response import build_response_table

    results: dict = {}
    return build_response_table(twin_data[1].adsl, PROTOCOL, results), results


def test_response_notes_give_both_definitions(response):
    table, res = response
    r = res["response"]
    assert (r["non_responders"]["all"]["n"], r["non_responders"]["all"]["denominator"]) == (12, 39)
    assert (r["non_responders"]["alternative"]["n"], r["non_responders"]["alternative"]["denominator"]) == (10, 39)
    assert (r["early_relapse"]["all"]["n"], r["early_relapse"]["alternative"]["n"]) == (4, 3)
    notes = " ".join(table.footnotes)
    assert "(12 of 39;" in notes and "10 of 39 with its definition on these data" in notes
    assert "4 of 29 by the definition above" in notes and "3 of 29 with its definition" in notes


def test_response_labels_in_plain_words(response):
    table, _ = response
    labels = [r.cells[0] for r in table.rows]
    assert "Complete remission (CR, <5 % blasts) after course 1 (<5 % blasts: CR maintained)" in labels
    assert "MRD-negative by PCR" in labels
    assert "MRD-negative by flow cytometry (no PCR result)" in labels
    assert not any("deciding" in label or "decided" in label for label in labels)
    notes = " ".join(table.footnotes)
    assert "mrd negative" not in notes.lower().replace("mrd negativity", "")
    assert "<5 % blasts: MRD negativity (in complete remission); \u22655 % blasts: complete remission" in notes
    assert table.header[1][2].text == "% (95 % CI)"


def test_layout_response_note_placeholders_are_checked():
    from blincompass.protocol.layout import LayoutError, parse_layout

    lay = parse_layout('[response.x]\nnote = "{alt_n} of {alt_N}"\nstratum_labels = { a = "A" }', "layout.toml")
    assert lay.response["x"].stratum_labels == {"a": "A"}
    with pytest.raises(LayoutError, match=r"response\.x\.note: .*unknown placeholder \{m\}"):
        parse_layout('[response.x]\nnote = "{m}"', "layout.toml")


# ---------------------------------------------------------------------------------------------- centres
@pytest.fixture(scope="module")
def centres(twin_data):
    from blincompass.report.centres import build_centre_table
    from blincompass.report.survival import build_followup_table

    dataset, derived, _ = twin_data
    results: dict = {}
    table = build_centre_table(dataset, derived.adsl, derived.adtte, PROTOCOL, results)
    build_followup_table(derived.adsl, derived.adtte, PROTOCOL, results)
    return table, results


def test_centre_table_lists_every_centre_and_sums_to_the_cohort(centres, twin_data):
    table, res = centres
    c = res["centres"]
    names = sorted(set(twin_data[0].patients["centre"]))
    assert [r.cells[0] for r in table.rows] == [*names, "All centres"]
    per = [c[n.lower().replace("-", "_")] if n.lower().replace("-", "_") in c else c[n] for n in names]
    assert sum(p["eligible"] for p in per) == c["total"]["eligible"] == 39
    assert sum(p["groups"]["low"] for p in per) == 26 and sum(p["groups"]["high"] for p in per) == 13
    assert min(p["eligible"] for p in per) == 3  # the smallest centre is shown, not suppressed
    assert table.header[1][3].text == "<5 % blasts"


def test_centre_follow_up_is_the_reverse_km_median(centres):
    _, res = centres
    assert res["centres"]["endpoint"] == "OS"
    assert res["centres"]["total"]["followup"]["median"] == res["followup"]["reverse_km"]["median"]


def test_completeness_counts_required_and_conditional_values():
    import pandas as pd

    from blincompass.dictionary import load_dictionary
    from blincompass.report.centres import completeness

    form = load_dictionary().form("outcomes")
    frame = pd.DataFrame({
        "patient_id": ["A", "B"], "tox_data_available": [True, True],
        "hsct_date": [pd.Timestamp("2020-01-01"), pd.NaT], "hsct_bridging": [None, None],
        "relapse_date": [pd.NaT, pd.NaT], "relapse_site": [None, None], "relapse_cd19_negative": [None, None],
        "death_date": [pd.NaT, pd.NaT], "death_cause": [None, None],
        "last_followup_date": [pd.Timestamp("2021-01-01"), pd.Timestamp("2021-02-01")],
    })
    # required: patient_id, tox_data_available, last_followup_date on 2 rows = 6 cells, all known; the
    # transplant's bridging is expected on row A only (its condition: an HSCT date) and is missing
    known, expected = completeness(frame, form)
    assert (known, expected) == (6, 7)


def test_completeness_reads_mrd_not_done_as_unknown():
    import pandas as pd

    from blincompass.dictionary import load_dictionary
    from blincompass.report.centres import completeness

    form = load_dictionary().form("assessments")
    frame = pd.DataFrame({
        "patient_id": ["A"] * 3, "assessment_date": [pd.Timestamp("2020-01-01")] * 3,
        "timepoint": ["baseline", "after_c1", "after_c2"], "bm_blasts": [1.0, 0.0, 0.0],
        "pcr_mrd": [0.01, float("nan"), float("nan")], "pcr_mrd_status": ["quantified", "NEG", "ND"],
        "fc_mrd": [float("nan")] * 3, "fc_mrd_status": ["ND", "ND", "PNQ"], "cd19_blasts": [None] * 3,
    })
    known, expected = completeness(frame, form)
    assert expected == 6 * 3  # six required variables
    assert known == 4 * 3 + 2 + 1  # PCR: a level and NEG known, ND not; FC: PNQ known


def test_xlsx_keeps_group_counts_as_counts(table1, centres):
    """A group named with a percentage ("<5 % blasts") does not make its column a percentage."""
    import io

    import openpyxl

    from blincompass.report.model import Report, Section
    from blincompass.report.render_xlsx import render_xlsx

    rep = Report("t", "", False, (Section("s", "S", (table1[0], centres[0])),), {})
    wb = openpyxl.load_workbook(io.BytesIO(render_xlsx(rep)))
    t1 = next(wb[n] for n in wb.sheetnames if "Table 1" in n or n.startswith("table1") or "Characteristics" in n)
    total = next(r for r in t1.iter_rows(values_only=True) if r[0] == "Total patients")
    assert [v for v in total if isinstance(v, int | float)] == [39, 26, 13]
    sex = next(r for r in t1.iter_rows() if r[0].value == "Sex")
    p = [c for c in sex if isinstance(c.value, float)]
    assert len(p) == 1 and p[0].number_format == "0.000"
    assert sex[-1].value in ("a", "b", "c")
    sheet = next(wb[n] for n in wb.sheetnames if n not in (t1.title, "README", "Results") and "Results" not in n
                 and "README" not in n)
    last = [r for r in sheet.iter_rows(values_only=True) if r[0] == "All centres"][0]
    assert last[1:5] == (39, 39, 26, 13)


def test_known_cells_of_typed_columns_equal_the_general_reading() -> None:
    """Completeness of numeric, boolean, date and text columns read by their dtype equals the cell-by-cell
    reading of the same values as Python objects (missing, the code "unknown", "ND" for MRD)."""
    import numpy as np
    import pandas as pd

    from blincompass.dictionary.model import Variable
    from blincompass.report.centres import _known

    frame = pd.DataFrame({
        "num": pd.Series([1.5, np.nan, 0.0, 2.0]),
        "int": pd.Series([1, None, 3, 4], dtype="Int64"),
        "flag": pd.Series([True, False, None, True], dtype="boolean"),
        "day": pd.to_datetime(["2020-01-01", None, "2021-05-02", "2019-12-31"]),
        "text": pd.Series(["a", "unknown", None, "b"], dtype="string"),
        "mrd": pd.Series([0.001, None, None, 0.2]),
        "mrd_status": pd.Series(["LEVEL", "ND", None, "unknown"], dtype="string"),
    })
    want = {"num": [1, 0, 1, 1], "int": [1, 0, 1, 1], "flag": [1, 1, 0, 1], "day": [1, 0, 1, 1],
            "text": [1, 0, 0, 1], "mrd": [1, 0, 0, 0]}
    for name, expected in want.items():
        var = Variable(name=name, label=name, type="mrd" if name == "mrd" else "string")
        got = _known(frame, var)
        as_objects = _known(frame.astype(object), var)
        assert got.tolist() == [bool(x) for x in expected], name
        assert as_objects.tolist() == got.tolist(), name
