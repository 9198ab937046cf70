"""Reading appeals: by code or id, the queue, the decision an appeal contests, who may not decide it,
and what the holder of an appeal's code may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.appeals.models import Appeal, AppealOutcome, AppealState
from staydown.appeals.rules import AppealRules
from staydown.cases.models import Case, CaseState, Decision, DecisionState, Outcome
from staydown.errors import Conflict, NotFound
from staydown.i18n import N_
from staydown.intake.models import Notice, NoticeItem, NoticeKind
from staydown.intake.queries import normalise_code
from staydown.transparency.scrub import Scrubber, case_scrubber

OPEN_STATES = (AppealState.received.value, AppealState.in_review.value)
# Stored in English on the appeal; the page and the e-mail translate it.
OUT_OF_COURT = N_(
    "If you disagree with this outcome, you may take it to a certified out-of-court dispute settlement "
    "body (DSA Art. 21), free of charge or at a nominal fee for you, or to a court."
)


def status_url(rules: AppealRules, code: str) -> str:
    """The public page of an appeal (served by staydown.web under /appeal)."""
    return f"{rules.public_base_url}/appeal/{code}"


def appeal_by_code(db: Session, code: str, *, for_update: bool = False) -> Appeal:
    try:
        clean = normalise_code(code)
    except NotFound:
        raise NotFound(N_("no appeal with that code")) from None
    stmt = sa.select(Appeal).where(Appeal.code == clean)
    if for_update and db.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    found = db.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(N_("no appeal with that code"))
    return found


def appeal_by_id(db: Session, appeal_id: int, *, for_update: bool = False) -> Appeal:
    stmt = sa.select(Appeal).where(Appeal.id == appeal_id)
    if for_update and db.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    found = db.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no appeal {appeal_id}")
    return found


def appeal_queue(
    db: Session, *, include_child_safety: bool = True, state: str | None = None, limit: int = 50
) -> list[Appeal]:
    """Open appeals: the expedited route (intimate images, UK-3) first, then the nearest due date."""
    stmt = sa.select(Appeal).join(Case, Case.id == Appeal.case_id)
    stmt = stmt.where(Appeal.state == state) if state else stmt.where(Appeal.state.in_(OPEN_STATES))
    if not include_child_safety:
        stmt = stmt.where(Case.child_safety.is_(False))
    stmt = stmt.order_by(Appeal.expedited.desc(), Appeal.due_at.asc().nulls_last(), Appeal.id).limit(limit)
    return list(db.execute(stmt).scalars())


@dataclass
class PublicView:
    """What anyone holding an appeal's code may see: its own progress and outcome, nothing about
    the case's other people, the reviewers, or other appeals."""

    code: str
    state: str
    basis: str
    received_at: datetime
    due_at: datetime | None
    expedited: bool
    outcome: str | None
    decided_at: datetime | None
    reasons: str | None
    redress: str | None


def public_view(appeal: Appeal, db: Session | None = None) -> PublicView:
    """What the holder of the appeal's code may see. The decider's reasons pass through the one
    scrubber with the identifiers on the case (given `db`; without it, its patterns alone)."""
    decided = appeal.state == AppealState.decided.value
    scrub = case_scrubber(db, appeal.case_id) if db is not None else Scrubber()
    return PublicView(
        code=appeal.code,
        state=appeal.state,
        basis=appeal.basis,
        received_at=appeal.received_at,
        due_at=appeal.due_at,
        expedited=appeal.expedited,
        outcome=appeal.outcome if decided else None,
        decided_at=appeal.decided_at if decided else None,
        reasons=scrub(appeal.reasons) if decided and appeal.reasons else None,
        redress=OUT_OF_COURT if decided else None,
    )


# -- what is contested ------------------------------------------------------------------------


@dataclass
class Contested:
    decision: Decision
    decided_at: datetime  # when the decision now in force was taken (a later appeal's change counts)
    ref: str  # "decision:<id>" or "appeal:<id>" when an appeal changed it since
    outcome: str  # the case's outcome now: violates, does_not_violate, reversed


def contested_decision(db: Session, case: Case) -> Contested:
    if case.state != CaseState.decided.value:
        state = "awaits a second review" if case.state == CaseState.second_review.value else "is still being reviewed"
        raise Conflict(
            "there is no decision to appeal yet: the case "
            + state
            + "; you will be told the decision, and can appeal it then",
            code="not_decided",
        )
    decision = db.execute(
        sa.select(Decision)
        .where(
            Decision.case_id == case.id,
            Decision.state.in_([DecisionState.effective.value, DecisionState.upheld.value]),
            Decision.outcome.in_([Outcome.violates.value, Outcome.does_not_violate.value]),
        )
        .order_by(Decision.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if decision is None:
        raise Conflict("there is no decision to appeal yet", code="not_decided")
    decided_at = decision.second_reviewed_at or decision.decided_at
    ref = f"decision:{decision.id}"
    change = db.execute(
        sa.select(Appeal)
        .where(
            Appeal.case_id == case.id,
            Appeal.decision_id == decision.id,
            Appeal.outcome.in_([AppealOutcome.reversed.value, AppealOutcome.modified.value]),
        )
        .order_by(Appeal.decided_at.desc(), Appeal.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if change is not None and change.decided_at is not None and change.decided_at >= decided_at:
        decided_at, ref = change.decided_at, f"appeal:{change.id}"
    return Contested(decision, decided_at, ref, case.outcome or decision.outcome)


def original_deciders(db: Session, case: Case) -> list[str]:
    """Everyone who took part in the case's decisions, and who decided earlier appeals on it: none
    of them may decide an appeal on it (DSA Art. 20: never the same person)."""
    refs: set[str] = set()
    for reviewer, second in db.execute(
        sa.select(Decision.reviewer, Decision.second_reviewer).where(Decision.case_id == case.id)
    ):
        refs.add(reviewer)
        if second:
            refs.add(second)
    for decided_by in db.execute(
        sa.select(Appeal.decided_by).where(Appeal.case_id == case.id, Appeal.decided_by.is_not(None))
    ).scalars():
        if decided_by is not None:
            refs.add(decided_by)
    return sorted(refs)


def matched_entries(db: Session, case: Any) -> list[int]:
    """The bank entries whose matches at upload opened or joined this case (its detections)."""
    ids: list[int] = []
    for details in db.execute(
        sa.select(Notice.details).where(
            Notice.kind == NoticeKind.detection.value,
            Notice.id.in_(sa.select(NoticeItem.notice_id).where(NoticeItem.case_id == case.id)),
        )
    ).scalars():
        for match in (details or {}).get("matches") or []:
            entry = match.get("entry_id") if isinstance(match, dict) else None
            if isinstance(entry, int) and entry not in ids:
                ids.append(entry)
    return ids
