"""Patient identifiers unique after Unicode NFKC normalisation and case folding; audit rows irreplaceable.

* ``patients.patient_key``: ``patient_id`` as :func:`blincompass.registry.schema.patient_key` gives it
  (NFKC, case folded), filled for the existing rows, with a unique index: ``SYN-025`` and ``syn-025`` can no
  longer both be in the registry. The column is required by a CHECK constraint on PostgreSQL and by
  triggers on SQLite (which cannot add a NOT NULL column or a CHECK constraint to a filled table).
* SQLite: a BEFORE INSERT trigger on ``audit`` and ``imports`` refuses an insert whose primary key exists,
  so ``INSERT OR REPLACE``, ``REPLACE INTO`` and upserts cannot rewrite a row (REPLACE deletes the old row
  without firing DELETE triggers unless ``recursive_triggers`` is on).

The upgrade stops, naming the identifiers, when existing patients already collide.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from blincompass.registry.db import APPEND_ONLY_TABLES, no_replace_sql
from blincompass.registry.schema import patient_key

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_KEY_MESSAGE = "patients.patient_key (the normalised patient_id) is required"


def _key_triggers() -> tuple[list[str], list[str]]:
    up = [
        f"CREATE TRIGGER patients_key_required_{op_name} BEFORE {event} ON patients "
        f"WHEN NEW.patient_key IS NULL OR NEW.patient_key = '' "
        f"BEGIN SELECT RAISE(ABORT, '{_KEY_MESSAGE}'); END"
        for op_name, event in (("insert", "INSERT"), ("update", "UPDATE OF patient_key"))
    ]
    down = [f"DROP TRIGGER IF EXISTS patients_key_required_{n}" for n in ("insert", "update")]
    return up, down


def upgrade() -> None:
    bind = op.get_bind()
    dialect = bind.dialect.name
    patients = sa.table('patients', sa.column('id', sa.Integer()), sa.column('patient_id', sa.Text()),
                        sa.column('patient_key', sa.Text()))
    # checked before any change, so that a refused upgrade leaves the database as it was on every backend
    rows = bind.execute(sa.select(patients.c.id, patients.c.patient_id).order_by(patients.c.id)).all()
    seen: dict[str, str] = {}
    clashes: list[str] = []
    for _, pid in rows:
        key = patient_key(pid)
        if key in seen:
            clashes.append(f"{seen[key]} / {pid}")
        else:
            seen[key] = pid
    if clashes:
        raise RuntimeError(
            "patient identifiers that differ only in case or Unicode compatibility form: "
            + "; ".join(clashes) + ". Rename or delete one of each pair, then migrate again."
        )
    op.add_column('patients', sa.Column('patient_key', sa.Text(), nullable=True,
                                        comment='patient_id after Unicode NFKC normalisation and case folding'))
    for row_id, pid in rows:
        bind.execute(patients.update().where(patients.c.id == row_id).values(patient_key=patient_key(pid)))
    op.create_index('uq_patients_patient_key', 'patients', ['patient_key'], unique=True)
    if dialect == 'sqlite':
        for statement in _key_triggers()[0]:
            op.execute(statement)
    else:
        op.create_check_constraint(op.f('ck_patients_patient_key_set'), 'patients',
                                   "patient_key IS NOT NULL AND patient_key <> ''")
    for table in APPEND_ONLY_TABLES:
        for statement in no_replace_sql(dialect, table)[0]:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY_TABLES:
        for statement in no_replace_sql(dialect, table)[1]:
            op.execute(statement)
    if dialect == 'sqlite':
        for statement in _key_triggers()[1]:
            op.execute(statement)
    else:
        op.drop_constraint(op.f('ck_patients_patient_key_set'), 'patients', type_='check')
    op.drop_index('uq_patients_patient_key', table_name='patients')
    op.execute('ALTER TABLE patients DROP COLUMN patient_key')
