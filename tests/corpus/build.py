"""Adversarial inputs, generated deterministically from the bundled example (``python -m tests.corpus.build DIR``).

Each case is a workbook or CSV folder that once crashed a command or was silently accepted:

* ``formula_csv`` / ``formula_xlsx``: free text that a spreadsheet would run (``=cmd|' /C calc'!A0``,
  ``=HYPERLINK(...)``, ``@SUM(...)``); valid data, each value a ``text.formula`` warning;
* ``two_sheets.xlsx``: sheets ``patients`` and ``PATIENTS`` (one used to be ignored silently);
* ``zip_bomb.xlsx``: a 30 MB run of spaces inside a sheet's XML, compressed about 1000-fold;
* ``lying_header.xlsx``: a zip directory that under-states a sheet's uncompressed size;
* ``utf16_csv``: the forms as UTF-16 LE with a byte-order mark and tabs (Excel's "Unicode text") and as
  UTF-16 BE without a mark; ``renamed_xlsx_csv``: a workbook saved under the name ``patients.csv``;
* ``future_dates``: follow-up in 2031, death in 2030, a course in 2029.

The workbooks are small (the zip bomb is about 60 KB on disk), so generating them costs well under a second.
"""

from __future__ import annotations

import shutil
import struct
import sys
import zipfile
from pathlib import Path

from tests.validate.helpers import copy_example, edit, example_to_xlsx, read_rows, row_of

#: The payloads of the formula cases, by (form, row, field) as a spreadsheet numbers rows (header = 1).
FORMULA_CELLS: dict[tuple[str, int, str], str] = {
    ("adverse_events", 2, "ae_term"): "=cmd|' /C calc'!A0",
    ("adverse_events", 3, "ae_term"): "@SUM(1+1)",
    ("courses", 6, "interruption_reason"): '=HYPERLINK("http://evil.example/x","Seizure")',
}
#: The future dates of ``future_dates``: (form, patient, field) -> value.
FUTURE_DATES: dict[tuple[str, str, str], str] = {
    ("outcomes", "C2-003", "last_followup_date"): "2031-03-01",
    ("outcomes", "C1-002", "death_date"): "2030-01-19",
    ("courses", "C2-003", "end_date"): "2029-10-14",
}
BOMB_PADDING = 30 * 2**20


def formula_csv(dest: Path) -> Path:
    folder = copy_example(dest)
    for (form, row, field), value in FORMULA_CELLS.items():
        edit(folder, form, row, field, value)
    return folder


def formula_xlsx(dest: Path) -> Path:
    """The formula payloads as text cells of a workbook (as a data manager's spreadsheet holds them)."""
    import openpyxl

    from blincompass.io.safe import write_cell

    dest.mkdir(parents=True, exist_ok=True)
    path = example_to_xlsx(dest / "formula.xlsx", typed=False, extra_sheets=False)
    wb = openpyxl.load_workbook(path)
    for (form, row, field), value in FORMULA_CELLS.items():
        ws = wb[form]
        col = [c.value for c in ws[1]].index(field) + 1
        write_cell(ws, row, col, value)
    wb.save(path)
    return path


def two_sheets(dest: Path) -> Path:
    import openpyxl

    dest.mkdir(parents=True, exist_ok=True)
    path = example_to_xlsx(dest / "two_sheets.xlsx", typed=False, extra_sheets=False)
    wb = openpyxl.load_workbook(path)
    upper = wb.copy_worksheet(wb["patients"])
    upper.title = "PATIENTX"  # openpyxl refuses a case variant of an existing title: rename in the XML
    wb.save(path)
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/workbook.xml").replace(b'name="PATIENTX"', b'name="PATIENTS"')
    tmp = _rewrite_zip(path, dest / "tmp.xlsx", {"xl/workbook.xml": xml})
    tmp.replace(path)
    return path


def _rewrite_zip(src: Path, dest: Path, change: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = change.get(info.filename, zin.read(info.filename))
            zout.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), data,
                          compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return dest


def _sheet_entry(path: Path, sheet: str) -> str:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    index = wb.sheetnames.index(sheet) + 1
    wb.close()
    return f"xl/worksheets/sheet{index}.xml"


def zip_bomb(dest: Path) -> Path:
    """A valid workbook whose patients sheet XML carries 30 MB of spaces after its root element's start tag."""
    dest.mkdir(parents=True, exist_ok=True)
    base = example_to_xlsx(dest / "base.xlsx", typed=False, extra_sheets=False)
    entry = _sheet_entry(base, "patients")
    with zipfile.ZipFile(base) as z:
        xml = z.read(entry)
    root_end = xml.index(b">", xml.index(b"<worksheet")) + 1
    padded = xml[:root_end] + b" " * BOMB_PADDING + xml[root_end:]
    out = _rewrite_zip(base, dest / "zip_bomb.xlsx", {entry: padded})
    base.unlink()
    return out


def lying_header(dest: Path) -> Path:
    """A workbook whose zip directory states 100 bytes for the patients sheet (it holds more)."""
    dest.mkdir(parents=True, exist_ok=True)
    base = example_to_xlsx(dest / "base.xlsx", typed=False, extra_sheets=False)
    entry = _sheet_entry(base, "patients").encode()
    out = _rewrite_zip(base, dest / "lying_header.xlsx", {})
    base.unlink()
    data = bytearray(out.read_bytes())
    # local file header: signature, ..., uncompressed size at offset 22, name length 26, name at 30
    pos = 0
    while (pos := data.find(b"PK\x03\x04", pos)) >= 0:
        n = struct.unpack_from("<H", data, pos + 26)[0]
        if bytes(data[pos + 30:pos + 30 + n]) == entry:
            struct.pack_into("<I", data, pos + 22, 100)
        pos += 4
    # central directory header: uncompressed size at offset 24, name length 28, name at 46
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) >= 0:
        n = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46:pos + 46 + n]) == entry:
            struct.pack_into("<I", data, pos + 24, 100)
        pos += 4
    out.write_bytes(bytes(data))
    return out


def utf16_csv(dest: Path) -> Path:
    """patients.csv as UTF-16 LE with BOM and tabs; courses.csv as UTF-16 BE without BOM; others UTF-8."""
    folder = copy_example(dest)
    rows = read_rows(folder, "patients")
    text = "\r\n".join("\t".join(r) for r in rows) + "\r\n"
    (folder / "patients.csv").write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    courses = (folder / "courses.csv").read_text(encoding="utf-8")
    (folder / "courses.csv").write_bytes(courses.encode("utf-16-be"))
    return folder


def renamed_xlsx_csv(dest: Path) -> Path:
    folder = copy_example(dest)
    xlsx = example_to_xlsx(dest / "wb.xlsx", typed=False, extra_sheets=False)
    shutil.move(xlsx, folder / "patients.csv")
    return folder


def future_dates(dest: Path) -> Path:
    folder = copy_example(dest)
    for (form, pid, field), value in FUTURE_DATES.items():
        row = row_of(folder, form, patient_id=pid) if form != "courses" else max(
            i for i, r in enumerate(read_rows(folder, form)[1:], start=2) if r[0] == pid)
        edit(folder, form, row, field, value)
    if ("outcomes", "C1-002", "death_date") in FUTURE_DATES:  # a patient who died: follow-up = death
        edit(folder, "outcomes", row_of(folder, "outcomes", patient_id="C1-002"), "last_followup_date",
             FUTURE_DATES[("outcomes", "C1-002", "death_date")])
    return folder


CASES = {
    "formula_csv": formula_csv,
    "formula_xlsx": formula_xlsx,
    "two_sheets": two_sheets,
    "zip_bomb": zip_bomb,
    "lying_header": lying_header,
    "utf16_csv": utf16_csv,
    "renamed_xlsx_csv": renamed_xlsx_csv,
    "future_dates": future_dates,
}


def build_corpus(dest: Path) -> dict[str, Path]:
    """Write every case under ``dest/<case>/`` and return the input path of each."""
    return {name: make(dest / name) for name, make in CASES.items()}


if __name__ == "__main__":  # pragma: no cover - manual use
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    for name, p in build_corpus(out).items():
        print(f"{name}: {p}")
