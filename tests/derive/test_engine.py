"""Declared derived variables on a small two-form study: every kind, ``when``, ordering and the load-time
checks of a protocol against its dictionary."""

from __future__ import annotations

import datetime as dt
import tomllib

import pandas as pd
import pytest

from blincompass.derive import derive_all
from blincompass.derive.engine import DerivationError, patient_variables
from blincompass.dictionary import DataDictionary
from blincompass.io.dataset import Dataset, build_frame
from blincompass.protocol import Protocol, ProtocolError
from blincompass.protocol.plan import resolve

DICTIONARY = DataDictionary.model_validate(tomllib.loads("""
[meta]
name = "T"
version = "1"
missing_tokens = [""]
true_tokens = ["yes"]
false_tokens = ["no"]

[[forms]]
name = "patients"
label = "Patients"
description = "one row per patient"
key = ["patient_id"]
variables = [
  { name = "patient_id", label = "id", type = "string", required = true },
  { name = "centre", label = "centre", type = "string" },
  { name = "arm", label = "arm", type = "code", codes = [
    { code = "x", label = "Arm X" }, { code = "y", label = "Arm Y" }, { code = "z", label = "Arm Z" }] },
  { name = "birth_date", label = "birth", type = "date" },
  { name = "start_date", label = "start", type = "date" },
  { name = "score", label = "score", type = "number" },
  { name = "flag", label = "flag", type = "boolean" },
  { name = "event_date", label = "event", type = "date" },
  { name = "hsct_date", label = "hsct", type = "date" },
  { name = "death_date", label = "death", type = "date" },
  { name = "last_date", label = "last", type = "date" },
]

[[forms]]
name = "visits"
label = "Visits"
description = "repeating"
key = ["patient_id", "visit"]
variables = [
  { name = "patient_id", label = "id", type = "string", required = true },
  { name = "visit", label = "visit", type = "integer", required = true },
  { name = "visit_date", label = "date", type = "date" },
  { name = "value", label = "value", type = "number" },
  { name = "kind", label = "kind", type = "string" },
]
"""))


def d(s: str | None) -> dt.date | None:
    return None if s is None else dt.date.fromisoformat(s)


PATIENTS = [
    {"patient_id": "A", "centre": "c1", "arm": "x", "birth_date": d("2000-03-15"), "start_date": d("2020-03-14"),
     "score": 4.0, "flag": True, "event_date": d("2020-09-01"), "hsct_date": None, "death_date": None,
     "last_date": d("2021-03-14")},
    {"patient_id": "B", "centre": "c2", "arm": "y", "birth_date": d("2000-03-15"), "start_date": d("2020-03-15"),
     "score": 5.0, "flag": False, "event_date": None, "hsct_date": d("2020-06-01"), "death_date": d("2020-12-01"),
     "last_date": d("2020-12-01")},
    {"patient_id": "C", "centre": "c1", "arm": "z", "birth_date": None, "start_date": d("2020-01-01"),
     "score": None, "flag": None, "event_date": d("2020-02-01"), "hsct_date": d("2020-01-20"), "death_date": None,
     "last_date": d("2020-05-01")},
]
VISITS = [
    {"patient_id": "A", "visit": 2, "visit_date": d("2020-05-01"), "value": 3.0, "kind": "lab"},
    {"patient_id": "A", "visit": 1, "visit_date": d("2020-04-01"), "value": 7.0, "kind": "lab"},
    {"patient_id": "A", "visit": 3, "visit_date": d("2020-06-01"), "value": None, "kind": "imaging"},
    {"patient_id": "B", "visit": 1, "visit_date": d("2020-04-02"), "value": 1.0, "kind": "imaging"},
]


def dataset() -> Dataset:
    return Dataset({"patients": build_frame(DICTIONARY.form("patients"), PATIENTS),
                    "visits": build_frame(DICTIONARY.form("visits"), VISITS)}, "test")


def protocol(text: str) -> Protocol:
    data = tomllib.loads('[study]\nname = "T"\ntitle = "t"\n' + text)
    return Protocol.model_validate(data)


def variables(text: str) -> pd.DataFrame:
    return patient_variables(dataset(), protocol(text), DICTIONARY)[0]


def test_date_differences_in_every_unit():
    v = variables("""
[[derived]]
name = "age"
kind = "date_diff"
from = "birth_date"
to = "start_date"
unit = "completed_years"
[[derived]]
name = "age_years"
kind = "date_diff"
from = "birth_date"
to = "start_date"
unit = "years"
[[derived]]
name = "days"
kind = "date_diff"
from = "start_date"
to = "coalesce(death_date, last_date)"
unit = "days"
[[derived]]
name = "months"
kind = "date_diff"
from = "start_date"
to = "last_date"
unit = "months"
""")
    # completed years: 19 the day before the 20th birthday, 20 on it; missing birth date -> missing
    assert v["age"].tolist()[:2] == [19, 20] and pd.isna(v["age"].iloc[2])
    assert v["age_years"].iloc[0] == pytest.approx(7304 / 365.25)
    assert v["days"].tolist() == [365, 261, 121]
    assert v["months"].iloc[0] == pytest.approx(365 / 30.4375)


def test_aggregates_over_a_repeating_form():
    v = variables("""
[[derived]]
name = "first_value"
kind = "first"
form = "visits"
value = "value"
order_by = "visit"
[[derived]]
name = "last_lab_date"
kind = "last"
form = "visits"
value = "visit_date"
where = "kind == 'lab'"
order_by = "visit_date"
[[derived]]
name = "n_visits"
kind = "count"
form = "visits"
[[derived]]
name = "n_kinds"
kind = "count"
form = "visits"
value = "kind"
[[derived]]
name = "any_imaging"
kind = "any"
form = "visits"
where = "kind == 'imaging'"
[[derived]]
name = "max_value"
kind = "max"
form = "visits"
value = "value"
[[derived]]
name = "total"
kind = "sum"
form = "visits"
value = "value"
[[derived]]
name = "first_date"
kind = "min"
form = "visits"
value = "visit_date"
""")
    assert v["first_value"].tolist()[:2] == [7.0, 1.0] and pd.isna(v["first_value"].iloc[2])
    assert v["last_lab_date"].iloc[0] == pd.Timestamp("2020-05-01") and pd.isna(v["last_lab_date"].iloc[1])
    assert v["n_visits"].tolist() == [3, 1, 0] and str(v["n_visits"].dtype) == "int64"
    assert v["n_kinds"].tolist() == [2, 1, 0]
    assert v["any_imaging"].tolist() == [True, True, False] and str(v["any_imaging"].dtype) == "boolean"
    assert v["max_value"].tolist()[:2] == [7.0, 1.0]
    assert v["total"].tolist()[:2] == [10.0, 1.0] and pd.isna(v["total"].iloc[2])  # no rows: missing, not 0
    assert v["first_date"].iloc[0] == pd.Timestamp("2020-04-01")


def test_expressions_cases_cuts_labels_and_when():
    v = variables("""
[[derived]]
name = "high"
kind = "expr"
expr = "score >= 5"
[[derived]]
name = "band"
kind = "cut"
variable = "score"
levels = [{ id = "lo", label = "Below 5", below = 5 }, { id = "hi", label = "5 or more", at_least = 5 }]
[[derived]]
name = "band_label"
kind = "label"
variable = "band"
[[derived]]
name = "arm_label"
kind = "label"
variable = "arm"
[[derived]]
name = "status"
kind = "case"
cases = [{ when = "notna(death_date)", then = "dead" }, { when = "flag", then_expr = "arm" }]
else = "other"
[[derived]]
name = "score_if_flag"
kind = "expr"
expr = "score"
when = "flag"
[[derived]]
name = "flag"
kind = "case"
cases = [{ when = "isna(flag)", then = false }]
else_expr = "flag"
type = "boolean"
""")
    assert v["high"].tolist()[:2] == [False, True] and pd.isna(v["high"].iloc[2])
    assert v["band"].tolist()[:2] == ["lo", "hi"] and pd.isna(v["band"].iloc[2])
    assert v["band_label"].tolist()[:2] == ["Below 5", "5 or more"]
    assert v["arm_label"].tolist() == ["Arm X", "Arm Y", "Arm Z"]
    assert v["status"].tolist() == ["x", "dead", "other"]
    assert v["score_if_flag"].iloc[0] == 4.0 and v["score_if_flag"].iloc[1:].isna().all()
    # a derived variable may refine the form variable of its own name
    assert v["flag"].tolist() == [True, False, False] and str(v["flag"].dtype) == "boolean"


def test_derived_variables_may_be_declared_in_any_order():
    p = protocol("""
[[derived]]
name = "b"
kind = "expr"
expr = "a + 1"
[[derived]]
name = "a"
kind = "expr"
expr = "score * 2"
""")
    plan = resolve(DICTIONARY, p)
    assert [x.name for x in plan.order] == ["a", "b"]
    assert plan.adsl_columns[-2:] == ("b", "a")  # the table keeps the declaration order
    v = patient_variables(dataset(), p, DICTIONARY, plan)[0]
    assert v["b"].iloc[0] == 9.0


@pytest.mark.parametrize(("text", "message"), [
    ('[[derived]]\nname = "a"\nkind = "expr"\nexpr = "b"\n[[derived]]\nname = "b"\nkind = "expr"\nexpr = "a"\n',
     "depend on each other in a circle: a, b"),
    ('[[derived]]\nname = "a"\nkind = "expr"\nexpr = "scroe + 1"\n',
     "derived a: 'scroe' is not a patient-level variable; available: a, arm, birth_date"),
    ('[[derived]]\nname = "a"\nkind = "copy"\nfrom = "visits.value"\n',
     "'visits' is not a one-row form (one-row forms: patients)"),
    ('[[derived]]\nname = "a"\nkind = "first"\nform = "visit"\nvalue = "value"\n',
     "form 'visit' is not in the data dictionary; forms are: patients, visits"),
    ('[[derived]]\nname = "a"\nkind = "first"\nform = "visits"\nvalue = "valu"\n',
     "'valu' is not a column of form visits"),
    ('[[derived]]\nname = "a"\nkind = "any"\nform = "visits"\nwhere = "knd == 1"\n',
     "derived a.where: 'knd' is not a column of form visits"),
    ('[[endpoints]]\nparamcd = "OS"\nparam = "os"\norigin = "start"\nevents = [{ date = "death_date", cause = "d" }]\n'
     'censor = "last_date"\n', "endpoint OS.origin: 'start' is not a patient-level variable"),
    ('[[eligibility.criteria]]\nid = "x"\nlabel = "x"\nvariable = "agee"\nmax = 3\n',
     "eligibility criterion x: 'agee' is not a patient-level variable"),
])
def test_a_protocol_that_does_not_fit_its_dictionary_is_refused_naming_the_entry(text, message):
    with pytest.raises(ProtocolError) as err:
        resolve(DICTIONARY, protocol(text))
    assert message in str(err.value)


@pytest.mark.parametrize(("text", "message"), [
    ('[[derived]]\nname = "a"\nkind = "cut"\nvariable = "score"\n', "derived a (kind cut): needs levels"),
    ('[[derived]]\nname = "a"\nkind = "expr"\nexpr = "score"\nform = "visits"\n',
     "form not used by this kind (it takes expr)"),
    ('[[derived]]\nname = "a"\nkind = "expr"\nexpr = "__import__(\'os\')"\n', "derived a.expr"),
    ('[[derived]]\nname = "a"\nkind = "function"\nfunction = "magic"\n', "function 'magic' is unknown; functions are"),
    ('[[derived]]\nname = "a"\nkind = "function"\nfunction = "complete_remission"\nargs = { blasts = "score" }\n',
     "function complete_remission needs below"),
    ('[[derived]]\nname = "eligible"\nkind = "expr"\nexpr = "flag"\n', "made by the eligibility screening"),
    ('[response]\ncr_blasts_below = 5\n', "belong to the first protocol format"),
    ('[[endpoints]]\nparamcd = "OS"\nparam = "os"\nstart = "first_dose"\nevents = ["death"]\n'
     'censor = "last_followup"\n', "first protocol format"),
])
def test_protocol_model_mistakes_are_named(text, message):
    with pytest.raises(ValueError) as err:
        protocol(text)
    assert message in str(err.value)


def test_a_value_in_two_cut_levels_is_a_derivation_error():
    with pytest.raises(DerivationError, match=r"derived a: value 5 of score falls in several levels \['p', 'q'\]"):
        variables('[[derived]]\nname = "a"\nkind = "cut"\nvariable = "score"\n'
                  'levels = [{ id = "p", label = "p", at_most = 5 }, { id = "q", label = "q", at_least = 5 }]\n')


ENDPOINTS = """
[[derived]]
name = "start_date"
kind = "copy"
[[derived]]
name = "event_date"
kind = "copy"
[[derived]]
name = "death_date"
kind = "copy"
[[derived]]
name = "hsct_date"
kind = "copy"
[[derived]]
name = "last_date"
kind = "copy"
[[derived]]
name = "arm"
kind = "copy"

[[endpoints]]
paramcd = "EFS"
param = "Event-free survival"
origin = "start_date"
events = [{ date = "event_date", cause = "event" }, { date = "death_date", cause = "death" }]
censor = "last_date"
censor_at = [{ date = "hsct_date", cause = "hsct" }]

[[endpoints]]
paramcd = "LM"
param = "Survival from a 3-month landmark"
origin = "start_date"
events = [{ date = "death_date", cause = "death" }]
censor = "last_date"
landmark_months = 3.0
"""


def test_endpoints_with_intercurrent_censoring_and_a_landmark():
    out = derive_all(dataset(), protocol(ENDPOINTS), DICTIONARY)
    efs = out.adtte[out.adtte["PARAMCD"] == "EFS"].set_index("USUBJID")
    # A: event on 2020-09-01; B: HSCT (2020-06-01) before death -> censored at HSCT; C: HSCT on 2020-01-20
    # before the event on 2020-02-01 -> censored at HSCT
    assert efs.loc["A", ["CNSR", "EVNTDESC", "ADY"]].tolist() == [0, "event", 171]
    assert efs.loc["B", ["CNSR", "EVNTDESC", "SRCVAR"]].tolist() == [1, "censored at hsct", "hsct_date"]
    assert efs.loc["B", "ADT"] == pd.Timestamp("2020-06-01")
    assert efs.loc["C", ["CNSR", "ADY"]].tolist() == [1, 19]
    assert efs.loc["A", "SRCDOM"] == "patients"
    lm = out.adtte[out.adtte["PARAMCD"] == "LM"].set_index("USUBJID")
    # landmark = start + round(3 x 30.4375) = 91 days; C (last contact day 121) is still followed then
    assert sorted(lm.index) == ["A", "B", "C"]
    assert lm.loc["A", "STARTDT"] == pd.Timestamp("2020-03-14") + pd.Timedelta(days=91)
    assert lm.loc["A", ["CNSR", "ADY"]].tolist() == [1, 365 - 91]
    assert lm.loc["B", ["CNSR", "ADY"]].tolist() == [0, 261 - 91]
    meta = out.metadata.set_index(["table", "name"])
    assert meta.loc[("adsl", "eligible"), "xpt_name"] == "ELIGFL"
    assert meta.loc[("adsl", "arm"), "derivation"] == "copy of arm"


def test_an_endpoint_given_by_a_follow_up_time():
    """Data with durations, not dates (as many public survival data sets): time in days, events by condition."""
    text = """
[[derived]]
name = "score"
kind = "copy"
[[derived]]
name = "days"
kind = "date_diff"
from = "start_date"
to = "last_date"
unit = "days"
[[derived]]
name = "died"
kind = "expr"
expr = "notna(death_date)"
[[derived]]
name = "relapsed"
kind = "expr"
expr = "notna(event_date)"
[[endpoints]]
paramcd = "EFS"
param = "Event-free survival"
time = "days"
events = [{ when = "relapsed", cause = "relapse" }, { when = "died", cause = "death" }]
censor_description = "alive without relapse"
"""
    out = derive_all(dataset(), protocol(text), DICTIONARY).adtte.set_index("USUBJID")
    assert out["ADY"].tolist() == [365, 261, 121]
    assert out["AVAL"].tolist() == pytest.approx([365 / 30.4375, 261 / 30.4375, 121 / 30.4375])
    assert out["EVNTDESC"].tolist() == ["relapse", "death", "relapse"]
    assert out["CNSR"].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="an endpoint given by time = 'days' takes no origin"):
        protocol(text.replace('time = "days"', 'time = "days"\norigin = "start_date"'))
    with pytest.raises(ValueError, match=r"events \['relapse', 'death'\] need a date"):
        protocol(text.replace('time = "days"\n', 'origin = "start_date"\ncensor = "last_date"\n'))
