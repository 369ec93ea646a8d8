"""The coordinator's dashboard: numbers per centre, all read through the registry's access layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from blincompass.registry import queries as rq
from blincompass.registry.access import ScopedRegistry

__all__ = ["Dashboard", "dashboard_numbers"]

#: The variable grouping patients on the dashboard (the therapeutic line at the first course).
GROUP_VARIABLE = "disease_status"
#: Where the dashboard lists a coordinator's import of several centres at once.
ALL_CENTRES = "all centres"


@dataclass
class Dashboard:
    """What the dashboard shows (every count over what the user may see)."""

    centres: list[str]
    patients: dict[str, int]
    groups: list[tuple[str, str]]  # (code, label)
    by_group: dict[str, dict[str, int]]  # centre -> group code -> patients
    completeness: dict[str, dict[str, tuple[int, int]]]  # form -> centre -> (filled, expected)
    errors: dict[str, int]
    warnings: dict[str, int]
    queries: dict[str, dict[str, int]]  # centre -> status -> n
    last_import: dict[str, Any]  # centre -> import row (dict) or None
    forms: list[tuple[str, str]] = field(default_factory=list)


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value))) or value == ""


def dashboard_numbers(scoped: ScopedRegistry, protocol: Any = None) -> Dashboard:
    """Patients per centre and group; completeness of the required fields per form and centre (a one-row
    form's missing row counts as every required field missing); validation errors and warnings, open
    queries and the last import per centre."""
    d = scoped.registry.dictionary
    cutoff = protocol.study.data_cutoff if protocol is not None else None
    result = scoped.read_result(data_cutoff=cutoff)
    ds = result.dataset
    pats = ds.patients
    centre_of = {str(p): str(c) for p, c in zip(pats["patient_id"], pats["centre"], strict=True)}
    known = [c for c, _ in scoped.registry.centres()]
    if not scoped.user.reads_all:
        known = [c for c in known if c == scoped.user.centre]
    centres = sorted(set(known) | set(centre_of.values()))
    patients = {c: sum(1 for v in centre_of.values() if v == c) for c in centres}
    pform = d.patient_form
    gv = pform.variable(GROUP_VARIABLE) if GROUP_VARIABLE in pform.columns else None
    groups = [(c.code, c.label) for c in gv.codes] if gv is not None else []
    by_group = {c: {g: 0 for g, _ in groups} for c in centres}
    for _, r in pats.iterrows():
        g = r[GROUP_VARIABLE] if gv is not None else None
        if not _missing(g):
            by_group[str(r["centre"])][str(g)] = by_group[str(r["centre"])].get(str(g), 0) + 1
    completeness: dict[str, dict[str, tuple[int, int]]] = {}
    for form in d.forms:
        req = [v for v in form.variables if v.required and v.type != "mrd"]
        req_cols = [v.name for v in req]
        req_cols += [f"{v.name}_status" for v in form.variables if v.required and v.type == "mrd"]
        frame = ds.forms[form.name]
        per: dict[str, tuple[int, int]] = {}
        for c in centres:
            pids = {p for p, cc in centre_of.items() if cc == c}
            rows = frame[frame["patient_id"].astype(str).isin(pids)] if len(frame) else frame
            filled = int(sum(not _missing(v) for col in req_cols for v in rows[col])) if len(rows) else 0
            expected = len(rows) * len(req_cols)
            if tuple(form.key) == ("patient_id",):  # one row per patient expected
                have = set(rows["patient_id"].astype(str)) if len(rows) else set()
                expected += len(pids - have) * len(req_cols)
            per[c] = (filled, expected)
        completeness[form.name] = per
    errors = dict.fromkeys(centres, 0)
    warnings = dict.fromkeys(centres, 0)
    for f in result.findings:
        c = centre_of.get(str(f.patient_id)) if f.patient_id else None
        if c is None:
            continue
        if f.severity == "error":
            errors[c] += 1
        elif f.severity == "warning":
            warnings[c] += 1
    counts = rq.query_counts(scoped)
    queries = {c: counts.get(c, dict.fromkeys(rq.QUERY_STATUSES, 0)) for c in centres}
    imports = scoped.imports()
    users = {u.name: u.centre for u in scoped.registry.users()}
    last: dict[str, Any] = dict.fromkeys([*centres, ALL_CENTRES])
    for r in imports.to_dict("records"):
        # the import's centre (--centre), else its user's; a coordinator's import of several centres at once
        # is listed under "all centres"
        c = r.get("centre") or users.get(r["user_name"]) or ALL_CENTRES
        if c in last:
            last[c] = r
    return Dashboard(centres, patients, groups, by_group, completeness, errors, warnings, queries, last,
                     [(f.name, f.label) for f in d.forms])
