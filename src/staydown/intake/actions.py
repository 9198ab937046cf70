"""Receive notices: store and acknowledge every one, group it into the case for its content, open
its legal tracks, restrict child-safety content at once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit, codes
from staydown.actors import Actor, ActorKind
from staydown.audit import AuditTag
from staydown.cases import actions as cases
from staydown.cases.models import Case, TrackKind
from staydown.cases.notify import acknowledge
from staydown.cases.rules import DEFAULT_RULES, CaseRules
from staydown.db import now
from staydown.enforcement.actions import restrict_distribution
from staydown.errors import InvalidInput, NotFound
from staydown.intake.models import Notice, NoticeItem, NoticeKind, NoticeState, Notifier, ReporterKind, TrustedFlagger
from staydown.intake.schemas import CompletionIn, NoticeIn
from staydown.policies.catalogue import Catalogue, PolicyNotFound
from staydown.policies.schema import Policy
from staydown.subjects.actions import ensure_content, insert_or_get
from staydown.subjects.models import PlatformContent
from staydown.subjects.schemas import AccountRef, ContentRef

# Crockford's base32 without look-alikes: codes are read aloud and typed by people.

TAKE_IT_DOWN_ELEMENTS = {
    "signature": "a physical or electronic signature of the person depicted, or of someone authorised to act for them",
    "items": "enough to identify and locate each image (the content id or its URL)",
    "good_faith_statement": "a statement that you believe in good faith the image is not consensual",
    "explanation": "the facts that support that statement",
    "contact": "contact information (an e-mail address) so we can tell you what we did",
}
HUMAN_REPORTERS = {ReporterKind.affected_person.value, ReporterKind.parent_or_representative.value}
DSA_KINDS = {NoticeKind.user_report.value, NoticeKind.public_report.value, NoticeKind.dsa_notice.value,
             NoticeKind.trusted_flagger.value, NoticeKind.take_it_down.value}


def new_tracking_code() -> str:
    return codes.grouped(codes.random_chars())


def normalise_code(code: str) -> str:
    found = codes.normalise(code)
    if found is None:
        raise NotFound("no notice with that tracking code")
    return found


def missing_takedown_elements(*, signature: str | None, items: list[Any], good_faith: bool, explanation: str,
                              contact_email: str | None) -> list[str]:
    """TID-1: what a valid TAKE IT DOWN request holds, and which of it this one lacks."""
    missing = []
    if not (signature or "").strip():
        missing.append("signature")
    if not items:
        missing.append("items")
    if not good_faith:
        missing.append("good_faith_statement")
    if len((explanation or "").strip()) < 10:
        missing.append("explanation")
    if not contact_email:
        missing.append("contact")
    return missing


def resolve_policy(catalogue: Catalogue, notice: NoticeIn) -> Policy:
    """The policy a notice is about. Sexual imagery of a minor is child sexual abuse material
    whatever box the reporter ticked (X-2)."""
    if notice.policy_id:
        try:
            policy = catalogue.get(notice.policy_id)
        except PolicyNotFound as exc:
            raise InvalidInput(str(exc)) from None
    elif notice.kind is NoticeKind.take_it_down:
        policy = catalogue.get("ncii")
    elif notice.kind is NoticeKind.terrorist_order:
        policy = catalogue.get("terrorist-content")
    elif notice.dsa_category:
        matching = [p for p in catalogue if p.dsa_category == notice.dsa_category]
        if not matching:
            raise InvalidInput(f"{notice.dsa_category!r} is not a DSA statement category we know")
        policy = max(matching, key=lambda p: p.severity_rank)
    else:
        policy = catalogue.get("other-illegal")
    if notice.minor_involved and policy.ncii and "csam" in catalogue:
        policy = catalogue.get("csam")
    return policy


def _notifier_key(actor: Actor, notice: NoticeIn, flagger: TrustedFlagger | None) -> str | None:
    if flagger is not None:
        return f"trusted_flagger:{flagger.id}"
    if notice.reporter_id:
        return f"platform:{notice.reporter_id}"
    if notice.contact_email:
        return "email:" + hashlib.sha256(notice.contact_email.strip().lower().encode()).hexdigest()[:40]
    return None


def _notifier(db: Session, key: str | None) -> Notifier | None:
    if key is None:
        return None
    found, _ = insert_or_get(db, Notifier, "key", key,
                             {"notices": 0, "founded": 0, "manifestly_unfounded": 0, "created_at": now(db)})
    return found


def _flagger_for(db: Session, actor: Actor) -> TrustedFlagger | None:
    if actor.kind is not ActorKind.api_client:
        return None
    return db.execute(
        sa.select(TrustedFlagger).where(TrustedFlagger.api_client_id == int(actor.id), TrustedFlagger.active.is_(True))
    ).scalar_one_or_none()


@dataclass
class Receipt:
    notice: Notice
    cases: list[Case] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def submit_notice(
    db: Session,
    *,
    actor: Actor,
    notice: NoticeIn,
    catalogue: Catalogue,
    rules: CaseRules = DEFAULT_RULES,
    engine: Any = None,
) -> Receipt:
    """Store, acknowledge, group and start the clocks for one notice. Nothing here can drop a
    notice: an incomplete TAKE IT DOWN request is stored and answered with what is missing."""
    when = now(db)
    if len(notice.items) > rules.max_items and actor.kind is ActorKind.public:
        raise InvalidInput(f"a public notice may list at most {rules.max_items} items")
    policy = resolve_policy(catalogue, notice)
    flagger = _flagger_for(db, actor)
    kind = NoticeKind.trusted_flagger.value if flagger is not None else notice.kind.value
    reporter_kind = ReporterKind.trusted_flagger.value if flagger is not None else notice.reporter_kind.value
    missing: list[str] = []
    if notice.kind is NoticeKind.take_it_down:
        missing = missing_takedown_elements(signature=notice.signature, items=notice.items,
                                            good_faith=notice.good_faith, explanation=notice.explanation,
                                            contact_email=notice.contact_email)
    notifier = _notifier(db, _notifier_key(actor, notice, flagger))
    suspended = bool(notifier and notifier.suspended_until and notifier.suspended_until > when)
    # DSA Art. 23 lets a platform stop processing a manifestly abusive notifier's notices; a report
    # about a child is always processed all the same.
    not_processed = suspended and not (policy.child_safety or notice.minor_involved)
    state = (NoticeState.not_processed if not_processed
             else NoticeState.incomplete if missing else NoticeState.received).value
    row = Notice(
        tracking_code=new_tracking_code(), kind=kind, reporter_kind=reporter_kind, state=state,
        policy_id=policy.id, dsa_category=notice.dsa_category or policy.dsa_category,
        explanation=notice.explanation, minor_involved=notice.minor_involved, good_faith=notice.good_faith,
        contact_name=notice.contact_name, contact_email=notice.contact_email, signature=notice.signature,
        reporter_platform_id=notice.reporter_id, notifier_id=notifier.id if notifier else None,
        trusted_flagger_id=flagger.id if flagger else None, jurisdiction=notice.jurisdiction,
        language=notice.language, reach=notice.reach, details=notice.details, missing_elements=missing,
        received_at=when, complete_at=None if missing else when, submitted_by=actor.ref)
    db.add(row)
    db.flush()
    if notifier is not None:
        notifier.notices += 1
    audit.record(db, actor=actor, tag=AuditTag.NOTICE_RECEIVE, subject_type="notice", subject_id=row.id,
                 data={"kind": kind, "reporter_kind": reporter_kind, "policy_id": policy.id,
                       "items": len(notice.items), "minor_involved": notice.minor_involved,
                       "missing": missing, "state": state, "anonymous": not (notice.contact_email or notice.reporter_id)})
    receipt = Receipt(row, missing=missing)
    if not_processed:
        acknowledge(db, notice=row, rules=rules)
        audit.record(db, actor=actor, tag=AuditTag.NOTICE_NOT_PROCESSED, subject_type="notice", subject_id=row.id,
                     data={"notifier_id": notifier.id if notifier else None,
                           "suspended_until": notifier.suspended_until if notifier else None})
        return receipt
    for item in notice.items:
        case = _attach_item(db, actor=actor, notice=row, item=item, policy=policy, flagger=flagger,
                            rules=rules, engine=engine, catalogue=catalogue)
        if case not in receipt.cases:
            receipt.cases.append(case)
    row.case_id = receipt.cases[0].id if receipt.cases else None
    acknowledge(db, notice=row, rules=rules)
    return receipt


def _content_ids_for(db: Session, content: PlatformContent | None, engine: Any) -> list[int]:
    """This content and its perceptual copies (ten re-uploads reported ten times are one case)."""
    if content is None:
        return []
    ids = [content.id]
    if engine is None:
        return ids
    from staydown.matching.matcher import PdqQuery, QuerySignals, find_copies
    from staydown.matching.models import ContentSignal

    signals = db.execute(sa.select(ContentSignal.signal_type, ContentSignal.signal, ContentSignal.quality)
                         .where(ContentSignal.content_id == content.id, ContentSignal.purged.is_(False))).all()
    if not signals:
        return ids
    query = QuerySignals(
        pdq=tuple(PdqQuery("" if i == 0 else f"s{i}", s, q or 0) for i, (t, s, q) in enumerate(
            [r for r in signals if r[0] == "pdq"])),
        md5=next((s for t, s, _ in signals if t == "md5"), None),
        sha256=next((s for t, s, _ in signals if t == "sha256"), None))
    ids += [c.content_id for c in find_copies(db, engine, query, radius=31) if c.content_id != content.id]
    return ids


def _attach_item(db: Session, *, actor: Actor, notice: Notice, item: Any, policy: Policy,
                 flagger: TrustedFlagger | None, rules: CaseRules, engine: Any, catalogue: Catalogue) -> Case:
    content = None
    if item.content_id:
        content = ensure_content(db, actor=actor, ref=ContentRef(
            id=item.content_id, url=item.url, account=AccountRef(id=item.account_id) if item.account_id else None))
    case = cases.find_open_case(db, content_ids=_content_ids_for(db, content, engine), url=item.url)
    if case is None:
        case = cases.open_case(db, actor=actor, content_id=content.id if content else None, url=item.url,
                               policy=policy, minor_involved=notice.minor_involved)
    else:
        cases.raise_case_to(case, policy)
        case.minor_involved = case.minor_involved or notice.minor_involved
        if notice.minor_involved and (policy.ncii or policy.child_safety):
            case.child_safety = True
    db.add(NoticeItem(notice_id=notice.id, content_id=content.id if content else None, url=item.url,
                      case_id=case.id))
    case.notice_count += 1
    reporter = f"notifier:{notice.notifier_id}" if notice.notifier_id else f"notice:{notice.id}"
    if reporter not in case.reporter_keys:
        case.reporter_keys = [*case.reporter_keys, reporter]
        case.reporter_count = len(case.reporter_keys)
    if notice.reporter_kind in HUMAN_REPORTERS:
        case.affected_person = True
    if notice.reporter_kind in (ReporterKind.law_enforcement.value, ReporterKind.authority.value):
        case.law_enforcement = True
    if flagger is not None and (policy.area in flagger.areas):
        case.trusted_flagger_in_field = True
    if notice.reach and (case.reach or 0) < notice.reach:
        case.reach = notice.reach
    audit.record(db, actor=actor, tag=AuditTag.CASE_JOIN, subject_type="case", subject_id=case.id,
                 data={"notice_id": notice.id, "content_id": content.id if content else None, "url": item.url,
                       "notices": case.notice_count, "reporters": case.reporter_count})
    _open_tracks(db, actor=actor, case=case, notice=notice, policy=policy, rules=rules)
    if case.child_safety and content is not None:
        restrict_distribution(db, actor=actor, content_id=content.id, case_id=case.id,
                              reason=f"interim restriction pending review of a child-safety report (notice {notice.id})")
    cases.refresh_priority(db, case)
    return case


def _open_tracks(db: Session, *, actor: Actor, case: Case, notice: Notice, policy: Policy, rules: CaseRules) -> None:
    received = notice.received_at
    tracks: list[tuple[str, bool]] = []  # (kind, clock running)
    if notice.kind == NoticeKind.take_it_down.value and notice.state == NoticeState.received.value:
        tracks.append((TrackKind.take_it_down.value, True))
    elif (case.child_safety or policy.ncii) and notice.reporter_kind in HUMAN_REPORTERS and notice.kind != NoticeKind.take_it_down.value:
        # The person depicted, or their parent, asked for removal: the 48-hour duty applies.
        tracks.append((TrackKind.take_it_down.value, True))
    if case.child_safety:
        tracks.append((TrackKind.ncmec.value, False))  # the clock starts at actual knowledge
    if notice.kind in DSA_KINDS:
        tracks.append((TrackKind.dsa_notice.value, True))
    if policy.ncii or (case.child_safety and notice.reporter_kind in HUMAN_REPORTERS):
        tracks.append((TrackKind.uk_intimate_image.value, True))
    if notice.kind == NoticeKind.terrorist_order.value:
        tracks.append((TrackKind.terrorist_order.value, True))
    for kind, running in tracks:
        cases.open_track(db, actor=actor, case=case, kind=kind, received_at=received, notice_id=notice.id,
                         rules=rules, start=running)


def notice_by_code(db: Session, code: str) -> Notice:
    found = db.execute(sa.select(Notice).where(Notice.tracking_code == normalise_code(code))).scalar_one_or_none()
    if found is None:
        raise NotFound("no notice with that tracking code")
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
    missing = missing_takedown_elements(signature=notice.signature, items=items_now, good_faith=notice.good_faith,
                                        explanation=notice.explanation, contact_email=notice.contact_email)
    notice.missing_elements = missing
    policy = catalogue.get(notice.policy_id) if notice.policy_id in catalogue else catalogue.get("ncii")
    receipt = Receipt(notice, missing=missing)
    for item in new_items:
        case = _attach_item(db, actor=actor, notice=notice, item=item, policy=policy, flagger=None, rules=rules,
                            engine=engine, catalogue=catalogue)
        receipt.cases.append(case)
    if not missing:
        notice.state = NoticeState.received.value
        notice.complete_at = when
        # The 48-hour clock starts now, from the receipt of a valid request.
        for case_id in {i.case_id for i in notice.items if i.case_id} | {c.id for c in receipt.cases}:
            case = cases.case_by_id(db, case_id)
            cases.open_track(db, actor=actor, case=case, kind=TrackKind.take_it_down.value, received_at=when,
                             notice_id=notice.id, rules=rules, start=True)
            cases.refresh_priority(db, case)
            if case not in receipt.cases:
                receipt.cases.append(case)
    if notice.case_id is None and receipt.cases:
        notice.case_id = receipt.cases[0].id
    audit.record(db, actor=actor, tag=AuditTag.NOTICE_COMPLETE, subject_type="notice", subject_id=notice.id,
                 data={"missing": missing, "complete": not missing})
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
) -> Receipt:
    """A bank match that holds or blocks an upload becomes a notice from the system, so a person
    confirms it (CSAM-7: a match alone is not a report) and its clocks run like any other."""
    from staydown.actors import SYSTEM

    best = matches[0]
    policy_id = best.policy_id if best.policy_id in catalogue else None
    notice = NoticeIn(
        kind=NoticeKind.detection, reporter_kind=ReporterKind.automated, policy_id=policy_id,
        explanation=(f"upload {verdict}: matched bank {best.bank!r} entry {best.entry_id} "
                     f"({best.signal_type}, distance {best.distance}"
                     + (f", as {best.query_variant}" if best.query_variant else "") + ")"),
        items=[{"content_id": content_platform_id, "account_id": account_platform_id}],
        details={"matches": [m.to_dict() for m in matches[:10]], "verdict": verdict})
    receipt = submit_notice(db, actor=SYSTEM, notice=notice, catalogue=catalogue, rules=rules, engine=engine)
    # A hold keeps the item out of distribution until a person decides: as an interim action, so
    # that a "no violation" lifts it and the platform hears so through the normal delivery path.
    from staydown.subjects.queries import content_by_platform_id

    content = content_by_platform_id(db, content_platform_id)
    for case in receipt.cases:
        restrict_distribution(db, actor=SYSTEM, content_id=content.id, case_id=case.id,
                              reason=f"held at upload: {verdict} on a bank match, pending review")
    return receipt
