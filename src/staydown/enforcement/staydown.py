"""Stay-down (X-5, TID-3): bank a confirmed item's signals, find every stored copy, act on each copy
and on every account that posted one, and keep the record of what was found."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import SYSTEM, Actor
from staydown.audit import AuditTag
from staydown.cases.models import Case, TrackKind
from staydown.cases.queries import case_by_id, case_contents
from staydown.db import now
from staydown.delivery.outbox import JobContext, enqueue
from staydown.enforcement import strikes
from staydown.enforcement.actions import apply_action, apply_actions
from staydown.enforcement.bank_media import ordering_key, queue_bank_media
from staydown.enforcement.models import EnforcementAction, Sweep
from staydown.enforcement.own_banks import own_bank
from staydown.matching import banks
from staydown.matching.matcher import copies_of_entries
from staydown.matching.models import BankEntry, ContentSignal, Scan
from staydown.matching.video import find_video_copies, video_case_entries
from staydown.policies.catalogue import Catalogue, parse_ref
from staydown.policies.schema import Policy
from staydown.policies.vocab import ACCOUNT_ACTIONS, CONTENT_ACTIONS
from staydown.subjects.models import PlatformContent

STAY_DOWN_SWEEP = "stay_down:sweep"


def bank_case_items(db: Session, *, actor: Actor, case: Case, policy: Policy) -> list[BankEntry]:
    """Put the signals of every item in a confirmed case into the platform's own bank, with the case
    as provenance, with the query variants its scans kept. Crops and cut-outs need the media itself:
    queue_sweep first queues enforcement.bank_media, which builds them from the vaulted original."""
    contents = case_contents(db, case)
    ids = [c.id for c in contents] or [-1]
    rows = db.execute(
        sa.select(ContentSignal.content_id, ContentSignal.signal_type, ContentSignal.signal, ContentSignal.quality)
        .where(ContentSignal.content_id.in_(ids), ContentSignal.purged.is_(False))
        .order_by(ContentSignal.id)
    ).all()
    if not rows:
        return []
    note = f"case {case.id}"
    entries: list[banks.NewEntry] = []
    originals: dict[int | None, banks.NewEntry] = {}
    for content_id, kind, signal, quality in rows:
        if kind == "vpdq":
            continue  # banked with its frames and its mirror image, below
        entry = banks.NewEntry(kind, signal, note, quality=quality)
        entries.append(entry)
        if kind == "pdq" and content_id not in originals:
            originals[content_id] = entry
    # Each item's robust variants, kept from its scan, are banked as variants of its PDQ.
    for scan in db.execute(sa.select(Scan).where(Scan.content_id.in_(ids)).order_by(Scan.id)).scalars():
        parent = originals.get(scan.content_id)
        for name, pdq, quality in (scan.signals or {}).get("variants", []) if parent else []:
            entries.append(banks.NewEntry("pdq", pdq, note, variant=str(name)[:40], quality=quality, parent=parent))
    entries += video_case_entries(db, content_ids=ids, note=note)
    bank = own_bank(db, actor=actor, policy=policy)
    result = banks.add_entries(db, actor=actor, bank=bank, source_case_id=case.id, entries=entries)
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.STAY_DOWN_BANK,
        subject_type="case",
        subject_id=case.id,
        data={"bank": bank.name, "added": result.added, "already_banked": result.duplicates},
    )
    return result.entries


def queue_sweep(db: Session, *, case: Case, policy: Policy) -> None:
    """Bank the case's variants from its vaulted originals, then sweep: the two jobs share an
    ordering key, so the sweep searches with the crops and cut-outs already banked."""
    queue_bank_media(db, case=case, policy=policy)
    enqueue(
        db,
        kind=STAY_DOWN_SWEEP,
        payload={"case_id": case.id, "policy": policy.ref},
        idempotency_key=f"sweep:case:{case.id}:{policy.ref}",
        ordering_key=ordering_key(case.id),
    )


# Copies acted on per transaction by the sweep job: each chunk's webhooks leave while the next is
# worked on, and on SQLite the write lock is given up between chunks.
SWEEP_CHUNK = 100


def sweep_case(
    db: Session, *, actor: Actor, engine: Any, case_id: int, policy: Policy, commit_every: int | None = None
) -> Sweep:
    """Find every stored copy of the case's banked items and act on it as on the original.

    With `commit_every`, the work is committed every that many copies (the job does this). A run
    that stopped half-way is resumed by the next: it carries on the unfinished sweep of the case,
    skips copies that already carry the action and accounts the sweep already acted on."""
    case = case_by_id(db, case_id)
    started = now(db)
    entries = (
        db.execute(sa.select(BankEntry).where(BankEntry.source_case_id == case.id, BankEntry.enabled.is_(True)))
        .scalars()
        .all()
    )
    threshold = min((e.bank.pdq_threshold for e in entries), default=31)
    # Our own confirmed item's variants were made from its vaulted original: trusted as detailed.
    copies = copies_of_entries(db, engine, list(entries), radius=threshold, unknown_quality=100)
    for content_id, distance in find_video_copies(db, engine, entries, threshold=threshold).items():
        copies.setdefault(content_id, distance)
    original = {c.id for c in case_contents(db, case)}
    found = [cid for cid in sorted(copies) if cid not in original]
    sweep = db.execute(
        sa.select(Sweep)
        .where(Sweep.case_id == case.id, Sweep.policy_ref == policy.ref, Sweep.finished_at.is_(None))
        .order_by(Sweep.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if sweep is None:
        sweep = Sweep(
            case_id=case.id,
            policy_ref=policy.ref,
            started_at=started,
            signals=len(entries),
            copies_found=len(found),
            content_ids=found,
            account_ids=[],
            actions=0,
        )
        db.add(sweep)
        db.flush()
    else:  # resuming: what is found now is what this sweep covers
        sweep.signals, sweep.copies_found, sweep.content_ids = len(entries), len(found), found
    content_kinds = [k for k in policy.default_actions if k in CONTENT_ACTIONS]
    account_kinds = [k for k in policy.default_actions if k in ACCOUNT_ACTIONS]
    contents = (
        db.execute(sa.select(PlatformContent).where(PlatformContent.id.in_(found or [-1])).order_by(PlatformContent.id))
        .scalars()
        .all()
    )
    accounts: set[int] = set(sweep.account_ids)
    made = sweep.actions
    facts = f"a copy (perceptual or exact match) of an item confirmed in case {case.id} under {policy.ref}"
    step = commit_every or 500
    for start in range(0, len(contents), step):
        chunk = contents[start : start + step]
        # What is already in force, read once per chunk rather than once per copy and account.
        in_force = (
            set(
                db.execute(
                    sa.select(EnforcementAction.content_id, EnforcementAction.kind).where(
                        EnforcementAction.content_id.in_([c.id for c in chunk]),
                        EnforcementAction.kind.in_(content_kinds),
                        EnforcementAction.state == "active",
                    )
                ).all()
            )
            if content_kinds
            else set()
        )
        # The chunk's actions, their statements and webhooks go in with a few set-based statements,
        # in the order one call per copy and per account would have made them.
        specs: list[dict[str, Any]] = [
            {
                "kind": kind,
                "content_id": content.id,
                "case_id": case.id,
                "policy_ref": policy.ref,
                "facts": facts,
                "automated_detection": True,
                "automated_decision": True,
                "details": {"copy_of_case": case.id, "sweep_id": sweep.id, "distance": copies[content.id]},
            }
            for content in chunk
            for kind in content_kinds
            if (content.id, kind) not in in_force
        ]
        made += len(apply_actions(db, actor=actor, specs=specs))
        new_accounts = sorted({c.account_id for c in chunk if c.account_id is not None} - accounts)
        plain = [k for k in account_kinds if k != "strike"]
        in_force = (
            set(
                db.execute(
                    sa.select(EnforcementAction.account_id, EnforcementAction.kind).where(
                        EnforcementAction.account_id.in_(new_accounts),
                        EnforcementAction.kind.in_(plain),
                        EnforcementAction.state == "active",
                    )
                ).all()
            )
            if plain and new_accounts
            else set()
        )
        # One account kind (as every catalogue policy has): batched. Several: one account at a time,
        # since a kind applied first can change what the next one finds in force.
        batched = len(account_kinds) == 1
        requests: list[strikes.StrikeRequest] = []
        specs = []
        for account_id in new_accounts:
            for kind in account_kinds:
                details = {"copy_of_case": case.id, "sweep_id": sweep.id}
                if kind == "strike":
                    made += len(
                        strikes.add_strike(
                            db,
                            actor=actor,
                            account_id=account_id,
                            policy=policy,
                            case_id=case.id,
                            facts=facts,
                            automated=True,
                            details=details,
                            batch=requests if batched else None,
                        )
                    )
                elif (account_id, kind) not in in_force:
                    spec: dict[str, Any] = {
                        "kind": kind,
                        "account_id": account_id,
                        "case_id": case.id,
                        "policy_ref": policy.ref,
                        "facts": facts,
                        "automated_detection": True,
                        "automated_decision": True,
                        "details": details,
                    }
                    if batched:
                        specs.append(spec)
                    else:
                        apply_action(db, actor=actor, **spec)
                        made += 1
            accounts.add(account_id)
        made += len(strikes.add_strikes(db, actor=actor, requests=requests)) + len(
            apply_actions(db, actor=actor, specs=specs)
        )
        # The sweep's progress commits with the chunk's actions, so a resumed run knows where it was.
        sweep.account_ids = sorted(accounts)
        sweep.actions = made
        if commit_every and start + step < len(contents):
            db.commit()
    sweep.finished_at = now(db)
    # TID-3: the reasonable effort to find known identical copies, on the record of the track.
    for track in case.tracks:
        if track.kind == TrackKind.take_it_down.value:
            track.details = {
                **track.details,
                "known_identical_copies": {
                    "sweep_id": sweep.id,
                    "copies": len(found),
                    "accounts": len(accounts),
                    "at": sweep.finished_at.isoformat(),
                },
            }
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.SWEEP_RUN,
        subject_type="case",
        subject_id=case.id,
        data={
            "sweep_id": sweep.id,
            "signals": len(entries),
            "copies": len(found),
            "accounts": len(accounts),
            "actions": made,
        },
    )
    return sweep


def sweep_job(db: Session, ctx: JobContext) -> None:
    engine = ctx.services.get("match_engine")
    if engine is None:
        raise RuntimeError("this worker has no match engine; stay-down sweeps need one")
    engine.catch_up()  # the banked signals and the newest uploads, before searching
    catalogue: Catalogue = ctx.services["catalogue"]
    policy_id, _ = parse_ref(ctx.payload["policy"])
    sweep_case(
        db,
        actor=SYSTEM,
        engine=engine,
        case_id=ctx.payload["case_id"],
        policy=catalogue.get(policy_id),
        commit_every=SWEEP_CHUNK,
    )
