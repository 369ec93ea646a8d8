"""Excel rendering (openpyxl): a README sheet, one sheet per table with numbers stored as numbers, and a flat
"Results" sheet; fixed bytes.

Table cells are shown in the report as text ("39", "56.4 %", "22 (56.4)", "33.4 (6.3–73.1)", "0.034",
"< 0.0001"). In the workbook each number is a number cell whose number format shows it as the report
does:

* counts are integers (format ``0``); other numbers keep the decimals shown (``0.0``, ``0.000``...);
* percentages are stored as fractions with a percent format (56.4 % is 0.564, shown ``0.0%``): a number
  written with "%", the second number of "n (%)" cells, and the numbers of a column whose header names a
  percentage ("%", "% (95% CI)");
* a compound cell is split over adjacent columns of its own: "n (%)" into n and %, "estimate (lower–upper)"
  into estimate, lower and upper, "n/N" into n and N, "a (b; c)" into three; the header row under the
  table's header names the parts;
* a p-value shown as a threshold ("< 0.0001", "≤ 0.0001") is stored as the bound (0.0001) with a number
  format that prints the sign ("<"0.0000), so it sorts and filters as a number and still reads "< 0.0001";
* "NE" (not estimable), "NR" (not reached), "–" and other words stay text.

Nothing is ever a formula: every text cell goes through :func:`blincompass.io.safe.write_cell`.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter

from blincompass.io.ooxml import deterministic_zip
from blincompass.io.safe import write_cell
from blincompass.report.model import Report, Table, flatten
from blincompass.report.render_docx import document_date

__all__ = ["parse_cell", "render_xlsx", "sheet_name"]

_BOLD = Font(bold=True)
_RED_BOLD = Font(bold=True, color="B00020")
_INVALID = set("[]:*?/\\")
_RULE = Border(bottom=Side(style="thin"))

_NUM = r"[-\u2212]?\d+(?:\.\d+)?"
_TOKEN = rf"(?:{_NUM}\s?%?|NE|NR)"
_SEP = r"\s?[\u2013\u2014-]\s?|\s+to\s+"
#: (kind, regex, part names); tried in order, the whole (stripped) text must match.
_SHAPES: tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...] = (
    ("number", re.compile(rf"^({_TOKEN})$"), ("",)),
    ("threshold", re.compile(rf"^([<>\u2264\u2265])\s?({_NUM})$"), ("",)),
    ("ci", re.compile(rf"^({_TOKEN})\s?\(({_TOKEN})(?:{_SEP})({_TOKEN})\)$"), ("estimate", "lower", "upper")),
    ("triple", re.compile(rf"^({_TOKEN})\s?\(({_TOKEN});\s?({_TOKEN})\)$"), ("estimate", "2nd value", "3rd value")),
    ("count_pct", re.compile(rf"^({_NUM})\s?\(({_NUM})\s?%?\)$"), ("n", "%")),
    ("ratio", re.compile(rf"^({_NUM})\s?/\s?({_NUM})$"), ("n", "N")),
)
_LABEL_ORDER = ("count_pct", "ratio", "ci", "triple", "number", "threshold")
_PCT_HEADER = re.compile(r"95\s?%\s?CI")


@dataclass(frozen=True)
class Part:
    """One part of a parsed cell: a number with its number format, or text."""

    value: float | int | str
    number_format: str = "General"


def _number(token: str, percent: bool) -> Part:
    token = token.strip()
    if token in ("NE", "NR"):
        return Part(token)
    explicit = token.endswith("%")
    token = token.rstrip("%").strip().replace("\u2212", "-")
    decimals = len(token.split(".")[1]) if "." in token else 0
    if explicit or percent:
        return Part(round(float(token) / 100.0, decimals + 2), f"0{'.' + '0' * decimals if decimals else ''}%")
    if decimals == 0:
        return Part(int(token), "0")
    return Part(float(token), "0." + "0" * decimals)


def parse_cell(text: str, percent: bool = False) -> tuple[str, list[Part]]:
    """The shape of a displayed cell and its parts (see the module docstring); ("text", [text]) when the
    text is not one of the numeric shapes. ``percent``: the column's header names a percentage."""
    stripped = text.strip()
    for kind, rx, _ in _SHAPES:
        m = rx.match(stripped)
        if m is None:
            continue
        groups = m.groups()
        if kind == "threshold":
            sign, num = groups
            part = _number(num, False)
            shown = sign if sign in "<>" else sign + " "
            return kind, [Part(part.value, f'"{shown}"{part.number_format}')]
        if kind == "count_pct":
            return kind, [_number(groups[0], False), _number(groups[1], True)]
        if kind == "ratio":
            return kind, [_number(g, False) for g in groups]
        if kind in ("ci", "triple"):
            pct = percent or groups[0].strip().endswith("%")
            parts = [_number(g, pct) for g in groups]
            if kind == "triple":  # e.g. restricted mean (SE; horizon): only the first two share the scale
                parts[2] = _number(groups[2], False)
            return kind, parts
        return kind, [_number(groups[0], percent)]
    return "text", [Part(text)]


#: Words a sheet name cut at 31 characters must not end on.
_TRAILING_WORDS = frozenset({"a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "per", "the",
                             "to", "vs", "with"})


def sheet_name(table: Table, synthetic: bool, used: set[str]) -> str:
    """Sheet title (<= 31 characters, unique) from the table's number and title ("Table 2b Adverse events
    by"), prefixed "SYNTHETIC " for synthetic data; numbers that depend on the data (counts in a title)
    are left out so names stay stable."""
    m = re.match(r"^(Table [A-Z]?\d+[a-z]?)[.:]\s*(.*)$", table.caption)
    number, title = (m.group(1), m.group(2)) if m else ("", table.caption)
    words = [w for w in re.split(r"\s+", title) if w and not re.fullmatch(r"[\d.,%()]+", w)]
    prefix = "SYNTHETIC " if synthetic else ""
    parts = [number] if number else []
    for w in words:
        w = "".join(c for c in w if c not in _INVALID).strip(".,;'")
        if not w:
            continue
        if len(prefix + " ".join([*parts, w])) > 31:
            if not parts:  # one long word: cut it
                parts.append(w[: 31 - len(prefix)])
            break
        parts.append(w)
    # a title cut short ends on a content word ("Table 3 Response", not "... to") and opens no parenthesis
    # it cannot close ("Table 2 Adverse events", not "... (CTCAE")
    keep = 1 if number else 0
    while len(parts) > keep + 1 and (parts[-1].lower() in _TRAILING_WORDS
                                     or " ".join(parts).count("(") > " ".join(parts).count(")")):
        parts.pop()
    name = (prefix + " ".join(parts)).strip() or (prefix + "Table").strip()
    name = name[:31].strip("'").strip()
    base, i = name, 2
    while name in used:
        suffix = f" {i}"
        name = base[: 31 - len(suffix)] + suffix
        i += 1
    used.add(name)
    return name


def _percent_header(text: str) -> bool:
    """A header naming a percentage as its quantity ("%", "% of eligible", "Survival at 12 months, %
    (95% CI)"); not "n (%)" (there the cells say which number is the percentage), nor a number with its
    percent sign naming a group ("<5 % blasts (n = 26)")."""
    text = re.sub(r"\d\s?%", "", _PCT_HEADER.sub("", text))
    return bool(re.search(r"(^|[\s,])%", text)) and not re.search(r"n\s?\(%\)", text)


def _column_headers(t: Table) -> list[str]:
    """The text over each body column: its last-row header, or the spanning header above it."""
    n = t.n_columns
    out = [""] * n
    for hrow in t.header:
        col = 0
        for hc in hrow:
            for k in range(col, min(col + hc.span, n)):
                if hc.text:
                    out[k] = (out[k] + " " + hc.text).strip() if hc.span == 1 else hc.text
            col += hc.span
    return out


@cache
def _align(horizontal: str | None = None, wrap_text: bool | None = None, indent: int = 0) -> Alignment:
    """One shared Alignment per kind of cell (openpyxl stores styles as values; building one per cell was
    a tenth of the workbook's time)."""
    return Alignment(horizontal=horizontal, wrap_text=wrap_text, indent=indent)


def _write_table(ws: Any, t: Table, synthetic: bool) -> None:
    n = t.n_columns
    heads = _column_headers(t)
    percent = [k > 0 and _percent_header(heads[k]) for k in range(n)]
    parsed: dict[tuple[int, int], tuple[str, list[Part]]] = {}
    width = [1] * n  # columns each table column takes
    kinds: list[set[str]] = [set() for _ in range(n)]
    for i, row in enumerate(t.rows):
        if Table.spans_row(row):
            continue
        for k, text in enumerate(row.cells[:n]):
            if k == 0:
                continue
            kind, parts = parse_cell(text, percent[k])
            parsed[(i, k)] = (kind, parts)
            width[k] = max(width[k], len(parts))
            if len(parts) > 1:
                kinds[k].add(kind)
    start = [1] * n
    for k in range(1, n):
        start[k] = start[k - 1] + width[k - 1]
    total = start[-1] + width[-1] - 1 if n else 1
    r = 1
    if synthetic:
        write_cell(ws, r, 1, "SYNTHETIC DATA \u2013 not real patients. Do not cite these results.").font = _RED_BOLD
        r += 1
    write_cell(ws, r, 1, t.caption).font = _BOLD
    r += 2
    chars: dict[int, int] = {}
    for hrow in t.header:
        c = 0
        for hc in hrow:
            first = start[c]
            last = start[min(c + hc.span, n) - 1] + width[min(c + hc.span, n) - 1] - 1
            cell = write_cell(ws, r, first, hc.text)
            cell.font = _BOLD
            cell.alignment = _align(horizontal="left" if c == 0 else "center", wrap_text=True)
            if last > first:
                ws.merge_cells(start_row=r, start_column=first, end_row=r, end_column=last)
            else:
                chars[first] = max(chars.get(first, 0), min(len(hc.text), 24))
            c += hc.span
        r += 1
    if any(w > 1 for w in width):  # name the parts of split columns
        for k in range(1, n):
            if width[k] == 1:
                continue
            names: list[list[str]] = [[] for _ in range(width[k])]
            for kind, _rx, labels in sorted(_SHAPES, key=lambda x: _LABEL_ORDER.index(x[0])):
                if kind in kinds[k]:
                    for j, lab in enumerate(labels):
                        if lab and lab not in names[j]:
                            names[j].append(lab)
            for j in range(width[k]):
                label = " / ".join(names[j])
                cell = write_cell(ws, r, start[k] + j, label)
                cell.font = _BOLD
                cell.alignment = _align(horizontal="center")
        r += 1
    for c in range(1, total + 1):
        ws.cell(r - 1, c).border = _RULE
    ws.freeze_panes = ws.cell(r, 2)
    for i, row in enumerate(t.rows):
        if Table.spans_row(row):
            cell = write_cell(ws, r, 1, row.cells[0])
            cell.font = _BOLD
            chars[1] = max(chars.get(1, 0), min(len(row.cells[0]), 60))
            r += 1
            continue
        for k, text in enumerate(row.cells[:n]):
            if k == 0:
                cell = write_cell(ws, r, 1, text)
                cell.alignment = _align(indent=row.level)
                if row.kind in ("heading", "total"):
                    cell.font = _BOLD
                chars[1] = max(chars.get(1, 0), min(len(text) + 2 * row.level, 60))
                continue
            kind, parts = parsed[(i, k)]
            for j, part in enumerate(parts):
                cell = write_cell(ws, r, start[k] + j, part.value)
                if not isinstance(part.value, str):
                    cell.number_format = part.number_format
                cell.alignment = _align(horizontal=t.alignment(k), wrap_text=isinstance(part.value, str)
                                           and len(part.value) > 40)
                shown = len(str(part.value)) if isinstance(part.value, str) else 8
                chars[start[k] + j] = max(chars.get(start[k] + j, 0), min(shown, 40))
        r += 1
    r += 1
    for f in t.footnotes:
        write_cell(ws, r, 1, f).font = Font(italic=True, size=9)
        r += 1
    for c, w in sorted(chars.items()):
        ws.column_dimensions[get_column_letter(c)].width = max(8, w + 2)


_README_FORMATS = (
    "Numbers are stored as numbers; the number format shows them as the report does.",
    "Percentages are stored as fractions with a percent format (56.4 % is the number 0.564).",
    "Compound cells are split into columns of their own: n and %; estimate, lower and upper 95 % CI bound; "
    "n and N.",
    "A p-value below the printed precision is stored as the bound with a '<' number format (\"< 0.0001\" "
    "is the number 0.0001).",
    "NE = not estimable, NR = not reached; these stay text. No cell holds a formula.",
)


def _readme(ws: Any, report: Report, names: list[tuple[str, str]], results_sheet: str) -> None:
    r = 1
    if report.synthetic:
        write_cell(ws, r, 1, "SYNTHETIC DATA \u2013 not real patients. Do not cite these results.").font = _RED_BOLD
        r += 1
    write_cell(ws, r, 1, report.title).font = Font(bold=True, size=13)
    r += 1
    write_cell(ws, r, 1, report.subtitle)
    r += 2
    write_cell(ws, r, 1, "Sheet").font = _BOLD
    write_cell(ws, r, 2, "Contents").font = _BOLD
    r += 1
    for name, caption in [*names, (results_sheet, "Every number of the report under its results.json key")]:
        write_cell(ws, r, 1, name)
        write_cell(ws, r, 2, caption)
        r += 1
    r += 1
    write_cell(ws, r, 1, "Cells").font = _BOLD
    r += 1
    for line in _README_FORMATS:
        write_cell(ws, r, 1, line)
        r += 1
    if report.provenance is not None:
        r += 1
        write_cell(ws, r, 1, "Provenance").font = _BOLD
        r += 1
        for label, value in report.provenance.lines():
            write_cell(ws, r, 1, label)
            write_cell(ws, r, 2, value)
            r += 1
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 100


def render_xlsx(report: Report) -> bytes:
    """The report's tables as a workbook: a README sheet, one sheet per table, then "Results" with every
    results.json key."""
    wb = Workbook()
    readme = wb.active
    readme.title = ("SYNTHETIC " if report.synthetic else "") + "README"
    used: set[str] = {readme.title}
    names: list[tuple[str, str]] = []
    for t in report.tables:
        name = sheet_name(t, report.synthetic, used)
        names.append((name, t.caption))
        _write_table(wb.create_sheet(name), t, report.synthetic)
    ws = wb.create_sheet(("SYNTHETIC " if report.synthetic else "") + "Results")
    _readme(readme, report, names, ws.title)
    r = 1
    if report.synthetic:
        write_cell(ws, r, 1, "SYNTHETIC DATA \u2013 not real patients.").font = _RED_BOLD
        r += 1
    write_cell(ws, r, 1, "key").font = _BOLD
    write_cell(ws, r, 2, "value").font = _BOLD
    r += 1
    for key, value in flatten(report.results).items():
        write_cell(ws, r, 1, key)
        if isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False)
        write_cell(ws, r, 2, value)
        r += 1
    ws.column_dimensions["A"].width = 70
    ws.column_dimensions["B"].width = 40
    stamp = document_date(report)
    props = wb.properties
    props.creator = report.provenance.study if report.provenance is not None else "blincompass"
    props.lastModifiedBy = "blincompass"
    props.title = ("SYNTHETIC \u2013 " if report.synthetic else "") + report.title
    props.created = stamp
    props.modified = stamp
    buf = io.BytesIO()
    wb.save(buf)
    return deterministic_zip(buf.getvalue(), core_date=stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), create_system=0)
