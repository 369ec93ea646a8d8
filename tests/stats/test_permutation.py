"""Tests for blincompass.stats.permutation.

The permutation log-rank test is checked by brute force: looping over every relabelling with
``itertools.combinations`` and the ordinary log-rank routine must give the same p-value as the batched
enumeration. The stratified exact 2x2 test is checked against R ``mantelhaen.test(exact=TRUE)``
(fixture written by tests/fixtures/r/competing.R).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from blincompass.stats.permutation import exact_stratified_2x2, permutation_logrank

logrank = pytest.importorskip("blincompass.stats.logrank")

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "r" / "competing_mantelhaen.json"
MH_CASES = json.loads(FIXTURE.read_text())["cases"]
TOL = {"rtol": 1e-8, "atol": 1e-8}


def _tiny(seed: int, n: int = 10):
    rng = np.random.default_rng(seed)
    t = rng.integers(1, 6, n).astype(float)  # many ties
    e = rng.integers(0, 2, n)
    e[:3] = 1
    g = np.array(["a"] * 4 + ["b"] * (n - 4), dtype=object)
    rng.shuffle(g)
    s = np.array([0, 1] * (n // 2))
    return t, e, g, s


def _brute_force(t, e, g, strata, weights, alternative):
    """p-value from looping over all within-stratum relabellings with logrank_test."""
    kw = {"strata": strata, "weights": weights, "alternative": alternative, "order": ["a", "b"]}
    obs = logrank.logrank_test(t, e, g, **kw)
    obs_stat = obs.statistic if alternative == "two-sided" else obs.z
    blocks = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    choices = [itertools.combinations(b, int(np.sum(g[b] == "a"))) for b in blocks]
    stats = []
    for combo in itertools.product(*choices):
        gg = np.array(["b"] * t.size, dtype=object)
        gg[[i for part in combo for i in part]] = "a"
        r = logrank.logrank_test(t, e, gg, **kw)
        v = r.statistic if alternative == "two-sided" else r.z
        stats.append(0.0 if np.isnan(v) else v)  # V = 0 implies O - E = 0: statistic 0
    stats = np.array(stats)
    tol = 1e-7 * max(1.0, abs(obs_stat))
    extreme = stats <= obs_stat + tol if alternative == "less" else stats >= obs_stat - tol
    return float(np.mean(extreme)), obs


@pytest.mark.parametrize("weights", ["logrank", "gehan-breslow", "tarone-ware", "peto-peto",
                                     ("fleming-harrington", 1.0, 1.0)])
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
@pytest.mark.parametrize("seed", [7, 9])
def test_exact_enumeration_equals_brute_force(seed, alternative, weights):
    t, e, g, s = _tiny(seed)
    p_brute, obs = _brute_force(t, e, g, s, weights, alternative)
    res = permutation_logrank(t, e, g, strata=s, weights=weights, alternative=alternative, method="exact")
    assert res.method == "exact"
    assert res.n_resamples == res.n_combinations == math.prod(
        math.comb(int(np.sum(s == k)), int(np.sum((s == k) & (g == "a")))) for k in (0, 1)
    )
    assert res.pvalue == pytest.approx(p_brute, abs=1e-12)
    np.testing.assert_allclose(res.z, obs.z, **TOL)
    np.testing.assert_allclose(res.asymptotic_pvalue, obs.pvalue, **TOL)


def test_unstratified_brute_force_n9():
    t, e, g, _ = _tiny(11, n=9)
    s = np.zeros(9, dtype=int)
    p_brute, _ = _brute_force(t, e, g, s, "logrank", "two-sided")
    res = permutation_logrank(t, e, g)
    assert res.method == "exact" and res.n_resamples == math.comb(9, 4)
    assert res.pvalue == pytest.approx(p_brute, abs=1e-12)


def test_score_statistic_is_permuted_exactly():
    t, e, g, s = _tiny(3)
    res = permutation_logrank(t, e, g, strata=s, statistic="score", alternative="greater")
    # brute force on O - E
    blocks = [np.flatnonzero(s == k) for k in (0, 1)]
    choices = [itertools.combinations(b, int(np.sum(g[b] == "a"))) for b in blocks]
    u = []
    for combo in itertools.product(*choices):
        gg = np.array(["b"] * t.size, dtype=object)
        gg[[i for part in combo for i in part]] = "a"
        r = logrank.logrank_test(t, e, gg, strata=s, order=["a", "b"])
        u.append(float(r.observed["a"] - r.expected["a"]))
    u = np.array(u)
    assert res.pvalue == pytest.approx(np.mean(u >= res.score - 1e-9), abs=1e-12)


def _cohort39():
    rng = np.random.default_rng(39)
    t = np.round(rng.exponential(20, 39))
    e = (rng.random(39) < 0.6).astype(int)
    g = np.where(rng.random(39) < 0.4, "HSCT", "chemo")
    t[g == "HSCT"] *= 1.6
    return t, e, g


def test_monte_carlo_reproducible_and_close_to_exact():
    t, e, g, s = _tiny(5, n=12)
    exact = permutation_logrank(t, e, g, strata=s, method="exact")
    mc1 = permutation_logrank(t, e, g, strata=s, method="monte-carlo", n_resamples=4000, seed=12)
    mc2 = permutation_logrank(t, e, g, strata=s, method="monte-carlo", n_resamples=4000, seed=12)
    assert mc1 == mc2 or (mc1.pvalue == mc2.pvalue and mc1.n_extreme == mc2.n_extreme)
    assert mc1.method == "monte-carlo" and mc1.n_resamples == 4000
    assert abs(mc1.pvalue - exact.pvalue) < 4 * mc1.mc_se + 1 / 4001
    assert mc1.mc_se == pytest.approx(math.sqrt(mc1.pvalue * (1 - mc1.pvalue) / 4000))
    assert mc1.pvalue == (1 + mc1.n_extreme) / 4001


def test_auto_switches_to_monte_carlo_for_n39():
    t, e, g = _cohort39()
    res = permutation_logrank(t, e, g, n_resamples=2000, alternative="less", order=["HSCT", "chemo"])
    assert res.method == "monte-carlo"
    assert res.n_combinations == math.comb(39, int(np.sum(g == "HSCT")))
    lr = logrank.logrank_test(t, e, g, alternative="less", order=["HSCT", "chemo"])
    np.testing.assert_allclose(res.z, lr.z, **TOL)
    np.testing.assert_allclose(res.asymptotic_pvalue, lr.pvalue, **TOL)
    assert abs(res.pvalue - res.asymptotic_pvalue) < 5 * res.mc_se + 0.01


def _tied(seed: int, n: int):
    rng = np.random.default_rng(seed)
    t = rng.integers(1, 4, n).astype(float)  # three distinct times: at most six cells per stratum
    e = rng.integers(0, 2, n)
    e[:2] = 1
    g = np.array(["a"] * (n // 2) + ["b"] * (n - n // 2), dtype=object)
    rng.shuffle(g)
    return t, e, g


@pytest.mark.parametrize("weights", ["logrank", "peto-peto"])
def test_cell_scores_equal_subject_scores(weights):
    """U and V from counts per (time, event) cell equal those from the subject indicators they summarise."""
    from blincompass.stats import permutation as perm

    t, e, g = _tied(3, 40)
    x = g == "a"
    st = perm._prepare_stratum(np.arange(t.size), t, e.astype(bool), x, weights, 0.0, 0.0)
    rng = np.random.default_rng(1)
    xmat = rng.permuted(np.broadcast_to(st.x, (50, t.size)), axis=1)
    # subjects are sorted by time; a cell is a run of equal (time, event) among them
    sorted_t, sorted_e = t[st.index], e[st.index].astype(bool)
    keys = np.unique(np.column_stack([sorted_t, sorted_e]), axis=0)
    counts = np.stack([xmat[:, (sorted_t == kt) & (sorted_e == ke)].sum(axis=1) for kt, ke in keys], axis=1)
    assert counts.shape[1] == st.cell_size.size
    u_s, v_s = perm._score_and_variance(st, xmat)
    u_c, v_c = perm._cell_score_and_variance(st, counts.astype(np.int64), int(x.sum()))
    np.testing.assert_allclose(u_c, u_s, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(v_c, v_s, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stratified", [False, True])
def test_cell_level_monte_carlo_close_to_exact(monkeypatch, stratified):
    """Cell-level draws: 20 subjects per stratum at two times (at most four cells, fewer than n/4)."""
    from blincompass.stats import permutation as perm

    rng = np.random.default_rng(13)  # exact p about 0.19 in both cases
    n = 40 if stratified else 20
    t = rng.integers(1, 3, n).astype(float)
    e = rng.integers(0, 2, n)
    e[:2] = 1
    s = np.repeat([0, 1], 20) if stratified else None
    g = np.array(["b"] * n, dtype=object)
    g[rng.choice(20, 2 if stratified else 8, replace=False)] = "a"
    if stratified:
        g[20 + rng.choice(20, 2, replace=False)] = "a"
    exact = permutation_logrank(t, e, g, strata=s, method="exact", order=["a", "b"])
    monkeypatch.setattr(perm, "_SUBJECT_LEVEL_MAX", 0)
    kw = {"strata": s, "method": "monte-carlo", "n_resamples": 20_000, "seed": 5, "order": ["a", "b"]}
    mc1 = permutation_logrank(t, e, g, **kw)
    mc2 = permutation_logrank(t, e, g, **kw)
    assert mc1.pvalue == mc2.pvalue and mc1.n_extreme == mc2.n_extreme
    assert mc1.statistic == exact.statistic and mc1.z == exact.z
    assert abs(mc1.pvalue - exact.pvalue) < 4 * mc1.mc_se + 1 / 20_001
    monkeypatch.setattr(perm, "_BLOCK", 64)  # blocks of draws consume the stream as one call does
    assert permutation_logrank(t, e, g, **kw).n_extreme == mc1.n_extreme
    monkeypatch.setattr(perm, "_SUBJECT_LEVEL_MAX", 10**12)
    subject = permutation_logrank(t, e, g, **kw)  # subject-level shuffles: another stream, same distribution
    assert subject.n_extreme != mc1.n_extreme
    assert abs(subject.pvalue - exact.pvalue) < 4 * subject.mc_se + 1 / 20_001


def test_stratum_without_events():
    t = [1, 2, 3, 4, 5, 6, 7, 8]
    e = [1, 1, 0, 1, 0, 0, 0, 0]
    g = ["a", "b", "a", "b", "a", "b", "a", "b"]
    s = [0, 0, 0, 0, 1, 1, 1, 1]
    res = permutation_logrank(t, e, g, strata=s)
    p_brute, obs = _brute_force(np.array(t, float), np.array(e), np.array(g, dtype=object), np.array(s),
                                "logrank", "two-sided")
    assert res.n_combinations == 36
    assert res.pvalue == pytest.approx(p_brute, abs=1e-12)
    np.testing.assert_allclose(res.statistic, obs.statistic, **TOL)


def test_permutation_input_errors():
    t, e, g, s = _tiny(1)
    with pytest.raises(ValueError, match="exactly two groups"):
        permutation_logrank(t, e, np.arange(t.size) % 3)
    with pytest.raises(ValueError, match="weights"):
        permutation_logrank(t, e, g, weights="wilcoxon")
    with pytest.raises(ValueError, match="alternative"):
        permutation_logrank(t, e, g, alternative="two.sided")
    with pytest.raises(ValueError, match="method"):
        permutation_logrank(t, e, g, method="bootstrap")
    with pytest.raises(ValueError, match="max_exact"):
        permutation_logrank(t, e, g, method="exact", max_exact=10)
    with pytest.raises(ValueError, match="order"):
        permutation_logrank(t, e, g, order=["a", "c"])
    with pytest.raises(ValueError, match=r"event: value \S*2\S* at position 0"):
        permutation_logrank(t, np.r_[2, e[1:]], g)


# ---------------------------------------------------------------------------------------------------
# exact conditional test for K 2x2 tables
# ---------------------------------------------------------------------------------------------------


def _inf(v):
    return math.inf if v >= 1e308 else v


@pytest.mark.parametrize("case", MH_CASES, ids=[c["name"] for c in MH_CASES])
def test_exact_stratified_2x2_matches_mantelhaen(case):
    for r in case["results"]:
        res = exact_stratified_2x2(case["tables"], alternative=r["alternative"], conf_level=case["conf_level"])
        assert res.statistic == r["statistic"]
        np.testing.assert_allclose(res.pvalue, r["pvalue"], **TOL)
        np.testing.assert_allclose(res.estimate, _inf(case["mle_tight"]), rtol=1e-8)
        np.testing.assert_allclose(res.conf_int, [_inf(v) for v in r["conf_int_tight"]], rtol=1e-7)
        # R's own (uniroot tolerance about 1e-4) values
        np.testing.assert_allclose(res.estimate, _inf(r["estimate"]), rtol=2e-3)
        np.testing.assert_allclose(res.conf_int, [_inf(v) for v in r["conf_int"]], rtol=1e-2)


def test_exact_stratified_2x2_inputs():
    with pytest.raises(ValueError, match=r"cell \[1, 0, 1\] = \S*-1\.0"):
        exact_stratified_2x2([[[1, 2], [3, 4]], [[1, -1], [3, 4]]])
    with pytest.raises(ValueError, match="shape"):
        exact_stratified_2x2([[1, 2, 3], [3, 4, 5]])
    with pytest.raises(ValueError, match="table 0 has total 1"):
        exact_stratified_2x2([[[1, 0], [0, 0]], [[1, 2], [3, 4]]])
    res = exact_stratified_2x2(np.array([[3, 1], [1, 3]]))
    assert res.null_pmf.sum() == pytest.approx(1.0)
