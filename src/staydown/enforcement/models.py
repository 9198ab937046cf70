"""Actions taken on content and accounts."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from staydown.db import Base, BigIntPK, UTCDateTime


class ActionState(str, enum.Enum):
    active = "active"
    lifted = "lifted"  # reversed, expired, or replaced by a final measure


class EnforcementAction(Base):
    __tablename__ = "enforcement_actions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    target: Mapped[str] = mapped_column(sa.String(10), nullable=False)  # content | account
    content_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("platform_content.id", ondelete="RESTRICT"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("platform_accounts.id", ondelete="RESTRICT"), index=True
    )
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    policy_ref: Mapped[str | None] = mapped_column(sa.String(100))
    state: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    interim: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    automated_detection: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    automated_decision: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    facts: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    territorial_scope: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False, default=list)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    created_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_reason: Mapped[str | None] = mapped_column(sa.Text)
    # The platform's answer: it carried the action out (or could not).
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ack_status: Mapped[str | None] = mapped_column(sa.String(20))
    ack_detail: Mapped[str | None] = mapped_column(sa.String(2000))
    # Commit-ordered: the platform's pull feed reads `change_seq > cursor`.
    change_seq: Mapped[int | None] = mapped_column(sa.BigInteger, index=True)


class AccountStrike(Base):
    """A strike under a policy's ladder; removed (not deleted) when its decision is reversed."""

    __tablename__ = "account_strikes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        sa.ForeignKey("platform_accounts.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    policy_id: Mapped[str] = mapped_column(sa.String(80), nullable=False)
    weight: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_reason: Mapped[str | None] = mapped_column(sa.Text)


class Sweep(Base):
    """One stay-down sweep: the confirmed item's signals searched against every stored item."""

    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    policy_ref: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signals: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    copies_found: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    content_ids: Mapped[list[int]] = mapped_column(sa.JSON, nullable=False, default=list)
    account_ids: Mapped[list[int]] = mapped_column(sa.JSON, nullable=False, default=list)
    actions: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
