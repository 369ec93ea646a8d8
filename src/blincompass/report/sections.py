"""The ordered list of report sections and the hook for adding sections from other modules.

A section builder is a function ``build(ctx: ReportContext) -> Section | None`` (``None`` = nothing to
show). The report is assembled by calling the builders in order; each writes the numbers it shows into
``ctx.results`` with :func:`blincompass.report.model.put`, and may read what earlier builders wrote.

Adding a section (no renderer changes needed; renderers walk sections, tables, figures, paragraphs)::

    from blincompass.report import Paragraph, Section, register_section

    def published_vs_recomputed(ctx):
        p = ctx.results["tests"]["os_by_stratum"]["p"]
        ...
        return Section("published", "Published vs recomputed", (table, Paragraph("...")))

    register_section("published", published_vs_recomputed, after="figures")

Registration happens when the module is imported; to have it imported by ``blincompass report`` without
editing this package, declare an entry point in the group ``blincompass.report_sections`` whose object is
a :class:`SectionSpec` (or a list of them), or pass ``extra_sections=[SectionSpec(...)]`` to
:func:`blincompass.report.build_report`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from blincompass.protocol.layout import Layout
from blincompass.report.adverse import build_ae_by_course, build_ae_patients, build_table2
from blincompass.report.centres import build_centre_table
from blincompass.report.figures import figure_groups, km_figure
from blincompass.report.fisher import build_fisher_table
from blincompass.report.fmt import MINUS
from blincompass.report.methods import methods_section, statistical_methods_section
from blincompass.report.model import Figure, HeaderCell, Paragraph, ReportContext, Row, Section, Table, put
from blincompass.report.response import build_response_table
from blincompass.report.survival import (
    SurvivalData,
    build_followup_table,
    build_logrank_table,
    build_pairwise_table,
    build_rmst_table,
    build_survival_table,
    survival_data,
)
from blincompass.report.table1 import build_table1

__all__ = [
    "DEFAULT_SECTIONS",
    "ENTRY_POINT_GROUP",
    "SectionBuilder",
    "SectionSpec",
    "registered_sections",
    "register_section",
    "section_plan",
    "survival_results",
    "unregister_section",
]

SectionBuilder = Callable[[ReportContext], Section | None]
ENTRY_POINT_GROUP = "blincompass.report_sections"


@dataclass(frozen=True)
class SectionSpec:
    """A section to build: its id, its builder and where it goes (``after`` or ``before`` another id;
    appended at the end when neither is given or the anchor is absent)."""

    id: str
    build: SectionBuilder
    after: str | None = None
    before: str | None = None


def survival_results(ctx: ReportContext) -> list[SurvivalData]:
    """The protocol's survival analyses computed once per report (cached in ``ctx.cache``)."""
    if "survival" not in ctx.cache:
        d = ctx.derived
        ctx.cache["survival"] = [survival_data(d.adsl, d.adtte, ctx.protocol, a)
                                 for a in ctx.protocol.analyses.survival]
    return ctx.cache["survival"]


def _source_name(source: Any) -> str:
    text = str(source or "")
    return Path(text).name if text and ("/" in text or "\\" in text) else text


def _data_section(ctx: ReportContext) -> Section:
    p = ctx.protocol
    r = ctx.results
    put(r, "study.name", p.study.name)
    put(r, "study.title", p.study.title)
    put(r, "dataset.source", _source_name(getattr(ctx.dataset, "source", "")))
    put(r, "protocol.source", _source_name(p.source))
    sev = [getattr(f, "severity", "") for f in ctx.findings]
    put(r, "dataset.validation.errors", sev.count("error"))
    put(r, "dataset.validation.warnings", sev.count("warning"))
    put(r, "dataset.validation.notes", sev.count("info"))
    blocks: list[Paragraph] = []
    lay, v = ctx.layout, ctx.values
    if ctx.synthetic:
        blocks.append(Paragraph(lay.text_of("synthetic_warning", v), "warning"))
    blocks += [
        Paragraph(p.study.title),
        Paragraph(p.study.reference),
        Paragraph(f"Data set: {ctx.dataset_label or r['dataset']['source'] or 'unnamed'}. "
                  f"Protocol: {r['protocol']['source']}. "
                  f"{ctx.derived.screening.n_screened} patients screened, {ctx.derived.screening.n_eligible} "
                  "eligible."),
        Paragraph(f"Validation of the data set: {sev.count('error')} error(s), {sev.count('warning')} warning(s), "
                  f"{sev.count('info')} note(s) ('blincompass validate' lists them)." if ctx.findings else
                  "Validation findings were not passed to the report."),
        Paragraph(lay.text_of("outputs_note", v), "note"),
    ]
    return Section("data", lay.section_title("data", v), tuple(blocks))


class _ReasonWords:
    """An exclusion's reasons for the report's reader: each failing criterion's label, the label of the
    variable it tests and the patient's value in words (the dictionary's label of a code, a date, a number,
    "yes" / "no", "not recorded"), without the data's variable names or the rule's notation (those stay in
    results.json and the CLI)."""

    def __init__(self, ctx: ReportContext) -> None:
        self.label = {c.id: c.label for c in ctx.protocol.eligibility.criteria}
        self.variable = {c.id: c.variable for c in ctx.protocol.eligibility.criteria}
        d = getattr(ctx.derived, "dictionary", None)
        self.codes: dict[str, Any] = {}
        self.names: dict[str, str] = {}
        for form in getattr(d, "forms", ()) or ():
            for v in form.variables:
                self.names.setdefault(v.name, v.label)
                if v.codes:
                    self.codes.setdefault(v.name, v)
        meta = getattr(ctx.derived, "metadata", None)
        if isinstance(meta, pd.DataFrame) and {"table", "name", "label"} <= set(meta.columns):
            for name, label in meta.loc[meta["table"] == "adsl", ["name", "label"]].itertuples(index=False):
                if isinstance(label, str) and label:
                    self.names[str(name)] = label

    def value(self, cid: str, value: Any) -> str:
        if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value):
            return "not recorded"
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        if isinstance(value, (pd.Timestamp, dt.date)):
            return value.strftime("%Y-%m-%d")
        if isinstance(value, (float, np.floating)):
            return f"{float(value):g}".replace("-", MINUS)
        var = self.codes.get(self.variable.get(cid, ""))
        if var is not None:
            try:
                return var.code_label(str(value))
            except KeyError:
                pass
        return str(value)

    def __call__(self, e: Any) -> str:
        if not e.values:
            return e.reason
        return "; ".join(f"{self.label.get(cid, cid)}: not met ({self.names.get(self.variable.get(cid, ''), 'value')}: "
                         f"{self.value(cid, v)})" for cid, v in e.values)


def _screening_section(ctx: ReportContext) -> Section:
    sc = ctx.derived.screening
    r = ctx.results
    put(r, "screening.n_screened", sc.n_screened)
    put(r, "screening.n_eligible", sc.n_eligible)
    # The step ids (snake_case names of the protocol) stay in results.json keys, not in the table text.
    flow: list[Row] = [Row(("Patients screened", str(sc.n_screened), "", ""),
                           (None, "screening.n_screened", None, None), 0, "total")]
    for s in sc.steps:
        base = f"screening.steps.{s.id}"
        put(r, f"{base}.label", s.label)
        put(r, f"{base}.n_before", s.n_before)
        put(r, f"{base}.n_excluded", s.n_excluded)
        put(r, f"{base}.n_after", s.n_after)
        flow.append(Row((s.label, str(s.n_before), str(s.n_excluded), str(s.n_after)),
                        (None, f"{base}.n_before", f"{base}.n_excluded", f"{base}.n_after"), 1))
    flow.append(Row(("Eligible patients (analysis population)", "", "", str(sc.n_eligible)),
                    (None, None, None, "screening.n_eligible"), 0, "total"))
    put(r, "screening.excluded", [{"patient_id": e.patient_id, "step": e.step, "reason": e.reason}
                                  for e in sc.exclusions])
    flow_table = Table(
        id="screening_flow",
        caption=ctx.layout.table_title("screening_flow", ctx.values),
        header=((HeaderCell("Criterion"), HeaderCell("Entering"), HeaderCell("Excluded"),
                 HeaderCell("Remaining")),),
        rows=tuple(flow),
        align=("l", "r", "r", "r"),
        footnotes=("Criteria are applied in the protocol's order; a patient is excluded at the first criterion "
                   "that fails, and every failing criterion is listed with the patient.",),
        sheet="Screening",
    )
    step_label = {s.id: s.label for s in sc.steps}
    words = _ReasonWords(ctx)
    excl_rows = tuple(Row((e.patient_id, step_label.get(e.step, e.step), words(e))) for e in sc.exclusions)
    if not excl_rows:
        excl_rows = (Row(("No patient was excluded.", "", "")),)
    excl = Table(
        id="screening_exclusions",
        caption=ctx.layout.table_title("screening_exclusions", ctx.values),
        header=((HeaderCell("Patient"), HeaderCell("Excluded at"), HeaderCell("Reasons")),),
        rows=excl_rows,
        sheet="Exclusions",
        align=("l", "l", "l"),
    )
    return Section("screening", ctx.layout.section_title("screening", ctx.values), (flow_table, excl))


def _baseline_section(ctx: ReportContext) -> Section:
    d = ctx.derived
    dictionary = getattr(d, "dictionary", None)
    blocks: list[Table] = [build_table1(d.adsl, ctx.protocol, ctx.results, ctx.layout, ctx.values, dictionary)]
    centres = build_centre_table(ctx.dataset, d.adsl, d.adtte, ctx.protocol, ctx.results, ctx.layout, ctx.values,
                                 dictionary)
    if centres is not None:
        blocks.append(centres)
    return Section("baseline", ctx.layout.section_title("baseline", ctx.values), tuple(blocks))


def _safety_section(ctx: ReportContext) -> Section | None:
    if ctx.protocol.adae is None:  # the study declares no adverse-event form
        return None
    adsl = ctx.derived.adsl
    lay, v = ctx.layout, ctx.values
    return Section("safety", lay.section_title("safety", v), (
        build_table2(ctx.adae, adsl, ctx.protocol, ctx.results, lay, v),
        build_ae_patients(ctx.adae, adsl, ctx.results, lay, v, protocol=ctx.protocol),
        build_ae_by_course(ctx.adae, adsl, ctx.results, lay, v, protocol=ctx.protocol),
    ))


def _response_section(ctx: ReportContext) -> Section | None:
    if not ctx.protocol.report.response:  # the study lists no response rows
        return None
    return Section("response", ctx.layout.section_title("response", ctx.values),
                   (build_response_table(ctx.derived.adsl, ctx.protocol, ctx.results, ctx.layout, ctx.values),))


def _survival_section(ctx: ReportContext) -> Section:
    d = ctx.derived
    lay, v = ctx.layout, ctx.values
    return Section("survival", lay.section_title("survival", v), (
        build_survival_table(survival_results(ctx), ctx.protocol, ctx.results, lay, v),
        build_followup_table(d.adsl, d.adtte, ctx.protocol, ctx.results, layout=lay, values=v),
    ))


def _tests_section(ctx: ReportContext) -> Section:
    lay, v = ctx.layout, ctx.values
    data = survival_results(ctx)
    blocks: list[Table] = [
        build_fisher_table(ctx.derived.adsl, ctx.protocol, ctx.results, lay, v),
        build_logrank_table(data, ctx.protocol, ctx.results, lay, v),
    ]
    pairwise = build_pairwise_table(data, ctx.results, lay, v)
    if pairwise is not None:
        blocks.append(pairwise)
    rmst_table = build_rmst_table(data, ctx.protocol, ctx.results, lay, v)
    if rmst_table is not None:
        blocks.append(rmst_table)
    return Section("tests", lay.section_title("tests", v), tuple(blocks))


def _extra_figures(ctx: ReportContext) -> list[tuple[str, Callable[[], list[Figure]]]]:
    """The figures besides the protocol's survival figures, each with the function drawing it (called only
    when the layout shows it): cumulative incidence per competing-risks analysis, CONSORT flow, swimmer
    plot and forest plot (the last two when the layout declares them)."""
    from blincompass.report import figure_cif, figure_consort, figure_forest, figure_swimmer

    figs = ctx.layout.figures
    out: list[tuple[str, Callable[[], list[Figure]]]] = []
    if figs.consort:
        out.append(("consort", lambda: figure_consort.consort_figures(ctx)))
    if figs.cif:
        for c in ctx.protocol.analyses.competing:
            out.append((f"cif_{c.id}", lambda c=c: figure_cif.cif_figures(ctx, [c])))
    if figs.swimmer is not None:
        out.append(("swimmer", lambda: figure_swimmer.swimmer_figures(ctx)))
    if figs.forest is not None:
        out.append(("forest", lambda: figure_forest.forest_figures(ctx)))
    return out


def _figures_section(ctx: ReportContext) -> Section | None:
    order = ctx.layout.figures.order
    km = dict(figure_groups(survival_results(ctx)))
    extra = dict(_extra_figures(ctx))
    ids = list(order) if order is not None else [*km, *extra]
    figs: list[Figure] = []
    for fid in ids:
        if fid in km:
            figs.append(km_figure(fid, km[fid], ctx.protocol, synthetic=ctx.synthetic, ci_bands=ctx.ci_bands,
                                  results=ctx.results, layout=ctx.layout, values=ctx.values))
        elif fid in extra:
            figs += extra[fid]()
    if not figs:
        return None
    for f in figs:
        put(ctx.results, f"figures.{f.id.replace('.', '_')}.files",
            [f"figures/{f.stem}.{ext}" for ext in ("png", "svg", "pdf")])
    return Section("figures", ctx.layout.section_title("figures", ctx.values), tuple(figs))


#: The built-in sections, in order.
DEFAULT_SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec("data", _data_section),
    SectionSpec("screening", _screening_section),
    SectionSpec("baseline", _baseline_section),
    SectionSpec("safety", _safety_section),
    SectionSpec("response", _response_section),
    SectionSpec("survival", _survival_section),
    SectionSpec("tests", _tests_section),
    SectionSpec("methods", methods_section),
    SectionSpec("figures", _figures_section),
    SectionSpec("statistics", statistical_methods_section),
)

_REGISTERED: dict[str, SectionSpec] = {}


def register_section(id: str, build: SectionBuilder, *, after: str | None = None,
                     before: str | None = None) -> SectionSpec:
    """Add (or replace, by id) a section to every report built in this process. Returns its spec."""
    if after is not None and before is not None:
        raise ValueError("register_section: give after or before, not both")
    spec = SectionSpec(id, build, after, before)
    _REGISTERED[id] = spec
    return spec


def unregister_section(id: str) -> None:
    """Remove a section added with :func:`register_section` (no error when absent)."""
    _REGISTERED.pop(id, None)


def registered_sections() -> list[SectionSpec]:
    """Sections added with :func:`register_section` and through the entry-point group."""
    specs = list(_REGISTERED.values())
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        obj = ep.load()
        items = obj if isinstance(obj, list | tuple) else [obj]
        specs += [s for s in items if isinstance(s, SectionSpec) and s.id not in _REGISTERED]
    return specs


def section_plan(extra: Iterable[SectionSpec] = (), layout: Layout | None = None) -> list[SectionSpec]:
    """The sections in build order: the built-in ones (all of :data:`DEFAULT_SECTIONS`, or those the
    ``layout`` lists, in its order), then registered and ``extra`` sections placed by their
    ``after``/``before`` anchors (a later spec with the id of an earlier one replaces it in place)."""
    if layout is None:
        plan: list[SectionSpec] = list(DEFAULT_SECTIONS)
    else:
        builtin = {s.id: s for s in DEFAULT_SECTIONS}
        plan = [builtin[i] for i in layout.section_ids() if i in builtin]
    for spec in [*registered_sections(), *extra]:
        ids = [s.id for s in plan]
        if spec.id in ids:
            plan[ids.index(spec.id)] = spec
            continue
        if spec.after in ids:
            plan.insert(ids.index(spec.after) + 1, spec)
        elif spec.before in ids:
            plan.insert(ids.index(spec.before), spec)
        else:
            plan.append(spec)
    return plan

