"""Written outputs: results.json, tables.xlsx, report.docx, index.html, figures/; determinism; synthetic
marking; the CLI on the bundled example data set."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import docx
import openpyxl
import pytest
from typer.testing import CliRunner

from blincompass.cli import app
from blincompass.report import build_report, detect_synthetic, results_json, write_report
from blincompass.report.model import flatten, get
from blincompass.report.render_docx import document_date
from tests.report.cohort import report_cohort
from tests.report.conftest import PROTOCOL

FIGS = ["1a", "1b", "1c", "2", "3a", "3b", "4", "S1", "S2", "S3", "S4", "S5"]  # S2-S5: CIF, CONSORT, swimmer, forest


@pytest.fixture(scope="module")
def synthetic_report(derived):
    ds = report_cohort()
    return build_report(ds, PROTOCOL, derived=derived, synthetic=True)


# ---------------------------------------------------------------------------------------------- files
def test_files_written(out_dir):
    for name in ("index.html", "report.docx", "tables.xlsx", "results.json"):
        assert (out_dir / name).stat().st_size > 0
    names = sorted(p.name for p in (out_dir / "figures").iterdir())
    assert names == sorted(f"figure_{f}.{ext}" for f in FIGS for ext in ("png", "svg", "pdf"))


def test_same_input_gives_identical_bytes(out_dir, tmp_path):
    """A second report from a fresh copy of the same data (derived again) gives the same bytes, file by
    file; the docx XML parts are identical too."""
    again = build_report(report_cohort(), PROTOCOL, synthetic=False)
    write_report(again, tmp_path)
    files = sorted(p for p in out_dir.rglob("*") if p.is_file())
    assert len(files) == 4 + 3 * len(FIGS)
    for p in files:
        rel = p.relative_to(out_dir)
        assert (tmp_path / rel).read_bytes() == p.read_bytes(), rel
    a = zipfile.ZipFile(out_dir / "report.docx")
    b = zipfile.ZipFile(tmp_path / "report.docx")
    assert a.namelist() == b.namelist()
    for name in a.namelist():
        assert a.read(name) == b.read(name), name
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in a.infolist())


# ---------------------------------------------------------------------------------------------- results.json
def test_results_json(out_dir, results):
    data = json.loads((out_dir / "results.json").read_text("utf-8"))
    provenance = data.pop("provenance")
    assert data == json.loads(json.dumps(results))
    assert provenance["study"] == "BLIN-COMPASS" and len(provenance["data_sha256"]) == 64
    assert data["synthetic"] is False
    assert data["schema"] == "blincompass.report.results/1"
    flat = flatten(data)
    assert flat["table1.sex.M.n"] == 4
    assert flat["survival.os_all.median.spss.lower"] == get(results, "survival.os_all.median.spss.lower")
    assert flat["tests.response_c1_by_stratum.p_one_sided"] == pytest.approx(0.7)
    assert flat["tests.os_by_stratum.p_two_sided"] > flat["tests.os_by_stratum.p"]
    assert flat["figures.1c.files"] == ["figures/figure_1c.png", "figures/figure_1c.svg", "figures/figure_1c.pdf"]
    text = (out_dir / "results.json").read_text("utf-8")
    assert "NaN" not in text and "Infinity" not in text
    assert text.endswith("}\n")


def test_results_keys_are_documented(results):
    doc = (Path(__file__).parents[2] / "docs" / "results-schema.md").read_text("utf-8")
    for top in results:
        assert f"`{top}" in doc, top


# ---------------------------------------------------------------------------------------------- docx
def _docx_tables(path: Path) -> dict[str, list[list[str]]]:
    d = docx.Document(str(path))
    out = {}
    for t in d.tables:
        rows = [[c.text for c in r.cells] for r in t.rows]
        out.setdefault(rows[0][0], rows)
    return out


def test_docx_tables_and_figures(out_dir, report):
    d = docx.Document(str(out_dir / "report.docx"))
    assert len(d.tables) == len(report.tables)
    tabs = _docx_tables(out_dir / "report.docx")
    t1 = tabs["Characteristic"]
    assert t1[0][:2] == ["Characteristic", "All patients (n = 6)"]
    assert t1[0][-2:] == ["p", "Test"]
    body: dict[str, str] = {}
    for r in t1[1:]:
        body.setdefault(r[0], r[1])
    assert body["Total patients"] == "6"
    assert body["Male"] == "4 (66.7)"
    assert body["Median (IQR), years"] == "6.0 (4.6\u20136.0)"
    t2 = tabs["Toxicities during blinatumomab"]
    # merged grade headers repeat their text across the merged cells
    assert t2[0][1] == t2[0][2] == "Grade 1\u20132"
    assert t2[1][1:3] == ["Patients", "Events"]
    total = next(r for r in t2 if r[0] == "Any adverse event")
    assert total[-2:] == ["4 (80.0)", "7 (100.0)"]
    # header rows repeat on each page
    tr = d.tables[0].rows[0]._tr
    assert tr.trPr is not None and tr.trPr.find(
        "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}tblHeader") is not None
    texts = [p.text for p in d.paragraphs]
    for f in FIGS:
        assert any(t.startswith(f"Figure {f}. ") for t in texts), f
    assert any(t.startswith("Table 1. ") for t in texts)
    assert len(d.inline_shapes) == len(FIGS)
    cp = d.core_properties
    stamp = document_date(report)
    assert stamp == report.provenance.timestamp
    assert cp.created.replace(tzinfo=None) == stamp and cp.modified.replace(tzinfo=None) == stamp
    assert cp.author == "BLIN-COMPASS"
    assert cp.revision == 1


def test_docx_entries_are_compressed_once_and_python_docx_is_left_as_it_was(out_dir):
    """python-docx writes its package uncompressed for the report (the final file is compressed once, by
    deterministic_zip); afterwards python-docx compresses as before, and every entry of the report is
    deflated."""
    from docx.opc import phys_pkg

    assert phys_pkg.ZIP_DEFLATED == zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(out_dir / "report.docx") as z:
        infos = z.infolist()
    assert infos and {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
    buf = io.BytesIO()
    docx.Document().save(buf)
    with zipfile.ZipFile(buf) as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}


# ---------------------------------------------------------------------------------------------- xlsx
def test_xlsx(out_dir, report):
    wb = openpyxl.load_workbook(out_dir / "tables.xlsx")
    assert len(wb.sheetnames) == len(report.tables) + 2
    assert wb.sheetnames[0] == "README" and wb.sheetnames[-1] == "Results"
    assert all(len(n) <= 31 for n in wb.sheetnames) and len(set(wb.sheetnames)) == len(wb.sheetnames)
    assert "Table 1 Characteristics" in wb.sheetnames  # the count in the title ("6") is left out
    assert "Table 2 Adverse events" in wb.sheetnames  # cut before "(CTCAE", no open parenthesis
    assert not any(t.id in wb.sheetnames for t in report.tables if "_" in t.id)  # no internal ids
    ws = wb["Table 1 Characteristics"]
    assert ws["A1"].value.startswith("Table 1.") and ws["A1"].font.bold
    assert ws["A3"].value == "Characteristic" and ws["A3"].font.bold
    # "n (%)" and "median (IQR)" cells split over three columns named by their parts
    assert [ws["B4"].value, ws["C4"].value, ws["D4"].value] == ["n / estimate", "% / lower", "upper"]
    rows: dict[str, tuple] = {}
    for r in ws.iter_rows(min_row=5, values_only=True):
        if r[0]:
            rows.setdefault(r[0], r[1:4])
    assert rows["Total patients"][0] == 6
    assert rows["Male"][:2] == (4, 0.667)
    assert rows["Median (IQR), years"] == (6.0, 4.6, 6.0)
    male = next(r for r in ws.iter_rows(min_row=5) if r[0].value == "Male")
    assert male[1].number_format == "0" and male[2].number_format == "0.0%"
    readme = {r[0]: r[1] for r in wb["README"].iter_rows(values_only=True) if r[0]}
    assert readme["Table 1 Characteristics"].startswith("Table 1.")
    assert readme["Input data SHA-256"] == report.provenance.data_sha256
    assert readme["Software"].startswith("blincompass ")
    res = {r[0]: r[1] for r in wb["Results"].iter_rows(min_row=2, values_only=True)}
    assert res["table1.sex.M.n"] == 4
    assert res["table2.n_events"] == 7
    assert wb.properties.created == document_date(report) == wb.properties.modified


# ---------------------------------------------------------------------------------------------- html
def test_html(out_dir, report):
    html = (out_dir / "index.html").read_text("utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert 'name="viewport"' in html and "@media print" in html and "overflow-x: auto" in html
    for s in report.sections:
        assert f'<section id="{s.id}">' in html
    assert html.count('src="data:image/svg+xml;base64,') == len(FIGS)
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert html.count("<table>") == len(report.tables)
    assert "SYNTHETIC" not in html


# ---------------------------------------------------------------------------------------------- synthetic
def test_synthetic_marking(synthetic_report, tmp_path):
    r = synthetic_report
    assert r.results["synthetic"] is True
    assert json.loads(results_json(r))["synthetic"] is True
    from blincompass.report.render_docx import render_docx
    from blincompass.report.render_html import render_html
    from blincompass.report.render_xlsx import render_xlsx

    html = render_html(r)
    assert 'class="synthetic-banner"' in html and "SYNTHETIC DATA" in html
    d = docx.Document(io.BytesIO(render_docx(r)))
    assert "SYNTHETIC DATA" in d.sections[0].header.paragraphs[0].text
    wb = openpyxl.load_workbook(io.BytesIO(render_xlsx(r)))
    assert all(name.startswith("SYNTHETIC ") for name in wb.sheetnames)
    assert "SYNTHETIC DATA" in wb[wb.sheetnames[0]]["A1"].value
    assert r.title.startswith("SYNTHETIC DATA")


def test_detect_synthetic(tmp_path):
    assert not detect_synthetic(tmp_path)
    (tmp_path / "SYNTHETIC.txt").write_text("synthetic cohort\n")
    assert detect_synthetic(tmp_path)

    class D:
        source = "twin (SYNTHETIC)"

    assert detect_synthetic(None, D())
    assert not detect_synthetic(None, object())


# ---------------------------------------------------------------------------------------------- CLI
EXAMPLE = Path(__file__).parents[2] / "src" / "blincompass" / "data" / "example"


@pytest.mark.skipif(not EXAMPLE.is_dir(), reason="bundled example data set not present")
def test_cli_on_example_marked_synthetic(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE, data)
    (data / "SYNTHETIC.txt").write_text("test copy\n")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["report", str(data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "SYNTHETIC" in res.output
    r = json.loads((out / "results.json").read_text("utf-8"))
    assert r["synthetic"] is True
    assert r["screening"]["n_eligible"] == r["table1"]["total"]["n"] == 5
    assert r["table1"]["sex"]["M"]["n"] + r["table1"]["sex"]["F"]["n"] == 5
    assert r["survival"]["os_all"]["n"] == 5
    assert r["table2"]["total"]["total"]["n"] == r["table2"]["n_events"]
    assert r["dataset"]["validation"]["errors"] == 0
    assert r["dataset"]["validation"]["warnings"] >= 1  # non-CTCAE AE terms in the example
    html = (out / "index.html").read_text("utf-8")
    assert "synthetic-banner" in html


@pytest.mark.skipif(not EXAMPLE.is_dir(), reason="bundled example data set not present")
def test_cli_exit_1_on_validation_errors(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE, data)
    p = data / "patients.csv"
    lines = p.read_text("utf-8").splitlines()
    head = lines[0].split(",")
    row = lines[1].split(",")
    row[head.index("sex")] = "X"
    lines[1] = ",".join(row)
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["report", str(data), "--out", str(out)])
    assert res.exit_code == 1
    assert "validation error" in res.output and "sex" in res.output
    assert not (out / "results.json").exists()


def test_cli_exit_2_on_unreadable_input_or_protocol(tmp_path):
    res = CliRunner().invoke(app, ["report", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "cannot read input" in res.output
    bad = tmp_path / "bad.toml"
    bad.write_text("not = [valid", encoding="utf-8")
    res = CliRunner().invoke(app, ["report", str(EXAMPLE), "--out", str(tmp_path / "out"), "--protocol", str(bad)])
    assert res.exit_code == 2 and "cannot use protocol" in res.output


def test_word_files_made_in_threads_at_once_leave_python_docx_as_it_was(report):
    """The uncompressed save changes a python-docx constant for the time of one save: saves in several
    threads at once (the web application) take turns, and the constant is restored after all of them."""
    import threading
    import zipfile

    from docx.opc import phys_pkg

    from blincompass.report.render_docx import render_docx

    outs: list[bytes] = [render_docx(report)]  # first alone: the cell prototypes are made once per process
    threads = [threading.Thread(target=lambda: outs.append(render_docx(report))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(outs) == 5 and len(set(outs)) == 1
    assert phys_pkg.ZIP_DEFLATED == zipfile.ZIP_DEFLATED
