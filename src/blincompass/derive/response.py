"""Response derivations: morphological CR, MRD status (method precedence), response after a course,
best response, early relapse. One derivation per function; every rule comes from the protocol."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from blincompass.protocol import Protocol

__all__ = [
    "BEST_RESPONSE_ORDER",
    "assessment_at",
    "derive_best_response",
    "derive_cr",
    "derive_early_relapse",
    "derive_mrd",
    "derive_response",
    "derive_sustained_response",
]

#: Best-response categories from best to worst.
BEST_RESPONSE_ORDER: tuple[str, ...] = ("cr_mrd_negative", "cr_mrd_positive", "cr_mrd_unknown", "no_cr")


def assessment_at(assessments: pd.DataFrame, timepoint: str, patient_ids: pd.Index) -> pd.DataFrame:
    """The assessment at ``timepoint`` (e.g. ``"baseline"``, ``"after_c1"``) per patient, reindexed to
    ``patient_ids`` (patients without it get missing values)."""
    rows = assessments[assessments["timepoint"] == timepoint]
    rows = rows.drop_duplicates("patient_id", keep="first").set_index("patient_id")
    return rows.reindex(patient_ids)


def derive_cr(blasts: pd.Series, protocol: Protocol, progressed: pd.Series | None = None) -> pd.Series:
    """Morphological CR: bone-marrow blasts < ``response.cr_blasts_below`` (%).

    Missing blasts give ``<NA>`` (not evaluable), except for a patient whose course was stopped for
    progression (``progressed``), who did not reach CR.
    """
    out = (blasts < protocol.response.cr_blasts_below).astype("boolean").mask(blasts.isna())
    if progressed is not None:
        out[progressed.fillna(False).astype(bool) & blasts.isna()] = False
    return out


def _method_status(status: pd.Series, level: pd.Series, threshold: float) -> pd.Series:
    """One method's MRD result as negative / positive / missing (ND, empty)."""
    res = pd.Series(pd.NA, index=status.index, dtype="object")
    res[status == "NEG"] = "negative"
    res[status == "PNQ"] = "positive"
    quant = status == "quantified"
    res[quant & (level < threshold)] = "negative"
    res[quant & ~(level < threshold)] = "positive"
    return res


def derive_mrd(assessment: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """MRD status of an assessment with the method that decided it.

    For each patient the methods are tried in ``response.mrd_method_precedence`` order (PCR before flow
    cytometry for BLIN-COMPASS); the first with a result decides. A result is negative when the status is
    ``NEG`` or the level is < ``response.mrd_negative_below``; ``PNQ`` and higher levels are positive;
    ``ND`` or empty passes to the next method. Returns columns ``mrd`` ("negative" / "positive" / "unknown")
    and ``mrd_method`` ("PCR" / "FC" / ``None``).
    """
    thr = protocol.response.mrd_negative_below
    status = pd.Series("unknown", index=assessment.index, dtype="object")
    method = pd.Series([None] * len(assessment), index=assessment.index, dtype="object")
    decided = pd.Series(False, index=assessment.index)
    for m in protocol.response.mrd_method_precedence:
        res = _method_status(assessment[f"{m}_mrd_status"], assessment[f"{m}_mrd"], thr)
        take = ~decided & res.notna()
        status[take] = res[take]
        method[take] = m.upper()
        decided |= take
    return pd.DataFrame({"mrd": status, "mrd_method": method})


def derive_response(
    cr: pd.Series, mrd: pd.Series, stratum: pd.Series, protocol: Protocol, progressed: pd.Series | None = None
) -> pd.Series:
    """Response by stratum as ``response.response_by_stratum`` defines it.

    ``"cr"``: morphological CR. ``"mrd_negative"``: CR and MRD negative. A patient whose course was
    stopped for progression (``progressed``) is a non-responder even without an assessment; otherwise a
    missing assessment or stratum gives ``<NA>`` (not evaluable). An MRD result of "unknown" in a stratum
    judged on MRD counts as not negative (the publication's 21/26 counts only documented negativity).
    """
    kind = stratum.map(protocol.response.response_by_stratum)
    out = pd.Series(pd.NA, index=cr.index, dtype="boolean")
    is_cr = kind == "cr"
    is_mrd = kind == "mrd_negative"
    out[is_cr] = cr[is_cr]
    out[is_mrd] = cr[is_mrd] & (mrd[is_mrd] == "negative")
    out = out.mask(cr.isna() | kind.isna())
    if progressed is not None:
        out[progressed.fillna(False).astype(bool)] = False
    return out


def derive_best_response(per_course: Sequence[tuple[pd.Series, pd.Series]]) -> pd.Series:
    """Best response over several assessments, each given as ``(cr, mrd)``.

    Categories, best first: ``cr_mrd_negative``, ``cr_mrd_positive``, ``cr_mrd_unknown``, ``no_cr``;
    ``None`` when no assessment was made.
    """
    rank = {c: i for i, c in enumerate(BEST_RESPONSE_ORDER)}
    index = per_course[0][0].index
    best = pd.Series(np.nan, index=index)
    for cr, mrd in per_course:
        cat = pd.Series(None, index=index, dtype="object")
        cat[cr == False] = "no_cr"  # noqa: E712 - nullable boolean comparison
        is_cr = cr.fillna(False).astype(bool)
        cat[is_cr & (mrd == "negative")] = "cr_mrd_negative"
        cat[is_cr & (mrd == "positive")] = "cr_mrd_positive"
        cat[is_cr & (mrd == "unknown")] = "cr_mrd_unknown"
        r = cat.map(rank).astype(float)
        best = pd.Series(np.fmin(best.to_numpy(), r.to_numpy()), index=index)
    return pd.Series([None if np.isnan(r) else BEST_RESPONSE_ORDER[int(r)] for r in best.to_numpy(float)],
                     index=index, dtype="object")


def derive_early_relapse(
    relapse_date: pd.Series,
    hsct_date: pd.Series,
    course_end_by_number: pd.DataFrame,
    responded: pd.Series,
    protocol: Protocol,
) -> pd.Series:
    """Early relapse: a relapse in a responder during the first ``early_relapse_max_course`` courses or
    within ``early_relapse_days_after_course`` days after the end of the last of them, before any HSCT.

    ``course_end_by_number`` is indexed by patient with one column per course number holding its end date.
    """
    k = protocol.response.early_relapse_max_course
    cols = [c for c in course_end_by_number.columns if int(c) <= k]
    last_end = course_end_by_number[cols].max(axis=1) if cols else pd.Series(pd.NaT, index=relapse_date.index)
    limit = last_end + pd.Timedelta(days=protocol.response.early_relapse_days_after_course)
    before_hsct = hsct_date.isna() | (relapse_date < hsct_date)
    responder = responded.fillna(False).astype(bool)
    early = relapse_date.notna() & (relapse_date <= limit) & before_hsct & responder
    return early.astype("boolean")


def derive_sustained_response(response: pd.Series, early_relapse: pd.Series) -> pd.Series:
    """Response still held at the sustained-response horizon: responded and no early relapse."""
    out = response.copy()
    out[early_relapse.fillna(False).astype(bool)] = False
    return out
