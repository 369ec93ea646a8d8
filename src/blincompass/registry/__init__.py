"""Registry: a database (SQLite by default, PostgreSQL by URL) with per-centre access and an audit trail.

* :mod:`~blincompass.registry.schema` generates the tables from the data dictionary;
* :mod:`~blincompass.registry.db` resolves URLs, creates engines and runs the Alembic migrations;
* :mod:`~blincompass.registry.access` is the only way to read and write: ``Registry(engine).as_user(name)``;
* :meth:`ScopedRegistry.import_path` reads template, REDCap and SPSS inputs through
  :mod:`blincompass.io.convert` and validates them; :mod:`blincompass.exports` writes what a user may
  see (template, CSV, ADaM-style CSV/XPT, SPSS).
"""

from __future__ import annotations

from blincompass.io.convert import file_sha256
from blincompass.io.dataset import Dataset
from blincompass.registry.access import (
    AccessDenied,
    AuditEntry,
    DatabaseDamaged,
    ImportRejected,
    ImportResult,
    PatientChanged,
    PatientNotFound,
    Registry,
    RegistryError,
    ScopedRegistry,
    UnknownUser,
    User,
)
from blincompass.registry.db import create_engine, dump_tables, resolve_url, upgrade
from blincompass.registry.schema import build_metadata

__all__ = [
    "AccessDenied",
    "AuditEntry",
    "DatabaseDamaged",
    "ImportRejected",
    "ImportResult",
    "PatientChanged",
    "PatientNotFound",
    "Registry",
    "RegistryError",
    "ScopedRegistry",
    "UnknownUser",
    "User",
    "build_metadata",
    "create_engine",
    "dump_tables",
    "file_sha256",
    "load_registry_dataset",
    "resolve_url",
    "upgrade",
]


def load_registry_dataset(url: str | None, user: str) -> Dataset:
    """The data set visible to ``user`` in the registry at ``url`` (``None``: ``$BLINCOMPASS_DB`` or
    ``blincompass.db``), typed and validated like a template file (for ``blincompass report --db``)."""
    reg = Registry(url)
    try:
        return reg.as_user(user).read_dataset()
    finally:
        reg.engine.dispose()
