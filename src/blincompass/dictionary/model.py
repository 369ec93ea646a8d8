"""Data-dictionary model: forms, variables, codes (read from the shipped TOML)."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from blincompass.dictionary.checks import CHECK_KINDS, Check, check_declarations, template_names

VariableType = Literal["string", "integer", "number", "date", "code", "boolean", "mrd", "ctcae_term"]

#: Codes of the ``mrd`` type besides a numeric level.
MRD_CODES: dict[str, str] = {
    "NEG": "Negative",
    "PNQ": "Positive, not quantifiable",
    "ND": "Not done",
}
MRD_ALIASES: dict[str, str] = {
    "neg": "NEG",
    "negative": "NEG",
    "negativo": "NEG",
    "pnq": "PNQ",
    "pos-nq": "PNQ",
    "pos nq": "PNQ",
    "positive not quantifiable": "PNQ",
    "positive, not quantifiable": "PNQ",
    "positive-not-quantifiable": "PNQ",
    "nd": "ND",
    "not done": "ND",
    "not performed": "ND",
}

#: Code used for "unknown" where a variable sets ``allow_unknown``.
UNKNOWN = "unknown"

#: Defaults of ``[meta]`` (a minimal dictionary leaves them out).
DEFAULT_MISSING_TOKENS: tuple[str, ...] = (
    "", "na", "n.a.", "n/a", "n.a", "nan", "-", "--", "missing", "not available", "unknown", "unk", "nk", "?",
)
DEFAULT_TRUE_TOKENS: tuple[str, ...] = ("yes", "y", "true", "1", "si", "sì", "t")
DEFAULT_FALSE_TOKENS: tuple[str, ...] = ("no", "n", "false", "0", "f")
#: Plausible calendar dates unless ``[meta]`` or a variable says otherwise: a date outside is reported
#: (rule ``range``), e.g. a serial number 45 that Excel would show as 1900-02-14.
DEFAULT_EARLIEST_DATE: dt.date = dt.date(1950, 1, 1)
DEFAULT_LATEST_DATE: dt.date = dt.date(2100, 12, 31)

RowsPerPatient = Literal["one", "at_most_one", "at_least_one", "any"]
ROWS_PER_PATIENT: tuple[str, ...] = ("one", "at_most_one", "at_least_one", "any")


class Code(BaseModel):
    """One allowed value of a coded variable."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str
    label: str
    aliases: tuple[str, ...] = ()


class Condition(BaseModel):
    """A condition on another field of the same row (used by ``required_if``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    field: str
    in_: tuple[Any, ...] | None = Field(default=None, alias="in")
    present: bool | None = None

    def describe(self) -> str:
        if self.present is not None:
            return f"{self.field} is {'given' if self.present else 'missing'}"
        values = ", ".join(str(v) for v in (self.in_ or ()))
        return f"{self.field} is one of: {values}"


class Variable(BaseModel):
    """One variable (column) of a form."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    label: str
    type: VariableType
    required: bool = False
    required_if: Condition | None = None
    allow_unknown: bool = False
    unit: str | None = None
    codes: tuple[Code, ...] = ()
    min: float | None = None
    max: float | None = None
    earliest: dt.date | None = None
    latest: dt.date | None = None
    pattern: str | None = None
    references: str | None = None
    paper: str = ""
    note: str | None = None

    @model_validator(mode="after")
    def _codes_only_for_code(self) -> Variable:
        if self.type == "code" and not self.codes:
            raise ValueError(f"variable {self.name}: type 'code' needs codes")
        if self.type != "code" and self.codes:
            raise ValueError(f"variable {self.name}: codes given for type {self.type!r}")
        if self.type != "date" and (self.earliest is not None or self.latest is not None):
            raise ValueError(f"variable {self.name}: earliest / latest are limits of a date variable, "
                             f"not of type {self.type!r} (use min / max)")
        if self.type == "date" and (self.min is not None or self.max is not None):
            raise ValueError(f"variable {self.name}: a date variable takes earliest / latest "
                             "(dates such as 2000-01-01), not min / max")
        if self.earliest is not None and self.latest is not None and self.latest < self.earliest:
            raise ValueError(f"variable {self.name}: latest {self.latest} is before earliest {self.earliest}")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"variable {self.name}: pattern {self.pattern!r} is not a regular "
                                 f"expression ({exc})") from None
        return self

    @cached_property
    def code_values(self) -> tuple[str, ...]:
        """The allowed codes, including ``unknown`` when ``allow_unknown`` is set."""
        codes = tuple(c.code for c in self.codes)
        if self.allow_unknown and UNKNOWN not in codes:
            codes += (UNKNOWN,)
        return codes

    def code_label(self, code: str) -> str:
        for c in self.codes:
            if c.code == code:
                return c.label
        if code == UNKNOWN:
            return "Unknown"
        raise KeyError(f"{self.name}: no code {code!r}")

    @cached_property
    def code_lookup(self) -> dict[str, str]:
        """Case-insensitive map from code, label or alias to the code."""
        out: dict[str, str] = {}
        for c in self.codes:
            for spelling in (c.code, c.label, *c.aliases):
                out[spelling.strip().casefold()] = c.code
        if self.allow_unknown:
            out.setdefault(UNKNOWN, UNKNOWN)
        return out


class Form(BaseModel):
    """A collection form: one workbook sheet or CSV file.

    ``rows_per_patient``: how many rows a patient has (``one``, ``at_most_one``, ``at_least_one``, ``any``);
    default ``one`` for the patient form, ``at_most_one`` for a form keyed by the patient id alone and
    ``any`` otherwise (:meth:`DataDictionary.rows_per_patient`). ``rows_message`` replaces the message of
    the finding for a patient without a required row (placeholders ``{patient}``, ``{form}``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    label: str
    description: str = ""
    key: tuple[str, ...]
    variables: tuple[Variable, ...]
    rows_per_patient: RowsPerPatient | None = None
    rows_message: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Form:
        names = [v.name for v in self.variables]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"form {self.name}: duplicate variables {sorted(dup)}")
        missing = [k for k in self.key if k not in names]
        if missing:
            raise ValueError(f"form {self.name}: key variables {missing} are not defined; "
                             f"variables: {', '.join(names)}")
        for v in self.variables:
            if v.required_if is not None and v.required_if.field not in names:
                raise ValueError(f"form {self.name}: {v.name}.required_if names unknown field "
                                 f"{v.required_if.field!r}; variables: {', '.join(names)}")
        return self

    @property
    def columns(self) -> list[str]:
        return [v.name for v in self.variables]

    def variable(self, name: str) -> Variable:
        for v in self.variables:
            if v.name == name:
                return v
        raise KeyError(f"form {self.name} has no variable {name!r}")


class Meta(BaseModel):
    """``[meta]``: the study's name and version, the spellings of missing / yes / no, which form holds one
    row per patient and which of its variables are the patient identifier and the centre, and the window
    of plausible dates."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    version: str = "1.0"
    missing_tokens: tuple[str, ...] = DEFAULT_MISSING_TOKENS
    true_tokens: tuple[str, ...] = DEFAULT_TRUE_TOKENS
    false_tokens: tuple[str, ...] = DEFAULT_FALSE_TOKENS
    patient_form: str = "patients"
    patient_id: str = "patient_id"
    centre: str = "centre"
    earliest_date: dt.date = DEFAULT_EARLIEST_DATE
    latest_date: dt.date = DEFAULT_LATEST_DATE

    @model_validator(mode="after")
    def _check(self) -> Meta:
        if self.latest_date < self.earliest_date:
            raise ValueError(f"meta: latest_date {self.latest_date} is before earliest_date {self.earliest_date}")
        both = {t.casefold() for t in self.true_tokens} & {t.casefold() for t in self.false_tokens}
        if both:
            raise ValueError(f"meta: {sorted(both)} are both true_tokens and false_tokens")
        return self


class DataDictionary(BaseModel):
    """The whole data dictionary: ``[meta]``, ``[[forms]]`` and the cross-form ``[[checks]]``.

    The patient form, identifier and centre: :attr:`patient_form`, :attr:`patient_id`, :attr:`centre`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    meta: Meta
    forms: tuple[Form, ...]
    checks: tuple[Check, ...] = ()

    @model_validator(mode="after")
    def _check_refs(self) -> DataDictionary:
        names = [f.name for f in self.forms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"forms: {', '.join(dup)} defined more than once")
        if self.meta.patient_form not in names:
            raise ValueError(f"meta.patient_form = {self.meta.patient_form!r} is not a form; forms: "
                             f"{', '.join(names)}")
        pf = self.form(self.meta.patient_form)
        if self.meta.patient_id not in pf.columns:
            raise ValueError(f"meta.patient_id = {self.meta.patient_id!r} is not a variable of the patient form "
                             f"{pf.name!r}; variables: {', '.join(pf.columns)}")
        if pf.key != (self.meta.patient_id,):
            raise ValueError(f"form {pf.name!r} (the patient form): key must be [{self.meta.patient_id!r}], "
                             f"not {list(pf.key)}")
        if pf.rows_per_patient not in (None, "one"):
            raise ValueError(f"form {pf.name!r} (the patient form): rows_per_patient is 'one' by definition, "
                             f"not {pf.rows_per_patient!r}")
        if ("centre" in self.meta.model_fields_set and self.meta.centre
                and self.meta.centre not in pf.columns):
            raise ValueError(f"meta.centre = {self.meta.centre!r} is not a variable of the patient form "
                             f"{pf.name!r}; variables: {', '.join(pf.columns)} (set centre = \"\" for a "
                             "single-centre study)")
        for f in self.forms:
            for v in f.variables:
                if v.references:
                    form, _, var = v.references.partition(".")
                    if form not in names or var not in self.form(form).columns:
                        raise ValueError(f"{f.name}.{v.name}: reference {v.references!r} does not exist")
            if f.rows_message is not None:
                _check_template(f"form {f.name}: rows_message", f.rows_message, {"patient", "form"})
        check_declarations(self)
        return self

    def form(self, name: str) -> Form:
        for f in self.forms:
            if f.name == name:
                return f
        raise KeyError(f"no form {name!r}")

    def has_form(self, name: str) -> bool:
        return any(f.name == name for f in self.forms)

    @property
    def form_names(self) -> list[str]:
        return [f.name for f in self.forms]

    @property
    def patient_form(self) -> Form:
        """The form with one row per patient (``meta.patient_form``)."""
        return self.form(self.meta.patient_form)

    @property
    def patient_id(self) -> str:
        """The patient identifier's variable name (``meta.patient_id``), in every form that has it."""
        return self.meta.patient_id

    @property
    def centre(self) -> str | None:
        """The centre's variable name in the patient form (``meta.centre``), or ``None`` for a single-centre
        study (``centre = ""``, or the default ``centre`` not defined in the patient form)."""
        c = self.meta.centre
        return c if c and c in self.patient_form.columns else None

    def rows_per_patient(self, name: str) -> str:
        """How many rows a patient has in form ``name`` (the form's ``rows_per_patient`` or its default)."""
        f = self.form(name)
        if f.rows_per_patient is not None:
            return f.rows_per_patient
        if f.name == self.meta.patient_form:
            return "one"
        if f.key == (self.meta.patient_id,):
            return "at_most_one"
        return "any"

    def is_patient_level(self, name: str) -> bool:
        """True for a form with at most one row per patient (values of the patient, not of a row)."""
        return self.rows_per_patient(name) in ("one", "at_most_one")


def _check_template(where: str, template: str, allowed: set[str]) -> None:
    bad = [n for n in template_names(template) if n not in allowed]
    if bad:
        raise ValueError(f"{where}: unknown placeholder {{{bad[0]}}} in {template!r}; available: "
                         f"{', '.join('{' + n + '}' for n in sorted(allowed))}")


class DictionaryError(ValueError):
    """A data dictionary that cannot be used; the message names the file, the key and the problem."""


def dictionary_problems(exc: ValidationError) -> str:
    """A pydantic validation error as one line per problem: ``key.path: message``."""
    out = []
    for e in exc.errors():
        loc = []
        for part in e["loc"]:
            if isinstance(part, int):
                loc.append(f"[{part}]")
            elif part in CHECK_KINDS and loc and loc[-1].startswith("["):
                continue  # the discriminator's tag: the kind, already given in the data
            else:
                loc.append(("." if loc else "") + str(part))
        msg = str(e["msg"]).removeprefix("Value error, ")
        value = e.get("input")
        shown = "" if isinstance(value, dict | list) or e["type"] == "missing" else f" (got {value!r})"
        out.append(f"{''.join(loc) or '(top)'}: {msg}{shown}")
    return "; ".join(out)


def load_dictionary(path: str | Path | None = None) -> DataDictionary:
    """Load a data dictionary from ``path`` (TOML), or the shipped BLIN-COMPASS one.

    Raises
    ------
    DictionaryError
        The file is not TOML or does not follow the model; the message names the file, the key and the
        problem (with the allowed values or available names).
    """
    if path is None:
        label = "built-in BLIN-COMPASS data dictionary"
        text = resources.files("blincompass.dictionary").joinpath("data/blincompass.toml").read_text("utf-8")
    else:
        label = str(path)
        text = Path(path).read_text(encoding="utf-8")
    try:
        return DataDictionary.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise DictionaryError(f"{label}: not valid TOML ({exc})") from None
    except ValidationError as exc:
        raise DictionaryError(f"{label}: {dictionary_problems(exc)}") from None
