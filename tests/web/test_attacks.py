"""Attacks on the web registry; each must fail with nothing written (asserted on the database).

IDOR (another centre's patient by URL or form), CSRF (no token, another session's token, a foreign
Origin), SQL metacharacters in every kind of input, session fixation, brute force (lock-out), a logged-out
session reused, and a monitor trying to write. Most run at the HTTP level (the requests a browser would
send, with the cookies it holds); session fixation and the logged-out session also run in the browser."""

from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa

from blincompass.registry import auth as regauth
from blincompass.registry import queries as rq
from blincompass.web.forms import patient_records
from tests.web.conftest import PASSWORD, Client, Site, login

COURSE_EDIT = {"key.course": "1", "start_date": "2017-02-06", "end_date": "2017-03-05", "schedule": "ped_stepup",
               "interrupted": "no", "interruption_reason": "", "discontinued": "no", "discontinuation_day": "",
               "discontinuation_reason": "", "course": "1"}


def test_idor_other_centre_patient_by_url_and_form(site: Site, client) -> None:  # type: ignore[no-untyped-def]
    u1 = client("u1")
    before = site.data_dump()
    # reading: exactly the answer for an unknown patient
    for path in ("/patients/C2-003", "/patients/C2-003/courses?key.course=1", "/patients/C2-003/outcomes"):
        r = u1.get(path)
        assert r.status_code == 404 and "C2-003" in r.text
        unknown = u1.get(path.replace("C2-003", "C9-999"))
        assert unknown.status_code == 404
        assert r.text.replace("C2-003", "C9-999") == unknown.text
    audit = u1.get("/patients/C2-003/audit")
    assert audit.status_code == 404
    # writing another centre's records through the URL
    r = u1.post("/patients/C2-003/courses", dict(COURSE_EDIT, end_date="2017-03-04"))
    assert r.status_code == 404
    r = u1.post("/patients/C2-003/courses", {"key.course": "1", "action": "delete"})
    assert r.status_code == 404
    r = u1.post("/patients/C2-003/patients", {"key.patient_id": "C2-003", "action": "delete"})
    assert r.status_code == 404
    # moving one's own patient to another centre through the form
    assert u1.get("/patients/C1-001/patients?key.patient_id=C1-001").status_code == 200
    values = dict(patient_records(site.registry.as_user("coord"), "C1-001")["patients"][0])
    values.update({"key.patient_id": "C1-001", "centre": "C2", "action": "save"})
    r = u1.post("/patients/C1-001/patients", values)
    assert r.status_code in (403, 422)
    # registering a patient for another centre
    r = u1.post("/patients/new", {"patients.patient_id": "C2-999", "patients.centre": "C2", "patients.sex": "M"})
    assert r.status_code in (403, 422)
    # answering another centre's query
    q = rq.open_query(site.registry.as_user("coord"), "C2-003", "outcomes", {}, "last_followup_date", "check")
    mid = site.data_dump()
    r = u1.post(f"/queries/{q.id}", {"action": "answer", "comment": "x", "new_value": "2020-01-01"})
    assert r.status_code == 404
    assert site.data_dump() == mid
    assert mid.replace(before, "").count("\n") > 0  # only the query itself was added, by the coordinator
    assert [p for p in site.registry.as_user("coord").patient_ids() if p == "C2-999"] == []


def test_monitor_reads_everything_and_writes_nothing(site: Site, client) -> None:  # type: ignore[no-untyped-def]
    mon = client("mon")
    assert mon.get("/patients/C2-003").status_code == 200
    assert mon.get("/patients/C1-001").status_code == 200
    before = site.data_dump()
    assert mon.post("/patients/C1-001/courses", dict(COURSE_EDIT, end_date="2017-03-04")).status_code == 403
    assert mon.post("/patients/new", {"patients.patient_id": "C1-777"}).status_code == 403
    assert mon.get("/upload").status_code == 403
    assert mon.post("/users", {"action": "add-centre", "code": "C9"}).status_code == 403
    assert site.data_dump() == before


def test_csrf_missing_or_foreign_token_refused(site: Site, client) -> None:  # type: ignore[no-untyped-def]
    u1, other = client("u1"), client("u1")
    assert u1.csrf and other.csrf and u1.csrf != other.csrf
    before = site.data_dump()
    edit = dict(COURSE_EDIT, end_date="2017-03-04")
    for token in ("", other.csrf, "x" * 43):
        r = u1.post("/patients/C1-001/courses", edit, csrf=token)
        assert r.status_code == 403 and "nothing was saved" in r.text
    # a cross-site form post (the browser sends the cookie and a foreign Origin)
    r = u1.post("/patients/C1-001/courses", edit, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    r = u1.post("/logout", {}, csrf="")
    assert r.status_code == 403 and u1.get("/patients").status_code == 200  # still logged in
    assert site.data_dump() == before
    # the same request with the session's own token is accepted
    r = u1.post("/patients/C1-001/courses", edit)
    assert r.status_code == 303
    assert site.data_dump() != before


SQL = ["' OR '1'='1", "1; DROP TABLE patients;--", "C1-001' --", '"; DELETE FROM audit; --', "%' OR 1=1 --"]


def test_sql_metacharacters_in_every_input(site: Site, client) -> None:  # type: ignore[no-untyped-def]
    n_patients = len(site.registry.as_user("coord").patient_ids())
    anon = Client(site.url)
    for s in SQL:
        anon.get("/login")
        r = anon.post("/login", {"username": s, "password": s})
        assert r.status_code == 401 and "Login failed" in r.text
    u1 = client("u1")
    before = site.data_dump()
    for s in SQL:
        for path in (f"/patients/{s}", f"/patients/C1-001/{s}", f"/queries/{s}",
                     f"/patients/C1-001/courses?key.course={s}", f"/queries?status={s}&centre={s}"):
            r = u1.get(path)
            assert r.status_code in (200, 404), (path, r.status_code)
        r = u1.post("/patients/C1-001/courses", dict(COURSE_EDIT, end_date=s, schedule=s))
        assert r.status_code == 422
        r = u1.post("/patients/new", {"patients.patient_id": s, "patients.centre": "C1"})
        assert r.status_code == 422
    assert site.data_dump() == before
    # free text is stored literally (a parameter, never SQL)
    text = SQL[1]
    course = dict(patient_records(site.registry.as_user("coord"), "C1-002")["courses"][0], **{"key.course": "1"})
    r = u1.post("/patients/C1-002/courses", dict(course, interrupted="yes", interruption_reason=text))
    assert r.status_code == 303
    ds = site.registry.as_user("coord").read_dataset(["C1-002"])
    assert ds.forms["courses"].iloc[0]["interruption_reason"] == text
    assert len(site.registry.as_user("coord").patient_ids()) == n_patients


def _session_count(site: Site, token: str) -> int:
    t = site.registry.tables["web_sessions"]
    with site.registry.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(t)
                            .where(t.c.id_hash == regauth._digest(token))).scalar_one()


def test_session_fixation_in_the_browser(site: Site, new_page) -> None:  # type: ignore[no-untyped-def]
    attacker = Client(site.url)
    attacker.get("/login")
    planted = attacker.cookie
    assert planted and _session_count(site, planted) == 1
    page = new_page(None)
    page.context.add_cookies([{"name": "bc_session", "value": planted, "url": site.url}])
    login(page, "u1")
    assert "u1" in page.locator("#who").inner_text()
    cookie = {c["name"]: c for c in page.context.cookies()}["bc_session"]
    assert cookie["value"] != planted and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert _session_count(site, planted) == 0
    # the planted id gives the attacker nothing
    r = attacker.get("/patients")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_logged_out_session_cannot_be_reused(site: Site, new_page) -> None:  # type: ignore[no-untyped-def]
    page = new_page("u1")
    cookie = {c["name"]: c for c in page.context.cookies()}["bc_session"]["value"]
    stolen = Client(site.url)
    stolen.http.cookies.set("bc_session", cookie)
    assert stolen.get("/patients").status_code == 200
    token = stolen.csrf
    page.click("#logout")
    page.wait_for_url(re.compile("/login"))
    assert _session_count(site, cookie) == 0
    before = site.data_dump()
    assert stolen.get("/patients").status_code == 303
    r = stolen.post("/patients/C1-001/courses", dict(COURSE_EDIT, end_date="2017-03-03"), csrf=token)
    assert r.status_code == 403
    assert site.data_dump() == before
    page.goto("/patients")
    assert "/login" in page.url


def test_brute_force_locks_the_account_without_revealing_names(site: Site) -> None:
    name = f"victim{uuid.uuid4().hex[:6]}"
    site.registry.add_user(name, "centre", "C3", by="coord")
    regauth.set_password(site.registry, name, PASSWORD)
    c = Client(site.url)
    messages = set()
    for _ in range(regauth.MAX_FAILURES):
        c.get("/login")
        r = c.post("/login", {"username": name, "password": "wrong password 123"})
        assert r.status_code == 401
        messages.add(re.search(r'id="login-error"[^>]*>([^<]*)<', r.text).group(1))
    c.get("/login")
    r = c.post("/login", {"username": name, "password": PASSWORD})  # right password, locked account
    assert r.status_code == 401
    messages.add(re.search(r'id="login-error"[^>]*>([^<]*)<', r.text).group(1))
    c.get("/login")
    r = c.post("/login", {"username": "nobody-" + name, "password": PASSWORD})  # unknown name
    messages.add(re.search(r'id="login-error"[^>]*>([^<]*)<', r.text).group(1))
    assert len(messages) == 1  # one message for every failure: no user enumeration
    cred = site.registry.tables["web_credentials"]
    with site.registry.engine.connect() as conn:
        row = conn.execute(sa.select(cred).where(cred.c.user_name == name)).one()
    assert row.failed_count == regauth.MAX_FAILURES + 1 and row.locked_until is not None
    assert c.get("/patients").status_code == 303  # not logged in
    regauth.set_password(site.registry, name, PASSWORD)  # a coordinator's reset unlocks
    c.get("/login")
    assert c.post("/login", {"username": name, "password": PASSWORD}).status_code == 303


def test_security_headers_and_cookie_flags(site: Site) -> None:
    c = Client(site.url)
    r = c.get("/login")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie  # plain http here
    assert c.get("/patients").status_code == 303


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_login_never_redirects_off_site(site: Site, next_url: str) -> None:
    c = Client(site.url)
    c.get("/login")
    r = c.post("/login", {"username": "u2", "password": PASSWORD, "next": next_url})
    assert r.status_code == 303 and r.headers["location"] == "/patients"
