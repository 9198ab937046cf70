"""The append-only, hash-chained audit log and its head pointer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from staydown.db import Base, UTCDateTime

GENESIS_HASH = "0" * 64


class AuditEvent(Base):
    __tablename__ = "audit_events"

    # Assigned by `audit.record` from the head row, not by the database: the chain needs a gapless
    # sequence, and database sequences leave gaps on rollback.
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor_kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    actor_id: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    actor_label: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    tag: Mapped[str] = mapped_column(sa.String(80), nullable=False, index=True)
    subject_type: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    subject_id: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    prev_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)

    __table_args__ = (sa.Index("ix_audit_events_subject", "subject_type", "subject_id"),)


class AuditHead(Base):
    """A single row holding the chain's head. Writers lock it (FOR UPDATE on PostgreSQL; the
    SQLite write lock does the same) so concurrent transactions extend the chain one by one."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
