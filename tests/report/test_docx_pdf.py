"""report.docx as a journal would read it: three-line tables, fitted column widths, portrait pages with
landscape sections for wide tables, SEQ captions and page numbers; converted to PDF with LibreOffice
(headless), the page count, orientations, page numbers and every table caption are checked in the PDF.

The PDF test is skipped when LibreOffice or pdftotext is absent (CI installs libreoffice-writer-nogui and
poppler-utils)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import docx
import pytest
from docx.oxml.ns import qn

from blincompass.report.model import HeaderCell, Row, Table
from blincompass.report.render_docx import USABLE, column_widths

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
PDFTOTEXT = shutil.which("pdftotext")
PDFINFO = shutil.which("pdfinfo")


def _doc(out_dir: Path) -> docx.document.Document:
    return docx.Document(io.BytesIO((out_dir / "report.docx").read_bytes()))


def test_three_line_tables_with_fitted_widths(out_dir, report):
    d = _doc(out_dir)
    assert len(d.tables) == len(report.tables)
    for t, model in zip(d.tables, report.tables, strict=True):
        tbl_pr = t._tbl.tblPr
        borders = {b.tag.split("}")[1]: b.get(qn("w:val")) for b in tbl_pr.find(qn("w:tblBorders"))}
        assert borders == {"top": "single", "bottom": "single", "left": "nil", "right": "nil",
                           "insideH": "nil", "insideV": "nil"}, model.id
        assert tbl_pr.find(qn("w:tblStyle")) is None  # no "Table Grid"
        assert tbl_pr.find(qn("w:tblLayout")).get(qn("w:type")) == "fixed"
        # the rule under the header: a bottom border on every cell of the last header row
        last = t.rows[len(model.header) - 1]._tr
        for tc in last.tc_lst:
            assert tc.tcPr.find(qn("w:tcBorders")).find(qn("w:bottom")).get(qn("w:val")) == "single"
        grid = [int(g.get(qn("w:w"))) for g in t._tbl.tblGrid.findall(qn("w:gridCol"))]
        orient, widths = column_widths(model)
        assert abs(sum(grid) / 1440 * 2.54 - USABLE[orient]) < 0.05, model.id  # fills the text width
        assert grid[0] == max(grid) or model.alignment(grid.index(max(grid))) == "left", model.id
    table2 = report.tables.index(report.table("table2"))
    grid = [int(g.get(qn("w:w"))) for g in d.tables[table2]._tbl.tblGrid.findall(qn("w:gridCol"))]
    # the label column is the widest; the patients and events columns ("n (%)") stay narrow
    assert grid[0] > 1.5 * max(grid[1:])


def test_column_widths_choose_orientation():
    narrow = Table("a", "Table 1. A", ((HeaderCell("Characteristic"), HeaderCell("n (%)")),),
                   (Row(("Male", "4 (66.7)")),))
    orient, w = column_widths(narrow)
    assert orient == "portrait" and w[0] > w[1] and abs(sum(w) - USABLE["portrait"]) < 1e-9
    cells = ("A fairly long row label that wraps", *["24.0 (-13.5\u201361.5)"] * 7)
    wide = Table("b", "Table 2. B", (tuple(HeaderCell(h) for h in ["Group", *[f"Col {i}" for i in range(7)]]),),
                 (Row(cells),))
    orient, w = column_widths(wide)
    assert orient == "landscape" and abs(sum(w) - USABLE["landscape"]) < 1e-9
    assert min(w[1:]) >= len(cells[1]) * 0.17  # numeric columns never wrap


def test_portrait_with_landscape_sections_page_numbers_and_seq_captions(out_dir, report):
    d = _doc(out_dir)
    orients = [s.page_width < s.page_height for s in d.sections]
    assert orients[0] is True  # portrait first
    wide = [t for t in report.tables if column_widths(t)[0] == "landscape"]
    assert wide and False in orients  # wide tables get landscape sections ...
    assert orients.count(False) <= len(wide)  # ... and nothing else does
    footer = d.sections[0].footer._element.xml
    assert "PAGE \\* ARABIC" in footer and "NUMPAGES" in footer
    body = d.element.body.xml
    instr = re.findall(r"<w:instrText[^>]*>([^<]*)</w:instrText>", body)
    seqs = [i.strip() for i in instr if i.strip().startswith("SEQ")]
    numbered = [t for t in report.tables if re.match(r"Table [A-Z]?\d", t.caption)]
    numbered += [f for f in report.figures if re.match(r"Figure [A-Z]?\d", f.caption)]
    assert len(seqs) == len(numbered)
    # "Figure 1b" repeats the sequence value of "Figure 1a" (\c); "Figure S1" is a sequence of its own
    caps = {p.text: p for p in d.paragraphs if p.style.name == "Caption"}
    fig1b = next(p for text, p in caps.items() if text.startswith("Figure 1b."))
    assert "SEQ Figure \\c" in fig1b._p.xml
    s1 = next(p for text, p in caps.items() if text.startswith("Figure S1."))
    assert "SEQ FigureS " in s1._p.xml
    # the displayed numbers are the report's
    for t in report.tables:
        assert t.caption in caps, t.caption


@pytest.mark.skipif(SOFFICE is None or PDFTOTEXT is None or PDFINFO is None,
                    reason="LibreOffice or pdftotext/pdfinfo not installed (apt-get install libreoffice-writer-nogui "
                           "poppler-utils)")
def test_docx_as_pdf(out_dir, report, tmp_path):
    profile = tmp_path / "lo-profile"
    res = subprocess.run([SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--convert-to",
                          "pdf", "--outdir", str(tmp_path), str(out_dir / "report.docx")],
                         capture_output=True, text=True, timeout=300, check=False)
    pdf = tmp_path / "report.pdf"
    assert pdf.exists(), res.stderr[-2000:]
    info = subprocess.run([PDFINFO, "-f", "1", "-l", "999", str(pdf)], capture_output=True, text=True,
                          timeout=60, check=True).stdout
    n_pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    pages = [(float(w), float(h)) for w, h in re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", info, re.M)]
    assert len(pages) == n_pages >= len(report.sections)
    for w, h in pages:  # A4, either way round
        assert sorted((round(w), round(h))) == [595, 842], (w, h)
    assert pages[0][0] < pages[0][1]  # the first page is portrait
    landscape = sum(w > h for w, h in pages)
    assert 0 < landscape < n_pages / 2
    text = subprocess.run([PDFTOTEXT, "-layout", str(pdf), "-"], capture_output=True, text=True,
                          timeout=120, check=True).stdout
    flat = " ".join(text.split())
    for t in report.tables:  # every caption, with the report's own number (captions may wrap)
        assert " ".join(t.caption.split()) in flat, t.caption
    for f in report.figures:
        assert " ".join(f.caption.split()[:4]) in flat, f.caption
    assert f"Page 1 of {n_pages}" in flat and f"Page {n_pages} of {n_pages}" in flat
    assert "Provenance" in flat and "Input data SHA-256" in flat
