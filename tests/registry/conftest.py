"""Registry test fixtures: the same tests run on SQLite (always) and PostgreSQL (when BLINCOMPASS_TEST_PG
gives a server URL, e.g. postgresql+psycopg://blin:blin@127.0.0.1:5432/blin_test; see .ci/postgres.sh)."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from blincompass.io import example_dir
from blincompass.registry import Registry, create_engine

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "registry"
PG_ENV = "BLINCOMPASS_TEST_PG"


class FixedClock:
    """A clock that advances one second per call (deterministic UTC timestamps)."""

    def __init__(self) -> None:
        self._n = itertools.count()

    def __call__(self) -> dt.datetime:
        return dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=next(self._n))


def _pg_engine(url: str, schema: str) -> sa.Engine:
    return create_engine(url, connect_args={"options": f"-csearch_path={schema}"}, poolclass=sa.pool.NullPool)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database: an SQLite file, or a fresh schema on the PostgreSQL server."""
    if request.param == "sqlite":
        eng = create_engine(f"sqlite:///{tmp_path / 'registry.db'}")
        yield eng
        eng.dispose()
        return
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {PG_ENV}=postgresql+psycopg://USER:PASS@HOST:PORT/DB "
                    "(run .ci/postgres.sh to install and start a server)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    eng = _pg_engine(url, schema)
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def registry(engine: sa.Engine) -> Registry:
    """A migrated registry with centres C1-C3, coordinator 'coord' and centre users u1 (C1), u2 (C2)."""
    reg = Registry(engine, clock=FixedClock())
    reg.init()
    for code in ("C1", "C2", "C3"):
        reg.add_centre(code, f"Centre {code}")
    reg.add_user("coord", "coordinator")
    reg.add_user("u1", "centre", "C1", by="coord")
    reg.add_user("u2", "centre", "C2", by="coord")
    return reg


def centre_folder(dest: Path, centres: set[str]) -> Path:
    """The example CSV folder restricted to the patients of ``centres`` (rows keep their order)."""
    dest.mkdir(parents=True, exist_ok=True)
    src = example_dir()
    pids = set(pd.read_csv(src / "patients.csv", dtype=str).query("centre in @centres")["patient_id"])
    for f in sorted(src.glob("*.csv")):
        lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
        keep = [lines[0]] + [ln for ln in lines[1:] if ln.split(",", 1)[0] in pids]
        (dest / f.name).write_text("".join(keep), encoding="utf-8")
    return dest


def copy_example(dest: Path) -> Path:
    shutil.copytree(example_dir(), dest)
    return dest
