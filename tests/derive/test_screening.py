import datetime as dt

import pandas as pd
import pytest

from blincompass.derive.screening import completed_years, screen
from blincompass.protocol import load_protocol
from tests.derive.builders import patched_protocol
from tests.derive.cohort import cohort

PROTOCOL = load_protocol()


def test_completed_years_birthday_arithmetic():
    born = pd.Series(pd.to_datetime(["2000-03-15", "2000-03-15", "2000-03-15", "2000-02-29", None]))
    at = pd.Series(pd.to_datetime(["2022-03-14", "2022-03-15", "2021-12-31", "2022-02-28", "2020-01-01"]))
    got = completed_years(born, at)
    assert got.iloc[:4].tolist() == [21, 22, 21, 21]
    assert got.isna().iloc[4]


def test_flow_counts_and_reasons():
    res = screen(cohort(), PROTOCOL)
    flow = res.to_frame()
    assert res.n_screened == 10
    assert flow["step"].tolist() == ["treated", "age", "bcp_all", "cd19", "disease_status", "window", "not_in_trial"]
    assert flow["n_excluded"].tolist() == [1, 1, 0, 0, 0, 1, 1]
    assert flow["n_after"].tolist() == [9, 8, 8, 8, 8, 7, 6]
    assert res.eligible_ids == ("P1", "P2", "P3", "P4", "P5", "P10")
    ex = {e.patient_id: e for e in res.exclusions}
    assert ex["P9"].step == "treated"
    # P7 fails two criteria: excluded at the first, both listed
    assert ex["P7"].step == "age"
    assert len(ex["P7"].reasons) == 2
    assert "age_first_dose_completed = 23" in ex["P7"].reasons[0]
    assert "in_trial = True" in ex["P7"].reasons[1]
    assert "first_dose_date = 2021-02-01" in ex["P8"].reason
    # nobody is lost: eligible + excluded = screened
    assert res.n_eligible + len(res.exclusions) == res.n_screened


def test_missing_value_fails_criterion():
    ds = cohort()
    ds.patients.loc[0, "cd19_status"] = None
    res = screen(ds, PROTOCOL)
    ex = {e.patient_id: e for e in res.exclusions}
    assert ex["P1"].step == "cd19"
    assert "cd19_status = missing" in ex["P1"].reason


def test_age_boundary_is_inclusive_in_completed_years():
    ds = cohort()
    # P1 first course 2018-03-01: born 1996-03-02 -> 21 completed years (eligible); 1996-03-01 -> 22
    ds.patients.loc[0, "birth_date"] = pd.Timestamp("1996-03-02")
    assert "P1" in screen(ds, PROTOCOL).eligible_ids
    ds.patients.loc[0, "birth_date"] = pd.Timestamp("1996-03-01")
    assert "P1" not in screen(ds, PROTOCOL).eligible_ids


def test_window_bounds_inclusive():
    ds = cohort()
    ds.courses.loc[0, "start_date"] = pd.Timestamp("2020-12-31")
    assert "P1" in screen(ds, PROTOCOL).eligible_ids
    ds.courses.loc[0, "start_date"] = pd.Timestamp("2014-12-31")
    assert "P1" not in screen(ds, PROTOCOL).eligible_ids


def test_protocol_window_is_data(tmp_path):
    proto = patched_protocol(tmp_path, "before = 2020-12-31", "before = 2021-12-31")
    assert proto.eligibility.criteria[5].before == dt.date(2021, 12, 31)
    assert "P8" in screen(cohort(), proto).eligible_ids


def test_unknown_criterion_variable_is_a_clear_error(tmp_path):
    proto = patched_protocol(tmp_path, 'variable = "in_trial"', 'variable = "in_trail"')
    with pytest.raises(ValueError, match="not_in_trial.*in_trail"):
        screen(cohort(), proto)
