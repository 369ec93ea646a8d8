"""Fisher's exact test, chi-square test and proportion CIs against R (tests/fixtures/r/exact.R)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from blincompass.stats.exact import (
    ConfidenceInterval,
    FisherExactResult,
    chi2_test,
    fisher_exact,
    proportion_ci,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "r" / "exact.json"
REF = json.loads(FIXTURE.read_text())
RTOL = 1e-8
ATOL = 1e-8


def _num(v: float | str | None) -> float:
    return float(v) if v is not None else math.nan


def close(got: float, want: float | str, rtol: float = RTOL, atol: float = ATOL) -> bool:
    want = _num(want)
    if math.isinf(want) or math.isinf(got):
        return got == want
    return abs(got - want) <= atol + rtol * abs(want)


def _id(case: dict) -> str:
    keys = ("name", "alternative", "conf_level", "correction")
    return "-".join(str(case[k]) for k in keys if k in case)


def close_uniroot(got: float, want: float | str) -> bool:
    """R's default fisher.test solves for the odds ratio t on (0, 1) or for 1/t, with absolute
    tolerance ~1.2e-4 on that scale: accept agreement on either scale."""
    want = _num(want)
    if got == want:
        return True
    if want == 0 or got == 0 or math.isinf(want) or math.isinf(got):
        return False
    return abs(got - want) <= 2e-4 or abs(1 / got - 1 / want) <= 2e-4


# ----------------------------------------------------------------------------------------- Fisher 2x2


@pytest.mark.parametrize("case", REF["fisher_2x2"], ids=_id)
def test_fisher_2x2_matches_r(case: dict) -> None:
    res = fisher_exact(case["table"], alternative=case["alternative"], conf_level=case["conf_level"])
    assert close(res.pvalue, case["pvalue"])
    # R's uniroot stops at tolerance ~1.2e-4; compare with R run at uniroot(tol = 1e-14) ...
    assert close(res.odds_ratio, case["estimate_tight"])
    assert close(res.conf_int.lower, case["conf_int_tight"][0])
    assert close(res.conf_int.upper, case["conf_int_tight"][1])
    # ... and with R's default output at the precision R itself achieves
    assert close_uniroot(res.odds_ratio, case["estimate"])
    assert close_uniroot(res.conf_int.lower, case["conf_int"][0])
    assert close_uniroot(res.conf_int.upper, case["conf_int"][1])


def test_fisher_study_table() -> None:
    # 21/26 responders vs 6/13
    tab = [[21, 5], [6, 7]]
    assert round(fisher_exact(tab, alternative="greater").pvalue, 3) == 0.034
    two = fisher_exact(tab)
    assert round(two.pvalue, 3) == 0.062
    assert isinstance(two, FisherExactResult)
    assert isinstance(two.conf_int, ConfidenceInterval)
    assert two.shape == (2, 2) and two.method == "exact"


def test_fisher_zero_cells_boundaries() -> None:
    res = fisher_exact([[0, 5], [6, 2]])
    assert res.odds_ratio == 0.0 and res.conf_int.lower == 0.0
    res = fisher_exact([[4, 0], [3, 7]])
    assert math.isinf(res.odds_ratio) and math.isinf(res.conf_int.upper)


# ----------------------------------------------------------------------------------------- Fisher r x c


@pytest.mark.parametrize("case", REF["fisher_rxc"], ids=_id)
def test_fisher_rxc_matches_r(case: dict) -> None:
    res = fisher_exact(case["table"])
    assert close(res.pvalue, case["pvalue"])
    assert res.odds_ratio is None and res.conf_int is None
    # transposing or permuting rows/columns does not change the p-value
    tab = np.asarray(case["table"])
    assert close(fisher_exact(tab.T[::-1]).pvalue, case["pvalue"])


def test_fisher_rxc_monte_carlo() -> None:
    job = next(c for c in REF["fisher_rxc"] if c["name"] == "job_4x4")
    a = fisher_exact(job["table"], simulate_p_value=True, B=4000, seed=11)
    b = fisher_exact(job["table"], simulate_p_value=True, B=4000, seed=11)
    assert a == b or (a.pvalue == b.pvalue)
    assert a.method == "monte-carlo" and a.n_simulations == 4000
    # (1 + #)/(B + 1) is a multiple of 1/(B + 1); Monte Carlo error sd ~ 0.0065
    assert round(a.pvalue * 4001) == pytest.approx(a.pvalue * 4001)
    assert abs(a.pvalue - job["pvalue"]) < 0.04


def test_fisher_rxc_too_large_names_size() -> None:
    tab = [[10, 12, 15, 9, 8], [11, 14, 9, 13, 10], [9, 8, 12, 14, 16], [12, 10, 11, 9, 13]]
    with pytest.raises(ValueError, match=r"4x5 table \(N=225\).*simulate_p_value"):
        fisher_exact(tab, max_work=10_000)


def test_fisher_rxc_rejects_one_sided() -> None:
    with pytest.raises(ValueError, match="alternative"):
        fisher_exact([[1, 2, 3], [3, 2, 1]], alternative="less")


# ----------------------------------------------------------------------------------------- chi-square


@pytest.mark.parametrize("case", REF["chisq"], ids=_id)
def test_chi2_matches_r(case: dict) -> None:
    res = chi2_test(case["table"], correction=case["correction"])
    assert close(res.statistic, case["statistic"])
    assert res.df == case["df"]
    assert close(res.pvalue, case["pvalue"])
    np.testing.assert_allclose(res.expected, np.asarray(case["expected"]), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(res.residuals, np.asarray(case["residuals"]), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(res.stdres, np.asarray(case["stdres"]), rtol=RTOL, atol=ATOL)
    assert res.low_expected == case["low_expected"]
    assert res.correction == (case["correction"] and np.shape(case["table"]) == (2, 2))


# ----------------------------------------------------------------------------------------- proportions


@pytest.mark.parametrize(
    "case",
    REF["proportion_ci"],
    ids=lambda c: f"{c['method']}-{c['x']}/{c['n']}-{c['alternative']}-{c['conf_level']}",
)
def test_proportion_ci_matches_r(case: dict) -> None:
    res = proportion_ci(case["x"], case["n"], case["method"], case["conf_level"], case["alternative"])
    assert close(res.estimate, case["estimate"])
    assert close(res.lower, case["lower"])
    assert close(res.upper, case["upper"])


def test_jeffreys_boundary_convention() -> None:
    assert proportion_ci(0, 12, "jeffreys").lower == 0.0
    assert proportion_ci(12, 12, "jeffreys").upper == 1.0


# ----------------------------------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    ("table", "pattern"),
    [
        ([[1, -2], [3, 4]], r"table: negative count -2 at row 0, column 1"),
        ([[1, 2], [3.5, 4]], r"table: non-integer count 3\.5 at row 1, column 0"),
        ([[1, 2], [np.nan, 4]], r"table: non-finite count nan at row 1, column 0"),
        ([1, 2, 3, 4], r"table: expected a 2-D table, got shape \(4,\)"),
        ([[1, 2, 3]], r"table: needs at least 2 rows and 2 columns, got shape \(1, 3\)"),
        ([[0, 0], [3, 4]], r"table: row 0 has all-zero counts"),
        ([[1, 0, 2], [3, 0, 4]], r"table: column 1 has all-zero counts"),
        ([["a", "b"], ["c", "d"]], r"table: cannot be read as numbers"),
    ],
)
def test_bad_tables(table: list, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        fisher_exact(table)
    with pytest.raises(ValueError, match=pattern):
        chi2_test(table)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="alternative"):
        fisher_exact([[1, 2], [3, 4]], alternative="both")
    with pytest.raises(ValueError, match="conf_level"):
        fisher_exact([[1, 2], [3, 4]], conf_level=95)
    with pytest.raises(ValueError, match="B:"):
        fisher_exact([[1, 2, 3], [3, 2, 1]], simulate_p_value=True, B=0)


@pytest.mark.parametrize(
    ("x", "n", "pattern"),
    [
        (11, 10, r"x: 11 exceeds n = 10"),
        (-1, 10, r"x: -1 is not a non-negative integer"),
        (2.5, 10, r"x: 2\.5 is not a non-negative integer"),
        (1, 0, r"n: must be at least 1"),
        (1, 7.2, r"n: 7\.2 is not a non-negative integer"),
        ("a", 3, r"x: 'a' is not a number"),
    ],
)
def test_bad_proportion_input(x: object, n: object, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        proportion_ci(x, n)  # type: ignore[arg-type]


def test_bad_proportion_method() -> None:
    with pytest.raises(ValueError, match="method: 'wald'"):
        proportion_ci(1, 10, "wald")  # type: ignore[arg-type]


def test_fisher_without_interval_same_p_and_estimate():
    table = [[12, 5], [4, 14]]
    for alt in ("two-sided", "less", "greater"):
        full = fisher_exact(table, alternative=alt)
        quick = fisher_exact(table, alternative=alt, conf_int=False)
        assert quick.pvalue == full.pvalue and quick.odds_ratio == full.odds_ratio
        assert quick.conf_int is None and full.conf_int is not None


def test_fisher_odds_ratio_equals_scipy_on_random_and_large_tables() -> None:
    """The whole-support evaluation of the conditional estimate and interval gives scipy's values
    (``scipy.stats.contingency.odds_ratio``, solved on the odds-ratio scale) on small, zero-cell and
    registry-size tables, for every alternative."""
    from scipy.stats.contingency import odds_ratio

    rng = np.random.default_rng(2026)
    tables = [rng.integers(0, 12, size=(2, 2)) for _ in range(40)]
    tables += [rng.integers(200, 700, size=(2, 2)) for _ in range(2)]
    tables += [np.array([[0, 7], [5, 3]]), np.array([[9, 0], [4, 6]]), np.array([[1, 600], [30, 640]])]
    checked = 0
    for tab in tables:
        if (tab.sum(axis=0) == 0).any() or (tab.sum(axis=1) == 0).any():
            continue
        ref = odds_ratio(tab, kind="conditional")
        for alt in ("two-sided", "less", "greater"):
            got = fisher_exact(tab, alternative=alt, conf_level=0.9)
            ci = ref.confidence_interval(confidence_level=0.9, alternative=alt)
            for g, w in ((got.odds_ratio, ref.statistic), (got.conf_int.lower, ci.low), (got.conf_int.upper, ci.high)):
                if math.isinf(w) or w == 0:
                    assert g == w
                else:
                    assert g == pytest.approx(w, rel=1e-9)
            checked += 1
    assert checked >= 120
