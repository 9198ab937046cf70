"""legal tracks: one per order (scope), the tracks governing each notice, the Art. 18 marking time,
the second reviewer's facts, content by URL

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import staydown.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Each order from an authority has a track of its own (scope "notice:<id>"); the tracks a
    # notice answers to are listed per notice, so a receipt shows that notice's clocks only.
    with op.batch_alter_table("legal_tracks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=40), nullable=False, server_default="case"))
        batch_op.drop_constraint("uq_legal_tracks_case_kind", type_="unique")
        batch_op.create_unique_constraint("uq_legal_tracks_case_kind_scope", ["case_id", "kind", "scope"])
    with op.batch_alter_table("legal_tracks", schema=None) as batch_op:
        batch_op.alter_column("scope", server_default=None)
    op.create_table(
        "notice_tracks",
        sa.Column("notice_id", BigId, nullable=False),
        sa.Column("track_id", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_notice_tracks_notice_id_notices"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["track_id"], ["legal_tracks.id"], name=op.f("fk_notice_tracks_track_id_legal_tracks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("notice_id", "track_id", name=op.f("pk_notice_tracks")),
    )
    with op.batch_alter_table("notice_tracks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_tracks_track_id"), ["track_id"], unique=False)
    # Tracks opened before this revision governed the notice that opened them.
    op.execute(
        "INSERT INTO notice_tracks (notice_id, track_id) "
        "SELECT notice_id, id FROM legal_tracks WHERE notice_id IS NOT NULL"
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("imminent_danger_at", staydown.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("second_review_facts", sa.Text(), nullable=True))
    # A report that gives only an address is resolved to the content the platform registered there.
    op.create_index("ix_platform_content_url", "platform_content", ["url"])


def downgrade() -> None:
    op.drop_index("ix_platform_content_url", table_name="platform_content")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("second_review_facts")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("imminent_danger_at")
    with op.batch_alter_table("notice_tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_tracks_track_id"))
    op.drop_table("notice_tracks")
    with op.batch_alter_table("legal_tracks", schema=None) as batch_op:
        batch_op.drop_constraint("uq_legal_tracks_case_kind_scope", type_="unique")
        batch_op.create_unique_constraint("uq_legal_tracks_case_kind", ["case_id", "kind"])
        batch_op.drop_column("scope")
