"""The authorities' work where it reaches other packages' state changes: a CyberTipline report's
files asked of the platform (an enforcement action on the platform's feed, lifted once settled) and
taken into the vault, and a law-enforcement request to destroy evidence (the vault's two-person
destruction, on the register of law-enforcement requests)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import SYSTEM, Actor, ActorKind
from staydown.audit import AuditTag
from staydown.authorities import file_requests, law_enforcement, ncmec
from staydown.authorities.models import FileRequest, LawEnforcementRequest, NcmecReport, NcmecReportFile
from staydown.cases.models import Case
from staydown.cases.queries import reported_contents_by_account
from staydown.db import now
from staydown.enforcement.actions import apply_action, lift_action
from staydown.enforcement.models import EnforcementAction
from staydown.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from staydown.evidence import actions as evidence
from staydown.evidence.models import DestructionRequest, EvidenceItem
from staydown.evidence.vault import Vault, item_by_id, store_item
from staydown.policies.catalogue import Catalogue
from staydown.staff.permissions import Permission
from staydown.subjects.models import PlatformAccount, PlatformContent

# -- a CyberTipline report's files, asked of the platform ----------------------------------------


def draft_reports(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    catalogue: Catalogue,
    file_request_hours: float = file_requests.DEFAULT_HOURS,
) -> list[NcmecReport]:
    """One draft per reported account, with a file for each of that account's reported items:
    the vault's copy, or a request to the platform for the file staydown never held. A case no
    person has confirmed cannot be reported (CSAM-7: a match alone is not a report)."""
    ncmec.require_reporter(actor)
    if case.actual_knowledge_at is None:
        raise RuleViolation(
            f"case {case.id} has not been confirmed by a person as apparent CSAM, trafficking "
            "or enticement: there is nothing to report yet"
        )
    if case.policy_id is None:
        raise RuleViolation(f"case {case.id} names no policy: there is no NCMEC incident type to report under")
    policy = catalogue.get(case.policy_id)
    if not policy.ncmec_incident_type:
        raise RuleViolation(f"policy {policy.ref} has no NCMEC incident type")
    existing = {
        r.account_id
        for r in db.execute(
            sa.select(NcmecReport).where(NcmecReport.case_id == case.id, NcmecReport.state != "retracted")
        ).scalars()
    }
    by_account = reported_contents_by_account(db, case)
    drafts = []
    when = now(db)
    for account_id, items in by_account:
        if account_id in existing:
            continue
        account = db.get(PlatformAccount, account_id) if account_id else None
        disabled = (
            {
                a.kind
                for a in db.execute(
                    sa.select(EnforcementAction).where(
                        EnforcementAction.account_id == account_id, EnforcementAction.state == "active"
                    )
                ).scalars()
            }
            if account_id
            else set()
        )
        report = NcmecReport(
            case_id=case.id,
            account_id=account_id,
            state="draft",
            plan={},
            escalate=case.imminent_danger,
            created_at=when,
            created_by=actor.ref,
        )
        db.add(report)
        db.flush()
        for content in sorted(items, key=lambda c: c.id):
            stored = (
                db.execute(
                    sa.select(EvidenceItem)
                    .where(EvidenceItem.content_id == content.id, EvidenceItem.state == "stored")
                    .order_by(EvidenceItem.id)
                )
                .scalars()
                .all()
            )
            for item in stored:
                db.add(
                    NcmecReportFile(
                        report_id=report.id,
                        evidence_item_id=item.id,
                        content_id=content.id,
                        viewed_by_esp=item.first_human_view_at is not None,
                    )
                )
            if stored:
                continue
            destroyed = db.scalar(
                sa.select(sa.func.count())
                .select_from(EvidenceItem)
                .where(EvidenceItem.content_id == content.id, EvidenceItem.state == "destroyed")
            )
            if destroyed:
                # Law enforcement had it destroyed (18 U.S.C. 2258B(c)(2)): not asked for again.
                db.add(
                    NcmecReportFile(
                        report_id=report.id,
                        content_id=content.id,
                        viewed_by_esp=False,
                        waived_reason="the vault's copy was destroyed at law enforcement's request",
                        waived_by=SYSTEM.ref,
                        waived_at=when,
                    )
                )
                continue
            # Never held (a match on the platform's own hashes, content confirmed from a report,
            # an upload that passed the scan): ask the platform, and wait for it.
            request = request_file(
                db,
                actor=actor,
                content=content,
                case_id=case.id,
                hours=file_request_hours,
                reason=f"CyberTipline report {report.id} of case {case.id} needs the file",
            )
            db.add(
                NcmecReportFile(
                    report_id=report.id, content_id=content.id, file_request_id=request.id, viewed_by_esp=False
                )
            )
        db.flush()
        db.refresh(report, ["files"])
        files, events = ncmec.plan_files(db, report)
        report.plan = {
            # Our own reference, printed in the report: NCMEC offers no look-up, so this is how a
            # person on either side matches a CyberTip to the case behind it.
            "ref": secrets.token_hex(8),
            "case_id": case.id,
            "incident": {
                "type": policy.ncmec_incident_type,
                "datetime": min((c.created_at or c.first_seen_at) for c in items).isoformat(),
                "knowledge_at": case.actual_knowledge_at.isoformat(),
            },
            "reported": {
                "esp_identifier": account.platform_id if account else None,
                "screen_name": account.handle if account else None,
                "ip_events": events,
                "disabled_permanently": "terminate" in disabled,
                "disabled_temporarily": "suspend" in disabled,
            },
            "files": files,
        }
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.NCMEC_DRAFT,
            subject_type="case",
            subject_id=case.id,
            data={
                "report_id": report.id,
                "account": report.plan["reported"]["esp_identifier"],
                "files": len(files),
                "awaiting_platform": len(ncmec.waiting_files(report)),
                "escalate": report.escalate,
            },
        )
        drafts.append(report)
    return drafts


def file_without(
    db: Session, *, actor: Actor, report: NcmecReport, report_file: NcmecReportFile, reason: str
) -> NcmecReportFile:
    """A child-safety specialist decides that the report goes without a file the platform did not
    provide, saying why. Only once the request is overdue or the platform said it cannot: until
    then the report waits, because a report without the file is the incomplete report this
    exists to prevent. The report still carries everything else known about the file."""
    ncmec.require_reporter(actor)
    if actor.kind is not ActorKind.staff or Permission.CHILD_SAFETY_CASES.value not in actor.permissions:
        raise PermissionDenied("a child-safety specialist decides to file a report without one of its files")
    if report_file.report_id != report.id:
        raise InvalidInput(f"file {report_file.id} is not part of report {report.id}")
    if report.state not in ("draft", "confirmed"):
        raise Conflict(f"report {report.id} is {report.state}: its files can no longer change")
    if report_file.evidence_item_id is not None or report_file.waived_at is not None:
        raise Conflict(f"file {report_file.id} of report {report.id} is not waiting for the platform")
    if not reason or len(reason.strip()) < 20:
        raise InvalidInput("say why the report goes without this file (at least 20 characters)")
    request = db.get(FileRequest, report_file.file_request_id) if report_file.file_request_id else None
    when = now(db)
    if request is not None and request.state == file_requests.PENDING and when < request.due_at:
        raise RuleViolation(
            f"the platform has until {request.due_at.isoformat(timespec='minutes')} to provide this "
            f"file (request {request.id}); a report goes without it only once that has passed or the "
            "platform said it cannot"
        )
    report_file.waived_reason = reason.strip()
    report_file.waived_by = actor.ref
    report_file.waived_at = when
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.NCMEC_FILE_WAIVE,
        subject_type="case",
        subject_id=report.case_id,
        data={
            "report_id": report.id,
            "file": report_file.id,
            "request_id": request.id if request else None,
            "reason": report_file.waived_reason,
        },
    )
    if request is not None:
        still_needed = db.scalar(
            sa.select(sa.func.count())
            .select_from(NcmecReportFile)
            .where(
                NcmecReportFile.file_request_id == request.id,
                NcmecReportFile.evidence_item_id.is_(None),
                NcmecReportFile.waived_at.is_(None),
            )
        )
        if not still_needed:
            withdraw(
                db,
                actor=actor,
                request=request,
                reason=f"report {report.id} goes without the file: {report_file.waived_reason}",
            )
    ncmec.resume_when_ready(db, report_id=report.id, reason=f"without:{report_file.id}")
    return report_file


def request_file(
    db: Session,
    *,
    actor: Actor,
    content: PlatformContent,
    case_id: int | None,
    reason: str,
    hours: float = file_requests.DEFAULT_HOURS,
) -> FileRequest:
    """Ask the platform for `content`'s file, once: a request still open for the same content is
    reused, whichever report needs it."""
    existing = file_requests.open_request(db, content.id)
    if existing is not None:
        return existing
    when = now(db)
    due = when + timedelta(hours=hours)
    request = FileRequest(
        content_id=content.id,
        case_id=case_id,
        state=file_requests.PENDING,
        reason=reason,
        requested_at=when,
        requested_by=actor.ref,
        due_at=due,
    )
    db.add(request)
    db.flush()
    # The request travels as an action so that every platform integration receives it the way it
    # receives removals: one signed webhook path, one pull feed, one acknowledgement. It names no
    # case (it is no measure on the case) and carries no statement of reasons (it restricts nobody).
    action = apply_action(
        db,
        actor=actor,
        kind=file_requests.PROVIDE_FILE,
        content_id=content.id,
        facts=(
            f"A report to the authorities needs this content's file as the platform holds it. Send it by "
            f"{due.isoformat(timespec='seconds')}: POST /v1/evidence with the file, content_id and "
            f"request_id={request.id}. If you cannot, acknowledge this action as failed and say why."
        ),
        details={
            "request_id": request.id,
            "due_at": due.isoformat(),
            "answer": "POST /v1/evidence",
            "answer_fields": {"request_id": request.id, "content_id": content.platform_id},
        },
    )
    request.action_id = action.id
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.NCMEC_FILE_REQUEST,
        **file_requests.audit_subject(request),
        data={
            "request_id": request.id,
            "content": content.platform_id,
            "action_id": action.id,
            "due_at": due,
            "reason": reason,
        },
    )
    return request


def receive_file(
    db: Session,
    *,
    actor: Actor,
    vault: Vault,
    data: bytes,
    content: PlatformContent,
    request: FileRequest | None,
    context: dict[str, Any],
    media_type: str,
    original_filename: str | None,
) -> tuple[EvidenceItem, FileRequest | None]:
    """The platform deposits a file: into the vault, and, when it answers a request (named, or
    the one open for this content), the reports waiting for it go on by themselves."""
    if request is not None:
        if request.content_id != content.id:
            raise InvalidInput(
                f"file request {request.id} asks for another content's file, not {content.platform_id!r}"
            )
        if request.state == file_requests.WITHDRAWN:
            raise Conflict(
                f"file request {request.id} was withdrawn: the file is no longer needed for it "
                "(deposit it without request_id to keep it as evidence)"
            )
        if request.state == file_requests.PROVIDED:
            item = db.get(EvidenceItem, request.evidence_item_id) if request.evidence_item_id else None
            if item is not None and item.sha256 == hashlib.sha256(data).hexdigest():
                return item, request  # the same deposit again (a retry after a lost answer)
            raise Conflict(
                f"file request {request.id} was already answered with evidence item {request.evidence_item_id}"
            )
    else:
        request = file_requests.open_request(db, content.id)
    item = store_item(
        db,
        actor=actor,
        vault=vault,
        data=data,
        content_id=content.id,
        case_id=request.case_id if request else None,
        context={**context, **({"file_request_id": request.id} if request else {})},
        media_type=media_type,
        original_filename=original_filename,
    )
    if request is not None:
        _fulfil(db, actor=actor, request=request, item=item)
    return item, request


def _fulfil(db: Session, *, actor: Actor, request: FileRequest, item: EvidenceItem) -> None:
    # The platform may hold a re-encoded copy rather than the bytes that were uploaded: that is
    # recorded (and said in the report), not refused, or the report would wait for ever.
    known = file_requests.upload_digests(db, request.content_id)
    matches = None
    if known:
        matches = item.md5 == known.get("md5") or item.sha256 == known.get("sha256")
    when = now(db)
    request.state = file_requests.PROVIDED
    request.answered_at = when
    request.evidence_item_id = item.id
    request.answer = f"provided as evidence item {item.id}; " + (
        "the same bytes as the upload scanned"
        if matches
        else "no upload digest to compare"
        if matches is None
        else "not the same bytes as the upload scanned (re-encoded or another file)"
    )
    _lift(db, actor=actor, request=request, reason="the platform provided the file")
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.NCMEC_FILE_RECEIVED,
        **file_requests.audit_subject(request),
        data={
            "request_id": request.id,
            "evidence_item_id": item.id,
            "same_as_upload": matches,
            "late": when > request.due_at,
        },
    )
    waiting = (
        db.execute(
            sa.select(NcmecReportFile).where(
                NcmecReportFile.file_request_id == request.id,
                NcmecReportFile.evidence_item_id.is_(None),
                NcmecReportFile.waived_at.is_(None),
            )
        )
        .scalars()
        .all()
    )
    for row in waiting:
        row.evidence_item_id = item.id
    db.flush()
    for report_id in sorted({row.report_id for row in waiting}):
        ncmec.resume_when_ready(db, report_id=report_id, reason=f"item:{item.id}")


def _lift(db: Session, *, actor: Actor, request: FileRequest, reason: str) -> None:
    """The platform hears that the request is settled (`action.lifted`): it can stop looking."""
    action = db.get(EnforcementAction, request.action_id) if request.action_id else None
    if action is not None:
        lift_action(db, actor=actor, action=action, reason=reason)


def withdraw(db: Session, *, actor: Actor, request: FileRequest, reason: str) -> None:
    """No report needs the file any more (filed without it, or retracted)."""
    if request.state not in file_requests.OPEN_STATES:
        return
    request.state = file_requests.WITHDRAWN
    request.answered_at = now(db)
    request.answer = reason[:2000]
    _lift(db, actor=actor, request=request, reason=f"no longer needed: {reason}"[:2000])
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.NCMEC_FILE_WITHDRAWN,
        **file_requests.audit_subject(request),
        data={"request_id": request.id, "reason": reason},
    )


# -- law enforcement asks that evidence be destroyed ------------------------------------------


def record_destruction_request(
    db: Session,
    *,
    actor: Actor,
    item: EvidenceItem,
    basis: str,
    agency: str | None = None,
    reference: str | None = None,
) -> DestructionRequest:
    """First person: a law-enforcement agency asks that a depiction be destroyed (CSAM-6). With the
    agency named it ends the finished report's one-year hold and voluntary holds once a second
    person approves (evidence.actions.LE_DESTRUCTION_OVERRIDES); the agency's request is kept in
    the register of law-enforcement requests."""
    law_enforcement.require_legal(actor)
    law_enforcement.refuse_if_reporting(db, item)
    request = evidence.request_destruction(db, actor=actor, item=item, basis=basis, agency=agency, reference=reference)
    if request.agency is not None:
        le = LawEnforcementRequest(
            kind="destruction",
            agency=request.agency,
            legal_process=basis[:2000],
            reference=request.reference or "-",
            item_ids=[item.id],
            received_at=now(db),
            recorded_by=actor.ref,
            outcome=f"destruction request {request.id}, awaiting a second person",
        )
        db.add(le)
        db.flush()
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.LE_REQUEST,
            subject_type="law_enforcement_request",
            subject_id=le.id,
            data={
                "kind": "destruction",
                "agency": request.agency,
                "reference": request.reference,
                "items": [item.id],
                "destruction_request_id": request.id,
            },
        )
    return request


def approve_destruction(db: Session, *, actor: Actor, vault: Vault, request: DestructionRequest) -> EvidenceItem:
    """Second person: carried out, unless a report took the item in meanwhile or a hold that the
    request cannot end is now in force."""
    item = item_by_id(db, request.item_id)
    law_enforcement.refuse_if_reporting(db, item)
    return evidence.approve_destruction(db, actor=actor, vault=vault, request=request)
