"""UK National Crime Agency reports and their files (UK-6)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import staydown.db

revision = "0015"
# 0014 (another change of the same day) is chained in between when both land.
down_revision = "0014"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "nca_reports",
        sa.Column("id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("account_id", BigId, nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("priority_reason", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.Column("document", sa.Text(), nullable=True),
        sa.Column("nca_report_id", sa.String(length=100), nullable=True),
        sa.Column("nca_reference", sa.String(length=100), nullable=True),
        sa.Column("confirmed_by", sa.String(length=200), nullable=True),
        sa.Column("confirmed_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opened_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["platform_accounts.id"],
            name=op.f("fk_nca_reports_account_id_platform_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_nca_reports_case_id_cases"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nca_reports")),
    )
    with op.batch_alter_table("nca_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nca_reports_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_nca_reports_state"), ["state"], unique=False)

    op.create_table(
        "nca_report_files",
        sa.Column("id", BigId, nullable=False),
        sa.Column("report_id", BigId, nullable=False),
        sa.Column("evidence_item_id", BigId, nullable=False),
        sa.Column("file_ref", sa.String(length=100), nullable=False),
        sa.Column("nca_file_id", sa.String(length=100), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("uploaded_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("viewed_by_provider", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["evidence_item_id"],
            ["evidence_items.id"],
            name=op.f("fk_nca_report_files_evidence_item_id_evidence_items"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["nca_reports.id"],
            name=op.f("fk_nca_report_files_report_id_nca_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nca_report_files")),
    )
    with op.batch_alter_table("nca_report_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nca_report_files_report_id"), ["report_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("nca_report_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nca_report_files_report_id"))
    op.drop_table("nca_report_files")
    with op.batch_alter_table("nca_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nca_reports_state"))
        batch_op.drop_index(batch_op.f("ix_nca_reports_case_id"))
    op.drop_table("nca_reports")
