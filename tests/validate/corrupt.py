"""Seeded corruptions of the example data set, for the test that cross-form findings stay as they were.

``corrupt(folder, seed)`` changes the example's CSV files in place: random cells get a value from a pool
(dates moved by days to years, numbers, codes of other variables, empty cells, unknown identifiers), rows
are deleted or duplicated. The expected findings (``data/corrupted_findings.json``) were written by the
validator as it was before the cross-form checks became declarations of the dictionary.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from tests.validate.helpers import read_rows, write_rows

FORMS = ("patients", "courses", "assessments", "adverse_events", "outcomes")
SEEDS = tuple(range(8))


def _new_value(rng: random.Random, value: str, column: list[str]) -> str:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        day = None
    if day is not None and rng.random() < 0.8:
        shift = rng.choice([-4000, -400, -90, -61, -30, -1, 1, 2, 30, 61, 400, 4000])
        return (day + dt.timedelta(days=shift)).isoformat()
    choice = rng.random()
    if choice < 0.25:
        return ""
    if choice < 0.5:
        return rng.choice(column)
    if choice < 0.7:
        return str(rng.choice([0, 1, 2, 3, 5, 7, 10]))
    return rng.choice(["C1-001", "C9-999", "c2-003", "baseline", "after_c2", "after_c5", "yes", "no"])


def corrupt(folder: Path, seed: int) -> None:
    rng = random.Random(seed)
    tables = {f: read_rows(folder, f) for f in FORMS}
    for _ in range(12 + 4 * seed):
        form = rng.choice(FORMS)
        rows = tables[form]
        if len(rows) < 2:
            continue
        r = rng.randrange(1, len(rows))
        c = rng.randrange(len(rows[0]))
        rows[r][c] = _new_value(rng, rows[r][c], [x[c] for x in rows[1:]])
    for _ in range(seed % 3):
        form = rng.choice(FORMS)
        rows = tables[form]
        if len(rows) > 2:
            r = rng.randrange(1, len(rows))
            if rng.random() < 0.5:
                del rows[r]
            else:
                rows.append(list(rows[r]))
    for form, rows in tables.items():
        write_rows(folder, form, rows)
