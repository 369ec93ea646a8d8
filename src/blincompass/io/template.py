"""Collection templates generated from the data dictionary: an .xlsx workbook and header-only CSVs.

The workbook has a README sheet, one sheet per form (bold frozen header; a note on each header cell with
label, type, unit, requirement and allowed codes; dropdowns for codes and yes/no; date and range
validation), a ``dictionary`` sheet listing every variable and a hidden ``lists`` sheet holding the
dropdown lists (referenced by range, because Excel limits inline lists to 255 characters).

Output is deterministic: the document properties carry a fixed timestamp and the zip entries a fixed
date, so the same call gives byte-identical files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from blincompass.dictionary import (
    MRD_CODES,
    UNKNOWN,
    DataDictionary,
    Form,
    Variable,
    ctcae_terms,
    load_dictionary,
    reported_terms,
)
from blincompass.io import cells
from blincompass.io.ooxml import deterministic_zip
from blincompass.io.outpath import atomic_write_bytes
from blincompass.io.safe import escape_text, write_cell

if TYPE_CHECKING:
    import pandas as pd

    from blincompass.io.dataset import Dataset

#: Timestamp written into the workbook properties (created / modified) so that output is reproducible.
TEMPLATE_TIMESTAMP = dt.datetime(2020, 1, 1, 0, 0, 0)
#: Rows (after the header) that carry dropdowns, formats and validation in each form sheet.
TEMPLATE_ROWS = 1000
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_AUTHOR = "blincompass"


def requirement_text(var: Variable) -> str:
    """'required', 'required when ...' or 'optional'."""
    if var.required:
        return "required"
    if var.required_if is not None:
        return f"required when {var.required_if.describe()}"
    return "optional"


def codes_text(var: Variable, sep: str = "; ") -> str:
    """Allowed codes with labels (``code = label``), MRD codes, or yes/no."""
    if var.type == "code":
        return sep.join(f"{c} = {var.code_label(c)}" for c in var.code_values)
    if var.type == "boolean":
        return sep.join(["yes", "no"])
    if var.type == "mrd":
        return sep.join(["level in [0, 1]", *(f"{k} = {v}" for k, v in MRD_CODES.items())])
    if var.allow_unknown:
        return f"{UNKNOWN} = Unknown"
    return ""


def _range_text(var: Variable) -> str:
    if var.type in ("integer", "number") and (var.min is not None or var.max is not None):
        lo = "" if var.min is None else f"{var.min:g}"
        hi = "" if var.max is None else f"{var.max:g}"
        return f"{lo} to {hi}"
    return ""


def header_note(var: Variable) -> str:
    """Text of the note attached to a header cell."""
    lines = [var.label, f"Type: {var.type}" + (f" ({var.unit})" if var.unit else "")]
    rng = _range_text(var)
    if rng:
        lines.append(f"Range: {rng}" + (f" {var.unit}" if var.unit else ""))
    lines.append(requirement_text(var).capitalize())
    if var.type == "date":
        lines.append("Format: yyyy-mm-dd (dd/mm/yyyy also accepted)")
    codes = codes_text(var, "\n")
    if codes:
        lines.append("Allowed:\n" + codes)
    if var.type == "ctcae_term":
        lines.append("A CTCAE v4.03 term (dropdown), or the term as reported.")
    return "\n".join(lines)


def _list_values(var: Variable) -> list[str] | None:
    if var.type == "code":
        return list(var.code_values)
    if var.type == "boolean":
        return ["yes", "no"]
    if var.type == "ctcae_term":
        out = list(reported_terms())
        seen = {t.casefold() for t in out}
        out += [t for t in ctcae_terms("4.03") if t.casefold() not in seen]
        return out
    if var.type == "integer" and var.allow_unknown and var.min is not None and var.max is not None:
        if var.max - var.min <= 10:
            return [str(i) for i in range(int(var.min), int(var.max) + 1)] + [UNKNOWN]
    return None


def _readme(ws: Worksheet, d: DataDictionary) -> None:
    missing = ", ".join(f'"{t}"' for t in d.meta.missing_tokens if t)
    lines: list[tuple[str, bool]] = [
        (f"{d.meta.name} data collection template (data dictionary version {d.meta.version})", True),
        ("", False),
        ("Study", True),
        (
            "BLIN-COMPASS: multicentre real-world study of blinatumomab in children and young adults with "
            "relapsed/refractory B-cell precursor ALL (AIEOP centres).",
            False,
        ),
        ("", False),
        ("How to fill", True),
        ("Fill one sheet per form; one row per record as described below. Do not rename sheets or headers.", False),
        ("Hover over a header cell to read the variable's label, unit, requirement and allowed codes.", False),
        ("Codes: choose from the dropdown (the code, its label or a listed alias are accepted, any case).", False),
        (f"{d.patient_id}: the pseudonymised identifier, identical in every sheet (no names, no dates of birth).",
         False),
        (f"Missing values: leave the cell empty (also read as missing: {missing}).", False),
        ("Unknown: write 'unknown' where the variable allows it (e.g. karyotype, AE grade).", False),
        ("Dates: yyyy-mm-dd (Excel date cells and dd/mm/yyyy, day first, are also accepted).", False),
        (
            "MRD (pcr_mrd, fc_mrd): the level as a fraction of cells in [0, 1], e.g. 0.0012 "
            "(= 0.12 % = 1.2x10-3), or NEG (negative), PNQ (positive, not quantifiable), ND (not done). "
            "A threshold such as '<1x10-4' is not accepted: write NEG or PNQ.",
            False,
        ),
        ("Percentages (bone-marrow blasts): a number from 0 to 100; a decimal comma is accepted.", False),
        ("Check the file with: blincompass validate <this file>.xlsx", False),
        ("", False),
        ("Forms", True),
    ]
    for form in d.forms:
        lines.append((f"{form.name}: {form.label}. {form.description}", False))
    lines += [("", False), ("The 'dictionary' sheet lists every variable.", False)]
    for i, (text, bold) in enumerate(lines, start=1):
        cell = write_cell(ws, i, 1, text or None)
        if bold:
            cell.font = Font(bold=True, size=14 if i == 1 else 11)
    ws.column_dimensions["A"].width = 130


def _form_sheet(
    ws: Worksheet, form: Form, lists: Worksheet, list_col: list[int], d: DataDictionary
) -> None:
    last = TEMPLATE_ROWS + 1
    for j, var in enumerate(form.variables, start=1):
        letter = get_column_letter(j)
        cell = write_cell(ws, 1, j, var.name)
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(vertical="top")
        note = header_note(var)
        cell.comment = Comment(note, _AUTHOR, width=320, height=40 + 15 * note.count("\n") + 15)
        width = max(len(var.name) + 4, 14)
        if var.type == "ctcae_term":
            width = 34
        if var.type in ("string",) and var.name != d.patient_id:
            width = max(width, 24)
        ws.column_dimensions[letter].width = width
        area = f"{letter}2:{letter}{last}"

        values = _list_values(var)
        dv: DataValidation | None = None
        if values is not None:
            list_col[0] += 1
            lc = get_column_letter(list_col[0])
            write_cell(lists, 1, list_col[0], f"{form.name}.{var.name}").font = Font(bold=True)
            for i, v in enumerate(values, start=2):
                write_cell(lists, i, list_col[0], v)
            ref = f"{quote_sheetname(lists.title)}!${lc}$2:${lc}${len(values) + 1}"
            dv = DataValidation(type="list", formula1=ref, allow_blank=True)
            if var.type == "ctcae_term":
                dv.showErrorMessage = False
                dv.prompt = "Pick a CTCAE v4.03 term, or type the term as reported."
            else:
                dv.showErrorMessage = True
                dv.errorStyle = "warning"
                dv.error = f"Expected one of: {', '.join(values)[:200]}"
        elif var.type == "date":
            lo, hi = cells.date_window(var, d.meta)
            dv = DataValidation(
                type="date",
                operator="between",
                formula1=f"DATE({lo.year},{lo.month},{lo.day})",
                formula2=f"DATE({hi.year},{hi.month},{hi.day})",
                allow_blank=True,
            )
            dv.showErrorMessage = True
            dv.errorStyle = "warning"
            dv.error = "Expected a date (yyyy-mm-dd)."
            ws.column_dimensions[letter].number_format = "yyyy-mm-dd"
        elif var.type in ("integer", "number") and (var.min is not None or var.max is not None):
            lo = -1e9 if var.min is None else var.min
            hi = 1e9 if var.max is None else var.max
            dv = DataValidation(
                type="whole" if var.type == "integer" else "decimal",
                operator="between",
                formula1=f"{lo:g}",
                formula2=f"{hi:g}",
                allow_blank=True,
            )
            dv.showErrorMessage = True
            dv.errorStyle = "warning"
            unit = f" {var.unit}" if var.unit else ""
            kind = "a whole number" if var.type == "integer" else "a number"
            dv.error = f"Expected {kind} from {lo:g} to {hi:g}{unit}."
        elif var.type == "mrd":
            dv = DataValidation(allow_blank=True)
            dv.prompt = "Level in [0, 1] (e.g. 0.0012), or NEG / PNQ / ND."
        if dv is not None:
            dv.promptTitle = var.name[:32]
            if not dv.prompt:
                dv.prompt = var.label[:255]
            dv.showInputMessage = True
            dv.add(area)
            ws.add_data_validation(dv)
    ws.freeze_panes = "B2"


def _write_row(ws: Worksheet, row: int, values: list[object]) -> None:
    for j, value in enumerate(values, start=1):
        write_cell(ws, row, j, value)


def _dictionary_sheet(ws: Worksheet, d: DataDictionary) -> None:
    header = ["form", "variable", "label", "type", "unit", "range", "required", "allowed values", "paper", "note"]
    for j, text in enumerate(header, start=1):
        c = write_cell(ws, 1, j, text)
        c.font = Font(bold=True)
        c.fill = _HEADER_FILL
    r = 1
    for form in d.forms:
        for v in form.variables:
            r += 1
            _write_row(
                ws,
                r,
                [
                    form.name,
                    v.name,
                    v.label,
                    v.type,
                    v.unit or "",
                    _range_text(v),
                    requirement_text(v),
                    codes_text(v),
                    v.paper,
                    v.note or "",
                ],
            )
    for letter, width in zip("ABCDEFGHIJ", (16, 24, 50, 11, 7, 10, 40, 60, 50, 40), strict=True):
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "C2"


def template_workbook(dictionary: DataDictionary | None = None) -> Workbook:
    """Build the collection workbook (not yet saved)."""
    d = dictionary or load_dictionary()
    wb = Workbook()
    readme = wb.active
    readme.title = "README"
    _readme(readme, d)
    form_sheets = [wb.create_sheet(form.name) for form in d.forms]
    dict_ws = wb.create_sheet("dictionary")
    lists = wb.create_sheet("lists")
    lists.sheet_state = "hidden"
    col = [0]
    for ws, form in zip(form_sheets, d.forms, strict=True):
        _form_sheet(ws, form, lists, col, d)
    _dictionary_sheet(dict_ws, d)
    wb.properties.creator = _AUTHOR
    wb.properties.lastModifiedBy = _AUTHOR
    wb.properties.title = f"{d.meta.name} data collection template"
    wb.properties.created = TEMPLATE_TIMESTAMP
    wb.properties.modified = TEMPLATE_TIMESTAMP
    wb.active = 0
    return wb


def _xlsx_bytes(wb: Workbook) -> bytes:
    from openpyxl.writer.excel import ExcelWriter

    buf = io.BytesIO()
    # ExcelWriter directly: Workbook.save() would stamp properties.modified with the current time.
    archive = zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    ExcelWriter(wb, archive).save()
    return deterministic_zip(buf.getvalue())


def template_bytes(dictionary: DataDictionary | None = None) -> bytes:
    """The collection workbook as .xlsx bytes (byte-identical for the same dictionary)."""
    return _xlsx_bytes(template_workbook(dictionary))


def write_template(path: str | Path, dictionary: DataDictionary | None = None) -> Path:
    """Write the .xlsx collection template to ``path`` and return the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(p, template_bytes(dictionary))


def write_template_csv(directory: str | Path, dictionary: DataDictionary | None = None) -> list[Path]:
    """Write one header-only CSV per form (UTF-8, comma-separated) into ``directory``; return the paths."""
    d = dictionary or load_dictionary()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for form in d.forms:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([escape_text(c) for c in form.columns])
        paths.append(atomic_write_bytes(out / f"{form.name}.csv", buf.getvalue().encode("utf-8")))
    return paths


# -- the workbook filled with a data set -------------------------------------------------------------


def _cell(var: Variable, row: pd.Series) -> Any:
    import pandas as pd

    from blincompass.io.dataset import format_value

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
    """The collection workbook (README, dropdowns, notes) with the data set's rows filled in, written
    atomically to ``path`` (re-importable like a filled-in template)."""
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
    data = _xlsx_bytes(wb)
    return atomic_write_bytes(Path(path), data)
