"""Reads about notices for the people who sent them: a notice's status and the clocks it runs under.

One reading for the JSON route (GET /public/status/{code}) and the public status page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import codes
from staydown.cases import tracks
from staydown.cases.models import Case, Decision, DecisionState, LegalTrack
from staydown.errors import InvalidInput, NotFound
from staydown.i18n import N_
from staydown.intake.models import Notice
from staydown.policies.catalogue import PolicyRefError, default_catalogue, parse_ref
from staydown.policies.queries import policy_version
from staydown.transparency.scrub import case_scrubber

# The clocks a notifier is told about; the NCMEC, NCA and Art. 18 tracks are duties towards
# authorities, about the person who posted the content.
PUBLIC_TRACKS = tracks.public_kinds()


@dataclass
class PublicStatus:
    notice: Notice
    state: str
    deadlines: list[LegalTrack] = field(default_factory=list)
    outcome: str | None = None
    decided_at: datetime | None = None
    policy_ref: str | None = None
    policy_title: str | None = None  # what a person reads: the rule's title, never "csam@2"
    reasons: str | None = None


def notice_deadlines(db: Session, notice: Notice) -> list[LegalTrack]:
    """The clocks that govern this notice, soonest first: those it opened, and those of its kind
    it joined on its case (which govern its removal too). Never a clock of another notifier's
    different request beside it, nor a duty owed to an authority."""
    return [t for t in tracks.tracks_of_notice(db, notice.id, kinds=PUBLIC_TRACKS) if t.due_at is not None]


def public_status(db: Session, notice: Notice, *, catalogue: Any = None, language: str | None = None) -> PublicStatus:
    """What was received, the clocks that apply, the state and, once decided, the outcome with its
    reasons; nothing about other notices or other people (the same reading as GET /public/status).
    `language`: the reader's, for the rule's title (else the notice's)."""
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
                sa.select(Decision)
                .where(
                    Decision.case_id == case.id,
                    Decision.state.in_([DecisionState.effective.value, DecisionState.upheld.value]),
                )
                .order_by(Decision.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if decision is not None:
                status.outcome = decision.outcome
                status.decided_at = decision.second_reviewed_at or decision.decided_at
                status.policy_ref = decision.policy_ref
                status.policy_title = policy_title(
                    db, decision.policy_ref, catalogue=catalogue, language=language or notice.language
                )
                # The reviewer's words reach a member of the public: through the one scrubber, with
                # every handle, id, name, address and number on the case and its notices.
                status.reasons = case_scrubber(db, case.id)(tracks.reasons(decision))
    return status


def policy_title(db: Session, ref: str | None, *, catalogue: Any = None, language: str = "en") -> str | None:
    """A policy's title for a public page ("Child sexual abuse material"), from the version the
    decision cites (kept in the database once superseded); None when unknown."""
    if not ref:
        return None
    try:
        policy_id, version = parse_ref(ref)
    except PolicyRefError:
        return None
    catalogue = catalogue if catalogue is not None else default_catalogue()
    policy = None
    if policy_id in catalogue and catalogue.get(policy_id).version == version:
        policy = catalogue.get(policy_id)
    else:
        try:
            policy = policy_version(db, ref)
        except (NotFound, InvalidInput):
            policy = None
    return policy.text(language).title if policy is not None else None


def normalise_code(code: str) -> str:
    found = codes.normalise(code)
    if found is None:
        raise NotFound(N_("no notice with that tracking code"))
    return found


def notice_by_code(db: Session, code: str) -> Notice:
    found = db.execute(sa.select(Notice).where(Notice.tracking_code == normalise_code(code))).scalar_one_or_none()
    if found is None:
        raise NotFound(N_("no notice with that tracking code"))
    return found
