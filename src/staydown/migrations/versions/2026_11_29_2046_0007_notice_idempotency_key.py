"""notice idempotency

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 20:46:31.494452
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=240), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_notices_idempotency_key"), ["idempotency_key"])


def downgrade() -> None:

    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_notices_idempotency_key"), type_="unique")
        batch_op.drop_column("idempotency_key")
