"""Turn index hits into bank matches a person can read, and matches into a verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.matching.engine import Hit, MatchEngine
from staydown.matching.gate import admits
from staydown.matching.models import Bank, BankEntry, BankUse, ContentSignal, MatchAction

VERDICT_RANK = {"allow": 0, "hold": 2, "block": 3}
ACTION_VERDICT = {MatchAction.block.value: "block", MatchAction.hold.value: "hold", MatchAction.flag.value: "allow"}


@dataclass(frozen=True)
class PdqQuery:
    variant: str  # "" for the signal as uploaded; else how it was transformed (e.g. "flip_h")
    hash: str
    quality: int


@dataclass(frozen=True)
class QuerySignals:
    pdq: tuple[PdqQuery, ...] = ()
    md5: str | None = None
    sha256: str | None = None

    @property
    def pdq_quality(self) -> int | None:
        original = next((q for q in self.pdq if q.variant == ""), None)
        return original.quality if original else None


@dataclass(frozen=True)
class BankMatch:
    bank: str
    bank_id: int
    entry_id: int  # the banked original, even when a bank-side variant of it matched
    signal_type: str
    distance: int
    threshold: int
    action: str
    policy_id: str
    confirmed_material: bool
    query_variant: str = ""
    entry_variant: str = ""
    # vPDQ only (distance is then the median frame distance): matching/vpdq.py's two-way rule.
    query_match_percent: float | None = None
    compared_match_percent: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _max_radius(db: Session, use: BankUse) -> int | None:
    banks = db.execute(sa.select(Bank.pdq_threshold, Bank.allowed_uses).where(Bank.enabled.is_(True))).all()
    radii = [t for t, uses in banks if use.value in uses]
    return max(radii) if radii else None


def match_banks(
    db: Session, engine: MatchEngine, query: QuerySignals, *, use: BankUse = BankUse.scan
) -> list[BankMatch]:
    """Every enabled entry of every enabled bank permitted for `use` that matches, closest first.
    The index answers at the widest threshold; each bank's own threshold is applied here, and the
    database has the last word on enablement, so a just-disabled entry never matches."""
    radius = _max_radius(db, use)
    if radius is None:
        return []
    hits: list[tuple[str, str, Hit]] = []  # (signal type, query variant, hit)
    qualities = {q.variant: q.quality for q in query.pdq}
    pdq_hits = engine.bank.search_pdq([q.hash for q in query.pdq], radius)
    hits += [("pdq", query.pdq[h.query].variant, h) for h in pdq_hits]
    for kind in ("md5", "sha256"):
        digest = getattr(query, kind)
        if digest:
            hits += [(kind, "", h) for h in engine.bank.lookup(kind, [digest])]
    if not hits:
        return []
    rows = db.execute(
        sa.select(BankEntry.id, BankEntry.variant, BankEntry.parent_id, BankEntry.quality, Bank)
        .join(Bank, Bank.id == BankEntry.bank_id)
        .where(
            BankEntry.id.in_(sorted({h.row_id for _, _, h in hits})),
            BankEntry.enabled.is_(True),
            Bank.enabled.is_(True),
        )
    ).all()
    by_id = {r[0]: r for r in rows}
    best: dict[tuple[int, str], BankMatch] = {}
    for kind, query_variant, hit in hits:
        row = by_id.get(hit.row_id)
        if row is None:
            continue
        _, entry_variant, parent_id, entry_quality, bank = row
        if use.value not in bank.allowed_uses:
            continue
        if kind == "pdq" and not admits(
            distance=hit.distance,
            threshold=bank.pdq_threshold,
            query_variant=query_variant,
            query_quality=qualities[query_variant],
            entry_variant=entry_variant or "",
            entry_quality=entry_quality,
        ):
            continue
        original = parent_id or hit.row_id
        match = BankMatch(
            bank=bank.name,
            bank_id=bank.id,
            entry_id=original,
            signal_type=kind,
            distance=hit.distance,
            threshold=bank.pdq_threshold if kind == "pdq" else 0,
            action=bank.action_on_match,
            policy_id=bank.policy_id,
            confirmed_material=bank.confirmed_material,
            query_variant=query_variant,
            entry_variant=entry_variant,
        )
        key = (original, kind)
        if key not in best or (match.distance, match.query_variant != "") < (
            best[key].distance,
            best[key].query_variant != "",
        ):
            best[key] = match
    return sorted(
        best.values(), key=lambda m: (-VERDICT_RANK[ACTION_VERDICT[m.action]], m.distance, m.bank, m.entry_id)
    )


@dataclass(frozen=True)
class Verdict:
    verdict: str  # allow | hold | block
    reasons: list[str] = field(default_factory=list)


def decide_verdict(matches: list[BankMatch], query: QuerySignals) -> Verdict:
    """The strongest action among the matches. A low-quality PDQ is matched but never acted on
    automatically: a block that rests on it alone becomes a hold for a person to look at."""
    if not matches:
        return Verdict("allow")
    reasons: list[str] = []
    exact = [m for m in matches if m.signal_type != "pdq"]
    quality = query.pdq_quality
    verdict = "allow"
    for m in matches:
        v = ACTION_VERDICT[m.action]
        if v == "block" and m.signal_type == "pdq" and not exact and quality is not None and quality < 50:
            v = "hold"
            reasons.append(f"PDQ quality {quality} is below 50: held for review instead of blocked")
        if VERDICT_RANK[v] > VERDICT_RANK[verdict]:
            verdict = v
    reasons.insert(0, f"{len(matches)} match(es); strongest action from bank {matches[0].bank!r}")
    return Verdict(verdict, reasons)


@dataclass(frozen=True)
class CopyHit:
    content_id: int
    signal_type: str
    distance: int


def find_copies(db: Session, engine: MatchEngine, query: QuerySignals, *, radius: int = 31) -> list[CopyHit]:
    """Stored content that carries a signal within `radius` of the query (for sweeps and case
    grouping): the content-signal index answers, the table confirms the row is still live."""
    # A copy found through a variant of the query (a bank-side crop, a turn) meets the same gate
    # as at scan time: the sweep acts on what it finds without a person looking.
    hits: list[tuple[str, Hit]] = [
        ("pdq", h)
        for h in engine.content.search_pdq([q.hash for q in query.pdq], radius)
        if admits(
            distance=h.distance,
            threshold=radius,
            query_variant=query.pdq[h.query].variant,
            query_quality=query.pdq[h.query].quality,
            entry_variant="",
            entry_quality=None,
        )
    ]
    for kind in ("md5", "sha256"):
        digest = getattr(query, kind)
        if digest:
            hits += [(kind, h) for h in engine.content.lookup(kind, [digest])]
    if not hits:
        return []
    live = dict(
        db.execute(
            sa.select(ContentSignal.id, ContentSignal.content_id).where(
                ContentSignal.id.in_(sorted({h.row_id for _, h in hits})), ContentSignal.purged.is_(False)
            )
        ).all()
    )
    best: dict[int, CopyHit] = {}
    for kind, hit in hits:
        content_id = live.get(hit.row_id)
        if content_id is None:
            continue
        if content_id not in best or hit.distance < best[content_id].distance:
            best[content_id] = CopyHit(content_id, kind, hit.distance)
    return sorted(best.values(), key=lambda c: (c.distance, c.content_id))


def copies_of_entries(
    db: Session, engine: MatchEngine, entries: list[BankEntry], *, radius: int, unknown_quality: int
) -> dict[int, int]:
    """Stored content carrying any of these bank entries' image signals: content id -> distance
    (0 for an identical MD5 or SHA-256). An entry's own PDQ is looked up plain; a bank-side variant
    (a crop, a turn, a mirrored form) meets the variant gate with its recorded quality, or with
    `unknown_quality` where none was recorded: the caller says how far such an entry is trusted."""
    copies: dict[int, int] = {}
    for kind in ("md5", "sha256"):
        for e in (e for e in entries if e.signal_type == kind):
            for hit in find_copies(
                db, engine, QuerySignals(md5=e.signal) if kind == "md5" else QuerySignals(sha256=e.signal), radius=0
            ):
                copies[hit.content_id] = 0
    pdq = tuple(
        PdqQuery(f"e{e.id}" if e.variant else "", e.signal, e.quality if e.quality is not None else unknown_quality)
        for e in entries
        if e.signal_type == "pdq"
    )
    if pdq:
        for hit in find_copies(db, engine, QuerySignals(pdq=pdq), radius=radius):
            copies.setdefault(hit.content_id, hit.distance)
    return copies
