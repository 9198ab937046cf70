"""Read-only queries behind the console's bank, NCMEC, evidence, staff, key and audit pages."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.audit.models import AuditEvent
from staydown.authorities.models import FileRequest, NcaReport, NcmecReport
from staydown.authorities.nca import STATES
from staydown.db import get_or_404
from staydown.errors import InvalidInput
from staydown.evidence.actions import holds_in_force
from staydown.evidence.models import DestructionRequest, EvidenceItem, LegalHold
from staydown.i18n import gettext
from staydown.intake.models import TrustedFlagger
from staydown.matching.banks import EntryCounts, entry_counts
from staydown.matching.models import Bank, BankEntry
from staydown.staff.models import ApiClient, StaffUser

T = TypeVar("T")
PER_PAGE = 50
MAX_PAGE = 100_000
NCMEC_STATES = ("draft", "confirmed", "submitted", "finished", "retracted")
EVIDENCE_STATES = ("stored", "purged", "destroyed")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def check_page(page: int) -> int:
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(gettext("page is a number from 1 to %(max_page)s", max_page=MAX_PAGE))
    return page


def _paged(db: Session, stmt: sa.Select[Any], page: int, per_page: int = PER_PAGE) -> Page[Any]:
    check_page(page)
    total = db.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = list(db.execute(stmt.limit(per_page).offset((page - 1) * per_page)).scalars())
    return Page(items, page, per_page, total)


# -- banks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BankRow:
    bank: Bank
    enabled_entries: int
    disabled_entries: int


def bank_rows(db: Session) -> list[BankRow]:
    counts = entry_counts(db)  # the one count of bank entries (CLI, API, console)
    return [
        BankRow(b, counts.get(b.id, EntryCounts()).active, counts.get(b.id, EntryCounts()).disabled)
        for b in db.execute(sa.select(Bank).order_by(Bank.name)).scalars()
    ]


def bank_entries(db: Session, bank: Bank, *, page: int, show: str = "all") -> Page[BankEntry]:
    stmt = sa.select(BankEntry).where(BankEntry.bank_id == bank.id)
    if show == "enabled":
        stmt = stmt.where(BankEntry.enabled.is_(True))
    elif show == "disabled":
        stmt = stmt.where(BankEntry.enabled.is_(False))
    elif show != "all":
        raise InvalidInput(gettext("show is one of all, enabled, disabled"))
    return _paged(db, stmt.order_by(BankEntry.id.desc()), page)


# -- NCMEC ------------------------------------------------------------------------------------


def ncmec_counts(db: Session) -> dict[str, int]:
    found = dict(db.execute(sa.select(NcmecReport.state, sa.func.count()).group_by(NcmecReport.state)).all())
    return {state: found.get(state, 0) for state in NCMEC_STATES}


def ncmec_reports(db: Session, *, state: str | None, page: int) -> Page[NcmecReport]:
    stmt = sa.select(NcmecReport)
    if state:
        if state not in NCMEC_STATES:
            raise InvalidInput(gettext("state is one of %(ncmec_states)s", ncmec_states=", ".join(NCMEC_STATES)))
        stmt = stmt.where(NcmecReport.state == state)
    return _paged(db, stmt.order_by(NcmecReport.id.desc()), page)


def ncmec_report(db: Session, report_id: int) -> NcmecReport:
    return get_or_404(db, NcmecReport, report_id, "NCMEC report")


def file_requests_of(db: Session, report: NcmecReport) -> dict[int, Any]:
    """The requests to the platform for the report's files, by id."""
    ids = [f.file_request_id for f in report.files if f.file_request_id]
    if not ids:
        return {}
    return {q.id: q for q in db.execute(sa.select(FileRequest).where(FileRequest.id.in_(ids))).scalars()}


# -- evidence ---------------------------------------------------------------------------------


def evidence_items(db: Session, *, state: str | None, case_id: int | None, page: int) -> Page[EvidenceItem]:
    stmt = sa.select(EvidenceItem)
    if state:
        if state not in EVIDENCE_STATES:
            raise InvalidInput(
                gettext("state is one of %(evidence_states)s", evidence_states=", ".join(EVIDENCE_STATES))
            )
        stmt = stmt.where(EvidenceItem.state == state)
    if case_id is not None:
        stmt = stmt.where(EvidenceItem.case_id == case_id)
    return _paged(db, stmt.order_by(EvidenceItem.id.desc()), page)


def active_holds(db: Session, *, at: datetime, item_id: int | None = None, limit: int = 200) -> list[LegalHold]:
    """Holds in force at `at`: not released and not yet past their end."""
    return holds_in_force(db, item_id=item_id, at=at, limit=limit)


def holds_of(db: Session, item_id: int) -> list[LegalHold]:
    return list(db.execute(sa.select(LegalHold).where(LegalHold.item_id == item_id).order_by(LegalHold.id)).scalars())


def hold_by_id(db: Session, hold_id: int) -> LegalHold:
    return get_or_404(db, LegalHold, hold_id, "legal hold")


def pending_destructions(db: Session, *, item_id: int | None = None) -> list[DestructionRequest]:
    stmt = sa.select(DestructionRequest).where(DestructionRequest.executed_at.is_(None))
    if item_id is not None:
        stmt = stmt.where(DestructionRequest.item_id == item_id)
    return list(db.execute(stmt.order_by(DestructionRequest.id)).scalars())


def destructions_of(db: Session, item_id: int) -> list[DestructionRequest]:
    return list(
        db.execute(
            sa.select(DestructionRequest).where(DestructionRequest.item_id == item_id).order_by(DestructionRequest.id)
        ).scalars()
    )


def destruction_request(db: Session, request_id: int) -> DestructionRequest:
    return get_or_404(db, DestructionRequest, request_id, "destruction request")


# -- trusted flaggers, staff, API keys --------------------------------------------------------


def trusted_flaggers(db: Session) -> list[TrustedFlagger]:
    return list(db.execute(sa.select(TrustedFlagger).order_by(TrustedFlagger.name)).scalars())


def staff_users(db: Session) -> list[StaffUser]:
    return list(db.execute(sa.select(StaffUser).order_by(StaffUser.is_active.desc(), StaffUser.username)).scalars())


def staff_user(db: Session, user_id: int) -> StaffUser:
    return get_or_404(db, StaffUser, user_id, "staff user")


def api_clients(db: Session) -> list[ApiClient]:
    return list(
        db.execute(sa.select(ApiClient).order_by(ApiClient.revoked_at.is_not(None), ApiClient.id.desc())).scalars()
    )


def api_client(db: Session, client_id: int) -> ApiClient:
    return get_or_404(db, ApiClient, client_id, "API client")


# -- audit ------------------------------------------------------------------------------------


def audit_events(
    db: Session, *, page: int, subject_type: str = "", subject_id: str = "", tag: str = ""
) -> Page[AuditEvent]:
    """Newest first. `tag` matches a whole tag or a prefix ending at a colon ("evidence:" or
    "evidence:hold"), so a reader can narrow from a domain to one kind of event."""
    stmt = sa.select(AuditEvent)
    if subject_type:
        stmt = stmt.where(AuditEvent.subject_type == subject_type)
    if subject_id:
        stmt = stmt.where(AuditEvent.subject_id == subject_id)
    if tag:
        prefix = tag if tag.endswith(":") else tag + ":"
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(sa.or_(AuditEvent.tag == tag, AuditEvent.tag.like(escaped + "%", escape="\\")))
    return _paged(db, stmt.order_by(AuditEvent.seq.desc()), page)


def custody_log(db: Session, *, subject_type: str, subject_id: int | str, limit: int = 200) -> list[AuditEvent]:
    return list(
        db.execute(
            sa.select(AuditEvent)
            .where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == str(subject_id))
            .order_by(AuditEvent.seq.desc())
            .limit(limit)
        ).scalars()
    )


# -- UK National Crime Agency -------------------------------------------------------------------


def nca_counts(db: Session) -> dict[str, int]:
    found = dict(db.execute(sa.select(NcaReport.state, sa.func.count()).group_by(NcaReport.state)).all())
    return {state: found.get(state, 0) for state in STATES}


def nca_reports(db: Session, *, state: str | None, page: int) -> Page[Any]:
    stmt = sa.select(NcaReport)
    if state:
        if state not in STATES:
            raise InvalidInput(gettext("state is one of %(states)s", states=", ".join(STATES)))
        stmt = stmt.where(NcaReport.state == state)
    return _paged(db, stmt.order_by(NcaReport.id.desc()), page)


def nca_report(db: Session, report_id: int) -> Any:
    found = get_or_404(db, NcaReport, report_id, "NCA report")
    return found
