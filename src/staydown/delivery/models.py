"""Outbox jobs and the record of each attempt to run one."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from staydown.db import Base, BigIntPK, UTCDateTime


class JobState(str, enum.Enum):
    pending = "pending"
    running = "running"
    done = "done"
    dead = "dead"


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(80), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    # A job with a key is enqueued at most once: a retried request cannot queue it twice.
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    # Jobs sharing an ordering key run one at a time, in id order (webhooks per subject).
    ordering_key: Mapped[str | None] = mapped_column(sa.String(200))
    state: Mapped[str] = mapped_column(sa.String(16), nullable=False, default=JobState.pending.value)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    locked_by: Mapped[str | None] = mapped_column(sa.String(120))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.Index("ix_jobs_state_run_at", "state", "run_at"),
        sa.Index("ix_jobs_ordering_key", "ordering_key", "id"),
    )


class JobAttempt(Base):
    __tablename__ = "job_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True)
    attempt: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    worker: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(sa.String(16))  # ok, error, lost
    error: Mapped[str | None] = mapped_column(sa.Text)
