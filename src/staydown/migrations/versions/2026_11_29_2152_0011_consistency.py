"""consistency checks and decision exceptions (issue #8 item 5)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import staydown.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "consistency_checks",
        sa.Column("id", ID, nullable=False),
        sa.Column("decision_id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("sampled_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sample_rate", sa.Float(), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("policy_ref", sa.String(length=100), nullable=True),
        sa.Column("agree", sa.Boolean(), nullable=True),
        sa.Column("facts", sa.Text(), nullable=True),
        sa.Column("reviewed_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_consistency_checks_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_consistency_checks_decision_id_decisions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consistency_checks")),
        sa.UniqueConstraint("decision_id", name=op.f("uq_consistency_checks_decision_id")),
    )
    with op.batch_alter_table("consistency_checks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consistency_checks_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_consistency_checks_state"), ["state"], unique=False)

    op.create_table(
        "decision_exceptions",
        sa.Column("id", ID, nullable=False),
        sa.Column("decision_id", ID, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_decision_exceptions_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["decisions.id"],
            name=op.f("fk_decision_exceptions_decision_id_decisions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_exceptions")),
    )
    with op.batch_alter_table("decision_exceptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decision_exceptions_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_decision_exceptions_decision_id"), ["decision_id"], unique=False)


def downgrade() -> None:
    op.drop_table("decision_exceptions")
    op.drop_table("consistency_checks")
