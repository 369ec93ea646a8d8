"""Response table: each response count with its 95 % Clopper–Pearson interval, by stratum and overall."""

from __future__ import annotations

from typing import Any

import pandas as pd

from blincompass.protocol import Protocol
from blincompass.protocol.layout import Layout
from blincompass.report.fmt import DASH, fmt_num, fmt_pct
from blincompass.report.model import HeaderCell, Row, Table, put
from blincompass.report.query import query_mask
from blincompass.report.table1 import eligible
from blincompass.report.wording import resolve
from blincompass.stats import proportion_ci

__all__ = ["build_response_table"]


def build_response_table(adsl: pd.DataFrame, protocol: Protocol, results: dict[str, Any],
                         layout: Layout | None = None, values: dict[str, Any] | None = None) -> Table:
    """Response counts by baseline stratum and overall, each with its Clopper–Pearson interval.

    The rows are the protocol's ``[[report.response]]`` items: patients for whom ``yes`` holds among the
    evaluable ones (``evaluable``; missing assessments excluded, as ``analyses.settings.missing =
    "exclude"``). In ADSL a course stopped for progression already counts as no CR.
    Result keys: ``response.<item>.<group>.n``, ``.denominator``, ``.pct``, ``.lower_pct``,
    ``.upper_pct`` with ``<group>`` a stratum id or ``all``.
    """
    lay, v = resolve(protocol, adsl, layout, values)
    level = protocol.analyses.settings.conf_level
    elig = eligible(adsl)
    col = protocol.adtte.stratum
    levels = protocol.levels(col) if col and protocol.derivation(col) is not None else []
    groups: list[tuple[str, str, pd.DataFrame]] = [
        (str(v), label, elig[elig[col] == v]) for v, label in levels
    ]
    groups.append(("all", "All patients", elig))
    rows: list[Row] = []
    for item in protocol.report.response:
        key, label, lvl = item.id, item.label, item.level
        texts: list[str] = [label]
        keys: list[str | None] = [None]
        for gid, _, d in groups:
            ok, evaluable = query_mask(d, item.yes), query_mask(d, item.evaluable)
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
    progression = any(d.kind == "function" and "progressed" in d.args for d in protocol.derived)
    foot = (
        f"Exact (Clopper{DASH}Pearson) {100 * level:g}% confidence intervals. N: evaluable patients (missing "
        "assessments excluded)" + ("; a course stopped for disease progression counts as no response."
                                   if progression else "."),
        *_rule_notes(protocol),
    )
    return Table(
        id="response",
        caption=lay.table_title("response", v),
        header=header,
        rows=tuple(rows),
        footnotes=foot,
        sheet="Response",
    )


def _rule_notes(protocol: Protocol) -> list[str]:
    """Sentences stating the response rules the protocol's derivation functions apply."""
    notes: list[str] = []
    fn = {d.function: d for d in protocol.derived if d.kind == "function"}
    resp, mrd, early = fn.get("response_by_stratum"), fn.get("mrd_status"), fn.get("early_relapse")
    if resp is not None and mrd is not None:
        labels = dict(protocol.levels(resp.args["stratum"])) if protocol.derivation(resp.args["stratum"]) else {}
        kinds = ", ".join(f"{labels.get(k, k)}: {v.replace('_', ' ')}" for k, v in resp.args["rules"].items())
        names = [m["name"] for m in mrd.args["methods"]]
        notes.append(
            f"Response after course 1 by stratum ({kinds}). MRD negative: level < "
            f"{mrd.args['negative_below']:g} or negative; when PCR and flow cytometry both give a result the "
            f"method listed first decides ({', '.join(names)}).")
    if early is not None:
        notes.append(f"Early relapse: relapse during the first {early.args['max_course']} courses or within "
                     f"{early.args['days_after']} days after the last of them, before any HSCT.")
    return notes
