"""The access layer: every read and write of the registry goes through :class:`ScopedRegistry`.

``Registry(engine).as_user(name)`` returns an object scoped to that user's centre (a coordinator sees
every centre). A request outside the scope raises :class:`AccessDenied` before anything is written; a
request naming a patient the user cannot see raises :class:`PatientNotFound` with the same message whether
the patient is unknown or belongs to another centre (no answer reveals another centre's identifiers).
Writes are single transactions: an import, an update or a deletion is applied completely or not at all,
and every changed value is appended to the audit trail (who, when in UTC, which record and field,
old -> new, and the import file's sha256). The audit and imports tables are never updated or deleted
through this layer, and database triggers refuse it from anywhere else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from blincompass.dictionary import DataDictionary, Form, load_dictionary
from blincompass.io.convert import read_input
from blincompass.io.dataset import Dataset
from blincompass.io.raw import RawDataset, RawTable
from blincompass.registry.db import (
    create_engine,
    display_url,
    patient_keys_taken,
    resolve_url,
    set_acting_user,
    upgrade,
)
from blincompass.registry.schema import (
    PATIENT_KEY,
    ROLES,
    build_metadata,
    format_value,
    frame_records,
    patient_key,
    row_from_frame,
)
from blincompass.validate.findings import Finding, ValidationResult
from blincompass.validate.memo import FormMemo, validate_with_memo
from blincompass.validate.rules import validate

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
]


class RegistryError(Exception):
    """Base class of registry errors."""


class AccessDenied(RegistryError, PermissionError):
    """A request outside the user's centre; nothing was read or written.

    ``user``, ``centre`` (the user's centre; ``None`` for a coordinator) and ``patient_id`` name who asked
    for what; the message says why.
    """

    def __init__(self, user: str, centre: str | None, patient_id: str | None, reason: str) -> None:
        self.user = user
        self.centre = centre
        self.patient_id = patient_id
        self.reason = reason
        who = f"user '{user}' (centre {centre})" if centre else f"user '{user}'"
        what = f", patient {patient_id}" if patient_id else ""
        super().__init__(f"access denied: {who}{what}: {reason}")


class PatientNotFound(RegistryError, LookupError):
    """No patient of that identifier that the user may see: for a centre user the same answer, word for word,
    whether the identifier is unknown or belongs to another centre."""

    def __init__(self, user: str, centre: str | None, patient_id: str, action: str) -> None:
        self.user = user
        self.centre = centre
        self.patient_id = patient_id
        where = f"among the patients of centre {centre}" if centre else "in the registry"
        super().__init__(f"{action}: no patient {patient_id} {where}")


class PatientChanged(RegistryError):
    """A write based on a patient's records as they were at one version found a newer version (someone
    else changed the patient in between): nothing was written."""

    def __init__(self, patient_id: str) -> None:
        self.patient_id = patient_id
        super().__init__(f"the records of patient {patient_id} were changed by someone else in the meantime; "
                         "nothing was saved")


#: Advisory-lock namespace of the registry's patient locks (PostgreSQL ``pg_advisory_xact_lock(int, int)``).
_LOCK_CLASS = 0x626C63
#: More patients than this in one write: one registry-wide lock instead of one lock per patient.
_LOCK_MANY = 64
#: Data sets of at most this many rows are validated through the registry's form memo.
_MEMO_ROWS = 2000


def _lock_id(patient_id: str) -> int:
    """A 32-bit lock number of a patient identifier (by its registry key, so that identifiers the registry
    treats as one share a lock; two patients sharing a number only wait for each other)."""
    return int.from_bytes(hashlib.sha256(patient_key(patient_id).encode()).digest()[:4], "big", signed=True)


class DatabaseDamaged(RegistryError):
    """A stored value cannot be read as its column's type: the database was changed outside the registry
    (by hand, by another program) or is damaged. Nothing was written."""


def _read_rows(conn: sa.Connection, query: sa.Select[Any], table: str) -> list[dict[str, Any]]:
    """The rows of ``query`` as dicts; a value the column's type cannot read raises :class:`DatabaseDamaged`."""
    try:
        return [dict(r._mapping) for r in conn.execute(query)]
    except (ValueError, TypeError, OverflowError) as exc:
        raise DatabaseDamaged(f"table {table}: a stored value cannot be read ({exc})") from None


def _stored_texts(form: Form, row: Mapping[str, Any]) -> tuple[str, ...]:
    """The template text of every variable of a stored row; a value that has no text (an integer column
    holding letters, ...) raises :class:`DatabaseDamaged`."""
    try:
        return tuple(format_value(v, row) for v in form.variables)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DatabaseDamaged(f"table {form.name} row id {row.get('id')}: a stored value cannot be read "
                              f"({exc})") from None


class UnknownUser(RegistryError, LookupError):
    """The user name is not registered."""


class ImportRejected(RegistryError, ValueError):
    """The input (or a single change) does not pass validation; nothing was written.

    ``findings`` lists every problem (errors first); ``source`` names the file.
    """

    def __init__(self, source: str, findings: Sequence[Finding]) -> None:
        self.source = source
        self.findings = sorted(findings, key=lambda f: (f.severity != "error", *f.sort_key()))
        errors = [f for f in self.findings if f.severity == "error"]
        lines = [f"{source}: rejected, {len(errors)} error(s); nothing was written"]
        for f in errors[:20]:
            where = f.file if f.row is None else f"{f.file} row {f.row}"
            who = f" patient {f.patient_id}" if f.patient_id else ""
            fld = f" field {f.field}" if f.field else ""
            val = f" value {f.value!r}" if f.value not in (None, "") else ""
            lines.append(f"  {where}{who}{fld}{val}: {f.message} ({f.rule})")
        if len(errors) > 20:
            lines.append(f"  ... and {len(errors) - 20} more")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class User:
    """A registry user: a centre's data manager (``role='centre'``), a monitor (reads every centre, changes
    nothing) or the coordinating centre."""

    name: str
    role: str
    centre: str | None

    @property
    def is_coordinator(self) -> bool:
        return self.role == "coordinator"

    @property
    def reads_all(self) -> bool:
        """A coordinator or a monitor: reads every centre (a monitor changes nothing)."""
        return self.role in ("coordinator", "monitor")

    @property
    def can_write(self) -> bool:
        """A centre's data manager (their centre) or a coordinator; a monitor only reads."""
        return self.role in ("centre", "coordinator")


@dataclass(frozen=True)
class ImportResult:
    """What one import did. ``import_id`` is ``None`` when nothing changed (an identical re-import)."""

    import_id: int | None
    file_name: str
    sha256: str
    n_patients: int
    n_rows: int
    inserted: int
    updated: int
    deleted: int
    unchanged: int
    values_changed: int
    findings: tuple[Finding, ...] = ()
    #: the validation of the input (``keep_result=True``) and each imported patient's version after the
    #: import (its newest audit id, read inside the import's transaction)
    result: ValidationResult | None = field(default=None, compare=False, repr=False)
    versions: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    #: with ``keep_result``: the stored text of every row of the validated data set, per form
    stored: dict[str, list[tuple[str, ...]]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def changed(self) -> bool:
        return self.values_changed > 0 or self.inserted > 0 or self.deleted > 0


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit trail: one value of one record changed by one user at one time (UTC)."""

    id: int
    at: dt.datetime
    user: str
    centre: str | None
    action: str
    form: str
    patient_id: str
    record_key: str
    field: str | None
    old_value: str | None
    new_value: str | None
    import_id: int | None
    sha256: str | None

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["at"] = self.at.isoformat()
        return out


def utc_now() -> dt.datetime:
    """The current time in UTC (the registry's only clock; timestamps go to imports and audit only)."""
    return dt.datetime.now(dt.UTC)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@dataclass
class _Change:
    action: str
    form: str
    patient_id: str
    key: dict[str, Any]
    values: dict[str, Any]  # database values to write (insert/update) or the old row (delete)
    row_id: int | None = None
    audit: list[tuple[str, str | None, str | None]] = field(default_factory=list)  # (field, old, new)


def _key_text(form: Form, key: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={key[k]}" for k in form.key)


@dataclass
class _RequestConnection:
    """The connection of one request (:meth:`Registry.request_scope`) and what its open transaction is."""

    registry: Registry
    conn: sa.Connection | None = None  # checked out at the first use
    acting: str | None = None  # the acting user named in the open transaction (None: none named)
    busy: bool = False  # a block is using the connection (a nested use takes a connection of its own)

    def act_as(self, user: str | None) -> None:
        """Name ``user`` as the acting user of the open transaction unless it already is (``None``: keep
        whatever is named)."""
        if user is not None and self.acting != user:
            assert self.conn is not None
            set_acting_user(self.conn, user)
            self.acting = user


_REQUEST: ContextVar[_RequestConnection | None] = ContextVar("blincompass_request_connection", default=None)


class Registry:
    """The registry database: schema management, centres and users, and scoped access.

    Parameters
    ----------
    engine
        A SQLAlchemy engine, or a URL / SQLite path (see :func:`blincompass.registry.db.resolve_url`).
    dictionary
        The data dictionary the schema was generated from (default: the shipped one).
    clock
        Returns the current UTC time (tests pass a fixed clock).
    """

    def __init__(
        self,
        engine: sa.Engine | str | None = None,
        dictionary: DataDictionary | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        if engine is None or isinstance(engine, str):
            engine = create_engine(resolve_url(engine))
        self.engine = engine
        self.dictionary = dictionary or load_dictionary()
        self.metadata = build_metadata(self.dictionary)
        self.tables = self.metadata.tables
        self.clock = clock
        # the forms of recently validated small data sets (a patient's records, read and saved again and
        # again by the web application): validating them again reads only the forms that changed
        self.form_memo = FormMemo(self.dictionary)

    @property
    def url(self) -> str:
        return display_url(self.engine.url)

    # -- connections ---------------------------------------------------------------------------------

    @contextmanager
    def request_scope(self) -> Iterator[None]:
        """Serve every database access of the current request (this thread's context) from one pooled
        connection, checked out here and returned at the end.

        Consecutive reads share one transaction (:meth:`reading`): a page view costs one connection checkout
        and one transaction instead of one of each per read. The transaction is read committed (the
        default) on PostgreSQL, so each statement still sees the newest committed data, exactly as with a
        transaction per read; SQLite's driver runs reads outside a transaction anyway. A write
        (:meth:`writing`) continues that transaction and commits it. Each user-scoped block names its acting
        user (:func:`set_acting_user`) unless the open transaction already names that user, so the
        Row-Level Security policies see the same user as before for every statement.
        """
        if _REQUEST.get() is not None:
            yield
            return
        current = _RequestConnection(self)
        token = _REQUEST.set(current)
        try:
            yield
        finally:
            _REQUEST.reset(token)
            self._close_request_connection(current)

    @staticmethod
    def _close_request_connection(p: _RequestConnection | None) -> None:
        if p is None or p.conn is None:
            return
        conn, p.conn, p.acting = p.conn, None, None
        try:
            if conn.in_transaction():
                conn.rollback()
        finally:
            conn.close()

    def release_connection(self) -> None:
        """Return the current request's connection to the pool now, ending its transaction (before a wait
        that needs no database, such as password hashing); a later use in the request checks out another.
        Each request then holds at most one pooled connection, and none while it waits."""
        p = _REQUEST.get()
        if p is not None and p.registry is self and not p.busy:
            self._close_request_connection(p)

    def _pinned(self) -> _RequestConnection | None:
        p = _REQUEST.get()
        if p is None or p.registry is not self or p.busy:
            return None
        if p.conn is None:
            p.conn = self.engine.connect()
        return p

    @contextmanager
    def reading(self, user: str | None = None) -> Iterator[sa.Connection]:
        """A connection to read with, acting as ``user`` (a registered name; ``None``: no acting user is
        named, for the tables without row-level security: centres, users, sessions). Outside a
        :meth:`request_scope` a connection of its own whose transaction is rolled back at the end."""
        p = self._pinned()
        if p is None:
            with self.engine.connect() as own:
                if user is not None:
                    set_acting_user(own, user)
                yield own
            return
        conn = p.conn
        assert conn is not None
        p.busy = True
        try:
            p.act_as(user)
            yield conn
        except BaseException:
            p.acting = None
            if conn.in_transaction():
                conn.rollback()
            raise
        finally:
            p.busy = False

    @contextmanager
    def writing(self, user: str | None = None) -> Iterator[sa.Connection]:
        """A transaction acting as ``user``, committed at the end (rolled back on an exception). Inside a
        :meth:`request_scope` it continues the request's read transaction (its reads were of committed data
        and changed nothing) and commits it."""
        p = self._pinned()
        if p is None:
            with self.engine.begin() as own:
                if user is not None:
                    set_acting_user(own, user)
                yield own
            return
        conn = p.conn
        assert conn is not None
        p.busy = True
        try:
            if user is not None:
                p.act_as(user)
            elif p.acting is not None:  # no acting user in this transaction
                conn.rollback()
                p.acting = None
            yield conn
            conn.commit()
        except BaseException:
            if conn.in_transaction():
                conn.rollback()
            raise
        finally:
            p.acting = None
            p.busy = False

    def init(self, app_role: str | None = None, app_password: str | None = None) -> None:
        """Create or migrate the schema (Alembic ``upgrade head``); on PostgreSQL with ``app_role``, also
        create or update the application's role and its grants in the same transaction (see
        :func:`blincompass.registry.db.ensure_app_role`). Run it connected as the tables' owner."""
        upgrade(self.engine, app_role=app_role, app_password=app_password)

    # -- centres and users -------------------------------------------------------------------------

    def _require_admin(self, conn: sa.Connection, by: str | None) -> None:
        n_users = conn.execute(sa.select(sa.func.count()).select_from(self.tables["users"])).scalar_one()
        if n_users == 0:
            return  # bootstrap: the first user and centres can be added by whoever holds the database
        if by is None:
            raise AccessDenied("(none)", None, None, "managing centres and users needs a coordinator (--user)")
        user = self._user(conn, by)
        if not user.is_coordinator:
            raise AccessDenied(user.name, user.centre, None, "only a coordinator may manage centres and users")

    def add_centre(self, code: str, name: str | None = None, *, by: str | None = None) -> None:
        """Register a centre (``by`` must be a coordinator once users exist)."""
        code = code.strip()
        if not code:
            raise ValueError("centre code: empty")
        with self.writing() as conn:
            self._require_admin(conn, by)
            t = self.tables["centres"]
            if conn.execute(sa.select(t.c.code).where(t.c.code == code)).first() is not None:
                raise ValueError(f"centre {code} already exists")
            conn.execute(t.insert().values(code=code, name=name or code))

    def add_user(self, name: str, role: str, centre: str | None = None, *, by: str | None = None) -> User:
        """Register a user: ``role`` 'centre' (then ``centre`` is required), 'monitor' or 'coordinator'."""
        if role not in ROLES:
            raise ValueError(f"role: {role!r} is not one of {', '.join(ROLES)}")
        if role == "centre" and not centre:
            raise ValueError(f"user {name}: a centre user needs a centre")
        if not name.strip() or len(name) > 80:
            raise ValueError(f"user name {name!r}: give 1 to 80 characters")
        with self.writing() as conn:
            self._require_admin(conn, by)
            if centre is not None and not self._centre_exists(conn, centre):
                raise ValueError(f"centre {centre} is not registered (add it first)")
            t = self.tables["users"]
            if conn.execute(sa.select(t.c.name).where(t.c.name == name)).first() is not None:
                raise ValueError(f"user {name} already exists")
            conn.execute(t.insert().values(name=name, role=role, centre=centre))
        return User(name, role, centre)

    def users(self) -> list[User]:
        t = self.tables["users"]
        with self.reading() as conn:
            return [User(r.name, r.role, r.centre) for r in conn.execute(sa.select(t).order_by(t.c.name))]

    def centres(self) -> list[tuple[str, str]]:
        t = self.tables["centres"]
        with self.reading() as conn:
            return [(r.code, r.name) for r in conn.execute(sa.select(t).order_by(t.c.code))]

    def _centre_exists(self, conn: sa.Connection, code: str) -> bool:
        t = self.tables["centres"]
        return conn.execute(sa.select(t.c.code).where(t.c.code == code)).first() is not None

    def _user(self, conn: sa.Connection, name: str) -> User:
        t = self.tables["users"]
        r = conn.execute(sa.select(t).where(t.c.name == name)).first()
        if r is None:
            raise UnknownUser(f"user '{name}' is not registered (blincompass db add-user)")
        return User(r.name, r.role, r.centre)

    def as_user(self, name: str) -> ScopedRegistry:
        """The registry as seen and changed by user ``name``."""
        with self.reading() as conn:
            return ScopedRegistry(self, self._user(conn, name))


class ScopedRegistry:
    """The registry scoped to one user: a centre user reads and writes only their centre's patients."""

    def __init__(self, registry: Registry, user: User) -> None:
        self.registry = registry
        self.user = user
        self._d = registry.dictionary
        self._t = registry.tables

    # -- transactions --------------------------------------------------------------------------------
    # Every database access of this class goes through these two. On PostgreSQL each transaction first
    # names the acting user (SET LOCAL blincompass.user), and the Row-Level Security policies of migration
    # 0004_rls restrict the rows to what that user may see -- a second wall behind the filters below.
    # Within a web request (Registry.request_scope) they share the request's connection.

    def begin(self) -> AbstractContextManager[sa.Connection]:
        """A transaction (committed at the end, rolled back on an exception) acting as this user."""
        return self.registry.writing(self.user.name)

    def connect(self) -> AbstractContextManager[sa.Connection]:
        """A read-only use of the database acting as this user (nothing it does is committed)."""
        return self.registry.reading(self.user.name)

    # -- scope -------------------------------------------------------------------------------------

    def _deny(self, patient_id: str | None, reason: str) -> AccessDenied:
        return AccessDenied(self.user.name, self.user.centre, patient_id, reason)

    def _patient_centre(self, conn: sa.Connection, patient_id: str) -> str | None:
        t = self._t["patients"]
        return conn.execute(sa.select(t.c.centre).where(t.c.patient_id == patient_id)).scalar_one_or_none()

    def _check_patient(self, conn: sa.Connection, patient_id: str, action: str) -> str:
        centre = self._patient_centre(conn, patient_id)
        # a centre user gets one answer for an unknown identifier and for another centre's: nothing about
        # other centres' identifiers can be learnt from it
        if centre is None or (not self.user.reads_all and centre != self.user.centre):
            raise PatientNotFound(self.user.name, self.user.centre, patient_id, action)
        return centre

    def _lock_patients(self, conn: sa.Connection, patient_ids: Iterable[str]) -> None:
        """Make the writers of these patients wait for each other until the end of the transaction, in this
        process and in any other one (several server processes, the command line): a write that reads a
        patient's records and writes them back then never interleaves with another write of that patient.

        PostgreSQL: a transaction-scoped advisory lock per patient (in a fixed order, so two writers never
        wait for each other in a circle), under a shared registry-wide lock that a write of more than
        :data:`_LOCK_MANY` patients takes exclusively instead. SQLite: the database's write lock, taken now
        by a statement that changes nothing (SQLite has one writer at a time; taking the lock first makes
        every read of the transaction see the newest data). Call it first in the transaction.
        """
        dialect = conn.dialect.name
        if dialect == "sqlite":
            t = self._t["patients"]
            conn.execute(t.update().where(sa.false()).values(id=t.c.id))
        elif dialect == "postgresql":
            ids = sorted({_lock_id(p) for p in patient_ids})
            if len(ids) > _LOCK_MANY:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:c, 0)"), {"c": _LOCK_CLASS})
                return
            conn.execute(sa.text("SELECT pg_advisory_xact_lock_shared(:c, 0)"), {"c": _LOCK_CLASS})
            for i in ids:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:c, :i)"), {"c": _LOCK_CLASS, "i": i})

    def _versions(self, conn: sa.Connection, patient_ids: Sequence[str]) -> dict[str, int]:
        """The newest audit id of each patient (0 for none)."""
        a = self._t["audit"]
        out = dict.fromkeys(patient_ids, 0)
        for i in range(0, len(patient_ids), 500):
            chunk = list(patient_ids[i:i + 500])
            q = (sa.select(a.c.patient_id, sa.func.max(a.c.id)).where(a.c.patient_id.in_(chunk))
                 .group_by(a.c.patient_id))
            out.update({str(p): int(v) for p, v in conn.execute(q)})
        return out

    def _require_write(self, patient_id: str | None, action: str) -> None:
        if not self.user.can_write:
            raise self._deny(patient_id, f"{action}: a monitor reads and raises queries but changes no data")

    def _visible(self, conn: sa.Connection) -> list[str]:
        t = self._t["patients"]
        q = sa.select(t.c.patient_id).order_by(t.c.id)
        if not self.user.reads_all:
            q = q.where(t.c.centre == self.user.centre)
        return list(conn.execute(q).scalars())

    def users(self) -> list[User]:
        """Every registered user; listing them is a coordinator's task (a centre user gets
        :class:`AccessDenied`)."""
        if not self.user.is_coordinator:
            raise self._deny(None, "listing users needs a coordinator")
        return self.registry.users()

    # -- reading -----------------------------------------------------------------------------------

    def _rows(self, conn: sa.Connection, patient_ids: Sequence[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        p = self._t["patients"]
        # the user's centre's patients, as a sub-select evaluated with each form's rows
        scope = None if self.user.reads_all else sa.select(p.c.patient_id).where(p.c.centre == self.user.centre)
        for form in self._d.forms:
            t = self._t[form.name]
            q = sa.select(t).order_by(t.c.id)
            if scope is not None:
                q = q.where(t.c.patient_id.in_(scope))
            if patient_ids is not None:
                q = q.where(t.c.patient_id.in_(list(patient_ids)))
            out[form.name] = _read_rows(conn, q, form.name)
        return out

    def _validate(self, raw: RawDataset, data_cutoff: dt.date | None = None) -> ValidationResult:
        """:func:`validate` (through the registry's form memo for a small data set, with the same result)."""
        if sum(len(t.rows) for t in raw.tables.values()) <= _MEMO_ROWS:
            return validate_with_memo(raw, self.registry.form_memo, data_cutoff=data_cutoff)
        return validate(raw, self._d, data_cutoff=data_cutoff)

    def _raw(self, rows: Mapping[str, list[dict[str, Any]]], source: str) -> RawDataset:
        tables = {}
        for form in self._d.forms:
            data = tuple(
                (i, _stored_texts(form, r)) for i, r in enumerate(rows.get(form.name, []), start=2)
            )
            tables[form.name] = RawTable(form.name, f"{source}[{form.name}]", tuple(form.columns), data)
        return RawDataset(source, tables)

    def read_result(
        self, patient_ids: Sequence[str] | None = None, *, data_cutoff: dt.date | None = None,
    ) -> ValidationResult:
        """The visible data as a validated data set (the same typing and checks as a file; dates checked
        against ``data_cutoff``, default: the day of the check)."""
        with self.connect() as conn:
            if patient_ids is not None:
                for pid in patient_ids:
                    self._check_patient(conn, pid, "read")
            rows = self._rows(conn, patient_ids)
        return self._validate(self._raw(rows, self.registry.url), data_cutoff)

    def read_dataset(self, patient_ids: Sequence[str] | None = None) -> Dataset:
        """The visible patients (or the given ones; another centre's raises :class:`AccessDenied`)."""
        return self.read_result(patient_ids).dataset

    def read_patient(self, patient_id: str) -> Dataset:
        """One patient's records (refused for another centre's patient)."""
        return self.read_dataset([patient_id])

    def patient_ids(self) -> list[str]:
        with self.connect() as conn:
            return self._visible(conn)

    def patient_version(self, patient_id: str) -> int:
        """The id of the newest audit entry of a visible patient (every change of a patient's records writes
        one, so an unchanged number means unchanged records: a cache key); ``PatientNotFound`` otherwise."""
        a, p = self._t["audit"], self._t["patients"]
        newest = (sa.select(sa.func.coalesce(sa.func.max(a.c.id), 0)).where(a.c.patient_id == patient_id)
                  .scalar_subquery())
        with self.connect() as conn:  # the patient's centre and version in one statement
            row = conn.execute(sa.select(p.c.centre, newest).where(p.c.patient_id == patient_id)).first()
        centre = None if row is None else row[0]
        if centre is None or (not self.user.reads_all and centre != self.user.centre):
            raise PatientNotFound(self.user.name, self.user.centre, patient_id, "read")
        return int(row[1])

    def patient_centres(self) -> list[tuple[str, str]]:
        """``(patient_id, centre)`` of every visible patient, in insertion order (a list page's rows)."""
        t = self._t["patients"]
        q = sa.select(t.c.patient_id, t.c.centre).order_by(t.c.id)
        if not self.user.reads_all:
            q = q.where(t.c.centre == self.user.centre)
        with self.connect() as conn:
            return [(str(r[0]), str(r[1])) for r in conn.execute(q)]

    # -- importing ---------------------------------------------------------------------------------

    def import_raw(
        self,
        raw: RawDataset,
        *,
        file_name: str,
        sha256: str,
        fmt: str = "template",
        centre: str | None = None,
        findings: Iterable[Finding] = (),
        log_import: bool = True,
        expected_versions: Mapping[str, int | None] | None = None,
        keep_result: bool = False,
    ) -> ImportResult:
        """Validate ``raw`` and apply it in one transaction (all or nothing).

        Each patient in the input replaces that patient's records: rows are matched by the forms' keys and
        updated in place, new rows inserted, rows the input no longer has deleted; every changed value is
        audited. Patients not in the input are left alone. An input identical to the registry changes
        nothing (no import is recorded).

        Raises :class:`ImportRejected` (validation errors, a row of another centre than ``centre``, an
        unregistered centre, a patient id equal after NFKC normalisation and case folding to another in
        the file or to a registered one -- ``patient.conflict``, which for a centre user says only that the
        id "conflicts with an existing record" when that record is not theirs) or :class:`AccessDenied` (a
        centre user importing a row of another centre).

        ``log_import=False`` (a record saved from a form of the web application): the change is audited
        value by value as usual but not entered in the import log (its audit rows carry no import id).

        The imported patients are locked for the transaction (:meth:`_lock_patients`). ``expected_versions``
        (patient -> the version the input was built from, :meth:`patient_version`; ``None``: a patient that
        must not be registered yet): a different version inside the transaction raises
        :class:`PatientChanged` and nothing is written. ``keep_result``: the result carries the validation
        of the input (``result``). ``versions`` holds the imported patients' versions after the import
        when ``expected_versions`` or ``keep_result`` is given.
        """
        self._require_write(None, f"import {file_name}")
        if not self.user.is_coordinator and centre is not None and centre != self.user.centre:
            raise self._deny(None, f"import {file_name} for centre {centre}")
        result = self._validate(raw)
        found = list(findings) + list(result.findings)
        if any(f.severity == "error" for f in found):
            raise ImportRejected(file_name, found)
        ds = result.dataset
        expected_centre = centre or (None if self.user.is_coordinator else self.user.centre)
        pids = [str(p) for p in ds.patients[self._d.patient_id]]
        track = expected_versions is not None or keep_result
        kept = result if keep_result else None
        with self.begin() as conn:
            self._lock_patients(conn, pids)
            if expected_versions:
                now_at = self._versions(conn, list(expected_versions))
                for pid, version in expected_versions.items():
                    exists = self._patient_centre(conn, pid) is not None
                    if (version is None and exists) or (version is not None and (not exists or now_at[pid] != version)):
                        raise PatientChanged(pid)
            problems = self._check_centres(conn, ds, expected_centre)
            if problems:
                raise ImportRejected(file_name, problems + found)
            changes, n_rows, unchanged, stored = self._plan(conn, ds)
            n_patients = len(ds.patients)
            if not changes:
                return ImportResult(None, file_name, sha256, n_patients, n_rows, 0, 0, 0, unchanged, 0,
                                    tuple(found), kept, self._versions(conn, pids) if track else {},
                                    stored if keep_result else {})
            now = self.registry.clock()
            imp = self._t["imports"]
            counts = {a: sum(c.action == a for c in changes) for a in ("insert", "update", "delete")}
            n_values = sum(len(c.audit) for c in changes)
            if not log_import:
                self._apply(conn, changes, now, None, None)
                return ImportResult(None, file_name, sha256, n_patients, n_rows, counts["insert"],
                                    counts["update"], counts["delete"], unchanged, n_values, tuple(found), kept,
                                    self._versions(conn, pids) if track else {}, stored if keep_result else {})
            import_id = conn.execute(
                imp.insert().values(
                    at=now, user_name=self.user.name, centre=centre, file_name=file_name, sha256=sha256,
                    format=fmt, n_patients=n_patients, n_rows=n_rows, n_inserted=counts["insert"],
                    n_updated=counts["update"], n_deleted=counts["delete"], n_values=n_values,
                )
            ).inserted_primary_key[0]
            self._apply(conn, changes, now, import_id, sha256)
            versions = self._versions(conn, pids) if track else {}
        return ImportResult(import_id, file_name, sha256, n_patients, n_rows, counts["insert"], counts["update"],
                            counts["delete"], unchanged, n_values, tuple(found), kept, versions,
                            stored if keep_result else {})

    def import_dataset(
        self, dataset: Dataset, *, file_name: str | None = None, centre: str | None = None
    ) -> ImportResult:
        """Import a typed :class:`Dataset` (e.g. from :func:`blincompass.validate.load_dataset`): its forms
        are written back as template text and imported like a file (validated again, one transaction)."""
        tables = {}
        h = hashlib.sha256()
        for form in self._d.forms:
            frame = dataset.forms.get(form.name)
            if frame is None:
                continue
            rows = tuple(
                (int(r["_row"]) if "_row" in frame.columns else i,
                 tuple(format_value(v, r) for v in form.variables))
                for i, (_, r) in enumerate(frame.iterrows(), start=2)
            )
            for _, cells in rows:
                h.update("\x1f".join(cells).encode() + b"\n")
            label = str(frame["_file"].iloc[0]) if "_file" in frame.columns and len(frame) else form.name
            tables[form.name] = RawTable(form.name, label, tuple(form.columns), rows)
        name = file_name or dataset.source or "dataset"
        return self.import_raw(RawDataset(name, tables), file_name=name, sha256=h.hexdigest(), fmt="dataset",
                               centre=centre)

    def import_path(
        self,
        path: str | Path,
        *,
        fmt: str = "auto",
        centre: str | None = None,
        mapping: str | Path | None = None,
        redcap_dictionary: str | Path | None = None,
    ) -> ImportResult:
        """Read a template workbook / CSV folder, a REDCap export or SPSS files, then :meth:`import_raw`."""
        converted = read_input(path, fmt=fmt, mapping=mapping, redcap_dictionary=redcap_dictionary,
                               dictionary=self._d, centre=centre or self.user.centre)
        findings = [Finding(i.severity, i.file, i.row, i.patient_id, i.field, i.value, i.rule, i.message)  # type: ignore[arg-type]
                    for i in converted.issues]
        return self.import_raw(
            converted.raw, file_name=converted.file_name, sha256=converted.sha256, fmt=converted.format,
            centre=centre, findings=findings,
        )

    def _check_centres(self, conn: sa.Connection, ds: Dataset, expected: str | None) -> list[Finding]:
        problems: list[Finding] = []
        t = self._t["patients"]
        keys = {str(pid): patient_key(str(pid)) for pid in ds.patients["patient_id"]}
        existing: dict[str, tuple[str, str]] = {}  # patient_key -> (patient_id, centre)
        wanted = sorted(set(keys.values()))
        for i in range(0, len(wanted), 500):
            q = sa.select(t.c[PATIENT_KEY], t.c.patient_id, t.c.centre).where(t.c[PATIENT_KEY].in_(wanted[i:i + 500]))
            existing.update({r[0]: (r[1], r[2]) for r in conn.execute(q)})
        # keys of patients hidden by Row-Level Security (PostgreSQL): another centre's, so not visible
        for key in patient_keys_taken(conn, wanted):
            existing.setdefault(key, ("", None))
        first_row: dict[str, tuple[str, int]] = {}
        for _, r in ds.patients.iterrows():
            pid, c, src, row = str(r["patient_id"]), r["centre"], r["_file"], int(r["_row"])
            if not self.user.is_coordinator and c != self.user.centre:
                # the file's own value is not repeated: a message never names another centre
                raise self._deny(pid, f"import {src} row {row}: the row's centre is not {self.user.centre}; "
                                      "a centre user imports only the patients of their own centre")
            key = keys[pid]
            if key in first_row:
                other, other_row = first_row[key]
                problems.append(Finding(
                    "error", src, row, pid, "patient_id", pid, "patient.conflict",
                    f"patient id {pid} and {other} (row {other_row}) differ only in case or Unicode form; "
                    "identifiers are compared after NFKC normalisation and case folding"))
                continue
            first_row[key] = (pid, row)
            found = existing.get(key)
            if found is not None:
                old_pid, old_centre = found
                visible = self.user.is_coordinator or old_centre == self.user.centre
                if not visible:
                    # the same words for an exact match and for a variant: nothing about the other record
                    problems.append(Finding(
                        "error", src, row, pid, "patient_id", pid, "patient.conflict",
                        f"patient id {pid} conflicts with an existing record; choose another identifier"))
                    continue
                if old_pid != pid:
                    problems.append(Finding(
                        "error", src, row, pid, "patient_id", pid, "patient.conflict",
                        f"patient id {pid} conflicts with the existing patient {old_pid}: identifiers are "
                        "compared after Unicode NFKC normalisation and case folding; use the registered "
                        "identifier or another one"))
                    continue
            if expected is not None and c != expected:
                problems.append(Finding("error", src, row, pid, "centre", c, "centre.mismatch",
                                        f"row is for centre {c}, but the file is imported for centre {expected}; "
                                        "the whole file is rejected"))
            elif not self.registry._centre_exists(conn, c):
                problems.append(Finding("error", src, row, pid, "centre", c, "centre.unknown",
                                        f"centre {c} is not registered (blincompass db add-centre {c})"))
        return problems

    def _plan(
        self, conn: sa.Connection, ds: Dataset,
    ) -> tuple[list[_Change], int, int, dict[str, list[tuple[str, ...]]]]:
        """The changes that store ``ds``; the number of rows and of unchanged rows; the stored text of every
        row of ``ds`` per form (its values as the registry will read them back)."""
        pids = [str(p) for p in ds.patients["patient_id"]]
        centre_of = dict(zip(ds.patients["patient_id"], ds.patients["centre"], strict=True))
        upserts: list[_Change] = []
        deletes: list[_Change] = []
        n_rows = 0
        unchanged = 0
        stored: dict[str, list[tuple[str, ...]]] = {}
        for form in self._d.forms:
            t = self._t[form.name]
            texts = stored[form.name] = []
            existing = {
                tuple(r[k] for k in form.key): r
                for r in _read_rows(conn, sa.select(t).where(t.c.patient_id.in_(pids)).order_by(t.c.id), form.name)
            }
            for old in existing.values():
                _stored_texts(form, old)  # every stored value readable before any comparison
            seen = set()
            for frow in frame_records(ds.forms[form.name]):
                n_rows += 1
                new = row_from_frame(form, frow)
                after_texts = tuple(format_value(v, new) for v in form.variables)
                texts.append(after_texts)
                key = tuple(new[k] for k in form.key)
                seen.add(key)
                pid = str(new["patient_id"])
                old = existing.get(key)
                if old is None:
                    ch = _Change("insert", form.name, pid, {k: new[k] for k in form.key}, new)
                    for v, text in zip(form.variables, after_texts, strict=True):
                        if text != "":
                            ch.audit.append((v.name, None, text))
                    upserts.append(ch)
                    continue
                ch = _Change("update", form.name, pid, {k: new[k] for k in form.key}, {}, row_id=old["id"])
                for v, after in zip(form.variables, after_texts, strict=True):
                    before = format_value(v, old)
                    if before != after:
                        ch.audit.append((v.name, before or None, after or None))
                        for col in ([v.name, f"{v.name}_status"] if v.type == "mrd" else [v.name]):
                            ch.values[col] = new[col]
                if ch.audit:
                    upserts.append(ch)
                else:
                    unchanged += 1
            for key, old in existing.items():
                if key in seen:
                    continue
                ch = _Change("delete", form.name, str(old["patient_id"]), {k: old[k] for k in form.key}, old,
                             row_id=old["id"])
                for v in form.variables:
                    text = format_value(v, old)
                    if text != "":
                        ch.audit.append((v.name, text, None))
                deletes.append(ch)
        for ch in upserts + deletes:
            ch.values.setdefault("__centre__", centre_of.get(ch.patient_id))
        order = {name: i for i, name in enumerate(t.name for t in self.registry.metadata.sorted_tables)}
        deletes.sort(key=lambda c: -order[c.form])
        upserts.sort(key=lambda c: order[c.form])
        return deletes + upserts, n_rows, unchanged, stored

    def _apply(
        self, conn: sa.Connection, changes: list[_Change], now: dt.datetime, import_id: int | None,
        sha256: str | None,
    ) -> None:
        audit = self._t["audit"]
        entries: list[dict[str, Any]] = []
        for ch in changes:
            form = self._d.form(ch.form)
            t = self._t[ch.form]
            centre = ch.values.pop("__centre__", None)
            if ch.action == "insert":
                if PATIENT_KEY in t.c:
                    ch.values[PATIENT_KEY] = patient_key(str(ch.values["patient_id"]))
                conn.execute(t.insert().values(**ch.values))
            elif ch.action == "update":
                conn.execute(t.update().where(t.c.id == ch.row_id).values(**ch.values))
            else:
                conn.execute(t.delete().where(t.c.id == ch.row_id))
            for fld, old, new in ch.audit:
                entries.append(
                    dict(at=now, user_name=self.user.name, centre=centre, action=ch.action, form=ch.form,
                         patient_id=ch.patient_id, record_key=_key_text(form, ch.key), field=fld,
                         old_value=old, new_value=new, import_id=import_id, sha256=sha256)
                )
        if entries:
            conn.execute(audit.insert(), entries)

    # -- single changes ----------------------------------------------------------------------------

    def update_value(
        self, form: str, key: Mapping[str, Any], field: str, value: Any, *,
        within: Callable[[sa.Connection], None] | None = None,
    ) -> bool:
        """Set one value of one record (``value`` as a template cell: text, number, date, ...).

        The patient's records with the new value are validated first; an error raises
        :class:`ImportRejected` and nothing changes. Returns ``False`` when the value was already set.
        ``within`` is called with the connection inside the same transaction, after the change (e.g. to
        record the data query that the change answers); it is called when nothing changed too.
        """
        self._require_write(str(key.get("patient_id", "")), f"update {form}.{field}")
        f = self._d.form(form)
        var = f.variable(field)
        if field in f.key:
            raise ValueError(f"{form}.{field} is part of the key {list(f.key)}; delete and re-import the record")
        pid = str(key.get("patient_id", ""))
        with self.begin() as conn:
            self._lock_patients(conn, [pid])
            centre = self._check_patient(conn, pid, f"update {form}.{field}")
            if field == "centre" and form == "patients" and not self.user.is_coordinator:
                raise self._deny(pid, "moving a patient to another centre needs a coordinator")
            rows = self._rows(conn, [pid])
            raw = self._raw(rows, "registry")  # also checks that every stored value is readable
            match = None
            for i, r in enumerate(rows[form]):
                if all(format_value(f.variable(k), r) == format_value(f.variable(k), dict(key)) for k in f.key):
                    match = i
            if match is None:
                raise LookupError(f"{form}: no record {_key_text(f, {k: key.get(k) for k in f.key})}")
            table = raw.tables[form]
            col = f.columns.index(field)
            cells = list(table.rows[match][1])
            cells[col] = value
            new_rows = list(table.rows)
            new_rows[match] = (table.rows[match][0], tuple(cells))
            tables = dict(raw.tables)
            tables[form] = RawTable(form, table.source, table.header, tuple(new_rows))
            result = self._validate(RawDataset(raw.source, tables))
            if not result.ok:
                raise ImportRejected(f"update of {form} {pid} {field}={value!r}", result.findings)
            new = row_from_frame(f, result.dataset.forms[form].iloc[match])
            old = rows[form][match]
            before, after = format_value(var, old), format_value(var, new)
            if before == after:
                if within is not None:
                    within(conn)
                return False
            if field == "centre" and not self.registry._centre_exists(conn, str(new["centre"])):
                raise ImportRejected(f"update of {form} {pid}", [Finding(
                    "error", table.source, None, pid, "centre", str(value), "centre.unknown",
                    f"centre {new['centre']} is not registered")])
            cols = [field, f"{field}_status"] if var.type == "mrd" else [field]
            ch = _Change("update", form, pid, {k: old[k] for k in f.key}, {c: new[c] for c in cols},
                         row_id=old["id"], audit=[(field, before or None, after or None)])
            ch.values["__centre__"] = new["centre"] if field == "centre" else centre
            self._apply(conn, [ch], self.registry.clock(), None, None)
            if within is not None:
                within(conn)
        return True

    def delete_patient(self, patient_id: str) -> int:
        """Delete every record of a patient (audited value by value); returns the number of rows."""
        self._require_write(patient_id, "delete")
        with self.begin() as conn:
            self._lock_patients(conn, [patient_id])
            centre = self._check_patient(conn, patient_id, "delete")
            rows = self._rows(conn, [patient_id])
            changes = []
            for form in self._d.forms:
                for r in rows[form.name]:
                    ch = _Change("delete", form.name, patient_id, {k: r[k] for k in form.key},
                                 {"__centre__": centre}, row_id=r["id"])
                    ch.audit = [(v.name, text, None) for v, text in zip(form.variables, _stored_texts(form, r),
                                                                       strict=True) if text]
                    changes.append(ch)
            order = {name: i for i, name in enumerate(t.name for t in self.registry.metadata.sorted_tables)}
            changes.sort(key=lambda c: -order[c.form])
            self._apply(conn, changes, self.registry.clock(), None, None)
        return len(changes)

    # -- audit -------------------------------------------------------------------------------------

    def history(self, patient_id: str) -> list[AuditEntry]:
        """The audit trail of one patient, oldest first.

        A centre user sees the entries recorded while the patient belonged to their centre: for another
        centre's patient, as for an unknown identifier, that is an empty list (the same answer).
        """
        a = self._t["audit"]
        q = sa.select(a).where(a.c.patient_id == patient_id).order_by(a.c.id)
        if not self.user.reads_all:
            q = q.where(a.c.centre == self.user.centre)
        with self.connect() as conn:
            rows = _read_rows(conn, q, "audit")
        return [
            AuditEntry(r["id"], _utc(r["at"]), r["user_name"], r["centre"], r["action"], r["form"], r["patient_id"],
                       r["record_key"], r["field"], r["old_value"], r["new_value"], r["import_id"], r["sha256"])
            for r in rows
        ]

    def imports(self) -> pd.DataFrame:
        """The import log, oldest first (a centre user sees the imports of their centre's users)."""
        t = self._t["imports"]
        u = self._t["users"]
        q = sa.select(t).order_by(t.c.id)
        if not self.user.reads_all:
            q = q.where(t.c.user_name.in_(sa.select(u.c.name).where(u.c.centre == self.user.centre)))
        with self.connect() as conn:
            rows = _read_rows(conn, q, "imports")
        for r in rows:
            r["at"] = _utc(r["at"])
        return pd.DataFrame(rows, columns=[c.name for c in t.columns])
