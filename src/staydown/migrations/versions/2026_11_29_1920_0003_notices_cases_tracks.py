"""cases

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 19:20:09.245780
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import staydown.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "notifiers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("notices", sa.Integer(), nullable=False),
        sa.Column("founded", sa.Integer(), nullable=False),
        sa.Column("manifestly_unfounded", sa.Integer(), nullable=False),
        sa.Column("warned_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("suspended_until", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifiers")),
        sa.UniqueConstraint("key", name=op.f("uq_notifiers_key")),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_users.id"], name=op.f("fk_staff_sessions_user_id_staff_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
    )
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "trusted_flaggers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("areas", sa.JSON(), nullable=False),
        sa.Column("designated_by", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("api_client_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_client_id"],
            ["api_clients.id"],
            name=op.f("fk_trusted_flaggers_api_client_id_api_clients"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusted_flaggers")),
        sa.UniqueConstraint("name", name=op.f("uq_trusted_flaggers_name")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("content_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("area", sa.String(length=30), nullable=False),
        sa.Column("policy_id", sa.String(length=80), nullable=True),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("child_safety", sa.Boolean(), nullable=False),
        sa.Column("ncii", sa.Boolean(), nullable=False),
        sa.Column("minor_involved", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("notice_count", sa.Integer(), nullable=False),
        sa.Column("reporter_count", sa.Integer(), nullable=False),
        sa.Column("reporter_keys", sa.JSON(), nullable=False),
        sa.Column("reach", sa.BigInteger(), nullable=True),
        sa.Column("trusted_flagger_in_field", sa.Boolean(), nullable=False),
        sa.Column("law_enforcement", sa.Boolean(), nullable=False),
        sa.Column("affected_person", sa.Boolean(), nullable=False),
        sa.Column("next_due_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claim_expires_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("actual_knowledge_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("imminent_danger", sa.Boolean(), nullable=False),
        sa.Column("opened_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["platform_content.id"],
            name=op.f("fk_cases_content_id_platform_content"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_content_id"), ["content_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_next_due_at"), ["next_due_at"], unique=False)
        batch_op.create_index("ix_cases_queue", ["state", "area", "priority"], unique=False)

    op.create_table(
        "decisions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("policy_ref", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("automated", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("second_reviewer", sa.String(length=200), nullable=True),
        sa.Column("second_reviewed_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_decisions_case_id_cases"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decisions_case_id"), ["case_id"], unique=False)

    op.create_table(
        "enforcement_actions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=10), nullable=False),
        sa.Column("content_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("policy_ref", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("interim", sa.Boolean(), nullable=False),
        sa.Column("automated_detection", sa.Boolean(), nullable=False),
        sa.Column("automated_decision", sa.Boolean(), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("territorial_scope", sa.JSON(), nullable=False),
        sa.Column("ends_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lifted_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["platform_accounts.id"],
            name=op.f("fk_enforcement_actions_account_id_platform_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_enforcement_actions_case_id_cases"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["platform_content.id"],
            name=op.f("fk_enforcement_actions_content_id_platform_content"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enforcement_actions")),
    )
    with op.batch_alter_table("enforcement_actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enforcement_actions_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_enforcement_actions_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_enforcement_actions_content_id"), ["content_id"], unique=False)

    op.create_table(
        "notices",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tracking_code", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("reporter_kind", sa.String(length=30), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("policy_id", sa.String(length=80), nullable=True),
        sa.Column("dsa_category", sa.String(length=80), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("minor_involved", sa.Boolean(), nullable=False),
        sa.Column("good_faith", sa.Boolean(), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=True),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("signature", sa.String(length=300), nullable=True),
        sa.Column("reporter_platform_id", sa.String(length=200), nullable=True),
        sa.Column("notifier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("trusted_flagger_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("jurisdiction", sa.String(length=8), nullable=True),
        sa.Column("language", sa.String(length=12), nullable=False),
        sa.Column("reach", sa.BigInteger(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("missing_elements", sa.JSON(), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("received_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("complete_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_notices_case_id_cases"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["notifier_id"], ["notifiers.id"], name=op.f("fk_notices_notifier_id_notifiers"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["trusted_flagger_id"],
            ["trusted_flaggers.id"],
            name=op.f("fk_notices_trusted_flagger_id_trusted_flaggers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint("tracking_code", name=op.f("uq_notices_tracking_code")),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_case_id"), ["case_id"], unique=False)

    op.create_table(
        "staff_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_staff_alerts_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_alerts")),
    )
    with op.batch_alter_table("staff_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_alerts_case_id"), ["case_id"], unique=False)

    op.create_table(
        "legal_tracks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("notice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("received_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("met_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("escalated_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("breached_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(length=40), nullable=True),
        sa.Column("facts", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.String(length=200), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_legal_tracks_case_id_cases"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_legal_tracks_notice_id_notices"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_tracks")),
        sa.UniqueConstraint("case_id", "kind", name="uq_legal_tracks_case_kind"),
    )
    with op.batch_alter_table("legal_tracks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_tracks_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_legal_tracks_due_at"), ["due_at"], unique=False)

    op.create_table(
        "notice_items",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("notice_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("content_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("url", sa.String(length=2048), nullable=True),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_notice_items_case_id_cases"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["platform_content.id"],
            name=op.f("fk_notice_items_content_id_platform_content"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_notice_items_notice_id_notices"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_items")),
    )
    with op.batch_alter_table("notice_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_items_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_items_content_id"), ["content_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_items_notice_id"), ["notice_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("notice_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_items_notice_id"))
        batch_op.drop_index(batch_op.f("ix_notice_items_content_id"))
        batch_op.drop_index(batch_op.f("ix_notice_items_case_id"))

    op.drop_table("notice_items")
    with op.batch_alter_table("legal_tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_tracks_due_at"))
        batch_op.drop_index(batch_op.f("ix_legal_tracks_case_id"))

    op.drop_table("legal_tracks")
    with op.batch_alter_table("staff_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_alerts_case_id"))

    op.drop_table("staff_alerts")
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_case_id"))

    op.drop_table("notices")
    with op.batch_alter_table("enforcement_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enforcement_actions_content_id"))
        batch_op.drop_index(batch_op.f("ix_enforcement_actions_case_id"))
        batch_op.drop_index(batch_op.f("ix_enforcement_actions_account_id"))

    op.drop_table("enforcement_actions")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_case_id"))

    op.drop_table("decisions")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_queue")
        batch_op.drop_index(batch_op.f("ix_cases_next_due_at"))
        batch_op.drop_index(batch_op.f("ix_cases_content_id"))

    op.drop_table("cases")
    op.drop_table("trusted_flaggers")
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_sessions_user_id"))

    op.drop_table("staff_sessions")
    op.drop_table("notifiers")
