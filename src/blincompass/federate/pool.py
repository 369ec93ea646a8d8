"""Pooling site summaries at the coordinating centre (``federate pool``).

Survival analyses: the sites' count tables are concatenated (count tables add up) and the Kaplan–Meier
estimates and the log-rank test come from :func:`blincompass.stats.kaplan_meier_from_counts` and
:func:`blincompass.stats.logrank_from_counts`; the log-rank test stratified by site adds up the sites'
exact scores ``O - E`` and covariances ``V``. Proportions: the sites' released tables are added up and
tested with Fisher's exact and Pearson's chi-square tests.

With a time grid of one day and a threshold of 1 nothing is coarsened and every pooled number equals the
patient-level analysis of the sites' patients together (``tests/federate``); otherwise the differences are
stated in each analysis's ``note``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from blincompass import __version__
from blincompass.federate.summary import (
    COUNT_COLUMNS,
    FederationError,
    SiteSummary,
    check_summaries,
    grid_text,
    group_key,
)
from blincompass.protocol import ProportionAnalysis, Protocol, SurvivalAnalysis
from blincompass.study import StudyPackage

__all__ = ["RESULTS_FORMAT", "PooledResult", "pool"]

RESULTS_FORMAT = "blincompass-pooled-results"


@dataclass(frozen=True)
class PooledResult:
    """Pooled analyses (``results``, JSON-ready) and the summaries they came from."""

    results: dict[str, Any]
    study: StudyPackage


def _num(x: Any) -> float | None:
    """A float for JSON (``None`` for a missing, NaN or infinite value)."""
    if x is None:
        return None
    v = float(x)
    return v if math.isfinite(v) else None


def _grid_exact(protocol: Protocol) -> bool:
    fed = protocol.federation
    return fed.time_unit == "days" and float(fed.time_grid) == 1.0


def _curve(table: pd.DataFrame, protocol: Protocol, grp: str | None) -> dict[str, Any]:
    from blincompass.stats import kaplan_meier_from_counts

    s = protocol.analyses.settings
    sel = {} if grp is None else {"grp": grp}
    km = kaplan_meier_from_counts(table, conf_type=s.conf_type, conf_level=s.conf_level,
                                  median_ci="brookmeyer-crowley", **sel)
    km2 = kaplan_meier_from_counts(table, conf_type=s.conf_type, conf_level=s.conf_level, median_ci="spss", **sel)
    at = km.survival_at(list(s.survival_at_months))
    times = table["time"] if grp is None else table.loc[table["grp"] == grp, "time"]
    return {
        "n": int(km.n),
        "events": int(km.n_events),
        "median": {
            "estimate": _num(km.median),
            "brookmeyer_crowley": {"estimate": _num(km.median), "lower": _num(km.median_ci.lower),
                                   "upper": _num(km.median_ci.upper), "conf_type": s.conf_type},
            "spss": {"estimate": _num(km2.median), "se": _num(km2.median_se), "lower": _num(km2.median_ci.lower),
                     "upper": _num(km2.median_ci.upper)},
        },
        "at": {f"{t:g}".replace(".", "_") + "m": {"months": float(t), "surv": _num(at.surv[i]),
                                                  "std_err": _num(at.std_err[i]), "lower": _num(at.lower[i]),
                                                  "upper": _num(at.upper[i])}
               for i, t in enumerate(s.survival_at_months)},
        "rmean": {"estimate": _num(km.mean), "se": _num(km.mean_se), "tmax": _num(times.max())},
    }


def _test_dict(t: Any, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "groups": [str(g) for g in t.groups],
        "labels": [labels.get(str(g), str(g)) for g in t.groups],
        "n": {str(g): int(t.n[g]) for g in t.groups},
        "observed": {str(g): float(t.observed[g]) for g in t.groups},
        "expected": {str(g): float(t.expected[g]) for g in t.groups},
        "chisq": _num(t.statistic),
        "df": int(t.df),
        "z": _num(t.z),
        "alternative": t.alternative,
        "p": _num(t.pvalue),
    }


def _site_stratified(entries: list[tuple[str, dict[str, Any]]], keys: list[str], weights: str,
                     alternative: str) -> Any:
    r"""The log-rank test stratified by site (and protocol stratum) from the sites' scores.

    :math:`O`, :math:`E` and :math:`V` are summed over the sites' strata and
    :math:`\chi^2 = (O-E)^\top_{-1} V_{-1}^{-1} (O-E)_{-1}` on :math:`k-1` degrees of freedom (for two
    groups also :math:`z = (O_1 - E_1)/\sqrt{V_{11}}` for a one-sided alternative), as
    :func:`blincompass.stats.logrank_test` with ``strata=`` the site (Mantel 1966; R ``survdiff``)."""
    # The test statistic from summed O, E and V is private to blincompass.stats (logrank._result); using
    # it keeps the formula (chi-square with a generalised inverse, one-sided z) the one logrank_test uses.
    from blincompass.stats.logrank import _parse_weights, _result

    kind, p, q = _parse_weights(weights)
    k = len(keys)
    obs, exp, var, n = np.zeros(k), np.zeros(k), np.zeros((k, k)), np.zeros(k, dtype=np.int64)
    for _site, lr in entries:
        idx = [keys.index(g) for g in lr["groups"]]
        for st in lr["strata"]:
            for i, j in enumerate(idx):
                obs[j] += st["observed"][i]
                exp[j] += st["expected"][i]
                n[j] += st["n"][i]
                for i2, j2 in enumerate(idx):
                    var[j, j2] += st["variance"][i][i2]
    return _result(keys, n, obs, exp, var, weights, kind, p, q, alternative)


def _survival(a: SurvivalAnalysis, summaries: Sequence[SiteSummary], protocol: Protocol) -> dict[str, Any]:
    from blincompass.stats import logrank_from_counts

    used, withheld, coarsened, rows = [], [], [], []
    for s in summaries:
        e = s.data["survival"].get(a.id)
        if e is None or e.get("withheld"):
            withheld.append(s.site)
            continue
        used.append(s.site)
        if e.get("coarsened"):
            coarsened.append(s.site)
        rows.extend(e["counts"])
    out: dict[str, Any] = {"title": a.title, "endpoint": a.endpoint, "sites": used, "withheld_sites": withheld,
                           "coarsened_sites": coarsened, "group": a.group, "strata": a.strata}
    fed = protocol.federation
    notes = []
    if _grid_exact(protocol) and not coarsened:
        notes.append("times on a grid of one day and no interval merged: equal to the patient-level analysis "
                     "of the pooled sites")
    else:
        notes.append(f"times rounded up to a grid of {grid_text(fed.time_grid, fed.time_unit)}: medians, survival "
                     "at fixed times and restricted means are those of the rounded times (a median can be up to one "
                     "grid step later than on the exact times), and ties introduced by the grid change the "
                     "log-rank test from the pooled counts")
    if coarsened:
        notes.append(f"grid intervals merged to reach the threshold {fed.threshold} at {', '.join(coarsened)}: "
                     "there the merged counts sit at the end of the merged interval")
    if withheld:
        notes.append(f"withheld by {', '.join(withheld)}: those patients are not in the pooled analysis")
    if not rows:
        out.update(n=0, events=0, note="; ".join([*notes, "no patients in the analysis population"]))
        return out
    table = pd.DataFrame(rows, columns=list(COUNT_COLUMNS))
    table = table.astype({"time": float, "n_event": np.int64, "n_censor": np.int64})
    if not a.strata:
        table = table.drop(columns="stratum")
    if not a.group:
        table = table.drop(columns="grp")
    out.update(_curve(table, protocol, None))
    if a.group:
        present = set(table["grp"])
        order = [group_key(o) for o in a.order] if a.order else sorted(present)
        keys = [k for k in order if k in present]
        labels = {group_key(o): a.group_label(o) for o in (a.order or ())}
        out["groups"] = {k: {"label": labels.get(k, k), **_curve(table, protocol, k)} for k in keys}
        if len(keys) >= 2:
            alt = a.alternative if len(keys) == 2 else "two-sided"
            tests: dict[str, Any] = {"weights": a.weights}
            lr = logrank_from_counts(table, weights=a.weights, alternative=alt, order=keys)
            lr2 = logrank_from_counts(table, weights=a.weights, alternative="two-sided", order=keys)
            tests["pooled_counts"] = {**_test_dict(lr, labels), "p_two_sided": _num(lr2.pvalue)}
            entries = [(s.site, s.data["survival"][a.id]["logrank"]) for s in summaries
                       if s.site in used and s.data["survival"][a.id].get("logrank")]
            st = _site_stratified(entries, keys, a.weights, alt)
            st2 = _site_stratified(entries, keys, a.weights, "two-sided")
            tests["site_stratified"] = {**_test_dict(st, labels), "p_two_sided": _num(st2.pvalue),
                                        "strata": "site" + (f" x {a.strata}" if a.strata else "")}
            out["logrank"] = tests
            notes.append("log-rank stratified by site: from the sites' scores on the exact times, equal to the "
                         "patient-level test stratified by site")
        else:
            out["logrank"] = None
            notes.append("fewer than two groups with patients: no test")
    out["note"] = "; ".join(notes)
    return out


def _proportion(a: ProportionAnalysis, summaries: Sequence[SiteSummary], protocol: Protocol) -> dict[str, Any]:
    from blincompass.stats import chi2_test, fisher_exact

    keys = [group_key(o) for o in a.order] if a.order else sorted(
        {g for s in summaries for g in (s.data["proportions"].get(a.id) or {}).get("groups", [])})
    labels = {group_key(o): a.group_label(o) for o in (a.order or ())}
    table = np.zeros((len(keys), 2), dtype=np.int64)
    used, withheld, suppressed = [], [], []
    for s in summaries:
        e = s.data["proportions"].get(a.id)
        if e is None or e.get("withheld"):
            withheld.append(s.site)
            continue
        if e.get("suppressed"):
            suppressed.append(s.site)
            continue
        used.append(s.site)
        for g, row in zip(e["groups"], e["table"], strict=True):
            if g not in keys:
                raise FederationError(f"{s.source or s.site}: proportions.{a.id}: group {g!r} is not one of the "
                                      f"analysis's groups {keys}")
            table[keys.index(g)] += np.asarray(row, dtype=np.int64)
    out: dict[str, Any] = {"title": a.title, "outcome": a.outcome, "sites": used, "withheld_sites": withheld,
                           "suppressed_sites": suppressed, "alternative": a.alternative}
    out["counts"] = {k: {"label": labels.get(k, k), "yes": int(table[i, 0]), "no": int(table[i, 1]),
                         "n": int(table[i].sum()),
                         "pct": _num(100.0 * table[i, 0] / table[i].sum()) if table[i].sum() else None}
                     for i, k in enumerate(keys)}
    notes = []
    if suppressed:
        notes.append(f"tables suppressed (a non-zero cell below {protocol.federation.threshold}) at "
                     f"{', '.join(suppressed)}: those patients are not in the pooled table")
    if withheld:
        notes.append(f"withheld by {', '.join(withheld)}")
    if not suppressed and not withheld:
        notes.append("every site's table released: equal to the patient-level table of the pooled sites")
    if len(keys) != 2 or (table.sum(axis=1) == 0).any() or (table.sum(axis=0) == 0).any():
        notes.append("test not computable (a group or an outcome level has no patients)")
        out["note"] = "; ".join(notes)
        return out
    level = protocol.analyses.settings.conf_level
    two = fisher_exact(table, alternative="two-sided", conf_level=level)
    main = two if a.alternative == "two-sided" else fisher_exact(table, alternative=a.alternative)
    chi = chi2_test(table)
    out["fisher"] = {"p": _num(main.pvalue), "p_two_sided": _num(two.pvalue), "odds_ratio": _num(two.odds_ratio),
                     "or_lower": _num(two.conf_int.lower) if two.conf_int else None,
                     "or_upper": _num(two.conf_int.upper) if two.conf_int else None}
    out["chi2"] = {"statistic": _num(chi.statistic), "df": int(chi.df), "p": _num(chi.pvalue),
                   "correction": "Yates" if table.shape == (2, 2) else "none"}
    out["note"] = "; ".join(notes)
    return out


def _guard(aid: str, fn: Any, *args: Any) -> dict[str, Any]:
    """Run one analysis; a summary whose numbers the statistics refuse becomes a FederationError."""
    try:
        return fn(*args)
    except FederationError:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise FederationError(f"analysis {aid}: the summaries cannot be pooled ({exc})") from None


def pool(summaries: Sequence[SiteSummary], study: StudyPackage) -> PooledResult:
    """Pool the sites' summaries of ``study``'s federated analyses.

    Raises :class:`~blincompass.federate.summary.FederationError` (naming the file and the difference) for
    summaries made with another study package, time grid, threshold, format or blincompass version, or a
    site given twice.
    """
    check_summaries(summaries, study)
    protocol = study.protocol
    surv_a, prop_a = protocol.federated()
    ordered = sorted(summaries, key=lambda s: s.site)
    fed = protocol.federation
    results: dict[str, Any] = {
        "format": RESULTS_FORMAT,
        "blincompass_version": __version__,
        "study": {"name": study.name, "sha256": study.sha256},
        "federation": {"time_grid": fed.time_grid, "time_unit": fed.time_unit, "threshold": fed.threshold},
        "sites": [{"site": s.site, "created": s.data["created"]} for s in ordered],
        "survival": {a.id: _guard(a.id, _survival, a, ordered, protocol) for a in surv_a},
        "proportions": {a.id: _guard(a.id, _proportion, a, ordered, protocol) for a in prop_a},
    }
    return PooledResult(results, study)
