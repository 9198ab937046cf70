"""HTTP API for scanning uploads (`POST /v1/scan`) and matching platform-computed signals (`POST /v1/match`)."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from staydown.actors import Actor
from staydown.errors import InvalidInput
from staydown.http import DbSession, require
from staydown.matching.banks import normalise_signal
from staydown.matching.scanning import ScanOutcome, match_supplied, scan_media
from staydown.matching import video
from staydown.media.fetch import fetch
from staydown.media.video import video_format
from staydown.memform import read_form
from staydown.staff.permissions import Permission
from staydown.subjects.schemas import AccountRef, ContentRef

router = APIRouter(prefix="/v1", tags=["scan"])

Scanner = Annotated[Actor, Depends(require(Permission.SCAN))]
Matcher = Annotated[Actor, Depends(require(Permission.MATCH))]

MAX_FORM_FIELD = 2048


def _check_ip(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"uploader_ip {value[:64]!r} is not an IPv4 or IPv6 address") from None


class ScanUrlIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048)
    content: ContentRef | None = None
    uploader_ip: str | None = Field(default=None, max_length=64)
    uploaded_at: AwareDatetime | None = None

    _ip = field_validator("uploader_ip")(_check_ip)


class SuppliedPdq(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hash: str = Field(min_length=64, max_length=64)
    quality: int = Field(default=100, ge=0, le=100)


class MatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pdq: list[SuppliedPdq] = Field(default_factory=list, max_length=64)
    vpdq: str | None = Field(default=None, max_length=video.vpdq.MAX_VPDQ_TEXT,
                             description="a video's vPDQ in threatexchange's form (JSON list of "
                                         "'pdq_hex,quality,timestamp')")
    md5: str | None = Field(default=None, max_length=32)
    sha256: str | None = Field(default=None, max_length=64)
    content: ContentRef | None = None
    uploader_ip: str | None = Field(default=None, max_length=64)
    uploaded_at: AwareDatetime | None = None

    _ip = field_validator("uploader_ip")(_check_ip)


class MatchOut(BaseModel):
    bank: str
    entry_id: int
    signal_type: str
    distance: int
    threshold: int
    action: str
    policy_id: str
    query_variant: str
    entry_variant: str
    query_match_percent: float | None = Field(default=None, description="vPDQ: share of the upload's frames found")
    compared_match_percent: float | None = Field(default=None, description="vPDQ: share of the banked video's frames found")


class ScanOut(BaseModel):
    scan_id: int
    verdict: str = Field(description="allow | hold (keep out of distribution, send to review) | block")
    reasons: list[str]
    matches: list[MatchOut]
    signals: dict[str, Any]
    media: dict[str, Any]
    content_id: str | None
    query_variants: int
    case_ids: list[int] = Field(default_factory=list, description="cases opened or joined by a hold or block")

    @classmethod
    def of(cls, outcome: ScanOutcome) -> "ScanOut":
        return cls(scan_id=outcome.scan_id, verdict=outcome.verdict, reasons=outcome.reasons,
                   matches=[MatchOut(**{k: v for k, v in m.to_dict().items() if k in MatchOut.model_fields})
                            for m in outcome.matches],
                   signals=outcome.signals, media=outcome.media, content_id=outcome.content_id,
                   query_variants=outcome.query_variants, case_ids=outcome.extra.get("case_ids", []))


def _field(form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if isinstance(value, UploadFile):
        raise InvalidInput(f"form field {name!r} must be text, not a file")
    if len(value) > MAX_FORM_FIELD:
        raise InvalidInput(f"form field {name!r} is longer than {MAX_FORM_FIELD} characters")
    return value


def _content_from_form(form: Any) -> tuple[ContentRef | None, str | None, datetime | None]:
    content_id = _field(form, "content_id")
    account_id = _field(form, "account_id")
    try:
        content = None
        if content_id:
            content = ContentRef(
                id=content_id,
                kind=_field(form, "content_kind") or "image",
                url=_field(form, "content_url"),
                account=AccountRef(id=account_id, handle=_field(form, "account_handle")) if account_id else None,
            )
        elif account_id:
            raise InvalidInput("account_id needs a content_id: scans are recorded against the platform's content")
        uploaded_at = _field(form, "uploaded_at")
        parsed = ScanUrlIn.model_validate({"url": "-", "uploader_ip": _field(form, "uploader_ip"),
                                           "uploaded_at": uploaded_at})
    except ValidationError as exc:
        raise InvalidInput("the scan form is not valid: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])) from None
    return content, parsed.uploader_ip, parsed.uploaded_at


SCAN_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "content_id": {"type": "string"}, "content_kind": {"type": "string"},
                        "content_url": {"type": "string"}, "account_id": {"type": "string"},
                        "account_handle": {"type": "string"}, "uploader_ip": {"type": "string"},
                        "uploaded_at": {"type": "string", "format": "date-time"},
                    },
                }
            },
            "application/json": {"schema": ScanUrlIn.model_json_schema()},
        },
    }
}


@router.post("/scan", response_model=ScanOut, openapi_extra=SCAN_BODY_DOC)
async def scan(request: Request, db: DbSession, actor: Scanner) -> ScanOut:
    """Scan one upload: a multipart file, or JSON with a URL on the allow-list. Answers allow,
    hold or block with the matches, and keeps the content's signals for later sweeps."""
    settings = request.app.state.settings
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await read_form(request, max_files=1, max_fields=20)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("the multipart form needs a 'file' part holding the media")
        data = await upload.read()
        content, ip, uploaded_at = _content_from_form(form)
        kind_given = form.get("content_kind") is not None
    elif content_type.startswith("application/json"):
        try:
            body = ScanUrlIn.model_validate_json(await request.body())
        except ValidationError as exc:
            raise InvalidInput("the scan request is not valid: " + "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])) from None
        data = await run_in_threadpool(fetch, body.url, settings.fetch_policy())
        content, ip, uploaded_at = body.content, body.uploader_ip, body.uploaded_at
        kind_given = content is not None and "kind" in content.model_fields_set
    else:
        raise InvalidInput("send the media as multipart/form-data (a 'file' part) or JSON with a 'url'")
    if not data:
        raise InvalidInput("the media is empty (0 bytes)")
    if video_format(data) is not None:  # MP4/MOV, WebM/MKV, animated GIF: vPDQ (matching/video.py)
        if content is not None and not kind_given:  # what statements of reasons call it (DSA content_type)
            content = content.model_copy(update={"kind": "video"})
        outcome = await run_in_threadpool(
            video.scan_upload, db, actor=actor, state=request.app.state, settings=settings, data=data,
            content=content, uploader_ip=ip, uploaded_at=uploaded_at)
        await run_in_threadpool(_detection, request, db, outcome, content, data, ip, uploaded_at)
        return ScanOut.of(outcome)
    # Decoding and hashing are CPU work: off the event loop, in this request's unit of work.
    outcome = await run_in_threadpool(
        scan_media, db, actor=actor, engine=request.app.state.match_engine, data=data,
        limits=settings.decode_limits(), content=content, uploader_ip=ip, uploaded_at=uploaded_at)
    await run_in_threadpool(_detection, request, db, outcome, content, data, ip, uploaded_at)
    return ScanOut.of(outcome)


def _detection(request: Request, db: DbSession, outcome: ScanOutcome, content: ContentRef | None,
               data: bytes | None = None, ip: str | None = None, uploaded_at: datetime | None = None) -> None:
    """A hold or block on identified content opens (or joins) a case for a person to confirm, and
    the upload goes into the vault with what it carried (CSAM-3): held or blocked material may be
    reported, and the platform may never have stored a blocked upload."""
    if content is None or outcome.verdict not in ("hold", "block"):
        return
    from staydown.intake.actions import submit_detection

    state = request.app.state
    receipt = submit_detection(db, content_platform_id=content.id,
                               account_platform_id=content.account.id if content.account else None,
                               matches=outcome.matches, verdict=outcome.verdict, catalogue=state.catalogue,
                               rules=state.case_rules, engine=state.match_engine)
    outcome.extra["case_ids"] = [c.id for c in receipt.cases]
    if data is not None:
        from staydown.actors import SYSTEM
        from staydown.evidence.actions import store_item
        from staydown.subjects.queries import content_by_platform_id

        stored = content_by_platform_id(db, content.id)
        store_item(db, actor=SYSTEM, vault=state.vault, data=data, content_id=stored.id,
                   case_id=receipt.cases[0].id if receipt.cases else None,
                   context={"account_id": content.account.id if content.account else None,
                            "ip_capture": [{"ip": ip, "event": "Upload", "at": uploaded_at.isoformat() if uploaded_at else None}]
                            if ip else [],
                            "uploaded_at": uploaded_at.isoformat() if uploaded_at else None,
                            "scan_id": outcome.scan_id, "matches": [m.to_dict() for m in outcome.matches[:5]]},
                   media_type=outcome.media.get("format", "application/octet-stream"))


@router.post("/match", response_model=ScanOut)
def match(body: MatchIn, request: Request, db: DbSession, actor: Matcher) -> ScanOut:
    """Match signals the platform computed itself; staydown never receives the media."""
    if not body.pdq and not body.md5 and not body.sha256 and not body.vpdq:
        raise InvalidInput("give at least one signal: pdq, vpdq, md5 or sha256")
    pdq = [(normalise_signal("pdq", p.hash)[1], p.quality) for p in body.pdq]
    md5 = normalise_signal("md5", body.md5)[1] if body.md5 else None
    sha256 = normalise_signal("sha256", body.sha256)[1] if body.sha256 else None
    if body.vpdq:
        if pdq:
            raise InvalidInput("give a video's vpdq or an image's pdq, not both")
        outcome = video.match_supplied_video(db, actor=actor, engine=request.app.state.match_engine,
                                             vpdq_text=body.vpdq, md5=md5, sha256=sha256, content=body.content,
                                             uploader_ip=body.uploader_ip, uploaded_at=body.uploaded_at)
        _detection(request, db, outcome, body.content)
        return ScanOut.of(outcome)
    outcome = match_supplied(db, actor=actor, engine=request.app.state.match_engine, pdq=pdq, md5=md5,
                             sha256=sha256, content=body.content, uploader_ip=body.uploader_ip,
                             uploaded_at=body.uploaded_at)
    _detection(request, db, outcome, body.content)
    return ScanOut.of(outcome)
