"""Response analysis table (ADRS-style): one row per eligible patient and response parameter.

Parameters (``PARAMCD``), for the k-th time point of the protocol's ``[adrs] timepoints``:

* ``CRCk``  morphological CR at the assessment after course k (``AVALC`` Y / N, ``AVAL`` 1 / 0);
* ``MRDCk`` MRD at that assessment, by method precedence (``AVALC`` NEGATIVE / POSITIVE / UNKNOWN,
  ``AVAL`` 1 negative / 0 positive / missing unknown), only when the assessment exists;
* ``RSPC1`` response after course 1 as defined for the patient's baseline stratum (Y / N);
* ``BESTRSP`` best response over the assessments after courses 1..k (``AVALC`` CR MRD-NEGATIVE /
  CR MRD-POSITIVE / CR MRD-UNKNOWN / NO CR, ``AVAL`` 1..4, best = 1), ``ADT`` the first assessment
  reaching it.

A value that cannot be evaluated (no assessment, no stratum) keeps the row with ``AVALC`` "NE" and a
missing ``AVAL``: every eligible patient has every parameter. The values are those of the patient-level
table (``[adrs] response``, ``best_response``), recomputed per time point with the same functions
(:mod:`blincompass.derive.functions`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from blincompass.derive.functions import BEST_RESPONSE_ORDER, complete_remission, mrd_of
from blincompass.protocol import Protocol

__all__ = ["ADRS_COLUMNS", "BEST_RESPONSE_CODES", "build_adrs"]

ADRS_COLUMNS: dict[str, str] = {
    "STUDYID": "Study identifier (protocol study.name)",
    "USUBJID": "Patient identifier",
    "PARAMCD": "Parameter code (CRCk, MRDCk, RSPC1, BESTRSP)",
    "PARAM": "Parameter description",
    "AVISIT": "Assessment visit (timepoint code, e.g. after_c1)",
    "AVALC": "Analysis value as text (Y / N, NEGATIVE / POSITIVE / UNKNOWN, best-response category, NE)",
    "AVAL": "Analysis value as a number (1 = yes / negative / best category rank; missing when not evaluable)",
    "ADT": "Date of the assessment the value comes from",
    "ADY": "Days from the origin ([adrs] origin) to ADT",
    "MRDMETH": "MRD method that decided the MRD value (PCR / FC)",
    "STRATUM": "Baseline stratum id",
    "SRCDOM": "Source form",
}

#: Best-response categories (derive.response) -> ADRS text values.
BEST_RESPONSE_CODES: dict[str, str] = {
    "cr_mrd_negative": "CR MRD-NEGATIVE",
    "cr_mrd_positive": "CR MRD-POSITIVE",
    "cr_mrd_unknown": "CR MRD-UNKNOWN",
    "no_cr": "NO CR",
}


def _yn(value: Any) -> tuple[str, float | None]:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return "NE", None
    return ("Y", 1.0) if bool(value) else ("N", 0.0)


def _days(adt: Any, start: Any) -> Any:
    if pd.isna(adt) or pd.isna(start):
        return pd.NA
    return int((pd.Timestamp(adt) - pd.Timestamp(start)).days)


def build_adrs(dataset: Any, adsl: pd.DataFrame, protocol: Protocol, patient_id: str = "patient_id") -> pd.DataFrame:
    """Build the response table for the eligible patients of ``adsl`` (patients-form order), from the
    protocol's ``[adrs]`` section (an empty table when it has none).

    Rows are ordered by patient, then parameter (CRC1, MRDC1, CRC2, MRDC2, ..., RSPC1, BESTRSP).
    Returns a DataFrame with the columns of :data:`ADRS_COLUMNS`.
    """
    spec = protocol.adrs
    if spec is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ADRS_COLUMNS})
    elig = adsl[adsl["eligible"].fillna(False).astype(bool)].reset_index(drop=True)
    idx = pd.Index(elig[patient_id], name=patient_id)
    a = dataset.forms[spec.form]
    horizon = len(spec.timepoints)
    study = protocol.study.name
    progressed = (elig.set_index(patient_id)[spec.progressed].reindex(idx) if spec.progressed else None)
    per_course: dict[int, tuple[pd.DataFrame, pd.Series, pd.DataFrame]] = {}
    for k, tp in enumerate(spec.timepoints, start=1):
        ak = a[a[spec.timepoint] == tp].drop_duplicates(patient_id, keep="first").set_index(patient_id).reindex(idx)
        cr = complete_remission(ak[spec.blasts], spec.cr_below, progressed=progressed if k == 1 else None)
        mrd = mrd_of(ak, spec.methods, spec.negative_below)
        per_course[k] = (ak, cr, mrd)
    stratum_col = protocol.adtte.stratum
    rank = {c: i for i, c in enumerate(BEST_RESPONSE_ORDER)}

    def cells(s: pd.Series) -> list[Any]:
        # the values as scalar access gives them (Timestamp / NaT, pd.NA, numpy scalars), by position
        return list(s.array)

    n = len(idx)
    none = [None] * n
    starts = cells(elig[spec.origin])
    strata = cells(elig[stratum_col]) if stratum_col else none
    responses = cells(elig[spec.response]) if spec.response else none
    bests = cells(elig[spec.best_response]) if spec.best_response else none
    # per course, by patient position (ak, cr and mrd are indexed like ``idx``)
    course_cells = {k: (cells(ak[spec.date]), cells(ak[spec.blasts]), cells(cr), cells(mrd["mrd"]),
                        cells(mrd["mrd_method"])) for k, (ak, cr, mrd) in per_course.items()}
    rows: list[dict[str, Any]] = []
    for i, pid in enumerate(idx):
        start = starts[i]
        base = {"STUDYID": study, "USUBJID": pid, "STRATUM": strata[i] if stratum_col else None,
                "SRCDOM": spec.form}
        best: tuple[int, Any] | None = None
        for k in range(1, horizon + 1):
            dates, blasts, crs, statuses, methods = course_cells[k]
            adt = dates[i]
            assessed = pd.notna(blasts[i])
            avalc, aval = _yn(crs[i])
            rows.append({**base, "PARAMCD": f"CRC{k}", "PARAM": f"Morphological CR after course {k}",
                         "AVISIT": spec.timepoints[k - 1], "AVALC": avalc, "AVAL": aval, "ADT": adt,
                         "ADY": _days(adt, start), "MRDMETH": None})
            status = statuses[i] if assessed else None
            method = methods[i] if assessed else None
            m_avalc = {"negative": "NEGATIVE", "positive": "POSITIVE", "unknown": "UNKNOWN"}.get(status, "NE")
            m_aval = {"negative": 1.0, "positive": 0.0}.get(status)
            rows.append({**base, "PARAMCD": f"MRDC{k}", "PARAM": f"MRD after course {k} (method precedence)",
                         "AVISIT": spec.timepoints[k - 1], "AVALC": m_avalc, "AVAL": m_aval,
                         "ADT": adt if assessed else pd.NaT,
                         "ADY": _days(adt, start) if assessed else pd.NA, "MRDMETH": method})
            c = crs[i]
            cat = None
            if c is not pd.NA and c is not None and assessed:
                cat = "no_cr" if not bool(c) else {"negative": "cr_mrd_negative", "positive": "cr_mrd_positive"}.get(
                    status, "cr_mrd_unknown")
            if cat is not None and (best is None or rank[cat] < best[0]):
                best = (rank[cat], adt)
        if spec.response:
            avalc, aval = _yn(responses[i])
            adt1 = course_cells[1][0][i]
            rows.append({**base, "PARAMCD": "RSPC1",
                         "PARAM": "Response after course 1 (stratum definition)", "AVISIT": spec.timepoints[0],
                         "AVALC": avalc, "AVAL": aval, "ADT": adt1, "ADY": _days(adt1, start), "MRDMETH": None})
        if not spec.best_response:
            continue
        bcat = bests[i]
        if best is not None and isinstance(bcat, str):
            b_avalc, b_aval, b_adt = BEST_RESPONSE_CODES[bcat], float(rank[bcat] + 1), best[1]
        else:
            b_avalc, b_aval, b_adt = "NE", None, pd.NaT
        rows.append({**base, "PARAMCD": "BESTRSP", "PARAM": f"Best response after courses 1-{horizon}",
                     "AVISIT": None, "AVALC": b_avalc, "AVAL": b_aval, "ADT": b_adt, "ADY": _days(b_adt, start),
                     "MRDMETH": None})
    out = pd.DataFrame(rows, columns=list(ADRS_COLUMNS))
    out["AVAL"] = out["AVAL"].astype("float64")
    out["ADT"] = pd.to_datetime(out["ADT"])
    out["ADY"] = out["ADY"].astype("Int64")
    for c in ("STUDYID", "USUBJID", "PARAMCD", "PARAM", "AVISIT", "AVALC", "MRDMETH", "STRATUM", "SRCDOM"):
        out[c] = out[c].astype("object")
    return out.reset_index(drop=True)
