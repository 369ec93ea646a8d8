#!/usr/bin/env python3
"""Back up a blincompass registry, restore it into a fresh database, and check the copy.

    python tools/registry_backup.py backup  SOURCE_URL BACKUP_FILE [--schema NAME]
    python tools/registry_backup.py restore BACKUP_FILE TARGET_URL [--app-role NAME]
    python tools/registry_backup.py verify  SOURCE_URL TARGET_URL

* SQLite (``sqlite:///registry.db`` or a path): ``backup`` uses SQLite's online backup API, which copies
  a consistent snapshot while the registry is in use (a plain file copy of a database being written --
  or of its WAL -- can be torn), then checks the copy with ``PRAGMA integrity_check``. ``restore`` copies
  the backup into a new file (never over an existing database) and checks it again.
* PostgreSQL (``postgresql+psycopg://owner:pw@host:5432/registry``): ``backup`` runs ``pg_dump
  --format=custom`` as the tables' owner (row-level security does not restrict the owner, so the dump is
  complete; the password goes to ``pg_dump`` through ``PGPASSWORD``, never on its command line).
  ``--schema`` dumps one schema (default: the ``search_path`` of the URL's ``options``, else the whole
  database). ``restore`` runs ``pg_restore --no-owner --no-privileges --single-transaction
  --exit-on-error`` into an empty database (the restoring login becomes the owner), then, with
  ``--app-role``, grants the application role its rights again as ``blincompass db init`` does.
* ``verify`` compares the two registries as their owner sees them: the row count of every table and the
  SHA-256 of every row of ``audit`` and ``imports`` in order. Exit 0 when equal, 1 when not.

Exit codes: 0 done; 1 the copies differ; 2 unusable input (no database, a target that is not empty, a
failed dump or restore). Nothing is written over an existing database.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from blincompass.registry.db import create_engine, display_url, resolve_url


class BackupError(Exception):
    """The backup or restore cannot be done; the message says why."""


def _url(value: str) -> sa.URL:
    return sa.make_url(resolve_url(value))


def _sqlite_path(url: sa.URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError(f"{url}: give an SQLite file")
    return Path(url.database)


def _libpq(url: sa.URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for ``url`` (without the password) and the environment carrying it."""
    query = {k: v for k, v in url.query.items() if k in ("options", "sslmode")}
    plain = sa.URL.create("postgresql", username=url.username, host=url.host, port=url.port,
                          database=url.database, query=query)
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return plain.render_as_string(hide_password=False), env


def _schema_of(url: sa.URL) -> str | None:
    options = str(url.query.get("options", ""))
    for part in options.split():
        if part.startswith("-csearch_path="):
            return part.split("=", 1)[1].split(",")[0]
    return None


def _run(command: list[str], env: dict[str, str]) -> None:
    tool = shutil.which(command[0])
    if tool is None:
        raise BackupError(f"{command[0]} is not installed (Debian: postgresql-client)")
    done = subprocess.run([tool, *command[1:]], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip() or done.returncode}")


def backup(source: str, dest: Path, schema: str | None = None) -> None:
    """Write a backup of the registry at ``source`` to ``dest`` (a new file)."""
    url = _url(source)
    if dest.exists():
        raise BackupError(f"{dest} exists; give a new file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if url.get_backend_name() == "sqlite":
        path = _sqlite_path(url)
        if not path.is_file():
            raise BackupError(f"{path}: no such database file")
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        out = sqlite3.connect(dest)
        try:
            src.backup(out)  # the online backup API: a consistent snapshot while others write
            _check_sqlite(out, dest)
        except BaseException:
            out.close()
            dest.unlink(missing_ok=True)
            raise
        finally:
            src.close()
        out.close()
        return
    if url.get_backend_name() == "postgresql":
        conninfo, env = _libpq(url)
        schema = schema or _schema_of(url)
        command = ["pg_dump", "--format=custom", "--file", str(dest), "--dbname", conninfo]
        if schema:
            command += ["--schema", schema]
        try:
            _run(command, env)
        except BackupError:
            dest.unlink(missing_ok=True)
            raise
        return
    raise BackupError(f"{display_url(url)}: only SQLite and PostgreSQL registries are supported")


def _check_sqlite(con: sqlite3.Connection, path: Path) -> None:
    result = con.execute("PRAGMA integrity_check").fetchone()[0]
    if result != "ok":
        raise BackupError(f"{path}: integrity check failed ({result})")


def restore(backup_file: Path, target: str, app_role: str | None = None) -> None:
    """Restore ``backup_file`` into the empty database ``target``."""
    url = _url(target)
    if not backup_file.is_file():
        raise BackupError(f"{backup_file}: no such backup file")
    if url.get_backend_name() == "sqlite":
        path = _sqlite_path(url)
        if path.exists() and path.stat().st_size > 0:
            raise BackupError(f"{path} exists; restore into a new file")
        src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        try:
            _check_sqlite(src, backup_file)
            out = sqlite3.connect(path)
            try:
                src.backup(out)
                _check_sqlite(out, path)
            finally:
                out.close()
        finally:
            src.close()
        return
    if url.get_backend_name() == "postgresql":
        engine = create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                taken = conn.execute(sa.text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar_one()
        finally:
            engine.dispose()
        if taken:
            raise BackupError(f"{display_url(url)} already holds a registry; restore into an empty database")
        conninfo, env = _libpq(url)
        _run(["pg_restore", "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
              "--dbname", conninfo, str(backup_file)], env)
        if app_role:
            from blincompass.registry.db import ENV_APP_PASSWORD, upgrade

            engine = create_engine(url, poolclass=sa.pool.NullPool)
            try:
                upgrade(engine, app_role=app_role, app_password=os.environ.get(ENV_APP_PASSWORD) or None)
            finally:
                engine.dispose()
        return
    raise BackupError(f"{display_url(url)}: only SQLite and PostgreSQL registries are supported")


def summary(target: str) -> dict[str, Any]:
    """Row count of every table and SHA-256 of the audit trail and the import log (as the owner sees them)."""
    engine = create_engine(_url(target), poolclass=sa.pool.NullPool)
    try:
        md = sa.MetaData()
        md.reflect(bind=engine)
        if "audit" not in md.tables:
            raise BackupError(f"{display_url(engine.url)} holds no registry")
        out: dict[str, Any] = {"rows": {}}
        with engine.connect() as conn:
            for name in sorted(md.tables):
                out["rows"][name] = conn.execute(sa.select(sa.func.count()).select_from(md.tables[name])).scalar_one()
            for name in ("audit", "imports"):
                t = md.tables[name]
                h = hashlib.sha256()
                for row in conn.execute(sa.select(t).order_by(t.c.id)):
                    h.update(json.dumps([_text(v) for v in row], ensure_ascii=False).encode() + b"\n")
                out[f"{name}_sha256"] = h.hexdigest()
        return out
    finally:
        engine.dispose()


def _text(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | str) else str(value)


def verify(source: str, target: str) -> tuple[bool, dict[str, Any], dict[str, Any]]:
    a, b = summary(source), summary(target)
    return a == b, a, b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("backup", help="back up a registry into a new file")
    p.add_argument("source")
    p.add_argument("backup_file", type=Path)
    p.add_argument("--schema", help="PostgreSQL: the schema to dump (default: from the URL, else all)")
    p = sub.add_parser("restore", help="restore a backup into an empty database")
    p.add_argument("backup_file", type=Path)
    p.add_argument("target")
    p.add_argument("--app-role", help="PostgreSQL: grant this application role its rights after the restore")
    p = sub.add_parser("verify", help="compare row counts and the audit trail of two registries")
    p.add_argument("source")
    p.add_argument("target")
    args = parser.parse_args(argv)
    try:
        if args.command == "backup":
            backup(args.source, args.backup_file, args.schema)
            print(f"backed up {display_url(_url(args.source))} to {args.backup_file}")
        elif args.command == "restore":
            restore(args.backup_file, args.target, args.app_role)
            print(f"restored {args.backup_file} into {display_url(_url(args.target))}")
        else:
            same, a, b = verify(args.source, args.target)
            for name in sorted(set(a["rows"]) | set(b["rows"])):
                x, y = a["rows"].get(name), b["rows"].get(name)
                print(f"{name}: {x} / {y}{'' if x == y else '  DIFFERENT'}")
            for key in ("audit_sha256", "imports_sha256"):
                print(f"{key}: {a[key][:16]} / {b[key][:16]}{'' if a[key] == b[key] else '  DIFFERENT'}")
            print("the copies are equal" if same else "the copies DIFFER")
            return 0 if same else 1
    except BackupError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 2
    except sa.exc.SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        print(f"{args.command}: database error: {str(orig).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
