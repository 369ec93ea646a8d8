"""The worked examples' numbers against R (tests/fixtures/r/examples_*.R on the example CSV files).

Each example's derivations are written out with pandas (tests/examples/_derive.py) until the pipeline reads
them from the protocol; the analyses themselves (endpoint, group, order) are read from the example's
protocol.toml, and every number comes from blincompass.stats.
"""

from __future__ import annotations

import json
import tomllib
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blincompass.stats import competing, exact, km, logrank

from ._derive import EXAMPLES, EXAMPLES_DERIVE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "r"
TOL = {"rtol": 1e-8, "atol": 1e-10}
FOLDERS = {"car_t": "car-t", "gbsg2": "gbsg2"}


@cache
def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"examples_{name}.json").read_text(encoding="utf-8"))


@cache
def derived(name: str) -> dict:
    return EXAMPLES_DERIVE[name]()


@cache
def protocol(name: str) -> dict:
    return tomllib.loads((EXAMPLES / FOLDERS[name] / "protocol.toml").read_text(encoding="utf-8"))


def _analysis(name: str, kind: str, analysis_id: str) -> dict:
    return next(a for a in protocol(name)["analyses"][kind] if a["id"] == analysis_id)


def _label(value: object) -> str:
    """A group value as the R script writes it (booleans as 'true' / 'false')."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    return str(value)


def _groups(name: str, tte: pd.DataFrame, column: str | None) -> pd.Series:
    if column is None:
        return pd.Series("all", index=tte.index)
    adsl = derived(name)["adsl"].set_index("patient_id")
    values = tte["patient_id"].map(adsl[column])
    return values.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else _label(v))


def _cases(kind: str) -> list[tuple[str, dict]]:
    return [(n, c) for n in FOLDERS for c in fixture(n).get(kind, [])]


def _ids(cases: list[tuple[str, dict]]) -> list[str]:
    return [f"{n}-{c['id']}" for n, c in cases]


def _none_nan(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@pytest.mark.parametrize("name", list(FOLDERS))
def test_population_and_eligibility_match_r(name):
    fx, d = fixture(name), derived(name)
    assert len(d["adsl"]) == fx["n_patients"]
    assert int(d["adsl"]["eligible"].sum()) == fx["n_eligible"]
    assert d["excluded"] == fx["excluded"]
    # the criteria are the protocol's, in its order
    assert list(d["excluded"]) == [c["id"] for c in protocol(name)["eligibility"]["criteria"]]


@pytest.mark.parametrize("name", list(FOLDERS))
def test_adtte_matches_r_patient_by_patient(name):
    fx, d = fixture(name), derived(name)
    endpoints = {e["paramcd"]: e for e in protocol(name)["endpoints"]}
    assert list(fx["adtte"]) == list(endpoints)  # the protocol's order
    assert set(d["adtte"]) == set(endpoints)
    for paramcd, r in fx["adtte"].items():
        tte = d["adtte"][paramcd]
        assert tte["patient_id"].tolist() == r["patient_id"], paramcd
        np.testing.assert_allclose(tte["time"].to_numpy(), r["time"], **TOL)
        assert tte["cause"].fillna("").tolist() == r["cause"], paramcd
        # every cause is one the protocol declares for the endpoint
        declared = {e["cause"] for e in endpoints[paramcd]["events"]}
        assert set(tte["cause"].dropna()) <= declared


SURVIVAL = _cases("survival")


@pytest.mark.parametrize(("name", "case"), SURVIVAL, ids=_ids(SURVIVAL))
def test_kaplan_meier_and_logrank_match_r(name, case):
    spec = _analysis(name, "survival", case["id"])
    assert spec["endpoint"] == case["endpoint"]
    tte = derived(name)["adtte"][case["endpoint"]]
    group = _groups(name, tte, spec.get("group"))
    if "order" in spec:
        assert [_label(v) for v in spec["order"]] == case["groups"]
    event = tte["cause"].notna().to_numpy()
    times = case["times"]
    assert times == protocol(name)["analyses"]["settings"]["survival_at_months"]
    for i, g in enumerate(case["groups"]):
        sel = (group == g).to_numpy()
        fit = km.kaplan_meier(tte["time"].to_numpy()[sel], event[sel], conf_type="log-log",
                              median_ci="brookmeyer-crowley")
        assert fit.n == case["n"][i]
        assert fit.n_events == case["events"][i]
        np.testing.assert_allclose(
            _none_nan([fit.median, fit.median_ci.lower, fit.median_ci.upper]),
            _none_nan([case["median"][i], case["median_lower"][i], case["median_upper"][i]]),
            equal_nan=True, **TOL,
        )
        at = fit.survival_at(times)
        np.testing.assert_allclose(at.surv, _none_nan(case["surv"][i]), equal_nan=True, **TOL)
        np.testing.assert_allclose(at.lower, _none_nan(case["lower"][i]), equal_nan=True, **TOL)
        np.testing.assert_allclose(at.upper, _none_nan(case["upper"][i]), equal_nan=True, **TOL)
    if len(case["groups"]) > 1:
        ok = group.notna().to_numpy()
        lr = logrank.logrank_test(tte["time"].to_numpy()[ok], event[ok], group.to_numpy()[ok],
                                  order=case["groups"])
        r = case["logrank"]
        assert lr.df == r["df"]
        np.testing.assert_allclose([lr.statistic, lr.pvalue], [r["chisq"], r["p"]], **TOL)
        np.testing.assert_allclose(lr.observed.to_numpy(), r["observed"], **TOL)
        np.testing.assert_allclose(lr.expected.to_numpy(), r["expected"], **TOL)
    if len(case["groups"]) > 2:
        ok = group.notna().to_numpy()
        pw = logrank.pairwise_logrank(tte["time"].to_numpy()[ok], event[ok], group.to_numpy()[ok],
                                      order=case["groups"], p_adjust="holm").table
        r = case["pairwise"]
        assert pw["group1"].tolist() == r["group1"] and pw["group2"].tolist() == r["group2"]
        np.testing.assert_allclose(pw["statistic"].to_numpy(), r["chisq"], **TOL)
        np.testing.assert_allclose(pw["pvalue"].to_numpy(), r["p"], **TOL)
        np.testing.assert_allclose(pw["p_adjusted"].to_numpy(), r["p_holm"], **TOL)


COMPETING = _cases("competing")


@pytest.mark.parametrize(("name", "case"), COMPETING, ids=_ids(COMPETING))
def test_cumulative_incidence_and_gray_match_r(name, case):
    spec = _analysis(name, "competing", case["id"])
    assert spec["endpoint"] == case["endpoint"]
    assert spec["times_months"] == case["times"]
    tte = derived(name)["adtte"][case["endpoint"]]
    group = _groups(name, tte, spec["group"])
    assert [_label(v) for v in spec["order"]] == case["groups"]
    code = tte["cause"].map(spec["causes"]).fillna(0).astype(int).to_numpy()
    ok = group.notna().to_numpy()
    t, g, code = tte["time"].to_numpy()[ok], group.to_numpy()[ok], code[ok]
    for i, lv in enumerate(case["groups"]):
        assert int((g == lv).sum()) == case["n"][i]
        counts = np.bincount(code[g == lv], minlength=len(case["events"][i]))
        assert counts.tolist() == case["events"][i]
    res = competing.cumulative_incidence(t, code, group=g, censor_code=0)
    tp = res.timepoints(case["times"])
    for row, label in enumerate(case["labels"]):
        lv, cause = label.rsplit(" ", 1)
        sel = (tp["group"] == lv) & (tp["cause"].map(str) == cause)
        np.testing.assert_allclose(tp.loc[sel, "est"].to_numpy(), _none_nan(case["est"][row]), equal_nan=True, **TOL)
        np.testing.assert_allclose(tp.loc[sel, "var"].to_numpy(), _none_nan(case["var"][row]), equal_nan=True, **TOL)
    for cause, stat, p, df in zip(case["gray"]["cause"], case["gray"]["stat"], case["gray"]["p"],
                                  case["gray"]["df"], strict=True):
        gt = competing.gray_test(t, code, g, cause=int(cause), censor_code=0)
        assert gt.df == df
        np.testing.assert_allclose([gt.statistic, gt.pvalue], [stat, p], **TOL)


PROPORTIONS = _cases("proportions")


@pytest.mark.parametrize(("name", "case"), PROPORTIONS, ids=_ids(PROPORTIONS))
def test_fisher_and_chi_square_match_r(name, case):
    spec = _analysis(name, "proportions", case["id"])
    adsl = derived(name)["adsl"]
    el = adsl[adsl["eligible"]]
    outcome, group = el[spec["outcome"]], el[spec["group"]].map(lambda v: None if pd.isna(v) else _label(v))
    if "order" in spec:
        assert [_label(v) for v in spec["order"]] == case["groups"]
    ok = outcome.notna() & group.notna()
    table = np.array([[int(((group == g) & ok & (outcome == True)).sum()),  # noqa: E712
                       int(((group == g) & ok & (outcome == False)).sum())]  # noqa: E712
                      for g in case["groups"]])
    assert table[:, 0].tolist() == case["yes"]
    assert table[:, 1].tolist() == case["no"]
    np.testing.assert_allclose(exact.fisher_exact(table).pvalue, case["fisher_p"], **TOL)
    ct = exact.chi2_test(table, correction=True)
    assert ct.df == case["chisq_df"]
    np.testing.assert_allclose([ct.statistic, ct.pvalue], [case["chisq"], case["chisq_p"]], rtol=1e-8, atol=1e-12)
