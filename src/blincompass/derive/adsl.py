"""Patient-level analysis table (ADSL-style): one row per patient, eligible or not.

Its columns are the patient id, the centre (when the patient form has one), ``eligible``,
``exclusion_step``, ``exclusion_reason`` (the screening), then every ``[[derived]]`` variable of the protocol
with ``keep = true``, in declaration order (:mod:`blincompass.derive.engine`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from blincompass.derive.engine import patient_variables
from blincompass.derive.screening import ScreeningResult, screen_variables
from blincompass.dictionary import DataDictionary, load_dictionary
from blincompass.protocol import Protocol
from blincompass.protocol.plan import Plan, resolve

__all__ = ["SCREENING_LABELS", "adsl_columns", "assemble_adsl", "build_adsl"]

#: Labels of the columns every ADSL has.
SCREENING_LABELS: dict[str, str] = {
    "eligible": "Passed every eligibility criterion (analysis population)",
    "exclusion_step": "Screening step at which the patient was excluded",
    "exclusion_reason": "Every failing eligibility criterion with the value found",
}


def adsl_columns(protocol: Protocol, plan: Plan) -> dict[str, str]:
    """The ADSL's columns, in order, with their labels (the derived variables' ``label``)."""
    out = {plan.patient_id: "Patient identifier"}
    if plan.centre:
        out[plan.centre] = "Treating centre"
    out.update(SCREENING_LABELS)
    for d in protocol.derived:
        if d.keep and d.name not in out:
            out[d.name] = d.label or d.name
    return out


def assemble_adsl(variables: pd.DataFrame, screening: ScreeningResult, protocol: Protocol, plan: Plan,
                  ) -> pd.DataFrame:
    """The ADSL from computed patient-level ``variables`` and the ``screening`` result."""
    idx = variables.index
    out = pd.DataFrame(index=idx)
    out[plan.patient_id] = variables[plan.patient_id] if plan.patient_id in variables.columns else idx
    if plan.centre:
        out[plan.centre] = variables[plan.centre]
    excl = {e.patient_id: e for e in screening.exclusions}
    eligible = set(screening.eligible_ids)
    out["eligible"] = pd.Series([str(pid) in eligible for pid in idx], index=idx, dtype="boolean")
    out["exclusion_step"] = [excl[str(p)].step if str(p) in excl else None for p in idx]
    out["exclusion_reason"] = [excl[str(p)].reason if str(p) in excl else None for p in idx]
    for d in protocol.derived:
        if d.keep and d.name not in out.columns:
            out[d.name] = variables[d.name]
    return out.reset_index(drop=True)


def build_adsl(dataset: Any, protocol: Protocol, screening: ScreeningResult | None = None,
               dictionary: DataDictionary | None = None) -> pd.DataFrame:
    """Build the patient-level analysis table for every patient of ``dataset``.

    Rows in the order of the patient form. Ineligible patients are kept with ``eligible = False`` and
    their exclusion step and reasons.
    """
    d = dictionary or load_dictionary()
    plan = resolve(d, protocol)
    variables, _ = patient_variables(dataset, protocol, d, plan)
    screening = screening or screen_variables(variables, protocol)
    return assemble_adsl(variables, screening, protocol, plan)
