"""Cases (the unit of work), their legal tracks with deadlines, and decisions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from staydown.db import Base, BigIntPK, UTCDateTime


class CaseState(str, enum.Enum):
    open = "open"
    second_review = "second_review"  # a "does not violate" on a child-safety or NCII case awaits a senior
    decided = "decided"


class Outcome(str, enum.Enum):
    violates = "violates"
    does_not_violate = "does_not_violate"
    escalate = "escalate"


class TrackKind(str, enum.Enum):
    take_it_down = "take_it_down"
    ncmec = "ncmec"
    dsa_notice = "dsa_notice"
    uk_intimate_image = "uk_intimate_image"
    terrorist_order = "terrorist_order"
    dsa_art18 = "dsa_art18"
    priority_takedown = "priority_takedown"
    uk_nca = "uk_nca"
    authority_order = "authority_order"


class TrackState(str, enum.Enum):
    waiting = "waiting"  # opened, clock not started (NCMEC before actual knowledge)
    open = "open"
    met = "met"
    not_applicable = "not_applicable"  # a documented finding, with facts


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    content_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("platform_content.id", ondelete="SET NULL"), index=True
    )
    url: Mapped[str | None] = mapped_column(
        sa.String(2048), index=True
    )  # when the platform has not identified the content
    state: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    area: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    policy_id: Mapped[str | None] = mapped_column(sa.String(80))
    severity: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    child_safety: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    ncii: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    minor_involved: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    priority: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    notice_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    reporter_count: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    reporter_keys: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False, default=list)
    reach: Mapped[int | None] = mapped_column(sa.BigInteger)
    trusted_flagger_in_field: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    law_enforcement: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    affected_person: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(200))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # when a human first confirmed apparent CSAM.
    actual_knowledge_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    imminent_danger: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    # DSA Art. 18: when a person marked a threat to life or safety (the one-hour clock's start).
    imminent_danger_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(sa.String(20))
    # Whom the case is given to, besides any claim: "staff:<id>" (one person) or "role:<role>"
    # (anyone holding that role). Set by an assignment or an escalation; shown in "my cases".
    assigned_to: Mapped[str | None] = mapped_column(sa.String(200), index=True)

    tracks: Mapped[list[LegalTrack]] = relationship(back_populates="case", lazy="selectin", order_by="LegalTrack.id")

    __table_args__ = (sa.Index("ix_cases_queue", "state", "area", "priority"),)


class LegalTrack(Base):
    __tablename__ = "legal_tracks"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    # "case" (one track of the kind per case) or "notice:<id>" (each order has its own track).
    scope: Mapped[str] = mapped_column(sa.String(40), nullable=False, default="case")
    state: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    notice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notices.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str | None] = mapped_column(sa.String(40))  # what satisfied it
    facts: Mapped[str | None] = mapped_column(sa.Text)
    resolved_by: Mapped[str | None] = mapped_column(sa.String(200))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)

    case: Mapped[Case] = relationship(back_populates="tracks")

    __table_args__ = (sa.UniqueConstraint("case_id", "kind", "scope", name="uq_legal_tracks_case_kind_scope"),)


class NoticeTrack(Base):
    """A notice is governed by a track: the one it opened, or the one of its kind it joined. A
    notifier's receipt and status page show these, and no other notice's."""

    __tablename__ = "notice_tracks"

    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("notices.id", ondelete="CASCADE"), primary_key=True)
    track_id: Mapped[int] = mapped_column(
        sa.ForeignKey("legal_tracks.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class DecisionState(str, enum.Enum):
    effective = "effective"
    pending_second_review = "pending_second_review"
    upheld = "upheld"  # the second reviewer agreed
    overturned = "overturned"  # the second reviewer disagreed and decided otherwise


class Decision(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    reviewer: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    policy_ref: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    outcome: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    actions: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False, default=list)
    facts: Mapped[str] = mapped_column(sa.Text, nullable=False)
    note: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    automated: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    state: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    second_reviewer: Mapped[str | None] = mapped_column(sa.String(200))
    second_reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the second reviewer relied on when agreeing: part of the reasons the notifier is given.
    second_review_facts: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class CaseComment(Base):
    """An internal comment on a case: for colleagues, never shown to the people concerned."""

    __tablename__ = "case_comments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    author: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class StaffAlert(Base):
    """An alarm for a role: a deadline about to pass or passed, a dead delivery."""

    __tablename__ = "staff_alerts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    message: Mapped[str] = mapped_column(sa.Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(200))
