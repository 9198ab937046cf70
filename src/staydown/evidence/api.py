"""HTTP API for the vault: the platform deposits evidence; child safety and legal read it, with a
purpose, and hold or destroy it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from staydown.actors import Actor
from staydown.apidocs import errors
from staydown.authorities import file_requests
from staydown.db import get_or_404
from staydown.errors import Conflict, InvalidInput
from staydown.evidence import actions
from staydown.evidence.models import DestructionRequest, EvidenceItem, LegalHold
from staydown.evidence.vault import item_by_id, place_hold, read_item
from staydown.flows import authorities as authority_flows
from staydown.http import DbSession, require
from staydown.limits import DbId, parse_json_object
from staydown.memform import read_form, text_field
from staydown.staff.permissions import Permission
from staydown.subjects.models import PlatformContent
from staydown.subjects.records import ensure_content
from staydown.subjects.schemas import AccountRef, ContentRef

router = APIRouter(prefix="/v1", tags=["evidence"])

Depositor = Annotated[Actor, Depends(require(Permission.EVIDENCE_SUBMIT))]
Viewer = Annotated[Actor, Depends(require(Permission.EVIDENCE_ACCESS))]
Holder = Annotated[Actor, Depends(require(Permission.EVIDENCE_HOLDS))]
Legal = Annotated[Actor, Depends(require(Permission.LAW_ENFORCEMENT))]


class ItemOut(BaseModel):
    id: int
    content_id: int | None
    case_id: int | None
    sha256: str
    md5: str
    size: int
    media_type: str
    state: str
    retention_until: datetime | None
    first_human_view_at: datetime | None
    created_at: datetime
    holds: list[dict[str, Any]] = Field(default_factory=list)
    # The file request this deposit answered, if any.
    file_request_id: DbId | None = None


def _out(db: DbSession, item: EvidenceItem) -> ItemOut:
    holds = db.execute(sa.select(LegalHold).where(LegalHold.item_id == item.id)).scalars().all()
    data = {k: getattr(item, k) for k in ItemOut.model_fields if k not in ("holds", "file_request_id")}
    return ItemOut(
        **data,
        holds=[
            {
                "id": h.id,
                "kind": h.kind,
                "basis": h.basis,
                "until": h.until.isoformat(),
                "released": h.released_at is not None,
            }
            for h in holds
        ],
    )


def _text_field(form: Any, name: str, limit: int) -> str | None:
    return text_field(form, name, limit) or None  # an empty field is an absent one


@router.post("/evidence", response_model=ItemOut, status_code=201, responses=errors(400, 413, 422))
async def deposit(request: Request, db: DbSession, actor: Depositor) -> ItemOut:
    """The platform deposits a file with its context (CSAM-3): multipart `file`, `content_id`,
    optional `account_id`, `original_filename` (the uploader's file name, if the part's own name
    is not it) and `context` (JSON: IP capture events `[{"ip", "port", "event", "at"}]`, upload
    time `uploaded_at`, messages...). `request_id` answers a `provide_file` action: the
    CyberTipline report waiting for this file then goes on by itself. A deposit for content with
    an open file request answers it too."""
    # In memory: the framework's parser spools a part over 1 MiB to a temporary file, and the vault
    # writes only ciphertext.
    form = await read_form(request, max_files=1, max_fields=10)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInput("the form needs a 'file' part")
    data = await upload.read()
    content_id = _text_field(form, "content_id", 200)
    raw_request = _text_field(form, "request_id", 20)
    if raw_request is not None and not raw_request.isdigit():
        raise InvalidInput(
            "request_id is the number of the file request (details.request_id of the provide_file action)"
        )
    file_request = file_requests.request_by_id(db, int(raw_request)) if raw_request else None
    if content_id is None and file_request is None:
        raise InvalidInput("content_id is required: evidence belongs to a piece of the platform's content")
    account_id = _text_field(form, "account_id", 200)
    original_filename = _text_field(form, "original_filename", 300)
    raw_context = form.get("context") or "{}"
    if not isinstance(raw_context, str):
        raise InvalidInput("form field 'context' must be text, not a file")
    context = parse_json_object(raw_context, field="context")
    if content_id is not None:
        content = ensure_content(
            db, actor=actor, ref=ContentRef(id=content_id, account=AccountRef(id=account_id) if account_id else None)
        )
    else:
        assert file_request is not None  # one of the two is given (checked above)
        requested = db.get(PlatformContent, file_request.content_id)
        assert requested is not None  # a file request names its content (foreign key)
        content = requested

    item, answered = await run_in_threadpool(
        authority_flows.receive_file,
        db,
        actor=actor,
        vault=request.app.state.vault,
        data=data,
        content=content,
        request=file_request,
        context={**context, "account_id": account_id},
        media_type=upload.content_type or "application/octet-stream",
        original_filename=original_filename or upload.filename,
    )
    out = _out(db, item)
    out.file_request_id = answered.id if answered is not None else None
    return out


@router.get("/evidence/{item_id}", response_model=ItemOut)
def get_item(item_id: DbId, db: DbSession, _: Viewer) -> ItemOut:
    return _out(db, item_by_id(db, item_id))


@router.get("/evidence/{item_id}/content")
def read_content(
    item_id: DbId,
    request: Request,
    db: DbSession,
    actor: Viewer,
    purpose: Annotated[str, Query(min_length=10, max_length=500)],
) -> Response:
    """The decrypted file, for a stated purpose; the access is audited."""
    item = item_by_id(db, item_id)
    data = read_item(db, actor=actor, vault=request.app.state.vault, item=item, purpose=purpose, export=True)
    return Response(
        data, media_type=item.media_type, headers={"Cache-Control": "no-store", "Content-Disposition": "attachment"}
    )


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=30, pattern="^(preservation_request|voluntary)$")
    basis: str = Field(min_length=5, max_length=2000)
    until: datetime


@router.post("/evidence/{item_id}/holds", status_code=201)
def hold(item_id: DbId, body: HoldIn, db: DbSession, actor: Holder) -> dict[str, Any]:
    h = place_hold(db, actor=actor, item=item_by_id(db, item_id), kind=body.kind, basis=body.basis, until=body.until)
    return {"id": h.id, "until": h.until.isoformat()}


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=5, max_length=2000)


@router.post("/holds/{hold_id}/release")
def release_hold(hold_id: DbId, body: ReleaseIn, db: DbSession, actor: Holder) -> dict[str, Any]:
    found = get_or_404(db, LegalHold, hold_id, "legal hold")
    if found.released_at is not None:
        raise Conflict(f"hold {hold_id} was already released")
    h = actions.release_hold(db, actor=actor, hold=found, reason=body.reason)
    return {"id": h.id, "released_at": h.released_at.isoformat() if h.released_at else None}


class DestructionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    basis: str = Field(min_length=20, max_length=2000)
    # The agency that asked and its reference: a request under 18 U.S.C. 2258B(c)(2), which ends
    # a finished CyberTipline report's preservation hold and voluntary holds (not another
    # agency's 2703(f) preservation request).
    agency: str | None = Field(default=None, min_length=2, max_length=300)
    reference: str | None = Field(default=None, min_length=1, max_length=200)


@router.post("/evidence/{item_id}/destruction-requests", status_code=201)
def request_destruction(item_id: DbId, body: DestructionIn, db: DbSession, actor: Legal) -> dict[str, Any]:
    item = item_by_id(db, item_id)
    r = authority_flows.record_destruction_request(
        db, actor=actor, item=item, basis=body.basis, agency=body.agency, reference=body.reference
    )
    # "Any such visual depiction" (2258B(c)(2)): other vault copies of the same bytes are named,
    # so that legal asks for them too.
    copies = (
        db.execute(
            sa.select(EvidenceItem.id).where(
                EvidenceItem.sha256 == item.sha256, EvidenceItem.id != item.id, EvidenceItem.state == "stored"
            )
        )
        .scalars()
        .all()
    )
    return {
        "id": r.id,
        "state": "awaiting a second person",
        "law_enforcement": r.agency is not None,
        "identical_items_still_stored": list(copies),
    }


@router.post("/destruction-requests/{request_id}/approve")
def approve_destruction(request_id: DbId, request: Request, db: DbSession, actor: Viewer) -> dict[str, Any]:
    found = get_or_404(db, DestructionRequest, request_id, "destruction request")
    item = authority_flows.approve_destruction(db, actor=actor, vault=request.app.state.vault, request=found)
    return {"item_id": item.id, "state": item.state}
