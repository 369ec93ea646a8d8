"""The audit trail and the import log cannot be rewritten: REPLACE and upserts on SQLite, and on PostgreSQL
the application's role (created by ``db init``) may only insert and read them."""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from blincompass.cli import app
from blincompass.io import example_dir
from blincompass.registry import Registry, create_engine, dump_tables

from .conftest import PG_ENV, FixedClock

AUDIT_COLUMNS = "(id, at, user_name, centre, action, form, patient_id, record_key, field, old_value, new_value)"
AUDIT_VALUES = "(1, '2020-01-01 00:00:00', 'mallory', 'C1', 'insert', 'patients', 'C1-001', 'x', 'sex', NULL, 'F')"
IMPORT_COLUMNS = ("(id, at, user_name, centre, file_name, sha256, format, n_patients, n_rows, n_inserted, "
                  "n_updated, n_deleted, n_values)")
IMPORT_VALUES = "(1, '2020-01-01 00:00:00', 'coord', NULL, 'forged.xlsx', 'x', 'template', 0, 0, 0, 0, 0, 0)"

STATEMENTS = [
    f"INSERT OR REPLACE INTO audit {AUDIT_COLUMNS} VALUES {AUDIT_VALUES}",
    f"REPLACE INTO audit {AUDIT_COLUMNS} VALUES {AUDIT_VALUES}",
    f"INSERT INTO audit {AUDIT_COLUMNS} VALUES {AUDIT_VALUES} ON CONFLICT (id) DO UPDATE SET new_value = 'F'",
    f"INSERT INTO audit {AUDIT_COLUMNS} VALUES {AUDIT_VALUES} ON CONFLICT DO UPDATE SET user_name = excluded.user_name",
    "UPDATE OR REPLACE audit SET id = 2 WHERE id = 1",
    f"INSERT OR REPLACE INTO imports {IMPORT_COLUMNS} VALUES {IMPORT_VALUES}",
    f"REPLACE INTO imports {IMPORT_COLUMNS} VALUES {IMPORT_VALUES}",
    f"INSERT INTO imports {IMPORT_COLUMNS} VALUES {IMPORT_VALUES} ON CONFLICT (id) DO UPDATE SET file_name = 'f'",
]


@pytest.fixture
def sqlite_registry(tmp_path: Path) -> Registry:
    reg = Registry(create_engine(f"sqlite:///{tmp_path / 'registry.db'}"), clock=FixedClock())
    reg.init()
    for code in ("C1", "C2", "C3"):
        reg.add_centre(code)
    reg.add_user("coord", "coordinator")
    reg.as_user("coord").import_path(example_dir())
    return reg


def _trail(path: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT * FROM audit ORDER BY id").fetchall() + con.execute(
            "SELECT * FROM imports ORDER BY id").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("statement", STATEMENTS)
def test_sqlite_replace_and_upsert_are_refused_on_any_connection(sqlite_registry: Registry, statement: str) -> None:
    path = str(sqlite_registry.engine.url.database)
    before = _trail(path)
    assert before[0][0] == 1 and before[0][2] == "coord"  # the statements aim at an existing row
    # a plain client: no recursive_triggers, no foreign keys -- the triggers alone must hold
    con = sqlite3.connect(path)
    try:
        assert con.execute("PRAGMA recursive_triggers").fetchone() == (0,)
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            con.execute(statement)
        con.commit()
    finally:
        con.close()
    # the application's own connections (recursive_triggers on) refuse it too
    with pytest.raises(sa.exc.IntegrityError, match="append-only"), sqlite_registry.engine.begin() as conn:
        conn.execute(sa.text(statement))
    assert _trail(path) == before


def test_sqlite_connections_enable_recursive_triggers(sqlite_registry: Registry) -> None:
    with sqlite_registry.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA recursive_triggers").scalar_one() == 1
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def test_new_rows_are_still_appended(sqlite_registry: Registry) -> None:
    path = str(sqlite_registry.engine.url.database)
    n = len(_trail(path))
    sqlite_registry.as_user("coord").update_value("outcomes", {"patient_id": "C1-001"}, "last_followup_date",
                                                  "2021-01-31")
    assert len(_trail(path)) == n + 1


# -- PostgreSQL: the application role ---------------------------------------------------------------


@pytest.fixture
def pg_setup(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fresh schema initialised by the owner through `db init`, and the application role's URL."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (see .ci/postgres.sh)")
    tag = uuid.uuid4().hex[:10]
    schema, role, password = f"t_{tag}", f"blin_app_{tag}", f"pw-{tag}"
    admin = create_engine(url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    owner_url = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    app_url = owner_url.set(username=role, password=password)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BLINCOMPASS_DB", raising=False)
    monkeypatch.delenv("BLINCOMPASS_USER", raising=False)
    monkeypatch.setenv("BLINCOMPASS_APP_PASSWORD", password)
    try:
        yield owner_url.render_as_string(hide_password=False), app_url.render_as_string(hide_password=False), role
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def _cli(*args: object) -> object:
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_postgresql_app_role_inserts_and_reads_but_cannot_rewrite_the_trail(pg_setup) -> None:  # type: ignore[no-untyped-def]
    owner_url, app_url, role = pg_setup
    r = _cli("db", "init", "--db", owner_url, "--app-role", role)
    assert r.exit_code == 0, r.output
    assert f"application role {role}: connect the application as postgresql+psycopg://{role}:***@" in r.stdout
    assert "pw-" not in r.output
    for args in (["db", "add-centre", "C1"], ["db", "add-centre", "C2"], ["db", "add-centre", "C3"],
                 ["db", "add-user", "coord", "--coordinator"], ["db", "add-user", "u1", "--centre", "C1", "--user",
                                                                "coord"],
                 ["db", "import", example_dir(), "--user", "coord"],
                 ["db", "update", "outcomes", "C1-001", "--field", "last_followup_date", "--value", "2021-01-31",
                  "--user", "u1"],
                 ["db", "delete-patient", "C1-002", "--user", "u1"],
                 ["db", "history", "C1-001", "--user", "u1"],
                 ["db", "users", "--user", "coord"],
                 ["db", "export", "--format", "csv", "--out", "out", "--user", "coord"]):
        r = _cli(*args, "--db", app_url)
        assert r.exit_code == 0, (args, r.output)
    # the owner's login is for db init only
    r = _cli("db", "users", "--user", "coord", "--db", owner_url)
    assert r.exit_code == 2 and r.stdout == ""
    assert "owns the table audit" in r.stderr and "db init" in r.stderr
    # init again (a migration run) keeps the role and its grants
    assert _cli("db", "init", "--db", owner_url, "--app-role", role).exit_code == 0

    app_engine = create_engine(app_url, poolclass=sa.pool.NullPool)
    owner_engine = create_engine(owner_url, poolclass=sa.pool.NullPool)
    before = dump_tables(owner_engine)
    n_audit = int(before.split("## audit")[1].split("## ")[0].count("\n")) - 1
    assert n_audit > 100
    refused = [
        "ALTER TABLE audit DISABLE TRIGGER ALL",
        "ALTER TABLE audit DISABLE TRIGGER audit_append_only",
        "ALTER TABLE imports DISABLE TRIGGER imports_append_only",
        "DROP TRIGGER audit_append_only ON audit",
        "UPDATE audit SET new_value = 'x'",
        "DELETE FROM audit",
        "TRUNCATE audit",
        "UPDATE imports SET file_name = 'x'",
        "DELETE FROM imports",
        "TRUNCATE imports",
        "INSERT INTO audit (id, at, user_name, action, form, patient_id, record_key) VALUES "
        "(1, now(), 'x', 'insert', 'patients', 'P', 'k') ON CONFLICT (id) DO UPDATE SET user_name = 'x'",
        "ALTER TABLE audit OWNER TO CURRENT_USER",
        "SET session_replication_role = replica",
    ]
    for statement in refused:
        with pytest.raises(sa.exc.ProgrammingError, match="(?i)permission denied|must be owner"), \
                app_engine.begin() as conn:
            conn.execute(sa.text(statement))
    with app_engine.connect() as conn:  # the coordinator sees the whole trail (row-level security)
        conn.execute(sa.text("SELECT set_config('blincompass.user', 'coord', true)"))
        assert conn.execute(sa.text("SELECT count(*) FROM audit")).scalar_one() == n_audit
    assert dump_tables(owner_engine) == before
    app_engine.dispose()
    owner_engine.dispose()
