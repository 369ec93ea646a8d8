"""The patient-level variables of a study, computed from its ``[[derived]]`` declarations.

:func:`patient_variables` returns one row per patient of the patient form (in form order) holding every
variable of the one-row forms and every derived variable, computed in the order
:func:`blincompass.protocol.plan.resolve` fixes (a variable after those it uses). How each kind is
computed (``index`` the patients, ``F`` a repeating form, rows with a missing patient id ignored):

* ``copy``: the form variable, per patient.
* ``date_diff``: days from ``from`` to ``to``; ``months`` = days / ``time.days_per_month``, ``years`` = days
  / ``time.days_per_year``; ``completed_years`` counts anniversaries (an age: 21 until the day before the
  22nd birthday).
* ``first`` / ``last``: ``value`` at the first / last row of F (rows where ``where`` holds; ordered by
  ``order_by``, rows without it left out, ties in form order; otherwise in form order).
* ``min`` / ``max`` / ``sum``: over the non-missing ``value`` of the rows; ``count``: the rows (or the
  distinct non-missing ``value``), 0 without rows; ``any``: whether a row exists.
* ``expr`` / ``case``: the expression language (blincompass.expr) on the patient-level variables.
* ``cut``: the id of the level holding the value (missing outside every level; a value in two levels is
  an error); ``label``: the label of the value's level or code.
* ``function``: :mod:`blincompass.derive.functions`.

``when`` then sets the value to missing where its condition does not hold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from blincompass.derive import functions
from blincompass.dictionary import DataDictionary
from blincompass.expr import ExpressionError, compile_expression
from blincompass.protocol import Protocol, ProtocolError
from blincompass.protocol.derived import Derived
from blincompass.protocol.plan import Plan, resolve

__all__ = ["DerivationError", "completed_years", "derivation_text", "patient_variables"]


class DerivationError(ValueError):
    """A derivation that cannot be computed on these data (the message names the variable and the value)."""


def completed_years(start: pd.Series, end: pd.Series) -> pd.Series:
    """Age in completed years (birthday arithmetic, not days / 365.25): 21 until the day before the 22nd
    birthday. Missing dates give ``<NA>``."""
    s = pd.to_datetime(start)
    e = pd.to_datetime(end)
    years = e.dt.year - s.dt.year
    before_birthday = (e.dt.month < s.dt.month) | ((e.dt.month == s.dt.month) & (e.dt.day < s.dt.day))
    out = (years - before_birthday.astype("Int64")).astype("Int64")
    return out.where(s.notna() & e.notna())


def _dates(value: pd.Series, what: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(value.dtype):
        return value
    conv = pd.to_datetime(value, errors="coerce")
    bad = value.notna() & conv.isna()
    if bool(bad.any()):
        raise DerivationError(f"{what}: {value[bad].iloc[0]!r} is not a date")
    return conv


def _typed(values: pd.Series, type_: str | None) -> pd.Series:
    """Values in the dtype of their kind: yes/no -> nullable boolean; otherwise as computed."""
    if type_ == "boolean" or (type_ is None and values.dtype == bool):
        return values.astype("boolean")
    if type_ == "integer":
        return pd.to_numeric(values.astype(object), errors="raise").astype("Int64")
    if type_ == "number":
        return pd.to_numeric(values.astype(object), errors="raise").astype("float64")
    if type_ == "date":
        return _dates(values, "value")
    if type_ == "text":
        return values.astype(object).where(values.notna(), None)
    if values.dtype == object:
        present = values.dropna()
        if len(present) and pd.api.types.infer_dtype(present, skipna=True) == "boolean":
            return values.astype("boolean")
    return values


class _Computer:
    def __init__(self, dataset: Any, protocol: Protocol, plan: Plan, dictionary: DataDictionary) -> None:
        self.protocol = protocol
        self.dictionary = dictionary
        self.plan = plan
        self.forms: dict[str, pd.DataFrame] = dataset.forms
        pid = plan.patient_id
        patients = self.forms[plan.patient_form].drop(columns=["_row", "_file"], errors="ignore")
        self.index = pd.Index(patients[pid], name=pid)
        ns = patients.set_index(pid, drop=False)
        for name in plan.one_row_forms:
            if name == plan.patient_form:
                continue
            f = self.forms[name].drop(columns=["_row", "_file"], errors="ignore")
            f = f.dropna(subset=[pid]).drop_duplicates(pid).set_index(pid)
            for col in f.columns:
                if col != pid and col not in ns.columns:
                    ns[col] = f[col].reindex(self.index)
        self.raw = ns
        self.ns = ns.copy()

    def var(self, name: str) -> pd.Series:
        return self.ns[name]

    def rows(self, form: str) -> pd.DataFrame:
        pid = self.plan.patient_id
        return self.forms[form].dropna(subset=[pid])

    def _expr(self, d: Derived, text: str, frame: pd.DataFrame) -> pd.Series:
        try:
            return compile_expression(text).evaluate(frame, None)
        except ExpressionError as exc:
            raise DerivationError(f"derived {d.name}: {exc}") from None

    def _frame_for(self, d: Derived) -> pd.DataFrame:
        """The patient-level names as ``d`` sees them (its own name is the form variable it replaces)."""
        if d.name in self.raw.columns:
            frame = self.ns.copy(deep=False)
            frame[d.name] = self.raw[d.name]
            return frame
        return self.ns

    def _aggregate(self, d: Derived) -> pd.Series:
        pid = self.plan.patient_id
        rows = self.rows(d.form or "")
        if d.where:
            rows = rows[compile_expression(d.where).mask(rows)]
        k = d.kind
        if k in ("first", "last"):
            if d.order_by:
                rows = rows.dropna(subset=[d.order_by]).sort_values([pid, d.order_by], kind="stable")
            picked = rows.drop_duplicates(pid, keep=k).set_index(pid)
            return picked[d.value].reindex(self.index)
        if k == "count":
            if d.value:
                counts = rows.groupby(pid)[d.value].nunique()
            else:
                counts = rows.groupby(pid).size()
            return counts.reindex(self.index).fillna(0).astype("int64")
        if k == "any":
            present = pd.Series(True, index=pd.Index(rows[pid].unique()))
            return present.reindex(self.index, fill_value=False).astype("boolean")
        grouped = rows.groupby(pid)[d.value]
        if k == "sum":
            return grouped.sum(min_count=1).reindex(self.index)
        return (grouped.min() if k == "min" else grouped.max()).reindex(self.index)

    def compute(self, d: Derived) -> pd.Series:  # noqa: C901 - one branch per kind
        k = d.kind
        frame = self._frame_for(d)
        if k == "copy":
            form, var = self.plan.source[d.name]
            if form == self.plan.patient_form:
                out = self.raw[var]
            else:
                pid = self.plan.patient_id
                f = self.forms[form].dropna(subset=[pid]).drop_duplicates(pid).set_index(pid)
                out = f[var].reindex(self.index)
        elif k == "date_diff":
            a = _dates(self._expr(d, d.from_ or "", frame), f"derived {d.name}.from")
            b = _dates(self._expr(d, d.to or "", frame), f"derived {d.name}.to")
            if d.unit == "completed_years":
                out = completed_years(a, b)
            else:
                days = (b - a).dt.days
                t = self.protocol.time
                out = {"days": days.astype("Int64"), "months": days / t.days_per_month,
                       "years": days / t.days_per_year}[d.unit or "days"]
        elif k in ("first", "last", "min", "max", "sum", "count", "any"):
            out = self._aggregate(d)
        elif k == "expr":
            out = self._expr(d, d.expr or "", frame)
        elif k == "case":
            out = self._case(d, frame)
        elif k == "cut":
            out = self._cut(d, frame[d.variable or ""])
        elif k == "label":
            out = self._label(d, frame[d.variable or ""])
        else:
            out = functions.call(d.function or "", d.args, lambda n: frame[n], self.index, self.forms,
                                 self.plan.patient_id)
        out = pd.Series(out.to_numpy(), index=self.index, dtype=out.dtype, name=d.name) \
            if not out.index.equals(self.index) else out.rename(d.name)
        out = _typed(out, d.type)
        if d.when:
            keep = compile_expression(d.when).mask(frame).to_numpy()
            if out.dtype == np.int64:
                out = out.astype("Int64")  # room for the missing values
            out = out.where(keep)
        return out

    def _case(self, d: Derived, frame: pd.DataFrame) -> pd.Series:
        out = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        decided = pd.Series(False, index=frame.index)
        for rule in d.cases:
            hit = compile_expression(rule.when).mask(frame) & ~decided
            value = self._expr(d, rule.then_expr, frame) if rule.then_expr else rule.then
            out[hit] = value[hit] if isinstance(value, pd.Series) else value
            decided |= hit
        rest = ~decided
        if d.else_expr:
            value = self._expr(d, d.else_expr, frame)
            out[rest] = value[rest].astype(object)
        elif d.else_ is not None:
            out[rest] = d.else_
        return out

    def _cut(self, d: Derived, x: pd.Series) -> pd.Series:
        values = pd.to_numeric(x.astype(object), errors="coerce").to_numpy(dtype=float)
        out: list[str | None] = []
        for v in values:
            if np.isnan(v):
                out.append(None)
                continue
            hits = [lv.id for lv in d.levels if lv.contains(float(v))]
            if len(hits) > 1:
                raise DerivationError(f"derived {d.name}: value {v:g} of {d.variable} falls in several levels {hits}")
            out.append(hits[0] if hits else None)
        # no dtype given: pandas infers it as for any list of text (its string dtype from pandas 3 on)
        return pd.Series(out, index=x.index)

    def _label(self, d: Derived, x: pd.Series) -> pd.Series:
        name = d.variable or ""
        source = self.protocol.derivation(name)
        pairs: list[tuple[Any, str]] = self.protocol.levels(name) if source is not None else []
        if not pairs and name in self.plan.base:
            form, col = self.plan.base[name]
            var = self.dictionary.form(form).variable(col)
            pairs = [(c, var.code_label(c)) for c in var.code_values]
        labels = {str(c).lower() if isinstance(c, bool) else str(c): lab for c, lab in pairs}

        def one(v: Any) -> str | None:
            if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
                return None
            return labels.get(str(v).lower() if isinstance(v, (bool, np.bool_)) else str(v))

        return pd.Series([one(v) for v in x.astype(object)], index=x.index)


def patient_variables(dataset: Any, protocol: Protocol, dictionary: DataDictionary,
                      plan: Plan | None = None) -> tuple[pd.DataFrame, Plan]:
    """Every patient-level variable (form variables of the one-row forms, then the derived ones), indexed by
    patient id in the order of the patient form; and the resolved plan.

    Raises :class:`ProtocolError` when the protocol does not fit the dictionary, :class:`DerivationError`
    when a derivation cannot be computed on these data.
    """
    plan = plan or resolve(dictionary, protocol)
    c = _Computer(dataset, protocol, plan, dictionary)
    for d in plan.order:
        try:
            c.ns[d.name] = c.compute(d)
        except (DerivationError, ProtocolError):
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise DerivationError(
                f"derived {d.name} (kind {d.kind}): cannot be computed on these data ({exc})") from exc
    return c.ns, plan


def derivation_text(d: Derived, protocol: Protocol) -> str:
    """How a derived variable is computed, in one line (for the column-metadata table)."""
    k = d.kind
    if k == "copy":
        return f"copy of {d.from_ or d.name}"
    if k == "date_diff":
        per = {"months": f" / {protocol.time.days_per_month:g}", "years": f" / {protocol.time.days_per_year:g}"}
        if d.unit == "completed_years":
            return f"completed years from {d.from_} to {d.to}"
        return f"days from {d.from_} to {d.to}{per.get(d.unit or '', '')}"
    if k in ("first", "last", "min", "max", "sum", "count", "any"):
        what = {"count": f"number of rows{' (distinct ' + d.value + ')' if d.value else ''}", "any": "any row"}.get(
            k, f"{k} {d.value}")
        text = f"{what} of {d.form}"
        if d.where:
            text += f" where {d.where}"
        if d.order_by:
            text += f" (ordered by {d.order_by})"
    elif k == "expr":
        text = d.expr or ""
    elif k == "case":
        parts = [f"{c.when} -> {c.then_expr or repr(c.then)}" for c in d.cases]
        tail = d.else_expr or (repr(d.else_) if d.else_ is not None else "missing")
        text = "case: " + "; ".join(parts) + f"; else {tail}"
    elif k == "cut":
        text = f"levels of {d.variable}: " + ", ".join(lv.id for lv in d.levels)
    elif k == "label":
        text = f"label of {d.variable}"
    else:
        args = ", ".join(f"{a}={v!r}" for a, v in d.args.items())
        text = f"{d.function}({args})"
    return text + (f"; missing unless {d.when}" if d.when else "")
