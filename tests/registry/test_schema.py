"""Schema: generated from the data dictionary, created by the Alembic migration, constraints enforced."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from blincompass.dictionary import load_dictionary
from blincompass.registry import Registry, build_metadata
from blincompass.registry.db import current_revision, downgrade, head_revision, resolve_url, upgrade
from blincompass.registry.schema import META_TABLES


def test_migrated_schema_equals_metadata(engine: sa.Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), build_metadata())
    assert diff == []


def test_one_table_per_form_with_typed_columns() -> None:
    md = build_metadata()
    d = load_dictionary()
    assert set(d.form_names) | set(META_TABLES) == set(md.tables)
    p = md.tables["patients"]
    assert isinstance(p.c.birth_date.type, sa.Date)
    assert isinstance(p.c.prior_hsct.type, sa.Integer)
    assert isinstance(p.c.prior_cart.type, sa.Boolean)
    assert {fk.target_fullname for fk in p.c.centre.foreign_keys} == {"centres.code"}
    a = md.tables["assessments"]
    assert isinstance(a.c.pcr_mrd.type, sa.Float) and "pcr_mrd_status" in a.c
    ae = md.tables["adverse_events"]
    uniques = [tuple(c.name for c in u.columns) for u in ae.constraints if isinstance(u, sa.UniqueConstraint)]
    assert uniques == [("patient_id", "course", "ae_term")]
    targets = sorted(tuple(e.target_fullname for e in fk.elements) for fk in ae.foreign_key_constraints)
    assert targets == [("courses.patient_id", "courses.course"), ("patients.patient_id",)]


def test_downgrade_and_upgrade_again(engine: sa.Engine) -> None:
    upgrade(engine)
    downgrade(engine)
    assert current_revision(engine) is None
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert "audit" in sa.inspect(engine).get_table_names()


def test_check_constraint_refuses_unknown_code(registry: Registry) -> None:
    t = registry.tables["patients"]
    with pytest.raises(sa.exc.IntegrityError), registry.engine.begin() as conn:
        conn.execute(t.insert().values(patient_id="X1", centre="C1", sex="X", birth_date=None))


def test_foreign_key_refuses_unknown_centre(registry: Registry) -> None:
    t = registry.tables["patients"]
    with pytest.raises(sa.exc.IntegrityError), registry.engine.begin() as conn:
        conn.execute(t.insert().values(patient_id="X1", centre="C9", sex="M"))


@pytest.mark.parametrize("statement", [
    "UPDATE audit SET new_value = 'x'", "DELETE FROM audit", "UPDATE imports SET file_name = 'x'",
    "DELETE FROM imports",
    "INSERT INTO audit (id, at, user_name, action, form, patient_id, record_key) VALUES "
    "(1, '2020-01-01 00:00:00', 'x', 'insert', 'patients', 'P', 'k') ON CONFLICT (id) DO UPDATE SET user_name = 'x'",
])
def test_audit_and_imports_are_append_only_in_the_database(registry: Registry, statement: str) -> None:
    from blincompass.io import example_dir

    registry.as_user("coord").import_path(example_dir())
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), registry.engine.begin() as conn:
        conn.execute(sa.text(statement))
    with registry.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM audit")).scalar_one() > 0
        assert conn.execute(sa.text("SELECT user_name FROM audit WHERE id = 1")).scalar_one() == "coord"


def test_resolve_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLINCOMPASS_DB", raising=False)
    assert resolve_url() == "sqlite:///blincompass.db"
    assert resolve_url("x/reg.db") == "sqlite:///x/reg.db"
    monkeypatch.setenv("BLINCOMPASS_DB", "postgresql+psycopg://u@h/db")
    assert resolve_url() == "postgresql+psycopg://u@h/db"
    assert resolve_url("sqlite:///a.db") == "sqlite:///a.db"


def _insert_patients_at_0001(engine: sa.Engine, pids: list[str]) -> None:
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO centres (code, name) VALUES ('C1', 'C1')"))
        for pid in pids:
            conn.execute(sa.text(
                "INSERT INTO patients (patient_id, centre, sex, birth_date, diagnosis_date, leukaemia_type, "
                "immunophenotype, cd19_status, karyotype, molecular, risk_group, disease_status, prior_hsct, "
                "prior_cart, debulking, access, in_trial) VALUES (:pid, 'C1', 'F', '2010-01-01', '2015-01-01', "
                "'bcp_all', 'common', 'positive', 'normal', 'none', 'high', 'first_relapse', 0, false, false, "
                "'off_label', false)"), {"pid": pid})


def test_migration_0002_fills_the_normalised_key(engine: sa.Engine) -> None:
    _insert_patients_at_0001(engine, ["SYN-025", "Ｓｙｎ-026", "a.B_c"])
    upgrade(engine, "0002")
    assert current_revision(engine) == "0002"
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT patient_id, patient_key FROM patients ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("SYN-025", "syn-025"), ("Ｓｙｎ-026", "syn-026"), ("a.B_c", "a.b_c")]
    downgrade(engine, "0001")
    assert "patient_key" not in {c["name"] for c in sa.inspect(engine).get_columns("patients")}


def test_migration_0002_refuses_colliding_ids_and_changes_nothing(engine: sa.Engine) -> None:
    _insert_patients_at_0001(engine, ["SYN-025", "X-1", "syn-025", "ｘ-1"])
    with pytest.raises(RuntimeError) as exc:
        upgrade(engine)
    assert str(exc.value) == (
        "patient identifiers that differ only in case or Unicode compatibility form: SYN-025 / syn-025; "
        "X-1 / ｘ-1. Rename or delete one of each pair, then migrate again.")
    assert current_revision(engine) == "0001"
    assert "patient_key" not in {c["name"] for c in sa.inspect(engine).get_columns("patients")}
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE patients SET patient_id = 'SYN-026' WHERE patient_id = 'syn-025'"))
        conn.execute(sa.text("DELETE FROM patients WHERE patient_id = 'ｘ-1'"))
    upgrade(engine, "0002")
    assert current_revision(engine) == "0002"


def test_patient_key_folds_case_and_compatibility_forms() -> None:
    from blincompass.registry.schema import patient_key

    assert {patient_key(v) for v in ("SYN-025", "syn-025", "Syn-025", "ＳＹＮ－０２５", "ｓｙｎ-025")} == {"syn-025"}
    assert patient_key("STRASSE-1") == patient_key("straße-1") == "strasse-1"
    assert patient_key("ﬁ-1") == "fi-1"  # the ligature is a compatibility form
    assert patient_key("SYN-025") != patient_key("SYN-0250")
