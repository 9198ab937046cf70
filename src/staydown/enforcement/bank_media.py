"""Stay-down from the original itself (X-5, TID-3): a confirmed item's bank-side variants (crops,
slight turns, its picture cut out of a caption or a screenshot) are built from the vaulted upload,
so the sweep and later uploads find cropped and captioned copies, not only near-identical ones.

On confirmation `bank_case_items` banks what the scans kept (hashes and query variants) at once,
and queues this job; the sweep job for the case shares its ordering key, so it runs after this one
has banked the variants. The job runs outside any transaction of the worker's (a batch handler):
a short unit of work reads the vaulted bytes (audited as a system access with its purpose), the
decode and hashing run with no transaction open (on SQLite no write lock waits on media), and a
second short unit of work adds the entries. An item that cannot be decoded is recorded and skipped:
the sweep must not wait on it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import SYSTEM
from staydown.audit import AuditTag
from staydown.cases.queries import case_by_id, case_contents
from staydown.delivery.outbox import JobContext, enqueue
from staydown.enforcement.own_banks import own_bank
from staydown.evidence.models import EvidenceItem
from staydown.evidence.vault import read_item, vault_from_settings
from staydown.matching import banks
from staydown.matching.banks import NewEntry
from staydown.matching.models import BankEntry
from staydown.media.errors import MediaError
from staydown.media.hashing import compute_signals_and_luma
from staydown.media.variants import bank_variants
from staydown.policies.catalogue import parse_ref

log = logging.getLogger(__name__)

STAY_DOWN_BANK_MEDIA = "stay_down:bank_media"
PURPOSE = "stay-down: bank-side variants of confirmed material (X-5, TID-3)"


def ordering_key(case_id: int) -> str:
    """Jobs of one case's stay-down run in order: banking from the media, then the sweep."""
    return f"stay_down:case:{case_id}"


def queue_bank_media(db: Session, *, case: Any, policy: Any) -> None:
    enqueue(
        db,
        kind=STAY_DOWN_BANK_MEDIA,
        payload={"case_id": case.id, "policy": policy.ref},
        idempotency_key=f"bank_media:case:{case.id}:{policy.ref}",
        ordering_key=ordering_key(case.id),
    )


def media_entries(data: bytes, *, limits: Any, note: str) -> list[Any]:
    """The bank entries for one confirmed item's bytes: digests, PDQ, and the bank-side variants of
    `media.variants.bank_variants` (crops, slight turns). No database: runs with no transaction open."""
    deadline = time.monotonic() + limits.max_seconds
    signals, luma = compute_signals_and_luma(data, limits=limits)
    original = NewEntry("pdq", signals.pdq, note, quality=signals.pdq_quality)
    entries = [original, NewEntry("md5", signals.md5, note), NewEntry("sha256", signals.sha256, note)]
    seen = {signals.pdq}
    # Not the picture cut out of the item (pictures=False): a query's cut-out meets the item's own
    # hash already, and cut-outs of two different graphics on white were the commonest false pair in
    # bench/robustness.py (icons sharing a glyph with different emblems).
    for v in bank_variants(luma, deadline=deadline):
        if v.name != "original" and v.pdq not in seen:
            seen.add(v.pdq)
            entries.append(NewEntry("pdq", v.pdq, note, variant=v.name[:40], quality=v.quality, parent=original))
    return entries


def bank_vaulted_media(database: Any, *, services: dict[str, Any], case_id: int, policy_ref: str) -> int:
    """Bank the variants of every vaulted item of a confirmed case. Returns the entries added."""
    settings = services["settings"]
    vault = services.get("vault") or vault_from_settings(settings)
    limits = settings.decode_limits()
    with database.unit_of_work() as db:
        case = case_by_id(db, case_id)
        ids = [c.id for c in case_contents(db, case)]
        items = (
            db.execute(
                sa.select(EvidenceItem)
                .where(
                    sa.or_(EvidenceItem.content_id.in_(ids or [-1]), EvidenceItem.case_id == case_id),
                    EvidenceItem.state == "stored",
                )
                .order_by(EvidenceItem.id)
            )
            .scalars()
            .all()
        )
        blobs = [(item.id, read_item(db, actor=SYSTEM, vault=vault, item=item, purpose=PURPOSE)) for item in items]
    if not blobs:
        return 0
    note = f"case {case_id}"
    entries: list[Any] = []
    failed: list[list[Any]] = []
    for item_id, data in blobs:
        try:
            entries += media_entries(data, limits=limits, note=note)
        except MediaError as exc:  # e.g. a video or a document in the vault: its digests were banked
            failed.append([item_id, exc.code])
            log.warning("stay-down: evidence item %s of case %s not banked from its media: %s", item_id, case_id, exc)
    del blobs
    catalogue = services["catalogue"]
    policy_id, _ = parse_ref(policy_ref)
    with database.unit_of_work() as db:
        policy = catalogue.get(policy_id)
        bank = own_bank(db, actor=SYSTEM, policy=policy)
        result = banks.add_entries(db, actor=SYSTEM, bank=bank, source_case_id=case_id, entries=entries)
        # Variants whose original was banked earlier (from the scan) point at that entry.
        originals = {e.signal for e in entries if e.signal_type == "pdq" and not e.variant}
        by_signal = dict(
            db.execute(
                sa.select(BankEntry.signal, BankEntry.id).where(
                    BankEntry.bank_id == bank.id,
                    BankEntry.signal_type == "pdq",
                    BankEntry.variant == "",
                    BankEntry.signal.in_(sorted(originals) or [""]),
                )
            ).all()
        )
        parent_of = {(e.variant, e.signal): e.parent.signal for e in entries if e.parent is not None}
        for entry in result.entries:
            if entry.variant and entry.parent_id is None:
                parent = parent_of.get((entry.variant, entry.signal))
                if parent in by_signal:
                    entry.parent_id = by_signal[parent]
        audit.record(
            db,
            actor=SYSTEM,
            tag=AuditTag.STAY_DOWN_BANK,
            subject_type="case",
            subject_id=case_id,
            data={
                "bank": bank.name,
                "from": "vaulted media",
                "added": result.added,
                "already_banked": result.duplicates,
                "not_decoded": failed,
            },
        )
    return result.added


def bank_media_job(db: Session, ctx: JobContext) -> None:
    """Single-job form (the worker uses the batch form): runs the same work on its own units."""
    raise RuntimeError("stay_down:bank_media runs as a batch job, outside the worker's transaction")


def bank_media_batch(database: Any, contexts: list[JobContext]) -> dict[int, str | None]:
    results: dict[int, str | None] = {}
    for ctx in contexts:
        try:
            bank_vaulted_media(
                database,
                services=ctx.services,
                case_id=int(ctx.payload["case_id"]),
                policy_ref=str(ctx.payload["policy"]),
            )
            results[ctx.job_id] = None
        except Exception as exc:  # noqa: BLE001 - one case's failure is retried on its own
            log.warning("stay-down banking from media failed for case %s: %s", ctx.payload.get("case_id"), exc)
            results[ctx.job_id] = f"{type(exc).__name__}: {exc}"[:1000]
    return results
