"""Helpers for validation tests: copy the bundled example to a folder and change single cells."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from blincompass.io import example_dir
from blincompass.validate import Finding, load_dataset


def copy_example(dest: Path) -> Path:
    """Copy the example CSV folder to ``dest/example`` and return that folder."""
    out = dest / "example"
    shutil.copytree(example_dir(), out)
    return out


def read_rows(folder: Path, form: str) -> list[list[str]]:
    with (folder / f"{form}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def write_rows(folder: Path, form: str, rows: list[list[str]]) -> None:
    with (folder / f"{form}.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def edit(folder: Path, form: str, row: int, field: str, value: str) -> None:
    """Set one cell; ``row`` is the row number as a spreadsheet shows it (header = 1)."""
    rows = read_rows(folder, form)
    rows[row - 1][rows[0].index(field)] = value
    write_rows(folder, form, rows)


def add_row(folder: Path, form: str, values: dict[str, str]) -> int:
    """Append a row (missing fields empty); return its row number."""
    rows = read_rows(folder, form)
    rows.append([values.get(c, "") for c in rows[0]])
    write_rows(folder, form, rows)
    return len(rows)


def delete_row(folder: Path, form: str, row: int) -> None:
    rows = read_rows(folder, form)
    del rows[row - 1]
    write_rows(folder, form, rows)


def row_of(folder: Path, form: str, **match: str) -> int:
    """Row number of the first row whose fields equal ``match``."""
    rows = read_rows(folder, form)
    for i, r in enumerate(rows[1:], start=2):
        if all(r[rows[0].index(k)] == v for k, v in match.items()):
            return i
    raise KeyError(match)


def errors(folder: Path, rule: str | None = None) -> list[Finding]:
    res = load_dataset(folder)
    return [f for f in res.findings if f.severity == "error" and (rule is None or f.rule == rule)]


def findings(folder: Path, rule: str) -> list[Finding]:
    return [f for f in load_dataset(folder).findings if f.rule == rule]


def example_to_xlsx(path: Path, *, typed: bool = True, extra_sheets: bool = True) -> Path:
    """Write the example as a workbook (one sheet per form); with ``typed`` dates/numbers as Excel cells."""
    import datetime as dt

    import openpyxl

    from blincompass.dictionary import load_dictionary

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    if extra_sheets:
        wb.create_sheet("README").append(["Fill one sheet per form."])
    for form in load_dictionary().forms:
        ws = wb.create_sheet(form.name)
        types = {v.name: v.type for v in form.variables}
        rows = read_rows(example_dir(), form.name)
        ws.append(rows[0])
        for r in rows[1:]:
            out: list[object] = []
            for name, value in zip(rows[0], r, strict=True):
                if not typed or value == "":
                    out.append(value or None)
                elif types[name] == "date":
                    out.append(dt.datetime.fromisoformat(value))
                elif types[name] in ("integer", "number"):
                    try:
                        out.append(float(value) if types[name] == "number" else int(value))
                    except ValueError:
                        out.append(value)
                else:
                    out.append(value)
            ws.append(out)
    wb.save(path)
    return path
