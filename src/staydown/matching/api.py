"""HTTP API for hash banks: list, create, add, import and export entries, disable false positives."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from staydown.actors import Actor
from staydown.errors import InvalidInput
from staydown.http import DbSession, require
from staydown.limits import CsvText, DbId
from staydown.matching import banks
from staydown.matching.models import Bank, BankEntry, BankSource, BankUse, MatchAction, SignalType
from staydown.matching.vpdq import MAX_VPDQ_TEXT
from staydown.staff.permissions import Permission

router = APIRouter(prefix="/v1", tags=["banks"])

BankReader = Annotated[Actor, Depends(require(Permission.BANKS_READ))]
BankWriter = Annotated[Actor, Depends(require(Permission.BANKS_WRITE))]
BankName = Annotated[str, Path(min_length=1, max_length=80)]
MAX_ENTRIES_PER_REQUEST = 10_000


class BankIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=80)
    source: BankSource
    permitted_purpose: str = Field(min_length=1, max_length=2000)
    policy_id: str = Field(min_length=1, max_length=80)
    action_on_match: MatchAction = MatchAction.hold
    pdq_threshold: int = Field(default=31, ge=0, le=31)
    allowed_uses: list[BankUse] = Field(default_factory=lambda: list(BankUse), max_length=len(BankUse))
    confirmed_material: bool = False
    description: str = Field(default="", max_length=2000)


class BankOut(BaseModel):
    name: str
    source: str
    permitted_purpose: str
    policy_id: str
    action_on_match: str
    pdq_threshold: int
    allowed_uses: list[str]
    confirmed_material: bool
    enabled: bool
    description: str
    entries: int
    created_at: datetime

    @classmethod
    def of(cls, bank: Bank, entries: int) -> BankOut:
        return cls(
            name=bank.name,
            source=bank.source,
            permitted_purpose=bank.permitted_purpose,
            policy_id=bank.policy_id,
            action_on_match=bank.action_on_match,
            pdq_threshold=bank.pdq_threshold,
            allowed_uses=bank.allowed_uses,
            confirmed_material=bank.confirmed_material,
            enabled=bank.enabled,
            description=bank.description,
            entries=entries,
            created_at=bank.created_at,
        )


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    signal_type: SignalType
    # A digest or PDQ is 32-64 hex characters; a vPDQ is a frame list (threatexchange's JSON form).
    signal: str = Field(min_length=1, max_length=MAX_VPDQ_TEXT)
    note: str = Field(default="", max_length=500)


class EntriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[EntryIn] = Field(min_length=1, max_length=MAX_ENTRIES_PER_REQUEST)
    source_ref: str | None = Field(default=None, max_length=300)


class AddOut(BaseModel):
    added: int
    duplicates: int
    entry_ids: list[int]


class ImportOut(BaseModel):
    added: int
    duplicates: int
    rejected: list[str]


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class EntryOut(BaseModel):
    id: int
    bank: str
    signal_type: str
    signal: str
    variant: str
    note: str
    enabled: bool
    added_by: str
    added_at: datetime
    source_case_id: int | None
    source_ref: str | None
    disabled_reason: str | None


def _entry_out(entry: BankEntry) -> EntryOut:
    return EntryOut(
        id=entry.id,
        bank=entry.bank.name,
        signal_type=entry.signal_type,
        signal=entry.signal,
        variant=entry.variant,
        note=entry.note,
        enabled=entry.enabled,
        added_by=entry.added_by,
        added_at=entry.added_at,
        source_case_id=entry.source_case_id,
        source_ref=entry.source_ref,
        disabled_reason=entry.disabled_reason,
    )


def _counts(db: DbSession) -> dict[int, int]:
    # Active entries (items), as the CLI and the console count them (banks.entry_counts).
    return {bank_id: c.active for bank_id, c in banks.entry_counts(db).items()}


@router.get("/banks", response_model=list[BankOut])
def list_banks(db: DbSession, _: BankReader) -> list[BankOut]:
    counts = _counts(db)
    return [BankOut.of(b, counts.get(b.id, 0)) for b in db.execute(sa.select(Bank).order_by(Bank.name)).scalars()]


@router.post("/banks", response_model=BankOut, status_code=201)
def create_bank(body: BankIn, db: DbSession, actor: BankWriter) -> BankOut:
    bank = banks.create_bank(
        db,
        actor=actor,
        name=body.name,
        source=body.source.value,
        permitted_purpose=body.permitted_purpose,
        policy_id=body.policy_id,
        action_on_match=body.action_on_match.value,
        pdq_threshold=body.pdq_threshold,
        allowed_uses=[u.value for u in body.allowed_uses],
        confirmed_material=body.confirmed_material,
        description=body.description,
    )
    return BankOut.of(bank, 0)


@router.post("/banks/{name}/entries", response_model=AddOut)
def add_entries(name: BankName, body: EntriesIn, db: DbSession, actor: BankWriter) -> AddOut:
    bank = banks.bank_by_name(db, name)
    result = banks.add_entries(
        db,
        actor=actor,
        bank=bank,
        source_ref=body.source_ref,
        entries=[banks.NewEntry(e.signal_type.value, e.signal, e.note) for e in body.entries],
    )
    return AddOut(added=result.added, duplicates=result.duplicates, entry_ids=[e.id for e in result.entries])


@router.post("/banks/{name}/import", response_model=ImportOut)
def import_csv(
    name: BankName,
    db: DbSession,
    actor: BankWriter,
    csv_text: Annotated[
        CsvText,
        Body(
            media_type="text/csv",
            description="our CSV, threatexchange's dataset CSV, or 'type signal' lines "
            "(text: no NUL or other control characters than tab and line ends)",
        ),
    ],
    source_ref: Annotated[str, Query(min_length=1, max_length=300)] = "api-import",
) -> ImportOut:
    bank = banks.bank_by_name(db, name)
    entries, problems, _ = banks.parse_bank_file(csv_text)
    if not entries and problems:
        raise InvalidInput("no row of the CSV could be read", details=problems[:100])
    report = banks.import_entries(db, actor=actor, bank=bank, entries=entries, problems=problems, source_ref=source_ref)
    return ImportOut(added=report.added, duplicates=report.duplicates, rejected=report.rejected[:1000])


@router.get("/banks/{name}/export", response_class=PlainTextResponse)
def export_csv(
    name: BankName,
    db: DbSession,
    actor: BankReader,
    format: Annotated[str, Query(max_length=10, pattern="^(csv|tx-csv|tx-lines)$")] = "csv",
    include_variants: bool = False,
    include_disabled: bool = False,
) -> PlainTextResponse:
    bank = banks.bank_by_name(db, name)
    out = io.StringIO()
    banks.export_bank(
        db,
        actor=actor,
        bank=bank,
        out=out,
        fmt=format,
        include_variants=include_variants,
        include_disabled=include_disabled,
    )
    return PlainTextResponse(out.getvalue(), media_type="text/csv")


@router.get("/bank-entries/{entry_id}", response_model=EntryOut)
def get_entry(entry_id: DbId, db: DbSession, _: BankReader) -> EntryOut:
    return _entry_out(banks.entry_by_id(db, entry_id))


@router.post("/bank-entries/{entry_id}/disable", response_model=EntryOut)
def disable_entry(entry_id: DbId, body: ReasonIn, db: DbSession, actor: BankWriter) -> EntryOut:
    return _entry_out(banks.disable_entry(db, actor=actor, entry=banks.entry_by_id(db, entry_id), reason=body.reason))


@router.post("/bank-entries/{entry_id}/enable", response_model=EntryOut)
def enable_entry(entry_id: DbId, body: ReasonIn, db: DbSession, actor: BankWriter) -> EntryOut:
    return _entry_out(banks.enable_entry(db, actor=actor, entry=banks.entry_by_id(db, entry_id), reason=body.reason))
