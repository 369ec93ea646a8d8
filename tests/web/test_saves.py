"""Saves of the web forms: the validation a save made is what the next page view shows (equal to a fresh read
of the stored records), and two server processes saving one patient at the same time lose nothing (the
patient is locked in the database, not only in the process). SQLite always; PostgreSQL when
``BLINCOMPASS_TEST_PG`` is set."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa

from blincompass.io import example_dir
from blincompass.registry import Registry, ScopedRegistry, create_engine
from blincompass.web import forms as wf
from tests.web.conftest import PG_ENV

PID = "C1-001"
KEY = {"patient_id": PID, "course": "1"}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path) -> Iterator[tuple[str, dict]]:  # type: ignore[type-arg]
    """A registry with the example patients, centres C1-C3, a coordinator and a C1 data manager; the URL
    and the engine options that open it (each :class:`Registry` opened on it is one "server process")."""
    if request.param == "sqlite":
        opts: dict = {"connect_args": {"timeout": 30}}  # type: ignore[type-arg]
        u = f"sqlite:///{tmp_path / 'registry.db'}"
        drop = None
    else:
        base = os.environ.get(PG_ENV)
        if not base:
            pytest.skip(f"PostgreSQL tests need {PG_ENV} (see .ci/postgres.sh)")
        schema = f"s_{uuid.uuid4().hex[:12]}"
        admin = create_engine(base, poolclass=sa.pool.NullPool)
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        u, opts = base, {"connect_args": {"options": f"-csearch_path={schema}"}}

        def drop() -> None:
            with admin.begin() as conn:
                conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()

    reg = Registry(create_engine(u, **opts))
    reg.init()
    for c in ("C1", "C2", "C3"):
        reg.add_centre(c)
    reg.add_user("coord", "coordinator")
    reg.add_user("u1", "centre", "C1", by="coord")
    reg.as_user("coord").import_path(example_dir())
    reg.engine.dispose()
    try:
        yield u, opts
    finally:
        if drop is not None:
            drop()


def _open(url: tuple[str, dict]) -> Registry:  # type: ignore[type-arg]
    return Registry(create_engine(url[0], **url[1]))


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert a.findings == b.findings
    for f in b.dataset.forms:
        pd.testing.assert_frame_equal(a.dataset.forms[f], b.dataset.forms[f])
    assert a.dataset.source == b.dataset.source


def _course(s: ScopedRegistry, cache: wf.PatientCache, course: int = 1, **change: str) -> wf.SaveOutcome:
    values = dict(wf.patient_records(s, PID, cache)["courses"][course - 1], **change)
    return wf.save_record(s, PID, "courses", dict(KEY, course=str(course)), values, cache)


def test_the_page_after_a_save_shows_the_saves_validation(url, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    reg = _open(url)
    s = reg.as_user("u1")
    cache = wf.PatientCache()
    read = ScopedRegistry.read_result
    reads: list[object] = []

    def counted(self, *a, **k):  # type: ignore[no-untyped-def]
        reads.append(a)
        return read(self, *a, **k)

    monkeypatch.setattr(ScopedRegistry, "read_result", counted)
    # a value that a spreadsheet could run as a formula: saved with a warning, shown on the patient page
    out = _course(s, cache, interruption_reason="=1+1 fever")
    assert out.ok
    n = len(reads)
    shown = cache.result(s, PID)
    assert len(reads) == n  # the save's own validation, not a new read
    assert "text.formula" in {f.rule for f in shown.findings}
    fresh = read(s, [PID])
    _same(shown, fresh)
    assert cache.records(s, PID)[2] == wf._records(reg.dictionary, fresh.dataset)  # the page's texts too
    # a value the registry stores differently from the text sent (YES -> yes): read again after the save
    out = _course(s, cache, interrupted="YES", interruption_reason="fever")
    assert out.ok
    n = len(reads)
    shown = cache.result(s, PID)
    assert len(reads) == n + 1
    _same(shown, read(s, [PID]))
    # a save refused for an error leaves the records and the page as they were
    version = s.patient_version(PID)
    out = _course(s, cache, end_date="2001-01-01")
    assert not out.ok and "end_date" in out.field_errors
    assert s.patient_version(PID) == version
    _same(cache.result(s, PID), read(s, [PID]))
    reg.engine.dispose()


def test_two_server_processes_saving_one_patient_lose_nothing(url, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Two registries on one database (two server processes: own engine, own page cache) and no lock shared
    in memory: each saves a field of its own course of the same patient ten times, concurrently. Every
    accepted save is one audit entry, and both courses end with the last value each process saved (a save
    built on records that another process changed meanwhile would put the other course's value back)."""
    monkeypatch.setattr(wf, "_patient_lock", lambda pid: threading.Lock())  # no lock shared between them
    regs = [_open(url), _open(url)]
    field = "interruption_reason"
    accepted: list[list[str]] = [[], []]
    refused: list[list[str]] = [[], []]
    start = threading.Barrier(2)

    def work(i: int) -> None:
        s = regs[i].as_user("u1")
        cache = wf.PatientCache()
        start.wait()
        for k in range(10):
            value = f"process {i} save {k}"
            out = _course(s, cache, i + 1, **{field: value})
            (accepted if out.ok else refused)[i].append(value if out.ok else str(out.other))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # a save without a form version is built again when another process got in between; under this
    # contention (saves back to back) nearly all get through
    assert len(accepted[0]) + len(accepted[1]) >= 16, refused
    assert all("changed by someone else" in r for r in refused[0] + refused[1])
    coord = regs[0].as_user("coord")
    stored = coord.read_dataset([PID]).forms["courses"]
    entries = [e for e in coord.history(PID) if e.field == field]
    assert len(entries) == len(accepted[0]) + len(accepted[1])
    for i in range(2):
        assert stored.iloc[i][field] == accepted[i][-1]
        mine = [e for e in entries if e.record_key.endswith(f"course={i + 1}")]
        assert [e.new_value for e in mine] == accepted[i]  # one entry per save, in order, none undone
        assert [e.old_value for e in mine[1:]] == accepted[i][:-1]
    for r in regs:
        r.engine.dispose()
