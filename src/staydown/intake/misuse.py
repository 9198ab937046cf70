"""Trusted flaggers (DSA Art. 22) and measures against misuse of the notice system (DSA Art. 23)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.db import get_or_404, now
from staydown.errors import Conflict, InvalidInput, RuleViolation
from staydown.intake.models import Notice, NoticeState, Notifier, TrustedFlagger
from staydown.policies.vocab import AREAS

# Art. 23 asks a platform to weigh count, proportion, gravity and intent, never count alone: a
# suspension needs all four, and these floors keep an honest prolific reporter out of reach.
MIN_UNFOUNDED_FOR_SUSPENSION = 5
MIN_UNFOUNDED_SHARE = 0.5


def register_trusted_flagger(
    db: Session,
    *,
    actor: Actor,
    name: str,
    areas: list[str],
    designated_by: str,
    contact_email: str | None = None,
    api_client_id: int | None = None,
) -> TrustedFlagger:
    unknown = [a for a in areas if a not in AREAS]
    if not areas or unknown:
        raise InvalidInput(f"a trusted flagger needs fields of expertise from: {', '.join(AREAS)}")
    if not designated_by.strip():
        raise InvalidInput("say who designated the trusted flagger (e.g. the Digital Services Coordinator)")
    if db.execute(sa.select(TrustedFlagger.id).where(TrustedFlagger.name == name)).first():
        raise Conflict(f"a trusted flagger named {name!r} is already registered")
    flagger = TrustedFlagger(
        name=name,
        areas=sorted(set(areas)),
        designated_by=designated_by,
        contact_email=contact_email,
        api_client_id=api_client_id,
        active=True,
        created_at=now(db),
    )
    db.add(flagger)
    db.flush()
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.TRUSTED_FLAGGER_ADD,
        subject_type="trusted_flagger",
        subject_id=flagger.id,
        data={"name": name, "areas": flagger.areas, "designated_by": designated_by, "api_client_id": api_client_id},
    )
    return flagger


@dataclass(frozen=True)
class FlaggerFigures:
    flagger_id: int
    name: str
    notices: int
    decided: int
    founded: int
    accuracy: float | None  # founded / decided


def flagger_figures(db: Session) -> list[FlaggerFigures]:
    out = []
    for flagger in db.execute(sa.select(TrustedFlagger).order_by(TrustedFlagger.name)).scalars():
        notifier = db.execute(
            sa.select(Notifier).where(Notifier.key == f"trusted_flagger:{flagger.id}")
        ).scalar_one_or_none()
        total = (
            db.scalar(sa.select(sa.func.count()).select_from(Notice).where(Notice.trusted_flagger_id == flagger.id))
            or 0
        )
        decided = (
            db.scalar(
                sa.select(sa.func.count())
                .select_from(Notice)
                .where(Notice.trusted_flagger_id == flagger.id, Notice.state == NoticeState.decided.value)
            )
            or 0
        )
        founded = notifier.founded if notifier else 0
        out.append(
            FlaggerFigures(
                flagger.id, flagger.name, total, decided, founded, round(founded / decided, 4) if decided else None
            )
        )
    return out


def notifier_by_id(db: Session, notifier_id: int) -> Notifier:
    return get_or_404(db, Notifier, notifier_id, "notifier")


def warn_notifier(db: Session, *, actor: Actor, notifier: Notifier, reasons: str) -> Notifier:
    """The prior warning Art. 23 requires before any suspension."""
    if notifier.manifestly_unfounded < 1:
        raise RuleViolation("a notifier is warned only after notices found manifestly unfounded")
    if len(reasons.strip()) < 20:
        raise InvalidInput("a warning states its reasons (at least 20 characters)")
    notifier.warned_at = now(db)
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.NOTIFIER_WARN,
        subject_type="notifier",
        subject_id=notifier.id,
        data={"reasons": reasons, "notices": notifier.notices, "manifestly_unfounded": notifier.manifestly_unfounded},
    )
    return notifier


def suspend_notifier(
    db: Session, *, actor: Actor, notifier: Notifier, gravity: str, intent: str, until: datetime
) -> Notifier:
    """Stop processing a notifier's notices for a reasonable period (Art. 23(2)): only after a prior
    warning, and only weighing count, proportion, gravity and intent; child-safety reports from
    them are still processed (see intake.actions)."""
    when = now(db)
    if notifier.warned_at is None:
        raise RuleViolation("a notifier must be warned before notices from them are suspended")
    if notifier.manifestly_unfounded < MIN_UNFOUNDED_FOR_SUSPENSION:
        raise RuleViolation(f"fewer than {MIN_UNFOUNDED_FOR_SUSPENSION} manifestly unfounded notices: not frequent")
    share = notifier.manifestly_unfounded / max(notifier.notices, 1)
    if share < MIN_UNFOUNDED_SHARE:
        raise RuleViolation(
            f"only {share:.0%} of their notices were manifestly unfounded: the count alone is no ground to suspend"
        )
    if len(gravity.strip()) < 20 or len(intent.strip()) < 20:
        raise InvalidInput("assess the gravity of the misuse and the notifier's intent, in words")
    if until <= when:
        raise InvalidInput("a suspension ends in the future")
    notifier.suspended_until = until
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.NOTIFIER_SUSPEND,
        subject_type="notifier",
        subject_id=notifier.id,
        data={
            "until": until,
            "count": notifier.manifestly_unfounded,
            "share": round(share, 4),
            "gravity": gravity,
            "intent": intent,
            "warned_at": notifier.warned_at,
        },
    )
    return notifier
