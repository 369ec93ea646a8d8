"""A hand-built cohort for the report tests; expected values are computed by hand in the tests.

Eligible: R1, R2, R3, R4, R5, R7 (6). Excluded: R6 (in a trial), R8 (T-ALL).

=====  ===  ============  ========  ======================================================  ==============
id     sex  stratum       courses   course-1 response                                        outcome
=====  ===  ============  ========  ======================================================  ==============
R1     F    low (2 %)     2         CR, PCR negative (responder); debulking                 HSCT, alive
R2     M    low (0.5 %)   2         CR, PCR 5e-4 positive (FC NEG ignored): non-responder   early CD19-neg relapse, died
R3     M    high (40 %)   1         course stopped for progression: non-responder           died; no tox data
R4     M    high (10 %)   1         CR (FC positive): responder                             alive
R5     M    low (1 %)     1         CR, FC negative (PCR ND): responder                     late relapse, died
R7     F    missing       1         no assessment                                           alive
=====  ===  ============  ========  ======================================================  ==============
"""

from __future__ import annotations

from tests.derive.builders import make_dataset


def _c(pid: str, k: int, start: str, end: str, **kw: object) -> dict[str, object]:
    return {"patient_id": pid, "course": k, "start_date": start, "end_date": end, **kw}


def _a(pid: str, tp: str, date: str, blasts: float, pcr: object = "ND", fc: object = "ND") -> dict[str, object]:
    return {"patient_id": pid, "timepoint": tp, "assessment_date": date, "bm_blasts": blasts,
            "pcr_mrd": pcr, "fc_mrd": fc}


def _o(pid: str, last: str, **kw: object) -> dict[str, object]:
    return {"patient_id": pid, "last_followup_date": last, **kw}


def _ae(pid: str, k: int, term: str, grade: int | None, **kw: object) -> dict[str, object]:
    return {"patient_id": pid, "course": k, "ae_term": term, "grade": grade, **kw}


def report_cohort():  # noqa: ANN201 - test helper
    patients = [
        {"patient_id": "R1", "sex": "F", "debulking": True},
        {"patient_id": "R2", "birth_date": "2015-06-01", "diagnosis_date": "2015-12-01",
         "disease_status": "persistent", "relapse_site": None},
        {"patient_id": "R3", "immunophenotype": "pro_b"},
        {"patient_id": "R4", "disease_status": "second_relapse", "relapse_site": "combined"},
        {"patient_id": "R5", "prior_hsct": 2, "karyotype": "hyperdiploid"},
        {"patient_id": "R6", "in_trial": True},
        {"patient_id": "R7", "sex": "F", "molecular": "kmt2a"},
        {"patient_id": "R8", "leukaemia_type": "t_all"},
    ]
    courses = [
        _c("R1", 1, "2018-03-01", "2018-03-28"),
        _c("R1", 2, "2018-04-10", "2018-05-07", schedule="ped_full"),
        _c("R2", 1, "2017-03-01", "2017-03-28"),
        _c("R2", 2, "2017-04-10", "2017-05-07", schedule="ped_full"),
        _c("R3", 1, "2016-05-01", "2016-05-11", discontinued=True, discontinuation_day=11,
           discontinuation_reason="progression", schedule="adult_stepup"),
        _c("R4", 1, "2019-06-01", "2019-06-28"),
        _c("R5", 1, "2016-01-10", "2016-02-06"),
        _c("R6", 1, "2016-05-01", "2016-05-28"),
        _c("R7", 1, "2019-01-01", "2019-01-28"),
        _c("R8", 1, "2019-01-01", "2019-01-28"),
    ]
    assessments = [
        _a("R1", "baseline", "2018-02-20", 2.0, pcr=1e-3),
        _a("R1", "after_c1", "2018-03-29", 1.0, pcr="NEG"),
        _a("R2", "baseline", "2017-02-25", 0.5, pcr=2e-3),
        _a("R2", "after_c1", "2017-03-29", 0.5, pcr=5e-4, fc="NEG"),
        _a("R3", "baseline", "2016-04-25", 40.0),
        _a("R4", "baseline", "2019-05-25", 10.0),
        _a("R4", "after_c1", "2019-06-29", 3.0, fc=2e-3),
        _a("R5", "baseline", "2016-01-05", 1.0, fc="PNQ"),
        _a("R5", "after_c1", "2016-02-07", 0.0, fc="NEG"),
        _a("R6", "baseline", "2016-04-25", 1.0),
        _a("R8", "baseline", "2018-12-20", 3.0),
    ]
    outcomes = [
        _o("R1", "2020-03-01", hsct_date="2018-06-01", hsct_bridging=False),
        _o("R2", "2017-09-01", relapse_date="2017-05-20", relapse_site="bone_marrow", relapse_cd19_negative=True,
           death_date="2017-09-01", death_cause="disease"),
        _o("R3", "2016-08-01", death_date="2016-08-01", death_cause="disease", tox_data_available=False),
        _o("R4", "2021-06-01"),
        _o("R5", "2018-01-10", relapse_date="2017-01-10", relapse_site="bone_marrow", relapse_cd19_negative=False,
           death_date="2018-01-10", death_cause="disease"),
        _o("R6", "2017-05-01"),
        _o("R7", "2019-07-01"),
        _o("R8", "2019-07-01"),
    ]
    aes = [
        _ae("R1", 1, "Fever", 2),
        _ae("R1", 1, "Aphasia", 3, led_to_interruption=True),
        _ae("R1", 2, "Seizure", 3),
        _ae("R2", 1, "Thrombocytopenia", 4, led_to_discontinuation=True),
        _ae("R4", 1, "Headache", 1),
        _ae("R4", 1, "Fever", None),
        _ae("R6", 1, "Fever", 1),  # not eligible: left out
        _ae("R7", 1, "Strange feeling", 2),
    ]
    return make_dataset(patients, courses, assessments, aes, outcomes)
