"""What every command shares: the study package of a command (``--study``), output paths, exit codes.

Exit codes of every command: 0 done; 1 rejected (validation errors, access denied); 2 unusable input,
study package, protocol, database or output path (one message, nothing written).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["STUDY_HELP", "fail", "resolve_study", "usable_output", "write_failed"]

#: Help text of the ``--study`` option that every study-dependent command takes.
STUDY_HELP = "Study package folder (dictionary.toml, protocol.toml, ...); default: the built-in study."


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` on standard error and return the exit to raise."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def resolve_study(study: Path | None, protocol: Path | None = None) -> Any:
    """The study package of a command: ``--study DIR`` (default built-in), its protocol replaced by
    ``--protocol FILE`` when given. Exit 2 with one message when either cannot be used."""
    from dataclasses import replace

    from blincompass.protocol import ProtocolError, load_protocol
    from blincompass.study import StudyError, load_study
    from blincompass.study.package import check_package

    try:
        pkg = load_study(study)
    except StudyError as exc:
        raise fail(f"cannot use study package: {exc}") from None
    if protocol is not None:
        try:
            from blincompass.protocol.plan import with_code_labels

            pkg = replace(pkg, protocol=load_protocol(protocol))
            check_package(pkg.dictionary, pkg.protocol)
            pkg = replace(pkg, protocol=with_code_labels(pkg.dictionary, pkg.protocol))
        except ProtocolError as exc:
            raise fail(f"cannot use protocol: {exc}") from None
    return pkg


def usable_output(path: Path, kind: str = "dir") -> Path:
    """Check an output folder (``kind="dir"``) or file before a command starts its work; exit 2 with one
    message when it cannot be used. Nothing is created here."""
    from blincompass.io.outpath import OutputPathError, prepare_output_dir, prepare_output_file

    try:
        if kind == "dir":
            return prepare_output_dir(path, create=False)
        return prepare_output_file(path, create=False)
    except OutputPathError as exc:
        typer.echo(f"cannot write output: {exc}", err=True)
        raise typer.Exit(2) from None


def write_failed(exc: OSError) -> typer.Exit:
    """Report a write that failed half-way (disk full, permissions changed); the caller raises the result."""
    where = f"{exc.filename}: " if exc.filename else ""
    typer.echo(f"cannot write output: {where}{exc.strerror or exc}", err=True)
    return typer.Exit(2)
