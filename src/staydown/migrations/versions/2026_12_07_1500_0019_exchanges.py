"""hash exchanges: one per collaboration, the partner's records, what we send back

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "exchanges",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("api", sa.String(length=40), nullable=False),
        sa.Column("bank_id", BigIntPK, nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("credentials_source", sa.String(length=16), nullable=False),
        sa.Column("sealed_credentials", sa.LargeBinary(), nullable=True),
        sa.Column("sealed_key", sa.LargeBinary(), nullable=True),
        sa.Column("credentials_key_id", sa.String(length=32), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("fetch_every_seconds", sa.Integer(), nullable=False),
        sa.Column("report_back", sa.Boolean(), nullable=False),
        sa.Column("checkpoint", sa.JSON(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("full_fetch", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_fetch_started_at", UTC, nullable=True),
        sa.Column("last_fetch_finished_at", UTC, nullable=True),
        sa.Column("last_success_at", UTC, nullable=True),
        sa.Column("last_fetch_pages", sa.Integer(), nullable=False),
        sa.Column("last_fetch_updates", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name=op.f("fk_exchanges_bank_id_banks"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchanges")),
        sa.UniqueConstraint("name", name=op.f("uq_exchanges_name")),
    )
    op.create_table(
        "exchange_records",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("exchange_id", BigIntPK, nullable=False),
        sa.Column("record_key", sa.String(length=300), nullable=False),
        sa.Column("partner_id", sa.String(length=200), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("first_fetched_at", UTC, nullable=False),
        sa.Column("fetched_at", UTC, nullable=False),
        sa.Column("deleted_at", UTC, nullable=True),
        sa.Column("seen_generation", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_records_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_records")),
        sa.UniqueConstraint("exchange_id", "record_key", name="uq_exchange_records_key"),
    )
    op.create_table(
        "exchange_signals",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("exchange_id", BigIntPK, nullable=False),
        sa.Column("record_id", BigIntPK, nullable=False),
        sa.Column("bank_entry_id", BigIntPK, nullable=False),
        sa.Column("partner_type", sa.String(length=40), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_entry_id"],
            ["bank_entries.id"],
            name=op.f("fk_exchange_signals_bank_entry_id_bank_entries"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_signals_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["exchange_records.id"],
            name=op.f("fk_exchange_signals_record_id_exchange_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_signals")),
        sa.UniqueConstraint("record_id", "bank_entry_id", name="uq_exchange_signals_record_entry"),
    )
    op.create_index(op.f("ix_exchange_signals_bank_entry_id"), "exchange_signals", ["bank_entry_id"])
    op.create_table(
        "exchange_submissions",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("exchange_id", BigIntPK, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("opinion", sa.String(length=20), nullable=False),
        sa.Column("bank_entry_id", BigIntPK, nullable=False),
        sa.Column("record_id", BigIntPK, nullable=True),
        sa.Column("case_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("approved_at", UTC, nullable=True),
        sa.Column("sent_at", UTC, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_entry_id"],
            ["bank_entries.id"],
            name=op.f("fk_exchange_submissions_bank_entry_id_bank_entries"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_submissions_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["exchange_records.id"],
            name=op.f("fk_exchange_submissions_record_id_exchange_records"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_submissions")),
        sa.UniqueConstraint("exchange_id", "kind", "bank_entry_id", "opinion", name="uq_exchange_submissions_once"),
    )
    op.create_index(op.f("ix_exchange_submissions_exchange_id"), "exchange_submissions", ["exchange_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_exchange_submissions_exchange_id"), table_name="exchange_submissions")
    op.drop_table("exchange_submissions")
    op.drop_index(op.f("ix_exchange_signals_bank_entry_id"), table_name="exchange_signals")
    op.drop_table("exchange_signals")
    op.drop_table("exchange_records")
    op.drop_table("exchanges")
