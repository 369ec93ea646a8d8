"""Validation of a raw data set against the data dictionary.

Rule identifiers (stable; used in findings, tests and documentation):

Structure
    ``file.encoding`` (warning) CSV not in UTF-8, read with a fallback encoding.
    ``form.missing`` (error) no sheet / CSV for a form.
    ``form.empty`` (warning) patients form has no row.
    ``form.ambiguous`` (error) two sheets / CSV files whose names differ only in case name the same form.
    ``column.missing`` (error for a required or conditionally required variable, warning otherwise).
    ``column.unknown`` (warning) a column that is not in the dictionary (ignored).
    ``column.duplicate`` (error) two columns with the same name (the first is used).
    ``column.unnamed`` (warning) values under a column without a header (ignored).
Cells
    ``type.date``, ``type.number``, ``type.integer``, ``type.boolean``, ``type.mrd`` (error) unreadable value.
    ``type.excel_error`` (error) an Excel error value such as #N/A or #VALUE! (a failed formula).
    ``code.allowed`` (error) not a code, label or alias.   ``pattern`` (error) identifier malformed.
    ``range`` (error) outside the dictionary's min/max (blasts 0-100, MRD 0-1, ...) or implausible date.
    ``required`` (error) required value missing.   ``required_if`` (error) conditionally required missing.
    ``conditional.unexpected`` (warning) a conditional value given although its condition does not hold.
    ``ae.term_not_ctcae`` (info for a synonym, warning for nearest/other mapping) reported term kept.
    ``ae.term_unmapped`` (warning) term neither CTCAE nor mapped; accepted as reported.
    ``date.after_cutoff`` (error) a date after the data cut-off (the protocol's ``study.data_cutoff``;
    not set: the day of the check), e.g. a follow-up in the future; the cell becomes missing.
    ``text.control`` (error) free text holding a control character (other than tab and line breaks),
    which no workbook can store; the cell becomes missing.
    ``text.formula`` (warning) free text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return, which a spreadsheet could run as a formula (exports write it as inert text).
Keys and references
    ``key.unique`` (error) duplicate key within a form.
    ``reference`` (error) patient_id not in patients; AE course not in that patient's courses.
    ``patient.outcomes`` (error) a patient without an outcomes row (every patient needs exactly one:
    it holds the last follow-up that every survival analysis needs).
    ``patient.courses`` (error) a patient without any course (the study population is patients treated
    with blinatumomab, and OS/RFS start at the first course).
    ``patient.baseline`` (warning) a treated patient without a baseline assessment.
Courses and assessments
    ``course.numbering`` (error) courses of a patient not numbered 1..n without gaps.
    ``course.dates`` (error) end date before start date.
    ``course.order`` (error) course k+1 does not start after course k ends.
    ``assessment.course`` (error) an after_cK assessment for a course K the patient did not receive.
Chronology
    ``chronology.birth_before_diagnosis``, ``chronology.diagnosis_before_first_course`` (error).
    ``chronology.baseline_before_first_course`` (error) baseline assessment after the first course start.
    ``chronology.baseline_window`` (warning) baseline more than ``BASELINE_WINDOW_DAYS`` before course 1.
    ``chronology.first_course_before_event`` (error) an assessment (not baseline), AE onset, relapse,
    HSCT or death before the first course start.
    ``chronology.course_before_assessment`` (error) after_cK assessment before course K starts.
    ``chronology.assessment_after_next_course`` (warning) after_cK assessment after course K+1 starts.
    ``chronology.course_before_ae`` (error) AE onset before its course starts.
    ``chronology.after_death`` (error) a course, assessment, AE, relapse or HSCT after death.
    ``chronology.after_last_followup`` (error) an event (including death) after the last follow-up.
    ``chronology.followup_after_death`` (warning) last follow-up later than death (should be equal).
    ``ae.grade5_without_death`` (error) grade 5 AE for a patient without a death date.
    ``ae.tox_data_unavailable`` (error) AE rows for a patient flagged tox_data_available = no.

Findings are sorted by (file, row, field, rule). Rows with errors stay in the data set with the bad cell
set to missing.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blincompass.dictionary import DataDictionary, Form, Variable, load_dictionary
from blincompass.io import cells
from blincompass.io.cells import Cell, cell_text, parse_cell
from blincompass.io.dataset import Dataset, frame_from_columns, variable_columns
from blincompass.io.raw import RawDataset, RawTable, is_blank, normalise_header, read_raw
from blincompass.io.safe import XML_ILLEGAL, looks_like_formula
from blincompass.validate.findings import Finding, ValidationResult

#: Maximum number of days between the baseline assessment and the first course start (warning beyond).
BASELINE_WINDOW_DAYS: int = 60

#: Regular expression of :data:`blincompass.io.safe.FORMULA_TRIGGERS` at the start of a text.
_FORMULA_START = "^[=+\\-@\t\r]"
_TERM_STATUS_SEVERITY = {"synonym": "info", "nearest": "warning", "other": "warning"}


@dataclass
class _Row:
    form: str
    file: str
    row: int
    cells: dict[str, Cell] = field(default_factory=dict)
    raw: Any = field(default_factory=dict)  # the raw cells by variable name (a dict or a _RawView)
    patient_id: str | None = None

    def get(self, name: str) -> Any:
        c = self.cells.get(name)
        return None if c is None else c.value


class _RawView:
    """A row's raw cells by variable name, read from the row's tuple (no dict per row)."""

    __slots__ = ("_pos", "_values")

    def __init__(self, values: tuple[Any, ...], pos: dict[str, int]) -> None:
        self._values = values
        self._pos = pos

    def __getitem__(self, name: str) -> Any:
        return self._values[self._pos[name]]

    def get(self, name: str, default: Any = None) -> Any:
        i = self._pos.get(name)
        return default if i is None else self._values[i]


class _Collector:
    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def add(
        self,
        severity: str,
        file: str,
        row: int | None,
        patient_id: str | None,
        fld: str | None,
        value: Any,
        rule: str,
        message: str,
    ) -> None:
        text = None if value is None else cell_text(value)
        self.findings.append(Finding(severity, file, row, patient_id, fld, text, rule, message))  # type: ignore[arg-type]

    def at(self, r: _Row, severity: str, fld: str | None, value: Any, rule: str, message: str) -> None:
        self.add(severity, r.file, r.row, r.patient_id, fld, value, rule, message)


def _label(raw: RawDataset, form: str) -> str:
    src = Path(raw.source)
    if src.is_dir() or raw.source.endswith(("/", "\\")) or not src.suffix:
        return f"{form}.csv"
    return f"{src.name}[{form}]"


def _condition_holds(var: Variable, r: _Row) -> bool:
    cond = var.required_if
    assert cond is not None
    other = r.cells.get(cond.field)
    if cond.present is not None:
        return (other is not None and other.present) == cond.present
    if other is None or other.value is None:
        return False
    return other.value in tuple(cond.in_ or ())


def _value_key(raw: Any) -> tuple[Any, ...]:
    """Key under which equal raw cells parse alike: the type as well as the value (1, 1.0 and True are
    different cells), floats by their repr (-0.0 is not 0.0)."""
    if isinstance(raw, float):
        return (float, repr(raw))
    return (type(raw), raw)


def _parse_column(
    var: Variable, column: list[Any], d: DataDictionary, date1904: bool
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`parse_cell` over a column, called once per distinct raw value.

    Returns the distinct cells (object array) and, for each row, the position of its cell among them.
    """
    if set(map(type, column)) <= {str, type(None)}:
        # text cells (CSV files): distinct values and the position of each found by pandas
        import pandas as pd

        codes, uniques = pd.factorize(np.asarray(column, dtype=object), use_na_sentinel=True)
        parsed = [parse_cell(var, raw, d.meta, date1904=date1904) for raw in uniques]
        parsed.append(parse_cell(var, None, d.meta, date1904=date1904))  # code -1: an empty cell
        codes = np.where(codes < 0, len(parsed) - 1, codes)
    else:
        position: dict[tuple[Any, ...], int] = {}
        parsed = []
        code_list = []
        for raw in column:
            key = _value_key(raw)
            try:
                k = position.get(key)
            except TypeError:  # an unhashable value: parsed on its own
                k, key = None, None
            if k is None:
                k = len(parsed)
                parsed.append(parse_cell(var, raw, d.meta, date1904=date1904))
                if key is not None:
                    position[key] = k
            code_list.append(k)
        codes = np.asarray(code_list, dtype=np.intp)
    table = np.empty(len(parsed), dtype=object)
    table[:] = parsed
    return table, codes


def _read_form(
    form: Form, table: RawTable | None, label: str, d: DataDictionary, out: _Collector,
    other_sheets: tuple[str, ...] = (),
) -> list[_Row]:
    if table is None:
        others = f" (found, not used: {', '.join(other_sheets)})" if other_sheets else ""
        out.add(
            "error",
            label,
            None,
            None,
            None,
            None,
            "form.missing",
            f"form '{form.name}' is missing: expected a sheet named '{form.name}' in the workbook "
            f"or a file {form.name}.csv in the folder{others}",
        )
        return []
    index: dict[str, int] = {}
    known = set(form.columns)
    for i, h in enumerate(table.header):
        name = normalise_header(h)
        if not name:
            if any(not is_blank(cs[i]) for _, cs in table.rows):
                out.add(
                    "warning", table.source, 1, None, None, None, "column.unnamed",
                    f"column {i + 1} has values but no header; they are ignored",
                )
            continue
        if name in index:
            out.add(
                "error", table.source, 1, None, name, h, "column.duplicate",
                f"column '{h}' appears more than once; only the first one (column {index[name] + 1}) is read",
            )
            continue
        if name not in known:
            out.add(
                "warning", table.source, 1, None, None, h, "column.unknown",
                f"column '{h}' is not a variable of form '{form.name}'; it is ignored",
            )
            continue
        index[name] = i
    for v in form.variables:
        if v.name not in index:
            needed = v.required or v.required_if is not None
            what = "required" if v.required else ("conditionally required" if needed else "optional")
            out.add(
                "error" if needed else "warning", table.source, 1, None, v.name, None, "column.missing",
                f"column '{v.name}' ({v.label}, {what}) is missing from form '{form.name}'",
            )
    # each column is parsed once per distinct raw value (cells are immutable, so rows share them); rows
    # whose cells all parse cleanly and leave no requirement open skip the per-row checks below
    n_rows = len(table.rows)
    names = [v.name for v in form.variables]
    raw_cols: list[list[Any]] = []
    cell_cols: list[np.ndarray] = []
    attention = np.zeros(n_rows, dtype=bool)
    for v in form.variables:
        if v.name in index:
            i = index[v.name]
            column = [cs[i] for _, cs in table.rows]
        else:
            column = [None] * n_rows
        uniq, codes = _parse_column(v, column, d, table.date1904)
        raw_cols.append(column)
        cell_cols.append(uniq[codes])
        present = np.fromiter((c.present for c in uniq), dtype=bool, count=len(uniq))
        flagged = np.fromiter(
            (bool(c.issues) or (v.type == "ctcae_term" and c.status not in (None, "ctcae")) for c in uniq),
            dtype=bool, count=len(uniq),
        )
        if v.name in index and (v.required or v.required_if is not None):
            flagged |= ~present  # a missing value may be an error
        if v.required_if is not None:
            flagged |= present  # a value given where it does not apply is a warning
        attention |= flagged[codes]
    rows: list[_Row] = []
    pid_col = names.index("patient_id") if "patient_id" in names else None
    pos = {name: i for i, name in enumerate(names)}
    for k, ((number, _), raws, row_cells) in enumerate(
        zip(table.rows, zip(*raw_cols, strict=True), zip(*cell_cols, strict=True), strict=True)
    ):
        r = _Row(form.name, table.source, number, dict(zip(names, row_cells, strict=True)), _RawView(raws, pos))
        if pid_col is not None:
            raw_pid = raws[pid_col]
            r.patient_id = cells.clean_text(raw_pid) or None
            if isinstance(raw_pid, float) and raw_pid.is_integer():
                r.patient_id = str(int(raw_pid))
        if not attention[k]:
            rows.append(r)
            continue
        bad: set[str] = set()
        for v in form.variables:
            c = r.cells[v.name]
            if c.issues:
                bad.add(v.name)
                r.cells[v.name] = Cell()  # the bad cell becomes missing
            for issue in c.issues:
                out.at(r, issue.severity, v.name, r.raw[v.name], issue.rule, issue.message)
            if v.type == "ctcae_term" and c.status not in (None, "ctcae"):
                if c.status == "unmapped":
                    out.at(
                        r, "warning", v.name, r.raw[v.name], "ae.term_unmapped",
                        f"'{c.value}' is not a CTCAE v4.03 term and no mapping is known; accepted as reported",
                    )
                else:
                    out.at(
                        r, _TERM_STATUS_SEVERITY.get(c.status or "", "warning"), v.name, r.raw[v.name],
                        "ae.term_not_ctcae",
                        f"'{c.value}' is not a CTCAE v4.03 term; reported term kept, mapped to "
                        f"{'nearest ' if c.status == 'nearest' else ''}CTCAE term '{c.mapped}'",
                    )
        for v in form.variables:
            if v.name not in index or v.name in bad or r.cells[v.name].present:
                continue
            if v.required:
                out.at(r, "error", v.name, None, "required", f"{v.name} ({v.label}) is required but missing")
            elif v.required_if is not None and _condition_holds(v, r):
                out.at(
                    r, "error", v.name, None, "required_if",
                    f"{v.name} ({v.label}) is required when {v.required_if.describe()}",
                )
        for v in form.variables:
            cond = v.required_if
            if cond is None or not r.cells[v.name].present or cond.field in bad or cond.field not in index:
                continue
            if not _condition_holds(v, r) and (cond.present is not None or r.cells[cond.field].present):
                out.at(
                    r, "warning", v.name, r.raw[v.name], "conditional.unexpected",
                    f"{v.name} is given although it only applies when {cond.describe()}",
                )
        rows.append(r)
    return rows


def _columns(form: Form, rows: list[_Row]) -> dict[str, list[Any]]:
    """The typed values of ``rows`` as lists keyed by DataFrame column (see :func:`frame_from_columns`)."""
    out: dict[str, list[Any]] = {"_row": [r.row for r in rows], "_file": [r.file for r in rows]}
    for v in form.variables:
        cells_v = [r.cells[v.name] for r in rows]
        out[v.name] = [c.value for c in cells_v]
        if v.type == "mrd":
            out[f"{v.name}_status"] = [c.status for c in cells_v]
        elif v.type == "ctcae_term":
            out[f"{v.name}_ctcae"] = [c.mapped for c in cells_v]
            out[f"{v.name}_status"] = [c.status for c in cells_v]
    return out


def _check_keys(form: Form, rows: list[_Row], out: _Collector) -> None:
    seen: dict[tuple[Any, ...], _Row] = {}
    for r in rows:
        parts = []
        for k in form.key:
            value = r.get(k)
            parts.append(value.casefold() if isinstance(value, str) else value)
        if any(p is None for p in parts):
            continue
        key = tuple(parts)
        if key in seen:
            desc = ", ".join(f"{k}={cell_text(r.get(k))}" for k in form.key)
            out.at(
                r, "error", form.key[-1], r.raw.get(form.key[-1]), "key.unique",
                f"duplicate {desc} in form '{form.name}' (first given on row {seen[key].row}); "
                "each combination must appear once",
            )
        else:
            seen[key] = r


def _fmt(d: dt.date) -> str:
    return d.isoformat()


def _cross_checks(forms: dict[str, list[_Row]], out: _Collector) -> None:
    patients = {r.patient_id: r for r in forms.get("patients", []) if r.patient_id}
    by_pid: dict[str, dict[str, list[_Row]]] = defaultdict(lambda: defaultdict(list))
    for name, rows in forms.items():
        for r in rows:
            if r.patient_id:
                by_pid[r.patient_id][name].append(r)

    # references to patients (only when the patients form was read: otherwise form.missing says it all)
    folded = {pid.casefold(): pid for pid in patients}
    for name, rows in forms.items():
        if name == "patients" or "patients" not in forms:
            continue
        for r in rows:
            if r.patient_id and r.patient_id not in patients:
                hint = ""
                if r.patient_id.casefold() in folded:
                    hint = f" (did you mean {folded[r.patient_id.casefold()]}? identifiers are case-sensitive)"
                out.at(
                    r, "error", "patient_id", r.raw.get("patient_id"), "reference",
                    f"patient {r.patient_id} is not in the patients form{hint}",
                )

    for pid, p in patients.items():
        rows = by_pid[pid]
        if "outcomes" in forms and not rows["outcomes"]:
            out.at(p, "error", "patient_id", None, "patient.outcomes",
                   f"patient {pid} has no row in the outcomes form (exactly one is required)")
        if "courses" in forms and not rows["courses"]:
            out.at(p, "error", "patient_id", None, "patient.courses",
                   f"patient {pid} has no blinatumomab course in the courses form (at least one is required)")

        if "assessments" in forms and rows["courses"]:
            if not any(a.get("timepoint") == "baseline" for a in rows["assessments"]):
                out.at(p, "warning", "patient_id", None, "patient.baseline",
                       f"patient {pid} has no baseline assessment (timepoint = baseline); the blast stratum "
                       "and Table 1 baseline values cannot be derived")

    for pid, rows in by_pid.items():
        _patient_checks(pid, patients.get(pid), rows, out, have_courses="courses" in forms)


def _patient_checks(
    pid: str, p: _Row | None, rows: dict[str, list[_Row]], out: _Collector, have_courses: bool = True
) -> None:
    courses = sorted(
        (r for r in rows["courses"] if r.get("course") is not None), key=lambda r: (r.get("course"), r.row)
    )
    by_course: dict[int, _Row] = {}
    for c in courses:
        by_course.setdefault(c.get("course"), c)

    # numbering 1..n
    numbers = sorted(by_course)
    expected = 1
    for n in numbers:
        if n != expected:
            missing = ", ".join(str(k) for k in range(expected, n))
            out.at(by_course[n], "error", "course", n, "course.numbering",
                   f"courses of patient {pid} must be numbered 1, 2, ... without gaps; "
                   f"course {missing} is missing before course {n}")
        expected = n + 1

    for c in courses:
        s, e = c.get("start_date"), c.get("end_date")
        if s and e and e < s:
            out.at(c, "error", "end_date", e, "course.dates",
                   f"course {c.get('course')} ends ({_fmt(e)}) before it starts ({_fmt(s)})")
    for prev, nxt in zip(numbers, numbers[1:], strict=False):
        a, b = by_course[prev], by_course[nxt]
        a_start, a_end, b_start = a.get("start_date"), a.get("end_date"), b.get("start_date")
        if b_start is None:
            continue
        if a_start is not None and b_start <= a_start:
            out.at(b, "error", "start_date", b_start, "course.order",
                   f"course {nxt} starts ({_fmt(b_start)}) on or before course {prev} starts ({_fmt(a_start)})")
        elif a_end is not None and b_start <= a_end:
            out.at(b, "error", "start_date", b_start, "course.order",
                   f"course {nxt} starts ({_fmt(b_start)}) before course {prev} ends ({_fmt(a_end)}); "
                   "it must start after the previous course ends")

    first = by_course.get(1) or (courses[0] if courses else None)
    first_start: dt.date | None = first.get("start_date") if first else None
    outcome = rows["outcomes"][0] if rows["outcomes"] else None
    death = outcome.get("death_date") if outcome else None
    lfu = outcome.get("last_followup_date") if outcome else None

    if p is not None:
        birth, diag = p.get("birth_date"), p.get("diagnosis_date")
        if birth and diag and diag < birth:
            out.at(p, "error", "diagnosis_date", diag, "chronology.birth_before_diagnosis",
                   f"diagnosis ({_fmt(diag)}) is before birth ({_fmt(birth)})")
        if diag and first_start and first_start < diag:
            out.at(p, "error", "diagnosis_date", diag, "chronology.diagnosis_before_first_course",
                   f"diagnosis ({_fmt(diag)}) is after the first blinatumomab course start ({_fmt(first_start)})")
        if birth and first_start and first_start < birth:
            out.at(p, "error", "birth_date", birth, "chronology.birth_before_diagnosis",
                   f"birth ({_fmt(birth)}) is after the first blinatumomab course start ({_fmt(first_start)})")

    # events: (row, field, date, description)
    events: list[tuple[_Row, str, dt.date, str]] = []
    for c in courses:
        for fld, what in (("start_date", "starts"), ("end_date", "ends")):
            if c.get(fld):
                events.append((c, fld, c.get(fld), f"course {c.get('course')} {what}"))
    for a in rows["assessments"]:
        d, tp = a.get("assessment_date"), a.get("timepoint")
        if d is None:
            continue
        if tp == "baseline":
            if first_start and d > first_start:
                out.at(a, "error", "assessment_date", d, "chronology.baseline_before_first_course",
                       f"baseline assessment ({_fmt(d)}) is after the first course start ({_fmt(first_start)})")
            elif first_start and (first_start - d).days > BASELINE_WINDOW_DAYS:
                out.at(a, "warning", "assessment_date", d, "chronology.baseline_window",
                       f"baseline assessment ({_fmt(d)}) is {(first_start - d).days} days before the first "
                       f"course start ({_fmt(first_start)}); expected within {BASELINE_WINDOW_DAYS} days")
        else:
            if first_start and d < first_start:
                out.at(a, "error", "assessment_date", d, "chronology.first_course_before_event",
                       f"{tp} assessment ({_fmt(d)}) is before the first course start ({_fmt(first_start)})")
            events.append((a, "assessment_date", d, f"{tp} assessment"))
        if isinstance(tp, str) and tp.startswith("after_c"):
            k = int(tp.removeprefix("after_c"))
            if rows["courses"] and k not in by_course:
                out.at(a, "error", "timepoint", tp, "assessment.course",
                       f"assessment after course {k}, but patient {pid} has no course {k}")
            elif k in by_course and by_course[k].get("start_date") and d < by_course[k].get("start_date"):
                ks = by_course[k].get("start_date")
                out.at(a, "error", "assessment_date", d, "chronology.course_before_assessment",
                       f"assessment after course {k} ({_fmt(d)}) is before course {k} starts ({_fmt(ks)})")
            elif k + 1 in by_course and by_course[k + 1].get("start_date") and d > by_course[k + 1].get(
                "start_date"
            ):
                ns = by_course[k + 1].get("start_date")
                out.at(a, "warning", "assessment_date", d, "chronology.assessment_after_next_course",
                       f"assessment after course {k} ({_fmt(d)}) is after course {k + 1} starts ({_fmt(ns)}); "
                       f"check the time point (after_c{k + 1}?)")
    tox = outcome.get("tox_data_available") if outcome else None
    for ae in rows["adverse_events"]:
        if tox is False:
            out.at(ae, "error", "patient_id", ae.raw.get("patient_id"), "ae.tox_data_unavailable",
                   f"adverse event given for patient {pid}, whose outcomes row says tox_data_available = no")
        k = ae.get("course")
        if k is not None and have_courses and k not in by_course:
            out.at(ae, "error", "course", k, "reference",
                   f"adverse event in course {k}, but patient {pid} has no course {k} in the courses form")
        if ae.get("grade") == 5 and death is None:
            out.at(ae, "error", "grade", 5, "ae.grade5_without_death",
                   f"grade 5 (fatal) adverse event, but patient {pid} has no death date")
        onset = ae.get("onset_date")
        if onset is None:
            continue
        if first_start and onset < first_start:
            out.at(ae, "error", "onset_date", onset, "chronology.first_course_before_event",
                   f"adverse event onset ({_fmt(onset)}) is before the first course start ({_fmt(first_start)})")
        elif k in by_course and by_course[k].get("start_date") and onset < by_course[k].get("start_date"):
            out.at(ae, "error", "onset_date", onset, "chronology.course_before_ae",
                   f"adverse event onset ({_fmt(onset)}) is before course {k} starts "
                   f"({_fmt(by_course[k].get('start_date'))})")
        events.append((ae, "onset_date", onset, "adverse event onset"))

    if outcome is not None:
        for fld, what in (("hsct_date", "HSCT"), ("relapse_date", "relapse")):
            d = outcome.get(fld)
            if d is None:
                continue
            if first_start and d < first_start:
                out.at(outcome, "error", fld, d, "chronology.first_course_before_event",
                       f"{what} ({_fmt(d)}) is before the first blinatumomab course start ({_fmt(first_start)})")
            events.append((outcome, fld, d, what))
        if death is not None and first_start and death < first_start:
            out.at(outcome, "error", "death_date", death, "chronology.first_course_before_event",
                   f"death ({_fmt(death)}) is before the first blinatumomab course start ({_fmt(first_start)})")

    for r, fld, d, what in events:
        if death is not None and d > death:
            out.at(r, "error", fld, d, "chronology.after_death",
                   f"{what} on {_fmt(d)}, after death on {_fmt(death)}")
        elif lfu is not None and d > lfu:
            out.at(r, "error", fld, d, "chronology.after_last_followup",
                   f"{what} on {_fmt(d)}, after the last follow-up on {_fmt(lfu)}")
    if outcome is not None and death is not None and lfu is not None:
        if lfu > death:
            out.at(outcome, "warning", "last_followup_date", lfu, "chronology.followup_after_death",
                   f"last follow-up ({_fmt(lfu)}) is later than death ({_fmt(death)}); "
                   "for a patient who died it should be the death date")
        elif death > lfu:
            out.at(outcome, "error", "death_date", death, "chronology.after_last_followup",
                   f"death on {_fmt(death)}, after the last follow-up on {_fmt(lfu)}; "
                   "for a patient who died the last follow-up is the death date")


@functools.cache
def _builtin_cutoff() -> dt.date | None:
    from blincompass.protocol import load_protocol

    return load_protocol().study.data_cutoff


def resolve_cutoff(data_cutoff: dt.date | None = None) -> tuple[dt.date, str]:
    """The data cut-off in force and a description of it for messages: ``data_cutoff``, else the
    built-in protocol's ``study.data_cutoff``, else today's date."""
    if data_cutoff is not None:
        return data_cutoff, f"the data cut-off {data_cutoff.isoformat()}"
    builtin = _builtin_cutoff()
    if builtin is not None:
        return builtin, f"the data cut-off {builtin.isoformat()}"
    today = dt.date.today()
    return today, f"today's date {today.isoformat()} (the protocol sets no data cut-off)"


def _frame_rows(df: pd.DataFrame, mask: np.ndarray) -> list[tuple[int, Any, Any]]:
    pids = df["patient_id"] if "patient_id" in df.columns else pd.Series([None] * len(df), index=df.index)
    idx = np.flatnonzero(mask)
    return [(int(i), df["_row"].iat[i], pids.iat[i]) for i in idx]


def _text_masks(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(starts like a formula, holds a control character) for each cell of a text column; vectorised
    with Arrow string kernels, with a per-cell fallback for a column that is not all text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        arr = pa.array(col.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        formula = np.fromiter((looks_like_formula(x) for x in col), dtype=bool, count=len(col))
        control = np.fromiter((isinstance(x, str) and XML_ILLEGAL.search(x) is not None for x in col),
                              dtype=bool, count=len(col))
        return formula, control
    formula = pc.fill_null(pc.match_substring_regex(arr, _FORMULA_START), False)
    control = pc.fill_null(pc.match_substring_regex(arr, XML_ILLEGAL.pattern), False)
    return (formula.to_numpy(zero_copy_only=False).astype(bool, copy=False),
            control.to_numpy(zero_copy_only=False).astype(bool, copy=False))


def _frame_checks(
    d: DataDictionary, frames: dict[str, pd.DataFrame], labels: dict[str, str], cutoff: dt.date, origin: str,
    out: _Collector,
) -> None:
    """Column-wise checks on the typed forms: dates after the data cut-off (the cell becomes missing) and
    free text that a spreadsheet could run as a formula."""
    limit = pd.Timestamp(cutoff)
    for form in d.forms:
        df = frames.get(form.name)
        if df is None or df.empty:
            continue
        files = df["_file"]
        for v in form.variables:
            col = df[v.name]
            if v.type == "date":
                mask = (col > limit).to_numpy(dtype=bool, na_value=False)
                for i, row, pid in _frame_rows(df, mask):
                    day = col.iat[i].date()
                    who = f"patient {pid}: " if pid else ""
                    out.add(
                        "error", files.iat[i] or labels[form.name], int(row), pid, v.name, day, "date.after_cutoff",
                        f"{who}{v.name} ({v.label}) {day.isoformat()} is after {origin}; "
                        "no date may lie beyond the data cut-off",
                    )
                if mask.any():
                    df.loc[mask, v.name] = pd.NaT
            elif v.type in ("string", "ctcae_term") and v.pattern is None:  # a pattern already bars '=' etc.
                mask, bad = _text_masks(col)
                for i, row, pid in _frame_rows(df, mask):
                    text = col.iat[i]
                    out.add(
                        "warning", files.iat[i] or labels[form.name], int(row), pid, v.name, text, "text.formula",
                        f"{v.name} {text!r} starts with {text[0]!r}, which a spreadsheet may run as a formula; "
                        "exports write it as inert text, but check that it is the intended value",
                    )
                for i, row, pid in _frame_rows(df, bad):
                    text = col.iat[i]
                    m = XML_ILLEGAL.search(text)
                    assert m is not None
                    out.add(
                        "error", files.iat[i] or labels[form.name], int(row), pid, v.name, text, "text.control",
                        f"{v.name} {text!r} holds the control character U+{ord(m.group()):04X} at position "
                        f"{m.start() + 1}; remove it (no workbook can store it)",
                    )
                if bad.any():
                    df.loc[bad, variable_columns(v)] = None


def validate(
    raw: RawDataset, dictionary: DataDictionary | None = None, *, data_cutoff: dt.date | None = None,
) -> ValidationResult:
    """Check a raw data set against the data dictionary and build the typed :class:`Dataset`.

    Every problem becomes a :class:`Finding` (nothing is dropped silently): a cell that cannot be read is
    set to missing in the data set and reported; rows with errors stay in the data set.
    ``data_cutoff``: the latest date allowed (default: :func:`resolve_cutoff`).
    """
    d = dictionary or load_dictionary()
    cutoff, origin = resolve_cutoff(data_cutoff)
    out = _Collector()
    for note in raw.notes:
        out.add(note.severity, note.source, None, None, None, None, note.rule, note.message)
    forms: dict[str, list[_Row]] = {}
    labels: dict[str, str] = {}
    frames = {}
    for form in d.forms:
        table = raw.tables.get(form.name)
        labels[form.name] = table.source if table is not None else _label(raw, form.name)
        rows = _read_form(form, table, labels[form.name], d, out, raw.other_sheets)
        if table is not None:
            forms[form.name] = rows
            _check_keys(form, rows, out)
        if form.name == "patients" and table is not None and not rows:
            out.add("warning", labels[form.name], None, None, None, None, "form.empty",
                    "the patients form has no data rows")
        frames[form.name] = frame_from_columns(form, _columns(form, rows), len(rows))
    _cross_checks(forms, out)
    _frame_checks(d, frames, labels, cutoff, origin, out)
    findings = sorted(set(out.findings), key=Finding.sort_key)
    return ValidationResult(Dataset(frames, raw.source), findings)


def load_dataset(
    path: str | Path, dictionary: DataDictionary | None = None, *, data_cutoff: dt.date | None = None,
) -> ValidationResult:
    """Read a workbook or CSV folder and validate it (``read_raw`` + ``validate``).

    Raises :class:`blincompass.io.InputReadError` when the input cannot be read at all.
    """
    d = dictionary or load_dictionary()
    return validate(read_raw(path, d.form_names), d, data_cutoff=data_cutoff)


def rule_ids() -> Iterable[str]:
    """The rule identifiers documented in this module."""
    import re

    return sorted(set(re.findall(r"``([a-z_]+(?:\.[a-z0-9_]+)*)``", __doc__ or "")) - {"min", "max"})
