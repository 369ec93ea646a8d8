"""Registry schema generated from the data dictionary (SQLAlchemy 2 Core metadata).

One table per form, named as the form, with a surrogate ``id`` primary key (insertion order = export
order) and one typed column per dictionary variable:

* ``string`` / ``ctcae_term`` -> ``VARCHAR`` (the reported AE term; its CTCAE mapping is re-derived on
  read), ``code`` -> ``VARCHAR`` with a ``CHECK`` constraint listing the allowed codes;
* ``date`` -> ``DATE``, ``integer`` -> ``INTEGER``, ``number`` -> ``FLOAT``, ``boolean`` -> ``BOOLEAN``;
* ``mrd`` -> ``<name>`` (``FLOAT`` level, only when quantified) and ``<name>_status`` (``CHECK`` in
  quantified / NEG / PNQ / ND).

The form's key is a ``UNIQUE`` constraint; ``references`` become foreign keys (``patients.patient_id``,
and ``courses.course`` as the composite ``(patient_id, course)``); ``patients.centre`` references
``centres``. Besides the forms: ``centres``, ``users`` (role ``centre``, ``monitor`` or ``coordinator``),
``imports`` (one row per applied import: file, sha256, user, UTC time, counts), ``audit`` (append-only; one
row per changed value), ``api_tokens`` (personal API tokens of the command line, hashed), the web
application's ``web_credentials`` and ``web_sessions`` (:mod:`blincompass.registry.auth`), and the data
queries ``queries`` / ``query_messages`` (:mod:`blincompass.registry.queries`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa

from blincompass.dictionary import MRD_CODES, DataDictionary, Form, Variable, load_dictionary
from blincompass.io.dataset import format_value  # the same text as Dataset.to_csv_dir writes

__all__ = [
    "AUDIT_ACTIONS",
    "add_auth_tables",
    "add_query_tables",
    "META_TABLES",
    "ROLES",
    "build_metadata",
    "db_columns",
    "format_value",
    "frame_records",
    "patient_key",
    "row_from_frame",
]

#: A centre's data manager, a monitor (reads every centre, raises data queries, changes nothing), the
#: coordinating centre.
ROLES: tuple[str, ...] = ("centre", "monitor", "coordinator")
AUDIT_ACTIONS: tuple[str, str, str] = ("insert", "update", "delete")
META_TABLES: tuple[str, ...] = ("centres", "users", "imports", "audit", "api_tokens", "web_credentials",
                                 "web_sessions", "queries", "query_messages")
MRD_STATUSES: tuple[str, ...] = ("quantified", *MRD_CODES)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: Column of ``patients`` holding :func:`patient_key` of ``patient_id``, unique across centres.
PATIENT_KEY = "patient_key"


def patient_key(patient_id: str) -> str:
    """The form of a patient identifier that the registry compares: Unicode NFKC, case folded, NFKC again.

    ``SYN-025``, ``syn-025`` and the full-width ``ＳＹＮ－０２５`` give the same key, so at most one of them
    can be in the registry (a unique index on ``patients.patient_key``). This is Unicode's compatibility
    caseless matching (The Unicode Standard, section 3.13, D146) up to the choice of NFKC over NFKD.
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", patient_id).casefold())


def _in_list(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{column} IN ({quoted})"


def db_columns(var: Variable) -> list[str]:
    """Database columns holding one dictionary variable (the mrd type has two)."""
    return [var.name, f"{var.name}_status"] if var.type == "mrd" else [var.name]


def _column_type(var: Variable) -> sa.types.TypeEngine[Any]:
    if var.type == "date":
        return sa.Date()
    if var.type == "integer":
        return sa.Integer()
    if var.type in ("number", "mrd"):
        return sa.Float()
    if var.type == "boolean":
        return sa.Boolean(create_constraint=False)
    if var.type == "code":
        return sa.String(max(len(c) for c in var.code_values))
    if var.name == "patient_id":
        return sa.String(40)  # the dictionary's pattern allows at most 40 characters
    return sa.Text()  # free text (the reader sets no length limit)


def _form_table(md: sa.MetaData, form: Form, d: DataDictionary) -> sa.Table:
    cols: list[Any] = [sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)]
    extra: list[Any] = []
    for v in form.variables:
        # NULL is allowed where the dictionary allows a missing value (and for an unknown integer grade)
        required = v.name in form.key or (v.required and not (v.allow_unknown and v.type != "code"))
        nullable = v.type == "mrd" or not required
        cols.append(sa.Column(v.name, _column_type(v), nullable=nullable, comment=v.label[:200]))
        if v.type == "code":
            extra.append(sa.CheckConstraint(_in_list(v.name, v.code_values), name=f"{v.name}_code"))
        if v.type == "mrd":
            status = f"{v.name}_status"
            cols.append(sa.Column(status, sa.String(10), nullable=not v.required, comment=f"{v.label[:180]}: status"))
            extra.append(sa.CheckConstraint(_in_list(f"{v.name}_status", MRD_STATUSES), name=f"{v.name}_status_code"))
    extra.append(sa.UniqueConstraint(*form.key))
    if form.name == "patients":
        extra.append(sa.ForeignKeyConstraint(["centre"], ["centres.code"]))
        # Filled by the access layer (the database cannot compute NFKC case folding); SQLite cannot add a
        # NOT NULL column to a filled table, so migration 0002 requires it with a CHECK (PostgreSQL) or
        # triggers (SQLite), and a unique index makes variants of an identifier collide.
        cols.append(sa.Column(PATIENT_KEY, sa.Text(), nullable=True,
                              comment="patient_id after Unicode NFKC normalisation and case folding"))
        extra.append(sa.CheckConstraint(f"{PATIENT_KEY} IS NOT NULL AND {PATIENT_KEY} <> ''",
                                        name=f"{PATIENT_KEY}_set"))
        extra.append(sa.Index(f"uq_patients_{PATIENT_KEY}", PATIENT_KEY, unique=True))
    for v in form.variables:
        if not v.references:
            continue
        target_form, _, target_var = v.references.partition(".")
        target = d.form(target_form)
        if tuple(target.key) == (target_var,):
            extra.append(sa.ForeignKeyConstraint([v.name], [f"{target_form}.{target_var}"]))
        elif (
            len(target.key) == 2
            and target.key[1] == target_var
            and target.key[0] in form.columns
            and target.key[0] != v.name
        ):
            first = target.key[0]
            extra.append(
                sa.ForeignKeyConstraint([first, v.name], [f"{target_form}.{first}", f"{target_form}.{target_var}"])
            )
    return sa.Table(form.name, md, *cols, *extra, comment=form.label)


def build_metadata(dictionary: DataDictionary | None = None) -> sa.MetaData:
    """The registry schema for a data dictionary (default: the shipped BLIN-COMPASS one)."""
    d = dictionary or load_dictionary()
    clash = set(META_TABLES) & set(d.form_names)
    if clash:
        raise ValueError(f"dictionary: form names {sorted(clash)} clash with registry tables")
    md = sa.MetaData(naming_convention=NAMING)
    sa.Table(
        "centres", md,
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        comment="Participating centres",
    )
    sa.Table(
        "users", md,
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("role", sa.String(12), nullable=False),
        sa.Column("centre", sa.Text, sa.ForeignKey("centres.code"), nullable=True),
        sa.CheckConstraint(_in_list("role", ROLES), name="role"),
        sa.CheckConstraint("role <> 'centre' OR centre IS NOT NULL", name="centre_user_has_centre"),
        comment="Registry users: a centre's data manager, a monitor, or the coordinating centre",
    )
    sa.Table(
        "imports", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_name", sa.String(80), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("centre", sa.Text, nullable=True),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("n_patients", sa.Integer, nullable=False),
        sa.Column("n_rows", sa.Integer, nullable=False),
        sa.Column("n_inserted", sa.Integer, nullable=False),
        sa.Column("n_updated", sa.Integer, nullable=False),
        sa.Column("n_deleted", sa.Integer, nullable=False),
        sa.Column("n_values", sa.Integer, nullable=False),
        comment="Applied imports (append-only)",
    )
    sa.Table(
        "audit", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_name", sa.String(80), nullable=False),
        sa.Column("centre", sa.Text, nullable=True),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("form", sa.String(40), nullable=False),
        sa.Column("patient_id", sa.String(40), nullable=False),
        sa.Column("record_key", sa.Text, nullable=False),
        sa.Column("field", sa.String(80), nullable=True),
        sa.Column("old_value", sa.Text, nullable=True),
        sa.Column("new_value", sa.Text, nullable=True),
        sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id"), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.CheckConstraint(_in_list("action", AUDIT_ACTIONS), name="action"),
        sa.Index("ix_audit_patient_id", "patient_id"),
        comment="Audit trail: one row per changed value (append-only)",
    )
    sa.Table(
        "api_tokens", md,
        sa.Column("id", sa.String(12), primary_key=True),
        sa.Column("user_name", sa.String(80), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("label", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        comment="Personal API tokens of the command line (SHA-256 of the secret only)",
    )
    for form in d.forms:
        _form_table(md, form, d)
    add_auth_tables(md)
    add_query_tables(md)
    return md


def add_auth_tables(md: sa.MetaData) -> None:
    """Add ``web_credentials`` and ``web_sessions`` to the registry schema."""
    sa.Table(
        "web_credentials", md,
        sa.Column("user_name", sa.String(80), sa.ForeignKey("users.name"), primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("totp_secret", sa.String(64), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger, nullable=True),
        sa.Column("failed_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        comment="Web logins: Argon2id password hash, optional TOTP secret, failed-login counter",
    )
    sa.Table(
        "web_sessions", md,
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(80), sa.ForeignKey("users.name"), nullable=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_web_sessions_user_name", "user_name"),
        comment="Web sessions (server side; the browser holds a token whose SHA-256 is id_hash)",
    )


def add_query_tables(md: sa.MetaData) -> None:
    """Add ``queries`` and ``query_messages`` to the registry schema."""
    sa.Table(
        "queries", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("patient_id", sa.String(40), nullable=False),
        sa.Column("centre", sa.Text, nullable=False),
        sa.Column("form", sa.String(40), nullable=False),
        sa.Column("record_key", sa.Text, nullable=False),
        sa.Column("field", sa.String(80), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("opened_by", sa.String(80), sa.ForeignKey("users.name"), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'answered', 'closed')", name="status"),
        sa.Index("ix_queries_patient_id", "patient_id"),
        comment="Data queries: one field of one record of one patient",
    )
    sa.Table(
        "query_messages", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("query_id", sa.Integer, sa.ForeignKey("queries.id"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_name", sa.String(80), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("old_value", sa.Text, nullable=True),
        sa.Column("new_value", sa.Text, nullable=True),
        sa.Column("audit_id", sa.Integer, sa.ForeignKey("audit.id"), nullable=True),
        sa.CheckConstraint("kind IN ('open', 'answer', 'correction', 'close', 'reopen')", name="kind"),
        sa.Index("ix_query_messages_query_id", "query_id"),
        comment="The thread of each data query (append-only)",
    )



# --------------------------------------------------------------------------------------------------
# Values: typed Dataset row -> database values; database values -> template text


def _na(value: Any) -> bool:
    return value is None or (not isinstance(value, str | bool) and bool(pd.isna(value)))


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a typed frame as dicts of the values ``iterrows`` gives (the frame as one object array,
    as ``iterrows`` reads it, without a Series per row and a lookup per value: those cost more than the
    values themselves, on a patient's few rows as on a large import)."""
    names = list(frame.columns)
    return [dict(zip(names, values, strict=True)) for values in frame.to_numpy(dtype=object)]


def row_from_frame(form: Form, row: Mapping[str, Any]) -> dict[str, Any]:
    """Database values of one row of a typed Dataset frame (see :mod:`blincompass.io.dataset`)."""
    out: dict[str, Any] = {}
    for v in form.variables:
        value = row[v.name]
        if v.type == "mrd":
            status = row[f"{v.name}_status"]
            out[f"{v.name}_status"] = None if _na(status) else str(status)
            out[v.name] = float(value) if status == "quantified" and not _na(value) else None
        elif _na(value):
            out[v.name] = None
        elif v.type == "date":
            out[v.name] = pd.Timestamp(value).date()
        elif v.type == "integer":
            out[v.name] = int(value)
        elif v.type == "number":
            out[v.name] = float(value)
        elif v.type == "boolean":
            out[v.name] = bool(value)
        else:
            out[v.name] = str(value)
    return out
