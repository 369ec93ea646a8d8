"""``blincompass study new NAME``: a commented study package to start from, with example data.

The package (``dictionary.toml``, ``protocol.toml``, ``README.md`` and ``data/patients.csv`` with made-up
example rows) passes ``blincompass study check`` and gives a full report as written, so a new study starts
from something that works and is changed one piece at a time (docs/new-study.md).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
from importlib import resources
from pathlib import Path

__all__ = ["SCAFFOLD_FILES", "example_rows", "scaffold"]

SCAFFOLD_FILES: tuple[str, ...] = ("dictionary.toml", "protocol.toml")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")

_README = """# {name}

A blincompass study package: `dictionary.toml` (forms and variables), `protocol.toml` (derived variables,
eligibility, endpoints, analyses, report content). `data/` holds MADE-UP example rows to try the pipeline:

    blincompass study check {folder}
    blincompass validate --study {folder} {folder}/data
    blincompass derive --study {folder} {folder}/data -o {folder}/derived
    blincompass report --study {folder} {folder}/data -o {folder}/report

Replace the example data with the study's own (one CSV file per form, or a workbook with one sheet per form:
`blincompass template --study {folder} template.xlsx` writes an empty one) and adapt the two files.
"""


def example_rows(n: int = 36, seed: int = 1) -> list[dict[str, str]]:
    """``n`` made-up patients for the scaffold's one form (fixed ``seed``: the same rows every time)."""
    r = random.Random(seed)
    rows = []
    for i in range(1, n + 1):
        group = "abc"[i % 3]
        start = dt.date(2020, 1, 1) + dt.timedelta(days=r.randrange(0, 900))
        birth = start - dt.timedelta(days=r.randrange(365, 24 * 365))
        follow = r.randrange(60, 1400)
        hazard = {"a": 0.25, "b": 0.4, "c": 0.55}[group]
        relapse = start + dt.timedelta(days=r.randrange(30, follow)) if r.random() < hazard else None
        death = start + dt.timedelta(days=follow) if r.random() < hazard * 0.8 else None
        if relapse is not None and death is not None and relapse > death:
            relapse = None
        last = death or start + dt.timedelta(days=follow)
        rows.append({
            "patient_id": f"P{i:03d}", "centre": f"C{1 + i % 4}", "sex": "MF"[r.randrange(2)], "group": group,
            "birth_date": birth.isoformat(), "start_date": start.isoformat(),
            "response": "yes" if r.random() < 1 - hazard else "no",
            "relapse_date": relapse.isoformat() if relapse else "", "death_date": death.isoformat() if death else "",
            "last_contact_date": last.isoformat(),
        })
    return rows


def _fill(text: str, name: str) -> str:
    """The template text with ``{name}`` filled and doubled braces made single."""
    return text.replace("{name}", name).replace("{{", "{").replace("}}", "}")


def scaffold(name: str, folder: Path) -> list[Path]:
    """Write a commented study package named ``name`` into the new folder ``folder``; returns the files.

    Raises ``ValueError`` for a name that is not 1-40 letters, digits, ``-`` or ``_`` starting with a letter,
    and ``FileExistsError`` when ``folder`` exists.
    """
    if not _NAME.match(name):
        raise ValueError(f"study name {name!r}: use 1-40 letters, digits, '-' or '_', starting with a letter")
    if folder.exists():
        raise FileExistsError(f"{folder} exists; choose a new folder")
    texts = {f: _fill(resources.files("blincompass.study").joinpath(f"scaffold/{f}").read_text("utf-8"), name)
             for f in SCAFFOLD_FILES}
    buf = io.StringIO()
    rows = example_rows()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    texts["README.md"] = _README.format(name=name, folder=folder.as_posix())
    texts["data/patients.csv"] = buf.getvalue()
    texts["data/EXAMPLE-DATA.txt"] = ("The rows of this folder are made up, to try the pipeline; they are no "
                                      "study's data.\n")
    (folder / "data").mkdir(parents=True)
    written = []
    for rel, text in texts.items():
        p = folder / rel
        p.write_text(text, encoding="utf-8")
        written.append(p)
    return written
