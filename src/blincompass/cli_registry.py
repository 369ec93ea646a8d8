"""``blincompass db``: the registry database (init, centres and users, import, history, export).

The database is ``--db URL`` (or a path to an SQLite file), else ``$BLINCOMPASS_DB``, else
``blincompass.db`` in the working directory. The acting user is ``--user`` or ``$BLINCOMPASS_USER``; on a
registry with credentials (API tokens or passwords) that name must be proven by the user's personal API
token (``$BLINCOMPASS_TOKEN``, or a hidden prompt at a terminal) unless the caller administers the
database locally (:mod:`blincompass.registry.tokens`).
Exit codes: 0 done; 1 rejected (validation errors, access denied, unknown user); 2 unreadable input,
unusable database or no proof of identity.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

# SQLAlchemy and rich are imported by the commands that use them, so that ``--help`` starts at once.
if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["app", "register"]

app = typer.Typer(
    rich_markup_mode=None,  # plain help: rich's help renderer costs ~0.1 s of start-up
    name="db",
    help="Registry database: per-centre access, audit trail, imports (template, REDCap, SPSS) and exports.",
    no_args_is_help=True,
)

_DB = typer.Option(None, "--db", help="Database URL or SQLite file (default: $BLINCOMPASS_DB or ./blincompass.db).")
_USER = typer.Option(None, "--user", "-u", help="Acting user (default: $BLINCOMPASS_USER); on a registry with "
                     "credentials proven by their API token in $BLINCOMPASS_TOKEN (or a prompt).")


def _registry(db: str | None):  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from blincompass.registry import Registry, resolve_url
    from blincompass.registry.db import display_url

    url = resolve_url(db)
    try:
        return Registry(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        try:
            shown = display_url(url)
        except sa.exc.ArgumentError:
            shown = "(unparsable URL)"
        raise _fail(f"cannot use database {shown}: {_driver_message(exc)}", 2) from None


def _interactive() -> bool:
    import sys

    return sys.stdin.isatty()


def _token_prompt() -> str:
    return str(typer.prompt("API token (input hidden)", hide_input=True, err=True))


def _acting(reg, user: str | None) -> str:  # type: ignore[no-untyped-def]
    """The name of the user a command acts as: ``--user`` / ``$BLINCOMPASS_USER``, proven by an API token
    (``$BLINCOMPASS_TOKEN`` or a prompt) on a registry with credentials (see
    :func:`blincompass.registry.tokens.authenticate`). Exit 2 when it cannot be proven, 1 for no user or an
    unknown one."""
    from blincompass.registry import UnknownUser
    from blincompass.registry.tokens import ENV_TOKEN, AuthenticationError, authenticate

    claimed = user or os.environ.get("BLINCOMPASS_USER") or None
    token = os.environ.get(ENV_TOKEN) or None
    if claimed is None and token is None:
        typer.echo("no user: give --user NAME (or set BLINCOMPASS_USER)", err=True)
        raise typer.Exit(1)
    try:
        with _database_errors(reg):
            return authenticate(reg, claimed, token, _token_prompt if _interactive() else None).name
    except AuthenticationError as exc:
        raise _fail(f"not authenticated: {exc}; nothing was read or written", 2) from None
    except UnknownUser as exc:
        raise _fail(str(exc)) from None


def _admin_by(reg, user: str | None) -> str | None:  # type: ignore[no-untyped-def]
    """``by`` of centre and user management: the authenticated acting user, or ``None`` when no user is
    named at all (the first centres and user of an empty registry)."""
    from blincompass.registry.tokens import ENV_TOKEN

    if not (user or os.environ.get("BLINCOMPASS_USER") or os.environ.get(ENV_TOKEN)):
        return None
    return _acting(reg, user)


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def _driver_message(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else orig.__class__.__name__


def _database_failure(url: str, exc: BaseException) -> str:
    detail = _driver_message(exc)
    low = detail.casefold()
    if "readonly" in low or "read-only" in low or "read only" in low:
        what = "is read-only"
    elif "malformed" in low or "not a database" in low or "corrupt" in low:
        what = "is damaged"
    else:
        what = "refused the request"
    return f"database {url} {what} ({detail}); nothing was written"


@contextmanager
def _database_errors(reg) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Exit 2 with one message when the database itself fails (read-only, damaged, unreachable)."""
    import sqlite3

    import sqlalchemy as sa

    from blincompass.registry import DatabaseDamaged

    try:
        yield
    except (sa.exc.SQLAlchemyError, sqlite3.DatabaseError) as exc:
        raise _fail(_database_failure(reg.url, exc), 2) from None
    except DatabaseDamaged as exc:
        raise _fail(f"database {reg.url} is damaged or was changed outside the registry: {exc}; "
                    "nothing was written", 2) from None


def _check_schema(reg, allow_owner: bool = False) -> None:  # type: ignore[no-untyped-def]
    from blincompass.registry.db import app_role_problem, current_revision, head_revision
    from blincompass.registry.tokens import local_administrator

    try:
        rev = current_revision(reg.engine)
        problem = app_role_problem(reg.engine) if rev is not None else None
        if problem and allow_owner and local_administrator(reg.engine) is not None:
            problem = None  # the owner role manages API tokens (e.g. when no coordinator has one)
    except Exception as exc:  # noqa: BLE001 - any driver error means the database cannot be used
        raise _fail(f"cannot open database {reg.url}: {_driver_message(exc)}", 2) from None
    if rev is None:
        raise _fail(f"database {reg.url} has no registry schema; run `blincompass db init` first", 2)
    if rev != head_revision():
        raise _fail(f"database {reg.url} is at schema revision {rev}; run `blincompass db init` to migrate", 2)
    if problem:
        raise _fail(f"database {reg.url}: {problem}; the application connects as the role that "
                    "`blincompass db init` creates (the owner's login is for `db init` only)", 2)


@app.command("init")
def init_cmd(
    db: str | None = _DB,
    app_role: str = typer.Option(
        "blincompass_app", "--app-role",
        help="PostgreSQL: the role the application connects as (created or updated; password from "
             "$BLINCOMPASS_APP_PASSWORD, else a role without login to grant to personal logins)."),
) -> None:
    """Create the registry schema (or migrate it to the newest revision).

    On PostgreSQL, run it as the tables' owner: it also creates the application role, which may only
    insert and read audit rows; every other command connects as that role.
    """
    from blincompass.registry.db import ENV_APP_PASSWORD, current_revision

    reg = _registry(db)
    password = os.environ.get(ENV_APP_PASSWORD) or None
    try:
        reg.init(app_role=app_role if reg.engine.dialect.name == "postgresql" else None, app_password=password)
        revision = current_revision(reg.engine)
    except Exception as exc:  # noqa: BLE001 - a migration or role failure of any kind: one message, exit 2
        raise _fail(f"cannot initialise {reg.url}: {_driver_message(exc)}", 2) from None
    typer.echo(f"registry schema at revision {revision} in {reg.url}")
    if reg.engine.dialect.name == "postgresql":
        url = reg.engine.url.set(username=app_role, password="set")  # rendered with the password hidden
        login = ("connect the application as " + url.render_as_string(hide_password=True) if password
                 else f"it cannot log in: GRANT {app_role} TO each personal login, or set {ENV_APP_PASSWORD}")
        typer.echo(f"application role {app_role}: {login}")


@app.command("add-centre")
def add_centre_cmd(
    code: str = typer.Argument(..., help="Centre code, as used in the patients form (e.g. C1)."),
    name: str | None = typer.Option(None, "--name", help="Centre name."),
    db: str | None = _DB,
    user: str | None = _USER,
) -> None:
    """Register a centre (a coordinator's task once users exist)."""
    from blincompass.registry import RegistryError

    reg = _registry(db)
    _check_schema(reg)
    try:
        with _database_errors(reg):
            reg.add_centre(code, name, by=_admin_by(reg, user))
    except (RegistryError, ValueError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"centre {code} added")


@app.command("add-user")
def add_user_cmd(
    name: str = typer.Argument(..., help="User name."),
    centre: str | None = typer.Option(None, "--centre", help="The user's centre (a centre data manager)."),
    coordinator: bool = typer.Option(False, "--coordinator", help="A user of the coordinating centre."),
    db: str | None = _DB,
    user: str | None = _USER,
) -> None:
    """Register a user of one centre (--centre C) or of the coordinating centre (--coordinator)."""
    from blincompass.registry import RegistryError

    if coordinator == (centre is not None) and not coordinator:
        raise _fail("give --centre C (a centre user) or --coordinator")
    reg = _registry(db)
    _check_schema(reg)
    try:
        with _database_errors(reg):
            u = reg.add_user(name, "coordinator" if coordinator else "centre", centre, by=_admin_by(reg, user))
    except (RegistryError, ValueError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"user {u.name} added ({u.role}{', centre ' + u.centre if u.centre else ''})")


@app.command("users")
def users_cmd(db: str | None = _DB, user: str | None = _USER) -> None:
    """List centres and users (a coordinator's task)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from blincompass.registry import AccessDenied, UnknownUser

    reg = _registry(db)
    _check_schema(reg)
    name = _acting(reg, user)
    try:
        with _database_errors(reg):
            users, centres = reg.as_user(name).users(), reg.centres()
    except (AccessDenied, UnknownUser) as exc:
        raise _fail(str(exc)) from None
    table = Table(title="Users", title_justify="left")
    for col in ("user", "role", "centre"):
        table.add_column(col)
    for u in users:
        table.add_row(Text(u.name), u.role, Text(u.centre or ""))
    console = Console(highlight=False)
    console.print(table)
    console.print("Centres: " + (", ".join(f"{c} ({n})" for c, n in centres) or "none"))


def _print_findings(findings, console: Console) -> None:  # type: ignore[no-untyped-def]
    from blincompass.cli_data import _findings_table

    for sev in ("error", "warning", "info"):
        found = [f for f in findings if f.severity == sev]
        if found:
            console.print(_findings_table(found, sev))


@app.command("import")
def import_cmd(
    path: Path = typer.Argument(..., help="Workbook, CSV folder, REDCap records CSV, .sav file or folder."),
    centre: str | None = typer.Option(None, "--centre", help="Centre the file belongs to (every row must match)."),
    user: str | None = _USER,
    fmt: str = typer.Option("auto", "--format", help="auto | template | redcap | sav"),
    mapping: Path | None = typer.Option(None, "--mapping", help="Mapping TOML (REDCap / SPSS names -> forms)."),
    redcap_dictionary: Path | None = typer.Option(None, "--redcap-dictionary", help="REDCap data dictionary CSV."),
    db: str | None = _DB,
    as_json: bool = typer.Option(False, "--json", help="Print the result (or the findings) as JSON."),
) -> None:
    """Validate a file and apply it in one transaction (all or nothing). Exit 1 with the findings when rejected."""
    import sqlite3

    import sqlalchemy as sa
    from rich.console import Console
    from rich.text import Text

    from blincompass.io.raw import InputReadError
    from blincompass.registry import AccessDenied, DatabaseDamaged, ImportRejected, UnknownUser

    reg = _registry(db)
    _check_schema(reg)
    name = _acting(reg, user)
    console = Console(highlight=False, stderr=as_json)  # with --json, stdout carries the JSON alone
    try:
        scoped = reg.as_user(name)
        result = scoped.import_path(path, fmt=fmt, centre=centre, mapping=mapping,
                                    redcap_dictionary=redcap_dictionary)
    except InputReadError as exc:
        raise _fail(f"cannot read input: {exc}", 2) from None
    except ImportRejected as exc:
        if as_json:
            typer.echo(json.dumps([f.to_dict() for f in exc.findings], ensure_ascii=False, indent=2))
        else:
            _print_findings(exc.findings, console)
        n = sum(f.severity == "error" for f in exc.findings)
        raise _fail(f"REJECTED: {path}: {n} error(s); nothing was written to the registry.") from None
    except (AccessDenied, UnknownUser) as exc:
        raise _fail(f"REJECTED: {exc}; nothing was written to the registry.") from None
    except sa.exc.IntegrityError as exc:  # e.g. a concurrent import of the same records
        raise _fail(f"FAILED: the database refused the import ({_driver_message(exc)}); nothing was written. "
                    "Retry.", 2) from None
    except (sa.exc.SQLAlchemyError, sqlite3.DatabaseError) as exc:
        raise _fail(_database_failure(reg.url, exc), 2) from None
    except DatabaseDamaged as exc:
        raise _fail(f"database {reg.url} is damaged or was changed outside the registry: {exc}; "
                    "nothing was written", 2) from None
    if as_json:
        out = {k: v for k, v in result.__dict__.items() if k != "findings"}
        out["findings"] = [f.to_dict() for f in result.findings]
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    notes = [f for f in result.findings if f.severity != "error"]
    if notes:
        console.print(f"{len(notes)} warning(s)/note(s); run `blincompass db import --json` to list them.")
    if not result.changed:
        console.print(Text(f"no changes: {path} is identical to the registry ({result.n_rows} rows)", style="green"))
        return
    console.print(Text(
        f"imported {path} (import {result.import_id}, sha256 {result.sha256[:12]}...): {result.n_patients} patient(s); "
        f"{result.inserted} row(s) inserted, {result.updated} updated, {result.deleted} deleted, "
        f"{result.unchanged} unchanged; {result.values_changed} value(s) audited", style="bold green"))


@app.command("history")
def history_cmd(
    patient: str = typer.Argument(..., help="Patient identifier."),
    user: str | None = _USER,
    db: str | None = _DB,
    as_json: bool = typer.Option(False, "--json", help="Print the entries as JSON."),
) -> None:
    """Print the audit trail of one patient: who, when (UTC), record, field, old -> new, import sha256."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from blincompass.registry import AccessDenied, UnknownUser

    reg = _registry(db)
    _check_schema(reg)
    name = _acting(reg, user)
    try:
        with _database_errors(reg):
            entries = reg.as_user(name).history(patient)
    except (AccessDenied, UnknownUser) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps([e.to_dict() for e in entries], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Audit trail of {patient} ({len(entries)} entries)", title_justify="left", expand=True)
    for col in ("when (UTC)", "user", "action", "record", "field", "old", "new", "import sha256"):
        table.add_column(col, overflow="fold")
    for e in entries:
        cells = (e.at.strftime("%Y-%m-%d %H:%M:%S"), e.user, e.action, f"{e.form} [{e.record_key}]",
                 e.field or "", e.old_value or "", e.new_value or "", (e.sha256 or "")[:12])
        table.add_row(*(Text(c) for c in cells))  # Text: values are data, never console markup
    Console(highlight=False, width=160).print(table)


@app.command("imports")
def imports_cmd(
    user: str | None = _USER,
    db: str | None = _DB,
    as_json: bool = typer.Option(False, "--json", help="Print the import log as JSON."),
) -> None:
    """List the applied imports: when (UTC), who, file, sha256, format and counts."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from blincompass.registry import AccessDenied, UnknownUser

    reg = _registry(db)
    _check_schema(reg)
    name = _acting(reg, user)
    try:
        with _database_errors(reg):
            log = reg.as_user(name).imports()
    except (AccessDenied, UnknownUser) as exc:
        raise _fail(str(exc)) from None
    records = log.to_dict("records")
    if as_json:
        for r in records:
            r["at"] = r["at"].isoformat()
        typer.echo(json.dumps(records, ensure_ascii=False, indent=2, default=str))
        return
    table = Table(title=f"Imports ({len(records)})", title_justify="left")
    cols = ("id", "at", "user_name", "centre", "file_name", "sha256", "format", "n_patients", "n_inserted",
            "n_updated", "n_deleted", "n_values")
    for c in cols:
        table.add_column(c)
    for r in records:
        values = dict(r, at=r["at"].strftime("%Y-%m-%d %H:%M:%S"), sha256=str(r["sha256"])[:12])
        table.add_row(*(Text("" if values[c] is None else str(values[c])) for c in cols))
    Console(highlight=False, width=180).print(table)


@app.command("update")
def update_cmd(
    form: str = typer.Argument(..., help="Form (e.g. outcomes)."),
    key: list[str] = typer.Argument(..., help="Key values in the form's key order (e.g. C1-001, or C1-001 2)."),
    field: str = typer.Option(..., "--field", help="Variable to change."),
    value: str = typer.Option(..., "--value", help="New value as it would be written in the template."),
    user: str | None = _USER,
    db: str | None = _DB,
) -> None:
    """Change one value of one record (validated, audited)."""
    from blincompass.registry import AccessDenied, ImportRejected, UnknownUser

    reg = _registry(db)
    _check_schema(reg)
    try:
        f = reg.dictionary.form(form)
    except KeyError:
        raise _fail(f"no form {form!r}; forms: {', '.join(reg.dictionary.form_names)}") from None
    if len(key) != len(f.key):
        raise _fail(f"form {form} is keyed by {', '.join(f.key)}: give {len(f.key)} value(s)")
    name = _acting(reg, user)
    try:
        with _database_errors(reg):
            changed = reg.as_user(name).update_value(form, dict(zip(f.key, key, strict=True)), field,
                                                            value)
    except (AccessDenied, UnknownUser, ImportRejected, LookupError, ValueError) as exc:
        raise _fail(f"REJECTED: {exc}") from None
    typer.echo("updated" if changed else "unchanged (the value was already set)")


@app.command("delete-patient")
def delete_patient_cmd(
    patient: str = typer.Argument(..., help="Patient identifier."),
    user: str | None = _USER,
    db: str | None = _DB,
) -> None:
    """Delete every record of a patient (each deleted value is audited)."""
    from blincompass.registry import AccessDenied, UnknownUser

    reg = _registry(db)
    _check_schema(reg)
    name = _acting(reg, user)
    try:
        with _database_errors(reg):
            n = reg.as_user(name).delete_patient(patient)
    except (AccessDenied, UnknownUser, LookupError) as exc:
        raise _fail(f"REJECTED: {exc}") from None
    typer.echo(f"deleted {n} record(s) of {patient}")


@app.command("export")
def export_cmd(
    fmt: str = typer.Option(..., "--format", help="template | csv | adam | xpt | sav"),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (created if needed)."),
    user: str | None = _USER,
    db: str | None = _DB,
    protocol: Path | None = typer.Option(None, "--protocol", help="Protocol TOML for the ADaM-style tables."),
) -> None:
    """Export the data visible to the user: the template workbook, form CSVs, ADaM-style CSVs, SAS XPT or SPSS."""
    from blincompass.cli_common import usable_output, write_failed
    from blincompass.exports import EXPORT_FORMATS, export
    from blincompass.protocol import ProtocolError, load_protocol
    from blincompass.registry import AccessDenied, UnknownUser

    if fmt not in EXPORT_FORMATS:
        raise _fail(f"--format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}")
    usable_output(out)
    reg = _registry(db)
    _check_schema(reg)
    try:
        proto = load_protocol(protocol)
    except ProtocolError as exc:
        raise _fail(f"cannot use protocol: {exc}", 2) from None
    name = _acting(reg, user)
    try:
        with _database_errors(reg):
            written = export(reg.as_user(name), fmt, out, proto)
    except (AccessDenied, UnknownUser) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise write_failed(exc) from None
    typer.echo(f"wrote {len(written)} file(s) to {out}")
    for p in written:
        typer.echo(f"  {p}")


token_app = typer.Typer(
    rich_markup_mode=None, name="token", no_args_is_help=True,
    help="Personal API tokens: on a registry with tokens or passwords, --user needs the user's token "
         "($BLINCOMPASS_TOKEN, or a hidden prompt).",
)
app.add_typer(token_app, name="token")


def _token_manager(reg, user: str | None):  # type: ignore[no-untyped-def]
    """(coordinator, None) when a user is named (authenticated, must be a coordinator), else (None, why the
    caller is the database's local administrator); exit 2 when neither, 1 for a centre user."""
    from blincompass.registry import AccessDenied, UnknownUser
    from blincompass.registry.tokens import ENV_TOKEN, AuthenticationError, authenticate_admin

    claimed = user or os.environ.get("BLINCOMPASS_USER") or None
    token = os.environ.get(ENV_TOKEN) or None
    try:
        with _database_errors(reg):
            return authenticate_admin(reg, claimed, token, _token_prompt if _interactive() else None)
    except AuthenticationError as exc:
        raise _fail(f"not authenticated: {exc}; nothing was read or written", 2) from None
    except (AccessDenied, UnknownUser) as exc:
        raise _fail(str(exc)) from None


@token_app.command("create")
def token_create_cmd(
    name: str = typer.Argument(..., help="The registry user the token belongs to."),
    expires_days: int | None = typer.Option(None, "--expires-days", help="Valid for this many days (default: "
                                            "until revoked)."),
    label: str | None = typer.Option(None, "--label", help="What the token is for (e.g. the laptop)."),
    db: str | None = _DB,
    user: str | None = _USER,
) -> None:
    """Create a personal API token (printed once on standard output; only its hash is stored)."""
    from blincompass.registry import AccessDenied, UnknownUser
    from blincompass.registry.tokens import AuthenticationError, create_token

    reg = _registry(db)
    _check_schema(reg, allow_owner=True)
    by, admin = _token_manager(reg, user)
    try:
        with _database_errors(reg):
            token = create_token(reg, name, by=by, expires_days=expires_days, label=label, local_admin=admin)
    except AuthenticationError as exc:
        raise _fail(f"not authenticated: {exc}", 2) from None
    except (AccessDenied, UnknownUser, ValueError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(token)
    typer.echo(f"API token {token.split('_')[1]} for user {name}: shown once, give it to them privately. "
               "They keep it out of the shell history: read -rs BLINCOMPASS_TOKEN && export BLINCOMPASS_TOKEN",
               err=True)


@token_app.command("list")
def token_list_cmd(db: str | None = _DB, user: str | None = _USER) -> None:
    """List the API tokens (id, user, label, created, by, expiry; never the secrets)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from blincompass.registry import AccessDenied
    from blincompass.registry.tokens import list_tokens

    reg = _registry(db)
    _check_schema(reg, allow_owner=True)
    by, _ = _token_manager(reg, user)
    try:
        with _database_errors(reg):
            tokens = list_tokens(reg, by=by)
    except AccessDenied as exc:
        raise _fail(str(exc)) from None
    table = Table(title=f"API tokens ({len(tokens)})", title_justify="left")
    for col in ("id", "user", "label", "created (UTC)", "by", "expires (UTC)"):
        table.add_column(col)
    for t in tokens:
        table.add_row(*(Text(c) for c in (
            t.id, t.user, t.label or "", t.created_at.strftime("%Y-%m-%d %H:%M:%S"), t.created_by,
            t.expires_at.strftime("%Y-%m-%d %H:%M:%S") if t.expires_at else "")))
    Console(highlight=False, width=160).print(table)


@token_app.command("revoke")
def token_revoke_cmd(
    token_id: str = typer.Argument(..., help="Token id (the 12 hex digits after blc_)."),
    db: str | None = _DB,
    user: str | None = _USER,
) -> None:
    """Revoke (delete) an API token."""
    from blincompass.registry import AccessDenied
    from blincompass.registry.tokens import revoke_token

    reg = _registry(db)
    _check_schema(reg, allow_owner=True)
    by, _ = _token_manager(reg, user)
    try:
        with _database_errors(reg):
            done = revoke_token(reg, token_id, by=by)
    except AccessDenied as exc:
        raise _fail(str(exc)) from None
    if not done:
        raise _fail(f"no API token {token_id}")
    typer.echo(f"API token {token_id} revoked")


def register(main: typer.Typer) -> None:
    """Add the ``db`` command group to the main application."""
    main.add_typer(app, name="db")
