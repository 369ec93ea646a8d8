"""SAS transport files (XPORT version 5) of the analysis tables.

XPORT version 5 allows variable names of at most 8 upper-case characters, labels of at most 40 and
character values of at most 200; :func:`xpt_name` and :func:`label40` make names and labels fit, and
:func:`write_xpt_tables` writes an index (``xpt_variables.csv``) mapping each XPT name back to the table's
column and label. The creation time that the format carries is set to a fixed date, so the same table
gives the same bytes. Values are data, never formulas.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from blincompass.io.outpath import atomic_write
from blincompass.io.safe import escape_text
from blincompass.io.tables import transport_frame

__all__ = ["FIXED_XPT_TIME", "XPT_LABELS", "label40", "write_xpt", "write_xpt_tables", "xpt_name"]

#: Fixed creation time stamped into .xpt headers (output must not depend on the clock).
FIXED_XPT_TIME = b"01JAN20:00:00:00"

#: Labels (at most 40 characters) for the columns of the analysis tables every study has, whose
#: description is longer. Study variables take theirs from the protocol (``xpt_label``).
XPT_LABELS: dict[str, str] = {
    "STARTDT": "Time origin", "AVAL": "Analysis value",
    "CNSR": "Censoring (0 = event, 1 = censored)", "EVNTDESC": "Event description", "PARAMCD": "Parameter code",
    "AVALC": "Analysis value (text)", "ADT": "Analysis date", "ADY": "Days from the origin to ADT",
    "MRDMETH": "MRD method", "AVISIT": "Assessment visit", "AESEQ": "Sequence number within patient",
    "COURSE": "Course during which the event began", "AEDECOD": "CTCAE term (mapped)",
    "AESTATUS": "Reported term relation to CTCAE", "AENOTE": "Note on the term mapping",
    "AETOXGR": "Grade (missing = unknown)", "AEGRPID": "Table 2 group id", "AEGRPCAT": "Table 2 group label",
    "AEACN": "Action taken with study treatment", "AEACNINT": "Led to transient interruption",
    "AEACNDSC": "Led to discontinuation of the course", "STRATUM": "Stratum",
    "SRCROW": "Source row of the adverse-events form", "STUDYID": "Study identifier",
}


def label40(text: str) -> str:
    """A label of at most 40 characters: parenthetical remarks dropped first, then cut at a word."""
    text = " ".join(text.split())
    if len(text) <= 40:
        return text
    short = re.sub(r"\s*\([^)]*\)", "", text).strip()
    short = short.split(":")[0].split(";")[0].strip() if len(short) > 40 else short
    if len(short) <= 40:
        return short
    cut = short[:40].rsplit(" ", 1)[0]
    return cut.rstrip(" ,-/")


def xpt_name(column: str, taken: set[str]) -> str:
    """The XPT v5 name of a column: upper-case letters and digits cut to 8 characters (made unique with a
    digit suffix)."""
    base = re.sub(r"[^A-Z0-9_]", "", column.upper()) or "VAR"
    if base[0].isdigit():
        base = "V" + base
    name = base[:8]
    n = 1
    while name in taken:
        suffix = str(n)
        name = base[: 8 - len(suffix)] + suffix
        n += 1
    taken.add(name)
    return name


def _fix_xpt_time(path: Path) -> None:
    data = re.sub(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d", FIXED_XPT_TIME, path.read_bytes())
    path.write_bytes(data)


def write_xpt(df: pd.DataFrame, labels: dict[str, str], path: Path, table: str,
              xpt: Mapping[str, tuple[str, str]] | None = None) -> list[tuple[str, str, str]]:
    """One table as an XPORT v5 file; returns (xpt name, column, label) per variable. ``xpt`` gives the
    (name, label) of columns that have them (the protocol's ``xpt_name`` / ``xpt_label``)."""
    import pyreadstat

    xpt = xpt or {}
    frame, _ = transport_frame(df, for_sav=False)
    taken: set[str] = {xpt[c][0] for c in frame.columns if c in xpt}
    names = {c: xpt[c][0] if c in xpt else xpt_name(c, taken) for c in frame.columns}
    frame = frame.rename(columns=names)
    col_labels = {names[c]: label40(xpt[c][1] if c in xpt else (XPT_LABELS.get(c) or labels.get(c, c)))
                  for c in df.columns}
    formats = {names[c]: "DATE9." for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])}

    def writer(p: Path) -> None:
        pyreadstat.write_xport(frame, str(p), file_label=label40(f"{table.upper()} analysis table"),
                               column_labels=col_labels, table_name=table.upper()[:8], file_format_version=5,
                               variable_format=formats or None)
        _fix_xpt_time(p)

    atomic_write(path, writer)
    return [(names[c], c, col_labels[names[c]]) for c in df.columns]


def write_xpt_tables(tables: Mapping[str, tuple[pd.DataFrame, dict[str, str]]], out_dir: Path,
                     xpt: Mapping[str, Mapping[str, tuple[str, str]]] | None = None) -> list[Path]:
    """Each ``name: (table, column descriptions)`` as ``<name>.xpt`` in ``out_dir``, then
    ``xpt_variables.csv`` (dataset, xpt_name, column, label); returns the paths written. ``xpt`` gives per
    table the (XPT name, XPT label) of its columns (the column-metadata table's)."""
    rows: list[tuple[str, str, str, str]] = []
    written = []
    for name, (df, labels) in tables.items():
        for xname, col, lab in write_xpt(df, labels, out_dir / f"{name}.xpt", name, (xpt or {}).get(name)):
            rows.append((name, xname, col, lab))
        written.append(out_dir / f"{name}.xpt")

    def index(p: Path) -> None:
        with p.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["dataset", "xpt_name", "column", "label"])
            w.writerows([escape_text(v) for v in r] for r in rows)

    written.append(atomic_write(out_dir / "xpt_variables.csv", index))
    return written
