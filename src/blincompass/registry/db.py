"""Engines, URLs and migrations (Alembic) for the registry database."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa

__all__ = [
    "APP_ROLE",
    "DEFAULT_DB_FILE",
    "ENV_APP_PASSWORD",
    "ENV_URL",
    "append_only_sql",
    "app_role_problem",
    "create_engine",
    "current_revision",
    "display_url",
    "ensure_app_role",
    "no_replace_sql",
    "patient_keys_taken",
    "resolve_url",
    "set_acting_user",
    "upgrade",
]

#: Environment variable naming the database URL (used when ``--db`` is not given).
ENV_URL = "BLINCOMPASS_DB"
#: File of the embedded SQLite database, in the working directory, when neither is given.
DEFAULT_DB_FILE = "blincompass.db"
#: Tables that may only grow (triggers refuse UPDATE and DELETE).
APPEND_ONLY_TABLES: tuple[str, ...] = ("audit", "imports")
#: Default name of the PostgreSQL role the application connects as (created by ``blincompass db init``).
APP_ROLE = "blincompass_app"
#: Environment variable holding the password ``db init`` gives the application role (LOGIN); unset: NOLOGIN.
ENV_APP_PASSWORD = "BLINCOMPASS_APP_PASSWORD"


def resolve_url(db: str | None = None) -> str:
    """The database URL: ``db`` (a URL or a path to an SQLite file), else ``$BLINCOMPASS_DB``, else
    ``sqlite:///blincompass.db`` in the working directory."""
    value = db or os.environ.get(ENV_URL) or DEFAULT_DB_FILE
    if "://" in value:
        return value
    return f"sqlite:///{Path(value)}"


def display_url(url: str | sa.URL) -> str:
    """The URL with its password hidden (for messages and data-set sources)."""
    return sa.make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys = ON")
    # REPLACE conflict resolution deletes rows without firing DELETE triggers unless recursive triggers are
    # on; the BEFORE INSERT triggers of migration 0002 refuse it anyway, this is a second line.
    cur.execute("PRAGMA recursive_triggers = ON")
    cur.close()


def create_engine(url: str | sa.URL, **kwargs: Any) -> sa.Engine:
    """An engine for ``url``; SQLite connections enforce foreign keys."""
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def append_only_sql(dialect: str, table: str) -> tuple[list[str], list[str]]:
    """SQL creating (and dropping) the triggers that make ``table`` append-only on ``dialect``."""
    message = f"{table} is append-only: UPDATE and DELETE are refused"
    if dialect == "sqlite":
        up = [
            f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            for op in ("UPDATE", "DELETE")
        ]
        down = [f"DROP TRIGGER IF EXISTS {table}_no_{op}" for op in ("update", "delete")]
        return up, down
    if dialect == "postgresql":
        up = [
            f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{message}'; END $$",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()",
        ]
        down = [
            f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
            f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
            f"DROP FUNCTION IF EXISTS {table}_append_only()",
        ]
        return up, down
    return [], []


def no_replace_sql(dialect: str, table: str) -> tuple[list[str], list[str]]:
    """SQL creating (and dropping) the SQLite trigger that refuses an insert into ``table`` whose primary key
    already exists.

    ``INSERT OR REPLACE`` / ``REPLACE INTO`` resolve a primary-key conflict by deleting the old row, and SQLite
    fires no DELETE trigger for that deletion unless ``PRAGMA recursive_triggers`` is on, which a foreign
    client need not set. A BEFORE INSERT trigger runs before any conflict resolution, so this one refuses the
    replacement whatever the connection's settings (an upsert, ``ON CONFLICT DO UPDATE``, is refused here
    too, and by the UPDATE trigger). PostgreSQL has no REPLACE, and its upsert runs the UPDATE trigger.
    """
    if dialect != "sqlite":
        return [], []
    message = f"{table} is append-only: a row cannot be replaced"
    up = [
        f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
        f"WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id) "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
    ]
    return up, [f"DROP TRIGGER IF EXISTS {table}_no_replace"]


def set_acting_user(conn: sa.Connection, user: str | None) -> None:
    """Name the acting registry user for the rest of the current transaction (PostgreSQL; no-op elsewhere).

    Runs ``SELECT set_config('blincompass.user', user, true)`` -- ``true``: like ``SET LOCAL``, the setting
    ends with the transaction, so a pooled connection never carries it into another request. The
    Row-Level Security policies (:mod:`blincompass.registry.rls`) take the user's role and centre from
    ``users`` by this name; with no (or an unknown) name no patient data is visible. Call it first in every
    transaction that reads or writes patient data as a user: the access layer does
    (``ScopedRegistry.begin()`` / ``ScopedRegistry.connect()``).
    """
    if conn.dialect.name != "postgresql":
        return
    from blincompass.registry.rls import SETTING

    conn.execute(sa.text("SELECT set_config(:k, :v, true)"), {"k": SETTING, "v": user or ""})


def patient_keys_taken(conn: sa.Connection, keys: list[str]) -> set[str]:
    """Which normalised patient keys are registered in any centre, including rows the acting user cannot
    see under Row-Level Security (PostgreSQL; elsewhere the empty set -- every row is visible there).

    It says only that a key is taken -- what the unique index on ``patients.patient_key`` would say by
    refusing the insert -- so that the access layer can refuse a conflicting identifier with a finding
    instead of a database error.
    """
    if conn.dialect.name != "postgresql" or not keys:
        return set()
    from blincompass.registry.rls import KEYS_TAKEN_FN

    return set(conn.execute(sa.text(f"SELECT {KEYS_TAKEN_FN}(CAST(:k AS text[]))"), {"k": keys}).scalars())


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ensure_app_role(conn: sa.Connection, role: str = APP_ROLE, password: str | None = None) -> list[str]:
    """Create (or update) the PostgreSQL role the application connects as, and grant it exactly what the
    registry needs in the current schema; returns the statements run (passwords masked).

    The role may read every registry table; insert, update and delete the forms' rows; insert centres and
    users; and only insert and read ``audit`` and ``imports`` (no UPDATE, DELETE or TRUNCATE). It owns
    nothing, so it cannot disable, drop or replace the append-only triggers, and it is subject to the
    row-level security policies (it may execute their lookup functions). With ``password`` the role can
    log in (``LOGIN PASSWORD``); without, it is a group role to grant to personal logins
    (``GRANT blincompass_app TO anna``). Run by ``blincompass db init`` as the tables' owner, which needs
    the ``CREATEROLE`` attribute the first time (when the role does not exist yet).
    """
    if conn.dialect.name != "postgresql":
        return []
    if not role or len(role) > 63:
        raise ValueError(f"application role {role!r}: give 1 to 63 characters")
    ident = _quote_ident(role)
    exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first() is not None
    owner = conn.execute(sa.text("SELECT current_user")).scalar_one()
    if role == owner:
        raise ValueError(f"application role {role!r} is the owner's role; give the application its own role")
    run: list[str] = []

    def execute(sql: str, shown: str | None = None) -> None:
        conn.execute(sa.text(sql))
        run.append(shown or sql)

    login = "NOLOGIN"
    shown_login = login
    if password is not None:
        lit = "'" + password.replace("'", "''") + "'"
        login, shown_login = f"LOGIN PASSWORD {lit}", "LOGIN PASSWORD '***'"
    attrs = "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    if not exists:
        execute(f"CREATE ROLE {ident} {login} {attrs}", f"CREATE ROLE {ident} {shown_login} {attrs}")
    elif password is not None:
        execute(f"ALTER ROLE {ident} {login}", f"ALTER ROLE {ident} {shown_login}")
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    sch = _quote_ident(schema)
    tables = [r[0] for r in conn.execute(sa.text(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"))]
    execute(f"GRANT USAGE ON SCHEMA {sch} TO {ident}")
    for t in tables:
        execute(f"REVOKE ALL ON TABLE {sch}.{_quote_ident(t)} FROM {ident}")
        if t in APPEND_ONLY_TABLES or t in ("centres", "users"):
            privileges = "SELECT, INSERT"
        elif t == "api_tokens":
            privileges = "SELECT, INSERT, DELETE"  # revoking a token deletes it
        elif t == "alembic_version":
            privileges = "SELECT"
        else:
            privileges = "SELECT, INSERT, UPDATE, DELETE"
        execute(f"GRANT {privileges} ON TABLE {sch}.{_quote_ident(t)} TO {ident}")
    execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {sch} TO {ident}")
    # the Row-Level Security lookup functions (migration 0004_rls), not executable by PUBLIC
    functions = [r[0] for r in conn.execute(sa.text(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = current_schema() AND p.proname LIKE 'blincompass\\_%' ORDER BY 1"))]
    for fn in functions:
        execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")  # again: a restore without privileges resets it
        execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {ident}")
    return run


def app_role_problem(engine: sa.Engine) -> str | None:
    """Why the connected PostgreSQL role must not run the application, or ``None`` (always on SQLite).

    The application must not connect as a superuser, as the owner of the audit trail, or as a role that
    may update, delete or truncate audit or import rows (it could rewrite the trail or disable its
    triggers), nor as a role that row-level security does not restrict (``BYPASSRLS``, or the owner of a
    table under row-level security); it connects as the role ``db init`` creates (:func:`ensure_app_role`).
    """
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        role, superuser, bypass = conn.execute(sa.text(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
        if superuser:
            return f"role {role} is a superuser"
        if bypass:  # it would not be subject to the Row-Level Security policies
            return f"role {role} bypasses row-level security (BYPASSRLS)"
        for table in APPEND_ONLY_TABLES:
            owns = conn.execute(sa.text(
                "SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c "
                "WHERE c.oid = to_regclass(:t)"), {"t": table}).scalar_one_or_none()
            if owns:
                return f"role {role} owns the table {table}"
            for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
                if conn.execute(sa.text("SELECT has_table_privilege(to_regclass(:t), :p)"),
                                {"t": table, "p": privilege}).scalar_one():
                    return f"role {role} may {privilege} the table {table}"
        # the owner of a protected table is not subject to its policies either
        owned = conn.execute(sa.text(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
            "AND c.relrowsecurity AND pg_has_role(current_user, c.relowner, 'USAGE') ORDER BY 1")).first()
        if owned is not None:
            return f"role {role} owns the table {owned[0]}, which row-level security does not restrict for it"
    return None


def _alembic_config(connection: sa.Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "blincompass.registry:migrations")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(
    engine: sa.Engine, revision: str = "head", *, app_role: str | None = None, app_password: str | None = None
) -> None:
    """Migrate the database to ``revision`` (default: the newest) with Alembic; on PostgreSQL with
    ``app_role``, then create or update the application role in the same transaction
    (:func:`ensure_app_role`)."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)
        if app_role is not None:
            ensure_app_role(conn, app_role, app_password)


def downgrade(engine: sa.Engine, revision: str = "base") -> None:
    """Migrate the database down to ``revision`` (default: empty)."""
    from alembic import command

    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), revision)


def current_revision(engine: sa.Engine) -> str | None:
    """The Alembic revision the database is at (``None`` when it was never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    """The newest revision shipped with the package."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def dump_tables(engine: sa.Engine) -> str:
    """Every row of every table (ordered by primary key) as deterministic text, to compare database states.

    A database-owner tool (like a dump): it bypasses the access layer and is meant for checks and tests.
    """
    import json

    md = sa.MetaData()
    md.reflect(bind=engine)
    lines: list[str] = []
    with engine.connect() as conn:
        for name in sorted(md.tables):
            t = md.tables[name]
            order = list(t.primary_key.columns) or list(t.columns)
            lines.append(f"## {name} ({', '.join(c.name for c in t.columns)})")
            for r in conn.execute(sa.select(t).order_by(*order)):
                lines.append(json.dumps([_dump_value(v) for v in r], ensure_ascii=False))
    return "\n".join(lines) + "\n"


def _dump_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return repr(value)
    return str(value)
