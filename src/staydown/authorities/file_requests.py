"""Ask the platform for a reported file staydown never held, take it in when it comes, and alert
child safety when it does not (NCMEC-3, CSAM-3).

A CyberTipline report should carry the file itself. Held and blocked uploads are in the vault from
the scan; content that passed the scan, was matched from the platform's own hashes
(`POST /v1/match`) or was confirmed from a user's report never reached staydown. For those the
report asks the platform: a `provide_file` action on the content, delivered like every other
action (signed webhook, pull feed), which the platform answers with `POST /v1/evidence` naming the
request, or refuses by acknowledging the action `failed` with the reason. The report waits for
the file; past `due_at` child safety is alerted once, and the report keeps waiting until the file
arrives or a specialist decides, with reasons, to file without it (`flows.authorities.file_without`).
Asking, taking the file in and withdrawing are flows (they act on the platform's feed and the
vault); this module holds the requests' own records, reads and alerts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.authorities.models import FileRequest
from staydown.db import get_or_404, now
from staydown.enforcement.models import EnforcementAction
from staydown.matching.models import ContentSignal
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


def audit_subject(request: FileRequest) -> dict[str, Any]:
    # On the case's record, where the report's other events are; a request without a case on its own.
    if request.case_id is not None:
        return {"subject_type": "case", "subject_id": request.case_id}
    return {"subject_type": "file_request", "subject_id": request.id}


def request_by_id(db: Session, request_id: int) -> FileRequest:
    return get_or_404(db, FileRequest, request_id, "file request")


def upload_digests(db: Session, content_id: int) -> dict[str, str]:
    """The MD5 and SHA-256 of the content as uploaded, where a scan or a match recorded them."""
    rows = db.execute(
        sa.select(ContentSignal.signal_type, ContentSignal.signal)
        .where(ContentSignal.content_id == content_id, ContentSignal.signal_type.in_(("md5", "sha256")))
        .order_by(ContentSignal.id)
    ).all()
    found: dict[str, str] = {}
    for kind, value in rows:
        found.setdefault(kind, value)
    return found


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
        **audit_subject(request),
        data={"request_id": request.id, "answer": request.answer},
    )
    return request


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
            **audit_subject(request),
            data={"request_id": request.id, "due_at": request.due_at},
        )
    return len(overdue)
