"""Web registry fixtures: a registry (SQLite always; PostgreSQL when BLINCOMPASS_TEST_PG is set) with centres
C1-C3, the example patients, users ``coord`` (coordinator), ``mon`` (monitor), ``u1`` (C1) and ``u2`` (C2),
served by uvicorn on a free loopback port; and one headless Debian chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from blincompass.io import example_dir
from blincompass.registry import Registry, create_engine
from blincompass.registry import auth as regauth

PG_ENV = "BLINCOMPASS_TEST_PG"
CHROMIUM = os.environ.get("BLINCOMPASS_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery staple"
USERS = {"coord": ("coordinator", None), "mon": ("monitor", None), "u1": ("centre", "C1"), "u2": ("centre", "C2")}
#: Tables a web request may change without writing data: its session and the failed-login counter.
LOGIN_TABLES = ("web_sessions", "web_credentials")


@dataclass
class Site:
    """A running web registry: its base URL and the registry behind it (for assertions)."""

    url: str
    registry: Registry
    backend: str

    def data_dump(self) -> str:
        """Every row of every table except the login tables (sessions, failure counters)."""
        md = sa.MetaData()
        md.reflect(bind=self.registry.engine)
        lines = []
        with self.registry.engine.connect() as conn:
            for name in sorted(md.tables):
                if name in LOGIN_TABLES:
                    continue
                t = md.tables[name]
                order = list(t.primary_key.columns) or list(t.columns)
                lines.append(f"## {name}")
                lines += [json.dumps([str(v) for v in r]) for r in conn.execute(sa.select(t).order_by(*order))]
        return "\n".join(lines)


def _setup(reg: Registry) -> None:
    reg.init()
    for code in ("C1", "C2", "C3"):
        reg.add_centre(code, f"Centre {code}")
    for name, (role, centre) in USERS.items():
        reg.add_user(name, role, centre, by=None if name == "coord" else "coord")
        regauth.set_password(reg, name, PASSWORD)
    reg.as_user("coord").import_path(example_dir())


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from blincompass.protocol import load_protocol
    from blincompass.web.app import WebConfig
    from blincompass.web.server import ServerThread, registry_for_server

    work = tmp_path_factory.mktemp(f"web-{request.param}")
    cleanup = None
    if request.param == "sqlite":
        url = f"sqlite:///{work / 'registry.db'}"
        reg = registry_for_server(url)
    else:
        base = os.environ.get(PG_ENV)
        if not base:
            pytest.skip(f"PostgreSQL web tests need {PG_ENV} (see .ci/postgres.sh)")
        schema = f"w_{uuid.uuid4().hex[:12]}"
        admin = create_engine(base, poolclass=sa.pool.NullPool)
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        engine = create_engine(base, connect_args={"options": f"-csearch_path={schema}"}, pool_size=10,
                               max_overflow=20)
        reg = Registry(engine)

        def cleanup() -> None:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()

    _setup(reg)
    server = ServerThread(WebConfig(reg, protocol=load_protocol(), work_dir=work))
    try:
        with server as url:
            yield Site(url, reg, request.param)
    finally:
        reg.engine.dispose()
        if cleanup is not None:
            cleanup()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    pw = pytest.importorskip("playwright.sync_api")
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip(f"no chromium at {CHROMIUM}")
    with pw.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                              args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def new_page(browser, site: Site):  # type: ignore[no-untyped-def]
    """``new_page(user)``: a fresh browser context logged in as ``user`` (or not logged in for ``None``)."""
    contexts = []
    dialogs: list[str] = []

    def make(user: str | None = None):  # type: ignore[no-untyped-def]
        ctx = browser.new_context(base_url=site.url)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.set_default_timeout(15_000)
        if user is not None:
            login(page, user)
        return page

    make.dialogs = dialogs  # type: ignore[attr-defined]
    yield make
    for c in contexts:
        c.close()


def login(page, user: str, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_load_state()


# -- plain HTTP clients (attacks at the protocol level) ----------------------------------------------


class Client:
    """An HTTP client with its own cookie jar; ``csrf`` is the token of the last page read."""

    def __init__(self, base: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
        self.csrf = ""

    def get(self, path: str, **kw):  # type: ignore[no-untyped-def]
        r = self.http.get(path, **kw)
        m = re.search(r'name="csrf_token" value="([^"]*)"', r.text)
        if m:
            self.csrf = m.group(1)
        return r

    def post(self, path: str, data: dict | None = None, *, csrf: str | None = None, **kw):  # type: ignore[no-untyped-def]
        body = dict(data or {})
        token = self.csrf if csrf is None else csrf
        if token != "":
            body.setdefault("csrf_token", token)
        return self.http.post(path, data=body, **kw)

    def login(self, user: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
        self.get("/login")
        r = self.post("/login", {"username": user, "password": password})
        if r.status_code == 303:
            self.get("/patients")
        return r

    @property
    def cookie(self) -> str | None:
        return self.http.cookies.get("bc_session")


@pytest.fixture
def client(site: Site):  # type: ignore[no-untyped-def]
    made: list[Client] = []

    def make(user: str | None = None) -> Client:
        c = Client(site.url)
        made.append(c)
        if user is not None:
            r = c.login(user)
            assert r.status_code == 303, r.text
        return c

    yield make
    for c in made:
        c.http.close()
