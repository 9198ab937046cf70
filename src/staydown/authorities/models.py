"""CyberTipline and UK NCA reports and their files, DSA Art. 18 notifications, law-enforcement requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from staydown.db import Base, BigIntPK, UTCDateTime


class NcmecReport(Base):
    """One report per reported user and incident (a case), grouping their files."""

    __tablename__ = "ncmec_reports"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="RESTRICT"), nullable=False, index=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("platform_accounts.id", ondelete="RESTRICT"))
    # draft -> confirmed (a child-safety reviewer) -> submitted -> finished; or retracted
    state: Mapped[str] = mapped_column(sa.String(12), nullable=False)
    plan: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    escalate: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    ncmec_report_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    confirmed_by: Mapped[str | None] = mapped_column(sa.String(200))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)

    files: Mapped[list[NcmecReportFile]] = relationship(lazy="selectin", order_by="NcmecReportFile.id")


class NcmecReportFile(Base):
    """One reported file of a report: the content it shows and, once staydown holds it, the vault
    item that is uploaded. A row with no evidence item waits for the platform to provide the file
    (`file_request_id`), unless a child-safety specialist decided, with reasons, to file without it."""

    __tablename__ = "ncmec_report_files"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ncmec_reports.id", ondelete="CASCADE"), nullable=False, index=True
    )
    evidence_item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("evidence_items.id", ondelete="RESTRICT"))
    content_id: Mapped[int | None] = mapped_column(sa.ForeignKey("platform_content.id", ondelete="RESTRICT"))
    file_request_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("file_requests.id", ondelete="RESTRICT"), index=True
    )
    waived_reason: Mapped[str | None] = mapped_column(sa.Text)
    waived_by: Mapped[str | None] = mapped_column(sa.String(200))
    waived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ncmec_file_id: Mapped[str | None] = mapped_column(sa.String(100))
    md5: Mapped[str | None] = mapped_column(sa.String(32))
    uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fileinfo_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    viewed_by_esp: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)


class NcaReport(Base):
    """A report to the UK National Crime Agency (UK-6): one per reported account of a case."""

    __tablename__ = "nca_reports"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="RESTRICT"), nullable=False, index=True)
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("platform_accounts.id", ondelete="RESTRICT"))
    # draft -> confirmed (a child-safety reviewer) -> opened (the NCA holds it) -> finished (submitted)
    state: Mapped[str] = mapped_column(sa.String(12), nullable=False, index=True)
    # What will be sent, gathered at drafting; the document is built from it at confirmation.
    plan: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    priority: Mapped[str] = mapped_column(sa.String(10), nullable=False)  # urgent | standard
    priority_reason: Mapped[str | None] = mapped_column(sa.Text)
    # The key the NCA knows this report by (a new one after the NCA loses an unfinished report).
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100))
    # The exact bytes sent: a repeated create must send them again, and they are the record of
    # what was reported.
    document: Mapped[str | None] = mapped_column(sa.Text)
    nca_report_id: Mapped[str | None] = mapped_column(sa.String(100))
    nca_reference: Mapped[str | None] = mapped_column(sa.String(100))
    confirmed_by: Mapped[str | None] = mapped_column(sa.String(200))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    receipt: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)

    files: Mapped[list[NcaReportFile]] = relationship(lazy="selectin", order_by="NcaReportFile.id")


class NcaReportFile(Base):
    __tablename__ = "nca_report_files"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        sa.ForeignKey("nca_reports.id", ondelete="CASCADE"), nullable=False, index=True
    )
    evidence_item_id: Mapped[int] = mapped_column(
        sa.ForeignKey("evidence_items.id", ondelete="RESTRICT"), nullable=False
    )
    file_ref: Mapped[str] = mapped_column(sa.String(100), nullable=False)  # the document's name for it
    nca_file_id: Mapped[str | None] = mapped_column(sa.String(100))
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    viewed_by_provider: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)


class FileRequest(Base):
    """A request to the platform for a reported file staydown never held (a `/v1/match` detection,
    content confirmed from a report). Delivered as a `provide_file` action (webhook and pull feed);
    answered by `POST /v1/evidence` naming the request, or refused by acknowledging that action
    `failed`. The reports that need the file wait for it until `due_at`, then alert child safety."""

    __tablename__ = "file_requests"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    content_id: Mapped[int] = mapped_column(sa.ForeignKey("platform_content.id", ondelete="RESTRICT"), nullable=False)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    # The action that carries the request to the platform (kind provide_file).
    action_id: Mapped[int | None] = mapped_column(sa.ForeignKey("enforcement_actions.id", ondelete="SET NULL"))
    # pending -> provided | unavailable (the platform said it cannot) | withdrawn (no longer needed)
    state: Mapped[str] = mapped_column(sa.String(12), nullable=False)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    requested_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answer: Mapped[str | None] = mapped_column(sa.String(2000))
    evidence_item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("evidence_items.id", ondelete="SET NULL"))
    # The overdue alert went out (once).
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.Index("ix_file_requests_content_state", "content_id", "state"),
        sa.Index("ix_file_requests_state_due", "state", "due_at"),
    )


class AuthorityNotification(Base):
    """DSA Art. 18: suspicion of a crime threatening life or safety, notified to a member state."""

    __tablename__ = "authority_notifications"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="RESTRICT"), nullable=False, index=True)
    member_state: Mapped[str] = mapped_column(sa.String(2), nullable=False)
    authority: Mapped[str] = mapped_column(sa.String(300), nullable=False)
    channel: Mapped[str] = mapped_column(sa.String(300), nullable=False)
    body: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LawEnforcementRequest(Base):
    __tablename__ = "law_enforcement_requests"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)  # preservation | disclosure | destruction
    agency: Mapped[str] = mapped_column(sa.String(300), nullable=False)
    legal_process: Mapped[str] = mapped_column(sa.Text, nullable=False)  # e.g. "18 U.S.C. 2703(f) letter ..."
    reference: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id", ondelete="SET NULL"))
    item_ids: Mapped[list[int]] = mapped_column(sa.JSON, nullable=False, default=list)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    recorded_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    outcome: Mapped[str | None] = mapped_column(sa.Text)
