"""hma api: a bank's matching ratio and a banked item's metadata and timed disabling

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import staydown.db

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hma_banks",
        sa.Column("bank_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("matching_enabled_ratio", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["bank_id"], ["banks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("bank_id"),
    )
    op.create_table(
        "hma_content",
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("content_metadata", sa.JSON(), nullable=True),
        sa.Column("disable_until_ts", sa.BigInteger(), nullable=False),
        sa.Column("removed_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["entry_id"], ["bank_entries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("entry_id"),
    )
    op.create_index("ix_hma_content_disable_until", "hma_content", ["disable_until_ts"])


def downgrade() -> None:
    op.drop_index("ix_hma_content_disable_until", table_name="hma_content")
    op.drop_table("hma_content")
    op.drop_table("hma_banks")
