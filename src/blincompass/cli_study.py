"""``blincompass study``: study definitions to and from other systems (REDCap data dictionaries)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["app", "register"]

app = typer.Typer(
    name="study",
    help="Study definitions: a REDCap data dictionary to a blincompass data dictionary, and back.",
    no_args_is_help=True,
)


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(2)


def _free(path: Path, force: bool) -> None:
    """Refuse to overwrite an existing file (unless ``force``) or to write into a missing folder."""
    if path.is_dir():
        raise _fail(f"cannot write {path}: it is a folder")
    if path.exists() and not force:
        raise _fail(f"cannot write {path}: the file exists (give --force to replace it)")
    if not path.parent.is_dir():
        raise _fail(f"cannot write {path}: folder {path.parent} does not exist")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8", newline="")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _fail(f"cannot write {path}: {exc.strerror or exc}") from None


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
        raise _fail(f"cannot write into {out}: not an existing folder")
    try:
        study = dictionary_from_redcap(redcap_dictionary, name=name, repeating=repeating, record_id=record_id)
    except InputReadError as exc:
        raise _fail(f"cannot convert: {exc}") from None
    targets = {out / "dictionary.toml": tomli_w.dumps(study.dictionary),
               out / "redcap-mapping.toml": tomli_w.dumps(study.mapping)}
    for path in targets:
        _free(path, force)
    for path, text in targets.items():
        header = ("# Data dictionary converted from the REDCap data dictionary "
                  f"{redcap_dictionary.name}\n" if path.name == "dictionary.toml" else
                  "# Mapping of the REDCap records exports to the data dictionary (blincompass db import "
                  "--format redcap --mapping ...)\n")
        _write_atomic(path, header + text)
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
        raise _fail(f"cannot read dictionary {dictionary}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # tomllib and pydantic errors are ValueErrors
        first = str(exc).strip().splitlines()
        raise _fail(f"cannot use dictionary {dictionary}: {' '.join(first[:3])}") from None
    _free(out, force)
    _write_atomic(out, redcap_csv_text(d))
    typer.echo(f"wrote {out}")
    rep = repeating_forms(d)
    if rep:
        typer.echo("In REDCap, set these instruments as repeating: " + ", ".join(rep))


def register(main: typer.Typer) -> None:
    """Add the ``study`` command group to the main application."""
    main.add_typer(app, name="study")
