"""Load on the web registry: 50 simulated users, a fixed number of mixed page views and saves (loopback only).

The server runs as ``blincompass serve`` in its own process on a free 127.0.0.1 port (SQLite in WAL mode, or
a fresh schema of the PostgreSQL server given by ``--pg URL`` / ``$BLINCOMPASS_TEST_PG``). Each user is a
centre data manager with a patient of their own; once every user has logged in (logins are timed apart),
each makes ``--requests`` requests in a fixed, seeded order, pausing ``--think`` seconds on average (uniform
+-50 %) before each, as a person reading the page would: patient page (35 %), patient list (20 %), a
record's form (15 %), the query list (10 %) and saves of a record (20 %; each save changes one value, so
it writes exactly one audit entry).

Printed: p50 / p95 / max latency of page views and of saves, errors (any unexpected status or failed request),
and the proof that nothing was lost: the audit entries written equal the saves made, and every patient's
stored value is the last one its user saved. Also the server's CPU time per request in the measured phase
(user + system of every server process, from /proc: the figure a busy machine disturbs least) and the load
average before and after, since latencies on a shared machine say more about the other jobs than about the
server. Target: p95 of page views < 300 ms, 0 errors, 0 lost writes.

    python benchmarks/bench_web.py [--users 50] [--requests 20] [--backend sqlite|postgresql|both] [--workers N]

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

PASSWORD = "benchmark password 2026"
TARGET_P95 = 0.300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _setup(url: str, n_users: int, app_role: str | None = None) -> list[tuple[str, str]]:
    """Centres C1-C3, the example patients, one cloned patient and one data manager per user."""
    import pandas as pd

    from blincompass.io import example_dir
    from blincompass.io.raw import read_raw
    from blincompass.registry import Registry
    from blincompass.registry.auth import set_password

    reg = Registry(url)
    reg.init(app_role=app_role, app_password=PASSWORD if app_role else None)
    for c in ("C1", "C2", "C3"):
        reg.add_centre(c)
    reg.add_user("coord", "coordinator")
    reg.as_user("coord").import_path(example_dir())
    # one patient per user: copies of C1-001 with new identifiers, in the user's centre
    src = read_raw(example_dir())
    tables = {}
    from blincompass.io.raw import RawDataset, RawTable

    users = []
    for form, t in src.tables.items():
        rows = []
        base = [cells for _, cells in t.rows if cells[0] == "C1-001"]
        for i in range(n_users):
            pid, centre = f"B{i:03d}", f"C{i % 3 + 1}"
            for cells in base:
                cells = list(cells)
                cells[0] = pid
                if form == "patients":
                    cells[1] = centre
                rows.append((len(rows) + 2, tuple(cells)))
        tables[form] = RawTable(form, t.source, t.header, tuple(rows))
    reg.as_user("coord").import_raw(RawDataset("bench", tables), file_name="bench", sha256="0" * 64)
    for i in range(n_users):
        name, centre = f"dm{i:03d}", f"C{i % 3 + 1}"
        reg.add_user(name, "centre", centre, by="coord")
        set_password(reg, name, PASSWORD)
        users.append((name, f"B{i:03d}"))
    del pd
    reg.engine.dispose()
    return users


def _csrf(text: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', text)
    return m.group(1) if m else ""


def _user_run(base: str, name: str, pid: str, n: int, seed: int, think: float, start: threading.Barrier,
              out: dict) -> None:  # type: ignore[type-arg]
    rng = random.Random(seed)
    views: list[float] = []
    later: list[float] = []  # page views after the user's first request of the measured phase
    saves: list[float] = []
    errors: list[str] = []
    last_value = None
    n_saves = 0
    token = ""
    with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as c:
        try:
            r = c.get("/login")
            t0 = time.perf_counter()
            r = c.post("/login", data={"csrf_token": _csrf(r.text), "username": name, "password": PASSWORD})
            out["login"].append(time.perf_counter() - t0)
            if r.status_code != 303:
                errors.append(f"{name} login {r.status_code}")
            r = c.get("/patients")
            token = _csrf(r.text)
        except httpx.HTTPError as exc:
            errors.append(f"{name} login {exc!r}")
        cookies = c.cookies
    start.wait()  # every user is logged in: the measured phase starts together (on fresh connections)
    if errors:
        out["errors"].extend(errors)
        return
    with httpx.Client(base_url=base, timeout=60, follow_redirects=False, cookies=cookies) as c:
        course = f"/patients/{pid}/courses"
        for i in range(n):
            if think:
                time.sleep(rng.uniform(0.5 * think, 1.5 * think))  # the user reads the page
            x = rng.random()
            try:
                if x < 0.20:
                    value = f"bench {name} {i}"
                    data = {"csrf_token": token, "key.course": "1", "course": "1", "start_date": "2017-02-06",
                            "end_date": "2017-03-05", "schedule": "ped_stepup", "interrupted": "yes",
                            "interruption_reason": value, "discontinued": "no", "discontinuation_day": "",
                            "discontinuation_reason": "", "action": "save"}
                    t0 = time.perf_counter()
                    r = c.post(course, data=data)
                    saves.append(time.perf_counter() - t0)
                    if r.status_code != 303:
                        errors.append(f"{name} save {r.status_code}")
                    else:
                        n_saves += 1
                        last_value = value
                    continue
                path = (f"/patients/{pid}" if x < 0.55 else "/patients" if x < 0.75
                        else f"{course}?key.course=1" if x < 0.90 else "/queries")
                t0 = time.perf_counter()
                r = c.get(path)
                views.append(time.perf_counter() - t0)
                if i:
                    later.append(views[-1])
                if r.status_code != 200:
                    errors.append(f"{name} {path} {r.status_code}")
            except httpx.HTTPError as exc:
                errors.append(f"{name} {exc!r}")
    with out["lock"]:
        out["views"] += views
        out["later"] += later
        out["saves"] += saves
        out["errors"] += errors
        out["n_saves"][name] = n_saves
        out["last"][pid] = last_value


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its child processes (the server processes of
    ``serve --workers N``), from Linux /proc: a figure a busy machine disturbs little."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += _cpu(int(child))
    except OSError:
        pass
    return total


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def run(backend: str, url: str, n_users: int, n_requests: int, think: float, app_role: str | None = None,
        workers: int = 1) -> bool:
    users = _setup(url, n_users, app_role)
    serve_url = url
    if app_role is not None:  # the server connects as the application role, as in production
        serve_url = sa.make_url(url).set(username=app_role, password=PASSWORD).render_as_string(hide_password=False)
    port = _free_port()
    env = dict(os.environ)
    cmd = [sys.executable, "-c", "from blincompass.cli import app; app()", "serve", "--db", serve_url,
           "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"server did not start: {server.stderr.read().decode() if server.stderr else ''}")
            time.sleep(0.2)
        out = {"views": [], "later": [], "saves": [], "errors": [], "login": [], "n_saves": {}, "last": {},
               "lock": threading.Lock()}
        marks: dict[str, float] = {}
        start = threading.Barrier(len(users) + 1)
        threads = [threading.Thread(target=_user_run, args=(base, name, pid, n_requests, 1000 + i, think, start, out))
                   for i, (name, pid) in enumerate(users)]
        for t in threads:
            t.start()
        start.wait()
        marks["t0"] = time.perf_counter()
        load0 = os.getloadavg()[0]
        cpu0 = _cpu(server.pid)
        for t in threads:
            t.join()
        wall = time.perf_counter() - marks["t0"]
        cpu = _cpu(server.pid) - cpu0
        load1 = os.getloadavg()[0]
    finally:
        server.terminate()
        server.wait(timeout=30)
    # nothing lost: audit entries = saves, stored value = the last value saved
    from blincompass.registry import Registry

    reg = Registry(url)
    a = reg.tables["audit"]
    with reg.engine.connect() as conn:
        n_audit = conn.execute(sa.select(sa.func.count()).select_from(a).where(
            a.c.user_name.like("dm%"), a.c.field == "interruption_reason")).scalar_one()
    coord = reg.as_user("coord")
    lost = 0
    for _name, pid in users:
        if out["last"].get(pid) is None:
            continue
        stored = coord.read_dataset([pid]).forms["courses"].iloc[0]["interruption_reason"]
        lost += stored != out["last"][pid]
    reg.engine.dispose()
    n_saves = sum(out["n_saves"].values())
    views, saves = out["views"], out["saves"]
    p95 = _pct(views, 0.95)
    n_req = len(views) + len(saves)
    print(f"\n[{backend}] {n_users} users x {n_requests} requests (think time {think:g} s +-50 %) in {wall:.1f} s "
          f"({n_req / wall:.0f} requests/s); {workers} server process(es); logins: median "
          f"{statistics.median(out['login']):.3f} s")
    print(f"  server CPU (user + system, all server processes) in the measured phase: {cpu:.1f} s = "
          f"{cpu / n_req * 1000:.1f} ms per request ({cpu / wall:.2f} CPUs busy on average)")
    print(f"  load average (1 min) {load0:.1f} at the start, {load1:.1f} at the end, on {os.cpu_count()} CPUs")
    print(f"  page views: n={len(views)}  p50={_pct(views, 0.5) * 1000:.0f} ms  p95={p95 * 1000:.0f} ms  "
          f"max={max(views) * 1000:.0f} ms")
    later = out["later"]
    print(f"    of which after each user's first request (its records then in the server's page cache): "
          f"n={len(later)}  p50={_pct(later, 0.5) * 1000:.0f} ms  p95={_pct(later, 0.95) * 1000:.0f} ms")
    print(f"  saves:      n={len(saves)}  p50={_pct(saves, 0.5) * 1000:.0f} ms  p95={_pct(saves, 0.95) * 1000:.0f} ms  "
          f"max={max(saves) * 1000:.0f} ms")
    print(f"  errors: {len(out['errors'])}  {out['errors'][:5]}")
    print(f"  writes: {n_saves} saves accepted, {n_audit} audit entries, {lost} patient(s) whose stored value is not "
          f"the last saved -> lost writes: {abs(n_audit - n_saves) + lost}")
    ok = p95 < TARGET_P95 and not out["errors"] and n_audit == n_saves and lost == 0
    print(f"  target p95 < {TARGET_P95 * 1000:.0f} ms, 0 errors, 0 lost writes: {'met' if ok else 'MISSED'}")
    return ok


def _pg_schema(pg: str) -> tuple[str, str]:
    """A fresh schema on the PostgreSQL server ``pg``: its URL and the name of its application role."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    sep = "&" if "?" in pg else "?"
    return f"{pg}{sep}options=-csearch_path%3D{schema}", f"{schema}_app"


def _drop_schema(pg: str, url: str, role: str) -> None:
    schema = role.removesuffix("_app")
    admin = sa.create_engine(pg)
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
            conn.execute(sa.text(f"DROP ROLE {role}"))
    admin.dispose()


def _profile_targets(args: argparse.Namespace) -> list[tuple[str, str, str | None]]:
    out: list[tuple[str, str, str | None]] = []
    if args.backend in ("sqlite", "both"):
        out.append(("sqlite", f"sqlite:///{tempfile.mkdtemp(prefix='bench-web-')}/bench.db", None))
    if args.backend in ("postgresql", "both") and args.pg:
        url, role = _pg_schema(args.pg)
        out.append(("postgresql", url, role))
    return out


class _Counter:
    """Database work of the requests made while counting: statements (as the driver sends them), connection
    checkouts from the pool (each one a ``pool_pre_ping`` round trip on PostgreSQL) and transaction ends."""

    def __init__(self, engine: sa.Engine) -> None:
        self.statements = self.checkouts = self.commits = self.rollbacks = 0
        self.sql: list[str] = []
        self.on = False

        def stmt(conn, cursor, statement, *a):  # type: ignore[no-untyped-def]
            if self.on:
                self.statements += 1
                self.sql.append(statement.split("\n")[0][:100])

        def checkout(*a):  # type: ignore[no-untyped-def]
            if self.on:
                self.checkouts += 1

        def commit(*a):  # type: ignore[no-untyped-def]
            if self.on:
                self.commits += 1

        def rollback(*a):  # type: ignore[no-untyped-def]
            if self.on:
                self.rollbacks += 1

        sa.event.listen(engine, "before_cursor_execute", stmt)
        sa.event.listen(engine.pool, "checkout", checkout)
        sa.event.listen(engine, "commit", commit)
        sa.event.listen(engine, "rollback", rollback)


def profile_requests(backend: str, url: str, app_role: str | None, repeat: int, cprofile: str | None) -> None:
    """Each kind of request in-process (the ASGI application called through httpx, no network, one user at
    a time): the statements it sends, the connections it checks out, and the process CPU per request
    (client included; the style sheet, which touches no database, shows that floor): mean and median.
    Figures are process CPU, less disturbed by other jobs than wall time, yet still by a busy machine's
    shared caches: compare runs made back to back."""
    import asyncio
    import cProfile
    import pstats

    from blincompass.protocol import load_protocol
    from blincompass.web.app import WebConfig, create_app
    from blincompass.web.server import registry_for_server

    n_users = repeat + 1
    users = _setup(url, n_users, app_role)
    serve_url = url
    if app_role is not None:
        serve_url = sa.make_url(url).set(username=app_role, password=PASSWORD).render_as_string(hide_password=False)
    reg = registry_for_server(serve_url)
    if cprofile:  # handlers in the event loop's thread, where cProfile sees them
        import blincompass.web.app as web_app

        async def inline(fn, *args):  # type: ignore[no-untyped-def]
            return fn(*args)

        web_app.run_in_threadpool = inline  # type: ignore[assignment]
    app = create_app(WebConfig(reg, protocol=load_protocol(), study_label="benchmark"))
    counter = _Counter(reg.engine)
    loop = asyncio.new_event_loop()

    def client() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")

    def call(c: httpx.AsyncClient, method: str, path: str, data: dict | None = None) -> httpx.Response:  # type: ignore[type-arg]
        return loop.run_until_complete(c.request(method, path, data=data))

    clients = []
    for name, pid in users:
        c = client()
        r = call(c, "GET", "/login")
        r = call(c, "POST", "/login", {"csrf_token": _csrf(r.text), "username": name, "password": PASSWORD})
        assert r.status_code == 303, r.status_code
        clients.append((c, pid, _csrf(call(c, "GET", "/patients").text)))
    c0, pid0, token0 = clients[0]
    call(c0, "GET", f"/patients/{pid0}")  # warm: templates compiled, statements cached
    save_n = [0]

    def save_data() -> dict:  # type: ignore[type-arg]
        save_n[0] += 1
        return {"csrf_token": token0, "key.course": "1", "course": "1", "start_date": "2017-02-06",
                "end_date": "2017-03-05", "schedule": "ped_stepup", "interrupted": "yes",
                "interruption_reason": f"profile {save_n[0]}", "discontinued": "no", "discontinuation_day": "",
                "discontinuation_reason": "", "action": "save"}

    def patient(i: int) -> httpx.Response:
        return call(c0, "GET", f"/patients/{pid0}")

    def first_view(i: int) -> httpx.Response:
        c, pid, _ = clients[i + 1]
        return call(c, "GET", f"/patients/{pid}")

    def save(i: int) -> httpx.Response:
        return call(c0, "POST", f"/patients/{pid0}/courses", save_data())

    # (label, what is done before each measured request, the request)
    kinds = [
        ("style sheet (no database)", None, lambda i: call(c0, "GET", "/static/style.css")),
        ("patient page, cached", None, patient),
        ("patient list", None, lambda i: call(c0, "GET", "/patients")),
        ("a record's form", None, lambda i: call(c0, "GET", f"/patients/{pid0}/courses?key.course=1")),
        ("query list", None, lambda i: call(c0, "GET", "/queries")),
        ("save of a course record", None, save),
        ("patient page after a save", save, patient),
        ("patient page, first view (validation)", None, first_view),
    ]
    print(f"\n[{backend}] in-process requests, {repeat} of each (one user at a time)")
    print(f"  {'request':40s} {'statements':>10s} {'checkouts':>9s} {'commits':>7s} {'rollbacks':>9s} "
          f"{'CPU ms':>7s} {'median':>7s}")
    for label, before, fn in kinds:
        counter.statements = counter.checkouts = counter.commits = counter.rollbacks = 0
        counter.sql = []
        cpu: list[float] = []
        prof = cProfile.Profile() if cprofile and cprofile in label else None
        for i in range(repeat):
            if before is not None:
                before(i)
            counter.on = True
            t0 = time.process_time()
            if prof is not None:
                prof.enable()
            r = fn(i)
            if prof is not None:
                prof.disable()
            cpu.append(time.process_time() - t0)
            counter.on = False
            assert r.status_code in (200, 303), (label, r.status_code)
        print(f"  {label:40s} {counter.statements / repeat:10.1f} {counter.checkouts / repeat:9.1f} "
              f"{counter.commits / repeat:7.1f} {counter.rollbacks / repeat:9.1f} {sum(cpu) / repeat * 1000:7.1f} "
              f"{statistics.median(cpu) * 1000:7.1f}")
        if os.environ.get("BENCH_SQL"):
            for line in counter.sql[: len(counter.sql) // repeat]:
                print("      ", line)
        if prof is not None:
            pstats.Stats(prof).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(60)
    for c, _, _ in clients:
        loop.run_until_complete(c.aclose())
    loop.close()
    reg.engine.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--requests", type=int, default=20, help="requests per user after login")
    ap.add_argument("--think", type=float, default=1.0,
                    help="mean pause of a user between requests, seconds (uniform +-50 %%; 0: back to back)")
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--pg", default=os.environ.get("BLINCOMPASS_TEST_PG"), help="PostgreSQL server URL")
    ap.add_argument("--workers", type=int, default=1, help="server processes (blincompass serve --workers)")
    ap.add_argument("--profile", action="store_true",
                    help="instead of the load: each kind of request in-process, statements and CPU per request")
    ap.add_argument("--repeat", type=int, default=10, help="with --profile: requests of each kind")
    ap.add_argument("--cprofile", default=None, help="with --profile: cProfile the kind whose label contains this")
    args = ap.parse_args()
    ok = True
    if args.profile:
        for backend, url, role in _profile_targets(args):
            try:
                profile_requests(backend, url, role, args.repeat, args.cprofile)
            finally:
                if backend == "postgresql":
                    _drop_schema(args.pg, url, role)
        return 0
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as d:
            ok &= run("sqlite", f"sqlite:///{Path(d) / 'bench.db'}", args.users, args.requests, args.think,
                      workers=args.workers)
    if args.backend in ("postgresql", "both"):
        if not args.pg:
            print("\n[postgresql] skipped: give --pg URL or set BLINCOMPASS_TEST_PG")
        else:
            url, role = _pg_schema(args.pg)
            try:
                ok &= run("postgresql", url, args.users, args.requests, args.think, app_role=role,
                          workers=args.workers)
            finally:
                _drop_schema(args.pg, url, role)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
