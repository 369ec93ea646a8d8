"""``blincompass serve --workers 2``: two server processes on one port serve one registry. A session made by
one process is valid in the other (sessions, CSRF tokens and lock-outs live in the database), saves of one
patient from fresh connections all land, each with its audit entry."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from blincompass.registry import Registry
from blincompass.web.server import free_port
from tests.web.conftest import PASSWORD, _setup


def _csrf(text: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', text)
    return m.group(1) if m else ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="server processes started the Linux way")
def test_two_server_processes_share_sessions_and_saves(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    reg = Registry(url)
    _setup(reg)
    reg.engine.dispose()
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    server = subprocess.Popen(
        [sys.executable, "-c", "from blincompass.cli import app; app()", "serve", "--db", url, "--port", str(port),
         "--workers", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(base + "/login", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, server.stderr.read().decode()  # type: ignore[union-attr]
            time.sleep(0.3)
        with httpx.Client(base_url=base, follow_redirects=False) as c:
            r = c.post("/login", data={"csrf_token": _csrf(c.get("/login").text), "username": "u1",
                                       "password": PASSWORD})
            assert r.status_code == 303
            cookies = c.cookies
            token = _csrf(c.get("/patients").text)
        values = {"csrf_token": token, "key.course": "1", "course": "1", "start_date": "2017-02-06",
                  "end_date": "2017-03-05", "schedule": "ped_stepup", "interrupted": "no", "discontinued": "no",
                  "discontinuation_day": "", "discontinuation_reason": "", "action": "save"}
        for i in range(8):  # each on a new connection: the kernel hands them to either process
            with httpx.Client(base_url=base, follow_redirects=False, cookies=cookies) as c:
                assert c.get("/patients/C1-001").status_code == 200
            with httpx.Client(base_url=base, follow_redirects=False, cookies=cookies) as c:
                r = c.post("/patients/C1-001/courses", data=dict(values, interruption_reason=f"save {i}"))
                assert r.status_code == 303, r.text
    finally:
        server.terminate()
        server.wait(timeout=30)
    reg = Registry(url)
    coord = reg.as_user("coord")
    assert coord.read_dataset(["C1-001"]).forms["courses"].iloc[0]["interruption_reason"] == "save 7"
    entries = [e for e in coord.history("C1-001") if e.field == "interruption_reason"]
    assert [e.new_value for e in entries] == [f"save {i}" for i in range(8)]
    reg.engine.dispose()
