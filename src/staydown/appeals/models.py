"""Appeals against decisions and the out-of-court dispute cases that may follow them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from staydown.db import Base, BigIntPK, UTCDateTime


class AppellantKind(str, enum.Enum):
    affected_user = "affected_user"  # whose content or account was restricted (holds a statement code)
    notifier = "notifier"  # who reported, also against a decision not to act (holds a tracking code)


class AppealState(str, enum.Enum):
    received = "received"
    in_review = "in_review"
    decided = "decided"
    withdrawn = "withdrawn"


class AppealBasis(str, enum.Enum):
    """What is contested. The first four are an affected user's; the last two a notifier's."""

    content_restriction = "content_restriction"  # removal, disabling, demotion, age restriction, label
    account_restriction = "account_restriction"  # warning, strike, suspension, termination
    monetisation_restriction = "monetisation_restriction"
    proactive_technology = "proactive_technology"  # a measure that rests on automated detection (UK-4)
    no_action = "no_action"  # the decision not to act on a report (DSA Art. 20(1))
    insufficient_action = "insufficient_action"  # acted on, but less than the report asked for


NOTIFIER_BASES = frozenset({AppealBasis.no_action.value, AppealBasis.insufficient_action.value})


class AppealOutcome(str, enum.Enum):
    upheld = "upheld"  # the original decision stands
    reversed = "reversed"  # measures lifted, content restored (never confirmed CSAM)
    modified = "modified"  # a different measure replaces the original one


class Appeal(Base):
    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), nullable=False, unique=True)  # the appellant's tracking code
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="RESTRICT"), nullable=False, index=True)
    statement_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("statements_of_reasons.id", ondelete="RESTRICT"), index=True
    )
    notice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notices.id", ondelete="RESTRICT"), index=True)
    # The decision contested, and who appeals ("account:<id>", "statement:<id>", "notice:<id>"): one
    # appeal per appellant per decision.
    decision_id: Mapped[int | None] = mapped_column(sa.ForeignKey("decisions.id", ondelete="RESTRICT"), index=True)
    appellant: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    appellant_kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    # What is contested: content_restriction, account_restriction, no_action, proactive_technology, ...
    basis: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    explanation: Mapped[str] = mapped_column(sa.Text, nullable=False)
    contact_email: Mapped[str | None] = mapped_column(sa.String(320))
    language: Mapped[str] = mapped_column(sa.String(10), nullable=False, default="en")
    expedited: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)  # intimate-image cases (UK-3)
    state: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    policy_ref: Mapped[str | None] = mapped_column(sa.String(100))  # the decision's policy@version
    # Everyone who took the contested decision: none of them may decide the appeal (DSA Art. 20(6)).
    original_deciders: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False, default=list)
    decision_automated: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(200))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(sa.String(200))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(sa.String(20))
    reasons: Mapped[str | None] = mapped_column(sa.Text)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)


class DisputeOutcome(str, enum.Enum):
    for_user = "for_user"
    for_platform = "for_platform"
    settled = "settled"
    withdrawn = "withdrawn"
    declined = "declined"  # the body declined to hear it


class OutOfCourtDispute(Base):
    """DSA Art. 21: a dispute before a certified out-of-court settlement body, its outcome, and
    whether the platform implemented it."""

    __tablename__ = "out_of_court_disputes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="RESTRICT"), nullable=False, index=True)
    appeal_id: Mapped[int | None] = mapped_column(sa.ForeignKey("appeals.id", ondelete="SET NULL"), index=True)
    body: Mapped[str] = mapped_column(sa.String(300), nullable=False)  # the certified body
    reference: Mapped[str | None] = mapped_column(sa.String(200))  # the body's case number
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    outcome: Mapped[str | None] = mapped_column(sa.String(20))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    implemented: Mapped[bool | None] = mapped_column(sa.Boolean)
    implemented_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    recorded_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
