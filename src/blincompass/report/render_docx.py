"""Word rendering (python-docx): real tables with repeating header rows, figures with captions."""

from __future__ import annotations

import copy
import datetime as dt
import io

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from blincompass.io.ooxml import normalize_ooxml
from blincompass.report.model import Figure, Paragraph, Report, Table

__all__ = ["FIXED_DATE", "render_docx"]

#: Core-property dates of every generated document (no real timestamps in outputs).
FIXED_DATE = dt.datetime(2000, 1, 1, 0, 0, 0)
_RED = RGBColor(0xB0, 0x00, 0x20)


def _repeat_header(row: object) -> None:
    tr_pr = row._tr.get_or_add_trPr()  # type: ignore[attr-defined]
    el = OxmlElement("w:tblHeader")
    el.set(qn("w:val"), "true")
    tr_pr.append(el)


#: Finished cell paragraphs by (bold, align, indent, has text), built once with python-docx's API and copied
#: for every cell that shares them (python-docx spends most of a table's time locating XML children).
_CELL_PARAGRAPHS: dict[tuple[bool, str, int, bool], object] = {}


def _cell_text(cell: object, text: str, *, bold: bool = False, align: str = "left", indent: int = 0) -> None:
    if text != text.strip() or any(ch in text for ch in "\t\n\r"):
        _format_cell(cell, text, bold=bold, align=align, indent=indent)  # python-docx's own text handling
        return
    key = (bold, align, indent, bool(text))
    proto = _CELL_PARAGRAPHS.get(key)
    if proto is None:
        scratch = Document().add_table(rows=1, cols=1).cell(0, 0)
        _format_cell(scratch, "x" if text else "", bold=bold, align=align, indent=indent)
        proto = _CELL_PARAGRAPHS[key] = scratch._tc.p_lst[0]  # type: ignore[attr-defined]
    para = copy.deepcopy(proto)
    if text:
        para.find(qn("w:r")).find(qn("w:t")).text = text  # type: ignore[attr-defined]
    first = cell._tc.p_lst[0]  # type: ignore[attr-defined]
    first.addnext(para)
    first.getparent().remove(first)


def _format_cell(cell: object, text: str, *, bold: bool, align: str, indent: int) -> None:
    para = cell.paragraphs[0]  # type: ignore[attr-defined]
    para.paragraph_format.space_after = Pt(0)
    para.paragraph_format.space_before = Pt(0)
    if indent:
        para.paragraph_format.left_indent = Cm(0.35 * indent)
    para.alignment = {"left": WD_ALIGN_PARAGRAPH.LEFT, "right": WD_ALIGN_PARAGRAPH.RIGHT,
                      "center": WD_ALIGN_PARAGRAPH.CENTER}[align]
    run = para.add_run(text)
    run.font.size = Pt(8)
    run.bold = bold


def _table(doc: object, t: Table) -> None:
    cap = doc.add_paragraph(t.caption, style="Caption")  # type: ignore[attr-defined]
    cap.paragraph_format.keep_with_next = True
    ncols = t.n_columns
    table = doc.add_table(rows=len(t.header) + len(t.rows), cols=ncols)  # type: ignore[attr-defined]
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for i, hrow in enumerate(t.header):
        row = table.rows[i]
        _repeat_header(row)
        col = 0
        for hc in hrow:
            cell = row.cells[col]
            if hc.span > 1:
                cell = cell.merge(row.cells[col + hc.span - 1])
            _cell_text(cell, hc.text, bold=True, align="left" if col == 0 else "center")
            col += hc.span
    body_rows = table.rows[len(t.header):]
    for r, row in zip(t.rows, body_rows, strict=True):
        bold = r.kind in ("heading", "total")
        row_cells = row.cells  # python-docx rebuilds this list on every access
        if Table.spans_row(r) and ncols > 1:
            _cell_text(row_cells[0].merge(row_cells[ncols - 1]), r.cells[0], bold=True)
            continue
        for k in range(ncols):
            text = r.cells[k] if k < len(r.cells) else ""
            _cell_text(row_cells[k], text, bold=bold and (k == 0 or r.kind == "total"),
                       align=t.alignment(k), indent=r.level if k == 0 else 0)
    for f in t.footnotes:
        p = doc.add_paragraph()  # type: ignore[attr-defined]
        p.paragraph_format.space_after = Pt(0)
        run = p.add_run(f)
        run.font.size = Pt(7.5)
    doc.add_paragraph()  # type: ignore[attr-defined]


def _figure(doc: object, f: Figure, width_cm: float) -> None:
    doc.add_picture(io.BytesIO(f.png), width=Cm(width_cm))  # type: ignore[attr-defined]
    doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER  # type: ignore[attr-defined]
    cap = doc.add_paragraph(f.caption, style="Caption")  # type: ignore[attr-defined]
    cap.paragraph_format.space_after = Pt(12)


def _png_width(png: bytes) -> int:
    """Pixel width from a PNG header (IHDR), 1920 when unreadable."""
    if len(png) >= 24 and png[:8] == b"\x89PNG\r\n\x1a\n":
        return int.from_bytes(png[16:20], "big")
    return 1920


def render_docx(report: Report) -> bytes:
    """The report as a .docx package (A4 landscape), byte-identical for the same report."""
    doc = Document()
    sec = doc.sections[0]
    sec.orientation = WD_ORIENT.LANDSCAPE
    sec.page_width, sec.page_height = Cm(29.7), Cm(21.0)
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(sec, side, Cm(1.8))
    usable = 29.7 - 3.6
    if report.synthetic:
        hp = sec.header.paragraphs[0]
        hp.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = hp.add_run("SYNTHETIC DATA \u2013 not real patients. Do not cite these results.")
        run.bold = True
        run.font.color.rgb = _RED
    doc.add_heading(report.title, level=0)
    doc.add_paragraph(report.subtitle)
    for i, s in enumerate(report.sections):
        h = doc.add_heading(s.title, level=1)
        if i > 0:
            h.paragraph_format.page_break_before = True
        for b in s.blocks:
            if isinstance(b, Table):
                _table(doc, b)
            elif isinstance(b, Figure):
                _figure(doc, b, min(usable, 17.0 * _png_width(b.png) / 1920.0))
            elif isinstance(b, Paragraph):
                p = doc.add_paragraph()
                run = p.add_run(b.text)
                if b.kind == "warning":
                    run.bold = True
                    run.font.color.rgb = _RED
                elif b.kind == "note":
                    run.font.size = Pt(9)
    cp = doc.core_properties
    cp.author = "blincompass"
    cp.last_modified_by = "blincompass"
    cp.title = ("SYNTHETIC \u2013 " if report.synthetic else "") + report.title
    cp.created = FIXED_DATE
    cp.modified = FIXED_DATE
    cp.last_printed = FIXED_DATE
    cp.revision = 1
    buf = io.BytesIO()
    doc.save(buf)
    return normalize_ooxml(buf.getvalue())
