"""One pooled connection per web request (``Registry.request_scope``): the same answers, the same row-level
security, one checkout.

Inside a request scope consecutive reads share one transaction and a write continues it; every block still
names its acting user, so the PostgreSQL policies see the user of each block -- also when one request acts
as two users, a block fails, or a block is nested in another.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from blincompass.registry import PatientNotFound, Registry, User
from blincompass.registry.access import ScopedRegistry

from .conftest import centre_folder
from .test_rls import Setup, pg  # noqa: F401 - the PostgreSQL fixture with the application role


def _checkouts(reg: Registry) -> list[int]:
    n = [0]
    sa.event.listen(reg.engine.pool, "checkout", lambda *a: n.__setitem__(0, n[0] + 1))
    return n


def _load(registry: Registry, tmp_path: Path) -> None:
    registry.as_user("u1").import_path(centre_folder(tmp_path / "c1", {"C1"}))
    registry.as_user("u2").import_path(centre_folder(tmp_path / "c2", {"C2"}))


def test_a_request_reads_with_one_connection_and_the_same_answers(registry: Registry, tmp_path: Path) -> None:
    _load(registry, tmp_path)
    u1, u2 = registry.as_user("u1"), registry.as_user("u2")
    outside = (u1.patient_ids(), u1.patient_version("C1-001"), u2.patient_centres(),
               u1.read_dataset(["C1-002"]).forms["courses"].to_dict("list"))
    n = _checkouts(registry)
    with registry.request_scope():
        inside = (u1.patient_ids(), u1.patient_version("C1-001"), u2.patient_centres(),
                  u1.read_dataset(["C1-002"]).forms["courses"].to_dict("list"))
        with pytest.raises(PatientNotFound):  # another centre's patient, as outside a request
            u1.patient_version("C2-003")
        assert u2.patient_ids() == [p for p, _ in outside[2]]
    assert inside == outside
    assert n[0] == 1
    assert outside[0] == ["C1-001", "C1-002"] and outside[1] > 0


def test_a_write_in_a_request_commits_and_a_failed_one_leaves_nothing(registry: Registry, tmp_path: Path) -> None:
    _load(registry, tmp_path)
    u1 = registry.as_user("u1")
    before = u1.patient_version("C1-001")
    with registry.request_scope():
        assert u1.patient_version("C1-001") == before  # a read first: the write continues its transaction
        assert u1.update_value("courses", {"patient_id": "C1-001", "course": 1}, "interruption_reason", "scope")
        with pytest.raises(RuntimeError), u1.begin() as conn:
            t = registry.tables["courses"]
            conn.execute(t.update().where(t.c.patient_id == "C1-001").values(interruption_reason="undone"))
            raise RuntimeError("fails after a statement")
        after = u1.patient_version("C1-001")
    assert after > before and u1.patient_version("C1-001") == after
    reasons = set(u1.read_dataset(["C1-001"]).forms["courses"]["interruption_reason"].dropna())
    assert "scope" in reasons and "undone" not in reasons


def test_a_nested_block_takes_its_own_connection(registry: Registry, tmp_path: Path) -> None:
    _load(registry, tmp_path)
    u1 = registry.as_user("u1")
    n = _checkouts(registry)
    with registry.request_scope(), u1.connect() as outer:
        t = registry.tables["patients"]
        ids = list(outer.execute(sa.select(t.c.patient_id).order_by(t.c.id)).scalars())
        assert u1.patient_ids() == ["C1-001", "C1-002"]  # inside the outer block: a connection of its own
    assert n[0] == 2
    assert ids[:2] == ["C1-001", "C1-002"]


def test_row_level_security_follows_each_blocks_user_in_one_request(pg: Setup) -> None:  # noqa: F811
    reg = pg.registry  # connected as the application role: the policies apply
    u1, coord = reg.as_user("u1"), reg.as_user("coord")
    # the access layer's filters off (a coordinator in its eyes), the database's on
    confused = ScopedRegistry(reg, User("u1", "coordinator", None))
    raw = "SELECT count(*) FROM patients"
    with reg.request_scope():
        assert coord.patient_ids() == [p for p, _ in coord.patient_centres()] and len(coord.patient_ids()) == 8
        assert confused.patient_ids() == ["C1-001", "C1-002"]  # the coordinator's setting did not stay
        with u1.connect() as conn:
            assert conn.execute(sa.text(raw)).scalar_one() == 2
        with coord.connect() as conn:
            assert conn.execute(sa.text(raw)).scalar_one() == 8
        with u1.connect() as conn:
            assert conn.execute(sa.text(raw)).scalar_one() == 2
        # a block without a user after a user's block: no patient data visible
        with reg.writing() as conn:
            assert conn.execute(sa.text(raw)).scalar_one() == 0
        with pytest.raises(sa.exc.DBAPIError), u1.connect() as conn:  # an error aborts the transaction ...
            conn.execute(sa.text("SELECT 1/0"))
        with reg.reading() as conn:  # ... which is rolled back, with its setting
            assert conn.execute(sa.text(raw)).scalar_one() == 0
        assert confused.read_dataset().patients["patient_id"].tolist() == ["C1-001", "C1-002"]
        with pytest.raises(PatientNotFound):
            u1.patient_version("C2-003")


def test_a_request_holds_one_connection_and_none_while_it_waits(registry: Registry, tmp_path: Path) -> None:
    from blincompass.registry import auth

    _load(registry, tmp_path)
    auth.set_password(registry, "u1", "a long enough password 1")
    held = [0, 0]  # now, most at once

    def out(*a):  # type: ignore[no-untyped-def]
        held[0] += 1
        held[1] = max(held)

    sa.event.listen(registry.engine.pool, "checkout", out)
    sa.event.listen(registry.engine.pool, "checkin", lambda *a: held.__setitem__(0, held[0] - 1))
    u1 = registry.as_user("u1")
    with registry.request_scope():
        assert u1.patient_ids() == ["C1-001", "C1-002"]
        assert held[0] == 1
        registry.release_connection()  # e.g. before hashing a password
        assert held[0] == 0
        assert u1.patient_ids() == ["C1-001", "C1-002"]  # a new connection
        token, session = auth.create_session(registry, "u1")
        assert auth.load_session_user(registry, token)[1] == u1.user
        assert auth.authenticate(registry, "u1", "a long enough password 1") == u1.user
        assert auth.authenticate(registry, "u1", "wrong password 123") is None
    assert held == [0, 1]
