"""HTTP API for the transparency report, the public figure set, and consistency checks."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from staydown.actors import Actor
from staydown.http import DbSession, check_rate, require
from staydown.limits import DbId
from staydown.staff.permissions import Permission
from staydown.transparency import consistency, export
from staydown.transparency.report import ReportParameters, build_report, period_of_days

router = APIRouter(prefix="/v1", tags=["transparency"])
public_router = APIRouter(tags=["public"])

TransparencyReader = Annotated[Actor, Depends(require(Permission.TRANSPARENCY_READ))]
Reviewer = Annotated[Actor, Depends(require(Permission.CASES_REVIEW))]
PeriodStart = Annotated[date, Query(alias="from", description="first UTC day of the period (inclusive), YYYY-MM-DD")]
PeriodEnd = Annotated[date, Query(alias="to", description="UTC day the period ends at 00:00 (exclusive), YYYY-MM-DD")]


def public_limit(request: Request) -> None:
    check_rate(request, "transparency", request.app.state.settings.public_report_rate_per_minute)


def _report(request: Request, db: DbSession, start: date, end: date):
    first, last = period_of_days(start, end)
    settings = request.app.state.settings
    return build_report(
        db,
        start=first,
        end=last,
        catalogue=request.app.state.catalogue,
        settings=settings,
        parameters=ReportParameters.from_settings(settings),
    )


@router.get("/transparency/report")
def transparency_report(
    request: Request,
    db: DbSession,
    actor: TransparencyReader,
    start: PeriodStart,
    end: PeriodEnd,
    format: Literal["json", "csv", "html"] = "json",
) -> Response:
    """The full report for staff and auditors (DSA-8): JSON, CSV (long format) or an HTML page."""
    report = _report(request, db, start, end)
    filename = f"transparency-{start.isoformat()}-{end.isoformat()}.{format}"
    if format == "html":
        return Response(export.to_html(report, standalone=False), media_type=export.MEDIA_TYPES["html"])
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'} if format == "csv" else {}
    return Response(export.render(report, format), media_type=export.MEDIA_TYPES[format], headers=headers)


class _PublicCache:
    """The public figures are read by anyone: one computation per period per `cache_seconds`."""

    def __init__(self) -> None:
        self._entries: dict[tuple[date, date], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[date, date], ttl: float) -> dict[str, Any] | None:
        with self._lock:
            hit = self._entries.get(key)
            return hit[1] if hit and time.monotonic() - hit[0] < ttl else None

    def put(self, key: tuple[date, date], value: dict[str, Any]) -> None:
        with self._lock:
            if len(self._entries) > 256:  # periods are chosen by callers: keep the cache bounded
                self._entries.clear()
            self._entries[key] = (time.monotonic(), value)


def public_cache(request: Request) -> _PublicCache:
    cache = getattr(request.app.state, "transparency_cache", None)
    if cache is None:
        cache = request.app.state.transparency_cache = _PublicCache()
    return cache


@public_router.get("/public/transparency", dependencies=[Depends(public_limit)])
def public_transparency(
    request: Request,
    db: DbSession,
    _: Annotated[Actor, Depends(require(Permission.PUBLIC))],
    start: PeriodStart,
    end: PeriodEnd,
) -> JSONResponse:
    """Aggregate figures only: counts below `public_report_min_count` read "< N", rates resting on
    fewer are left out, nothing per reviewer and no free text."""
    body = public_figures(request, db, start, end)
    seconds = request.app.state.settings.public_report_cache_seconds
    return JSONResponse(body, headers={"Cache-Control": f"public, max-age={seconds}"})


def public_figures(request: Request, db: DbSession, start: date, end: date) -> dict[str, Any]:
    """The public figure set for the days [start, end), computed at most once per period per
    `public_report_cache_seconds` (the JSON route and the public page share it)."""
    cache = public_cache(request)
    body = cache.get((start, end), request.app.state.settings.public_report_cache_seconds)
    if body is None:
        body = _report(request, db, start, end).public()
        cache.put((start, end), body)
    return body


# -- consistency checks and exceptions ----------------------------------------------------------------


class CheckOut(BaseModel):
    id: int
    decision_id: int
    case_id: int
    state: str
    sampled_at: datetime
    sample_rate: float
    reviewer: str | None
    outcome: str | None
    policy_ref: str | None
    agree: bool | None
    reviewed_at: datetime | None

    @classmethod
    def of(cls, check: consistency.ConsistencyCheck) -> CheckOut:
        return cls(**{name: getattr(check, name) for name in cls.model_fields})


class OpinionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["violates", "does_not_violate"]
    policy: str = Field(min_length=3, max_length=100, description="id@version")
    facts: str = Field(min_length=1, max_length=consistency.MAX_TEXT)


class ExceptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["measures_differ", "high_reach", "policy_override", "other"]
    reasons: str = Field(min_length=consistency.MIN_REASONS, max_length=consistency.MAX_TEXT)


class ExceptionOut(BaseModel):
    id: int
    decision_id: int
    case_id: int
    kind: str
    reasons: str
    recorded_by: str
    recorded_at: datetime


@router.get("/consistency/checks", response_model=list[CheckOut])
def pending_checks(db: DbSession, actor: Reviewer, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[CheckOut]:
    """Sampled decisions waiting for a second opinion."""
    return [CheckOut.of(c) for c in consistency.pending_checks(db, limit=limit)]


@router.post("/consistency/checks/{check_id}/opinion", response_model=CheckOut)
def second_opinion(check_id: DbId, body: OpinionIn, request: Request, db: DbSession, actor: Reviewer) -> CheckOut:
    check = consistency.check_by_id(db, check_id)
    return CheckOut.of(
        consistency.record_second_opinion(
            db,
            actor=actor,
            check=check,
            outcome=body.outcome,
            policy_ref=body.policy,
            facts=body.facts,
            catalogue=request.app.state.catalogue,
        )
    )


@router.post("/decisions/{decision_id}/exceptions", response_model=ExceptionOut, status_code=201)
def record_exception(decision_id: DbId, body: ExceptionIn, db: DbSession, actor: Reviewer) -> ExceptionOut:
    decision = consistency.decision_by_id(db, decision_id)
    row = consistency.record_exception(db, actor=actor, decision=decision, kind=body.kind, reasons=body.reasons)
    return ExceptionOut(
        id=row.id,
        decision_id=row.decision_id,
        case_id=row.case_id,
        kind=row.kind,
        reasons=row.reasons,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
    )
