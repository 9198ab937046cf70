"""What the work queues share (cases and appeals): claim leases, and the once-only steps of a clock
running towards its due time (escalate when little time is left, record the breach)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from staydown.actors import Actor
from staydown.cases.models import StaffAlert
from staydown.errors import Conflict


def take_lease(item: Any, *, actor: Actor, at: datetime, lease: timedelta, label: str) -> datetime:
    """Give `item` (with `claimed_by`, `claim_expires_at`) to `actor` until `at + lease`; refused
    while someone else's lease is live. `label` names the item in the refusal ("case 7")."""
    if item.claimed_by and item.claimed_by != actor.ref and item.claim_expires_at and item.claim_expires_at > at:
        raise Conflict(f"{label} is claimed by someone else until {item.claim_expires_at.isoformat()}")
    item.claimed_by = actor.ref
    item.claim_expires_at = at + lease
    return item.claim_expires_at


@dataclass(frozen=True)
class ClockSteps:
    escalate: bool  # little time is left and nobody was told yet
    breach: bool  # the due time passed and it is not on record yet
    remaining: timedelta


def clock_steps(
    *,
    received_at: datetime,
    due_at: datetime,
    at: datetime,
    escalate_at_remaining_fraction: float,
    escalated: bool,
    breached: bool,
) -> ClockSteps:
    """Which once-only steps a running clock takes now."""
    remaining = due_at - at
    return ClockSteps(
        escalate=not escalated and remaining <= (due_at - received_at) * escalate_at_remaining_fraction,
        breach=not breached and remaining.total_seconds() <= 0,
        remaining=remaining,
    )


def alert(db: Session, *, roles: Iterable[str], kind: str, case_id: int | None, message: str, at: datetime) -> None:
    """One staff alert per role."""
    for role in roles:
        db.add(StaffAlert(role=role, kind=kind, case_id=case_id, message=message, created_at=at))
