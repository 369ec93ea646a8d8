"""Studies other than BLIN-COMPASS are validated from their own dictionary: its forms, fields and checks,
and no BLIN-COMPASS rule."""

import textwrap
from pathlib import Path

import pytest

from blincompass.dictionary import DataDictionary, load_dictionary
from blincompass.dictionary.model import DictionaryError
from blincompass.io import read_raw
from blincompass.validate import validate

TRANSPLANT = """
[meta]
name = "TX-COHORT"
patient_form = "transplants"
patient_id = "pid"
centre = "hospital"
earliest_date = 1990-01-01

[[forms]]
name = "transplants"
label = "Transplants"
key = ["pid"]

[[forms.variables]]
name = "pid"
label = "Patient"
type = "string"
required = true

[[forms.variables]]
name = "hospital"
label = "Hospital"
type = "code"
required = true
codes = [{ code = "H1", label = "Hospital 1" }, { code = "H2", label = "Hospital 2" }]

[[forms.variables]]
name = "disease_group"
label = "Disease group"
type = "code"
required = true
codes = [{ code = "all", label = "ALL" }, { code = "aml", label = "AML" }, { code = "mds", label = "MDS" }]

[[forms.variables]]
name = "diagnosis_date"
label = "Diagnosis"
type = "date"
required = true

[[forms.variables]]
name = "transplant_date"
label = "Transplant"
type = "date"
required = true
earliest = 2000-01-01

[[forms.variables]]
name = "relapse"
label = "Relapse"
type = "boolean"
required = true

[[forms.variables]]
name = "relapse_date"
label = "Relapse date"
type = "date"
required_if = { field = "relapse", in = [true] }

[[forms.variables]]
name = "last_contact"
label = "Last contact"
type = "date"
required = true

[[checks]]
kind = "order"
rule = "chronology.transplant_after_diagnosis"
form = "transplants"
earlier = "transplants.diagnosis_date"
later = "transplants.transplant_date"
message = "transplant ({later}) before diagnosis ({earlier})"

[[checks]]
kind = "order"
rule = "chronology.relapse_after_transplant"
form = "transplants"
earlier = "transplants.transplant_date"
later = "transplants.relapse_date"
strict = true
"""

TX_ROWS = """\
pid,hospital,disease_group,diagnosis_date,transplant_date,relapse,relapse_date,last_contact,donor
T1,H1,all,2010-01-05,2010-06-01,no,,2012-01-01,sibling
T2,H2,aml,2011-03-01,2011-02-01,yes,2011-02-01,2013-01-01,mud
T3,H3,mds,1985-01-01,1999-12-31,yes,,2014-01-01,
"""

BLIN_RULES = {"patient.courses", "patient.outcomes", "patient.baseline", "course.numbering", "course.order",
              "course.dates", "assessment.course", "ae.grade5_without_death", "ae.tox_data_unavailable"}


def _dictionary(tmp_path: Path, text: str) -> DataDictionary:
    p = tmp_path / "dictionary.toml"
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_dictionary(p)


def _write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.csv").write_text(text, encoding="utf-8")


def test_transplant_cohort_one_form(tmp_path):
    d = _dictionary(tmp_path, TRANSPLANT)
    assert (d.patient_form.name, d.patient_id, d.centre) == ("transplants", "pid", "hospital")
    assert d.meta.missing_tokens[:2] == ("", "na") and "yes" in d.meta.true_tokens  # defaults
    data = tmp_path / "data"
    _write(data, "transplants", TX_ROWS)
    res = validate(read_raw(data, d.form_names), d, data_cutoff=None)
    got = {(f.rule, f.row, f.field, f.value) for f in res.findings}
    assert got == {
        ("column.unknown", 1, None, "donor"),  # reported, never silently dropped
        ("code.allowed", 4, "hospital", "H3"),
        ("range", 4, "diagnosis_date", "1985-01-01"),  # meta.earliest_date
        ("range", 4, "transplant_date", "1999-12-31"),  # the variable's earliest
        ("required_if", 4, "relapse_date", None),
        ("chronology.transplant_after_diagnosis", 3, "transplant_date", "2011-02-01"),
        ("chronology.relapse_after_transplant", 3, "relapse_date", "2011-02-01"),
    }
    by_rule = {f.rule: f for f in res.findings}
    assert by_rule["chronology.transplant_after_diagnosis"].message == (
        "transplant (2011-02-01) before diagnosis (2011-03-01)")
    assert by_rule["chronology.relapse_after_transplant"].message == (
        "transplants.relapse_date (2011-02-01) is not after transplants.transplant_date (2011-02-01)")
    assert "implausible (outside 1990-01-01 to 2100-12-31)" in next(
        f.message for f in res.findings if f.field == "diagnosis_date")
    assert not {f.rule for f in res.findings} & BLIN_RULES
    assert list(res.dataset.forms) == ["transplants"]
    assert res.dataset.forms["transplants"]["disease_group"].tolist() == ["all", "aml", "mds"]


CART = """
[meta]
name = "CART"
centre = ""

[[forms]]
name = "patients"
label = "Patients"
key = ["patient_id"]
variables = [
  { name = "patient_id", label = "Patient", type = "string", required = true },
  { name = "apheresis_date", label = "Apheresis", type = "date", required = true },
  { name = "death_date", label = "Death", type = "date" },
]

[[forms]]
name = "infusions"
label = "Infusions"
key = ["patient_id", "infusion"]
rows_per_patient = "at_least_one"
variables = [
  { name = "patient_id", label = "Patient", type = "string", required = true },
  { name = "infusion", label = "Infusion number", type = "integer", required = true, min = 1 },
  { name = "infusion_date", label = "Infusion date", type = "date", required = true },
  { name = "crs_grade", label = "CRS grade (ASTCT)", type = "integer", min = 0, max = 5 },
]

[[checks]]
kind = "numbering"
rule = "infusion.numbering"
form = "infusions"
field = "infusion"

[[checks]]
kind = "sequence"
rule = "infusion.order"
form = "infusions"
order_by = "infusion"
start = "infusion_date"
message = "infusion {infusion} ({infusion_date}) is not after infusion {previous.infusion} ({previous.infusion_date})"

[[checks]]
kind = "order"
rule = "chronology.apheresis_before_infusion"
form = "patients"
earlier = "patients.apheresis_date"
later = { form = "infusions", value = "infusion_date", pick = "min" }
at = "earlier"

[[checks]]
kind = "requires"
rule = "crs.grade5_without_death"
form = "infusions"
when = { field = "crs_grade", in = [5] }
then = { field = "patients.death_date", present = true }
field = "crs_grade"
"""


def test_two_form_study_with_a_repeating_form(tmp_path):
    d = _dictionary(tmp_path, CART)
    assert d.centre is None and d.rows_per_patient("infusions") == "at_least_one"
    data = tmp_path / "data"
    _write(data, "patients", "patient_id,apheresis_date,death_date\nP1,2020-01-10,\nP2,2020-02-01,\nP3,2020-03-01,\n")
    _write(data, "infusions", "patient_id,infusion,infusion_date,crs_grade\n"
           "P1,1,2020-02-01,1\nP1,3,2020-03-01,5\nP2,1,2020-01-15,0\nP2,2,2020-01-10,\nP9,1,2020-01-01,\n")
    res = validate(read_raw(data, d.form_names), d)
    got = sorted((f.rule, f.file, f.row, f.patient_id, f.field) for f in res.findings)
    assert got == [
        ("chronology.apheresis_before_infusion", "patients.csv", 3, "P2", "apheresis_date"),
        ("crs.grade5_without_death", "infusions.csv", 3, "P1", "crs_grade"),
        ("infusion.numbering", "infusions.csv", 3, "P1", "infusion"),
        ("infusion.order", "infusions.csv", 5, "P2", "infusion_date"),
        ("patient.infusions", "patients.csv", 4, "P3", "patient_id"),
        ("reference", "infusions.csv", 6, "P9", "patient_id"),
    ]
    msg = {f.rule: f.message for f in res.findings}
    assert msg["infusion.order"] == "infusion 2 (2020-01-10) is not after infusion 1 (2020-01-15)"
    assert msg["patient.infusions"] == "patient P3 has no row in the infusions form (at least one is required)"
    assert msg["reference"] == "patient P9 is not in the patients form"
    assert msg["infusion.numbering"] == (
        "infusion of patient P1 must run 1, 2, ... without gaps; infusion 2 is missing before 3")
    assert msg["chronology.apheresis_before_infusion"] == (
        "min infusions.infusion_date (2020-01-10) is before patients.apheresis_date (2020-02-01)")


@pytest.mark.parametrize(("change", "expected"), [
    (('form = "infusions"\nfield = "infusion"', 'form = "infusion"\nfield = "infusion"'),
     "checks[0] (numbering, infusion.numbering).form: 'infusion' is not a form; forms: infusions, patients"),
    (('field = "infusion"\n', 'field = "infusion_no"\n'),
     "checks[0] (numbering, infusion.numbering).field: 'infusion_no' is not a variable of form 'infusions'; "
     "variables: patient_id, infusion, infusion_date, crs_grade"),
    (("({previous.infusion_date})", "({previous.date})"), "unknown placeholder {previous.date}"),
    (('pick = "min"', 'pick = "median"'), "checks[2].later.pick: Input should be 'first', 'last', 'min' or 'max'"),
    (('later = { form = "infusions", value = "infusion_date", pick = "min" }',
      'later = "infusions.infusion_date"'),
     "form 'infusions' has several rows per patient; give pick = first / last / min / max, or match"),
    (('name = "CART"', 'name = "CART"\npatient_form = "subjects"'),
     "meta.patient_form = 'subjects' is not a form; forms: patients, infusions"),
    (('centre = ""', 'centre = "site"'), "meta.centre = 'site' is not a variable of the patient form 'patients'"),
    (('in = [5]', 'in = ["5"], not_in = [4]'), "give exactly one of in, not_in, present (got in, not_in)"),
    (('kind = "requires"', 'kind = "implies"'), "Input tag 'implies' found using 'kind' does not match"),
])
def test_dictionary_mistakes_are_named(tmp_path, change, expected):
    old, new = change
    assert old in CART
    with pytest.raises(DictionaryError) as err:
        _dictionary(tmp_path, CART.replace(old, new, 1))
    assert str(err.value).startswith(str(tmp_path / "dictionary.toml") + ": ")
    assert expected in str(err.value)


def test_builtin_dictionary_names():
    d = load_dictionary()
    assert (d.patient_form.name, d.patient_id, d.centre) == ("patients", "patient_id", "centre")
    assert [d.rows_per_patient(f) for f in d.form_names] == ["one", "at_least_one", "any", "any", "one"]
    kinds = {c.kind for c in d.checks}
    assert kinds == {"order", "within", "numbering", "sequence", "reference", "requires", "function"}


def test_validate_command_on_another_study(tmp_path):
    from typer.testing import CliRunner

    from blincompass.cli import app

    pkg = tmp_path / "study"
    pkg.mkdir()
    (pkg / "dictionary.toml").write_text(textwrap.dedent(TRANSPLANT), encoding="utf-8")
    # the protocol is not the subject here: the smallest one (no data cut-off: dates up to today)
    (pkg / "protocol.toml").write_text('[study]\nname = "TX"\ntitle = "Transplant cohort"\n', encoding="utf-8")
    _write(tmp_path / "data", "transplants", TX_ROWS)
    res = CliRunner().invoke(app, ["validate", "--json", "--study", str(pkg), str(tmp_path / "data")])
    assert res.exit_code == 1, res.output
    import json

    found = json.loads(res.output)
    assert {f["rule"] for f in found} == {"column.unknown", "code.allowed", "range", "required_if",
                                          "chronology.transplant_after_diagnosis",
                                          "chronology.relapse_after_transplant"}
