"""``blincompass study``: study definitions to and from other systems (REDCap data dictionaries)."""

from __future__ import annotations

from pathlib import Path

import typer

from blincompass.cli_common import fail

__all__ = ["app", "register"]


app = typer.Typer(
    rich_markup_mode=None,  # plain help: rich's help renderer costs ~0.1 s of start-up
    name="study",
    help="Study packages: create one, check one, and convert REDCap data dictionaries to and from them.",
    no_args_is_help=True,
)


def _free(path: Path, force: bool) -> None:
    """Refuse to overwrite an existing file unless ``force``; then the usual output-path checks."""
    from blincompass.cli_common import usable_output

    if path.exists() and not path.is_dir() and not force:
        raise fail(f"cannot write {path}: the file exists (give --force to replace it)")
    usable_output(path, kind="file")


def _write(path: Path, text: str) -> None:
    from blincompass.cli_common import write_failed
    from blincompass.io.outpath import atomic_write_bytes

    try:
        atomic_write_bytes(path, text.encode("utf-8"))
    except OSError as exc:
        raise write_failed(exc) from None


@app.command("from-redcap")
def from_redcap_cmd(
    redcap_dictionary: Path = typer.Argument(..., help="REDCap data dictionary CSV (Project Setup > Data Dictionary)."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for dictionary.toml and redcap-mapping.toml."),
    name: str | None = typer.Option(None, "--name", help="Study name (default: the file name)."),
    repeating: list[str] = typer.Option([], "--repeating", help="A repeating instrument (repeat the option)."),
    record_id: str | None = typer.Option(None, "--record-id", help="Record id field (default: the first field)."),
    force: bool = typer.Option(False, "--force", help="Replace existing files."),
) -> None:
    """Turn a REDCap data dictionary into a blincompass data dictionary and the mapping for its exports."""
    import tomli_w

    from blincompass.io.raw import InputReadError
    from blincompass.io.redcap_dictionary import dictionary_from_redcap

    if not out.is_dir():
        raise fail(f"cannot write into {out}: not an existing folder")
    try:
        study = dictionary_from_redcap(redcap_dictionary, name=name, repeating=repeating, record_id=record_id)
    except InputReadError as exc:
        raise fail(f"cannot convert: {exc}") from None
    targets = {out / "dictionary.toml": tomli_w.dumps(study.dictionary),
               out / "redcap-mapping.toml": tomli_w.dumps(study.mapping)}
    for path in targets:
        _free(path, force)
    for path, text in targets.items():
        header = ("# Data dictionary converted from the REDCap data dictionary "
                  f"{redcap_dictionary.name}\n" if path.name == "dictionary.toml" else
                  "# Mapping of the REDCap records exports to the data dictionary (blincompass db import "
                  "--format redcap --mapping ...)\n")
        _write(path, header + text)
        typer.echo(f"wrote {path}")
    for issue in study.issues:
        typer.echo(f"{issue.severity}: {issue.message} ({issue.rule})")
    forms = study.model().forms
    typer.echo(f"{len(forms)} form(s), {sum(len(f.variables) for f in forms)} variable(s); "
               f"{len(study.issues)} note(s)")


@app.command("to-redcap")
def to_redcap_cmd(
    out: Path = typer.Argument(..., help="REDCap data dictionary CSV to write."),
    dictionary: Path | None = typer.Option(None, "--dictionary", help="Data dictionary TOML (default: built-in)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Write the data dictionary as a REDCap data dictionary CSV (to upload in Project Setup)."""
    from blincompass.dictionary import load_dictionary
    from blincompass.io.redcap_dictionary import redcap_csv_text, repeating_forms

    try:
        d = load_dictionary(dictionary)
    except FileNotFoundError:
        raise fail(f"cannot read dictionary {dictionary}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # tomllib and pydantic errors are ValueErrors
        first = str(exc).strip().splitlines()
        raise fail(f"cannot use dictionary {dictionary}: {' '.join(first[:3])}") from None
    _free(out, force)
    _write(out, redcap_csv_text(d))
    typer.echo(f"wrote {out}")
    rep = repeating_forms(d)
    if rep:
        typer.echo("In REDCap, set these instruments as repeating: " + ", ".join(rep))


@app.command("check")
def check_cmd(
    study: Path = typer.Argument(..., help="Study package folder."),
) -> None:
    """Check a study package: every file loads and follows its model. Exit 0: usable; 2: not (one message)."""
    from blincompass.cli_common import resolve_study

    pkg = resolve_study(study)
    forms = pkg.dictionary.forms
    typer.echo(f"{pkg.label}: study {pkg.name!r}, {len(forms)} form(s), "
               f"{sum(len(f.variables) for f in forms)} variable(s); files: {', '.join(sorted(pkg.files))}")
    typer.echo(f"sha256 {pkg.sha256}")


@app.command("new")
def new_cmd(
    name: str = typer.Argument(..., help="Study name (letters, digits, - or _)."),
    out: Path | None = typer.Option(None, "--out", help="Folder to create (default: ./NAME)."),
) -> None:
    """Create a commented study package with made-up example data that gives a full report as written."""
    from blincompass.cli_common import write_failed
    from blincompass.study.scaffold import scaffold

    folder = out if out is not None else Path(name)
    try:
        written = scaffold(name, folder)
    except (ValueError, FileExistsError) as exc:
        raise fail(f"cannot create the study package: {exc}") from None
    except OSError as exc:
        raise write_failed(exc) from None
    for p in written:
        typer.echo(f"wrote {p}")
    typer.echo(f"next: blincompass report --study {folder} {folder / 'data'} -o {folder / 'report'}")


def register(main: typer.Typer) -> None:
    """Add the ``study`` command group to the main application."""
    main.add_typer(app, name="study")
