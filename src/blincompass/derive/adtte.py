"""Time-to-event analysis table (ADTTE-style): one row per eligible patient and endpoint parameter."""

from __future__ import annotations

import numpy as np
import pandas as pd

from blincompass.expr import compile_expression
from blincompass.protocol import Endpoint, Protocol

__all__ = ["ADTTE_COLUMNS", "adtte_columns", "build_adtte", "derive_tte"]

ADTTE_COLUMNS: dict[str, str] = {
    "STUDYID": "Study identifier (protocol study.name)",
    "USUBJID": "Patient identifier",
    "PARAMCD": "Parameter code (protocol endpoints.paramcd)",
    "PARAM": "Parameter description",
    "STARTDT": "Time origin (protocol endpoints.origin; with a landmark, the landmark date)",
    "ADT": "Event or censoring date",
    "ADY": "Days from STARTDT to ADT",
    "AVAL": "Analysis value: months from STARTDT to ADT (days / protocol time.days_per_month)",
    "AVALU": "Unit of AVAL",
    "CNSR": "Censoring: 0 = event, 1 = censored (CDISC convention)",
    "EVNTDESC": "What happened at ADT: the event's cause, or how follow-up was censored",
    "SRCDOM": "Source form of ADT",
    "SRCVAR": "Source variable of ADT",
    "STRATUM": "Stratum (protocol adtte.stratum)",
}


def adtte_columns(protocol: Protocol) -> dict[str, str]:
    """ADTTE columns with their labels (``[adtte] labels`` override the defaults)."""
    return {k: protocol.adtte.labels.get(k, v) for k, v in ADTTE_COLUMNS.items()}


def _ns(dates: pd.DataFrame) -> np.ndarray:
    """Dates as int64 nanoseconds with missing = the largest int64 (never the earliest)."""
    ns = dates.apply(lambda c: pd.to_datetime(c).astype("datetime64[ns]")).to_numpy("int64")
    return np.where(ns == np.iinfo(np.int64).min, np.iinfo(np.int64).max, ns)


def derive_tte(adsl: pd.DataFrame, endpoint: Endpoint, protocol: Protocol, study: str,
               sources: dict[str, tuple[str, str]] | None = None, patient_id: str = "patient_id") -> pd.DataFrame:
    """Derive one time-to-event parameter.

    Population: eligible patients for whom ``endpoint.population`` holds. Origin ``T0``: the
    ``endpoint.origin`` date; with ``landmark_months`` = L, ``T0`` = origin + round(L x days_per_month) days
    and only patients with no event, no intercurrent censoring and follow-up beyond ``T0`` are kept. Event:
    the earliest date among ``endpoint.events`` (ties keep the protocol's order). An intercurrent event
    (``censor_at``) strictly before the first event censors there; otherwise a patient without an event is
    censored at ``endpoint.censor``. ``AVAL`` = (ADT - T0) in days / ``time.days_per_month``.
    ``sources`` maps a patient-level date to its (form, variable) for ``SRCDOM`` / ``SRCVAR``.
    """
    sources = sources or {}
    sel = adsl["eligible"].fillna(False).astype(bool) & compile_expression(endpoint.population).mask(adsl)
    pop = adsl[sel]
    if endpoint.time is not None:
        return _by_time(pop, endpoint, protocol, study, patient_id)
    causes = [e.cause for e in endpoint.events]
    cols = [e.date for e in endpoint.events]
    ns = _ns(pd.DataFrame({i: pop[c] for i, c in enumerate(cols)}, index=pop.index))
    big = np.iinfo(np.int64).max
    first_ns = ns.min(axis=1) if len(cols) else np.full(len(pop), big)
    which = ns.argmin(axis=1) if len(cols) else np.zeros(len(pop), dtype=int)
    event = first_ns != big
    adt = pd.Series(pd.to_datetime(np.where(event, first_ns, np.iinfo(np.int64).min).astype("datetime64[ns]")),
                    index=pop.index)
    desc = pd.Series([causes[w] if e else endpoint.censor_description for w, e in zip(which, event, strict=True)],
                     index=pop.index, dtype=object)
    srcvar = pd.Series([cols[w] if e else endpoint.censor for w, e in zip(which, event, strict=True)],
                       index=pop.index, dtype=object)
    if endpoint.censor_at:
        cens = _ns(pd.DataFrame({i: pop[e.date] for i, e in enumerate(endpoint.censor_at)}, index=pop.index))
        c_first = cens.min(axis=1)
        c_which = cens.argmin(axis=1)
        hit = (c_first != big) & (c_first < first_ns)
        event = event & ~hit
        for i in np.flatnonzero(hit):
            ci = endpoint.censor_at[c_which[i]]
            desc.iloc[i] = f"censored at {ci.cause}"
            srcvar.iloc[i] = ci.date
        adt = adt.where(~hit, pd.Series(pd.to_datetime(c_first.astype("datetime64[ns]")), index=pop.index))
    adt = adt.where(event | pd.Series(srcvar != endpoint.censor, index=pop.index), pop[endpoint.censor])
    start = pop[endpoint.origin]
    keep = pd.Series(True, index=pop.index)
    if endpoint.landmark_months is not None:
        start = start + pd.Timedelta(days=round(endpoint.landmark_months * protocol.time.days_per_month))
        keep = adt > start
    ady = (adt - start).dt.days
    out = pd.DataFrame(
        {
            "STUDYID": study,
            "USUBJID": pop[patient_id],
            "PARAMCD": endpoint.paramcd,
            "PARAM": endpoint.param,
            "STARTDT": start,
            "ADT": adt,
            "ADY": ady.astype("Int64"),
            "AVAL": ady / protocol.time.days_per_month,
            "AVALU": "MONTHS",
            "CNSR": (~pd.Series(event, index=pop.index)).astype("int64"),
            "EVNTDESC": desc,
            "SRCDOM": srcvar.map(lambda v: sources.get(v, ("ADSL", v))[0]),
            "SRCVAR": srcvar.map(lambda v: sources.get(v, ("ADSL", v))[1]),
            "STRATUM": pop[protocol.adtte.stratum] if protocol.adtte.stratum else None,
        }
    )
    return out[keep.to_numpy()].reset_index(drop=True)


def _by_time(pop: pd.DataFrame, endpoint: Endpoint, protocol: Protocol, study: str, patient_id: str,
             ) -> pd.DataFrame:
    """An endpoint given by a follow-up time: ``AVAL`` = time converted to months, ``ADY`` = time in whole
    days (rounded), no dates; the event is the first listed whose ``when`` holds, else censored. Patients
    with a missing or negative time are left out (the screening and validation report them)."""
    t = protocol.time
    per_day = {"days": 1.0, "months": t.days_per_month, "years": t.days_per_year}[endpoint.time_unit]
    time = pd.to_numeric(pop[endpoint.time].astype(object), errors="coerce").astype("float64")
    keep = time.notna() & (time >= 0)
    pop, time = pop[keep], time[keep]
    days = time * per_day
    which = pd.Series([None] * len(pop), index=pop.index, dtype=object)
    for ev in endpoint.events:
        hit = compile_expression(ev.when or "").mask(pop) & which.isna()
        which[hit] = ev.cause
    event = which.notna()
    out = pd.DataFrame(
        {
            "STUDYID": study,
            "USUBJID": pop[patient_id],
            "PARAMCD": endpoint.paramcd,
            "PARAM": endpoint.param,
            "STARTDT": pd.Series(pd.NaT, index=pop.index, dtype="datetime64[ns]"),
            "ADT": pd.Series(pd.NaT, index=pop.index, dtype="datetime64[ns]"),
            "ADY": days.round().astype("Int64"),
            "AVAL": days / t.days_per_month,
            "AVALU": "MONTHS",
            "CNSR": (~event).astype("int64"),
            "EVNTDESC": which.where(event, endpoint.censor_description),
            "SRCDOM": "ADSL",
            "SRCVAR": endpoint.time,
            "STRATUM": pop[protocol.adtte.stratum] if protocol.adtte.stratum else None,
        }
    )
    return out.reset_index(drop=True)


def build_adtte(adsl: pd.DataFrame, protocol: Protocol, sources: dict[str, tuple[str, str]] | None = None,
                patient_id: str = "patient_id") -> pd.DataFrame:
    """All endpoint parameters of the protocol stacked, ordered by parameter (protocol order) then patient."""
    parts = [derive_tte(adsl, e, protocol, protocol.study.name, sources, patient_id) for e in protocol.endpoints]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ADTTE_COLUMNS})
    return pd.concat(parts, ignore_index=True)[list(ADTTE_COLUMNS)]
