"""Screen and derive in one call, and write the derived tables (CSV + Parquet)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from blincompass.derive.adae import build_adae
from blincompass.derive.adrs import build_adrs
from blincompass.derive.adsl import assemble_adsl
from blincompass.derive.adtte import build_adtte
from blincompass.derive.engine import patient_variables
from blincompass.derive.metadata import column_metadata
from blincompass.derive.screening import ScreeningResult, screen_variables
from blincompass.dictionary import DataDictionary, load_dictionary
from blincompass.io.outpath import atomic_write
from blincompass.io.tables import write_table_csv
from blincompass.protocol import Protocol
from blincompass.protocol.plan import Plan, resolve

__all__ = ["DerivedData", "derive_all", "write_derived"]


@dataclass(frozen=True)
class DerivedData:
    """The screening flow and the analysis tables derived from one data set under one protocol, with the
    column metadata of every table (:func:`blincompass.derive.metadata.column_metadata`)."""

    screening: ScreeningResult
    adsl: pd.DataFrame
    adtte: pd.DataFrame
    protocol: Protocol
    plan: Plan | None = None
    metadata: pd.DataFrame | None = None
    adrs: pd.DataFrame | None = None
    adae: pd.DataFrame | None = None
    dictionary: DataDictionary | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """The analysis tables by name: ``adsl``, ``adtte``, and ``adrs`` / ``adae`` when the protocol
        declares them."""
        out = {"adsl": self.adsl, "adtte": self.adtte}
        if self.adrs is not None:
            out["adrs"] = self.adrs
        if self.adae is not None:
            out["adae"] = self.adae
        return out

    def summary(self) -> dict[str, Any]:
        """Counts describing the derived tables (for the CLI and the demo): patients, eligible, eligible
        patients per stratum (``[adtte] stratum``), per yes/no variable of the ADSL, and per endpoint."""
        elig = self.adsl[self.adsl["eligible"].fillna(False).astype(bool)]
        strata: dict[str, int] = {}
        col = self.protocol.adtte.stratum
        if col:
            try:
                labels = {str(k): v for k, v in self.protocol.levels(col)}
            except KeyError:
                labels = {}
            for k, v in elig[col].value_counts(sort=False).items():
                strata[labels.get(str(k), str(k))] = int(v)
        flags = {}
        for d in self.protocol.derived:
            if d.keep and str(elig[d.name].dtype) == "boolean":
                flags[d.name] = int(elig[d.name].fillna(False).astype(bool).sum())
        params = {}
        for p, g in self.adtte.groupby("PARAMCD", sort=False):
            params[str(p)] = {
                "n": len(g),
                "events": int((g["CNSR"] == 0).sum()),
                "censored": int((g["CNSR"] == 1).sum()),
                "median_followup_months": float(g["AVAL"].median()),
            }
        return {"patients": len(self.adsl), "eligible": len(elig), "strata": strata, "flags": flags,
                "tte": params}


def derive_all(dataset: Any, protocol: Protocol, dictionary: DataDictionary | None = None) -> DerivedData:
    """Compute the patient-level variables, screen every patient, then build every analysis table
    (ADSL, ADTTE, and ADRS / ADAE when the protocol declares them) with their column metadata. One entry
    point; ``dictionary`` defaults to the built-in one."""
    d = dictionary or load_dictionary()
    plan = resolve(d, protocol)
    variables, _ = patient_variables(dataset, protocol, d, plan)
    result = screen_variables(variables, protocol)
    adsl = assemble_adsl(variables, result, protocol, plan)
    sources = _sources(protocol, plan)
    adtte = build_adtte(adsl, protocol, sources, plan.patient_id)
    adrs = build_adrs(dataset, adsl, protocol, plan.patient_id) if protocol.adrs is not None else None
    adae = build_adae(dataset, adsl, protocol, plan.patient_id) if protocol.adae is not None else None
    tables = {"adsl": adsl, "adtte": adtte, **({"adrs": adrs} if adrs is not None else {}),
              **({"adae": adae} if adae is not None else {})}
    meta = column_metadata(protocol, plan, tables)
    return DerivedData(result, adsl, adtte, protocol, plan, meta, adrs, adae, d)


def _sources(protocol: Protocol, plan: Plan) -> dict[str, tuple[str, str]]:
    """(form, variable) of each patient-level date that is a copy of a form variable."""
    out = dict(plan.source)
    for name, where in plan.base.items():
        out.setdefault(name, where)
    return out


def write_derived(derived: DerivedData, out_dir: str | Path) -> list[Path]:
    """Write ``adsl`` and ``adtte`` as CSV and Parquet, their column metadata (``metadata.csv``), and the
    screening flow as CSV and JSON.

    Files are written to a temporary name and renamed, so a failure never leaves a half-written file.
    The same input gives byte-identical files. Returns the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def emit(name: str, writer: Any) -> None:
        written.append(atomic_write(out / name, writer))

    for name, df in (("adsl", derived.adsl), ("adtte", derived.adtte)):
        emit(f"{name}.csv", lambda p, df=df: write_table_csv(df, p))
        emit(f"{name}.parquet", lambda p, df=df: df.to_parquet(p, index=False))
    if derived.metadata is not None:
        emit("metadata.csv", lambda p: write_table_csv(derived.metadata, p))
    emit("screening_flow.csv", lambda p: write_table_csv(derived.screening.to_frame(), p))
    emit("screening_exclusions.csv", lambda p: write_table_csv(derived.screening.exclusions_frame(), p))
    emit(
        "screening.json",
        lambda p: p.write_text(json.dumps(derived.screening.to_dict(), indent=2) + "\n", encoding="utf-8"),
    )
    return written
