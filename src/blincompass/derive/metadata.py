"""One column-metadata table for every analysis table: name, label, XPT name and label, derivation."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from blincompass.derive.adae import ADAE_COLUMNS
from blincompass.derive.adrs import ADRS_COLUMNS
from blincompass.derive.adsl import adsl_columns
from blincompass.derive.adtte import adtte_columns
from blincompass.derive.engine import derivation_text
from blincompass.io.xpt import label40, xpt_name
from blincompass.protocol import Protocol
from blincompass.protocol.plan import Plan

__all__ = ["METADATA_COLUMNS", "column_metadata", "table_labels"]

METADATA_COLUMNS: tuple[str, ...] = ("table", "name", "label", "xpt_name", "xpt_label", "derivation")

#: XPT names of the ADSL columns every study has.
_FIXED_XPT = {"eligible": "ELIGFL", "exclusion_step": "EXCLSTEP", "exclusion_reason": "EXCLRSN"}
_FIXED_XPT_LABELS = {"eligible": "Eligible (analysis population)", "exclusion_step": "Screening step of exclusion",
                     "exclusion_reason": "Failing eligibility criteria"}
_SCREENING_TEXT = {"eligible": "every [eligibility] criterion holds",
                   "exclusion_step": "id of the first failing [eligibility] criterion",
                   "exclusion_reason": "every failing criterion with the value found"}


def table_labels(protocol: Protocol, plan: Plan) -> dict[str, dict[str, str]]:
    """Column labels of each analysis table (``adsl``, ``adtte``, ``adrs``, ``adae``)."""
    return {"adsl": adsl_columns(protocol, plan), "adtte": adtte_columns(protocol), "adrs": dict(ADRS_COLUMNS),
            "adae": dict(ADAE_COLUMNS)}


def column_metadata(protocol: Protocol, plan: Plan, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per column of each table in ``tables``: table, name, label, XPT name (at most 8 characters,
    unique within the table), XPT label (at most 40) and how the column is derived."""
    labels = table_labels(protocol, plan)
    rows = []
    for table, df in tables.items():
        taken: set[str] = set()
        fixed = {plan.patient_id: "USUBJID", **({plan.centre: "SITEID"} if plan.centre else {}), **_FIXED_XPT}
        if table == "adsl":
            for d in protocol.derived:
                if d.xpt_name:
                    taken.add(d.xpt_name)
            taken |= set(fixed.values())
        for col in df.columns:
            label = labels.get(table, {}).get(col, col)
            d = protocol.derivation(col) if table == "adsl" else None
            if table == "adsl" and col in fixed:
                xname, xlabel = fixed[col], _FIXED_XPT_LABELS.get(col, label)
                text = _SCREENING_TEXT.get(col, f"{plan.patient_form}.{col}")
            elif d is not None:
                xname = d.xpt_name or xpt_name(col, taken)
                xlabel = d.xpt_label or label
                text = derivation_text(d, protocol)
            else:
                xname, xlabel, text = xpt_name(col, taken), label, ""
            rows.append((table, col, label, xname, label40(xlabel), text))
    return pd.DataFrame(rows, columns=list(METADATA_COLUMNS))
