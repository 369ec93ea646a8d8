"""Response table: each response count with its 95 % Clopper–Pearson interval, by stratum and overall."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from blincompass.protocol import Protocol
from blincompass.report.fmt import DASH, fmt_num, fmt_pct
from blincompass.report.model import HeaderCell, Row, Table, put
from blincompass.report.table1 import eligible
from blincompass.stats import proportion_ci

__all__ = ["RESPONSE_ITEMS", "build_response_table"]


def _b(s: pd.Series) -> pd.Series:
    """Nullable boolean (missing stays missing)."""
    return s.astype("boolean")


def _cr1(d: pd.DataFrame) -> pd.Series:
    """CR after course 1; a course stopped for progression counts as no CR."""
    cr = _b(d["cr_c1"]).copy()
    cr[d["progression_on_treatment"].fillna(False).astype(bool)] = False
    return cr


def _mrd_neg(method: str | None) -> Callable[[pd.DataFrame], tuple[pd.Series, pd.Series]]:
    def f(d: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        cr = _cr1(d)
        neg = cr.fillna(False).astype(bool) & (d["mrd_c1"] == "negative")
        if method is not None:
            neg &= d["mrd_method_c1"] == method
        return neg, cr.notna()

    return f


def _flag(col: str) -> Callable[[pd.DataFrame], tuple[pd.Series, pd.Series]]:
    def f(d: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        v = _b(d[col])
        return v.fillna(False).astype(bool), v.notna()

    return f


def _not(col: str) -> Callable[[pd.DataFrame], tuple[pd.Series, pd.Series]]:
    def f(d: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        v = _b(d[col])
        return (v == False).fillna(False).astype(bool), v.notna()  # noqa: E712 - nullable boolean

    return f


def _among_cr(col: str) -> Callable[[pd.DataFrame], tuple[pd.Series, pd.Series]]:
    def f(d: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        cr = _cr1(d).fillna(False).astype(bool)
        return cr & _b(d[col]).fillna(False).astype(bool), cr

    return f


def _cr_c1(d: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    cr = _cr1(d)
    return cr.fillna(False).astype(bool), cr.notna()


def _cr_after_c3(d: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    cr = _cr1(d)
    held = cr.fillna(False).astype(bool) & ~_b(d["early_relapse"]).fillna(False).astype(bool)
    return held, cr.notna()


def _all(col: str) -> Callable[[pd.DataFrame], tuple[pd.Series, pd.Series]]:
    def f(d: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        return _b(d[col]).fillna(False).astype(bool), pd.Series(True, index=d.index)

    return f


#: Rows of the response table: (results key, label, indent level, function giving (success, evaluable)).
RESPONSE_ITEMS: tuple[tuple[str, str, int, Callable[[pd.DataFrame], tuple[pd.Series, pd.Series]]], ...] = (
    ("cr_c1", "Complete remission (CR, <5% blasts) after course 1", 0, _cr_c1),
    ("mrd_negative_c1", "CR with MRD negativity after course 1", 0, _mrd_neg(None)),
    ("mrd_negative_c1_pcr", "deciding method PCR", 1, _mrd_neg("PCR")),
    ("mrd_negative_c1_fc", "deciding method flow cytometry", 1, _mrd_neg("FC")),
    ("response_c1", "Response after course 1 (protocol definition by stratum)", 0, _flag("response_c1")),
    ("response_sustained", "Response sustained after course 3 (early relapses counted as failures)", 0,
     _flag("response_sustained")),
    ("non_responders", "Non-responders after course 1", 0, _not("response_c1")),
    ("early_relapse", "Early relapse (of the patients in CR after course 1)", 0, _among_cr("early_relapse")),
    ("cd19_negative_relapse", "CD19-negative relapse (of the patients in CR after course 1)", 0,
     _among_cr("relapse_cd19_negative")),
    ("relapse_after_cr", "Any relapse (of the patients in CR after course 1)", 0, _among_cr("relapse")),
    ("cr_after_c3", "Overall CR after three courses (CR after course 1 without early relapse)", 0, _cr_after_c3),
    ("hsct", "Allogeneic HSCT after blinatumomab", 0, _all("hsct")),
    ("death", "Died during follow-up", 0, _all("death")),
)


def build_response_table(adsl: pd.DataFrame, protocol: Protocol, results: dict[str, Any]) -> Table:
    """Response counts by baseline stratum and overall, each with its Clopper–Pearson interval.

    Denominators are the evaluable patients (missing assessments excluded, as the protocol's
    ``analyses.settings.missing = "exclude"``); a course stopped for progression counts as no CR.
    Result keys: ``response.<item>.<group>.n``, ``.denominator``, ``.pct``, ``.lower_pct``,
    ``.upper_pct`` with ``<group>`` a stratum id or ``all``.
    """
    level = protocol.analyses.settings.conf_level
    elig = eligible(adsl)
    groups: list[tuple[str, str, pd.DataFrame]] = [
        (lv.id, lv.label, elig[elig["stratum"] == lv.id]) for lv in protocol.strata.levels
    ]
    groups.append(("all", "All patients", elig))
    rows: list[Row] = []
    for key, label, lvl, fn in RESPONSE_ITEMS:
        texts: list[str] = [label]
        keys: list[str | None] = [None]
        for gid, _, d in groups:
            ok, evaluable = fn(d)
            n = int((ok & evaluable).sum())
            den = int(evaluable.sum())
            base = f"response.{key}.{gid}"
            kn = put(results, f"{base}.n", n)
            put(results, f"{base}.denominator", den)
            if den:
                ci = proportion_ci(n, den, method="clopper-pearson", conf_level=level)
                lo, hi = 100.0 * ci.lower, 100.0 * ci.upper
            else:
                lo = hi = None
            put(results, f"{base}.pct", 100.0 * n / den if den else None)
            put(results, f"{base}.lower_pct", lo)
            put(results, f"{base}.upper_pct", hi)
            texts += [f"{n}/{den}", f"{fmt_pct(n, den)} ({fmt_num(lo)}{DASH}{fmt_num(hi)})" if den else "-"]
            keys += [kn, f"{base}.pct"]
        rows.append(Row(tuple(texts), tuple(keys), lvl + 1 if lvl else 0))
    pct_head = f"% ({100 * level:g}% CI)"
    header = (
        (HeaderCell("Outcome"), *[HeaderCell(f"{label} (n = {len(d)})", 2) for _, label, d in groups]),
        (HeaderCell(""), *[HeaderCell(x) for _ in groups for x in ("n/N", pct_head)]),
    )
    kinds = ", ".join(f"{lv.label}: {protocol.response.response_by_stratum[lv.id].replace('_', ' ')}"
                      for lv in protocol.strata.levels)
    foot = (
        f"Exact (Clopper{DASH}Pearson) {100 * level:g}% confidence intervals. N: evaluable patients (missing "
        "assessments excluded); a course stopped for disease progression counts as no response.",
        f"Response after course 1 by stratum ({kinds}). MRD negative: level < "
        f"{protocol.response.mrd_negative_below:g} or negative; when PCR and flow cytometry both give a result the "
        f"method listed first decides ({', '.join(m.upper() for m in protocol.response.mrd_method_precedence)}).",
        f"Early relapse: relapse during the first {protocol.response.early_relapse_max_course} courses or within "
        f"{protocol.response.early_relapse_days_after_course} days after the last of them, before any HSCT.",
    )
    return Table(
        id="response",
        caption="Table 3. Response to blinatumomab by bone-marrow blasts at the first course.",
        header=header,
        rows=tuple(rows),
        footnotes=foot,
        sheet="Response",
    )
