"""The console's own table: media reveals (the per-reviewer exposure budget)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from staydown.db import Base, BigIntPK, UTCDateTime


class MediaReveal(Base):
    """One unblurred view of one media item by one reviewer. The daily exposure budget counts
    these rows (the audit log holds the same fact, but as JSON it is no index to count by)."""

    __tablename__ = "media_reveals"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    staff_ref: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    evidence_item_id: Mapped[int] = mapped_column(
        sa.ForeignKey("evidence_items.id", ondelete="CASCADE"), nullable=False
    )
    revealed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (sa.Index("ix_media_reveals_staff_day", "staff_ref", "revealed_at"),)


# The TOTP step record belongs to staff sign-in (the API's and the console's); kept importable here.
from staydown.staff.totp import TotpState  # noqa: E402,F401
