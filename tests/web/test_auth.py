"""Logins, sessions and data queries at the library level (SQLite and PostgreSQL), and the web CLI."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from blincompass.io import example_dir
from blincompass.registry import AccessDenied, ImportRejected, PatientNotFound, Registry, auth, create_engine
from blincompass.registry import queries as rq

PW = "a long enough passphrase"
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def reg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Registry]:
    if request.param == "sqlite":
        r = Registry(f"sqlite:///{tmp_path / 'r.db'}")
        drop = None
    else:
        url = os.environ.get("BLINCOMPASS_TEST_PG")
        if not url:
            pytest.skip("PostgreSQL tests need BLINCOMPASS_TEST_PG")
        schema = f"a_{uuid.uuid4().hex[:12]}"
        admin = create_engine(url, poolclass=sa.pool.NullPool)
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        r = Registry(create_engine(url, connect_args={"options": f"-csearch_path={schema}"},
                                   poolclass=sa.pool.NullPool))

        def drop() -> None:
            with admin.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
    r.init()
    for c in ("C1", "C2", "C3"):
        r.add_centre(c)
    r.add_user("coord", "coordinator")
    r.add_user("mon", "monitor", by="coord")
    r.add_user("u1", "centre", "C1", by="coord")
    r.add_user("u3", "centre", "C2", by="coord")
    yield r
    r.engine.dispose()
    if drop is not None:
        drop()


def test_password_hash_is_argon2id_and_verifies(reg: Registry) -> None:
    auth.set_password(reg, "u1", PW)
    with reg.engine.connect() as conn:
        digest = conn.execute(sa.text("SELECT password_hash FROM web_credentials WHERE user_name = 'u1'")).scalar_one()
    assert digest.startswith("$argon2id$") and PW not in digest
    assert auth.authenticate(reg, "u1", PW).centre == "C1"
    assert auth.authenticate(reg, "u1", PW + "x") is None
    assert auth.authenticate(reg, "nobody", PW) is None
    with pytest.raises(auth.AuthError, match="at least 12"):
        auth.set_password(reg, "u1", "short")
    with pytest.raises(LookupError):
        auth.set_password(reg, "nobody", PW)


def test_lock_out_and_back_off(reg: Registry) -> None:
    auth.set_password(reg, "u1", PW)
    for i in range(auth.MAX_FAILURES):
        assert auth.authenticate(reg, "u1", "wrong", now=T0 + dt.timedelta(seconds=i)) is None
    # locked: the right password fails until the lock ends
    assert auth.authenticate(reg, "u1", PW, now=T0 + dt.timedelta(seconds=10)) is None
    later = T0 + dt.timedelta(seconds=10 + 2 * auth.LOCK_SECONDS + 1)  # the second failure doubled the lock
    assert auth.authenticate(reg, "u1", PW, now=later) is not None
    assert auth.authenticate(reg, "u1", "wrong", now=later) is None  # counter reset by the success
    assert auth.authenticate(reg, "u1", PW, now=later) is not None


def test_session_idle_and_absolute_expiry_logout_and_rotation(reg: Registry) -> None:
    token, s = auth.create_session(reg, None, now=T0)
    assert auth.load_session(reg, token, now=T0 + dt.timedelta(seconds=5)).user_name is None
    new_token, s2 = auth.rotate_session(reg, s, "u1", now=T0)
    assert new_token != token and s2.csrf_token != s.csrf_token
    assert auth.load_session(reg, token, now=T0) is None  # the pre-login id is gone
    # idle expiry
    step = dt.timedelta(seconds=auth.IDLE_SECONDS - 60)
    now = T0
    for _ in range(3):
        now += step
        assert auth.load_session(reg, new_token, now=now) is not None
    assert auth.load_session(reg, new_token, now=now + dt.timedelta(seconds=auth.IDLE_SECONDS + 1)) is None
    # absolute expiry, even when used all the time
    t3, _ = auth.create_session(reg, "u1", now=T0)
    now = T0
    while now < T0 + dt.timedelta(seconds=auth.ABSOLUTE_SECONDS - 600):
        now += dt.timedelta(seconds=600)
        assert auth.load_session(reg, t3, now=now) is not None
    assert auth.load_session(reg, t3, now=T0 + dt.timedelta(seconds=auth.ABSOLUTE_SECONDS + 1)) is None
    # logout
    t4, s4 = auth.create_session(reg, "u1")
    auth.end_session(reg, s4)
    assert auth.load_session(reg, t4) is None
    # a password change ends every session of the user
    t5, _ = auth.create_session(reg, "u1")
    auth.set_password(reg, "u1", PW)
    assert auth.load_session(reg, t5) is None


def test_totp_second_factor(reg: Registry) -> None:
    auth.set_password(reg, "u1", PW)
    secret = auth.new_totp_secret()
    with pytest.raises(auth.AuthError):
        auth.enable_totp(reg, "u1", secret, "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    totp = pyotp.TOTP(secret)
    t0 = dt.datetime.now(dt.UTC)
    auth.enable_totp(reg, "u1", secret, totp.at(t0), now=t0)
    assert auth.totp_enabled(reg, "u1")
    assert auth.authenticate(reg, "u1", PW, now=t0) is None  # the code is required
    assert auth.authenticate(reg, "u1", PW, "123", now=t0) is None
    # the code that enabled it is used up, even within its window
    assert auth.authenticate(reg, "u1", PW, totp.at(t0), now=t0) is None
    t1 = t0 + dt.timedelta(seconds=30)
    assert auth.authenticate(reg, "u1", PW, totp.at(t1), now=t1) is not None
    # a code is good for one login: replayed in its window, or an older code still in the window, fails
    assert auth.authenticate(reg, "u1", PW, totp.at(t1), now=t1 + dt.timedelta(seconds=5)) is None
    assert auth.authenticate(reg, "u1", PW, totp.at(t0), now=t1) is None
    # a code of the next step (clock drift of one step) is accepted once
    t2 = t1 + dt.timedelta(seconds=30)
    assert auth.authenticate(reg, "u1", PW, totp.at(t2), now=t1) is not None
    assert auth.authenticate(reg, "u1", PW, totp.at(t2), now=t2) is None
    assert auth.authenticate(reg, "u1", PW, totp.at(t2 + dt.timedelta(seconds=30)), now=t2) is not None
    assert auth.totp_uri("u1", secret).startswith("otpauth://totp/")
    auth.disable_totp(reg, "u1")
    assert auth.authenticate(reg, "u1", PW) is not None


def test_query_workflow_and_scope(reg: Registry) -> None:
    reg.as_user("coord").import_path(example_dir())
    mon, u1, u3 = reg.as_user("mon"), reg.as_user("u1"), reg.as_user("u3")
    with pytest.raises(AccessDenied):
        rq.open_query(u1, "C1-001", "outcomes", {}, "last_followup_date", "check")
    with pytest.raises(PatientNotFound):
        rq.open_query(mon, "C9-999", "outcomes", {}, "last_followup_date", "check")
    with pytest.raises(LookupError):
        rq.open_query(mon, "C1-001", "courses", {"course": "9"}, "end_date", "check")
    with pytest.raises(ValueError, match="comment"):
        rq.open_query(mon, "C1-001", "courses", {"course": "1"}, "end_date", "  ")
    q = rq.open_query(mon, "C1-001", "courses", {"course": "1"}, "end_date", "End date?")
    assert (q.status, q.centre, q.record_key) == ("open", "C1", "patient_id=C1-001, course=1")
    assert [x.id for x in rq.list_queries(u1)] == [q.id] and rq.list_queries(u3) == []
    with pytest.raises(rq.QueryNotFound):
        rq.get_query(u3, q.id)
    with pytest.raises(AccessDenied):
        rq.answer_query(mon, q.id, "monitor cannot answer")
    with pytest.raises(ImportRejected):  # the correction is validated: nothing written
        rq.answer_query(u1, q.id, "fixed", "2010-01-01")
    assert [m.kind for m in rq.get_query(u1, q.id).messages] == ["open"]
    q = rq.answer_query(u1, q.id, "fixed", "2017-03-04")
    last = u1.history("C1-001")[-1]
    assert (last.field, last.old_value, last.new_value) == ("end_date", "2017-03-05", "2017-03-04")
    assert q.status == "answered" and q.messages[-1].audit_id == last.id and q.messages[-1].kind == "correction"
    q = rq.reopen_query(mon, q.id, "and the start date?")
    assert q.status == "open"
    q = rq.answer_query(u1, q.id, "start date is right")
    assert q.messages[-1].kind == "answer" and q.messages[-1].audit_id is None
    q = rq.close_query(mon, q.id, "ok")
    assert q.status == "closed"
    with pytest.raises(ValueError, match="closed"):
        rq.answer_query(u1, q.id, "late")
    assert rq.query_counts(reg.as_user("coord")) == {"C1": {"open": 0, "answered": 0, "closed": 1}}
    # the thread is append-only in the database
    with pytest.raises(sa.exc.DatabaseError), reg.engine.begin() as conn:
        conn.execute(sa.text("UPDATE query_messages SET text = 'x'"))
    with pytest.raises(sa.exc.DatabaseError), reg.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM query_messages"))


def test_monitor_reads_all_and_cannot_write(reg: Registry) -> None:
    reg.as_user("coord").import_path(example_dir())
    mon = reg.as_user("mon")
    assert len(mon.patient_ids()) == len(reg.as_user("coord").patient_ids())
    assert mon.history("C2-003")
    with pytest.raises(AccessDenied):
        mon.update_value("outcomes", {"patient_id": "C1-001"}, "last_followup_date", "2021-01-31")
    with pytest.raises(AccessDenied):
        mon.delete_patient("C1-001")
    with pytest.raises(AccessDenied):
        mon.import_path(example_dir())
    with pytest.raises(AccessDenied):
        mon.users()


def test_web_user_cli_and_serve_refuses_unmigrated_database(tmp_path: Path) -> None:
    from blincompass.cli import app

    db = tmp_path / "r.db"
    r = Registry(f"sqlite:///{db}")
    r.init()
    r.add_centre("C1")
    r.add_user("coord", "coordinator")
    r.engine.dispose()
    run = CliRunner()
    res = run.invoke(app, ["web-user", "anna", "--role", "centre", "--centre", "C1", "--db", str(db),
                           "--user", "coord", "--password-stdin"], input=PW + "\n")
    assert res.exit_code == 0, res.output
    res = run.invoke(app, ["web-user", "anna", "--db", str(db), "--password-stdin"], input="short\n")
    assert res.exit_code == 1 and "at least 12" in res.output
    res = run.invoke(app, ["web-user", "nobody", "--db", str(db), "--password-stdin"], input=PW + "\n")
    assert res.exit_code == 1 and "not registered" in res.output
    assert auth.authenticate(Registry(f"sqlite:///{db}"), "anna", PW).centre == "C1"
    empty = tmp_path / "empty.db"
    res = run.invoke(app, ["serve", "--db", str(empty)])
    assert res.exit_code == 2 and "db init" in res.output
