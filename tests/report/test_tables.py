"""Every table of the report checked against numbers computed by hand on tests/report/cohort.py."""

from __future__ import annotations

import math

import pytest
from scipy.stats import beta, norm

from blincompass.report.model import flatten, get

M = 30.4375  # days per month
Y = 365.25  # days per year


def cells(report, table_id: str) -> dict[str, tuple[str, ...]]:
    """Rows of a table keyed by their first cell (first occurrence wins)."""
    out: dict[str, tuple[str, ...]] = {}
    for r in report.table(table_id).rows:
        out.setdefault(r.cells[0], r.cells[1:])
    return out


# ---------------------------------------------------------------------------------------------- screening
def test_screening(results, report):
    sc = results["screening"]
    assert (sc["n_screened"], sc["n_eligible"]) == (8, 6)
    assert sc["steps"]["bcp_all"] == {"label": "B-cell precursor ALL", "n_before": 8, "n_excluded": 1, "n_after": 7}
    assert sc["steps"]["not_in_trial"]["n_excluded"] == 1
    assert [(e["patient_id"], e["step"]) for e in sc["excluded"]] == [("R8", "bcp_all"), ("R6", "not_in_trial")]
    assert "leukaemia_type = t_all" in sc["excluded"][0]["reason"]
    rows = report.table("screening_exclusions").rows
    assert [r.cells[:2] for r in rows] == [("R8", "B-cell precursor ALL"),  # the criterion, not its id
                                        ("R6", "Not enrolled in an interventional clinical trial")]
    # the reasons in words: the tested variable's label and the value's label, no variable names or codes
    assert [r.cells[2] for r in rows] == [
        "B-cell precursor ALL: not met (Leukaemia type: T-cell ALL)",
        "Not enrolled in an interventional clinical trial: not met (Enrolled in an interventional clinical "
        "trial: yes)"]


# ---------------------------------------------------------------------------------------------- Table 1
def test_table1_counts(results):
    t1 = results["table1"]
    assert t1["total"]["n"] == 6
    assert t1["sex"]["M"] == {"n": 4, "pct": pytest.approx(400 / 6)}
    assert t1["sex"]["F"]["n"] == 2
    assert (t1["immunophenotype"]["pro_b"]["n"], t1["immunophenotype"]["common"]["n"],
            t1["immunophenotype"]["pre_b"]["n"]) == (1, 5, 0)
    assert t1["karyotype"]["hyperdiploid"]["n"] == 1 and t1["karyotype"]["normal"]["n"] == 5
    assert t1["molecular"]["kmt2a"]["n"] == 1
    line = t1["therapeutic_line"]
    assert (line["persistent"]["n"], line["first_relapse"]["n"], line["second_relapse"]["n"],
            line["refractory"]["n"], line["relapses"]["n"]) == (1, 4, 1, 0, 5)
    # percentages of the relapsed patients only (percent_of = "subset")
    site = t1["relapse_site"]
    assert site["denominator"] == 5
    assert site["bone_marrow"] == {"n": 4, "pct": 80.0}
    assert site["combined"] == {"n": 1, "pct": 20.0}
    assert "missing" not in site
    hsct = t1["prior_hsct"]
    assert (hsct["yes"]["n"], hsct["two_or_more"]["n"], hsct["no"]["n"]) == (1, 1, 5)
    assert t1["schedule"]["ped_stepup"]["n"] == 5 and t1["schedule"]["adult_stepup"]["n"] == 1
    assert t1["prior_cart"]["false"]["n"] == 6


def test_table1_continuous(results):
    age = results["table1"]["age_diagnosis"]
    young = 183 / Y  # R2: diagnosed at 6 months
    other = 2192 / Y  # 2008-01-01 -> 2014-01-01
    assert age["n"] == 6
    assert age["median"] == pytest.approx(other)
    assert age["min"] == pytest.approx(young) and age["max"] == pytest.approx(other)
    # (n + 1)p quartiles: position 1.75 -> x1 + 0.75 (x2 - x1)
    assert age["q1"] == pytest.approx(young + 0.75 * (other - young))
    assert age["q3"] == pytest.approx(other)
    assert (age["lt1"]["n"], age["1to18"]["n"], age["gt18"]["n"]) == (1, 5, 0)
    courses = results["table1"]["courses"]
    assert (courses["median"], courses["q1"], courses["q3"], courses["min"], courses["max"]) == (1, 1, 2, 1, 2)
    assert (courses["c1"]["n"], courses["c2"]["n"], courses["gt2"]["n"]) == (4, 2, 0)


def test_table1_subrows_and_missing(results, report):
    b = results["table1"]["bm_blasts"]
    assert (b["low"]["n"], b["high"]["n"], b["missing"]["n"]) == (3, 2, 1)
    assert (b["debulking"]["n"], b["pcr_mrd_pos"]["n"], b["fc_mrd_pos"]["n"]) == (1, 1, 1)
    assert (b["b5to25"]["n"], b["gt25"]["n"]) == (1, 1)
    rows = [(r.level, r.cells[0]) for r in report.table("table1").rows]
    i = rows.index((1, "<5 % blasts"))
    assert rows[i + 1:i + 4] == [(2, "After debulking chemotherapy"), (2, "PCR-MRD positive"), (2, "FC-MRD positive")]
    j = rows.index((1, "\u22655 % blasts"))
    assert rows[j + 1:j + 4] == [(2, "5\u201325 % blasts"), (2, ">25 % blasts"), (1, "Missing")]


def test_table1_text(report):
    c = {k: v[0] for k, v in cells(report, "table1").items()}  # the overall column
    assert c["Total patients"] == "6"
    assert c["Male"] == "4 (66.7)"
    assert c["Median (IQR), years"] == "6.0 (4.6\u20136.0)"
    assert c["Range, years"] == "0.5\u20136.0"
    assert c["<12 months"] == "1 (16.7)"
    assert c["Site of relapse (relapsed patients) (n = 5)"] == ""
    # every dictionary code is shown, in dictionary order, zero counts included
    names = [r.cells[0] for r in report.table("table1").rows]
    k = names.index("Karyotype")
    assert names[k + 1:k + 7] == ["Hyperdiploid", "t(12;21)", "t(3;9)", "Other chromosomal aberrations",
                                  "Normal karyotype", "Unknown cytogenetic status"]


# ---------------------------------------------------------------------------------------------- Table 2
def test_table2_counts(results):
    t2 = results["table2"]
    assert t2["n_events"] == 7
    assert t2["patients_with_ae"] == {"n": 4, "pct": pytest.approx(400 / 5)}  # of the 5 with toxicity data
    tot = t2["total"]
    assert {k: tot[k]["n"] for k in ("g1_2", "g3", "g4", "unknown", "total")} == {
        "g1_2": 3, "g3": 2, "g4": 1, "unknown": 1, "total": 7}
    assert "g5" not in tot  # no grade-5 event: no grade-5 column
    assert tot["g3"]["pct"] == pytest.approx(200 / 7)
    neuro = t2["groups"]["neurotoxicity"]
    assert (neuro["g3"]["n"], neuro["total"]["n"], neuro["label"]) == (2, 2, "Neurotoxicity")
    fever = t2["terms"]["fever"]
    assert (fever["g1_2"]["n"], fever["unknown"]["n"], fever["total"]["n"]) == (1, 1, 2)
    assert t2["terms"]["aphasia"]["ctcae_status"] == "nearest"
    assert t2["terms"]["aphasia"]["ctcae_term"] == "Dysphasia"
    assert t2["terms"]["thrombocytopenia"]["g4"]["n"] == 1
    assert t2["groups"]["hematological"]["total"]["n"] == 1
    assert t2["terms"]["strange_feeling"]["ctcae_status"] == "unmapped"


def test_table2_layout(report):
    t = report.table("table2")
    assert [h.text for h in t.header[0]] == ["Toxicities during blinatumomab", "Grade 1\u20132", "Grade 3",
                                             "Grade 4", "Unknown grade", "Total"]
    assert [(r.level, r.cells[0]) for r in t.rows] == [
        (0, "Any adverse event"),
        (0, "Neurotoxicity"),
        (1, "Aphasia \u2020"),
        (1, "Seizure"),
        (0, "Fever"),
        (0, "Hematological toxicity"),
        (1, "Thrombocytopenia \u2021"),
        (0, "Headache"),  # unlisted terms follow, most frequent first then alphabetical
        (0, "Strange feeling \u00a7"),
    ]
    c = cells(report, "table2")
    # patients by their worst grade (% of the 5 with toxicity data), events (% of the 7 events)
    assert c["Any adverse event"] == ("2 (40.0)", "3 (42.9)", "1 (20.0)", "2 (28.6)", "1 (20.0)", "1 (14.3)",
                                      "0 (0.0)", "1 (14.3)", "4 (80.0)", "7 (100.0)")
    assert c["Seizure"] == ("\u2013", "\u2013", "1 (20.0)", "1 (14.3)", "\u2013", "\u2013", "\u2013", "\u2013",
                            "1 (20.0)", "1 (14.3)")
    # Fever: R1 grade 2, R4 unknown grade
    assert c["Fever"][:2] == ("1 (20.0)", "1 (14.3)") and c["Fever"][6:8] == ("1 (20.0)", "1 (14.3)")
    assert t.header[1][0].text == "n (%): of 5 patients with toxicity data / of 7 events"
    assert any("Aphasia: not a CTCAE v4.03 term; nearest: Dysphasia." in f for f in t.footnotes)
    assert any("Thrombocytopenia: synonym of the CTCAE v4.03 term Platelet count decreased" in f for f in t.footnotes)


def test_ae_patients_and_courses(results):
    p = results["ae_patients"]
    assert (p["eligible"]["n"], p["tox_data"]["n"], p["tox_missing"]["n"], p["any_ae"]["n"]) == (6, 5, 1, 4)
    assert p["grade3plus"]["n"] == 2
    assert (p["worst_g1_2"]["n"], p["worst_g3"]["n"], p["worst_g4"]["n"], p["worst_g5"]["n"],
            p["worst_unknown"]["n"], p["worst_no_ae"]["n"], p["worst_tox_missing"]["n"]) == (2, 1, 1, 0, 0, 1, 1)
    assert (p["interrupted"]["n"], p["discontinued"]["n"]) == (1, 1)
    c = results["ae_by_course"]
    assert (c["c1"]["treated"], c["c1"]["patients_with_ae"]["n"], c["c1"]["events"]) == (6, 4, 6)
    assert (c["c2"]["treated"], c["c2"]["patients_with_ae"]["n"], c["c2"]["events"]) == (2, 1, 1)
    assert c["c2"]["patients_with_ae"]["pct"] == 50.0
    assert (c["both_courses"]["n"], c["both_courses"]["denominator"], c["both_courses"]["rule"]) == (
        1, 2, "exactly_two")


# ---------------------------------------------------------------------------------------------- response
@pytest.mark.parametrize(
    ("item", "low", "high", "all_"),
    [
        ("cr_c1", (3, 3), (1, 2), (4, 5)),  # R3 stopped for progression = no CR; R7 not evaluable
        ("mrd_negative_c1", (2, 3), (0, 2), (2, 5)),
        ("mrd_negative_c1_pcr", (1, 3), (0, 2), (1, 5)),
        ("mrd_negative_c1_fc", (1, 3), (0, 2), (1, 5)),
        ("response_c1", (2, 3), (1, 2), (3, 5)),
        ("response_sustained", (2, 3), (1, 2), (3, 5)),
        ("non_responders", (1, 3), (1, 2), (2, 5)),
        ("early_relapse", (1, 3), (0, 1), (1, 4)),
        ("cd19_negative_relapse", (1, 3), (0, 1), (1, 4)),
        ("relapse_after_cr", (2, 3), (0, 1), (2, 4)),
        ("cr_after_c3", (2, 3), (1, 2), (3, 5)),
        ("hsct", (1, 3), (0, 2), (1, 6)),
        ("death", (2, 3), (1, 2), (3, 6)),
    ],
)
def test_response_counts_and_exact_ci(results, item, low, high, all_):
    for gid, (n, d) in (("low", low), ("high", high), ("all", all_)):
        r = results["response"][item][gid]
        assert (r["n"], r["denominator"]) == (n, d), (item, gid)
        lo = 0.0 if n == 0 else beta.ppf(0.025, n, d - n + 1)
        hi = 1.0 if n == d else beta.ppf(0.975, n + 1, d - n)
        assert r["lower_pct"] == pytest.approx(100 * lo, abs=1e-9)
        assert r["upper_pct"] == pytest.approx(100 * hi, abs=1e-9)
        assert r["pct"] == pytest.approx(100 * n / d)


def test_response_text(report):
    c = cells(report, "response")
    assert c["CR with MRD negativity after course 1"][:2] == ("2/3", "66.7 (9.4\u201399.2)")


# ---------------------------------------------------------------------------------------------- survival
def test_os_all_by_hand(results):
    """OS: R3 dies at 92 d (n = 6), R7 censored at 181 d, R2 dies at 184 d (n = 4), R5 dies at 731 d with
    R1 and R4 censored at 731 d (n = 3)."""
    os_ = results["survival"]["os_all"]
    assert (os_["n"], os_["events"]) == (6, 3)
    s_final = 5 / 6 * 3 / 4 * 2 / 3
    assert os_["median"]["estimate"] == pytest.approx(731 / M)
    assert os_["median"]["spss"]["estimate"] == pytest.approx(731 / M)
    at12 = os_["at"]["12m"]
    assert at12["surv"] == pytest.approx(5 / 6 * 3 / 4)
    greenwood = 1 / (6 * 5) + 1 / (4 * 3)
    assert at12["std_err"] == pytest.approx(0.625 * math.sqrt(greenwood))
    # log-log band: exp(-exp(log(-log S) +- z se / log S))
    z = norm.ppf(0.975)
    s = 0.625
    se = math.sqrt(greenwood) / abs(math.log(s))
    assert at12["lower"] == pytest.approx(math.exp(-math.exp(math.log(-math.log(s)) + z * se)))
    assert at12["upper"] == pytest.approx(math.exp(-math.exp(math.log(-math.log(s)) - z * se)))
    assert os_["at"]["24m"]["surv"] == pytest.approx(0.625)  # 24 months < 731 days
    # restricted mean up to the largest time: area under the step function
    t1, t2, t3 = 92 / M, 184 / M, 731 / M
    rmean = t1 + 5 / 6 * (t2 - t1) + 0.625 * (t3 - t2)
    assert os_["rmean"]["estimate"] == pytest.approx(rmean)
    assert os_["rmean"]["tmax"] == pytest.approx(t3)
    assert s_final < 0.5


def test_survival_groups_and_at_risk(results):
    g = results["survival"]["os_by_stratum"]
    assert g["n_excluded"] == 1  # R7: stratum missing
    assert (g["groups"]["low"]["n"], g["groups"]["low"]["events"]) == (3, 2)
    assert (g["groups"]["high"]["n"], g["groups"]["high"]["events"]) == (2, 1)
    assert g["groups"]["high"]["label"] == "≥5 % blasts"
    assert g["groups"]["low"]["at_risk"] == {"0m": 3, "12m": 2, "24m": 2, "36m": 0}
    assert g["groups"]["high"]["at_risk"] == {"0m": 2, "12m": 1, "24m": 1, "36m": 0}
    assert results["survival"]["os_all"]["at_risk"] == {"0m": 6, "12m": 3, "24m": 3, "36m": 0}
    rfs = results["survival"]["rfs_cr"]
    assert (rfs["n"], rfs["events"]) == (4, 2)
    assert rfs["median"]["brookmeyer_crowley"]["conf_type"] == "log-log"


def test_followup(results):
    f = results["followup"]
    times = [731 / M, 184 / M, 92 / M, 731 / M, 731 / M, 181 / M]
    assert f["n"] == 6
    assert f["mean"] == pytest.approx(sum(times) / 6)
    assert (f["min"], f["max"]) == (pytest.approx(92 / M), pytest.approx(731 / M))
    # reverse KM: censorings are events: 181 d (n = 5 at risk after R3) -> S = 4/5; at 731 d two of three
    assert f["reverse_km"]["median"] == pytest.approx(731 / M)


def test_logrank_by_hand(results):
    """os_by_stratum, low vs high: event times 92 d (5 at risk: 3 low), 184 d (4: 3 low), 731 d (3: 2 low)."""
    t = results["tests"]["os_by_stratum"]
    e_low = 3 / 5 + 3 / 4 + 2 / 3
    v = 0.6 * 0.4 + 0.75 * 0.25 + (2 / 3) * (1 / 3)
    z = (2 - e_low) / math.sqrt(v)
    assert t["observed"] == {"low": 2.0, "high": 1.0}
    assert t["expected"]["low"] == pytest.approx(e_low)
    assert t["expected"]["high"] == pytest.approx(3 - e_low)
    assert t["z"] == pytest.approx(z)
    assert t["chisq"] == pytest.approx(z * z)
    assert t["p"] == pytest.approx(norm.cdf(z))
    assert t["p_one_sided"] == t["p"]
    assert t["p_two_sided"] == pytest.approx(2 * norm.sf(abs(z)))
    assert (t["alternative"], t["sided"]) == ("less", "one")
    assert t["alternative_text"] == "one-sided, H1: <5 % blasts has fewer deaths than ≥5 % blasts"


def test_fisher_by_hand(results):
    """Response after course 1: low 2 of 3, high 1 of 2. Hypergeometric (margins 3, 2 / 3, 2):
    P(X = 1, 2, 3) = 0.3, 0.6, 0.1."""
    t = results["tests"]["response_c1_by_stratum"]
    assert t["counts"]["low"] == {"label": "<5 % blasts", "yes": 2, "no": 1, "n": 3, "pct": pytest.approx(200 / 3)}
    assert (t["counts"]["high"]["yes"], t["counts"]["high"]["no"]) == (1, 1)
    assert t["n_excluded"] == 1  # R7
    assert t["p"] == pytest.approx(0.7)
    assert t["p_one_sided"] == pytest.approx(0.7)
    assert t["p_two_sided"] == pytest.approx(1.0)
    assert (t["sided"], t["alternative"]) == ("one", "greater")
    assert t["or_lower"] < t["odds_ratio"] < t["or_upper"]
    ae = results["tests"]["ae_grade3_by_stratum"]
    # population: patients with toxicity data (R3 excluded), stratum missing excluded (R7)
    assert ae["counts"]["high"] == {"label": "≥5 % blasts", "yes": 0, "no": 1, "n": 1, "pct": 0.0}
    assert (ae["counts"]["low"]["yes"], ae["counts"]["low"]["no"]) == (2, 1)
    assert ae["p"] == pytest.approx(1.0)


def test_every_number_shown_is_in_results(report, results):
    """Each table cell that carries a results key shows a number stored under that key."""
    flat = flatten(results)
    n_keys = 0
    for t in report.tables:
        for r in t.rows:
            for text, key in zip(r.cells, r.keys, strict=False):
                if key is None:
                    continue
                n_keys += 1
                assert key in flat, (t.id, key)
                value = get(results, key)
                assert value is None or isinstance(value, int | float), (t.id, key, value)
                if isinstance(value, int) and not isinstance(value, bool) and text.split(" ")[0].isdigit():
                    assert int(text.split(" ")[0].split("/")[0]) == value, (t.id, key, text)
    assert n_keys > 200
