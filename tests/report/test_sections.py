"""The section hook: other modules add sections without touching the renderers."""

from __future__ import annotations

import io

import docx
import openpyxl
import pytest

from blincompass.report import (
    DEFAULT_SECTIONS,
    HeaderCell,
    Paragraph,
    Row,
    Section,
    SectionSpec,
    Table,
    build_report,
    put,
    register_section,
    section_plan,
    unregister_section,
)
from blincompass.report.render_docx import render_docx
from blincompass.report.render_html import render_html
from blincompass.report.render_xlsx import render_xlsx
from tests.report.conftest import PROTOCOL


def published(ctx):
    p = ctx.results["tests"]["os_by_stratum"]["p"]
    key = put(ctx.results, "published.os_by_stratum.p_recomputed", p)
    table = Table("published", "Table P1. Published vs recomputed.",
                  ((HeaderCell("Analysis"), HeaderCell("Published"), HeaderCell("Recomputed")),),
                  (Row(("OS by stratum", "0.005", f"{p:.3f}"), (None, None, key)),), sheet="Published")
    return Section("published", "Published vs recomputed", (table, Paragraph("Recomputed from the data set.")))


def notes(ctx):
    return Section("notes", "Methodological notes", (Paragraph("Months are days / 30.4375.", "note"),))


def nothing(ctx):
    return None


@pytest.fixture()
def clean_registry():
    yield
    for sid in ("published", "notes", "nothing"):
        unregister_section(sid)


def test_plan_order(clean_registry):
    assert [s.id for s in section_plan()] == [s.id for s in DEFAULT_SECTIONS]
    register_section("published", published, after="tests")
    register_section("nothing", nothing, before="data")
    plan = [s.id for s in section_plan([SectionSpec("notes", notes, after="figures")])]
    assert plan == ["nothing", "data", "screening", "baseline", "safety", "response", "survival", "tests",
                    "published", "methods", "figures", "notes", "statistics"]
    with pytest.raises(ValueError):
        register_section("x", notes, after="a", before="b")


def test_added_sections_render_everywhere(clean_registry, derived):
    from tests.report.cohort import report_cohort

    register_section("published", published, after="tests")
    register_section("nothing", nothing)
    # a protocol without figures keeps this test fast
    analyses = PROTOCOL.analyses.model_copy(
        update={"survival": tuple(a.model_copy(update={"figure": None}) for a in PROTOCOL.analyses.survival),
                "timedep": tuple(a.model_copy(update={"figure": None}) for a in PROTOCOL.analyses.timedep)})
    proto = PROTOCOL.model_copy(update={"analyses": analyses})
    from blincompass.protocol.layout import load_layout

    lay = load_layout()  # and none of the layout's own figures
    lay = lay.model_copy(update={"figures": lay.figures.model_copy(
        update={"consort": False, "cif": False, "swimmer": None, "forest": None})})
    rep = build_report(report_cohort(), proto, derived=derived, layout=lay,
                       extra_sections=[SectionSpec("notes", notes, after="published")])
    ids = [s.id for s in rep.sections]
    # "nothing" returned None; no figures section
    assert ids[-5:] == ["tests", "published", "notes", "methods", "statistics"]
    assert rep.results["published"]["os_by_stratum"]["p_recomputed"] == rep.results["tests"]["os_by_stratum"]["p"]
    html = render_html(rep)
    assert '<section id="published">' in html and "Table P1. Published vs recomputed." in html
    assert "Months are days / 30.4375." in html
    d = docx.Document(io.BytesIO(render_docx(rep)))
    assert any(t.rows[0].cells[0].text == "Analysis" and t.rows[1].cells[0].text == "OS by stratum"
               for t in d.tables)
    assert any(p.text == "Published vs recomputed" for p in d.paragraphs)
    wb = openpyxl.load_workbook(io.BytesIO(render_xlsx(rep)))
    assert "Table P1 Published" in wb.sheetnames
    assert wb["Table P1 Published"]["A4"].value == "OS by stratum"


def test_entry_point_sections(monkeypatch, clean_registry):
    import blincompass.report.sections as sections

    class EP:
        name = "notes"

        def load(self):
            return [SectionSpec("notes", notes, after="survival")]

    monkeypatch.setattr(sections, "entry_points", lambda group: [EP()] if group == sections.ENTRY_POINT_GROUP else [])
    plan = [s.id for s in section_plan()]
    assert plan.index("notes") == plan.index("survival") + 1
