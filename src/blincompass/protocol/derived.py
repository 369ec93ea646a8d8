"""Derived variables declared in a protocol (``[[derived]]``): the model, checked at load.

Each declaration makes one column of the patient-level analysis table (ADSL). The kinds::

    copy        from = "form.variable"          a variable of a one-row-per-patient form (``from`` may be
                                                omitted when the form variable has the derived name)
    date_diff   from, to (expressions giving dates), unit = days | months | years | completed_years
    first/last  form, value, where?, order_by?  value of the first / last row of a repeating form
    min/max/sum form, value, where?
    count       form, where?, value? (distinct non-missing values of ``value`` when given)
    any         form, where?                    whether a row exists (False without rows)
    expr        expr                            the value of an expression (docs/expressions.md)
    case        cases = [{ when, then | then_expr }], else | else_expr   first matching condition wins
    cut         variable, levels = [{ id, label, below / at_most / above / at_least }]
    label       variable                        the label of a code of ``variable`` (a cut or case
                                                variable, or a coded form variable)
    function    function, args                  a documented derivation function (blincompass.derive.functions)

Every kind takes ``when`` (the value is missing where this patient-level condition does not hold),
``keep`` (``false``: an intermediate variable, left out of the ADSL) and metadata: ``label``,
``xpt_name``, ``xpt_label``, ``codes`` (labels of the values, e.g. for Table 1).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from blincompass.expr import ExpressionError, compile_expression

__all__ = ["CaseRule", "CodeLabel", "DERIVED_KINDS", "Derived", "Interval", "expression_names"]

DERIVED_KINDS = ("copy", "date_diff", "first", "last", "min", "max", "sum", "count", "any", "expr", "case",
                 "cut", "label", "function")
_AGGREGATES = ("first", "last", "min", "max", "sum", "count", "any")
NAME = r"^[a-z][a-z0-9_]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _check_expr(text: str, where: str) -> frozenset[str]:
    try:
        return compile_expression(text).names
    except ExpressionError as exc:
        raise ValueError(f"{where}: {exc}") from None


def expression_names(text: str) -> frozenset[str]:
    """The column names an expression uses (it must be valid)."""
    return compile_expression(text).names


class Interval(_Frozen):
    """A labelled interval on a numeric variable (bounds: below / at_most / above / at_least): a level of a
    ``cut`` variable, a category of a continuous Table 1 row."""

    id: str
    label: str
    below: float | None = None
    at_most: float | None = None
    above: float | None = None
    at_least: float | None = None

    def contains(self, x: float) -> bool:
        return (
            (self.below is None or x < self.below)
            and (self.at_most is None or x <= self.at_most)
            and (self.above is None or x > self.above)
            and (self.at_least is None or x >= self.at_least)
        )


class CodeLabel(_Frozen):
    code: str | bool | int
    label: str


class CaseRule(_Frozen):
    """One branch of a ``case`` variable: where ``when`` holds, the value is ``then`` (a literal) or the value
    of ``then_expr``."""

    when: str
    then: Any = None
    then_expr: str | None = None

    @model_validator(mode="after")
    def _one(self) -> CaseRule:
        if self.then is not None and self.then_expr is not None:
            raise ValueError("a case gives then or then_expr, not both")
        return self


class Derived(_Frozen):
    """One derived variable (see the module docstring for the kinds and their keys)."""

    name: str = Field(pattern=NAME)
    label: str = ""
    kind: Literal["copy", "date_diff", "first", "last", "min", "max", "sum", "count", "any", "expr", "case",
                  "cut", "label", "function"]
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    unit: Literal["days", "months", "years", "completed_years"] | None = None
    form: str | None = None
    value: str | None = None
    where: str | None = None
    order_by: str | None = None
    expr: str | None = None
    cases: tuple[CaseRule, ...] = ()
    else_: Any = Field(default=None, alias="else")
    else_expr: str | None = None
    variable: str | None = None
    levels: tuple[Interval, ...] = ()
    function: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    when: str | None = None
    keep: bool = True
    xpt_name: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]{0,7}$")
    xpt_label: str | None = Field(default=None, max_length=40)
    codes: tuple[CodeLabel, ...] = ()
    type: Literal["boolean", "integer", "number", "date", "text"] | None = None

    @model_validator(mode="after")
    def _keys(self) -> Derived:  # noqa: C901 - one rule per kind
        k = self.kind
        need: dict[str, tuple[str, ...]] = {
            "copy": (), "date_diff": ("from_", "to", "unit"), "first": ("form", "value"),
            "last": ("form", "value"), "min": ("form", "value"), "max": ("form", "value"),
            "sum": ("form", "value"), "count": ("form",), "any": ("form",), "expr": ("expr",),
            "case": ("cases",), "cut": ("variable", "levels"), "label": ("variable",),
            "function": ("function",),
        }
        allowed: dict[str, tuple[str, ...]] = {
            "copy": ("from_",), "date_diff": ("from_", "to", "unit"),
            **{a: ("form", "value", "where", "order_by") for a in _AGGREGATES},
            "expr": ("expr",), "case": ("cases", "else_", "else_expr"), "cut": ("variable", "levels"),
            "label": ("variable",), "function": ("function", "args"),
        }
        keys = ("from_", "to", "unit", "form", "value", "where", "order_by", "expr", "cases", "else_",
                "else_expr", "variable", "levels", "function", "args")
        shown = {"from_": "from", "else_": "else"}
        missing = [shown.get(f, f) for f in need[k] if not getattr(self, f)]
        if missing:
            raise ValueError(f"derived {self.name} (kind {k}): needs {', '.join(missing)}")
        extra = [shown.get(f, f) for f in keys if f not in allowed[k] and getattr(self, f) not in (None, (), {})]
        if extra:
            raise ValueError(f"derived {self.name} (kind {k}): {', '.join(extra)} not used by this kind "
                             f"(it takes {', '.join(shown.get(f, f) for f in allowed[k]) or 'no further keys'})")
        if k == "copy" and self.from_ and not re.fullmatch(r"[a-z][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*", self.from_):
            raise ValueError(f"derived {self.name}: from = {self.from_!r} must be form.variable")
        if k in ("first", "last") and self.order_by is not None and not re.fullmatch(NAME, self.order_by):
            raise ValueError(f"derived {self.name}: order_by = {self.order_by!r} must be a column of {self.form}")
        if k == "case" and self.else_ is not None and self.else_expr is not None:
            raise ValueError(f"derived {self.name}: give else or else_expr, not both")
        for attr in ("from_", "to", "where", "expr", "else_expr", "when"):
            text = getattr(self, attr)
            if text is not None and not (k == "copy" and attr == "from_"):
                _check_expr(text, f"derived {self.name}.{shown.get(attr, attr)}")
        for i, c in enumerate(self.cases):
            _check_expr(c.when, f"derived {self.name}.cases[{i}].when")
            if c.then_expr is not None:
                _check_expr(c.then_expr, f"derived {self.name}.cases[{i}].then_expr")
        ids = [lv.id for lv in self.levels]
        if len(set(ids)) != len(ids):
            raise ValueError(f"derived {self.name}: duplicate level ids {ids}")
        return self

    @property
    def source(self) -> tuple[str, str] | None:
        """(form, variable) a ``copy`` takes its value from (``None`` for other kinds or before resolution)."""
        if self.kind != "copy" or not self.from_:
            return None
        form, _, var = self.from_.partition(".")
        return form, var

    def patient_names(self) -> frozenset[str]:
        """Names of patient-level variables this derivation reads (not the columns of a repeating form)."""
        names: set[str] = set()
        if self.kind == "date_diff":
            names |= expression_names(self.from_ or "") | expression_names(self.to or "")
        elif self.kind == "expr":
            names |= expression_names(self.expr or "")
        elif self.kind == "case":
            for c in self.cases:
                names |= expression_names(c.when)
                if c.then_expr:
                    names |= expression_names(c.then_expr)
            if self.else_expr:
                names |= expression_names(self.else_expr)
        elif self.kind in ("cut", "label"):
            names.add(self.variable or "")
        if self.when:
            names |= expression_names(self.when)
        return frozenset(names)

    def level_labels(self) -> list[tuple[Any, str]]:
        """(value, label) of every level this variable can take, in declaration order (cut levels, else
        ``codes``); empty when unknown."""
        if self.kind == "cut":
            return [(lv.id, lv.label) for lv in self.levels]
        return [(c.code, c.label) for c in self.codes]
