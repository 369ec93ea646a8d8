"""ADRS-style response table: hand-checked rows of the derivation cohort and agreement with ADSL."""

from __future__ import annotations

import pandas as pd
import pytest

from blincompass.derive import ADRS_COLUMNS, build_adrs, derive_all
from blincompass.derive.adrs import BEST_RESPONSE_CODES
from blincompass.protocol import load_protocol
from tests.derive.cohort import cohort

PROTOCOL = load_protocol()


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    ds = cohort()
    derived = derive_all(ds, PROTOCOL)
    return build_adrs(ds, derived.adsl, PROTOCOL), derived.adsl


def _row(adrs: pd.DataFrame, pid: str, param: str) -> pd.Series:
    sel = adrs[(adrs["USUBJID"] == pid) & (adrs["PARAMCD"] == param)]
    assert len(sel) == 1
    return sel.iloc[0]


def test_columns_and_one_row_per_eligible_patient_and_parameter(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    adrs, adsl = tables
    assert list(adrs.columns) == list(ADRS_COLUMNS)
    eligible = list(adsl.loc[adsl["eligible"].astype(bool), "patient_id"])
    horizon = len(PROTOCOL.adrs.timepoints)
    params = [p for k in range(1, horizon + 1) for p in (f"CRC{k}", f"MRDC{k}")] + ["RSPC1", "BESTRSP"]
    assert list(adrs["USUBJID"].drop_duplicates()) == eligible
    for pid in eligible:
        assert list(adrs.loc[adrs["USUBJID"] == pid, "PARAMCD"]) == params
    assert not adrs.duplicated(["USUBJID", "PARAMCD"]).any()


def test_hand_checked_values(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    adrs, _ = tables
    # P1: low stratum, after course 1 blasts 1 % and PCR NEG -> CR, MRD negative, responder
    r = _row(adrs, "P1", "CRC1")
    assert (r["AVALC"], r["AVAL"], r["ADT"], r["ADY"]) == ("Y", 1.0, pd.Timestamp("2018-03-29"), 28)
    r = _row(adrs, "P1", "MRDC1")
    assert (r["AVALC"], r["AVAL"], r["MRDMETH"]) == ("NEGATIVE", 1.0, "PCR")
    assert _row(adrs, "P1", "RSPC1")["AVALC"] == "Y"
    # P2: CR with PCR 5e-4 after course 1 (positive: not a responder in the low stratum), negative after 2
    assert (_row(adrs, "P2", "MRDC1")["AVALC"], _row(adrs, "P2", "RSPC1")["AVALC"]) == ("POSITIVE", "N")
    best = _row(adrs, "P2", "BESTRSP")
    assert (best["AVALC"], best["AVAL"], best["ADT"]) == ("CR MRD-NEGATIVE", 1.0, pd.Timestamp("2019-03-20"))
    # P3: course 1 stopped for progression, no assessment: no CR, MRD not evaluable
    r = _row(adrs, "P3", "CRC1")
    assert (r["AVALC"], r["AVAL"]) == ("N", 0.0) and pd.isna(r["ADT"])
    assert _row(adrs, "P3", "MRDC1")["AVALC"] == "NE" and pd.isna(_row(adrs, "P3", "MRDC1")["AVAL"])
    assert _row(adrs, "P3", "BESTRSP")["AVALC"] == "NE"
    # P4: high stratum, CR with FC-MRD 2e-3: responder by CR, best CR MRD-positive
    assert (_row(adrs, "P4", "MRDC1")["MRDMETH"], _row(adrs, "P4", "RSPC1")["AVALC"]) == ("FC", "Y")
    assert _row(adrs, "P4", "BESTRSP")["AVALC"] == "CR MRD-POSITIVE"
    # not assessed after course 2
    assert _row(adrs, "P1", "CRC2")["AVALC"] == "NE"


def test_agrees_with_adsl(tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    adrs, adsl = tables
    elig = adsl[adsl["eligible"].astype(bool)].set_index("patient_id")

    def yn(v: object) -> str:
        return "NE" if v is None or v is pd.NA else ("Y" if bool(v) else "N")

    for pid, p in elig.iterrows():
        assert _row(adrs, pid, "CRC1")["AVALC"] == yn(p["cr_c1"])
        assert _row(adrs, pid, "RSPC1")["AVALC"] == yn(p["response_c1"])
        best = p["best_response"]
        assert _row(adrs, pid, "BESTRSP")["AVALC"] == (BEST_RESPONSE_CODES[best] if isinstance(best, str) else "NE")
        mrd = _row(adrs, pid, "MRDC1")["AVALC"]
        assert mrd == ("NE" if pd.isna(p["mrd_c1"]) else str(p["mrd_c1"]).upper())
