"""Write audit events into the caller's transaction and verify the hash chain."""

from __future__ import annotations

import hashlib
import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from staydown.actors import Actor
from staydown.audit.models import GENESIS_HASH, AuditEvent, AuditHead
from staydown.audit.tags import AuditTag, tag_value
from staydown.db import now, register_commit_hook
from staydown.errors import InvalidInput
from staydown.jsonutil import canonical_bytes, jsonable
from staydown.limits import DB_INT_MAX

HEAD_ID = 1


def _time_text(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    *,
    seq: int,
    created_at: datetime,
    actor_kind: str,
    actor_id: str,
    actor_label: str,
    tag: str,
    subject_type: str,
    subject_id: str,
    data: Any,
    prev_hash: str,
) -> str:
    """SHA-256 over a canonical JSON encoding of every field of the event and the previous hash."""
    body = {
        "seq": seq,
        "at": _time_text(created_at),
        "actor": [actor_kind, actor_id, actor_label],
        "tag": tag,
        "subject": [subject_type, subject_id],
        "data": data,
        "prev": prev_hash,
    }
    return hashlib.sha256(canonical_bytes(body)).hexdigest()


def _hash_of(event: Any) -> str:
    return event_hash(
        seq=event.seq,
        created_at=event.created_at,
        actor_kind=event.actor_kind,
        actor_id=event.actor_id,
        actor_label=event.actor_label,
        tag=event.tag,
        subject_type=event.subject_type,
        subject_id=event.subject_id,
        data=event.data,
        prev_hash=event.prev_hash,
    )


PENDING_KEY = "audit_pending"


@dataclass(slots=True)
class PendingEvent:
    """An event recorded in a transaction, numbered and hashed when it commits (`flush`)."""

    created_at: datetime
    actor_kind: str
    actor_id: str
    actor_label: str
    tag: str
    subject_type: str
    subject_id: str
    data: Any
    seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "created_at": self.created_at,
            "actor_kind": self.actor_kind,
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "tag": self.tag,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "data": self.data,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def _lock_head(db: Session) -> tuple[int, str]:
    """The head's (seq, hash), locked until the transaction ends (FOR UPDATE on PostgreSQL; the
    SQLite write lock does the same)."""
    table = cast(sa.Table, AuditHead.__table__)
    stmt = sa.select(table.c.seq, table.c.hash).where(table.c.id == HEAD_ID)
    if db.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    conn = db.connection()
    row = conn.execute(stmt).first()
    if row is None:
        # The migration creates the head row; creating it here covers a bare `create_all`.
        conn.execute(sa.insert(table).values(id=HEAD_ID, seq=0, hash=GENESIS_HASH))
        return 0, GENESIS_HASH
    return row.seq, row.hash


def record(
    db: Session,
    *,
    actor: Actor,
    tag: AuditTag | str,
    subject_type: str,
    subject_id: str | int,
    data: dict[str, Any] | None = None,
) -> PendingEvent:
    """Append one event to the chain as part of the caller's transaction.

    The event gets its sequence number and hash when the transaction commits (see `flush`), so
    the chain's head is locked only for the last moment of a transaction, after every other
    lock it takes: two transactions can then never deadlock over the head."""
    if not isinstance(actor, Actor):
        raise TypeError("audit.record needs an Actor; automation acts as staydown.actors.SYSTEM")
    event = PendingEvent(
        created_at=now(db).astimezone(UTC),
        actor_kind=actor.kind.value,
        actor_id=actor.id,
        actor_label=actor.label,
        tag=tag_value(tag),
        subject_type=subject_type,
        subject_id=str(subject_id),
        data=jsonable(data or {}),
    )
    # Make sure a transaction is open, so that its rollback (which discards pending events)
    # is seen even when nothing else ran in it yet.
    db.connection()
    db.info.setdefault(PENDING_KEY, []).append(event)
    return event


def pending(db: Session) -> list[PendingEvent]:
    """Events recorded in this transaction and not yet chained (for tests and previews)."""
    return list(db.info.get(PENDING_KEY, ()))


def flush(db: Session) -> None:
    """Chain this transaction's pending events now: lock the head, number and hash them."""
    events = db.info.pop(PENDING_KEY, None)
    if not events:
        return
    db.flush()  # the rows the events are about go first
    seq, prev = _lock_head(db)
    for event in events:
        seq += 1
        event.seq, event.prev_hash = seq, prev
        event.hash = prev = _hash_of(event)
    # Statements, not ORM objects: an object per event cost more than hashing it (issue 4's profile).
    conn = db.connection()
    conn.execute(sa.insert(cast(sa.Table, AuditEvent.__table__)), [e.row() for e in events])
    head = cast(sa.Table, AuditHead.__table__)
    conn.execute(sa.update(head).where(head.c.id == HEAD_ID).values(seq=seq, hash=prev))


# Last among the commit hooks: whatever else a transaction sequences, its audit events go after.
register_commit_hook(1000, "audit", flush)


# How many events were pending when each open savepoint began (weakly keyed: a finished savepoint
# drops out by itself).
_savepoint_marks: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


@sa_event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: Any) -> None:
    if transaction.nested:
        _savepoint_marks[transaction] = len(session.info.get(PENDING_KEY, ()))


@sa_event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session: Session, previous_transaction: Any) -> None:
    # The outermost rollback discards all the transaction's events. A savepoint's rollback (a lost
    # insert race, say) discards the events recorded inside it and keeps those recorded before:
    # an event about a row that was never stored would be a false entry in the chain.
    if previous_transaction.parent is None:
        session.info.pop(PENDING_KEY, None)
        return
    if previous_transaction.nested:
        mark = _savepoint_marks.pop(previous_transaction, None)
        pending = session.info.get(PENDING_KEY)
        if mark is not None and pending is not None:
            del pending[mark:]


_CHECKPOINT = re.compile(r"([0-9]{1,19}):([0-9a-fA-F]{64})")


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        # ASCII digits only, within a database integer: str.isdigit() also takes '²', and a longer
        # number would overflow the query it is compared in.
        found = _CHECKPOINT.fullmatch(text.strip())
        if found is None or int(found[1]) > DB_INT_MAX:
            raise InvalidInput(f"a checkpoint looks like SEQ:SHA256HEX, not {text[:100]!r}")
        return cls(int(found[1]), found[2].lower())


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events_checked: int
    head: Checkpoint
    first_bad_seq: int | None = None
    problem: str | None = None


def checkpoint(db: Session) -> Checkpoint:
    head = db.execute(
        sa.select(AuditHead).where(AuditHead.id == HEAD_ID).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if head is None:
        return Checkpoint(0, GENESIS_HASH)
    return Checkpoint(head.seq, head.hash)


def _iter_events(db: Session, batch: int = 5000) -> Iterable[Any]:
    # Plain rows, not ORM objects: a long verify must not fill the caller's identity map.
    table = AuditEvent.__table__
    after = 0
    while True:
        rows = db.execute(sa.select(table).where(table.c.seq > after).order_by(table.c.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].seq


def verify(db: Session, *, pinned: Checkpoint | None = None) -> VerifyResult:
    """Walk the chain from the start. Reports the first sequence number at which an event was
    edited (its hash no longer matches), removed (a gap), inserted or reordered (its previous
    hash does not match its predecessor), and a head or pinned checkpoint that disagrees."""
    expected_seq = 1
    prev = GENESIS_HASH
    checked = 0
    seen_pin = pinned is None or pinned.seq == 0
    head = checkpoint(db)

    def bad(seq: int, problem: str) -> VerifyResult:
        return VerifyResult(False, checked, head, seq, problem)

    for event in _iter_events(db):
        if event.seq != expected_seq:
            return bad(expected_seq, f"event {expected_seq} is missing (next is {event.seq})")
        if event.prev_hash != prev:
            return bad(
                event.seq,
                f"event {event.seq} does not follow event {event.seq - 1}: "
                "it was inserted, reordered, or its predecessor was replaced",
            )
        if _hash_of(event) != event.hash:
            return bad(event.seq, f"event {event.seq} was edited: its content does not match its hash")
        if pinned is not None and event.seq == pinned.seq:
            if event.hash != pinned.hash:
                return bad(event.seq, f"event {event.seq} differs from the pinned checkpoint")
            seen_pin = True
        prev = event.hash
        expected_seq += 1
        checked += 1
    last_seq = expected_seq - 1
    if head.seq != last_seq or head.hash != prev:
        return bad(
            min(head.seq, last_seq) + 1 if head.seq != last_seq else last_seq,
            f"the head says {head.seq}:{head.hash[:12]}… but the log ends at "
            f"{last_seq}:{prev[:12]}…: events were removed from the end or the head was edited",
        )
    if not seen_pin and pinned is not None:
        return bad(pinned.seq, f"the pinned checkpoint {pinned.seq} is beyond the end of the log ({last_seq})")
    return VerifyResult(True, checked, head)


def events_for(db: Session, *, subject_type: str, subject_id: str | int, last: int | None = None) -> list[AuditEvent]:
    """A subject's events in order; `last`: only the newest that many (still oldest first)."""
    flush(db)
    stmt = sa.select(AuditEvent).where(
        AuditEvent.subject_type == subject_type, AuditEvent.subject_id == str(subject_id)
    )
    if last is None:
        return list(db.execute(stmt.order_by(AuditEvent.seq)).scalars())
    return list(reversed(db.execute(stmt.order_by(AuditEvent.seq.desc()).limit(last)).scalars().all()))
