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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np

from blincompass.io.safe import restore_text

#: Encodings tried, in order, for CSV files. UTF-8 (with or without BOM) is expected; the others are
#: what Excel on Windows writes ("CSV" in an Italian or English locale). A fallback adds a warning.
CSV_ENCODINGS: tuple[str, ...] = ("utf-8-sig", "cp1252", "latin-1")
#: Candidate CSV delimiters: Italian Excel writes ';' (because ',' is the decimal separator).
CSV_DELIMITERS: tuple[str, ...] = (",", ";", "\t")

#: Zip-bomb guard for workbooks (an .xlsx is a zip archive), checked on the archive's directory before
#: any entry is decompressed. Real workbooks expand 2- to 20-fold (a sheet of zeros about 16-fold); the
#: ratio limit follows Apache POI's default (an entry may not expand more than 100-fold), applied to
#: entries larger than ``XLSX_RATIO_GRACE`` bytes (tiny entries compress arbitrarily well).
XLSX_MAX_UNCOMPRESSED: int = 1 << 30  # 1 GiB: about 2.5 million rows of ten columns
XLSX_MAX_RATIO: float = 100.0
XLSX_RATIO_GRACE: int = 1 << 20
XLSX_MAX_ENTRIES: int = 10_000

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: File signatures named when a "CSV" file is really something else.
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive (e.g. an .xlsx workbook); give the workbook itself, not a renamed copy"),
    (_OLE_MAGIC, "a legacy Office file (.xls or an encrypted workbook); save it as 'CSV UTF-8'"),
    (b"$FL2", "an SPSS .sav file; import it with --format sav"),
    (b"$FL3", "an SPSS .sav file; import it with --format sav"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip-compressed file; decompress it first"),
)
#: Byte-order marks, longest first (the UTF-32 LE mark begins with the UTF-16 LE one).
_BOMS: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xfe\x00\x00", "utf-32-le", "UTF-32 LE"),
    (b"\x00\x00\xfe\xff", "utf-32-be", "UTF-32 BE"),
    (b"\xff\xfe", "utf-16-le", "UTF-16 LE"),
    (b"\xfe\xff", "utf-16-be", "UTF-16 BE"),
)
_SPACES = re.compile(r"[\s\u00a0\u2007\u202f\ufeff]+")
#: Texts that start with a character :data:`_SPACES` does not match (RE2 syntax, for Arrow): not ``\s``,
#: ``\p{Z}``, the other characters Python counts as spaces (vertical tab, U+001C-U+001F, U+0085) or the
#: byte-order mark (``tests/io`` checks the set against :data:`_SPACES` character by character).
_VISIBLE_START = r"^[^\s\x{0b}\x{1c}-\x{1f}\x{85}\p{Z}\x{feff}]"


class InputReadError(ValueError):
    """The input cannot be read at all (missing path, not a workbook or folder, corrupt, encrypted).

    The message names the file and the reason; the ``validate`` command prints it and exits with 2.
    """


class ColumnRows(Sequence[tuple[int, tuple[Any, ...]]]):
    """Data rows held column by column, as the CSV reader makes them: for each column the distinct cells
    (``values[j]``, an object array) and each row's position among them (``codes[j]``); ``numbers`` are the
    rows' source row numbers. As a sequence it gives ``(row_number, cells)`` pairs like a tuple of rows
    (and compares equal to one); the validator reads the columns directly (no tuple per row)."""

    __slots__ = ("codes", "numbers", "values")

    def __init__(self, numbers: np.ndarray, codes: Sequence[np.ndarray], values: Sequence[np.ndarray]) -> None:
        self.numbers = numbers
        self.codes = tuple(codes)
        self.values = tuple(values)

    def __len__(self) -> int:
        return len(self.numbers)

    @overload
    def __getitem__(self, i: int) -> tuple[int, tuple[Any, ...]]: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[tuple[int, tuple[Any, ...]], ...]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(len(self))))
        k = range(len(self))[i]  # IndexError when out of range; negative positions count from the end
        return int(self.numbers[k]), tuple(v[c[k]] for c, v in zip(self.codes, self.values, strict=True))

    def __iter__(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        cols = [v[c].tolist() for c, v in zip(self.codes, self.values, strict=True)]
        return zip(self.numbers.tolist(), zip(*cols, strict=True) if cols else ((),) * len(self), strict=True)

    def column(self, j: int) -> np.ndarray:
        """The cells of column ``j``, one per row (an object array)."""
        return self.values[j][self.codes[j]]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"ColumnRows({tuple(self)!r})"


@dataclass(frozen=True)
class RawTable:
    """One form as delivered: header cells and data rows with their source row numbers.

    ``header`` holds the header cells as text (trimmed, BOM removed, original case); ``rows`` holds
    ``(row_number, cells)`` pairs where ``cells`` has the same length as ``header`` (a tuple, or for a
    CSV file a :class:`ColumnRows`). Completely blank rows are skipped (they carry no data). ``date1904``
    is true when the workbook uses the 1904 date system.
    """

    form: str
    source: str
    header: tuple[str, ...]
    rows: Sequence[tuple[int, tuple[Any, ...]]]
    date1904: bool = False

    def column_cells(self, i: int) -> Sequence[Any]:
        """The cells of column ``i`` (by position), one per data row."""
        if isinstance(self.rows, ColumnRows):
            return self.rows.column(i)
        return tuple(cs[i] for _, cs in self.rows)

    def column_has_values(self, i: int) -> bool:
        """Whether some data row has a non-blank cell in column ``i``."""
        if isinstance(self.rows, ColumnRows):
            values, codes = self.rows.values[i], self.rows.codes[i]
            blank = np.fromiter(map(is_blank, values), dtype=bool, count=len(values))
            return bool((~blank[codes]).any())
        return any(not is_blank(cs[i]) for _, cs in self.rows)

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
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    if value and not value[0].isspace() and value[0] != "\ufeff":  # quick answer for most cells
        return False
    return _SPACES.sub("", value) == ""


def _blank_row(cells: Sequence[Any]) -> bool:
    if cells:  # quick answer for most rows: a first cell of text that starts with a visible character
        c = cells[0]
        if type(c) is str and c and not c[0].isspace() and c[0] != "\ufeff":
            return False
    for c in cells:
        if not is_blank(c):
            return False
    return True


def _make_table(form: str, source: str, rows: Iterable[tuple[int, list[Any]]], date1904: bool) -> RawTable:
    rows = list(rows)
    if not rows:
        return RawTable(form, source, (), (), date1904)
    header_row = rows[0][1]
    header = ["" if h is None else _SPACES.sub(" ", str(h)).strip() for h in header_row]
    data = [(n, cells) for n, cells in rows[1:] if not _blank_row(cells)]
    # Width: the last named header column, or further when data sits under blank headers.
    width = max([i + 1 for i, h in enumerate(header) if h] + [0])
    for _, cells in data:  # only cells right of the current width can widen the table
        for i in range(len(cells) - 1, width - 1, -1):
            if not is_blank(cells[i]):
                width = i + 1
                break
    header = (header + [""] * width)[:width]
    out = tuple(
        (n, cells if len(cells) == width and isinstance(cells, tuple)
         else tuple((list(cells) + [None] * width)[:width]))
        for n, cells in data
    )
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


def _reason(exc: BaseException) -> str:
    """An exception as text; never empty (a MemoryError, for one, has no message)."""
    return str(exc) or type(exc).__name__


def check_zip_limits(path: Path) -> None:
    """Refuse a zip archive (workbook) that would expand too far, before anything is decompressed.

    The sizes come from the archive's central directory. A directory that under-states an entry's size
    cannot inflate past it: :mod:`zipfile` stops reading an entry at its stated size and the CRC check
    then fails, which the reader reports as a corrupt workbook.

    Raises
    ------
    InputReadError
        Naming the numbers: the total uncompressed size, or the entry and its expansion ratio.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except Exception as exc:  # zipfile raises many kinds (BadZipFile, NotImplementedError, EOFError, ...)
        raise InputReadError(f"{path.name} is not a readable .xlsx workbook (zip archive): {_reason(exc)}") from exc
    if len(infos) > XLSX_MAX_ENTRIES:
        raise InputReadError(
            f"{path.name} is refused: the archive has {len(infos):,} entries, more than the limit of "
            f"{XLSX_MAX_ENTRIES:,} for a workbook"
        )
    total = sum(i.file_size for i in infos)
    if total > XLSX_MAX_UNCOMPRESSED:
        raise InputReadError(
            f"{path.name} is refused: it would expand to {total:,} bytes ({total / 2**20:,.0f} MiB) from "
            f"{path.stat().st_size:,} bytes on disk, more than the limit of {XLSX_MAX_UNCOMPRESSED:,} bytes "
            f"({XLSX_MAX_UNCOMPRESSED / 2**20:,.0f} MiB); split the data over several workbooks or use CSV files"
        )
    for info in infos:
        if info.file_size <= XLSX_RATIO_GRACE:
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > XLSX_MAX_RATIO:
            raise InputReadError(
                f"{path.name} is refused: entry {info.filename} expands {ratio:,.0f}-fold "
                f"({info.compress_size:,} bytes compressed to {info.file_size:,} bytes), more than the limit "
                f"of {XLSX_MAX_RATIO:,.0f}-fold for a workbook (a zip bomb?)"
            )


def sheet_name_clashes(source: str, names: Iterable[str], forms: Iterable[str], kind: str) -> list[ReadNote]:
    """Error notes for sheets (or CSV files) whose names differ only in case or spaces and name a form.

    Only the first would be read and the other silently ignored. ``kind`` is ``"sheets"`` (``names``
    are sheet titles) or ``"files"`` (``names`` are CSV file names; the form is the name without
    ``.csv``).
    """
    wanted = {f.casefold() for f in forms}
    groups: dict[str, list[str]] = {}
    for n in names:
        stem = Path(n).stem if kind == "files" else n
        groups.setdefault(stem.strip().casefold(), []).append(n)
    notes = []
    for key, group in groups.items():
        if key in wanted and len(group) > 1:
            listed = " and ".join(f"'{g}'" for g in group)
            notes.append(ReadNote(
                "error", source, "form.ambiguous",
                f"{source} has {kind} {listed} whose names differ only in case or spaces; they are the same "
                f"form '{key}'. Keep one (only {listed.split(' and ')[0]} would be read)",
            ))
    return notes


def _read_xlsx(path: Path, forms: list[str]) -> RawDataset:

    with path.open("rb") as fh:  # the signature only: never the whole file
        head = fh.read(8)
    if head == _OLE_MAGIC:
        data = path.read_bytes()
        if "EncryptionInfo".encode("utf-16-le") in data:
            raise InputReadError(
                f"{path.name} is password-protected (encrypted); save an unprotected copy as .xlsx"
            )
        raise InputReadError(f"{path.name} is a legacy .xls workbook; save it as .xlsx (Excel Workbook)")
    if not zipfile.is_zipfile(path):
        raise InputReadError(f"{path.name} is not an .xlsx workbook (not a valid zip/Office Open XML file)")
    check_zip_limits(path)
    with warnings.catch_warnings():
        # openpyxl warns about Excel features it drops (e.g. extended data validation); irrelevant here
        warnings.simplefilter("ignore", UserWarning)
        return _read_xlsx_data(path, forms)


def _read_xlsx_data(path: Path, forms: list[str]) -> RawDataset:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds of exceptions on corrupt files
        raise InputReadError(f"{path.name} cannot be read as an .xlsx workbook: {_reason(exc)}") from exc
    try:
        from openpyxl.utils.datetime import CALENDAR_MAC_1904

        date1904 = wb.epoch == CALENDAR_MAC_1904
        wanted = {f.casefold(): f for f in forms}
        tables: dict[str, RawTable] = {}
        other: list[str] = []
        sheet_titles = list(wb.sheetnames)
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
        raise InputReadError(f"{path.name} cannot be read as an .xlsx workbook: {_reason(exc)}") from exc
    finally:
        wb.close()
    notes = sheet_name_clashes(path.name, sheet_titles, forms, "sheets")
    return RawDataset(str(path), tables, tuple(notes), tuple(other))


class _Restored(dict[str, str]):
    """Each distinct CSV text once, as :func:`blincompass.io.safe.restore_text` gives it (so equal cells
    share one string)."""

    def __missing__(self, key: str) -> str:
        value = restore_text(key)
        self[key] = value
        return value


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
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputReadError(f"{path.name} cannot be read: {exc.strerror or exc}") from exc
    text, notes = decode_csv_bytes(path.name, data)
    if "\x00" in text:
        raise InputReadError(
            f"{path.name} is not a text CSV file: it contains NUL characters (at character {text.index(chr(0))})"
        )
    first, _, rest = text.partition("\n")
    if m := re.fullmatch(r"\ufeff?sep=(.)\r?", first):
        # Excel's "sep=;" hint line: Excel hides it, so the header stays row 1
        delimiter, text = m[1], rest
    else:
        delimiter = _sniff_delimiter(text)
    table = _read_csv_columns(form, path.name, text, delimiter)
    if table is None:
        table = _read_csv_rows(form, path.name, text, delimiter)
    return table, notes


def _read_csv_rows(form: str, source: str, text: str, delimiter: str) -> RawTable:
    """The table of a CSV text read row by row with the :mod:`csv` module (any shape of file)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        # equal cells share one string (codes, dates and yes/no repeat down a column): far less memory
        # for a large file than one string object per cell
        # (each distinct text restored once: see :func:`blincompass.io.safe.restore_text`)
        seen = _Restored()
        get = seen.__getitem__
        rows = [(i, tuple(map(get, cells))) for i, cells in enumerate(reader, start=1)]
    except csv.Error as exc:
        raise InputReadError(f"{source} is not a readable CSV file: {exc}") from exc
    return _make_table(form, source, rows, False)


def _read_csv_columns(form: str, source: str, text: str, delimiter: str) -> RawTable | None:
    """The table of a CSV text read column by column with ``pyarrow.csv`` (every cell as text), the same
    table that the :mod:`csv` module's reader gives row by row in :func:`read_csv_table`: same cells (each
    distinct text restored once, see :func:`blincompass.io.safe.restore_text`), same row numbers, blank
    rows skipped, the same width. ``None`` when the text is not a plain rectangle that both readers read
    alike -- rows of another length than the header, an unterminated quote, a cell longer than the
    :mod:`csv` module's field limit, an empty file -- or when pyarrow cannot read it: the caller then reads
    it with the :mod:`csv` module (which also gives the error message of a file that cannot be read).

    pyarrow's parser is used for speed (about 5x the :mod:`csv` module at 10^6 rows, and it gives columns);
    its quoting follows the same rules as the :mod:`csv` module's default dialect (doubled quotes, quotes
    inside an unquoted cell kept, text after a closing quote appended), which ``tests/io`` checks on
    random texts.
    """
    try:
        header_cells = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), None)
    except csv.Error:
        return None
    if not header_cells or text.startswith("\ufeff"):  # pyarrow drops a byte-order mark the csv module keeps
        return None
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pcsv
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None
    n = len(header_cells)
    names = [f"c{i}" for i in range(n)]
    irregular: list[Any] = []

    def on_invalid(row: Any) -> str:
        irregular.append(row)
        return "skip"

    # the system allocator: Arrow's default (mimalloc) keeps tens of MB it no longer uses for the rest of
    # the process; one thread: the same result with less memory and CPU time on a shared machine
    pool = pa.system_memory_pool()
    try:
        data = text.encode("utf-8")
        table = pcsv.read_csv(
            pa.BufferReader(data),
            read_options=pcsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pcsv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=True,
                                             escape_char=False, newlines_in_values=True, ignore_empty_lines=False,
                                             invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(column_types={c: pa.string() for c in names},
                                                strings_can_be_null=False, quoted_strings_can_be_null=False),
            memory_pool=pool,
        )
    except (pa.ArrowException, UnicodeError, ValueError):
        return None
    if irregular or table.num_rows == 0:
        return None
    limit = csv.field_size_limit()
    codes: list[np.ndarray] = []
    values: list[np.ndarray] = []
    visible: list[np.ndarray] = []  # per distinct text: starts with a character that is surely not a space
    for name in names:
        col = table.column(name)
        longest = pc.max(pc.utf8_length(col, memory_pool=pool), memory_pool=pool).as_py() if len(col) else 0
        if longest is not None and longest > limit:
            return None  # the csv module refuses such a cell: read it that way for the same message
        enc = pc.dictionary_encode(col.combine_chunks(memory_pool=pool) if col.num_chunks != 1 else col.chunk(0),
                                   memory_pool=pool)
        texts = enc.dictionary
        uniq = np.empty(len(texts), dtype=object)
        uniq[:] = texts.to_pylist()
        # formula escapes (a leading apostrophe) undone on the few texts that start with one
        escaped = np.flatnonzero(pc.starts_with(texts, "'", memory_pool=pool).to_numpy(zero_copy_only=False))
        for k in escaped:
            uniq[k] = restore_text(uniq[k])
        values.append(uniq)
        vis = pc.match_substring_regex(texts, _VISIBLE_START, memory_pool=pool).to_numpy(zero_copy_only=False).copy()
        vis[escaped] = False  # a restored text may start with a space (a tab): checked one by one
        visible.append(vis)
        codes.append(enc.indices.to_numpy(zero_copy_only=False).astype(np.intp, copy=False))
    del table
    header = [_SPACES.sub(" ", str(values[j][codes[j][0]])).strip() for j in range(n)]
    numbers = np.arange(2, len(codes[0]) + 1, dtype=np.int64)
    codes = [c[1:] for c in codes]

    def blank_mask(j: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Which rows (all, or those at ``rows``) have a blank cell in column ``j``."""
        c = codes[j] if rows is None else codes[j][rows]
        out = ~visible[j][c]
        if out.any():  # texts that may be blank (empty, or starting with a space): checked one by one
            maybe = np.unique(c[out])
            blank_u = np.zeros(len(values[j]), dtype=bool)
            blank_u[maybe] = [is_blank(values[j][k]) for k in maybe]
            out = blank_u[c]
        return out

    candidates = np.flatnonzero(blank_mask(0))  # a blank row starts with a blank cell
    for j in range(1, n):
        if not len(candidates):
            break
        candidates = candidates[blank_mask(j, candidates)]
    if len(candidates):
        keep = np.ones(len(numbers), dtype=bool)
        keep[candidates] = False
        numbers = numbers[keep]
        codes = [c[keep] for c in codes]
    # width: the last named header column, or further when data sits under blank headers
    width = max([i + 1 for i, h in enumerate(header) if h] + [0])
    for j in range(n - 1, width - 1, -1):
        if not blank_mask(j).all():
            width = j + 1
            break
    return RawTable(form, source, tuple(header[:width]), ColumnRows(numbers, codes[:width], values[:width]), False)


def _wide_encoding(data: bytes) -> tuple[str, str] | None:
    """UTF-16/UTF-32 without a byte-order mark, recognised by where the NUL bytes sit in the first 4 KiB.

    Text in Latin script stored as UTF-16 LE has a NUL at every odd offset (UTF-32 LE: three NULs in
    every four bytes). Returns (codec, name) or ``None``.
    """
    sample = data[:4096]
    n = len(sample)
    if n < 4:
        return None
    if n % 4 == 0:
        quads = [sample[i:i + 4] for i in range(0, n, 4)]
        if sum(q[1:] == b"\x00\x00\x00" for q in quads) >= 0.9 * len(quads):
            return "utf-32-le", "UTF-32 LE"
        if sum(q[:3] == b"\x00\x00\x00" for q in quads) >= 0.9 * len(quads):
            return "utf-32-be", "UTF-32 BE"
    half = n // 2
    odd_nul = sum(sample[i] == 0 for i in range(1, n, 2))
    even_nul = sum(sample[i] == 0 for i in range(0, n, 2))
    if odd_nul >= 0.6 * half and even_nul <= 0.1 * half:
        return "utf-16-le", "UTF-16 LE"
    if even_nul >= 0.6 * half and odd_nul <= 0.1 * half:
        return "utf-16-be", "UTF-16 BE"
    return None


def decode_csv_bytes(name: str, data: bytes) -> tuple[str, list[ReadNote]]:
    """The text of a CSV file: UTF-8 (with or without BOM) expected; UTF-16 and UTF-32 (with or without
    a byte-order mark) decoded with a warning; Windows-1252 or Latin-1 as a fallback with a warning.

    Raises
    ------
    InputReadError
        For a file that is not text (named when recognised: a workbook, an SPSS file, a PDF, ...), or
        UTF-16/UTF-32 text that does not decode.
    """
    wide: tuple[str, str] | None = None
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            wide = (codec, label)
            break
    if wide is None and b"\x00" in data[:4096]:
        wide = _wide_encoding(data)
        if wide is None:
            for magic, what in _BINARY_SIGNATURES:
                if data.startswith(magic):
                    raise InputReadError(f"{name} is not a CSV file: it is {what}")
            raise InputReadError(
                f"{name} is not a text CSV file: it contains NUL bytes (first at byte {data.index(0)}) and is "
                "neither UTF-8, UTF-16 nor UTF-32 text; save it as 'CSV UTF-8'"
            )
    if wide is not None:
        codec, label = wide
        try:
            text = data.decode(codec)
        except UnicodeDecodeError as exc:
            raise InputReadError(
                f"{name} looks like {label} text but is not valid {label} (byte {exc.start}: {exc.reason}); "
                "save it as 'CSV UTF-8'"
            ) from exc
        text = text.removeprefix("\ufeff")
        if text and not any(c in text[:4096] for c in "\n,;\t"):
            # binary data behind a byte-order mark decodes to "text" too, but never to a table
            raise InputReadError(
                f"{name} looks like {label} text but holds no line break or delimiter in its first "
                f"{min(len(text), 4096):,} characters, so it is not a CSV table; save it as 'CSV UTF-8'"
            )
        note = ReadNote("warning", name, "file.encoding",
                        f"{name} is {label}, not UTF-8; read as {label}. Save it as 'CSV UTF-8' next time.")
        return text, [note]
    for magic, what in _BINARY_SIGNATURES:
        if data.startswith(magic):
            raise InputReadError(f"{name} is not a CSV file: it is {what}")
    notes: list[ReadNote] = []
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
                    name,
                    "file.encoding",
                    f"{name} is not UTF-8; read as {enc}. Check accented characters, "
                    "and save as 'CSV UTF-8' next time.",
                )
            )
        break
    assert text is not None  # latin-1 decodes every byte string
    return text, notes




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
    csv_names = [p.name for p in entries if p.is_file() and p.suffix.casefold() == ".csv"]
    notes.extend(sheet_name_clashes(path.name, csv_names, forms, "files"))
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
