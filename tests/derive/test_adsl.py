import pandas as pd
import pytest

from blincompass.derive import build_adsl
from blincompass.derive.functions import mrd_of
from blincompass.derive.screening import screen
from blincompass.protocol import load_protocol
from tests.derive.cohort import cohort

PROTOCOL = load_protocol()


@pytest.fixture(scope="module")
def adsl() -> pd.DataFrame:
    ds = cohort()
    return build_adsl(ds, PROTOCOL, screen(ds, PROTOCOL)).set_index("patient_id")


def test_every_patient_kept(adsl):
    assert list(adsl.index) == [f"P{i}" for i in range(1, 11)]
    assert adsl["eligible"].tolist() == [True, True, True, True, True, False, False, False, False, True]
    assert adsl.loc["P6", "exclusion_step"] == "not_in_trial"
    assert pd.isna(adsl.loc["P1", "exclusion_step"])


def test_strata_and_burden(adsl):
    assert adsl.loc["P1", "stratum"] == "low"
    assert adsl.loc["P10", "stratum"] == "low"  # 4.99 % is below 5
    assert adsl.loc["P3", "stratum"] == "high"
    assert adsl.loc["P3", "burden"] == "gt25"
    assert adsl.loc["P4", "burden"] == "5to25"
    assert adsl.loc["P4", "stratum_label"] == "≥5 % blasts"


def test_courses_and_ages(adsl):
    assert adsl.loc["P2", "n_courses"] == 2
    assert adsl.loc["P2", "first_schedule"] == "ped_stepup"
    assert adsl.loc["P3", "first_schedule"] == "adult_stepup"
    assert adsl.loc["P9", "n_courses"] == 0
    # born 2008-01-01, first dose 2018-03-01: 3712 days / 365.25
    assert adsl.loc["P1", "age_first_dose"] == pytest.approx(3712 / 365.25, abs=1e-12)
    assert adsl.loc["P1", "age_first_dose_completed"] == 10
    # diagnosis 2014-01-01 -> 2018-03-01 = 1520 days
    assert adsl.loc["P1", "months_diagnosis_to_first_dose"] == pytest.approx(1520 / 30.4375, abs=1e-12)


def test_mrd_pcr_takes_precedence(adsl):
    # P2 after course 1: PCR 5e-4 (positive) although FC negative
    assert adsl.loc["P2", "mrd_c1"] == "positive"
    assert adsl.loc["P2", "mrd_method_c1"] == "PCR"
    # P4: PCR not done, FC 2e-3 decides
    assert adsl.loc["P4", "mrd_c1"] == "positive"
    assert adsl.loc["P4", "mrd_method_c1"] == "FC"
    # P10: 9.9e-5 is below 1e-4
    assert adsl.loc["P10", "mrd_c1"] == "negative"
    # baseline: P5 FC PNQ -> positive
    assert adsl.loc["P5", "baseline_mrd"] == "positive"


def test_mrd_threshold_is_strict():
    df = pd.DataFrame({"pcr_mrd": [1e-4, 0.99e-4, float("nan"), float("nan")],
                       "pcr_mrd_status": ["quantified", "quantified", "ND", None],
                       "fc_mrd": [float("nan")] * 4, "fc_mrd_status": [None, None, "NEG", None]})
    got = mrd_of(df, [{"column": "pcr_mrd", "name": "PCR"}, {"column": "fc_mrd", "name": "FC"}], 1e-4)
    assert got["mrd"].tolist() == ["positive", "negative", "negative", "unknown"]
    assert got["mrd_method"].tolist() == ["PCR", "PCR", "FC", None]


def test_response_by_stratum(adsl):
    # low stratum judged on MRD negativity, high stratum on CR
    assert adsl.loc["P1", "response_c1"] == True  # noqa: E712
    assert adsl.loc["P2", "response_c1"] == False  # noqa: E712  CR but MRD positive
    assert adsl.loc["P2", "cr_c1"] == True  # noqa: E712
    assert adsl.loc["P4", "response_c1"] == True  # noqa: E712  CR although MRD positive
    # discontinued for progression without an assessment: non-responder, no CR
    assert adsl.loc["P3", "response_c1"] == False  # noqa: E712
    assert adsl.loc["P3", "cr_c1"] == False  # noqa: E712
    # no assessment after course 1 and no progression: not evaluable
    assert pd.isna(adsl.loc["P5", "response_c1"])


def test_best_response(adsl):
    assert adsl.loc["P2", "best_response"] == "cr_mrd_negative"  # negative after course 2
    assert adsl.loc["P4", "best_response"] == "cr_mrd_positive"
    assert adsl.loc["P3", "best_response"] is None


def test_early_relapse_and_sustained_response(adsl):
    # P2 relapsed 2019-04-01, within 21 days of the end of course 2 (2019-03-19)
    assert adsl.loc["P2", "early_relapse"] == True  # noqa: E712
    assert adsl.loc["P2", "relapse_cd19_negative"] == True  # noqa: E712
    # P1 relapsed after HSCT: not early
    assert adsl.loc["P1", "early_relapse"] == False  # noqa: E712
    assert adsl.loc["P1", "relapse_after_hsct"] == True  # noqa: E712
    # P10 relapsed > 21 days after its single course
    assert adsl.loc["P10", "early_relapse"] == False  # noqa: E712
    assert adsl.loc["P10", "response_sustained"] == True  # noqa: E712


def test_outcomes_and_followup(adsl):
    assert adsl.loc["P1", "hsct"] == True  # noqa: E712
    assert adsl.loc["P1", "hsct_bridging"] == False  # noqa: E712
    assert adsl.loc["P4", "death"] == True  # noqa: E712
    assert adsl.loc["P4", "relapse"] == False  # noqa: E712
    # P1: 2018-03-01 -> 2019-06-01 = 457 days
    assert adsl.loc["P1", "followup_months"] == pytest.approx(457 / 30.4375, abs=1e-12)


def test_adverse_event_summary(adsl):
    assert adsl.loc["P1", "n_ae"] == 2
    assert adsl.loc["P1", "worst_ae_grade"] == 3
    assert adsl.loc["P1", "ae_grade3plus"] == True  # noqa: E712
    assert adsl.loc["P2", "any_ae"] == True  # noqa: E712  unknown grade still an AE
    assert pd.isna(adsl.loc["P2", "worst_ae_grade"])
    assert adsl.loc["P4", "any_ae"] == False  # noqa: E712
    assert pd.isna(adsl.loc["P5", "any_ae"])  # toxicity data not available
