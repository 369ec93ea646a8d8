"""Data-dictionary model: forms, variables, codes (read from the shipped TOML)."""

from __future__ import annotations

import tomllib
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
        return self

    @property
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
    """A collection form: one workbook sheet or CSV file."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    label: str
    description: str
    key: tuple[str, ...]
    variables: tuple[Variable, ...]

    @model_validator(mode="after")
    def _check(self) -> Form:
        names = [v.name for v in self.variables]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"form {self.name}: duplicate variables {sorted(dup)}")
        missing = [k for k in self.key if k not in names]
        if missing:
            raise ValueError(f"form {self.name}: key variables {missing} are not defined")
        for v in self.variables:
            if v.required_if is not None and v.required_if.field not in names:
                raise ValueError(f"form {self.name}: {v.name}.required_if names unknown field")
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
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    version: str
    missing_tokens: tuple[str, ...]
    true_tokens: tuple[str, ...]
    false_tokens: tuple[str, ...]


class DataDictionary(BaseModel):
    """The whole data dictionary."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    meta: Meta
    forms: tuple[Form, ...]

    @model_validator(mode="after")
    def _check_refs(self) -> DataDictionary:
        names = {f.name for f in self.forms}
        for f in self.forms:
            for v in f.variables:
                if v.references:
                    form, _, var = v.references.partition(".")
                    if form not in names or var not in self.form(form).columns:
                        raise ValueError(f"{f.name}.{v.name}: reference {v.references!r} does not exist")
        return self

    def form(self, name: str) -> Form:
        for f in self.forms:
            if f.name == name:
                return f
        raise KeyError(f"no form {name!r}")

    @property
    def form_names(self) -> list[str]:
        return [f.name for f in self.forms]


def load_dictionary(path: str | Path | None = None) -> DataDictionary:
    """Load a data dictionary from ``path`` (TOML), or the shipped BLIN-COMPASS one."""
    if path is None:
        text = resources.files("blincompass.dictionary").joinpath("data/blincompass.toml").read_text("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return DataDictionary.model_validate(tomllib.loads(text))
