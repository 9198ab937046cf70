"""HTTP API for scanning uploads (`POST /v1/scan`) and matching platform-computed signals (`POST /v1/match`)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from staydown.actors import Actor
from staydown.errors import InvalidInput
from staydown.flows import scanning as scanning_flows
from staydown.http import DbSession, require, require_quick
from staydown.matching import video
from staydown.matching.banks import normalise_signal
from staydown.matching.scanning import ScanOutcome, hash_upload, match_supplied, record_upload
from staydown.media.fetch import fetch
from staydown.media.video import video_format
from staydown.memform import read_form, text_field
from staydown.staff.permissions import Permission
from staydown.subjects.schemas import CONTENT_KINDS, AccountRef, ContentRef

router = APIRouter(prefix="/v1", tags=["scan"])

# The scan route opens no unit of work before its media is hashed (authenticate, then decode, then
# write): its permission check uses its own short transaction when the key is not remembered.
Scanner = Annotated[Actor, Depends(require_quick(Permission.SCAN))]
Matcher = Annotated[Actor, Depends(require(Permission.MATCH))]

MAX_FORM_FIELD = 2048


def _check_ip(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"uploader_ip {value[:64]!r} is not an IPv4 or IPv6 address") from None


def _check_filename(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if any(ord(c) < 32 or c in "/\\" for c in value):
        raise ValueError("original_filename is a file name (no path separators or control characters)")
    return value


class UploadFacts(BaseModel):
    """What the platform knows about the upload itself (CSAM-3): a CyberTipline report carries
    them as the file's ipCaptureEvent (Upload, with the port), uploadedToEspTimestamp and
    originalFileName."""

    model_config = ConfigDict(extra="forbid")

    uploader_ip: str | None = Field(default=None, max_length=64)
    uploader_port: int | None = Field(default=None, ge=1, le=65535)
    uploaded_at: AwareDatetime | None = None
    original_filename: str | None = Field(default=None, max_length=300)

    _ip = field_validator("uploader_ip")(_check_ip)
    _name = field_validator("original_filename")(_check_filename)


class ScanUrlIn(UploadFacts):
    url: str = Field(max_length=2048)
    content: ContentRef | None = None


class SuppliedPdq(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hash: str = Field(min_length=64, max_length=64)
    quality: int = Field(default=100, ge=0, le=100)


class MatchIn(UploadFacts):
    pdq: list[SuppliedPdq] = Field(default_factory=list, max_length=64)
    vpdq: str | None = Field(
        default=None,
        max_length=video.vpdq.MAX_VPDQ_TEXT,
        description="a video's vPDQ in threatexchange's form (JSON list of 'pdq_hex,quality,timestamp')",
    )
    md5: str | None = Field(default=None, max_length=32)
    sha256: str | None = Field(default=None, max_length=64)
    content: ContentRef | None = None


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
    compared_match_percent: float | None = Field(
        default=None, description="vPDQ: share of the banked video's frames found"
    )


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
    def of(cls, outcome: ScanOutcome) -> ScanOut:
        return cls(
            scan_id=outcome.scan_id,
            verdict=outcome.verdict,
            reasons=outcome.reasons,
            matches=[
                MatchOut(**{k: v for k, v in m.to_dict().items() if k in MatchOut.model_fields})
                for m in outcome.matches
            ],
            signals=outcome.signals,
            media=outcome.media,
            content_id=outcome.content_id,
            query_variants=outcome.query_variants,
            case_ids=outcome.extra.get("case_ids", []),
        )


def _field(form: Any, name: str) -> str | None:
    return text_field(form, name, MAX_FORM_FIELD)


def _content_from_form(form: Any) -> tuple[ContentRef | None, UploadFacts]:
    content_id = _field(form, "content_id")
    account_id = _field(form, "account_id")
    try:
        content = None
        if content_id:
            content = ContentRef(
                id=content_id,
                kind=_field(form, "content_kind") or "image",
                url=_field(form, "content_url"),
                visibility=_field(form, "content_visibility") or None,
                account=AccountRef(id=account_id, handle=_field(form, "account_handle")) if account_id else None,
            )
        elif account_id:
            raise InvalidInput("account_id needs a content_id: scans are recorded against the platform's content")
        elif _field(form, "content_visibility"):
            raise InvalidInput("content_visibility needs a content_id: it describes the platform's content")
        facts = UploadFacts.model_validate(
            {
                "uploader_ip": _field(form, "uploader_ip"),
                "uploader_port": _field(form, "uploader_port") or None,
                "uploaded_at": _field(form, "uploaded_at"),
                "original_filename": _field(form, "original_filename"),
            }
        )
    except ValidationError as exc:
        raise InvalidInput(
            "the scan form is not valid: "
            + "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        ) from None
    return content, facts


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
                        # The limits the form is held to (ContentRef, AccountRef, UploadFacts).
                        "content_id": {"type": "string", "minLength": 1, "maxLength": 200},
                        "content_kind": {"type": "string", "enum": list(CONTENT_KINDS)},
                        "content_url": {"type": "string", "maxLength": 2048},
                        "content_visibility": {
                            "type": "string",
                            "enum": ["public", "unlisted", "followers", "private", "unknown"],
                        },
                        "account_id": {"type": "string", "minLength": 1, "maxLength": 200},
                        "account_handle": {"type": "string", "maxLength": 200},
                        "uploader_ip": {"type": "string", "maxLength": 64},
                        "uploader_port": {"type": "integer", "minimum": 1, "maximum": 65535},
                        "uploaded_at": {"type": "string", "format": "date-time"},
                        "original_filename": {"type": "string", "maxLength": 300},
                    },
                }
            },
            "application/json": {"schema": ScanUrlIn.model_json_schema()},
        },
    }
}


@router.post("/scan", response_model=ScanOut, openapi_extra=SCAN_BODY_DOC)
async def scan(request: Request, actor: Scanner) -> ScanOut:
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
        content, facts = _content_from_form(form)
        kind_given = form.get("content_kind") is not None
    elif content_type.startswith("application/json"):
        try:
            body = ScanUrlIn.model_validate_json(await request.body())
        except ValidationError as exc:
            raise InvalidInput(
                "the scan request is not valid: "
                + "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
            ) from None
        data = await run_in_threadpool(fetch, body.url, settings.fetch_policy())
        content, facts = body.content, body
        kind_given = content is not None and "kind" in content.model_fields_set
    else:
        raise InvalidInput("send the media as multipart/form-data (a 'file' part) or JSON with a 'url'")
    if not data:
        raise InvalidInput("the media is empty (0 bytes)")
    if video_format(data) is not None:  # MP4/MOV, WebM/MKV, animated GIF: vPDQ (matching/video.py)
        if content is not None and not kind_given:  # what statements of reasons call it (DSA content_type)
            content = content.model_copy(update={"kind": "video"})
        signals, seconds = await run_in_threadpool(video.hash_for_scan, request.app.state, settings, data)
        outcome = await run_in_threadpool(_record_video, request, actor, signals, content, data, facts)
        outcome.media["hash_seconds"] = round(seconds, 3)
        return ScanOut.of(outcome)
    # Decoding and hashing are CPU work: off the event loop, a capped number at once (503 with
    # Retry-After past the queue), and before any transaction is opened.
    async with request.app.state.decode_slots.slot():
        pool = request.app.state.hash_pool
        if pool is not None:  # worker processes (staydown serve), one per slot
            hashed = await pool.hash(data, settings.decode_limits())
        else:
            hashed = await run_in_threadpool(hash_upload, data, limits=settings.decode_limits())
    outcome = await run_in_threadpool(_record, request, actor, hashed, content, data, facts)
    return ScanOut.of(outcome)


def _record(
    request: Request, actor: Actor, hashed: Any, content: ContentRef | None, data: bytes, facts: Any
) -> ScanOutcome:
    """The write half of a scan, in one unit of work that starts only now the media is hashed."""
    with request.app.state.database.unit_of_work() as db:
        outcome = record_upload(
            db,
            actor=actor,
            engine=request.app.state.match_engine,
            hashed=hashed,
            content=content,
            uploader_ip=facts.uploader_ip,
            uploaded_at=facts.uploaded_at,
            uploader_port=facts.uploader_port,
            original_filename=facts.original_filename,
        )
        _detection(request, db, outcome, content, data, facts)
    return outcome


def _record_video(
    request: Request, actor: Actor, signals: Any, content: ContentRef | None, data: bytes, facts: Any
) -> ScanOutcome:
    """The write half of a video scan, in one unit of work that starts only now the video is hashed."""
    with request.app.state.database.unit_of_work() as db:
        outcome = video.scan_video(
            db,
            actor=actor,
            engine=request.app.state.match_engine,
            signals=signals,
            content=content,
            uploader_ip=facts.uploader_ip,
            uploaded_at=facts.uploaded_at,
            uploader_port=facts.uploader_port,
            original_filename=facts.original_filename,
        )
        _detection(request, db, outcome, content, data, facts)
    return outcome


def _detection(
    request: Request,
    db: DbSession,
    outcome: ScanOutcome,
    content: ContentRef | None,
    data: bytes | None = None,
    facts: UploadFacts | None = None,
) -> None:
    """A hold or block on identified content goes on to a case and the vault (flows.scanning)."""
    if content is None or outcome.verdict not in ("hold", "block"):
        return
    state = request.app.state
    facts = facts or UploadFacts()
    scanning_flows.on_detection(
        db,
        outcome=outcome,
        content=content,
        data=data,
        uploader_ip=facts.uploader_ip,
        uploader_port=facts.uploader_port,
        uploaded_at=facts.uploaded_at,
        original_filename=facts.original_filename,
        catalogue=state.catalogue,
        rules=state.case_rules,
        engine=state.match_engine,
        vault=state.vault,
    )


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
        outcome = video.match_supplied_video(
            db,
            actor=actor,
            engine=request.app.state.match_engine,
            vpdq_text=body.vpdq,
            md5=md5,
            sha256=sha256,
            content=body.content,
            uploader_ip=body.uploader_ip,
            uploaded_at=body.uploaded_at,
        )
        _detection(request, db, outcome, body.content)
        return ScanOut.of(outcome)
    outcome = match_supplied(
        db,
        actor=actor,
        engine=request.app.state.match_engine,
        pdq=pdq,
        md5=md5,
        sha256=sha256,
        content=body.content,
        uploader_ip=body.uploader_ip,
        uploader_port=body.uploader_port,
        uploaded_at=body.uploaded_at,
        original_filename=body.original_filename,
    )
    _detection(request, db, outcome, body.content)
    return ScanOut.of(outcome)
