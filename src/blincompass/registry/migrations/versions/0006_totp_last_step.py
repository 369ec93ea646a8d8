"""The last accepted TOTP time step of each web login, so that a code is accepted once
(``web_credentials.totp_last_step``; see :mod:`blincompass.registry.auth`).

Revision ID: 0006_totp_last_step
Revises: 0005_api_tokens
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006_totp_last_step'
down_revision = '0005_api_tokens'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('web_credentials') as batch:
        batch.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('web_credentials') as batch:
        batch.drop_column('totp_last_step')
