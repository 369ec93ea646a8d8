"""Mapping files (TOML) from another system's names (REDCap fields and instruments, SPSS variables and
files) to the forms and variables of the data dictionary, and the conversion result shared by the
REDCap and SPSS readers.

A mapping file::

    [source]                         # optional, REDCap only
    record_id = "record_id"          # the REDCap record identifier -> patient_id of every form
    missing_codes = ["UNK", "NA", "NASK"]   # REDCap missing-data codes (default: REDCap's standard list)
    unknown_codes = ["UNK", "ASKU"]  # the codes that mean "unknown" (kept as unknown where allowed)
    require_complete = false         # true: an instrument not marked Complete is an error
    [source.dags]                    # REDCap data access group -> centre code (default: the group name)
    centre_1 = "C1"

    [forms.patients]
    instrument = "demographics"      # REDCap instrument, or SPSS file name (default: the form name)
    [forms.patients.fields]          # our variable = their field (default: the same name)
    birth_date = "dob"
    centre = { dag = true }                           # REDCap data access group
    prior_cart = { checkbox = "prior_tx", code = "1" } # one option of a checkbox field -> yes/no
    sex = { field = "gender", values = { "1" = "M", "2" = "F" } }   # explicit value translation
    [forms.courses.fields]
    course = { instance = true }                      # redcap_repeat_instance

Unmapped variables take the field of the same name when it exists.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

from blincompass.dictionary import DataDictionary
from blincompass.io.raw import InputReadError, RawDataset

__all__ = [
    "REDCAP_MISSING_CODES",
    "REDCAP_UNKNOWN_CODES",
    "ConversionIssue",
    "ConversionResult",
    "FieldSpec",
    "FormMapping",
    "Mapping",
    "load_mapping",
]

#: REDCap's standard missing-data codes (Project Setup > Additional customizations).
REDCAP_MISSING_CODES: tuple[str, ...] = (
    "NI", "INV", "UNK", "NASK", "ASKU", "NAV", "MSK", "NA", "NAVU", "NP", "QS", "QI", "TRC", "UNC", "DER",
    "PINF", "NINF", "OTH",
)
#: Missing-data codes that mean "unknown" (a variable that allows unknown keeps them as ``unknown``).
REDCAP_UNKNOWN_CODES: tuple[str, ...] = ("UNK", "ASKU", "NAV", "NAVU")


@dataclass(frozen=True)
class ConversionIssue:
    """Something the conversion noticed, located like a validation finding."""

    severity: str
    file: str
    row: int | None
    patient_id: str | None
    field: str | None
    value: str | None
    rule: str
    message: str


@dataclass(frozen=True)
class ConversionResult:
    """Raw forms converted from another format, and the conversion's issues."""

    raw: RawDataset
    issues: tuple[ConversionIssue, ...] = ()


@dataclass(frozen=True)
class FieldSpec:
    """Where one of our variables comes from."""

    field: str | None = None
    checkbox: str | None = None
    code: str | None = None
    dag: bool = False
    instance: bool = False
    record: bool = False
    constant: str | None = None
    values: dict[str, str] = dc_field(default_factory=dict)

    def describe(self) -> str:
        if self.checkbox:
            return f"{self.checkbox}___{self.code}" if self.code is not None else f"{self.checkbox} (checkbox)"
        if self.dag:
            return "redcap_data_access_group"
        if self.instance:
            return "redcap_repeat_instance"
        if self.record:
            return "record id"
        if self.constant is not None:
            return f"constant {self.constant!r}"
        return self.field or "?"


@dataclass(frozen=True)
class FormMapping:
    form: str
    instrument: str
    fields: dict[str, FieldSpec]


@dataclass(frozen=True)
class Mapping:
    source: str
    record_id: str | None
    missing_codes: tuple[str, ...]
    unknown_codes: tuple[str, ...]
    require_complete: bool
    dags: dict[str, str]
    forms: dict[str, FormMapping]


_SPEC_KEYS = {"field", "checkbox", "code", "dag", "instance", "record", "value", "values"}


def _spec(where: str, value: Any) -> FieldSpec:
    if isinstance(value, str):
        return FieldSpec(field=value)
    if not isinstance(value, dict):
        raise InputReadError(f"{where}: expected a field name or a table, got {value!r}")
    unknown = set(value) - _SPEC_KEYS
    if unknown:
        raise InputReadError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_SPEC_KEYS)}")
    values = {str(k).casefold(): str(v) for k, v in (value.get("values") or {}).items()}
    return FieldSpec(
        field=value.get("field"),
        checkbox=value.get("checkbox"),
        code=None if value.get("code") is None else str(value["code"]),
        dag=bool(value.get("dag", False)),
        instance=bool(value.get("instance", False)),
        record=bool(value.get("record", False)),
        constant=None if value.get("value") is None else str(value["value"]),
        values=values,
    )


def load_mapping(path: str | Path | None, dictionary: DataDictionary) -> Mapping:
    """Read a mapping file (``None``: the identity mapping: same form and variable names)."""
    data: dict[str, Any] = {}
    name = "(no mapping file)"
    if path is not None:
        p = Path(path)
        name = p.name
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputReadError(f"mapping file {p} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise InputReadError(f"mapping file {p.name} is not valid TOML: {exc}") from None
    src = data.get("source", {})
    forms: dict[str, FormMapping] = {}
    given = data.get("forms", {})
    unknown_forms = set(given) - set(dictionary.form_names)
    if unknown_forms:
        raise InputReadError(f"{name}: forms {sorted(unknown_forms)} are not in the data dictionary "
                             f"({', '.join(dictionary.form_names)})")
    for form in dictionary.forms:
        spec = given.get(form.name, {})
        fields_in = spec.get("fields", {})
        unknown = set(fields_in) - set(form.columns)
        if unknown:
            raise InputReadError(f"{name}: [forms.{form.name}.fields] names {sorted(unknown)}, which are not "
                                 f"variables of form {form.name}")
        fields = {v: _spec(f"{name}: forms.{form.name}.fields.{v}", s) for v, s in fields_in.items()}
        forms[form.name] = FormMapping(form.name, str(spec.get("instrument", form.name)), fields)
    return Mapping(
        source=name,
        record_id=src.get("record_id"),
        missing_codes=tuple(src.get("missing_codes", REDCAP_MISSING_CODES)),
        unknown_codes=tuple(src.get("unknown_codes", REDCAP_UNKNOWN_CODES)),
        require_complete=bool(src.get("require_complete", False)),
        dags={str(k).casefold(): str(v) for k, v in src.get("dags", {}).items()},
        forms=forms,
    )
