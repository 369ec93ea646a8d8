"""Cross-form checks: references to the patient form, rows per patient and the dictionary's ``[[checks]]``.

Every check works column-wise on the typed forms (pandas / numpy, one pass per check, no Python object per
row); only the rows it reports are visited one by one. The declarations are described in
:mod:`blincompass.dictionary.checks` and ``docs/data-dictionary.md``.

Conventions (the same for every check):

* a row takes part only when it has a patient identifier (a row without one is reported as ``required``);
* in the patient form a patient is the last row with that identifier, in another one-row-per-patient form
  the first one (a second row is reported as ``key.unique``); a repeating form contributes all its rows;
* a check whose form was not read does nothing (``form.missing`` says it all); a value from a form that
  was not read is missing, and a comparison with a missing value never fails;
* a finding's ``value`` is the reported field's value (the raw cell for the patient identifier; none for a
  finding about the patient as a whole, on the patient form's identifier).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from blincompass.dictionary import DataDictionary, Form
from blincompass.dictionary.checks import (
    Clause,
    FunctionCheck,
    NumberingCheck,
    OrderCheck,
    ReferenceCheck,
    RequiresCheck,
    SequenceCheck,
    Side,
    WithinCheck,
)
from blincompass.io.cells import cell_text
from blincompass.validate.findings import Finding

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class Collector:
    """Findings as they are found (sorted and deduplicated by the caller)."""

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


@dataclass
class FormData:
    """One form as read: the typed frame, each row's patient identifier and the raw cells by variable."""

    form: Form
    source: str
    frame: pd.DataFrame
    pid: np.ndarray
    raw: dict[str, Any] = field(repr=False)

    def __post_init__(self) -> None:
        self.has_pid = np.fromiter((p is not None for p in self.pid), dtype=bool, count=len(self.pid))
        self.pc = np.full(len(self.pid), -1, dtype=np.int64)  # patient code (see _Engine), -1 without id


def _python(value: Any) -> Any:
    """A frame value as the cell parser gives it (a date, an int, ...; ``None`` when missing)."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).date()
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    return value


def _text(value: Any) -> str:
    """A value in a message, as the message templates show it."""
    v = _python(value)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def _bool(x: Any) -> np.ndarray:
    if isinstance(x, pd.Series):
        return x.to_numpy(dtype=bool, na_value=False)
    return np.asarray(x, dtype=bool)


class _Col:
    """One column of values as numpy arrays (the checks compare and index these, not pandas Series, whose
    fixed cost per operation would dominate a small data set such as one patient's records).

    ``arr``: the pandas array of the column (its scalars are the frame's values: ``Timestamp``, ``int``,
    ``NA``, ...); ``vals``: the same values to compare (``datetime64[ns]`` with NaT, ``float64`` with NaN for
    integer, number and yes/no columns, or ``object``); ``ok``: where a value is given. A column taken
    from another (:meth:`take`) makes its pandas array only when a finding shows one of its values.
    """

    __slots__ = ("_arr", "_pos", "_src", "ok", "vals")

    def __init__(self, arr: Any) -> None:
        self._arr = arr
        self._src: _Col | None = None
        self._pos: np.ndarray | None = None
        if isinstance(arr, np.ndarray):
            vals = arr
        elif isinstance(arr.dtype, pd.api.extensions.ExtensionDtype) and hasattr(arr, "_mask"):
            vals = arr.to_numpy(dtype="float64", na_value=np.nan)  # Int64, Float64, boolean
        else:
            vals = np.asarray(arr)
            if vals.dtype.kind not in "Mmfiub":
                vals = np.asarray(arr, dtype=object)
        self.vals = vals
        self.ok = ~np.asarray(pd.isna(arr), dtype=bool)

    @property
    def arr(self) -> Any:
        if self._arr is None:
            assert self._src is not None and self._pos is not None
            self._arr = pd.api.extensions.take(self._src.arr, self._pos, allow_fill=True)
        return self._arr

    def __len__(self) -> int:
        return len(self.ok)

    def at(self, k: int) -> Any:
        return self.arr[k]

    def take(self, pos: np.ndarray) -> _Col:
        """The values at row positions ``pos`` (-1: missing)."""
        out = object.__new__(_Col)
        out._arr, out._src, out._pos = None, self, pos
        vals = self.vals
        if vals.dtype.kind in "iu":
            vals = vals.astype(np.float64)
        elif vals.dtype.kind == "b":
            vals = vals.astype(object)
        hit = pos >= 0
        if len(vals):
            safe = np.where(hit, pos, 0)
            out.ok = hit & self.ok[safe]
            out.vals = vals[safe]
        else:
            out.ok = np.zeros(len(pos), dtype=bool)
            out.vals = np.empty(len(pos), dtype=vals.dtype)
        if not out.ok.all():  # a missing value as the column's own missing value
            out.vals[~out.ok] = (np.datetime64("NaT", "ns") if vals.dtype.kind == "M" else
                                 np.timedelta64("NaT", "ns") if vals.dtype.kind == "m" else
                                 np.nan if vals.dtype.kind == "f" else None)
        return out

    def series(self) -> pd.Series:
        return pd.Series(self.arr, copy=False)


def _compare(a: _Col, b: _Col, rows: np.ndarray, op: str) -> np.ndarray:
    """``a op b`` (op ``<``, ``<=``) at the row positions ``rows``, where both values are given."""
    av, bv = a.vals[rows], b.vals[rows]
    if av.dtype.kind != bv.dtype.kind and "M" in (av.dtype.kind, bv.dtype.kind):  # a date against text etc.
        av, bv = a.arr[rows], b.arr[rows]
    return _bool(av < bv if op == "<" else av <= bv)


def _combined_codes(columns: list[np.ndarray]) -> np.ndarray:
    """One int64 code per row for the tuple of values in ``columns`` (equal tuples, equal codes; a missing
    value anywhere: -1). Each column is factorized (hashing, no Python object per row) and the codes are
    combined column by column."""
    code: np.ndarray | None = None
    for col in columns:
        c, uniq = pd.factorize(col, use_na_sentinel=True)
        c = c.astype(np.int64)
        if code is None:
            code = c
            continue
        both = (code >= 0) & (c >= 0)
        merged = np.where(both, code * (len(uniq) + 1) + c, -1)
        code, _ = pd.factorize(merged, use_na_sentinel=False)
        code = np.where(both, code.astype(np.int64), -1)
    assert code is not None
    return code


def _first_of(keys: np.ndarray, rows: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each of ``wanted`` (int64 codes), the first of ``rows`` (positions, in the order given) whose
    ``keys[row]`` equals it; -1 for none (and for a negative code)."""
    out = np.full(len(wanted), -1, dtype=np.int64)
    k = keys[rows]
    keep = k >= 0
    rows, k = rows[keep], k[keep]
    if not len(rows):
        return out
    order = np.argsort(k, kind="stable")
    ks, rs = k[order], rows[order]
    first = np.ones(len(ks), dtype=bool)
    first[1:] = ks[1:] != ks[:-1]
    ks, rs = ks[first], rs[first]
    i = np.minimum(np.searchsorted(ks, wanted), len(ks) - 1)
    hit = (wanted >= 0) & (ks[i] == wanted)
    out[hit] = rs[i[hit]]
    return out


class _Engine:
    def __init__(self, d: DataDictionary, forms: dict[str, FormData], out: Collector, default_window: int):
        self.d = d
        self.forms = forms
        self.out = out
        self.default_window = default_window
        self.pf = d.meta.patient_form
        self.pid_name = d.patient_id
        self._active: dict[str, np.ndarray] = {}
        self._per_patient: dict[tuple[Any, ...], np.ndarray] = {}
        self._values: dict[tuple[Any, ...], _Col] = {}
        self._columns: dict[tuple[str, str], _Col] = {}
        self._clauses: dict[tuple[str, Clause], np.ndarray | None] = {}
        self.masks: dict[str, np.ndarray] = {}
        # every patient identifier of every form as a code 0..n_patients-1 (the lookups below are array
        # indexing by these codes, not hashing of texts)
        names = list(forms)
        if names:
            codes, uniques = pd.factorize(np.concatenate([forms[n].pid for n in names]), use_na_sentinel=True)
        else:
            codes, uniques = np.zeros(0, dtype=np.int64), []
        self.n_patients = max(len(uniques), 1)  # (one slot at least: rows without an id index slot 0)
        at = 0
        for n in names:
            k = len(forms[n].pid)
            forms[n].pc = codes[at:at + k].astype(np.int64)
            at += k

    def _positions(self, rows: np.ndarray, pc: np.ndarray) -> np.ndarray:
        """For each patient code, the first of ``rows`` (positions, in the order given) with that code;
        -1 for a patient without such a row."""
        out = np.full(self.n_patients, -1, dtype=np.int64)
        if len(rows):
            first, where = np.unique(pc[rows], return_index=True)
            out[first] = rows[where]
        return out

    def _at_patient(self, fd: FormData, positions: np.ndarray) -> np.ndarray:
        """Row positions (in the other form) for each row of ``fd``, from per-patient positions; -1 none."""
        return np.where(fd.pc >= 0, positions[np.maximum(fd.pc, 0)], -1)

    def patients_with(self, fd: FormData, rows: np.ndarray) -> np.ndarray:
        """Patient codes (boolean over codes) that have one of ``rows`` of ``fd``."""
        has = np.zeros(self.n_patients, dtype=bool)
        has[fd.pc[rows & fd.has_pid]] = True
        return has

    def row_has(self, fd: FormData, has: np.ndarray) -> np.ndarray:
        return np.where(fd.pc >= 0, has[np.maximum(fd.pc, 0)], False)

    @staticmethod
    def pid_key(fd: FormData) -> np.ndarray:
        """The patient code of each row as a key column (missing without an identifier)."""
        return np.where(fd.has_pid, fd.pc, np.nan)

    # ------------------------------------------------------------------ rows and values
    def active(self, name: str) -> np.ndarray:
        """Rows of form ``name`` that take part in the checks (see the module docstring)."""
        if name not in self._active:
            fd = self.forms[name]
            mask = fd.has_pid.copy()
            if self.d.is_patient_level(name):
                rows = np.flatnonzero(fd.has_pid)
                if name == self.pf:  # the last row of a patient given twice
                    rows = rows[::-1]
                mask = np.zeros(len(fd.pid), dtype=bool)
                pos = self._positions(rows, fd.pc)
                mask[pos[pos >= 0]] = True
            self._active[name] = mask
        return self._active[name]

    def _column(self, fd: FormData, var: str) -> _Col:
        key = (fd.form.name, var)
        if key not in self._columns:
            if fd.form.variable(var).type == "mrd":  # the status code, or the level when quantified
                level, status = fd.frame[var], fd.frame[f"{var}_status"]
                col = _Col(status.where(status != "quantified", level.astype(object)).array)
            else:
                col = _Col(fd.frame[var].array)
            self._columns[key] = col
        return self._columns[key]

    def _raw_column(self, fd: FormData, var: str) -> _Col:
        """A frame column as stored (for an MRD variable: its level)."""
        key = (fd.form.name, "\x00" + var)
        if key not in self._columns:
            self._columns[key] = _Col(fd.frame[var].array)
        return self._columns[key]

    def per_patient(self, side: Side) -> np.ndarray:
        """For each patient code, the row (position in ``side.form``) whose ``side.value`` is the patient's
        value: the patient's row of a one-row form, or the first / last row by ``order_by`` (``min`` /
        ``max``: by the value itself); -1 when none."""
        key = side.key
        if key not in self._per_patient:
            fd = self.forms[side.form]
            if side.pick is None:
                rows = np.flatnonzero(self.active(side.form))
            else:
                by = side.value if side.pick in ("min", "max") else side.order_by or side.value
                col = self._column(fd, by)
                rows = np.flatnonzero(fd.has_pid & col.ok)
                rows = rows[np.argsort(col.vals[rows], kind="stable")]  # ties: file order
                if side.pick in ("last", "max"):  # the largest key; among equal keys the last row
                    rows = rows[::-1]
            self._per_patient[key] = self._positions(rows, fd.pc)
        return self._per_patient[key]

    def value(self, fd: FormData, side: Side) -> _Col:
        """``side`` for each row of ``fd``."""
        ck = (fd.form.name, side.key)
        if ck not in self._values:
            self._values[ck] = self._value(fd, side)
        return self._values[ck]

    def _value(self, fd: FormData, side: Side) -> _Col:
        n = len(fd.frame)
        if side.form not in self.forms:
            return _Col(np.full(n, None, dtype=object))
        if side.form == fd.form.name and side.pick is None and side.match is None:
            return self._column(fd, side.value)
        other = self.forms[side.form]
        col = self._column(other, side.value)
        if side.match is not None:
            # the first row (in file order) of the patient whose match fields equal this row's
            theirs = list(side.match)
            m = len(other.pc)
            keys = _combined_codes(
                [np.concatenate([self.pid_key(other), self.pid_key(fd)])]
                + [np.concatenate([self._raw_column(other, t).vals, self._raw_column(fd, side.match[t]).vals])
                   for t in theirs])
            pos = _first_of(keys, np.arange(m), keys[m:])
        else:
            pos = self._at_patient(fd, self.per_patient(side))
        return col.take(pos)

    def _field_value(self, fd: FormData, name: str) -> _Col:
        form, dot, var = name.partition(".")
        if not dot:
            return self._column(fd, name)
        return self.value(fd, Side(form=form, value=var))

    def clause(self, fd: FormData, cl: Clause | None) -> np.ndarray | None:
        """Where ``cl`` holds for each row of ``fd``; ``None`` when it cannot be judged (its form unread)."""
        if cl is None:
            return np.ones(len(fd.frame), dtype=bool)
        key = (fd.form.name, cl)
        try:
            if key in self._clauses:
                return self._clauses[key]
        except TypeError:  # a clause holding an unhashable value: not kept
            return self._clause(fd, cl)
        self._clauses[key] = self._clause(fd, cl)
        return self._clauses[key]

    def _clause(self, fd: FormData, cl: Clause) -> np.ndarray | None:
        if cl.has_row is not None:
            if cl.has_row not in self.forms:
                return None
            other = self.forms[cl.has_row]
            rows = other.has_pid.copy()
            if cl.where is not None:
                rows &= self.test(cl.where, self._column(other, cl.where.field or ""))
            return self.row_has(fd, self.patients_with(other, rows))
        return self.test(cl, self._field_value(fd, cl.field or ""))

    @staticmethod
    def test(cl: Clause, col: _Col) -> np.ndarray:
        if cl.present is not None:
            return col.ok.copy() if cl.present else ~col.ok
        values = list(cl.in_ if cl.in_ is not None else cl.not_in or ())
        hit = np.zeros(len(col), dtype=bool)
        if values and col.ok.any():
            hit = _bool(col.series().isin(values)) & col.ok
        return hit if cl.in_ is not None else ~hit

    # ------------------------------------------------------------------ findings
    def emit(
        self, fd: FormData, rows: np.ndarray, severity: str, rule: str, fld: str, template: str,
        values: Callable[[int, str], str | None] | None = None, value: Callable[[int], Any] | None = None,
    ) -> None:
        if not rows.any():
            return
        frame = fd.frame
        columns = set(fd.form.columns)
        for k in np.flatnonzero(rows):
            def sub(m: re.Match[str], k: int = k) -> str:
                name = m.group(1)
                if values is not None:
                    got = values(k, name)
                    if got is not None:
                        return got
                if name == "patient":
                    return str(fd.pid[k])
                if name == "form":
                    return fd.form.name
                if name in columns:
                    return _text(frame[name].iat[k])
                return m.group(0)

            if value is not None:
                shown = value(k)
            elif fld == self.pid_name:
                shown = None if fd.form.name == self.pf else fd.raw[fld][k]
            else:
                shown = _python(frame[fld].iat[k])
            self.out.add(severity, fd.source, int(frame["_row"].iat[k]), fd.pid[k], fld, shown, rule,
                         _PLACEHOLDER.sub(sub, template))

    # ------------------------------------------------------------------ built-in structure checks
    def patient_references(self) -> None:
        if self.pf not in self.forms:
            return
        patients = self.forms[self.pf]
        known = self.patients_with(patients, patients.has_pid)
        folded = {p.casefold(): p for p in set(patients.pid[patients.has_pid])}
        for name, fd in self.forms.items():
            if name == self.pf or self.pid_name not in fd.form.columns:
                continue
            bad = fd.has_pid & ~self.row_has(fd, known)
            for k in np.flatnonzero(bad):
                pid = fd.pid[k]
                hint = ""
                if pid.casefold() in folded:
                    hint = f" (did you mean {folded[pid.casefold()]}? identifiers are case-sensitive)"
                self.out.add("error", fd.source, int(fd.frame["_row"].iat[k]), pid, self.pid_name,
                             fd.raw[self.pid_name][k], "reference",
                             f"patient {pid} is not in the {self.pf} form{hint}")

    def rows_per_patient(self) -> None:
        if self.pf not in self.forms:
            return
        patients = self.forms[self.pf]
        prows = self.active(self.pf)
        for name, fd in self.forms.items():
            if name == self.pf or self.pid_name not in fd.form.columns:
                continue
            rule = self.d.rows_per_patient(name)
            form = fd.form
            if rule in ("one", "at_least_one"):
                what = "exactly one" if rule == "one" else "at least one"
                template = form.rows_message or (
                    f"patient {{patient}} has no row in the {{form}} form ({what} is required)")
                lacking = prows & ~self.row_has(patients, self.patients_with(fd, fd.has_pid))
                self.emit(patients, lacking, "error", f"patient.{name}", self.pid_name, template,
                          values=lambda k, n, name=name: name if n == "form" else None)
            if rule in ("one", "at_most_one") and form.key != (self.pid_name,):
                extra = np.ones(len(fd.pc), dtype=bool)  # every row but the first of its code
                if len(fd.pc):
                    extra[np.unique(fd.pc, return_index=True)[1]] = False
                self.emit(fd, fd.has_pid & extra, "error", f"patient.{name}", self.pid_name,
                          f"patient {{patient}} has more than one row in the {name} form (at most one is allowed)")

    # ------------------------------------------------------------------ declared checks
    def run(self, c: Any) -> None:
        if c.form not in self.forms:
            return
        fd = self.forms[c.form]
        where = self.clause(fd, c.where)
        if where is None:
            return
        base = self.active(c.form) & where
        for u in c.unless:
            if u in self.masks:
                base = base & ~self.masks[u]
        handler = getattr(self, f"_{c.kind}")
        mask = handler(c, fd, base)
        if c.id is not None:
            self.masks[c.id] = mask if mask is not None else np.zeros(len(fd.frame), dtype=bool)

    def _at(self, c: OrderCheck | WithinCheck) -> str:
        if c.at is not None:
            return c.at
        later = c.later
        return "later" if later.form == c.form and later.pick is None and later.match is None else "earlier"

    def _order(self, c: OrderCheck, fd: FormData, base: np.ndarray) -> np.ndarray:
        viol = np.zeros(len(base), dtype=bool)
        if not base.any():
            return viol
        e, lt = self.value(fd, c.earlier), self.value(fd, c.later)
        idx = np.flatnonzero(base & e.ok & lt.ok)
        if len(idx):
            viol[idx[_compare(lt, e, idx, "<=" if c.strict else "<")]] = True
        if not viol.any():
            return viol
        at = self._at(c)
        side = c.earlier if at == "earlier" else c.later
        what = "is not after" if c.strict else "is before"
        template = c.message or f"{{later_name}} ({{later}}) {what} {{earlier_name}} ({{earlier}})"
        names = {"earlier_name": c.earlier.describe(), "later_name": c.later.describe()}
        self.emit(fd, viol, c.severity, c.rule, side.value, template,
                  values=lambda k, n: _text(e.at(k)) if n == "earlier" else _text(lt.at(k)) if n == "later"
                  else names.get(n),
                  value=lambda k: _python((e if at == "earlier" else lt).at(k)))
        return viol

    def _within(self, c: WithinCheck, fd: FormData, base: np.ndarray) -> np.ndarray:
        viol = np.zeros(len(base), dtype=bool)
        if not base.any():
            return viol
        e, lt = self.value(fd, c.earlier), self.value(fd, c.later)
        limit = self.default_window if c.max_days is None else c.max_days
        days = np.zeros(len(base), dtype=np.int64)
        idx = np.flatnonzero(base & e.ok & lt.ok)
        if len(idx):
            diff = (_dates(lt.vals[idx]) - _dates(e.vals[idx])) // np.timedelta64(1, "D")  # whole days, floored
            days[idx] = diff
            viol[idx[diff > limit]] = True
        if not viol.any():
            return viol
        at = self._at(c)
        side = c.earlier if at == "earlier" else c.later
        template = c.message or ("{later_name} ({later}) is {days} days after {earlier_name} ({earlier}); "
                                 "expected within {max_days} days")
        names = {"earlier_name": c.earlier.describe(), "later_name": c.later.describe(), "max_days": str(limit)}

        def values(k: int, n: str) -> str | None:
            if n == "earlier":
                return _text(e.at(k))
            if n == "later":
                return _text(lt.at(k))
            if n == "days":
                return str(int(days[k]))
            return names.get(n)

        self.emit(fd, viol, c.severity, c.rule, side.value, template, values=values,
                  value=lambda k: _python((e if at == "earlier" else lt).at(k)))
        return viol

    def _numbered(self, fd: FormData, base: np.ndarray, number: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first row (in file order) of each (patient, number), sorted by patient then number: the
        numbers, the rows' positions and the previous row's position within the patient (-1 for the
        first)."""
        col = self._raw_column(fd, number)
        rows = np.flatnonzero(base & col.ok)
        pcs, ns = fd.pc[rows], col.vals[rows]
        order = np.lexsort((rows, ns, pcs))  # patient, number, then file order
        pcs, ns, rows = pcs[order], ns[order], rows[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = (pcs[1:] != pcs[:-1]) | (ns[1:] != ns[:-1])
        pcs, ns, rows = pcs[first], ns[first], rows[first]
        same = pcs[1:] == pcs[:-1]
        prev = np.full(len(rows), -1, dtype=np.int64)
        prev[1:][same] = rows[:-1][same]
        return ns, rows, prev

    def _numbering(self, c: NumberingCheck, fd: FormData, base: np.ndarray) -> np.ndarray:
        ns, pos, prev = self._numbered(fd, base, c.field)
        n = np.asarray(ns, dtype=np.int64)
        expected = np.full(len(n), c.start, dtype=np.int64)
        has_prev = prev >= 0
        prev_n = np.empty(len(n), dtype=np.int64)
        prev_n[1:] = n[:-1]
        expected[has_prev] = prev_n[has_prev] + 1
        viol = np.zeros(len(base), dtype=bool)
        bad = n != expected
        viol[pos[bad]] = True
        exp_at = dict(zip(pos[bad], expected[bad], strict=True))
        template = c.message or (f"{c.field} of patient {{patient}} must run {c.start}, {c.start + 1}, ... "
                                 f"without gaps; {c.field} {{missing}} is missing before {{value}}")

        def values(k: int, name: str) -> str | None:
            value = int(fd.frame[c.field].iat[k])
            if name == "value":
                return str(value)
            if name == "missing":
                return ", ".join(str(x) for x in range(int(exp_at[k]), value))
            if name == "start":
                return str(c.start)
            return None

        self.emit(fd, viol, c.severity, c.rule, c.field, template, values=values)
        return viol

    def _sequence(self, c: SequenceCheck, fd: FormData, base: np.ndarray) -> np.ndarray:
        _, pos, prev = self._numbered(fd, base, c.order_by)
        ok = prev >= 0
        pos, prev = pos[ok], prev[ok]
        start = self._raw_column(fd, c.start)

        def on_or_before(later: _Col, earlier: _Col) -> np.ndarray:
            """``later`` at ``pos`` <= ``earlier`` at ``prev``, both given."""
            out = np.zeros(len(pos), dtype=bool)
            both = later.ok[pos] & earlier.ok[prev]
            if both.any():
                b, a = later.vals[pos[both]], earlier.vals[prev[both]]
                if b.dtype.kind != a.dtype.kind and "M" in (a.dtype.kind, b.dtype.kind):
                    b, a = later.arr[pos[both]], earlier.arr[prev[both]]
                out[both] = _bool(b <= a)
            return out

        first = on_or_before(start, start)
        second = np.zeros(len(pos), dtype=bool)
        if c.end is not None:
            second = ~first & on_or_before(start, self._raw_column(fd, c.end))
        prev_of = dict(zip(pos, prev, strict=True))

        def values(k: int, name: str) -> str | None:
            if name.startswith("previous."):
                return _text(fd.frame[name.removeprefix("previous.")].iat[prev_of[k]])
            return None

        default = (f"{c.order_by} {{{c.order_by}}}: {c.start} ({{{c.start}}}) is on or before the {c.start} "
                   f"({{previous.{c.start}}}) of {c.order_by} {{previous.{c.order_by}}}")
        viol = np.zeros(len(base), dtype=bool)
        for which, template in ((first, c.message or default), (second, c.message_end or (
                f"{c.order_by} {{{c.order_by}}}: {c.start} ({{{c.start}}}) is on or before the {c.end} "
                f"({{previous.{c.end}}}) of {c.order_by} {{previous.{c.order_by}}}"))):
            m = np.zeros(len(base), dtype=bool)
            m[pos[which]] = True
            viol |= m
            self.emit(fd, m, c.severity, c.rule, c.start, template, values=values)
        return viol

    def _reference(self, c: ReferenceCheck, fd: FormData, base: np.ndarray) -> np.ndarray | None:
        tform, _, tvar = c.target.partition(".")
        if tform not in self.forms:
            return None
        other = self.forms[tform]
        col = self._raw_column(fd, c.field)
        tcol = self._raw_column(other, tvar)
        idx = np.flatnonzero(base & col.ok)
        viol = np.zeros(len(base), dtype=bool)
        if len(idx):
            m = len(other.pc)
            keys = _combined_codes([np.concatenate([self.pid_key(other), fd.pc.astype(np.float64)]),
                                    np.concatenate([tcol.vals, col.vals])])
            trows = np.flatnonzero(other.has_pid & tcol.ok)
            viol[idx[_first_of(keys, trows, keys[m + idx]) < 0]] = True
        template = c.message or f"{c.field} {{value}} is not a {c.target} of patient {{patient}}"
        self.emit(fd, viol, c.severity, c.rule, c.field, template,
                  values=lambda k, n: _text(col.at(k)) if n == "value" else c.target if n == "target" else None)
        return viol

    def _requires(self, c: RequiresCheck, fd: FormData, base: np.ndarray) -> np.ndarray | None:
        when = self.clause(fd, c.when)
        then = self.clause(fd, c.then)
        if then is None:
            return None
        viol = base & ~then
        if when is not None:
            viol &= when
        elif c.when is not None:
            viol[:] = False
        fld = c.field or self.pid_name
        if c.message:
            template = c.message
        elif c.when is not None:
            template = f"patient {{patient}}: where {c.when.describe()}, {c.then.describe()} is required"
        else:
            template = f"patient {{patient}}: {c.then.describe()} is required"
        self.emit(fd, viol, c.severity, c.rule, fld, template)
        return viol

    def _function(self, c: FunctionCheck, fd: FormData, base: np.ndarray) -> np.ndarray:
        return CHECK_FUNCTIONS[c.function](self, fd, base, **c.args)


def _course_number(code: Any, prefix: str) -> int:
    """K of a time point code ``prefix`` + K (decimal digits); -1 for any other code."""
    if not isinstance(code, str) or not code.startswith(prefix):
        return -1
    digits = code[len(prefix):]
    try:
        return int(digits) if digits.isdigit() else -1
    except ValueError:  # a digit that is not a decimal digit (e.g. a superscript)
        return -1


def _dates(values: np.ndarray) -> np.ndarray:
    """``values`` as ``datetime64[ns]``."""
    if values.dtype.kind == "M":
        return values.astype("datetime64[ns]", copy=False)
    return np.asarray(pd.to_datetime(pd.Series(values)), dtype="datetime64[ns]")


def timepoint_course(
    eng: _Engine, fd: FormData, base: np.ndarray, *, timepoint: str, date: str, prefix: str, course_form: str,
    number: str, start: str,
) -> np.ndarray:
    """Rows whose ``timepoint`` code is ``prefix`` + K belong to the course numbered K.

    For each row with a ``date`` and such a time point, where the patient's courses are the rows of
    ``course_form`` (numbered by ``number``, first row of each number):

    * ``assessment.course`` (error, on ``timepoint``): the patient has rows in ``course_form`` but none
      numbered K;
    * else ``chronology.course_before_assessment`` (error, on ``date``): ``date`` is before course K's
      ``start``;
    * else ``chronology.assessment_after_next_course`` (warning, on ``date``): ``date`` is after course
      K+1's ``start``.
    """
    n = len(fd.frame)
    m1 = np.zeros(n, dtype=bool)
    m2 = np.zeros(n, dtype=bool)
    m3 = np.zeros(n, dtype=bool)
    when = eng._raw_column(fd, date)
    tp = eng._raw_column(fd, timepoint)
    # K of each distinct time point code (a handful of codes however many rows): -1 when not prefix + digits
    codes, uniq = pd.factorize(tp.vals, use_na_sentinel=True)
    k_of = np.array([_course_number(u, prefix) for u in uniq] + [-1], dtype=np.int64)
    kk = k_of[codes]  # (code -1, a missing time point, indexes the trailing -1)
    good = base & when.ok & (kk >= 0)
    idx = np.flatnonzero(good)
    start_k = np.full(n, np.datetime64("NaT", "ns"))
    start_next = np.full(n, np.datetime64("NaT", "ns"))
    if len(idx):
        kv = kk[idx]
        if course_form in eng.forms:
            courses = eng.forms[course_form]
            has_courses = eng.row_has(fd, eng.patients_with(courses, courses.has_pid))[idx]
            num = eng._raw_column(courses, number)
            crows = np.flatnonzero(courses.has_pid & num.ok)
            mc = len(courses.pc)
            # (patient, course number) as one code, shared by the courses and the wanted (patient, K), (patient, K+1)
            keys = _combined_codes([
                np.concatenate([eng.pid_key(courses), fd.pc[idx].astype(np.float64), fd.pc[idx].astype(np.float64)]),
                np.concatenate([num.vals.astype(np.float64), kv.astype(np.float64), (kv + 1).astype(np.float64)]),
            ])
            at_k = _first_of(keys, crows, keys[mc:mc + len(idx)])  # the first row of each number, in file order
            at_next = _first_of(keys, crows, keys[mc + len(idx):])
            starts = np.append(_dates(eng._raw_column(courses, start).vals), np.datetime64("NaT", "ns"))
            sk = starts[at_k]  # (-1: the trailing NaT)
            sn = starts[at_next]
        else:
            has_courses = np.zeros(len(idx), dtype=bool)
            at_k = at_next = np.full(len(idx), -1, dtype=np.int64)
            sk = sn = np.full(len(idx), np.datetime64("NaT", "ns"))
        start_k[idx] = sk
        start_next[idx] = sn
        d = _dates(when.vals[idx])
        in_this = at_k >= 0
        a = has_courses & ~in_this
        b = ~a & in_this & ~np.isnat(sk) & (d < sk)
        c = ~a & ~b & (at_next >= 0) & ~np.isnat(sn) & (d > sn)
        m1[idx[a]] = True
        m2[idx[b]] = True
        m3[idx[c]] = True

    def kv_of(row: int) -> int:
        return int(kk[row])

    eng.emit(fd, m1, "error", "assessment.course", timepoint,
             "assessment after course {k}, but patient {patient} has no course {k}",
             values=lambda r, name: str(kv_of(r)) if name == "k" else None)
    eng.emit(fd, m2, "error", "chronology.course_before_assessment", date,
             "assessment after course {k} ({d}) is before course {k} starts ({s})",
             values=lambda r, name: {"k": str(kv_of(r)), "d": _text(when.at(r)), "s": _text(start_k[r])}.get(name))
    eng.emit(fd, m3, "warning", "chronology.assessment_after_next_course", date,
             f"assessment after course {{k}} ({{d}}) is after course {{k1}} starts ({{s}}); "
             f"check the time point ({prefix}{{k1}}?)",
             values=lambda r, name: {"k": str(kv_of(r)), "k1": str(kv_of(r) + 1), "d": _text(when.at(r)),
                                     "s": _text(start_next[r])}.get(name))
    return m1 | m2 | m3


#: Check functions by the name a dictionary gives in ``[[checks]] kind = "function"``.
CHECK_FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {"timepoint_course": timepoint_course}


def run_checks(d: DataDictionary, forms: dict[str, FormData], out: Collector, *, default_window: int = 60) -> None:
    """Run the cross-form checks on the forms read (``forms``: form name -> :class:`FormData`).

    ``default_window``: ``max_days`` of a ``within`` check that does not set it.
    """
    eng = _Engine(d, forms, out, default_window)
    eng.patient_references()
    eng.rows_per_patient()
    for c in d.checks:
        eng.run(c)
