"""Statistical care in the survival and comparison output of the synthetic twin's report: no estimate past a
group's data, bounded SPSS median CIs, restricted means over one horizon (against R), sidedness on every p,
caveats generated from the design, and the statistical methods paragraph with its references."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path

import pytest

from blincompass.protocol import load_protocol
from blincompass.report import build_report, write_report
from blincompass.report.methods import REFERENCES, methods_section, software_versions
from blincompass.report.model import Paragraph, ReportContext
from blincompass.stats import bound_interval
from blincompass.validate import load_dataset

twin = pytest.importorskip("blincompass.synth.twin", reason="synthetic twin module not present")

R_RMST = {c["name"]: c for c in json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "r" / "rmst.json").read_text())["cases"]}
EM_DASH = "\u2014"


@pytest.fixture(scope="module")
def twin_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("twin")
    twin.write_twin(folder, seed=0)
    validation = load_dataset(folder)
    assert validation.ok
    proto = load_protocol()
    # the Kaplan-Meier figures are covered elsewhere; leave them out to keep this test fast
    analyses = proto.analyses.model_copy(
        update={"survival": tuple(a.model_copy(update={"figure": None}) for a in proto.analyses.survival)})
    return validation.dataset, proto.model_copy(update={"analyses": analyses})


@pytest.fixture(scope="module")
def rep(twin_data):
    dataset, proto = twin_data
    return build_report(dataset, proto, synthetic=True, dataset_label="synthetic twin (seed 0)",
                        study_sha256="ab" * 32)


def _row(table, label, after):
    """The first row labelled ``label`` after the heading row starting with ``after``."""
    seen = False
    for r in table.rows:
        if r.kind == "heading":
            seen = r.cells[0].startswith(after)
        elif seen and r.cells[0] == label:
            return r
    raise AssertionError(f"no row {label!r} under {after!r}")


# -- 1. no estimate past a group's last observation -------------------------------------------------------
def test_24_month_survival_of_the_high_blasts_group_is_a_dash(rep):
    t = rep.table("survival")
    i24 = [h.text for h in t.header[0]].index("Survival at 24 months, % (95 % CI)")
    os_high = _row(t, "≥5 % blasts", "Overall survival by bone-marrow blasts")
    rfs_high = _row(t, "≥5 % blasts", "Relapse-free survival by bone-marrow blasts")
    assert os_high.cells[i24] == EM_DASH and rfs_high.cells[i24] == EM_DASH
    assert os_high.cells[i24 - 1] == "59.8 (28.5\u201381.0)"  # 12 months: within the data
    # the low-blasts group (followed up to 67.2 months) keeps its estimate
    assert _row(t, "<5 % blasts", "Overall survival by bone-marrow blasts").cells[i24] == "74.4 (47.7\u201388.8)"
    # a curve that reached 0 (every No-CR patient died by 16.1 months) stays 0
    assert _row(t, "No CR", "Overall survival by CR").cells[i24].startswith("0.0 ")
    at = rep.results["survival"]["os_by_stratum"]["groups"]["high"]["at"]["24m"]
    assert at["surv"] is None and at["lower"] is None
    assert at["note"] == "not estimated: the last observation is at 20.5 months, before 24 months"
    foot = next(f for f in t.footnotes if f.startswith(EM_DASH))
    assert "≥5 % blasts at 24 months (last observation 20.5 months)" in foot
    assert "≥5 % blasts at 24 months (last observation 18.9 months)" in foot


def test_cumulative_incidence_past_the_data_is_a_dash_as_well(rep):
    t = rep.table("cir_cir_by_stratum")
    high = next(r for r in t.rows if r.cells[0] == "≥5 % blasts")
    assert high.cells[-2] == "66.7 % (12.2\u201392.5)" and high.cells[-1] == EM_DASH
    res = rep.results["methods"]["competing"]["cir_by_stratum"]["high"]["at_24m"]
    assert res["estimate"] is None and "18.9 months" in res["note"]
    assert any(f.startswith(EM_DASH) and "18.9 months" in f for f in t.footnotes)


# -- 2. SPSS median CI bounded to the observed range --------------------------------------------------------
def test_spss_median_ci_is_bounded_at_zero(rep):
    t = rep.table("survival")
    row = _row(t, "No HSCT", "Relapse-free survival by HSCT")
    assert row.cells[4] == "33.4 (0.0\u201367.2)"
    spss = rep.results["survival"]["rfs_by_hsct_in_cr"]["groups"]["false"]["median"]["spss"]
    assert spss["lower"] == 0.0 and spss["bounded"] is True
    assert spss["lower_unbounded"] == pytest.approx(-6.3, abs=0.05)
    assert spss["upper"] == pytest.approx(67.19, abs=0.01)  # 73.1 bounded to the largest time
    assert spss["upper_unbounded"] == pytest.approx(73.1, abs=0.05)
    # the published RFS median interval (7.5-59.3) lies inside the range and is untouched
    rfs = rep.results["survival"]["rfs_cr"]["median"]["spss"]
    assert rfs["bounded"] is False and round(rfs["lower"], 1) == 7.5
    assert any("Bounded here: Relapse-free survival by HSCT" in f and "(unbounded \u22126.3\u201373.1)" in f
               for f in t.footnotes)


def test_bound_interval():
    assert bound_interval(-6.3, 73.1, 0.0, 67.2) == (0.0, 67.2, True)
    assert bound_interval(1.0, 5.0, 0.0, 67.2) == (1.0, 5.0, False)
    assert bound_interval(None, 80.0, 0.0, 67.2) == (None, 67.2, True)
    with pytest.raises(ValueError, match="low 2 is above high 1"):
        bound_interval(0.0, 1.0, 2, 1)


# -- 3. restricted means over one horizon, against R --------------------------------------------------------
@pytest.mark.parametrize(("analysis", "case"), [("os_by_stratum", "twin_os_by_stratum"),
                                                ("rfs_by_stratum", "twin_rfs_by_stratum")])
def test_rmst_difference_equals_r(rep, analysis, case):
    ref = R_RMST[case]
    got = rep.results["tests"][analysis]["rmst"]
    assert got["tau"] == pytest.approx(ref["tau"], rel=1e-12)
    for key, rkey in (("difference", "difference"), ("se", "se_difference"), ("lower", "lower"),
                      ("upper", "upper"), ("z", "z"), ("p", "p_two_sided")):
        assert got[key] == pytest.approx(ref[rkey], rel=1e-8, abs=1e-10), key
    assert got["groups"]["low"]["estimate"] == pytest.approx(ref["rmean1"], rel=1e-8)
    assert got["groups"]["high"]["se"] == pytest.approx(ref["se2"], rel=1e-8)
    assert got["sided"] == "two"
    # Table 4 states the horizon in words and uses it for every row of the analysis
    surv = rep.results["survival"][analysis]
    assert surv["groups"]["high"]["rmean"]["tau"] == surv["rmean"]["tau"] == got["tau"]


def test_rmst_tables_state_tau_in_words(rep):
    t4 = rep.table("survival")
    assert t4.header[0][-1].text == "Restricted mean up to \u03c4, months (95 % CI)"
    heads = [r.cells[0] for r in t4.rows if r.kind == "heading"]
    assert ("Overall survival by bone-marrow blasts at the first course; restricted means up to "
            "\u03c4 = 20.5 months") in heads
    assert not any("(SE; up to)" in h.text for h in t4.header[0])
    t8 = rep.table("rmst")
    assert t8.caption.startswith("Table 8. Restricted mean survival time over a common horizon")
    diff = next(r for r in t8.rows if r.cells[0] == "Difference, <5 % blasts \u2212 ≥5 % blasts")
    assert diff.cells[3:] == ("5.7 (1.1\u201310.2)", "2.31", "0.014")
    assert [h.text for h in t8.header[0]][-1] == "p (two-sided)"


# -- 4. sidedness on every p-value -------------------------------------------------------------------------
def test_sidedness_is_labelled(rep):
    assert "p, protocol's alternative (one-sided)" in [h.text for h in rep.table("logrank").header[0]]
    assert "p, protocol's alternative (one-sided)" in [h.text for h in rep.table("fisher").header[0]]
    gray = rep.table("cir_cir_by_stratum").footnotes[0]
    assert "two-sided p = 0.0786" in gray and "Gray's test has no one-sided form" in gray
    assert rep.results["methods"]["competing"]["cir_by_stratum"]["gray"]["sided"] == "two"
    perm = rep.table("permutation")
    row = next(r for r in perm.rows if r.cells[0].startswith("Relapse-free survival by bone-marrow"))
    assert row.cells[1] == "one-sided (H1: fewer events in <5 % blasts)"
    assert row.cells[4] == "Monte Carlo, B = 10000 random relabellings (seed 20201231)"
    cr = next(r for r in perm.rows if r.cells[0] == "Overall survival by CR after course 1")
    assert cr.cells[3] == "\u2264 1/10001 (none of B = 10000 as extreme)"
    timedep = rep.table("immortal_time")
    assert [h.text for h in timedep.header[0]][3] == "p (one-sided unless stated)"


# -- 5. caveats generated from the design ------------------------------------------------------------------
def test_post_baseline_groups_get_the_immortal_time_caveat(rep):
    tests = rep.results["tests"]
    assert tests["os_by_cr"]["post_baseline"] is True and tests["os_by_hsct"]["post_baseline"] is True
    assert tests["os_by_stratum"]["post_baseline"] is False
    for tid in ("logrank", "permutation", "rmst"):
        note = next(f for f in rep.table(tid).footnotes if "immortal-time bias" in f)
        assert "Overall survival by CR after course 1 (immortal-time-safe: landmark analyses at 1.5, 3 months" in note
        assert "Simon\u2013Makuch curves in Figure S1" in note
        assert "bone-marrow blasts" not in note


def test_different_endpoints_per_stratum_get_a_note(rep):
    note = rep.table("fisher").footnotes[-1]
    assert note.startswith("The outcome is defined differently in the compared groups")
    assert "<5 % blasts: MRD negativity (CR with MRD < 10\u207b\u2074); ≥5 % blasts: morphological CR" in note
    assert "Adverse event" not in note
    tests = rep.results["tests"]
    assert tests["response_c1_by_stratum"]["outcome_differs_by_group"] is True
    assert tests["ae_grade3_by_stratum"]["outcome_differs_by_group"] is False


def test_without_competing_events_the_text_says_cif_equals_one_minus_km(rep):
    res = rep.results["methods"]["competing"]["cir_by_stratum"]
    assert res["competing_events"] == 0
    section = next(s for s in rep.sections if s.id == "methods")
    text = " ".join(b.text for b in section.blocks if isinstance(b, Paragraph))
    assert "equals 1 \u2212 Kaplan\u2013Meier of relapse here" in text
    assert "would overstate" not in text


def test_with_a_competing_event_the_text_says_one_minus_km_overstates(twin_data):
    from blincompass.derive import build_adae, derive_all

    dataset, proto = twin_data
    derived = derive_all(dataset, proto)
    adtte = derived.adtte.copy()
    rfs_event = adtte.index[(adtte["PARAMCD"] == "RFS") & (adtte["CNSR"] == 0)
                            & (adtte["EVNTDESC"] == "relapse")][0]
    adtte.loc[rfs_event, "EVNTDESC"] = "death"  # one death in remission
    derived = dataclasses.replace(derived, adtte=adtte)
    ctx = ReportContext(dataset, derived, proto, build_adae(dataset, derived.adsl, proto), synthetic=True)
    ctx.protocol = proto.model_copy(update={"analyses": proto.analyses.model_copy(
        update={"timedep": (), "survival": ()})})
    section = methods_section(ctx)
    text = " ".join(b.text for b in section.blocks if isinstance(b, Paragraph))
    assert "Deaths in remission occurred, so 1 \u2212 Kaplan\u2013Meier of relapse alone would overstate" in text
    assert ctx.results["methods"]["competing"]["cir_by_stratum"]["competing_events"] == 1


def test_permutation_and_asymptotic_p_on_different_sides_get_a_sentence(rep):
    perm = rep.results["methods"]["permutation"]
    assert perm["rfs_by_stratum"]["conclusions_differ"] is True
    assert perm["os_by_stratum"]["conclusions_differ"] is False
    section = next(s for s in rep.sections if s.id == "methods")
    last = section.blocks[-1]
    assert isinstance(last, Paragraph) and "the permutation p is the one to read" in last.text
    assert last.text.endswith("Relapse-free survival by bone-marrow blasts at the first course: asymptotic "
                              "p = 0.0316, permutation p = 0.0521 (one-sided; significance level 0.05).")


def test_no_code_identifiers_in_the_survival_footnotes(rep):
    text = " ".join(rep.table("survival").footnotes)
    assert "analyses.settings" not in text and "'exclude'" not in text


# -- 6. methods paragraph and numbered references ----------------------------------------------------------
def test_methods_paragraph_and_references(rep, tmp_path):
    sec = next(s for s in rep.sections if s.id == "statistics")
    assert sec.title == "Statistical methods and references"
    assert [s.id for s in rep.sections][-2:] == ["published", "statistics"]
    res = rep.results["statistics"]
    text = " ".join(res["text"])
    refs = res["references"]
    assert refs[0] == "[1] " + REFERENCES["kaplan_meier"]
    assert "Kaplan\u2013Meier method [1] with Greenwood's variance [2]" in text
    cited = {k: i for i, k in enumerate((r.split("] ", 1)[1] for r in refs), 1)}
    gray = cited[REFERENCES["gray"]]
    assert f"Gray's test [{gray}] (two-sided)" in text
    for key in ("brookmeyer_crowley", "mantel_byar", "simon_makuch", "clopper_pearson", "fisher", "uno",
                "phipson_smyth", "aalen_johansen"):
        assert REFERENCES[key] in cited, key
    assert "B = 10000 random relabellings (seed 20201231)" in text
    # Table 1's group tests are described with the tests the table actually used (two groups: no Kruskal-Wallis)
    pearson, fisher, wilcoxon = (cited[REFERENCES[k]] for k in ("pearson", "fisher", "wilcoxon"))
    assert (f"Baseline characteristics were compared between groups (two-sided): categorical characteristics by "
            f"Pearson's chi-square test without continuity correction [{pearson}] when every expected count was at "
            f"least 5 and otherwise by Fisher's exact test [{fisher}]; continuous ones by the Wilcoxon rank-sum "
            f"test [{wilcoxon}].") in text
    assert REFERENCES["kruskal_wallis"] not in cited
    v = software_versions()
    assert f"blincompass {v['blincompass']} (Python {v['Python']}, numpy {v['numpy']}, scipy {v['scipy']})" in text
    assert res["software"] == v
    # every number cited in the text has its entry, and every entry is cited
    import re
    nums = {int(n) for group in re.findall(r"\[([\d, ]+)\]", text) for n in group.split(", ")}
    assert nums == set(range(1, len(refs) + 1))
    # Word gets the same section
    write_report(rep, tmp_path)
    with zipfile.ZipFile(io.BytesIO((tmp_path / "report.docx").read_bytes())) as z:
        xml = z.read("word/document.xml").decode("utf-8")
    assert "Statistical methods and references" in xml and "Kaplan EL, Meier P." in xml


# -- 7. symbols and wording a journal's reader sees --------------------------------------------------------
def _text_of(section) -> list[str]:
    out: list[str] = []
    for b in section.blocks:
        if isinstance(b, Paragraph):
            out.append(b.text)
        elif hasattr(b, "rows"):
            out += [b.caption, *b.footnotes, *(h.text for line in b.header for h in line)]
            out += [c for r in b.rows for c in r.cells if isinstance(c, str)]
    return out


def test_one_spelling_of_95_percent_ci(rep):
    """"95 % CI" as in every other percentage of the report (the publication's own quotes left aside)."""
    texts = [t for s in rep.sections if s.id != "published" for t in _text_of(s)]
    assert not [t for t in texts if "95%" in t]
    assert "Median follow-up, reverse Kaplan\u2013Meier (95 % CI)" in texts
    assert "Odds ratio (95 % CI)" in texts


def test_p_in_running_text_never_reads_p_equals_less_than(rep):
    section = next(s for s in rep.sections if s.id == "methods")
    texts = _text_of(section)
    assert not [t for t in texts if "p = <" in t]
    assert ("Overall survival by CR after course 1: one-sided p < 0.0001 as published, one-sided p < 0.0001 when "
            "each patient changes group on the day the status is reached (Mantel\u2013Byar).") in texts
    note = rep.table("immortal_time").footnotes[0]
    assert "(H1: the exposed group has fewer events). Landmark: patients alive" in note


def test_screening_flow_shows_criteria_not_step_ids(rep):
    t = rep.table("screening_flow")
    assert [h.text for h in t.header[0]] == ["Criterion", "Entering", "Excluded", "Remaining"]
    labels = [r.cells[0] for r in t.rows]
    assert "Aged 0\u201321 years (completed years) at the first blinatumomab course" in labels
    assert "First course inside the study window (1 Jan 2015 \u2013 31 Dec 2020)" in labels
    cells = [c for r in t.rows for c in r.cells]
    assert not {"bcp_all", "disease_status", "not_in_trial", "treated", "window"} & set(cells)
    assert rep.results["screening"]["steps"]["bcp_all"]["n_after"] == 39  # the ids stay as results keys


def test_grade_3_comparison_uses_the_symbol(rep):
    t = rep.table("fisher")
    assert t.rows[2].cells[0] == "Adverse event of grade \u22653 by baseline blasts"
    assert not [c for r in t.rows for c in r.cells if isinstance(c, str) and ">=" in c]


def test_the_data_set_is_named_in_words_and_the_study_hash_recorded(rep):
    assert rep.subtitle.endswith("Data set: synthetic twin (seed 0); 39 eligible of 39 patients.")
    data = next(s for s in rep.sections if s.id == "data")
    assert any(t.startswith("Data set: synthetic twin (seed 0). Protocol: ") for t in _text_of(data))
    assert rep.provenance.study_sha256 == "ab" * 32
    assert ("Study package SHA-256", "ab" * 32) in rep.provenance.lines()


def test_supplementary_figures_are_numbered_in_the_order_they_appear(rep):
    from blincompass.report.model import Figure

    stems = [b.stem for s in rep.sections for b in s.blocks if isinstance(b, Figure)]
    supp = [s for s in stems if s.startswith("figure_S")]
    assert supp == ["figure_S1", "figure_S2", "figure_S3", "figure_S4", "figure_S5"]
    assert next(b for s in rep.sections for b in s.blocks
                if getattr(b, "stem", "") == "figure_S2").caption.startswith("Figure S2. Flow of patients")


def test_dosing_schedules_are_printed_with_units_and_arrows(rep):
    from blincompass.dictionary import load_dictionary

    labels = [r.cells[0] for r in rep.table("table1").rows]
    assert "Paediatric step-up 5 \u2192 15 \u00b5g/m\u00b2/day" in labels
    assert "Adult 28 \u00b5g/day from day 1" in labels
    assert not [x for x in labels if "->" in x or "ug/" in x]
    # files written with the former ASCII labels still read
    d = load_dictionary()
    (var,) = [f.variable("schedule") for f in d.forms if "schedule" in f.columns]
    lookup = var.code_lookup
    assert lookup["paediatric step-up 5 -> 15 ug/m2/day"] == "ped_stepup"


def test_negative_numbers_carry_the_minus_sign(rep):
    from blincompass.report.fmt import fmt_num

    assert fmt_num(-2.5934, 3) == "\u22122.593" and fmt_num(2.5, 1) == "2.5"
    z = [r.cells[4] for r in rep.table("logrank").rows]
    assert z[0] == "\u22122.593"
    cells = [c for r in rep.table("rmst").rows for c in r.cells if isinstance(c, str)]
    assert "\u22125.5 (\u221216.2\u20135.3)" in cells
    assert not [c for c in cells if c[:1] == "-" or "(-" in c]


def test_word_keeps_a_lead_in_paragraph_with_what_it_introduces(rep):
    import docx

    from blincompass.report.render_docx import render_docx

    doc = docx.Document(io.BytesIO(render_docx(rep)))
    assert doc.core_properties.title == "SYNTHETIC DATA \u2013 BLIN-COMPASS study report"  # said once
    paras = {p.text: p for p in doc.paragraphs}
    assert paras["Inconsistencies of the publication:"].paragraph_format.keep_with_next is True
    first_note = next(t for t in paras if t.startswith("Table 1: Rows headed 'Median (IQR)'"))
    assert not paras[first_note].paragraph_format.keep_with_next


def test_simon_makuch_groups_are_named_without_nested_parentheses(rep):
    from blincompass.report.model import Figure

    cap = next(b for s in rep.sections for b in s.blocks if isinstance(b, Figure) and b.stem == "figure_S1").caption
    assert "in 'No HSCT so far' until the day of the status change and in 'After HSCT' from then on" in cap
    assert "(yet)" not in cap


def test_p_just_below_0_001_is_not_printed_with_a_trailing_zero(rep):
    from blincompass.report.fmt import fmt_p

    assert (fmt_p(0.000998), fmt_p(0.00094), fmt_p(0.0012), fmt_p(0.00005)) == ("0.001", "0.0009", "0.001",
                                                                                  "<0.0001")
    row = next(r for r in rep.table("table1").rows if r.cells[0] == "Dosing schedule of course 1")
    assert row.cells[-2] == "0.001"
