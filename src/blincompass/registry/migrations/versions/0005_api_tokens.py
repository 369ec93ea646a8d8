"""Personal API tokens for the command line (table ``api_tokens``; see :mod:`blincompass.registry.tokens`).

Revision ID: 0005_api_tokens
Revises: 0004_rls
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005_api_tokens'
down_revision = '0004_rls'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_tokens',
    sa.Column('id', sa.String(length=12), nullable=False),
    sa.Column('user_name', sa.String(length=80), nullable=False),
    sa.Column('secret_sha256', sa.String(length=64), nullable=False),
    sa.Column('label', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_name'], ['users.name'], name=op.f('fk_api_tokens_user_name_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    comment='Personal API tokens of the command line (SHA-256 of the secret only)'
    )


def downgrade() -> None:
    op.drop_table('api_tokens')
