"""PostgreSQL Row-Level Security: centre isolation enforced by the database (no-op on SQLite).

Enables row-level security with the registry's policies on every patient-data table (``patients``,
``courses``, ``assessments``, ``adverse_events``, ``outcomes``), on ``audit`` and ``imports`` and -- when the web
registry's migration 0003_web has created them -- on ``queries`` and ``query_messages``, and creates
the functions the policies use to look up the acting user's role and centre (the user is named by the
transaction-local setting ``blincompass.user``). See :mod:`blincompass.registry.rls`.

Revision ID: 0004_rls
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from blincompass.registry.rls import CHILD_FORMS, OPTIONAL_TABLES, function_sql, policy_sql

revision = '0004_rls'
down_revision = '0003_web'
branch_labels = None
depends_on = None

TABLES: tuple[str, ...] = ("patients", *CHILD_FORMS, "audit", "imports")


def _tables(bind: sa.Connection) -> list[str]:
    """The tables to protect: the registry's, and the web registry's data queries where they exist."""
    present = [t for t in OPTIONAL_TABLES
               if bind.execute(sa.text("SELECT to_regclass(:t) IS NOT NULL"), {"t": t}).scalar_one()]
    return [*TABLES, *present]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    for statement in function_sql(schema)[0]:
        op.execute(statement)
    for table in _tables(bind):
        for statement in policy_sql(table)[0]:
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return
    schema = bind.execute(sa.text("SELECT current_schema()")).scalar_one()
    for table in reversed(_tables(bind)):
        for statement in policy_sql(table)[1]:
            op.execute(statement)
    for statement in function_sql(schema)[1]:
        op.execute(statement)
