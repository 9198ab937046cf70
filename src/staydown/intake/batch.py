"""Receive many notices in one transaction: the same rows and audit events as one at a time, in a
handful of statements.

`submit_notices` is the only implementation of intake: `actions.submit_notice` is a batch of one,
and the HTTP routes hand their notices to `intake.batcher`, which commits whatever arrived while
the previous batch was being written (group commit). A notice's work is done in passes over the
whole batch, each pass a few set-wise statements:

1. validate and resolve each notice (policy, trusted flagger, notifier, TAKE IT DOWN elements);
2. accounts and content on first mention, and the changes later mentions bring;
3. store the notices;
4. find or open each item's case (by content id, perceptual copies, URL), join it, plan its
   legal tracks and interim restriction, in notice order, in memory;
5. write cases, items, tracks, counters and receipts, then record the audit events in the order a
   one-at-a-time run records them (per notice: receipt, then per item: account, content, case,
   tracks), and apply the interim restrictions (X-4).

Within a batch, later notices see earlier ones exactly as if each had been committed before the
next began: the in-memory state of pass 4 is what the database would have held.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit, codes
from staydown.actors import Actor, ActorKind
from staydown.audit import AuditTag
from staydown.cases import grouping
from staydown.cases import tracks as track_rules
from staydown.cases.grouping import CASE_FIELDS, UPDATED_CASE_FIELDS, OpenCases, PlainCase, PlainTrack
from staydown.cases.models import Case, LegalTrack, NoticeTrack
from staydown.cases.notify import receipt_message
from staydown.cases.rules import DEFAULT_RULES, CaseRules
from staydown.db import insert_for, now
from staydown.delivery.messages import SEND_MESSAGE, OutboundMessage
from staydown.delivery.outbox import enqueue
from staydown.enforcement import measures
from staydown.errors import InvalidInput, StaydownError
from staydown.intake.models import Notice, NoticeItem, NoticeKind, NoticeState, Notifier, ReporterKind, TrustedFlagger
from staydown.intake.schemas import NoticeIn
from staydown.intake.takedown import missing_takedown_elements
from staydown.matching.matcher import PdqQuery, QuerySignals, find_copies
from staydown.matching.models import ContentSignal
from staydown.matching.video import find_video_copies
from staydown.policies.catalogue import Catalogue, PolicyNotFound
from staydown.policies.schema import Policy
from staydown.subjects.models import PlatformAccount, PlatformContent
from staydown.subjects.queries import content_ids_by_url


def new_tracking_code() -> str:
    return codes.grouped(codes.random_chars())


def resolve_policy(catalogue: Catalogue, notice: NoticeIn) -> Policy:
    """The policy a notice is about. Sexual imagery of a minor is child sexual abuse material
    whatever box the reporter ticked (X-2)."""
    if notice.policy_id:
        try:
            policy = catalogue.get(notice.policy_id)
        except PolicyNotFound as exc:
            raise InvalidInput(str(exc)) from None
    elif notice.kind is NoticeKind.take_it_down:
        policy = catalogue.get("ncii")
    elif notice.kind is NoticeKind.terrorist_order:
        policy = catalogue.get("terrorist-content")
    elif notice.dsa_category:
        matching = [p for p in catalogue if p.dsa_category == notice.dsa_category]
        if not matching:
            raise InvalidInput(f"{notice.dsa_category!r} is not a DSA statement category we know")
        policy = max(matching, key=lambda p: p.severity_rank)
    else:
        policy = catalogue.get("other-illegal")
    if notice.minor_involved and policy.ncii and "csam" in catalogue:
        policy = catalogue.get("csam")
    return policy


def check_submission(notice: NoticeIn, actor: Actor, catalogue: Catalogue, rules: CaseRules) -> Policy:
    """What can be refused before the database is touched; the HTTP routes call it before queueing."""
    if len(notice.items) > rules.max_items and actor.kind is ActorKind.public:
        raise InvalidInput(f"a public notice may list at most {rules.max_items} items")
    return resolve_policy(catalogue, notice)


# -- what a batch works on -------------------------------------------------------------------


@dataclass
class Submission:
    actor: Actor
    notice: NoticeIn
    idempotency_key: str | None = None  # already scoped to the submitter
    hashed_pictures: int = 0  # pictures identified by hashes computed on the requester's device


@dataclass(frozen=True)
class Deadline:
    kind: str
    state: str
    received_at: datetime
    due_at: datetime | None
    met_at: datetime | None
    resolution: str | None = None


@dataclass
class Outcome:
    """What the notifier is told: enough for the receipt without loading anything back."""

    notice_id: int
    tracking_code: str
    state: str
    received_at: datetime
    missing: list[str]
    case_ids: list[int]
    deadlines: list[Deadline]
    replayed: bool = False  # the same Idempotency-Key was seen before: this is the first receipt


@dataclass(eq=False)
class _Content:
    platform_id: str
    kind: str
    url: str | None
    account_id: int | None
    id: int | None = None
    new: bool = False
    changed: bool = False
    copies: list[int] = field(default_factory=list)


@dataclass(eq=False)
class _Work:
    """One notice on its way through the passes."""

    index: int
    actor: Actor
    notice: NoticeIn
    policy: Policy
    idempotency_key: str | None
    kind: str = ""
    reporter_kind: str = ""
    flagger: Any = None  # the trusted flagger's row (id, api_client_id, areas), if the submitter is one
    notifier_key: str | None = None
    notifier_id: int | None = None
    missing: list[str] = field(default_factory=list)
    state: str = ""
    not_processed: bool = False
    suspended_until: datetime | None = None
    tracking_code: str = ""
    id: int | None = None
    received_at: datetime | None = None
    insert: bool = True  # False: the notice exists (a TAKE IT DOWN completion adds items to it)
    items: list[Any] = field(default_factory=list)
    hashed_pictures: int = 0
    cases: list[PlainCase] = field(default_factory=list)
    events: list[Callable[[Session], None]] = field(default_factory=list)
    item_events: dict[int, list[Callable[[Session], None]]] = field(default_factory=dict)
    deadlines: list[Deadline] = field(default_factory=list)
    governed_by: list[PlainTrack] = field(default_factory=list)  # the tracks this notice opened or joined

    # What `cases.notify.receipt_message` reads of a notice.
    @property
    def contact_email(self) -> str | None:
        return self.notice.contact_email

    @property
    def reporter_platform_id(self) -> str | None:
        return self.notice.reporter_id

    @property
    def missing_elements(self) -> list[str]:
        return self.missing

    @property
    def language(self) -> str:
        return self.notice.language


def _flush_caller(db: Session) -> None:
    """What the caller changed through the ORM in this transaction goes to the database first:
    the statements below read through the connection, which does not autoflush (a notifier
    suspended a moment ago, a completion's new fields)."""
    if db.new or db.dirty or db.deleted:
        db.flush()


def _insert_returning_ids(db: Session, model: type[Any], rows: list[dict[str, Any]], key: tuple[str, ...]) -> list[int]:
    """Insert rows, their ids in the rows' order. `key`: columns unique among these rows, by which
    the returned ids are matched to them (asking the database to keep the order instead makes
    SQLite's driver insert one row per statement)."""
    if not rows:
        return []
    table = model.__table__
    stmt = sa.insert(table).returning(table.c.id, *(table.c[k] for k in key))
    ids = {tuple(r[1:]): r[0] for r in db.connection().execute(stmt, rows).all()}
    return [ids[tuple(row[k] for k in key)] for row in rows]


def _insert_new_keys(db: Session, model: type[Any], key: str, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert rows whose unique `key` may meanwhile exist (another process, on PostgreSQL): the ids
    of those it inserted, by key; a row another transaction inserted first is not among them."""
    if not rows:
        return {}
    table = model.__table__
    stmt = (
        insert_for(db, table).on_conflict_do_nothing(index_elements=[table.c[key]]).returning(table.c.id, table.c[key])
    )
    return {k: i for i, k in db.connection().execute(stmt, rows).all()}


def _update_rows(db: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """One executemany UPDATE by id; every row carries the same columns."""
    if not rows:
        return
    table = model.__table__
    columns = [c for c in rows[0] if c != "id"]
    stmt = sa.update(table).where(table.c.id == sa.bindparam("_id")).values({c: sa.bindparam(c) for c in columns})
    db.connection().execute(stmt, [{**{c: r[c] for c in columns}, "_id": r["id"]} for r in rows])


# -- pass 1: resolve --------------------------------------------------------------------------


def _notifier_key(work: _Work) -> str | None:
    if work.flagger is not None:
        return f"trusted_flagger:{work.flagger.id}"
    if work.notice.reporter_id:
        return f"platform:{work.notice.reporter_id}"
    if work.notice.contact_email:
        return "email:" + hashlib.sha256(work.notice.contact_email.strip().lower().encode()).hexdigest()[:40]
    return None


def _resolve(db: Session, works: list[_Work], when: datetime) -> None:
    clients = {int(w.actor.id) for w in works if w.actor.kind is ActorKind.api_client}
    flaggers: dict[int, Any] = {}
    if clients:
        for flagger in db.connection().execute(
            sa.select(TrustedFlagger.id, TrustedFlagger.api_client_id, TrustedFlagger.areas).where(
                TrustedFlagger.api_client_id.in_(sorted(clients)), TrustedFlagger.active.is_(True)
            )
        ):
            flaggers[flagger.api_client_id] = flagger
    for work in works:
        if work.actor.kind is ActorKind.api_client:
            work.flagger = flaggers.get(int(work.actor.id))
        work.kind = NoticeKind.trusted_flagger.value if work.flagger is not None else work.notice.kind.value
        work.reporter_kind = (
            ReporterKind.trusted_flagger.value if work.flagger is not None else work.notice.reporter_kind.value
        )
        if work.notice.kind is NoticeKind.take_it_down:
            work.missing = missing_takedown_elements(
                signature=work.notice.signature,
                items=work.notice.items,
                good_faith=work.notice.good_faith,
                explanation=work.notice.explanation,
                contact_email=work.notice.contact_email,
                hashed_pictures=work.hashed_pictures,
            )
        work.notifier_key = _notifier_key(work)
    keys = list(dict.fromkeys(w.notifier_key for w in works if w.notifier_key))
    known: dict[str, tuple[int, datetime | None]] = {}
    if keys:
        known = {
            k: (i, s)
            for i, k, s in db.connection()
            .execute(sa.select(Notifier.id, Notifier.key, Notifier.suspended_until).where(Notifier.key.in_(keys)))
            .all()
        }
        fresh = [k for k in keys if k not in known]
        created = _insert_new_keys(
            db,
            Notifier,
            "key",
            [{"key": k, "notices": 0, "founded": 0, "manifestly_unfounded": 0, "created_at": when} for k in fresh],
        )
        known.update({k: (i, None) for k, i in created.items()})
        late = [k for k in fresh if k not in created]
        if late:  # inserted by another transaction since the read above
            known.update(
                {
                    k: (i, s)
                    for i, k, s in db.connection()
                    .execute(
                        sa.select(Notifier.id, Notifier.key, Notifier.suspended_until).where(Notifier.key.in_(late))
                    )
                    .all()
                }
            )
    for work in works:
        if work.notifier_key:
            work.notifier_id, work.suspended_until = known[work.notifier_key]
        suspended = bool(work.suspended_until and work.suspended_until > when)
        # DSA Art. 23 lets a platform stop processing a manifestly abusive notifier's notices; a
        # report about a child is always processed all the same.
        work.not_processed = suspended and not (work.policy.child_safety or work.notice.minor_involved)
        work.state = (
            NoticeState.not_processed
            if work.not_processed
            else NoticeState.incomplete
            if work.missing
            else NoticeState.received
        ).value
        if not work.not_processed:
            work.items = list(work.notice.items)


# -- pass 2: accounts and content --------------------------------------------------------------


def _resolve_urls(db: Session, works: list[_Work]) -> None:
    """UK-1: a report that gives only an address is about the content the platform registered
    there: resolved, it joins that content's case and gets its interim restriction. An address
    with no content, or with several, stays a URL for a person (or the platform) to resolve."""
    unresolved = [(w, n, item) for w in works for n, item in enumerate(w.items) if item.url and not item.content_id]
    if not unresolved:
        return
    found = content_ids_by_url(db, sorted({item.url for _, _, item in unresolved}))
    for work, position, item in unresolved:
        ids = found.get(item.url, set())
        if len(ids) == 1:
            work.items[position] = item.model_copy(update={"content_id": next(iter(ids))})


def _subjects(db: Session, works: list[_Work], when: datetime) -> dict[str, _Content]:
    _resolve_urls(db, works)
    items = [(w, n, item) for w in works for n, item in enumerate(w.items) if item.content_id]
    if not items:
        return {}
    account_ids = list(dict.fromkeys(i.account_id for _, _, i in items if i.account_id))
    accounts: dict[str, int] = {}
    new_accounts: set[str] = set()
    if account_ids:
        accounts = {
            p: i
            for i, p in db.connection()
            .execute(
                sa.select(PlatformAccount.id, PlatformAccount.platform_id).where(
                    PlatformAccount.platform_id.in_(account_ids)
                )
            )
            .all()
        }
        fresh = [a for a in account_ids if a not in accounts]
        created = _insert_new_keys(
            db,
            PlatformAccount,
            "platform_id",
            [
                {
                    "platform_id": a,
                    "handle": None,
                    "status": "active",
                    "metadata": {},
                    "first_seen_at": when,
                    "updated_at": when,
                }
                for a in fresh
            ],
        )
        accounts.update(created)
        new_accounts = set(created)
        late = [a for a in fresh if a not in created]
        if late:
            accounts.update(
                {
                    p: i
                    for i, p in db.connection()
                    .execute(
                        sa.select(PlatformAccount.id, PlatformAccount.platform_id).where(
                            PlatformAccount.platform_id.in_(late)
                        )
                    )
                    .all()
                }
            )
    content_ids = list(dict.fromkeys(i.content_id for _, _, i in items))
    contents: dict[str, _Content] = {}
    for row in (
        db.connection()
        .execute(
            sa.select(
                PlatformContent.id,
                PlatformContent.platform_id,
                PlatformContent.kind,
                PlatformContent.url,
                PlatformContent.account_id,
            ).where(PlatformContent.platform_id.in_(content_ids))
        )
        .all()
    ):
        contents[row.platform_id] = _Content(row.platform_id, row.kind, row.url, row.account_id, id=row.id)
    # In notice order, as one-at-a-time would: the first mention creates, later ones change.
    announced: set[str] = set()
    for work, position, item in items:
        events = work.item_events.setdefault(position, [])
        account_id = accounts[item.account_id] if item.account_id else None
        if item.account_id and item.account_id in new_accounts and item.account_id not in announced:
            announced.add(item.account_id)
            events.append(
                _event(
                    work.actor,
                    AuditTag.ACCOUNT_CREATE,
                    "account",
                    lambda a=account_id: a,
                    {"platform_id": item.account_id, "handle": None},
                )
            )
        content = contents.get(item.content_id)
        if content is None:
            content = contents[item.content_id] = _Content(item.content_id, "unknown", item.url, account_id, new=True)
            events.append(
                _event(
                    work.actor,
                    AuditTag.CONTENT_CREATE,
                    "content",
                    lambda c=content: c.id,
                    {"platform_id": item.content_id, "kind": "unknown", "account": item.account_id},
                )
            )
            continue
        changes: dict[str, Any] = {}
        if item.url and item.url != content.url:
            changes["url"] = [content.url, item.url]
            content.url = item.url
        if account_id is not None and content.account_id != account_id:
            if content.account_id is None:
                changes["account"] = [None, item.account_id]
                content.account_id = account_id
            else:
                changes["account_conflict"] = item.account_id
        if changes:
            content.changed = True
            events.append(
                _event(work.actor, AuditTag.CONTENT_UPDATE, "content", lambda c=content: c.id, {"changes": changes})
            )
    new = [c for c in contents.values() if c.new]
    created = _insert_new_keys(
        db,
        PlatformContent,
        "platform_id",
        [
            {
                "platform_id": c.platform_id,
                "kind": c.kind,
                "url": c.url,
                "account_id": c.account_id,
                "created_at": None,
                "metadata": {},
                "first_seen_at": when,
                "updated_at": when,
            }
            for c in new
        ],
    )
    for content in new:
        if content.platform_id in created:
            content.id = created[content.platform_id]
        else:
            # Another process created it between our read and our insert: its row stands, so this
            # batch's "creation" must be retried against it.
            raise InsertRace(f"content {content.platform_id!r} was created concurrently")
    _update_rows(
        db,
        PlatformContent,
        [
            {"id": c.id, "url": c.url, "account_id": c.account_id, "updated_at": when}
            for c in contents.values()
            if c.changed and not c.new
        ],
    )
    return contents


class InsertRace(StaydownError):
    """A row this batch meant to create was created by another transaction first; the caller
    retries the batch, which then finds it."""


def _copies(db: Session, contents: dict[str, _Content], engine: Any) -> None:
    """Perceptual copies of already-known content (ten re-uploads reported ten times are one case)."""
    if engine is None:
        return
    known = {c.id: c for c in contents.values() if not c.new}
    if not known:
        return
    signals: dict[int, list[tuple[str, str, int | None]]] = {}
    videos: dict[int, list[Any]] = {}
    for content_id, kind, signal, quality, frames in (
        db.connection()
        .execute(
            sa.select(
                ContentSignal.content_id,
                ContentSignal.signal_type,
                ContentSignal.signal,
                ContentSignal.quality,
                ContentSignal.frames,
            ).where(ContentSignal.content_id.in_(sorted(known)), ContentSignal.purged.is_(False))
        )
        .all()
    ):
        signals.setdefault(content_id, []).append((kind, signal, quality))
        if kind == "vpdq":  # a video's copies are found by its frames (matching/video.py)
            videos.setdefault(content_id, []).append(SimpleNamespace(signal_type=kind, frames=frames))
    if signals:
        engine.catch_up()  # signals stored a moment ago are matched too (an intake writer has no follower)
    for content_id, rows in signals.items():
        query = QuerySignals(
            pdq=tuple(
                PdqQuery("" if i == 0 else f"s{i}", s, q or 0)
                for i, (t, s, q) in enumerate([r for r in rows if r[0] == "pdq"])
            ),
            md5=next((s for t, s, _ in rows if t == "md5"), None),
            sha256=next((s for t, s, _ in rows if t == "sha256"), None),
        )
        known[content_id].copies = [
            c.content_id for c in find_copies(db, engine, query, radius=31) if c.content_id != content_id
        ]
        if content_id in videos:
            seen = set(known[content_id].copies)
            known[content_id].copies += [
                c
                for c in find_video_copies(db, engine, videos[content_id], threshold=31)
                if c != content_id and c not in seen
            ]


# -- pass 4: cases ----------------------------------------------------------------------------


def _event(
    actor: Actor,
    tag: AuditTag,
    subject_type: str,
    subject_id: Callable[..., Any],
    data: dict[str, Any] | Callable[..., dict[str, Any]],
) -> Callable[[Session], None]:
    """An audit event whose ids are known only once the rows are written."""

    def record(db: Session) -> None:
        audit.record(
            db,
            actor=actor,
            tag=tag,
            subject_type=subject_type,
            subject_id=subject_id(),
            data=data() if callable(data) else data,
        )

    return record


def _open_tracks(work: _Work, case: PlainCase, received: datetime, batch: _Attaching) -> None:
    """The tracks this notice opens or joins on its case, by the one rule in `cases.tracks`."""
    case_policy = (
        batch.catalogue.get(case.policy_id)
        if batch.catalogue and case.policy_id is not None and case.policy_id in batch.catalogue
        else None
    )
    notice_order = getattr(work.notice, "order", None)
    order = (
        notice_order.model_dump(mode="json")
        if notice_order is not None
        else (work.notice.details or {}).get("order") or {}
    )
    plans = track_rules.plan_for_notice(
        notice_kind=work.kind,
        reporter_kind=work.reporter_kind,
        complete=work.state == NoticeState.received.value,
        policy=work.policy,
        case_policy=case_policy,
        child_safety=case.child_safety,
        ncii=case.ncii or work.policy.ncii,
        rules=batch.rules,
        order_due_at=_aware(order.get("due_at")),
        order_hours=order.get("hours"),
        received_at=received,
    )

    def make(**fields: Any) -> PlainTrack:
        return PlainTrack(case, **fields)

    for plan in plans:
        placed = track_rules.place(case.tracks, plan, received_at=received, notice_id=work.id, make=make)
        track = placed.track
        if placed.change == "opened":
            batch.tracks.append(track)
            data = {
                "kind": track.kind,
                "received_at": received,
                "due_at": track.due_at,
                "state": track.state,
                "notice_id": work.id,
                "basis": plan.basis,
            }
            work.events.append(
                _event(
                    work.actor,
                    AuditTag.TRACK_OPEN,
                    "case",
                    lambda c=case: c.id,
                    lambda t=track, d=data: {"track_id": t.id, **d},
                )
            )
        elif placed.change == "started":
            track.started = True
            work.events.append(
                _event(
                    work.actor,
                    AuditTag.TRACK_START,
                    "case",
                    lambda c=case: c.id,
                    lambda t=track: {"track_id": t.id, "kind": t.kind, "started_at": received, "due_at": t.due_at},
                )
            )
        if track not in work.governed_by:
            work.governed_by.append(track)
    track_rules.refresh_next_due(case)


def _aware(value: Any) -> datetime | None:
    if not value:
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


@dataclass(eq=False)
class _Restriction:
    work: _Work
    content: _Content
    case: PlainCase


@dataclass
class _Attaching:
    """What pass 4 collects for the writes that follow it."""

    open_cases: OpenCases
    when: datetime
    rules: CaseRules
    catalogue: Catalogue | None = None
    items: list[tuple[_Work, _Content | None, Any, PlainCase]] = field(default_factory=list)
    tracks: list[PlainTrack] = field(default_factory=list)  # new, in the order they were opened
    restrictions: list[_Restriction] = field(default_factory=list)
    restricted: set[int] = field(default_factory=set)


def _attach(batch: _Attaching, work: _Work, position: int, item: Any, content: _Content | None) -> None:
    """One item joins its case: what one notice at a time does per item, in memory."""
    policy, open_cases, when = work.policy, batch.open_cases, batch.when
    work.events.extend(work.item_events.pop(position, ()))
    content_ids = [content.id, *content.copies] if content is not None else []
    case = open_cases.find([i for i in content_ids if i is not None], item.url)
    if case is None:
        case = open_cases.open(
            content_id=content.id if content else None,
            url=item.url,
            policy=policy,
            minor_involved=work.notice.minor_involved,
            when=when,
        )
        work.events.append(
            _event(
                work.actor,
                AuditTag.CASE_OPEN,
                "case",
                lambda c=case: c.id,
                {
                    "content_id": content.id if content else None,
                    "url": item.url,
                    "policy_id": policy.id,
                    "area": case.area,
                    "child_safety": case.child_safety,
                },
            )
        )
    else:
        grouping.raise_for_notice(case, policy=policy, minor_involved=work.notice.minor_involved)
    batch.items.append((work, content, item, case))
    grouping.count_notice(
        case,
        policy=policy,
        notifier_id=work.notifier_id,
        notice_id=work.id,
        reporter_kind=work.reporter_kind,
        flagger_areas=work.flagger.areas if work.flagger is not None else None,
        reach=work.notice.reach,
    )
    work.events.append(
        _event(
            work.actor,
            AuditTag.CASE_JOIN,
            "case",
            lambda c=case: c.id,
            {
                "notice_id": work.id,
                "content_id": content.id if content else None,
                "url": item.url,
                "notices": case.notice_count,
                "reporters": case.reporter_count,
            },
        )
    )
    _open_tracks(work, case, work.received_at or when, batch)
    if case.child_safety and content is not None and content.id not in batch.restricted:
        assert content.id is not None  # written in pass 2
        batch.restricted.add(content.id)
        batch.restrictions.append(_Restriction(work, content, case))
    track_rules.refresh_next_due(case)
    case.priority = track_rules.compute_priority(case, when)
    if case not in work.cases:
        work.cases.append(case)


def _restrict(db: Session, restrictions: list[_Restriction]) -> None:
    """X-4: out of recommendation, search and monetisation at once, pending review; content that
    already carries an active restriction keeps it (idempotent)."""
    asked = []
    for r in restrictions:
        assert r.content.id is not None and r.case.id is not None  # both written by now
        asked.append(
            measures.Restriction(
                r.work.actor,
                r.content.id,
                r.case.id,
                f"interim restriction pending review of a child-safety report (notice {r.work.id})",
            )
        )
    measures.restrict_many(db, asked)


# -- the batch --------------------------------------------------------------------------------


def submit_notices(
    db: Session,
    submissions: Sequence[Submission],
    *,
    catalogue: Catalogue,
    rules: CaseRules = DEFAULT_RULES,
    engine: Any = None,
) -> list[Outcome | StaydownError]:
    """Store, acknowledge, group and start the clocks for every notice, in order. Nothing here can
    drop a notice: an incomplete TAKE IT DOWN request is stored and answered with what is missing.
    A submission refused before anything is written (an unknown policy, too many items) gets its
    error in its place; the others go on."""
    results: list[Outcome | StaydownError | None] = [None] * len(submissions)
    _flush_caller(db)
    works: list[_Work] = []
    for index, sub in enumerate(submissions):
        try:
            policy = check_submission(sub.notice, sub.actor, catalogue, rules)
        except StaydownError as exc:
            results[index] = exc
            continue
        works.append(
            _Work(index, sub.actor, sub.notice, policy, sub.idempotency_key, hashed_pictures=sub.hashed_pictures)
        )
    works = _replays(db, works, results)
    if works:
        for work, outcome in zip(
            works, _write(db, works, catalogue=catalogue, rules=rules, engine=engine), strict=True
        ):
            results[work.index] = outcome
    answered = [r for r in results if r is not None]
    assert len(answered) == len(results)  # each submission has its outcome or its error
    return answered


def _replays(db: Session, works: list[_Work], results: list[Any]) -> list[_Work]:
    """An Idempotency-Key seen before answers with the first receipt instead of a second notice."""
    keys = [w.idempotency_key for w in works if w.idempotency_key]
    if not keys:
        return works
    if len(set(keys)) != len(keys):
        raise InvalidInput("the same Idempotency-Key twice in one batch")  # the batcher never does this
    stored = dict(
        db.connection()
        .execute(sa.select(Notice.idempotency_key, Notice.id).where(Notice.idempotency_key.in_(keys)))
        .all()
    )
    for work in works:
        if work.idempotency_key in stored:
            results[work.index] = stored_outcome(db, stored[work.idempotency_key], replayed=True)
    return [w for w in works if w.idempotency_key not in stored]


def stored_outcome(db: Session, notice_id: int, *, replayed: bool = False) -> Outcome:
    notice = db.get(Notice, notice_id)
    assert notice is not None
    case_ids = sorted({i.case_id for i in notice.items if i.case_id})
    deadlines = [
        Deadline(t.kind, t.state, t.received_at, t.due_at, t.met_at, t.resolution)
        for t in sorted(track_rules.tracks_of_notice(db, notice.id), key=lambda t: t.id)
        if t.due_at is not None
    ]
    return Outcome(
        notice.id,
        notice.tracking_code,
        notice.state,
        notice.received_at,
        list(notice.missing_elements),
        case_ids,
        deadlines,
        replayed=replayed,
    )


def _write(db: Session, works: list[_Work], *, catalogue: Catalogue, rules: CaseRules, engine: Any) -> list[Outcome]:
    when = now(db)
    _resolve(db, works, when)
    contents = _subjects(db, works, when)
    _copies(db, contents, engine)
    # Store the notices (their ids name them in reporter keys, tracks and events).
    for work in works:
        work.tracking_code = new_tracking_code()
        work.received_at = when
    ids = _insert_returning_ids(db, Notice, [_notice_row(w, when) for w in works], ("tracking_code",))
    for work, notice_id in zip(works, ids, strict=True):
        work.id = notice_id
    return _attach_all(db, works, contents, when=when, rules=rules, catalogue=catalogue, acknowledge=True)


def _notice_row(work: _Work, when: datetime) -> dict[str, Any]:
    n = work.notice
    return {
        "tracking_code": work.tracking_code,
        "kind": work.kind,
        "reporter_kind": work.reporter_kind,
        "state": work.state,
        "policy_id": work.policy.id,
        "dsa_category": n.dsa_category or work.policy.dsa_category,
        "explanation": n.explanation,
        "minor_involved": n.minor_involved,
        "good_faith": n.good_faith,
        "contact_name": n.contact_name,
        "contact_email": n.contact_email,
        "signature": n.signature,
        "reporter_platform_id": n.reporter_id,
        "notifier_id": work.notifier_id,
        "trusted_flagger_id": work.flagger.id if work.flagger else None,
        "jurisdiction": n.jurisdiction,
        "language": n.language,
        "reach": n.reach,
        "missing_elements": work.missing,
        "details": {**n.details, "order": n.order.model_dump(mode="json")} if n.order is not None else n.details,
        "case_id": None,
        "received_at": when,
        "complete_at": None if work.missing else when,
        "submitted_by": work.actor.ref,
        "idempotency_key": work.idempotency_key,
    }


def _attach_all(
    db: Session,
    works: list[_Work],
    contents: dict[str, _Content],
    *,
    when: datetime,
    rules: CaseRules,
    catalogue: Catalogue | None,
    acknowledge: bool,
) -> list[Outcome]:
    content_ids: set[int] = set()
    for loaded in contents.values():
        if not loaded.new:
            assert loaded.id is not None  # loaded with its row
            content_ids.add(loaded.id)
            content_ids.update(loaded.copies)
    urls = {item.url for w in works for item in w.items if item.url}
    batch = _Attaching(OpenCases(db, content_ids, urls), when, rules, catalogue)
    for work in works:
        for position, item in enumerate(work.items):
            content = contents[item.content_id] if item.content_id else None
            _attach(batch, work, position, item, content)
        # The receipt tells this notice's own clocks (those it opened or joined), as it found
        # them, not another notifier's and not as later notices leave them.
        work.deadlines = [
            Deadline(t.kind, t.state, t.received_at, t.due_at, t.met_at)
            for t in work.governed_by
            if t.due_at is not None
        ]

    # Write: new cases (ids in the order they were opened), then what refers to them.
    touched = list(dict.fromkeys(c for w in works for c in w.cases))
    new_cases = sorted((c for c in touched if c.new), key=lambda c: c.order)
    # A new case is opened only where no open case has the content (or, without one, the URL).
    for case, case_id in zip(
        new_cases,
        _insert_returning_ids(
            db, Case, [{f: getattr(c, f) for f in CASE_FIELDS} for c in new_cases], ("content_id", "url")
        ),
        strict=True,
    ):
        case.id = case_id
    if batch.items:
        db.connection().execute(
            sa.insert(cast(sa.Table, NoticeItem.__table__)),
            [
                {"notice_id": w.id, "content_id": c.id if c else None, "url": item.url, "case_id": case.id}
                for w, c, item, case in batch.items
            ],
        )
    for track, track_id in zip(
        batch.tracks,
        _insert_returning_ids(
            db,
            LegalTrack,
            [
                {
                    "case_id": t.case.id,
                    "kind": t.kind,
                    "state": t.state,
                    "notice_id": t.notice_id,
                    "received_at": t.received_at,
                    "due_at": t.due_at,
                    "details": t.details,
                    "scope": t.scope,
                }
                for t in batch.tracks
            ],
            ("case_id", "kind", "scope"),
        ),
        strict=True,
    ):
        track.id = track_id
    links = list(dict.fromkeys((w.id, t.id) for w in works for t in w.governed_by))
    if links:
        # Tracks already governing a notice (a completion joining the clock its request opened) stay linked once.
        known = (
            set(
                db.connection()
                .execute(
                    sa.select(NoticeTrack.notice_id, NoticeTrack.track_id).where(
                        NoticeTrack.notice_id.in_(sorted({n for n, _ in links}))
                    )
                )
                .all()
            )
            if not all(w.insert for w in works)
            else set()
        )
        rows = [{"notice_id": n, "track_id": t} for n, t in links if (n, t) not in known]
        if rows:
            db.connection().execute(sa.insert(cast(sa.Table, NoticeTrack.__table__)), rows)
    _update_rows(
        db,
        LegalTrack,
        [
            {"id": t.id, "state": t.state, "due_at": t.due_at, "details": t.details}
            for c in touched
            for t in c.tracks
            if t.started and not t.new
        ],
    )
    _update_rows(db, Case, [{"id": c.id, **{f: getattr(c, f) for f in UPDATED_CASE_FIELDS}} for c in touched])
    _update_rows(db, Notice, [{"id": w.id, "case_id": w.cases[0].id} for w in works if w.cases and w.insert])
    counts: dict[int, int] = {}
    for work in works:
        if work.notifier_id is not None and work.insert:
            counts[work.notifier_id] = counts.get(work.notifier_id, 0) + 1
    if counts:
        notifiers = cast(sa.Table, Notifier.__table__)
        db.connection().execute(
            sa.update(notifiers)
            .where(notifiers.c.id == sa.bindparam("_id"))
            .values(notices=notifiers.c.notices + sa.bindparam("_n")),
            [{"_id": k, "_n": n} for k, n in counts.items()],
        )
    # Rows written behind the ORM's back: what it holds of them is stale now.
    for obj in list(db.identity_map.values()):
        if isinstance(obj, (Case, LegalTrack, Notice, Notifier, PlatformContent)):
            db.expire(obj)
    # The audit events, in the order one notice at a time records them.
    for work in works:
        if work.insert:
            _receipt_events(work)
        for record in work.events:
            record(db)
    # Restrictions before receipts: their webhooks are the urgent jobs.
    _restrict(db, batch.restrictions)
    if acknowledge:
        _acknowledge(db, works, rules, when)
    return [_outcome(w) for w in works]


def _receipt_events(work: _Work) -> None:
    n = work.notice
    receive = _event(
        work.actor,
        AuditTag.NOTICE_RECEIVE,
        "notice",
        lambda: work.id,
        {
            "kind": work.kind,
            "reporter_kind": work.reporter_kind,
            "policy_id": work.policy.id,
            "items": len(n.items),
            "minor_involved": n.minor_involved,
            "missing": work.missing,
            "state": work.state,
            "anonymous": not (n.contact_email or n.reporter_id),
        },
    )
    first = [receive]
    if work.not_processed:
        first.append(
            _event(
                work.actor,
                AuditTag.NOTICE_NOT_PROCESSED,
                "notice",
                lambda: work.id,
                {"notifier_id": work.notifier_id, "suspended_until": work.suspended_until},
            )
        )
    work.events[:0] = first


def _acknowledge(db: Session, works: list[_Work], rules: CaseRules, when: datetime) -> None:
    """DSA-1: confirm receipt, electronically, without undue delay (one message per notice)."""
    messages = [(w, m) for w in works if w.insert for m in [receipt_message(w, rules)] if m is not None]
    if not messages:
        return
    ids = _insert_returning_ids(
        db,
        OutboundMessage,
        [
            {
                "notice_id": w.id,
                "kind": "receipt",
                "channel": m["channel"],
                "recipient": m["recipient"],
                "subject": m["subject"][:300],
                "body": m["body"],
                "created_at": when,
            }
            for w, m in messages
        ],
        ("notice_id",),
    )
    for (_, message), message_id in zip(messages, ids, strict=True):
        if message["channel"] == "email":
            enqueue(
                db,
                kind=SEND_MESSAGE,
                payload={"message_id": message_id},
                idempotency_key=f"message:{message_id}",
                key_is_new=True,
            )


def _outcome(work: _Work) -> Outcome:
    assert work.id is not None and work.received_at is not None  # the notice is written
    return Outcome(
        work.id,
        work.tracking_code,
        work.state,
        work.received_at,
        list(work.missing),
        [c.id for c in work.cases if c.id is not None],  # every one is written by now
        work.deadlines,
    )


def attach_items(
    db: Session,
    *,
    actor: Actor,
    notice: Notice,
    items: list[Any],
    policy: Policy,
    rules: CaseRules,
    engine: Any = None,
    catalogue: Catalogue | None = None,
) -> list[int]:
    """Items added to a stored notice (a TAKE IT DOWN request being completed) join their cases as
    a new notice's items would. Returns the ids of the cases they joined."""
    _flush_caller(db)
    when = now(db)
    work = _Work(
        0,
        actor,
        NoticeIn.model_construct(minor_involved=notice.minor_involved, reach=notice.reach, items=items),
        policy,
        None,
        kind=notice.kind,
        reporter_kind=notice.reporter_kind,
        notifier_id=notice.notifier_id,
        state=notice.state,
        id=notice.id,
        received_at=notice.received_at,
        insert=False,
        items=list(items),
    )
    contents = _subjects(db, [work], when)
    _copies(db, contents, engine)
    [outcome] = _attach_all(db, [work], contents, when=when, rules=rules, catalogue=catalogue, acknowledge=False)
    db.expire(notice, ["items"])
    return outcome.case_ids
