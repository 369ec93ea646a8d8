"""The typed data set: one pandas DataFrame per form, columns and dtypes fixed by the data dictionary.

Column contract (relied on by screening and endpoint derivation):

* the dictionary's variables in dictionary order, then ``_row`` (source row number, header = 1) and
  ``_file`` (source label such as ``cohort.xlsx[patients]``);
* ``string`` and ``code`` -> object (``str`` or ``None``); ``date`` -> ``datetime64[ns]`` (NaT when
  missing); ``integer`` -> ``Int64``; ``number`` -> ``float64``; ``boolean`` -> ``boolean``;
* ``mrd`` -> two columns at the variable's position: ``<name>`` (float64 level, NaN unless quantified)
  and ``<name>_status`` (``quantified`` / ``NEG`` / ``PNQ`` / ``ND`` / ``None``);
* ``ctcae_term`` -> three columns: ``<name>`` (reported term), ``<name>_ctcae`` (mapped CTCAE v4.03 term
  or ``None``) and ``<name>_status`` (``ctcae`` / ``synonym`` / ``nearest`` / ``other`` / ``unmapped``).

An integer variable that allows "unknown" (the AE grade) holds ``<NA>`` for unknown; in a data set
without errors a missing required value cannot occur, so ``<NA>`` there means "unknown".
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from blincompass.dictionary import UNKNOWN, DataDictionary, Form, Variable, load_dictionary
from blincompass.io.outpath import atomic_write
from blincompass.io.safe import escape_text

#: Variable types whose values are free text (escaped against formula injection when written to CSV).
TEXT_TYPES: frozenset[str] = frozenset({"string", "code", "ctcae_term"})

META_COLUMNS: tuple[str, str] = ("_row", "_file")


def variable_columns(var: Variable) -> list[str]:
    """The DataFrame columns that hold one dictionary variable."""
    if var.type == "mrd":
        return [var.name, f"{var.name}_status"]
    if var.type == "ctcae_term":
        return [var.name, f"{var.name}_ctcae", f"{var.name}_status"]
    return [var.name]


def form_columns(form: Form) -> list[str]:
    """All DataFrame columns of a form, in order (variables, then ``_row``, ``_file``)."""
    return [c for v in form.variables for c in variable_columns(v)] + list(META_COLUMNS)


def _series(values: Sequence[Any], kind: str) -> pd.Series:
    if kind == "date":
        return pd.Series(list(values), dtype="datetime64[ns]")
    if kind == "integer":
        return pd.Series(pd.array(list(values), dtype="Int64"))
    if kind in ("number", "level"):
        return pd.Series([math.nan if v is None else float(v) for v in values], dtype="float64")
    if kind == "boolean":
        return pd.Series(pd.array(list(values), dtype="boolean"))
    if kind == "row":
        return pd.Series(list(values), dtype="int64")
    return pd.Series(list(values), dtype="object")


def build_frame(form: Form, records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """A form's DataFrame from records keyed by DataFrame column (missing keys -> missing values)."""
    names = [col for v in form.variables for col in variable_columns(v)]
    columns: dict[str, Sequence[Any]] = {col: [r.get(col) for r in records] for col in names}
    columns["_row"] = [r.get("_row", 0) for r in records]
    columns["_file"] = [r.get("_file") for r in records]
    return frame_from_columns(form, columns, len(records))


def frame_from_columns(form: Form, columns: Mapping[str, Sequence[Any]], n_rows: int) -> pd.DataFrame:
    """A form's DataFrame from value lists keyed by DataFrame column (an absent column is missing values;
    ``_row`` defaults to 0)."""
    data: dict[str, pd.Series] = {}
    for v in form.variables:
        cols = variable_columns(v)
        kinds = {"mrd": ["level", "object"], "ctcae_term": ["object"] * 3}.get(v.type, [v.type])
        for col, kind in zip(cols, kinds, strict=True):
            data[col] = _series(columns.get(col, [None] * n_rows), kind)
    data["_row"] = _series(columns.get("_row", [0] * n_rows), "row")
    data["_file"] = _series(columns.get("_file", [None] * n_rows), "object")
    return pd.DataFrame(data, columns=form_columns(form))


def _isna(value: Any) -> bool:
    return value is None or (not isinstance(value, str | bool) and bool(pd.isna(value)))


def format_value(var: Variable, values: Mapping[str, Any]) -> str:
    """One variable of one record as template text (the inverse of the cell parser).

    ``values`` is a typed row (a pandas Series of a :class:`Dataset` form, or a database row as a dict);
    MRD variables read ``<name>_status`` beside ``<name>``. Used by :meth:`Dataset.to_csv_dir` and the
    registry's export, so that both write the same bytes.
    """
    value = values.get(var.name)
    if var.type == "mrd":
        status = values.get(f"{var.name}_status")
        if _isna(status):
            return ""
        return repr(float(value)) if status == "quantified" and not _isna(value) else str(status)
    if _isna(value):
        if var.allow_unknown and var.type != "code" and var.required:
            return UNKNOWN
        return ""
    if var.type == "date":
        if isinstance(value, str):
            return value[:10]
        return pd.Timestamp(value).date().isoformat()
    if var.type == "boolean":
        return "yes" if bool(value) else "no"
    if var.type == "integer":
        return str(int(value))
    if var.type == "number":
        x = float(value)
        return str(int(x)) if x.is_integer() else repr(x)
    return str(value)


def csv_value(var: Variable, values: Mapping[str, Any]) -> str:
    """:func:`format_value` as written to a CSV file: free text escaped against formula injection."""
    text = format_value(var, values)
    return escape_text(text) if var.type in TEXT_TYPES else text


@dataclass
class Dataset:
    """Typed forms of one study data set (see the module docstring for the column contract)."""

    forms: dict[str, pd.DataFrame]
    source: str
    patient_form: str = "patients"  # the dictionary's meta.patient_form

    @property
    def patients(self) -> pd.DataFrame:
        """The form with one row per patient."""
        return self.forms[self.patient_form]

    @property
    def courses(self) -> pd.DataFrame:
        return self.forms["courses"]

    @property
    def assessments(self) -> pd.DataFrame:
        return self.forms["assessments"]

    @property
    def adverse_events(self) -> pd.DataFrame:
        return self.forms["adverse_events"]

    @property
    def outcomes(self) -> pd.DataFrame:
        return self.forms["outcomes"]

    @classmethod
    def empty(cls, source: str = "", dictionary: DataDictionary | None = None) -> Dataset:
        """A data set with every form present and no rows."""
        d = dictionary or load_dictionary()
        return cls({f.name: build_frame(f, []) for f in d.forms}, source, d.meta.patient_form)

    def to_csv_dir(self, path: str | Path, dictionary: DataDictionary | None = None) -> list[Path]:
        """Write the forms back in the template format: one UTF-8 CSV per form (deterministic bytes).

        Codes are written as codes, dates as yyyy-mm-dd, booleans as yes/no, MRD as the level or its
        code, AE terms as reported; rows keep their order. Text that a spreadsheet could take for a formula
        gets a leading apostrophe (:func:`blincompass.io.safe.escape_text`; the CSV reader removes it).
        Returns the paths written.
        """
        d = dictionary or load_dictionary()
        out_dir = Path(path)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for form in d.forms:
            if form.name not in self.forms:
                continue
            target = out_dir / f"{form.name}.csv"
            written.append(atomic_write(target, lambda tmp, form=form: self.write_form_csv(form, tmp)))
        return written

    def write_form_csv(self, form: Form, path: str | Path) -> None:
        """Write the rows of ``form`` to ``path`` as :meth:`to_csv_dir` writes them (one template CSV)."""
        df = self.forms[form.name]
        with Path(path).open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(form.columns)
            for _, row in df.iterrows():
                w.writerow([csv_value(v, row) for v in form.variables])


def norm_value(v: Any) -> Any:
    """A cell as a plain comparable value: ``None`` when missing, bool, int for integral numbers, float,
    else text (what tables and analyses group by, whatever dtype pandas gave the column)."""
    import numpy as np

    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        if math.isnan(v):
            return None
        return int(v) if float(v).is_integer() else float(v)
    return str(v)


def to_date(value: Any) -> dt.date | None:
    """A DataFrame date cell as ``datetime.date`` (``None`` for NaT)."""
    if _isna(value):
        return None
    return pd.Timestamp(value).date()
