"""Adverse-event analysis table (ADAE-style): one row per adverse event of an eligible patient."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from blincompass.dictionary import resolve_term
from blincompass.protocol import Protocol

__all__ = ["ADAE_COLUMNS", "build_adae"]

#: Columns of the adverse-event table, in order, with their meaning (rendered in the docs).
ADAE_COLUMNS: dict[str, str] = {
    "STUDYID": "Study identifier (protocol study.name)",
    "USUBJID": "Patient identifier",
    "AESEQ": "Sequence number of the event within the patient (source row order)",
    "COURSE": "Course of the study treatment during which the event began",
    "AETERM": "Adverse-event term as reported",
    "AEDECOD": "CTCAE term: the reported term when it is one, else its mapped term (synonym / nearest / "
    "'Other, specify'); missing when unmapped",
    "AESTATUS": "Relation of the reported term to CTCAE: ctcae / synonym / nearest / other / unmapped",
    "AENOTE": "Note of the term mapping (why a term is not CTCAE, candidates)",
    "AESOC": "CTCAE system organ class of AEDECOD",
    "AETOXGR": "CTCAE grade 1-5; missing = unknown grade",
    "AEGRPID": "Table 2 group id from the protocol (report.table2.rows), missing when the term is ungrouped",
    "AEGRPCAT": "Table 2 group label from the protocol, missing when the term is ungrouped",
    "ASTDT": "Onset date",
    "AEACN": "Action taken with the study treatment: DRUG WITHDRAWN / DRUG INTERRUPTED / NONE",
    "AEACNINT": "Led to a transient interruption of the course",
    "AEACNDSC": "Led to discontinuation of the course",
    "STRATUM": "Stratum of the patient (protocol adtte.stratum)",
    "SRCROW": "Source row of the adverse-events form (header = 1)",
}


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    text = " ".join(str(value).split())
    return text or None


def _flag(values: pd.Series) -> np.ndarray:
    """Truth of each value (``bool(v)``), missing values false."""
    obj = values.astype(object)
    return obj.where(obj.notna(), False).astype(bool).to_numpy()


def _as_int(values: pd.Series) -> pd.Series:
    """Nullable integers, truncating as ``int()`` does; missing values stay missing."""
    num = pd.to_numeric(values.astype(object)).astype("Float64")
    return np.trunc(num).astype("Int64")


def build_adae(dataset: Any, adsl: pd.DataFrame, protocol: Protocol, patient_id: str = "patient_id") -> pd.DataFrame:
    """Build the adverse-event analysis table from the protocol's ``[adae]`` section (an empty table when
    it has none).

    One row per row of the adverse-events form whose patient is eligible (``adsl.eligible``) and has
    toxicity data (``[adae] toxicity_data`` not false), in the order of the patients form and then of the
    source rows. With ``grading = "ctcae"`` the reported term is resolved against CTCAE (protocol
    ``report.table2.ctcae_version``) with :func:`blincompass.dictionary.resolve_term` (the reader's
    resolution uses the same function, for v4.03); known terms take their canonical spelling. The Table 2
    group comes from the protocol (``report.table2.rows``), matched case-insensitively on the reported
    term, then on the CTCAE term.

    Returns a DataFrame with the columns of :data:`ADAE_COLUMNS`.
    """
    a = protocol.adae
    if a is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ADAE_COLUMNS})
    version = protocol.report.table2.ctcae_version
    elig = adsl[adsl["eligible"].fillna(False).astype(bool)]
    if a.toxicity_data:
        tox = elig[a.toxicity_data].astype("boolean").fillna(True).astype(bool)
    else:
        tox = pd.Series(True, index=elig.index)
    stratum_col = protocol.adtte.stratum
    keep = elig.loc[tox]
    order = {pid: i for i, pid in enumerate(keep[patient_id])}
    stratum = dict(zip(keep[patient_id], keep[stratum_col] if stratum_col else [None] * len(keep), strict=True))
    ae = dataset.forms[a.form]
    ae = ae[ae[patient_id].isin(order)].copy()
    ae["_order"] = ae[patient_id].map(order)
    ae["_pos"] = range(len(ae))
    ae = ae.sort_values(["_order", "_pos"], kind="stable")
    spec = protocol.report.table2
    # every distinct reported text is resolved once; rows take their values by lookup
    raw = ae[a.term].astype(object)
    raw = raw.where(raw.notna(), "")
    uniq = pd.Index(pd.unique(raw), dtype=object)
    term_rows = []
    for value in uniq:
        reported = _text(value) or ""
        res = resolve_term(reported, version) if reported and a.grading == "ctcae" else None
        decod = res.ctcae_term if res is not None else None
        if res is not None and res.status != "unmapped":
            reported = res.reported  # canonical spelling of a known term
        group = spec.group_of(reported) or (spec.group_of(decod) if decod else None)
        term_rows.append((
            reported,
            decod,
            res.status if res is not None else ("unmapped" if a.grading == "ctcae" else "as reported"),
            res.note if res is not None else None,
            res.soc if res is not None else None,
            group[0] if group else None,
            group[1] if group else None,
        ))
    terms = pd.DataFrame(term_rows, columns=["AETERM", "AEDECOD", "AESTATUS", "AENOTE", "AESOC", "AEGRPID",
                                             "AEGRPCAT"], dtype=object)
    per_row = terms.take(uniq.get_indexer(raw))
    pid = ae[patient_id].astype(str)
    none = pd.Series([None] * len(ae), index=ae.index, dtype=object)
    interrupted = _flag(ae[a.interrupted] if a.interrupted else none)
    discontinued = _flag(ae[a.discontinued] if a.discontinued else none)
    columns = {
        "STUDYID": np.full(len(ae), protocol.study.name, dtype=object),
        "USUBJID": pid.to_numpy(object),
        "AESEQ": (pid.groupby(pid, sort=False).cumcount() + 1).to_numpy(),
        "COURSE": (ae[a.course] if a.course else none).to_numpy(object),
        **{c: per_row[c].to_numpy(object) for c in ("AETERM", "AEDECOD", "AESTATUS", "AENOTE", "AESOC")},
        "AETOXGR": ae[a.grade].to_numpy(object),
        "AEGRPID": per_row["AEGRPID"].to_numpy(object),
        "AEGRPCAT": per_row["AEGRPCAT"].to_numpy(object),
        "ASTDT": ae[a.onset].to_numpy() if a.onset else np.full(len(ae), pd.NaT),
        "AEACN": np.where(discontinued, "DRUG WITHDRAWN", np.where(interrupted, "DRUG INTERRUPTED", "NONE")),
        "AEACNINT": interrupted,
        "AEACNDSC": discontinued,
        "STRATUM": pid.map(stratum).to_numpy(object),
        "SRCROW": ae["_row"].to_numpy(object) if "_row" in ae.columns else np.full(len(ae), None),
    }
    out = pd.DataFrame(columns, columns=list(ADAE_COLUMNS))
    out["AESEQ"] = out["AESEQ"].astype("Int64")
    out["COURSE"] = _as_int(out["COURSE"])
    out["AETOXGR"] = _as_int(out["AETOXGR"])
    out["SRCROW"] = _as_int(out["SRCROW"])
    out["ASTDT"] = pd.to_datetime(out["ASTDT"])
    out["AEACNINT"] = out["AEACNINT"].astype(bool)
    out["AEACNDSC"] = out["AEACNDSC"].astype(bool)
    for c in ("STUDYID", "USUBJID", "AETERM", "AEDECOD", "AESTATUS", "AENOTE", "AESOC", "AEGRPID", "AEGRPCAT",
              "AEACN", "STRATUM"):
        out[c] = out[c].astype("object")
    return out.reset_index(drop=True)
