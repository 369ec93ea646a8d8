"""SAS transport (XPORT v5) names and labels."""

from __future__ import annotations

from blincompass.io.xpt import label40, xpt_name


def test_label40() -> None:
    assert label40("Short") == "Short"
    long = "Analysis value: months from STARTDT to ADT (days / protocol time.days_per_month)"
    assert len(label40(long)) <= 40 and label40(long).startswith("Analysis value")


def test_xpt_name_makes_names_fit_and_unique() -> None:
    taken: set[str] = set()
    assert xpt_name("patient_id", taken) == "PATIENT_"
    assert xpt_name("months_to_event", taken) == "MONTHS_T"
    assert xpt_name("months_to_other", taken) == "MONTHS_1"
    assert xpt_name("2nd", taken) == "V2ND"


def test_study_xpt_names_come_from_the_protocol(tmp_path) -> None:
    """The built-in protocol names its ADSL variables for XPT (e.g. age_first_dose -> AGE)."""
    import pandas as pd

    from blincompass.io.xpt import write_xpt_tables

    df = pd.DataFrame({"patient_id": ["P1"], "age_first_dose": [3.5]})
    written = write_xpt_tables({"adsl": (df, {"patient_id": "Patient", "age_first_dose": "Age"})}, tmp_path,
                               {"adsl": {"patient_id": ("USUBJID", "Patient identifier"),
                                         "age_first_dose": ("AGE", "Age at first course (years)")}})
    index = (tmp_path / "xpt_variables.csv").read_text(encoding="utf-8").splitlines()
    assert index[1:] == ["adsl,USUBJID,patient_id,Patient identifier",
                         "adsl,AGE,age_first_dose,Age at first course (years)"]
    assert [p.name for p in written] == ["adsl.xpt", "xpt_variables.csv"]
