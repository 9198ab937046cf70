"""Receive notices: store and acknowledge every one, group it into the case for its content, open
its legal tracks, restrict child-safety content at once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit, codes
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.cases import actions as cases
from staydown.cases import tracks
from staydown.cases.models import Case
from staydown.cases.rules import DEFAULT_RULES, CaseRules
from staydown.db import now
from staydown.enforcement.actions import restrict_distribution
from staydown.errors import InvalidInput, NotFound, StaydownError
from staydown.i18n import N_
from staydown.intake import batch
from staydown.intake.batch import TAKE_IT_DOWN_ELEMENTS, missing_takedown_elements, new_tracking_code, resolve_policy
from staydown.intake.models import Notice, NoticeKind, NoticeState, ReporterKind
from staydown.intake.schemas import CompletionIn, NoticeIn
from staydown.policies.catalogue import Catalogue

__all__ = [
    "TAKE_IT_DOWN_ELEMENTS",
    "Receipt",
    "complete_notice",
    "missing_takedown_elements",
    "new_tracking_code",
    "normalise_code",
    "notice_by_code",
    "resolve_policy",
    "submit_detection",
    "submit_notice",
]


@dataclass
class Receipt:
    notice: Notice
    cases: list[Case] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def normalise_code(code: str) -> str:
    found = codes.normalise(code)
    if found is None:
        raise NotFound(N_("no notice with that tracking code"))
    return found


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


def notice_by_code(db: Session, code: str) -> Notice:
    found = db.execute(sa.select(Notice).where(Notice.tracking_code == normalise_code(code))).scalar_one_or_none()
    if found is None:
        raise NotFound(N_("no notice with that tracking code"))
    return found


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
    policy = catalogue.get(notice.policy_id) if notice.policy_id in catalogue else catalogue.get("ncii")
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
        receipt.cases.extend(cases.case_by_id(db, cid) for cid in attached)
    if not missing:
        notice.state = NoticeState.received.value
        notice.complete_at = when
        # The 48-hour clock starts now, from the receipt of a valid request (the same rule as at intake).
        for case_id in {i.case_id for i in notice.items if i.case_id} | {c.id for c in receipt.cases}:
            case = cases.case_by_id(db, case_id)
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


def submit_detection(
    db: Session,
    *,
    content_platform_id: str,
    account_platform_id: str | None,
    matches: list[Any],
    verdict: str,
    catalogue: Catalogue,
    rules: CaseRules = DEFAULT_RULES,
    engine: Any = None,
    act: bool = True,
) -> Receipt:
    """A bank match that holds or blocks an upload becomes a notice from the system, so a person
    confirms it (CSAM-7: a match alone is not a report) and its clocks run like any other. With
    `act`, a match against confirmed material is acted on here (`act_on_detection`); the scan
    route acts itself once the upload is in the vault."""
    from staydown.actors import SYSTEM

    best = matches[0]
    policy_id = best.policy_id if best.policy_id in catalogue else None
    notice = NoticeIn(
        kind=NoticeKind.detection,
        reporter_kind=ReporterKind.automated,
        policy_id=policy_id,
        explanation=(
            f"upload {verdict}: matched bank {best.bank!r} entry {best.entry_id} "
            f"({best.signal_type}, distance {best.distance}"
            + (f", as {best.query_variant}" if best.query_variant else "")
            + ")"
        ),
        items=[{"content_id": content_platform_id, "account_id": account_platform_id}],
        details={"matches": [m.to_dict() for m in matches[:10]], "verdict": verdict},
    )
    receipt = submit_notice(db, actor=SYSTEM, notice=notice, catalogue=catalogue, rules=rules, engine=engine)
    # A hold keeps the item out of distribution until a person decides: as an interim action, so
    # that a "no violation" lifts it and the platform hears so through the normal delivery path.
    from staydown.subjects.queries import content_by_platform_id

    content = content_by_platform_id(db, content_platform_id)
    for case in receipt.cases:
        restrict_distribution(
            db,
            actor=SYSTEM,
            content_id=content.id,
            case_id=case.id,
            reason=f"held at upload: {verdict} on a bank match, pending review",
        )
    if act:
        act_on_detection(db, receipt=receipt, matches=matches, verdict=verdict, catalogue=catalogue, rules=rules)
    return receipt


def act_on_detection(
    db: Session,
    *,
    receipt: Receipt,
    matches: list[Any],
    verdict: str,
    catalogue: Catalogue,
    rules: CaseRules = DEFAULT_RULES,
) -> None:
    """A match against previously confirmed material is knowledge, and acted on where the policy
    says so (CSAM-1, CSAM-7)."""
    trusted = trusted_match(matches, verdict)
    if trusted is None or trusted.policy_id not in catalogue:
        return
    policy = catalogue.get(trusted.policy_id)
    for case in receipt.cases:
        cases.act_on_trusted_match(db, case=case, match=trusted, policy=policy, catalogue=catalogue, rules=rules)


def trusted_match(matches: list[Any], verdict: str) -> Any:
    """The closest match that counts as knowledge: a blocking verdict (a low-quality PDQ alone is
    only ever held for a person) on a bank of previously confirmed material."""
    if verdict != "block":
        return None
    return next((m for m in matches if m.confirmed_material and m.action == "block"), None)


def join_url_cases(db: Session, *, actor: Actor, content: Any) -> list[Case]:
    """UK-1: content the platform registers at an address someone reported (before staydown knew
    what was there) joins that report's open case, and a child-safety case's interim restriction
    then applies to it. A content that already has an open case of its own is left for a person
    to join by hand: two cases are never merged silently."""
    from staydown.intake.models import NoticeItem
    from staydown.subjects.queries import url_variants

    if not content.url:
        return []
    variants = url_variants(content.url)
    waiting = list(
        db.execute(
            sa.select(Case)
            .where(Case.url.in_(variants), Case.content_id.is_(None), Case.state.in_(cases.OPEN_STATES))
            .order_by(Case.id)
        ).scalars()
    )
    if (
        not waiting
        or db.execute(
            sa.select(Case.id).where(Case.content_id == content.id, Case.state.in_(cases.OPEN_STATES))
        ).first()
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
