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

from typing import TYPE_CHECKING

from blincompass.lazy import lazy_names

if TYPE_CHECKING:
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

# The names are imported on first use (PEP 562): importing one module of the package (e.g. the figure
# drawing of blincompass.report.plotting, in a worker process) does not import the whole report.
_HOME: dict[str, str] = {
    "OUTPUT_FILES": "build",
    "RESULTS_SCHEMA": "build",
    "RenderOutcome": "build",
    "build_report": "build",
    "detect_synthetic": "build",
    "render_report": "build",
    "results_json": "build",
    "write_report": "build",
    "Block": "model",
    "Figure": "model",
    "HeaderCell": "model",
    "Paragraph": "model",
    "Report": "model",
    "ReportContext": "model",
    "Row": "model",
    "Section": "model",
    "Table": "model",
    "flatten": "model",
    "put": "model",
    "DEFAULT_SECTIONS": "sections",
    "SectionSpec": "sections",
    "register_section": "sections",
    "section_plan": "sections",
    "unregister_section": "sections",
}


__getattr__, __dir__ = lazy_names(__name__, _HOME, globals())

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
