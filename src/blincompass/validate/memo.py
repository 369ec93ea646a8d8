"""Validation that reuses the reading of forms it has seen before (one patient's records, saved again and again).

:func:`validate_with_memo` gives exactly the result of :func:`blincompass.validate.validate` -- the same
findings in the same order and equal typed frames. It splits the work the way the validator does: reading
and typing a form, its key check and its column checks depend on that form's table alone (its source label,
header and rows) and on the data cut-off; only the cross-form checks need every form. So the per-form part
is kept in a :class:`FormMemo`, keyed by the table's contents, and a data set that differs from one seen
before in one form (a record saved from the web application) reads only that form again. The cross-form
checks always run on the whole data set.

Meant for small data sets (a patient's records): the key holds the table's cells, and the memo keeps the
typed forms of the last ``size`` distinct tables.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd

from blincompass.dictionary import DataDictionary
from blincompass.io.dataset import Dataset, frame_from_columns
from blincompass.io.raw import RawDataset
from blincompass.validate import rules
from blincompass.validate.checks import Collector, FormData, run_checks
from blincompass.validate.findings import Finding, ValidationResult

__all__ = ["FormMemo", "validate_with_memo"]


@dataclasses.dataclass(frozen=True)
class _Read:
    """One form read: the form as the cross-form checks see it (frame before the column checks), the
    typed frame of the data set (after them) and the findings of reading, keys and column checks."""

    data: FormData | None
    frame: pd.DataFrame
    findings: tuple[Finding, ...]
    label: str

    def relabelled(self, label: str) -> _Read | None:
        """The same form read under another source label (the label is only the findings' ``file``, the
        forms' ``source`` and the frame's ``_file``); ``None`` when a finding names another file."""
        if label == self.label:
            return self
        if any(f.file != self.label for f in self.findings):
            return None
        frame = self.frame.copy()
        frame["_file"] = pd.Series(np.full(len(frame), label, dtype=object), index=frame.index, dtype="object")
        data = None if self.data is None else dataclasses.replace(self.data, source=label)
        return _Read(data, frame, tuple(dataclasses.replace(f, file=label) for f in self.findings), label)


class FormMemo:
    """The per-form part of recent validations against ``dictionary`` (thread-safe). The least recently
    used entries are dropped beyond ``size`` entries or ``max_rows`` rows in all (the memory bound)."""

    def __init__(self, dictionary: DataDictionary, size: int = 1024, max_rows: int = 100_000) -> None:
        self.dictionary = dictionary
        self.size = size
        self.max_rows = max_rows
        self.rows = 0
        self._data: OrderedDict[tuple[Any, ...], _Read] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...]) -> _Read | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is not None:
                self._data.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return hit

    def put(self, key: tuple[Any, ...], value: _Read) -> None:
        with self._lock:
            old = self._data.pop(key, None)
            self.rows -= 0 if old is None else len(old.frame)
            self._data[key] = value
            self.rows += len(value.frame)
            while len(self._data) > self.size or (self.rows > self.max_rows and len(self._data) > 1):
                _, dropped = self._data.popitem(last=False)
                self.rows -= len(dropped.frame)


def _read(raw: RawDataset, form_name: str, d: DataDictionary, cutoff: dt.date, origin: str) -> _Read:
    """Read, type and check one form as :func:`rules.validate` does (everything but the cross-form checks)."""
    form = d.form(form_name)
    table = raw.tables.get(form.name)
    label = table.source if table is not None else rules._label(raw, form.name)
    out = Collector()
    fd = rules._read_form(form, table, label, d, out, raw.other_sheets, {}, {})
    if fd is not None:
        rules._check_keys(form, fd, out)
        checked = fd.frame.copy()  # the column checks set bad cells missing: in the data set's copy only
    else:
        checked = frame_from_columns(form, {}, 0)
    if form.name == d.meta.patient_form and fd is not None and fd.frame.empty:
        out.add("warning", label, None, None, None, None, "form.empty", f"the {form.name} form has no data rows")
    rules._frame_checks(d, {form.name: checked}, {form.name: label}, cutoff, origin, out)
    return _Read(fd, checked, tuple(out.findings), label)


def validate_with_memo(raw: RawDataset, memo: FormMemo, *, data_cutoff: dt.date | None = None) -> ValidationResult:
    """:func:`blincompass.validate.validate` of ``raw`` against ``memo.dictionary``, reading again only the
    forms ``memo`` has not seen (see the module docstring)."""
    d = memo.dictionary
    cutoff, origin = rules.resolve_cutoff(data_cutoff)
    out = Collector()
    for note in raw.notes:
        out.add(note.severity, note.source, None, None, None, None, note.rule, note.message)
    forms: dict[str, FormData] = {}
    frames: dict[str, pd.DataFrame] = {}
    found: list[Finding] = []
    for form in d.forms:
        table = raw.tables.get(form.name)
        # the source label is not part of the key: a patient's records read from the registry and the same
        # records sent by a web form differ only in it
        if table is None:
            key: tuple[Any, ...] = (form.name, None, raw.source, raw.other_sheets, cutoff, origin)
        else:
            key = (form.name, table.header, table.rows, table.date1904, cutoff, origin)
        try:
            got = memo.get(key)
        except TypeError:  # a cell that cannot be hashed: read without the memo
            key, got = (), None
        if got is not None and table is not None:
            got = got.relabelled(table.source)
        if got is None:
            got = _read(raw, form.name, d, cutoff, origin)
            if key:
                memo.put(key, got)
        if got.data is not None:  # a copy: the checks give each form its patients' codes
            forms[form.name] = dataclasses.replace(got.data)
        frames[form.name] = got.frame.copy()
        found.extend(got.findings)
    run_checks(d, forms, out, default_window=rules.BASELINE_WINDOW_DAYS)
    findings = sorted(set(found + out.findings), key=Finding.sort_key)
    return ValidationResult(Dataset(frames, raw.source, d.meta.patient_form), findings)
