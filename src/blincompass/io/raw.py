"""Raw readers: an .xlsx workbook (one sheet per form) or a folder of CSV files (one file per form).

The readers keep every cell as delivered (text, number, date/datetime, boolean) together with the row
number a user sees in the spreadsheet (header row = 1, first data row = 2). Typing and checking happen in
:mod:`blincompass.io.cells` and :mod:`blincompass.validate`; the readers only refuse input that cannot be
read at all (:class:`InputReadError`). A missing form, a missing column or an unknown column is not an
error here: the validator reports it as a finding.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Encodings tried, in order, for CSV files. UTF-8 (with or without BOM) is expected; the others are
#: what Excel on Windows writes ("CSV" in an Italian or English locale). A fallback adds a warning.
CSV_ENCODINGS: tuple[str, ...] = ("utf-8-sig", "cp1252", "latin-1")
#: Candidate CSV delimiters: Italian Excel writes ';' (because ',' is the decimal separator).
CSV_DELIMITERS: tuple[str, ...] = (",", ";", "\t")

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SPACES = re.compile(r"[\s\u00a0\u2007\u202f\ufeff]+")


class InputReadError(ValueError):
    """The input cannot be read at all (missing path, not a workbook or folder, corrupt, encrypted).

    The message names the file and the reason; the ``validate`` command prints it and exits with 2.
    """


@dataclass(frozen=True)
class RawTable:
    """One form as delivered: header cells and data rows with their source row numbers.

    ``header`` holds the header cells as text (trimmed, BOM removed, original case); ``rows`` holds
    ``(row_number, cells)`` pairs where ``cells`` has the same length as ``header``. Completely blank rows
    are skipped (they carry no data). ``date1904`` is true when the workbook uses the 1904 date system.
    """

    form: str
    source: str
    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[Any, ...]], ...]
    date1904: bool = False

    def column_index(self) -> dict[str, int]:
        """Map from normalised header name (:func:`normalise_header`) to the first column holding it."""
        out: dict[str, int] = {}
        for i, h in enumerate(self.header):
            out.setdefault(normalise_header(h), i)
        return out


@dataclass(frozen=True)
class ReadNote:
    """Something the reader noticed that the validator reports (e.g. an encoding fallback)."""

    severity: str
    source: str
    rule: str
    message: str


@dataclass(frozen=True)
class RawDataset:
    """All forms read from one workbook or CSV folder, keyed by form name."""

    source: str
    tables: dict[str, RawTable]
    notes: tuple[ReadNote, ...] = ()
    other_sheets: tuple[str, ...] = field(default=())


def normalise_header(name: Any) -> str:
    """Header name as matched against the dictionary: trimmed, case-folded, inner spaces as ``_``."""
    text = "" if name is None else str(name)
    text = _SPACES.sub(" ", text).strip()
    return text.casefold().replace(" ", "_")


def _default_forms() -> list[str]:
    from blincompass.dictionary import load_dictionary

    return load_dictionary().form_names


def is_blank(value: Any) -> bool:
    """True for an empty cell (None, or text made only of spaces)."""
    return value is None or (isinstance(value, str) and _SPACES.sub("", value) == "")


def _make_table(form: str, source: str, rows: Iterable[tuple[int, list[Any]]], date1904: bool) -> RawTable:
    rows = list(rows)
    if not rows:
        return RawTable(form, source, (), (), date1904)
    header_row = rows[0][1]
    header = ["" if h is None else _SPACES.sub(" ", str(h)).strip() for h in header_row]
    data = [(n, cells) for n, cells in rows[1:] if not all(is_blank(c) for c in cells)]
    # Width: the last named header column, or further when data sits under blank headers.
    width = max([i + 1 for i, h in enumerate(header) if h] + [0])
    for _, cells in data:  # only cells right of the current width can widen the table
        for i in range(len(cells) - 1, width - 1, -1):
            if not is_blank(cells[i]):
                width = i + 1
                break
    header = (header + [""] * width)[:width]
    out = tuple((n, tuple((list(cells) + [None] * width)[:width])) for n, cells in data)
    return RawTable(form, source, tuple(header), out, date1904)


def _cell_value(cell: Any) -> Any:
    """A cell's value; a number shown as a percentage (0.45 formatted 0%) becomes the text "45%".

    Excel stores 45 % as 0.45: keeping the display form lets the parser read it in the variable's unit
    (blasts in %: 45; MRD as a fraction: 0.45) instead of silently misreading it.
    """
    value = getattr(cell, "value", None)
    fmt = getattr(cell, "number_format", None) or ""
    if isinstance(value, int | float) and not isinstance(value, bool) and "%" in fmt:
        x = round(value * 100, 10)
        return (str(int(x)) if float(x).is_integer() else repr(x)) + "%"
    return value


class UncachedFormula(str):
    """A formula cell without a saved result (the workbook was written by a program that does not
    calculate); the parser reports it instead of reading the cell as empty."""


def _mark_uncached_formulas(path: Path, title: str, rows: list[tuple[int, list[Any]]]) -> None:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        formulas = wb[title].iter_rows(values_only=True)
        for (_, values), raw in zip(rows, formulas, strict=False):
            for j, f in enumerate(raw[: len(values)]):
                if values[j] is None and isinstance(f, str) and f.startswith("="):
                    values[j] = UncachedFormula(f)
    finally:
        wb.close()


def _read_xlsx(path: Path, forms: list[str]) -> RawDataset:

    head = path.read_bytes()[:8] if path.stat().st_size >= 8 else b""
    if head == _OLE_MAGIC:
        data = path.read_bytes()
        if "EncryptionInfo".encode("utf-16-le") in data:
            raise InputReadError(
                f"{path.name} is password-protected (encrypted); save an unprotected copy as .xlsx"
            )
        raise InputReadError(f"{path.name} is a legacy .xls workbook; save it as .xlsx (Excel Workbook)")
    if not zipfile.is_zipfile(path):
        raise InputReadError(f"{path.name} is not an .xlsx workbook (not a valid zip/Office Open XML file)")
    with warnings.catch_warnings():
        # openpyxl warns about Excel features it drops (e.g. extended data validation); irrelevant here
        warnings.simplefilter("ignore", UserWarning)
        return _read_xlsx_data(path, forms)


def _read_xlsx_data(path: Path, forms: list[str]) -> RawDataset:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds of exceptions on corrupt files
        raise InputReadError(f"{path.name} cannot be read as an .xlsx workbook: {exc}") from exc
    try:
        from openpyxl.utils.datetime import CALENDAR_MAC_1904

        date1904 = wb.epoch == CALENDAR_MAC_1904
        wanted = {f.casefold(): f for f in forms}
        tables: dict[str, RawTable] = {}
        other: list[str] = []
        for ws in wb.worksheets:
            key = ws.title.strip().casefold()
            if key not in wanted or wanted[key] in tables:
                other.append(ws.title)
                continue
            form = wanted[key]
            rows = [(i, [_cell_value(c) for c in cells]) for i, cells in enumerate(ws.iter_rows(), start=1)]
            if any(v is None for _, values in rows for v in values):
                _mark_uncached_formulas(path, ws.title, rows)
            tables[form] = _make_table(form, f"{path.name}[{ws.title}]", rows, date1904)
    except InputReadError:
        raise
    except Exception as exc:
        raise InputReadError(f"{path.name} cannot be read as an .xlsx workbook: {exc}") from exc
    finally:
        wb.close()
    return RawDataset(str(path), tables, (), tuple(other))


def _sniff_delimiter(text: str) -> str:
    first = next(iter(text.splitlines()), "")
    best, best_n = ",", 1
    for d in CSV_DELIMITERS:
        n = len(next(csv.reader([first], delimiter=d), []))
        if n > best_n:
            best, best_n = d, n
    return best


def read_csv_table(path: Path, form: str) -> tuple[RawTable, list[ReadNote]]:
    """Read one CSV file (encoding and delimiter detected) as the raw table of ``form``."""
    notes: list[ReadNote] = []
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputReadError(f"{path.name} cannot be read: {exc.strerror or exc}") from exc
    text = None
    for enc in CSV_ENCODINGS:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if enc != CSV_ENCODINGS[0]:
            notes.append(
                ReadNote(
                    "warning",
                    path.name,
                    "file.encoding",
                    f"{path.name} is not UTF-8; read as {enc}. Check accented characters, "
                    "and save as 'CSV UTF-8' next time.",
                )
            )
        break
    assert text is not None  # latin-1 decodes every byte string
    if "\x00" in text:
        raise InputReadError(f"{path.name} is not a text CSV file (it contains NUL bytes)")
    first, _, rest = text.partition("\n")
    if m := re.fullmatch(r"\ufeff?sep=(.)\r?", first):
        # Excel's "sep=;" hint line: Excel hides it, so the header stays row 1
        delimiter, text = m[1], rest
    else:
        delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        # equal cells share one string (codes, dates and yes/no repeat down a column): far less memory
        # for a large file than one string object per cell
        seen: dict[str, str] = {}
        rows = [(i, [seen.setdefault(c, c) for c in cells]) for i, cells in enumerate(reader, start=1)]
    except csv.Error as exc:
        raise InputReadError(f"{path.name} is not a readable CSV file: {exc}") from exc
    return _make_table(form, path.name, rows, False), notes


def _read_csv_dir(path: Path, forms: list[str]) -> RawDataset:
    wanted = {f.casefold(): f for f in forms}
    tables: dict[str, RawTable] = {}
    notes: list[ReadNote] = []
    other: list[str] = []
    try:
        entries = sorted(path.iterdir(), key=lambda q: q.name)
    except OSError as exc:
        raise InputReadError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    if not any(p.is_file() and p.suffix.casefold() == ".csv" for p in entries):
        raise InputReadError(
            f"{path} has no CSV files; expected one file per form ({', '.join(f + '.csv' for f in forms)})"
        )
    for p in entries:
        if not p.is_file() or p.suffix.casefold() != ".csv":
            continue
        key = p.stem.strip().casefold()
        if key not in wanted or wanted[key] in tables:
            other.append(p.name)
            continue
        table, n = read_csv_table(p, wanted[key])
        tables[wanted[key]] = table
        notes.extend(n)
    return RawDataset(str(path), tables, tuple(notes), tuple(other))


def read_raw(path: str | Path, forms: Iterable[str] | None = None) -> RawDataset:
    """Read an .xlsx workbook or a folder of CSV files, keeping raw cell values.

    Parameters
    ----------
    path
        An ``.xlsx`` workbook with one sheet per form (sheet named as the form, e.g. ``patients``; other
        sheets are ignored), or a folder with one CSV per form (``patients.csv``, ...).
    forms
        Form names to look for; default: the forms of the shipped data dictionary.

    Raises
    ------
    InputReadError
        When the path does not exist, is neither a workbook nor a folder, or cannot be read.
    """
    p = Path(path)
    form_list = list(forms) if forms is not None else _default_forms()
    if not p.exists():
        raise InputReadError(f"{p} does not exist")
    if p.is_dir():
        return _read_csv_dir(p, form_list)
    if p.suffix.casefold() in {".xlsx", ".xlsm"}:
        return _read_xlsx(p, form_list)
    if p.suffix.casefold() == ".csv":
        raise InputReadError(
            f"{p.name} is a single CSV file; give the folder that holds the CSV files (one per form)"
        )
    if p.suffix.casefold() == ".xls":
        raise InputReadError(f"{p.name} is a legacy .xls workbook; save it as .xlsx (Excel Workbook)")
    raise InputReadError(
        f"{p.name} is neither an .xlsx workbook nor a folder of CSV files (one CSV per form)"
    )
