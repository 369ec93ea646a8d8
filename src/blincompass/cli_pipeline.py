"""``blincompass synth | screen | derive | demo``: the pipeline commands (thin wrappers over the library)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from blincompass.cli_common import STUDY_HELP, resolve_study

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

__all__ = ["JOBS_HELP", "register"]

#: Help of ``--jobs`` (``report`` and ``demo``).
JOBS_HELP = ("Processes drawing the figures while the report is built (1: this one only); default: "
             "$BLINCOMPASS_JOBS, else 2 when two CPUs are usable and the report has several figures, else 1. "
             "The files are the same either way.")


@cache
def _console() -> Console:
    """The terminal console, made on first use (rich is not imported for ``--help``)."""
    from rich.console import Console

    return Console()


def _load(path: Path, study: Any = None) -> Any:
    """Read and validate ``path`` against the study package's dictionary (dates checked against its data
    cut-off); exit 2 when unreadable, 1 (with the errors) when invalid."""
    from blincompass.io import InputReadError
    from blincompass.validate import load_dataset

    try:
        if study is None:
            result = load_dataset(path)
        else:
            result = load_dataset(path, study.dictionary, data_cutoff=study.protocol.study.data_cutoff)
    except InputReadError as exc:
        _console().print(f"[red]cannot read input:[/red] {exc}")
        raise typer.Exit(2) from None
    if not result.ok:
        _console().print(f"[red]FAILED:[/red] {result.n_errors} validation error(s) in {path}")
        for f in result.findings:
            if f.severity == "error":
                where = f.file if f.row is None else f"{f.file}:{f.row}"
                _console().print(f"  {where} [{f.patient_id or '-'}] {f.field or ''}: {f.message} ({f.rule})",
                                 markup=False)
        raise typer.Exit(1)
    return result


def _derivation(work: Any) -> Any:
    """Run a derivation step; a derivation that these data make impossible exits 2 with its message."""
    from blincompass.derive import DerivationError

    try:
        return work()
    except DerivationError as exc:
        _console().print(f"[red]cannot derive:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _flow_table(screening: Any) -> Table:
    from rich.table import Table

    t = Table(title="Screening flow (CONSORT)")
    for col in ("Step", "Criterion", "Entering", "Excluded", "Remaining"):
        t.add_column(col, justify="right" if col in ("Entering", "Excluded", "Remaining") else "left")
    for s in screening.steps:
        t.add_row(s.id, s.label, str(s.n_before), str(s.n_excluded), str(s.n_after))
    return t


def _print_screening(screening: Any) -> None:
    _console().print(_flow_table(screening))
    _console().print(f"Screened {screening.n_screened}, eligible {screening.n_eligible}.")
    for e in screening.exclusions:
        _console().print(f"  excluded {e.patient_id} at '{e.step}': {e.reason}", markup=False)


def _print_summary(derived: Any) -> None:
    from rich.table import Table

    s = derived.summary()
    t = Table(title="Derived tables")
    t.add_column("Quantity")
    t.add_column("Value", justify="right")
    t.add_row("Patients (ADSL rows)", str(s["patients"]))
    t.add_row("Eligible", str(s["eligible"]))
    for k, v in s["strata"].items():
        t.add_row(f"  stratum {k}", str(v))
    for k, v in s["flags"].items():
        t.add_row(f"  {k}", str(v))
    for p, v in s["tte"].items():
        t.add_row(f"ADTTE {p}", f"n={v['n']}, events={v['events']}, censored={v['censored']}")
    _console().print(t)


def synth_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the synthetic cohort (template CSV files)."),
    seed: int = typer.Option(0, "--seed", help="Seed for calendar dates, centres and identifiers."),
    xlsx: bool = typer.Option(False, "--xlsx", help="Also write the cohort as twin.xlsx."),
) -> None:
    """Write the SYNTHETIC twin of the built-in study's cohort in the template format."""
    from blincompass.cli_common import usable_output, write_failed
    from blincompass.synth import write_twin

    usable_output(out)
    try:
        written = write_twin(out, seed, xlsx=xlsx)
    except OSError as exc:
        raise write_failed(exc) from None
    _console().print(f"SYNTHETIC cohort (seed {seed}) written to {out}: " + ", ".join(p.name for p in written))


def screen_cmd(
    path: Path = typer.Argument(..., help="Workbook (.xlsx) or folder of CSV files."),
    protocol: Path | None = typer.Option(None, "--protocol", help="Protocol TOML (default: the study's)."),
    as_json: bool = typer.Option(False, "--json", help="Print the flow as JSON."),
    study: Path | None = typer.Option(None, "--study", help=STUDY_HELP),
) -> None:
    """Apply the protocol's eligibility criteria and print the screening flow."""
    from blincompass.derive import screen

    pkg = resolve_study(study, protocol)
    dataset = _load(path, pkg).dataset
    result = _derivation(lambda: screen(dataset, pkg.protocol, pkg.dictionary))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_screening(result)


def derive_cmd(
    path: Path = typer.Argument(..., help="Workbook (.xlsx) or folder of CSV files."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for adsl/adtte (CSV + Parquet) and the flow."),
    protocol: Path | None = typer.Option(None, "--protocol", help="Protocol TOML (default: the study's)."),
    study: Path | None = typer.Option(None, "--study", help=STUDY_HELP),
) -> None:
    """Validate, screen and derive the analysis tables (ADSL-style and ADTTE-style), CSV + Parquet."""
    from blincompass.cli_common import usable_output, write_failed
    from blincompass.derive import derive_all, write_derived

    pkg = resolve_study(study, protocol)
    usable_output(out)
    dataset = _load(path, pkg).dataset
    derived = _derivation(lambda: derive_all(dataset, pkg.protocol, pkg.dictionary))
    try:
        written = write_derived(derived, out)
    except OSError as exc:
        raise write_failed(exc) from None
    _print_screening(derived.screening)
    _print_summary(derived)
    _console().print(f"wrote {len(written)} files to {out}")


def demo_cmd(
    out: Path = typer.Option(Path("blincompass-demo"), "--out", "-o", help="Output folder."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic cohort."),
    progress: bool | None = typer.Option(None, "--progress/--no-progress",
                                         help="Progress display (default: only on a terminal)."),
    jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, help=JOBS_HELP + " With more than one, the "
                                    "web registry is built in the worker too."),
) -> None:
    """Synthetic twin -> validate -> screen -> derive -> full report, into ./blincompass-demo/."""
    from blincompass.report.figpool import default_jobs, pool_for

    try:
        jobs = jobs or default_jobs()  # the built-in study has many figures
    except ValueError as exc:
        _console().print(f"[red]cannot run the demo:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    from blincompass.cli_common import usable_output

    usable_output(out)
    # the worker starts now: its imports run while this process writes, reads and analyses the twin
    with pool_for(jobs, run_main=False) as pool:  # the console script: nothing of it is pickled
        _demo(out, seed, progress, pool)


def _demo(out: Path, seed: int, progress: bool | None, pool: Any) -> None:
    from concurrent.futures.process import BrokenProcessPool

    from blincompass.synth import twin_label, write_twin

    data_dir = out / "data"
    steps = ["synthetic cohort", "validation", "derivation", "report"]
    show = _console().is_terminal if progress is None else progress
    from rich.progress import Progress

    with Progress(console=_console(), disable=not show, transient=True) as bar:
        task = bar.add_task("demo", total=len(steps))
        bar.update(task, description=steps[0])
        write_twin(data_dir, seed)
        registry: list[Any] = []
        if pool is not None:
            # the web registry needs only the twin's files: built in the worker, its users while this process
            # reads and analyses the data, its patients once the worker has drawn the figures (while this
            # process writes the last files)
            from blincompass.web.demo import create_demo_registry, import_demo_data

            registry = [pool.call(create_demo_registry, data_dir, out / "registry.db"),
                        pool.call(import_demo_data, data_dir, out / "registry.db", after_figures=True)]
        # imported only now: the twin and the registry job come first
        from blincompass.derive import derive_all, write_derived
        from blincompass.protocol import load_protocol
        from blincompass.report import render_report
        from blincompass.report.figpool import FigureWorkerError
        from blincompass.study import load_study
        from blincompass.validate import load_dataset

        bar.update(task, advance=1, description=steps[1])
        validation = load_dataset(data_dir)
        if not validation.ok:  # the twin is valid by construction; fail loudly if it is not
            _console().print(f"[red]the synthetic cohort has {validation.n_errors} validation errors[/red]")
            raise typer.Exit(1)
        bar.update(task, advance=1, description=steps[2])
        proto = load_protocol()
        package = load_study()  # the built-in study package: its hash enters the report's provenance
        derived = derive_all(validation.dataset, proto)
        write_derived(derived, out / "derived")
        bar.update(task, advance=1, description=steps[3])
        try:
            outcome = render_report(data_dir, out / "report", protocol=proto, synthetic=True, show_progress=False,
                                    published=True, validation=validation, derived=derived,
                                    study_sha256=package.sha256,
                                    dataset_label=twin_label(seed, data_dir.name), figure_pool=pool)
        except FigureWorkerError as exc:
            _console().print(f"[red]cannot build the report:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
        bar.update(task, advance=1)
    if not outcome.ok:
        _console().print("[red]report failed[/red]")
        raise typer.Exit(1)
    _print_screening(derived.screening)
    _print_summary(derived)
    res = outcome.report.results if outcome.report is not None else {}
    pub = res.get("published", {})
    _console().print(
        f"[bold yellow]SYNTHETIC[/bold yellow] twin: {validation.n_warnings} validation warnings "
        f"(non-CTCAE terms, flagged and mapped). Published numbers reproduced: "
        f"{pub.get('n_reproduced', '?')} of {pub.get('n_numbers', '?')}."
    )
    _console().print(f"Report: {(out / 'report' / 'index.html').resolve()}")
    from blincompass.web.demo import DEMO_PASSWORD, build_demo_registry

    try:
        if registry:
            users = registry[0].result()
            registry[1].result()
        else:
            users = build_demo_registry(data_dir, out / "registry.db")
    except Exception as exc:  # noqa: BLE001 - reported in one line, whichever process failed
        why = "the worker process ended unexpectedly" if isinstance(exc, BrokenProcessPool) else str(exc)
        _console().print(f"[red]cannot build the demo registry:[/red] {why}", highlight=False)
        raise typer.Exit(2) from None
    _console().print(f"Web registry: blincompass serve --db {(out / 'registry.db').resolve()}  then open "
                     f"http://127.0.0.1:8000/ (demo users {', '.join(u for u, _, _ in users)}; password "
                     f"{DEMO_PASSWORD})", soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``synth``, ``screen``, ``derive`` and ``demo`` to the CLI."""
    app.command("synth")(synth_cmd)
    app.command("screen")(screen_cmd)
    app.command("derive")(derive_cmd)
    app.command("demo")(demo_cmd)
