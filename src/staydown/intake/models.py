"""Notices, the items they point at, and the people and organisations who send them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from staydown.db import Base, BigIntPK, UTCDateTime


class NoticeKind(str, enum.Enum):
    user_report = "user_report"  # forwarded by the platform from its own report button
    public_report = "public_report"  # from anyone, on staydown's public page, no account
    take_it_down = "take_it_down"  # a TAKE IT DOWN Act removal request
    dsa_notice = "dsa_notice"  # a DSA Art. 16 notice
    trusted_flagger = "trusted_flagger"
    law_enforcement = "law_enforcement"  # requests from the police and prosecutors
    authority_order = "authority_order"  # an order from a court or authority
    terrorist_order = "terrorist_order"  # an EU terrorist-content removal order (1 h)
    detection = "detection"  # a bank match at scan with action hold or block


class ReporterKind(str, enum.Enum):
    affected_person = "affected_person"  # the person depicted or harmed
    parent_or_representative = "parent_or_representative"
    user = "user"
    anonymous = "anonymous"
    trusted_flagger = "trusted_flagger"
    law_enforcement = "law_enforcement"
    authority = "authority"
    automated = "automated"


class NoticeState(str, enum.Enum):
    incomplete = "incomplete"  # a TAKE IT DOWN request missing required elements: kept, answered
    received = "received"  # in a case, awaiting a decision
    decided = "decided"
    not_processed = "not_processed"  # from a notifier whose notices are suspended (DSA Art. 23)


class TrustedFlagger(Base):
    __tablename__ = "trusted_flaggers"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False, unique=True)
    # Policy areas of designated expertise: their notices in these areas get priority (DSA-6).
    areas: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False)
    designated_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)  # e.g. the national DSC
    contact_email: Mapped[str | None] = mapped_column(sa.String(320))
    api_client_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_clients.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Notifier(Base):
    """Whoever sends notices, known by a stable key (a platform account, a flagger, a hashed
    e-mail address), with counts that feed DSA Art. 23 misuse measures."""

    __tablename__ = "notifiers"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(200), nullable=False, unique=True)
    notices: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    founded: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    manifestly_unfounded: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class Notice(Base):
    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tracking_code: Mapped[str] = mapped_column(sa.String(40), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    reporter_kind: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    state: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    policy_id: Mapped[str | None] = mapped_column(sa.String(80))
    dsa_category: Mapped[str | None] = mapped_column(sa.String(80))
    explanation: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    minor_involved: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    good_faith: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    # Contact and identity are optional for child-safety reports (DSA 16(2)(c), X-1).
    contact_name: Mapped[str | None] = mapped_column(sa.String(200))
    contact_email: Mapped[str | None] = mapped_column(sa.String(320))
    signature: Mapped[str | None] = mapped_column(sa.String(300))  # TAKE IT DOWN: physical or electronic
    reporter_platform_id: Mapped[str | None] = mapped_column(sa.String(200))
    notifier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notifiers.id", ondelete="SET NULL"))
    trusted_flagger_id: Mapped[int | None] = mapped_column(sa.ForeignKey("trusted_flaggers.id", ondelete="SET NULL"))
    jurisdiction: Mapped[str | None] = mapped_column(sa.String(8))  # ISO country of the notifier's law
    language: Mapped[str] = mapped_column(sa.String(12), nullable=False, default="en")
    reach: Mapped[int | None] = mapped_column(sa.BigInteger)  # platform-reported views
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    missing_elements: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False, default=list)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # When the request became complete (valid): the TAKE IT DOWN clock starts here.
    complete_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    # A platform's `Idempotency-Key`: the same key from the same submitter is the same notice.
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(240), unique=True)

    items: Mapped[list[NoticeItem]] = relationship(back_populates="notice", lazy="selectin", order_by="NoticeItem.id")


class NoticeItem(Base):
    __tablename__ = "notice_items"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("notices.id", ondelete="CASCADE"), nullable=False, index=True)
    content_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("platform_content.id", ondelete="SET NULL"), index=True
    )
    url: Mapped[str | None] = mapped_column(sa.String(2048))
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id", ondelete="SET NULL"), index=True)

    notice: Mapped[Notice] = relationship(back_populates="items")


class HashSubmissionState(str, enum.Enum):
    active = "active"
    withdrawn = "withdrawn"  # by the person, with the notice's tracking code: its hashes are disabled


class HashSubmission(Base):
    """Pictures a person fingerprinted on their own device and sent as hashes only, with the notice
    that carries their declaration. The hashes live in a bank of their own (`bank_id`), which
    holds matching uploads for review and never acts alone until a reviewer confirms a first match
    (`verified_at`): an unverified hash could be abused to censor any picture."""

    __tablename__ = "hash_submissions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    notice_id: Mapped[int] = mapped_column(
        sa.ForeignKey("notices.id", ondelete="RESTRICT"), nullable=False, unique=True
    )
    bank_id: Mapped[int] = mapped_column(sa.ForeignKey("banks.id", ondelete="RESTRICT"), nullable=False)
    state: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    pictures: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    # Where the hashes came from (the page that computed them); nothing about the person's browser.
    client: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The sweep of stored copies: when it ran and what it found (kept after a withdrawal).
    swept_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sweep: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_case_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
