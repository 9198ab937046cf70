"""Hash banks and their entries, the signals of every scanned item, and scan records."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from staydown.db import Base, BigIntPK, UTCDateTime

BANK_SIGNALS = "bank_signals"
CONTENT_SIGNALS = "content_signals"


class BankSource(str, enum.Enum):
    own = "own"
    ncmec = "ncmec"
    stopncii = "stopncii"
    take_it_down = "take_it_down"
    tech_coalition = "tech_coalition"
    iwf = "iwf"
    other = "other"


class MatchAction(str, enum.Enum):
    block = "block"  # refuse the upload
    hold = "hold"  # keep it out of distribution and send it to review
    flag = "flag"  # allow, but record the match for review


class BankUse(str, enum.Enum):
    """What a bank may be used for (CSAM-7: a list is used only for its permitted purpose)."""

    scan = "scan"  # match new uploads
    sweep = "sweep"  # search stored content for copies


class SignalType(str, enum.Enum):
    pdq = "pdq"
    md5 = "md5"
    sha256 = "sha256"
    # A video's frame hashes (threatexchange's "vpdq"). The row's `signal` is the SHA-256 of the
    # canonical text in `frames`, so that the same hash list is one entry; `frames` holds the list.
    vpdq = "vpdq"


SIGNAL_HEX_LENGTH = {SignalType.pdq: 64, SignalType.md5: 32, SignalType.sha256: 64, SignalType.vpdq: 64}


class Bank(Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), nullable=False, unique=True)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    source: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    permitted_purpose: Mapped[str] = mapped_column(sa.Text, nullable=False)
    allowed_uses: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False)
    policy_id: Mapped[str] = mapped_column(sa.String(80), nullable=False)
    action_on_match: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    pdq_threshold: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=31)
    # A list of previously confirmed material: only such a bank's matches may be decided without
    # a human, and only where the policy says so (CSAM-7).
    confirmed_material: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    created_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class BankEntry(Base):
    __tablename__ = "bank_entries"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    bank_id: Mapped[int] = mapped_column(sa.ForeignKey("banks.id", ondelete="RESTRICT"), nullable=False)
    signal_type: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    signal: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    # Bank-side variants (e.g. central crops of a confirmed item) point at the original entry.
    variant: Mapped[str] = mapped_column(sa.String(40), nullable=False, default="")
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bank_entries.id", ondelete="RESTRICT"))
    quality: Mapped[int | None] = mapped_column(sa.Integer)
    # vPDQ only: the frame hashes, in threatexchange's text form (see matching/video.py).
    frames: Mapped[str | None] = mapped_column(sa.Text)
    note: Mapped[str] = mapped_column(sa.String(500), nullable=False, default="")
    # Provenance: who added it, from which case or which imported list.
    added_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    source_case_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    source_ref: Mapped[str | None] = mapped_column(sa.String(300))
    # Disabled as a false positive, never deleted: what it matched stays explainable.
    enabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_by: Mapped[str | None] = mapped_column(sa.String(200))
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(500))
    # Commit-ordered; index followers apply changes in this order (see staydown.sequences).
    change_seq: Mapped[int | None] = mapped_column(sa.BigInteger, index=True)

    bank: Mapped[Bank] = relationship(lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("bank_id", "signal_type", "signal", "variant", name="uq_bank_entries_signal"),
        sa.Index("ix_bank_entries_lookup", "signal_type", "signal"),
    )


class ContentSignal(Base):
    """A signal of a scanned item. The content-signal index, built from these rows, answers
    "where else is a copy of this?" for sweeps and for grouping reports into cases."""

    __tablename__ = "content_signals"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    content_id: Mapped[int] = mapped_column(sa.ForeignKey("platform_content.id", ondelete="CASCADE"), nullable=False)
    signal_type: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    signal: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    quality: Mapped[int | None] = mapped_column(sa.Integer)
    # vPDQ only: the frame hashes, in threatexchange's text form (see matching/video.py).
    frames: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    change_seq: Mapped[int | None] = mapped_column(sa.BigInteger, index=True)
    # Purged signals (retention, EUI-4) stay as tombstones until every index has passed them.
    purged: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)

    __table_args__ = (
        sa.UniqueConstraint("content_id", "signal_type", "signal", name="uq_content_signals_signal"),
        sa.Index("ix_content_signals_lookup", "signal_type", "signal"),
    )


class Scan(Base):
    """One upload scanned: what was decided and what the upload carried (CSAM-3)."""

    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    content_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("platform_content.id", ondelete="SET NULL"), index=True
    )
    verdict: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    matches: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, nullable=False, default=list)
    signals: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    media: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False, default=dict)
    uploader_ip: Mapped[str | None] = mapped_column(sa.String(64))
    uploader_port: Mapped[int | None] = mapped_column(sa.Integer)
    uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The file's name on the uploader's device, as the platform received it.
    original_filename: Mapped[str | None] = mapped_column(sa.String(300))
    scanned_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
