"""Receive notices: store and acknowledge every one, group it into the case for its content, open
its legal tracks, restrict child-safety content at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.cases import tracks
from staydown.cases.models import Case
from staydown.cases.queries import OPEN_STATES, case_by_id
from staydown.cases.rules import DEFAULT_RULES, CaseRules
from staydown.db import now
from staydown.enforcement.measures import restrict_distribution
from staydown.errors import InvalidInput, StaydownError
from staydown.intake import batch
from staydown.intake.batch import new_tracking_code, resolve_policy
from staydown.intake.models import Notice, NoticeItem, NoticeState
from staydown.intake.queries import normalise_code, notice_by_code
from staydown.intake.schemas import CompletionIn, NoticeIn
from staydown.intake.takedown import TAKE_IT_DOWN_ELEMENTS, missing_takedown_elements
from staydown.policies.catalogue import Catalogue
from staydown.subjects.queries import url_variants

__all__ = [
    "TAKE_IT_DOWN_ELEMENTS",
    "Receipt",
    "complete_notice",
    "missing_takedown_elements",
    "new_tracking_code",
    "normalise_code",
    "notice_by_code",
    "resolve_policy",
    "submit_notice",
]


@dataclass
class Receipt:
    notice: Notice
    cases: list[Case] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def receipt_of(db: Session, outcome: batch.Outcome) -> Receipt:
    """The stored notice and its cases behind a batch's outcome, for callers that work on them."""
    notice = db.get(Notice, outcome.notice_id)
    assert notice is not None
    return Receipt(
        notice, [c for c in (db.get(Case, cid) for cid in outcome.case_ids) if c is not None], list(outcome.missing)
    )


def submit_notice(
    db: Session,
    *,
    actor: Actor,
    notice: NoticeIn,
    catalogue: Catalogue,
    rules: CaseRules = DEFAULT_RULES,
    engine: Any = None,
    idempotency_key: str | None = None,
    hashed_pictures: int = 0,
) -> Receipt:
    """Store, acknowledge, group and start the clocks for one notice: a batch of one (see
    `intake.batch`). Nothing here can drop a notice: an incomplete TAKE IT DOWN request is stored
    and answered with what is missing. `hashed_pictures`: the notice names no item but pictures
    fingerprinted on the requester's device (intake.hash_submissions)."""
    [outcome] = batch.submit_notices(
        db,
        [batch.Submission(actor, notice, idempotency_key, hashed_pictures)],
        catalogue=catalogue,
        rules=rules,
        engine=engine,
    )
    if isinstance(outcome, StaydownError):
        raise outcome
    return receipt_of(db, outcome)


def complete_notice(
    db: Session,
    *,
    actor: Actor,
    notice: Notice,
    completion: CompletionIn,
    catalogue: Catalogue,
    rules: CaseRules = DEFAULT_RULES,
    engine: Any = None,
) -> Receipt:
    """Supply what an incomplete TAKE IT DOWN request lacked. Its 48-hour clock starts when it
    becomes valid; until then it was kept and answered, never dropped (TID-1)."""
    if notice.state != NoticeState.incomplete.value:
        raise InvalidInput("this request is not waiting for anything: it is " + notice.state)
    when = now(db)
    for name in ("signature", "explanation", "contact_name", "contact_email"):
        value = getattr(completion, name)
        if value:
            setattr(notice, name, value)
    if completion.good_faith is not None:
        notice.good_faith = completion.good_faith
    new_items = list(completion.items or [])
    items_now = list(notice.items) + new_items
    missing = missing_takedown_elements(
        signature=notice.signature,
        items=items_now,
        good_faith=notice.good_faith,
        explanation=notice.explanation,
        contact_email=notice.contact_email,
    )
    notice.missing_elements = missing
    policy = (
        catalogue.get(notice.policy_id)
        if notice.policy_id is not None and notice.policy_id in catalogue
        else catalogue.get("ncii")
    )
    receipt = Receipt(notice, missing=missing)
    if new_items:
        attached = batch.attach_items(
            db,
            actor=actor,
            notice=notice,
            items=new_items,
            policy=policy,
            rules=rules,
            engine=engine,
            catalogue=catalogue,
        )
        receipt.cases.extend(case_by_id(db, cid) for cid in attached)
    if not missing:
        notice.state = NoticeState.received.value
        notice.complete_at = when
        # The 48-hour clock starts now, from the receipt of a valid request (the same rule as at intake).
        for case_id in {i.case_id for i in notice.items if i.case_id} | {c.id for c in receipt.cases}:
            case = case_by_id(db, case_id)
            tracks.open_for_notice(
                db,
                actor=actor,
                case=case,
                notice=notice,
                policy=policy,
                rules=rules,
                catalogue=catalogue,
                received_at=when,
            )
            if case not in receipt.cases:
                receipt.cases.append(case)
    if notice.case_id is None and receipt.cases:
        notice.case_id = receipt.cases[0].id
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.NOTICE_COMPLETE,
        subject_type="notice",
        subject_id=notice.id,
        data={"missing": missing, "complete": not missing},
    )
    return receipt


def join_url_cases(db: Session, *, actor: Actor, content: Any) -> list[Case]:
    """UK-1: content the platform registers at an address someone reported (before staydown knew
    what was there) joins that report's open case, and a child-safety case's interim restriction
    then applies to it. A content that already has an open case of its own is left for a person
    to join by hand: two cases are never merged silently."""
    if not content.url:
        return []
    variants = url_variants(content.url)
    waiting = list(
        db.execute(
            sa.select(Case)
            .where(Case.url.in_(variants), Case.content_id.is_(None), Case.state.in_(OPEN_STATES))
            .order_by(Case.id)
        ).scalars()
    )
    if (
        not waiting
        or db.execute(sa.select(Case.id).where(Case.content_id == content.id, Case.state.in_(OPEN_STATES))).first()
        is not None
    ):
        return []
    case = waiting[0]
    case.content_id = content.id
    for item in db.execute(
        sa.select(NoticeItem).where(NoticeItem.case_id == case.id, NoticeItem.content_id.is_(None))
    ).scalars():
        item.content_id = content.id
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.CASE_URL_RESOLVED,
        subject_type="case",
        subject_id=case.id,
        data={"url": case.url, "content_id": content.id, "platform_id": content.platform_id},
    )
    if case.child_safety:
        restrict_distribution(
            db,
            actor=actor,
            content_id=content.id,
            case_id=case.id,
            reason=f"interim restriction pending review of a child-safety report (case {case.id}, "
            "reported by its address)",
        )
    return [case]
