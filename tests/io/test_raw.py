import datetime as dt
import zipfile

import openpyxl
import pytest

from blincompass.io import InputReadError, read_raw
from blincompass.io.raw import normalise_header
from blincompass.validate import load_dataset
from tests.validate.helpers import copy_example, example_to_xlsx


def test_workbook_rows_sources_and_other_sheets(tmp_path):
    path = example_to_xlsx(tmp_path / "cohort.xlsx")
    raw = read_raw(path)
    t = raw.tables["patients"]
    assert t.source == "cohort.xlsx[patients]"
    assert t.header[0] == "patient_id"
    assert t.rows[0][0] == 2  # first data row = 2
    assert t.rows[0][1][0] == "C1-001"
    assert isinstance(t.rows[0][1][3], dt.datetime)  # Excel date cell kept as delivered
    assert raw.other_sheets == ("README",)
    assert not t.date1904


def test_workbook_matches_example_csv(tmp_path):
    a = load_dataset(example_to_xlsx(tmp_path / "cohort.xlsx"))
    b = load_dataset(copy_example(tmp_path))
    assert a.ok and b.ok
    for name in b.dataset.forms:
        left = a.dataset.forms[name].drop(columns=["_file"])
        right = b.dataset.forms[name].drop(columns=["_file"])
        assert left.equals(right), name
    assert a.dataset.patients["_file"].iloc[0] == "cohort.xlsx[patients]"


def test_workbook_serial_numbers_and_1904(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Patients "  # sheet names matched ignoring case and spaces
    ws.append(["patient_id", "birth_date"])
    ws.append(["P1", 43529])  # a serial number in a General-formatted cell
    ws.append([None, None])  # blank trailing rows ignored
    ws.append(["  ", None])
    path = tmp_path / "a.xlsx"
    wb.save(path)
    raw = read_raw(path)
    t = raw.tables["patients"]
    assert len(t.rows) == 1
    res = load_dataset(path)
    assert res.dataset.patients["birth_date"].iloc[0] == dt.datetime(2019, 3, 5)

    wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    wb.save(path)
    raw = read_raw(path)
    assert raw.tables["patients"].date1904
    res = load_dataset(path)
    assert res.dataset.patients["birth_date"].iloc[0] == dt.datetime(2023, 3, 6)


def test_header_matching():
    assert normalise_header("\ufeff Patient_ID ") == "patient_id"
    assert normalise_header("Birth\u00a0date") == "birth_date"
    assert normalise_header(None) == ""


def test_csv_bom_semicolon_decimal_comma(tmp_path):
    folder = copy_example(tmp_path)
    text = (folder / "assessments.csv").read_text(encoding="utf-8")
    lines = text.splitlines()
    new = [lines[0].replace(",", ";").upper()]  # upper-case headers too
    for line in lines[1:]:
        cells = line.split(",")
        cells[3] = cells[3].replace(".", ",")  # decimal comma in blasts
        new.append(";".join(cells))
    (folder / "assessments.csv").write_bytes(("\ufeff" + "\r\n".join(new) + "\r\n").encode("utf-8"))
    res = load_dataset(folder)
    assert res.ok, res.findings
    blasts = res.dataset.assessments["bm_blasts"].tolist()
    assert blasts[0] == 2.5 and 45.0 in blasts


def test_csv_tab_delimited(tmp_path):
    folder = copy_example(tmp_path)
    text = (folder / "outcomes.csv").read_text(encoding="utf-8")
    (folder / "outcomes.csv").write_text(text.replace(",", "\t"), encoding="utf-8")
    assert load_dataset(folder).ok


def test_csv_cp1252_fallback_is_a_warning(tmp_path):
    folder = copy_example(tmp_path)
    text = (folder / "patients.csv").read_text(encoding="utf-8").replace(",C1,", ",Città,", 1)
    (folder / "patients.csv").write_bytes(text.encode("cp1252"))
    res = load_dataset(folder)
    assert res.ok
    assert res.dataset.patients["centre"].iloc[0] == "Città"
    (w,) = [f for f in res.findings if f.rule == "file.encoding"]
    assert w.severity == "warning" and w.file == "patients.csv" and "cp1252" in w.message


def test_unreadable_inputs(tmp_path):
    with pytest.raises(InputReadError, match="does not exist"):
        read_raw(tmp_path / "nope.xlsx")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputReadError, match="neither an .xlsx workbook nor a folder"):
        read_raw(tmp_path / "notes.txt")
    (tmp_path / "bad.xlsx").write_bytes(b"this is not a zip file")
    with pytest.raises(InputReadError, match="not an .xlsx workbook"):
        read_raw(tmp_path / "bad.xlsx")
    with zipfile.ZipFile(tmp_path / "corrupt.xlsx", "w") as z:
        z.writestr("hello.txt", "not a workbook")
    with pytest.raises(InputReadError, match="cannot be read"):
        read_raw(tmp_path / "corrupt.xlsx")
    # an encrypted workbook is an OLE2 container holding an EncryptionInfo stream
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100 + "EncryptionInfo".encode("utf-16-le")
    (tmp_path / "secret.xlsx").write_bytes(ole)
    with pytest.raises(InputReadError, match="password-protected"):
        read_raw(tmp_path / "secret.xlsx")
    (tmp_path / "old.xlsx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    with pytest.raises(InputReadError, match="legacy .xls"):
        read_raw(tmp_path / "old.xlsx")
    (tmp_path / "patients.csv").write_text("patient_id\nP1\n")
    with pytest.raises(InputReadError, match="single CSV file"):
        read_raw(tmp_path / "patients.csv")


def test_csv_excel_sep_hint_line(tmp_path):
    folder = copy_example(tmp_path)
    text = (folder / "courses.csv").read_text(encoding="utf-8")
    (folder / "courses.csv").write_text("sep=;\n" + text.replace(",", ";"), encoding="utf-8")
    res = load_dataset(folder)
    assert res.ok
    assert res.dataset.courses["_row"].iloc[0] == 2


def test_percent_formatted_cells_read_in_the_variables_unit(tmp_path):
    path = example_to_xlsx(tmp_path / "cohort.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["assessments"]
    ws["D5"] = 0.45  # C1-002 baseline blasts typed as 45 % in a percent-formatted cell
    ws["D5"].number_format = "0%"
    ws["F5"] = 0.0038  # FC-MRD 0.38 % in a percent-formatted cell
    ws["F5"].number_format = "0.00%"
    wb.save(path)
    res = load_dataset(path)
    assert res.ok
    a = res.dataset.assessments
    row = a[a["_row"] == 5].iloc[0]
    assert row["bm_blasts"] == 45.0
    assert row["fc_mrd"] == 0.0038 and row["fc_mrd_status"] == "quantified"


def test_formula_without_saved_result_is_reported(tmp_path):
    path = example_to_xlsx(tmp_path / "cohort.xlsx")
    wb = openpyxl.load_workbook(path)
    wb["assessments"]["D2"] = "=1+1"  # openpyxl saves formulas without a calculated value
    wb.save(path)
    res = load_dataset(path)
    (f,) = [x for x in res.findings if x.severity == "error"]
    assert (f.rule, f.row, f.field, f.value) == ("type.excel_error", 2, "bm_blasts", "=1+1")
    assert "formula without a saved result" in f.message


def test_folder_without_csv_is_unreadable(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputReadError, match="has no CSV files"):
        read_raw(tmp_path)
