"""Comparisons of three and four groups through the whole report: every number the report prints equals
the statistics function's (each checked against R in tests/stats), and every output is written.

The data: the synthetic twin (39 eligible patients) with an extra patient-level column ``arm`` that deals
the eligible patients into k groups in turn, and a protocol whose analyses compare the arms.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from blincompass.derive import derive_all
from blincompass.protocol import load_protocol
from blincompass.protocol.model import CompetingAnalysis, ProportionAnalysis, SurvivalAnalysis
from blincompass.report import build_report, write_report
from blincompass.stats import chi2_test, fisher_exact, gray_test, logrank_test, pairwise_logrank
from blincompass.validate import load_dataset

ARMS = ("a", "b", "c", "d")


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    from blincompass.synth.twin import write_twin

    folder = tmp_path_factory.mktemp("twin")
    write_twin(folder, seed=0)
    validation = load_dataset(folder)
    assert validation.ok
    proto = load_protocol()
    return validation.dataset, derive_all(validation.dataset, proto)


def _protocol(k: int):
    base = load_protocol()
    labels = {g: f"Arm {g.upper()}" for g in ARMS[:k]}
    survival = (
        SurvivalAnalysis(id="os_by_arm", title="Overall survival by arm", endpoint="OS", group="arm",
                         labels=labels, alternative="less", figure="9"),
        SurvivalAnalysis(id="os_by_arm_strat", title="Overall survival by arm, stratified by blasts",
                         endpoint="OS", group="arm", order=ARMS[:k], labels=labels, strata="stratum"),
        SurvivalAnalysis(id="rfs_by_arm", title="Relapse-free survival by arm", endpoint="RFS", group="arm",
                         labels=labels),
    )
    proportions = (ProportionAnalysis(id="response_by_arm", title="Response after course 1 by arm",
                                      outcome="response_c1", group="arm", labels=labels, alternative="greater"),)
    competing = (CompetingAnalysis(id="cir_by_arm", title="Cumulative incidence of relapse by arm", endpoint="RFS",
                                   group="arm", order=ARMS[:k], labels=labels, causes={"relapse": 1, "death": 2},
                                   cause_of_interest="relapse"),)
    # a stratified Gray test for a competing analysis that names strata (the field the package format adds)
    competing += (competing[0].model_copy(update={"id": "cir_by_arm_strat", "strata": "stratum"}),)
    # time-dependent comparisons stay two-state (status reached or not): the protocol's own, without figures
    timedep = tuple(a.model_copy(update={"figure": None}) for a in base.analyses.timedep)
    analyses = base.analyses.model_copy(update={"survival": survival, "proportions": proportions,
                                                "competing": competing, "timedep": timedep})
    return base.model_copy(update={"analyses": analyses})


@pytest.fixture(scope="module", params=[3, 4], ids=["3_groups", "4_groups"])
def k_report(request, twin, tmp_path_factory):
    k = request.param
    dataset, derived = twin
    adsl = derived.adsl.copy()
    elig = adsl["eligible"].fillna(False).astype(bool)
    arm = np.full(len(adsl), None, dtype=object)
    arm[np.flatnonzero(elig.to_numpy())] = [ARMS[i % k] for i in range(int(elig.sum()))]
    adsl["arm"] = arm
    derived = replace(derived, adsl=adsl)
    proto = _protocol(k)
    rep = build_report(dataset, proto, derived=derived, synthetic=True)
    out = tmp_path_factory.mktemp(f"k{k}")
    written = write_report(rep, out)
    return k, rep, derived, out, written


def _tte(derived, paramcd, population=None):
    adsl = derived.adsl.set_index("patient_id")
    tte = derived.adtte[derived.adtte["PARAMCD"] == paramcd]
    pats = adsl[adsl["eligible"].fillna(False).astype(bool)]
    if population:
        pats = pats[pats[population].fillna(False).astype(bool)]
    tte = tte[tte["USUBJID"].isin(pats.index)]
    return tte, adsl.loc[tte["USUBJID"]]


def test_k_sample_logrank_and_holm_pairwise(k_report):
    k, rep, derived, _, _ = k_report
    tte, pats = _tte(derived, "OS")
    t, e, g = tte["AVAL"].to_numpy(float), (tte["CNSR"] == 0).to_numpy(), pats["arm"].to_numpy(object)
    ref = logrank_test(t, e, g, order=list(ARMS[:k]))
    res = rep.results["tests"]["os_by_arm"]
    assert res["df"] == k - 1 and res["k_groups"] == k
    assert res["chisq"] == pytest.approx(ref.statistic, rel=1e-10)
    # a one-sided alternative needs two groups: the k-sample test is two-sided
    assert res["alternative"] == "two-sided" and res["p"] == pytest.approx(ref.pvalue, rel=1e-10)
    pw = pairwise_logrank(t, e, g, p_adjust="holm", order=list(ARMS[:k])).table
    assert len(pw) == k * (k - 1) // 2 and res["pairwise_adjust"] == "holm"
    for r in pw.itertuples():
        got = res["pairwise"][f"{r.group1}__{r.group2}"]
        assert got["chisq"] == pytest.approx(r.statistic, rel=1e-10)
        assert got["p"] == pytest.approx(r.pvalue, rel=1e-10)
        assert got["p_holm"] == pytest.approx(r.p_adjusted, rel=1e-10)
        assert got["p_holm"] >= got["p"]
    # stratified: every pair tested within the strata too
    s = pats["stratum"].astype(str).to_numpy(object)
    keep = pats["stratum"].notna().to_numpy()
    ref_s = logrank_test(t[keep], e[keep], g[keep], strata=s[keep], order=list(ARMS[:k]))
    res_s = rep.results["tests"]["os_by_arm_strat"]
    assert res_s["chisq"] == pytest.approx(ref_s.statistic, rel=1e-10)
    pw_s = pairwise_logrank(t[keep], e[keep], g[keep], strata=s[keep], p_adjust="holm",
                            order=list(ARMS[:k])).table
    for r in pw_s.itertuples():
        assert res_s["pairwise"][f"{r.group1}__{r.group2}"]["p_holm"] == pytest.approx(r.p_adjusted, rel=1e-10)
    row = next(r for r in rep.table("logrank").rows if r.cells[0] == "Overall survival by arm (Figure 9)")
    assert row.cells[4] == "\u2013" and res["z"] is None  # z belongs to two-group tests
    assert row.cells[6].startswith(f"two-sided: the {k} groups differ")
    table = rep.table("logrank_pairwise")
    assert table.caption.startswith("Table 7b. ") and "Holm" in table.caption
    assert len(table.rows) == 3 * k * (k - 1) // 2  # three k-group comparisons


def test_fisher_and_chi_square_of_the_k_by_2_table(k_report):
    k, rep, derived, _, _ = k_report
    adsl = derived.adsl
    d = adsl[adsl["eligible"].fillna(False).astype(bool) & adsl["response_c1"].notna()]
    table = [[int((d.loc[d["arm"] == a, "response_c1"] == True).sum()),  # noqa: E712
              int((d.loc[d["arm"] == a, "response_c1"] == False).sum())] for a in ARMS[:k]]  # noqa: E712
    res = rep.results["tests"]["response_by_arm"]
    assert [[res["counts"][a]["yes"], res["counts"][a]["no"]] for a in ARMS[:k]] == table
    assert res["k_groups"] == k and res["sided"] == "two"
    assert res["p"] == pytest.approx(fisher_exact(np.array(table)).pvalue, rel=1e-10)
    chi = chi2_test(np.array(table), correction=False)
    assert res["chisq"] == pytest.approx(chi.statistic, rel=1e-10)
    assert (res["chisq_df"], res["chisq_p"]) == (k - 1, pytest.approx(chi.pvalue, rel=1e-10))
    row = next(r for r in rep.table("fisher").rows if r.cells[0] == "Response after course 1 by arm")
    assert "Pearson chi-square" in row.cells[4]


def test_gray_k_sample_test(k_report):
    k, rep, derived, _, _ = k_report
    tte, pats = _tte(derived, "RFS", "cr_c1")
    code = tte["EVNTDESC"].map({"relapse": 1, "death": 2}).where(tte["CNSR"] == 0, 0).fillna(0).astype(int)
    ref = gray_test(tte["AVAL"].to_numpy(float), code.to_numpy(), pats["arm"].to_numpy(object), cause=1,
                    causes=[1, 2])
    got = rep.results["methods"]["competing"]["cir_by_arm"]
    present = len(set(pats["arm"]))
    assert got["gray"]["df"] == ref.df == present - 1
    assert got["gray"]["statistic"] == pytest.approx(ref.statistic, rel=1e-10)
    assert got["gray"]["p"] == pytest.approx(ref.pvalue, rel=1e-10)


def test_stratified_gray_test(k_report):
    k, rep, derived, _, _ = k_report
    tte, pats = _tte(derived, "RFS", "cr_c1")
    keep = pats["stratum"].notna().to_numpy()
    code = tte["EVNTDESC"].map({"relapse": 1, "death": 2}).where(tte["CNSR"] == 0, 0).fillna(0).astype(int)
    ref = gray_test(tte["AVAL"].to_numpy(float)[keep], code.to_numpy()[keep], pats["arm"].to_numpy(object)[keep],
                    cause=1, causes=[1, 2], strata=pats["stratum"].astype(str).to_numpy(object)[keep])
    got = rep.results["methods"]["competing"]["cir_by_arm_strat"]["gray"]
    assert got["strata"] == "stratum" and got["df"] == ref.df
    assert got["statistic"] == pytest.approx(ref.statistic, rel=1e-10)
    assert got["statistic"] != pytest.approx(rep.results["methods"]["competing"]["cir_by_arm"]["gray"]["statistic"])


def test_permutation_skipped_with_the_reason_and_timedep_two_state(k_report):
    k, rep, _, _, _ = k_report
    assert "permutation" not in rep.results["methods"] or "os_by_arm" not in rep.results["methods"]["permutation"]
    rows = {r.cells[0]: r for r in rep.table("permutation").rows}
    assert rows["Overall survival by arm"].cells[4] == (
        f"not computed: the permutation test compares two groups, this comparison has {k}")
    assert set(rep.results["methods"]["timedep"]) == {a.id for a in load_protocol().analyses.timedep}


def test_every_output_written(k_report):
    k, rep, _, out, written = k_report
    names = {p.name for p in written}
    assert {"index.html", "report.docx", "tables.xlsx", "results.json", "figure_9.png"} <= names
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "Pairwise log-rank tests" in html and f"the {k} groups differ" in html
    assert rep.results["survival"]["os_by_arm"]["groups"]["d" if k == 4 else "c"]["n"] > 0


# ------------------------------------------------------------------------------------ through the CLI
def _package_with_analyses(root, survival, proportions=(), competing=()):
    """The built-in package (without its layout, so the generic one) whose protocol runs ``survival``,
    ``proportions`` and ``competing`` only (no figures besides the survival ones given)."""
    import tomllib

    import tomli_w

    from blincompass.study import load_study

    files = load_study().files
    root.mkdir()
    for name in ("dictionary.toml", "published.toml"):
        (root / name).write_bytes(files[name])
    proto = tomllib.loads(files["protocol.toml"].decode("utf-8"))
    proto["analyses"]["survival"] = list(survival)
    proto["analyses"]["proportions"] = list(proportions)
    proto["analyses"]["competing"] = list(competing)
    for td in proto["analyses"].get("timedep", []):
        td.pop("figure", None)
    (root / "protocol.toml").write_text(tomli_w.dumps(proto), encoding="utf-8")
    return root


def test_cli_report_by_disease_status(tmp_path):
    from typer.testing import CliRunner

    from blincompass.cli import app
    from blincompass.synth.twin import write_twin

    data = tmp_path / "twin"
    write_twin(data, seed=0)
    pkg = _package_with_analyses(
        tmp_path / "pkg",
        survival=[{"id": "os_by_status", "title": "Overall survival by disease status", "endpoint": "OS",
                   "group": "disease_status", "figure": "1"}],
        proportions=[{"id": "cr_by_status", "title": "CR after course 1 by disease status", "outcome": "cr_c1",
                      "group": "disease_status"}],
        competing=[{"id": "cir_by_status", "title": "Relapse by disease status", "endpoint": "RFS",
                    "group": "disease_status", "causes": {"relapse": 1, "death": 2},
                    "cause_of_interest": "relapse"}])
    out = tmp_path / "report"
    res = CliRunner().invoke(app, ["report", str(data), "--study", str(pkg), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    import json

    got = json.loads((out / "results.json").read_text(encoding="utf-8"))
    t = got["tests"]["os_by_status"]
    k = t["k_groups"]
    # the twin's eligible patients are persistent, first or second relapse: three groups, no "refractory"
    assert set(got["survival"]["os_by_status"]["groups"]) == {"persistent", "first_relapse", "second_relapse"}
    assert k == 3 and t["df"] == 2 and len(t["pairwise"]) == 3
    assert got["tests"]["cr_by_status"]["k_groups"] == 3
    assert got["methods"]["competing"]["cir_by_status"]["gray"]["df"] >= 1
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "Pairwise log-rank tests" in html and (out / "figures" / "figure_1.svg").exists()
    # the package has published numbers: compared (those of analyses this protocol lacks are not computable)
    assert got["published"]["source"] == str(pkg / "published.toml") and got["published"]["n_numbers"] == 148


def test_cli_report_unknown_group_column_exits_2(tmp_path):
    from typer.testing import CliRunner

    from blincompass.cli import app
    from blincompass.synth.twin import write_twin

    data = tmp_path / "twin"
    write_twin(data, seed=0)
    pkg = _package_with_analyses(
        tmp_path / "pkg", survival=[{"id": "os_by_x", "title": "OS by x", "endpoint": "OS", "group": "no_such_column"}])
    out = tmp_path / "report"
    res = CliRunner().invoke(app, ["report", str(data), "--study", str(pkg), "--out", str(out), "--no-progress"])
    assert res.exit_code == 2, res.output
    assert "no_such_column" in res.output and "Traceback" not in res.output
    assert not (out / "index.html").exists()


def test_holm_counts_only_pairs_with_a_p_value():
    """Two groups without events: their pair has no p-value and, as R p.adjust(c(p, p, NA), "holm"),
    the other two p-values are multiplied by 2, not 3."""
    import pandas as pd

    from blincompass.report.survival import survival_data

    ids = [f"P{i}" for i in range(9)]
    adsl = pd.DataFrame({"patient_id": ids, "eligible": True, "arm": list("aaabbbccc")})
    adtte = pd.DataFrame({"USUBJID": ids, "PARAMCD": "OS", "AVAL": [1, 2, 3, 4, 5, 6, 7, 8, 9.0],
                          "CNSR": [0, 0, 1, 1, 1, 1, 1, 1, 1]})
    a = SurvivalAnalysis(id="x", title="x", endpoint="OS", group="arm")
    sd = survival_data(adsl, adtte, load_protocol(), a)
    t = sd.pairwise.table.set_index(["group1", "group2"])
    ref = pairwise_logrank(adtte["AVAL"], adtte["CNSR"] == 0, adsl["arm"], p_adjust="none").table
    p_ab = ref.loc[(ref.group1 == "a") & (ref.group2 == "b"), "pvalue"].item()
    assert np.isnan(t.loc[("b", "c"), "pvalue"]) and np.isnan(t.loc[("b", "c"), "p_adjusted"])
    assert t.loc[("a", "b"), "p_adjusted"] == pytest.approx(min(1.0, 2 * p_ab), rel=1e-12)
    assert t.loc[("a", "c"), "p_adjusted"] == pytest.approx(min(1.0, 2 * p_ab), rel=1e-12)
