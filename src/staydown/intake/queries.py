"""Reads about notices for the people who sent them: a notice's status and the clocks it runs under.

One reading for the JSON route (GET /public/status/{code}) and the public status page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.cases.models import Case, Decision, DecisionState, LegalTrack
from staydown.intake.models import Notice
from staydown.transparency.scrub import scrub_personal_data

# The clocks a notifier is told about; the NCMEC and Art. 18 tracks are duties towards authorities.
PUBLIC_TRACKS = ("take_it_down", "uk_intimate_image", "dsa_notice", "terrorist_order")


@dataclass
class PublicStatus:
    notice: Notice
    state: str
    deadlines: list[LegalTrack] = field(default_factory=list)
    outcome: str | None = None
    decided_at: datetime | None = None
    policy_ref: str | None = None
    reasons: str | None = None


def notice_deadlines(db: Session, notice: Notice) -> list[LegalTrack]:
    """The clocks that apply to this notice, soonest first: those it opened; or, when it joined a
    case whose clocks were already running (one clock of a kind per case), those clocks, which
    govern its removal too. Never the clocks another notifier's different request opened beside it."""
    case_ids = {i.case_id for i in notice.items if i.case_id}
    if not case_ids:
        return []
    public = sa.select(LegalTrack).where(LegalTrack.case_id.in_(case_ids), LegalTrack.kind.in_(PUBLIC_TRACKS),
                                         LegalTrack.due_at.is_not(None)).order_by(LegalTrack.due_at, LegalTrack.id)
    own = list(db.execute(public.where(LegalTrack.notice_id == notice.id)).scalars())
    if own:
        return own
    return list(db.execute(public).scalars())


def public_status(db: Session, notice: Notice) -> PublicStatus:
    """What was received, the clocks that apply, the state and, once decided, the outcome with its
    reasons; nothing about other notices or other people (the same reading as GET /public/status)."""
    case = db.get(Case, notice.case_id) if notice.case_id else None
    status = PublicStatus(notice=notice, state=notice.state)
    # Only the clocks this notice opened: another notifier's clock on the same case is theirs.
    status.deadlines = notice_deadlines(db, notice)
    if case is not None:
        if case.state == "second_review":
            status.state = "in_second_review"
        elif case.state == "decided":
            status.state = "decided"
            decision = db.execute(
                sa.select(Decision).where(Decision.case_id == case.id, Decision.state.in_(
                    [DecisionState.effective.value, DecisionState.upheld.value]))
                .order_by(Decision.id.desc()).limit(1)).scalar_one_or_none()
            if decision is not None:
                status.outcome = decision.outcome
                status.decided_at = decision.second_reviewed_at or decision.decided_at
                status.policy_ref = decision.policy_ref
                # The reviewer's words reach a member of the public: personal data (names, handles,
                # addresses, ids) is taken out, as on a statement of reasons.
                status.reasons = scrub_personal_data(decision.facts)
    return status
