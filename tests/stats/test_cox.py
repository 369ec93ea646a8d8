"""Cox regression against R survival::coxph (tests/fixtures/r/cox.R)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from blincompass.stats.cox import ChiSquareTest, CoxPHResult, LogLik, cox_ph

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "r" / "cox.json"
REF = json.loads(FIXTURE.read_text())
CASES = {c["name"]: c for c in REF["cases"]}
RTOL = 1e-8
ATOL = 1e-8

PARAMS = [
    pytest.param(name, ties, mode, id=f"{name}-{ties}-{mode}")
    for name in CASES
    for ties in ("efron", "breslow")
    for mode in ("default", "full")
]


def _fit(case: dict, ties: str, mode: str) -> CoxPHResult:
    kw: dict = {}
    if mode == "full":  # R run with coxph.control(eps = 1e-12, iter.max = 100)
        kw = {"eps": 1e-12, "iter_max": 100}
    return cox_ph(
        pd.DataFrame(case["data"]),
        case["duration"],
        case["event"],
        case["covariates"],
        entry=case["entry"],
        strata=case["strata"],
        ties=ties,
        weights=case["weights"],
        robust=case["robust"],
        cluster=case["cluster"],
        **kw,
    )


def _check_test(got: ChiSquareTest, want: dict) -> None:
    np.testing.assert_allclose(got.statistic, want["statistic"], rtol=RTOL, atol=ATOL)
    assert got.df == want["df"]
    np.testing.assert_allclose(got.pvalue, want["pvalue"], rtol=RTOL, atol=1e-300)


@pytest.mark.parametrize(("name", "ties", "mode"), PARAMS)
def test_cox_matches_r(name: str, ties: str, mode: str) -> None:
    case = CASES[name]
    ref = case[ties][mode]
    res = _fit(case, ties, mode)
    cols = ["coef", "exp_coef", "se", "z", "p", "lower", "upper"]
    if ref["robust"]:
        cols.append("robust_se")
    else:
        assert "robust_se" not in res.coef.columns
    for col in cols:
        np.testing.assert_allclose(res.coef[col].to_numpy(), ref[col], rtol=RTOL, atol=1e-300, err_msg=col)
    np.testing.assert_allclose(res.var.ravel(order="F"), ref["var"], rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose([res.loglik.initial, res.loglik.final], ref["loglik"], rtol=RTOL, atol=ATOL)
    _check_test(res.wald_test, ref["wald"])
    _check_test(res.likelihood_ratio_test, ref["lr"])
    _check_test(res.score_test, ref["score"])
    if ref["robust"]:
        assert res.robust_score_test is not None
        _check_test(res.robust_score_test, ref["robust_score"])
    else:
        assert res.robust_score_test is None
    assert res.iterations == ref["iter"]
    assert res.n == ref["n"] and res.n_events == ref["nevent"]
    assert res.converged and res.warnings == ()
    assert list(res.coef.index) == case["covariates"]


# ----------------------------------------------------------------------------------------- behaviour


@pytest.fixture()
def lung() -> pd.DataFrame:
    return pd.DataFrame(CASES["lung"]["data"])


def test_result_types(lung: pd.DataFrame) -> None:
    res = cox_ph(lung, "time", "status", ["age", "sex"])
    assert isinstance(res.loglik, LogLik)
    assert list(res.coef.columns) == ["coef", "exp_coef", "se", "z", "p", "lower", "upper"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.n = 3  # type: ignore[misc]


def test_single_covariate_string_and_mapping(lung: pd.DataFrame) -> None:
    a = cox_ph(lung, "time", "status", "age")
    b = cox_ph({k: lung[k].tolist() for k in ("time", "status", "age")}, "time", "status", ["age"])
    assert a.coef.equals(b.coef)


def test_counting_process_with_zero_entry_equals_right_censored(lung: pd.DataFrame) -> None:
    a = cox_ph(lung, "time", "status", ["age", "sex", "ph.ecog"])
    b = cox_ph(lung.assign(start=0.0), "time", "status", ["age", "sex", "ph.ecog"], entry="start")
    np.testing.assert_allclose(a.coef.to_numpy(), b.coef.to_numpy(), rtol=1e-12)


def test_split_data_equals_unsplit(lung: pd.DataFrame) -> None:
    # splitting every record at t = 200 (survSplit) leaves the fit unchanged
    d = lung.reset_index(drop=True)
    early = d.assign(start=0.0, stop=np.minimum(d["time"], 200.0), ev=np.where(d["time"] <= 200, d["status"], 0))
    late = d.loc[d["time"] > 200].assign(start=200.0, stop=lambda x: x["time"], ev=lambda x: x["status"])
    split = pd.concat([early, late], ignore_index=True)
    a = cox_ph(d, "time", "status", ["age", "sex"])
    b = cox_ph(split, "stop", "ev", ["age", "sex"], entry="start")
    np.testing.assert_allclose(a.coef.to_numpy(), b.coef.to_numpy(), rtol=1e-10)
    assert a.loglik.final == pytest.approx(b.loglik.final, rel=1e-12)


def test_integer_weights_equal_replication(lung: pd.DataFrame) -> None:
    # exact under Breslow (Efron treats replicated rows as d tied events, a weighted row as one)
    w = (np.arange(len(lung)) % 3 + 1).astype(float)
    a = cox_ph(lung.assign(w=w), "time", "status", ["age", "sex"], weights="w", ties="breslow")
    b = cox_ph(lung.loc[lung.index.repeat(w.astype(int))], "time", "status", ["age", "sex"], ties="breslow")
    np.testing.assert_allclose(a.coef.to_numpy(), b.coef.to_numpy(), rtol=1e-9)
    assert a.robust_score_test is None  # integer weights: model-based variance, as R


def test_missing_drop_equals_prefiltered(lung: pd.DataFrame) -> None:
    d = lung.copy()
    d.loc[[3, 10], "age"] = np.nan
    a = cox_ph(d, "time", "status", ["age", "sex"], missing="drop")
    b = cox_ph(d.dropna(), "time", "status", ["age", "sex"])
    assert a.coef.equals(b.coef) and a.n == len(lung) - 2


def test_monotone_likelihood_warns(lung: pd.DataFrame) -> None:
    # x = 1 only on censored rows: beta_x -> -inf while the log-likelihood converges (R warns likewise)
    d = lung.reset_index(drop=True)
    d["x"] = ((d["status"] == 0) & (d.index % 4 == 3)).astype(float)
    res = cox_ph(d, "time", "status", ["age", "x"])
    assert res.converged
    assert res.warnings == ("Loglik converged before variable x; coefficient may be infinite",)
    assert res.coef.loc["x", "coef"] < -10
    # separation that R cannot finish within 20 iterations either
    d2 = pd.DataFrame({"t": range(1, 9), "e": [1, 1, 1, 1, 0, 0, 0, 0], "x": [1, 1, 1, 1, 0, 0, 0, 0]})
    with np.errstate(over="ignore"):
        res2 = cox_ph(d2, "t", "e", ["x"])
    assert not res2.converged and res2.warnings == ("Ran out of iterations and did not converge",)
    assert res2.coef.loc["x", "coef"] == pytest.approx(22.11038, abs=1e-5)  # R 4.2, survival 3.5-3


def test_strata_several_columns(lung: pd.DataFrame) -> None:
    d = lung.assign(g=(np.arange(len(lung)) % 2))
    a = cox_ph(d, "time", "status", ["age"], strata=["sex", "g"])
    d["sg"] = d["sex"].astype(str) + "/" + d["g"].astype(str)
    b = cox_ph(d, "time", "status", ["age"], strata="sg")
    np.testing.assert_allclose(a.coef.to_numpy(), b.coef.to_numpy(), rtol=1e-12)
    assert a.strata == ("sex", "g")


# ----------------------------------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"duration": "tim"}, r"duration: column 'tim' not found"),
        ({"event": "dead"}, r"event: column 'dead' not found"),
        ({"covariates": ["age", "nope"]}, r"covariates: column 'nope' not found"),
        ({"covariates": []}, r"covariates: at least one"),
        ({"covariates": ["age", "age"]}, r"covariates: 'age' is listed more than once"),
        ({"strata": "site"}, r"strata: column 'site' not found"),
        ({"weights": "w"}, r"weights: column 'w' not found"),
        ({"entry": "start"}, r"entry: column 'start' not found"),
        ({"ties": "exact"}, r"ties: 'exact'"),
        ({"missing": "ignore"}, r"missing: 'ignore'"),
        ({"conf_level": 1.5}, r"conf_level"),
    ],
)
def test_bad_arguments(lung: pd.DataFrame, kwargs: dict, pattern: str) -> None:
    args = {"duration": "time", "event": "status", "covariates": ["age"]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=pattern):
        cox_ph(lung, **args)


def test_bad_values(lung: pd.DataFrame) -> None:
    d = lung.reset_index(drop=True)
    with pytest.raises(ValueError, match=r"covariates: column 'age' has a missing value at row 4"):
        cox_ph(d.assign(age=d["age"].where(d.index != 4)), "time", "status", ["age"])
    with pytest.raises(ValueError, match=r"covariates: column 'grp' is not numeric \(value 'a' at row 0\)"):
        cox_ph(d.assign(grp=["a", "b"] * (len(d) // 2) + ["a"] * (len(d) % 2)), "time", "status", ["grp"])
    with pytest.raises(ValueError, match=r"event \('status'\): value .*2.* is not 0/1"):
        cox_ph(d.assign(status=d["status"] + 1), "time", "status", ["age"])
    with pytest.raises(ValueError, match=r"duration \('time'\): negative value"):
        cox_ph(d.assign(time=-d["time"]), "time", "status", ["age"])
    with pytest.raises(ValueError, match=r"entry: 'start' value 5 is not below 'time' value 5 at row 0"):
        cox_ph(d.assign(start=0.0, time=d["time"].where(d.index != 0, 5.0)).assign(
            start=lambda x: np.where(x.index == 0, 5.0, 0.0)), "time", "status", ["age"], entry="start")
    with pytest.raises(ValueError, match=r"weights \('w'\): negative value"):
        cox_ph(d.assign(w=-1.0), "time", "status", ["age"], weights="w")
    with pytest.raises(ValueError, match=r"event: column 'status' has no events"):
        cox_ph(d.assign(status=0), "time", "status", ["age"])
    with pytest.raises(ValueError, match=r"information matrix is singular"):
        cox_ph(d.assign(age2=2 * d["age"]), "time", "status", ["age", "age2"])
    with pytest.raises(ValueError, match=r"cluster="):
        cox_ph(d.assign(start=0.0), "time", "status", ["age"], entry="start", robust=True)
    with pytest.raises(ValueError, match=r"data: expected a pandas DataFrame"):
        cox_ph([1, 2, 3], "time", "status", ["age"])  # type: ignore[arg-type]
