"""The report layout of a study package (layout.toml): checked at load with one clear message, and every
key changes the report as documented (docs/report.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blincompass.cli import app
from blincompass.protocol import load_protocol
from blincompass.protocol.layout import GENERIC, TEXT_DEFAULTS, LayoutError, load_layout, parse_layout
from blincompass.report import build_report
from blincompass.study import StudyError, load_study

PROTOCOL = load_protocol()
STUDY_WORDS = re.compile("blinatumomab|blin-compass|39 patients|publication", re.IGNORECASE)


def _no_figures(proto):
    analyses = proto.analyses.model_copy(
        update={"survival": tuple(a.model_copy(update={"figure": None}) for a in proto.analyses.survival),
                "timedep": tuple(a.model_copy(update={"figure": None}) for a in proto.analyses.timedep)})
    return proto.model_copy(update={"analyses": analyses})


@pytest.mark.parametrize(("text", "message"), [
    ("colour = 1", "layout.toml: colour: unknown key 'colour'; allowed: names, sections, tables, figures, text, "
                   "published"),
    ("[figures]\nxlabel = 'x'", "layout.toml: figures.xlabel: unknown key 'xlabel'; allowed: x_label, y_label, "
                                "at_risk, numbers"),
    ("[[sections]]\nid = 'appendix'", "layout.toml: sections.0.id: unknown section 'appendix'; allowed: data, "
                                      "screening, baseline, safety, response, survival, tests, methods, figures, "
                                      "published"),
    ("[[sections]]\nid = 'data'\n[[sections]]\nid = 'data'", "layout.toml: sections: section 'data' is listed twice"),
    ("[tables.table9]\nnumber = '9'", "layout.toml: tables.table9: unknown table 'table9'; allowed: screening_flow"),
    ("[tables.table1]\nnumber = '1'\n[tables.table2]\nnumber = '1'",
     "layout.toml: tables.table2.number: table number '1' is given to tables 'table1' and 'table2'"),
    ("[figures]\nnumbers = { '1a' = '1', '1b' = '1' }",
     "layout.toml: figures.numbers.1b: figure number '1' is given to figures '1a' and '1b'"),
    ("[figures]\nnumbers = { '1a' = '1/a' }", "layout.toml: figures.numbers.1a: figure number '1/a': letters, "
                                              "digits, '.', '_' and '-' only"),
    ("[text]\nae_heading = 'During {drug}'",
     "layout.toml: text.ae_heading: unknown placeholder {drug} in 'During {drug}'; allowed: {study_name}, "
     "{study_title}, {treatment}, {index_event}, {n_screened}, {n_eligible}, {days_per_month}, {ctcae_version}"),
    ("[figures]\nx_label = 'Months since {origin}'", "layout.toml: figures.x_label: unknown placeholder {origin}"),
    ("[text]\nmotto = 'x'", "layout.toml: text.motto: unknown text 'motto'; allowed: synthetic_warning"),
    ("[tables.table1]\nnumber = 1", "layout.toml: tables.table1.number: Input should be a valid string (got 1)"),
    ("[text]\nae_heading = 'a {'", "layout.toml: text.ae_heading: 'a {' is not a valid text"),
    ("[names\n", "layout.toml: not valid TOML"),
])
def test_layout_mistakes_name_file_key_value_and_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(LayoutError) as err:
        parse_layout(text, "pkg/layout.toml")
    assert str(err.value).startswith("pkg/") and message in str(err.value)


def _package(root: Path, layout: str | None) -> Path:
    root.mkdir()
    for name, data in load_study().files.items():
        if name != "layout.toml":
            (root / name).write_bytes(data)
    if layout is not None:
        (root / "layout.toml").write_text(layout, encoding="utf-8")
    return root


def test_study_check_exits_2_on_a_layout_mistake(tmp_path: Path) -> None:
    root = _package(tmp_path / "pkg", "[[sections]]\nid = 'appendix'\n")
    res = CliRunner().invoke(app, ["study", "check", str(root)])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        f"cannot use study package: {root / 'layout.toml'}: sections.0.id: unknown section 'appendix'; allowed: "
        "data, screening, baseline, safety, response, survival, tests, methods, figures, published, statistics"]
    assert "Traceback" not in res.output


def test_figure_numbers_must_name_figures_of_the_protocol(tmp_path: Path) -> None:
    root = _package(tmp_path / "pkg", "[figures]\nnumbers = { '7z' = '7' }\n")
    with pytest.raises(StudyError, match=r"layout\.toml: figures\.numbers: unknown figure '7z' \(numbered '7'\); "
                                         r"the protocol's figures are: 1a, 1b, 1c, 2, 3a, 3b, 4, S1"):
        load_study(root)


def test_package_layout_is_loaded(tmp_path: Path) -> None:
    assert load_study().layout == load_layout(None)
    assert load_study(_package(tmp_path / "none", None)).layout == GENERIC
    pkg = load_study(_package(tmp_path / "own", "[names]\ntreatment = 'tisagenlecleucel'\n"))
    assert pkg.layout.names.treatment == "tisagenlecleucel" and pkg.layout.names.index_event == "the index date"


def test_generic_layout_has_no_study_words() -> None:
    texts = [*TEXT_DEFAULTS.values(), GENERIC.figures.x_label, GENERIC.names.treatment, GENERIC.names.index_event,
             GENERIC.published.source]
    assert not [t for t in texts if STUDY_WORDS.search(t)]


def test_generic_layout_numbers_tables_in_order(dataset, derived) -> None:
    rep = build_report(dataset, _no_figures(PROTOCOL), derived=derived, synthetic=True, layout=GENERIC)
    numbered = [t.caption for t in rep.tables if t.caption.startswith("Table ")]
    assert [c.split(".")[0] for c in numbered] == [f"Table {i}" for i in range(1, len(numbered) + 1)]
    assert rep.table("table1").caption == "Table 3. Characteristics of the 6 eligible patients."
    assert rep.table("followup").caption.endswith("Follow-up (months from the index date).")
    assert rep.table("table2").header[0][0].text == "Adverse events"
    assert rep.table("permutation").caption == "Log-rank tests: asymptotic and permutation p-values"
    # a synthetic data set gets no published-vs-recomputed section unless the layout says it is the twin
    assert "published" not in [s.id for s in rep.sections]
    words = [t.caption for t in rep.tables] + [s.title for s in rep.sections]
    assert not [w for w in words if STUDY_WORDS.search(w)]


def test_layout_orders_sections_and_renames_tables_and_figures(dataset, derived) -> None:
    layout = parse_layout("""
[names]
treatment = "drug X"
index_event = "the first dose of drug X"

[[sections]]
id = "survival"
title = "Outcomes of the {n_eligible} patients"

[[sections]]
id = "baseline"

[[sections]]
id = "figures"

[tables.table1]
number = "A1"
title = "Baseline, {study_name}"

[tables.survival]
number = ""

[figures]
x_label = "Months since {index_event}"
numbers = { "1a" = "5" }
""", "layout.toml")
    analyses = PROTOCOL.analyses.model_copy(update={
        "survival": tuple(a.model_copy(update={"figure": a.figure if a.id == "os_all" else None})
                          for a in PROTOCOL.analyses.survival), "timedep": ()})
    proto = PROTOCOL.model_copy(update={"analyses": analyses})
    rep = build_report(dataset, proto, derived=derived, synthetic=False, layout=layout)
    assert [(s.id, s.title) for s in rep.sections] == [("survival", "Outcomes of the 6 patients"),
                                                       ("baseline", "Patient characteristics"),
                                                       ("figures", "Figures")]
    assert rep.table("table1").caption == "Table A1. Baseline, BLIN-COMPASS"
    assert rep.table("survival").caption == "Survival analyses."
    assert rep.table("followup").caption == "Table 1. Follow-up (months from the first dose of drug X)."
    assert "time from the first dose of drug X in months" in rep.table("survival").footnotes[0]
    assert rep.table("survival").rows[0].cells[0] == (
        "Overall survival, all patients (Figure 5); restricted mean up to \u03c4 = 24.0 months")
    (fig,) = rep.figures
    assert (fig.id, fig.stem) == ("1a", "figure_5") and fig.caption.startswith("Figure 5. Kaplan")
    from blincompass.report.figures import draw_km_figure, figure_groups

    ((fid, panels),) = figure_groups([sd for sd in _survival(proto, derived) if sd.analysis.figure])
    fig_, (panel,) = draw_km_figure(fid, panels, proto, layout=layout, values={"index_event": "the first dose",
                                                                              "n_eligible": 6})
    assert panel.ax.get_xlabel() == "Months since the first dose"
    assert panel.ax.get_ylabel() == "Overall survival (%)"
    assert fig_._suptitle.get_text() == "Figure 5"


def _survival(proto, derived):
    from blincompass.report.survival import survival_data

    return [survival_data(derived.adsl, derived.adtte, proto, a) for a in proto.analyses.survival]


def test_hidden_tables_and_figure_order(dataset, derived, tmp_path: Path) -> None:
    layout = parse_layout("""
[tables.table2]
show = false
[tables.ae_patients]
show = false
[tables.ae_by_course]
show = false
[figures]
order = ["1b"]
""", "layout.toml")
    keep = {"os_all", "rfs_cr"}
    analyses = PROTOCOL.analyses.model_copy(update={
        "survival": tuple(a.model_copy(update={"figure": a.figure if a.id in keep else None})
                          for a in PROTOCOL.analyses.survival), "timedep": ()})
    proto = PROTOCOL.model_copy(update={"analyses": analyses})
    rep = build_report(dataset, proto, derived=derived, synthetic=False, layout=layout)
    ids = [s.id for s in rep.sections]
    assert "safety" not in ids and "table2" in rep.results  # hidden, still computed
    # S1, S2 -> 1, 2; Table 1 -> 3; the per-centre table -> 4; response 5
    assert rep.table("centres").caption.startswith("Table 4. ")
    assert rep.table("response").caption.startswith("Table 5. ")
    assert [f.id for f in rep.figures] == ["1b"]
    with pytest.raises(LayoutError, match=r"figures\.order: figure '1b' is listed twice"):
        parse_layout("[figures]\norder = ['1b', '1b']", "layout.toml")
    root = _package(tmp_path / "pkg", "[figures]\norder = ['9']\n")
    with pytest.raises(StudyError, match=r"figures\.order: unknown figure '9'; the protocol's figures are: 1a"):
        load_study(root)
