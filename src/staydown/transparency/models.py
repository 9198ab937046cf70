"""Statements of reasons: one per restriction, public by code, submitted to the EU Transparency Database."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from staydown.db import Base, BigIntPK, UTCDateTime


class DecisionGround(str, enum.Enum):
    illegal_content = "illegal_content"  # a law (legal_ground) was the ground
    incompatible_content = "incompatible_content"  # the platform's terms (contractual_ground)


class StatementSource(str, enum.Enum):
    notice = "notice"  # a DSA Art. 16 notice (any person's report)
    trusted_flagger = "trusted_flagger"
    other_notification = "other_notification"  # authorities, law enforcement, orders
    own_initiative = "own_initiative"  # detection by the platform's own means (voluntary)


class AutomatedDecision(str, enum.Enum):
    fully = "fully"
    partially = "partially"
    not_automated = "not_automated"


class TdbState(str, enum.Enum):
    pending = "pending"  # to be submitted by the batch job
    submitted = "submitted"  # accepted (or a duplicate puid: already there)
    not_required = "not_required"  # e.g. transparency database submission switched off
    failed = "failed"  # refused for a reason a retry cannot fix; error says why


class StatementOfReasons(Base):
    """DSA Art. 17: what was done, where and for how long, on what facts and ground, whether by
    automated means, and how to contest it. One row per restricting enforcement action."""

    __tablename__ = "statements_of_reasons"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # Public, unguessable: the affected user reads the statement and appeals with it.
    code: Mapped[str] = mapped_column(sa.String(40), nullable=False, unique=True)
    action_id: Mapped[int] = mapped_column(
        sa.ForeignKey("enforcement_actions.id", ondelete="RESTRICT"), nullable=False, unique=True
    )
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    content_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("platform_content.id", ondelete="RESTRICT"), index=True
    )
    account_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("platform_accounts.id", ondelete="RESTRICT"), index=True
    )
    measure: Mapped[str] = mapped_column(sa.String(40), nullable=False)  # the action kind, e.g. remove, suspend
    target: Mapped[str] = mapped_column(sa.String(10), nullable=False)  # content | account
    policy_ref: Mapped[str | None] = mapped_column(sa.String(100))  # policy@version
    decision_ground: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    legal_ground: Mapped[str | None] = mapped_column(sa.String(500))
    legal_explanation: Mapped[str | None] = mapped_column(sa.Text)
    contractual_ground: Mapped[str | None] = mapped_column(sa.String(500))
    contractual_explanation: Mapped[str | None] = mapped_column(sa.Text)
    category: Mapped[str] = mapped_column(sa.String(80), nullable=False)  # STATEMENT_CATEGORY_* value
    facts: Mapped[str] = mapped_column(sa.Text, nullable=False)
    source: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    automated_detection: Mapped[bool] = mapped_column(sa.Boolean, nullable=False)
    automated_decision: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    territorial_scope: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False, default=list)  # [] = everywhere
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None = indefinite
    language: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    # The statement as the affected user reads it, per language: {"en": "...", "de": "..."}.
    rendered: Mapped[dict[str, str]] = mapped_column(sa.JSON, nullable=False, default=dict)
    # Redress: {"appeal_url": ..., "out_of_court": ..., "judicial": ...}
    redress: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    appeal_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    # EU Transparency Database (DSA Art. 24(5)).
    tdb_state: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=TdbState.pending.value, index=True)
    tdb_puid: Mapped[str] = mapped_column(sa.String(500), nullable=False, unique=True)
    tdb_attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    tdb_submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tdb_reference: Mapped[str | None] = mapped_column(sa.String(200))  # the Database's uuid or URL
    tdb_error: Mapped[str | None] = mapped_column(sa.Text)
    # Derived at issue, so that later reads (public page, webhook, Transparency Database body)
    # need no other row: the policy's DSA fields, content type and date, the public URL, and
    # the facts with personal data scrubbed (see statements.py).
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
