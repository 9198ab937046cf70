"""matching: banks, entries, content signals, scans, sequences

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 19:03:16.021749
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import staydown.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "banks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("permitted_purpose", sa.Text(), nullable=False),
        sa.Column("allowed_uses", sa.JSON(), nullable=False),
        sa.Column("policy_id", sa.String(length=80), nullable=False),
        sa.Column("action_on_match", sa.String(length=10), nullable=False),
        sa.Column("pdq_threshold", sa.Integer(), nullable=False),
        sa.Column("confirmed_material", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_banks")),
        sa.UniqueConstraint("name", name=op.f("uq_banks_name")),
    )
    op.create_table(
        "sequence_heads",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sequence_heads")),
    )
    op.create_table(
        "bank_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("bank_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("signal_type", sa.String(length=10), nullable=False),
        sa.Column("signal", sa.String(length=64), nullable=False),
        sa.Column("variant", sa.String(length=40), nullable=False),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("quality", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source_case_id", sa.BigInteger(), nullable=True),
        sa.Column("source_ref", sa.String(length=300), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("disabled_by", sa.String(length=200), nullable=True),
        sa.Column("disabled_reason", sa.String(length=500), nullable=True),
        sa.Column("change_seq", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_bank_entries_bank_id_banks"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["bank_entries.id"], name=op.f("fk_bank_entries_parent_id_bank_entries"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_entries")),
        sa.UniqueConstraint("bank_id", "signal_type", "signal", "variant", name="uq_bank_entries_signal"),
    )
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bank_entries_change_seq"), ["change_seq"], unique=False)
        batch_op.create_index("ix_bank_entries_lookup", ["signal_type", "signal"], unique=False)

    op.create_table(
        "content_signals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("content_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("signal_type", sa.String(length=10), nullable=False),
        sa.Column("signal", sa.String(length=64), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=True),
        sa.Column("created_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=True),
        sa.Column("purged", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["platform_content.id"],
            name=op.f("fk_content_signals_content_id_platform_content"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_signals")),
        sa.UniqueConstraint("content_id", "signal_type", "signal", name="uq_content_signals_signal"),
    )
    with op.batch_alter_table("content_signals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_content_signals_change_seq"), ["change_seq"], unique=False)
        batch_op.create_index("ix_content_signals_lookup", ["signal_type", "signal"], unique=False)

    op.create_table(
        "scans",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("content_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("verdict", sa.String(length=10), nullable=False),
        sa.Column("matches", sa.JSON(), nullable=False),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.Column("media", sa.JSON(), nullable=False),
        sa.Column("uploader_ip", sa.String(length=64), nullable=True),
        sa.Column("uploaded_at", staydown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("scanned_by", sa.String(length=200), nullable=False),
        sa.Column("scanned_at", staydown.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["platform_content.id"],
            name=op.f("fk_scans_content_id_platform_content"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scans_content_id"), ["content_id"], unique=False)
    # The counters exist from the start, so two first writers never race to create one.
    op.execute("INSERT INTO sequence_heads (name, value) VALUES ('bank_signals', 0), ('content_signals', 0)")


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scans_content_id"))

    op.drop_table("scans")
    with op.batch_alter_table("content_signals", schema=None) as batch_op:
        batch_op.drop_index("ix_content_signals_lookup")
        batch_op.drop_index(batch_op.f("ix_content_signals_change_seq"))

    op.drop_table("content_signals")
    with op.batch_alter_table("bank_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_bank_entries_lookup")
        batch_op.drop_index(batch_op.f("ix_bank_entries_change_seq"))

    op.drop_table("bank_entries")
    op.drop_table("sequence_heads")
    op.drop_table("banks")
