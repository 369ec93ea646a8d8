"""REDCap data dictionaries <-> blincompass data dictionaries.

``dictionary_from_redcap`` turns a REDCap project's data dictionary CSV into a blincompass data dictionary
(forms, variables, codes, required / required-if, ranges) and the mapping that imports that project's
records exports into it; ``redcap_rows`` / ``write_redcap_dictionary`` do the reverse, so a REDCap project
can be built from a study's dictionary without retyping.

How REDCap maps onto the dictionary
-----------------------------------
* Instruments become forms, in the project's order. The first instrument (the one holding the record id)
  is the one-row-per-patient form; every form is keyed by ``patient_id`` (the mapping names the REDCap
  record id field). A repeating instrument (REDCap keeps that setting outside the data dictionary, so it
  is named with ``repeating=``) gets a second key variable ``instance`` filled from
  ``redcap_repeat_instance``.
* ``centre``: when no field of that name exists, a required ``centre`` variable is added to the first form
  and filled from the record's data access group.
* Field types: ``text`` by its validation (``date_*`` -> date, ``datetime_*`` -> date with a warning,
  ``integer`` -> integer, ``number*`` -> number, anything else -> string); ``notes`` -> string;
  ``radio`` / ``dropdown`` -> code with REDCap's raw codes and labels; ``yesno`` / ``truefalse`` -> boolean;
  ``checkbox`` -> one boolean variable per option (``<field>_<code>``); ``slider`` -> integer 0-100;
  ``calc`` (computed by REDCap: declare it as a derived variable instead), ``descriptive``, ``file`` and
  ``sql`` fields are left out, each with a note.
* Numeric validation min / max become ``min`` / ``max``; date limits are reported (dates take the study's
  plausibility window instead).
* ``Required Field? = y`` becomes ``required``; with branching logic ("show the field only if ...") it
  becomes ``required_if`` where the logic is a condition on one field of the same form:
  ``[f] = 'a'`` (or several such terms joined by ``or``), ``[f] <> ''`` (given) or ``[f] = ''``
  (missing). Other branching logic is kept in the variable's note and reported.
* What REDCap cannot hold (our types ``mrd`` and ``ctcae_term``, patterns, aliases of codes, key
  membership; a form's ``rows_per_patient``; the dictionary's ``[[checks]]`` and date window, on the record
  id) travels in the field annotation as ``blincompass {json}`` and is read back, so dictionary -> REDCap ->
  dictionary keeps forms, variables, types, labels, codes, requiredness, ranges and cross-form checks. The
  first instrument is the dictionary's patient form (``meta.patient_form``).

Reference: REDCap data dictionary format (Project Setup > Data Dictionary; column names as in REDCap's
downloaded template).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blincompass.dictionary import DataDictionary, load_dictionary
from blincompass.io.mapping import ConversionIssue
from blincompass.io.raw import InputReadError
from blincompass.io.redcap import RedcapField, read_redcap_dictionary

__all__ = [
    "REDCAP_COLUMNS",
    "RedcapStudy",
    "dictionary_from_redcap",
    "redcap_rows",
    "write_redcap_dictionary",
]

#: The columns of a REDCap data dictionary CSV, in REDCap's order.
REDCAP_COLUMNS: tuple[str, ...] = (
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note", "Text Validation Type OR Show Slider Number",
    "Text Validation Min", "Text Validation Max", "Identifier?", "Branching Logic (Show field only if...)",
    "Required Field?", "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name",
    "Matrix Ranking?", "Field Annotation",
)

_MARK = "blincompass "
_NUMBER = re.compile(r"^number(_\d+dp)?(_comma_decimal)?$")
_TERM = re.compile(r"""^\s*\[([A-Za-z0-9_]+)\]\s*(=|<>|!=)\s*(['"])(.*?)\3\s*$""")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class RedcapStudy:
    """A data dictionary made from a REDCap project, the mapping for its records exports, and notes."""

    dictionary: dict[str, Any]
    mapping: dict[str, Any]
    issues: tuple[ConversionIssue, ...]

    def model(self) -> DataDictionary:
        """The dictionary as a checked :class:`DataDictionary` (raises ``ValueError`` when inconsistent)."""
        return DataDictionary.model_validate(self.dictionary)


def _annotation(f: RedcapField) -> dict[str, Any]:
    text = f.annotation
    i = text.find(_MARK)
    if i < 0:
        return {}
    try:
        value = json.loads(text[i + len(_MARK):].strip())
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _split_or(logic: str) -> list[str]:
    return [t for t in re.split(r"\s+or\s+", logic.strip(), flags=re.IGNORECASE) if t.strip()]


def _required_if(logic: str, form_vars: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """A ``required_if`` condition equal to the branching logic, or ``None`` when it has no such form."""
    if not logic.strip() or re.search(r"\band\b", logic, flags=re.IGNORECASE):
        return None
    terms = [_TERM.match(t) for t in _split_or(logic)]
    if not terms or any(m is None for m in terms):
        return None
    fields = {m.group(1) for m in terms if m}
    if len(fields) != 1:
        return None
    field = fields.pop()
    var = form_vars.get(field)
    if var is None:
        return None
    ops = [(m.group(2), m.group(4)) for m in terms if m]
    if len(ops) == 1 and ops[0][1] == "":
        return {"field": field, "present": ops[0][0] != "="}
    if any(op != "=" or value == "" for op, value in ops):
        return None
    values: list[Any] = [value for _, value in ops]
    if var["type"] == "boolean":
        values = [value == "1" for value in values]
    elif var["type"] == "code":
        known = {c["code"] for c in var["codes"]}
        if not set(values) <= known:
            return None
    elif var["type"] == "integer":
        try:
            values = [int(v) for v in values]
        except ValueError:
            return None
    else:
        return None
    return {"field": field, "in": values}


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


def dictionary_from_redcap(
    path: str | Path,
    *,
    name: str | None = None,
    version: str = "1.0",
    repeating: Sequence[str] = (),
    record_id: str | None = None,
) -> RedcapStudy:
    """Read a REDCap data dictionary CSV and return the blincompass dictionary, mapping and notes.

    Parameters
    ----------
    path : REDCap data dictionary CSV (as downloaded from Project Setup > Data Dictionary).
    name : study name written in the dictionary's ``[meta]`` (default: the file's stem).
    version : dictionary version.
    repeating : the repeating instruments of the project (REDCap keeps this outside the data dictionary).
    record_id : the record id field (default: the first field, as in REDCap).

    Raises
    ------
    InputReadError
        The file is not a REDCap data dictionary, or ``repeating`` / ``record_id`` name unknown things.
    """
    p = Path(path)
    fields = read_redcap_dictionary(p)
    file = p.name
    rid = record_id or next(iter(fields))
    if rid not in fields:
        raise InputReadError(f"{file}: record id field {rid!r} is not in the data dictionary")
    instruments: list[str] = []
    for f in fields.values():
        if f.form not in instruments:
            instruments.append(f.form)
    unknown = sorted(set(repeating) - set(instruments))
    if unknown:
        raise InputReadError(f"{file}: repeating instrument(s) {unknown} are not in the data dictionary; "
                             f"its instruments are: {', '.join(instruments)}")
    first = fields[rid].form
    if first in repeating:
        raise InputReadError(f"{file}: the record id's instrument {first!r} cannot be repeating")
    issues: list[ConversionIssue] = []

    def note(severity: str, field: str | None, value: str | None, rule: str, message: str) -> None:
        issues.append(ConversionIssue(severity, file, None, None, field, value, rule, message))

    base = load_dictionary().meta
    forms: dict[str, dict[str, Any]] = {}
    for inst in [first, *[i for i in instruments if i != first]]:
        key = ["patient_id"]
        pid: dict[str, Any] = {"name": "patient_id", "label": "Patient identifier", "type": "string",
                               "required": True}
        if inst != first:
            pid["references"] = f"{first}.patient_id"
        forms[inst] = {"name": inst, "label": inst.replace("_", " ").capitalize(),
                       "description": f"REDCap instrument '{inst}'"
                       + (" (repeating)." if inst in repeating else " (one row per record)."),
                       "key": key, "variables": [pid]}
    mapping: dict[str, Any] = {"source": {"record_id": rid}, "forms": {}}

    def add(form: str, var: dict[str, Any], spec: Any = None) -> None:
        names = {v["name"] for v in forms[form]["variables"]}
        if var["name"] in names:
            raise InputReadError(f"{file}: form {form!r} would have two variables named {var['name']!r}; "
                                 "rename one of the REDCap fields")
        forms[form]["variables"].append({k: v for k, v in var.items() if v not in (None, "", [], ())})
        if spec is not None:
            mapping["forms"].setdefault(form, {}).setdefault("fields", {})[var["name"]] = spec

    pending_branching: list[tuple[str, dict[str, Any], RedcapField]] = []
    for inst in instruments:  # form label, description and key variable as written by ``redcap_rows``
        meta = next((_annotation(f).get("form") for f in fields.values() if f.form == inst
                     and _annotation(f).get("form")), None) or {}
        for k in ("label", "description", "rows_per_patient", "rows_message"):
            if meta.get(k):
                forms[inst][k] = meta[k]
        forms[inst]["variables"][0].update({k: meta["patient_id"][k] for k in ("label", "paper", "pattern")
                                            if k in meta.get("patient_id", {})})
    rid_extra = _annotation(fields[rid])
    forms[first]["variables"][0].update({"label": fields[rid].label or "Patient identifier",
                                         **{k: rid_extra[k] for k in ("pattern", "paper") if k in rid_extra}})
    for f in fields.values():
        if f.name == rid:
            continue
        extra = _annotation(f)
        var: dict[str, Any] = {"name": extra.get("name", f.name), "label": f.label or f.name}
        spec: Any = f.name if var["name"] != f.name else None
        v = f.validation.casefold()
        if f.type in ("descriptive", "calc", "file", "sql"):
            why = {"calc": "it is computed by REDCap; declare it as a derived variable of the protocol",
                   "descriptive": "it holds no data", "file": "file uploads are not data of the analysis",
                   "sql": "its choices come from another project"}[f.type]
            note("info" if f.type in ("descriptive", "calc") else "warning", f.name, f.type, "redcap.field_skipped",
                 f"field {f.name} ({f.type}) is left out: {why}")
            continue
        if f.type == "checkbox":
            for code, label in f.choices.items():
                add(f.form, {"name": f"{f.name}_{re.sub(r'[^a-z0-9_]', '_', code.casefold())}",
                             "label": f"{f.label}: {label}", "type": "boolean"},
                    {"checkbox": f.name, "code": code})
            continue
        if f.type in ("radio", "dropdown"):
            var["type"] = "code"
            aliases = extra.get("aliases", {})
            var["codes"] = [{"code": c, "label": lab, **({"aliases": aliases[c]} if c in aliases else {})}
                            for c, lab in f.choices.items()]
        elif f.type in ("yesno", "truefalse"):
            var["type"] = "boolean"
        elif f.type == "slider":
            var.update(type="integer", min=0, max=100)
        elif f.type == "notes":
            var["type"] = "string"
        elif f.type == "text":
            if v.startswith("date_"):
                var["type"] = "date"
            elif v.startswith("datetime"):
                var["type"] = "date"
                note("warning", f.name, v, "redcap.datetime", f"field {f.name} holds date and time ({v}); "
                     "it becomes a date (the time of day is not kept)")
            elif v == "integer":
                var["type"] = "integer"
            elif _NUMBER.match(v):
                var["type"] = "number"
            else:
                var["type"] = "string"
        else:
            note("warning", f.name, f.type, "redcap.field_type", f"field {f.name} has type {f.type!r}, which "
                 "blincompass does not know; it is read as text")
            var["type"] = "string"
        if extra.get("type") in ("mrd", "ctcae_term") and var["type"] == "string":
            var["type"] = extra["type"]
        if var["type"] in ("integer", "number"):
            for bound, text in (("min", f.validation_min), ("max", f.validation_max)):
                if text:
                    num = _number(text)
                    if num is None:
                        note("warning", f.name, text, "redcap.range", f"field {f.name}: {bound} {text!r} is not a "
                             "number; left out")
                    else:
                        var[bound] = int(num) if var["type"] == "integer" and num.is_integer() else num
        elif var["type"] == "date" and (f.validation_min or f.validation_max):
            note("info", f.name, f"{f.validation_min}..{f.validation_max}", "redcap.date_range",
                 f"field {f.name}: the date limits are not copied (dates are checked against the study's "
                 "plausibility window)")
        for k in ("pattern", "unit", "paper", "allow_unknown", "references", "min", "max"):
            if k in extra:
                var[k] = extra[k]
        var["note"] = f.note
        var["required"] = f.required
        if f.branching:
            pending_branching.append((f.form, var, f))
        if extra.get("key") and f.form in repeating:
            forms[f.form]["key"].append(var["name"])
            var["required"] = True
        add(f.form, var, spec)

    # required-if: the branching logic needs the form's variables (a condition may name a later field)
    for form, var, f in pending_branching:
        form_vars = {v["name"]: v for v in forms[form]["variables"]}
        cond = _required_if(f.branching, form_vars) if f.required else None
        if cond is not None:
            form_vars[var["name"]]["required_if"] = cond
            form_vars[var["name"]].pop("required", None)
        else:
            text = f"REDCap branching logic: {f.branching}"
            form_vars[var["name"]]["note"] = f"{var.get('note', '')}; {text}".lstrip("; ")
            note("info", f.name, f.branching, "redcap.branching",
                 f"field {f.name}: branching logic {f.branching!r} is kept as a note"
                 + ("" if f.required else " (the field is not required)")
                 + ("" if not f.required else "; it is not a condition on one field of the same form, so the "
                    "field is required whenever it is shown and blincompass checks it as optional"))
            if f.required:
                form_vars[var["name"]]["required"] = False

    for inst in repeating:
        if len(forms[inst]["key"]) == 1:
            add(inst, {"name": "instance", "label": "Instance (REDCap repeat instance)", "type": "integer",
                       "required": True, "min": 1}, {"instance": True})
            forms[inst]["key"].append("instance")
    names_first = {v["name"] for v in forms[first]["variables"]}
    if "centre" not in names_first:
        add(first, {"name": "centre", "label": "Centre (REDCap data access group)", "type": "string",
                    "required": True}, {"dag": True})
    for inst in instruments:
        if inst != first and inst not in repeating:
            note("info", None, inst, "redcap.form_one_row",
                 f"instrument {inst!r} is not repeating: one row per patient")
    dictionary = {
        "meta": {"name": name or p.stem, "version": version, "missing_tokens": list(base.missing_tokens),
                 "true_tokens": list(base.true_tokens), "false_tokens": list(base.false_tokens),
                 **rid_extra.get("meta", {}), "patient_form": first, "patient_id": "patient_id"},
        "forms": list(forms.values()),
    }
    if rid_extra.get("checks"):  # cross-form checks, carried in the record id's annotation
        dictionary["checks"] = rid_extra["checks"]
    try:
        DataDictionary.model_validate(dictionary)
    except ValueError as exc:
        raise InputReadError(f"{file}: the converted dictionary is not consistent: {exc}") from None
    return RedcapStudy(dictionary, mapping, tuple(issues))


def _choices(codes: Iterable[Any]) -> str:
    return " | ".join(f"{c.code}, {c.label}" for c in codes)


def _branching(cond: Any) -> str:
    if cond.present is not None:
        return f"[{cond.field}] {'<>' if cond.present else '='} ''"
    values = ["1" if v is True else "0" if v is False else str(v) for v in (cond.in_ or ())]
    return " or ".join(f"[{cond.field}] = '{v}'" for v in values)


def _fmt_bound(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def redcap_rows(dictionary: DataDictionary | None = None) -> list[dict[str, str]]:
    """The REDCap data dictionary rows of ``dictionary`` (default: the shipped one), one per field.

    The first form's ``patient_id`` is the record id; the ``patient_id`` of the other forms is REDCap's own
    record link and is not repeated. A variable whose name another form already uses is written as
    ``<form>_<name>`` (REDCap names are project-wide) with its own name in the annotation.
    """
    d = dictionary or load_dictionary()
    rows: list[dict[str, str]] = []
    used: set[str] = set()
    for i, form in enumerate(d.forms):
        for v in form.variables:
            if v.name == "patient_id" and i > 0:
                continue
            field = v.name if v.name not in used else f"{form.name}_{v.name}"
            if not _NAME.match(field):
                field = re.sub(r"[^a-z0-9_]", "_", field.casefold()).lstrip("_0123456789") or "field"
            used.add(field)
            extra: dict[str, Any] = {}
            if field != v.name:
                extra["name"] = v.name
            ftype, valid, choices = "text", "", ""
            if v.type == "code":
                ftype, choices = "dropdown", _choices(v.codes)
                aliases = {c.code: list(c.aliases) for c in v.codes if c.aliases}
                if aliases:
                    extra["aliases"] = aliases
            elif v.type == "boolean":
                ftype = "yesno"
            elif v.type == "date":
                valid = "date_ymd"
            elif v.type == "integer":
                valid = "integer"
            elif v.type == "number":
                valid = "number"
            elif v.type in ("mrd", "ctcae_term"):
                extra["type"] = v.type
            for k in ("pattern", "unit", "paper", "references"):
                if getattr(v, k):
                    extra[k] = getattr(v, k)
            if v.type not in ("integer", "number"):
                extra.update({k: getattr(v, k) for k in ("min", "max") if getattr(v, k) is not None})
            if not any(r["Form Name"] == form.name for r in rows):  # the form's first field carries the form
                pid = form.variable("patient_id") if "patient_id" in form.columns else None
                extra["form"] = {"label": form.label, "description": form.description}
                extra["form"].update({k: getattr(form, k) for k in ("rows_per_patient", "rows_message")
                                      if getattr(form, k) is not None})
                if pid is not None and i > 0:
                    extra["form"]["patient_id"] = {k: getattr(pid, k) for k in ("label", "paper", "pattern")
                                                   if getattr(pid, k)}
            if i == 0 and v.name == d.patient_id:  # the record id carries the study's checks and date window
                if d.checks:
                    extra["checks"] = [c.model_dump(mode="json", by_alias=True, exclude_defaults=True)
                                       for c in d.checks]
                window = {k: getattr(d.meta, k).isoformat() for k in ("earliest_date", "latest_date")
                          if k in d.meta.model_fields_set}
                if "centre" in d.meta.model_fields_set:
                    window["centre"] = d.meta.centre
                if window:
                    extra["meta"] = window
            if v.allow_unknown:
                extra["allow_unknown"] = True
            if len(form.key) > 1 and v.name in form.key and v.name != "patient_id":
                extra["key"] = True
            required = v.required or v.required_if is not None
            rows.append({
                "Variable / Field Name": field,
                "Form Name": form.name,
                "Section Header": "",
                "Field Type": ftype,
                "Field Label": v.label,
                "Choices, Calculations, OR Slider Labels": choices,
                "Field Note": v.note or "",
                "Text Validation Type OR Show Slider Number": valid,
                "Text Validation Min": _fmt_bound(v.min) if v.type in ("integer", "number") else "",
                "Text Validation Max": _fmt_bound(v.max) if v.type in ("integer", "number") else "",
                "Identifier?": "",
                "Branching Logic (Show field only if...)": _branching(v.required_if) if v.required_if else "",
                "Required Field?": "y" if required else "",
                "Custom Alignment": "",
                "Question Number (surveys only)": "",
                "Matrix Group Name": "",
                "Matrix Ranking?": "",
                "Field Annotation": f"{_MARK}{json.dumps(extra, ensure_ascii=False, sort_keys=True)}" if extra else "",
            })
    return rows


def redcap_csv_text(dictionary: DataDictionary | None = None) -> str:
    """The REDCap data dictionary CSV of ``dictionary`` as text (UTF-8, CRLF line ends, as REDCap writes)."""
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(REDCAP_COLUMNS), lineterminator="\r\n")
    w.writeheader()
    w.writerows(redcap_rows(dictionary))
    return buf.getvalue()


def write_redcap_dictionary(path: str | Path, dictionary: DataDictionary | None = None) -> Path:
    """Write the REDCap data dictionary CSV of ``dictionary`` to ``path`` and return the path."""
    p = Path(path)
    p.write_text(redcap_csv_text(dictionary), encoding="utf-8", newline="")
    return p


def repeating_forms(dictionary: DataDictionary | None = None) -> list[str]:
    """The forms with more than one row per patient (to be set as repeating instruments in REDCap)."""
    d = dictionary or load_dictionary()
    return [f.name for f in d.forms if len(f.key) > 1]
