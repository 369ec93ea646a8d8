"""Validation of a raw data set against the data dictionary.

Rule identifiers (stable; used in findings, tests and documentation):

Structure
    ``file.encoding`` (warning) CSV not in UTF-8, read with a fallback encoding.
    ``form.missing`` (error) no sheet / CSV for a form.
    ``form.empty`` (warning) the patient form has no row.
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
    ``reference`` (error) a row whose patient identifier is not in the patient form (meta.patient_form);
    a ``reference`` check of the dictionary (e.g. an AE course that is not in that patient's courses).
    ``patient.<form>`` (error) a patient without a row in a form whose rows_per_patient is "one" or
    "at_least_one" (BLIN-COMPASS: ``patient.outcomes``, ``patient.courses``), or with a second row in a
    one-row form keyed by more than the patient identifier.
Cross-form checks of the dictionary (``[[checks]]``; :mod:`blincompass.validate.checks`)
    Each declared check reports under its own rule identifier. The BLIN-COMPASS dictionary declares:
    ``patient.baseline`` (warning) a treated patient without a baseline assessment.
    ``course.numbering`` (error) courses of a patient not numbered 1..n without gaps.
    ``course.dates`` (error) end date before start date.
    ``course.order`` (error) course k+1 does not start after course k ends.
    ``assessment.course`` (error) an after_cK assessment for a course K the patient did not receive.
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
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blincompass.dictionary import DataDictionary, Form, Variable, load_dictionary
from blincompass.io import cells
from blincompass.io.cells import cell_text, parse_cell
from blincompass.io.dataset import Dataset, form_columns, frame_from_columns, variable_columns
from blincompass.io.raw import ColumnRows, RawDataset, RawTable, normalise_header, read_raw
from blincompass.io.safe import XML_ILLEGAL, looks_like_formula
from blincompass.validate.checks import Collector, FormData, run_checks
from blincompass.validate.findings import Finding, ValidationResult

#: Regular expression of :data:`blincompass.io.safe.FORMULA_TRIGGERS` at the start of a text.
_FORMULA_START = "^[=+\\-@\t\r]"
_TERM_STATUS_SEVERITY = {"synonym": "info", "nearest": "warning", "other": "warning"}


_Collector = Collector

#: Forms of at most this many rows take the small-data path: the same findings and frames, computed with
#: Python loops where a columnar kernel's fixed cost per call (pandas, Arrow) dominates a few rows -- one
#: patient's records, validated at each first view and save of the web registry.
#: ``tests/validate/test_small.py`` checks that both paths give the same result.
SMALL_ROWS: int = 64

#: Default of ``max_days`` for a ``within`` check (the BLIN-COMPASS dictionary's baseline window: a baseline
#: assessment more than this many days before the first course start is a warning).
BASELINE_WINDOW_DAYS: int = 60


def _label(raw: RawDataset, form: str) -> str:
    src = Path(raw.source)
    if src.is_dir() or raw.source.endswith(("/", "\\")) or not src.suffix:
        return f"{form}.csv"
    return f"{src.name}[{form}]"


def _value_key(raw: Any) -> tuple[Any, ...]:
    """Key under which equal raw cells parse alike: the type as well as the value (1, 1.0 and True are
    different cells), floats by their repr (-0.0 is not 0.0)."""
    if isinstance(raw, float):
        return (float, repr(raw))
    return (type(raw), raw)


def _parse_spec(var: Variable) -> str:
    """What :func:`parse_cell` reads of a variable (its result depends on nothing else but the cell): two
    variables with the same spec parse a text alike (e.g. every optional date, the patient identifier of
    the forms other than the patient form)."""
    return var.model_dump_json(include={"type", "allow_unknown", "unit", "codes", "min", "max", "earliest",
                                        "latest", "pattern"})


class _TextCells(dict[str, Any]):
    """Parsed cells of distinct texts for one variable spec (shared by the columns of one validation)."""

    def __init__(self, var: Variable, d: DataDictionary, date1904: bool) -> None:
        super().__init__()
        self.var, self.meta, self.date1904 = var, d.meta, date1904

    def __missing__(self, text: str) -> Any:
        cell = parse_cell(self.var, text, self.meta, date1904=self.date1904)
        self[text] = cell
        return cell


def _parse_column(
    var: Variable, column: list[Any] | tuple[Any, ...], d: DataDictionary, date1904: bool,
    memo: dict[tuple[str, bool], _TextCells] | None = None,
    factorized: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    """:func:`parse_cell` over a column, called once per distinct raw value.

    Returns the distinct cells (object array), for each row the position of its cell among them, and the
    distinct raw values in the same order.
    ``memo`` keeps the parsed texts of each variable spec across the columns of one validation.
    ``factorized``: the column as (position of each row among the distinct texts, the distinct texts), as
    a CSV file read column-wise holds it; ``column`` is then not read.
    """
    if factorized is not None:
        # a column of a CSV file read column-wise (:class:`blincompass.io.raw.ColumnRows`): each row's
        # position among the distinct texts, and those texts, are given
        codes, uniques = factorized
        key = (_parse_spec(var), date1904)
        texts = memo.setdefault(key, _TextCells(var, d, date1904)) if memo is not None else _TextCells(
            var, d, date1904)
        parsed = list(map(texts.__getitem__, uniques))
        raws = list(uniques)
    elif set(map(type, column)) <= {str, type(None)}:
        # text cells (CSV files): distinct values and the position of each found by pandas (in a small
        # column by a dict: the same distinct values in order of first appearance, None as -1)
        if len(column) <= SMALL_ROWS:
            first: dict[str, int] = {}
            codes = np.fromiter((-1 if c is None else first.setdefault(c, len(first)) for c in column),
                                dtype=np.intp, count=len(column))
            uniques = list(first)
        else:
            codes, uniques = pd.factorize(np.asarray(column, dtype=object), use_na_sentinel=True)
        key = (_parse_spec(var), date1904)
        texts = memo.setdefault(key, _TextCells(var, d, date1904)) if memo is not None else _TextCells(
            var, d, date1904)
        parsed = list(map(texts.__getitem__, uniques))
        parsed.append(parse_cell(var, None, d.meta, date1904=date1904))  # code -1: an empty cell
        codes = np.where(codes < 0, len(parsed) - 1, codes)
        raws: list[Any] = [*uniques, None]
    else:
        position: dict[tuple[Any, ...], int] = {}
        parsed = []
        raws = []
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
                raws.append(raw)
                if key is not None:
                    position[key] = k
            code_list.append(k)
        codes = np.asarray(code_list, dtype=np.intp)
    table = np.empty(len(parsed), dtype=object)
    table[:] = parsed
    return table, codes, raws


def _uniq_array(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _plain_days(values: list[Any]) -> bool:
    """Dates (or None) that numpy converts to ``datetime64[ns]`` exactly as pandas does (well inside the
    nanosecond range)."""
    return all(v is None or (type(v) is dt.date and 1700 <= v.year <= 2200) for v in values)


# dtypes as objects: pandas looks a dtype given by name up among every registered dtype at each use
_DATES, _FLOATS, _INTS, _OBJECTS = (np.dtype("datetime64[ns]"), np.dtype("float64"), np.dtype("int64"),
                                    np.dtype(object))
_INT64, _BOOLEAN = pd.Int64Dtype(), pd.BooleanDtype()


def _typed(kind: str, uniq_values: list[Any], codes: np.ndarray, index: pd.Index | None = None) -> pd.Series:
    """A typed column (dtype as :func:`blincompass.io.dataset.frame_from_columns` makes it) from the
    values of the distinct cells and each row's position among them (``index``: the frame's index)."""
    if kind == "date":
        if len(uniq_values) <= SMALL_ROWS and _plain_days(uniq_values):
            u = np.array(uniq_values, dtype=_DATES)  # None: NaT
        else:
            u = pd.Series(uniq_values, dtype=_DATES).to_numpy()
        return pd.Series(u[codes], dtype=_DATES, index=index)
    if kind == "integer":
        return pd.Series(pd.array(uniq_values, dtype=_INT64).take(codes), index=index)
    if kind in ("number", "level"):
        u = np.array([math.nan if v is None else float(v) for v in uniq_values], dtype=_FLOATS)
        return pd.Series(u[codes], dtype=_FLOATS, index=index)
    if kind == "boolean":
        return pd.Series(pd.array(uniq_values, dtype=_BOOLEAN).take(codes), index=index)
    return pd.Series(_uniq_array(uniq_values)[codes], dtype=_OBJECTS, index=index)


@functools.lru_cache(maxsize=256)
def _column_index(columns: tuple[str, ...]) -> pd.Index:
    """A form frame's column labels (an immutable Index, made once per form)."""
    return pd.Index(list(columns))


def _pid_text(raw: Any, memo: dict[Any, str | None] | None = None) -> str | None:
    """The patient identifier of a raw cell as the cross-form checks see it: the cell's text with spaces
    trimmed (an integral number without ``.0``), ``None`` when empty. ``memo``: texts already seen."""
    if memo is not None and type(raw) is str:
        try:
            return memo[raw]
        except KeyError:
            pass
    v = cells.clean_text(raw) or None
    if isinstance(raw, float) and raw.is_integer():
        v = str(int(raw))
    if memo is not None and type(raw) is str:
        memo[raw] = v
    return v


def _holds(cond: Any, cells_u: np.ndarray) -> np.ndarray:
    """For each distinct cell of the condition's field: does a ``required_if`` condition hold?"""
    if cond.present is not None:
        return np.fromiter((c.present == cond.present for c in cells_u), dtype=bool, count=len(cells_u))
    allowed = tuple(cond.in_ or ())
    return np.fromiter((c.value is not None and c.value in allowed for c in cells_u), dtype=bool,
                       count=len(cells_u))


def _read_form(
    form: Form, table: RawTable | None, label: str, d: DataDictionary, out: _Collector,
    other_sheets: tuple[str, ...] = (), memo: dict[tuple[str, bool], _TextCells] | None = None,
    pid_memo: dict[str, str | None] | None = None,
) -> FormData | None:
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
        return None
    index: dict[str, int] = {}
    known = set(form.columns)
    for i, h in enumerate(table.header):
        name = normalise_header(h)
        if not name:
            if table.column_has_values(i):
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
    # each column is parsed once per distinct raw value (cells are immutable, so rows share them); the
    # checks below are column-wise and visit only the rows that have something to report
    n_rows = len(table.rows)
    source = table.source
    raw_cols: dict[str, Any] = {}
    parsed: dict[str, tuple[np.ndarray, np.ndarray, list[Any]]] = {}
    if isinstance(table.rows, ColumnRows):  # a CSV file read column-wise: no tuple per row
        col_rows = table.rows
        numbers = col_rows.numbers
        for v in form.variables:
            if v.name in index:
                j = index[v.name]
                raw_cols[v.name] = col_rows.column(j)
                parsed[v.name] = _parse_column(v, raw_cols[v.name], d, table.date1904, memo,
                                               factorized=(col_rows.codes[j], col_rows.values[j]))
            else:
                raw_cols[v.name] = (None,) * n_rows
                parsed[v.name] = _parse_column(v, raw_cols[v.name], d, table.date1904, memo)
    else:
        numbers = np.fromiter((n for n, _ in table.rows), dtype=np.int64, count=n_rows)
        by_position = list(zip(*(cs for _, cs in table.rows), strict=True)) if n_rows else [()] * len(table.header)
        for v in form.variables:
            column = by_position[index[v.name]] if v.name in index else (None,) * n_rows
            raw_cols[v.name] = column
            parsed[v.name] = _parse_column(v, column, d, table.date1904, memo)
    pid_name = d.patient_id
    if pid_name in parsed:
        pid_memo = {} if pid_memo is None else pid_memo
        _, pid_codes, pid_raws = parsed[pid_name]
        pids = _uniq_array([_pid_text(r, pid_memo) for r in pid_raws])[pid_codes]
    else:
        pids = np.full(n_rows, None, dtype=object)

    def emit(rows: np.ndarray, severity: str, v: Variable, rule: str, message: str, raw: bool = True) -> None:
        for k in rows:
            value = raw_cols[v.name][k] if raw else None
            out.add(severity, source, int(numbers[k]), pids[k], v.name, value, rule, message)

    present: dict[str, np.ndarray] = {}
    issue: dict[str, np.ndarray] = {}
    for v in form.variables:
        uniq, codes, _ = parsed[v.name]
        present_u = np.fromiter((c.present for c in uniq), dtype=bool, count=len(uniq))
        issue_u = np.fromiter((bool(c.issues) for c in uniq), dtype=bool, count=len(uniq))
        present[v.name] = present_u[codes]
        issue[v.name] = issue_u[codes]
        for k in np.flatnonzero(issue[v.name]):
            for iss in uniq[codes[k]].issues:
                emit((k,), iss.severity, v, iss.rule, iss.message)
        if v.type == "ctcae_term":
            notes: dict[int, tuple[str, str, str]] = {}
            for u, c in enumerate(uniq):
                if c.status in (None, "ctcae"):
                    continue
                if c.status == "unmapped":
                    notes[u] = ("warning", "ae.term_unmapped",
                                f"'{c.value}' is not a CTCAE v4.03 term and no mapping is known; accepted as reported")
                else:
                    notes[u] = (_TERM_STATUS_SEVERITY.get(c.status or "", "warning"), "ae.term_not_ctcae",
                                f"'{c.value}' is not a CTCAE v4.03 term; reported term kept, mapped to "
                                f"{'nearest ' if c.status == 'nearest' else ''}CTCAE term '{c.mapped}'")
            if notes:
                flagged = np.zeros(len(uniq), dtype=bool)
                flagged[list(notes)] = True
                for k in np.flatnonzero(flagged[codes]):
                    severity, rule, msg = notes[int(codes[k])]
                    emit((k,), severity, v, rule, msg)
    for v in form.variables:
        if v.name not in index:
            continue
        missing = ~present[v.name] & ~issue[v.name]
        cond = v.required_if
        holds = None if cond is None else _holds(cond, parsed[cond.field][0])[parsed[cond.field][1]]
        if v.required:
            emit(np.flatnonzero(missing), "error", v, "required", f"{v.name} ({v.label}) is required but missing",
                 raw=False)
        elif cond is not None and holds is not None:
            emit(np.flatnonzero(missing & holds), "error", v, "required_if",
                 f"{v.name} ({v.label}) is required when {cond.describe()}", raw=False)
        if cond is None or holds is None or cond.field not in index:
            continue
        unexpected = present[v.name] & ~holds & ~issue[cond.field]
        if cond.present is None:
            unexpected &= present[cond.field]
        emit(np.flatnonzero(unexpected), "warning", v, "conditional.unexpected",
             f"{v.name} is given although it only applies when {cond.describe()}")
    # a required variable's column missing altogether: no per-row finding (column.missing says it)
    columns: dict[str, pd.Series] = {}
    rows_index = pd.RangeIndex(n_rows)  # one index for every column: the frame aligns nothing
    for v in form.variables:
        uniq, codes, _ = parsed[v.name]
        kinds = {"mrd": ["level", "object"], "ctcae_term": ["object"] * 3}.get(v.type, [v.type])
        attrs = {"mrd": ["value", "status"], "ctcae_term": ["value", "mapped", "status"]}.get(v.type, ["value"])
        for col, kind, attr in zip(variable_columns(v), kinds, attrs, strict=True):
            columns[col] = _typed(kind, [getattr(c, attr) for c in uniq], codes, rows_index)
    columns["_row"] = pd.Series(numbers, dtype=_INTS, index=rows_index)
    columns["_file"] = pd.Series(np.full(n_rows, source, dtype=object), dtype=_OBJECTS, index=rows_index)
    # the columns are new arrays made for this frame: it takes them as they are (copy=False)
    frame = pd.DataFrame(columns, columns=_column_index(tuple(form_columns(form))), index=rows_index, copy=False)
    return FormData(form, source, frame, pids, raw_cols)


def _keys_distinct(form: Form, df: pd.DataFrame) -> bool:
    """Whether no two rows of a small frame have the same complete key, compared as Python values (the
    text of an identifier case folded): ``True`` means the columnar check below would find no duplicate
    either, since the values it takes for equal are equal here too; ``False`` (a possible duplicate, or a
    value that cannot be hashed) leaves the answer to it."""
    seen: set[tuple[Any, ...]] = set()
    for values in zip(*(df[k].tolist() for k in form.key), strict=True):
        if any(x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float) and math.isnan(x)) for x in values):
            continue  # an incomplete key takes no part
        key = tuple(x.casefold() if isinstance(x, str) else x for x in values)
        try:
            if key in seen:
                return False
        except TypeError:
            return False
        seen.add(key)
    return True


def _check_keys(form: Form, fd: FormData, out: _Collector) -> None:
    df = fd.frame
    if df.empty:
        return
    if len(df) <= SMALL_ROWS and _keys_distinct(form, df):
        return
    parts = {}
    for k in form.key:
        col = df[k]
        if col.dtype == object:
            codes, uniques = pd.factorize(col.to_numpy(dtype=object), use_na_sentinel=True)
            folded = _uniq_array([x.casefold() if isinstance(x, str) else x for x in uniques] + [None])
            col = pd.Series(folded[np.where(codes < 0, len(uniques), codes)], dtype=object)
        parts[k] = col
    kdf = pd.DataFrame(parts)
    complete = kdf.notna().all(axis=1).to_numpy()
    if not complete.any():
        return
    kdf = kdf[complete]
    dup = kdf.duplicated(keep="first").to_numpy()
    if not dup.any():
        return
    first = pd.Series(df["_row"].to_numpy()[complete], index=kdf.index).groupby(
        [kdf[k] for k in form.key], sort=False).transform("first").to_numpy()
    rows = np.flatnonzero(complete)
    last = form.key[-1]
    for j in np.flatnonzero(dup):
        i = rows[j]
        desc = ", ".join(f"{k}={cell_text(_python(df[k].iat[i]))}" for k in form.key)
        out.add(
            "error", fd.source, int(df["_row"].iat[i]), fd.pid[i], last, fd.raw[last][i], "key.unique",
            f"duplicate {desc} in form '{form.name}' (first given on row {int(first[j])}); "
            "each combination must appear once",
        )


def _python(value: Any) -> Any:
    """A frame value as the cell parser gives it (a date, an int, ...)."""
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, np.integer):
        return int(value)
    return value


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


def _frame_rows(df: pd.DataFrame, mask: np.ndarray, pid: str = "patient_id") -> list[tuple[int, Any, Any]]:
    pids = df[pid] if pid in df.columns else pd.Series([None] * len(df), index=df.index)
    idx = np.flatnonzero(mask)
    return [(int(i), df["_row"].iat[i], pids.iat[i]) for i in idx]


def _text_masks(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(starts like a formula, holds a control character) for each cell of a text column; vectorised
    with Arrow string kernels, with a per-cell fallback for a column that is not all text."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def per_cell() -> tuple[np.ndarray, np.ndarray]:
        # the same tests cell by cell: a trigger first (FORMULA_TRIGGERS is _FORMULA_START's class), a
        # control character anywhere (XML_ILLEGAL, whose pattern the Arrow kernel runs)
        cells = col.to_numpy(dtype=object)
        formula = np.fromiter((looks_like_formula(x) for x in cells), dtype=bool, count=len(cells))
        control = np.fromiter((isinstance(x, str) and XML_ILLEGAL.search(x) is not None for x in cells),
                              dtype=bool, count=len(cells))
        return formula, control

    if len(col) <= SMALL_ROWS:
        return per_cell()
    try:
        arr = pa.array(col.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return per_cell()
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
                values = col.to_numpy()
                if len(col) <= SMALL_ROWS and values.dtype == "datetime64[ns]":
                    mask = values > limit.to_datetime64()  # NaT compares False
                else:
                    mask = (col > limit).to_numpy(dtype=bool, na_value=False)
                for i, row, pid in _frame_rows(df, mask, d.patient_id):
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
                for i, row, pid in _frame_rows(df, mask, d.patient_id):
                    text = col.iat[i]
                    out.add(
                        "warning", files.iat[i] or labels[form.name], int(row), pid, v.name, text, "text.formula",
                        f"{v.name} {text!r} starts with {text[0]!r}, which a spreadsheet may run as a formula; "
                        "exports write it as inert text, but check that it is the intended value",
                    )
                for i, row, pid in _frame_rows(df, bad, d.patient_id):
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
    forms: dict[str, FormData] = {}
    memo: dict[tuple[str, bool], _TextCells] = {}
    pid_memo: dict[str, str | None] = {}
    labels: dict[str, str] = {}
    frames = {}
    for form in d.forms:
        table = raw.tables.get(form.name)
        labels[form.name] = table.source if table is not None else _label(raw, form.name)
        fd = _read_form(form, table, labels[form.name], d, out, raw.other_sheets, memo, pid_memo)
        if fd is not None:
            forms[form.name] = fd
            _check_keys(form, fd, out)
            frames[form.name] = fd.frame
        else:
            frames[form.name] = frame_from_columns(form, {}, 0)
        if form.name == d.meta.patient_form and fd is not None and fd.frame.empty:
            out.add("warning", labels[form.name], None, None, None, None, "form.empty",
                    f"the {form.name} form has no data rows")
    run_checks(d, forms, out, default_window=BASELINE_WINDOW_DAYS)
    _frame_checks(d, frames, labels, cutoff, origin, out)
    findings = sorted(set(out.findings), key=Finding.sort_key)
    return ValidationResult(Dataset(frames, raw.source, d.meta.patient_form), findings)


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
