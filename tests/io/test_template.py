import datetime as dt
import zipfile

import openpyxl

from blincompass.dictionary import ctcae_terms, load_dictionary, reported_terms
from blincompass.io import example_dir
from blincompass.io.template import TEMPLATE_TIMESTAMP, header_note, write_template, write_template_csv
from blincompass.validate import load_dataset
from tests.validate.helpers import read_rows

D = load_dictionary()


def _dv_for(ws, col_letter):
    for dv in ws.data_validations.dataValidation:
        if any(str(r).startswith(f"{col_letter}2:") for r in dv.sqref.ranges):
            return dv
    return None


def _list_values(wb, formula):
    sheet, ref = formula.split("!")
    cells = wb[sheet.strip("'")][ref.replace("$", "")]
    return [c[0].value for c in cells]


def test_template_is_byte_identical(tmp_path):
    a = write_template(tmp_path / "a.xlsx").read_bytes()
    b = write_template(tmp_path / "b.xlsx").read_bytes()
    assert a == b
    with zipfile.ZipFile(tmp_path / "a.xlsx") as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    wb = openpyxl.load_workbook(tmp_path / "a.xlsx")
    assert wb.properties.created == TEMPLATE_TIMESTAMP
    assert wb.properties.modified == TEMPLATE_TIMESTAMP


def test_template_structure(tmp_path):
    path = write_template(tmp_path / "t.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["README", *D.form_names, "dictionary", "lists"]
    assert wb["lists"].sheet_state == "hidden"
    readme = "\n".join(str(c.value) for c in wb["README"]["A"] if c.value)
    for needle in ("BLIN-COMPASS", "n.a.", "NEG", "PNQ", "yyyy-mm-dd", *D.form_names):
        assert needle in readme
    n_vars = sum(len(f.variables) for f in D.forms)
    assert wb["dictionary"].max_row == n_vars + 1

    ws = wb["patients"]
    assert [c.value for c in ws[1]] == D.form("patients").columns
    assert ws["A1"].font.b and ws.freeze_panes == "B2"
    assert "Sex" in ws["C1"].comment.text and "M = Male" in ws["C1"].comment.text
    sex = _dv_for(ws, "C")
    assert sex.type == "list" and _list_values(wb, sex.formula1) == ["M", "F"]
    trial = _dv_for(ws, "R")
    assert _list_values(wb, trial.formula1) == ["yes", "no"]
    birth = _dv_for(ws, "D")
    assert birth.type == "date"
    assert ws.column_dimensions["D"].number_format == "yyyy-mm-dd"

    ws = wb["assessments"]
    blasts = _dv_for(ws, "D")
    assert (blasts.type, blasts.formula1, blasts.formula2) == ("decimal", "0", "100")

    ws = wb["adverse_events"]
    term = _dv_for(ws, "C")
    assert term.type == "list" and not term.showErrorMessage
    values = _list_values(wb, term.formula1)
    assert values[: len(reported_terms())] == reported_terms()
    assert set(ctcae_terms("4.03")) <= set(values)
    grade = _dv_for(ws, "D")
    assert _list_values(wb, grade.formula1) == ["1", "2", "3", "4", "5", "unknown"]


def test_header_note():
    note = header_note(D.form("assessments").variable("bm_blasts"))
    assert "Range: 0 to 100 %" in note and "Required" in note
    note = header_note(D.form("patients").variable("relapse_site"))
    assert "Required when disease_status is one of" in note


def test_filled_template_validates(tmp_path):
    path = write_template(tmp_path / "t.xlsx")
    wb = openpyxl.load_workbook(path)
    for form in D.forms:
        ws = wb[form.name]
        types = {v.name: v.type for v in form.variables}
        rows = read_rows(example_dir(), form.name)
        for r in rows[1:]:
            ws.append(
                [
                    dt.datetime.fromisoformat(v) if v and types[k] == "date" else (v or None)
                    for k, v in zip(rows[0], r, strict=True)
                ]
            )
    wb.save(path)
    res = load_dataset(path)
    assert res.ok, [f for f in res.findings if f.severity == "error"]
    assert len(res.dataset.patients) == 8


def test_empty_template_and_csv_headers(tmp_path):
    res = load_dataset(write_template(tmp_path / "t.xlsx"))
    assert res.ok and [f.rule for f in res.findings] == ["form.empty"]
    paths = write_template_csv(tmp_path / "csv")
    assert [p.name for p in paths] == [f"{n}.csv" for n in D.form_names]
    assert paths[0].read_text(encoding="utf-8") == ",".join(D.form("patients").columns) + "\n"
    before = [p.read_bytes() for p in paths]
    assert [p.read_bytes() for p in write_template_csv(tmp_path / "csv")] == before
    res = load_dataset(tmp_path / "csv")
    assert res.ok and [f.rule for f in res.findings] == ["form.empty"]
