"""SPSS .sav files -> raw forms.

One .sav file per form, named as the form (``patients.sav``, ...) or as the mapping's ``instrument``,
in a folder (a single .sav file is read as the one form it is named after). Variables are matched by
name (case-insensitive; the mapping renames). Value labels are applied: a coded variable (1 = Male,
2 = Female) gives its label, which the validator reads as our code, label or alias; user-missing values
without a label become empty cells. SPSS dates arrive as dates. The row number of a finding is the SPSS
case number.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

from blincompass.dictionary import DataDictionary, load_dictionary
from blincompass.io.mapping import ConversionIssue, ConversionResult, load_mapping
from blincompass.io.raw import InputReadError, RawDataset, RawTable

__all__ = ["read_sav", "sav_cell"]


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
