"""hash submissions: pictures fingerprinted on the person's own device, sent as hashes only

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import staydown.db

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "hash_submissions",
        sa.Column("id", BigId, nullable=False),
        sa.Column("notice_id", BigId, nullable=False),
        sa.Column("bank_id", BigId, nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("pictures", sa.Integer(), nullable=False),
        sa.Column("client", sa.JSON(), nullable=False),
        sa.Column("created_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("swept_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sweep", sa.JSON(), nullable=False),
        sa.Column("verified_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("verified_case_id", sa.BigInteger(), nullable=True),
        sa.Column("withdrawn_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_hash_submissions_notice_id_notices"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_hash_submissions_bank_id_banks"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_submissions")),
        sa.UniqueConstraint("notice_id", name=op.f("uq_hash_submissions_notice_id")),
    )


def downgrade() -> None:
    op.drop_table("hash_submissions")
