"""DSA Art. 18: information giving rise to a suspicion that a crime threatening someone's life or
safety has taken place, is taking place or is likely to take place goes promptly to the authorities
of the member state concerned (or Europol), with all relevant information available (DSA-3).

A person marks the threat (with a decision, or on its own): that opens the case's `dsa_art18`
track, one hour from the marking, and queues one notification per member state concerned. The
track is met only when every notification has been sent, so the time it took is measured from the
rows, not assumed. A member state with no configured authority is not a reason to drop the duty:
the track stays open (and is escalated and breached like any other) and administrators are
alerted to configure it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import SYSTEM, Actor, ActorKind
from staydown.audit import AuditTag
from staydown.authorities.models import AuthorityNotification
from staydown.cases import tracks
from staydown.cases.models import Case, TrackKind, TrackState
from staydown.cases.queries import case_contents
from staydown.cases.rules import DEFAULT_RULES, CaseRules
from staydown.db import now
from staydown.delivery.messages import send_email
from staydown.delivery.outbox import JobContext, enqueue
from staydown.errors import InvalidInput, PermissionDenied
from staydown.intake.models import Notice, NoticeItem
from staydown.worklist import alert

EUROPOL = "EU"  # where the member state cannot be identified, Art. 18(2) points to Europol
SEND_NOTIFICATION = "authorities:dsa18:send"
# The 27 member states' ISO codes (Greece as EL in EU usage, GR in ISO: both accepted).
MEMBER_STATES = frozenset(
    {
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "EL",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    }
)


@dataclass
class Marking:
    """What a marking did: the notifications queued, and the member states nobody is configured for."""

    track: Any
    notifications: list[AuthorityNotification] = field(default_factory=list)
    unconfigured: list[str] = field(default_factory=list)


def _address(channel: str) -> str:
    return channel[channel.find("<") + 1 : channel.find(">")] if "<" in channel and ">" in channel else channel


def concerned_states(db: Session, case: Case) -> list[str]:
    """The member states a case concerns, as far as its notices say (their jurisdiction)."""
    ids = sa.select(NoticeItem.notice_id).where(NoticeItem.case_id == case.id)
    found = db.execute(
        sa.select(Notice.jurisdiction).where(Notice.id.in_(ids), Notice.jurisdiction.is_not(None)).distinct()
    ).scalars()
    return sorted({j.upper() for j in found if j and j.upper() in MEMBER_STATES})


def mark_threat(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    facts: str,
    member_states: list[str] | None,
    authorities: dict[str, str],
    rules: CaseRules = DEFAULT_RULES,
) -> Marking:
    """A person's marking of a threat to life or safety (DSA-3). `member_states`: those concerned;
    none given: those the case's notices name, else Europol (Art. 18(2))."""
    if actor.kind is ActorKind.staff and "cases:review" not in actor.permissions:
        raise PermissionDenied("only reviewers mark a threat to life or safety")
    if len((facts or "").strip()) < 20:
        raise InvalidInput("say what gives rise to the suspicion (at least 20 characters)")
    states: list[str] = []
    for raw in member_states or []:
        state = raw.strip().upper()
        if state != EUROPOL and state not in MEMBER_STATES:
            raise InvalidInput(
                f"{raw!r} is not an EU member state code (or EU for Europol, when the member state "
                "cannot be identified)"
            )
        if state not in states:
            states.append(state)
    states = states or concerned_states(db, case) or [EUROPOL]
    when = now(db)
    case.imminent_danger = True
    if case.imminent_danger_at is None:
        case.imminent_danger_at = when
    existing = {
        n.member_state
        for n in db.execute(sa.select(AuthorityNotification).where(AuthorityNotification.case_id == case.id)).scalars()
    }
    new_states = [s for s in states if s not in existing]
    track = next((t for t in case.tracks if t.kind == TrackKind.dsa_art18.value), None)
    if track is None:
        track = tracks.open_track(
            db, actor=actor, case=case, kind=TrackKind.dsa_art18.value, received_at=when, notice_id=None, rules=rules
        )
    elif track.state not in tracks.LIVE_TRACKS and new_states:
        # A later marking for further member states: each is owed within the hour of its marking.
        tracks.reopen(
            db,
            actor=actor,
            track=track,
            why=f"threat marked again for {', '.join(new_states)}",
            due_at=when + rules.duration(TrackKind.dsa_art18.value),
        )
    marking = Marking(track)
    contents = _contents(db, case)
    for state in new_states:
        channel = authorities.get(state)
        if channel is None:
            marking.unconfigured.append(state)
            continue
        body: dict[str, Any] = {
            "legal_basis": "Regulation (EU) 2022/2065, Article 18",
            "case": case.id,
            "member_state": state,
            "facts": facts,
            "content": contents,
            "marked_by": actor.ref,
            "marked_at": when.isoformat(),
        }
        notification = AuthorityNotification(
            case_id=case.id,
            member_state=state,
            authority=channel.split("<")[0].strip() or channel,
            channel=channel,
            body=body,
            created_at=when,
            created_by=actor.ref,
        )
        db.add(notification)
        db.flush()
        enqueue(
            db,
            kind=SEND_NOTIFICATION,
            payload={"notification_id": notification.id},
            idempotency_key=f"dsa18:{notification.id}",
            max_attempts=100,
        )
        marking.notifications.append(notification)
    if marking.unconfigured:
        track.details = {
            **track.details,
            "unconfigured": sorted({*track.details.get("unconfigured", []), *marking.unconfigured}),
        }
        alert(
            db,
            roles=("admin", *rules.escalation_roles),
            kind="dsa18_unconfigured",
            case_id=case.id,
            at=when,
            message=(
                f"case {case.id}: a threat to life or safety must be notified to "
                f"{', '.join(marking.unconfigured)}, but no authority is configured for it "
                "(STAYDOWN_DSA18_AUTHORITIES); the one-hour track stays open until it is sent"
            ),
        )
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.DSA18_NOTIFY,
        subject_type="case",
        subject_id=case.id,
        data={
            "member_states": states,
            "queued": [n.id for n in marking.notifications],
            "unconfigured": marking.unconfigured,
            "facts": facts,
        },
    )
    _meet_if_sent(db, case)
    return marking


def _contents(db: Session, case: Case) -> list[dict[str, Any]]:
    return [
        {"platform_id": c.platform_id, "url": c.url, "account": c.account.platform_id if c.account else None}
        for c in case_contents(db, case)
    ]


def _meet_if_sent(db: Session, case: Case) -> None:
    """The track is met when every notification it owes has left, and none is owed to a member
    state nobody is configured for."""
    track = next((t for t in case.tracks if t.kind == TrackKind.dsa_art18.value), None)
    if track is None or track.state != TrackState.open.value or track.details.get("unconfigured"):
        return
    rows = db.execute(sa.select(AuthorityNotification).where(AuthorityNotification.case_id == case.id)).scalars().all()
    sent = [r.sent_at for r in rows if r.sent_at is not None]
    if rows and len(sent) == len(rows):
        last = max(sent)
        tracks.meet_track(
            db,
            actor=SYSTEM,
            track=track,
            resolution=tracks.NOTIFICATION_SENT,
            facts=f"notified {', '.join(sorted(r.member_state for r in rows))}; last sent {last.isoformat()}",
        )


def send_notification_job(db: Session, ctx: JobContext) -> None:
    """Send one Art. 18 notification by e-mail to the configured channel, then meet the track if it
    was the last one owed. The Message-ID is fixed per notification, so a retry after a crash is
    recognisable downstream."""
    notification = db.get(AuthorityNotification, ctx.payload["notification_id"])
    if notification is None or notification.sent_at is not None:
        return
    send_email(
        ctx,
        to=_address(notification.channel),
        subject=(
            f"DSA Art. 18 notification: suspected threat to life or safety "
            f"(case {notification.case_id}, {notification.member_state})"
        ),
        body="\n".join(f"{k}: {v}" for k, v in notification.body.items()),
        message_id=f"staydown-dsa18-{notification.id}",
    )
    notification.sent_at = now(db)
    audit.record(
        db,
        actor=SYSTEM,
        tag=AuditTag.DSA18_SENT,
        subject_type="case",
        subject_id=notification.case_id,
        data={
            "notification_id": notification.id,
            "member_state": notification.member_state,
            "sent_at": notification.sent_at,
        },
    )
    case = db.get(Case, notification.case_id)
    if case is not None:
        _meet_if_sent(db, case)


def notify_threat(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    member_state: str,
    facts: str,
    authorities: dict[str, str],
    rules: CaseRules = DEFAULT_RULES,
) -> AuthorityNotification | None:
    """One member state (the older call): the notification queued, or None if none is configured."""
    marking = mark_threat(
        db, actor=actor, case=case, facts=facts, member_states=[member_state], authorities=authorities, rules=rules
    )
    return marking.notifications[0] if marking.notifications else None
