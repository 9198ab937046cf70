"""The platform's side of enforcement: the pull feed of actions and acknowledgments."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from staydown.actors import Actor
from staydown.authorities.file_requests import refuse_file
from staydown.db import get_or_404
from staydown.delivery.webhooks import action_event
from staydown.enforcement.measures import acknowledge_action
from staydown.enforcement.models import EnforcementAction
from staydown.http import DbSession, require
from staydown.limits import Cursor, DbId
from staydown.staff.permissions import Permission
from staydown.transparency.scrub import prefetch_scrubbers

router = APIRouter(prefix="/v1", tags=["actions"])

FeedReader = Annotated[Actor, Depends(require(Permission.ACTIONS_READ))]
Acker = Annotated[Actor, Depends(require(Permission.ACTIONS_ACK))]


class FeedOut(BaseModel):
    actions: list[dict[str, Any]]
    next_cursor: int


@router.get("/actions", response_model=FeedOut)
def feed(db: DbSession, _: FeedReader, after: Cursor = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> FeedOut:
    """Every action in the order it took effect, from `after` (the last `seq` you processed).
    An action seen again (lifted) comes back with its new state and a later `seq`."""
    rows = (
        db.execute(
            sa.select(EnforcementAction)
            .where(EnforcementAction.change_seq > after)
            .order_by(EnforcementAction.change_seq)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    prefetch_scrubbers(db, (a.case_id for a in rows))  # each case's identifiers once for the page
    events = [action_event(db, a, "action.applied" if a.state == "active" else "action.lifted") for a in rows]
    return FeedOut(actions=events, next_cursor=rows[-1].change_seq if rows else after)


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["applied", "failed"] = "applied"
    detail: str = Field(default="", max_length=2000)


@router.post("/actions/{action_id}/ack")
def ack(action_id: DbId, body: AckIn, db: DbSession, actor: Acker) -> dict[str, Any]:
    """The platform carried the action out (or could not, and says why). A confirmed removal is
    what meets a TAKE IT DOWN track; a `provide_file` acknowledged as failed tells child safety
    that a CyberTipline report's file will not come."""
    action = get_or_404(db, EnforcementAction, action_id, "action")
    acknowledge_action(db, actor=actor, action=action, status=body.status, detail=body.detail)
    if action.kind == "provide_file" and body.status == "failed":
        # The platform cannot provide a file a CyberTipline report waits for: child safety hears
        # now, not at the request's deadline.
        refuse_file(db, actor=actor, action=action, detail=body.detail)
    return action_event(db, action, "action.applied" if action.state == "active" else "action.lifted")
