"""Tests for blincompass.stats.logrank against R survdiff and a direct R loop (tests/fixtures/r/km_logrank.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from blincompass.stats import logrank_test, pairwise_logrank
from blincompass.stats.logrank import p_adjust

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "r" / "km_logrank.json"
DATA = json.loads(FIXTURE.read_text())
CASES = DATA["logrank"]
PAIRWISE = DATA["pairwise"]
TOL = {"rtol": 1e-8, "atol": 1e-10}


def _weights(spec):
    return spec[0] if len(spec) == 1 else (spec[0], float(spec[1]), float(spec[2]))


def _run(case, **kw):
    return logrank_test(
        np.array(case["time"], dtype=float),
        np.array(case["event"]),
        np.array(case["group"]),
        entry=None if case["entry"] is None else np.array(case["entry"], dtype=float),
        strata=None if case["strata"] is None else np.array(case["strata"]),
        weights=_weights(case["weights"]),
        **kw,
    )


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_r(case):
    res = _run(case)
    assert list(res.groups) == case["order"]
    np.testing.assert_allclose(res.observed.to_numpy(), case["observed"], **TOL)
    np.testing.assert_allclose(res.expected.to_numpy(), case["expected"], **TOL)
    np.testing.assert_allclose(res.variance.to_numpy(), np.array(case["variance"]), **TOL)
    np.testing.assert_allclose(res.statistic, case["statistic"], **TOL)
    assert res.df == case["df"]
    np.testing.assert_allclose(res.pvalue, case["pvalue"], **TOL)
    assert res.n.tolist() == case["n"]
    if len(case["order"]) == 2:
        np.testing.assert_allclose(res.z, case["z"], **TOL)
        np.testing.assert_allclose(res.z**2, res.statistic, rtol=1e-12)
    else:
        assert res.z is None


TWO = [c for c in CASES if len(c["order"]) == 2]


@pytest.mark.parametrize("case", TWO, ids=[c["name"] for c in TWO])
def test_one_sided_matches_r(case):
    less = _run(case, alternative="less")
    greater = _run(case, alternative="greater")
    np.testing.assert_allclose(less.pvalue, case["p_less"], **TOL)
    np.testing.assert_allclose(greater.pvalue, case["p_greater"], **TOL)
    assert less.alternative == "less" and greater.alternative == "greater"


def test_one_sided_direction_and_order():
    # group "a" dies early: more events than expected -> z > 0, "greater" is significant
    t = np.r_[np.arange(1, 11), np.arange(11, 21)].astype(float)
    e = np.ones(20)
    g = np.array(["a"] * 10 + ["b"] * 10)
    r = logrank_test(t, e, g, alternative="greater")
    assert r.z > 0 and r.pvalue < 0.01
    assert logrank_test(t, e, g, alternative="less").pvalue > 0.99
    flipped = logrank_test(t, e, g, alternative="less", order=["b", "a"])
    assert flipped.z == pytest.approx(-r.z) and flipped.pvalue == pytest.approx(r.pvalue)
    two = logrank_test(t, e, g)
    assert two.pvalue == pytest.approx(2 * min(r.pvalue, 1 - r.pvalue))


@pytest.mark.parametrize("case", PAIRWISE, ids=[c["name"] for c in PAIRWISE])
def test_pairwise_matches_r(case):
    w = "logrank" if case["rho"] == 0 else ("fleming-harrington", float(case["rho"]), 0.0)
    args = (np.array(case["time"], dtype=float), np.array(case["event"]), np.array(case["group"]))
    strata = None if case["strata"] is None else np.array(case["strata"])
    for method, key in (("holm", "holm"), ("bonferroni", "bonferroni")):
        res = pairwise_logrank(*args, strata=strata, weights=w, p_adjust=method)
        tab = res.table
        assert tab["group1"].tolist() == case["group1"] and tab["group2"].tolist() == case["group2"]
        np.testing.assert_allclose(tab["statistic"].to_numpy(), case["statistic"], **TOL)
        np.testing.assert_allclose(tab["pvalue"].to_numpy(), case["pvalue"], **TOL)
        np.testing.assert_allclose(tab["p_adjusted"].to_numpy(), case[key], **TOL)
    none = pairwise_logrank(*args, strata=strata, weights=w, p_adjust="none").table
    np.testing.assert_array_equal(none["p_adjusted"], none["pvalue"])


def test_p_adjust_holm_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted: .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04 -> cummax .02 .03 .06 .06
    np.testing.assert_allclose(p_adjust(p, "holm"), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(p_adjust(p, "bonferroni"), [0.04, 0.16, 0.12, 0.02])


def test_all_censored_group_contributes_expected_only():
    t = np.array([1.0, 2, 3, 4, 5, 2.5, 3.5, 6])
    e = np.array([1, 1, 0, 1, 1, 0, 0, 0])
    g = np.array(["x"] * 5 + ["y"] * 3)
    r = logrank_test(t, e, g)
    assert r.observed["y"] == 0 and r.expected["y"] > 0 and r.df == 1


def test_strata_sum_per_stratum_tests():
    rng = np.random.default_rng(7)
    t = rng.integers(1, 30, 200).astype(float)
    e = rng.random(200) < 0.7
    g = rng.choice(["a", "b"], 200)
    s = rng.choice(["u", "v"], 200)
    both = logrank_test(t, e, g, strata=s)
    parts = [logrank_test(t[s == k], e[s == k], g[s == k]) for k in ("u", "v")]
    np.testing.assert_allclose(both.observed, sum(p.observed for p in parts), rtol=1e-12)
    np.testing.assert_allclose(both.expected, sum(p.expected for p in parts), rtol=1e-12)
    np.testing.assert_allclose(both.variance, sum(p.variance for p in parts), rtol=1e-12)


def test_result_is_frozen():
    r = logrank_test([1, 2, 3, 4], [1, 1, 1, 1], ["a", "b", "a", "b"])
    with pytest.raises(AttributeError):
        r.statistic = 0.0  # type: ignore[misc]


# ---- input checks ------------------------------------------------------------------------------------

T = [1.0, 2.0, 3.0, 4.0]
E = [1, 0, 1, 1]
G = ["a", "b", "a", "b"]


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([1.0, np.nan, 3.0, 4.0], E, G), {}, r"time: non-finite value .*nan.* at position 1"),
        (([1.0, -1.0, 3.0, 4.0], E, G), {}, r"time: negative value .* at position 1"),
        ((T, [1, 0, 0.5, 1], G), {}, r"event: value .*0\.5.* at position 2"),
        ((T, E, ["a", "b", "a"]), {}, r"length mismatch: time=4, group=3"),
        ((T, [1, 0, 1], G), {}, r"length mismatch: time=4, event=3"),
        (([], [], []), {}, r"time: empty input"),
        ((T, E, ["a", "a", "a", "a"]), {}, r"group: only one group \('a'\)"),
        ((T, E, ["a", None, "a", "b"]), {}, r"group: missing label None at position 1"),
        ((T, E, G), {"entry": [0.0, 2.0, 0.0, 0.0]}, r"entry: value 2.0 at position 1 is not before"),
        ((T, E, G), {"strata": ["s", "t", "s"]}, r"length mismatch: time=4, group=4, strata=3"),
        ((T, E, G), {"weights": "wilcoxon"}, r"weights: 'wilcoxon'"),
        ((T, E, G), {"weights": ("fleming-harrington", -1, 0)}, r"weights: Fleming"),
        ((T, E, G), {"alternative": "bigger"}, r"alternative: 'bigger'"),
        ((T, E, ["a", "b", "c", "b"]), {"alternative": "less"}, r"alternative: 'less' needs exactly two groups"),
        ((T, E, G), {"order": ["a"]}, r"order: group label 'b' .* not listed"),
        ((T, E, G), {"order": ["a", "b", "c"]}, r"order: label 'c' does not occur"),
    ],
)
def test_bad_input_raises(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        logrank_test(*args, **kwargs)


def test_pairwise_bad_input():
    with pytest.raises(ValueError, match="p_adjust: 'fdr'"):
        pairwise_logrank(T, E, G, p_adjust="fdr")
    with pytest.raises(ValueError, match="group: only one group"):
        pairwise_logrank(T, E, ["a"] * 4)


def test_p_adjust_leaves_missing_p_values_out_as_r() -> None:
    """R: p.adjust(c(0.01, NA, 0.04, 0.03), "holm") = 0.03 NA 0.06 0.06; "bonferroni" = 0.03 NA 0.12 0.09."""
    from blincompass.stats.logrank import p_adjust

    holm = p_adjust([0.01, float("nan"), 0.04, 0.03], "holm")
    bonf = p_adjust([0.01, float("nan"), 0.04, 0.03], "bonferroni")
    np.testing.assert_allclose(holm[[0, 2, 3]], [0.03, 0.06, 0.06], rtol=1e-12)
    np.testing.assert_allclose(bonf[[0, 2, 3]], [0.03, 0.12, 0.09], rtol=1e-12)
    assert np.isnan(holm[1]) and np.isnan(bonf[1])
