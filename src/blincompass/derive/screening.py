"""Eligibility screening: the protocol's criteria applied in order, as the numbers of a CONSORT flow.

No patient is dropped silently: every patient ends either eligible or excluded at a named step, and each
excluded patient carries the reasons (all failing criteria, the first one deciding the step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from blincompass.derive.engine import completed_years, patient_variables
from blincompass.dictionary import DataDictionary, load_dictionary
from blincompass.protocol import Criterion, Protocol
from blincompass.protocol.plan import Plan

__all__ = [
    "Exclusion",
    "ScreeningResult",
    "ScreeningStep",
    "completed_years",
    "screen",
    "screen_variables",
    "screening_variables",
]


def screening_variables(dataset: Any, protocol: Protocol, dictionary: DataDictionary | None = None,
                        plan: Plan | None = None) -> pd.DataFrame:
    """Patient-level variables the eligibility criteria may test, indexed by patient id: every variable of
    the one-row forms and every derived variable (:func:`blincompass.derive.engine.patient_variables`)."""
    variables, _ = patient_variables(dataset, protocol, dictionary or load_dictionary(), plan)
    return variables


@dataclass(frozen=True)
class Exclusion:
    """One excluded patient: the deciding criterion and every failing criterion with its value."""

    patient_id: str
    step: str
    reasons: tuple[str, ...]
    #: (criterion id, the patient's value) of every failing criterion, in the protocol's order.
    values: tuple[tuple[str, Any], ...] = ()

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass(frozen=True)
class ScreeningStep:
    """One box of the flow: patients entering, excluded at this criterion, and remaining."""

    id: str
    label: str
    n_before: int
    n_excluded: int
    n_after: int
    excluded: tuple[Exclusion, ...]


@dataclass(frozen=True)
class ScreeningResult:
    """CONSORT-style screening flow."""

    n_screened: int
    steps: tuple[ScreeningStep, ...]
    eligible_ids: tuple[str, ...]
    exclusions: tuple[Exclusion, ...] = field(default=())

    @property
    def n_eligible(self) -> int:
        return len(self.eligible_ids)

    def to_frame(self) -> pd.DataFrame:
        """The flow as a table: step, label, n_before, n_excluded, n_after."""
        return pd.DataFrame(
            [(s.id, s.label, s.n_before, s.n_excluded, s.n_after) for s in self.steps],
            columns=["step", "label", "n_before", "n_excluded", "n_after"],
        )

    def exclusions_frame(self) -> pd.DataFrame:
        """One row per excluded patient: patient_id, step, reason (all failing criteria)."""
        return pd.DataFrame(
            [(e.patient_id, e.step, e.reason) for e in self.exclusions],
            columns=["patient_id", "step", "reason"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_screened": self.n_screened,
            "n_eligible": self.n_eligible,
            "steps": [
                {
                    "id": s.id,
                    "label": s.label,
                    "n_before": s.n_before,
                    "n_excluded": s.n_excluded,
                    "n_after": s.n_after,
                    "excluded": [{"patient_id": e.patient_id, "reason": e.reason} for e in s.excluded],
                }
                for s in self.steps
            ],
        }


def _format_value(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return "missing"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _failure(criterion: Criterion, value: Any) -> str:
    return f"{criterion.label}: {criterion.variable} = {_format_value(value)} (rule: {criterion.describe()})"


def screen(dataset: Any, protocol: Protocol, dictionary: DataDictionary | None = None) -> ScreeningResult:
    """Apply the protocol's eligibility criteria in order to every patient of ``dataset``.

    Patients are processed in the order of the patients form (stable); a patient is excluded at the first
    failing criterion and the exclusion lists every failing criterion.
    """
    return screen_variables(screening_variables(dataset, protocol, dictionary), protocol)


def screen_variables(variables: pd.DataFrame, protocol: Protocol) -> ScreeningResult:
    """:func:`screen` on patient-level variables already computed (indexed by patient id)."""
    criteria = protocol.eligibility.criteria
    for c in criteria:
        if c.variable not in variables.columns:
            raise ValueError(
                f"protocol {protocol.source}: eligibility criterion {c.id!r} tests unknown variable "
                f"{c.variable!r}; available: {', '.join(map(str, variables.columns))}"
            )
    # each criterion is tested once per distinct value of its variable; a missing value fails
    failing: list[np.ndarray] = []
    for c in criteria:
        col = variables[c.variable]
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
        passed = np.fromiter((c.test(v) for v in uniques.astype(object)), dtype=bool, count=len(uniques))
        failing.append(~np.append(passed, False)[codes])
    failures: dict[str, list[tuple[str, str, Any]]] = {}
    for i in np.flatnonzero(np.logical_or.reduce(failing)) if failing else ():
        pid = variables.index[i]
        row = variables.iloc[i]
        failures[str(pid)] = [(c.id, _failure(c, row[c.variable]), row[c.variable])
                              for c, f in zip(criteria, failing, strict=True) if f[i]]
    remaining = [str(p) for p in variables.index]
    steps: list[ScreeningStep] = []
    all_excl: list[Exclusion] = []
    for c in criteria:
        excluded = tuple(
            Exclusion(pid, c.id, tuple(msg for _, msg, _ in failures[pid]),
                      tuple((cid, value) for cid, _, value in failures[pid]))
            for pid in remaining
            if pid in failures and failures[pid][0][0] == c.id
        )
        gone = {e.patient_id for e in excluded}
        before = len(remaining)
        remaining = [p for p in remaining if p not in gone]
        steps.append(ScreeningStep(c.id, c.label, before, len(excluded), len(remaining), excluded))
        all_excl.extend(excluded)
    return ScreeningResult(len(variables), tuple(steps), tuple(remaining), tuple(all_excl))
