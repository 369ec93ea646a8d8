"""Cost of PostgreSQL Row-Level Security on registry reads.

Run: ``python benchmarks/bench_rls.py [--copies N] [--db URL]`` (the URL of a PostgreSQL database whose
role may create schemas and roles; default ``$BLINCOMPASS_TEST_PG``). Builds, in a fresh schema, a
registry of ``8 x N`` patients (the example data set repeated with renamed identifiers, centres C1-C3),
then times in the same run, for a coordinator and a centre user (C2):

* a raw read of the five forms (``SELECT *``, one transaction naming the user) through the application
  role -- the policies filter -- against the same read by the owner with the access layer's own filter
  written out (the floor: what the rows cost without the policies);
* ``ScopedRegistry.read_dataset()`` (access layer: filters, policies, typing and validation) through the
  application role against the owner's connection (no policies).

Ratio = with policies / without. Median of ``--repeat`` runs each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

FORMS = ("patients", "courses", "assessments", "adverse_events", "outcomes")


def _copies(dest: Path, n: int) -> Path:
    from blincompass.io import example_dir

    dest.mkdir(parents=True)
    for f in sorted(example_dir().glob("*.csv")):
        lines = f.read_text(encoding="utf-8").splitlines()
        out = [lines[0]]
        for k in range(n):
            for line in lines[1:]:
                pid, rest = line.split(",", 1)
                out.append(f"{pid}-{k:04d},{rest}")
        (dest / f.name).write_text("\n".join(out) + "\n", encoding="utf-8")
    return dest


def _median(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--db", default=os.environ.get("BLINCOMPASS_TEST_PG"))
    args = parser.parse_args()
    if not args.db:
        print("give --db postgresql+psycopg://... (or set BLINCOMPASS_TEST_PG)", file=sys.stderr)
        return 2
    from blincompass.registry import Registry, create_engine
    from blincompass.registry.db import set_acting_user

    tag = uuid.uuid4().hex[:8]
    schema, role = f"bench_{tag}", f"bench_app_{tag}"
    admin = create_engine(args.db, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    base = sa.make_url(args.db).update_query_dict({"options": f"-csearch_path={schema}"})
    owner = create_engine(base)
    app = create_engine(base.set(username=role, password=tag))
    try:
        Registry(owner).init(app_role=role, app_password=tag)
        reg = Registry(app)
        for code in ("C1", "C2", "C3"):
            reg.add_centre(code)
        reg.add_user("coord", "coordinator")
        reg.add_user("u2", "centre", "C2", by="coord")
        with tempfile.TemporaryDirectory() as tmp:
            reg.as_user("coord").import_path(_copies(Path(tmp) / "data", args.copies))
        with owner.connect() as conn:
            n_rows = sum(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in FORMS)
        print(f"registry: {8 * args.copies} patients, {n_rows} form rows; PostgreSQL "
              f"{app.dialect.server_version_info}; median of {args.repeat}")

        def raw(engine: sa.Engine, user: str, filtered: bool) -> None:
            where = {t: "" for t in FORMS}
            if filtered:  # the access layer's filter, written out (what the owner needs without policies)
                where = {t: " WHERE patient_id IN (SELECT patient_id FROM patients WHERE centre = 'C2')"
                         for t in FORMS}
            with engine.connect() as conn, conn.begin():
                set_acting_user(conn, user)
                for t in FORMS:
                    conn.execute(sa.text(f"SELECT * FROM {t}{where[t]}")).all()

        owner_reg = Registry(owner)
        for user, centre_user in (("coord", False), ("u2", True)):
            with_rls = _median(lambda u=user: raw(app, u, False), args.repeat)
            floor = _median(lambda u=user, c=centre_user: raw(owner, u, c), args.repeat)
            print(f"raw read of the 5 forms, {user:5s}: policies {with_rls * 1e3:7.2f} ms, owner + filter "
                  f"{floor * 1e3:7.2f} ms, ratio {with_rls / floor:5.2f}")
        for user in ("coord", "u2"):
            with_rls = _median(lambda u=user: reg.as_user(u).read_dataset(), max(3, args.repeat // 3))
            floor = _median(lambda u=user: owner_reg.as_user(u).read_dataset(), max(3, args.repeat // 3))
            print(f"read_dataset,              {user:5s}: policies {with_rls * 1e3:7.1f} ms, owner          "
                  f"{floor * 1e3:7.1f} ms, ratio {with_rls / floor:5.2f}")
    finally:
        app.dispose()
        owner.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
