"""``blincompass report``: render the full study report from a data set (thin wrapper over the library)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from blincompass.cli_common import STUDY_HELP, resolve_study
from blincompass.cli_pipeline import JOBS_HELP

__all__ = ["register", "report_cmd"]


def report_cmd(
    data: Path | None = typer.Argument(
        None, help="An .xlsx workbook (one sheet per form) or a folder of CSV files (omit with --db)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (created if needed)."),
    protocol: Path | None = typer.Option(None, "--protocol", help="Protocol TOML (default: the study's)."),
    study: Path | None = typer.Option(None, "--study", help=STUDY_HELP),
    ci_bands: bool = typer.Option(False, "--ci-bands", help="Draw pointwise confidence bands on survival curves."),
    synthetic: bool | None = typer.Option(
        None, "--synthetic/--not-synthetic",
        help="Mark every output as synthetic data (default: detected from SYNTHETIC.txt or the source name).",
    ),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: only when stdout is a terminal)."
    ),
    db: str | None = typer.Option(
        None, "--db", help="Read the data from the registry at this URL (sqlite:///file.db, postgresql+psycopg://...)."),
    user: str | None = typer.Option(None, "--user", help="Registry user (with --db): the report covers what they see."),
    published: Path | None = typer.Option(
        None, "--published",
        help="Published-numbers TOML for a 'Published vs recomputed' section (default: the study package's "
             "published.toml; the synthetic twin: built in).",
    ),
    jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, help=JOBS_HELP),
) -> None:
    """Render the study report: index.html, report.docx, tables.xlsx, results.json and figures/.

    Exit 0: written; 1: the data set has validation errors (listed); 2: unreadable input or protocol, or
    the report cannot be built (nothing written).
    """
    from blincompass.report.figpool import default_jobs, expected_figures, pool_for
    from blincompass.report.provenance import run_datetime

    try:  # the run date of the provenance block; checked before any work
        run_datetime()
    except ValueError as exc:
        typer.echo(f"cannot build the report: {exc}", err=True)
        raise typer.Exit(2) from None
    pkg = resolve_study(study, protocol)
    try:
        jobs = jobs or default_jobs(expected_figures(pkg.protocol, pkg.layout))
    except ValueError as exc:
        typer.echo(f"cannot build the report: {exc}", err=True)
        raise typer.Exit(2) from None
    if db is None:  # the input is checked before the figure worker starts (it would be started for nothing)
        if data is None:
            typer.echo("give DATA (a workbook or CSV folder) or --db URL --user NAME", err=True)
            raise typer.Exit(2)
        if not data.exists():
            typer.echo(f"cannot read input: {data} does not exist", err=True)
            raise typer.Exit(2)
    from blincompass.cli_common import usable_output

    usable_output(out)
    # the figure worker starts now: its imports run while this process reads and analyses the data
    with pool_for(jobs, run_main=False) as pool:  # the console script: nothing of it is pickled
        _report(data, out, protocol, pkg, ci_bands, synthetic, progress, db, user, published, pool)


def _report(data: Path | None, out: Path, protocol: Path | None, pkg: Any, ci_bands: bool, synthetic: bool | None,
            progress: bool | None, db: str | None, user: str | None, published: Path | None, pool: Any) -> None:
    from blincompass.cli_common import write_failed
    from blincompass.derive import DerivationError
    from blincompass.io.raw import InputReadError
    from blincompass.report import render_report
    from blincompass.report.figpool import FigureWorkerError

    proto = pkg.protocol
    if protocol is not None:  # the package as used: its protocol replaced by --protocol
        from dataclasses import replace

        pkg = replace(pkg, files={**pkg.files, "protocol.toml": protocol.read_bytes()})
    if published is None and pkg.root is not None:  # a package's own published numbers, or none
        published = pkg.root / "published.toml" if "published.toml" in pkg.files else False
    validation = None
    if db is not None:
        import os

        from blincompass.registry import AccessDenied, Registry
        from blincompass.registry.tokens import ENV_TOKEN, AuthenticationError, authenticate

        token = os.environ.get(ENV_TOKEN) or None
        if user is None and token is None:
            typer.echo("--db needs --user (the report covers what that user may see)", err=True)
            raise typer.Exit(2)
        try:
            reg = Registry(db)
            try:  # on a registry with credentials the user is proven by their API token
                acting = authenticate(reg, user, token).name
                validation = reg.as_user(acting).read_result(data_cutoff=proto.study.data_cutoff)
            finally:
                reg.engine.dispose()
        except AuthenticationError as exc:
            typer.echo(f"not authenticated: {exc}; nothing was read", err=True)
            raise typer.Exit(2) from None
        except AccessDenied as exc:
            typer.echo(f"access denied: {exc}", err=True)
            raise typer.Exit(1) from None
        except Exception as exc:  # noqa: BLE001 - any database problem is reported, not traced
            typer.echo(f"cannot use registry {db}: {exc}", err=True)
            raise typer.Exit(2) from None
        data = Path(db.rsplit("/", 1)[-1] or "registry")
    elif pkg.root is not None:  # read with the package's dictionary (DATA was checked by report_cmd)
        from blincompass.validate import load_dataset

        try:
            validation = load_dataset(data, pkg.dictionary, data_cutoff=proto.study.data_cutoff)
        except InputReadError as exc:
            typer.echo(f"cannot read input: {exc}", err=True)
            raise typer.Exit(2) from None
    assert data is not None  # report_cmd refuses a missing DATA without --db
    try:
        outcome = render_report(data, out, protocol=proto, synthetic=synthetic, ci_bands=ci_bands,
                                show_progress=progress, published=published, validation=validation,
                                dictionary=pkg.dictionary, layout=pkg.layout,
                                study_sha256=pkg.sha256, figure_pool=pool)
    except FigureWorkerError as exc:
        typer.echo(f"cannot build the report: {exc}; nothing was written", err=True)
        raise typer.Exit(2) from None
    except DerivationError as exc:
        typer.echo(f"cannot derive: {exc}", err=True)
        raise typer.Exit(2) from None
    except InputReadError as exc:
        typer.echo(f"cannot read input: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        raise write_failed(exc) from None
    except ValueError as exc:  # a protocol or layout the data cannot serve (e.g. an unknown column); nothing written
        typer.echo(f"cannot build the report: {exc}", err=True)
        raise typer.Exit(2) from None
    if not outcome.ok:
        errors = [f for f in outcome.findings if f.severity == "error"]
        typer.echo(f"FAILED: {len(errors)} validation error(s) in {data}; no report written.", err=True)
        for f in errors:
            where = f.file if f.row is None else f"{f.file}:{f.row}"
            who = f" [{f.patient_id}]" if f.patient_id else ""
            field = f" {f.field}:" if f.field else ""
            typer.echo(f"  {where}{who}{field} {f.message} ({f.rule})", err=True)
        raise typer.Exit(1)
    n_warn = sum(f.severity == "warning" for f in outcome.findings)
    if n_warn:
        typer.echo(f"note: {n_warn} validation warning(s); run `blincompass validate {data}` to list them.")
    if outcome.report is not None and outcome.report.synthetic:
        typer.echo("SYNTHETIC data set: every output is marked as synthetic.")
    typer.echo(f"wrote {len(outcome.written)} files to {out}")
    for name in ("index.html", "report.docx", "tables.xlsx", "results.json"):
        typer.echo(f"  {Path(out) / name}")
    typer.echo(f"  {Path(out) / 'figures'}/ ({sum(p.parent.name == 'figures' for p in outcome.written)} files)")


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the CLI."""
    app.command("report")(report_cmd)
