"""Excel rendering (openpyxl): one sheet per table, bold headers, a flat "Results" sheet; fixed bytes."""

from __future__ import annotations

import io
import json
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from blincompass.io.ooxml import normalize_ooxml
from blincompass.io.safe import write_cell
from blincompass.report.model import Report, Table, flatten
from blincompass.report.render_docx import FIXED_DATE

__all__ = ["render_xlsx", "sheet_name"]

_BOLD = Font(bold=True)
_RED_BOLD = Font(bold=True, color="B00020")
_INVALID = set('[]:*?/\\')


def sheet_name(table: Table, synthetic: bool, used: set[str]) -> str:
    """Sheet title (<= 31 characters, unique), prefixed "SYNTHETIC " for synthetic data."""
    base = "".join("_" if c in _INVALID else c for c in (table.sheet or table.id))
    prefix = "SYNTHETIC " if synthetic else ""
    name = (prefix + base)[:31]
    i = 2
    while name in used:
        suffix = f" {i}"
        name = (prefix + base)[: 31 - len(suffix)] + suffix
        i += 1
    used.add(name)
    return name


def _write_table(ws: Any, t: Table, synthetic: bool) -> None:
    r = 1
    if synthetic:
        write_cell(ws, r, 1, "SYNTHETIC DATA \u2013 not real patients. Do not cite these results.").font = _RED_BOLD
        r += 1
    write_cell(ws, r, 1, t.caption).font = _BOLD
    r += 2
    widths: dict[int, int] = {}
    for hrow in t.header:
        c = 1
        for hc in hrow:
            cell = write_cell(ws, r, c, hc.text)
            cell.font = _BOLD
            cell.alignment = Alignment(horizontal="left" if c == 1 else "center", wrap_text=True)
            if hc.span > 1:
                ws.merge_cells(start_row=r, start_column=c, end_row=r, end_column=c + hc.span - 1)
            else:
                widths[c] = max(widths.get(c, 0), min(len(hc.text), 40))
            c += hc.span
        r += 1
    ws.freeze_panes = ws.cell(r, 2)
    for row in t.rows:
        for c, text in enumerate(row.cells, start=1):
            cell = write_cell(ws, r, c, text)
            if c == 1:
                cell.alignment = Alignment(indent=row.level)
                if row.kind in ("heading", "total"):
                    cell.font = _BOLD
            else:
                cell.alignment = Alignment(horizontal=t.alignment(c - 1))
            widths[c] = max(widths.get(c, 0), min(len(text) + 2 * (row.level if c == 1 else 0), 70))
        r += 1
    r += 1
    for f in t.footnotes:
        write_cell(ws, r, 1, f).font = Font(italic=True, size=9)
        r += 1
    for c, w in widths.items():
        ws.column_dimensions[get_column_letter(c)].width = max(8, w + 2)


def render_xlsx(report: Report) -> bytes:
    """The report's tables as a workbook: one sheet per table, plus "Results" with every results.json key."""
    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    for t in report.tables:
        ws = wb.create_sheet(sheet_name(t, report.synthetic, used))
        _write_table(ws, t, report.synthetic)
    ws = wb.create_sheet(("SYNTHETIC " if report.synthetic else "") + "Results")
    r = 1
    if report.synthetic:
        write_cell(ws, r, 1, "SYNTHETIC DATA \u2013 not real patients.").font = _RED_BOLD
        r += 1
    write_cell(ws, r, 1, "key").font = _BOLD
    write_cell(ws, r, 2, "value").font = _BOLD
    r += 1
    for key, value in flatten(report.results).items():
        write_cell(ws, r, 1, key)
        if isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False)
        write_cell(ws, r, 2, value)
        r += 1
    ws.column_dimensions["A"].width = 70
    ws.column_dimensions["B"].width = 40
    props = wb.properties
    props.creator = "blincompass"
    props.lastModifiedBy = "blincompass"
    props.title = ("SYNTHETIC \u2013 " if report.synthetic else "") + report.title
    props.created = FIXED_DATE
    props.modified = FIXED_DATE
    buf = io.BytesIO()
    wb.save(buf)
    return normalize_ooxml(buf.getvalue())
