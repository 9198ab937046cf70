"""The review queue's views (open, mine, closed, breached...) and filters (policy, legal track,
reporter kind, area), checked with messages a moderator can act on."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.actors import Actor
from staydown.cases.models import Case, CaseState, LegalTrack, TrackKind
from staydown.cases.tracks import LIVE_TRACKS
from staydown.intake.models import Notice, NoticeItem, ReporterKind
from staydown.staff.permissions import Permission

VIEWS = {
    "open": "Open",
    "mine": "My cases",
    "breached": "Deadline missed",
    "second_review": "Awaiting second review",
    "closed": "Closed (decided)",
}
SORTS = {"priority": "Priority", "due": "Due time"}
AREA_RE = re.compile(r"^[a-z_]{1,30}$")
POLICY_RE = re.compile(r"^[a-z0-9_\-]{1,80}$")
MAX_ROWS = 200


@dataclass(frozen=True)
class QueueFilter:
    view: str = "open"
    area: str = ""
    policy: str = ""
    track: str = ""
    reporter: str = ""
    sort: str = "priority"
    problems: list[str] = field(default_factory=list)

    def query(self, **changes: str) -> str:
        """This filter as a query string, with `changes` applied (for links between views)."""
        values = {
            "view": self.view,
            "area": self.area,
            "policy": self.policy,
            "track": self.track,
            "reporter": self.reporter,
            "sort": self.sort,
            **changes,
        }
        return urlencode({k: v for k, v in values.items() if v and not (k == "sort" and v == "priority")})


def _choice(
    value: str | None, *, name: str, allowed: dict[str, str] | list[str], problems: list[str], default: str = ""
) -> str:
    clean = (value or "").strip()
    if not clean:
        return default
    if clean in allowed:
        return clean
    shown = clean if len(clean) <= 40 and clean.isprintable() else clean[:40].encode("unicode_escape").decode() + "..."
    problems.append(f"\u201c{shown}\u201d is not a {name}; choose one of: {', '.join(allowed)}")
    return default


def parse_filter(
    *,
    view: str | None = None,
    state: str | None = None,
    area: str | None = None,
    policy: str | None = None,
    track: str | None = None,
    reporter: str | None = None,
    sort: str | None = None,
    policies: list[str] | None = None,
) -> QueueFilter:
    """The queue's filter from what a person typed or followed. `state` is the older name of
    `view` (links say ?state=open; ?state=decided means the closed view). A value that is not one
    of the choices is reported in `problems`, and the filter falls back to its default."""
    problems: list[str] = []
    if not view and state:
        view = {"decided": "closed"}.get(state.strip(), state)
    chosen_view = _choice(view, name="view", allowed=VIEWS, problems=problems, default="open")
    chosen_area = (area or "").strip()
    if chosen_area and not AREA_RE.match(chosen_area):
        problems.append("an area is written in lower case letters and underscores, e.g. hate_harassment")
        chosen_area = ""
    chosen_policy = (policy or "").strip()
    if chosen_policy:
        if policies is not None:
            chosen_policy = _choice(chosen_policy, name="policy", allowed=policies, problems=problems)
        elif not POLICY_RE.match(chosen_policy):
            problems.append("a policy is named by its id, e.g. spam")
            chosen_policy = ""
    chosen_track = _choice(track, name="legal track", allowed=[k.value for k in TrackKind], problems=problems)
    chosen_reporter = _choice(
        reporter, name="reporter kind", allowed=[k.value for k in ReporterKind], problems=problems
    )
    chosen_sort = _choice(sort, name="sort order", allowed=SORTS, problems=problems, default="priority")
    return QueueFilter(chosen_view, chosen_area, chosen_policy, chosen_track, chosen_reporter, chosen_sort, problems)


def my_targets(actor: Actor, roles: list[str]) -> list[str]:
    """What a case given to this person says in `assigned_to`: them, or one of their roles."""
    return [actor.ref] + [f"role:{r}" for r in roles]


def queue_view(
    db: Session, *, actor: Actor, roles: list[str], flt: QueueFilter, at: datetime, limit: int = MAX_ROWS
) -> list[Case]:
    """The cases of one view and filter that this person may see, in the view's order."""
    stmt = sa.select(Case)
    if flt.view == "open":
        stmt = stmt.where(Case.state == CaseState.open.value)
    elif flt.view == "second_review":
        stmt = stmt.where(Case.state == CaseState.second_review.value)
    elif flt.view == "closed":
        stmt = stmt.where(Case.state == CaseState.decided.value)
    elif flt.view == "mine":
        mine_claimed = sa.and_(Case.claimed_by == actor.ref, Case.claim_expires_at > at)
        stmt = stmt.where(
            Case.state != CaseState.decided.value, sa.or_(mine_claimed, Case.assigned_to.in_(my_targets(actor, roles)))
        )
    elif flt.view == "breached":
        # A clock still running past its due time, or one whose miss is on record and still owed.
        live = sa.select(LegalTrack.case_id).where(
            LegalTrack.state.in_(LIVE_TRACKS), sa.or_(LegalTrack.breached_at.is_not(None), LegalTrack.due_at < at)
        )
        stmt = stmt.where(Case.id.in_(live))
    if Permission.CHILD_SAFETY_CASES.value not in actor.permissions:
        stmt = stmt.where(Case.child_safety.is_(False))
    if flt.area:
        stmt = stmt.where(Case.area == flt.area)
    if flt.policy:
        stmt = stmt.where(Case.policy_id == flt.policy)
    if flt.track:
        stmt = stmt.where(Case.id.in_(sa.select(LegalTrack.case_id).where(LegalTrack.kind == flt.track)))
    if flt.reporter:
        by_item = (
            sa.select(NoticeItem.case_id)
            .join(Notice, Notice.id == NoticeItem.notice_id)
            .where(Notice.reporter_kind == flt.reporter)
        )
        by_notice = sa.select(Notice.case_id).where(Notice.reporter_kind == flt.reporter, Notice.case_id.is_not(None))
        stmt = stmt.where(sa.or_(Case.id.in_(by_item), Case.id.in_(by_notice)))
    if flt.view == "closed":
        stmt = stmt.order_by(Case.decided_at.desc().nulls_last(), Case.id.desc())
    elif flt.sort == "due":
        stmt = stmt.order_by(Case.next_due_at.asc().nulls_last(), Case.priority.desc(), Case.id)
    else:
        stmt = stmt.order_by(Case.priority.desc(), Case.next_due_at.asc().nulls_last(), Case.id)
    return list(db.execute(stmt.limit(limit)).scalars())
