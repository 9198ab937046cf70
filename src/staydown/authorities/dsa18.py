"""DSA Art. 18: information giving rise to a suspicion that a crime threatening someone's life or
safety has taken place, is taking place or is likely to take place goes promptly to the authorities
of the member state concerned (or Europol), with all relevant information available."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor, ActorKind
from staydown.audit import AuditTag
from staydown.authorities.models import AuthorityNotification
from staydown.cases.models import Case, TrackKind
from staydown.cases.rules import DEFAULT_RULES, CaseRules
from staydown.db import now
from staydown.delivery.messages import queue_message
from staydown.errors import InvalidInput, PermissionDenied

EUROPOL = "EU"  # where the member state cannot be identified, Art. 18(2) points to Europol


def notify_threat(db: Session, *, actor: Actor, case: Case, member_state: str, facts: str,
                  authorities: dict[str, str], rules: CaseRules = DEFAULT_RULES) -> AuthorityNotification:
    """A reviewer's flag: the structured notification is written and sent from the outbox, and a
    one-hour `dsa_art18` track records when it went (prompt, not at the next batch)."""
    if actor.kind is ActorKind.staff and "cases:review" not in actor.permissions:
        raise PermissionDenied("only reviewers flag a threat to life or safety")
    state = member_state.upper()
    if state not in authorities:
        raise InvalidInput(f"no authority is configured for member state {state!r} "
                           f"(STAYDOWN_DSA18_AUTHORITIES has: {', '.join(sorted(authorities)) or 'none'})")
    if len(facts.strip()) < 20:
        raise InvalidInput("say what gives rise to the suspicion (at least 20 characters)")
    from staydown.cases.actions import case_contents, meet_track, open_track

    contents = case_contents(db, case)
    body: dict[str, Any] = {
        "legal_basis": "Regulation (EU) 2022/2065, Article 18",
        "case": case.id,
        "facts": facts,
        "content": [{"platform_id": c.platform_id, "url": c.url, "account": c.account.platform_id if c.account else None}
                    for c in contents],
        "flagged_by": actor.ref,
        "flagged_at": now(db).isoformat(),
    }
    notification = AuthorityNotification(case_id=case.id, member_state=state, authority=authorities[state].split("<")[0].strip(),
                                          channel=authorities[state], body=body, created_at=now(db), created_by=actor.ref)
    db.add(notification)
    db.flush()
    channel = authorities[state]
    address = channel[channel.find("<") + 1:channel.find(">")] if "<" in channel and ">" in channel else channel
    queue_message(db, notice_id=None, kind="dsa_art18", channel="email", recipient=address,
                  subject=f"DSA Art. 18 notification: suspected threat to life or safety (case {case.id})",
                  body="\n".join(f"{k}: {v}" for k, v in body.items()))
    case.imminent_danger = True
    track = open_track(db, actor=actor, case=case, kind=TrackKind.dsa_art18.value, received_at=now(db),
                       notice_id=None, rules=rules)
    meet_track(db, actor=actor, track=track, resolution="authority_notified",
               facts=f"notification {notification.id} queued to {state}")
    audit.record(db, actor=actor, tag=AuditTag.DSA18_NOTIFY, subject_type="case", subject_id=case.id,
                 data={"notification_id": notification.id, "member_state": state})
    return notification
