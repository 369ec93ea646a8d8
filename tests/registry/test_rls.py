"""PostgreSQL Row-Level Security: the database itself keeps each centre to its own rows.

Every test here bypasses the access layer's own filters -- raw SQL through the application's role, or an
access layer given a wrong idea of the user -- and checks what the policies of migration 0004_rls allow.
PostgreSQL only (``BLINCOMPASS_TEST_PG``, see conftest).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from blincompass.registry import Registry, User, create_engine
from blincompass.registry.access import ScopedRegistry
from blincompass.registry.db import app_role_problem, set_acting_user

from .conftest import PG_ENV, FixedClock, centre_folder

FORMS = ("patients", "courses", "assessments", "adverse_events", "outcomes")
PROTECTED = (*FORMS, "audit", "imports")


@dataclass
class Setup:
    owner: sa.Engine
    app: sa.Engine
    registry: Registry  # connected as the application role
    role: str


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Setup]:
    """A fresh schema migrated by its owner, an application role, centres C1-C3, users coord / u1 (C1) /
    u2 (C2), and the example data imported by each centre's user (C3's by the coordinator)."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (see .ci/postgres.sh)")
    tag = uuid.uuid4().hex[:10]
    schema, role = f"t_{tag}", f"blin_app_{tag}"
    admin = create_engine(url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    base = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    owner = create_engine(base, poolclass=sa.pool.NullPool)
    app = create_engine(base.set(username=role, password=f"pw-{tag}"), poolclass=sa.pool.NullPool)
    try:
        Registry(owner).init(app_role=role, app_password=f"pw-{tag}")
        reg = Registry(app, clock=FixedClock())
        for code in ("C1", "C2", "C3"):
            reg.add_centre(code)
        reg.add_user("coord", "coordinator")
        reg.add_user("u1", "centre", "C1", by="coord")
        reg.add_user("u2", "centre", "C2", by="coord")
        reg.as_user("u1").import_path(centre_folder(tmp_path / "c1", {"C1"}))
        reg.as_user("u2").import_path(centre_folder(tmp_path / "c2", {"C2"}))
        reg.as_user("coord").import_path(centre_folder(tmp_path / "c3", {"C3"}), centre="C3")
        yield Setup(owner, app, reg, role)
    finally:
        app.dispose()
        owner.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def _counts(engine: sa.Engine, user: str | None) -> dict[str, int]:
    """Rows of every protected table visible to ``user`` (raw SQL; ``None``: no user set)."""
    with engine.connect() as conn:
        if user is not None:
            set_acting_user(conn, user)
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in PROTECTED}


def _owner_counts(pg: Setup, centres: set[str] | None) -> dict[str, int]:
    """The same counts as the owner sees them (not subject to the policies), restricted to ``centres``."""
    where = "" if centres is None else " WHERE centre IN ({})".format(", ".join(f"'{c}'" for c in sorted(centres)))
    out = {}
    with pg.owner.connect() as conn:
        pids = f"SELECT patient_id FROM patients{where}"
        for t in FORMS:
            out[t] = conn.execute(sa.text(f"SELECT count(*) FROM {t} WHERE patient_id IN ({pids})")).scalar_one()
        out["audit"] = conn.execute(sa.text(f"SELECT count(*) FROM audit{where}")).scalar_one()
        users = "SELECT name FROM users" + ("" if centres is None else where)
        out["imports"] = conn.execute(sa.text(
            f"SELECT count(*) FROM imports WHERE user_name IN ({users})")).scalar_one()
    return out


def test_each_role_sees_exactly_its_rows_with_raw_sql(pg: Setup) -> None:
    u1 = _counts(pg.app, "u1")
    assert u1 == _owner_counts(pg, {"C1"})
    assert u1["patients"] == 2 and u1["courses"] > 0 and u1["audit"] > 0 and u1["imports"] == 1
    assert _counts(pg.app, "u2") == _owner_counts(pg, {"C2"})
    assert _counts(pg.app, "u2")["patients"] == 3
    everything = _owner_counts(pg, None)
    assert _counts(pg.app, "coord") == everything and everything["patients"] == 8 and everything["imports"] == 3
    with pg.app.connect() as conn:
        set_acting_user(conn, "u1")
        ids = conn.execute(sa.text("SELECT DISTINCT patient_id FROM assessments ORDER BY 1")).scalars().all()
        assert ids == ["C1-001", "C1-002"]
        # asking for another centre's patient by its id gives nothing at all
        assert conn.execute(sa.text("SELECT * FROM patients WHERE patient_id = 'C2-003'")).all() == []
        assert conn.execute(sa.text("SELECT * FROM audit WHERE patient_id = 'C2-003'")).all() == []


def test_no_user_or_an_unknown_user_sees_nothing_and_writes_nothing(pg: Setup) -> None:
    zero = dict.fromkeys(PROTECTED, 0)
    assert _counts(pg.app, None) == zero
    assert _counts(pg.app, "") == zero
    assert _counts(pg.app, "mallory") == zero
    with pg.app.connect() as conn:
        assert conn.execute(sa.text("UPDATE outcomes SET last_followup_date = '2021-01-31'")).rowcount == 0
        assert conn.execute(sa.text("DELETE FROM courses")).rowcount == 0
        with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
            conn.execute(sa.text(
                "INSERT INTO audit (at, user_name, centre, action, form, patient_id, record_key) "
                "VALUES (now(), 'coord', 'C1', 'insert', 'patients', 'C1-001', 'k')"))


def test_the_user_setting_ends_with_the_transaction(pg: Setup) -> None:
    with pg.app.connect() as conn:
        with conn.begin():
            set_acting_user(conn, "coord")
            assert conn.execute(sa.text("SELECT count(*) FROM patients")).scalar_one() == 8
        # the same (pooled) connection, next transaction: no user, nothing visible
        assert conn.execute(sa.text("SELECT count(*) FROM patients")).scalar_one() == 0


def _patients_dump(pg: Setup) -> list[tuple[object, ...]]:
    with pg.owner.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("SELECT * FROM patients ORDER BY id"))] + [
            tuple(r) for r in conn.execute(sa.text("SELECT * FROM courses ORDER BY id"))]


@pytest.mark.parametrize("statement", [
    "INSERT INTO patients (patient_id, patient_key, centre, sex, birth_date, diagnosis_date, leukaemia_type, "
    "immunophenotype, cd19_status, karyotype, molecular, risk_group, disease_status, prior_hsct, prior_cart, "
    "debulking, access, in_trial) SELECT 'C2-900', 'c2-900', 'C2', sex, birth_date, diagnosis_date, "
    "leukaemia_type, immunophenotype, cd19_status, karyotype, molecular, risk_group, disease_status, prior_hsct, "
    "prior_cart, debulking, access, in_trial FROM patients WHERE patient_id = 'C1-001'",
    "UPDATE patients SET centre = 'C2' WHERE patient_id = 'C1-001'",
    "INSERT INTO courses (patient_id, course, start_date) VALUES ('C2-003', 9, '2020-01-01')",
    "INSERT INTO audit (at, user_name, centre, action, form, patient_id, record_key) "
    "VALUES (now(), 'u1', 'C2', 'insert', 'patients', 'C2-003', 'k')",
    "INSERT INTO audit (at, user_name, centre, action, form, patient_id, record_key) "
    "VALUES (now(), 'coord', 'C1', 'insert', 'patients', 'C1-001', 'k')",
    "INSERT INTO imports (at, user_name, file_name, sha256, format, n_patients, n_rows, n_inserted, n_updated, "
    "n_deleted, n_values) VALUES (now(), 'u2', 'x', 'x', 'template', 0, 0, 0, 0, 0, 0)",
])
def test_a_centre_user_cannot_write_another_centres_rows(pg: Setup, statement: str) -> None:
    before = _patients_dump(pg)
    with pytest.raises(sa.exc.ProgrammingError, match="violates row-level security policy"), \
            pg.app.begin() as conn:
        set_acting_user(conn, "u1")
        conn.execute(sa.text(statement))
    assert _patients_dump(pg) == before


def test_updates_and_deletes_of_another_centres_rows_touch_nothing(pg: Setup) -> None:
    before = _patients_dump(pg)
    with pg.app.begin() as conn:
        set_acting_user(conn, "u1")
        assert conn.execute(sa.text("UPDATE patients SET sex = 'F' WHERE centre = 'C2'")).rowcount == 0
        assert conn.execute(sa.text("UPDATE outcomes SET last_followup_date = '2021-01-31' "
                                    "WHERE patient_id = 'C2-003'")).rowcount == 0
        assert conn.execute(sa.text("DELETE FROM adverse_events WHERE patient_id LIKE 'C2-%'")).rowcount == 0
        assert conn.execute(sa.text("DELETE FROM courses WHERE patient_id NOT LIKE 'C1-%'")).rowcount == 0
        # its own rows: allowed (and rolled back below)
        assert conn.execute(sa.text("UPDATE patients SET in_trial = in_trial")).rowcount == 2
    assert _patients_dump(pg) == before


def test_a_monitor_reads_every_centre_and_changes_nothing(pg: Setup) -> None:
    # the monitor role (web registry) -- allowed here by relaxing the role list as the owner
    with pg.owner.begin() as conn:
        conn.execute(sa.text("ALTER TABLE users DROP CONSTRAINT ck_users_role"))
        conn.execute(sa.text("ALTER TABLE users DROP CONSTRAINT ck_users_centre_user_has_centre"))
        conn.execute(sa.text("INSERT INTO users (name, role) VALUES ('mon', 'monitor')"))
    assert _counts(pg.app, "mon") == _owner_counts(pg, None)
    before = _patients_dump(pg)
    with pg.app.begin() as conn:
        set_acting_user(conn, "mon")
        assert conn.execute(sa.text("UPDATE patients SET sex = 'F'")).rowcount == 0
        assert conn.execute(sa.text("DELETE FROM courses")).rowcount == 0
        # the trail takes the monitor's own entries (data queries), in their own name only
        conn.execute(sa.text("INSERT INTO audit (at, user_name, centre, action, form, patient_id, record_key) "
                             "VALUES (now(), 'mon', 'C2', 'update', 'patients', 'C2-003', 'query')"))
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"), pg.app.begin() as conn:
        set_acting_user(conn, "mon")
        conn.execute(sa.text("INSERT INTO courses (patient_id, course, start_date) VALUES ('C2-003', 9, "
                             "'2020-01-01')"))
    assert _patients_dump(pg) == before


def test_an_access_layer_bug_still_returns_only_the_users_centre(pg: Setup) -> None:
    # a bug that takes u1 for a coordinator: the access layer's own filters are off, the database's are not
    confused = ScopedRegistry(pg.registry, User("u1", "coordinator", None))
    assert confused.patient_ids() == ["C1-001", "C1-002"]
    data = confused.read_dataset()
    assert sorted(data.patients["patient_id"]) == ["C1-001", "C1-002"]
    assert set(data.forms["courses"]["patient_id"]) == {"C1-001", "C1-002"}
    assert confused.history("C2-003") == []
    assert len(confused.imports()) == 1


def test_a_conflicting_id_of_an_invisible_patient_is_a_finding(pg: Setup, tmp_path: Path) -> None:
    from blincompass.registry import ImportRejected

    folder = centre_folder(tmp_path / "c1", {"C1"})
    for f in folder.glob("*.csv"):  # C1-002 becomes 'c2-003': C2's patient C2-003 after case folding
        f.write_text(f.read_text(encoding="utf-8").replace("C1-002", "c2-003"), encoding="utf-8")
    with pytest.raises(ImportRejected) as exc:
        pg.registry.as_user("u1").import_path(folder)
    conflicts = [f for f in exc.value.findings if f.rule == "patient.conflict"]
    assert [f.message for f in conflicts] == [
        "patient id c2-003 conflicts with an existing record; choose another identifier"]


def test_every_patient_data_table_has_row_level_security(pg: Setup) -> None:
    with pg.owner.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
            "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r' ORDER BY 1")).all()
        # a table holding patients' data has a patient_id or a centre column
        columns = conn.execute(sa.text(
            "SELECT DISTINCT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND column_name IN ('patient_id', 'centre') AND table_name <> 'users'")).scalars().all()
    secured = {name for name, rls, _ in rows if rls}
    assert set(PROTECTED) <= set(columns) <= secured
    assert not any(force for _, _, force in rows)  # the owner (migrations, pg_dump) is not restricted


def test_the_application_never_runs_as_the_owner(pg: Setup) -> None:
    assert app_role_problem(pg.app) is None
    problem = app_role_problem(pg.owner)
    assert problem is not None and "owns the table" in problem
    with pg.owner.connect() as conn, pg.app.connect() as app_conn:
        owner_name = conn.execute(sa.text("SELECT current_user")).scalar_one()
        assert app_conn.execute(sa.text("SELECT current_user")).scalar_one() == pg.role != owner_name
        attrs = app_conn.execute(sa.text(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
        assert tuple(attrs) == (False, False)
        # the owner sees every row without a user (pg_dump as the owner takes everything)
        assert conn.execute(sa.text("SELECT count(*) FROM patients")).scalar_one() == 8


_Q = ("INSERT INTO queries (patient_id, centre, form, record_key, field, status, opened_by, opened_at, "
      "updated_at) VALUES ")
_M = "INSERT INTO query_messages (query_id, at, user_name, kind, text) VALUES "


def test_the_web_registrys_data_queries_are_protected_when_present(tmp_path: Path) -> None:
    """Migration 0004_rls protects the web registry's ``queries`` and ``query_messages`` (made by 0003_web)."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (see .ci/postgres.sh)")
    from blincompass.registry.db import upgrade

    tag = uuid.uuid4().hex[:10]
    schema, role = f"t_{tag}", f"blin_app_{tag}"
    admin = create_engine(url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    base = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    owner = create_engine(base, poolclass=sa.pool.NullPool)
    app = create_engine(base.set(username=role, password="pw"), poolclass=sa.pool.NullPool)
    try:
        upgrade(owner, "0003_web")
        with owner.begin() as conn:
            conn.execute(sa.text("INSERT INTO centres VALUES ('C1', 'C1'), ('C2', 'C2')"))
            conn.execute(sa.text("INSERT INTO users VALUES ('coord', 'coordinator', NULL), ('u1', 'centre', 'C1'), "
                                 "('u2', 'centre', 'C2')"))
            conn.execute(sa.text(_Q + "('C1-001', 'C1', 'patients', 'C1-001', 'sex', 'open', 'coord', now(), now()), "
                                 "('C2-003', 'C2', 'patients', 'C2-003', 'sex', 'open', 'coord', now(), now())"))
            conn.execute(sa.text(_M + "(1, now(), 'coord', 'open', 'a'), (2, now(), 'coord', 'open', 'b')"))
        upgrade(owner, app_role=role, app_password="pw")
        for user, expected in (("u1", [1]), ("u2", [2]), ("coord", [1, 2]), (None, [])):
            with app.connect() as conn:
                set_acting_user(conn, user)
                assert conn.execute(sa.text("SELECT id FROM queries ORDER BY id")).scalars().all() == expected
                assert conn.execute(sa.text(
                    "SELECT query_id FROM query_messages ORDER BY id")).scalars().all() == expected
        with app.begin() as conn:  # u1 answers their own centre's query, in their own name
            set_acting_user(conn, "u1")
            conn.execute(sa.text(_M + "(1, now(), 'u1', 'answer', 'ok')"))
            assert conn.execute(sa.text("UPDATE queries SET field = 'x' WHERE id = 2")).rowcount == 0
        for statement in (_M + "(2, now(), 'u1', 'answer', 'x')",
                          _M + "(1, now(), 'coord', 'answer', 'x')",
                          _Q + "('C2-003', 'C2', 'patients', 'C2-003', 'sex', 'open', 'u1', now(), now())"):
            with pytest.raises(sa.exc.ProgrammingError, match="row-level security"), app.begin() as conn:
                set_acting_user(conn, "u1")
                conn.execute(sa.text(statement))
    finally:
        app.dispose()
        owner.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
