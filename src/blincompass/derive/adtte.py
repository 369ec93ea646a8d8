"""Time-to-event analysis table (ADTTE-style): one row per eligible patient and endpoint parameter."""

from __future__ import annotations

import numpy as np
import pandas as pd

from blincompass.protocol import Endpoint, Protocol

__all__ = ["ADTTE_COLUMNS", "EVENT_DATE_COLUMNS", "build_adtte", "derive_tte"]

#: Patient-level date column for each event name a protocol endpoint may use.
EVENT_DATE_COLUMNS: dict[str, str] = {"death": "death_date", "relapse": "relapse_date", "hsct": "hsct_date"}

ADTTE_COLUMNS: dict[str, str] = {
    "STUDYID": "Study identifier (protocol study.name)",
    "USUBJID": "Patient identifier",
    "PARAMCD": "Parameter code (protocol endpoints.paramcd)",
    "PARAM": "Parameter description",
    "STARTDT": "Time origin: first blinatumomab administration",
    "ADT": "Event or censoring date",
    "ADY": "Days from STARTDT to ADT",
    "AVAL": "Analysis value: months from STARTDT to ADT (days / protocol time.days_per_month)",
    "AVALU": "Unit of AVAL",
    "CNSR": "Censoring: 0 = event, 1 = censored (CDISC convention)",
    "EVNTDESC": "What happened at ADT: the event name, or 'censored at last follow-up'",
    "SRCDOM": "Source form of ADT",
    "SRCVAR": "Source variable of ADT",
    "STRATUM": "Baseline stratum id",
}


def derive_tte(adsl: pd.DataFrame, endpoint: Endpoint, protocol: Protocol, study: str) -> pd.DataFrame:
    """Derive one time-to-event parameter.

    Population: eligible patients for whom the ``endpoint.population`` column of ``adsl`` is true.
    Origin: the first blinatumomab administration. Event: the earliest date among ``endpoint.events``
    (ties keep the order the protocol lists them in). Otherwise censored at the last follow-up.
    AVAL = (ADT − STARTDT) in days / ``time.days_per_month``.
    """
    if endpoint.population not in adsl.columns:
        raise ValueError(
            f"protocol {protocol.source}: endpoint {endpoint.paramcd} population {endpoint.population!r} "
            "is not a column of the patient-level table"
        )
    sel = adsl["eligible"].fillna(False).astype(bool) & adsl[endpoint.population].fillna(False).astype(bool)
    pop = adsl[sel]
    dates = pd.DataFrame({e: pop[EVENT_DATE_COLUMNS[e]] for e in endpoint.events}, index=pop.index)
    first_event = dates.min(axis=1)
    # The earliest event per row (ties: the first listed); NaT counts as never. Done on int64 nanoseconds
    # because idxmin refuses rows that are all NaT.
    ns = dates.apply(lambda c: pd.to_datetime(c).astype("datetime64[ns]")).to_numpy("int64")
    ns = np.where(ns == np.iinfo(np.int64).min, np.iinfo(np.int64).max, ns)
    names = np.asarray(list(endpoint.events), dtype=object)
    which = pd.Series(names[ns.argmin(axis=1)] if len(names) else [], index=pop.index, dtype="object")
    which = which.where(first_event.notna())
    event = first_event.notna()
    adt = first_event.where(event, pop["last_followup_date"])
    ady = (adt - pop["first_dose_date"]).dt.days
    out = pd.DataFrame(
        {
            "STUDYID": study,
            "USUBJID": pop["patient_id"],
            "PARAMCD": endpoint.paramcd,
            "PARAM": endpoint.param,
            "STARTDT": pop["first_dose_date"],
            "ADT": adt,
            "ADY": ady.astype("Int64"),
            "AVAL": ady / protocol.time.days_per_month,
            "AVALU": "MONTHS",
            "CNSR": (~event).astype("int64"),
            "EVNTDESC": which.where(event, "censored at last follow-up"),
            "SRCDOM": "outcomes",
            "SRCVAR": which.map(EVENT_DATE_COLUMNS).where(event, "last_followup_date"),
            "STRATUM": pop["stratum"],
        }
    )
    return out.reset_index(drop=True)


def build_adtte(adsl: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """All endpoint parameters of the protocol stacked, ordered by parameter (protocol order) then patient."""
    parts = [derive_tte(adsl, e, protocol, protocol.study.name) for e in protocol.endpoints]
    return pd.concat(parts, ignore_index=True)[list(ADTTE_COLUMNS)]
