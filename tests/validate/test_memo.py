"""Validation through the form memo (:mod:`blincompass.validate.memo`) gives the validator's result exactly, and
one patient's records validated alone give the findings the whole data set gives for that patient (the web
registry validates a patient's records at every save).

Inputs: the example data set, the synthetic twin and the eight seeded corruptions of the example
(``corrupt.py``)."""

import datetime as dt
import unicodedata
from dataclasses import replace

import pandas as pd
import pytest

from blincompass.dictionary import load_dictionary
from blincompass.io.raw import RawDataset, RawTable, read_raw
from blincompass.synth import write_twin
from blincompass.validate import validate
from blincompass.validate.memo import FormMemo, validate_with_memo
from tests.validate.corrupt import SEEDS, corrupt
from tests.validate.helpers import copy_example

CUTOFF = dt.date(2030, 1, 1)
D = load_dictionary()


def patient_key(pid: str) -> str:
    """Identifiers equal up to case and Unicode compatibility are one patient (as in the registry)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", pid).casefold())


def _inputs(tmp_path):
    yield "example", read_raw(copy_example(tmp_path / "plain"))
    write_twin(tmp_path / "twin", seed=1)
    yield "twin", read_raw(tmp_path / "twin")
    for seed in SEEDS:
        ex = copy_example(tmp_path / f"c{seed}")
        corrupt(ex, seed)
        yield f"corrupt {seed}", read_raw(ex)


def _same(a, b, name):
    assert a.findings == b.findings, name
    assert list(a.dataset.forms) == list(b.dataset.forms)
    for f in a.dataset.forms:
        pd.testing.assert_frame_equal(a.dataset.forms[f], b.dataset.forms[f], obj=f"{name} {f}")


def test_memo_gives_the_validators_result_cold_and_warm(tmp_path):
    memo = FormMemo(D)
    n = 0
    for name, raw in _inputs(tmp_path):
        full = validate(raw, D, data_cutoff=CUTOFF)
        _same(validate_with_memo(raw, memo, data_cutoff=CUTOFF), full, name + " (cold)")
        hits = memo.hits
        _same(validate_with_memo(raw, memo, data_cutoff=CUTOFF), full, name + " (warm)")
        assert memo.hits == hits + len(D.forms)  # every form from the memo the second time
        n += bool(full.findings)
    assert n == 10  # every input has findings to compare


def test_memo_after_one_form_changes(tmp_path):
    """A data set that differs from one seen before in one cell: only that form is read again, and the
    result is the validator's (the frame a cached form returned is not shared with the caller)."""
    memo = FormMemo(D)
    raw = read_raw(copy_example(tmp_path))
    first = validate_with_memo(raw, memo, data_cutoff=CUTOFF)
    first.dataset.forms["courses"].loc[:, "course"] = pd.NA  # a caller changing its frames
    courses = raw.tables["courses"]
    k = courses.header.index("end_date")
    (num, cells), *rest = courses.rows
    cells = (*cells[:k], "2010-01-01", *cells[k + 1:])  # before the start: course.dates
    changed = RawDataset(raw.source, {**raw.tables, "courses": replace(courses, rows=((num, cells), *rest))},
                         raw.notes, raw.other_sheets)
    misses = memo.misses
    got = validate_with_memo(changed, memo, data_cutoff=CUTOFF)
    assert memo.misses == misses + 1
    full = validate(changed, D, data_cutoff=CUTOFF)
    _same(got, full, "changed")
    assert "course.dates" in {f.rule for f in got.findings}
    _same(validate_with_memo(raw, memo, data_cutoff=CUTOFF), validate(raw, D, data_cutoff=CUTOFF), "unchanged")


def _patient_raw(raw: RawDataset, keys: set[str]) -> RawDataset:
    """The rows of the patients whose registry key is in ``keys`` (row numbers kept)."""
    tables = {}
    for name, t in raw.tables.items():
        i = [h.strip().casefold() for h in t.header].index("patient_id")
        rows = tuple((n, c) for n, c in t.rows if str(c[i] or "").strip() and patient_key(str(c[i]).strip()) in keys)
        tables[name] = replace(t, rows=rows)
    return RawDataset(raw.source, tables, raw.notes, raw.other_sheets)


def test_one_patients_records_give_the_whole_data_sets_findings_for_that_patient(tmp_path):
    memo = FormMemo(D)
    checked = 0
    for name, raw in _inputs(tmp_path):
        full = validate(raw, D, data_cutoff=CUTOFF)
        keys = sorted({patient_key(f.patient_id) for f in full.findings if f.patient_id})
        keys += sorted({patient_key(str(c[0]).strip()) for c in (cs for _, cs in raw.tables["patients"].rows)
                        if str(c[0] or "").strip()} - set(keys))[:3]  # and a few patients without findings
        for key in keys:
            alone = validate_with_memo(_patient_raw(raw, {key}), memo, data_cutoff=CUTOFF)
            mine = [f for f in full.findings if f.patient_id and patient_key(f.patient_id) == key]
            assert [f for f in alone.findings if f.patient_id] == mine, (name, key)
            checked += 1
    assert checked > 60


@pytest.mark.parametrize("table", [None, "patients"])
def test_memo_key_holds_the_tables_cells(tmp_path, table):
    """Two data sets that differ only in a source label or a form that is missing are not confused."""
    memo = FormMemo(D)
    raw = read_raw(copy_example(tmp_path))
    tables = dict(raw.tables)
    if table is None:
        tables["courses"] = RawTable("courses", "other.csv", raw.tables["courses"].header, raw.tables["courses"].rows)
    else:
        del tables[table]
    other = RawDataset(raw.source, tables, raw.notes, raw.other_sheets)
    for r in (raw, other, raw, other):
        _same(validate_with_memo(r, memo, data_cutoff=CUTOFF), validate(r, D, data_cutoff=CUTOFF), "labels")


def test_memo_keeps_at_most_its_rows(tmp_path):
    raw = read_raw(copy_example(tmp_path))
    n = sum(len(t.rows) for t in raw.tables.values())
    memo = FormMemo(D, max_rows=n)
    validate_with_memo(raw, memo, data_cutoff=CUTOFF)
    assert memo.rows == n
    twin = tmp_path / "twin"
    write_twin(twin, seed=2)
    other = read_raw(twin)
    _same(validate_with_memo(other, memo, data_cutoff=CUTOFF), validate(other, D, data_cutoff=CUTOFF), "twin")
    assert memo.rows <= max(n, max(len(t.rows) for t in other.tables.values()))
    assert memo.rows == sum(len(r.frame) for r in memo._data.values())
