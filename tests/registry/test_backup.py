"""tools/registry_backup.py: back up a registry, restore it into a fresh database, and find it equal."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from blincompass.io import example_dir
from blincompass.registry import Registry, create_engine, dump_tables

from .conftest import PG_ENV, FixedClock, centre_folder

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "registry_backup.py"


def _load_script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("registry_backup", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_SCRIPT = _load_script()


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def script(*args: object) -> Ran:
    """Run the script's main() in this process (as ``python tools/registry_backup.py ARGS`` would)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = _SCRIPT.main([str(a) for a in args])
    return Ran(code, out.getvalue(), err.getvalue())


def test_the_script_runs_on_its_own(tmp_path: Path) -> None:
    reg = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    reg.init()
    reg.engine.dispose()
    r = subprocess.run([sys.executable, str(SCRIPT), "backup", tmp_path / "registry.db", tmp_path / "b.db"],
                       capture_output=True, text=True, check=False, env=os.environ.copy(), timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("backed up sqlite:///"), r.stderr
    assert (tmp_path / "b.db").stat().st_size > 0


def _fill(reg: Registry, tmp_path: Path) -> None:
    """Centres, users, two imports, an update and a deletion: a trail of several hundred entries."""
    for code in ("C1", "C2", "C3"):
        reg.add_centre(code)
    reg.add_user("coord", "coordinator")
    reg.add_user("u1", "centre", "C1", by="coord")
    reg.as_user("u1").import_path(centre_folder(tmp_path / "c1", {"C1"}))
    reg.as_user("coord").import_path(example_dir())
    reg.as_user("u1").update_value("outcomes", {"patient_id": "C1-001"}, "last_followup_date", "2021-01-31")
    reg.as_user("coord").delete_patient("C3-008")


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("patients", "courses", "audit", "imports", "users")}


def test_sqlite_backup_restore_verify(tmp_path: Path) -> None:
    source = tmp_path / "registry.db"
    reg = Registry(f"sqlite:///{source}", clock=FixedClock())
    reg.init()
    _fill(reg, tmp_path)
    counts = _counts(reg.engine)
    assert counts["patients"] == 7 and counts["imports"] == 2 and counts["audit"] > 300
    # a reader holding the database open does not stop the online backup
    with reg.engine.connect() as busy:
        busy.execute(sa.text("SELECT count(*) FROM audit")).scalar_one()
        r = script("backup", source, tmp_path / "backup.db")
    assert r.returncode == 0, r.stderr
    restored = tmp_path / "restored.db"
    r = script("restore", tmp_path / "backup.db", restored)
    assert r.returncode == 0, r.stderr
    r = script("verify", source, restored)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"audit: {counts['audit']} / {counts['audit']}\n" in r.stdout and "the copies are equal" in r.stdout
    copy = create_engine(f"sqlite:///{restored}")
    assert _counts(copy) == counts
    assert dump_tables(copy) == dump_tables(reg.engine)  # every row of every table, the audit trail included
    # the restored registry works: the same history through the access layer
    assert Registry(copy).as_user("u1").history("C1-001") == reg.as_user("u1").history("C1-001")
    copy.dispose()
    # never over an existing database; a difference is found
    r = script("restore", tmp_path / "backup.db", restored)
    assert r.returncode == 2 and "exists" in r.stderr
    r = script("backup", source, tmp_path / "backup.db")
    assert r.returncode == 2 and "exists" in r.stderr
    reg.as_user("coord").update_value("outcomes", {"patient_id": "C1-001"}, "last_followup_date", "2021-02-28")
    r = script("verify", source, restored)
    assert r.returncode == 1 and "audit_sha256" in r.stdout and "DIFFER" in r.stdout
    r = script("backup", tmp_path / "missing.db", tmp_path / "b2.db")
    assert r.returncode == 2 and "no such database file" in r.stderr and not (tmp_path / "b2.db").exists()
    reg.engine.dispose()


def test_postgresql_backup_restore_verify(tmp_path: Path) -> None:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (see .ci/postgres.sh)")
    tag = uuid.uuid4().hex[:10]
    schema, role, db = f"t_{tag}", f"blin_app_{tag}", f"blin_restore_{tag}"
    admin = create_engine(url, poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        if not conn.execute(sa.text("SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user")).scalar_one():
            pytest.skip("the test role needs CREATEDB to restore into a fresh database (see .ci/postgres.sh)")
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    base = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    source_url = base.render_as_string(hide_password=False)
    target_url = base.set(database=db).render_as_string(hide_password=False)
    app_target = base.set(database=db, username=role, password="pw").render_as_string(hide_password=False)
    owner = create_engine(base, poolclass=sa.pool.NullPool)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"CREATE DATABASE {db}"))
    try:
        Registry(owner).init(app_role=role, app_password="pw")
        app = create_engine(base.set(username=role, password="pw"), poolclass=sa.pool.NullPool)
        _fill(Registry(app, clock=FixedClock()), tmp_path)
        app.dispose()
        counts = _counts(owner)
        assert counts["patients"] == 7 and counts["audit"] > 300
        r = script("backup", source_url, tmp_path / "registry.dump")
        assert r.returncode == 0, r.stderr
        assert ":***@" in r.stdout and f":{base.password}@" not in r.stdout  # the password is never shown
        r = script("restore", tmp_path / "registry.dump", target_url, "--app-role", role)
        assert r.returncode == 0, r.stderr
        r = script("verify", source_url, target_url)
        assert r.returncode == 0, r.stdout + r.stderr
        target = create_engine(sa.make_url(target_url), poolclass=sa.pool.NullPool)
        assert _counts(target) == counts
        assert dump_tables(target) == dump_tables(owner)
        target.dispose()
        # row-level security came back with the data: the application role sees u1's centre only
        restored_app = create_engine(app_target, poolclass=sa.pool.NullPool)
        reg = Registry(restored_app)
        assert reg.as_user("u1").patient_ids() == ["C1-001", "C1-002"]
        with restored_app.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM patients")).scalar_one() == 0  # no user set
        restored_app.dispose()
        r = script("restore", tmp_path / "registry.dump", target_url)
        assert r.returncode == 2 and "already holds a registry" in r.stderr
    finally:
        owner.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
