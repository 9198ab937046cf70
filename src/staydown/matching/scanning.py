"""Scan an upload: hash it safely, match it against the banks, record what the upload carried."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit, sequences
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.db import now
from staydown.matching.banks import NewEntry, add_entries
from staydown.matching.engine import MatchEngine
from staydown.matching.matcher import BankMatch, PdqQuery, QuerySignals, decide_verdict, match_banks
from staydown.matching.models import CONTENT_SIGNALS, BankUse, ContentSignal, Scan
from staydown.media.decode import DecodeLimits
from staydown.media.hashing import MediaSignals, compute_signals_and_luma
from staydown.media.variants import bank_variants
from staydown.media.variants import scan as hash_with_variants
from staydown.observability.metrics import scan_recorded
from staydown.subjects.models import PlatformContent
from staydown.subjects.records import ensure_content
from staydown.subjects.schemas import ContentRef


@dataclass
class ScanOutcome:
    scan_id: int
    verdict: str
    reasons: list[str]
    matches: list[BankMatch]
    signals: dict[str, Any]
    media: dict[str, Any]
    content_id: str | None
    query_variants: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def query_from_media(signals: MediaSignals, variants: list[Any]) -> QuerySignals:
    """Everything to look up for one upload: the hash as uploaded, its robust variants (flips,
    trimmed borders, small rotations...), the other sampled frames of an animation, and digests."""
    pdq = [PdqQuery("" if v.name == "original" else v.name, v.pdq, v.quality) for v in variants]
    pdq += [PdqQuery(f"frame{f.index}", f.pdq, f.quality) for f in signals.frames]
    return QuerySignals(pdq=tuple(pdq), md5=signals.md5, sha256=signals.sha256)


def signals_dict(signals: MediaSignals) -> dict[str, Any]:
    return {
        "md5": signals.md5,
        "sha256": signals.sha256,
        "pdq": signals.pdq,
        "pdq_quality": signals.pdq_quality,
        "pdq_actionable": signals.pdq_actionable,
        "frames": [{"index": f.index, "pdq": f.pdq, "quality": f.quality} for f in signals.frames],
    }


def media_dict(signals: MediaSignals) -> dict[str, Any]:
    return {
        "format": signals.format,
        "width": signals.width,
        "height": signals.height,
        "frame_count": signals.frame_count,
        "fast_path": signals.fast_path,
    }


def store_content_signals(db: Session, *, content: PlatformContent, signals: list[tuple[str, str, int | None]]) -> int:
    """Keep a scanned item's signals for sweeps ("find every stored copy"); each new row takes
    a content-signal sequence number so every index replica picks it up."""
    existing: set[tuple[str, str]] = {
        (signal_type, signal)
        for signal_type, signal in db.execute(
            sa.select(ContentSignal.signal_type, ContentSignal.signal).where(ContentSignal.content_id == content.id)
        ).all()
    }
    when = now(db)
    added = 0
    for signal_type, signal, quality in signals:
        if (signal_type, signal) in existing:
            continue
        existing.add((signal_type, signal))
        row = ContentSignal(
            content_id=content.id,
            signal_type=signal_type,
            signal=signal,
            quality=quality,
            created_at=when,
            purged=False,
        )
        db.add(row)
        sequences.touch(db, row, sequence=CONTENT_SIGNALS)
        added += 1
    return added


def record_scan(
    db: Session,
    *,
    actor: Actor,
    engine: MatchEngine,
    query: QuerySignals,
    content_signals: list[tuple[str, str, int | None]],
    signals: dict[str, Any],
    media: dict[str, Any],
    content: ContentRef | None,
    uploader_ip: str | None,
    uploaded_at: datetime | None,
    variants: list[list[Any]] | None = None,
    uploader_port: int | None = None,
    original_filename: str | None = None,
) -> ScanOutcome:
    matches = match_banks(db, engine, query, use=BankUse.scan)
    verdict = decide_verdict(matches, query)
    stored = ensure_content(db, actor=actor, ref=content) if content is not None else None
    if stored is not None:
        store_content_signals(db, content=stored, signals=content_signals)
    scan = Scan(
        content_id=stored.id if stored else None,
        verdict=verdict.verdict,
        matches=[m.to_dict() for m in matches],
        signals={**signals, "variants": variants or []},
        media=media,
        uploader_ip=uploader_ip,
        uploader_port=uploader_port if uploader_ip else None,
        uploaded_at=uploaded_at,
        original_filename=original_filename,
        scanned_by=actor.ref,
        scanned_at=now(db),
    )
    db.add(scan)
    db.flush()
    if matches:
        # Every match is on the record; non-matching scans are kept only as scan rows (and those
        # are purged by retention).
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.SCAN_MATCH,
            subject_type="scan",
            subject_id=scan.id,
            data={
                "verdict": verdict.verdict,
                "content": content.id if content else None,
                "matches": [[m.bank, m.entry_id, m.signal_type, m.distance, m.query_variant] for m in matches[:20]],
            },
        )
    scan_recorded(verdict.verdict, matches)
    return ScanOutcome(
        scan_id=scan.id,
        verdict=verdict.verdict,
        reasons=verdict.reasons,
        matches=matches,
        signals=signals,
        media=media,
        content_id=content.id if content else None,
        query_variants=len(query.pdq),
    )


@dataclass(frozen=True)
class HashedUpload:
    """What an upload's media gave, computed with no database session open."""

    signals: MediaSignals
    variants: list[Any]


def hash_upload(data: bytes, *, limits: DecodeLimits) -> HashedUpload:
    """Decode (bounded) and hash with every query variant. Touches no database: callers run it
    before their unit of work, so no transaction (and on SQLite no write lock) waits on media."""
    media_signals, variants = hash_with_variants(data, limits=limits)
    return HashedUpload(media_signals, variants)


# Query variants that are banked if the upload is ever confirmed (its flips, turns, trimmed or
# cut-out picture): an uncrop is a guess at pixels the upload does not have, so it stays a query.
_NOT_KEPT = ("uncrop_",)


def record_upload(
    db: Session,
    *,
    actor: Actor,
    engine: MatchEngine,
    hashed: HashedUpload,
    content: ContentRef | None = None,
    uploader_ip: str | None = None,
    uploaded_at: datetime | None = None,
    uploader_port: int | None = None,
    original_filename: str | None = None,
) -> ScanOutcome:
    """Match an already hashed upload and record the scan (the write half of a scan)."""
    media_signals, variants = hashed.signals, hashed.variants
    query = query_from_media(media_signals, variants)
    stored = [
        ("pdq", media_signals.pdq, media_signals.pdq_quality),
        ("md5", media_signals.md5, None),
        ("sha256", media_signals.sha256, None),
    ]
    stored += [("pdq", f.pdq, f.quality) for f in media_signals.frames]
    # A bordered or letterboxed upload is also indexed as its trimmed self, so that a sweep for
    # the borderless original finds it (borders move PDQ by ~95 bits); likewise the picture found
    # inside a captioned upload or a screenshot.
    stored += [("pdq", v.pdq, v.quality) for v in variants if v.name in ("trim", "region0")]
    # The upload's own robust variants are kept with the scan (not indexed): if it is ever
    # confirmed, they go into the stay-down bank so that flipped or rotated stored copies are found.
    variants_kept = [
        [v.name, v.pdq, v.quality] for v in variants if v.name != "original" and not v.name.startswith(_NOT_KEPT)
    ]
    return record_scan(
        db,
        actor=actor,
        engine=engine,
        query=query,
        content_signals=stored,
        signals=signals_dict(media_signals),
        media=media_dict(media_signals),
        content=content,
        uploader_ip=uploader_ip,
        uploaded_at=uploaded_at,
        variants=variants_kept,
        uploader_port=uploader_port,
        original_filename=original_filename,
    )


def scan_media(
    db: Session,
    *,
    actor: Actor,
    engine: MatchEngine,
    data: bytes,
    limits: DecodeLimits,
    content: ContentRef | None = None,
    uploader_ip: str | None = None,
    uploaded_at: datetime | None = None,
    uploader_port: int | None = None,
    original_filename: str | None = None,
) -> ScanOutcome:
    """Decode (bounded), hash, match, record. Raises a MediaError on input that cannot be read.
    (The HTTP route hashes before opening its unit of work: hash_upload, then record_upload.)"""
    return record_upload(
        db,
        actor=actor,
        engine=engine,
        hashed=hash_upload(data, limits=limits),
        content=content,
        uploader_ip=uploader_ip,
        uploaded_at=uploaded_at,
        uploader_port=uploader_port,
        original_filename=original_filename,
    )


def match_supplied(
    db: Session,
    *,
    actor: Actor,
    engine: MatchEngine,
    pdq: list[tuple[str, int]],
    md5: str | None,
    sha256: str | None,
    content: ContentRef | None,
    uploader_ip: str | None = None,
    uploaded_at: datetime | None = None,
    uploader_port: int | None = None,
    original_filename: str | None = None,
) -> ScanOutcome:
    """Match signals the platform computed itself: staydown never sees the media (privacy-preserving).
    Without the image there are no query variants, so only edits within the threshold match."""
    query = QuerySignals(
        pdq=tuple(PdqQuery("" if i == 0 else f"supplied{i}", h, q) for i, (h, q) in enumerate(pdq)),
        md5=md5,
        sha256=sha256,
    )
    stored: list[tuple[str, str, int | None]] = [("pdq", h, q) for h, q in pdq]
    stored += [(k, v, None) for k, v in (("md5", md5), ("sha256", sha256)) if v]
    signals = {
        "md5": md5,
        "sha256": sha256,
        "pdq": pdq[0][0] if pdq else None,
        "pdq_quality": pdq[0][1] if pdq else None,
        "supplied": True,
    }
    return record_scan(
        db,
        actor=actor,
        engine=engine,
        query=query,
        content_signals=stored,
        signals=signals,
        media={},
        content=content,
        uploader_ip=uploader_ip,
        uploaded_at=uploaded_at,
        uploader_port=uploader_port,
        original_filename=original_filename,
    )


def bank_media(
    db: Session,
    *,
    actor: Actor,
    bank: Any,
    data: bytes,
    limits: DecodeLimits,
    source_case_id: int | None = None,
    note: str = "",
) -> list[Any]:
    """Bank one of our own confirmed items: its digests, its PDQ, and bank-side variants (crops and
    slight turns, see media.variants.BANK_CROPS) that make cropped or turned copies match. Variants are
    linked to the original entry, follow it when it is disabled, and are not exported to other
    organisations by default."""
    entries = media_bank_entries(data, limits=limits, note=note)
    result = add_entries(db, actor=actor, bank=bank, entries=entries, source_case_id=source_case_id)
    return result.entries


def media_bank_entries(data: bytes, *, limits: DecodeLimits, note: str = "") -> list[Any]:
    """What `bank_media` banks for an image, computed with no database session open: its PDQ,
    MD5 and SHA-256 (in that order), then the bank-side variants hanging from the PDQ."""
    signals, luma = compute_signals_and_luma(data, limits=limits)
    original = NewEntry("pdq", signals.pdq, note, quality=signals.pdq_quality)
    entries = [original, NewEntry("md5", signals.md5, note), NewEntry("sha256", signals.sha256, note)]
    for v in bank_variants(luma):
        if v.name != "original" and v.pdq != signals.pdq:
            entries.append(NewEntry("pdq", v.pdq, note, variant=v.name[:40], quality=v.quality, parent=original))
    return entries
