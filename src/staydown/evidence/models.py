"""Evidence items (encrypted at rest), legal holds, and destruction requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from staydown.db import Base, BigIntPK, UTCDateTime


class EvidenceItem(Base):
    __tablename__ = "evidence_items"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    content_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("platform_content.id", ondelete="SET NULL"), index=True
    )
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    blob_key: Mapped[str | None] = mapped_column(sa.String(200))  # None once purged or destroyed
    # AES-256-GCM: the item's own data key, wrapped by the master key named by master_key_id.
    wrapped_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    master_key_id: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    md5: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    media_type: Mapped[str] = mapped_column(sa.String(100), nullable=False, default="application/octet-stream")
    original_filename: Mapped[str | None] = mapped_column(sa.String(300))
    # What a report may carry (CSAM-3): account identifiers, IP capture events, upload time,
    # surrounding messages, as the platform supplied them.
    context: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    state: Mapped[str] = mapped_column(sa.String(12), nullable=False)  # stored | purged | destroyed
    retention_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    first_human_view_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    gone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LegalHold(Base):
    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    item_id: Mapped[int] = mapped_column(
        sa.ForeignKey("evidence_items.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(30), nullable=False)  # ncmec_report | preservation_request | voluntary
    basis: Mapped[str] = mapped_column(sa.Text, nullable=False)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    until: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DestructionRequest(Base):
    """Destroying evidence at law enforcement's request takes two people (CSAM-6)."""

    __tablename__ = "destruction_requests"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    item_id: Mapped[int] = mapped_column(
        sa.ForeignKey("evidence_items.id", ondelete="CASCADE"), nullable=False, index=True
    )
    requested_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    basis: Mapped[str] = mapped_column(sa.Text, nullable=False)  # the request and who made it
    # The law-enforcement agency that asked, and its reference: a request under 18 U.S.C.
    # 2258B(c)(2), which ends the holds in LE_DESTRUCTION_OVERRIDES (evidence.actions).
    agency: Mapped[str | None] = mapped_column(sa.String(300))
    reference: Mapped[str | None] = mapped_column(sa.String(200))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    approved_by: Mapped[str | None] = mapped_column(sa.String(200))
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
