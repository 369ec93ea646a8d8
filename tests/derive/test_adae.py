import pandas as pd
import pytest

from blincompass.derive import ADAE_COLUMNS, build_adae, derive_all
from blincompass.protocol import load_protocol
from tests.derive.cohort import cohort

PROTOCOL = load_protocol()


def dataset_with_aes():
    ds = cohort()
    extra = pd.DataFrame(
        [
            # P4: reported in lower case, not a CTCAE term (nearest: Dysphasia); led to interruption
            {"patient_id": "P4", "course": 1, "ae_term": "aphasia", "grade": 3, "led_to_interruption": True,
             "led_to_discontinuation": False, "onset_date": pd.Timestamp("2019-06-05")},
            # P4: synonym of a CTCAE term, led to discontinuation
            {"patient_id": "P4", "course": 1, "ae_term": "Thrombocytopenia", "grade": 4,
             "led_to_interruption": False, "led_to_discontinuation": True},
            # P10: a CTCAE term that is not in the shipped mapping, and an unknown term
            {"patient_id": "P10", "course": 1, "ae_term": "Headache", "grade": 1, "led_to_interruption": False,
             "led_to_discontinuation": False},
            {"patient_id": "P10", "course": 1, "ae_term": "Strange  feeling", "grade": 2,
             "led_to_interruption": False, "led_to_discontinuation": False},
            # P6 is not eligible (in a trial); P5 has no toxicity data: both left out
            {"patient_id": "P6", "course": 1, "ae_term": "Fever", "grade": 1, "led_to_interruption": False,
             "led_to_discontinuation": False},
            {"patient_id": "P5", "course": 1, "ae_term": "Fever", "grade": 1, "led_to_interruption": False,
             "led_to_discontinuation": False},
        ]
    )
    extra["_row"] = range(5, 5 + len(extra))
    ae = pd.concat([ds.adverse_events, extra], ignore_index=True)
    ae["grade"] = ae["grade"].astype("Int64")
    ds.forms["adverse_events"] = ae
    ds.adverse_events = ae
    return ds


@pytest.fixture(scope="module")
def adae() -> pd.DataFrame:
    ds = dataset_with_aes()
    d = derive_all(ds, PROTOCOL)
    return build_adae(ds, d.adsl, PROTOCOL)


def test_columns_and_population(adae):
    assert list(adae.columns) == list(ADAE_COLUMNS)
    # eligible patients with toxicity data only, in patient order then source order
    assert adae["USUBJID"].tolist() == ["P1", "P1", "P2", "P4", "P4", "P10", "P10"]
    assert adae["AESEQ"].tolist() == [1, 2, 1, 1, 2, 1, 2]
    assert set(adae["STUDYID"]) == {"BLIN-COMPASS"}


def test_term_resolution(adae):
    by = adae.set_index("AETERM")
    assert by.loc["Aphasia", "AEDECOD"] == "Dysphasia"  # canonical spelling of "aphasia"
    assert by.loc["Aphasia", "AESTATUS"] == "nearest"
    assert by.loc["Aphasia", "AESOC"] == "Nervous system disorders"
    assert by.loc["Thrombocytopenia", "AEDECOD"] == "Platelet count decreased"
    assert by.loc["Thrombocytopenia", "AESTATUS"] == "synonym"
    assert by.loc["Headache", "AESTATUS"] == "ctcae"
    assert by.loc["Headache", "AEDECOD"] == "Headache"
    assert by.loc["Strange feeling", "AESTATUS"] == "unmapped"
    assert pd.isna(by.loc["Strange feeling", "AEDECOD"])
    assert by.loc["Fever", "AESTATUS"] == "ctcae"


def test_groups_from_protocol(adae):
    by = adae.set_index("AETERM")
    assert by.loc["Seizure", "AEGRPCAT"] == "Neurotoxicity"
    assert by.loc["Tremor", "AEGRPID"] == "neurotoxicity"
    assert by.loc["Aphasia", "AEGRPCAT"] == "Neurotoxicity"
    assert by.loc["Thrombocytopenia", "AEGRPCAT"] == "Hematological toxicity"
    assert pd.isna(by.loc["Fever", "AEGRPCAT"])
    assert pd.isna(by.loc["Headache", "AEGRPCAT"])


def test_grade_course_actions_stratum(adae):
    assert adae["AETOXGR"].iloc[0] == 2 and adae["AETOXGR"].iloc[1] == 3 and pd.isna(adae["AETOXGR"].iloc[2])
    assert adae["COURSE"].tolist() == [1, 1, 2, 1, 1, 1, 1]
    by = adae.set_index("AETERM")
    assert by.loc["Aphasia", "AEACN"] == "DRUG INTERRUPTED"
    assert bool(by.loc["Aphasia", "AEACNINT"]) and not bool(by.loc["Aphasia", "AEACNDSC"])
    assert by.loc["Thrombocytopenia", "AEACN"] == "DRUG WITHDRAWN"
    assert by.loc["Fever", "AEACN"] == "NONE"
    assert by.loc["Aphasia", "ASTDT"] == pd.Timestamp("2019-06-05")
    assert adae["STRATUM"].tolist() == ["low", "low", "low", "high", "high", "low", "low"]


def test_other_ctcae_version():
    proto = PROTOCOL.model_copy(
        update={"report": PROTOCOL.report.model_copy(
            update={"table2": PROTOCOL.report.table2.model_copy(update={"ctcae_version": "5.0"})})}
    )
    ds = dataset_with_aes()
    d = derive_all(ds, proto)
    adae = build_adae(ds, d.adsl, proto)
    assert len(adae) == 7


def test_no_adverse_events():
    ds = cohort()
    ae = ds.adverse_events.iloc[0:0]
    ds.forms["adverse_events"] = ae
    ds.adverse_events = ae
    d = derive_all(ds, PROTOCOL)
    adae = build_adae(ds, d.adsl, PROTOCOL)
    assert len(adae) == 0 and list(adae.columns) == list(ADAE_COLUMNS)
