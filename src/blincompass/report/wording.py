"""The report's wording: the study package's layout (:mod:`blincompass.protocol.layout`) and the values its
placeholders are filled with."""

from __future__ import annotations

from typing import Any

import pandas as pd

from blincompass.protocol.layout import Layout, load_layout

__all__ = ["layout_or_default", "layout_values", "resolve", "sided_header"]


def layout_or_default(layout: Layout | None) -> Layout:
    """``layout``, or the built-in study's layout when ``None`` (as a protocol of ``None`` is the built-in
    protocol)."""
    return layout if layout is not None else load_layout(None)


def layout_values(protocol: Any, adsl: pd.DataFrame | None, layout: Layout) -> dict[str, Any]:
    """The values of the layout's placeholders (:data:`blincompass.protocol.layout.PLACEHOLDERS`)."""
    n_screened = n_eligible = 0
    if adsl is not None and "eligible" in adsl.columns:
        n_screened = len(adsl)
        n_eligible = int(adsl["eligible"].fillna(False).astype(bool).sum())
    study = getattr(protocol, "study", None)
    report = getattr(protocol, "report", None)
    table2 = getattr(report, "table2", None)
    time = getattr(protocol, "time", None)
    return {
        "study_name": getattr(study, "name", ""),
        "study_title": getattr(study, "title", ""),
        "treatment": layout.names.treatment,
        "index_event": layout.names.index_event,
        "n_screened": n_screened,
        "n_eligible": n_eligible,
        "days_per_month": getattr(time, "days_per_month", ""),
        "ctcae_version": getattr(table2, "ctcae_version", ""),
    }


def resolve(protocol: Any, adsl: pd.DataFrame | None, layout: Layout | None,
            values: dict[str, Any] | None) -> tuple[Layout, dict[str, Any]]:
    """The layout (default: the built-in one) and placeholder values (default: from ``protocol`` and
    ``adsl``) a table builder called on its own works with."""
    lay = layout_or_default(layout)
    return lay, values if values is not None else layout_values(protocol, adsl, lay)


def sided_header(alternatives: list[str], what: str = "p") -> str:
    """A p-value column header that names the sidedness: "p (one-sided)", "p (two-sided)", or, for a mix,
    "p (sidedness in the next column)"."""
    kinds = {"two" if alt == "two-sided" else "one" for alt in alternatives}
    if kinds == {"one"}:
        return f"{what} (one-sided)"
    if kinds == {"two"}:
        return f"{what} (two-sided)"
    return f"{what} (sidedness in the next column)"
