"""Keep evidence locked: store encrypted, show only to those who need it and say why, hold it as
long as the law says, purge it when nothing holds it, destroy it only with two people."""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor, ActorKind
from staydown.audit import AuditTag
from staydown.db import get_or_404, now
from staydown.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from staydown.evidence.blobs import BlobStore, FileBlobStore
from staydown.evidence.crypto import MasterKeys, open_blob, seal, unwrap, wrap
from staydown.evidence.models import DestructionRequest, EvidenceItem, LegalHold
from staydown.jsonutil import canonical
from staydown.staff.permissions import Permission

log = logging.getLogger(__name__)

NCMEC_HOLD = timedelta(days=365)
MAX_CONTEXT_BYTES = 256 * 1024

# What a law-enforcement request to destroy a visual depiction ends (18 U.S.C. 2258B(c)(2): the
# provider shall "ensure that any such visual depiction is permanently destroyed, upon a request
# from a law enforcement agency"): the preservation that a finished CyberTipline report is
# "treated as a request" for (2258A(h)(1)), and the provider's own voluntary holds (2258A(h)(5)).
# What it does not end: another preservation request (18 U.S.C. 2703(f), whichever agency made
# it: 2258A(h)(4) leaves 2703 untouched, and one agency cannot withdraw another's), and any other
# hold on legal process. Those are released on the record by legal, or run out. docs/decisions.md
# 2026-12-07 gives the reasoning.
LE_DESTRUCTION_OVERRIDES = frozenset({"ncmec_report", "voluntary"})


@dataclass(frozen=True)
class Vault:
    keys: MasterKeys
    store: BlobStore
    retention: timedelta = timedelta(days=90)


def vault_from_settings(settings: Any) -> Vault:
    keys = MasterKeys.from_base64(
        settings.vault_master_key.get_secret_value(),
        [k.get_secret_value() for k in settings.vault_previous_master_keys],
    )
    return Vault(keys, FileBlobStore(settings.vault_dir), timedelta(days=settings.evidence_retention_days))


def _aad(item_id: int) -> bytes:
    return f"staydown-evidence:{item_id}".encode()


def _require(actor: Actor, permission: Permission) -> None:
    # CSAM-5: report contents go only to those whose role needs them.
    if actor.kind is ActorKind.system:
        return
    if permission.value not in actor.permissions:
        raise PermissionDenied(
            f"the evidence vault needs the '{permission.value}' permission (child-safety specialists and legal)"
        )


def store_item(
    db: Session,
    *,
    actor: Actor,
    vault: Vault,
    data: bytes,
    content_id: int | None,
    case_id: int | None,
    context: dict[str, Any],
    media_type: str = "application/octet-stream",
    original_filename: str | None = None,
) -> EvidenceItem:
    """Encrypt in memory and write only ciphertext. Retention starts; holds come later."""
    if not data:
        raise InvalidInput("evidence with no bytes")
    if len(canonical(context).encode()) > MAX_CONTEXT_BYTES:
        raise InvalidInput(f"evidence context is larger than {MAX_CONTEXT_BYTES} bytes of JSON")
    when = now(db)
    item = EvidenceItem(
        content_id=content_id,
        case_id=case_id,
        master_key_id=vault.keys.current_id,
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        size=len(data),
        media_type=media_type[:100],
        original_filename=(original_filename or None),
        context=context,
        state="stored",
        retention_until=when + vault.retention,
        created_at=when,
        created_by=actor.ref,
    )
    db.add(item)
    db.flush()
    blob, wrapped = seal(data, keys=vault.keys, item_aad=_aad(item.id))
    item.blob_key = vault.store.put(blob)
    item.wrapped_key = wrapped
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.EVIDENCE_STORE,
        subject_type="evidence_item",
        subject_id=item.id,
        data={"content_id": content_id, "case_id": case_id, "sha256": item.sha256, "size": item.size},
    )
    return item


def item_by_id(db: Session, item_id: int) -> EvidenceItem:
    return get_or_404(db, EvidenceItem, item_id, "evidence item")


def read_item(
    db: Session, *, actor: Actor, vault: Vault, item: EvidenceItem, purpose: str, export: bool = False
) -> bytes:
    """Decrypt for a person with the role and a stated purpose; every access is on the record,
    and a person's view is what later makes `fileViewedByEsp` true (NCMEC-3)."""
    _require(actor, Permission.EVIDENCE_ACCESS)
    if len(purpose.strip()) < 10:
        raise InvalidInput("state the purpose of this access (at least 10 characters)")
    if item.state != "stored" or item.blob_key is None or item.wrapped_key is None:
        raise Conflict(f"evidence item {item.id} is {item.state}")
    data = open_blob(
        vault.store.get(item.blob_key),
        item.wrapped_key,
        master=vault.keys.by_id(item.master_key_id),
        item_aad=_aad(item.id),
    )
    if actor.kind is ActorKind.staff and item.first_human_view_at is None:
        item.first_human_view_at = now(db)
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.EVIDENCE_EXPORT if export else AuditTag.EVIDENCE_VIEW,
        subject_type="evidence_item",
        subject_id=item.id,
        data={"purpose": purpose},
    )
    return data


def place_hold(
    db: Session,
    *,
    actor: Actor,
    item: EvidenceItem,
    kind: str,
    basis: str,
    until: datetime,
    starts_at: datetime | None = None,
) -> LegalHold:
    if actor.kind is ActorKind.staff:
        _require(actor, Permission.EVIDENCE_HOLDS)
    if len(basis.strip()) < 5:
        raise InvalidInput("a hold states its basis")
    if item.state != "stored":
        raise Conflict(f"evidence item {item.id} is {item.state}: nothing to hold")
    hold = LegalHold(
        item_id=item.id, kind=kind, basis=basis, starts_at=starts_at or now(db), until=until, created_by=actor.ref
    )
    db.add(hold)
    db.flush()
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.EVIDENCE_HOLD,
        subject_type="evidence_item",
        subject_id=item.id,
        data={"hold_id": hold.id, "kind": kind, "basis": basis, "until": until},
    )
    return hold


def release_hold(db: Session, *, actor: Actor, hold: LegalHold, reason: str) -> LegalHold:
    _require(actor, Permission.EVIDENCE_HOLDS)
    if hold.kind == "ncmec_report" and hold.until > now(db):
        raise RuleViolation("the one-year hold that follows an NCMEC report cannot be released early (CSAM-4)")
    if hold.kind == "nca_report" and hold.until > now(db):
        # The CSEA reporting regulations oblige the provider to keep what it reported (UK-6); like
        # NCMEC's year, it is not a hold a person may end early.
        raise RuleViolation(
            "the hold that follows a report to the UK National Crime Agency cannot be released early (UK-6)"
        )
    hold.released_at = now(db)
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.EVIDENCE_HOLD_RELEASE,
        subject_type="evidence_item",
        subject_id=hold.item_id,
        data={"hold_id": hold.id, "reason": reason},
    )
    return hold


def holds_in_force(
    db: Session, *, item_id: int | None = None, at: datetime | None = None, limit: int | None = None
) -> list[LegalHold]:
    """Holds in force (not released, not yet past their end) at `at` (now), soonest end first;
    of one item, or of all."""
    stmt = sa.select(LegalHold).where(LegalHold.released_at.is_(None), LegalHold.until > (at or now(db)))
    if item_id is not None:
        stmt = stmt.where(LegalHold.item_id == item_id)
    stmt = stmt.order_by(LegalHold.until, LegalHold.id)
    return list(db.execute(stmt.limit(limit) if limit else stmt).scalars())


def is_held(db: Session, item_id: int) -> bool:
    return bool(holds_in_force(db, item_id=item_id, limit=1))


def _holds_against(
    db: Session, item: EvidenceItem, *, law_enforcement: bool
) -> tuple[list[LegalHold], list[LegalHold]]:
    """The holds in force on `item`, split into those a destruction request ends and those that
    block it. Only a law-enforcement request (one naming the agency) ends any (CSAM-4, CSAM-6)."""
    holds = holds_in_force(db, item_id=item.id)
    ended = [h for h in holds if law_enforcement and h.kind in LE_DESTRUCTION_OVERRIDES]
    return ended, [h for h in holds if h not in ended]


def _refuse_if_held(db: Session, item: EvidenceItem, what: str, *, law_enforcement: bool = False) -> list[LegalHold]:
    """Preservation duties come first: a held item is not destroyed until its holds end or are
    released on the record (CSAM-4), except the holds a law-enforcement request to destroy ends
    (LE_DESTRUCTION_OVERRIDES), which are returned."""
    ended, blocking = _holds_against(db, item, law_enforcement=law_enforcement)
    if blocking:
        listed = "; ".join(f"hold {h.id} ({h.kind}) until {h.until.isoformat()}" for h in blocking)
        why = ""
        if law_enforcement:
            why = (
                " A law-enforcement request to destroy ends the hold of a finished CyberTipline report and "
                "voluntary holds, not another agency's preservation request (18 U.S.C. 2703(f)) or a hold on "
                "other legal process: legal releases those on the record once withdrawn."
            )
        raise RuleViolation(f"evidence item {item.id} is under a legal hold, so {what} is refused: {listed}.{why}")
    return ended


def _erase(db: Session, vault: Vault, item: EvidenceItem, state: str) -> None:
    # The ciphertext goes only once the row saying it is gone has committed: deleting it first
    # would leave a "stored" row with no data if the transaction rolled back.
    if item.blob_key:
        db.info.setdefault("after_commit", []).append(functools.partial(_delete_blob, vault.store, item.blob_key))
    item.blob_key = None
    item.wrapped_key = None  # without the data key, any copy of the ciphertext is noise
    item.state = state
    item.gone_at = now(db)


def _delete_blob(store: BlobStore, key: str) -> None:
    try:
        store.delete(key)
    except Exception:  # the data key is already erased: what is left can't be read
        log.exception("evidence blob %s could not be deleted after commit; its data key is gone", key)


def purge_expired(db: Session, *, actor: Actor, vault: Vault, limit: int = 500) -> int:
    """Retention: purge items past their retention date that nothing holds. Held items are never
    touched, whatever their date (CSAM-4)."""
    when = now(db)
    candidates = (
        db.execute(
            sa.select(EvidenceItem)
            .where(EvidenceItem.state == "stored", EvidenceItem.retention_until <= when)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    purged = 0
    for item in candidates:
        if is_held(db, item.id):
            continue
        _erase(db, vault, item, "purged")
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.EVIDENCE_PURGE,
            subject_type="evidence_item",
            subject_id=item.id,
            data={"retention_until": item.retention_until},
        )
        purged += 1
    return purged


def request_destruction(
    db: Session,
    *,
    actor: Actor,
    item: EvidenceItem,
    basis: str,
    agency: str | None = None,
    reference: str | None = None,
) -> DestructionRequest:
    """First person: record law enforcement's request to destroy (CSAM-6). Naming the `agency`
    (and its `reference`) makes it a request under 18 U.S.C. 2258B(c)(2), which will end the
    holds in LE_DESTRUCTION_OVERRIDES when a second person approves it; without the agency every
    hold blocks it, as for any other destruction."""
    _require(actor, Permission.LAW_ENFORCEMENT)
    if item.state != "stored":
        raise Conflict(f"evidence item {item.id} is {item.state}: there is nothing to destroy")
    agency = agency.strip() if agency else None
    if agency is not None and len(agency) < 2:
        raise InvalidInput("name the law-enforcement agency that asked")
    ending = _refuse_if_held(db, item, "destruction", law_enforcement=agency is not None)
    if len(basis.strip()) < 20:
        raise InvalidInput("record the law-enforcement request: who asked, when, under what authority")
    request = DestructionRequest(
        item_id=item.id,
        requested_by=actor.ref,
        basis=basis,
        requested_at=now(db),
        agency=agency[:300] if agency else None,
        reference=reference.strip()[:200] if reference and reference.strip() else None,
    )
    db.add(request)
    db.flush()
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.EVIDENCE_DESTROY_REQUEST,
        subject_type="evidence_item",
        subject_id=item.id,
        data={
            "request_id": request.id,
            "basis": basis,
            "agency": request.agency,
            "reference": request.reference,
            "will_end_holds": [[h.id, h.kind] for h in ending],
        },
    )
    return request


def approve_destruction(db: Session, *, actor: Actor, vault: Vault, request: DestructionRequest) -> EvidenceItem:
    """Second person: a different legal or child-safety officer approves, and it is done. A
    law-enforcement request ends the CyberTipline report's preservation hold and voluntary holds
    first, each on the record; any other hold in force still refuses it."""
    _require(actor, Permission.EVIDENCE_ACCESS)
    if request.executed_at is not None:
        raise Conflict("this destruction was already carried out")
    if request.requested_by == actor.ref:
        raise RuleViolation("destruction needs two people: the approver must not be the requester")
    item = item_by_id(db, request.item_id)
    law_enforcement = request.agency is not None
    ended = _refuse_if_held(db, item, "destruction", law_enforcement=law_enforcement)
    when = now(db)
    for hold in ended:
        hold.released_at = when
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.EVIDENCE_HOLD_OVERRIDE,
            subject_type="evidence_item",
            subject_id=item.id,
            data={
                "hold_id": hold.id,
                "kind": hold.kind,
                "hold_basis": hold.basis,
                "destruction_request_id": request.id,
                "agency": request.agency,
                "reference": request.reference,
                "law": "18 U.S.C. 2258B(c)(2)",
            },
        )
    request.approved_by = actor.ref
    request.executed_at = when
    _erase(db, vault, item, "destroyed")
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.EVIDENCE_DESTROY,
        subject_type="evidence_item",
        subject_id=item.id,
        data={
            "request_id": request.id,
            "requested_by": request.requested_by,
            "agency": request.agency,
            "ended_holds": [h.id for h in ended],
        },
    )
    return item


def rotate_master_key(db: Session, *, actor: Actor, vault: Vault, batch: int = 1000) -> int:
    """Re-wrap every data key under the current master key; the blobs themselves are untouched."""
    rewrapped = 0
    items = (
        db.execute(
            sa.select(EvidenceItem)
            .where(EvidenceItem.state == "stored", EvidenceItem.master_key_id != vault.keys.current_id)
            .limit(batch)
        )
        .scalars()
        .all()
    )
    for item in items:
        data_key = unwrap(item.wrapped_key, vault.keys.by_id(item.master_key_id), _aad(item.id))
        item.wrapped_key = wrap(data_key, vault.keys.current, _aad(item.id))
        item.master_key_id = vault.keys.current_id
        rewrapped += 1
    if rewrapped:
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.EVIDENCE_REWRAP,
            subject_type="vault",
            subject_id="master_key",
            data={"items": rewrapped, "to": vault.keys.current_id},
        )
    return rewrapped
