"""Published vs recomputed: each published number of a study, next to the value recomputed from the data.

The published numbers live in a TOML file (a study package's ``published.toml``; the built-in study's is
shipped with the synthetic twin), each with where it is printed and how to recompute it from the analysis
tables (a blincompass.expr condition on ADSL or ADAE, a summary statistic of an ADSL column, or a key of
``results.json``). The reported tests are re-run from their printed counts with the usual candidate
tests, to say which test, if any, reproduces each p-value. The section's wording comes from the layout.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blincompass.report.model import HeaderCell, Paragraph, ReportContext, Row, Section, Table, get, put
from blincompass.report.query import query_mask
from blincompass.stats import chi2_sf, chi2_test, fisher_exact, g_test
from blincompass.stats.unconditional import barnard_exact, boschloo_exact

__all__ = [
    "PUBLISHED_BUILTIN",
    "Published",
    "compare_published",
    "load_published",
    "published_section",
    "rerun_tests",
]

#: The built-in study's published numbers (package resource).
PUBLISHED_BUILTIN = "blincompass.synth:data/published.toml"


@dataclass(frozen=True)
class Published:
    """The transcribed published numbers, reported tests and noted inconsistencies of a study."""

    source: str
    numbers: tuple[dict[str, Any], ...]
    tests: tuple[dict[str, Any], ...]
    inconsistencies: tuple[dict[str, Any], ...]


def load_published(path: str | Path | None = None, *, source: str | None = None) -> Published:
    """Read a published-numbers file (default: the built-in study's). ``source`` names it in the report
    (default: the path; for the built-in file, the built-in layout's ``[published] source``)."""
    if path is None:
        pkg, _, name = PUBLISHED_BUILTIN.partition(":")
        text = resources.files(pkg).joinpath(name).read_text("utf-8")
        if source is None:
            from blincompass.protocol.layout import load_layout

            source = load_layout(None).published.source
    else:
        text = Path(path).read_text(encoding="utf-8")
        source = source or str(path)
    data = tomllib.loads(text)
    numbers = tuple(data.get("numbers", ()))
    keys = [n["key"] for n in numbers]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"{source}: duplicate number keys {dup}")
    return Published(source, numbers, tuple(data.get("tests", ())), tuple(data.get("inconsistencies", ())))


def _round(x: float, decimals: int, mode: str = ROUND_HALF_UP) -> Decimal:
    return Decimal(repr(float(x))).quantize(Decimal(1).scaleb(-decimals), rounding=mode)


def _analysis_frames(ctx: ReportContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    adsl = ctx.derived.adsl
    elig = adsl[adsl["eligible"].fillna(False).astype(bool)].copy()
    adae = ctx.adae.copy()
    # helper columns for queries that the analysis tables do not carry
    if "months_diagnosis_to_first_dose" in elig.columns:
        elig["years_diagnosis_to_first_dose"] = elig["months_diagnosis_to_first_dose"] / 12.0
    if "COURSE" in adae.columns:
        for k in (1, 2, 3):
            pats = set(adae.loc[adae["COURSE"] == k, "USUBJID"])
            elig[f"ae_in_course_{k}"] = elig["patient_id"].isin(pats)
    return elig, adae


def _mask(df: pd.DataFrame, expr: str, masks: dict[tuple[int, str], pd.Series] | None = None) -> pd.Series:
    """Rows of ``df`` where ``expr`` holds; ``masks`` (by frame id and expression, kept by the caller while
    its frames live) saves evaluating a denominator asked for by many published numbers again."""
    if masks is None:
        return query_mask(df, expr)
    key = (id(df), expr)
    if key not in masks:
        masks[key] = query_mask(df, expr)
    return masks[key]


def _recompute(n: dict[str, Any], adsl: pd.DataFrame, adae: pd.DataFrame, results: dict[str, Any],
               masks: dict[tuple[int, str], pd.Series] | None = None) -> tuple[float | None, float | None]:
    """(value, percentage) recomputed for one published number (``None`` when not computable)."""
    pct = None
    if "adsl" in n:
        value = float(_mask(adsl, n["adsl"], masks).sum())
        den = int(_mask(adsl, n.get("of", ""), masks).sum())
        pct = 100.0 * value / den if den else None
    elif "adae" in n:
        value = float(_mask(adae, n["adae"], masks).sum())
        if "of_adae" in n:
            den = int(_mask(adae, n["of_adae"], masks).sum())
            pct = 100.0 * value / den if den else None
    elif "adae_patients" in n:
        value = float(adae.loc[_mask(adae, n["adae_patients"], masks), "USUBJID"].nunique())
        den = int(_mask(adsl, n.get("of", ""), masks).sum())
        pct = 100.0 * value / den if den else None
    elif "stat" in n:
        fn, _, col = n["stat"].partition(":")
        x = pd.to_numeric(adsl.loc[_mask(adsl, n.get("where_rows", ""), masks), col], errors="coerce").dropna()
        if x.empty:
            return None, None
        funcs = {"median": x.median, "min": x.min, "max": x.max, "mean": x.mean,
                 "q1": lambda: x.quantile(0.25), "q3": lambda: x.quantile(0.75)}
        value = float(funcs[fn]())
    elif "result" in n:
        try:
            v = get(results, n["result"])
        except KeyError:
            return None, None
        value = None if v is None else float(v)
    else:
        raise ValueError(f"published number {n['key']}: no way to recompute it")
    return value, pct


def _fmt(x: float | None, decimals: int) -> str:
    return "n/a" if x is None else f"{_round(x, decimals)}"


def compare_published(published: Published, ctx: ReportContext, truncated_status: str | None = None) -> pd.DataFrame:
    """One row per published number: where, label, published, recomputed, status and reason.

    status is "reproduced" when the recomputed value, rounded half-up to the printed decimals, equals the
    printed value (and so does its percentage), ``truncated_status`` (default: the layout's text
    ``published_truncated``, a status starting with "reproduced") when only truncation makes them equal,
    "differs" otherwise, "not computable" when the data do not give the number.
    """
    if truncated_status is None:
        truncated_status = ctx.layout.text_of("published_truncated", ctx.values)
    adsl, adae = _analysis_frames(ctx)
    masks: dict[tuple[int, str], pd.Series] = {}
    rows = []
    for n in published.numbers:
        dec = int(n.get("decimals", 0))
        pdec = int(n.get("pct_decimals", 1))
        value, pct = _recompute(n, adsl, adae, ctx.results, masks)
        shown = _fmt(n["value"], dec) + (f" ({_fmt(n['pct'], pdec)} %)" if "pct" in n else "")
        recomputed = _fmt(value, dec) + (f" ({_fmt(pct, pdec)} %)" if "pct" in n and pct is not None else "")
        if value is None:
            status, reason = "not computable", n.get("note", "the data do not give this number")
        else:
            if n.get("compare") == "below":
                ok_value = value < float(n["value"])
            else:
                ok_value = _round(value, dec) == _round(n["value"], dec)
            ok_pct = True
            truncated = False
            if "pct" in n and pct is not None:
                ok_pct = _round(pct, pdec) == _round(n["pct"], pdec)
                if not ok_pct and _round(pct, pdec, ROUND_DOWN) == _round(n["pct"], pdec):
                    ok_pct, truncated = True, True
            if ok_value and ok_pct:
                status = truncated_status if truncated else "reproduced"
                reason = n.get("note", "")
            else:
                status = "differs"
                reason = n.get("note") or f"recomputed {recomputed} from the data"
        rows.append({"key": n["key"], "where": n["where"], "label": n["label"], "published": shown,
                     "recomputed": recomputed, "status": status, "reason": reason,
                     "published_value": float(n["value"]), "recomputed_value": value,
                     "published_pct": n.get("pct"), "recomputed_pct": pct})
    return pd.DataFrame(rows)


def _candidate_tests(table: list[list[int]]) -> list[tuple[str, float]]:
    """p-values of the usual tests of a 2x2 table (one-sided ones in the direction of the first row)."""
    t = np.asarray(table, dtype=float)
    out = [
        ("Fisher exact, one-sided", fisher_exact(table, alternative="greater", conf_int=False).pvalue),
        ("Fisher exact, two-sided", fisher_exact(table, conf_int=False).pvalue),
    ]
    for corr, name in ((False, "Pearson chi-square"), (True, "Pearson chi-square with Yates correction")):
        p = chi2_test(table, correction=corr).pvalue
        out += [(f"{name}, two-sided", p), (f"{name}, halved (one-sided)", p / 2)]
    # Likelihood-ratio chi-square (G statistic); SPSS prints it beside Pearson's.
    g = g_test(table)
    out += [("Likelihood-ratio chi-square, two-sided", float(g.pvalue)),
            ("Likelihood-ratio chi-square, halved (one-sided)", float(g.pvalue) / 2)]
    # Linear-by-linear association (SPSS Crosstabs): M^2 = (N - 1) r^2 with r the Pearson correlation of
    # the row and column scores; for a 2x2 table this is (N - 1) / N times Pearson's chi-square.
    n = t.sum()
    m2 = (n - 1) / n * chi2_test(table, correction=False).statistic
    p = float(chi2_sf(m2, 1))
    out += [("Linear-by-linear association, two-sided", p), ("Linear-by-linear association, halved", p / 2)]
    out += [("Barnard exact, one-sided", barnard_exact(t, alternative="greater").pvalue),
            ("Boschloo exact, one-sided", boschloo_exact(t, alternative="greater").pvalue)]
    return out


def rerun_tests(published: Published) -> pd.DataFrame:
    """Re-run each reported test from its counts; one row per (test, candidate) with ``matches``.

    A candidate matches when its p-value, rounded half-up to the decimals printed, equals the printed p.
    """
    rows = []
    for t in published.tests:
        reported = float(t["reported_p"])
        dec = max(len(str(t["reported_p"]).split(".")[-1]), 1)
        for name, p in _candidate_tests(t["table"]):
            rows.append({"key": t["key"], "label": t["label"], "reported_p": reported, "test": name,
                         "pvalue": p, "matches": _round(p, dec) == _round(reported, dec)})
    return pd.DataFrame(rows)


def published_section(ctx: ReportContext, published: Published | None = None) -> Section:
    """The report section listing every published number beside its recomputed value."""
    pub = published or load_published()
    truncated = ctx.layout.text_of("published_truncated", ctx.values)
    cmp_ = compare_published(pub, ctx, truncated)
    r = ctx.results
    n_rep = int(cmp_["status"].isin(["reproduced", truncated]).sum())
    put(r, "published.source", pub.source)
    put(r, "published.n_numbers", len(cmp_))
    put(r, "published.n_reproduced", n_rep)
    put(r, "published.n_differs", int((cmp_["status"] == "differs").sum()))
    for row in cmp_.itertuples():
        base = f"published.numbers.{row.key}"
        put(r, f"{base}.published", row.published_value)
        put(r, f"{base}.recomputed", row.recomputed_value)
        put(r, f"{base}.status", row.status)
    rows = tuple(
        Row((x.where, x.label, x.published, x.recomputed, x.status, x.reason),
            (None, None, f"published.numbers.{x.key}.published", f"published.numbers.{x.key}.recomputed",
             None, None))
        for x in cmp_.itertuples()
    )
    header = ((HeaderCell("Where"), HeaderCell("Number"), HeaderCell("Published"), HeaderCell("Recomputed"),
               HeaderCell("Status"), HeaderCell("Reason / note")),)
    table = Table("published", ctx.layout.table_title("published", ctx.values), header, rows, sheet="published",
                  align=("l", "l", "r", "r", "l", "l"))
    tests = rerun_tests(pub)
    trows = []
    for key, g in tests.groupby("key", sort=False):
        first = g.iloc[0]
        hits = g[g["matches"]]
        put(r, f"published.tests.{key}.reported_p", float(first["reported_p"]))
        put(r, f"published.tests.{key}.reproduced_by", [str(x) for x in hits["test"]])
        for x in g.itertuples():
            slug = "".join(ch if ch.isalnum() else "_" for ch in x.test.lower()).strip("_")
            put(r, f"published.tests.{key}.candidates.{slug}", float(x.pvalue))
            trows.append(Row((first["label"], f"{x.reported_p:g}", x.test, f"{x.pvalue:.4f}",
                              "yes" if x.matches else ""),
                             (None, f"published.tests.{key}.reported_p", None,
                              f"published.tests.{key}.candidates.{slug}", None)))
    theader = ((HeaderCell("Reported test"), HeaderCell("Printed p"), HeaderCell("Candidate test"),
                HeaderCell("p"), HeaderCell("Reproduces")),)
    ttable = Table("published_tests", ctx.layout.table_title("published_tests", ctx.values), theader,
                   tuple(trows), sheet="published_tests", align=("l", "r", "l", "r", "l"))
    blocks: list[Any] = [
        Paragraph(f"{n_rep} of {len(cmp_)} published numbers are reproduced by this data set "
                  f"({pub.source}). Each difference is explained in the last column."),
        table,
        Paragraph("Reported tests re-run from the printed counts: a candidate reproduces a printed p-value when "
                  "it equals it after rounding to the printed decimals."),
        ttable,
    ]
    if pub.inconsistencies:
        blocks.append(Paragraph(ctx.layout.text_of("published_inconsistencies", ctx.values)))
        blocks += [Paragraph(f"{i['where']}: {i['text']}", "note") for i in pub.inconsistencies]
    if any(math.isnan(v) for v in tests["pvalue"]):
        blocks.append(Paragraph("Some candidate tests could not be computed.", "warning"))
    return Section("published", ctx.layout.section_title("published", ctx.values), tuple(blocks))
