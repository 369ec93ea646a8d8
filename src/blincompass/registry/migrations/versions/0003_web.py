"""Web application: the monitor role, logins (credentials, sessions) and data queries.

* ``users.role`` may be ``monitor`` (reads every centre, raises data queries, changes nothing); only a
  centre user needs a centre. SQLite cannot change a CHECK constraint, so there the table is rebuilt
  (its rows kept; the foreign keys that point at it are checked when the migration commits).
* ``web_credentials`` (Argon2id hash, optional TOTP secret, failed-login counter and lock) and
  ``web_sessions`` (server-side sessions: the SHA-256 of the browser's token, the CSRF token, times).
* ``queries`` and ``query_messages`` (the thread; append-only like the audit trail: triggers refuse UPDATE
  and DELETE, and on SQLite the replacement of a row).

Revision ID: 0003_web
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from blincompass.registry.db import append_only_sql, no_replace_sql

revision = '0003_web'
down_revision = '0002'
branch_labels = None
depends_on = None

_NEW_ROLE = "role IN ('centre', 'monitor', 'coordinator')"
_NEW_CENTRE = "role <> 'centre' OR centre IS NOT NULL"
_OLD_ROLE = "role IN ('centre', 'coordinator')"
_OLD_CENTRE = "role = 'coordinator' OR centre IS NOT NULL"
_NEW_COMMENT = "Registry users: a centre's data manager, a monitor, or the coordinating centre"
_OLD_COMMENT = "Registry users: a centre's data manager, or the coordinating centre"


def _users(role: str, centre: str, comment: str) -> sa.Table:
    return sa.Table(
        'users', sa.MetaData(),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('role', sa.String(length=12), nullable=False),
        sa.Column('centre', sa.Text(), nullable=True),
        sa.CheckConstraint(centre, name='ck_users_centre_user_has_centre'),
        sa.CheckConstraint(role, name='ck_users_role'),
        sa.ForeignKeyConstraint(['centre'], ['centres.code'], name='fk_users_centre_centres'),
        sa.PrimaryKeyConstraint('name', name='pk_users'),
        comment=comment,
    )


def _change_users(role: str, centre: str, comment: str, old_comment: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        if bind.execute(sa.text("SELECT count(*) FROM users WHERE NOT (" + role + ")")).scalar_one():
            raise RuntimeError("users with the role 'monitor' exist; change or remove them before downgrading")
        # the rebuilt table replaces the old one within this transaction: references to users are checked
        # at commit, when the new table holds every row again
        op.execute("PRAGMA defer_foreign_keys = ON")
        with op.batch_alter_table('users', recreate='always', copy_from=_users(role, centre, comment)):
            pass
        return
    op.drop_constraint(op.f('ck_users_role'), 'users', type_='check')
    op.drop_constraint(op.f('ck_users_centre_user_has_centre'), 'users', type_='check')
    op.create_check_constraint(op.f('ck_users_role'), 'users', role)
    op.create_check_constraint(op.f('ck_users_centre_user_has_centre'), 'users', centre)
    op.create_table_comment('users', comment, existing_comment=old_comment)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _change_users(_NEW_ROLE, _NEW_CENTRE, _NEW_COMMENT, _OLD_COMMENT)
    op.create_table(
        'web_credentials',
        sa.Column('user_name', sa.String(length=80), nullable=False),
        sa.Column('password_hash', sa.Text(), nullable=False),
        sa.Column('totp_secret', sa.String(length=64), nullable=True),
        sa.Column('failed_count', sa.Integer(), server_default='0', nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_name'], ['users.name'], name=op.f('fk_web_credentials_user_name_users')),
        sa.PrimaryKeyConstraint('user_name', name=op.f('pk_web_credentials')),
        comment='Web logins: Argon2id password hash, optional TOTP secret, failed-login counter',
    )
    op.create_table(
        'web_sessions',
        sa.Column('id_hash', sa.String(length=64), nullable=False),
        sa.Column('user_name', sa.String(length=80), nullable=True),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_name'], ['users.name'], name=op.f('fk_web_sessions_user_name_users')),
        sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_web_sessions')),
        comment="Web sessions (server side; the browser holds a token whose SHA-256 is id_hash)",
    )
    op.create_index('ix_web_sessions_user_name', 'web_sessions', ['user_name'], unique=False)
    op.create_table(
        'queries',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('patient_id', sa.String(length=40), nullable=False),
        sa.Column('centre', sa.Text(), nullable=False),
        sa.Column('form', sa.String(length=40), nullable=False),
        sa.Column('record_key', sa.Text(), nullable=False),
        sa.Column('field', sa.String(length=80), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('opened_by', sa.String(length=80), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('open', 'answered', 'closed')", name=op.f('ck_queries_status')),
        sa.ForeignKeyConstraint(['opened_by'], ['users.name'], name=op.f('fk_queries_opened_by_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_queries')),
        comment='Data queries: one field of one record of one patient',
    )
    op.create_index('ix_queries_patient_id', 'queries', ['patient_id'], unique=False)
    op.create_table(
        'query_messages',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('query_id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('user_name', sa.String(length=80), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('old_value', sa.Text(), nullable=True),
        sa.Column('new_value', sa.Text(), nullable=True),
        sa.Column('audit_id', sa.Integer(), nullable=True),
        sa.CheckConstraint("kind IN ('open', 'answer', 'correction', 'close', 'reopen')",
                           name=op.f('ck_query_messages_kind')),
        sa.ForeignKeyConstraint(['audit_id'], ['audit.id'], name=op.f('fk_query_messages_audit_id_audit')),
        sa.ForeignKeyConstraint(['query_id'], ['queries.id'], name=op.f('fk_query_messages_query_id_queries')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_query_messages')),
        comment='The thread of each data query (append-only)',
    )
    op.create_index('ix_query_messages_query_id', 'query_messages', ['query_id'], unique=False)
    for sql in append_only_sql(dialect, 'query_messages')[0] + no_replace_sql(dialect, 'query_messages')[0]:
        op.execute(sql)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for sql in no_replace_sql(dialect, 'query_messages')[1] + append_only_sql(dialect, 'query_messages')[1]:
        op.execute(sql)
    op.drop_index('ix_query_messages_query_id', table_name='query_messages')
    op.drop_table('query_messages')
    op.drop_index('ix_queries_patient_id', table_name='queries')
    op.drop_table('queries')
    op.drop_index('ix_web_sessions_user_name', table_name='web_sessions')
    op.drop_table('web_sessions')
    op.drop_table('web_credentials')
    _change_users(_OLD_ROLE, _OLD_CENTRE, _OLD_COMMENT, _NEW_COMMENT)
