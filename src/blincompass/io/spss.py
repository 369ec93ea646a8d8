"""SPSS .sav files: read as raw forms, and written from forms and analysis tables.

Reading (:func:`read_sav`):

One .sav file per form, named as the form (``patients.sav``, ...) or as the mapping's ``instrument``,
in a folder (a single .sav file is read as the one form it is named after). Variables are matched by
name (case-insensitive; the mapping renames). Value labels are applied: a coded variable (1 = Male,
2 = Female) gives its label, which the validator reads as our code, label or alias; user-missing values
without a label become empty cells. SPSS dates arrive as dates. The row number of a finding is the SPSS
case number.

Writing (:func:`write_form_savs`, :func:`write_sav_table`): one .sav per form with variable labels and
value labels for codes, yes/no and the MRD codes (re-importable with :func:`read_sav`), and the analysis
tables with variable labels (flags as 1/0 with value labels). The creation date and time in the header
are set to a fixed date, so the same content gives the same bytes; values are data, never formulas.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from blincompass.dictionary import MRD_CODES, DataDictionary, Form, load_dictionary
from blincompass.io.mapping import ConversionIssue, ConversionResult, load_mapping
from blincompass.io.outpath import atomic_write
from blincompass.io.raw import InputReadError, RawDataset, RawTable
from blincompass.io.tables import transport_frame

if TYPE_CHECKING:
    from blincompass.io.dataset import Dataset

__all__ = ["MRD_SAV_CODES", "SAV_UNKNOWN", "read_sav", "sav_cell", "write_form_savs", "write_sav_table"]

#: Fixed creation date and time stamped into .sav headers (output must not depend on the clock).
FIXED_SAV_DATE, FIXED_SAV_TIME = b"01 Jan 20", b"00:00:00"
#: SPSS numeric codes of the MRD statuses (value labels NEG / PNQ / ND).
MRD_SAV_CODES: dict[int, str] = {-1: "NEG", -2: "PNQ", -3: "ND"}
#: SPSS numeric code of "unknown" for an integer variable that allows it (the AE grade).
SAV_UNKNOWN = -1


def _is_user_missing(value: Any, ranges: list[tuple[Any, Any]]) -> bool:
    for lo, hi in ranges:
        try:
            if lo <= value <= hi:
                return True
        except TypeError:
            continue
    return False


def sav_cell(value: Any, labels: dict[Any, str] | None, user_missing: list[tuple[Any, Any]] | None = None) -> Any:
    """One SPSS value as a raw cell: its value label, else empty for a user-missing value (``(lo, hi)``
    ranges), else the value (integral numbers as ``int``)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if labels:
        for key in (value, float(value) if isinstance(value, int) else value):
            if key in labels:
                return labels[key]
    if user_missing and _is_user_missing(value, user_missing):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date()
    if isinstance(value, str):
        return value.strip() or None
    return value


def _files(path: Path) -> dict[str, Path]:
    if path.is_dir():
        return {p.stem.casefold(): p for p in sorted(path.iterdir()) if p.suffix.casefold() == ".sav"}
    return {path.stem.casefold(): path}


def read_sav(
    path: str | Path, mapping: str | Path | None = None, dictionary: DataDictionary | None = None
) -> ConversionResult:
    """Read SPSS files (a folder with one .sav per form, or one .sav) as raw forms."""
    import pyreadstat

    d = dictionary or load_dictionary()
    p = Path(path)
    if not p.exists():
        raise InputReadError(f"{p} does not exist")
    m = load_mapping(mapping, d)
    files = _files(p)
    if not files:
        raise InputReadError(f"{p} has no .sav files; expected one per form "
                             f"({', '.join(f + '.sav' for f in d.form_names)})")
    issues: list[ConversionIssue] = []
    tables: dict[str, RawTable] = {}
    used: set[str] = set()
    for form in d.forms:
        fm = m.forms[form.name]
        f = files.get(fm.instrument.casefold())
        if f is None:
            continue
        used.add(f.stem.casefold())
        try:
            df, meta = pyreadstat.read_sav(str(f), user_missing=True, dates_as_pandas_datetime=False)
        except Exception as exc:  # pyreadstat raises its own error types for unreadable files
            raise InputReadError(f"{f.name} cannot be read as an SPSS .sav file: {exc}") from exc
        rename: dict[str, str] = {}
        for var, spec in fm.fields.items():
            if spec.field is None:
                raise InputReadError(f"{m.source}: forms.{form.name}.fields.{var}: SPSS files map a variable "
                                     "to a variable name only")
            rename[spec.field.casefold()] = var
        header = [rename.get(c.casefold(), c) for c in df.columns]
        missing = {var: spec.field for var, spec in fm.fields.items()
                   if spec.field and spec.field.casefold() not in {c.casefold() for c in df.columns}}
        for var, name in missing.items():
            issues.append(ConversionIssue("warning", f.name, 1, None, var, name, "sav.variable_missing",
                                          f"SPSS variable '{name}' (for {form.name}.{var}) is not in {f.name}"))
        value_labels = meta.variable_value_labels or {}
        user_missing: dict[str, list[tuple[Any, Any]]] = {}
        for c, ranges in (getattr(meta, "missing_ranges", None) or {}).items():
            user_missing[c] = [(r["lo"], r["hi"]) for r in ranges]
        rows = []
        for case, values in enumerate(df.itertuples(index=False, name=None), start=1):
            cells = tuple(sav_cell(v, value_labels.get(c), user_missing.get(c))
                          for c, v in zip(df.columns, values, strict=True))
            rows.append((case, cells))
        tables[form.name] = RawTable(form.name, f.name, tuple(header), tuple(rows))
    other = tuple(sorted(q.name for k, q in files.items() if k not in used))
    return ConversionResult(RawDataset(str(p), tables, (), other), tuple(issues))


# -- writing ----------------------------------------------------------------------------------------


def _fix_sav_time(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[92:101] = FIXED_SAV_DATE  # header: creation date (9 bytes) and time (8 bytes)
    data[101:109] = FIXED_SAV_TIME
    path.write_bytes(bytes(data))


def write_sav_table(df: pd.DataFrame, labels: dict[str, str], path: Path,
                    value_labels: dict[str, dict[float, str]] | None = None) -> Path:
    """One table as an SPSS .sav with variable labels (and value labels for flags and given codes)."""
    import pyreadstat

    frame, vl = transport_frame(df, for_sav=True)
    vl.update(value_labels or {})
    measure = {c: ("scale" if pd.api.types.is_float_dtype(frame[c]) and c not in vl else "nominal")
               for c in frame.columns}
    formats = {c: "EDATE10" for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])}

    def writer(p: Path) -> None:
        pyreadstat.write_sav(frame, str(p), column_labels={c: labels.get(c, c) for c in frame.columns},
                             variable_value_labels=vl or None, variable_measure=measure,
                             variable_format=formats or None)
        _fix_sav_time(p)

    return atomic_write(path, writer)


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
