"""Ask the platform for a reported file staydown never held, take it in when it comes, and alert
child safety when it does not (NCMEC-3, CSAM-3).

A CyberTipline report should carry the file itself. Held and blocked uploads are in the vault from
the scan; content that passed the scan, was matched from the platform's own hashes
(`POST /v1/match`) or was confirmed from a user's report never reached staydown. For those the
report asks the platform: a `provide_file` action on the content, delivered like every other
action (signed webhook, pull feed), which the platform answers with `POST /v1/evidence` naming the
request, or refuses by acknowledging the action `failed` with the reason. The report waits for
the file; past `due_at` child safety is alerted once, and the report keeps waiting until the file
arrives or a specialist decides, with reasons, to file without it (`ncmec.file_without`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.authorities.models import FileRequest, NcmecReportFile
from staydown.db import get_or_404, now
from staydown.enforcement.actions import apply_action, lift_action
from staydown.enforcement.models import EnforcementAction
from staydown.errors import Conflict, InvalidInput
from staydown.evidence.actions import Vault, store_item
from staydown.evidence.models import EvidenceItem
from staydown.subjects.models import PlatformContent
from staydown.worklist import alert

PROVIDE_FILE = "provide_file"
PENDING, PROVIDED, UNAVAILABLE, WITHDRAWN = "pending", "provided", "unavailable", "withdrawn"
# A request the platform may still answer with the file (an "unavailable" answer can be followed
# by the file after all: a restored backup is worth having).
OPEN_STATES = (PENDING, UNAVAILABLE)
ALERT_ROLES = ("child_safety",)
DEFAULT_HOURS = 4.0


def open_request(db: Session, content_id: int) -> FileRequest | None:
    """The request for this content's file that the platform may still answer."""
    return db.execute(
        sa.select(FileRequest)
        .where(FileRequest.content_id == content_id, FileRequest.state.in_(OPEN_STATES))
        .order_by(FileRequest.id)
        .limit(1)
    ).scalar_one_or_none()


def request_file(
    db: Session,
    *,
    actor: Actor,
    content: PlatformContent,
    case_id: int | None,
    reason: str,
    hours: float = DEFAULT_HOURS,
) -> FileRequest:
    """Ask the platform for `content`'s file, once: a request still open for the same content is
    reused, whichever report needs it."""
    existing = open_request(db, content.id)
    if existing is not None:
        return existing
    when = now(db)
    due = when + timedelta(hours=hours)
    request = FileRequest(
        content_id=content.id,
        case_id=case_id,
        state=PENDING,
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
        kind=PROVIDE_FILE,
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
        **_subject(request),
        data={
            "request_id": request.id,
            "content": content.platform_id,
            "action_id": action.id,
            "due_at": due,
            "reason": reason,
        },
    )
    return request


def _subject(request: FileRequest) -> dict[str, Any]:
    # On the case's record, where the report's other events are; a request without a case on its own.
    if request.case_id is not None:
        return {"subject_type": "case", "subject_id": request.case_id}
    return {"subject_type": "file_request", "subject_id": request.id}


def request_by_id(db: Session, request_id: int) -> FileRequest:
    return get_or_404(db, FileRequest, request_id, "file request")


def upload_digests(db: Session, content_id: int) -> dict[str, str]:
    """The MD5 and SHA-256 of the content as uploaded, where a scan or a match recorded them."""
    from staydown.matching.models import ContentSignal

    rows = db.execute(
        sa.select(ContentSignal.signal_type, ContentSignal.signal)
        .where(ContentSignal.content_id == content_id, ContentSignal.signal_type.in_(("md5", "sha256")))
        .order_by(ContentSignal.id)
    ).all()
    found: dict[str, str] = {}
    for kind, value in rows:
        found.setdefault(kind, value)
    return found


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
        if request.state == WITHDRAWN:
            raise Conflict(
                f"file request {request.id} was withdrawn: the file is no longer needed for it "
                "(deposit it without request_id to keep it as evidence)"
            )
        if request.state == PROVIDED:
            item = db.get(EvidenceItem, request.evidence_item_id) if request.evidence_item_id else None
            if item is not None and item.sha256 == hashlib.sha256(data).hexdigest():
                return item, request  # the same deposit again (a retry after a lost answer)
            raise Conflict(
                f"file request {request.id} was already answered with evidence item {request.evidence_item_id}"
            )
    else:
        request = open_request(db, content.id)
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
    known = upload_digests(db, request.content_id)
    matches = None
    if known:
        matches = item.md5 == known.get("md5") or item.sha256 == known.get("sha256")
    when = now(db)
    request.state = PROVIDED
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
        **_subject(request),
        data={
            "request_id": request.id,
            "evidence_item_id": item.id,
            "same_as_upload": matches,
            "late": when > request.due_at,
        },
    )
    from staydown.authorities import ncmec

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


def refuse_file(db: Session, *, actor: Actor, action: EnforcementAction, detail: str) -> FileRequest | None:
    """The platform acknowledged a `provide_file` action as failed: it cannot provide the file.
    Child safety hears at once instead of at the deadline."""
    request = db.execute(sa.select(FileRequest).where(FileRequest.action_id == action.id)).scalar_one_or_none()
    if request is None or request.state != PENDING:
        return request
    when = now(db)
    request.state = UNAVAILABLE
    request.answered_at = when
    request.answer = (detail or "the platform did not say why")[:2000]
    content = db.get(PlatformContent, request.content_id)
    alert(
        db,
        roles=ALERT_ROLES,
        kind="ncmec_file_unavailable",
        case_id=request.case_id,
        at=when,
        message=(
            f"The platform cannot provide the file of content {content.platform_id if content else '?'} "
            f"(file request {request.id}): {request.answer}. The CyberTipline report waits: file it "
            "without the file, with reasons, or obtain the file."
        ),
    )
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.NCMEC_FILE_UNAVAILABLE,
        **_subject(request),
        data={"request_id": request.id, "answer": request.answer},
    )
    return request


def withdraw(db: Session, *, actor: Actor, request: FileRequest, reason: str) -> None:
    """No report needs the file any more (filed without it, or retracted)."""
    if request.state not in OPEN_STATES:
        return
    request.state = WITHDRAWN
    request.answered_at = now(db)
    request.answer = reason[:2000]
    _lift(db, actor=actor, request=request, reason=f"no longer needed: {reason}"[:2000])
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.NCMEC_FILE_WITHDRAWN,
        **_subject(request),
        data={"request_id": request.id, "reason": reason},
    )


def sweep_overdue(db: Session, *, actor: Actor, at: datetime | None = None, limit: int = 500) -> int:
    """Alert child safety, once per request, when a requested file is overdue. The report keeps
    waiting: filing without the file is a person's decision, not the clock's."""
    when = at or now(db)
    overdue = (
        db.execute(
            sa.select(FileRequest)
            .where(FileRequest.state == PENDING, FileRequest.due_at <= when, FileRequest.alerted_at.is_(None))
            .order_by(FileRequest.due_at, FileRequest.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    for request in overdue:
        content = db.get(PlatformContent, request.content_id)
        request.alerted_at = when
        alert(
            db,
            roles=ALERT_ROLES,
            kind="ncmec_file_overdue",
            case_id=request.case_id,
            at=when,
            message=(
                f"The platform has not provided the file of content "
                f"{content.platform_id if content else '?'} (file request {request.id}), due "
                f"{request.due_at.isoformat(timespec='minutes')}. The CyberTipline report is waiting for it: "
                "chase the platform, or file without the file, with reasons."
            ),
        )
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.NCMEC_FILE_OVERDUE,
            **_subject(request),
            data={"request_id": request.id, "due_at": request.due_at},
        )
    return len(overdue)
