"""REDCap exports -> raw forms.

Input: the records CSV (``Export Data``: raw codes or labels, with variable names or field labels as
headers) and the project's data dictionary CSV, plus an optional mapping TOML
(:mod:`blincompass.io.mapping`). Handled:

* radio / dropdown / yes-no / true-false codes translated to their choice labels (which the validator
  reads as our codes, labels or aliases), or through the mapping's ``values``;
* checkbox columns ``field___code`` (raw 0/1 or Checked/Unchecked): one option -> yes/no, or the whole
  field -> the one option ticked;
* repeating instruments (``redcap_repeat_instrument``, ``redcap_repeat_instance``), the non-repeating
  row of each record holding the non-repeating instruments;
* ``redcap_data_access_group`` -> centre (through ``[source.dags]``, else the group name);
* ``<instrument>_complete`` (an instrument instance with data that is not marked Complete gives a
  warning, an error with ``require_complete``); empty instrument instances are skipped;
* missing-data codes (UNK, NA, NASK, ...) in any field: a code meaning "unknown" becomes ``unknown``
  where the variable allows it, any other code an empty cell (the validator then judges requiredness).

Each raw row keeps the line number of the records CSV (header = 1), so findings point at the export.
Longitudinal projects (``redcap_event_name`` with several events) are not supported.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blincompass.dictionary import UNKNOWN, DataDictionary, Variable, load_dictionary
from blincompass.io.mapping import ConversionIssue, ConversionResult, FieldSpec, load_mapping
from blincompass.io.raw import InputReadError, RawDataset, RawTable, read_csv_table

__all__ = ["RedcapField", "read_redcap", "read_redcap_dictionary"]

_SPECIAL = {
    "record id": None,
    "repeat instrument": "redcap_repeat_instrument",
    "repeat instance": "redcap_repeat_instance",
    "data access group": "redcap_data_access_group",
    "event name": "redcap_event_name",
}
_CHECKED = {"1", "checked"}
_UNCHECKED = {"0", "unchecked", ""}
_COMPLETE = {"0": 0, "incomplete": 0, "1": 1, "unverified": 1, "2": 2, "complete": 2}


@dataclass(frozen=True)
class RedcapField:
    """One field of the REDCap data dictionary."""

    name: str
    form: str
    type: str
    label: str
    choices: dict[str, str]
    validation: str
    note: str = ""
    validation_min: str = ""
    validation_max: str = ""
    branching: str = ""
    required: bool = False
    annotation: str = ""

    def choice_label(self, value: str) -> str | None:
        """The label of a raw code, or the value itself when it is a label; ``None`` when neither."""
        if value in self.choices:
            return self.choices[value]
        folded = value.casefold()
        for label in self.choices.values():
            if label.casefold() == folded:
                return label
        return None


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_")


def _parse_choices(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split("|"):
        code, sep, label = part.partition(",")
        if sep:
            out[code.strip()] = label.strip()
    return out


def read_redcap_dictionary(path: str | Path) -> dict[str, RedcapField]:
    """Read a REDCap data dictionary CSV (``Variable / Field Name``, ``Form Name``, ``Field Type``, ...)."""
    p = Path(path)
    if not p.exists():
        raise InputReadError(f"REDCap data dictionary {p} does not exist")
    text = p.read_bytes().decode("utf-8-sig", errors="replace")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        raise InputReadError(f"{p.name} is empty; expected a REDCap data dictionary CSV")
    header = [h.strip().casefold() for h in rows[0]]

    def col(*names: str) -> int:
        for n in names:
            for i, h in enumerate(header):
                if h.startswith(n):
                    return i
        raise InputReadError(f"{p.name} is not a REDCap data dictionary: no column '{names[0]}'")

    i_name, i_form, i_type = col("variable / field name", "field_name"), col("form name", "form_name"), col(
        "field type", "field_type")
    i_label = col("field label", "field_label")
    i_choices = col("choices, calculations", "select_choices_or_calculations")
    def optional(*names: str) -> int:
        try:
            return col(*names)
        except InputReadError:
            return -1

    i_valid = optional("text validation type", "text_validation_type_or_show_slider_number")
    i_note = optional("field note", "field_note")
    i_min = optional("text validation min", "text_validation_min")
    i_max = optional("text validation max", "text_validation_max")
    i_branch = optional("branching logic", "branching_logic")
    i_required = optional("required field", "required_field")
    i_annotation = optional("field annotation", "field_annotation")
    fields: dict[str, RedcapField] = {}
    for r in rows[1:]:
        if not r or not r[i_name].strip():
            continue
        r = r + [""] * (len(header) - len(r))
        ftype = r[i_type].strip().casefold()
        choices = _parse_choices(r[i_choices]) if ftype in ("radio", "dropdown", "checkbox") else {}
        if ftype == "yesno":
            choices = {"1": "Yes", "0": "No"}
        elif ftype == "truefalse":
            choices = {"1": "True", "0": "False"}
        name = r[i_name].strip()

        def cell(i: int, row: list[str] = r) -> str:
            return row[i].strip() if i >= 0 else ""

        fields[name] = RedcapField(
            name, r[i_form].strip(), ftype, r[i_label].strip(), choices, cell(i_valid),
            note=cell(i_note), validation_min=cell(i_min), validation_max=cell(i_max), branching=cell(i_branch),
            required=cell(i_required).casefold() in ("y", "yes", "1"), annotation=cell(i_annotation),
        )
    if not fields:
        raise InputReadError(f"{p.name} has no fields; expected a REDCap data dictionary CSV")
    return fields


def _header_names(header: tuple[str, ...], fields: dict[str, RedcapField], record_id: str) -> list[str]:
    """Map each records-CSV header to a REDCap column name (raw names kept; labels translated)."""
    by_label: dict[str, str] = {}
    for f in fields.values():
        by_label.setdefault(" ".join(f.label.split()).casefold(), f.name)
        if f.type == "checkbox":
            for code, lab in f.choices.items():
                by_label.setdefault(f"{' '.join(f.label.split())} (choice={lab})".casefold(), f"{f.name}___{code}")
    known = set(fields) | {f"{f.form}_complete" for f in fields.values()}
    known |= {f"{f.name}___{_norm(c) if not c.isdigit() else c}" for f in fields.values() for c in f.choices
              if f.type == "checkbox"}
    out: list[str] = []
    last_form = ""
    for h in header:
        raw = h.strip()
        low = " ".join(raw.split()).casefold()
        if raw in known or raw.startswith("redcap_"):
            name = raw
        elif low in _SPECIAL:
            name = _SPECIAL[low] or record_id
        elif low == "complete?":
            name = f"{last_form}_complete"
        elif low in by_label:
            name = by_label[low]
        else:
            name = raw
        base = name.split("___")[0]
        if base in fields:
            last_form = fields[base].form
        out.append(name)
    return out


def read_redcap(
    records: str | Path,
    redcap_dictionary: str | Path,
    mapping: str | Path | None = None,
    dictionary: DataDictionary | None = None,
    default_centre: str | None = None,
) -> ConversionResult:
    """Convert a REDCap records export into raw forms (see the module docstring)."""
    d = dictionary or load_dictionary()
    path = Path(records)
    fields = read_redcap_dictionary(redcap_dictionary)
    m = load_mapping(mapping, d)
    record_id = m.record_id or next(iter(fields))
    if record_id not in fields:
        raise InputReadError(f"{m.source}: record_id {record_id!r} is not a field of the REDCap data dictionary")
    instruments = {f.form for f in fields.values()}
    table, notes = read_csv_table(path, "redcap")
    names = _header_names(table.header, fields, record_id)
    index = {n: i for i, n in reversed(list(enumerate(names)))}
    if record_id not in index:
        raise InputReadError(f"{path.name}: no column for the record id '{record_id}' "
                             "(is this a REDCap records export of the project whose dictionary was given?)")
    issues: list[ConversionIssue] = [
        ConversionIssue(n.severity, n.source, None, None, None, None, n.rule, n.message) for n in notes
    ]
    if "redcap_event_name" in index:
        events = {cells[index["redcap_event_name"]] for _, cells in table.rows}
        if len(events) > 1:
            raise InputReadError(f"{path.name}: longitudinal project with events {sorted(map(str, events))}; "
                                 "export one event (or a non-longitudinal project)")

    # resolve every variable's spec and check the names it uses
    specs: dict[str, dict[str, FieldSpec]] = {}
    for form in d.forms:
        fm = m.forms[form.name]
        if fm.instrument not in instruments:
            raise InputReadError(
                f"{m.source}: instrument '{fm.instrument}' (for form {form.name}) is not in the REDCap data "
                f"dictionary; instruments: {', '.join(sorted(instruments))}"
            )
        resolved: dict[str, FieldSpec] = {}
        for v in form.variables:
            spec = fm.fields.get(v.name)
            if spec is None:
                if v.name == "patient_id":
                    spec = FieldSpec(record=True)
                elif v.name in fields:
                    spec = FieldSpec(field=v.name)
                elif v.name == "centre" and "redcap_data_access_group" in index:
                    spec = FieldSpec(dag=True)
                elif v.name == "centre" and default_centre:
                    spec = FieldSpec(constant=default_centre)
                else:
                    continue  # the validator reports the missing column
            for name in (spec.field, spec.checkbox):
                if name is not None and name not in fields:
                    raise InputReadError(f"{m.source}: forms.{form.name}.fields.{v.name} names REDCap field "
                                         f"'{name}', which is not in the REDCap data dictionary")
            if spec.field and spec.field not in index:
                issues.append(ConversionIssue(
                    "warning", path.name, 1, None, v.name, spec.field, "redcap.column_missing",
                    f"REDCap field '{spec.field}' (for {form.name}.{v.name}) is not a column of the records export",
                ))
                continue
            if spec.dag and "redcap_data_access_group" not in index:
                if default_centre is None:
                    raise InputReadError(f"{path.name}: no redcap_data_access_group column for the centre; "
                                         "export with data access groups or give --centre")
                spec = FieldSpec(constant=default_centre)
            resolved[v.name] = spec
        specs[form.name] = resolved

    repeating = {str(cells[index["redcap_repeat_instrument"]] or "").strip()
                 for _, cells in table.rows} - {""} if "redcap_repeat_instrument" in index else set()
    repeating_names = {_match_instrument(r, instruments) for r in repeating}

    out_rows: dict[str, list[tuple[int, tuple[Any, ...]]]] = {f.name: [] for f in d.forms}
    for line, cells in table.rows:
        def get(col: str, cells: tuple[Any, ...] = cells) -> str:
            i = index.get(col)
            value = None if i is None else cells[i]
            return "" if value is None else str(value).strip()

        rid = get(record_id)
        rep = get("redcap_repeat_instrument")
        instrument_of_row = _match_instrument(rep, instruments) if rep else None
        for form in d.forms:
            fm = m.forms[form.name]
            if instrument_of_row is None and fm.instrument in repeating_names:
                continue
            if instrument_of_row is not None and fm.instrument != instrument_of_row:
                continue
            values: list[Any] = []
            has_data = False
            for v in form.variables:
                spec = specs[form.name].get(v.name)
                if spec is None:
                    values.append(None)
                    continue
                value = _value(v, spec, get, fields, m, rid, path.name, line, issues)
                if value not in (None, "") and not (spec.record or spec.dag or spec.instance or spec.constant):
                    has_data = True
                values.append(value)
            status = get(f"{fm.instrument}_complete").casefold()
            if not has_data:
                continue  # an empty instrument instance
            level = _COMPLETE.get(status)
            if level is not None and level < 2:
                what = "Incomplete" if level == 0 else "Unverified"
                if m.require_complete or level == 0:
                    issues.append(ConversionIssue(
                        "error" if m.require_complete else "warning", path.name, line, rid or None,
                        f"{fm.instrument}_complete", status, "redcap.incomplete",
                        f"instrument '{fm.instrument}' is marked {what} in REDCap"
                        + ("; only Complete instruments are imported (require_complete)" if m.require_complete
                           else "; imported as it is"),
                    ))
            out_rows[form.name].append((line, tuple(values)))

    used = {s.field or s.checkbox for fs in specs.values() for s in fs.values()} - {None}
    for name, f in fields.items():
        if name not in used and name != record_id and f.type not in ("descriptive", "calc"):
            if f.form in {fm.instrument for fm in m.forms.values()}:
                issues.append(ConversionIssue("info", path.name, None, None, None, name, "redcap.unmapped_field",
                                              f"REDCap field '{name}' ({f.label}) is not mapped to a variable; "
                                              "ignored"))
    tables = {
        form.name: RawTable(form.name, f"{path.name}[{m.forms[form.name].instrument}]", tuple(form.columns),
                            tuple(out_rows[form.name]))
        for form in d.forms
    }
    return ConversionResult(RawDataset(str(path), tables, ()), tuple(issues))


def _match_instrument(value: str, instruments: set[str]) -> str:
    """An instrument name from the repeat-instrument column (a unique name, or its label in a label
    export: REDCap derives the unique name from the label)."""
    if value in instruments:
        return value
    n = _norm(value)
    for inst in instruments:
        if _norm(inst) == n:
            return inst
    return value


def _value(
    var: Variable,
    spec: FieldSpec,
    get: Any,
    fields: dict[str, Any],
    m: Any,
    rid: str,
    file: str,
    line: int,
    issues: list[ConversionIssue],
) -> Any:
    if spec.record:
        return rid
    if spec.instance:
        return get("redcap_repeat_instance") or None
    if spec.constant is not None:
        return spec.constant
    if spec.dag:
        dag = get("redcap_data_access_group")
        return m.dags.get(dag.casefold(), m.dags.get(_norm(dag), dag)) or None
    if spec.checkbox is not None:
        f = fields[spec.checkbox]
        if spec.code is not None:
            raw = get(f"{spec.checkbox}___{spec.code}").casefold()
            if raw in _missing_codes(m):
                return None
            if raw in _CHECKED:
                return "yes"
            if raw in _UNCHECKED:
                return "no" if raw else None
            return raw
        ticked = [c for c in f.choices if get(f"{spec.checkbox}___{c}").casefold() in _CHECKED]
        if len(ticked) > 1:
            labels = ", ".join(f.choices[c] for c in ticked)
            issues.append(ConversionIssue("error", file, line, rid or None, var.name, labels, "redcap.checkbox",
                                          f"checkbox '{spec.checkbox}': several options ticked ({labels}); "
                                          f"{var.name} takes one value"))
            return None
        if not ticked:
            return None
        return _translate(spec, ticked[0], f.choices[ticked[0]])
    assert spec.field is not None
    raw = get(spec.field)
    if raw == "":
        return None
    if raw in m.missing_codes:
        if raw in m.unknown_codes and _accepts_unknown(var):
            return UNKNOWN
        return None
    f = fields[spec.field]
    if f.choices:
        label = f.choice_label(raw)
        if label is None:
            return _translate(spec, raw, raw)
        code = next((c for c, lab in f.choices.items() if lab == label), raw)
        if var.type in ("integer", "number") and not spec.values:
            return code  # a numeric choice (e.g. a grade): the code is the number
        return _translate(spec, code, label)
    return _translate(spec, raw, raw)


def _missing_codes(m: Any) -> set[str]:
    return {c.casefold() for c in m.missing_codes}


def _translate(spec: FieldSpec, code: str, label: str) -> str:
    if spec.values:
        for key in (code.casefold(), label.casefold()):
            if key in spec.values:
                return spec.values[key]
    return label


def _accepts_unknown(var: Variable) -> bool:
    return var.allow_unknown or (var.type == "code" and UNKNOWN in var.code_values)
