"""HMA's HTTP API under `/hma`: hashing (`/h`), matching (`/m`) and curation (`/c`), with HMA's
request and answer shapes, authenticated by staydown's API keys.

The scopes are those of the equivalent `/v1` routes: hashing media is `scan`, looking signals up
is `match` (a URL or file lookup also needs `scan`), reading banks `banks:read`, changing them
`banks:write`. Errors keep staydown's body (`error`, `message`, `details`), whose `message` is what
HMA clients read, with HMA's status codes: 400 for bad input, 403 for a name already taken.
Every lookup is recorded as a scan, as `POST /v1/match` records one (every match is on the record).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from staydown.actors import Actor
from staydown.errors import InvalidInput, PermissionDenied, StaydownError, http_status_for
from staydown.health import index_check
from staydown.hma import actions as hma
from staydown.hma import exchanges as hma_exchanges
from staydown.http import DbSession, error_response, require, require_quick
from staydown.matching import video, vpdq
from staydown.matching.banks import normalise_signal
from staydown.matching.scanning import match_supplied, media_bank_entries
from staydown.media.errors import MediaError
from staydown.media.fetch import fetch
from staydown.media.hashing import compute_signals
from staydown.media.video import video_format
from staydown.memform import read_form
from staydown.staff.permissions import Permission

# HMA's status for what staydown calls invalid input (422) or a conflict (409).
_HMA_STATUS = {422: 400, 409: 403}
MAX_SIGNAL = 200_000  # a vPDQ frame list of a long video; a PDQ or MD5 is 32-64 characters


class HmaRoute(APIRoute):
    """Answers domain errors, unreadable media and malformed parameters with HMA's codes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except StaydownError as exc:
                status = http_status_for(exc)
                response = error_response(_HMA_STATUS.get(status, status), exc.code, exc.message, exc.details)
                if status == 401:
                    response.headers["WWW-Authenticate"] = "Bearer"
                return response
            except MediaError as exc:
                return error_response(400, exc.code, str(exc))
            except RequestValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()[:5]
                )
                return error_response(400, "invalid_input", f"the request is not valid: {problems}")

        return handler


# HMA answers input it cannot use with 400 (staydown's own routes say 422), a missing bank or item
# with 404, and media over the upload limit with 413.
HMA_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The input is not valid (HMA's status for it): `message` says what was wrong."},
    404: {"description": "No such bank, or no such item in it."},
    413: {"description": "The media is over the upload limit."},
}
router = APIRouter(prefix="/hma", tags=["hma"], route_class=HmaRoute, responses=HMA_ERRORS)

Hasher = Annotated[Actor, Depends(require_quick(Permission.SCAN))]
Matcher = Annotated[Actor, Depends(require_quick(Permission.MATCH))]
BankReader = Annotated[Actor, Depends(require(Permission.BANKS_READ))]
BankWriter = Annotated[Actor, Depends(require(Permission.BANKS_WRITE))]
ExchangeAdmin = Annotated[Actor, Depends(require(Permission.EXCHANGES_ADMIN))]
Public = Annotated[Actor, Depends(require(Permission.PUBLIC))]
BankName = Annotated[str, Path(min_length=1, max_length=80)]
ContentId = Annotated[int, Path(ge=1, le=2**62)]
ExchangeName = Annotated[str, Path(min_length=1, max_length=80)]
OptText = Annotated[str | None, Query(max_length=2048)]


# -- media ------------------------------------------------------------------------------------


async def _form_media(request: Request) -> tuple[str, bytes, Any]:
    """HMA's upload: one file, its form field named by its content type (`photo` or `video`)."""
    form = await read_form(request, max_files=1, max_fields=10)
    files = [(name, value) for name, value in form.multi_items() if isinstance(value, UploadFile)]
    if not files:
        raise InvalidInput("Missing multipart/form-data file upload")
    if len(files) > 1:
        raise InvalidInput("Only one file allowed per request")
    name, upload = files[0]
    if name not in hma.CONTENT_TYPES:
        raise InvalidInput(f"no such content_type: '{name}'")
    data = await upload.read()
    if not data:
        raise InvalidInput("the uploaded file is empty (0 bytes)")
    return name, data, form


async def _url_media(request: Request, url: str, content_type: str | None) -> tuple[str, bytes]:
    data = await run_in_threadpool(fetch, url, request.app.state.settings.fetch_policy())
    if content_type is None:
        content_type = "video" if video_format(data) is not None else "photo"
    elif content_type not in hma.CONTENT_TYPES:
        raise InvalidInput(f"no such content_type: '{content_type}'")
    return content_type, data


def _wanted_types(content_type: str, types: str | None) -> tuple[str, ...]:
    allowed = hma.CONTENT_TYPES[content_type]
    if types is None:
        return allowed
    chosen = tuple(t.strip() for t in types.split(",") if t.strip())
    for name in chosen:
        if name not in allowed:
            raise InvalidInput(f"signal type '{name}' doesn't exist or is disabled")
    if not chosen:
        raise InvalidInput("empty signal type selection")
    return chosen


async def _hash(request: Request, content_type: str, data: bytes, types: str | None = None) -> dict[str, str]:
    """HMA's signals of one piece of media, by staydown's own hashing (bounded, off the loop)."""
    wanted = _wanted_types(content_type, types)
    settings = request.app.state.settings
    out: dict[str, str] = {}
    if content_type == "photo":
        async with request.app.state.decode_slots.slot():
            signals = await run_in_threadpool(compute_signals, data, limits=settings.decode_limits())
        out["pdq"] = signals.pdq
        return out
    # A video's MD5 needs no decoding; its vPDQ needs FFmpeg and a real video (HMA's own tests
    # bank an image as a "video" for its MD5 alone).
    if "video_md5" in wanted:
        out["video_md5"] = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if "vpdq" in wanted and video_format(data) is not None:
        video_signals, _ = await run_in_threadpool(video.hash_for_scan, request.app.state, settings, data)
        out["vpdq"] = vpdq.serialise(video.features(video_signals))
    return out


# -- hashing ----------------------------------------------------------------------------------


@router.get("/h/hash")
async def hash_url(
    request: Request,
    actor: Hasher,
    url: Annotated[str, Query(min_length=1, max_length=2048)],
    content_type: OptText = None,
    types: OptText = None,
) -> dict[str, str]:
    """The signals of the media at `url` (fetched only from the scan allow-list)."""
    kind, data = await _url_media(request, url, content_type)
    return await _hash(request, kind, data, types)


@router.post("/h/hash")
async def hash_upload(request: Request, actor: Hasher) -> dict[str, str]:
    """The signals of an uploaded file (multipart, the field named `photo` or `video`)."""
    kind, data, _ = await _form_media(request)
    return await _hash(request, kind, data)


# -- matching ---------------------------------------------------------------------------------


def _lookup_signal(request: Request, actor: Actor, signal_type: str, signal: str) -> list[Any]:
    """Match one signal as `POST /v1/match` does (recorded as a scan); its bank matches."""
    kind = hma.SIGNAL_TYPES.get(signal_type)
    if kind is None:
        raise InvalidInput(f"No such SignalType '{signal_type}'")
    try:
        _, clean = normalise_signal(kind, signal)
    except InvalidInput as exc:
        raise InvalidInput(f"invalid signal: {exc.message}") from None
    engine = request.app.state.match_engine
    with request.app.state.database.unit_of_work() as db:
        if kind == "vpdq":
            outcome = video.match_supplied_video(
                db, actor=actor, engine=engine, vpdq_text=clean, md5=None, sha256=None, content=None
            )
        else:
            outcome = match_supplied(
                db,
                actor=actor,
                engine=engine,
                pdq=[(clean, 100)] if kind == "pdq" else [],
                md5=clean if kind == "md5" else None,
                sha256=None,
                content=None,
            )
        return outcome.matches


def _answer(
    request: Request, matches: list[Any], *, banks: str | None, coinflip: float | None
) -> dict[str, list[dict[str, Any]]]:
    with request.app.state.database.unit_of_work(write=False) as db:
        return hma.matches_by_bank(db, matches, wanted=hma.parse_banks(banks), coinflip=coinflip)


def _check_signal_params(signal: str | None, signal_type: str | None) -> tuple[str, str]:
    if not signal or not signal_type:
        raise InvalidInput("Either url or both signal and signal_type are required")
    return signal, signal_type


@router.get("/m/raw_lookup")
async def raw_lookup(
    request: Request,
    actor: Matcher,
    signal: Annotated[str, Query(min_length=1, max_length=MAX_SIGNAL)],
    signal_type: Annotated[str, Query(min_length=1, max_length=40)],
    banks: OptText = None,
    include_distance: bool = False,
) -> dict[str, list[Any]]:
    """The ids of the bank content matching one signal, closest first (with distances if asked)."""
    matches = await run_in_threadpool(_lookup_signal, request, actor, signal_type, signal)
    found = await run_in_threadpool(_answer, request, matches, banks=banks, coinflip=None)
    flat = sorted((m for ms in found.values() for m in ms), key=lambda m: (int(m["distance"]), m["bank_content_id"]))
    if include_distance:
        return {"matches": flat}
    return {"matches": [m["bank_content_id"] for m in flat]}


def _need(actor: Actor, permission: Permission) -> None:
    """A second permission a route needs besides the one it declares (media lookups hash, as
    `POST /v1/scan` does; banking media changes a bank)."""
    if permission.value not in actor.permissions:
        raise PermissionDenied(
            f"this needs the '{permission.value}' permission, which {actor.kind.value} '{actor.label}' does not have"
        )


async def _lookup_media(
    request: Request, actor: Actor, kind: str, data: bytes, types: str | None
) -> dict[str, list[Any]]:
    hashes = await _hash(request, kind, data, types)
    return {
        name: await run_in_threadpool(_lookup_signal, request, actor, name, value) for name, value in hashes.items()
    }


@router.get("/m/lookup")
async def lookup(
    request: Request,
    actor: Matcher,
    url: OptText = None,
    content_type: OptText = None,
    types: OptText = None,
    signal: Annotated[str | None, Query(max_length=MAX_SIGNAL)] = None,
    signal_type: Annotated[str | None, Query(max_length=40)] = None,
    banks: OptText = None,
    seed: Annotated[str | None, Query(max_length=200)] = None,
    bypass_coinflip: bool = False,
) -> dict[str, Any]:
    """Matches by bank for a signal (`{BANK: [...]}`) or for the media at a URL (`{type: {BANK:
    [...]}}`, or the inner object when `signal_type` is also given). A bank answers when the
    request's coin (seeded by `seed`) falls within its matching_enabled_ratio."""
    coin = hma.draw(seed, bypass_coinflip)
    if url:
        _need(actor, Permission.SCAN)
        kind, data = await _url_media(request, url, content_type)
        by_type = await _lookup_media(request, actor, kind, data, types)
        out = {
            name: await run_in_threadpool(_answer, request, ms, banks=banks, coinflip=coin)
            for name, ms in by_type.items()
        }
        return out.get(signal_type, {}) if signal_type else out
    signal, signal_type = _check_signal_params(signal, signal_type)
    matches = await run_in_threadpool(_lookup_signal, request, actor, signal_type, signal)
    return await run_in_threadpool(_answer, request, matches, banks=banks, coinflip=coin)


@router.post("/m/lookup")
async def lookup_upload(
    request: Request,
    actor: Matcher,
    banks: OptText = None,
    seed: Annotated[str | None, Query(max_length=200)] = None,
    bypass_coinflip: bool = False,
) -> dict[str, Any]:
    """Matches by signal type and bank for an uploaded file (field `photo` or `video`)."""
    _need(actor, Permission.SCAN)
    coin = hma.draw(seed, bypass_coinflip)
    kind, data, _ = await _form_media(request)
    by_type = await _lookup_media(request, actor, kind, data, None)
    return {
        name: await run_in_threadpool(_answer, request, ms, banks=banks, coinflip=coin) for name, ms in by_type.items()
    }


@router.get("/m/index/status")
def index_status(
    request: Request, actor: Matcher, signal_type: Annotated[str | None, Query(max_length=40)] = None
) -> dict[str, Any]:
    return hma.index_status(request.app.state.match_engine, signal_type)


@router.post("/m/compare")
async def compare(request: Request, actor: Matcher) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise InvalidInput("the body is not JSON") from None
    return hma.compare(body)


@router.get("/status", response_class=PlainTextResponse)
def status(request: Request, _: Public) -> PlainTextResponse:
    """HMA's health answer for load balancers: 503 while this node's indexes are too far behind."""
    check = index_check(request)
    if not check.ok:
        return PlainTextResponse("INDEX-STALE", status_code=503)
    return PlainTextResponse("I-AM-ALIVE")


# -- curation ---------------------------------------------------------------------------------


class BankCreateIn(BaseModel):
    """HMA's BankCreateRequest, with staydown's own bank settings as optional extensions."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(max_length=80)
    enabled_ratio: float | None = 1.0
    enabled: bool | None = None
    policy_id: str | None = Field(default=None, min_length=1, max_length=80)
    source: str | None = Field(default=None, max_length=30)
    permitted_purpose: str | None = Field(default=None, min_length=1, max_length=2000)
    action_on_match: str | None = Field(default=None, max_length=10)


class BankUpdateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, max_length=80)
    enabled_ratio: float | None = None
    enabled: bool | None = None


@router.get("/c/banks")
def list_banks(db: DbSession, _: BankReader) -> list[dict[str, Any]]:
    return hma.list_banks(db)


@router.post("/c/banks", status_code=201)
def create_bank(body: BankCreateIn, db: DbSession, actor: BankWriter) -> dict[str, Any]:
    if body.enabled_ratio is not None and "enabled_ratio" in body.model_fields_set:
        ratio = body.enabled_ratio
    elif body.enabled is not None:
        ratio = 1.0 if body.enabled else 0.0
    else:
        ratio = 1.0
    bank = hma.create_bank(
        db,
        actor=actor,
        name=body.name,
        enabled_ratio=ratio,
        policy_id=body.policy_id,
        source=body.source,
        permitted_purpose=body.permitted_purpose,
        action_on_match=body.action_on_match,
    )
    return hma.bank_config(bank, hma.ratios(db))


@router.get("/c/bank/{bank_name}")
def get_bank(bank_name: BankName, db: DbSession, _: BankReader) -> dict[str, Any]:
    return hma.bank_config(hma.get_bank(db, bank_name), hma.ratios(db))


@router.put("/c/bank/{bank_name}")
def update_bank(bank_name: BankName, body: BankUpdateIn, db: DbSession, actor: BankWriter) -> dict[str, Any]:
    bank = hma.update_bank(
        db,
        actor=actor,
        bank=hma.get_bank(db, bank_name),
        name=body.name,
        enabled=body.enabled,
        enabled_ratio=body.enabled_ratio,
    )
    return hma.bank_config(bank, hma.ratios(db))


@router.delete("/c/bank/{bank_name}")
def delete_bank(bank_name: BankName, db: DbSession, actor: BankWriter) -> dict[str, str]:
    hma.delete_bank(db, actor=actor, name=bank_name)
    return {"message": "Done"}


@router.get("/c/bank/{bank_name}/content/{content_id}")
def get_content(
    bank_name: BankName,
    content_id: ContentId,
    db: DbSession,
    _: BankReader,
    include_signals: bool = False,
    include_metadata: bool = True,
) -> dict[str, Any]:
    bank = hma.get_bank(db, bank_name)
    entry, extra = hma.get_content(db, bank, content_id)
    return hma.content_view(
        db,
        bank,
        entry,
        extra,
        include_signals=include_signals,
        include_metadata=include_metadata,
        ratio=hma.ratio_of(bank, hma.ratios(db)),
    )


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise InvalidInput("the body is not JSON") from None


def _metadata_from(request: Request, body: Any, form: Any) -> tuple[hma.Metadata | None, str | None]:
    """Metadata and note, where HMA reads them (the JSON body, or the form's `metadata` and `note`
    fields) and where ROOST's Coop sends them (`content_id`, `content_uri` as form or query fields)."""
    raw: Any = None
    note: Any = None
    if isinstance(body, dict):
        raw, note = body.get("metadata"), body.get("note")
    elif form is not None:
        note = form.get("note")
        if form.get("metadata") is not None:
            try:
                raw = json.loads(str(form.get("metadata")))
            except ValueError:
                raise InvalidInput("metadata form field must be valid JSON") from None
    loose = {
        k: (form.get(k) if form is not None else None) or request.query_params.get(k)
        for k in ("content_id", "content_uri")
    }
    if raw is None and any(loose.values()):
        raw = {k: v for k, v in loose.items() if v}
    return hma.check_metadata(raw), hma.check_note(note)


@router.post("/c/bank/{bank_name}/content")
async def add_content(
    request: Request,
    bank_name: BankName,
    actor: Hasher,
    url: OptText = None,
    content_type: OptText = None,
    types: OptText = None,
) -> dict[str, Any]:
    """Bank media given by URL (`?url=`) or uploaded (field `photo` or `video`), with optional
    metadata and note; answers `{id, signals}`. Needs `banks:write` besides `scan`."""
    _need(actor, Permission.BANKS_WRITE)
    form = None
    body = None
    if url:
        kind, data = await _url_media(request, url, content_type)
        body = await _json_body(request)
    elif request.headers.get("content-type", "").startswith("multipart/form-data"):
        kind, data, form = await _form_media(request)
    else:
        raise InvalidInput("Neither `url` nor multipart file upload was received")
    metadata, note = _metadata_from(request, body, form)
    prepared = None
    if kind == "photo":
        settings = request.app.state.settings
        async with request.app.state.decode_slots.slot():
            prepared = await run_in_threadpool(media_bank_entries, data, limits=settings.decode_limits())
        signals = {"pdq": prepared[0].signal}
    else:
        signals = await _hash(request, kind, data, types)

    def write() -> dict[str, Any]:
        with request.app.state.database.unit_of_work() as db:
            bank = hma.get_bank(db, bank_name)
            return hma.add_content(
                db, actor=actor, bank=bank, signals=signals, note=note, metadata=metadata, prepared=prepared
            )

    return await run_in_threadpool(write)


@router.post("/c/bank/{bank_name}/signal")
async def add_signals(request: Request, bank_name: BankName, db: DbSession, actor: BankWriter) -> dict[str, Any]:
    """Bank an item by its signals: `{"pdq": "...", "video_md5": "...", "note": "..."}`."""
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput("the body is a JSON object of signal type to signal")
    note = hma.check_note(body.pop("note", None))
    bank = hma.get_bank(db, bank_name)
    return hma.add_content(db, actor=actor, bank=bank, signals=body, note=note, metadata=None)


@router.put("/c/bank/{bank_name}/content/{content_id}")
async def update_content(
    request: Request, bank_name: BankName, content_id: ContentId, db: DbSession, actor: BankWriter
) -> dict[str, Any]:
    """`disable_until_ts` (Unix seconds; staydown disables the item until then) and `note`."""
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput("the body is a JSON object")
    bank = hma.get_bank(db, bank_name)
    entry, extra = hma.update_content(
        db,
        actor=actor,
        bank=bank,
        content_id=content_id,
        changes=body,
        at=request.app.state.database.clock.now().timestamp(),
    )
    view = hma.content_view(
        db, bank, entry, extra, include_signals=False, include_metadata=True, ratio=hma.ratio_of(bank, hma.ratios(db))
    )
    view.setdefault("note", None)
    return view


@router.delete("/c/bank/{bank_name}/content/{content_id}")
def delete_content(bank_name: BankName, content_id: ContentId, db: DbSession, actor: BankWriter) -> dict[str, int]:
    bank = hma.get_bank(db, bank_name)
    return {"deleted": hma.remove_content(db, actor=actor, bank=bank, content_id=content_id)}


# -- exchanges and configuration ----------------------------------------------------------------


class ExchangeCreateIn(BaseModel):
    """HMA's exchange creation, with the exchange's credentials and staydown's bank settings as
    optional extensions (HMA sets credentials per API type; staydown keeps them per exchange)."""

    model_config = ConfigDict(extra="ignore")

    bank: Any = None
    api: Any = None
    api_json: Any = None
    credential_json: Any = None
    policy_id: str | None = Field(default=None, min_length=1, max_length=80)
    permitted_purpose: str | None = Field(default=None, min_length=1, max_length=2000)
    action_on_match: str | None = Field(default=None, max_length=10)


class ExchangeUpdateIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    enabled: bool | None = None


@router.get("/c/exchanges/apis")
def exchange_apis(_: BankReader) -> list[str]:
    """The exchange API types that can be configured (python-threatexchange's names)."""
    return hma_exchanges.exchange_apis()


@router.get("/c/exchanges")
def list_exchanges(db: DbSession, _: BankReader) -> list[str]:
    return hma_exchanges.list_exchanges(db)


@router.post("/c/exchanges", status_code=201)
def create_exchange(request: Request, body: ExchangeCreateIn, db: DbSession, actor: ExchangeAdmin) -> dict[str, str]:
    """An exchange and its bank, named `bank`. Needs `exchanges:admin`."""
    hma_exchanges.create_exchange(
        db,
        actor=actor,
        bank=body.bank,
        api=body.api,
        api_json=body.api_json,
        credential_json=body.credential_json,
        keys=request.app.state.vault.keys,
        settings=request.app.state.settings,
        policy_id=body.policy_id,
        permitted_purpose=body.permitted_purpose,
        action_on_match=body.action_on_match,
    )
    return {"message": "Created successfully"}


@router.get("/c/exchange/{exchange_name}")
def get_exchange(exchange_name: ExchangeName, db: DbSession, _: BankReader) -> dict[str, Any]:
    return hma_exchanges.exchange_config(hma_exchanges.get_exchange(db, exchange_name))


@router.get("/c/exchange/{exchange_name}/status")
def exchange_status(exchange_name: ExchangeName, db: DbSession, _: BankReader) -> dict[str, Any]:
    return hma_exchanges.fetch_status(db, hma_exchanges.get_exchange(db, exchange_name))


@router.put("/c/exchange/{exchange_name}")
def update_exchange(
    exchange_name: ExchangeName, body: ExchangeUpdateIn, db: DbSession, actor: ExchangeAdmin
) -> dict[str, Any]:
    exchange = hma_exchanges.update_exchange(
        db, actor=actor, exchange=hma_exchanges.get_exchange(db, exchange_name), enabled=body.enabled
    )
    return hma_exchanges.exchange_config(exchange)


@router.delete("/c/exchange/{exchange_name}")
def delete_exchange(exchange_name: ExchangeName, db: DbSession, actor: ExchangeAdmin) -> dict[str, str]:
    hma_exchanges.delete_exchange(db, actor=actor, name=exchange_name)
    return {"message": "Exchange deleted"}


@router.get("/c/signal_type")
def signal_types(_: BankReader) -> list[dict[str, Any]]:
    return hma_exchanges.signal_types()


@router.get("/c/content_type")
def content_types(_: BankReader) -> list[dict[str, Any]]:
    return hma_exchanges.content_types()
