"""Federated pooling of the synthetic twin split by centre into three sites, against the patient level."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from blincompass.federate import SiteSummary, pool, summarise
from blincompass.report.fisher import run_fisher
from blincompass.report.survival import survival_data
from blincompass.study import load_study
from tests.federate.conftest import PROTOCOL, SITES
from tests.federate.sites import study_with

TOL = 1e-10
NAMES = sorted(SITES)


def _close(a, b, what: str) -> None:
    if a is None or b is None or (isinstance(b, float) and not math.isfinite(b)):
        bad = b is not None and isinstance(b, float) and math.isfinite(b)
        assert a is None and (b is None or not bad), f"{what}: {a!r} vs {b!r}"
        return
    assert abs(float(a) - float(b)) <= TOL * max(1.0, abs(float(b))), f"{what}: {a!r} vs {b!r}"


def _summaries(study, site_data, **kw):
    return [summarise(study, site_data[s][0], site=s, derived=site_data[s][1], **kw) for s in NAMES]


def _check_curve(pooled: dict, g, what: str) -> None:
    km, km2 = g.km, g.km_spss
    assert pooled["n"] == km.n and pooled["events"] == km.n_events, what
    bc, sp = pooled["median"]["brookmeyer_crowley"], pooled["median"]["spss"]
    for a, b, k in ((bc["estimate"], km.median, "median"), (bc["lower"], km.median_ci.lower, "bc lower"),
                    (bc["upper"], km.median_ci.upper, "bc upper"), (sp["estimate"], km2.median, "spss"),
                    (sp["se"], km2.median_se, "spss se"), (sp["lower"], km2.median_ci.lower, "spss lower"),
                    (sp["upper"], km2.median_ci.upper, "spss upper"), (pooled["rmean"]["estimate"], km.mean, "rmean"),
                    (pooled["rmean"]["se"], km.mean_se, "rmean se"), (pooled["rmean"]["tmax"], g.time.max(), "tmax")):
        _close(a, b, f"{what} {k}")
    months = list(PROTOCOL.analyses.settings.survival_at_months)
    at = km.survival_at(months)
    for i, v in enumerate(pooled["at"].values()):
        for key, ref in (("surv", at.surv), ("std_err", at.std_err), ("lower", at.lower), ("upper", at.upper)):
            _close(v[key], float(ref[i]), f"{what} at {months[i]} {key}")


def _check_test(pooled: dict, t, t2, what: str) -> None:
    assert pooled["groups"] == list(t.groups), what
    _close(pooled["chisq"], t.statistic, f"{what} chisq")
    _close(pooled["z"], t.z, f"{what} z")
    _close(pooled["p"], t.pvalue, f"{what} p")
    _close(pooled["p_two_sided"], t2.pvalue, f"{what} p two-sided")
    assert pooled["df"] == t.df
    for g in t.groups:
        _close(pooled["observed"][g], float(t.observed[g]), f"{what} O {g}")
        _close(pooled["expected"][g], float(t.expected[g]), f"{what} E {g}")
        assert pooled["n"][g] == int(t.n[g])


def _site_strata(derived, a):
    """The patient-level analysis stratified by site (ADSL column ``site`` from the centre)."""
    of = {c: s for s, cs in SITES.items() for c in cs}
    adsl = derived.adsl.copy()
    adsl["site"] = adsl["centre"].map(of)
    return survival_data(adsl, derived.adtte, PROTOCOL, a.model_copy(update={"strata": "site"}))


@pytest.fixture(scope="module")
def exact(tmp_path_factory, site_data):
    study = load_study(study_with(tmp_path_factory.mktemp("exact"), time_grid=1, time_unit="days", threshold=1))
    sums = _summaries(study, site_data)
    return sums, pool(sums, study).results


def test_pooled_equals_patient_level_without_coarsening(exact, site_data) -> None:
    sums, res = exact
    derived = site_data["all"][1]
    assert len(sums) == 3 and all(not any(line.merged for line in s.release) for s in sums)
    for a in PROTOCOL.analyses.survival:
        sd = survival_data(derived.adsl, derived.adtte, PROTOCOL, a)
        p = res["survival"][a.id]
        assert "equal to the patient-level analysis" in p["note"]
        _check_curve(p, sd.pooled, a.id)
        for g in sd.groups:
            _check_curve(p["groups"][g.id], g, f"{a.id} {g.id}")
        if sd.test is not None:
            _check_test(p["logrank"]["pooled_counts"], sd.test, sd.test_two_sided, f"{a.id} pooled")
            st = _site_strata(derived, a)
            _check_test(p["logrank"]["site_stratified"], st.test, st.test_two_sided, f"{a.id} by site")
            # stratification by site changes the test: the two are not the same number
            assert abs(st.test.statistic - sd.test.statistic) > 1e-6
    for a in PROTOCOL.analyses.proportions:
        ref = run_fisher(derived.adsl, a, PROTOCOL)
        p = res["proportions"][a.id]
        assert [[c["yes"], c["no"]] for c in p["counts"].values()] == ref["table"].tolist()
        for k, rk in (("p", "p"), ("p_two_sided", "p_two_sided"), ("odds_ratio", "odds_ratio"),
                      ("or_lower", "or_lower"), ("or_upper", "or_upper")):
            _close(p["fisher"][k], ref[rk], f"{a.id} {k}")


def test_grid_coarsening_is_the_rounded_times_and_site_scores_stay_exact(tmp_path, site_data) -> None:
    study = load_study(study_with(tmp_path / "s", time_grid=1.0, time_unit="months", threshold=1))
    res = pool(_summaries(study, site_data), study).results
    derived = site_data["all"][1]
    rounded = derived.adtte.copy()
    rounded["AVAL"] = np.ceil(rounded["ADY"].to_numpy(float) / PROTOCOL.time.days_per_month - 1e-9)
    n_differ = 0
    for a in PROTOCOL.analyses.survival:
        p = res["survival"][a.id]
        assert "rounded up to a grid of 1 month" in p["note"]
        exact_sd = survival_data(derived.adsl, derived.adtte, PROTOCOL, a)
        sd = survival_data(derived.adsl, rounded, PROTOCOL, a)
        _check_curve(p, sd.pooled, a.id)  # = Kaplan-Meier of the times rounded up to whole months
        n_differ += p["median"]["estimate"] != exact_sd.pooled.km.median
        if sd.test is not None:
            _check_test(p["logrank"]["pooled_counts"], sd.test, sd.test_two_sided, a.id)
            st = _site_strata(derived, a)  # exact times: the scores do not see the grid
            _check_test(p["logrank"]["site_stratified"], st.test, st.test_two_sided, a.id)
    assert n_differ >= 2  # the grid does move medians


def test_threshold_merges_intervals_and_suppresses_small_tables(tmp_path, site_data) -> None:
    study = load_study(study_with(tmp_path / "s", time_grid=1.0, threshold=3, survival=["os_all", "rfs_cr"]))
    sums = _summaries(study, site_data)
    for s in sums:
        for a in ("os_all", "rfs_cr"):
            rows = s.data["survival"][a]["counts"]
            counts = np.array([r[3:] for r in rows])
            assert ((counts == 0) | (counts >= 3)).all()
            assert all(float(r[2]).is_integer() for r in rows)  # whole months
            assert s.data["survival"][a]["coarsened"]
        assert {line.analysis for line in s.release if line.merged} == {"os_all", "rfs_cr"}
    res = pool(sums, study).results
    derived = site_data["all"][1]
    for a in PROTOCOL.analyses.survival[:2]:
        p = res["survival"][a.id]
        sd = survival_data(derived.adsl, derived.adtte, PROTOCOL, a)
        assert (p["n"], p["events"]) == (sd.pooled.km.n, sd.pooled.km.n_events)
        assert p["coarsened_sites"] == NAMES and "merged to reach the threshold 3 at centre, north, south" in p["note"]
    assert set(res["survival"]) == {"os_all", "rfs_cr"}
    for a in PROTOCOL.analyses.proportions:
        p = res["proportions"][a.id]
        released = [s.site for s in sums if not s.data["proportions"][a.id]["suppressed"]]
        assert p["sites"] == released and p["suppressed_sites"] == [n for n in NAMES if n not in released]
        expect = sum((run_fisher(site_data[s][1].adsl, a, PROTOCOL)["table"] for s in released),
                     np.zeros((2, 2), dtype=np.int64))
        assert [[c["yes"], c["no"]] for c in p["counts"].values()] == expect.tolist()
        for s in sums:
            t = s.data["proportions"][a.id]["table"]
            if t is not None:
                assert all(v == 0 or v >= 3 for row in t for v in row)
        if p["suppressed_sites"]:
            assert f"suppressed (a non-zero cell below 3) at {', '.join(p['suppressed_sites'])}" in p["note"]
    assert any(res["proportions"][a.id]["suppressed_sites"] for a in PROTOCOL.analyses.proportions)


def _strings(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)
    elif isinstance(obj, str):
        yield obj


def test_site_summary_holds_no_patient_id_date_or_free_text(exact, site_dirs, site_data) -> None:
    sums, _ = exact
    patient_ids = set(site_data["all"][1].adsl["patient_id"])
    dates = set()
    for f in Path(site_dirs["all"]).glob("*.csv"):
        dates.update(re.findall(r"\d{4}-\d{2}-\d{2}", f.read_text("utf-8")))
    assert len(patient_ids) == 39 and len(dates) > 100
    allowed = {"stratum", "grp", "time", "n_event", "n_censor", "logrank", "gehan-breslow", "tarone-ware",
               "peto-peto", "days", "months", "true", "false", "low", "high", "first_relapse", "second_relapse"}
    for s in sums:
        raw = s.to_json().decode("utf-8")
        for pid in patient_ids:
            assert pid not in raw
        body = json.loads(raw)
        created = body.pop("created")
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", created)
        text = json.dumps(body)
        assert not re.search(r"\d{4}-\d{2}-\d{2}", text)
        assert not any(d in text for d in dates)
        ids = {a.id for a in (*PROTOCOL.analyses.survival, *PROTOCOL.analyses.proportions)}
        meta = {s.site, body["blincompass_version"], body["format"], body["study"]["name"], body["study"]["sha256"]}
        keys = {"format", "format_version", "blincompass_version", "site", "study", "name", "sha256", "federation",
                "time_grid", "time_unit", "threshold", "count_columns", "survival", "proportions", "withheld",
                "counts", "coarsened", "groups", "strata", "weights", "n", "observed", "expected", "variance",
                "table", "suppressed"}
        for v in _strings(body):
            assert v in allowed | ids | meta | keys, f"unexpected text {v!r} in a site summary"


def test_same_input_same_bytes(tmp_path, site_data, monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    study = load_study(study_with(tmp_path / "s", time_grid=0.5, threshold=1))
    ds, derived = site_data["north"]
    a = summarise(study, ds, site="north", derived=derived).to_json()
    b = summarise(study, ds, site="north").to_json()  # derived again from the data set
    assert a == b
    assert json.loads(a)["created"] == "2026-01-01T00:00:00Z"
    back = SiteSummary.from_json(a, "north.json")
    assert back.to_json() == a and back.site == "north"
    assert summarise(study, ds, derived=derived).site == "SYN-C1+SYN-C2"  # default label: the centres
