"""What HMA's API knows of a bank or a banked item that staydown's own tables do not hold."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from staydown.db import Base, UTCDateTime


class HmaBank(Base):
    """HMA's `matching_enabled_ratio` of a bank. A bank without a row answers 1.0 when enabled and
    0.0 when disabled; only HMA's lookups flip the coin (staydown's scans never drop a match)."""

    __tablename__ = "hma_banks"

    bank_id: Mapped[int] = mapped_column(sa.ForeignKey("banks.id", ondelete="CASCADE"), primary_key=True)
    matching_enabled_ratio: Mapped[float] = mapped_column(sa.Float, nullable=False)


class HmaContent(Base):
    """An HMA bank content item is one original bank entry (`entry_id`, its `bank_content_id`)
    with the entries that hang from it (the other digests of the same media, staydown's variants).
    The row exists only once HMA's API added, updated or removed the item."""

    __tablename__ = "hma_content"

    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("bank_entries.id", ondelete="CASCADE"), primary_key=True)
    # HMA's BankedContentMetadata: content_id, content_uri, json (the caller's own object).
    content_metadata: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    # HMA's disable_until_ts (Unix seconds; 0: enabled). While it lies ahead the entries are disabled.
    disable_until_ts: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    # Removed through HMA's DELETE: disabled, never deleted (its past matches stay explainable),
    # and no longer shown through HMA's API.
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_hma_content_disable_until", "disable_until_ts"),)
