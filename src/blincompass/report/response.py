"""Response table: each response count with its 95 % Clopper–Pearson interval, by stratum and overall."""

from __future__ import annotations

from typing import Any

import pandas as pd

from blincompass.protocol import Protocol
from blincompass.protocol.layout import Layout, fill
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
    The layout's ``[response.<item>]`` gives a row label per stratum (appended to the row's label) and a
    note under the table, with the counts of the protocol's ``alternative`` definition of the row.
    Result keys: ``response.<item>.<group>.n``, ``.denominator``, ``.pct``, ``.lower_pct``,
    ``.upper_pct`` with ``<group>`` a stratum id or ``all``; ``response.<item>.alternative.n`` and
    ``.denominator`` for rows with an alternative definition.
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
    notes: list[str] = []
    for item in protocol.report.response:
        key, label, lvl = item.id, item.label, item.level
        wording = lay.response.get(key)
        if wording is not None and wording.stratum_labels:
            names = {gid: glabel for gid, glabel, _ in groups}
            per = "; ".join(f"{names.get(g, g)}: {t}" for g, t in wording.stratum_labels.items())
            label = f"{label} ({per})"
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
            texts += [f"{n}/{den}", f"{fmt_pct(n, den)} ({fmt_num(lo)}{DASH}{fmt_num(hi)})" if den else DASH]
            keys += [kn, f"{base}.pct"]
        rows.append(Row(tuple(texts), tuple(keys), lvl + 1 if lvl else 0))
        overall = results["response"][key]["all"]
        fill_values = {**v, "n": overall["n"], "N": overall["denominator"], "alt_n": "", "alt_N": ""}
        if item.alternative is not None:
            ev = query_mask(elig, item.alternative.evaluable)
            alt_yes = int((query_mask(elig, item.alternative.yes) & ev).sum())
            fill_values.update(alt_n=alt_yes, alt_N=int(ev.sum()))
            put(results, f"response.{key}.alternative.n", alt_yes)
            put(results, f"response.{key}.alternative.denominator", int(ev.sum()))
        if wording is not None and wording.note:
            notes.append(f"{item.label}: {fill(wording.note, fill_values)}")
    pct_head = f"% ({100 * level:g} % CI)"
    header = (
        (HeaderCell("Outcome"), *[HeaderCell(f"{label} (n = {len(d)})", 2) for _, label, d in groups]),
        (HeaderCell(""), *[HeaderCell(x) for _ in groups for x in ("n/N", pct_head)]),
    )
    progression = any(d.kind == "function" and "progressed" in d.args for d in protocol.derived)
    foot = (
        f"Exact (Clopper{DASH}Pearson) {100 * level:g} % confidence intervals. N: evaluable patients (patients "
        "without the assessment are left out)" + ("; a course stopped for disease progression counts as no "
                                                  "response." if progression else "."),
        *_rule_notes(protocol),
        *notes,
    )
    return Table(
        id="response",
        caption=lay.table_title("response", v),
        header=header,
        rows=tuple(rows),
        footnotes=foot,
        sheet="Response",
    )


#: The rules of the ``response_by_stratum`` derivation function in words.
_RULE_WORDS = {"cr": "complete remission", "mrd_negative": "MRD negativity (in complete remission)"}


def _rule_notes(protocol: Protocol) -> list[str]:
    """Sentences stating the response rules the protocol's derivation functions apply."""
    notes: list[str] = []
    fn = {d.function: d for d in protocol.derived if d.kind == "function"}
    resp, mrd, early = fn.get("response_by_stratum"), fn.get("mrd_status"), fn.get("early_relapse")
    if resp is not None and mrd is not None:
        labels = dict(protocol.levels(resp.args["stratum"])) if protocol.derivation(resp.args["stratum"]) else {}
        kinds = "; ".join(f"{labels.get(k, k)}: {_RULE_WORDS.get(v, v.replace('_', ' '))}"
                          for k, v in resp.args["rules"].items())
        names = [m["name"] for m in mrd.args["methods"]]
        notes.append(
            f"Response after course 1 as each stratum defines it ({kinds}). MRD negativity: an MRD level below "
            f"{mrd.args['negative_below']:g} or a negative result; when several methods give a result, the first "
            f"of {', '.join(names)} decides.")
    if early is not None:
        notes.append(f"Early relapse: relapse during the first {early.args['max_course']} courses or within "
                     f"{early.args['days_after']} days after the last of them, before any HSCT.")
    return notes
