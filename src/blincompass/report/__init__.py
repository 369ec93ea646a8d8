"""Study report: tables, figures and results computed from a data set, rendered as HTML, DOCX, XLSX, JSON.

Public API::

    build_report(dataset, protocol=None, *, derived=None, synthetic=None, ci_bands=False,
                 extra_sections=(), progress=None, findings=(), published=None, layout=None) -> Report
    write_report(report, out_dir, *, progress=None) -> list[Path]
    render_report(data, out_dir, *, protocol=None, synthetic=None, ci_bands=False,
                  show_progress=None, extra_sections=(), published=None, layout=None) -> RenderOutcome
    register_section(id, build, *, after=None, before=None) -> SectionSpec

The wording (sections, numbers, titles, fixed sentences) comes from the study's layout
(:mod:`blincompass.protocol.layout`). See docs/report.md (sections, layout, hook) and
docs/results-schema.md (results.json keys).
"""

from blincompass.report.build import (
    OUTPUT_FILES,
    RESULTS_SCHEMA,
    RenderOutcome,
    build_report,
    detect_synthetic,
    render_report,
    results_json,
    write_report,
)
from blincompass.report.model import (
    Block,
    Figure,
    HeaderCell,
    Paragraph,
    Report,
    ReportContext,
    Row,
    Section,
    Table,
    flatten,
    put,
)
from blincompass.report.sections import (
    DEFAULT_SECTIONS,
    SectionSpec,
    register_section,
    section_plan,
    unregister_section,
)

__all__ = [
    "DEFAULT_SECTIONS",
    "OUTPUT_FILES",
    "RESULTS_SCHEMA",
    "Block",
    "Figure",
    "HeaderCell",
    "Paragraph",
    "RenderOutcome",
    "Report",
    "ReportContext",
    "Row",
    "Section",
    "SectionSpec",
    "Table",
    "build_report",
    "detect_synthetic",
    "flatten",
    "put",
    "register_section",
    "render_report",
    "results_json",
    "section_plan",
    "unregister_section",
    "write_report",
]
