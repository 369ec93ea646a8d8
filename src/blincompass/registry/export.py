"""Exports of the data a user may see: template workbook, form CSVs, ADaM-style tables (CSV, SAS XPT v5)
and SPSS files.

* ``template``: ``registry.xlsx``, the collection workbook filled with the data (re-importable);
* ``csv``: one CSV per form, byte-identical to :meth:`Dataset.to_csv_dir` of the validated input;
* ``adam``: ``adsl.csv``, ``adtte.csv``, ``adrs.csv``, ``adae.csv`` (derived with the protocol);
* ``xpt``: the same four tables as SAS transport files (XPORT version 5: variable names of at most 8
  upper-case characters, labels of at most 40), plus ``xpt_variables.csv`` mapping each XPT name to the
  table's column and label;
* ``sav``: one SPSS file per form (variable labels; value labels for codes, yes/no and the MRD codes;
  re-importable with ``--format sav``) and the four ADaM-style tables as .sav.

Free text that a spreadsheet could take for a formula (``=HYPERLINK(...)``, ``@SUM(...)``) is written
inert: a string cell in the workbook, an apostrophe-escaped value in the CSVs
(:mod:`blincompass.io.safe`). SAS and SPSS files hold the values as data, never as formulas.

Every file is written to a temporary name and renamed; the same registry content gives byte-identical
files (the creation timestamps that the SAS and SPSS formats carry are set to a fixed date).
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from blincompass.dictionary import MRD_CODES, DataDictionary, Form, Variable
from blincompass.io.dataset import Dataset, format_value
from blincompass.io.outpath import atomic_write
from blincompass.io.safe import escape_text, write_cell
from blincompass.io.tables import write_table_csv
from blincompass.protocol import Protocol

if TYPE_CHECKING:
    from blincompass.registry.access import ScopedRegistry

__all__ = [
    "EXPORT_FORMATS",
    "MRD_SAV_CODES",
    "SAV_UNKNOWN",
    "XPT_NAMES",
    "adam_tables",
    "export",
    "label40",
    "write_form_savs",
    "write_workbook",
    "xpt_name",
]

EXPORT_FORMATS: tuple[str, ...] = ("template", "csv", "adam", "xpt", "sav")

#: Fixed creation time stamped into .xpt and .sav headers (output must not depend on the clock).
FIXED_XPT_TIME = b"01JAN20:00:00:00"
FIXED_SAV_DATE, FIXED_SAV_TIME = b"01 Jan 20", b"00:00:00"

#: Longest character value in an XPORT version 5 file (longer text is cut).
XPT_MAX_CHARS = 200
#: SPSS numeric codes of the MRD statuses (value labels NEG / PNQ / ND).
MRD_SAV_CODES: dict[int, str] = {-1: "NEG", -2: "PNQ", -3: "ND"}
#: SPSS numeric code of "unknown" for an integer variable that allows it (the AE grade).
SAV_UNKNOWN = -1

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


def _atomic(path: Path, writer: Callable[[Path], None]) -> Path:
    return atomic_write(path, writer)


# -- template workbook ------------------------------------------------------------------------------


def _cell(var: Variable, row: pd.Series) -> Any:
    text = format_value(var, row)
    if text == "":
        return None
    value = row[var.name]
    if var.type == "date":
        return pd.Timestamp(value).date()
    if var.type == "integer" and text != "unknown":
        return int(value)
    if var.type == "number":
        return float(value)
    if var.type == "mrd" and row[f"{var.name}_status"] == "quantified":
        return float(value)
    return text


def write_workbook(dataset: Dataset, path: str | Path, dictionary: DataDictionary) -> Path:
    """The collection workbook (README, dropdowns, notes) with the data set's rows filled in."""
    from openpyxl.writer.excel import ExcelWriter

    from blincompass.io.template import _deterministic_zip, template_workbook

    wb = template_workbook(dictionary)
    for form in dictionary.forms:
        ws = wb[form.name]
        for i, (_, row) in enumerate(dataset.forms[form.name].iterrows(), start=2):
            for j, var in enumerate(form.variables, start=1):
                value = _cell(var, row)
                if value is not None:
                    c = write_cell(ws, i, j, value)
                    if var.type == "date":
                        c.number_format = "yyyy-mm-dd"
    buf = io.BytesIO()
    archive = zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    ExcelWriter(wb, archive).save()
    data = _deterministic_zip(buf.getvalue())
    return _atomic(Path(path), lambda p: p.write_bytes(data))


# -- ADaM-style tables ------------------------------------------------------------------------------


def adam_tables(dataset: Dataset, protocol: Protocol) -> dict[str, tuple[pd.DataFrame, dict[str, str]]]:
    """``adsl``, ``adtte``, ``adrs``, ``adae``: each a table and its column descriptions."""
    from blincompass.derive import ADAE_COLUMNS, ADSL_COLUMNS, ADTTE_COLUMNS, build_adae, derive_all
    from blincompass.derive.adrs import ADRS_COLUMNS, build_adrs

    derived = derive_all(dataset, protocol)
    return {
        "adsl": (derived.adsl, ADSL_COLUMNS),
        "adtte": (derived.adtte, ADTTE_COLUMNS),
        "adrs": (build_adrs(dataset, derived.adsl, protocol), ADRS_COLUMNS),
        "adae": (build_adae(dataset, derived.adsl, protocol), ADAE_COLUMNS),
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


def _flag(series: pd.Series) -> pd.Series:
    return series.map(lambda v: "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                      else ("Y" if bool(v) else "N")).astype("object")


def _transport_frame(df: pd.DataFrame, for_sav: bool) -> tuple[pd.DataFrame, dict[str, dict[float, str]]]:
    """Columns as SAS/SPSS can hold them: dates as ``datetime.date``, flags Y/N (XPT) or 1/0 with value
    labels (SPSS), nullable integers as floats, text as text ('' for missing)."""
    out = pd.DataFrame(index=df.index)
    labels: dict[str, dict[float, str]] = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[c] = [None if pd.isna(v) else pd.Timestamp(v).date() for v in s]
        elif pd.api.types.is_bool_dtype(s) or str(s.dtype) == "boolean":
            if for_sav:
                out[c] = [np.nan if pd.isna(v) else float(bool(v)) for v in s]
                labels[c] = {0.0: "No", 1.0: "Yes"}
            else:
                out[c] = _flag(s)
        elif pd.api.types.is_numeric_dtype(s):
            out[c] = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            text = ["" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v) for v in s]
            # XPORT version 5 holds at most 200 characters per value
            out[c] = text if for_sav else [v[:XPT_MAX_CHARS] for v in text]
    return out, labels


def _fix_xpt_time(path: Path) -> None:
    data = re.sub(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d", FIXED_XPT_TIME, path.read_bytes())
    path.write_bytes(data)


def _fix_sav_time(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[92:101] = FIXED_SAV_DATE  # header: creation date (9 bytes) and time (8 bytes)
    data[101:109] = FIXED_SAV_TIME
    path.write_bytes(bytes(data))


def write_xpt(df: pd.DataFrame, labels: dict[str, str], path: Path, table: str) -> list[tuple[str, str, str]]:
    """One table as an XPORT v5 file; returns (xpt name, column, label) per variable."""
    import pyreadstat

    frame, _ = _transport_frame(df, for_sav=False)
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

    _atomic(path, writer)
    return [(names[c], c, col_labels[names[c]]) for c in df.columns]


def write_sav_table(df: pd.DataFrame, labels: dict[str, str], path: Path,
                    value_labels: dict[str, dict[float, str]] | None = None) -> Path:
    """One table as an SPSS .sav with variable labels (and value labels for flags and given codes)."""
    import pyreadstat

    frame, vl = _transport_frame(df, for_sav=True)
    vl.update(value_labels or {})
    measure = {c: ("scale" if pd.api.types.is_float_dtype(frame[c]) and c not in vl else "nominal")
               for c in frame.columns}
    formats = {c: "EDATE10" for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])}

    def writer(p: Path) -> None:
        pyreadstat.write_sav(frame, str(p), column_labels={c: labels.get(c, c) for c in frame.columns},
                             variable_value_labels=vl or None, variable_measure=measure,
                             variable_format=formats or None)
        _fix_sav_time(p)

    return _atomic(path, writer)


# -- forms as SPSS files ----------------------------------------------------------------------------


def _sav_form(form: Form, df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str], dict[str, dict[float, str]]]:
    out = pd.DataFrame(index=df.index)
    labels: dict[str, str] = {}
    vlabels: dict[str, dict[float, str]] = {}
    for v in form.variables:
        s = df[v.name]
        labels[v.name] = v.label
        if v.type == "code":
            codes = list(v.code_values)
            out[v.name] = [np.nan if c is None or c is pd.NA else float(codes.index(c) + 1) for c in s]
            vlabels[v.name] = {float(i + 1): v.code_label(c) for i, c in enumerate(codes)}
        elif v.type == "boolean":
            out[v.name] = [np.nan if pd.isna(x) else float(bool(x)) for x in s]
            vlabels[v.name] = {0.0: "no", 1.0: "yes"}
        elif v.type == "date":
            out[v.name] = pd.to_datetime(s)
        elif v.type == "integer":
            vals = [np.nan if pd.isna(x) else float(x) for x in s]
            if v.allow_unknown and v.required:
                vals = [float(SAV_UNKNOWN) if np.isnan(x) else x for x in vals]
                vlabels[v.name] = {float(SAV_UNKNOWN): "unknown"}
            out[v.name] = vals
        elif v.type == "number":
            out[v.name] = s.astype("float64")
        elif v.type == "mrd":
            status = df[f"{v.name}_status"]
            codes = {label: float(code) for code, label in MRD_SAV_CODES.items()}
            out[v.name] = [float(level) if st == "quantified" else (codes[st] if st in codes else np.nan)
                           for level, st in zip(s, status, strict=True)]
            vlabels[v.name] = {float(k): lab for k, lab in MRD_SAV_CODES.items()}
            labels[v.name] = f"{v.label} (-1 NEG, -2 PNQ, -3 ND: {', '.join(MRD_CODES.values())})"
        else:
            out[v.name] = [None if x is None or x is pd.NA else str(x) for x in s]
    return out, labels, vlabels


def write_form_savs(dataset: Dataset, out_dir: Path, dictionary: DataDictionary) -> list[Path]:
    """One .sav per form, re-importable with ``blincompass db import DIR --format sav``."""
    written = []
    for form in dictionary.forms:
        frame, labels, vl = _sav_form(form, dataset.forms[form.name])
        written.append(write_sav_table(frame, labels, out_dir / f"{form.name}.sav", vl))
    return written


# -- entry point ------------------------------------------------------------------------------------


def export(scoped: ScopedRegistry, fmt: str, out_dir: str | Path, protocol: Protocol) -> list[Path]:
    """Export what ``scoped``'s user may see in format ``fmt`` (:data:`EXPORT_FORMATS`) into ``out_dir``."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"fmt: {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    d = scoped.registry.dictionary
    dataset = scoped.read_dataset()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        tmp = out / ".csv.tmp"
        written = []
        try:
            for f in dataset.to_csv_dir(tmp, d):
                target = out / f.name
                f.replace(target)
                written.append(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return written
    if fmt == "template":
        return [write_workbook(dataset, out / "registry.xlsx", d)]
    if fmt == "sav":
        written = write_form_savs(dataset, out, d)
        for name, (df, labels) in adam_tables(dataset, protocol).items():
            written.append(write_sav_table(df, labels, out / f"{name}.sav"))
        return written
    tables = adam_tables(dataset, protocol)
    written = []
    if fmt == "adam":
        for name, (df, _) in tables.items():
            written.append(_atomic(out / f"{name}.csv", lambda p, df=df: write_table_csv(df, p)))
        return written
    rows: list[tuple[str, str, str, str]] = []
    for name, (df, labels) in tables.items():
        for xname, col, lab in write_xpt(df, labels, out / f"{name}.xpt", name):
            rows.append((name, xname, col, lab))
        written.append(out / f"{name}.xpt")

    def index(p: Path) -> None:
        with p.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["dataset", "xpt_name", "column", "label"])
            w.writerows([escape_text(v) for v in r] for r in rows)

    written.append(_atomic(out / "xpt_variables.csv", index))
    return written

