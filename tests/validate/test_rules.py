"""Each validation rule: a failing case (a single change to the valid example) and the passing example."""

import dataclasses

import pandas as pd
import pytest

from blincompass.io import example_dir
from blincompass.validate import Finding, load_dataset, validate
from blincompass.validate.rules import rule_ids
from tests.validate.helpers import (
    add_row,
    copy_example,
    delete_row,
    edit,
    errors,
    findings,
    read_rows,
    row_of,
    write_rows,
)


@pytest.fixture
def ex(tmp_path):
    return copy_example(tmp_path)


def only(found: list[Finding]) -> Finding:
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- the valid example
def test_example_is_valid():
    res = load_dataset(example_dir())
    assert res.ok and res.n_errors == 0
    assert {f.rule for f in res.findings} <= {"ae.term_not_ctcae", "ae.term_unmapped"}
    ds = res.dataset
    assert len(ds.patients) == 8 and ds.patients["centre"].nunique() == 3
    assert ds.patients["in_trial"].sum() == 1
    assert ds.adverse_events["grade"].isna().sum() == 1  # an AE of unknown grade
    assert (~ds.outcomes["tox_data_available"]).sum() == 1
    first = ds.courses[ds.courses["course"] == 1].set_index("patient_id")["start_date"]
    assert ((first >= "2015-01-01") & (first <= "2020-12-31")).sum() == 7
    born = ds.patients.set_index("patient_id")["birth_date"]
    age = (first - born).dt.days / 365.25
    assert (age.between(23, 24)).sum() == 1


def test_finding_fields_and_order():
    assert [f.name for f in dataclasses.fields(Finding)] == [
        "severity", "file", "row", "patient_id", "field", "value", "rule", "message",
    ]


def test_findings_sorted(ex):
    edit(ex, "patients", 3, "sex", "X")
    edit(ex, "courses", 2, "schedule", "weekly")
    edit(ex, "patients", 2, "sex", "Y")
    res = load_dataset(ex)
    keys = [f.sort_key() for f in res.findings]
    assert keys == sorted(keys)
    assert [f.file for f in res.findings if f.severity == "error"] == ["courses.csv", "patients.csv", "patients.csv"]


# ---------------------------------------------------------------- structure
def test_form_missing(ex):
    (ex / "outcomes.csv").unlink()
    f = only(errors(ex, "form.missing"))
    assert f.file == "outcomes.csv" and "outcomes" in f.message
    # without outcomes no per-patient outcome check fires
    assert not errors(ex, "patient.outcomes")


def test_form_missing_in_workbook(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "patients"
    wb.active.append(["patient_id"])
    wb.save(tmp_path / "cohort.xlsx")
    found = errors(tmp_path / "cohort.xlsx", "form.missing")
    assert [f.file for f in found] == [
        "cohort.xlsx[adverse_events]", "cohort.xlsx[assessments]", "cohort.xlsx[courses]", "cohort.xlsx[outcomes]",
    ]


def test_column_missing_unknown_duplicate_unnamed(ex):
    rows = read_rows(ex, "patients")
    i = rows[0].index("sex")
    j = rows[0].index("relapse_site")
    for r in rows:
        del r[max(i, j)]
        del r[min(i, j)]
    rows[0].append("favourite_colour")
    rows[0].append("Centre")
    for r in rows[1:]:
        r.append("blue")
        r.append("X")
    rows[0].append("")
    for r in rows[1:]:
        r.append("stray")
    write_rows(ex, "patients", rows)
    res = load_dataset(ex)
    by_rule = {}
    for f in res.findings:
        by_rule.setdefault(f.rule, []).append(f)
    miss = {f.field: f.severity for f in by_rule["column.missing"]}
    assert miss == {"sex": "error", "relapse_site": "error"}  # required / conditionally required
    assert only(by_rule["column.unknown"]).value == "favourite_colour"
    assert only(by_rule["column.duplicate"]).severity == "error"
    assert only(by_rule["column.unnamed"]).severity == "warning"
    assert "required" not in by_rule  # no per-row noise for a missing column
    assert res.dataset.patients["sex"].isna().all()
    assert res.dataset.patients["centre"].iloc[0] == "C1"  # the first of duplicate columns is read


def test_optional_column_missing_is_a_warning(ex):
    rows = read_rows(ex, "adverse_events")
    k = rows[0].index("onset_date")
    write_rows(ex, "adverse_events", [r[:k] + r[k + 1 :] for r in rows])
    f = only(findings(ex, "column.missing"))
    assert f.severity == "warning" and f.field == "onset_date"


def test_empty_patients_form(ex):
    write_rows(ex, "patients", read_rows(ex, "patients")[:1])
    assert only(findings(ex, "form.empty")).severity == "warning"


# ---------------------------------------------------------------- cells
@pytest.mark.parametrize(
    "form, field, value, rule",
    [
        ("patients", "birth_date", "31/02/2008", "type.date"),
        ("patients", "sex", "X", "code.allowed"),
        ("patients", "prior_hsct", "1.5", "type.integer"),
        ("patients", "prior_hsct", "9", "range"),
        ("patients", "in_trial", "perhaps", "type.boolean"),
        ("patients", "patient_id", "C1 001", "pattern"),
        ("assessments", "bm_blasts", "101", "range"),
        ("assessments", "bm_blasts", "1.234,5", "type.number"),
        ("assessments", "pcr_mrd", "<1x10-4", "type.mrd"),
        ("assessments", "fc_mrd", "1.5", "range"),
    ],
)
def test_cell_errors_keep_row_and_blank_cell(ex, form, field, value, rule):
    edit(ex, form, 2, field, value)
    res = load_dataset(ex)
    f = only([x for x in res.findings if x.rule == rule])
    assert (f.severity, f.row, f.field, f.value) == ("error", 2, field, value)
    assert f.file == f"{form}.csv"
    df = res.dataset.forms[form]
    assert len(df) == len(read_rows(ex, form)) - 1  # the row stays
    assert pd.isna(df.loc[df["_row"] == 2, field].iloc[0])  # the bad cell is missing


def test_required(ex):
    edit(ex, "patients", 2, "birth_date", "n.a.")
    f = only(errors(ex, "required"))
    assert (f.row, f.field, f.patient_id) == (2, "birth_date", "C1-001")
    assert "required" in f.message


def test_required_if(ex):
    r = row_of(ex, "courses", patient_id="C1-002")
    edit(ex, "courses", r, "discontinuation_reason", "")
    f = only(errors(ex, "required_if"))
    assert f.field == "discontinuation_reason" and "discontinued" in f.message
    r = row_of(ex, "outcomes", patient_id="C2-005")
    edit(ex, "outcomes", r, "relapse_site", "")
    assert {f.field for f in errors(ex, "required_if")} == {"discontinuation_reason", "relapse_site"}


def test_required_if_with_explicit_unknown_grade_is_satisfied(ex):
    assert not errors(ex, "required")  # the example has grade "unknown"
    r = row_of(ex, "adverse_events", patient_id="C3-007", ae_term="Tremor")
    edit(ex, "adverse_events", r, "grade", "")
    assert only(errors(ex, "required")).field == "grade"


def test_conditional_unexpected(ex):
    edit(ex, "courses", 2, "discontinuation_day", "5")
    f = only(findings(ex, "conditional.unexpected"))
    assert f.severity == "warning" and f.field == "discontinuation_day"


def test_ae_term_findings(ex):
    r = row_of(ex, "adverse_events", patient_id="C1-001")
    edit(ex, "adverse_events", r, "ae_term", "Wobbly feeling")
    f = only(findings(ex, "ae.term_unmapped"))
    assert f.severity == "warning" and "accepted as reported" in f.message
    res = load_dataset(ex)
    ae = res.dataset.adverse_events
    row = ae[ae["_row"] == r].iloc[0]
    assert (row["ae_term"], row["ae_term_ctcae"], row["ae_term_status"]) == ("Wobbly feeling", None, "unmapped")
    nearest = [x for x in res.findings if x.rule == "ae.term_not_ctcae" and x.value == "Rash"]
    assert only(nearest).severity == "warning" and "Rash maculo-papular" in nearest[0].message
    syn = [x for x in res.findings if x.rule == "ae.term_not_ctcae" and x.value == "Thrombocytopenia"]
    assert only(syn).severity == "info"


# ---------------------------------------------------------------- keys and references
def test_key_unique(ex):
    r = add_row(ex, "courses", dict(zip(read_rows(ex, "courses")[0], read_rows(ex, "courses")[1], strict=True)))
    f = only(errors(ex, "key.unique"))
    assert f.row == r and "row 2" in f.message


def test_key_unique_patients_case_insensitive(ex):
    rows = read_rows(ex, "patients")
    rows.append([rows[1][0].lower()] + rows[1][1:])
    write_rows(ex, "patients", rows)
    assert only(errors(ex, "key.unique")).patient_id == "c1-001"


def test_reference_patient(ex):
    edit(ex, "assessments", 2, "patient_id", "C9-999")
    f = only(errors(ex, "reference"))
    assert f.file == "assessments.csv" and "C9-999" in f.message


def test_reference_ae_course(ex):
    r = row_of(ex, "adverse_events", patient_id="C1-002")
    edit(ex, "adverse_events", r, "course", "2")
    f = only(errors(ex, "reference"))
    assert f.field == "course" and "no course 2" in f.message


def test_patient_without_outcome_or_course(ex):
    delete_row(ex, "outcomes", row_of(ex, "outcomes", patient_id="C2-003"))
    f = only(errors(ex, "patient.outcomes"))
    assert (f.file, f.patient_id) == ("patients.csv", "C2-003")
    delete_row(ex, "courses", row_of(ex, "courses", patient_id="C2-003"))
    assert only(errors(ex, "patient.courses")).patient_id == "C2-003"


# ---------------------------------------------------------------- courses and assessments
def test_course_numbering_gap(ex):
    r = row_of(ex, "courses", patient_id="C3-007", course="2")
    edit(ex, "courses", r, "course", "4")
    found = errors(ex, "course.numbering")
    assert any("course 2" in f.message for f in found)


def test_course_numbering_must_start_at_one(ex):
    r = row_of(ex, "courses", patient_id="C1-002")
    edit(ex, "courses", r, "course", "2")
    f = only(errors(ex, "course.numbering"))
    assert f.patient_id == "C1-002" and "course 1 is missing" in f.message


def test_course_end_before_start(ex):
    edit(ex, "courses", 2, "end_date", "2017-02-01")
    f = only(errors(ex, "course.dates"))
    assert f.field == "end_date" and f.value == "2017-02-01"


def test_course_overlap(ex):
    edit(ex, "courses", 3, "start_date", "2017-03-01")
    f = only(errors(ex, "course.order"))
    assert f.row == 3 and "before course 1 ends" in f.message


def test_assessment_for_missing_course(ex):
    r = row_of(ex, "assessments", patient_id="C2-003", timepoint="after_c1")
    edit(ex, "assessments", r, "timepoint", "after_c2")
    assert only(errors(ex, "assessment.course")).patient_id == "C2-003"


def test_assessment_before_its_course(ex):
    r = row_of(ex, "assessments", patient_id="C1-001", timepoint="after_c2")
    edit(ex, "assessments", r, "assessment_date", "2017-03-10")
    f = only(errors(ex, "chronology.course_before_assessment"))
    assert f.row == r


# ---------------------------------------------------------------- chronology
def test_birth_before_diagnosis(ex):
    edit(ex, "patients", 2, "diagnosis_date", "2007-01-01")
    assert only(errors(ex, "chronology.birth_before_diagnosis")).field == "diagnosis_date"


def test_diagnosis_before_first_course(ex):
    edit(ex, "patients", 2, "diagnosis_date", "2017-03-01")
    f = only(errors(ex, "chronology.diagnosis_before_first_course"))
    assert f.patient_id == "C1-001" and "2017-02-06" in f.message


def test_baseline_rules(ex):
    r = row_of(ex, "assessments", patient_id="C1-001", timepoint="baseline")
    edit(ex, "assessments", r, "assessment_date", "2017-02-07")
    assert only(errors(ex, "chronology.baseline_before_first_course")).row == r
    edit(ex, "assessments", r, "assessment_date", "2016-11-01")
    f = only(findings(ex, "chronology.baseline_window"))
    assert f.severity == "warning" and "97 days" in f.message
    edit(ex, "assessments", r, "assessment_date", "2016-12-08")  # 60 days: fine
    assert not findings(ex, "chronology.baseline_window")


def test_baseline_window_overridable(ex, monkeypatch):
    from blincompass.validate import rules

    monkeypatch.setattr(rules, "BASELINE_WINDOW_DAYS", 3)
    assert findings(ex, "chronology.baseline_window")


def test_events_before_first_course(ex):
    r = row_of(ex, "assessments", patient_id="C1-001", timepoint="after_c1")
    edit(ex, "assessments", r, "assessment_date", "2017-02-01")
    r2 = row_of(ex, "outcomes", patient_id="C1-001")
    edit(ex, "outcomes", r2, "hsct_date", "2016-12-01")
    r3 = row_of(ex, "adverse_events", patient_id="C1-001")
    edit(ex, "adverse_events", r3, "onset_date", "2017-01-01")
    found = errors(ex, "chronology.first_course_before_event")
    assert {(f.file, f.field) for f in found} == {
        ("assessments.csv", "assessment_date"),
        ("outcomes.csv", "hsct_date"),
        ("adverse_events.csv", "onset_date"),
    }


def test_ae_onset_before_its_course(ex):
    r = row_of(ex, "adverse_events", patient_id="C3-006")
    edit(ex, "adverse_events", r, "onset_date", "2020-02-01")
    assert only(errors(ex, "chronology.course_before_ae")).row == r


def test_nothing_after_death(ex):
    r = row_of(ex, "outcomes", patient_id="C2-005")
    edit(ex, "outcomes", r, "death_date", "2019-09-01")
    edit(ex, "outcomes", r, "last_followup_date", "2019-09-01")
    f = only(errors(ex, "chronology.after_death"))
    assert f.field == "relapse_date"
    edit(ex, "outcomes", r, "death_date", "2019-03-01")
    edit(ex, "outcomes", r, "last_followup_date", "2019-03-01")
    fields = {(x.file, x.field) for x in errors(ex, "chronology.after_death")}
    assert ("courses.csv", "end_date") in fields and ("assessments.csv", "assessment_date") in fields


def test_last_followup_after_events(ex):
    r = row_of(ex, "outcomes", patient_id="C1-001")
    edit(ex, "outcomes", r, "last_followup_date", "2017-05-01")
    f = only(errors(ex, "chronology.after_last_followup"))
    assert f.field == "hsct_date"


def test_followup_vs_death(ex):
    r = row_of(ex, "outcomes", patient_id="C1-002")
    edit(ex, "outcomes", r, "last_followup_date", "2019-02-01")
    f = only(findings(ex, "chronology.followup_after_death"))
    assert f.severity == "warning"
    edit(ex, "outcomes", r, "last_followup_date", "2019-01-10")
    assert only(errors(ex, "chronology.after_last_followup")).field == "death_date"


def test_grade5_requires_death(ex):
    r = row_of(ex, "adverse_events", patient_id="C1-001")
    edit(ex, "adverse_events", r, "grade", "5")
    assert only(errors(ex, "ae.grade5_without_death")).patient_id == "C1-001"
    r = row_of(ex, "adverse_events", patient_id="C1-002")
    edit(ex, "adverse_events", r, "grade", "5")
    assert len(errors(ex, "ae.grade5_without_death")) == 1  # C1-002 died


def test_ae_for_patient_without_tox_data(ex):
    add_row(ex, "adverse_events", {
        "patient_id": "C3-008", "course": "1", "ae_term": "Fever", "grade": "1",
        "led_to_interruption": "no", "led_to_discontinuation": "no",
    })
    assert only(errors(ex, "ae.tox_data_unavailable")).patient_id == "C3-008"


# ---------------------------------------------------------------- general
def test_rule_ids_documented():
    ids = set(rule_ids())
    assert {"type.date", "code.allowed", "range", "required", "required_if", "key.unique", "reference",
            "course.numbering", "chronology.diagnosis_before_first_course", "chronology.after_death",
            "form.missing", "column.missing", "column.unknown", "ae.term_not_ctcae"} <= ids


def test_validate_accepts_raw_and_dictionary():
    from blincompass.dictionary import load_dictionary
    from blincompass.io import read_raw

    res = validate(read_raw(example_dir()), load_dictionary())
    assert res.ok and res.n_warnings >= 1


def test_round_trip_bytes(tmp_path, ex):
    res = load_dataset(ex)
    res.dataset.to_csv_dir(tmp_path / "out")
    for p in sorted(ex.iterdir()):
        assert (tmp_path / "out" / p.name).read_bytes() == p.read_bytes(), p.name


def test_round_trip_normalises_messy_input(tmp_path, ex):
    edit(ex, "patients", 2, "sex", " maschio ")
    edit(ex, "patients", 2, "birth_date", "14/03/2008")
    edit(ex, "assessments", 2, "pcr_mrd", "1,2x10^-3")
    edit(ex, "assessments", 2, "bm_blasts", "2,5%")
    res = load_dataset(ex)
    assert res.ok
    res.dataset.to_csv_dir(tmp_path / "out")
    for p in sorted(example_dir().iterdir()):
        assert (tmp_path / "out" / p.name).read_bytes() == p.read_bytes(), p.name


def test_reference_case_hint(ex):
    edit(ex, "courses", 2, "patient_id", "c1-001")
    found = errors(ex, "reference")
    assert any("did you mean C1-001" in f.message for f in found)


def test_no_reference_noise_without_patients_or_courses(ex):
    (ex / "patients.csv").unlink()
    (ex / "courses.csv").unlink()
    res = load_dataset(ex)
    assert {f.rule for f in res.findings if f.severity == "error"} == {"form.missing"}


def test_patient_without_baseline(ex):
    delete_row(ex, "assessments", row_of(ex, "assessments", patient_id="C2-003", timepoint="baseline"))
    f = only(findings(ex, "patient.baseline"))
    assert (f.severity, f.patient_id) == ("warning", "C2-003")


def test_assessment_after_next_course(ex):
    r = row_of(ex, "assessments", patient_id="C1-001", timepoint="after_c1")
    edit(ex, "assessments", r, "assessment_date", "2017-04-17")
    f = only(findings(ex, "chronology.assessment_after_next_course"))
    assert f.severity == "warning" and "after_c2" in f.message


def test_spreadsheet_realities_validate_cleanly(ex):
    c = row_of(ex, "courses", patient_id="C1-001", course="1")
    edit(ex, "courses", c, "patient_id", " C1-001\u00a0")  # stray and non-breaking spaces
    edit(ex, "courses", c, "start_date", "06/02/2017")  # dd/mm/yyyy text
    edit(ex, "courses", c, "end_date", "42799")  # Excel serial number exported as text
    edit(ex, "courses", c, "course", "1.0")  # integer delivered as 1.0
    edit(ex, "courses", c, "interrupted", "No")
    edit(ex, "patients", 2, "karyotype", "Hyperdiploid ")  # label instead of code
    edit(ex, "patients", 4, "karyotype", "Unknown")  # unknown where allowed
    edit(ex, "patients", 4, "relapse_site", "Combined relapse")
    o = row_of(ex, "outcomes", patient_id="C2-003")
    edit(ex, "outcomes", o, "death_date", "n.a.")  # missing spellings
    edit(ex, "outcomes", o, "hsct_date", "NA")
    edit(ex, "outcomes", o, "last_followup_date", "1 marzo 2021")
    a = row_of(ex, "assessments", patient_id="C1-001", timepoint="baseline")
    edit(ex, "assessments", a, "bm_blasts", "2,5")
    edit(ex, "assessments", a, "pcr_mrd", "1,2 x 10^-3")
    edit(ex, "assessments", a, "timepoint", "Before blinatumomab")
    res = load_dataset(ex)
    assert res.ok, [f for f in res.findings if f.severity == "error"]
    ref = load_dataset(example_dir()).dataset
    for name in ref.forms:
        assert res.dataset.forms[name].drop(columns="_file").equals(ref.forms[name].drop(columns="_file")), name


def test_form_missing_names_ignored_sheets(tmp_path):
    import openpyxl

    from tests.validate.helpers import example_to_xlsx

    path = example_to_xlsx(tmp_path / "cohort.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["outcomes"].title = "Outcome"
    wb.save(path)
    f = only(errors(path, "form.missing"))
    assert f.file == "cohort.xlsx[outcomes]" and "found, not used: README, Outcome" in f.message
