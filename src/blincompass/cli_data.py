"""Data commands: ``template``, ``validate`` and ``dictionary`` (thin wrappers over library functions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from blincompass.cli_common import STUDY_HELP, usable_output, write_failed

# Readers, validator and rich tables are imported by the commands that use them (fast ``--help``).
if TYPE_CHECKING:
    from rich.table import Table

    from blincompass.validate.findings import Finding, ValidationResult

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


_TITLES = {"error": "Errors", "warning": "Warnings", "info": "Notes"}


def _findings_table(findings: list[Finding], severity: str) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"{_TITLES[severity]} ({len(findings)})", title_style=_STYLE[severity], title_justify="left",
        expand=True,
    )
    table.add_column("where", no_wrap=True)
    table.add_column("patient", no_wrap=True)
    table.add_column("field", overflow="fold")
    table.add_column("problem (rule)", ratio=1, min_width=30, overflow="fold")
    for f in findings:
        where = f.file if f.row is None else f"{f.file}:{f.row}"
        # the message quotes the offending value; --json gives it as a separate field
        problem = Text(f.message)
        problem.append(f" ({f.rule})", style="dim")
        table.add_row(Text(where), Text(f.patient_id or ""), Text(f.field or ""), problem)
    return table


#: Findings of one severity shown as a table up to this many; longer lists are printed one line per finding
#: (laying out a table of tens of thousands of rows takes minutes).
_TABLE_MAX = 500


def _print_lines(findings: list[Finding], severity: str) -> None:
    lines = [f"{_TITLES[severity]} ({len(findings)})"]
    for f in findings:
        where = f.file if f.row is None else f"{f.file}:{f.row}"
        lines.append(f"  {where} [{f.patient_id or '-'}] {f.field or '-'}: {f.message} ({f.rule})")
    typer.echo("\n".join(lines))


def summary_line(result: ValidationResult) -> str:
    n_pat = len(result.dataset.patients)
    verdict = "FAILED" if result.n_errors else "OK"
    return (
        f"{verdict}: {result.n_errors} error(s), {result.n_warnings} warning(s), {result.n_info} note(s); "
        f"{n_pat} patient(s) read from {result.dataset.source}"
    )


def template_cmd(
    out: Path = typer.Argument(..., help="Workbook to write (.xlsx)."),
    csv: Path | None = typer.Option(None, "--csv", help="Also write header-only CSV files into this folder."),
    study: Path | None = typer.Option(None, "--study", help=STUDY_HELP),
) -> None:
    """Write the data-collection template (an .xlsx workbook; optionally header-only CSVs)."""
    from blincompass.cli_common import resolve_study
    from blincompass.io.template import write_template, write_template_csv

    d = resolve_study(study).dictionary
    usable_output(out, "file")
    if csv is not None:
        usable_output(csv)
    try:
        typer.echo(f"wrote {write_template(out, d)}")
        if csv is not None:
            for p in write_template_csv(csv, d):
                typer.echo(f"wrote {p}")
    except OSError as exc:
        raise write_failed(exc) from None


def validate_cmd(
    path: Path = typer.Argument(..., help="An .xlsx workbook (one sheet per form) or a folder of CSV files."),
    as_json: bool = typer.Option(False, "--json", help="Print the findings as a JSON list."),
    protocol: Path | None = typer.Option(
        None, "--protocol", help="Protocol TOML whose study.data_cutoff bounds every date (default: built-in)."),
    study: Path | None = typer.Option(None, "--study", help=STUDY_HELP),
) -> None:
    """Check a data file against the data dictionary. Exit 0: no error; 1: errors; 2: unreadable input."""
    from rich.console import Console
    from rich.text import Text

    from blincompass.cli_common import resolve_study
    from blincompass.io.raw import InputReadError
    from blincompass.validate import load_dataset
    from blincompass.validate.findings import SEVERITIES

    pkg = resolve_study(study, protocol)
    try:
        result = load_dataset(path, pkg.dictionary, data_cutoff=pkg.protocol.study.data_cutoff)
    except InputReadError as exc:
        typer.echo(f"cannot read input: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps([f.to_dict() for f in result.findings], ensure_ascii=False, indent=2))
    else:
        console = Console(highlight=False)
        for sev in SEVERITIES:
            found = result.by_severity(sev)
            if len(found) > _TABLE_MAX:
                _print_lines(found, sev)
            elif found:
                console.print(_findings_table(found, sev))
        console.print(Text(summary_line(result), style="bold red" if result.n_errors else "bold green"))
    raise typer.Exit(1 if result.n_errors else 0)


def dictionary_cmd(
    markdown: Path | None = typer.Option(None, "--markdown", help="Write the Markdown document to this file."),
    study: Path | None = typer.Option(None, "--study", help=STUDY_HELP),
) -> None:
    """Render the data dictionary as Markdown (to a file, or to standard output)."""
    from blincompass.cli_common import resolve_study
    from blincompass.dictionary.render import render_markdown, write_markdown

    d = resolve_study(study).dictionary
    if markdown is None:
        typer.echo(render_markdown(d), nl=False)
    else:
        usable_output(markdown, "file")
        try:
            typer.echo(f"wrote {write_markdown(markdown, d)}")
        except OSError as exc:
            raise write_failed(exc) from None


def register(app: typer.Typer) -> None:
    """Add the data commands to the main application."""
    app.command("template")(template_cmd)
    app.command("validate")(validate_cmd)
    app.command("dictionary")(dictionary_cmd)
