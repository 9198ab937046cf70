"""HTTP API for auditors: the chain head, verification, and the events themselves."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from staydown import audit
from staydown.actors import Actor
from staydown.audit.models import AuditEvent
from staydown.http import DbSession, require
from staydown.limits import Cursor
from staydown.staff.permissions import Permission

router = APIRouter(prefix="/v1/audit", tags=["audit"])

AuditReader = Annotated[Actor, Depends(require(Permission.AUDIT_READ))]


class CheckpointOut(BaseModel):
    seq: int
    hash: str


class VerifyOut(BaseModel):
    ok: bool
    events_checked: int
    head: CheckpointOut
    first_bad_seq: int | None
    problem: str | None


class EventOut(BaseModel):
    seq: int
    created_at: datetime
    actor_kind: str
    actor_id: str
    actor_label: str
    tag: str
    subject_type: str
    subject_id: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


@router.get("/checkpoint", response_model=CheckpointOut)
def get_checkpoint(db: DbSession, _: AuditReader) -> CheckpointOut:
    head = audit.checkpoint(db)
    return CheckpointOut(seq=head.seq, hash=head.hash)


@router.get("/verify", response_model=VerifyOut)
def get_verify(
    db: DbSession,
    _: AuditReader,
    pinned: Annotated[str | None, Query(max_length=84, description="SEQ:HASH from an earlier checkpoint")] = None,
) -> VerifyOut:
    result = audit.verify(db, pinned=audit.Checkpoint.parse(pinned) if pinned else None)
    return VerifyOut(
        ok=result.ok,
        events_checked=result.events_checked,
        head=CheckpointOut(seq=result.head.seq, hash=result.head.hash),
        first_bad_seq=result.first_bad_seq,
        problem=result.problem,
    )


@router.get("/events", response_model=list[EventOut])
def list_events(
    db: DbSession,
    _: AuditReader,
    after: Cursor = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[EventOut]:
    rows = db.execute(
        sa.select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(limit)
    ).scalars()
    return [EventOut.model_validate(row, from_attributes=True) for row in rows]
