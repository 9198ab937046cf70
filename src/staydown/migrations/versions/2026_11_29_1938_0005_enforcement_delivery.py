"""enforcement

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 19:38:50.426257
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import staydown.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "account_strikes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("policy_id", sa.String(length=80), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("removed_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("removed_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["platform_accounts.id"],
            name=op.f("fk_account_strikes_account_id_platform_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_account_strikes_case_id_cases"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_strikes")),
    )
    with op.batch_alter_table("account_strikes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_strikes_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_strikes_case_id"), ["case_id"], unique=False)

    op.create_table(
        "sweeps",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("policy_ref", sa.String(length=100), nullable=False),
        sa.Column("started_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("signals", sa.Integer(), nullable=False),
        sa.Column("copies_found", sa.Integer(), nullable=False),
        sa.Column("content_ids", sa.JSON(), nullable=False),
        sa.Column("account_ids", sa.JSON(), nullable=False),
        sa.Column("actions", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_sweeps_case_id_cases"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
    )
    with op.batch_alter_table("sweeps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sweeps_case_id"), ["case_id"], unique=False)

    with op.batch_alter_table("enforcement_actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acknowledged_at", staydown.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("ack_status", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("ack_detail", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("change_seq", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_enforcement_actions_change_seq"), ["change_seq"], unique=False)
    op.execute("INSERT INTO sequence_heads (name, value) VALUES ('actions', 0)")


def downgrade() -> None:

    with op.batch_alter_table("enforcement_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enforcement_actions_change_seq"))
        batch_op.drop_column("change_seq")
        batch_op.drop_column("ack_detail")
        batch_op.drop_column("ack_status")
        batch_op.drop_column("acknowledged_at")

    with op.batch_alter_table("sweeps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sweeps_case_id"))

    op.drop_table("sweeps")
    with op.batch_alter_table("account_strikes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_strikes_case_id"))
        batch_op.drop_index(batch_op.f("ix_account_strikes_account_id"))

    op.drop_table("account_strikes")
