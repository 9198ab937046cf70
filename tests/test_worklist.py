"""The work queues' shared pieces: claim leases and the once-only steps of a running clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from staydown.actors import Actor
from staydown.errors import Conflict
from staydown.worklist import ClockSteps, clock_steps, take_lease

T = datetime(2026, 6, 1, 12, tzinfo=UTC)
ANA, BO = Actor.staff(1, "ana"), Actor.staff(2, "bo")


def test_a_live_lease_is_refused_to_others_and_renewed_for_its_holder() -> None:
    item = SimpleNamespace(claimed_by=None, claim_expires_at=None)
    assert take_lease(item, actor=ANA, at=T, lease=timedelta(minutes=30), label="case 7") == T + timedelta(minutes=30)
    with pytest.raises(Conflict, match="case 7 is claimed by someone else until 2026-06-01T12:30"):
        take_lease(item, actor=BO, at=T + timedelta(minutes=29), lease=timedelta(minutes=30), label="case 7")
    take_lease(item, actor=ANA, at=T + timedelta(minutes=10), lease=timedelta(minutes=30), label="case 7")
    assert item.claim_expires_at == T + timedelta(minutes=40)
    take_lease(item, actor=BO, at=T + timedelta(minutes=40), lease=timedelta(minutes=30), label="case 7")  # lapsed
    assert item.claimed_by == BO.ref


def test_clock_steps_escalate_at_the_fraction_left_and_breach_at_the_due_time_once() -> None:
    due = T + timedelta(hours=48)

    def steps(at: datetime, e: bool = False, b: bool = False) -> ClockSteps:
        return clock_steps(
            received_at=T, due_at=due, at=at, escalate_at_remaining_fraction=0.25, escalated=e, breached=b
        )

    assert not steps(T + timedelta(hours=35)).escalate
    assert steps(T + timedelta(hours=36)).escalate and not steps(T + timedelta(hours=36)).breach
    assert not steps(T + timedelta(hours=36), e=True).escalate
    late = steps(due)
    assert late.escalate and late.breach and late.remaining == timedelta(0)
    assert not steps(due + timedelta(hours=1), e=True, b=True).breach
