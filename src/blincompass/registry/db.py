"""Engines, URLs and migrations (Alembic) for the registry database."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa

__all__ = [
    "DEFAULT_DB_FILE",
    "ENV_URL",
    "append_only_sql",
    "create_engine",
    "current_revision",
    "display_url",
    "resolve_url",
    "upgrade",
]

#: Environment variable naming the database URL (used when ``--db`` is not given).
ENV_URL = "BLINCOMPASS_DB"
#: File of the embedded SQLite database, in the working directory, when neither is given.
DEFAULT_DB_FILE = "blincompass.db"
#: Tables that may only grow (triggers refuse UPDATE and DELETE).
APPEND_ONLY_TABLES: tuple[str, ...] = ("audit", "imports")


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


def _alembic_config(connection: sa.Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "blincompass.registry:migrations")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: the newest) with Alembic."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)


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
