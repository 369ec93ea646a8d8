"""REDCap data dictionary <-> blincompass data dictionary."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import tomli_w

from blincompass.dictionary import load_dictionary
from blincompass.io.raw import InputReadError
from blincompass.io.redcap import read_redcap
from blincompass.io.redcap_dictionary import (
    REDCAP_COLUMNS,
    dictionary_from_redcap,
    redcap_csv_text,
    redcap_rows,
    repeating_forms,
    write_redcap_dictionary,
)

FIX = Path(__file__).parents[1] / "fixtures" / "redcap"
CART = FIX / "car_t_dictionary.csv"


def test_shipped_dictionary_survives_redcap_round_trip(tmp_path: Path) -> None:
    d = load_dictionary()
    path = write_redcap_dictionary(tmp_path / "dd.csv", d)
    back = dictionary_from_redcap(path, name=d.meta.name, version=d.meta.version, repeating=repeating_forms(d))
    assert back.model() == d
    assert [(i.rule, i.value) for i in back.issues] == [("redcap.form_one_row", "outcomes")]


def test_export_is_a_redcap_dictionary() -> None:
    text = redcap_csv_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert tuple(rows[0]) == REDCAP_COLUMNS
    names = [r["Variable / Field Name"] for r in rows]
    assert names[0] == "patient_id" and names.count("patient_id") == 1  # the record id, once
    assert len(names) == len(set(names))  # REDCap field names are project-wide
    by = {r["Variable / Field Name"]: r for r in rows}
    assert by["sex"]["Field Type"] == "dropdown"
    assert by["sex"]["Choices, Calculations, OR Slider Labels"] == "M, Male | F, Female"
    assert by["birth_date"]["Text Validation Type OR Show Slider Number"] == "date_ymd"
    assert (by["course"]["Text Validation Min"], by["course"]["Text Validation Max"]) == ("1", "20")
    assert by["in_trial"]["Field Type"] == "yesno"
    # a variable whose name another form already holds is renamed, its own name kept in the annotation
    assert by["adverse_events_course"]["Form Name"] == "adverse_events"
    assert '"name": "course"' in by["adverse_events_course"]["Field Annotation"]
    assert repeating_forms() == ["courses", "assessments", "adverse_events"]
    assert len(redcap_rows()) == len(rows)


def test_export_writes_required_if_as_branching_logic() -> None:
    d = load_dictionary()
    conditional = [(f, v) for f in d.forms for v in f.variables if v.required_if is not None]
    assert conditional
    rows = {(r["Form Name"], r["Variable / Field Name"]): r for r in redcap_rows(d)}
    form, var = conditional[0]
    row = rows.get((form.name, var.name)) or rows[(form.name, f"{form.name}_{var.name}")]
    assert row["Required Field?"] == "y"
    assert row["Branching Logic (Show field only if...)"].startswith(f"[{var.required_if.field}]")


def test_car_t_dictionary_converts_field_by_field() -> None:
    st = dictionary_from_redcap(CART, name="CAR-T", repeating=["toxicity"])
    d = st.model()
    assert d.meta.name == "CAR-T"
    assert d.form_names == ["enrolment", "infusion", "toxicity"]
    enrol, infusion, tox = d.forms
    assert enrol.key == ("patient_id",) and tox.key == ("patient_id", "instance")
    assert enrol.columns == ["patient_id", "sex", "dob", "weight", "disease", "disease_other", "prior_hsct",
                             "hsct_date", "prior_tx_1", "prior_tx_2", "prior_tx_3", "centre"]
    assert enrol.variable("patient_id").label == "Study ID"
    sex = enrol.variable("sex")
    assert (sex.type, sex.required, [(c.code, c.label) for c in sex.codes]) == (
        "code", True, [("1", "Male"), ("2", "Female")])
    assert enrol.variable("dob").type == "date"
    w = enrol.variable("weight")
    assert (w.type, w.min, w.max, w.required) == ("number", 2, 150, False)
    other = enrol.variable("disease_other")
    assert other.required is False and other.required_if is not None
    assert (other.required_if.field, other.required_if.in_) == ("disease", ("3",))
    hsct = enrol.variable("hsct_date")
    assert (hsct.required_if.field, hsct.required_if.in_) == ("prior_hsct", (True,))
    assert enrol.variable("prior_tx_3").type == "boolean"
    assert enrol.variable("prior_tx_3").label == "Prior therapies: Inotuzumab"
    assert infusion.variable("patient_id").references == "enrolment.patient_id"
    onset = tox.variable("crs_onset")
    assert (onset.type, onset.min, onset.max) == ("integer", 0, 60)
    assert onset.required_if.in_ == ("1", "2", "3", "4")
    icans = tox.variable("icans_grade")
    assert (icans.type, icans.min, icans.max, icans.required, icans.required_if) == ("integer", 0, 100, False, None)
    assert "[crs_grade] <> '' and [sex] = '1'" in icans.note
    assert sorted((i.rule, i.field) for i in st.issues) == [
        ("redcap.branching", "icans_grade"), ("redcap.date_range", "hsct_date"), ("redcap.field_skipped", "bmi"),
        ("redcap.field_skipped", "info_text"), ("redcap.form_one_row", None)]
    assert st.mapping == {
        "source": {"record_id": "record_id"},
        "forms": {
            "enrolment": {"fields": {"prior_tx_1": {"checkbox": "prior_tx", "code": "1"},
                                     "prior_tx_2": {"checkbox": "prior_tx", "code": "2"},
                                     "prior_tx_3": {"checkbox": "prior_tx", "code": "3"},
                                     "centre": {"dag": True}}},
            "toxicity": {"fields": {"instance": {"instance": True}}},
        },
    }


def test_car_t_records_read_through_the_generated_mapping(tmp_path: Path) -> None:
    st = dictionary_from_redcap(CART, repeating=["toxicity"])
    (tmp_path / "mapping.toml").write_text(tomli_w.dumps(st.mapping), encoding="utf-8")
    res = read_redcap(FIX / "car_t_records.csv", CART, tmp_path / "mapping.toml", st.model())
    assert res.issues == ()
    enrol = res.raw.tables["enrolment"]
    rows = {cells[0]: dict(zip(enrol.header, cells, strict=True)) for _, cells in enrol.rows}
    assert rows["CT-01"]["sex"] == "Male" and rows["CT-01"]["centre"] == "centre_a"
    assert (rows["CT-01"]["prior_tx_1"], rows["CT-01"]["prior_tx_2"]) == ("yes", "no")
    assert rows["CT-02"]["disease_other"] == "Mixed phenotype"
    tox = res.raw.tables["toxicity"]
    assert [(n, c[0], c[1], c[-1]) for n, c in tox.rows] == [(3, "CT-01", "Grade 2", "1"), (4, "CT-01", "None", "2")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repeating": ["nope"]}, "repeating instrument(s) ['nope'] are not in the data dictionary"),
        ({"repeating": ["enrolment"]}, "the record id's instrument 'enrolment' cannot be repeating"),
        ({"record_id": "no_such"}, "record id field 'no_such' is not in the data dictionary"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs: dict, message: str) -> None:
    with pytest.raises(InputReadError, match="car_t_dictionary.csv") as err:
        dictionary_from_redcap(CART, **kwargs)
    assert message in str(err.value)


def test_not_a_redcap_dictionary(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputReadError, match="is not a REDCap data dictionary"):
        dictionary_from_redcap(bad)
