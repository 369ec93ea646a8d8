"""The small-data path of the validator (``rules.SMALL_ROWS``) gives exactly the columnar path's result.

Forms of at most ``SMALL_ROWS`` rows are read, typed and checked with Python loops instead of pandas / Arrow
kernels (one patient's records in the web registry). Each input here is validated twice -- with the
threshold at 0 (every form columnar) and as shipped -- and the findings and typed frames must be equal:
the example, the synthetic twin and the seeded corruptions, each patient of them alone, and randomly
damaged records of single patients (cells of every Python type a workbook gives, control characters,
formula triggers, dates outside the nanosecond range, keys repeated in another case).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import replace

import pandas as pd
import pytest

from blincompass.io.raw import RawDataset, RawTable, read_raw
from blincompass.synth import write_twin
from blincompass.validate import rules, validate
from blincompass.validate.memo import FormMemo, validate_with_memo
from tests.validate.corrupt import SEEDS, corrupt
from tests.validate.helpers import copy_example
from tests.validate.test_memo import CUTOFF, D, _patient_raw, patient_key


def _both(raw: RawDataset, monkeypatch: pytest.MonkeyPatch, memo: bool = False):  # type: ignore[no-untyped-def]
    run = (lambda r: validate_with_memo(r, FormMemo(D), data_cutoff=CUTOFF)) if memo else (
        lambda r: validate(r, D, data_cutoff=CUTOFF))
    small = run(raw)
    with monkeypatch.context() as m:
        m.setattr(rules, "SMALL_ROWS", 0)
        columnar = run(raw)
    return small, columnar


def _same(a, b, name: str) -> None:  # type: ignore[no-untyped-def]
    assert a.findings == b.findings, name
    for f in b.dataset.forms:
        pd.testing.assert_frame_equal(a.dataset.forms[f], b.dataset.forms[f], check_exact=True, obj=f"{name} {f}")


def _rows(raw: RawDataset) -> RawDataset:
    """The same data set with its tables as tuples of rows (as the registry gives a patient's records)."""
    tables = {n: replace(t, rows=tuple((num, tuple(cells)) for num, cells in t.rows)) for n, t in raw.tables.items()}
    return RawDataset(raw.source, tables, raw.notes, raw.other_sheets)


def _inputs(tmp_path):  # type: ignore[no-untyped-def]
    yield "example", read_raw(copy_example(tmp_path / "plain"))
    write_twin(tmp_path / "twin", seed=3)
    yield "twin", read_raw(tmp_path / "twin")
    for seed in SEEDS:
        ex = copy_example(tmp_path / f"c{seed}")
        corrupt(ex, seed)
        yield f"corrupt {seed}", read_raw(ex)


def test_small_path_equals_columnar_on_whole_inputs_and_each_patient(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    n_small = 0
    for name, raw in _inputs(tmp_path):
        for label, r in ((name, raw), (name + " as rows", _rows(raw))):
            small, columnar = _both(r, monkeypatch)
            _same(small, columnar, label)
        pids = sorted({patient_key(str(c[0]).strip()) for _, c in raw.tables["patients"].rows
                       if str(c[0] or "").strip()})
        for key in pids[:12]:
            alone = _patient_raw(raw, {key})
            small, columnar = _both(alone, monkeypatch, memo=True)
            _same(small, columnar, f"{name} patient {key}")
            n_small += 1
    assert n_small > 80


#: Cells a damaged record may hold (a workbook gives numbers, dates, booleans; a CSV text).
POOL = ["", " ", "yes", "No", "TRUE", 1, 0, 2.5, -0.0, float("nan"), True, False, dt.date(2019, 5, 1),
        dt.datetime(2019, 5, 1, 13, 5), dt.date(1500, 1, 1), dt.date(9999, 12, 31), "2262-05-01", "1677-01-01",
        "2019-02-30", "31/12/2018", "=SUM(A1)", "+1", "-2", "@x", "\tx", "a\x01b", "x\x1fy", "NEG", "PNQ", "ND",
        "0.0004", "1e-3", "2030-01-01", "2030-01-02", dt.date(2030, 1, 2),
        "unknown", "baseline", "after_c1", "after_c9", "C1-001", "c1-001", "ＣＩ－００１",
        "#N/A", "Nausea", "nausea", "Pyrexia", "Fever", "not a term", "100", "101", "-1", "3", "3.0", "ped_stepup"]


def _damaged(raw: RawDataset, key: str, seed: int) -> RawDataset:
    """One patient's records with random cells replaced, rows repeated (some in another case) or dropped."""
    rng = random.Random(seed)
    alone = _patient_raw(raw, {key})
    tables = {}
    for name, t in alone.tables.items():
        rows = [list(cells) for _, cells in t.rows]
        for r in rows:
            for j in range(len(r)):
                if rng.random() < 0.2:
                    r[j] = rng.choice(POOL)
        if rows and rng.random() < 0.5:
            extra = list(rng.choice(rows))
            extra = [c.upper() if isinstance(c, str) and rng.random() < 0.5 else c for c in extra]
            rows.insert(rng.randrange(len(rows) + 1), extra)
        if len(rows) > 1 and rng.random() < 0.3:
            rows.pop(rng.randrange(len(rows)))
        tables[name] = RawTable(name, f"registry[{name}]", t.header,
                                tuple((i, tuple(r)) for i, r in enumerate(rows, start=2)))
    return RawDataset("registry", tables)


def test_small_path_equals_columnar_on_damaged_records(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    raw = read_raw(copy_example(tmp_path))
    keys = sorted({patient_key(str(c[0]).strip()) for _, c in raw.tables["patients"].rows})
    rules_seen: set[str] = set()
    for seed in range(40):
        damaged = _damaged(raw, keys[seed % len(keys)], seed)
        small, columnar = _both(damaged, monkeypatch, memo=seed % 2 == 1)
        _same(small, columnar, f"damaged {seed}")
        rules_seen |= {f.rule for f in columnar.findings}
    # the damage reaches the checks the small path replaces
    assert {"key.unique", "text.formula", "text.control", "type.date", "code.allowed", "range",
            "date.after_cutoff"} <= rules_seen
