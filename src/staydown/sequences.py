"""Commit-ordered sequence numbers for rows that followers read incrementally ("changes since N")."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from staydown.db import Base, register_commit_hook

PENDING_KEY = "sequence_pending"


class SequenceHead(Base):
    """One counter per named sequence. A database sequence would hand out numbers in statement
    order, so a follower reading `seq > N` could pass a number whose transaction commits later
    and never see it. Numbers taken here, under the row's lock at commit, become visible in order."""

    __tablename__ = "sequence_heads"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)


def touch(db: Session, obj: Any, *, sequence: str, attribute: str = "change_seq") -> None:
    """Give `obj.attribute` the next number of `sequence` when the transaction commits.
    Touching a row again later (disable, re-enable) gives it a new, higher number."""
    db.connection()  # open the transaction now, so its rollback also drops what is pending
    pending: dict[str, list[tuple[Any, str]]] = db.info.setdefault(PENDING_KEY, {})
    items = pending.setdefault(sequence, [])
    if not any(o is obj and a == attribute for o, a in items):
        items.append((obj, attribute))


def assign(db: Session) -> None:
    pending: dict[str, list[tuple[Any, str]]] | None = db.info.pop(PENDING_KEY, None)
    if not pending:
        return
    db.flush()
    db.info["sequences_touched"] = True
    postgres = db.get_bind().dialect.name == "postgresql"
    for name in sorted(pending):  # one order for every transaction
        stmt = sa.select(SequenceHead).where(SequenceHead.name == name).execution_options(populate_existing=True)
        head = db.execute(stmt.with_for_update() if postgres else stmt).scalar_one_or_none()
        if head is None:
            head = SequenceHead(name=name, value=0)
            db.add(head)
            db.flush()
            if postgres:
                db.execute(stmt.with_for_update())
        for obj, attribute in pending[name]:
            head.value += 1
            setattr(obj, attribute, head.value)
    db.flush()


def head(db: Session, sequence: str) -> int:
    value = db.execute(sa.select(SequenceHead.value).where(SequenceHead.name == sequence)).scalar_one_or_none()
    return int(value or 0)


def _drop(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(PENDING_KEY, None)


register_commit_hook(100, "sequences", assign)
sa.event.listen(Session, "after_soft_rollback", _drop)
