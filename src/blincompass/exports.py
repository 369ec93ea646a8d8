"""Exports of the data a user may see: template workbook, form CSVs, ADaM-style tables (CSV, SAS XPT v5)
and SPSS files (``blincompass db export``).

This module composes three layers: it reads the registry through its access layer (only what the
user may see), derives the ADaM-style tables with :mod:`blincompass.derive`, and writes every file with
the writers of :mod:`blincompass.io`. Neither the registry nor ``io`` needs to know about the other
or about the derivation.

* ``template``: ``registry.xlsx``, the collection workbook filled with the data (re-importable;
  :func:`blincompass.io.template.write_workbook`);
* ``csv``: one CSV per form, byte-identical to :meth:`Dataset.to_csv_dir` of the validated input;
* ``adam``: ``adsl.csv``, ``adtte.csv``, ``adrs.csv``, ``adae.csv`` (derived with the protocol);
* ``xpt``: the same four tables as SAS transport files (XPORT version 5: variable names of at most 8
  upper-case characters, labels of at most 40), plus ``xpt_variables.csv`` mapping each XPT name to the
  table's column and label (:mod:`blincompass.io.xpt`);
* ``sav``: one SPSS file per form (variable labels; value labels for codes, yes/no and the MRD codes;
  re-importable with ``--format sav``) and the four ADaM-style tables as .sav (:mod:`blincompass.io.spss`).

Free text that a spreadsheet could take for a formula (``=HYPERLINK(...)``, ``@SUM(...)``) is written
inert: a string cell in the workbook, an apostrophe-escaped value in the CSVs
(:mod:`blincompass.io.safe`). SAS and SPSS files hold the values as data, never as formulas.

Every file is written to a temporary name and renamed (:func:`blincompass.io.outpath.atomic_write`); the
same registry content gives byte-identical files (the creation timestamps that the SAS and SPSS formats
carry are set to a fixed date).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from blincompass.dictionary import DataDictionary
from blincompass.io.dataset import Dataset
from blincompass.io.outpath import atomic_write
from blincompass.io.spss import write_form_savs, write_sav_table
from blincompass.io.tables import write_table_csv
from blincompass.io.template import write_workbook
from blincompass.io.xpt import write_xpt_tables
from blincompass.protocol import Protocol

if TYPE_CHECKING:
    from blincompass.registry.access import ScopedRegistry

__all__ = ["EXPORT_FORMATS", "adam_tables", "export"]

EXPORT_FORMATS: tuple[str, ...] = ("template", "csv", "adam", "xpt", "sav")


def adam_tables(dataset: Dataset, protocol: Protocol, dictionary: DataDictionary | None = None,
                ) -> dict[str, tuple[pd.DataFrame, dict[str, str]]]:
    """``adsl``, ``adtte`` and, when the protocol declares them, ``adrs`` and ``adae``: each a table and its
    column labels."""
    return {name: (df, labels) for name, (df, labels, _) in _adam(dataset, protocol, dictionary).items()}


def _adam(dataset: Dataset, protocol: Protocol, dictionary: DataDictionary | None,
          ) -> dict[str, tuple[pd.DataFrame, dict[str, str], dict[str, tuple[str, str]]]]:
    """Each analysis table with its column labels and (XPT name, XPT label) per column."""
    from blincompass.derive import derive_all
    from blincompass.derive.metadata import table_labels

    derived = derive_all(dataset, protocol, dictionary)
    assert derived.plan is not None and derived.metadata is not None
    labels = table_labels(protocol, derived.plan)
    meta = derived.metadata
    xpt = {t: {r.name: (r.xpt_name, r.xpt_label) for r in g.itertuples()} for t, g in meta.groupby("table")}
    return {name: (df, labels[name], xpt.get(name, {})) for name, df in derived.tables().items()}


def export(scoped: ScopedRegistry, fmt: str, out_dir: str | Path, protocol: Protocol) -> list[Path]:
    """Export what ``scoped``'s user may see in format ``fmt`` (:data:`EXPORT_FORMATS`) into ``out_dir``."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"fmt: {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}")
    d = scoped.registry.dictionary
    dataset = scoped.read_dataset()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        return [atomic_write(out / f"{form.name}.csv", lambda p, form=form: dataset.write_form_csv(form, p))
                for form in d.forms if form.name in dataset.forms]
    if fmt == "template":
        return [write_workbook(dataset, out / "registry.xlsx", d)]
    if fmt == "sav":
        written = write_form_savs(dataset, out, d)
        for name, (df, labels) in adam_tables(dataset, protocol, d).items():
            written.append(write_sav_table(df, labels, out / f"{name}.sav"))
        return written
    tables = _adam(dataset, protocol, d)
    if fmt == "adam":
        return [atomic_write(out / f"{name}.csv", lambda p, df=df: write_table_csv(df, p))
                for name, (df, _, _) in tables.items()]
    return write_xpt_tables({n: (df, labels) for n, (df, labels, _) in tables.items()}, out,
                            {n: x for n, (_, _, x) in tables.items()})
