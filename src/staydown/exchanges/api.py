"""HTTP API for hash exchanges: the exchanges configured, and sharing our confirmed hashes out
(proposed by whoever curates banks, approved only by a person holding legal's `exchanges:share`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from staydown.actors import Actor
from staydown.errors import NotFound
from staydown.exchanges import feedback
from staydown.exchanges.actions import exchange_by_name, statuses
from staydown.exchanges.kinds import kind_of
from staydown.exchanges.models import Exchange, ExchangeSubmission
from staydown.http import DbSession, require
from staydown.limits import DbId
from staydown.matching.banks import entry_by_id
from staydown.matching.models import BankEntry
from staydown.staff.permissions import Permission

router = APIRouter(prefix="/v1/exchanges", tags=["exchanges"])

Reader = Annotated[Actor, Depends(require(Permission.BANKS_READ))]
Proposer = Annotated[Actor, Depends(require(Permission.BANKS_WRITE))]
Approver = Annotated[Actor, Depends(require(Permission.EXCHANGES_SHARE))]
ExchangeName = Annotated[str, Path(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
ShareState = Literal["awaiting_approval", "queued", "sent", "refused", "unsupported"]


class ExchangeOut(BaseModel):
    name: str
    api: str
    title: str
    bank: str
    enabled: bool
    state: str
    fetching: bool
    last_success_at: datetime | None
    records_live: int
    records_deleted: int
    entries_enabled: int
    takes_shares: bool
    shares_awaiting_approval: int


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bank_entry_id: DbId = Field(description="an enabled original entry of one of our banks (not a variant)")
    case_id: DbId | None = Field(
        default=None, description="the case that confirmed the item, when the entry does not name one"
    )


class ShareOut(BaseModel):
    id: int
    exchange: str
    state: str = Field(
        description="awaiting_approval, queued (approved, waiting for the worker), sent, refused "
        "(the partner said no: see error) or unsupported"
    )
    bank: str
    bank_entry_id: int
    signal_type: str
    signal: str
    case_id: int | None
    requested_by: str
    approved_by: str | None
    approved_at: datetime | None
    sent_at: datetime | None
    error: str | None
    created_at: datetime

    @classmethod
    def of(cls, submission: ExchangeSubmission, exchange: Exchange, entry: BankEntry) -> ShareOut:
        return cls(
            id=submission.id,
            exchange=exchange.name,
            state=submission.state,
            bank=entry.bank.name,
            bank_entry_id=entry.id,
            signal_type=entry.signal_type,
            signal=entry.signal,
            case_id=submission.case_id,
            requested_by=submission.requested_by,
            approved_by=submission.approved_by,
            approved_at=submission.approved_at,
            sent_at=submission.sent_at,
            error=submission.error,
            created_at=submission.created_at,
        )


def _share_out(db: DbSession, submission: ExchangeSubmission) -> ShareOut:
    exchange = db.get(Exchange, submission.exchange_id)
    entry = db.get(BankEntry, submission.bank_entry_id)
    assert exchange is not None and entry is not None
    return ShareOut.of(submission, exchange, entry)


def _share_of(db: DbSession, exchange: Exchange, share_id: int) -> ExchangeSubmission:
    """The exchange's share, or 404 (a feedback submission, or another exchange's, is not one)."""
    submission = db.get(ExchangeSubmission, share_id)
    if submission is None or submission.kind != "share" or submission.exchange_id != exchange.id:
        raise NotFound(f"exchange {exchange.name} has no share {share_id}")
    return submission


@router.get("", response_model=list[ExchangeOut])
def list_exchanges(db: DbSession, _: Reader) -> list[ExchangeOut]:
    """Every exchange with its state and counts (no configuration, no credentials)."""
    waiting = dict(
        db.execute(
            sa.select(ExchangeSubmission.exchange_id, sa.func.count())
            .where(ExchangeSubmission.kind == "share", ExchangeSubmission.state == "awaiting_approval")
            .group_by(ExchangeSubmission.exchange_id)
        ).all()
    )
    return [
        ExchangeOut(
            name=s.exchange.name,
            api=s.exchange.api,
            title=kind_of(s.exchange.api).title,
            bank=s.bank,
            enabled=s.exchange.enabled,
            state="fetching" if s.fetching else s.exchange.state,
            fetching=s.fetching,
            last_success_at=s.exchange.last_success_at,
            records_live=s.records_live,
            records_deleted=s.records_deleted,
            entries_enabled=s.entries_enabled,
            takes_shares=kind_of(s.exchange.api).share,
            shares_awaiting_approval=int(waiting.get(s.exchange.id, 0)),
        )
        for s in statuses(db)
    ]


@router.post("/{name}/shares", response_model=ShareOut, status_code=201)
def propose_share(name: ExchangeName, body: ShareIn, db: DbSession, actor: Proposer) -> ShareOut:
    """Propose sharing one of our confirmed hashes with the partner. Nothing is sent until legal
    approves. 422: the exchange takes no shares, the entry came from that exchange, is disabled or a
    variant, or names no case; 404: no such exchange or entry. Proposing the same entry again
    answers the existing share."""
    exchange = exchange_by_name(db, name)
    submission = feedback.propose_share(
        db, actor=actor, exchange=exchange, entry=entry_by_id(db, body.bank_entry_id), case_id=body.case_id
    )
    return _share_out(db, submission)


@router.get("/{name}/shares", response_model=list[ShareOut])
def list_shares(
    name: ExchangeName,
    db: DbSession,
    _: Approver,
    state: Annotated[ShareState | None, Query(description="only shares in this state")] = None,
    before: Annotated[DbId | None, Query(description="only shares with a smaller id (the next page)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ShareOut]:
    """The exchange's shares, newest first: what awaits approval, and what was sent."""
    exchange = exchange_by_name(db, name)
    return [
        ShareOut.of(s, e, entry)
        for s, e, entry in feedback.shares(db, exchange=exchange, state=state, limit=limit, before_id=before)
    ]


@router.get("/{name}/shares/{share_id}", response_model=ShareOut)
def get_share(name: ExchangeName, share_id: DbId, db: DbSession, _: Approver) -> ShareOut:
    return _share_out(db, _share_of(db, exchange_by_name(db, name), share_id))


@router.post("/{name}/shares/{share_id}/approve", response_model=ShareOut)
def approve_share(name: ExchangeName, share_id: DbId, db: DbSession, actor: Approver) -> ShareOut:
    """Approve a share: the worker sends it after this commits. Only a person (a staff session)
    holding `exchanges:share` approves; 409 when the share is not awaiting approval."""
    submission = _share_of(db, exchange_by_name(db, name), share_id)
    return _share_out(db, feedback.approve_share(db, actor=actor, submission=submission))
