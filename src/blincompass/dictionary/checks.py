"""Cross-form checks declared in a data dictionary (``[[checks]]``).

Each check looks at the rows of one form (``form``) of every patient and reports the rows where its rule
does not hold, under a stable rule identifier (``rule``) with a severity and a message template. The kinds:

``order``
    ``earlier`` on or before ``later`` (``strict = true``: strictly before).
``within``
    ``later`` at most ``max_days`` days after ``earlier``.
``numbering``
    ``field`` of the patient's rows numbered ``start``, ``start + 1``, ... without gaps.
``sequence``
    rows ordered by ``order_by``: each row's ``start`` after the previous row's ``start`` and ``end``.
``reference``
    ``field`` is one of the values of ``target`` (``form.variable``) of the same patient.
``requires``
    where ``when`` holds, ``then`` must hold.
``function``
    a documented check function (:data:`CHECK_FUNCTIONS`) for a rule that a declaration cannot express;
    every field it reads is an argument.

A side of ``order`` / ``within`` (:class:`Side`) is ``"form.variable"``: the checked row's own value when
``form`` is the checked form, else the patient's value in a one-row-per-patient form; or a table
``{ form, value, pick, order_by }`` (``pick`` = ``first`` / ``last`` by ``order_by``, or ``min`` / ``max``,
over the patient's rows of a repeating form) or ``{ form, value, match = { their_field = "our_field" } }``
(the patient's row whose fields equal the checked row's).

The check logic lives in :mod:`blincompass.validate.checks`; this module is the declaration's model, checked
against the dictionary's forms when the dictionary is loaded.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CheckSeverity = Literal["error", "warning", "info"]
RULE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

#: Check functions for rules that a declaration cannot express: name -> (required arguments, description).
#: Every argument names a form or a field (or a fixed text such as a code prefix).
CHECK_FUNCTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "timepoint_course": (
        ("timepoint", "date", "prefix", "course_form", "number", "start"),
        "A row whose `timepoint` code is `prefix` + K (e.g. `after_c2`) belongs to the course numbered K "
        "(`number` of `course_form`, same patient): `assessment.course` (error) when the patient has "
        "courses but none numbered K; `chronology.course_before_assessment` (error) when `date` is before "
        "course K's `start`; `chronology.assessment_after_next_course` (warning) when `date` is after course "
        "K+1's `start`.",
    ),
}


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


class Clause(BaseModel):
    """A condition: on a field (``field`` with ``in`` / ``not_in`` / ``present``), or that the patient has
    a row in a form (``has_row``, optionally ``where`` a field condition on that row holds).

    ``field`` is a variable of the checked form, or ``form.variable`` of a one-row-per-patient form.
    A missing value is never ``in`` a list and always ``not_in`` it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    field: str | None = None
    in_: tuple[Any, ...] | None = Field(default=None, alias="in")
    not_in: tuple[Any, ...] | None = None
    present: bool | None = None
    has_row: str | None = None
    where: Clause | None = None

    @model_validator(mode="after")
    def _shape(self) -> Clause:
        tests = [k for k, v in (("in", self.in_), ("not_in", self.not_in), ("present", self.present))
                 if v is not None]
        if (self.field is None) == (self.has_row is None):
            raise ValueError("a condition has either `field` (with in / not_in / present) or `has_row` "
                             "(a form name, optionally with `where`)")
        if self.field is not None:
            if len(tests) != 1:
                raise ValueError(f"condition on {self.field!r}: give exactly one of in, not_in, present "
                                 f"(got {', '.join(tests) or 'none'})")
            if self.where is not None:
                raise ValueError(f"condition on {self.field!r}: `where` goes with `has_row`")
        else:
            if tests:
                raise ValueError(f"condition has_row = {self.has_row!r}: put {', '.join(tests)} in `where`")
            if self.where is not None and self.where.has_row is not None:
                raise ValueError(f"condition has_row = {self.has_row!r}: `where` is a field condition")
        return self

    def describe(self) -> str:
        if self.has_row is not None:
            tail = f" where {self.where.describe()}" if self.where is not None else ""
            return f"a row in {self.has_row}{tail}"
        if self.present is not None:
            return f"{self.field} is {'given' if self.present else 'missing'}"
        if self.in_ is not None:
            return f"{self.field} is one of: {', '.join(_show(v) for v in self.in_)}"
        return f"{self.field} is not one of: {', '.join(_show(v) for v in self.not_in or ())}"


class Side(BaseModel):
    """One value compared by ``order`` / ``within`` (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    form: str
    value: str
    pick: Literal["first", "last", "min", "max"] | None = None
    order_by: str | None = None
    match: dict[str, str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if isinstance(data, str):
            form, dot, var = data.partition(".")
            if not dot or not form or not var:
                raise ValueError(f"{data!r} is not 'form.variable'")
            return {"form": form, "value": var}
        return data

    @model_validator(mode="after")
    def _shape(self) -> Side:
        if self.pick in ("first", "last") and self.order_by is None:
            raise ValueError(f"{self.form}.{self.value}: pick = {self.pick!r} needs order_by")
        if self.pick in ("min", "max", None) and self.order_by is not None:
            raise ValueError(f"{self.form}.{self.value}: order_by goes with pick = 'first' or 'last'")
        if self.pick is not None and self.match is not None:
            raise ValueError(f"{self.form}.{self.value}: give pick or match, not both")
        if self.match is not None and not self.match:
            raise ValueError(f"{self.form}.{self.value}: match needs at least one field")
        return self

    def describe(self) -> str:
        if self.pick in ("first", "last"):
            return f"{self.value} of the {self.pick} {self.form} row by {self.order_by}"
        if self.pick is not None:
            return f"{self.pick} {self.form}.{self.value}"
        if self.match is not None:
            return f"{self.form}.{self.value} of the matching row"
        return f"{self.form}.{self.value}"

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.form, self.value, self.pick, self.order_by, tuple(sorted((self.match or {}).items())))


def _rule_ok(rule: str) -> str:
    if not re.fullmatch(RULE_PATTERN, rule):
        raise ValueError(f"rule {rule!r} is not a rule identifier (lower case words joined by dots, "
                         "e.g. chronology.after_death)")
    return rule


class _Check(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str | None = None
    form: str
    severity: CheckSeverity = "error"
    where: Clause | None = None
    unless: tuple[str, ...] = ()
    message: str | None = None

    @field_validator("rule", check_fields=False)
    @classmethod
    def _rule_id(cls, v: str) -> str:
        return _rule_ok(v)

    @field_validator("unless", mode="before")
    @classmethod
    def _one_or_more(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v

    def placeholders(self, row_fields: list[str]) -> set[str]:
        """Names a message template of this check may use."""
        return {"patient", "form", *row_fields}

    def templates(self) -> dict[str, str | None]:
        return {"message": self.message}


class OrderCheck(_Check):
    kind: Literal["order"]
    rule: str
    earlier: Side
    later: Side
    strict: bool = False
    at: Literal["earlier", "later"] | None = None

    def placeholders(self, row_fields: list[str]) -> set[str]:
        return super().placeholders(row_fields) | {"earlier", "later", "earlier_name", "later_name"}


class WithinCheck(_Check):
    kind: Literal["within"]
    rule: str
    earlier: Side
    later: Side
    max_days: int | None = Field(default=None, ge=0)
    at: Literal["earlier", "later"] | None = None

    def placeholders(self, row_fields: list[str]) -> set[str]:
        return super().placeholders(row_fields) | {"earlier", "later", "earlier_name", "later_name", "days",
                                                   "max_days"}


class NumberingCheck(_Check):
    kind: Literal["numbering"]
    rule: str
    field: str
    start: int = 1

    def placeholders(self, row_fields: list[str]) -> set[str]:
        return super().placeholders(row_fields) | {"value", "missing", "start"}


class SequenceCheck(_Check):
    kind: Literal["sequence"]
    rule: str
    order_by: str
    start: str
    end: str | None = None
    message_end: str | None = None

    def placeholders(self, row_fields: list[str]) -> set[str]:
        return super().placeholders(row_fields) | {f"previous.{f}" for f in row_fields}

    def templates(self) -> dict[str, str | None]:
        return {"message": self.message, "message_end": self.message_end}


class ReferenceCheck(_Check):
    kind: Literal["reference"]
    rule: str = "reference"
    field: str
    target: str

    def placeholders(self, row_fields: list[str]) -> set[str]:
        return super().placeholders(row_fields) | {"value", "target"}


class RequiresCheck(_Check):
    kind: Literal["requires"]
    rule: str
    when: Clause | None = None
    then: Clause
    field: str | None = None


class FunctionCheck(_Check):
    kind: Literal["function"]
    function: str
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> FunctionCheck:
        if self.function not in CHECK_FUNCTIONS:
            raise ValueError(f"function {self.function!r} is not a check function; available: "
                             f"{', '.join(sorted(CHECK_FUNCTIONS))}")
        needed = CHECK_FUNCTIONS[self.function][0]
        missing = [a for a in needed if a not in self.args]
        extra = sorted(set(self.args) - set(needed))
        if missing or extra:
            raise ValueError(f"function {self.function!r} takes args {', '.join(needed)}"
                             + (f"; missing: {', '.join(missing)}" if missing else "")
                             + (f"; unknown: {', '.join(extra)}" if extra else ""))
        if self.message is not None:
            raise ValueError(f"function {self.function!r} writes its own messages; remove `message`")
        return self


Check = Annotated[
    OrderCheck | WithinCheck | NumberingCheck | SequenceCheck | ReferenceCheck | RequiresCheck | FunctionCheck,
    Field(discriminator="kind"),
]
CHECK_KINDS: tuple[str, ...] = ("order", "within", "numbering", "sequence", "reference", "requires", "function")


def template_names(template: str) -> list[str]:
    """The placeholders ``{name}`` of a message template."""
    return _PLACEHOLDER.findall(template)


def _names(items: Any) -> str:
    return ", ".join(sorted(items))


def check_declarations(d: Any) -> None:
    """Check every ``[[checks]]`` entry against the dictionary ``d`` (a DataDictionary): forms, fields,
    sides, conditions, ``unless`` and message placeholders. Raises ``ValueError`` naming the check, the key,
    the bad value and the available names."""
    forms = {f.name: f for f in d.forms}
    ids = [c.id for c in d.checks if c.id is not None]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"checks: id {dup[0]!r} is used more than once")
    form_of_id = {c.id: c.form for c in d.checks if c.id is not None}
    pid = d.meta.patient_id

    for n, c in enumerate(d.checks):
        _check_one(d, forms, form_of_id, pid, n, c)


def _check_one(d: Any, forms: dict[str, Any], form_of_id: dict[str, str], pid: str, n: int, c: Any) -> None:
    where = f"checks[{n}] ({c.kind}{', ' + c.rule if getattr(c, 'rule', None) else ''})"

    def fail(key: str, problem: str, where: str = where) -> None:
        raise ValueError(f"{where}.{key}: {problem}")

    if c.form not in forms:
        fail("form", f"{c.form!r} is not a form; forms: {_names(forms)}")
    own = forms[c.form]
    cols = own.columns
    if pid not in cols:
        fail("form", f"form {c.form!r} has no {pid!r} column, so its rows belong to no patient")

    def field_of(key: str, name: str, form: Any = own) -> None:
        if name not in form.columns:
            fail(key, f"{name!r} is not a variable of form {form.name!r}; variables: {', '.join(form.columns)}")

    def patient_value(key: str, text: str) -> None:
        f, dot, v = text.partition(".")
        if not dot:
            field_of(key, text)
            return
        if f not in forms:
            fail(key, f"{f!r} (in {text!r}) is not a form; forms: {_names(forms)}")
        field_of(key, v, forms[f])
        if f != c.form and not d.is_patient_level(f):
            fail(key, f"{text!r}: form {f!r} has several rows per patient; a condition can name a "
                      "variable of the checked form or of a one-row-per-patient form")

    def clause(key: str, cl: Clause | None) -> None:
        if cl is None:
            return
        if cl.has_row is not None:
            if cl.has_row not in forms:
                fail(f"{key}.has_row", f"{cl.has_row!r} is not a form; forms: {_names(forms)}")
            if pid not in forms[cl.has_row].columns:
                fail(f"{key}.has_row", f"form {cl.has_row!r} has no {pid!r} column")
            if cl.where is not None:
                field_of(f"{key}.where.field", cl.where.field or "", forms[cl.has_row])
                _codes(f"{key}.where", cl.where, forms[cl.has_row].variable(cl.where.field or ""))
            return
        patient_value(f"{key}.field", cl.field or "")
        f, dot, v = (cl.field or "").partition(".")
        var = forms[f].variable(v) if dot else own.variable(cl.field or "")
        _codes(key, cl, var)

    def _codes(key: str, cl: Clause, var: Any) -> None:
        values = cl.in_ if cl.in_ is not None else cl.not_in
        if values is None or var.type != "code":
            return
        allowed = set(var.code_values)
        bad = [x for x in values if x not in allowed]
        if bad:
            fail(key, f"{bad[0]!r} is not a code of {var.name}; codes: {', '.join(var.code_values)}")

    def side(key: str, s: Side) -> None:
        if s.form not in forms:
            fail(f"{key}.form", f"{s.form!r} is not a form; forms: {_names(forms)}")
        other = forms[s.form]
        field_of(f"{key}.value", s.value, other)
        if s.order_by is not None:
            field_of(f"{key}.order_by", s.order_by, other)
        if pid not in other.columns:
            fail(f"{key}.form", f"form {s.form!r} has no {pid!r} column")
        if s.match is not None:
            for theirs, ours in s.match.items():
                field_of(f"{key}.match", theirs, other)
                field_of(f"{key}.match", ours)
        elif s.pick is None and s.form != c.form and not d.is_patient_level(s.form):
            fail(key, f"{s.form}.{s.value}: form {s.form!r} has several rows per patient; give "
                      "pick = first / last / min / max, or match")

    def at_side(key: str, s: Side) -> None:
        if s.form != c.form or s.pick is not None or s.match is not None:
            fail("at", f"the {key} side ({s.describe()}) is not a value of the checked form {c.form!r}; "
                       "findings are reported at a field of the checked row")

    clause("where", c.where)
    for u in c.unless:
        if u not in form_of_id:
            fail("unless", f"{u!r} is not the id of a check; ids: {_names(form_of_id) or '(none)'}")
        if form_of_id[u] != c.form:
            fail("unless", f"check {u!r} checks form {form_of_id[u]!r}, not {c.form!r}")
    if isinstance(c, OrderCheck | WithinCheck):
        side("earlier", c.earlier)
        side("later", c.later)
        if c.at is not None:
            at_side(c.at, c.earlier if c.at == "earlier" else c.later)
        else:
            row_sides = [k for k, s in (("later", c.later), ("earlier", c.earlier))
                         if s.form == c.form and s.pick is None and s.match is None]
            if not row_sides:
                fail("at", f"neither side is a value of the checked form {c.form!r}")
    elif isinstance(c, NumberingCheck):
        field_of("field", c.field)
    elif isinstance(c, SequenceCheck):
        field_of("order_by", c.order_by)
        field_of("start", c.start)
        if c.end is not None:
            field_of("end", c.end)
        if c.message_end is not None and c.end is None:
            fail("message_end", "message_end goes with end")
    elif isinstance(c, ReferenceCheck):
        field_of("field", c.field)
        f, dot, v = c.target.partition(".")
        if not dot or f not in forms:
            fail("target", f"{c.target!r} is not 'form.variable' of a form; forms: {_names(forms)}")
        field_of("target", v, forms[f])
        if pid not in forms[f].columns:
            fail("target", f"form {f!r} has no {pid!r} column")
    elif isinstance(c, RequiresCheck):
        clause("when", c.when)
        clause("then", c.then)
        if c.field is not None:
            field_of("field", c.field)
    elif isinstance(c, FunctionCheck):
        a = c.args
        if c.function == "timepoint_course":
            if a["course_form"] not in forms:
                fail("args.course_form", f"{a['course_form']!r} is not a form; forms: {_names(forms)}")
            field_of("args.timepoint", a["timepoint"])
            field_of("args.date", a["date"])
            field_of("args.number", a["number"], forms[a["course_form"]])
            field_of("args.start", a["start"], forms[a["course_form"]])
            if not isinstance(a["prefix"], str) or not a["prefix"]:
                fail("args.prefix", f"{a['prefix']!r} is not a text")
    allowed = c.placeholders(cols)
    for key, template in c.templates().items():
        if template is None:
            continue
        bad = [x for x in template_names(template) if x not in allowed]
        if bad:
            fail(key, f"unknown placeholder {{{bad[0]}}} in {template!r}; available: "
                      f"{', '.join('{' + x + '}' for x in sorted(allowed))}")
