"""Screen and derive in one call, and write the derived tables (CSV + Parquet)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from blincompass.derive.adsl import build_adsl
from blincompass.derive.adtte import build_adtte
from blincompass.io.outpath import atomic_write
from blincompass.io.tables import write_table_csv
from blincompass.protocol import Protocol
from blincompass.validate.screening import ScreeningResult, screen

__all__ = ["DerivedData", "derive_all", "write_derived"]


@dataclass(frozen=True)
class DerivedData:
    """The screening flow and the analysis tables derived from one data set under one protocol."""

    screening: ScreeningResult
    adsl: pd.DataFrame
    adtte: pd.DataFrame
    protocol: Protocol

    def summary(self) -> dict[str, Any]:
        """Counts describing the derived tables (for the CLI and the demo)."""
        elig = self.adsl[self.adsl["eligible"].fillna(False).astype(bool)]

        def count(col: str) -> int:
            return int(elig[col].fillna(False).astype(bool).sum())

        params = {}
        for p, g in self.adtte.groupby("PARAMCD", sort=False):
            params[str(p)] = {
                "n": len(g),
                "events": int((g["CNSR"] == 0).sum()),
                "censored": int((g["CNSR"] == 1).sum()),
                "median_followup_months": float(g["AVAL"].median()),
            }
        return {
            "patients": len(self.adsl),
            "eligible": len(elig),
            "strata": {str(k): int(v) for k, v in elig["stratum_label"].value_counts(sort=False).items()},
            "cr_after_course_1": count("cr_c1"),
            "response_after_course_1": count("response_c1"),
            "early_relapse": count("early_relapse"),
            "relapse": count("relapse"),
            "hsct": count("hsct"),
            "death": count("death"),
            "tte": params,
        }


def derive_all(dataset: Any, protocol: Protocol) -> DerivedData:
    """Screen every patient, then build the patient-level and time-to-event tables."""
    result = screen(dataset, protocol)
    adsl = build_adsl(dataset, protocol, result)
    adtte = build_adtte(adsl, protocol)
    return DerivedData(result, adsl, adtte, protocol)


def write_derived(derived: DerivedData, out_dir: str | Path) -> list[Path]:
    """Write ``adsl`` and ``adtte`` as CSV and Parquet, and the screening flow as CSV and JSON.

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
    emit("screening_flow.csv", lambda p: write_table_csv(derived.screening.to_frame(), p))
    emit("screening_exclusions.csv", lambda p: write_table_csv(derived.screening.exclusions_frame(), p))
    emit(
        "screening.json",
        lambda p: p.write_text(json.dumps(derived.screening.to_dict(), indent=2) + "\n", encoding="utf-8"),
    )
    return written
