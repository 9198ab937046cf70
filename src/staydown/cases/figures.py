"""Live operating figures for the console dashboard, computed from the case, track and action rows."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.cases.models import Case, CaseState, LegalTrack, TrackState
from staydown.db import now
from staydown.enforcement.models import EnforcementAction

OPEN_CASE_STATES = (CaseState.open.value, CaseState.second_review.value)
MAX_LISTED_DEADLINES = 50


@dataclass(frozen=True)
class DueTrack:
    case_id: int
    kind: str
    area: str
    due_at: datetime


@dataclass(frozen=True)
class TimeToAction:
    days: int
    actions: int  # cases whose first enforcement action fell in the window
    median_seconds: float | None


@dataclass
class Figures:
    at: datetime
    open_by_area: dict[str, int]
    due_4h: int
    due_24h: int
    due_by_hour: list[int]  # tracks due in each of the next 24 hours
    due_soon: list[DueTrack]
    overdue: int  # live tracks past their deadline now
    met_late_30d: int  # tracks met in the last 30 days after their deadline
    time_to_action: list[TimeToAction] = field(default_factory=list)

    @property
    def open_total(self) -> int:
        return sum(self.open_by_area.values())


def open_cases_by_area(db: Session) -> dict[str, int]:
    rows = db.execute(
        sa.select(Case.area, sa.func.count())
        .where(Case.state.in_(OPEN_CASE_STATES))
        .group_by(Case.area)
        .order_by(Case.area)
    ).all()
    return dict(rows)


def tracks_due(db: Session, *, at: datetime, within: timedelta) -> list[DueTrack]:
    """Live tracks (clock running, not yet met or resolved) due between now and `within` from now."""
    rows = db.execute(
        sa.select(LegalTrack.case_id, LegalTrack.kind, Case.area, LegalTrack.due_at)
        .join(Case, Case.id == LegalTrack.case_id)
        .where(
            LegalTrack.state == TrackState.open.value,
            LegalTrack.due_at.is_not(None),
            LegalTrack.due_at > at,
            LegalTrack.due_at <= at + within,
        )
        .order_by(LegalTrack.due_at, LegalTrack.id)
    ).all()
    # due_at is never NULL here (the query bounds it); the test says so to the type checker.
    return [DueTrack(case_id, kind, area, due_at) for case_id, kind, area, due_at in rows if due_at is not None]


def overdue_tracks(db: Session, *, at: datetime) -> int:
    return (
        db.scalar(
            sa.select(sa.func.count())
            .select_from(LegalTrack)
            .where(LegalTrack.state == TrackState.open.value, LegalTrack.due_at.is_not(None), LegalTrack.due_at <= at)
        )
        or 0
    )


def tracks_met_late(db: Session, *, at: datetime, days: int) -> int:
    return (
        db.scalar(
            sa.select(sa.func.count())
            .select_from(LegalTrack)
            .where(
                LegalTrack.state == TrackState.met.value,
                LegalTrack.met_at > at - timedelta(days=days),
                LegalTrack.due_at.is_not(None),
                LegalTrack.met_at > LegalTrack.due_at,
            )
        )
        or 0
    )


def median_time_to_action(db: Session, *, at: datetime, days: int) -> TimeToAction:
    """Median time from a case's opening (its first notice or scan) to its first enforcement
    action, over cases whose first action fell in the last `days` days. Interim restrictions
    are left out: they are automatic and would make every child-safety case look instant."""
    first = (
        sa.select(EnforcementAction.case_id, sa.func.min(EnforcementAction.created_at).label("first_at"))
        .where(EnforcementAction.case_id.is_not(None), EnforcementAction.interim.is_(False))
        .group_by(EnforcementAction.case_id)
        .subquery()
    )
    rows = db.execute(
        sa.select(Case.opened_at, first.c.first_at)
        .join(first, first.c.case_id == Case.id)
        .where(first.c.first_at > at - timedelta(days=days), first.c.first_at <= at)
    ).all()
    seconds = [max(0.0, (_aware(acted) - _aware(opened)).total_seconds()) for opened, acted in rows]
    return TimeToAction(days, len(seconds), statistics.median(seconds) if seconds else None)


def _aware(value: datetime) -> datetime:
    # Aggregates may come back naive (SQLite) or as text, whatever the column's type.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def dashboard_figures(db: Session) -> Figures:
    at = now(db)
    due = tracks_due(db, at=at, within=timedelta(hours=24))
    by_hour = [0] * 24
    for track in due:
        hour = int((_aware(track.due_at) - at).total_seconds() // 3600)
        by_hour[min(max(hour, 0), 23)] += 1
    return Figures(
        at=at,
        open_by_area=open_cases_by_area(db),
        due_4h=sum(1 for t in due if _aware(t.due_at) <= at + timedelta(hours=4)),
        due_24h=len(due),
        due_by_hour=by_hour,
        due_soon=due[:MAX_LISTED_DEADLINES],
        overdue=overdue_tracks(db, at=at),
        met_late_30d=tracks_met_late(db, at=at, days=30),
        time_to_action=[median_time_to_action(db, at=at, days=d) for d in (7, 30)],
    )
