"""Web forms generated from the data dictionary, and record saves through the registry's access layer.

Every form of the dictionary becomes an HTML form: coded variables as selects showing the labels, yes/no as
a select, dates as date inputs, numbers as text inputs with their unit and range beside them, MRD as a level
or one of its codes; ``required`` and ``required_if`` are shown beside the field. Nothing is checked in the
browser: a save sends the patient's records, with the record changed, through
:meth:`ScopedRegistry.import_raw` -- the validator of ``blincompass validate`` and the access layer's
centre checks, one transaction, every changed value audited -- and each finding is shown at its field.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from blincompass.dictionary import MRD_CODES, DataDictionary, Form, Variable
from blincompass.io.dataset import Dataset
from blincompass.io.raw import RawDataset, RawTable
from blincompass.registry.access import ImportRejected, PatientChanged, ScopedRegistry
from blincompass.registry.schema import format_value, frame_records
from blincompass.validate.findings import Finding, ValidationResult

__all__ = ["NEW_PATIENT_FORMS", "FieldSpec", "PatientCache", "SaveOutcome", "create_patient", "delete_record",
           "field_specs", "key_of", "patient_records", "save_record"]

#: Source label of the records sent by a web form (findings name it as their file).
SOURCE = "web form"
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _patient_lock(patient_id: str) -> threading.Lock:
    """One lock per patient: the saves of one server process for one patient queue here instead of
    refusing each other. Correctness does not rest on it: the save's transaction locks the patient in the
    database and refuses a save built on records that changed meanwhile (several server processes)."""
    with _locks_guard:
        return _locks.setdefault(patient_id.casefold(), threading.Lock())


@dataclass(frozen=True)
class FieldSpec:
    """How one variable is shown and entered."""

    name: str
    label: str
    widget: str  # select | date | text
    options: tuple[tuple[str, str], ...] = ()
    hint: str = ""
    required: bool = False
    required_if: str = ""
    is_key: bool = False


def field_specs(form: Form) -> list[FieldSpec]:
    """The fields of ``form`` in dictionary order."""
    out = []
    for v in form.variables:
        out.append(_spec(form, v))
    return out


def _range(v: Variable) -> str:
    parts = []
    if v.min is not None or v.max is not None:
        lo = "" if v.min is None else f"{v.min:g}"
        hi = "" if v.max is None else f"{v.max:g}"
        parts.append(f"range {lo}\u2013{hi}")
    if v.unit:
        parts.append(v.unit)
    return ", ".join(parts)


def _spec(form: Form, v: Variable) -> FieldSpec:
    req_if = v.required_if.describe() if v.required_if is not None else ""
    common = dict(name=v.name, label=v.label, required=v.required, required_if=req_if, is_key=v.name in form.key)
    if v.type == "code":
        opts = tuple((c.code, c.label) for c in v.codes)
        if v.allow_unknown and "unknown" not in {c for c, _ in opts}:
            opts += (("unknown", "Unknown"),)
        return FieldSpec(widget="select", options=opts, **common)
    if v.type == "boolean":
        return FieldSpec(widget="select", options=(("yes", "Yes"), ("no", "No")), **common)
    if v.type == "date" and not v.allow_unknown:
        return FieldSpec(widget="date", hint="date", **common)
    if v.type in ("integer", "number"):
        hint = ("whole number" if v.type == "integer" else "number")
        extra = _range(v)
        hint = f"{hint}, {extra}" if extra else hint
        if v.allow_unknown:
            hint += ", or unknown"
        return FieldSpec(widget="text", hint=hint, **common)
    if v.type == "mrd":
        codes = ", ".join(f"{c} ({label.lower()})" for c, label in MRD_CODES.items())
        return FieldSpec(widget="text", hint=f"level between 0 and 1 (e.g. 0.0012), or {codes}", **common)
    if v.type == "ctcae_term":
        return FieldSpec(widget="text", hint="CTCAE v4.03 term, or the term as reported", **common)
    hint = ""
    if v.pattern:
        hint = "letters, digits, '.', '_', '-' (at most 40)" if v.name == "patient_id" else ""
    return FieldSpec(widget="text", hint=hint, **common)


def _texts(form: Form, row: Any) -> tuple[str, ...]:
    return tuple(format_value(v, row) for v in form.variables)


class PatientCache:
    """Validated records of recently read patients, keyed by patient and version.

    The version is the patient's newest audit id (:meth:`ScopedRegistry.patient_version`, which also checks
    that the user may see the patient): every change of a patient's records is audited, so a cached result
    with the current version is the result a fresh read would give. A page view then costs a few indexed
    queries instead of a validation of the patient's records. The version is read before the records, so a
    change in between only makes the next read miss.
    """

    def __init__(self, size: int = 2048) -> None:
        # (patient, cut-off day) -> [version, result, the records as text per form (made on first use)]
        self._data: OrderedDict[tuple[str, dt.date | None], list[Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size

    def result(self, scoped: ScopedRegistry, patient_id: str, data_cutoff: dt.date | None = None) -> ValidationResult:
        """The patient's validated records (``PatientNotFound`` for a patient the user cannot see)."""
        return self.versioned(scoped, patient_id, data_cutoff)[1]

    def versioned(
        self, scoped: ScopedRegistry, patient_id: str, data_cutoff: dt.date | None = None,
    ) -> tuple[int, ValidationResult]:
        """The patient's version and validated records at that version."""
        version, result, _ = self._entry(scoped, patient_id, data_cutoff)
        return version, result

    def records(self, scoped: ScopedRegistry, patient_id: str) -> tuple[int, ValidationResult,
                                                                            dict[str, list[dict[str, str]]]]:
        """The patient's version, validated records and those records as template text per form (made once
        per version)."""
        entry = self._entry(scoped, patient_id, None)
        if entry[2] is None:
            entry[2] = _records(scoped.registry.dictionary, entry[1].dataset)
        return entry[0], entry[1], entry[2]

    def _entry(self, scoped: ScopedRegistry, patient_id: str, data_cutoff: dt.date | None) -> list[Any]:
        version = scoped.patient_version(patient_id)
        key = (patient_id, data_cutoff or dt.date.today())
        with self._lock:
            hit = self._data.get(key)
            if hit is not None and hit[0] == version:
                self._data.move_to_end(key)
                return hit
        result = scoped.read_result([patient_id], data_cutoff=data_cutoff)
        return self.put(patient_id, key[1], version, result)

    def put(self, patient_id: str, day: dt.date, version: int, result: ValidationResult,
            records: dict[str, list[dict[str, str]]] | None = None) -> list[Any]:
        """Keep ``result`` as the patient's records at ``version``, validated with the data cut-off ``day``
        (``records``: the same records as text, when known)."""
        entry = [version, result, records]
        with self._lock:
            self._data[(patient_id, day)] = entry
            self._data.move_to_end((patient_id, day))
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return entry


def patient_records(
    scoped: ScopedRegistry, patient_id: str, cache: PatientCache | None = None,
) -> dict[str, list[dict[str, str]]]:
    """Every record of a patient as template text, per form (raises ``PatientNotFound``)."""
    if cache is not None:
        return cache.records(scoped, patient_id)[2]
    return _records(scoped.registry.dictionary, scoped.read_dataset([patient_id]))


def _records(d: DataDictionary, ds: Dataset) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for form in d.forms:
        rows = frame_records(ds.forms[form.name])  # the values of iterrows, read at once
        out[form.name] = [dict(zip(form.columns, _texts(form, r), strict=True)) for r in rows]
    return out


def key_of(form: Form, values: Mapping[str, str]) -> dict[str, str]:
    return {k: str(values.get(k, "")) for k in form.key}


@dataclass
class SaveOutcome:
    """What a save did: ``ok``; the findings at the saved record's fields; the other findings."""

    ok: bool
    field_errors: dict[str, list[Finding]] = field(default_factory=dict)
    other: list[Finding] = field(default_factory=list)
    values_changed: int = 0


_TARGET_ROW = 10_000_000  # row number given to the record of a new patient, to find its findings


def _changed(patient_id: str) -> SaveOutcome:
    return SaveOutcome(False, other=[Finding(
        "error", SOURCE, None, patient_id, None, None, "patient.changed",
        f"the records of patient {patient_id} were changed by someone else after this form was opened; "
        "nothing was saved: open the form again to see the current values")])


def _as_read(scoped: ScopedRegistry, raw: RawDataset, result: ValidationResult,
             stored: dict[str, list[tuple[str, ...]]]) -> ValidationResult | None:
    """The validation of a saved patient's records as :meth:`ScopedRegistry.read_result` would give it after
    the save -- or ``None`` when it might differ.

    The save validated ``raw`` (the records as sent, rows numbered 2, 3, ... in the stored order, labelled
    ``web form[form]``). A read validates the stored texts, in the same order, labelled ``URL[form]``.
    When every stored text equals the text sent (nothing was normalised, e.g. ``YES`` -> ``yes``) the two
    validations see the same cells, so they differ only in the source label; it is replaced here.
    ``stored``: the stored text of every row (:attr:`ImportResult.stored`).
    """
    d = scoped.registry.dictionary
    url = scoped.registry.url
    labels: dict[str, str] = {}
    frames = {}
    for form in d.forms:
        frame = result.dataset.forms[form.name]
        table = raw.tables[form.name]
        if stored.get(form.name) != [cells for _, cells in table.rows]:
            return None
        labels[table.source] = f"{url}[{form.name}]"
        frame = frame.copy()
        frame["_file"] = pd.Series([labels[table.source]] * len(frame), index=frame.index, dtype=object)
        frames[form.name] = frame
    findings = []
    for f in result.findings:
        if f.file not in labels:
            return None
        findings.append(Finding(f.severity, labels[f.file], f.row, f.patient_id, f.field, f.value, f.rule,
                                f.message))
    # the sort order is kept: the labels keep their order (one prefix replaced by another)
    return ValidationResult(Dataset(frames, url, result.dataset.patient_form), findings)


def _save(scoped: ScopedRegistry, patient_id: str, form_name: str, original_key: Mapping[str, str] | None,
          values: Mapping[str, str] | None, cache: PatientCache | None, version: int | None) -> SaveOutcome:
    d: DataDictionary = scoped.registry.dictionary
    target = d.form(form_name)
    cache = cache if cache is not None else PatientCache(size=1)
    day = dt.date.today()
    base, _, records = cache.records(scoped, patient_id)  # PatientNotFound for a patient the user cannot see
    if version is not None and version != base:
        return _changed(patient_id)
    tables: dict[str, RawTable] = {}
    found = original_key is None
    target_row = None
    for form in d.forms:
        rows: list[tuple[int, tuple[str, ...]]] = []
        for rec in records[form.name]:
            if form.name == form_name and original_key is not None and key_of(form, rec) == dict(original_key):
                found = True
                if values is None:
                    continue  # deleted
                target_row = len(rows) + 2
                rows.append((target_row, tuple(str(values.get(c, "")) for c in form.columns)))
                continue
            rows.append((len(rows) + 2, tuple(rec[c] for c in form.columns)))
        if form.name == form_name and original_key is None and values is not None:
            target_row = len(rows) + 2
            rows.append((target_row, tuple(str(values.get(c, "")) for c in form.columns)))
        tables[form.name] = RawTable(form.name, f"{SOURCE}[{form.name}]", tuple(form.columns), tuple(rows))
    if not found:
        raise LookupError(f"{form_name}: no such record of patient {patient_id}")
    h = hashlib.sha256()
    for t in tables.values():
        for _, cells in t.rows:
            h.update("\x1f".join(cells).encode() + b"\n")
    raw = RawDataset(SOURCE, tables)
    try:
        result = scoped.import_raw(raw, file_name=f"{SOURCE}: {form_name} of {patient_id}", sha256=h.hexdigest(),
                                   fmt="web", log_import=False, expected_versions={patient_id: base},
                                   keep_result=True)
    except PatientChanged:
        return _changed(patient_id)
    except ImportRejected as exc:
        out = SaveOutcome(False)
        label = f"{SOURCE}[{target.name}]"
        for f in exc.findings:
            if f.severity != "error":
                continue
            if f.file == label and target_row is not None and f.row == target_row and f.field:
                out.field_errors.setdefault(f.field, []).append(f)
            else:
                out.other.append(f)
        return out
    # the next page view of the patient reuses this validation instead of validating the records again
    if result.result is not None and patient_id in result.versions and dt.date.today() == day:
        reread = _as_read(scoped, raw, result.result, result.stored)
        if reread is not None:
            cache.put(patient_id, day, result.versions[patient_id], reread)
    return SaveOutcome(True, values_changed=result.values_changed)


def save_record(scoped: ScopedRegistry, patient_id: str, form_name: str, original_key: Mapping[str, str] | None,
                values: Mapping[str, str], cache: PatientCache | None = None, *,
                version: int | None = None) -> SaveOutcome:
    """Save one record of a patient (``original_key`` ``None``: a new record). One transaction through the
    access layer, validated and audited; raises ``PatientNotFound`` for a patient the user cannot see,
    ``AccessDenied`` outside their centre. ``version``: the patient's version when the form was shown; a
    save over a newer version is refused (two people editing one patient do not undo each other)."""
    with _patient_lock(patient_id):
        return _retried(lambda: _save(scoped, patient_id, form_name, original_key, values, cache, version), version)


def _retried(save: Any, version: int | None) -> SaveOutcome:
    """A save without the version its form showed (``version`` ``None``) is built on the records as they
    are; when another server process changes the patient between reading them and writing, it is built
    again (a few times) instead of being refused."""
    out: SaveOutcome = save()
    for attempt in range(_RETRIES if version is None else 0):
        if out.ok or [f.rule for f in out.other] != ["patient.changed"]:
            break
        time.sleep(random.uniform(0, 0.01 * (attempt + 1)))  # the other writer's save is done by then, mostly
        out = save()
    return out


_RETRIES = 8


def new_patient_forms(d: DataDictionary) -> tuple[str, ...]:
    """Forms entered on the new-patient page: the patient form and every form each patient must have a row
    in (``rows_per_patient`` "one" or "at_least_one"), in dictionary order."""
    pf = d.patient_form.name
    return (pf, *[f.name for f in d.forms if f.name != pf and d.rows_per_patient(f.name) in ("one", "at_least_one")])


#: The new-patient forms of the built-in study (patient, first course, outcome).
NEW_PATIENT_FORMS: tuple[str, ...] = ("patients", "courses", "outcomes")


def create_patient(scoped: ScopedRegistry, patient_id: str, values: Mapping[str, Mapping[str, str]]) -> SaveOutcome:
    """Register a new patient from the rows of :data:`NEW_PATIENT_FORMS` (``values[form][field]``), in one
    transaction. Field errors are keyed ``form.field``."""
    d = scoped.registry.dictionary
    with _patient_lock(patient_id):
        if patient_id in set(scoped.patient_ids()):
            return SaveOutcome(False, {"patients.patient_id": [Finding(
                "error", SOURCE, None, patient_id, "patient_id", patient_id, "patient.exists",
                f"patient {patient_id} is already registered; open it from the patient list")]})
        tables = {}
        for form in d.forms:
            rows: tuple[tuple[int, tuple[str, ...]], ...] = ()
            if form.name in values:
                row = dict(values[form.name])
                row["patient_id"] = patient_id
                rows = ((_TARGET_ROW, tuple(str(row.get(c, "")) for c in form.columns)),)
            tables[form.name] = RawTable(form.name, f"{SOURCE}[{form.name}]", tuple(form.columns), rows)
        raw = RawDataset(SOURCE, tables)
        h = hashlib.sha256(repr(sorted((k, sorted(v.items())) for k, v in values.items())).encode())
        try:
            result = scoped.import_raw(raw, file_name=f"{SOURCE}: new patient {patient_id}", sha256=h.hexdigest(),
                                       fmt="web", log_import=False, expected_versions={patient_id: None})
        except PatientChanged:
            return SaveOutcome(False, {"patients.patient_id": [Finding(
                "error", SOURCE, None, patient_id, "patient_id", patient_id, "patient.exists",
                f"patient {patient_id} is already registered; open it from the patient list")]})
        except ImportRejected as exc:
            out = SaveOutcome(False)
            for f in exc.findings:
                if f.severity != "error":
                    continue
                form_name = f.file[len(SOURCE) + 1:-1] if f.file.startswith(SOURCE + "[") else ""
                if form_name and f.row == _TARGET_ROW and f.field:
                    out.field_errors.setdefault(f"{form_name}.{f.field}", []).append(f)
                else:
                    out.other.append(f)
            return out
        return SaveOutcome(True, values_changed=result.values_changed)


def delete_record(
    scoped: ScopedRegistry, patient_id: str, form_name: str, original_key: Mapping[str, str],
    cache: PatientCache | None = None, *, version: int | None = None,
) -> SaveOutcome:
    """Delete one record of a repeating form (the patient's remaining records are validated again)."""
    if form_name == "patients":
        raise ValueError("a patient is deleted as a whole")
    with _patient_lock(patient_id):
        return _retried(lambda: _save(scoped, patient_id, form_name, original_key, None, cache, version), version)

