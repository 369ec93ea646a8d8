"""Command-line authentication: on a registry with credentials a user name is a claim, not a login."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import sqlite3
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from blincompass import cli_registry
from blincompass.cli import app
from blincompass.registry import Registry, create_engine
from blincompass.registry.tokens import AuthenticationError, create_token, credentials_exist, verify_token

from .conftest import PG_ENV

TOKEN = re.compile(r"blc_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def run(*args: object, env: dict[str, str] | None = None, input: str | None = None) -> object:
    return CliRunner().invoke(app, [str(a) for a in args], env=env, input=input, catch_exceptions=False)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """./blincompass.db with centres C1, C2, coordinator 'coord' and centre user 'u1' (C1); no credentials."""
    monkeypatch.chdir(tmp_path)
    for var in ("BLINCOMPASS_DB", "BLINCOMPASS_USER", "BLINCOMPASS_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    for args in (["db", "init"], ["db", "add-centre", "C1"], ["db", "add-centre", "C2"],
                 ["db", "add-user", "coord", "--coordinator"],
                 ["db", "add-user", "u1", "--centre", "C1", "--user", "coord"]):
        r = run(*args)
        assert r.exit_code == 0, r.output
    return tmp_path


@pytest.fixture
def other_os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process runs as an operating-system user who does not own the database file."""
    real = os.geteuid()
    monkeypatch.setattr(os, "geteuid", lambda: real + 1)


def _create(name: str, *extra: object, user: str = "coord", env: dict[str, str] | None = None) -> str:
    r = run("db", "token", "create", name, "--user", user, *extra, env=env)
    assert r.exit_code == 0, r.output
    token = r.stdout.strip()
    assert TOKEN.fullmatch(token), r.stdout
    assert "shown once" in r.stderr and token not in r.stderr
    return token


def test_without_credentials_a_name_is_accepted_as_before(workdir: Path, other_os_user: None) -> None:
    assert not credentials_exist(create_engine("sqlite:///blincompass.db"))
    r = run("db", "users", "--user", "coord")
    assert r.exit_code == 0 and "u1" in r.stdout


def test_with_a_token_in_the_registry_a_name_claim_is_refused(workdir: Path, other_os_user: None) -> None:
    coord_token = _create("coord")
    for args in (["db", "users"], ["db", "history", "C1-001"], ["db", "imports"], ["db", "delete-patient", "C1-001"],
                 ["db", "update", "outcomes", "C1-001", "--field", "death_date", "--value", "2020-01-01"],
                 ["db", "export", "--format", "csv", "--out", "out"], ["db", "add-centre", "C9"],
                 ["db", "import", "nothing.xlsx"]):
        r = run(*args, "--user", "coord")
        assert r.exit_code == 2, (args, r.output)
        assert r.stdout == ""
        assert "--user coord is a claim, not a login" in r.stderr and "BLINCOMPASS_TOKEN" in r.stderr
        assert "nothing was read or written" in r.stderr
    assert not Path("out").exists()
    # the token proves it: with or without --user
    for extra in (["--user", "coord"], []):
        r = run("db", "users", *extra, env={"BLINCOMPASS_TOKEN": coord_token})
        assert r.exit_code == 0 and "u1" in r.stdout, r.output
    r = run("db", "add-centre", "C9", env={"BLINCOMPASS_TOKEN": coord_token})
    assert r.exit_code == 0, r.output


def test_a_token_acts_only_as_its_own_user(workdir: Path, other_os_user: None) -> None:
    u1_token = _create("u1")
    r = run("db", "users", "--user", "coord", env={"BLINCOMPASS_TOKEN": u1_token})
    assert r.exit_code == 2 and "the API token is not user 'coord''s" in r.stderr
    r = run("db", "users", env={"BLINCOMPASS_TOKEN": u1_token})  # acts as u1: not a coordinator
    assert r.exit_code == 1 and r.stderr == "access denied: user 'u1' (centre C1): listing users needs a coordinator\n"
    # a centre user cannot make tokens, not even their own
    r = run("db", "token", "create", "u1", env={"BLINCOMPASS_TOKEN": u1_token})
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr == "access denied: user 'u1' (centre C1): only a coordinator manages logins and API tokens\n"


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),   # wrong secret
    lambda t: "blc_000000000000" + t[16:],                # unknown id
    lambda t: t[:20],                                     # truncated
    lambda t: "",                                         # empty: no token, then the claim is refused
])
def test_a_wrong_token_is_refused(workdir: Path, other_os_user: None, mangle) -> None:  # type: ignore[no-untyped-def]
    token = _create("coord")
    r = run("db", "users", "--user", "coord", env={"BLINCOMPASS_TOKEN": mangle(token)})
    assert r.exit_code == 2 and r.stdout == ""
    assert "not authenticated" in r.stderr


def test_revoked_and_expired_tokens_are_refused(workdir: Path, other_os_user: None) -> None:
    coord_token = _create("coord")
    env = {"BLINCOMPASS_TOKEN": coord_token}
    u1_token = _create("u1", "--expires-days", 30, "--label", "laptop", env=env)
    r = run("db", "token", "list", env=env)
    assert r.exit_code == 0 and "laptop" in r.stdout and u1_token.split("_", 2)[2] not in r.stdout  # secret may hold _
    assert run("db", "history", "C1-001", env={"BLINCOMPASS_TOKEN": u1_token}).exit_code == 0
    u1_id = u1_token.split("_")[1]
    r = run("db", "token", "revoke", u1_id, env=env)
    assert r.exit_code == 0 and r.stdout == f"API token {u1_id} revoked\n"
    r = run("db", "history", "C1-001", env={"BLINCOMPASS_TOKEN": u1_token})
    assert r.exit_code == 2 and "API token is not valid" in r.stderr
    assert run("db", "token", "revoke", u1_id, env=env).exit_code == 1
    # expired: made 31 days ago, valid for 30
    reg = Registry("sqlite:///blincompass.db", clock=lambda: dt.datetime.now(dt.UTC) - dt.timedelta(days=31))
    old = create_token(reg, "u1", by=reg.as_user("coord").user, expires_days=30)
    with pytest.raises(AuthenticationError, match="not valid"):
        verify_token(reg, old)
    fresh = create_token(Registry("sqlite:///blincompass.db"), "u1", by=reg.as_user("coord").user, expires_days=1)
    assert verify_token(reg, fresh).name == "u1"


def test_only_a_hash_of_the_secret_is_stored(workdir: Path) -> None:
    token = _create("u1")
    _, token_id, secret = token.split("_", 2)
    con = sqlite3.connect("blincompass.db")
    try:
        rows = con.execute("SELECT id, user_name, secret_sha256, created_by FROM api_tokens").fetchall()
        dump = "\n".join(con.iterdump())
    finally:
        con.close()
    assert rows == [(token_id, "u1", hashlib.sha256(secret.encode()).hexdigest(), "coord")]
    assert secret not in dump


def test_the_owner_of_the_sqlite_file_administers_it(workdir: Path) -> None:
    _create("coord")
    # this process owns ./blincompass.db: a claim is accepted, and tokens can be managed without a user
    r = run("db", "users", "--user", "coord")
    assert r.exit_code == 0, r.output
    r = run("db", "token", "create", "u1")
    assert r.exit_code == 0 and TOKEN.fullmatch(r.stdout.strip())
    r = run("db", "token", "list")
    assert r.exit_code == 0 and "owner of blincompass.db" in r.stdout


def test_token_management_needs_a_coordinator_or_the_owner(workdir: Path, other_os_user: None) -> None:
    r = run("db", "token", "list")
    assert r.exit_code == 2 and "needs a coordinator" in r.stderr


def test_a_terminal_prompts_for_the_token(workdir: Path, other_os_user: None, monkeypatch: pytest.MonkeyPatch) -> None:
    token = _create("coord")
    monkeypatch.setattr(cli_registry, "_interactive", lambda: True)
    r = run("db", "users", "--user", "coord", input=token + "\n")
    assert r.exit_code == 0 and "u1" in r.stdout, r.output
    assert token not in r.output  # hidden input
    r = run("db", "users", "--user", "coord", input="blc_nonsense\n")
    assert r.exit_code == 2 and "API token is not valid" in r.stderr


def test_a_stored_password_is_a_credential(workdir: Path, other_os_user: None) -> None:
    con = sqlite3.connect("blincompass.db")
    con.execute("CREATE TABLE web_logins (name TEXT, password_hash TEXT)")
    con.execute("INSERT INTO web_logins VALUES ('coord', NULL)")
    con.commit()
    assert run("db", "users", "--user", "coord").exit_code == 0  # no password set yet
    con.execute("UPDATE web_logins SET password_hash = '$argon2id$v=19$m=65536,t=3,p=4$x$y'")
    con.commit()
    con.close()
    r = run("db", "users", "--user", "coord")
    assert r.exit_code == 2 and "claim, not a login" in r.stderr


def test_report_from_the_registry_needs_the_token_too(workdir: Path, other_os_user: None) -> None:
    _create("coord")
    r = run("report", "--db", "sqlite:///blincompass.db", "--user", "coord", "--out", "rep", "--no-progress")
    assert r.exit_code == 2 and "claim, not a login" in r.stderr
    assert not Path("rep").exists() or not any(Path("rep").iterdir())


# -- PostgreSQL: personal logins and the owner role ----------------------------------------------------


def test_postgresql_personal_login_and_owner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (see .ci/postgres.sh)")
    tag = uuid.uuid4().hex[:10]
    schema, role, person = f"t_{tag}", f"blin_app_{tag}", f"anna_{tag}"
    admin = create_engine(url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    base = sa.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    owner_url = base.render_as_string(hide_password=False)
    app_url = base.set(username=role, password="pw").render_as_string(hide_password=False)
    anna_url = base.set(username=person, password="pw2").render_as_string(hide_password=False)
    monkeypatch.chdir(tmp_path)
    for var in ("BLINCOMPASS_DB", "BLINCOMPASS_USER", "BLINCOMPASS_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BLINCOMPASS_APP_PASSWORD", "pw")
    try:
        assert run("db", "init", "--db", owner_url, "--app-role", role).exit_code == 0
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE ROLE {person} LOGIN PASSWORD 'pw2' IN ROLE {role}"))
        for args in (["db", "add-centre", "C1"], ["db", "add-user", "coord", "--coordinator"],
                     ["db", "add-user", person, "--centre", "C1", "--user", "coord"]):
            assert run(*args, "--db", app_url).exit_code == 0
        # the owner role manages tokens without a user (the application commands refuse it)
        r = run("db", "token", "create", "coord", "--db", owner_url)
        assert r.exit_code == 0 and TOKEN.fullmatch(r.stdout.strip()), r.output
        coord_token = r.stdout.strip()
        assert run("db", "users", "--user", "coord", "--db", owner_url).exit_code == 2
        # the shared application login: a claim, refused; with the token, accepted
        r = run("db", "users", "--user", "coord", "--db", app_url)
        assert r.exit_code == 2 and "personal PostgreSQL login" in r.stderr
        r = run("db", "users", "--db", app_url, env={"BLINCOMPASS_TOKEN": coord_token})
        assert r.exit_code == 0 and person in r.stdout
        # a personal login acts as the registry user of its own name, and only as that one
        r = run("db", "history", "C1-001", "--user", person, "--db", anna_url)
        assert r.exit_code == 0, r.output
        r = run("db", "users", "--user", "coord", "--db", anna_url)
        assert r.exit_code == 2 and "claim, not a login" in r.stderr
        # a token created by the owner shows who made it
        r = run("db", "token", "list", "--db", app_url, env={"BLINCOMPASS_TOKEN": coord_token})
        assert r.exit_code == 0 and "owner role" in r.stdout
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{person}"'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
