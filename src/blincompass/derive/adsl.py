"""Patient-level analysis table (ADSL-style): one row per patient, eligible or not."""

from __future__ import annotations

from typing import Any

import pandas as pd

from blincompass.derive.response import (
    assessment_at,
    derive_best_response,
    derive_cr,
    derive_early_relapse,
    derive_mrd,
    derive_response,
    derive_sustained_response,
)
from blincompass.protocol import Protocol
from blincompass.validate.screening import ScreeningResult, completed_years, screening_variables

__all__ = ["ADSL_COLUMNS", "build_adsl", "derive_ae_summary", "derive_courses_summary", "derive_outcomes"]

#: Columns of the patient-level table, in order, with their meaning (rendered in the docs).
ADSL_COLUMNS: dict[str, str] = {
    "patient_id": "Patient identifier",
    "centre": "Treating centre",
    "eligible": "Passed every eligibility criterion (analysis population)",
    "exclusion_step": "Screening step at which the patient was excluded",
    "exclusion_reason": "Every failing eligibility criterion with the value found",
    "sex": "Sex (code)",
    "immunophenotype": "Immunophenotype (code)",
    "karyotype": "Karyotype group (code)",
    "molecular": "Molecular abnormality (code)",
    "risk_group": "First-line risk group (code)",
    "disease_status": "Disease status at the first course (code)",
    "relapse_site_baseline": "Site of the relapse treated with blinatumomab (code)",
    "prior_hsct": "Number of allogeneic HSCTs before blinatumomab",
    "prior_cart": "CAR-T before blinatumomab",
    "debulking": "Debulking chemotherapy before blinatumomab",
    "access": "Access programme (code)",
    "age_diagnosis": "Age at initial diagnosis, years (days / days_per_year)",
    "age_first_dose": "Age at the first blinatumomab course, years",
    "age_first_dose_completed": "Age at the first course in completed years (eligibility)",
    "months_diagnosis_to_first_dose": "Months from diagnosis to the first course (days / days_per_month)",
    "first_dose_date": "Start date of the first course",
    "n_courses": "Number of blinatumomab courses",
    "first_schedule": "Dosing schedule of course 1 (code)",
    "baseline_blasts": "Bone-marrow blasts (%) at the baseline assessment",
    "baseline_mrd": "MRD at baseline: negative / positive / unknown",
    "baseline_mrd_method": "Method deciding baseline MRD (PCR / FC)",
    "stratum": "Baseline stratum id (protocol strata.levels)",
    "stratum_label": "Baseline stratum label",
    "burden": "Burden subgroup id (protocol strata.burden)",
    "burden_label": "Burden subgroup label",
    "assessment_c1_date": "Date of the assessment after course 1 (when CR after course 1 becomes known)",
    "cr_c1": "Morphological CR at the assessment after course 1",
    "mrd_c1": "MRD after course 1: negative / positive / unknown",
    "mrd_method_c1": "Method deciding MRD after course 1",
    "response_c1": "Response after course 1 as defined for the patient's stratum",
    "progression_on_treatment": "A course was stopped for disease progression",
    "best_response": "Best response within the first courses (protocol sustained_response_course)",
    "early_relapse": "Early relapse (protocol response.early_relapse_*)",
    "response_sustained": "Response after course 1 still held at the sustained-response horizon",
    "relapse": "Relapse after blinatumomab recorded",
    "relapse_date": "Date of that relapse",
    "relapse_cd19_negative": "CD19-negative relapse",
    "relapse_after_hsct": "The relapse occurred after HSCT",
    "hsct": "Allogeneic HSCT after blinatumomab",
    "hsct_date": "Date of that HSCT",
    "hsct_bridging": "Further chemotherapy between blinatumomab and HSCT",
    "death": "Died during follow-up",
    "death_date": "Date of death",
    "death_cause": "Cause of death (code)",
    "last_followup_date": "Date of last follow-up",
    "followup_months": "Months from the first course to last follow-up or death",
    "tox_data_available": "Toxicity data collected",
    "n_ae": "Number of adverse events recorded",
    "any_ae": "At least one adverse event",
    "worst_ae_grade": "Worst known CTCAE grade",
    "ae_grade3plus": "At least one adverse event of grade >= 3",
}


def derive_courses_summary(courses: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """Per patient: first-course schedule, progression on treatment, and course end dates by number."""
    c = courses.dropna(subset=["patient_id", "course"]).sort_values(["patient_id", "course"])
    first = c.drop_duplicates("patient_id").set_index("patient_id")
    prog = (c["discontinued"].fillna(False).astype(bool) & (c["discontinuation_reason"] == "progression"))
    out = pd.DataFrame(index=index)
    out["first_schedule"] = first["schedule"].reindex(index)
    out["progression_on_treatment"] = (
        prog.groupby(c["patient_id"]).any().reindex(index, fill_value=False).astype("boolean")
    )
    ends = c.pivot_table(index="patient_id", columns="course", values="end_date", aggfunc="first")
    ends.columns = [int(x) for x in ends.columns]
    return out.join(ends.reindex(index).add_prefix("course_end_"))


def derive_outcomes(outcomes: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """Per patient: relapse, HSCT and death flags and dates from the outcomes form."""
    o = outcomes.dropna(subset=["patient_id"]).drop_duplicates("patient_id").set_index("patient_id")
    o = o.reindex(index)
    out = pd.DataFrame(index=index)
    out["relapse"] = o["relapse_date"].notna().astype("boolean")
    out["relapse_date"] = o["relapse_date"]
    out["relapse_cd19_negative"] = o["relapse_cd19_negative"].astype("boolean").where(out["relapse"], False)
    out["hsct"] = o["hsct_date"].notna().astype("boolean")
    out["hsct_date"] = o["hsct_date"]
    out["hsct_bridging"] = o["hsct_bridging"].astype("boolean")
    out["relapse_after_hsct"] = (out["relapse"] & out["hsct"] & (o["relapse_date"] > o["hsct_date"])).astype(
        "boolean"
    )
    out["death"] = o["death_date"].notna().astype("boolean")
    out["death_date"] = o["death_date"]
    out["death_cause"] = o["death_cause"]
    out["last_followup_date"] = o["last_followup_date"]
    out["tox_data_available"] = o["tox_data_available"].astype("boolean")
    return out


def derive_ae_summary(adverse_events: pd.DataFrame, tox_available: pd.Series) -> pd.DataFrame:
    """Per patient: number of AEs, any AE, worst known grade and grade >= 3 (missing without tox data)."""
    index = tox_available.index
    ae = adverse_events.dropna(subset=["patient_id"])
    n = ae.groupby("patient_id").size().reindex(index).fillna(0).astype("Int64")
    worst = ae.groupby("patient_id")["grade"].max().reindex(index).astype("Int64")
    out = pd.DataFrame(index=index)
    has = tox_available.fillna(True).astype(bool)
    out["n_ae"] = n.where(has)
    out["any_ae"] = (n > 0).astype("boolean").where(has)
    out["worst_ae_grade"] = worst.where(has)
    out["ae_grade3plus"] = (worst.fillna(0) >= 3).astype("boolean").where(has)
    return out


def build_adsl(dataset: Any, protocol: Protocol, screening: ScreeningResult) -> pd.DataFrame:
    """Build the patient-level analysis table for every patient of ``dataset``.

    Columns are :data:`ADSL_COLUMNS`, rows in the order of the patients form. Ineligible patients are kept
    with ``eligible = False`` and their exclusion step and reasons.
    """
    sv = screening_variables(dataset, protocol)
    idx = sv.index
    t = protocol.time
    out = pd.DataFrame(index=idx)
    out["patient_id"] = sv["patient_id"]
    out["centre"] = sv["centre"]
    excl = {e.patient_id: e for e in screening.exclusions}
    eligible = set(screening.eligible_ids)
    out["eligible"] = pd.Series([pid in eligible for pid in idx], index=idx, dtype="boolean")
    out["exclusion_step"] = [excl[p].step if p in excl else None for p in idx]
    out["exclusion_reason"] = [excl[p].reason if p in excl else None for p in idx]
    for col in ("sex", "immunophenotype", "karyotype", "molecular", "risk_group", "disease_status"):
        out[col] = sv[col]
    out["relapse_site_baseline"] = sv["relapse_site"]
    for col in ("prior_hsct", "prior_cart", "debulking", "access"):
        out[col] = sv[col]
    out["age_diagnosis"] = (sv["diagnosis_date"] - sv["birth_date"]).dt.days / t.days_per_year
    out["age_first_dose"] = sv["age_first_dose"]
    out["age_first_dose_completed"] = completed_years(sv["birth_date"], sv["first_dose_date"])
    to_dose = (sv["first_dose_date"] - sv["diagnosis_date"]).dt.days
    out["months_diagnosis_to_first_dose"] = to_dose / t.days_per_month
    out["first_dose_date"] = sv["first_dose_date"]
    out["n_courses"] = sv["n_courses"]
    cs = derive_courses_summary(dataset.courses, idx)
    out["first_schedule"] = cs["first_schedule"]

    a = dataset.assessments
    base = assessment_at(a, "baseline", idx)
    out["baseline_blasts"] = base["bm_blasts"]
    bm = derive_mrd(base, protocol)
    out["baseline_mrd"] = bm["mrd"]
    out["baseline_mrd_method"] = bm["mrd_method"]
    st = protocol.strata
    out["stratum"] = [st.classify(x) for x in out["baseline_blasts"]]
    out["stratum_label"] = [st.label(s) for s in out["stratum"]]
    out["burden"] = [st.classify(x, "burden") for x in out["baseline_blasts"]]
    out["burden_label"] = [st.label(s, "burden") for s in out["burden"]]

    c1 = assessment_at(a, "after_c1", idx)
    out["assessment_c1_date"] = c1["assessment_date"]
    out["cr_c1"] = derive_cr(c1["bm_blasts"], protocol, progressed=cs["progression_on_treatment"])
    m1 = derive_mrd(c1, protocol).where(c1["bm_blasts"].notna())
    out["mrd_c1"] = m1["mrd"]
    out["mrd_method_c1"] = m1["mrd_method"]
    out["progression_on_treatment"] = cs["progression_on_treatment"]
    out["response_c1"] = derive_response(
        out["cr_c1"], out["mrd_c1"], out["stratum"], protocol, progressed=cs["progression_on_treatment"]
    )
    horizon = protocol.response.sustained_response_course
    per_course = []
    for k in range(1, horizon + 1):
        ak = assessment_at(a, f"after_c{k}", idx)
        per_course.append((derive_cr(ak["bm_blasts"], protocol), derive_mrd(ak, protocol)["mrd"]))
    out["best_response"] = derive_best_response(per_course)

    oc = derive_outcomes(dataset.outcomes, idx)
    ends = cs[[c for c in cs.columns if c.startswith("course_end_")]]
    ends.columns = [int(c.removeprefix("course_end_")) for c in ends.columns]
    out["early_relapse"] = derive_early_relapse(
        oc["relapse_date"], oc["hsct_date"], ends, out["cr_c1"], protocol
    )
    out["response_sustained"] = derive_sustained_response(out["response_c1"], out["early_relapse"])
    for col in (
        "relapse", "relapse_date", "relapse_cd19_negative", "relapse_after_hsct", "hsct", "hsct_date",
        "hsct_bridging", "death", "death_date", "death_cause", "last_followup_date",
    ):
        out[col] = oc[col]
    end = oc["death_date"].fillna(oc["last_followup_date"])
    out["followup_months"] = (end - out["first_dose_date"]).dt.days / t.days_per_month
    out["tox_data_available"] = oc["tox_data_available"]
    ae = derive_ae_summary(dataset.adverse_events, oc["tox_data_available"])
    for col in ae.columns:
        out[col] = ae[col]
    out = out[list(ADSL_COLUMNS)]
    return out.reset_index(drop=True)
