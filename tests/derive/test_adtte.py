import pandas as pd
import pytest

from blincompass.derive import build_adtte, derive_all, write_derived
from blincompass.protocol import load_protocol
from tests.derive.builders import patched_protocol
from tests.derive.cohort import cohort

PROTOCOL = load_protocol()
M = 30.4375


@pytest.fixture(scope="module")
def adtte() -> pd.DataFrame:
    return derive_all(cohort(), PROTOCOL).adtte


def row(adtte: pd.DataFrame, param: str, pid: str) -> pd.Series:
    r = adtte[(adtte["PARAMCD"] == param) & (adtte["USUBJID"] == pid)]
    assert len(r) == 1
    return r.iloc[0]


def test_os_population_is_eligible_patients(adtte):
    os_ = adtte[adtte["PARAMCD"] == "OS"]
    assert os_["USUBJID"].tolist() == ["P1", "P2", "P3", "P4", "P5", "P10"]


def test_os_event_and_censoring(adtte):
    r = row(adtte, "OS", "P1")
    assert (r["CNSR"], r["ADY"], r["EVNTDESC"]) == (0, 457, "death")
    assert r["AVAL"] == pytest.approx(457 / M, abs=1e-12)
    r = row(adtte, "OS", "P2")  # alive: censored at last follow-up 2020-01-01
    assert (r["CNSR"], r["ADY"], r["SRCVAR"]) == (1, 356, "last_followup_date")
    r = row(adtte, "OS", "P3")
    assert (r["CNSR"], r["ADY"]) == (0, 61)


def test_rfs_population_is_cr_after_course_1(adtte):
    rfs = adtte[adtte["PARAMCD"] == "RFS"]
    # P3 (no assessment) and P5 (not evaluable) are not in CR after course 1
    assert rfs["USUBJID"].tolist() == ["P1", "P2", "P4", "P10"]


def test_rfs_events(adtte):
    r = row(adtte, "RFS", "P1")  # relapse after HSCT at 2019-01-01
    assert (r["CNSR"], r["ADY"], r["EVNTDESC"], r["SRCVAR"]) == (0, 306, "relapse", "relapse_date")
    r = row(adtte, "RFS", "P2")
    assert (r["CNSR"], r["ADY"]) == (0, 81)
    r = row(adtte, "RFS", "P4")  # death in remission
    assert (r["CNSR"], r["ADY"], r["EVNTDESC"]) == (0, 245, "death")
    r = row(adtte, "RFS", "P10")  # relapse and death the same day: relapse (listed first)
    assert (r["CNSR"], r["ADY"], r["EVNTDESC"]) == (0, 120, "relapse")


def test_stratum_carried(adtte):
    assert row(adtte, "OS", "P3")["STRATUM"] == "high"


def test_write_derived_is_deterministic(tmp_path):
    d = derive_all(cohort(), PROTOCOL)
    a = write_derived(d, tmp_path / "a")
    b = write_derived(d, tmp_path / "b")
    assert [p.name for p in a] == [
        "adsl.csv", "adsl.parquet", "adtte.csv", "adtte.parquet", "metadata.csv",
        "screening_flow.csv", "screening_exclusions.csv", "screening.json",
    ]
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes(), pa.name
    back = pd.read_parquet(tmp_path / "a" / "adtte.parquet")
    pd.testing.assert_frame_equal(back, d.adtte, check_dtype=False)  # pandas 3 reads text as str dtype
    assert not list((tmp_path / "a").glob(".*tmp"))


def test_build_adtte_unknown_population(tmp_path):
    proto = patched_protocol(tmp_path, 'population = "cr_c1"', 'population = "cr_c9"')
    adsl = derive_all(cohort(), PROTOCOL).adsl
    with pytest.raises(ValueError, match="'cr_c9', which is not a column"):
        build_adtte(adsl, proto)
    # a package with such a protocol is refused when it is loaded, naming the entry and the name
    from blincompass.dictionary import load_dictionary
    from blincompass.protocol import ProtocolError
    from blincompass.protocol.plan import resolve

    with pytest.raises(ProtocolError, match=r"endpoint RFS.population: 'cr_c9' is not a patient-level variable"):
        resolve(load_dictionary(), proto)
