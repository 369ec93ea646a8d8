"""Property-based tests: any bytes, cell values or sheet names give findings or a clean read error.

The readers may refuse input (:class:`InputReadError`, exit 2); the validator must turn anything it is
given into findings; a registry import either applies, is rejected with findings, or refuses the input.
No other exception may escape. Example counts are bounded so that the module runs in a few seconds.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from blincompass.dictionary import load_dictionary
from blincompass.exports import export
from blincompass.io import InputReadError, RawDataset, example_dir
from blincompass.io.raw import RawTable, decode_csv_bytes
from blincompass.io.safe import FORMULA_TRIGGERS, escape_text, restore_text, write_cell
from blincompass.registry import ImportRejected, Registry, create_engine, dump_tables
from blincompass.validate import ValidationResult, load_dataset, validate

D = load_dictionary()
FORMS = D.form_names
#: Bounded, derandomised runs keep the suite fast and reproducible; set BLINCOMPASS_FUZZ_EXAMPLES=500 (say)
#: for a longer random exploration.
_EXPLORE = int(os.environ.get("BLINCOMPASS_FUZZ_EXAMPLES", "0") or 0)
FAST = settings(max_examples=_EXPLORE or 20, deadline=None, derandomize=not _EXPLORE, database=None,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(FAST, max_examples=_EXPLORE or 10)
#: A registry import with exports and re-imports takes about half a second.
REGISTRY = settings(FAST, max_examples=_EXPLORE or 4)

# text that openpyxl can store (it refuses most control characters)
SAFE_CHARS = st.characters(blacklist_categories=("Cs", "Cc"))
xml_text = st.text(SAFE_CHARS | st.sampled_from(["\t", "\n"]), max_size=30)
cell_values = st.one_of(
    st.none(),
    xml_text,
    st.sampled_from(["yes", "no", "NA", "unknown", "NEG", "PNQ", "1x10-4", "45%", "31/02/2017", "2019-05-13",
                     "=1+1", "@SUM(1+1)", "-1.5", "'=x", "#N/A", "C1-001", "C1", "bcp_all", "Fever"]),
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.booleans(),
    st.dates(dt.date(1900, 3, 1), dt.date(9999, 12, 31)),
    st.datetimes(dt.datetime(1900, 3, 1), dt.datetime(9999, 12, 31)),
)
sheet_names = st.one_of(
    st.sampled_from(FORMS).map(lambda f: f.upper()),
    st.sampled_from(FORMS).map(lambda f: f" {f.title()} "),
    st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="[]:*?/\\'"),
            min_size=1, max_size=31).filter(lambda s: s.strip() != "" and s.strip("'") == s),
)


def _outcome(run: object) -> ValidationResult | InputReadError:
    try:
        result = run()  # type: ignore[operator]
    except InputReadError as exc:
        assert str(exc)  # a reason is always given
        return exc
    assert isinstance(result, ValidationResult)
    for f in result.findings:
        assert f.severity in ("error", "warning", "info") and f.rule and f.message
    return result


# -- bytes ------------------------------------------------------------------------------------------


@FAST
@given(data=st.binary(max_size=600))
def test_csv_bytes_decode_or_refuse(data: bytes) -> None:
    try:
        text, notes = decode_csv_bytes("p.csv", data)
    except InputReadError as exc:
        assert str(exc).startswith("p.csv ")
        return
    assert isinstance(text, str)
    assert all(n.rule == "file.encoding" for n in notes)


@FAST
@given(data=st.binary(max_size=400), form=st.sampled_from(FORMS))
def test_any_csv_file_gives_findings_or_read_error(data: bytes, form: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / f"{form}.csv").write_bytes(data)
        _outcome(lambda: load_dataset(folder))


@FAST
@given(data=st.binary(max_size=400))
def test_any_bytes_as_workbook_give_read_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.xlsx"
        path.write_bytes(data)
        assert isinstance(_outcome(lambda: load_dataset(path)), InputReadError)


@pytest.fixture(scope="module")
def workbook_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    import re

    from blincompass.io.ooxml import deterministic_zip
    from tests.validate.helpers import example_to_xlsx

    # fixed entry and document dates: the same bytes in every run, so derandomised examples reproduce
    data = deterministic_zip(example_to_xlsx(tmp_path_factory.mktemp("wb") / "wb.xlsx").read_bytes())
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        core = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2000-01-01T00:00:00Z", z.read("docProps/core.xml"))
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            blob = core if info.filename == "docProps/core.xml" else src.read(info.filename)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0)), blob,
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


@SLOW
@given(data=st.data())
def test_damaged_workbook_gives_findings_or_read_error(workbook_bytes: bytes, data: st.DataObject) -> None:
    raw = bytearray(workbook_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del raw[data.draw(st.integers(len(raw) // 2, len(raw) - 1)):]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "damaged.xlsx"
        path.write_bytes(bytes(raw))
        _outcome(lambda: load_dataset(path))


# -- cells and sheet names --------------------------------------------------------------------------


@SLOW
@given(
    sheets=st.lists(st.tuples(sheet_names, st.lists(st.lists(cell_values, max_size=6), max_size=5)),
                    min_size=1, max_size=4, unique_by=lambda t: t[0].casefold()),
)
def test_random_workbooks_give_findings_or_read_error(sheets: list[tuple[str, list[list[object]]]]) -> None:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets:
        ws = wb.create_sheet(title)
        for i, row in enumerate(rows, start=1):
            for j, value in enumerate(row, start=1):
                write_cell(ws, i, j, value)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "random.xlsx"
        wb.save(path)
        _outcome(lambda: load_dataset(path))


@FAST
@given(
    form=st.sampled_from(FORMS),
    extra=st.lists(xml_text, max_size=2),
    rows=st.lists(st.lists(st.one_of(xml_text, st.sampled_from(["", "=cmd|' /C calc'!A0", "2031-01-01"])),
                           min_size=1, max_size=12), max_size=5),
)
def test_random_csv_cells_give_findings(form: str, extra: list[str], rows: list[list[str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for f in FORMS:
            shutil.copy(example_dir() / f"{f}.csv", folder / f"{f}.csv")
        header = D.form(form).columns + extra
        with (folder / f"{form}.csv").open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)
        result = _outcome(lambda: load_dataset(folder))
    if isinstance(result, ValidationResult):
        assert set(result.dataset.forms) == set(FORMS)


@FAST
@given(tables=st.dictionaries(
    st.sampled_from(FORMS),
    st.tuples(st.lists(xml_text, max_size=6), st.lists(st.lists(cell_values, max_size=6), max_size=4)),
    max_size=5,
))
def test_validator_turns_any_raw_table_into_findings(tables: dict[str, tuple[list[str], list[list[object]]]]) -> None:
    raw_tables = {}
    for form, (header, rows) in tables.items():
        width = len(header)
        body = tuple((i, tuple((list(r) + [None] * width)[:width])) for i, r in enumerate(rows, start=2))
        raw_tables[form] = RawTable(form, f"{form}.csv", tuple(header), body)
    result = validate(RawDataset("fuzz", raw_tables), D)
    assert isinstance(result, ValidationResult)
    assert {f.rule for f in result.findings if f.rule == "form.missing"} == (
        {"form.missing"} if set(tables) != set(FORMS) else set())


@FAST
@given(text=st.text(max_size=12) | st.sampled_from(FORMULA_TRIGGERS).flatmap(
    lambda t: st.text(max_size=8).map(lambda s, t=t: "'" * (len(s) % 3) + t + s)))
def test_escape_round_trip(text: str) -> None:
    escaped = escape_text(text)
    assert restore_text(escaped) == text
    assert not escaped.startswith(FORMULA_TRIGGERS)


# -- registry import (access layer on SQLite) ----------------------------------------------------------


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    from tests.registry.conftest import FixedClock

    path = tmp_path_factory.mktemp("fuzzdb") / "registry.db"
    reg = Registry(create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool), clock=FixedClock())
    reg.init()
    for code in ("C1", "C2", "C3"):
        reg.add_centre(code, f"Centre {code}")
    reg.add_user("coord", "coordinator")
    yield reg
    reg.engine.dispose()


_MISSING = {t.casefold() for t in D.meta.missing_tokens}
free_text = st.one_of(
    st.text(SAFE_CHARS, min_size=1, max_size=20),
    st.sampled_from(FORMULA_TRIGGERS[:4]).flatmap(lambda t: st.text(SAFE_CHARS, max_size=10).map(lambda s, t=t: t + s)),
).filter(lambda s: s.strip() == s and s.strip() != "" and s.casefold() not in _MISSING)


@REGISTRY
@given(
    terms=st.lists(free_text, min_size=1, max_size=3),
    reason=free_text,
    cells=st.lists(st.tuples(st.sampled_from(FORMS), st.integers(2, 6), st.integers(1, 10), cell_values), max_size=3),
)
def test_registry_import_of_template_workbook(registry: Registry, terms: list[str], reason: str,
                                              cells: list[tuple[str, int, int, object]]) -> None:
    """Free text of any kind survives import -> export (template and CSV) -> re-import unchanged; random
    damage to other cells gives a rejection with findings or a clean read error, never another exception."""
    from tests.validate.helpers import example_to_xlsx

    coord = registry.as_user("coord")
    with tempfile.TemporaryDirectory() as tmp:
        path = example_to_xlsx(Path(tmp) / "in.xlsx", typed=False, extra_sheets=False)
        wb = openpyxl.load_workbook(path)
        for i, term in enumerate(terms, start=2):
            write_cell(wb["adverse_events"], i, 3, term)
        write_cell(wb["courses"], 6, 7, reason)  # C2-004 course 1, interrupted = yes
        for form, row, col, value in cells:
            write_cell(wb[form], row, col, value)
        wb.save(path)
        try:
            coord.import_path(path)
        except ImportRejected as exc:
            errors = [(f.rule, f.message) for f in exc.findings if f.severity == "error"]
            assert errors and cells, f"free text rejected: {errors}"
            event("rejected with findings")
            return
        except InputReadError as exc:
            assert str(exc) and cells
            event("refused")
            return
        _export_and_reimport_unchanged(registry, coord, Path(tmp))


_PROTOCOL: list[object] = []


def load_protocol_once() -> object:
    if not _PROTOCOL:
        from blincompass.protocol import load_protocol

        _PROTOCOL.append(load_protocol())
    return _PROTOCOL[0]


def _export_and_reimport_unchanged(registry: Any, coord: Any, tmp: Path) -> None:
    """The accepted data, exported as template workbook and as CSV files, re-import with no change."""
    event("imported, exported and re-imported")
    before = dump_tables(registry.engine)
    for fmt in ("template", "csv"):
        written = export(coord, fmt, tmp / fmt, load_protocol_once())
        source = written[0] if fmt == "template" else tmp / fmt
        assert not coord.import_path(source).changed, fmt
        assert dump_tables(registry.engine) == before


@REGISTRY
@given(terms=st.lists(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=15),
                      min_size=1, max_size=3))
def test_registry_import_of_csv_free_text(registry: Registry, terms: list[str]) -> None:
    """Any characters in a CSV's free text: accepted (and then exported and re-imported unchanged), or
    rejected with findings (e.g. ``text.control``), or refused as unreadable (e.g. a NUL character)."""
    coord = registry.as_user("coord")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        shutil.copytree(example_dir(), folder)
        from tests.validate.helpers import edit

        for i, term in enumerate(terms, start=2):
            edit(folder, "adverse_events", i, "ae_term", term)
        try:
            coord.import_path(folder)
        except ImportRejected as exc:
            assert [f for f in exc.findings if f.severity == "error"]
            event("rejected with findings")
            return
        except InputReadError as exc:
            assert "NUL" in str(exc)
            event("refused")
            return
        _export_and_reimport_unchanged(registry, coord, Path(tmp))


@FAST
@given(values=st.lists(st.none() | st.text(max_size=6) | st.sampled_from(["=1", "\x01", "'-", "\t"]), max_size=20),
       other=st.booleans())
def test_vectorised_text_checks_agree_with_the_cell_functions(values: list[str | None], other: bool) -> None:
    import pandas as pd

    from blincompass.io.safe import XML_ILLEGAL, looks_like_formula
    from blincompass.validate.rules import _text_masks

    cells: list[object] = [*values, 1.5] if other else list(values)  # a non-text cell takes the fallback
    formula, control = _text_masks(pd.Series(cells, dtype=object))
    assert formula.tolist() == [looks_like_formula(v) for v in cells]
    assert control.tolist() == [isinstance(v, str) and XML_ILLEGAL.search(v) is not None for v in cells]
