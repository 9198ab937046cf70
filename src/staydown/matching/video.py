"""Video in the match path: scan an upload's vPDQ against the banks, keep it for sweeps, find stored
copies of a banked video, bank a confirmed video with its mirror image, and bound how many videos are
hashed at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit, errors, sequences
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.db import now
from staydown.matching import vpdq
from staydown.matching.banks import NewEntry
from staydown.matching.engine import MatchEngine
from staydown.matching.matcher import (
    ACTION_VERDICT,
    VERDICT_RANK,
    BankMatch,
    PdqQuery,
    QuerySignals,
    _max_radius,
    decide_verdict,
    match_banks,
)
from staydown.matching.models import CONTENT_SIGNALS, Bank, BankEntry, BankUse, ContentSignal, Scan
from staydown.matching.scanning import ScanOutcome, store_content_signals
from staydown.media.video import VARIANT_CROPS, VideoLimits, VideoSignals, hash_video
from staydown.observability.metrics import scan_recorded
from staydown.subjects.models import PlatformContent
from staydown.subjects.records import ensure_content
from staydown.subjects.schemas import ContentRef

MIRROR = "mirror"  # the query variant (and bank-side variant) of a video mirrored left-right
# Frames of an animated GIF matched against image banks, as the image path matched its frames.
GIF_IMAGE_FRAMES = 8
# Candidate rows whose two-way percentages are worked out per query: each costs (frames x frames)
# distance computations; rows beyond this (a frame shared by very many videos, such as a channel's
# intro) are judged on the frames the index found alone (query% only), and the scan says so.
MAX_CANDIDATES = 500


@dataclass(frozen=True)
class VideoQuery:
    """What an upload's video is looked up by: usable frames per variant ("" as uploaded, "mirror")."""

    frames: dict[str, np.ndarray]
    md5: str | None = None
    sha256: str | None = None
    image_pdq: tuple[PdqQuery, ...] = ()  # animated GIFs: sampled frames against image banks


@dataclass(frozen=True)
class VideoHit:
    row_id: int
    variant: str
    result: vpdq.TwoWay


# Bank-side variants kept with a scan: the mirror image and each centre crop, named as bank entries'.
VARIANT_NAMES = (MIRROR, *(f"crop{round(c * 1000)}" for c in VARIANT_CROPS))


def features(signals: VideoSignals, *, mirror: bool = False, every_frame: bool = False) -> list[vpdq.Feature]:
    """The stored vPDQ (the kept frames), or with `every_frame` every frame hashed (for look-ups)."""
    frames = signals.frames if every_frame else signals.kept
    return [vpdq.Feature(f.mirror if mirror else f.pdq, f.quality, f.timestamp) for f in frames]


def variant_features(signals: VideoSignals) -> dict[str, list[vpdq.Feature]]:
    """The bank-side variants of a hashed video (every VARIANT_SECONDS): mirror and centre crops."""
    out: dict[str, list[vpdq.Feature]] = {name: [] for name in VARIANT_NAMES}
    for f in signals.frames:
        if not f.crops:
            continue
        out[MIRROR].append(vpdq.Feature(f.mirror, f.quality, f.timestamp))
        for name, (pdq, quality) in zip(VARIANT_NAMES[1:], f.crops, strict=False):
            out[name].append(vpdq.Feature(pdq, quality, f.timestamp))
    return {name: fs for name, fs in out.items() if fs}


def query_from_video(signals: VideoSignals) -> VideoQuery:
    image: tuple[PdqQuery, ...] = ()
    if signals.format == "GIF":
        # What the image path gave an animated GIF: its first frame (and its mirror image) and a few
        # frames spread over the animation, against image banks.
        picks = sorted(
            {round(x) for x in np.linspace(0, len(signals.frames) - 1, min(GIF_IMAGE_FRAMES, len(signals.frames)))}
        )
        first = signals.frames[0]
        image = (PdqQuery("", first.pdq, first.quality), PdqQuery("flip_y", first.mirror, first.quality))
        image += tuple(
            PdqQuery(f"frame{signals.frames[i].frame_number}", signals.frames[i].pdq, signals.frames[i].quality)
            for i in picks
            if i
        )
    # Every frame hashed is looked up, not only the kept ones: a copy's frames then meet a banked
    # video's frames exactly, whatever the banked video's spacing (docs/decisions.md).
    return VideoQuery(
        frames={
            "": vpdq.usable(features(signals, every_frame=True)),
            MIRROR: vpdq.usable(features(signals, mirror=True, every_frame=True)),
        },
        md5=signals.md5,
        sha256=signals.sha256,
        image_pdq=image,
    )


# -- matching against the banks -------------------------------------------------------------------


def _two_way_hits(
    replica: Any,
    frames: dict[str, np.ndarray],
    radius: int,
    thresholds: Callable[[list[int]], dict[int, int]] | None = None,
) -> dict[int, VideoHit]:
    """For each row with a frame near the query, its best two-way result over the query's variants.
    `thresholds` is given the candidate row ids and answers each live one's frame distance (a bank's
    own PDQ threshold); rows it leaves out are not considered (disabled, or not allowed this use)."""
    best: dict[int, VideoHit] = {}
    for variant, query in frames.items():
        if query.shape[0] == 0:
            continue
        found = replica.video_candidates(query, radius)
        if not found:
            continue
        limits = thresholds(sorted(found)) if thresholds is not None else dict.fromkeys(found, radius)
        ranked = sorted((i for i in found if i in limits), key=lambda i: -found[i])
        rows = replica.video_frames(ranked[:MAX_CANDIDATES])
        for row_id in ranked:
            threshold = limits[row_id]
            words = rows.get(row_id)
            if words is None:
                # Over the candidate budget: the index's count of query frames that found this row
                # (at the widest radius) is the query side of the rule; the compared side is not
                # worked out, so only threatexchange's own (query-side) rule can match it.
                qm = found[row_id]
                result = vpdq.TwoWay(100.0 * qm / query.shape[0], 0.0, qm, 0, query.shape[0], 0, threshold)
            else:
                result = vpdq.two_way(query, words, threshold)
            if not result.matches():
                continue
            score = (max(result.query_percent, result.compared_percent), variant == "")
            held = best.get(row_id)
            if held is None or score > (
                max(held.result.query_percent, held.result.compared_percent),
                held.variant == "",
            ):
                best[row_id] = VideoHit(row_id, variant, result)
    return best


def match_video(db: Session, engine: MatchEngine, query: VideoQuery, *, use: BankUse = BankUse.scan) -> list[BankMatch]:
    """Bank entries whose vPDQ matches the query's by the two-way rule (matching/vpdq.py), each
    bank's PDQ threshold used as its frame distance; the database has the last word on enablement."""
    radius = _max_radius(db, use)
    if radius is None or not any(f.shape[0] for f in query.frames.values()):
        return []
    live: dict[int, Any] = {}

    def thresholds(ids: list[int]) -> dict[int, int]:
        missing = [i for i in ids if i not in live]
        if missing:
            for row in db.execute(
                sa.select(BankEntry.id, BankEntry.variant, BankEntry.parent_id, Bank)
                .join(Bank, Bank.id == BankEntry.bank_id)
                .where(
                    BankEntry.id.in_(missing),
                    BankEntry.enabled.is_(True),
                    Bank.enabled.is_(True),
                    BankEntry.signal_type == "vpdq",
                )
            ).all():
                if use.value in row[3].allowed_uses:
                    live[row[0]] = row
        return {i: live[i][3].pdq_threshold for i in ids if i in live}

    hits = _two_way_hits(engine.bank, query.frames, radius, thresholds)
    best: dict[tuple[int, int], BankMatch] = {}
    for row_id, hit in hits.items():
        _, entry_variant, parent_id, bank = live[row_id]
        original = parent_id or row_id
        r = hit.result
        match = BankMatch(
            bank=bank.name,
            bank_id=bank.id,
            entry_id=original,
            signal_type="vpdq",
            distance=r.distance,
            threshold=bank.pdq_threshold,
            action=bank.action_on_match,
            policy_id=bank.policy_id,
            confirmed_material=bank.confirmed_material,
            query_variant=hit.variant,
            entry_variant=entry_variant,
            query_match_percent=round(r.query_percent, 1),
            compared_match_percent=round(r.compared_percent, 1),
        )
        key = (original, bank.id)
        held = best.get(key)
        if held is None or (match.query_variant == "", max(r.query_percent, r.compared_percent)) > (
            held.query_variant == "",
            max(held.query_match_percent or 0, held.compared_match_percent or 0),
        ):
            best[key] = match
    return list(best.values())


def _sorted(matches: list[BankMatch]) -> list[BankMatch]:
    return sorted(matches, key=lambda m: (-VERDICT_RANK[ACTION_VERDICT[m.action]], m.distance, m.bank, m.entry_id))


# -- recording a scan -----------------------------------------------------------------------------


def store_video_signal(db: Session, *, content: PlatformContent, frames_text: str) -> bool:
    """Keep an item's vPDQ for sweeps (its digest as the signal, its frames beside it); a new row takes
    a content-signal sequence number so every index replica picks it up. False if it was there."""
    key = vpdq.digest(frames_text)
    exists = db.execute(
        sa.select(ContentSignal.id).where(
            ContentSignal.content_id == content.id, ContentSignal.signal_type == "vpdq", ContentSignal.signal == key
        )
    ).first()
    if exists:
        return False
    row = ContentSignal(
        content_id=content.id,
        signal_type="vpdq",
        signal=key,
        frames=frames_text,
        quality=None,
        created_at=now(db),
        purged=False,
    )
    db.add(row)
    sequences.touch(db, row, sequence=CONTENT_SIGNALS)
    return True


@dataclass
class _Record:
    query: VideoQuery
    frames_text: str | None  # canonical vPDQ as uploaded (None: the caller gave digests only)
    variants: list[list[str]]  # [name, canonical vPDQ] of the bank-side variants
    signals: dict[str, Any]
    media: dict[str, Any]
    image_signals: list[tuple[str, str, int | None]] = field(default_factory=list)
    image_variants: list[list[Any]] = field(default_factory=list)


def _record(
    db: Session,
    *,
    actor: Actor,
    engine: MatchEngine,
    rec: _Record,
    content: ContentRef | None,
    uploader_ip: str | None,
    uploaded_at: datetime | None,
    uploader_port: int | None = None,
    original_filename: str | None = None,
) -> ScanOutcome:
    exact = QuerySignals(pdq=rec.query.image_pdq, md5=rec.query.md5, sha256=rec.query.sha256)
    matches = _sorted(match_banks(db, engine, exact, use=BankUse.scan) + match_video(db, engine, rec.query))
    verdict = decide_verdict(matches, exact)
    stored = ensure_content(db, actor=actor, ref=content) if content is not None else None
    if stored is not None:
        digests = [(k, v, None) for k, v in (("md5", rec.query.md5), ("sha256", rec.query.sha256)) if v]
        store_content_signals(db, content=stored, signals=digests + rec.image_signals)
        if rec.frames_text:
            store_video_signal(db, content=stored, frames_text=rec.frames_text)
    kept = dict(rec.signals)
    # The frame list itself is kept once, in the content signal (an upload with no content id is
    # not kept at all); the scan records its digest.
    frames_text = kept.pop("vpdq", None)
    if frames_text:
        kept["vpdq_digest"] = vpdq.digest(frames_text)
    # The mirror image and the crops are kept with the scan (not indexed): if the item is ever
    # confirmed they go into the stay-down bank beside the original, so that mirrored and cropped
    # stored copies are swept too (an upload with no content id can never be confirmed).
    kept["variants"] = rec.image_variants
    kept["video_variants"] = rec.variants if stored is not None else []
    scan = Scan(
        content_id=stored.id if stored else None,
        verdict=verdict.verdict,
        matches=[m.to_dict() for m in matches],
        signals=kept,
        media=rec.media,
        uploader_ip=uploader_ip,
        uploader_port=uploader_port,
        original_filename=original_filename,
        uploaded_at=uploaded_at,
        scanned_by=actor.ref,
        scanned_at=now(db),
    )
    db.add(scan)
    db.flush()
    if matches:
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
        signals=rec.signals,
        media=rec.media,
        content_id=content.id if content else None,
        query_variants=sum(f.shape[0] for f in rec.query.frames.values()) + len(rec.query.image_pdq),
    )


def video_signals_dict(signals: VideoSignals, frames_text: str, query: VideoQuery) -> dict[str, Any]:
    return {
        "md5": signals.md5,
        "sha256": signals.sha256,
        "vpdq": frames_text,
        "vpdq_frames": len(signals.kept),
        "vpdq_usable_frames": int(vpdq.usable(features(signals)).shape[0]),
        "pdq": signals.frames[0].pdq,
        "pdq_quality": signals.frames[0].quality,
    }


def video_media_dict(signals: VideoSignals) -> dict[str, Any]:
    return {
        "format": signals.format,
        "kind": "video",
        "codec": signals.codec,
        "width": signals.width,
        "height": signals.height,
        "duration": signals.duration,
        "frame_rate": signals.frame_rate,
        "frames_hashed": len(signals.frames),
        "frames_kept": len(signals.kept),
        "seconds_per_hash": signals.seconds_per_hash,
    }


def scan_video(
    db: Session,
    *,
    actor: Actor,
    engine: MatchEngine,
    signals: VideoSignals,
    content: ContentRef | None = None,
    uploader_ip: str | None = None,
    uploaded_at: datetime | None = None,
    uploader_port: int | None = None,
    original_filename: str | None = None,
) -> ScanOutcome:
    """Match a hashed video (hash it first, outside any transaction: see hash_upload) and record
    the scan; with the platform's content id, keep its digests and vPDQ for sweeps."""
    query = query_from_video(signals)
    frames_text = vpdq.serialise(features(signals))
    variants = [[name, vpdq.serialise(fs)] for name, fs in variant_features(signals).items()]
    image_signals: list[tuple[str, str, int | None]] = []
    image_variants: list[list[Any]] = []
    if signals.format == "GIF":
        first = signals.frames[0]
        image_signals = [("pdq", first.pdq, first.quality)]
        image_variants = [["flip_y", first.mirror, first.quality]]
    rec = _Record(
        query,
        frames_text,
        variants,
        video_signals_dict(signals, frames_text, query),
        video_media_dict(signals),
        image_signals,
        image_variants,
    )
    return _record(
        db,
        actor=actor,
        engine=engine,
        rec=rec,
        content=content,
        uploader_ip=uploader_ip,
        uploaded_at=uploaded_at,
        uploader_port=uploader_port,
        original_filename=original_filename,
    )


def match_supplied_video(
    db: Session,
    *,
    actor: Actor,
    engine: MatchEngine,
    vpdq_text: str,
    md5: str | None,
    sha256: str | None,
    content: ContentRef | None,
    uploader_ip: str | None = None,
    uploaded_at: datetime | None = None,
) -> ScanOutcome:
    """Match a vPDQ the platform computed itself (threatexchange's form): staydown never sees the
    video. Without it there is no mirror image to look up: only the frames as given are matched."""
    frames_text = vpdq.canonical(vpdq_text)
    parsed = vpdq.parse(frames_text)
    query = VideoQuery(frames={"": vpdq.usable(parsed)}, md5=md5, sha256=sha256)
    signals = {
        "md5": md5,
        "sha256": sha256,
        "vpdq": frames_text,
        "vpdq_frames": len(parsed),
        "vpdq_usable_frames": int(query.frames[""].shape[0]),
        "supplied": True,
    }
    rec = _Record(query, frames_text, [], signals, {"kind": "video"})
    return _record(
        db, actor=actor, engine=engine, rec=rec, content=content, uploader_ip=uploader_ip, uploaded_at=uploaded_at
    )


# -- stay-down ------------------------------------------------------------------------------------


def find_video_copies(
    db: Session, engine: MatchEngine, entries: Iterable[BankEntry], *, threshold: int
) -> dict[int, int]:
    """Stored content whose vPDQ matches one of these banked vPDQ entries (originals and their
    mirror variants) by the two-way rule: content id -> median frame distance."""
    found: dict[int, int] = {}
    for entry in entries:
        if entry.signal_type != "vpdq" or not entry.frames:
            continue
        frames = vpdq.frames_from_row(entry.frames)
        hits = _two_way_hits(engine.content, {"": frames}, threshold)
        if not hits:
            continue
        live = dict(
            db.execute(
                sa.select(ContentSignal.id, ContentSignal.content_id).where(
                    ContentSignal.id.in_(sorted(hits)), ContentSignal.purged.is_(False)
                )
            ).all()
        )
        for row_id, hit in hits.items():
            content_id = live.get(row_id)
            if content_id is not None:
                found[content_id] = min(found.get(content_id, hit.result.distance), hit.result.distance)
    return found


def video_case_entries(db: Session, *, content_ids: list[int], note: str) -> list[Any]:
    """New bank entries for the videos of a confirmed case: each item's vPDQ, and its mirror image and
    crops (kept with its scan) as variants of it."""
    entries: list[Any] = []
    originals: dict[int, Any] = {}
    for content_id, frames in db.execute(
        sa.select(ContentSignal.content_id, ContentSignal.frames)
        .where(
            ContentSignal.content_id.in_(content_ids or [-1]),
            ContentSignal.signal_type == "vpdq",
            ContentSignal.purged.is_(False),
        )
        .order_by(ContentSignal.id)
    ).all():
        if not frames:
            continue
        entry = NewEntry("vpdq", frames, note)
        entries.append(entry)
        originals.setdefault(content_id, entry)
    for scan in db.execute(
        sa.select(Scan).where(Scan.content_id.in_(list(originals) or [-1])).order_by(Scan.id)
    ).scalars():
        assert scan.content_id is not None  # selected by content id
        for name, text in (scan.signals or {}).get("video_variants", []):
            if text:
                entries.append(NewEntry("vpdq", text, note, variant=str(name)[:40], parent=originals[scan.content_id]))
    return entries


# -- hashing at a bounded cost --------------------------------------------------------------------


# Every video slot taken for the queue time is the same 503 + Retry-After as a full image decode queue.
Busy = errors.Busy


class VideoGate:
    """At most `slots` videos hashed at once in this process (each runs an FFmpeg using `threads`
    cores); a caller waits up to `wait_seconds` for a slot, then is told to come back (503)."""

    def __init__(self, slots: int, wait_seconds: float) -> None:
        self.slots = slots
        self.wait_seconds = wait_seconds
        self._sem = threading.BoundedSemaphore(slots)
        self.waiting = 0
        self._lock = threading.Lock()

    def __enter__(self) -> VideoGate:
        with self._lock:
            self.waiting += 1
        try:
            if not self._sem.acquire(timeout=self.wait_seconds):
                raise Busy(
                    f"all {self.slots} video hashing slot(s) are busy; nothing was stored, try again shortly",
                    retry_after=max(1, int(self.wait_seconds)),
                )
        finally:
            with self._lock:
                self.waiting -= 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._sem.release()


_gate_lock = threading.Lock()


def gate_for(state: Any, slots: int, wait_seconds: float) -> VideoGate:
    """The process's video gate, kept on the app's state (made on first use)."""
    with _gate_lock:
        gate = getattr(state, "video_gate", None)
        if gate is None:
            gate = VideoGate(slots, wait_seconds)
            state.video_gate = gate
        return gate


def hash_upload(data: bytes, *, limits: VideoLimits, gate: VideoGate | None = None) -> tuple[VideoSignals, float]:
    """Hash a video through the gate. Returns the signals and the seconds spent hashing."""
    if gate is None:
        started = time.monotonic()
        return hash_video(data, limits=limits), time.monotonic() - started
    with gate:
        started = time.monotonic()
        return hash_video(data, limits=limits), time.monotonic() - started


def hash_for_scan(state: Any, settings: Any, data: bytes) -> tuple[VideoSignals, float]:
    """`POST /v1/scan` for a video, the hashing half: through the process's video gate, with no
    database transaction open (hashing takes seconds; on SQLite a write transaction holds the
    only write lock). The route then matches and records in a unit of work of its own."""
    gate = gate_for(state, settings.video_max_concurrent, settings.video_queue_seconds)
    return hash_upload(data, limits=settings.video_limits(), gate=gate)
