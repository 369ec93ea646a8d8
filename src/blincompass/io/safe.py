"""Formula-injection guard for every spreadsheet and CSV the package writes.

A text cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return can be taken for a
formula by a spreadsheet program (OWASP "CSV Injection"): ``=HYPERLINK(...)`` becomes a live link,
``=cmd|' /C calc'!A0`` a DDE call. Free text typed at a centre (an adverse-event term, an interruption
reason) is written back into exports, so every writer neutralises it here:

* CSV: the text gets a leading apostrophe (``'=SUM(A1)``), OWASP's recommendation; :func:`restore_text`
  removes exactly that apostrophe again when the package reads a CSV, so an export re-imports unchanged.
  A text that already starts with apostrophes followed by a trigger gets one more apostrophe, which
  keeps the escaping reversible (``'=x`` is written ``''=x`` and read back as ``'=x``).
* .xlsx: :func:`write_cell` stores text as a string cell (never a formula) with Excel's "quote prefix"
  style, the form Excel itself uses for text typed after an apostrophe. The value itself is unchanged,
  so the workbook reads back identically.

Numbers (a negative number such as -1.5) are not text and are never touched.

Control characters other than tab, line feed and carriage return cannot be stored in an .xlsx file at
all (XML 1.0 forbids them); validation refuses them in the data (rule ``text.control``) and
:func:`write_cell` shows any that reach it as U+FFFD instead of failing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FORMULA_TRIGGERS",
    "XML_ILLEGAL",
    "escape_frame",
    "escape_text",
    "looks_like_formula",
    "restore_row",
    "restore_text",
    "write_cell",
]

#: First characters that make a spreadsheet program read a text cell as a formula (OWASP).
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"
#: Characters an .xlsx (XML 1.0) cannot hold: the C0 controls except tab, line feed and carriage return.
XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def looks_like_formula(value: Any) -> bool:
    """True for text that a spreadsheet program could evaluate (it starts with a formula trigger)."""
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def _escaped_form(text: str) -> bool:
    # apostrophes, then a trigger: the shape that escape_text adds an apostrophe to
    return text.lstrip(_QUOTE).startswith(FORMULA_TRIGGERS)


def escape_text(value: Any) -> Any:
    """``value`` as inert CSV text: a leading apostrophe before a formula trigger; other values as given.

    Non-text values (numbers, dates, ``None``) are returned unchanged.
    """
    if isinstance(value, str) and _escaped_form(value):
        return _QUOTE + value
    return value


def restore_text(value: Any) -> Any:
    """Undo :func:`escape_text`: drop the one apostrophe it added (other values are returned unchanged)."""
    if isinstance(value, str) and value.startswith(_QUOTE) and _escaped_form(value):
        return value[1:]
    return value


def restore_row(cells: list[Any]) -> list[Any]:
    """:func:`restore_text` on each cell of a CSV row (a quick pass when no cell starts with ``'``)."""
    if not any(isinstance(c, str) and c.startswith(_QUOTE) for c in cells):
        return cells
    return [restore_text(c) for c in cells]


def escape_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells are escaped with :func:`escape_text` (numeric columns untouched)."""
    import pandas as pd

    out = df.copy()
    for c in out.columns:
        s = out[c]
        if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            mask = s.map(lambda v: isinstance(v, str) and _escaped_form(v)).astype(bool)
            if mask.any():
                out[c] = s.astype(object).where(~mask, _QUOTE + s[mask].astype(str))
    return out


def write_cell(ws: Any, row: int, column: int, value: Any) -> Any:
    """Write ``value`` into an openpyxl worksheet cell; text is always a string cell, never a formula.

    openpyxl turns any text starting with ``=`` into a formula; here such text (and any text starting
    with a formula trigger) is stored as a string with the quote-prefix style. Control characters that
    XML cannot hold become U+FFFD. Returns the cell.
    """
    cell = ws.cell(row=row, column=column)
    if isinstance(value, str):
        value = XML_ILLEGAL.sub("\ufffd", value)
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
        if value.startswith(FORMULA_TRIGGERS):
            cell.quotePrefix = True
    return cell
