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
        self._values: dict[tuple[Any, ...], pd.Series] = {}
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

    def _column(self, fd: FormData, var: str) -> pd.Series:
        if fd.form.variable(var).type == "mrd":  # the status code, or the level when quantified
            level, status = fd.frame[var], fd.frame[f"{var}_status"]
            return status.where(status != "quantified", level.astype(object))
        return fd.frame[var]

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
                rows = np.flatnonzero(fd.has_pid & col.notna().to_numpy())
                keys = col.iloc[rows]
                if isinstance(keys.dtype, pd.Int64Dtype | pd.BooleanDtype):
                    keys = keys.astype("float64")
                rows = rows[np.argsort(keys.to_numpy(), kind="stable")]  # ties: file order
                if side.pick in ("last", "max"):  # the largest key; among equal keys the last row
                    rows = rows[::-1]
            self._per_patient[key] = self._positions(rows, fd.pc)
        return self._per_patient[key]

    def value(self, fd: FormData, side: Side) -> pd.Series:
        """``side`` for each row of ``fd`` (aligned with its frame)."""
        ck = (fd.form.name, side.key)
        if ck not in self._values:
            self._values[ck] = self._value(fd, side)
        return self._values[ck]

    def _value(self, fd: FormData, side: Side) -> pd.Series:
        n = len(fd.frame)
        if side.form not in self.forms:
            return pd.Series([None] * n, dtype=object)
        if side.form == fd.form.name and side.pick is None and side.match is None:
            return self._column(fd, side.value).reset_index(drop=True)
        other = self.forms[side.form]
        col = self._column(other, side.value)
        if side.match is not None:
            theirs = list(side.match)
            keys = [f"_k{i}" for i in range(len(theirs))]
            right = pd.DataFrame({"_pc": other.pc, **{k: other.frame[t] for k, t in zip(keys, theirs, strict=True)},
                                  "_pos": np.arange(len(other.pc))})
            right = right[other.has_pid & right[keys].notna().all(axis=1).to_numpy()]
            right = right.drop_duplicates(["_pc", *keys], keep="first")  # the first row in file order
            left = pd.DataFrame({"_pc": np.where(fd.has_pid, fd.pc, -2),
                                 **{k: fd.frame[side.match[t]] for k, t in zip(keys, theirs, strict=True)}})
            merged = left.merge(right, how="left", on=["_pc", *keys])
            pos = merged["_pos"].fillna(-1).to_numpy().astype(np.int64)
        else:
            pos = self._at_patient(fd, self.per_patient(side))
        return pd.Series(pd.api.extensions.take(col.array, pos, allow_fill=True))

    def _field_value(self, fd: FormData, name: str) -> pd.Series:
        form, dot, var = name.partition(".")
        if not dot:
            return self._column(fd, name).reset_index(drop=True)
        return self.value(fd, Side(form=form, value=var))

    def clause(self, fd: FormData, cl: Clause | None) -> np.ndarray | None:
        """Where ``cl`` holds for each row of ``fd``; ``None`` when it cannot be judged (its form unread)."""
        n = len(fd.frame)
        if cl is None:
            return np.ones(n, dtype=bool)
        if cl.has_row is not None:
            if cl.has_row not in self.forms:
                return None
            other = self.forms[cl.has_row]
            rows = other.has_pid.copy()
            if cl.where is not None:
                rows &= self.test(cl.where, self._column(other, cl.where.field or "").reset_index(drop=True))
            return self.row_has(fd, self.patients_with(other, rows))
        return self.test(cl, self._field_value(fd, cl.field or ""))

    @staticmethod
    def test(cl: Clause, col: pd.Series) -> np.ndarray:
        if cl.present is not None:
            given = col.notna().to_numpy()
            return given if cl.present else ~given
        values = list(cl.in_ if cl.in_ is not None else cl.not_in or ())
        hit = _bool(col.isin(values)) & col.notna().to_numpy()
        return hit if cl.in_ is not None else ~hit

    # ------------------------------------------------------------------ findings
    def emit(
        self, fd: FormData, rows: np.ndarray, severity: str, rule: str, fld: str, template: str,
        values: Callable[[int, str], str | None] | None = None, value: Callable[[int], Any] | None = None,
    ) -> None:
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
                extra = fd.has_pid & pd.Series(fd.pc).duplicated(keep="first").to_numpy()
                self.emit(fd, extra, "error", f"patient.{name}", self.pid_name,
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
        e, lt = self.value(fd, c.earlier), self.value(fd, c.later)
        both = e.notna().to_numpy() & lt.notna().to_numpy()
        viol = np.zeros(len(base), dtype=bool)
        idx = np.flatnonzero(base & both)
        if len(idx):
            ev, lv = e.iloc[idx], lt.iloc[idx]
            bad = _bool((lv <= ev) if c.strict else (lv < ev))
            viol[idx[bad]] = True
        at = self._at(c)
        side = c.earlier if at == "earlier" else c.later
        what = "is not after" if c.strict else "is before"
        template = c.message or f"{{later_name}} ({{later}}) {what} {{earlier_name}} ({{earlier}})"
        names = {"earlier_name": c.earlier.describe(), "later_name": c.later.describe()}
        self.emit(fd, viol, c.severity, c.rule, side.value, template,
                  values=lambda k, n: _text(e.iat[k]) if n == "earlier" else _text(lt.iat[k]) if n == "later"
                  else names.get(n),
                  value=lambda k: _python((e if at == "earlier" else lt).iat[k]))
        return viol

    def _within(self, c: WithinCheck, fd: FormData, base: np.ndarray) -> np.ndarray:
        e, lt = self.value(fd, c.earlier), self.value(fd, c.later)
        limit = self.default_window if c.max_days is None else c.max_days
        viol = np.zeros(len(base), dtype=bool)
        days = pd.Series(np.zeros(len(base), dtype=np.int64))
        idx = np.flatnonzero(base & e.notna().to_numpy() & lt.notna().to_numpy())
        if len(idx):
            diff = (pd.to_datetime(lt.iloc[idx]) - pd.to_datetime(e.iloc[idx])).dt.days.to_numpy()
            days.iloc[idx] = diff
            viol[idx[diff > limit]] = True
        at = self._at(c)
        side = c.earlier if at == "earlier" else c.later
        template = c.message or ("{later_name} ({later}) is {days} days after {earlier_name} ({earlier}); "
                                 "expected within {max_days} days")
        names = {"earlier_name": c.earlier.describe(), "later_name": c.later.describe(), "max_days": str(limit)}

        def values(k: int, n: str) -> str | None:
            if n == "earlier":
                return _text(e.iat[k])
            if n == "later":
                return _text(lt.iat[k])
            if n == "days":
                return str(int(days.iat[k]))
            return names.get(n)

        self.emit(fd, viol, c.severity, c.rule, side.value, template, values=values,
                  value=lambda k: _python((e if at == "earlier" else lt).iat[k]))
        return viol

    def _numbered(self, fd: FormData, base: np.ndarray, number: str) -> pd.DataFrame:
        """The first row (in file order) of each (patient, number), sorted by patient then number, with the
        previous row's position within the patient (``prev``, -1 for the first)."""
        col = fd.frame[number]
        rows = np.flatnonzero(base & col.notna().to_numpy())
        sub = pd.DataFrame({"pid": fd.pc[rows], "n": col.to_numpy()[rows], "pos": rows})
        sub = sub.drop_duplicates(["pid", "n"], keep="first").sort_values(["pid", "n"], kind="stable")
        same = sub["pid"].to_numpy()[1:] == sub["pid"].to_numpy()[:-1]
        prev = np.full(len(sub), -1, dtype=np.int64)
        prev[1:][same] = sub["pos"].to_numpy()[:-1][same]
        sub["prev"] = prev
        return sub

    def _numbering(self, c: NumberingCheck, fd: FormData, base: np.ndarray) -> np.ndarray:
        sub = self._numbered(fd, base, c.field)
        n = np.asarray(sub["n"].to_numpy(), dtype=np.int64)
        prev = sub["prev"].to_numpy()
        expected = np.full(len(sub), c.start, dtype=np.int64)
        has_prev = prev >= 0
        prev_n = np.empty(len(sub), dtype=np.int64)
        prev_n[1:] = n[:-1]
        expected[has_prev] = prev_n[has_prev] + 1
        viol = np.zeros(len(base), dtype=bool)
        bad = n != expected
        viol[sub["pos"].to_numpy()[bad]] = True
        exp_at = dict(zip(sub["pos"].to_numpy()[bad], expected[bad], strict=True))
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
        sub = self._numbered(fd, base, c.order_by)
        pos, prev = sub["pos"].to_numpy(), sub["prev"].to_numpy()
        ok = prev >= 0
        pos, prev = pos[ok], prev[ok]
        start = fd.frame[c.start]
        b = start.iloc[pos].reset_index(drop=True)
        a = start.iloc[prev].reset_index(drop=True)
        b_given = b.notna().to_numpy()
        first = b_given & a.notna().to_numpy() & _bool(b <= a)
        second = np.zeros(len(pos), dtype=bool)
        if c.end is not None:
            a_end = fd.frame[c.end].iloc[prev].reset_index(drop=True)
            second = b_given & ~first & a_end.notna().to_numpy() & _bool(b <= a_end)
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
        col = fd.frame[c.field]
        rows = base & col.notna().to_numpy()
        tcol = other.frame[tvar]
        trows = other.has_pid & tcol.notna().to_numpy()
        known = pd.MultiIndex.from_arrays([other.pc[trows], tcol.to_numpy()[trows]])
        idx = np.flatnonzero(rows)
        viol = np.zeros(len(base), dtype=bool)
        if len(idx):
            mine = pd.MultiIndex.from_arrays([fd.pc[idx], col.to_numpy()[idx]])
            viol[idx[~mine.isin(known)]] = True
        template = c.message or f"{c.field} {{value}} is not a {c.target} of patient {{patient}}"
        self.emit(fd, viol, c.severity, c.rule, c.field, template,
                  values=lambda k, n: _text(col.iat[k]) if n == "value" else c.target if n == "target" else None)
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
    tp = fd.frame[timepoint]
    when = fd.frame[date]
    k = pd.Series(tp.where(tp.map(lambda x: isinstance(x, str)), None), dtype=object)
    digits = k.str.removeprefix(prefix)
    good = base & when.notna().to_numpy() & _bool(k.str.startswith(prefix)) & _bool(digits.str.isdigit())
    kk = pd.to_numeric(digits.where(good), errors="coerce")
    if course_form in eng.forms:
        courses = eng.forms[course_form]
        has_courses = eng.row_has(fd, eng.patients_with(courses, courses.has_pid))
        crow = courses.has_pid & courses.frame[number].notna().to_numpy()
        table = pd.DataFrame({
            "pid": courses.pc[crow],
            "n": courses.frame[number].to_numpy()[crow].astype(np.int64),
            "start": courses.frame[start].to_numpy()[crow],
        }).drop_duplicates(["pid", "n"])  # the first row of each number, in file order
        index = pd.MultiIndex.from_arrays([table["pid"], table["n"]])
        starts = pd.Series(table["start"].to_numpy(), index=index)
    else:
        has_courses = np.zeros(n, dtype=bool)
        starts = pd.Series([], dtype="datetime64[ns]", index=pd.MultiIndex.from_arrays([[], []]))
    idx = np.flatnonzero(good)
    m1 = np.zeros(n, dtype=bool)
    m2 = np.zeros(n, dtype=bool)
    m3 = np.zeros(n, dtype=bool)
    start_k = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    start_next = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    if len(idx):
        kv = kk.to_numpy()[idx].astype(np.int64)
        this = pd.MultiIndex.from_arrays([fd.pc[idx], kv])
        nxt = pd.MultiIndex.from_arrays([fd.pc[idx], kv + 1])
        in_this = this.isin(starts.index)
        in_next = nxt.isin(starts.index)
        sk = starts.reindex(this).to_numpy() if len(starts) else np.full(len(idx), np.datetime64("NaT", "ns"))
        sn = starts.reindex(nxt).to_numpy() if len(starts) else np.full(len(idx), np.datetime64("NaT", "ns"))
        start_k.iloc[idx] = sk
        start_next.iloc[idx] = sn
        d = when.to_numpy()[idx]
        a = has_courses[idx] & ~in_this
        b = ~a & in_this & ~pd.isna(sk) & (d < sk)
        c = ~a & ~b & in_next & ~pd.isna(sn) & (d > sn)
        m1[idx[a]] = True
        m2[idx[b]] = True
        m3[idx[c]] = True

    def kv_of(row: int) -> int:
        return int(kk.iat[row])

    eng.emit(fd, m1, "error", "assessment.course", timepoint,
             "assessment after course {k}, but patient {patient} has no course {k}",
             values=lambda r, name: str(kv_of(r)) if name == "k" else None)
    eng.emit(fd, m2, "error", "chronology.course_before_assessment", date,
             "assessment after course {k} ({d}) is before course {k} starts ({s})",
             values=lambda r, name: {"k": str(kv_of(r)), "d": _text(when.iat[r]), "s": _text(start_k.iat[r])}.get(name))
    eng.emit(fd, m3, "warning", "chronology.assessment_after_next_course", date,
             f"assessment after course {{k}} ({{d}}) is after course {{k1}} starts ({{s}}); "
             f"check the time point ({prefix}{{k1}}?)",
             values=lambda r, name: {"k": str(kv_of(r)), "k1": str(kv_of(r) + 1), "d": _text(when.iat[r]),
                                     "s": _text(start_next.iat[r])}.get(name))
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
