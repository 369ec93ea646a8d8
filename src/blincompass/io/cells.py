"""Cell normalisation: one raw spreadsheet cell -> a typed value, per data-dictionary variable type.

Spreadsheet realities handled here (each documented on the function that handles it):

* stray and non-breaking spaces around and inside values;
* the dictionary's missing-value spellings (``meta.missing_tokens``: NA, n.a., unknown, ...);
* dates as Excel date cells, Excel serial numbers (1900 system including its 1900-02-29 bug, or the
  1904 system when the workbook says so), ISO text, dd/mm/yyyy, dd.mm.yyyy, dd-mm-yyyy, yyyy/mm/dd, yyyymmdd,
  "5 Mar 2019" / "5 marzo 2019" / "March 5, 2019" (English and Italian month names);
* decimal commas ("4,5"), percent signs for variables measured in %, integers delivered as 2.0;
* codes given by code, label or alias in any case; yes/no spellings from the dictionary;
* MRD as a level (0.0012, 1.2e-3, 1x10-4, 1 x 10^-4, 0.12 %) or NEG / PNQ / ND;
* adverse-event terms resolved against CTCAE v4.03.

A value that cannot be read is never dropped silently: the cell becomes missing and carries an error
issue that the validator turns into a finding.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import math
import re
from dataclasses import dataclass
from typing import Any

from blincompass.dictionary import MRD_ALIASES, MRD_CODES, UNKNOWN, Variable, resolve_term
from blincompass.dictionary.model import DEFAULT_EARLIEST_DATE, DEFAULT_LATEST_DATE, Meta
from blincompass.io.raw import UncachedFormula

#: Slash/dot/dash dates with the day first (dd/mm/yyyy, the European convention). Set to False for
#: month-first input (mm/dd/yyyy). Either way a date that only makes sense the other way round is
#: reported as an error rather than guessed.
DAYFIRST: bool = True
#: Plausible calendar dates unless the dictionary says otherwise (``meta.earliest_date`` /
#: ``meta.latest_date``, a variable's ``earliest`` / ``latest``); anything outside is reported (rule
#: ``range``), e.g. a serial number 45 that Excel would show as 1900-02-14.
DATE_MIN: dt.date = DEFAULT_EARLIEST_DATE
DATE_MAX: dt.date = DEFAULT_LATEST_DATE
#: Spellings read as the code ``unknown`` for variables that allow it (besides their own aliases).
UNKNOWN_SPELLINGS: frozenset[str] = frozenset({"unknown", "unk", "nk", "not known", "sconosciuto", "ignoto"})

#: Excel's error values, as delivered for a failed formula.
EXCEL_ERRORS: frozenset[str] = frozenset(
    {"#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NUM!", "#NAME?", "#NULL!", "#SPILL!", "#CALC!", "#GETTING_DATA"}
)

EXPECTED = {
    "date": "a date as yyyy-mm-dd or dd/mm/yyyy",
    "number": "a number (decimal point or decimal comma, no thousands separator)",
    "integer": "a whole number",
    "boolean": "yes or no",
    "mrd": "an MRD level between 0 and 1 (e.g. 0.0012 or 1.2e-3), or NEG, PNQ or ND",
}

MONTHS: dict[str, int] = {}
for _i, _names in enumerate(
    [
        ("january", "jan", "gennaio", "gen"),
        ("february", "feb", "febbraio"),
        ("march", "mar", "marzo"),
        ("april", "apr", "aprile"),
        ("may", "maggio", "mag"),
        ("june", "jun", "giugno", "giu"),
        ("july", "jul", "luglio", "lug"),
        ("august", "aug", "agosto", "ago"),
        ("september", "sep", "sept", "settembre", "set"),
        ("october", "oct", "ottobre", "ott"),
        ("november", "nov", "novembre"),
        ("december", "dec", "dicembre", "dic"),
    ],
    start=1,
):
    for _n in _names:
        MONTHS[_n] = _i

_WS = re.compile(r"[\s\u00a0\u2007\u202f\ufeff]+")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$")
_YMD = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$")
_DMY = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{2}|\d{4})(?: \d{1,2}:\d{2}(?::\d{2})?)?$")
_D_MON_Y = re.compile(r"^(\d{1,2})[ \-/.]*([a-zà-ü]+)\.?[ \-/.,]*(\d{2}|\d{4})$")
_MON_D_Y = re.compile(r"^([a-zà-ü]+)\.?[ \-]*(\d{1,2})(?:st|nd|rd|th)?,?[ \-]*(\d{4})$")
_SERIAL = re.compile(r"^\d{4,5}(?:\.0+)?$")
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_POWER10 = re.compile(r"^(?:(\d+(?:\.\d*)?)[x×*·])?10(?:\^|\*\*)?(-\d+)$")


@dataclass(frozen=True)
class CellIssue:
    """A problem (or a notable coercion) found while reading one cell."""

    severity: str
    rule: str
    message: str


@dataclass(frozen=True)
class Cell:
    """A parsed cell.

    ``value`` is the typed value (``str``, ``datetime.date``, ``int``, ``float``, ``bool``) or ``None``.
    For ``mrd``, ``value`` is the level (only when quantified) and ``status`` one of
    ``quantified``/``NEG``/``PNQ``/``ND``. For ``ctcae_term``, ``value`` is the reported term,
    ``mapped`` the CTCAE term and ``status`` the resolution status. ``unknown`` is set when the cell said
    "unknown" for a variable that allows it (an integer such as the AE grade then has no value).
    """

    value: Any = None
    status: str | None = None
    mapped: str | None = None
    unknown: bool = False
    issues: tuple[CellIssue, ...] = ()

    @property
    def present(self) -> bool:
        """True when the cell gives information (a value, an MRD status or an explicit unknown)."""
        return self.value is not None or self.status is not None or self.unknown

    @property
    def ok(self) -> bool:
        return not any(i.severity == "error" for i in self.issues)


def clean_text(raw: Any) -> str:
    """Text of a cell with non-breaking spaces turned into spaces, runs of spaces collapsed, trimmed."""
    if raw is None:
        return ""
    return _WS.sub(" ", str(raw)).strip()


def cell_text(raw: Any) -> str:
    """A raw cell as the user would read it (for findings): integral floats without ``.0``."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "TRUE" if raw else "FALSE"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, dt.datetime):
        return raw.date().isoformat() if raw.time() == dt.time() else raw.isoformat(sep=" ")
    if isinstance(raw, dt.date):
        return raw.isoformat()
    return str(raw)


def _err(rule: str, message: str) -> Cell:
    return Cell(issues=(CellIssue("error", rule, message),))


def date_window(var: Variable, meta: Meta) -> tuple[dt.date, dt.date]:
    """The plausible dates of a date variable: its ``earliest`` / ``latest``, else the dictionary's
    ``meta.earliest_date`` / ``meta.latest_date``."""
    return var.earliest or meta.earliest_date, var.latest or meta.latest_date


@functools.lru_cache(maxsize=64)
def _folded(tokens: tuple[str, ...]) -> frozenset[str]:
    return frozenset(t.casefold() for t in tokens)


def is_missing_token(text: str, meta: Meta) -> bool:
    return text.casefold() in _folded(meta.missing_tokens)


# ------------------------------------------------------------------------------------------- dates
def excel_serial_to_date(serial: float, date1904: bool = False) -> dt.date:
    """Convert an Excel serial day number to a date (fraction = time of day, dropped).

    1900 system: day 1 = 1900-01-01, and Excel counts a non-existent 1900-02-29 as day 60 (a bug kept
    for Lotus 1-2-3 compatibility), so from day 61 on the origin is 1899-12-30. Day 60 raises
    ``ValueError``. 1904 system (old Mac workbooks): day 0 = 1904-01-01.
    """
    day = math.floor(serial)
    if date1904:
        if day < 0:
            raise ValueError(f"serial {serial} is before 1904-01-01")
        return dt.date(1904, 1, 1) + dt.timedelta(days=day)
    if day < 1:
        raise ValueError(f"serial {serial} is before 1900-01-01")
    if day == 60:
        raise ValueError("serial 60 is 1900-02-29, a date that does not exist (Excel 1900 leap-year bug)")
    origin = dt.date(1899, 12, 31) if day < 60 else dt.date(1899, 12, 30)
    return origin + dt.timedelta(days=day)


def _make_date(y: int, m: int, d: int, text: str) -> dt.date | str:
    if not 1 <= m <= 12:
        return f"'{text}' is not a valid date: there is no month {m}"
    last = calendar.monthrange(y, m)[1]
    if not 1 <= d <= last:
        return f"'{text}' is not a valid date: {calendar.month_name[m]} {y} has {last} days"
    return dt.date(y, m, d)


def parse_date_text(text: str, dayfirst: bool | None = None) -> dt.date | str:
    """Parse a text date; return the date or an error message (without the expected-format tail)."""
    dayfirst = DAYFIRST if dayfirst is None else dayfirst
    t = text.strip()
    low = t.casefold()
    if m := _ISO.match(t) or _YMD.match(t):
        return _make_date(int(m[1]), int(m[2]), int(m[3]), t)
    if m := _DMY.match(t):
        a, b, year = int(m[1]), int(m[3]), m[4]
        if len(year) == 2:
            return f"'{t}' has a two-digit year; write the year with four digits"
        d, mo = (a, b) if dayfirst else (b, a)
        if not 1 <= mo <= 12 and 1 <= d <= 12 and 1 <= mo <= 31:
            order = "mm/dd/yyyy (month first)" if dayfirst else "dd/mm/yyyy (day first)"
            expected = "dd/mm/yyyy (day first)" if dayfirst else "mm/dd/yyyy (month first)"
            return f"'{t}' looks like {order}, but dates are read as {expected}; write it as yyyy-mm-dd"
        return _make_date(int(year), mo, d, t)
    if m := _D_MON_Y.match(low):
        day, mon, year = int(m[1]), m[2], m[3]
        if mon not in MONTHS:
            return f"'{t}': '{m[2]}' is not a month name"
        if len(year) == 2:
            return f"'{t}' has a two-digit year; write the year with four digits"
        return _make_date(int(year), MONTHS[mon], day, t)
    if m := _MON_D_Y.match(low):
        mon, day, year = m[1], int(m[2]), int(m[3])
        if mon not in MONTHS:
            return f"'{t}': '{m[1]}' is not a month name"
        return _make_date(year, MONTHS[mon], day, t)
    if m := re.fullmatch(r"((?:19|20)\d\d)(\d\d)(\d\d)", t):
        return _make_date(int(m[1]), int(m[2]), int(m[3]), t)
    if re.fullmatch(r"(19|20)\d\d", t):
        return f"'{t}' is a year only; give the full date"
    if re.fullmatch(r"\d{1,2}[/.\-]\d{4}|\d{4}[/.\-]\d{1,2}", t):
        return f"'{t}' gives only month and year; give the full date"
    if _SERIAL.match(t):
        try:
            return excel_serial_to_date(float(t))
        except ValueError as exc:
            return f"'{t}': {exc}"
    return f"'{t}' is not a date"


def parse_date(raw: Any, *, date1904: bool = False, dayfirst: bool | None = None) -> dt.date | str:
    """A raw cell (Excel date, serial number or text) as a date, or an error message."""
    if isinstance(raw, bool):
        return f"'{cell_text(raw)}' is not a date"
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    if isinstance(raw, dt.time):
        return f"'{raw.isoformat()}' is a time of day, not a date"
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            return f"'{raw}' is not a date"
        if float(raw).is_integer() and 19000101 <= raw <= 21001231:
            return parse_date_text(str(int(raw)), dayfirst)  # yyyymmdd typed as a number
        try:
            return excel_serial_to_date(float(raw), date1904)
        except ValueError as exc:
            return f"'{cell_text(raw)}': {exc}"
    return parse_date_text(clean_text(raw), dayfirst)


# ----------------------------------------------------------------------------------------- numbers
def parse_number_text(text: str, *, percent: bool = False) -> float | str:
    """Parse a number written as text; return the float or an error message.

    Accepts a decimal point or a decimal comma ("4,5"), exponents ("1.2e-3") and, when ``percent`` is
    true, a trailing percent sign ("4 %"). Thousands separators are refused ("1.234,5" or "1,234.5"),
    as are comparisons ("<5"), because neither can be stored without guessing.
    """
    t = text.replace(" ", "")
    if t.endswith("%"):
        if not percent:
            return f"'{text}' has a percent sign, but this variable is not measured in %"
        t = t[:-1]
    if t[:1] in "<>≤≥" and t:
        return f"'{text}' is a comparison, not a value; give the measured value"
    if "," in t and "." in t:
        return f"'{text}' looks like it has a thousands separator; write it without one (e.g. 1234.5)"
    if t.count(",") > 1 or t.count(".") > 1:
        return f"'{text}' has more than one separator; write a plain number (e.g. 1234.5)"
    t = t.replace(",", ".")
    try:
        x = float(t)
    except ValueError:
        return f"'{text}' is not a number"
    if not math.isfinite(x) or t.casefold() in {"inf", "nan", "infinity"}:
        return f"'{text}' is not a number"
    return x


def _number(raw: Any, percent: bool) -> float | str:
    if isinstance(raw, bool):
        return f"'{cell_text(raw)}' is not a number"
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            return f"'{raw}' is not a number"
        return float(raw)
    if isinstance(raw, dt.date | dt.time):
        return f"'{cell_text(raw)}' is a date, not a number"
    return parse_number_text(clean_text(raw), percent=percent)


# ------------------------------------------------------------------------------------------- MRD
def parse_mrd_text(text: str) -> tuple[float | None, str] | str:
    """Parse an MRD cell written as text: ``(level, status)`` or an error message.

    Status codes NEG / PNQ / ND (and the aliases in ``MRD_ALIASES``) give ``(None, code)``. Levels are a
    fraction of cells in [0, 1]: ``0.0012``, ``1.2e-3``, ``1,2E-03``, powers of ten (``1x10-4``,
    ``1 x 10^-4``, ``1×10⁻⁴``, ``10^-4``) and percentages (``0.12 %`` = 0.0012). A threshold such as
    ``<1x10-4`` is refused: it is not a level, and whether it means NEG or PNQ is the centre's call.
    """
    low = text.casefold()
    if low in MRD_ALIASES:
        return None, MRD_ALIASES[low]
    if text.upper() in MRD_CODES:
        return None, text.upper()
    t = text.translate(_SUPERSCRIPT).replace("−", "-").replace("–", "-")
    if t[:1] in "<>≤≥":
        return (
            f"'{text}' is a threshold, not an MRD level; write NEG if no MRD was detected, "
            "PNQ if positive but not quantifiable, or the measured level"
        )
    compact = t.replace(" ", "")
    if m := _POWER10.match(compact.replace(",", ".").casefold()):
        # via decimal text so that 1.2x10-3 gives exactly float("1.2e-3")
        return float(f"{m[1] or '1'}e{int(m[2])}"), "quantified"
    percent = compact.endswith("%")
    x = parse_number_text(compact, percent=True)
    if isinstance(x, str):
        return f"'{text}' is not an MRD level or code"
    return (x / 100.0 if percent else x), "quantified"


# ------------------------------------------------------------------------------------------- cells
def parse_cell(
    var: Variable,
    raw: Any,
    meta: Meta,
    *,
    date1904: bool = False,
    dayfirst: bool | None = None,
) -> Cell:
    """Parse one raw cell for a dictionary variable (type, code and range checks; not ``required``)."""
    text = clean_text(raw) if not isinstance(raw, int | float | dt.date | dt.time) else cell_text(raw)
    low = text.casefold()
    if raw is None or text == "":
        return Cell()
    if isinstance(raw, UncachedFormula):
        return _err(
            "type.excel_error",
            f"'{text}' is a formula without a saved result; open and save the file in Excel, "
            "or paste the values",
        )
    if text.upper() in EXCEL_ERRORS:
        return _err(
            "type.excel_error",
            f"'{text}' is an Excel error value (a formula failed); enter the value itself",
        )
    allows_unknown = var.allow_unknown or UNKNOWN in var.code_values

    if var.type == "code":
        code = var.code_lookup.get(low)
        if code is None and allows_unknown and low in UNKNOWN_SPELLINGS:
            code = UNKNOWN
        if code is not None:
            return Cell(code)
        if is_missing_token(text, meta):
            return Cell()
        allowed = ", ".join(
            f"{c} ({var.code_label(c)})" if var.code_label(c).casefold() != c.casefold() else c
            for c in var.code_values
        )
        return _err("code.allowed", f"'{text}' is not an allowed value; expected one of: {allowed}")

    if var.type == "mrd":
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            res: tuple[float | None, str] | str = (float(raw), "quantified")
        elif low in MRD_ALIASES or text.upper() in MRD_CODES:
            res = parse_mrd_text(text)
        elif is_missing_token(text, meta):
            return Cell()
        elif isinstance(raw, dt.date | dt.time | bool):
            res = f"'{text}' is not an MRD level or code"
        else:
            res = parse_mrd_text(text)
        if isinstance(res, str):
            return _err("type.mrd", f"{res}; expected {EXPECTED['mrd']}")
        level, status = res
        if level is not None:
            lo = var.min if var.min is not None else 0.0
            hi = var.max if var.max is not None else 1.0
            if not lo <= level <= hi:
                return _err(
                    "range",
                    f"MRD level {text} is outside [{lo:g}, {hi:g}]; MRD is a fraction of cells "
                    "(e.g. 0.0012 for 0.12 %)",
                )
        return Cell(level, status)

    if var.type == "ctcae_term":
        if is_missing_token(text, meta):
            return Cell()
        r = resolve_term(text)
        reported = text if r.status == "unmapped" else r.reported
        return Cell(reported, r.status, r.ctcae_term)

    if allows_unknown and low in UNKNOWN_SPELLINGS:
        return Cell(unknown=True)
    if var.type != "string" and is_missing_token(text, meta):
        return Cell()

    if var.type == "string":
        if is_missing_token(text, meta):
            return Cell()
        if isinstance(raw, float) and raw.is_integer():
            text = str(int(raw))
        if var.pattern and not re.fullmatch(var.pattern, text):
            return _err("pattern", f"'{text}' does not have the expected form (pattern {var.pattern})")
        return Cell(text)

    if var.type == "date":
        d = parse_date(raw, date1904=date1904, dayfirst=dayfirst)
        if isinstance(d, str):
            return _err("type.date", f"{d}; expected {EXPECTED['date']}")
        lo, hi = date_window(var, meta)
        if not lo <= d <= hi:
            return _err(
                "range",
                f"date {d.isoformat()} is implausible (outside {lo.isoformat()} to "
                f"{hi.isoformat()}); check the cell (a number may have been read as an Excel serial)",
            )
        return Cell(d)

    if var.type == "boolean":
        if isinstance(raw, bool):
            return Cell(raw)
        if isinstance(raw, int | float) and raw in (0, 1):
            return Cell(bool(raw))
        if low in _folded(meta.true_tokens):
            return Cell(True)
        if low in _folded(meta.false_tokens):
            return Cell(False)
        return _err("type.boolean", f"'{text}' is not yes/no; expected {EXPECTED['boolean']}")

    if var.type in ("number", "integer"):
        x = _number(raw, percent=var.unit == "%")
        if isinstance(x, str):
            return _err(f"type.{var.type}", f"{x}; expected {EXPECTED[var.type]}")
        value: float | int = x
        if var.type == "integer":
            if not x.is_integer():
                return _err("type.integer", f"'{text}' is not a whole number; expected {EXPECTED['integer']}")
            value = int(x)
        if (var.min is not None and value < var.min) or (var.max is not None and value > var.max):
            lo = "-inf" if var.min is None else f"{var.min:g}"
            hi = "inf" if var.max is None else f"{var.max:g}"
            unit = f" {var.unit}" if var.unit else ""
            return _err("range", f"{value:g}{unit} is outside the allowed range {lo} to {hi}{unit}")
        return Cell(value)

    raise ValueError(f"variable {var.name}: unsupported type {var.type!r}")  # pragma: no cover
