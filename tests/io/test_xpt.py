"""SAS transport (XPORT v5) names and labels."""

from __future__ import annotations

from blincompass.io.xpt import label40, xpt_name


def test_label40() -> None:
    assert label40("Short") == "Short"
    long = "Analysis value: months from STARTDT to ADT (days / protocol time.days_per_month)"
    assert len(label40(long)) <= 40 and label40(long).startswith("Analysis value")


def test_xpt_name_uses_the_table_and_makes_names_unique() -> None:
    taken: set[str] = set()
    assert xpt_name("patient_id", taken) == "USUBJID"
    assert xpt_name("months_to_event", taken) == "MONTHS_T"
    assert xpt_name("months_to_other", taken) == "MONTHS_1"
    assert xpt_name("2nd", taken) == "V2ND"
