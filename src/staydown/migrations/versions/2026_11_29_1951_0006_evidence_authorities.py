"""evidence

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 19:51:31.330950
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import staydown.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "authority_notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("member_state", sa.String(length=2), nullable=False),
        sa.Column("authority", sa.String(length=300), nullable=False),
        sa.Column("channel", sa.String(length=300), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("sent_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_authority_notifications_case_id_cases"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authority_notifications")),
    )
    with op.batch_alter_table("authority_notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_authority_notifications_case_id"), ["case_id"], unique=False)

    op.create_table(
        "evidence_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("content_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("blob_key", sa.String(length=200), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("master_key_id", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("md5", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("original_filename", sa.String(length=300), nullable=True),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("retention_until", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_human_view_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("gone_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_evidence_items_case_id_cases"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["platform_content.id"],
            name=op.f("fk_evidence_items_content_id_platform_content"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_items")),
    )
    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_items_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_items_content_id"), ["content_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_items_retention_until"), ["retention_until"], unique=False)

    op.create_table(
        "law_enforcement_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("agency", sa.String(length=300), nullable=False),
        sa.Column("legal_process", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("item_ids", sa.JSON(), nullable=False),
        sa.Column("received_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_law_enforcement_requests_case_id_cases"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_law_enforcement_requests")),
    )
    op.create_table(
        "ncmec_reports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("escalate", sa.Boolean(), nullable=False),
        sa.Column("ncmec_report_id", sa.BigInteger(), nullable=True),
        sa.Column("confirmed_by", sa.String(length=200), nullable=True),
        sa.Column("confirmed_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["platform_accounts.id"],
            name=op.f("fk_ncmec_reports_account_id_platform_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_ncmec_reports_case_id_cases"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ncmec_reports")),
    )
    with op.batch_alter_table("ncmec_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ncmec_reports_case_id"), ["case_id"], unique=False)

    op.create_table(
        "destruction_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("requested_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("executed_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["evidence_items.id"],
            name=op.f("fk_destruction_requests_item_id_evidence_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_destruction_requests")),
    )
    with op.batch_alter_table("destruction_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_destruction_requests_item_id"), ["item_id"], unique=False)

    op.create_table(
        "legal_holds",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("starts_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("until", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("released_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"], ["evidence_items.id"], name=op.f("fk_legal_holds_item_id_evidence_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_holds_item_id"), ["item_id"], unique=False)

    op.create_table(
        "ncmec_report_files",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("report_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("evidence_item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ncmec_file_id", sa.String(length=100), nullable=True),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("uploaded_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fileinfo_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("viewed_by_esp", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["evidence_item_id"],
            ["evidence_items.id"],
            name=op.f("fk_ncmec_report_files_evidence_item_id_evidence_items"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["ncmec_reports.id"],
            name=op.f("fk_ncmec_report_files_report_id_ncmec_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ncmec_report_files")),
    )
    with op.batch_alter_table("ncmec_report_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ncmec_report_files_report_id"), ["report_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("ncmec_report_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ncmec_report_files_report_id"))

    op.drop_table("ncmec_report_files")
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_holds_item_id"))

    op.drop_table("legal_holds")
    with op.batch_alter_table("destruction_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_destruction_requests_item_id"))

    op.drop_table("destruction_requests")
    with op.batch_alter_table("ncmec_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ncmec_reports_case_id"))

    op.drop_table("ncmec_reports")
    op.drop_table("law_enforcement_requests")
    with op.batch_alter_table("evidence_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_items_retention_until"))
        batch_op.drop_index(batch_op.f("ix_evidence_items_content_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_items_case_id"))

    op.drop_table("evidence_items")
    with op.batch_alter_table("authority_notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_authority_notifications_case_id"))

    op.drop_table("authority_notifications")
