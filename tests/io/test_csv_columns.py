"""The column-wise CSV reader (pyarrow) gives the table the row-wise reader (the csv module) gives: same
header, cells, row numbers and width, on random texts and on seeded damaged copies of the example; and the
validator's findings and typed frames are the same whichever reader read the files."""

from __future__ import annotations

import csv
import random
import re

import numpy as np
import pandas as pd
import pytest

from blincompass.io import raw as raw_mod
from blincompass.io.raw import _SPACES, _VISIBLE_START, ColumnRows, _read_csv_columns, _read_csv_rows, read_raw
from blincompass.validate import load_dataset
from tests.validate.helpers import copy_example, read_rows

# pieces of CSV text: quotes in every position, line breaks of three kinds, spaces of several kinds,
# formula escapes, both delimiters
PIECES = ("a", "b", "1", "x y", ",", ",", ";", '"', '""', "\n", "\n", "\r\n", "\r", " ", "\u00a0", "\ufeff",
          "'", "'=", "''=1", "=", "-", "\t", "\u2028", "é", "ab,c")


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 60)))


def _same(text: str, delimiter: str) -> bool | None:
    """Whether the two readers agree (``None`` when the column reader declines the text)."""
    try:
        rows = _read_csv_rows("f", "f.csv", text, delimiter)
    except raw_mod.InputReadError:
        rows = None
    cols = _read_csv_columns("f", "f.csv", text, delimiter)
    if cols is None:
        return None
    assert rows is not None, f"the csv module refuses {text!r} but pyarrow reads it"
    assert isinstance(cols.rows, ColumnRows)
    assert cols.header == rows.header, repr(text)
    assert tuple(cols.rows) == tuple(rows.rows), repr(text)
    assert cols == rows  # the dataclasses compare equal (rows as a sequence)
    return True


def test_random_texts_read_alike() -> None:
    rng = random.Random(20261203)
    agreed = 0
    for _ in range(3000):
        agreed += bool(_same(_random_text(rng), rng.choice(",;")))
    assert agreed > 500  # most texts are rectangles the column reader takes


@pytest.mark.parametrize(("text", "read_by_columns"), [
    ("a,b\n1,2\n", True),
    ('a,b\n"x ""y"",z",2\n', True),  # doubled quotes inside a quoted cell
    ('a,b\na"b,2\n"ab"cd,3\n', True),  # a quote inside an unquoted cell; text after a closing quote
    ('a,b\n"line\r\nbreak",2\r\n', True),  # a line break inside a quoted cell
    ("a,b\n\n1,2\n,\n \t, \n3,4\n", True),  # blank rows skipped, their row numbers kept
    ("a,,\n1,,x\n2,,\n", True),  # data under a blank header widens the table
    ("a,b,,\n1,2,,\n", True),  # blank trailing columns dropped
    ("a,b\n'=1,''=2\n", True),  # formula escapes undone
    ("a\n'\t\n", True),  # an escaped tab: a blank row once restored
    ("a,b\n1,2\n3\n", False),  # a short row: read row-wise
    ("a,b\n1,2,3\n", False),  # a long row
    ('a,b\n"1,2\n', False),  # an unterminated quote
    ("", False),
    ("\na,b\n1,2\n", False),  # a blank first line
])
def test_shapes(text: str, read_by_columns: bool) -> None:
    assert _same(text, ",") is (True if read_by_columns else None)


def test_row_numbers_and_cells() -> None:
    t = _read_csv_columns("f", "f.csv", "id,v,,\nP1,'=x,,\n,,,\n\u00a0, ,,\nP2,\"a\nb\",,z\n", ",")
    assert t is not None
    assert t.header == ("id", "v", "", "")
    assert list(t.rows) == [(2, ("P1", "=x", "", "")), (5, ("P2", "a\nb", "", "z"))]
    assert t.rows[-1] == (5, ("P2", "a\nb", "", "z")) and t.rows[:1] == ((2, ("P1", "=x", "", "")),)
    assert t.column_has_values(3) and not t.column_has_values(2)
    assert list(t.column_cells(1)) == ["=x", "a\nb"]


def test_a_cell_over_the_field_limit_is_refused_as_before(tmp_path) -> None:
    (tmp_path / "patients.csv").write_text("patient_id,centre\nP1," + "x" * (csv.field_size_limit() + 1) + "\n")
    with pytest.raises(raw_mod.InputReadError, match="patients.csv is not a readable CSV file: field larger"):
        read_raw(tmp_path)


def test_visible_start_is_the_complement_of_spaces() -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    visible = pc.match_substring_regex(pa.array([c + "x" for c in chars]), _VISIBLE_START).to_numpy(
        zero_copy_only=False)
    spaces = np.array([_SPACES.fullmatch(c) is not None for c in chars])
    assert (visible == ~spaces).all()
    assert not pc.match_substring_regex(pa.array([""]), _VISIBLE_START)[0].as_py()


def _damage(rows: list[list[str]], rng: random.Random) -> list[list[str]]:
    """Text-level damage a centre's file may have: blank and space-only rows, quoted line breaks and
    delimiters, formula-like and apostrophe-escaped texts, padded cells, a column without a header."""
    out = [list(r) for r in rows]
    pool = ["", " ", "\u00a0", "'=SUM(1)", "=1+1", "-3", "a,b", 'say "hi"', "two\nlines", " 7 ", "yes", "NA",
            "2020-02-30", "1.5e-3", "\ufeffx", "@x"]
    for _ in range(40):
        r = rng.randrange(1, len(out))
        c = rng.randrange(len(out[0]))
        out[r][c] = rng.choice(pool + [out[rng.randrange(1, len(out))][c]])
    for _ in range(4):
        r = rng.randrange(1, len(out) + 1)
        out.insert(r, [rng.choice(["", " ", "\t"]) for _ in out[0]])
    if rng.random() < 0.5:
        out[0].append("")
        for r in out[1:]:
            r.append(rng.choice(["", "", "stray"]))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_validation_is_the_same_with_either_reader(tmp_path, monkeypatch, seed) -> None:
    ex = copy_example(tmp_path)
    rng = random.Random(seed)
    for form in ("patients", "courses", "assessments", "adverse_events", "outcomes"):
        rows = _damage(read_rows(ex, form), rng)
        with (ex / f"{form}.csv").open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, lineterminator=rng.choice(["\n", "\r\n"])).writerows(rows)
    raw = read_raw(ex)
    assert all(isinstance(t.rows, ColumnRows) for t in raw.tables.values())
    by_columns = load_dataset(ex)
    monkeypatch.setattr(raw_mod, "_read_csv_columns", lambda *a: None)
    assert not any(isinstance(t.rows, ColumnRows) for t in read_raw(ex).tables.values())
    by_rows = load_dataset(ex)
    assert [f.to_dict() for f in by_columns.findings] == [f.to_dict() for f in by_rows.findings]
    assert len(by_columns.findings) > 20
    assert {f.rule for f in by_columns.findings} >= {"type.date", "text.formula", "required"}
    for name, frame in by_rows.dataset.forms.items():
        pd.testing.assert_frame_equal(by_columns.dataset.forms[name], frame)
    assert re.search("stray|column", " ".join(f.message for f in by_columns.findings))
