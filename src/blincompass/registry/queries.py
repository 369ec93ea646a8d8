"""Data queries (REDCap's data resolution workflow), through the registry's access layer.

A monitor or a coordinator opens a query on one field of one record of one patient, with a comment. The
patient's centre sees its open queries and answers them -- with a comment, and where the value was wrong
with the corrected value, which is written through :meth:`ScopedRegistry.update_value` (validated and
audited) in the same transaction as the answer. The monitor then closes the query, or reopens it with a
further comment. Status: ``open`` -> ``answered`` -> ``closed`` (or back to ``open``).

The tables ``queries`` and ``query_messages`` are defined in :mod:`blincompass.registry.schema`. Every
message is a row of ``query_messages``, which is append-only like the audit trail (triggers refuse
UPDATE and DELETE); a correction's message holds the id of its audit entry, so the patient's audit page
shows which query changed a value. A centre user sees only the queries of their centre's patients: for
another centre's query every function answers as for an unknown id (:class:`QueryNotFound`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from blincompass.registry.access import ScopedRegistry

__all__ = [
    "MESSAGE_KINDS",
    "QUERY_STATUSES",
    "Query",
    "QueryMessage",
    "QueryNotFound",
    "answer_query",
    "close_query",
    "get_query",
    "list_queries",
    "open_query",
    "query_counts",
    "query_messages_for_patient",
    "reopen_query",
]

QUERY_STATUSES: tuple[str, ...] = ("open", "answered", "closed")
MESSAGE_KINDS: tuple[str, ...] = ("open", "answer", "correction", "close", "reopen")
MAX_COMMENT = 4000


class QueryNotFound(LookupError):
    """No query of that id that the user may see (the same answer for an unknown id and another centre's)."""


@dataclass(frozen=True)
class QueryMessage:
    """One message of a query's thread (``audit_id``: the audit entry of a correction)."""

    id: int
    query_id: int
    at: dt.datetime
    user: str
    kind: str
    text: str
    old_value: str | None
    new_value: str | None
    audit_id: int | None


@dataclass(frozen=True)
class Query:
    """A data query on ``form`` / ``record_key`` / ``field`` of ``patient_id``."""

    id: int
    patient_id: str
    centre: str
    form: str
    record_key: str
    field: str
    status: str
    opened_by: str
    opened_at: dt.datetime
    updated_at: dt.datetime
    messages: tuple[QueryMessage, ...] = ()

    def age_days(self, now: dt.datetime | None = None) -> int:
        """Whole days since the query was opened."""
        return int(((now or dt.datetime.now(dt.UTC)) - self.opened_at).total_seconds() // 86400)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _comment(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise ValueError("a comment is required")
    if len(text) > MAX_COMMENT:
        raise ValueError(f"a comment has at most {MAX_COMMENT} characters")
    return text


def _key_text(form: Any, key: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={key[k]}" for k in form.key)


def _record_key(scoped: ScopedRegistry, form_name: str, patient_id: str, key: Mapping[str, Any]) -> dict[str, str]:
    """The record's key as template text, checked to exist among the patient's records (raises LookupError)."""
    from blincompass.registry.schema import format_value

    form = scoped.registry.dictionary.form(form_name)
    ds = scoped.read_dataset([patient_id])  # PatientNotFound for a patient the user cannot see
    frame = ds.forms[form.name]
    wanted = {k: str(key.get(k, "")) for k in form.key}
    wanted["patient_id"] = patient_id
    for _, r in frame.iterrows():
        texts = {k: format_value(form.variable(k), r) for k in form.key}
        if texts == wanted:
            return texts
    raise LookupError(f"{form_name}: no record {_key_text(form, wanted)} of patient {patient_id}")


def _row_query(r: Any, messages: Sequence[QueryMessage] = ()) -> Query:
    return Query(r.id, r.patient_id, r.centre, r.form, r.record_key, r.field, r.status, r.opened_by,
                 _utc(r.opened_at), _utc(r.updated_at), tuple(messages))


def _add_message(conn: sa.Connection, scoped: ScopedRegistry, query_id: int, kind: str, text: str, now: dt.datetime,
                 old: str | None = None, new: str | None = None, audit_id: int | None = None) -> None:
    m = scoped.registry.tables["query_messages"]
    conn.execute(m.insert().values(query_id=query_id, at=now, user_name=scoped.user.name, kind=kind, text=text,
                                   old_value=old, new_value=new, audit_id=audit_id))


def open_query(
    scoped: ScopedRegistry, patient_id: str, form: str, key: Mapping[str, Any], field: str, comment: str,
) -> Query:
    """Open a query on ``field`` of the record ``key`` of ``form`` (a monitor's or a coordinator's task).

    Raises :class:`~blincompass.registry.access.AccessDenied` for a centre user, ``PatientNotFound`` for a
    patient the user cannot see, ``LookupError`` for an unknown record, ``ValueError`` for an unknown field
    or an empty comment.
    """
    from blincompass.registry.access import AccessDenied

    user = scoped.user
    if user.role not in ("monitor", "coordinator"):
        raise AccessDenied(user.name, user.centre, patient_id, "only a monitor or a coordinator opens data queries")
    text = _comment(comment)
    f = scoped.registry.dictionary.form(form)
    if field not in f.columns:
        raise ValueError(f"form {form} has no field {field!r}")
    rec = _record_key(scoped, form, patient_id, key)
    t = scoped.registry.tables["queries"]
    p = scoped.registry.tables["patients"]
    now = scoped.registry.clock()
    with scoped.begin() as conn:
        centre = conn.execute(sa.select(p.c.centre).where(p.c.patient_id == patient_id)).scalar_one()
        qid = conn.execute(t.insert().values(
            patient_id=patient_id, centre=centre, form=form, record_key=_key_text(f, rec), field=field,
            status="open", opened_by=user.name, opened_at=now, updated_at=now)).inserted_primary_key[0]
        _add_message(conn, scoped, qid, "open", text, now)
    return get_query(scoped, int(qid))


def _visible_centres(scoped: ScopedRegistry) -> str | None:
    """``None`` when the user reads every centre, else their centre."""
    return None if scoped.user.reads_all else scoped.user.centre


def list_queries(
    scoped: ScopedRegistry, *, status: str | None = None, centre: str | None = None, patient_id: str | None = None,
) -> list[Query]:
    """The queries the user may see (a centre user: their centre's), newest first."""
    t = scoped.registry.tables["queries"]
    q = sa.select(t).order_by(t.c.id.desc())
    own = _visible_centres(scoped)
    if own is not None:
        q = q.where(t.c.centre == own)
    if status is not None:
        q = q.where(t.c.status == status)
    if centre is not None:
        q = q.where(t.c.centre == centre)
    if patient_id is not None:
        q = q.where(t.c.patient_id == patient_id)
    with scoped.connect() as conn:
        return [_row_query(r) for r in conn.execute(q)]


def get_query(scoped: ScopedRegistry, query_id: int) -> Query:
    """One query with its thread; :class:`QueryNotFound` for an unknown id or another centre's query."""
    t, m = scoped.registry.tables["queries"], scoped.registry.tables["query_messages"]
    with scoped.connect() as conn:
        r = conn.execute(sa.select(t).where(t.c.id == query_id)).first()
        own = _visible_centres(scoped)
        if r is None or (own is not None and r.centre != own):
            raise QueryNotFound(f"no query {query_id}")
        msgs = [QueryMessage(x.id, x.query_id, _utc(x.at), x.user_name, x.kind, x.text, x.old_value, x.new_value,
                             x.audit_id)
                for x in conn.execute(sa.select(m).where(m.c.query_id == query_id).order_by(m.c.id))]
    return _row_query(r, msgs)


def _set_status(conn: sa.Connection, scoped: ScopedRegistry, query_id: int, status: str, now: dt.datetime) -> None:
    t = scoped.registry.tables["queries"]
    conn.execute(t.update().where(t.c.id == query_id).values(status=status, updated_at=now))


def _parse_key(form: Any, record_key: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in record_key.split(", "):
        k, _, v = part.partition("=")
        out[k] = v
    return {k: out.get(k, "") for k in form.key}


def answer_query(scoped: ScopedRegistry, query_id: int, comment: str, new_value: str | None = None) -> Query:
    """Answer a query as the patient's centre (or a coordinator): a comment, and optionally the corrected
    value, written (validated, audited) in the same transaction as the answer. A monitor cannot answer.

    Raises ``ImportRejected`` when the corrected value does not pass validation (nothing is written).
    """
    from blincompass.registry.access import AccessDenied
    from blincompass.registry.schema import format_value

    q = get_query(scoped, query_id)
    user = scoped.user
    if not user.can_write:
        raise AccessDenied(user.name, user.centre, q.patient_id, "a monitor does not answer data queries")
    if q.status == "closed":
        raise ValueError(f"query {query_id} is closed")
    text = _comment(comment)
    now = scoped.registry.clock()
    if new_value is None or new_value == "":
        with scoped.begin() as conn:
            _add_message(conn, scoped, query_id, "answer", text, now)
            _set_status(conn, scoped, query_id, "answered", now)
        return get_query(scoped, query_id)
    form = scoped.registry.dictionary.form(q.form)
    key = _parse_key(form, q.record_key)
    ds = scoped.read_dataset([q.patient_id])
    old = None
    for _, r in ds.forms[form.name].iterrows():
        if all(format_value(form.variable(k), r) == key[k] for k in form.key):
            old = format_value(form.variable(q.field), r) or None
    audit = scoped.registry.tables["audit"]

    def record(conn: sa.Connection) -> None:
        a = conn.execute(
            sa.select(audit.c.id, audit.c.new_value).where(
                audit.c.patient_id == q.patient_id, audit.c.form == q.form, audit.c.record_key == q.record_key,
                audit.c.field == q.field, audit.c.user_name == user.name, audit.c.import_id.is_(None))
            .order_by(audit.c.id.desc()).limit(1)).first()
        changed = a is not None and a.id > last_audit
        _add_message(conn, scoped, query_id, "correction" if changed else "answer", text, now,
                     old if changed else None, a.new_value if changed else None, a.id if changed else None)
        _set_status(conn, scoped, query_id, "answered", now)

    with scoped.connect() as conn:
        last_audit = conn.execute(sa.select(sa.func.coalesce(sa.func.max(audit.c.id), 0))).scalar_one()
    scoped.update_value(q.form, key, q.field, new_value, within=record)
    return get_query(scoped, query_id)


def _monitor_step(scoped: ScopedRegistry, query_id: int, comment: str, kind: str, status: str) -> Query:
    from blincompass.registry.access import AccessDenied

    q = get_query(scoped, query_id)
    user = scoped.user
    if user.role not in ("monitor", "coordinator"):
        raise AccessDenied(user.name, user.centre, q.patient_id, f"only a monitor or a coordinator may {kind} a query")
    text = _comment(comment)
    now = scoped.registry.clock()
    with scoped.begin() as conn:
        _add_message(conn, scoped, query_id, kind, text, now)
        _set_status(conn, scoped, query_id, status, now)
    return get_query(scoped, query_id)


def close_query(scoped: ScopedRegistry, query_id: int, comment: str) -> Query:
    """Close a query (a monitor's or a coordinator's task)."""
    return _monitor_step(scoped, query_id, comment, "close", "closed")


def reopen_query(scoped: ScopedRegistry, query_id: int, comment: str) -> Query:
    """Reopen an answered or closed query with a further comment (a monitor's or a coordinator's task)."""
    return _monitor_step(scoped, query_id, comment, "reopen", "open")


def query_counts(scoped: ScopedRegistry) -> dict[str, dict[str, int]]:
    """Number of queries per centre and status among those the user may see."""
    t = scoped.registry.tables["queries"]
    q = sa.select(t.c.centre, t.c.status, sa.func.count()).group_by(t.c.centre, t.c.status)
    own = _visible_centres(scoped)
    if own is not None:
        q = q.where(t.c.centre == own)
    out: dict[str, dict[str, int]] = {}
    with scoped.connect() as conn:
        for centre, status, n in conn.execute(q):
            out.setdefault(centre, dict.fromkeys(QUERY_STATUSES, 0))[status] = int(n)
    return out


def query_messages_for_patient(scoped: ScopedRegistry, patient_id: str) -> list[tuple[Query, QueryMessage]]:
    """Every message of the queries on one patient, oldest first (for the patient's audit page)."""
    out: list[tuple[Query, QueryMessage]] = []
    for q in list_queries(scoped, patient_id=patient_id):
        full = get_query(scoped, q.id)
        out.extend((full, m) for m in full.messages)
    return sorted(out, key=lambda qm: qm[1].id)
