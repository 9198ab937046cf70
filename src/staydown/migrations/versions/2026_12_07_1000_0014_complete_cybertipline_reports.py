"""complete CyberTipline reports: content visibility, the upload's port and file name, file
requests to the platform, report files that wait for the platform's file; the agency behind a
destruction request

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import staydown.db

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # publiclyAvailable is sent only from what the platform registered, never guessed.
    with op.batch_alter_table("platform_content", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visibility", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("public_since", staydown.db.UTCDateTime(timezone=True), nullable=True))
    # ipCaptureEvent carries a port; originalFileName the uploader's file name.
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uploader_port", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("original_filename", sa.String(length=300), nullable=True))
    op.create_table(
        "file_requests",
        sa.Column("id", BigId, nullable=False),
        sa.Column("content_id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=True),
        sa.Column("action_id", BigId, nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("due_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.String(length=2000), nullable=True),
        sa.Column("evidence_item_id", BigId, nullable=True),
        sa.Column("alerted_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["enforcement_actions.id"],
            name=op.f("fk_file_requests_action_id_enforcement_actions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_file_requests_case_id_cases"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["platform_content.id"],
            name=op.f("fk_file_requests_content_id_platform_content"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["evidence_item_id"],
            ["evidence_items.id"],
            name=op.f("fk_file_requests_evidence_item_id_evidence_items"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_requests")),
    )
    with op.batch_alter_table("file_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_file_requests_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_file_requests_content_state", ["content_id", "state"], unique=False)
        batch_op.create_index("ix_file_requests_state_due", ["state", "due_at"], unique=False)
    # A report file may wait for the platform's file: no vault item yet, the content it shows and
    # the request that asks for it; or be filed without it, with the reasons on the row.
    with op.batch_alter_table("ncmec_report_files", schema=None) as batch_op:
        batch_op.alter_column("evidence_item_id", existing_type=BigId, nullable=True)
        batch_op.add_column(sa.Column("content_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("file_request_id", BigId, nullable=True))
        batch_op.add_column(sa.Column("waived_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("waived_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("waived_at", staydown.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_ncmec_report_files_file_request_id"), ["file_request_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_ncmec_report_files_content_id_platform_content"),
            "platform_content",
            ["content_id"],
            ["id"],
            ondelete="RESTRICT",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_ncmec_report_files_file_request_id_file_requests"),
            "file_requests",
            ["file_request_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    # Files drafted before this revision: the content is that of their vault item.
    op.execute(
        "UPDATE ncmec_report_files SET content_id = (SELECT content_id FROM evidence_items "
        "WHERE evidence_items.id = ncmec_report_files.evidence_item_id)"
    )
    # A destruction request that names the law-enforcement agency is one under 18 U.S.C.
    # 2258B(c)(2), which ends the report's deemed preservation request (docs/decisions.md).
    with op.batch_alter_table("destruction_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agency", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("reference", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("destruction_requests", schema=None) as batch_op:
        batch_op.drop_column("reference")
        batch_op.drop_column("agency")
    # Rows waiting for a file have nothing to point at in the old schema.
    op.execute("DELETE FROM ncmec_report_files WHERE evidence_item_id IS NULL")
    with op.batch_alter_table("ncmec_report_files", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_ncmec_report_files_file_request_id_file_requests"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_ncmec_report_files_content_id_platform_content"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_ncmec_report_files_file_request_id"))
        batch_op.drop_column("waived_at")
        batch_op.drop_column("waived_by")
        batch_op.drop_column("waived_reason")
        batch_op.drop_column("file_request_id")
        batch_op.drop_column("content_id")
        batch_op.alter_column("evidence_item_id", existing_type=BigId, nullable=False)
    with op.batch_alter_table("file_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_file_requests_state_due")
        batch_op.drop_index("ix_file_requests_content_state")
        batch_op.drop_index(batch_op.f("ix_file_requests_case_id"))
    op.drop_table("file_requests")
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_column("original_filename")
        batch_op.drop_column("uploader_port")
    with op.batch_alter_table("platform_content", schema=None) as batch_op:
        batch_op.drop_column("public_since")
        batch_op.drop_column("visibility")
