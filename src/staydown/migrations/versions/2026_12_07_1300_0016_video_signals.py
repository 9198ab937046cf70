"""video signals: vPDQ frame hashes on bank entries and content signals

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A vpdq row's `signal` is the digest of its frame list; the list itself (threatexchange's text
    # form, one PDQ per sampled frame) is what the match index reads and what an export writes.
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frames", sa.Text(), nullable=True))
    with op.batch_alter_table("content_signals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("frames", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("content_signals", schema=None) as batch_op:
        batch_op.drop_column("frames")
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.drop_column("frames")
