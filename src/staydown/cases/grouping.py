"""Grouping: which open case a notice's item joins, or the case it opens, on plain data (no ORM objects), so
that a batch of notices (intake.batch) follows the same rules as one notice at a time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.cases.models import Case, CaseState, LegalTrack
from staydown.cases.queries import OPEN_STATES
from staydown.cases.tracks import CASE_SCOPE, PERSON_REPORTERS
from staydown.intake.models import ReporterKind
from staydown.policies.schema import Policy
from staydown.policies.vocab import SEVERITY_RANK


class Raisable(Protocol):
    """The fields of a case a graver notice can change."""

    policy_id: str | None
    severity: str
    area: str
    child_safety: bool
    ncii: bool


def raise_case_to(case: Raisable, policy: Policy) -> None:
    """A later notice that alleges something graver moves the case to the graver policy's area."""
    if SEVERITY_RANK[policy.severity] > SEVERITY_RANK.get(case.severity, 0) or (
        policy.child_safety and not case.child_safety
    ):
        case.policy_id = policy.id
        case.severity = policy.severity
        case.area = policy.area or case.area
    case.child_safety = case.child_safety or policy.child_safety
    case.ncii = case.ncii or policy.ncii


@dataclass(eq=False)
class PlainTrack:
    """A legal track as plain data: `cases.tracks.place` opens and starts it as it does a row."""

    case: PlainCase
    kind: str
    state: str
    notice_id: int | None
    received_at: datetime
    due_at: datetime | None
    details: dict[str, Any]
    scope: str = CASE_SCOPE
    id: int | None = None
    met_at: datetime | None = None
    new: bool = True
    started: bool = False


@dataclass(eq=False)
class PlainCase:
    """A case as plain data, as a batch of notices sees it: loaded or new, changed in memory, written
    once by the batch (intake.batch)."""

    content_id: int | None
    url: str | None
    state: str
    area: str
    policy_id: str | None
    severity: str
    child_safety: bool
    ncii: bool
    minor_involved: bool
    priority: int
    notice_count: int
    reporter_count: int
    reporter_keys: list[str]
    reach: int | None
    trusted_flagger_in_field: bool
    law_enforcement: bool
    affected_person: bool
    next_due_at: datetime | None
    opened_at: datetime
    id: int | None = None
    tracks: list[PlainTrack] = field(default_factory=list)
    new: bool = False
    order: tuple[int, int] = (0, 0)  # (0, id) loaded, (1, n) opened in this batch: "the lowest-numbered"


CASE_FIELDS = (
    "content_id",
    "url",
    "state",
    "area",
    "policy_id",
    "severity",
    "child_safety",
    "ncii",
    "minor_involved",
    "priority",
    "notice_count",
    "reporter_count",
    "reporter_keys",
    "reach",
    "trusted_flagger_in_field",
    "law_enforcement",
    "affected_person",
    "next_due_at",
    "opened_at",
)
UPDATED_CASE_FIELDS = CASE_FIELDS[2:-1]


class OpenCases:
    """The open cases a batch of notices can join: loaded by content and URL, plus those it opens."""

    def __init__(self, db: Session, content_ids: set[int], urls: set[str]) -> None:
        self.by_content: dict[int, list[PlainCase]] = {}
        self.by_url: dict[str, list[PlainCase]] = {}
        self.opened = 0
        table = Case.__table__
        columns = (table.c.id, *(table.c[f] for f in CASE_FIELDS))
        rows: dict[int, Any] = {}
        # One look-up per index, and the state filtered here: with `state IN (...)` in the query,
        # SQLite chose the queue index and read every open case (a batch's cost grew with the table).
        if content_ids:
            rows.update(
                (r.id, r)
                for r in db.connection().execute(sa.select(*columns).where(table.c.content_id.in_(sorted(content_ids))))
            )
        if urls:
            rows.update(
                (r.id, r) for r in db.connection().execute(sa.select(*columns).where(table.c.url.in_(sorted(urls))))
            )
        loaded: dict[int, PlainCase] = {}
        for _, row in sorted(rows.items()):
            if row.state not in OPEN_STATES:
                continue
            case = PlainCase(**{f: getattr(row, f) for f in CASE_FIELDS}, id=row.id, order=(0, row.id))
            case.reporter_keys = list(case.reporter_keys)
            loaded[row.id] = case
            self._index(case)
        if loaded:
            tracks = LegalTrack.__table__
            for row in (
                db.connection()
                .execute(
                    sa.select(
                        tracks.c.id,
                        tracks.c.case_id,
                        tracks.c.kind,
                        tracks.c.state,
                        tracks.c.notice_id,
                        tracks.c.received_at,
                        tracks.c.due_at,
                        tracks.c.met_at,
                        tracks.c.details,
                        tracks.c.scope,
                    )
                    .where(tracks.c.case_id.in_(sorted(loaded)))
                    .order_by(tracks.c.id)
                )
                .all()
            ):
                case = loaded[row.case_id]
                case.tracks.append(
                    PlainTrack(
                        case,
                        row.kind,
                        row.state,
                        row.notice_id,
                        row.received_at,
                        row.due_at,
                        dict(row.details or {}),
                        scope=row.scope,
                        id=row.id,
                        met_at=row.met_at,
                        new=False,
                    )
                )

    def _index(self, case: PlainCase) -> None:
        if case.content_id is not None:
            self.by_content.setdefault(case.content_id, []).append(case)
        if case.url is not None:
            self.by_url.setdefault(case.url, []).append(case)

    def find(self, content_ids: list[int], url: str | None) -> PlainCase | None:
        """The lowest-numbered open case of the content and its copies, else of the URL."""
        found = [c for cid in content_ids for c in self.by_content.get(cid, ()) if c.state in OPEN_STATES]
        if not found and url:
            found = [c for c in self.by_url.get(url, ()) if c.state in OPEN_STATES]
        return min(found, key=lambda c: c.order) if found else None

    def open(
        self, *, content_id: int | None, url: str | None, policy: Policy, minor_involved: bool, when: datetime
    ) -> PlainCase:
        self.opened += 1
        case = PlainCase(
            content_id=content_id,
            url=url if content_id is None else None,
            state=CaseState.open.value,
            area=policy.area or "other",
            policy_id=policy.id,
            severity=policy.severity,
            child_safety=policy.child_safety or (minor_involved and policy.ncii),
            ncii=policy.ncii,
            minor_involved=minor_involved,
            priority=0,
            notice_count=0,
            reporter_count=0,
            reporter_keys=[],
            reach=None,
            trusted_flagger_in_field=False,
            law_enforcement=False,
            affected_person=False,
            next_due_at=None,
            opened_at=when,
            new=True,
            order=(1, self.opened),
        )
        self._index(case)
        return case


def raise_for_notice(case: PlainCase, *, policy: Policy, minor_involved: bool) -> None:
    """A notice joins an open case: a graver allegation raises the case, and a minor it names
    marks it (an intimate image or abuse of a minor makes it a child-safety case)."""
    raise_case_to(case, policy)
    case.minor_involved = case.minor_involved or minor_involved
    if minor_involved and (policy.ncii or policy.child_safety):
        case.child_safety = True


def count_notice(
    case: PlainCase,
    *,
    policy: Policy,
    notifier_id: int | None,
    notice_id: int | None,
    reporter_kind: str,
    flagger_areas: Any,
    reach: int | None,
) -> None:
    """One more notice on the case: how many, from how many distinct people (a notifier once, an
    anonymous notice each), who they are (the person affected, law enforcement, a trusted flagger
    in its field: `flagger_areas` None for anyone else), and how far the content reached."""
    case.notice_count += 1
    reporter = f"notifier:{notifier_id}" if notifier_id else f"notice:{notice_id}"
    if reporter not in case.reporter_keys:
        case.reporter_keys = [*case.reporter_keys, reporter]
        case.reporter_count = len(case.reporter_keys)
    if reporter_kind in PERSON_REPORTERS:
        case.affected_person = True
    if reporter_kind in (ReporterKind.law_enforcement.value, ReporterKind.authority.value):
        case.law_enforcement = True
    if flagger_areas is not None and policy.area in flagger_areas:
        case.trusted_flagger_in_field = True
    if reach and (case.reach or 0) < reach:
        case.reach = reach
