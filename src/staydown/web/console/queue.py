"""The review queue page: cases in priority and deadline order, claim, release and "next case"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from staydown.actors import Actor
from staydown.cases import actions, queries, tracks
from staydown.cases.bulk import MAX_BULK, bulk_decide
from staydown.cases.models import Case, CaseState, TrackState
from staydown.cases.queues import SORTS, VIEWS, QueueFilter, parse_filter, queue_view
from staydown.db import now
from staydown.errors import Conflict, InvalidInput, PermissionDenied, StaydownError, http_status_for
from staydown.evidence.models import EvidenceItem
from staydown.http import DbSession, require
from staydown.i18n import gettext as _
from staydown.intake.models import Notice, NoticeItem, ReporterKind
from staydown.limits import DbId
from staydown.staff.models import StaffUser
from staydown.staff.permissions import Permission
from staydown.web.console.access import visible_case
from staydown.web.console.session import console_session
from staydown.web.security import verify_csrf
from staydown.web.templating import render

router = APIRouter(
    prefix="/console", tags=["console"], include_in_schema=False, dependencies=[Depends(console_session)]
)

Reader = Annotated[Actor, Depends(require(Permission.CASES_READ))]
Reviewer = Annotated[Actor, Depends(require(Permission.CASES_REVIEW))]

REASON_CHARS = 160


def remaining_text(due: datetime | None, at: datetime) -> str:
    """The countdown as text, for the page without JavaScript (console.js then ticks it)."""
    if due is None:
        return ""
    seconds = int((due - at).total_seconds())
    overdue = seconds < 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    # The units' letters, one message (console.js reads the same words from the page).
    d, h, m, _s = _("d h m s").split(" ")
    text = f"{days}{d} {hours}{h} {minutes:02d}{m}" if days else f"{hours}{h} {minutes:02d}{m}"
    return _("overdue by %(time)s", time=text) if overdue else _("%(time)s left", time=text)


def live_tracks(case: Case) -> list:
    return [t for t in case.tracks if t.state in (TrackState.open.value, TrackState.waiting.value)]


def staff_roles(db: Session, actor: Actor) -> list[str]:
    """The signed-in person's roles (a case given to a role is theirs too)."""
    person = db.get(StaffUser, int(actor.id)) if actor.id.isdigit() else None
    return list(person.roles) if person else []


@dataclass(frozen=True)
class RowFacts:
    """What a queue row shows besides the case itself."""

    thumbnails: dict[int, int]  # case id -> a stored media item of its content (shown blurred)
    reasons: dict[int, str]  # case id -> the latest reporter's explanation, cut short
    reporters: dict[int, list[tuple[str, int]]]  # case id -> (reporter kind, notices of that kind)


def row_facts(db: Session, cases: list[Case]) -> RowFacts:
    """Thumbnails, reasons and reporter kinds for a page of queue rows, in a few queries."""
    ids = [c.id for c in cases]
    if not ids:
        return RowFacts({}, {}, {})
    content_of: dict[int, set[int]] = {c.id: {c.content_id} if c.content_id else set() for c in cases}
    for case_id, content_id in db.execute(
        sa.select(NoticeItem.case_id, NoticeItem.content_id).where(
            NoticeItem.case_id.in_(ids), NoticeItem.content_id.is_not(None)
        )
    ).all():
        assert case_id is not None and content_id is not None  # the query's conditions
        content_of[case_id].add(content_id)
    all_content = {c for found in content_of.values() for c in found}
    first_item: dict[int, int] = {}
    if all_content:
        for content_id, item_id in db.execute(
            sa.select(EvidenceItem.content_id, sa.func.min(EvidenceItem.id))
            .where(EvidenceItem.content_id.in_(all_content), EvidenceItem.state == "stored")
            .group_by(EvidenceItem.content_id)
        ).all():
            assert content_id is not None  # in all_content
            first_item[content_id] = item_id
    thumbnails = {}
    for case_id, found in content_of.items():
        items = sorted(first_item[c] for c in found if c in first_item)
        if items:
            thumbnails[case_id] = items[0]
    # A notice belongs to a case through its items, or directly when it named no item.
    pairs = db.execute(
        sa.select(NoticeItem.case_id, Notice.id, Notice.reporter_kind, Notice.explanation)
        .join(Notice, Notice.id == NoticeItem.notice_id)
        .where(NoticeItem.case_id.in_(ids))
        .union(
            sa.select(Notice.case_id, Notice.id, Notice.reporter_kind, Notice.explanation).where(
                Notice.case_id.in_(ids)
            )
        )
    ).all()
    seen: set[tuple[int, int]] = set()
    kinds: dict[int, dict[str, int]] = {}
    latest: dict[int, tuple[int, str]] = {}
    for case_id, notice_id, kind, explanation in pairs:
        assert case_id is not None  # both halves select cases in `ids`
        if (case_id, notice_id) in seen:
            continue
        seen.add((case_id, notice_id))
        kinds.setdefault(case_id, {}).setdefault(kind, 0)
        kinds[case_id][kind] += 1
        if explanation and notice_id > latest.get(case_id, (0, ""))[0]:
            latest[case_id] = (notice_id, explanation)
    reasons = {
        cid: (text if len(text) <= REASON_CHARS else text[:REASON_CHARS].rstrip() + "\u2026")
        for cid, (_, text) in latest.items()
    }
    reporters = {cid: sorted(found.items(), key=lambda kv: (-kv[1], kv[0])) for cid, found in kinds.items()}
    return RowFacts(thumbnails, reasons, reporters)


def queue_context(db: DbSession, request: Request, actor: Actor, flt: QueueFilter) -> dict:
    catalogue = request.app.state.catalogue
    when = now(db)
    cases = [] if flt.problems else queue_view(db, actor=actor, roles=staff_roles(db, actor), flt=flt, at=when)
    areas = sorted(
        set(db.execute(sa.select(Case.area).where(Case.state.in_(queries.OPEN_STATES)).distinct()).scalars())
    )
    can_review = Permission.CASES_REVIEW.value in actor.permissions
    return {
        "cases": cases,
        "facts": row_facts(db, cases),
        "flt": flt,
        "area": flt.area,
        "areas": areas,
        "state": "open" if flt.view == "open" else flt.view,
        "at": when,
        "remaining": remaining_text,
        "live_tracks": live_tracks,
        "views": VIEWS,
        "sorts": SORTS,
        "policies": [(p.id, p.title) for p in catalogue],
        "policy_titles": {p.id: p.title for p in catalogue},
        "track_titles": {k: r.title for k, r in tracks.KINDS.items()},
        "reporter_kinds": [k.value for k in ReporterKind],
        "can_review": can_review,
        "can_bulk": can_review and flt.view == "open" and not flt.problems,
        # Filtered by a policy, the bulk form decides under that policy.
        "bulk": {
            "policy_ref": catalogue.ref(flt.policy) if flt.policy in catalogue else "",
            "outcome": "",
            "facts": "",
            "error": "",
            "chosen": [],
        },
        "bulk_policies": [(p.ref, p.title) for p in catalogue],
        "max_bulk": MAX_BULK,
        "me": actor.ref,
    }


def read_filter(request: Request) -> QueueFilter:
    """The filter from the query string: each parameter read as text and checked by
    `parse_filter`, so a wrong value gets a sentence, not a validator's dump."""
    params = request.query_params
    values = {
        name: (params.get(name) or "")[:200]
        for name in ("view", "state", "area", "policy", "track", "reporter", "sort")
    }
    return parse_filter(**values, policies=[p.id for p in request.app.state.catalogue])


@router.get("/queue")
def queue_page(request: Request, db: DbSession, actor: Reader) -> Response:
    flt = read_filter(request)
    ctx = queue_context(db, request, actor, flt)
    decided = request.query_params.get("decided", "")
    if decided.isdigit() and 0 < int(decided) <= MAX_BULK:
        ctx["message"] = _(
            "%(count)s cases were decided with one reason; each has its own decision and audit "
            "event, and they are listed here among the closed cases.",
            count=decided,
        )
    status = 422 if flt.problems else 200
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "queue-table":
        return render(request, "console/partials/queue_table.html", ctx, status_code=status)
    return render(request, "console/queue.html", ctx, status_code=status)


@router.post("/queue/bulk-decision")
def bulk_decision(
    request: Request,
    db: DbSession,
    actor: Reviewer,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    policy: Annotated[str, Form(max_length=100)] = "",
    outcome: Annotated[str, Form(max_length=30)] = "",
    facts: Annotated[str, Form(max_length=10_000)] = "",
    case: Annotated[list[str] | None, Form(max_length=MAX_BULK + 50)] = None,
) -> Response:
    """One decision, one reason, for several open cases of one policy: each case is claimed and
    decided as it would be alone (its own decision and audit event). All or nothing."""
    verify_csrf(request, csrf_token)
    chosen = [c.strip() for c in (case or []) if c.strip()]
    bulk = {"policy_ref": policy, "outcome": outcome, "facts": facts, "error": "", "chosen": chosen}
    try:
        if any(not c.isdigit() or len(c) > 18 for c in chosen):
            raise InvalidInput(_("the selected cases are case numbers"))
        result = bulk_decide(
            db,
            actor=actor,
            case_ids=[int(c) for c in chosen],
            policy_ref=policy,
            outcome=outcome,
            facts=facts,
            catalogue=request.app.state.catalogue,
            rules=request.app.state.case_rules,
        )
    except StaydownError as exc:
        db.rollback()
        ctx = queue_context(db, request, actor, parse_filter(view="open"))
        ctx["bulk"] = {**bulk, "error": exc.message}
        return render(request, "console/queue.html", ctx, status_code=http_status_for(exc))
    return RedirectResponse(f"/console/queue?view=closed&decided={len(result.case_ids)}", status_code=303)


@router.post("/queue/next")
def next_case(
    request: Request,
    db: DbSession,
    actor: Reviewer,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    area: Annotated[str, Form(max_length=30)] = "",
) -> Response:
    """Claim the first case in the queue that this reviewer may work and nobody else holds."""
    verify_csrf(request, csrf_token)
    include_cs = Permission.CHILD_SAFETY_CASES.value in actor.permissions
    when = now(db)
    for case in queries.queue(
        db, area=area or None, state=CaseState.open.value, limit=100, include_child_safety=include_cs
    ):
        if case.claimed_by == actor.ref and case.claim_expires_at and case.claim_expires_at > when:
            return RedirectResponse(f"/console/cases/{case.id}", status_code=303)
        if case.claimed_by and case.claim_expires_at and case.claim_expires_at > when:
            continue
        locked = queries.case_by_id(db, case.id, for_update=True)
        try:
            actions.claim_case(db, actor=actor, case=locked, rules=request.app.state.case_rules)
        except (Conflict, PermissionDenied):
            continue
        return RedirectResponse(f"/console/cases/{case.id}", status_code=303)
    ctx = queue_context(db, request, actor, parse_filter(view="open", area=area or None))
    ctx["message"] = _("There is no unclaimed case you can work in this queue right now.")
    return render(request, "console/queue.html", ctx)


@router.post("/cases/{case_id}/claim")
def claim(
    case_id: DbId,
    request: Request,
    db: DbSession,
    actor: Reviewer,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    case = visible_case(db, actor, case_id, for_update=True)
    actions.claim_case(db, actor=actor, case=case, rules=request.app.state.case_rules)
    return RedirectResponse(f"/console/cases/{case.id}", status_code=303)


@router.post("/cases/{case_id}/release")
def release(
    case_id: DbId,
    request: Request,
    db: DbSession,
    actor: Reviewer,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    verify_csrf(request, csrf_token)
    case = visible_case(db, actor, case_id, for_update=True)
    actions.release_case(db, actor=actor, case=case)
    return RedirectResponse("/console/queue", status_code=303)
