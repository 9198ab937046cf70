"""cases by URL: an index for the open case of a URL-only report

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Intake looks up the open case of a reported URL in every batch that has one; without an
    # index each look-up read the whole table.
    op.create_index("ix_cases_url", "cases", ["url"])


def downgrade() -> None:
    op.drop_index("ix_cases_url", table_name="cases")
