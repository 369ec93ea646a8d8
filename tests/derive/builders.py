"""Build small typed data sets by hand (the reader's Dataset contract) for derivation tests."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from blincompass.dictionary import load_dictionary
from blincompass.protocol import Protocol, load_protocol

DICT = load_dictionary()

PATIENT_DEFAULTS: dict[str, Any] = {
    "centre": "C01",
    "sex": "M",
    "birth_date": "2008-01-01",
    "diagnosis_date": "2014-01-01",
    "leukaemia_type": "bcp_all",
    "immunophenotype": "common",
    "cd19_status": "positive",
    "karyotype": "normal",
    "molecular": "none",
    "risk_group": "medium",
    "disease_status": "first_relapse",
    "relapse_site": "bone_marrow",
    "prior_hsct": 0,
    "prior_cart": False,
    "debulking": False,
    "access": "compassionate",
    "in_trial": False,
}
COURSE_DEFAULTS: dict[str, Any] = {
    "schedule": "ped_stepup",
    "interrupted": False,
    "discontinued": False,
}
ASSESSMENT_DEFAULTS: dict[str, Any] = {"pcr_mrd": "ND", "fc_mrd": "ND"}
OUTCOME_DEFAULTS: dict[str, Any] = {"tox_data_available": True}
AE_DEFAULTS: dict[str, Any] = {"led_to_interruption": False, "led_to_discontinuation": False}


def _mrd(v: Any) -> tuple[float, str | None]:
    if v is None:
        return float("nan"), None
    if isinstance(v, str):
        return float("nan"), v
    return float(v), "quantified"


def _frame(form: str, rows: list[dict[str, Any]], defaults: dict[str, Any]) -> pd.DataFrame:
    f = DICT.form(form)
    data: dict[str, list[Any]] = {}
    full = [{**defaults, **r} for r in rows]
    for v in f.variables:
        vals = [r.get(v.name) for r in full]
        if v.type == "date":
            data[v.name] = pd.to_datetime(pd.Series(vals, dtype="object"))
        elif v.type == "integer":
            data[v.name] = pd.Series(vals, dtype="Int64")
        elif v.type == "number":
            data[v.name] = pd.Series([float("nan") if x is None else x for x in vals], dtype="float64")
        elif v.type == "boolean":
            data[v.name] = pd.Series(vals, dtype="boolean")
        elif v.type == "mrd":
            pairs = [_mrd(x) for x in vals]
            data[v.name] = pd.Series([p[0] for p in pairs], dtype="float64")
            data[f"{v.name}_status"] = pd.Series([p[1] for p in pairs], dtype="object")
        elif v.type == "ctcae_term":
            data[v.name] = pd.Series(vals, dtype="object")
            data[f"{v.name}_ctcae"] = pd.Series(vals, dtype="object")
            data[f"{v.name}_status"] = pd.Series(["ctcae"] * len(vals), dtype="object")
        else:
            data[v.name] = pd.Series(vals, dtype="object")
    df = pd.DataFrame(data, index=range(len(rows)))
    df["_row"] = range(2, len(rows) + 2)
    df["_file"] = f"{form}.csv"
    return df


def make_dataset(
    patients: list[dict[str, Any]],
    courses: list[dict[str, Any]] = (),  # type: ignore[assignment]
    assessments: list[dict[str, Any]] = (),  # type: ignore[assignment]
    adverse_events: list[dict[str, Any]] = (),  # type: ignore[assignment]
    outcomes: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> SimpleNamespace:
    forms = {
        "patients": _frame("patients", list(patients), PATIENT_DEFAULTS),
        "courses": _frame("courses", list(courses), COURSE_DEFAULTS),
        "assessments": _frame("assessments", list(assessments), ASSESSMENT_DEFAULTS),
        "adverse_events": _frame("adverse_events", list(adverse_events), AE_DEFAULTS),
        "outcomes": _frame("outcomes", list(outcomes), OUTCOME_DEFAULTS),
    }
    return SimpleNamespace(forms=forms, source="hand-built", **forms)


def patched_protocol(tmp_path: Path, old: str, new: str) -> Protocol:
    """The built-in protocol with one text replacement, loaded from a file in ``tmp_path``."""
    text = resources.files("blincompass.protocol").joinpath("data/blincompass.toml").read_text("utf-8")
    assert old in text, old
    path = tmp_path / "protocol.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return load_protocol(path)
