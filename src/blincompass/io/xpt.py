"""SAS transport files (XPORT version 5) of the analysis tables.

XPORT version 5 allows variable names of at most 8 upper-case characters, labels of at most 40 and
character values of at most 200; :func:`xpt_name` and :func:`label40` make names and labels fit, and
:func:`write_xpt_tables` writes an index (``xpt_variables.csv``) mapping each XPT name back to the table's
column and label. The creation time that the format carries is set to a fixed date, so the same table
gives the same bytes. Values are data, never formulas.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from blincompass.io.outpath import atomic_write
from blincompass.io.safe import escape_text
from blincompass.io.tables import transport_frame

__all__ = ["FIXED_XPT_TIME", "XPT_LABELS", "XPT_NAMES", "label40", "write_xpt", "write_xpt_tables", "xpt_name"]

#: Fixed creation time stamped into .xpt headers (output must not depend on the clock).
FIXED_XPT_TIME = b"01JAN20:00:00:00"

#: XPT (8-character) names of the patient-level table's columns.
XPT_NAMES: dict[str, str] = {
    "patient_id": "USUBJID", "centre": "SITEID", "eligible": "ELIGFL", "exclusion_step": "EXCLSTEP",
    "exclusion_reason": "EXCLRSN", "sex": "SEX", "immunophenotype": "IMMUNO", "karyotype": "KARYO",
    "molecular": "MOLEC", "risk_group": "RISKGR", "disease_status": "DISSTAT", "relapse_site_baseline": "RELSITBL",
    "prior_hsct": "PRHSCTN", "prior_cart": "PRCARTFL", "debulking": "DEBULKFL", "access": "ACCESS",
    "age_diagnosis": "AGEDIAG", "age_first_dose": "AGE", "age_first_dose_completed": "AGECOMPL",
    "months_diagnosis_to_first_dose": "DXTOTRMO", "first_dose_date": "TRTSDT", "n_courses": "NCOURSE",
    "first_schedule": "SCHED1", "baseline_blasts": "BLBLAST", "baseline_mrd": "BLMRD",
    "baseline_mrd_method": "BLMRDMTH", "stratum": "STRATUM", "stratum_label": "STRATUML", "burden": "BURDEN",
    "burden_label": "BURDENL", "cr_c1": "CRC1FL", "mrd_c1": "MRDC1", "mrd_method_c1": "MRDC1MTH",
    "assessment_c1_date": "ASMC1DT", "response_c1": "RSPC1FL", "progression_on_treatment": "PROGTRFL",
    "best_response": "BESTRSP", "early_relapse": "ERELFL", "response_sustained": "RSPSUSFL", "relapse": "RELFL",
    "relapse_date": "RELDT", "relapse_cd19_negative": "RELCD19N", "relapse_after_hsct": "RELAHSFL",
    "hsct": "HSCTFL", "hsct_date": "HSCTDT", "hsct_bridging": "HSCTBRFL", "death": "DTHFL", "death_date": "DTHDT",
    "death_cause": "DTHCAUS", "last_followup_date": "LSTFUDT", "followup_months": "FUPMO",
    "tox_data_available": "TOXFL", "n_ae": "NAE", "any_ae": "ANYAEFL", "worst_ae_grade": "WORSTGR",
    "ae_grade3plus": "AEGR3FL",
}

#: Labels (at most 40 characters) for XPT columns whose description is longer.
XPT_LABELS: dict[str, str] = {
    "eligible": "Eligible (analysis population)", "exclusion_step": "Screening step of exclusion",
    "exclusion_reason": "Failing eligibility criteria", "disease_status": "Disease status at first course",
    "relapse_site_baseline": "Relapse site at first blinatumomab", "prior_hsct": "Number of HSCTs before blinatumomab",
    "debulking": "Debulking chemotherapy before treatment", "age_diagnosis": "Age at initial diagnosis (years)",
    "age_first_dose": "Age at first course (years)", "age_first_dose_completed": "Age at first course, completed years",
    "months_diagnosis_to_first_dose": "Months from diagnosis to first course",
    "baseline_blasts": "Bone-marrow blasts at baseline (%)", "baseline_mrd": "MRD at baseline",
    "assessment_c1_date": "Date of assessment after course 1", "cr_c1": "Morphological CR after course 1",
    "response_c1": "Response after course 1 (stratum rule)",
    "progression_on_treatment": "Course stopped for progression",
    "best_response": "Best response in the first courses", "response_sustained": "Response after course 1 sustained",
    "hsct_bridging": "Bridging chemotherapy before HSCT", "followup_months": "Follow-up from first course (months)",
    "STARTDT": "First blinatumomab administration", "AVAL": "Analysis value",
    "CNSR": "Censoring (0 = event, 1 = censored)", "EVNTDESC": "Event description", "PARAMCD": "Parameter code",
    "AVALC": "Analysis value (text)", "ADT": "Analysis date", "ADY": "Days from first administration to ADT",
    "MRDMETH": "MRD method (PCR / FC)", "AVISIT": "Assessment visit", "AESEQ": "Sequence number within patient",
    "COURSE": "Course during which the event began", "AEDECOD": "CTCAE term (mapped)",
    "AESTATUS": "Reported term relation to CTCAE", "AENOTE": "Note on the term mapping",
    "AETOXGR": "CTCAE grade (missing = unknown)", "AEGRPID": "Table 2 group id", "AEGRPCAT": "Table 2 group label",
    "AEACN": "Action taken with blinatumomab", "AEACNINT": "Led to transient interruption",
    "AEACNDSC": "Led to discontinuation of the course", "STRATUM": "Baseline stratum id",
    "SRCROW": "Source row of the adverse-events form", "STUDYID": "Study identifier",
}


def label40(text: str) -> str:
    """A label of at most 40 characters: parenthetical remarks dropped first, then cut at a word."""
    text = " ".join(text.split())
    if len(text) <= 40:
        return text
    short = re.sub(r"\s*\([^)]*\)", "", text).strip()
    short = short.split(":")[0].split(";")[0].strip() if len(short) > 40 else short
    if len(short) <= 40:
        return short
    cut = short[:40].rsplit(" ", 1)[0]
    return cut.rstrip(" ,-/")


def xpt_name(column: str, taken: set[str]) -> str:
    """The XPT v5 name of a column: :data:`XPT_NAMES`, else upper-case letters and digits cut to 8
    characters (made unique with a digit suffix)."""
    base = XPT_NAMES.get(column) or re.sub(r"[^A-Z0-9_]", "", column.upper()) or "VAR"
    if base[0].isdigit():
        base = "V" + base
    name = base[:8]
    n = 1
    while name in taken:
        suffix = str(n)
        name = base[: 8 - len(suffix)] + suffix
        n += 1
    taken.add(name)
    return name


def _fix_xpt_time(path: Path) -> None:
    data = re.sub(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d", FIXED_XPT_TIME, path.read_bytes())
    path.write_bytes(data)


def write_xpt(df: pd.DataFrame, labels: dict[str, str], path: Path, table: str) -> list[tuple[str, str, str]]:
    """One table as an XPORT v5 file; returns (xpt name, column, label) per variable."""
    import pyreadstat

    frame, _ = transport_frame(df, for_sav=False)
    taken: set[str] = set()
    names = {c: xpt_name(c, taken) for c in frame.columns}
    frame = frame.rename(columns=names)
    col_labels = {names[c]: label40(XPT_LABELS.get(c) or labels.get(c, c)) for c in df.columns}
    formats = {names[c]: "DATE9." for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])}

    def writer(p: Path) -> None:
        pyreadstat.write_xport(frame, str(p), file_label=label40(f"{table.upper()} analysis table"),
                               column_labels=col_labels, table_name=table.upper()[:8], file_format_version=5,
                               variable_format=formats or None)
        _fix_xpt_time(p)

    atomic_write(path, writer)
    return [(names[c], c, col_labels[names[c]]) for c in df.columns]


def write_xpt_tables(tables: Mapping[str, tuple[pd.DataFrame, dict[str, str]]], out_dir: Path) -> list[Path]:
    """Each ``name: (table, column descriptions)`` as ``<name>.xpt`` in ``out_dir``, then
    ``xpt_variables.csv`` (dataset, xpt_name, column, label); returns the paths written."""
    rows: list[tuple[str, str, str, str]] = []
    written = []
    for name, (df, labels) in tables.items():
        for xname, col, lab in write_xpt(df, labels, out_dir / f"{name}.xpt", name):
            rows.append((name, xname, col, lab))
        written.append(out_dir / f"{name}.xpt")

    def index(p: Path) -> None:
        with p.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["dataset", "xpt_name", "column", "label"])
            w.writerows([escape_text(v) for v in r] for r in rows)

    written.append(atomic_write(out_dir / "xpt_variables.csv", index))
    return written
