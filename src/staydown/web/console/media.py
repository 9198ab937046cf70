"""Media on the case page: blurred greyscale previews by default, and an explicit, audited, budgeted
reveal of one item at a time. The original bytes reach the browser only in a reveal's answer."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from PIL import Image, ImageFilter, ImageOps
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import SYSTEM, Actor, ActorKind
from staydown.audit import AuditTag
from staydown.cases.models import Case
from staydown.cases.queries import case_contents
from staydown.db import now
from staydown.errors import NotFound, PermissionDenied, RateLimited
from staydown.evidence.models import EvidenceItem
from staydown.evidence.vault import Vault, read_item
from staydown.http import DbSession, require
from staydown.limits import DbId
from staydown.matching.models import Scan
from staydown.media.decode import DecodeLimits, decode_image
from staydown.media.errors import MediaError
from staydown.staff.models import StaffUser
from staydown.staff.permissions import Permission
from staydown.web.console.access import visible_case
from staydown.web.console.models import MediaReveal
from staydown.web.console.session import console_session
from staydown.web.security import verify_csrf
from staydown.web.templating import render

router = APIRouter(
    prefix="/console", tags=["console"], include_in_schema=False, dependencies=[Depends(console_session)]
)

Reader = Annotated[Actor, Depends(require(Permission.CASES_READ))]
Revealer = Annotated[Actor, Depends(require(Permission.MEDIA_REVEAL))]

PREVIEW_SIZE = 320
REVEAL_SIZE = 1600
# The preview is for layout, not for looking: blur enough that nothing can be made out.
BLUR_RADIUS = 18
# Bounds for decoding stored media for the console (smaller than the upload bounds).
CONSOLE_LIMITS = DecodeLimits(
    max_pixels=40_000_000, max_dimension=20_000, max_frames=5_000, keep_frames=1, max_seconds=5.0
)


class BudgetExhausted(RateLimited):
    """The reviewer has used today's exposure budget."""

    code = "reveal_budget_exhausted"


@dataclass(frozen=True)
class MediaEntry:
    item: EvidenceItem
    hash_confirmed: list[dict[str, Any]]  # matches to banks of previously confirmed material


def media_for_case(db: Session, case: Case, content_ids: list[int]) -> list[MediaEntry]:
    """The stored media of the case's content (held or blocked uploads kept in the vault), each
    with the matches that confirm it without anyone looking."""
    if not content_ids:
        return []
    items = (
        db.execute(
            sa.select(EvidenceItem)
            .where(EvidenceItem.content_id.in_(content_ids), EvidenceItem.state == "stored")
            .order_by(EvidenceItem.id)
            .limit(50)
        )
        .scalars()
        .all()
    )
    confirmed: dict[int, list[dict[str, Any]]] = {}
    for scan in db.execute(sa.select(Scan).where(Scan.content_id.in_(content_ids))).scalars():
        for match in scan.matches or []:
            if match.get("confirmed_material"):
                confirmed.setdefault(scan.content_id or 0, []).append(match)
    return [MediaEntry(item, confirmed.get(item.content_id or 0, [])) for item in items]


def reveals_today(db: Session, actor: Actor) -> int:
    when = now(db)
    day = when.replace(hour=0, minute=0, second=0, microsecond=0)
    return db.execute(
        sa.select(sa.func.count(MediaReveal.id)).where(
            MediaReveal.staff_ref == actor.ref,
            MediaReveal.revealed_at >= day,
            MediaReveal.revealed_at < day + timedelta(days=1),
        )
    ).scalar_one()


def reveal_media(db: Session, *, actor: Actor, vault: Vault, case: Case, item: EvidenceItem, budget: int) -> bytes:
    """One reviewer unblurs one item of a case: checked against today's budget (UTC day),
    recorded as a reveal and as an audited view of the evidence, and counted from then on.

    The vault refuses a staff read without `evidence:access`. A reviewer who has it reads as
    themselves; a moderator without it gets the bytes through the system's read, with the purpose
    naming them, and the item is marked as seen by a person all the same, since it was: that is
    what `fileViewedByEsp` in an NCMEC report must say (NCMEC-3)."""
    if actor.kind is ActorKind.staff and Permission.MEDIA_REVEAL.value not in actor.permissions:
        raise PermissionDenied("revealing media needs the 'media:reveal' permission")
    if actor.kind is ActorKind.staff and db.get_bind().dialect.name == "postgresql":
        # Two reveals at once by the same person must not both fit the last unit of budget: the
        # staff row serialises them (SQLite's write lock already does).
        db.execute(sa.select(StaffUser.id).where(StaffUser.id == int(actor.id)).with_for_update())
    used = reveals_today(db, actor)
    if used >= budget:
        raise BudgetExhausted(
            f"you have revealed {used} of your {budget} media items for today (UTC); the budget "
            "protects you. Decide from the blurred view and the match evidence, or ask a colleague."
        )
    purpose = f"reveal to {actor.label} ({actor.ref}) reviewing case {case.id}"
    if Permission.EVIDENCE_ACCESS.value in actor.permissions:
        data = read_item(db, actor=actor, vault=vault, item=item, purpose=purpose)
    else:
        data = read_item(db, actor=SYSTEM, vault=vault, item=item, purpose=purpose)
        if item.first_human_view_at is None:
            item.first_human_view_at = now(db)
    when = now(db)
    db.add(MediaReveal(staff_ref=actor.ref, case_id=case.id, evidence_item_id=item.id, revealed_at=when))
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.CASE_MEDIA_REVEAL,
        subject_type="case",
        subject_id=case.id,
        data={"evidence_item_id": item.id, "content_id": item.content_id, "used_today": used + 1, "budget": budget},
    )
    return data


def preview_png(data: bytes, *, blurred: bool, size: int) -> bytes:
    """Re-encode as PNG (no metadata, no polyglot). Blurred previews are greyscale and small."""
    decoded = decode_image(data, limits=CONSOLE_LIMITS)
    image: Image.Image = decoded.image.copy()
    image.thumbnail((size, size))
    if blurred:
        image = ImageOps.grayscale(image).filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _item_of(db: Session, case: Case, item_id: DbId, content_ids: list[int]) -> EvidenceItem:
    item = db.get(EvidenceItem, item_id)
    if item is None or item.content_id not in content_ids or item.state != "stored":
        raise NotFound(f"case {case.id} has no stored media item {item_id}")
    return item


def _content_ids(db: Session, case: Case) -> list[int]:
    return [c.id for c in case_contents(db, case)]


@router.get("/cases/{case_id}/media/{item_id}/preview.png")
def preview(case_id: DbId, item_id: DbId, request: Request, db: DbSession, actor: Reader) -> Response:
    """The blurred greyscale preview. Decrypting it is a system read (audited as such); nobody sees
    anything they could recognise, so it does not count as a person's view."""
    case = visible_case(db, actor, case_id)
    item_id = _item_of(db, case, item_id, _content_ids(db, case)).id
    db.rollback()
    # The audited read is a write, and a GET's unit of work is read-only (on SQLite a deferred
    # transaction that can't take the write lock later): record it in a transaction of its own.
    with request.app.state.database.unit_of_work() as own:
        data = read_item(
            own,
            actor=SYSTEM,
            vault=request.app.state.vault,
            item=own.get(EvidenceItem, item_id),
            purpose=f"blurred greyscale preview for {actor.ref} on case {case.id}",
        )
    try:
        png = preview_png(data, blurred=True, size=PREVIEW_SIZE)
    except MediaError:
        raise NotFound(f"media item {item_id} is not an image the console can preview") from None
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, no-store"})


@router.post("/cases/{case_id}/media/{item_id}/reveal")
def reveal(
    case_id: DbId,
    item_id: DbId,
    request: Request,
    db: DbSession,
    actor: Revealer,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Reveal one item: the answer carries the image inline (a data: URL in this response only,
    never a URL that could be opened again without a new, counted reveal)."""
    verify_csrf(request, csrf_token)
    case = visible_case(db, actor, case_id)
    item = _item_of(db, case, item_id, _content_ids(db, case))
    budget = request.app.state.settings.reveal_daily_budget
    htmx = bool(request.headers.get("hx-request"))
    try:
        data = reveal_media(db, actor=actor, vault=request.app.state.vault, case=case, item=item, budget=budget)
    except BudgetExhausted as exc:
        ctx = {"case": case, "item": item, "error": exc.message, "image": None, "used": budget, "budget": budget}
        return render(
            request, "console/partials/revealed.html" if htmx else "console/reveal.html", ctx, status_code=429
        )
    try:
        png = preview_png(data, blurred=False, size=REVEAL_SIZE)
        image = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        error = ""
    except MediaError as exc:
        image, error = None, f"this item cannot be shown as an image ({exc})"
    used = reveals_today(db, actor)
    # An HTMX reveal replaces the figure only: the counter above the media comes with it (out of band).
    ctx = {"case": case, "item": item, "error": error, "image": image, "used": used, "budget": budget, "oob": htmx}
    return render(request, "console/partials/revealed.html" if htmx else "console/reveal.html", ctx)
