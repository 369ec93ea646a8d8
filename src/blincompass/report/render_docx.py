"""Word rendering (python-docx): three-line tables with fitted column widths and repeating header rows,
portrait pages with landscape sections for wide tables, SEQ-field captions, page numbers, provenance."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import re
import threading
import zipfile
from collections.abc import Iterator

from docx import Document
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from blincompass.io.ooxml import deterministic_zip
from blincompass.report.model import Figure, Paragraph, Report, Table

__all__ = ["FIXED_DATE", "column_widths", "document_date", "render_docx"]

#: Core-property date of a document whose report has no provenance (no real timestamps in outputs).
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
#: The document the prototypes are formatted in (one per process: opening python-docx's default template
#: costs about 50 ms, and a report has about ten kinds of cell).
_SCRATCH: list[object] = []


def _cell_text(cell: object, text: str, *, bold: bool = False, align: str = "left", indent: int = 0) -> None:
    if text != text.strip() or any(ch in text for ch in "\t\n\r"):
        _format_cell(cell, text, bold=bold, align=align, indent=indent)  # python-docx's own text handling
        return
    key = (bold, align, indent, bool(text))
    proto = _CELL_PARAGRAPHS.get(key)
    if proto is None:
        if not _SCRATCH:
            _SCRATCH.append(Document())
        scratch = _SCRATCH[0].add_table(rows=1, cols=1).cell(0, 0)  # type: ignore[attr-defined]
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


#: Page geometry (A4, cm): margins on every side, and the width a table may use in each orientation.
PAGE_W, PAGE_H, MARGIN = 21.0, 29.7, 2.0
USABLE = {"portrait": PAGE_W - 2 * MARGIN, "landscape": PAGE_H - 2 * MARGIN}
#: Width of one character of 8 pt table text, regular and bold (cm; above Calibri's average and close to its
#: wider substitutes, so numbers never wrap) and the left + right cell margins of Word's default table.
CHAR_CM, BOLD_CM, PAD_CM = 0.17, 0.19, 0.4
#: Text columns (the label column and left-aligned ones) wrap; they ask for at most this many characters
#: per line when a table is too wide, and never fewer than their longest word.
WRAP_CHARS = 26
#: Header texts wrap at word boundaries; a header asks for at most this many characters per line.
HEADER_CHARS = 12
_TWIPS_PER_CM = 1440 / 2.54


def _longest_word(text: str) -> int:
    return max((len(w) for w in text.split()), default=0)


def _column_cm(t: Table) -> tuple[list[float], list[float]]:
    """Per column (cm, without padding): the width of its longest text, and of its longest word, over body
    cells and single-column header cells (bold; a header asks for at most :data:`HEADER_CHARS` characters
    per line, or its longest word)."""
    n = t.n_columns
    longest, word = [CHAR_CM] * n, [CHAR_CM] * n
    for r in t.rows:
        if Table.spans_row(r):
            continue
        for k, text in enumerate(r.cells[:n]):
            extra = 2 * r.level if k == 0 else 0
            cm = CHAR_CM * (1.1 if r.kind in ("heading", "total") else 1.0)
            longest[k] = max(longest[k], (len(text) + extra) * cm)
            word[k] = max(word[k], (_longest_word(text) + extra) * cm)
    for hrow in t.header:
        col = 0
        for hc in hrow:
            if hc.span == 1 and col < n:
                w = _longest_word(hc.text)
                longest[col] = max(longest[col], min(len(hc.text), max(HEADER_CHARS, w)) * BOLD_CM)
                word[col] = max(word[col], w * BOLD_CM)
            col += hc.span
    return longest, word


def _wraps(t: Table, k: int) -> bool:
    return k == 0 or t.alignment(k) == "left"


def column_widths(t: Table) -> tuple[str, list[float]]:
    """The orientation a table needs and its column widths (cm), fitted to the text.

    Each column asks for its longest text; text columns (labels, left-aligned) may wrap down to
    :data:`WRAP_CHARS` characters (never below their longest word), numeric columns never wrap. A table
    that does not fit the portrait width even wrapped goes on a landscape page. Space left over goes to
    the label column, so tables fill the text width; a table too wide even for landscape shrinks its text
    columns first, then every column in proportion.
    """
    longest, word = _column_cm(t)
    want = [c + PAD_CM for c in longest]
    low = [(max(word[k], min(longest[k], WRAP_CHARS * CHAR_CM)) + PAD_CM) if _wraps(t, k) else want[k]
           for k in range(len(want))]
    orient = "portrait" if sum(low) <= USABLE["portrait"] else "landscape"
    usable = USABLE[orient]
    if sum(want) <= usable:
        widths = list(want)
        widths[0] += usable - sum(want)
        return orient, widths
    # shrink the text columns toward their wrapped width, in proportion to what each can give
    give = [w - lo for w, lo in zip(want, low, strict=True)]
    excess = sum(want) - usable
    total_give = sum(give)
    if total_give >= excess:
        widths = [w - g * excess / total_give for w, g in zip(want, give, strict=True)]
    else:
        widths = [lo * usable / sum(low) for lo in low]
    return orient, widths


def _border(tag: str, size: int) -> object:
    el = OxmlElement(f"w:{tag}")
    if size:
        el.set(qn("w:val"), "single")
        el.set(qn("w:sz"), str(size))
        el.set(qn("w:space"), "0")
        el.set(qn("w:color"), "000000")
    else:
        el.set(qn("w:val"), "nil")
    return el


def _three_lines(table: object, widths_cm: list[float], n_header: int, header: tuple) -> None:
    """A three-line table: a rule above (1 pt), a rule under the header (0.5 pt) and a rule below (1 pt),
    a short rule under each header cell that spans columns; no vertical or inner lines. Fixed layout with
    the given column widths (grid, table width and every cell)."""
    tbl = table._tbl  # type: ignore[attr-defined]
    tbl_pr = tbl.tblPr
    for old in tbl_pr.findall(qn("w:tblBorders")):
        tbl_pr.remove(old)
    borders = OxmlElement("w:tblBorders")
    for tag, size in (("top", 8), ("left", 0), ("bottom", 8), ("right", 0), ("insideH", 0), ("insideV", 0)):
        borders.append(_border(tag, size))
    twips = [round(w * _TWIPS_PER_CM) for w in widths_cm]
    tbl_w = tbl_pr.find(qn("w:tblW"))
    if tbl_w is None:
        tbl_w = OxmlElement("w:tblW")
        tbl_pr.append(tbl_w)
    tbl_w.set(qn("w:w"), str(sum(twips)))
    tbl_w.set(qn("w:type"), "dxa")
    layout = OxmlElement("w:tblLayout")
    layout.set(qn("w:type"), "fixed")
    # schema order inside tblPr: ... tblW, jc, ..., tblBorders, ..., tblLayout, ...
    tbl_w.addnext(borders)
    jc = tbl_pr.find(qn("w:jc"))
    if jc is not None:  # jc comes before tblBorders
        tbl_pr.remove(jc)
        tbl_w.addnext(jc)
    borders.addnext(layout)
    for grid_col, w in zip(tbl.tblGrid.findall(qn("w:gridCol")), twips, strict=True):
        grid_col.set(qn("w:w"), str(w))
    for i, tr in enumerate(tbl.tr_lst):
        col = 0
        hcells = header[i] if i < n_header else ()
        for j, tc in enumerate(tr.tc_lst):
            span = tc.grid_span
            tc_pr = tc.get_or_add_tcPr()
            tc_w = tc_pr.get_or_add_tcW()
            tc_w.set(qn("w:w"), str(sum(twips[col:col + span])))
            tc_w.set(qn("w:type"), "dxa")
            rule = 0
            if i == n_header - 1:
                rule = 4
            elif i < n_header - 1 and j < len(hcells) and hcells[j].span > 1 and hcells[j].text:
                rule = 4
            if rule:
                tc_borders = OxmlElement("w:tcBorders")
                tc_borders.append(_border("bottom", rule))
                tc_w.addnext(tc_borders)  # after tcW and gridSpan (schema order)
                span_el = tc_pr.find(qn("w:gridSpan"))
                if span_el is not None:
                    span_el.addnext(tc_borders)
            col += span


def _table(doc: object, t: Table, widths: list[float], seq: dict[str, int]) -> None:
    cap = doc.add_paragraph(style="Caption")  # type: ignore[attr-defined]
    _caption(cap, t.caption, seq)
    cap.paragraph_format.keep_with_next = True
    ncols = t.n_columns
    table = doc.add_table(rows=len(t.header) + len(t.rows), cols=ncols)  # type: ignore[attr-defined]
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
    _three_lines(table, widths, len(t.header), t.header)
    if t.footnotes:  # the last row stays on the page of the footnotes: they never stand alone
        for para in table._tbl.tr_lst[-1].iter(qn("w:p")):  # type: ignore[attr-defined]
            para.get_or_add_pPr().keepNext_val = True
    for i, f in enumerate(t.footnotes):  # small text directly under the table
        p = doc.add_paragraph()  # type: ignore[attr-defined]
        p.paragraph_format.space_before = Pt(3 if i == 0 else 0)
        p.paragraph_format.space_after = Pt(0)
        p.paragraph_format.keep_with_next = i < len(t.footnotes) - 1
        run = p.add_run(f)
        run.font.size = Pt(7.5)
    doc.add_paragraph()  # type: ignore[attr-defined]


#: "Table 2b. ..." / "Figure S1. ...": the kind, a letter prefix (its own sequence), the number, a suffix.
_CAPTION = re.compile(r"^(Table|Figure) ([A-Z]*)(\d+)([a-z]*)([.:]\s)")


def _field(paragraph: object, instruction: str, shown: str, size: float | None = None) -> None:
    """A complex field (``instruction``) whose last computed result is ``shown``; Word and LibreOffice
    recompute it (page numbers, caption numbers)."""
    def run(child: object | None = None, text: str | None = None) -> None:
        r = paragraph.add_run(text)  # type: ignore[attr-defined]
        if size is not None:
            r.font.size = Pt(size)
        if child is not None:
            r._r.append(child)

    begin = OxmlElement("w:fldChar")
    begin.set(qn("w:fldCharType"), "begin")
    run(begin)
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    run(instr)
    sep = OxmlElement("w:fldChar")
    sep.set(qn("w:fldCharType"), "separate")
    run(sep)
    run(text=shown)
    end = OxmlElement("w:fldChar")
    end.set(qn("w:fldCharType"), "end")
    run(end)


def _caption(paragraph: object, caption: str, seq_state: dict[str, int]) -> None:
    """A caption whose number is a Word SEQ field ("Table {SEQ Table}"), so Word can renumber, showing the
    report's own number. Letter-suffixed numbers repeat the previous value (``\\c``: "2b" after "2"),
    a letter prefix is a sequence of its own ("S1": ``SEQ TableS``), and a number that does not follow on
    resets the sequence to it (``\\r``); so updating the fields in Word gives the same numbers."""
    m = _CAPTION.match(caption)
    if m is None:
        paragraph.add_run(caption)  # type: ignore[attr-defined]
        return
    kind, prefix, number, suffix, sep = m.groups()
    seq = kind + prefix
    value = int(number)
    last = seq_state.get(seq, 0)
    if value == last and suffix:
        instruction = f"SEQ {seq} \\c \\* ARABIC"
    elif value == last + 1:
        instruction = f"SEQ {seq} \\* ARABIC"
    else:
        instruction = f"SEQ {seq} \\r {value} \\* ARABIC"
    seq_state[seq] = value
    paragraph.add_run(f"{kind} {prefix}")  # type: ignore[attr-defined]
    _field(paragraph, instruction, number)
    paragraph.add_run(suffix + sep + caption[m.end():])  # type: ignore[attr-defined]


def _figure(doc: object, f: Figure, width_cm: float, seq: dict[str, int]) -> None:
    doc.add_picture(io.BytesIO(f.png), width=Cm(width_cm))  # type: ignore[attr-defined]
    doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER  # type: ignore[attr-defined]
    cap = doc.add_paragraph(style="Caption")  # type: ignore[attr-defined]
    _caption(cap, f.caption, seq)
    cap.paragraph_format.space_after = Pt(12)


def _png_width(png: bytes) -> int:
    """Pixel width from a PNG header (IHDR), 1920 when unreadable."""
    if len(png) >= 24 and png[:8] == b"\x89PNG\r\n\x1a\n":
        return int.from_bytes(png[16:20], "big")
    return 1920


def _page(sec: object, orient: str) -> None:
    portrait = orient == "portrait"
    sec.orientation = WD_ORIENT.PORTRAIT if portrait else WD_ORIENT.LANDSCAPE  # type: ignore[attr-defined]
    sec.page_width = Cm(PAGE_W if portrait else PAGE_H)  # type: ignore[attr-defined]
    sec.page_height = Cm(PAGE_H if portrait else PAGE_W)  # type: ignore[attr-defined]
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(sec, side, Cm(MARGIN))


def _footer(sec: object) -> None:
    p = sec.footer.paragraphs[0]  # type: ignore[attr-defined]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.add_run("Page ").font.size = Pt(8)
    _field(p, "PAGE \\* ARABIC", "1", size=8)
    p.add_run(" of ").font.size = Pt(8)
    _field(p, "NUMPAGES \\* ARABIC", "1", size=8)


def _orientation(b: object, widths: dict[int, tuple[str, list[float]]]) -> str | None:
    if isinstance(b, Table):
        return widths[id(b)][0]
    if isinstance(b, Figure):
        return "portrait"
    return None  # paragraphs stay on the page they follow


def _w3cdtf(stamp: dt.datetime) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def document_date(report: Report) -> dt.datetime:
    """The core-property date of the report's packages: the provenance run date, :data:`FIXED_DATE` when
    the report has no provenance."""
    return report.provenance.timestamp if report.provenance is not None else FIXED_DATE


def render_docx(report: Report) -> bytes:
    """The report as a .docx package, byte-identical for the same report.

    A4 portrait pages, with landscape sections only for tables too wide for portrait; three-line tables with
    column widths fitted to their text; captions numbered by SEQ fields; page numbers in the footer; the
    provenance block at the end; document properties from the study and the provenance run date.
    """
    seq: dict[str, int] = {}  # last value of each caption sequence
    doc = Document()
    sec = doc.sections[0]
    _page(sec, "portrait")
    state = {"orient": "portrait"}
    widths = {id(t): column_widths(t) for t in report.tables}

    def ensure(orient: str) -> bool:
        """Start a new page in ``orient`` unless the current section has it; True when one was started."""
        if state["orient"] == orient:
            return False
        _page(doc.add_section(WD_SECTION.NEW_PAGE), orient)
        state["orient"] = orient
        return True

    _footer(sec)
    if report.synthetic:
        hp = sec.header.paragraphs[0]
        hp.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = hp.add_run("SYNTHETIC DATA \u2013 not real patients. Do not cite these results.")
        run.bold = True
        run.font.color.rgb = _RED
    doc.add_heading(report.title, level=0)
    doc.add_paragraph(report.subtitle)
    for i, s in enumerate(report.sections):
        first = next((o for o in (_orientation(b, widths) for b in s.blocks) if o is not None), "portrait")
        new_page = ensure(first)
        h = doc.add_heading(s.title, level=1)
        if i > 0 and not new_page:
            h.paragraph_format.page_break_before = True
        for b in s.blocks:
            orient = _orientation(b, widths)
            if orient is not None:
                ensure(orient)
            if isinstance(b, Table):
                _table(doc, b, widths[id(b)][1], seq)
            elif isinstance(b, Figure):
                # at print size: the PNG is 300 dpi at the journal column width the layout gives
                _figure(doc, b, min(USABLE[state["orient"]], _png_width(b.png) / 300.0 * 2.54), seq)
            elif isinstance(b, Paragraph):
                p = doc.add_paragraph()
                run = p.add_run(b.text)
                if b.text.rstrip().endswith(":"):  # it introduces what follows: keep them on one page
                    p.paragraph_format.keep_with_next = True
                if b.kind == "warning":
                    run.bold = True
                    run.font.color.rgb = _RED
                elif b.kind == "note":
                    run.font.size = Pt(9)
    if report.provenance is not None:
        ensure("portrait")
        doc.add_heading("Provenance", level=1)
        for label, value in report.provenance.lines():
            p = doc.add_paragraph()
            p.paragraph_format.space_after = Pt(0)
            lab = p.add_run(f"{label}: ")
            lab.bold = True
            lab.font.size = Pt(8)
            p.add_run(value).font.size = Pt(8)
    stamp = document_date(report)
    prov = report.provenance
    cp = doc.core_properties
    cp.author = prov.study if prov is not None else "blincompass"
    cp.last_modified_by = "blincompass"
    # a synthetic report's title already says so ("SYNTHETIC DATA – ..."); say it once
    marked = not report.synthetic or report.title.upper().startswith("SYNTHETIC")
    cp.title = report.title if marked else "SYNTHETIC \u2013 " + report.title
    if prov is not None:
        cp.subject = prov.study_title
        cp.comments = (f"blincompass {prov.version}; commit {(prov.commit or 'unknown')[:12]}; study package "
                       f"SHA-256 {(prov.study_sha256 or 'not recorded')[:16]}; data SHA-256 "
                       f"{(prov.data_sha256 or 'not recorded')[:16]}; run {prov.run_date}")[:255]
    cp.created = stamp
    cp.modified = stamp
    cp.last_printed = stamp
    cp.revision = 1
    buf = io.BytesIO()
    with _stored_zip():
        doc.save(buf)
    return deterministic_zip(buf.getvalue(), core_date=_w3cdtf(stamp), create_system=0)


_STORED_ZIP_LOCK = threading.Lock()


@contextlib.contextmanager
def _stored_zip() -> Iterator[None]:
    """python-docx writes its package uncompressed inside the block: :func:`deterministic_zip` compresses
    every entry again anyway, and compressing the figures' PNGs twice cost 0.05 s of the report's last step.
    The bytes of the final file do not depend on this (if python-docx stops naming the constant, its
    package is simply compressed twice)."""
    from docx.opc import phys_pkg

    with _STORED_ZIP_LOCK:  # one save at a time changes the module's constant (e.g. threads of the web app)
        had = getattr(phys_pkg, "ZIP_DEFLATED", None)
        if had is None:  # pragma: no cover - python-docx changed its writer
            yield
            return
        phys_pkg.ZIP_DEFLATED = zipfile.ZIP_STORED  # type: ignore[attr-defined]
        try:
            yield
        finally:
            phys_pkg.ZIP_DEFLATED = had  # type: ignore[attr-defined]
