"""Fisher's exact comparisons of the protocol (``[[analyses.proportions]]``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from blincompass.protocol import ProportionAnalysis, Protocol
from blincompass.protocol.layout import Layout
from blincompass.report.fmt import DASH, fmt_ci, fmt_n_pct, fmt_num, fmt_p
from blincompass.report.model import HeaderCell, Row, Table, put
from blincompass.report.table1 import apply_distinct, code_key, eligible, norm_value
from blincompass.report.wording import resolve, sided_header
from blincompass.stats import chi2_test, fisher_exact

__all__ = ["build_fisher_table", "fisher_alternative_text", "run_fisher"]


def fisher_alternative_text(alternative: str, first: str, second: str, outcome: str) -> str:
    """A Fisher alternative in words, e.g. "one-sided, H1: <5% blasts has higher odds of response_c1"."""
    if alternative == "greater":
        return f"one-sided, H1: {first} has higher odds of {outcome} than {second}"
    if alternative == "less":
        return f"one-sided, H1: {first} has lower odds of {outcome} than {second}"
    return f"two-sided, H1: the odds of {outcome} differ between {first} and {second}"


def run_fisher(adsl: pd.DataFrame, a: ProportionAnalysis, protocol: Protocol) -> dict[str, Any]:
    """Counts and Fisher tests of one comparison (eligible patients, ``population``, missing excluded).

    Rows of the 2 x 2 table are the groups in ``order``, columns outcome yes / no. Returns the p-value for
    the protocol's alternative, the two-sided p, the one-sided p in the other sense (for a two-sided
    protocol: in the direction of the observed odds ratio), and the conditional MLE odds ratio with its
    two-sided interval.
    """
    d = eligible(adsl)
    for col in (a.outcome, a.group, a.population):
        if col and col not in d.columns:
            raise ValueError(f"analyses.proportions {a.id}: {col!r} is not a patient-level column")
    if a.population:
        d = d[d[a.population].astype("boolean").fillna(False).astype(bool)]
    order = list(a.order) if a.order else sorted({norm_value(v) for v in d[a.group] if norm_value(v) is not None},
                                                 key=str)
    keys = [code_key(o) for o in order]
    g = apply_distinct(d[a.group], lambda v: code_key(norm_value(v)) if norm_value(v) is not None else None)
    y = d[a.outcome].astype("boolean")
    keep = g.isin(keys) & y.notna()
    n_excluded = int((~keep).sum())
    g, y = g[keep], y[keep].astype(bool)
    table = np.array([[int((y[g == k]).sum()), int((~y[g == k]).sum())] for k in keys], dtype=np.int64)
    out: dict[str, Any] = {
        "groups": keys,
        "labels": [a.group_label(o) for o in order],
        "table": table,
        "n_excluded": n_excluded,
        "alternative": a.alternative,
    }
    if len(keys) < 2 or (table.sum(axis=1) == 0).any() or (table.sum(axis=0) == 0).any():
        out["note"] = "test not computable (a group or an outcome level has no patients)"
        return out
    if len(keys) > 2:  # k x 2 table: the exact test of independence, two-sided; no odds ratio
        try:
            res = fisher_exact(table)
        except ValueError:  # too many tables to enumerate: Monte Carlo with the protocol's seed
            cfg = protocol.analyses.permutation
            res = fisher_exact(table, simulate_p_value=True, B=cfg.n_resamples, seed=cfg.seed)
        # Pearson's chi-square test of the same k x 2 table beside it (no continuity correction: it applies
        # to 2 x 2 tables only), as R chisq.test
        chi = chi2_test(table, correction=False)
        out.update(p=res.pvalue, p_two_sided=res.pvalue, k_groups=len(keys),
                   alternative="two-sided" if a.alternative != "two-sided" else a.alternative,
                   chisq=chi.statistic, chisq_df=int(chi.df), chisq_p=chi.pvalue,
                   fisher_method=res.method)
        return out
    two = fisher_exact(table, alternative="two-sided", conf_level=protocol.analyses.settings.conf_level)
    if a.alternative == "two-sided":
        other_alt = "greater" if (two.odds_ratio or 0) >= 1 else "less"
        main = two
    else:
        other_alt = "two-sided"
        main = fisher_exact(table, alternative=a.alternative, conf_int=False)  # only its p-value is used
    one_alt = a.alternative if a.alternative != "two-sided" else other_alt
    one = fisher_exact(table, alternative=one_alt, conf_int=False)
    out.update(p=main.pvalue, p_two_sided=two.pvalue, p_one_sided=one.pvalue, one_sided_alternative=one_alt,
               odds_ratio=two.odds_ratio, or_lower=two.conf_int.lower if two.conf_int else None,
               or_upper=two.conf_int.upper if two.conf_int else None)
    return out


def build_fisher_table(adsl: pd.DataFrame, protocol: Protocol, results: dict[str, Any],
                       layout: Layout | None = None, values: dict[str, Any] | None = None) -> Table:
    """One row per ``[[analyses.proportions]]`` entry.

    Result keys: ``tests.<id>.counts.<g>.yes``/``.no``/``.n``/``.pct``, ``.p`` (protocol's alternative),
    ``.sided``, ``.alternative``, ``.alternative_text``, ``.p_one_sided`` (with
    ``.one_sided_alternative``), ``.p_two_sided``, ``.odds_ratio``, ``.or_lower``, ``.or_upper``,
    ``.n_excluded``. Three or more groups: the k x 2 Fisher exact test (two-sided, no odds ratio) with
    ``.k_groups``, and Pearson's chi-square test of the same table (``.chisq``, ``.chisq_df``, ``.chisq_p``)
    in the "other" column.
    """
    lay, v = resolve(protocol, adsl, layout, values)
    rows: list[Row] = []
    level = protocol.analyses.settings.conf_level
    ks: list[dict[str, Any]] = []
    for a in protocol.analyses.proportions:
        r = run_fisher(adsl, a, protocol)
        ks.append(r)
        base = f"tests.{a.id}"
        put(results, f"{base}.test", "Fisher exact")
        put(results, f"{base}.title", a.title)
        put(results, f"{base}.outcome", a.outcome)
        put(results, f"{base}.n_excluded", r["n_excluded"])
        counts = []
        for k, label, (yes, no) in zip(r["groups"], r["labels"], r["table"], strict=True):
            n = int(yes + no)
            put(results, f"{base}.counts.{k}.label", label)
            put(results, f"{base}.counts.{k}.yes", int(yes))
            put(results, f"{base}.counts.{k}.no", int(no))
            put(results, f"{base}.counts.{k}.n", n)
            put(results, f"{base}.counts.{k}.pct", 100.0 * yes / n if n else None)
            counts.append(f"{label}: {fmt_n_pct(int(yes), n)} of {n}")
        first = r["labels"][0] if r["labels"] else ""
        second = r["labels"][1] if len(r["labels"]) > 1 else ""
        decl = protocol.derivation(a.outcome)
        what = decl.label if decl is not None and decl.label else a.outcome
        acronym = len(what) > 1 and what[1].isupper()  # "ICANS ...", "CR after ...": keep as written
        words = fisher_alternative_text(a.alternative, first, second,
                                        what if acronym else what[:1].lower() + what[1:])
        put(results, f"{base}.alternative", a.alternative)
        put(results, f"{base}.alternative_text", words)
        put(results, f"{base}.sided", "two" if a.alternative == "two-sided" else "one")
        if "note" in r:
            put(results, f"{base}.note", r["note"])
            rows.append(Row((a.title, "; ".join(counts), r["note"], words, "", ""),
                            (None, None, None, None, None, None)))
            continue
        if "k_groups" in r:  # more than two groups: one two-sided test of the k x 2 table
            put(results, f"{base}.p", r["p"])
            put(results, f"{base}.p_two_sided", r["p_two_sided"])
            put(results, f"{base}.sided", "two")
            text = f"two-sided: the {r['k_groups']} groups differ (a one-sided test needs two groups)"
            put(results, f"{base}.alternative_text", text)
            put(results, f"{base}.k_groups", r["k_groups"])
            put(results, f"{base}.method", r["fisher_method"])
            put(results, f"{base}.chisq", r["chisq"])
            put(results, f"{base}.chisq_df", r["chisq_df"])
            put(results, f"{base}.chisq_p", r["chisq_p"])
            chi = f"{fmt_p(r['chisq_p'])} (Pearson chi-square {r['chisq']:.3f}, {r['chisq_df']} df)"
            rows.append(Row((a.title, "; ".join(counts), fmt_p(r["p"]), text, chi, DASH),
                            (None, f"{base}.counts.{r['groups'][0]}.yes", f"{base}.p", None, f"{base}.chisq_p",
                             None)))
            continue
        for k in ("p", "p_one_sided", "one_sided_alternative", "p_two_sided", "odds_ratio", "or_lower", "or_upper"):
            put(results, f"{base}.{k}", r[k])
        if a.alternative == "two-sided":
            other = f"{fmt_p(r['p_one_sided'])} (one-sided, {r['one_sided_alternative']})"
            other_key = f"{base}.p_one_sided"
        else:
            other = f"{fmt_p(r['p_two_sided'])} (two-sided)"
            other_key = f"{base}.p_two_sided"
        or_text = f"{fmt_num(r['odds_ratio'], 2)} ({fmt_ci(r['or_lower'], r['or_upper'], 2)})"
        rows.append(Row(
            (a.title, "; ".join(counts), fmt_p(r["p"]), words, other, or_text),
            (None, f"{base}.counts.{r['groups'][0]}.yes", f"{base}.p", None, other_key, f"{base}.odds_ratio"),
        ))
    alts = ["two-sided" if "k_groups" in r else a.alternative for a, r in zip(protocol.analyses.proportions, ks,
                                                                              strict=True)]
    header = ((HeaderCell("Comparison"), HeaderCell("Outcome yes, n (%) of N"),
               HeaderCell(sided_header(alts, "p, protocol's alternative")),
               HeaderCell("Alternative (protocol)"), HeaderCell("p, other sidedness"),
               HeaderCell(f"Odds ratio ({100 * level:g} % CI)")),)
    foot = (
        "Fisher's exact test on the 2 " + "\u00d7" + " 2 table group " + "\u00d7" + " outcome (eligible patients; "
        "missing outcome or group excluded). Odds ratio: conditional maximum-likelihood estimate of the first "
        f"group versus the second, with its two-sided exact interval (R fisher.test){DASH}not the sample odds ratio.",
    )
    differ = []
    for a in protocol.analyses.proportions:
        defs = {a.group_label(g): a.outcome_definitions.get(str(g).lower() if isinstance(g, bool) else str(g))
                for g in (a.order or ())}
        put(results, f"tests.{a.id}.outcome_differs_by_group", len(set(a.outcome_definitions.values())) > 1)
        if len(set(a.outcome_definitions.values())) > 1:
            differ.append(f"{a.title} (" + "; ".join(f"{g}: {d}" for g, d in defs.items() if d) + ")")
    if differ:
        foot += (lay.text_of("different_endpoints_caveat", v) + " Comparisons concerned: " + "; ".join(differ)
                 + ".",)
    if any("k_groups" in x for x in ks):
        foot += ("Three or more groups: Fisher's exact test of the k " + "\u00d7" + " 2 table (two-sided; "
                 "Monte Carlo p-value with the protocol's permutation seed when the tables are too many to "
                 "enumerate) and, in the 'other' column, Pearson's chi-square test of the same table (k " + DASH
                 + " 1 df, no continuity correction).",)
    return Table(id="fisher", caption=lay.table_title("fisher", v), header=header,
                 rows=tuple(rows), footnotes=foot, sheet="Fisher tests", align=("l", "l", "r", "l", "r", "r"))
