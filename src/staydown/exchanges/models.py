"""An exchange per collaboration, the partner's records it fetched, and what we send back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from staydown.db import Base, BigIntPK, UTCDateTime


class Exchange(Base):
    """One collaboration on one hash-sharing service, feeding one bank. Its credentials are never
    here in plaintext: either named in settings, or sealed under the vault's master key."""

    __tablename__ = "exchanges"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), nullable=False, unique=True)
    # python-threatexchange's SignalExchangeAPI name: ncmec, stopncii, fb_threatexchange, tat, file.
    api: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    bank_id: Mapped[int] = mapped_column(sa.ForeignKey("banks.id", ondelete="RESTRICT"), nullable=False)
    # The collaboration's settings that are not secret (environment, privacy group, file, base URL).
    config: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    credentials_source: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="none")
    sealed_credentials: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    sealed_key: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    credentials_key_id: Mapped[str | None] = mapped_column(sa.String(32))
    enabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    fetch_every_seconds: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=3600)
    report_back: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    # The library's checkpoint dataclass as JSON (never pickled), committed with the rows it covers.
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    # A fetch from no checkpoint sees the whole list: records it did not see are gone at its end.
    generation: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    full_fetch: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    state: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="new")
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    last_fetch_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_fetch_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_fetch_pages: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    last_fetch_updates: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    created_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ExchangeRecord(Base):
    """One record as the partner keys it (an NCMEC entry, a ThreatExchange indicator, a StopNCII
    hash): its metadata as fetched, and when. Deleted by the partner = `deleted_at` set."""

    __tablename__ = "exchange_records"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    exchange_id: Mapped[int] = mapped_column(sa.ForeignKey("exchanges.id", ondelete="CASCADE"), nullable=False)
    record_key: Mapped[str] = mapped_column(sa.String(300), nullable=False)
    # Who in the collaboration contributed it (an NCMEC member's ESP id, ThreatExchange app ids).
    partner_id: Mapped[str | None] = mapped_column(sa.String(200))
    meta: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    first_fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seen_generation: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)

    __table_args__ = (sa.UniqueConstraint("exchange_id", "record_key", name="uq_exchange_records_key"),)


class ExchangeSignal(Base):
    """A signal of a record, and the bank entry that carries it. Two records may share a signal
    (two members shared the same file): the entry stays enabled while any live record has it."""

    __tablename__ = "exchange_signals"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    exchange_id: Mapped[int] = mapped_column(sa.ForeignKey("exchanges.id", ondelete="CASCADE"), nullable=False)
    record_id: Mapped[int] = mapped_column(sa.ForeignKey("exchange_records.id", ondelete="CASCADE"), nullable=False)
    bank_entry_id: Mapped[int] = mapped_column(
        sa.ForeignKey("bank_entries.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    # The signal as the partner named it (for feedback: NCMEC's fingerprint type, StopNCII's type).
    partner_type: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    live: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)

    __table_args__ = (sa.UniqueConstraint("record_id", "bank_entry_id", name="uq_exchange_signals_record_entry"),)


class ExchangeSubmission(Base):
    """Something we tell a partner: an opinion on a matched signal (seen, true or false positive)
    after a review, or a hash of ours shared out after legal approved it."""

    __tablename__ = "exchange_submissions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    exchange_id: Mapped[int] = mapped_column(
        sa.ForeignKey("exchanges.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(16), nullable=False)  # feedback, share
    opinion: Mapped[str] = mapped_column(sa.String(20), nullable=False)  # seen, true_positive, false_positive
    bank_entry_id: Mapped[int] = mapped_column(sa.ForeignKey("bank_entries.id", ondelete="RESTRICT"), nullable=False)
    record_id: Mapped[int | None] = mapped_column(sa.ForeignKey("exchange_records.id", ondelete="SET NULL"))
    case_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    # awaiting_approval (shares), queued, sent, failed, refused, unsupported
    state: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    requested_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    approved_by: Mapped[str | None] = mapped_column(sa.String(200))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        sa.UniqueConstraint("exchange_id", "kind", "bank_entry_id", "opinion", name="uq_exchange_submissions_once"),
    )
