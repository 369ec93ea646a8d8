"""A hand-computed cohort covering the derivation edge cases (see expected values in the tests)."""

from __future__ import annotations

from tests.derive.builders import make_dataset


def c(pid: str, k: int, start: str, end: str, **kw: object) -> dict[str, object]:
    return {"patient_id": pid, "course": k, "start_date": start, "end_date": end, **kw}


def a(pid: str, tp: str, date: str, blasts: float, pcr: object = "ND", fc: object = "ND") -> dict[str, object]:
    return {"patient_id": pid, "timepoint": tp, "assessment_date": date, "bm_blasts": blasts,
            "pcr_mrd": pcr, "fc_mrd": fc}


def o(pid: str, last: str, **kw: object) -> dict[str, object]:
    return {"patient_id": pid, "last_followup_date": last, **kw}


def cohort():  # noqa: ANN201 - test helper
    patients = [{"patient_id": f"P{i}"} for i in range(1, 11)]
    patients[6].update(birth_date="1995-01-01", in_trial=True)  # P7: age 23 and in a trial
    patients[5].update(in_trial=True)  # P6
    courses = [
        c("P1", 1, "2018-03-01", "2018-03-28"),
        c("P2", 1, "2019-01-10", "2019-02-06"),
        c("P2", 2, "2019-02-20", "2019-03-19", schedule="ped_full"),
        c("P3", 1, "2017-03-01", "2017-03-11", discontinued=True, discontinuation_day=11,
          discontinuation_reason="progression", schedule="adult_stepup"),
        c("P4", 1, "2019-06-01", "2019-06-28"),
        c("P5", 1, "2016-05-01", "2016-05-28"),
        c("P6", 1, "2016-05-01", "2016-05-28"),
        c("P7", 1, "2018-01-01", "2018-01-28"),
        c("P8", 1, "2021-02-01", "2021-02-28"),
        c("P10", 1, "2019-01-01", "2019-01-28"),
    ]
    assessments = [
        a("P1", "baseline", "2018-02-20", 2.0, pcr=1e-3),
        a("P1", "after_c1", "2018-03-29", 1.0, pcr="NEG"),
        a("P2", "baseline", "2019-01-05", 0.5, pcr=1e-3),
        a("P2", "after_c1", "2019-02-07", 1.0, pcr=5e-4, fc="NEG"),
        a("P2", "after_c2", "2019-03-20", 0.0, pcr="NEG"),
        a("P3", "baseline", "2017-02-25", 40.0),
        a("P4", "baseline", "2019-05-25", 10.0),
        a("P4", "after_c1", "2019-06-29", 3.0, fc=2e-3),
        a("P5", "baseline", "2016-04-25", 1.0, fc="PNQ"),
        a("P6", "baseline", "2016-04-25", 1.0),
        a("P7", "baseline", "2017-12-25", 1.0),
        a("P8", "baseline", "2021-01-25", 1.0),
        a("P10", "baseline", "2018-12-20", 4.99, pcr=2e-4),
        a("P10", "after_c1", "2019-01-29", 0.0, pcr=9.9e-5),
    ]
    outcomes = [
        o("P1", "2019-06-01", hsct_date="2018-06-01", hsct_bridging=False, relapse_date="2019-01-01",
          relapse_site="bone_marrow", relapse_cd19_negative=False, death_date="2019-06-01",
          death_cause="disease"),
        o("P2", "2020-01-01", relapse_date="2019-04-01", relapse_site="bone_marrow", relapse_cd19_negative=True),
        o("P3", "2017-05-01", death_date="2017-05-01", death_cause="disease"),
        o("P4", "2020-02-01", death_date="2020-02-01", death_cause="infection"),
        o("P5", "2017-05-01", tox_data_available=False),
        o("P6", "2017-05-01"),
        o("P7", "2019-05-01"),
        o("P8", "2021-06-01"),
        o("P9", "2021-06-01"),
        o("P10", "2019-05-01", relapse_date="2019-05-01", relapse_site="bone_marrow",
          relapse_cd19_negative=False, death_date="2019-05-01", death_cause="disease"),
    ]
    aes = [
        {"patient_id": "P1", "course": 1, "ae_term": "Fever", "grade": 2},
        {"patient_id": "P1", "course": 1, "ae_term": "Seizure", "grade": 3},
        {"patient_id": "P2", "course": 2, "ae_term": "Tremor", "grade": None},
    ]
    return make_dataset(patients, courses, assessments, aes, outcomes)
