"""``blincompass serve`` (the web registry) and ``blincompass web-user`` (web logins).

The database is ``--db URL`` (or an SQLite file), else ``$BLINCOMPASS_DB``, else ``blincompass.db``.
Exit codes: 0 done; 1 refused (unknown user, weak password, access denied); 2 unusable database or study.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from blincompass.cli_common import STUDY_HELP, fail

__all__ = ["register", "serve_cmd", "web_user_cmd"]

#: Environment variable holding the password for ``web-user`` (instead of the prompt).
ENV_PASSWORD = "BLINCOMPASS_WEB_PASSWORD"
#: Environment variable through which ``serve --workers N`` passes its settings to the server processes.
ENV_WORKER = "BLINCOMPASS_SERVE_WORKER"


def _registry(db: str | None, study: Path | None = None):  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from blincompass.registry import resolve_url
    from blincompass.registry.db import app_role_problem, current_revision, display_url, head_revision
    from blincompass.web.server import registry_for_server

    url = resolve_url(db)
    dictionary = None
    if study is not None:
        from blincompass.cli_common import resolve_study

        dictionary = resolve_study(study).dictionary
    try:
        reg = registry_for_server(url, dictionary)
        rev = current_revision(reg.engine)
        problem = app_role_problem(reg.engine) if rev is not None else None
    except (sa.exc.SQLAlchemyError, ImportError, ValueError) as exc:
        try:
            shown = display_url(url)
        except sa.exc.ArgumentError:
            shown = "(unparsable URL)"
        orig = getattr(exc, "orig", None) or exc
        raise fail(f"cannot use database {shown}: {str(orig).strip().splitlines()[0] if str(orig).strip() else orig}",
                   2) from None
    if rev is None:
        raise fail(f"database {reg.url} has no registry schema; run `blincompass db init` first", 2)
    if rev != head_revision():
        raise fail(f"database {reg.url} is at schema revision {rev}; run `blincompass db init` to migrate", 2)
    if problem:
        raise fail(f"database {reg.url}: {problem}; the application connects as the role that "
                   "`blincompass db init` creates", 2)
    return reg


def serve_cmd(
    db: str | None = typer.Option(None, "--db", help="Database URL or SQLite file (default: $BLINCOMPASS_DB or "
                                                     "./blincompass.db)."),
    study: Path | None = typer.Option(None, "--study", help=STUDY_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (keep 127.0.0.1 behind a TLS proxy)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    secure_cookies: bool | None = typer.Option(
        None, "--secure-cookies/--no-secure-cookies",
        help="Mark the session cookie Secure (default: when the request came over https; behind a TLS proxy "
             "give --proxy-headers or --secure-cookies)."),
    proxy_headers: bool = typer.Option(False, "--proxy-headers",
                                       help="Trust X-Forwarded-Proto/For from a proxy on 127.0.0.1."),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="Server processes sharing the port (each serves requests in threads; "
                                     "sessions, lock-outs and patient locks live in the database)."),
) -> None:
    """Start the web registry: login, forms from the data dictionary, uploads, data queries, dashboard."""
    import json
    import tempfile

    from blincompass.cli_common import resolve_study
    from blincompass.registry import resolve_url
    from blincompass.web.app import WebConfig
    from blincompass.web.server import run

    pkg = resolve_study(study)
    reg = _registry(db, study)
    typer.echo(f"blincompass web registry on http://{host}:{port}/ (database {reg.url}; {pkg.label}"
               f"{f'; {workers} processes' if workers > 1 else ''})")
    if workers == 1:
        run(WebConfig(reg, protocol=pkg.protocol, study_label=pkg.label, secure_cookies=secure_cookies), host,
            port, proxy_headers=proxy_headers)
        return
    import uvicorn

    reg.engine.dispose()
    # every process opens the registry itself; they share one work folder (report runs)
    os.environ[ENV_WORKER] = json.dumps({
        "db": resolve_url(db), "study": None if study is None else str(study), "secure_cookies": secure_cookies,
        "work": tempfile.mkdtemp(prefix="blincompass-web-")})
    uvicorn.run("blincompass.cli_web:worker_app", factory=True, workers=workers, host=host, port=port,
                proxy_headers=proxy_headers, forwarded_allow_ips="127.0.0.1" if proxy_headers else None,
                log_level="info", server_header=False)


def worker_app():  # type: ignore[no-untyped-def]
    """The application of one server process of ``serve --workers N`` (settings from :data:`ENV_WORKER`)."""
    import json

    from blincompass.cli_common import resolve_study
    from blincompass.web.app import WebConfig, create_app

    cfg = json.loads(os.environ[ENV_WORKER])
    study = None if cfg["study"] is None else Path(cfg["study"])
    pkg = resolve_study(study)
    reg = _registry(cfg["db"], study)
    return create_app(WebConfig(reg, protocol=pkg.protocol, study_label=pkg.label,
                                secure_cookies=cfg["secure_cookies"], work_dir=Path(cfg["work"])))


def _read_password(name: str, stdin: bool) -> str:
    env = os.environ.get(ENV_PASSWORD)
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    if env:
        return env
    first = typer.prompt(f"password for {name}", hide_input=True)
    second = typer.prompt("again", hide_input=True)
    if first != second:
        raise fail("the two passwords differ", 1)
    return str(first)


def web_user_cmd(
    name: str = typer.Argument(..., help="User name (a registry user; created with --role when missing)."),
    role: str | None = typer.Option(None, "--role", help="centre | monitor | coordinator: create the user."),
    centre: str | None = typer.Option(None, "--centre", help="The centre of a centre data manager."),
    db: str | None = typer.Option(None, "--db", help="Database URL or SQLite file."),
    user: str | None = typer.Option(None, "--user", "-u", help="Acting coordinator when creating a user "
                                                               "(default: $BLINCOMPASS_USER)."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input "
                                                                        f"(else ${ENV_PASSWORD}, else a prompt)."),
) -> None:
    """Set the web password of a user (unlocks the account and ends their sessions); with --role, register
    the user first."""
    from blincompass.cli_registry import _token_manager
    from blincompass.registry import RegistryError
    from blincompass.registry.auth import AuthError, password_problem, set_password

    reg = _registry(db)
    # only a coordinator (proven by their token) or the database's local administrator sets web passwords
    admin, _ = _token_manager(reg, user)
    exists = name in {u.name for u in reg.users()}
    if not exists and role is None:
        raise fail(f"user '{name}' is not registered; give --role (and --centre) to create it", 1)
    password = _read_password(name, password_stdin)
    problem = password_problem(password, name)
    if problem:
        raise fail(f"refused: {problem}", 1)
    try:
        if not exists:
            assert role is not None
            # the local administrator registers the user in a coordinator's name when one is named
            by = admin.name if admin is not None else (user or os.environ.get("BLINCOMPASS_USER"))
            reg.add_user(name, role, centre, by=by)
        set_password(reg, name, password)
    except (RegistryError, ValueError, AuthError, LookupError) as exc:
        raise fail(f"refused: {exc}", 1) from None
    typer.echo(f"web login of {name} {'created' if not exists else 'set'}")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``web-user`` to the CLI."""
    app.command("serve")(serve_cmd)
    app.command("web-user")(web_user_cmd)
