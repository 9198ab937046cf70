"""The evidence vault's primitives, used by every package that keeps evidence: store a file encrypted,
find it, read it on the record, and put it under a legal hold. Releasing holds, purging, destroying and
re-keying are the vault's own state changes (evidence.actions)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor, ActorKind
from staydown.audit import AuditTag
from staydown.db import get_or_404, now
from staydown.errors import Conflict, InvalidInput, PermissionDenied
from staydown.evidence.blobs import BlobStore, FileBlobStore
from staydown.evidence.crypto import MasterKeys, open_blob, seal
from staydown.evidence.models import EvidenceItem, LegalHold
from staydown.jsonutil import canonical
from staydown.staff.permissions import Permission

MAX_CONTEXT_BYTES = 256 * 1024


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


def item_aad(item_id: int) -> bytes:
    return f"staydown-evidence:{item_id}".encode()


def require_permission(actor: Actor, permission: Permission) -> None:
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
    blob, wrapped = seal(data, keys=vault.keys, item_aad=item_aad(item.id))
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
    require_permission(actor, Permission.EVIDENCE_ACCESS)
    if len(purpose.strip()) < 10:
        raise InvalidInput("state the purpose of this access (at least 10 characters)")
    if item.state != "stored" or item.blob_key is None or item.wrapped_key is None:
        raise Conflict(f"evidence item {item.id} is {item.state}")
    data = open_blob(
        vault.store.get(item.blob_key),
        item.wrapped_key,
        master=vault.keys.by_id(item.master_key_id),
        item_aad=item_aad(item.id),
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
        require_permission(actor, Permission.EVIDENCE_HOLDS)
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
