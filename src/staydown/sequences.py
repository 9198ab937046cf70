"""Commit-ordered sequence numbers for rows that followers read incrementally ("changes since N")."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.orm.attributes import set_committed_value

from staydown.db import Base, register_commit_hook

PENDING_KEY = "sequence_pending"
# Every named sequence; the migrations create their counter rows.
SEQUENCES = ("bank_signals", "content_signals", "actions")
COLUMN = "change_seq"


class SequenceHead(Base):
    """One counter per named sequence. A database sequence would hand out numbers in statement
    order, so a follower reading `seq > N` could pass a number whose transaction commits later
    and never see it. Numbers taken here, under the row's lock at commit, become visible in order."""

    __tablename__ = "sequence_heads"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)


def _pending(db: Session, sequence: str) -> list[tuple[type[Base], Any, Any]]:
    db.connection()  # open the transaction now, so its rollback also drops what is pending
    pending: dict[str, list[tuple[type[Base], Any, Any]]] = db.info.setdefault(PENDING_KEY, {})
    return pending.setdefault(sequence, [])


def touch(db: Session, obj: Any, *, sequence: str) -> None:
    """Give the row `obj` the next number of `sequence` when the transaction commits. Touching a
    row again later (disable, re-enable) gives it a new, higher number."""
    items = _pending(db, sequence)
    seen: set[int] = db.info.setdefault(PENDING_KEY + ":objects", set())
    if (sequence, id(obj)) not in seen:  # a set, not a scan: a sweep touches thousands of rows
        seen.add((sequence, id(obj)))  # type: ignore[arg-type]
        items.append((type(obj), None, obj))


def touch_ids(db: Session, model: type[Base], ids: Iterable[int], *, sequence: str) -> None:
    """The same for rows known by id (bulk imports that do not keep their objects in memory)."""
    _pending(db, sequence).extend((model, int(i), None) for i in ids)


def assign(db: Session) -> None:
    pending: dict[str, list[tuple[type[Base], Any, Any]]] | None = db.info.pop(PENDING_KEY, None)
    db.info.pop(PENDING_KEY + ":objects", None)
    if not pending:
        return
    db.flush()
    db.info["sequences_touched"] = True
    postgres = db.get_bind().dialect.name == "postgresql"
    for name in sorted(pending):  # one order for every transaction
        stmt = sa.select(SequenceHead.value).where(SequenceHead.name == name)
        value = db.execute(stmt.with_for_update() if postgres else stmt).scalar_one_or_none()
        if value is None:
            db.execute(sa.insert(SequenceHead).values(name=name, value=0))
            value = db.execute(stmt.with_for_update() if postgres else stmt).scalar_one()
        updates: dict[type[Base], list[dict[str, int]]] = {}
        seen: set[tuple[type[Base], int]] = set()
        for model, row_id, obj in pending[name]:
            row_id = obj.id if obj is not None else row_id
            if (model, row_id) in seen:
                continue
            seen.add((model, row_id))
            value += 1
            updates.setdefault(model, []).append({"row_id": row_id, "seq": value})
            if obj is not None:
                set_committed_value(obj, COLUMN, value)
        for model, params in updates.items():
            table = cast(sa.Table, model.__table__)
            db.execute(
                table.update().where(table.c.id == sa.bindparam("row_id")).values({COLUMN: sa.bindparam("seq")}),
                params,
            )
        db.execute(sa.update(SequenceHead).where(SequenceHead.name == name).values(value=value))


def head(db: Session, sequence: str) -> int:
    value = db.execute(sa.select(SequenceHead.value).where(SequenceHead.name == sequence)).scalar_one_or_none()
    return int(value or 0)


def _drop(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(PENDING_KEY, None)
        session.info.pop(PENDING_KEY + ":objects", None)


register_commit_hook(100, "sequences", assign)
sa.event.listen(Session, "after_soft_rollback", _drop)
