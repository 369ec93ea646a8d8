"""Formula-injection guard: escaping for CSV, string cells for .xlsx, and the readers undoing the escape."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pandas as pd
import pytest

from blincompass.io.raw import read_csv_table
from blincompass.io.safe import escape_frame, escape_text, looks_like_formula, restore_row, restore_text, write_cell
from blincompass.io.tables import write_table_csv

PAYLOADS = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example","click")', "@SUM(1+1)", "+1+2", "-2+3",
            "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", PAYLOADS)
def test_escape_adds_one_apostrophe_and_restore_removes_it(text: str) -> None:
    assert looks_like_formula(text)
    assert escape_text(text) == "'" + text
    assert restore_text(escape_text(text)) == text


@pytest.mark.parametrize("text", ["'=x", "''@y", "'abc", "''", "abc", "", "x=1", "C1-001", "'"])
def test_escape_is_reversible_for_apostrophes(text: str) -> None:
    assert restore_text(escape_text(text)) == text
    expected = "'" + text if text.lstrip("'")[:1] in ("=", "@") else text
    assert escape_text(text) == expected


def test_non_text_is_untouched() -> None:
    for v in (-1.5, -3, None, 0.0):
        assert escape_text(v) == v and restore_text(v) == v
    assert restore_row(["a", "'=b", "'c"]) == ["a", "=b", "'c"]


def test_escape_frame_keeps_negative_numbers_numbers() -> None:
    df = pd.DataFrame({"x": [-1.5, 2.0], "n": pd.array([-3, None], dtype="Int64"),
                       "t": ["=1+1", "-"], "u": ["ok", None]})
    out = escape_frame(df)
    assert out["x"].tolist() == [-1.5, 2.0] and out["x"].dtype == "float64"
    assert out["n"].dtype == "Int64" and out["n"].iloc[0] == -3
    assert out["t"].tolist() == ["'=1+1", "'-"]
    assert out["u"].equals(df["u"])  # nothing to escape: unchanged
    assert df["t"].tolist() == ["=1+1", "-"]  # the input frame is not changed


def test_table_csv_is_inert_and_reads_back(tmp_path) -> None:
    df = pd.DataFrame({"USUBJID": ["C1-001", "C1-002"], "AVAL": [-1.5, 3.0], "NOTE": [PAYLOADS[0], "@SUM(1+1)"]})
    path = tmp_path / "adsl.csv"
    write_table_csv(df, path)
    text = path.read_text(encoding="utf-8")
    assert text == "USUBJID,AVAL,NOTE\nC1-001,-1.5,'=cmd|' /C calc'!A0\nC1-002,3,'@SUM(1+1)\n"
    table, _ = read_csv_table(path, "adsl")
    assert [cells for _, cells in table.rows] == [("C1-001", "-1.5", PAYLOADS[0]), ("C1-002", "3", "@SUM(1+1)")]


def test_write_cell_stores_text_never_a_formula() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    for i, text in enumerate(PAYLOADS, start=1):
        cell = write_cell(ws, i, 1, text)
        assert cell.data_type == "s" and cell.quotePrefix
    assert write_cell(ws, 20, 1, -1.5).data_type == "n"
    assert not write_cell(ws, 21, 1, "plain").quotePrefix
    buf = io.BytesIO()
    wb.save(buf)
    xml = zipfile.ZipFile(io.BytesIO(buf.getvalue())).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in xml  # no formula element anywhere
    assert '<v>-1.5</v>' in xml
    back = openpyxl.load_workbook(io.BytesIO(buf.getvalue()), read_only=True, data_only=False)
    values = [r[0] for r in back.active.iter_rows(values_only=True)]
    assert values[: len(PAYLOADS)] == PAYLOADS  # read back identically, also without data_only


def test_write_cell_replaces_characters_xml_cannot_hold() -> None:
    wb = openpyxl.Workbook()
    cell = write_cell(wb.active, 1, 1, "Fe\x01ver\x1b[31m\tok\n")
    assert cell.value == "Fe\ufffdver\ufffd[31m\tok\n"
    wb.save(io.BytesIO())  # openpyxl would refuse the raw text with IllegalCharacterError


def test_control_characters_are_an_error(tmp_path) -> None:
    from blincompass.validate import load_dataset
    from tests.validate.helpers import copy_example, edit

    folder = copy_example(tmp_path)
    edit(folder, "adverse_events", 2, "ae_term", "Fe\x01ver")
    edit(folder, "courses", 6, "interruption_reason", "Seizure\x07note")
    result = load_dataset(folder)
    got = [(f.file, f.row, f.patient_id, f.field, f.value, f.message) for f in result.findings
           if f.rule == "text.control"]
    assert got == [
        ("adverse_events.csv", 2, "C1-001", "ae_term", "Fe\x01ver",
         "ae_term 'Fe\\x01ver' holds the control character U+0001 at position 3; remove it (no workbook can store it)"),
        ("courses.csv", 6, "C2-004", "interruption_reason", "Seizure\x07note",
         "interruption_reason 'Seizure\\x07note' holds the control character U+0007 at position 8; remove it "
         "(no workbook can store it)"),
    ]
    assert all(f.severity == "error" for f in result.findings if f.rule == "text.control")
    ae = result.dataset.adverse_events
    assert ae.loc[0, ["ae_term", "ae_term_ctcae", "ae_term_status"]].isna().all()  # the bad cell is missing
