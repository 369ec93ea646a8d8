"""Build the report from a data set and write its outputs (HTML, DOCX, XLSX, JSON, figures)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from blincompass.derive import build_adae, derive_all
from blincompass.protocol import Protocol, load_protocol
from blincompass.protocol.layout import TABLE_IDS, Layout
from blincompass.report.model import Report, ReportContext, Section, Table, clean_value, put
from blincompass.report.progress import ReportProgress
from blincompass.report.provenance import make_provenance
from blincompass.report.sections import SectionSpec, _source_name, section_plan
from blincompass.report.wording import layout_or_default, layout_values

__all__ = [
    "OUTPUT_FILES",
    "RESULTS_SCHEMA",
    "RenderOutcome",
    "build_report",
    "detect_synthetic",
    "load_input",
    "render_report",
    "results_json",
    "write_report",
]

#: Identifier of the results.json layout (docs/results-schema.md); bumped when keys change meaning.
RESULTS_SCHEMA = "blincompass.report.results/1"
#: Files written into the output folder besides figures/.
OUTPUT_FILES: tuple[str, ...] = ("index.html", "report.docx", "tables.xlsx", "results.json")


def detect_synthetic(path: str | Path | None = None, dataset: Any = None) -> bool:
    """Whether the data set is labelled synthetic: a ``SYNTHETIC.txt`` file in the CSV folder (or beside a
    workbook), or a data-set ``source`` containing "SYNTHETIC"."""
    if path is not None:
        p = Path(path)
        folder = p if p.is_dir() else p.parent
        if (folder / "SYNTHETIC.txt").exists():
            return True
        if "SYNTHETIC" in p.name:
            return True
    source = getattr(dataset, "source", None)
    return bool(source) and "SYNTHETIC" in str(source)


def _published_spec(published: str | Path | bool | None, synthetic: bool, layout: Layout) -> list[SectionSpec]:
    """The published-vs-recomputed section when the layout has it and published numbers are given (or, for a
    synthetic data set of a study whose layout says it is the twin, the built-in published numbers)."""
    from blincompass.report.published import load_published, published_section

    ids = layout.section_ids()
    if "published" not in ids:
        return []
    if published is False or (published is None and not (synthetic and layout.published.synthetic_twin)):
        return []
    if published in (None, True):
        pub = load_published(None, source=layout.published.source)
    else:
        pub = load_published(published)  # type: ignore[arg-type]
    i = ids.index("published")
    after = next((x for x in reversed(ids[:i]) if x != "published"), None)
    before = ids[i + 1] if i + 1 < len(ids) else None
    return [SectionSpec("published", lambda ctx: published_section(ctx, pub), after=after,
                        before=None if after is not None else before)]


def _number_tables(sections: list[Section], layout: Layout) -> list[Section]:
    """Leave out the tables the layout hides, and prefix "Table <number>. " to the caption of every table
    the layout numbers: its own number, or the next free number in order of appearance when it gives none."""
    explicit = {t.number for t in layout.tables.values() if t.number}
    counter = 0
    out: list[Section] = []
    for sec in sections:
        blocks = []
        for b in sec.blocks:
            if isinstance(b, Table) and not layout.table_shown(b.id):
                continue
            if isinstance(b, Table) and b.id in TABLE_IDS:
                number = layout.table_number(b.id)
                if number is None:
                    counter += 1
                    while str(counter) in explicit:
                        counter += 1
                    number = str(counter)
                if number:
                    b = replace(b, caption=f"Table {number}. {b.caption}")
            blocks.append(b)
        if blocks or not sec.blocks:  # a section whose every table the layout hides is left out
            out.append(replace(sec, blocks=tuple(blocks)))
    return out


def build_report(
    dataset: Any,
    protocol: Protocol | None = None,
    *,
    derived: Any = None,
    synthetic: bool | None = None,
    ci_bands: bool = False,
    extra_sections: Iterable[SectionSpec] = (),
    progress: ReportProgress | None = None,
    findings: Iterable[Any] = (),
    published: str | Path | bool | None = None,
    dictionary: Any = None,
    layout: Layout | None = None,
    study_sha256: str | None = None,
    dataset_label: str | None = None,
    figure_pool: Any = None,
) -> Report:
    """Compute every section of the report from a typed data set.

    ``derived`` (from :func:`blincompass.derive.derive_all`) is computed when not given. ``synthetic``
    marks every output as synthetic (``None``: from the data set's ``source``). ``ci_bands`` draws
    pointwise confidence bands on the survival curves. ``extra_sections`` are placed as their
    ``after``/``before`` say (see :mod:`blincompass.report.sections`). ``findings`` (validation findings)
    are counted in the first section. ``published`` adds the "Published vs recomputed" section: a
    published-numbers file, ``True`` for the built-in study's published numbers, ``False`` for none;
    ``None`` (default) adds the built-in ones to synthetic data sets when the layout says
    ``[published] synthetic_twin = true``. ``layout`` (the study package's layout; ``None``: the built-in
    study's) gives the sections, their order, table and figure numbers, titles and fixed sentences.
    ``study_sha256`` (the study package's :attr:`~blincompass.study.StudyPackage.sha256`) enters the
    report's provenance block with the software version, source commit, data hash and run date.
    ``dataset_label`` names the data set in the text (default: its file or folder name, which says little
    when the folder is called e.g. "data"). ``figure_pool`` (a :class:`blincompass.report.figpool.FigurePool`)
    draws the figures' files in its worker processes: the report's figures then hold the drawings in progress
    (their bytes are waited for when read; keep the pool open until then, e.g. until :func:`write_report`
    returns).
    """
    from blincompass.report.figpool import active

    layout = layout_or_default(layout)
    protocol = protocol or load_protocol()
    if derived is None:
        derived = derive_all(dataset, protocol, dictionary)
    if synthetic is None:
        synthetic = detect_synthetic(None, dataset)
    adae = derived.adae if getattr(derived, "adae", None) is not None else build_adae(dataset, derived.adsl, protocol)
    results: dict[str, Any] = {}
    put(results, "schema", RESULTS_SCHEMA)
    put(results, "synthetic", bool(synthetic))
    values = layout_values(protocol, derived.adsl, layout)
    values.update(n_screened=derived.screening.n_screened, n_eligible=derived.screening.n_eligible)
    ctx = ReportContext(dataset=dataset, derived=derived, protocol=protocol, adae=adae, synthetic=bool(synthetic),
                        ci_bands=ci_bands, results=results, findings=list(findings), layout=layout, values=values,
                        dataset_label=dataset_label)
    plan = section_plan([*_published_spec(published, bool(synthetic), layout), *extra_sections], layout=layout)
    if progress is not None:
        progress.add_total(len(plan))
    sections: list[Section] = []
    with active(figure_pool):
        early = _figures_first(plan, ctx) if figure_pool is not None else {}
        for spec in plan:
            if spec.id in early:  # built already; its results go in here, where they would have been written
                sec, written = early.pop(spec.id)
                _merge_results(ctx.results, written)
            else:
                sec = spec.build(ctx)
            if sec is not None:
                sections.append(sec)
            if progress is not None:
                progress.advance(spec.id)
    title = f"{protocol.study.name} study report"
    if synthetic:
        title = f"SYNTHETIC DATA \u2013 {title}"
    source = _source_name(getattr(dataset, "source", ""))  # also when the layout has no "data" section
    subtitle = f"{protocol.study.title}. Data set: {dataset_label or source or 'unnamed'}; " \
               f"{derived.screening.n_eligible} eligible of {derived.screening.n_screened} patients."
    sections = _number_tables(sections, layout)
    provenance = make_provenance(dataset, protocol.study.name, protocol.study.title, study_sha256)
    return Report(title=title, subtitle=subtitle, synthetic=bool(synthetic), sections=tuple(sections),
                  results=results, provenance=provenance)


def _figures_first(plan: list[SectionSpec], ctx: ReportContext) -> dict[str, tuple[Section | None, dict[str, Any]]]:
    """Build the built-in figures section before the others, so that a figure pool draws while the tables
    are made. It only writes results (numbers at risk, figure files, forest and cumulative-incidence
    numbers) and reads none, so it is built with a results dictionary of its own, merged into the report's
    at its place in the plan (:func:`_merge_results`): results.json keeps its order."""
    from blincompass.report.sections import _figures_section

    out: dict[str, tuple[Section | None, dict[str, Any]]] = {}
    for spec in plan:
        if spec.id == "figures" and spec.build is _figures_section:
            own = replace(ctx, results={})  # the same inputs and cache (survival analyses computed once)
            out[spec.id] = (spec.build(own), own.results)
    return out


def _merge_results(into: dict[str, Any], new: dict[str, Any], prefix: str = "") -> None:
    """Write the nested ``new`` into ``into`` as :func:`~blincompass.report.model.put` would have written its
    values one by one: groups merged, new keys after the existing ones, values replaced in place."""
    for k, v in new.items():
        have = into.get(k)
        if isinstance(v, dict) and isinstance(have, dict):
            _merge_results(have, v, f"{prefix}{k}.")
        elif (k in into) and (isinstance(v, dict) or isinstance(have, dict)):
            raise ValueError(f"results key {prefix}{k!s}: a value and a group of values meet")
        else:
            into[k] = v


def results_json(report: Report) -> str:
    """results.json text: the nested results, insertion order, then the report's ``provenance`` (when
    known); 2-space indent, UTF-8, final newline."""
    data = clean_value(report.results)
    if report.provenance is not None:
        data["provenance"] = clean_value(report.provenance.as_dict())
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _write(path: Path, data: bytes) -> Path:
    from blincompass.io.outpath import atomic_write_bytes

    return atomic_write_bytes(path, data)


def write_report(report: Report, out_dir: str | Path, *, progress: ReportProgress | None = None) -> list[Path]:
    """Write index.html, report.docx, tables.xlsx, results.json and figures/ (PNG, SVG, PDF) into
    ``out_dir`` (created if needed); each file is written to a temporary name and renamed, once every
    file's bytes are ready (an error while making them leaves the folder as it was). Figure files
    (``figures/figure_*``) left from an earlier run that this report does not have are removed. Returns
    the paths written.

    The outputs that need no figure (tables.xlsx, results.json) are made first, so that figures drawn in
    another process (see :mod:`blincompass.report.figpool`) are waited for as late as possible."""
    from blincompass.report.figpool import finish

    # imported here, not with the module: python-docx and openpyxl are not needed until the report is
    # built, and a command with a figure worker hands it its first figure sooner without them
    from blincompass.report.render_docx import render_docx
    from blincompass.report.render_html import render_html
    from blincompass.report.render_xlsx import render_xlsx

    out = Path(out_dir)
    steps: list[tuple[str, Any]] = [
        ("tables.xlsx", lambda: {out / "tables.xlsx": render_xlsx(report)}),
        ("results.json", lambda: {out / "results.json": results_json(report).encode("utf-8")}),
        # the Word file first: where it needs a figure the worker is drawing, this process draws others
        # meanwhile (PendingFiles.get), so its own work overlaps the worker's last figures
        ("report.docx", lambda: {out / "report.docx": render_docx(report)}),
        ("figures", lambda: finish([f.files for f in report.figures]) or {}),
        ("index.html", lambda: {out / "index.html": render_html(report).encode("utf-8")}),
        ("figure files", lambda: {out / "figures" / f"{f.stem}.{ext}": getattr(f, ext)
                             for f in report.figures for ext in ("png", "svg", "pdf")}),
    ]
    if progress is not None:
        progress.add_total(len(steps))
    data: dict[Path, bytes] = {}
    for name, step in steps:
        data.update(step())
        if progress is not None:
            progress.advance(name)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    current = {f"{f.stem}.{ext}" for f in report.figures for ext in ("png", "svg", "pdf")}
    for old in sorted((out / "figures").glob("figure_*")):  # figures of an earlier run that no longer exist
        if old.suffix in (".png", ".svg", ".pdf") and old.name not in current:
            old.unlink()
    # written in this order: figures, index.html, report.docx, tables.xlsx, results.json
    order = [p for p in data if p.parent.name == "figures" and p.parent.parent == out]
    order += [out / n for n in ("index.html", "report.docx", "tables.xlsx", "results.json")]
    return [_write(p, data[p]) for p in order]


@dataclass(frozen=True)
class RenderOutcome:
    """Result of :func:`render_report`: ``ok`` is false when the data set has validation errors (then no
    report is written and ``findings`` says why)."""

    ok: bool
    findings: list[Any] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    report: Report | None = None


def load_input(path: str | Path, data_cutoff: Any = None, dictionary: Any = None) -> Any:
    """Read and validate a workbook or CSV folder against ``dictionary`` (default: the built-in one;
    dates checked against ``data_cutoff``, default :func:`blincompass.validate.rules.resolve_cutoff`)."""
    from blincompass.validate import load_dataset

    return load_dataset(path, dictionary, data_cutoff=data_cutoff)


def render_report(
    data: str | Path,
    out_dir: str | Path,
    *,
    protocol: str | Path | Protocol | None = None,
    synthetic: bool | None = None,
    ci_bands: bool = False,
    show_progress: bool | None = None,
    extra_sections: Iterable[SectionSpec] = (),
    published: str | Path | bool | None = None,
    validation: Any = None,
    derived: Any = None,
    dictionary: Any = None,
    layout: Layout | None = None,
    study_sha256: str | None = None,
    dataset_label: str | None = None,
    jobs: int | None = 1,
    figure_pool: Any = None,
) -> RenderOutcome:
    """Validate ``data``, build the report and write it into ``out_dir``.

    ``synthetic=None`` detects the label (``SYNTHETIC.txt`` in the CSV folder, or "SYNTHETIC" in the
    source). ``show_progress=None`` shows a progress bar only when stdout is a terminal. ``validation``:
    an already validated data set (e.g. read from the registry) used instead of reading ``data``;
    ``derived``: its analysis tables when already derived under ``protocol``; ``layout``: the study
    package's report layout (``None``: the built-in study's); ``study_sha256``: the study package's hash,
    recorded in the report's provenance; ``dataset_label``: how the text names the data set.

    ``jobs``: processes drawing the figures (1: this one only; ``None``: ``$BLINCOMPASS_JOBS`` or as many
    as useful, :func:`blincompass.report.figpool.default_jobs`); with more than one, workers are started
    at once and draw the figures while this process builds and renders the rest (same bytes either way).
    Workers are started with ``spawn``, which imports the calling script's main module again: a script
    calling this with ``jobs`` above 1 needs the ``if __name__ == "__main__":`` guard.
    ``figure_pool``: a pool already started by the caller (e.g. at the start of a command; ``jobs`` is
    then ignored and the caller closes it). A worker that dies raises
    :class:`~blincompass.report.figpool.FigureWorkerError`; nothing is written then.
    """
    from blincompass.report.figpool import default_jobs, expected_figures, pool_for

    proto = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    args = (data, out_dir, proto, synthetic, ci_bands, show_progress, extra_sections, published, validation,
            derived, dictionary, layout, study_sha256, dataset_label)
    if figure_pool is not None:
        return _render(*args, figure_pool)
    if jobs is None:
        jobs = default_jobs(expected_figures(proto, layout_or_default(layout)))
    with pool_for(jobs) as pool:  # stopped at the end, at once on an error
        return _render(*args, pool)


def _render(data: str | Path, out_dir: str | Path, proto: Protocol, synthetic: bool | None, ci_bands: bool,
            show_progress: bool | None, extra_sections: Iterable[SectionSpec],
            published: str | Path | bool | None, validation: Any, derived: Any, dictionary: Any,
            layout: Layout | None, study_sha256: str | None, dataset_label: str | None,
            figure_pool: Any) -> RenderOutcome:
    with ReportProgress(2, enabled=show_progress) as prog:
        if validation is None:
            validation = load_input(data, proto.study.data_cutoff, dictionary)
        prog.advance("validated")
        if not validation.ok:
            return RenderOutcome(False, list(validation.findings))
        dataset = validation.dataset
        if synthetic is None:
            synthetic = detect_synthetic(data, dataset)
        if derived is None:
            derived = derive_all(dataset, proto, dictionary)
        prog.advance("derived")
        report = build_report(dataset, proto, derived=derived, synthetic=synthetic, ci_bands=ci_bands,
                              extra_sections=extra_sections, progress=prog, findings=validation.findings,
                              published=published, dictionary=dictionary, layout=layout,
                              study_sha256=study_sha256, dataset_label=dataset_label,
                              figure_pool=figure_pool)
        if figure_pool is not None:  # every figure is handed over: jobs held for the worker's end can queue
            figure_pool.release()
        written = write_report(report, out_dir, progress=prog)
    return RenderOutcome(True, list(validation.findings), written, report)
