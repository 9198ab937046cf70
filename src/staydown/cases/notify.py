"""Tell notifiers what happened to their notice (DSA-1), and keep each notifier's record (DSA-7)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.cases.models import Case, Decision, Outcome
from staydown.cases.tracks import reasons
from staydown.cases.rules import CaseRules
from staydown.delivery.messages import queue_message
from staydown.intake.models import Notice, NoticeItem, NoticeState, Notifier
from staydown.policies.schema import Policy
from staydown.policies.vocab import ACCOUNT_ACTIONS, CONTENT_ACTIONS
from staydown.transparency.scrub import case_scrubber
from staydown.transparency.texts import measure

# A strike or a warning is a record, not a measure a notifier would recognise by name.
MEASURE_KINDS = frozenset(CONTENT_ACTIONS) | (frozenset(ACCOUNT_ACTIONS) - {"strike", "warn"})


def _channel(notice: Any) -> tuple[str, str] | None:
    if notice.contact_email:
        return "email", notice.contact_email
    if notice.reporter_platform_id:
        return "platform", notice.reporter_platform_id
    return None  # anonymous: the status page is how they learn the outcome


def receipt_message(notice: Any, rules: CaseRules) -> dict[str, str] | None:
    """DSA-1: the receipt for a notice (anything with a notice's fields), or None for an anonymous
    notifier, whose status page is how they follow it."""
    channel = _channel(notice)
    if channel is None:
        return None
    lines = [f"We received your report (tracking code {notice.tracking_code}) on "
             f"{notice.received_at.strftime('%Y-%m-%d %H:%M UTC')}."]
    if notice.missing_elements:
        lines.append("It is not complete yet. Still missing: " + ", ".join(notice.missing_elements) + ".")
        lines.append(f"Complete it here: {rules.public_base_url}/takedown?code={notice.tracking_code}")
    lines.append(f"Follow it here: {rules.public_base_url}/status/{notice.tracking_code}")
    return {"channel": channel[0], "recipient": channel[1], "body": "\n\n".join(lines),
            "subject": f"{rules.platform_name}: we received your report {notice.tracking_code}"}


def notices_of(db: Session, case: Case) -> list[Notice]:
    # DISTINCT over the row would compare JSON columns, which PostgreSQL cannot: filter by id.
    ids = sa.select(NoticeItem.notice_id).where(NoticeItem.case_id == case.id)
    return list(db.execute(
        sa.select(Notice).where(Notice.id.in_(ids), Notice.state == NoticeState.received.value)
        .order_by(Notice.id)).scalars())


def tell_outcome(db: Session, *, case: Case, decision: Decision, policy: Policy, rules: CaseRules,
                 manifestly_unfounded: bool = False) -> int:
    """DSA-1/DSA-4: the decision with its reasons and the redress open to the notifier, also
    against a decision not to act. Counts each notifier's founded and unfounded notices."""
    told = 0
    acted = decision.outcome == Outcome.violates.value
    scrub = case_scrubber(db, case.id)
    for notice in notices_of(db, case):
        notice.state = NoticeState.decided.value
        if notice.notifier_id is not None:
            notifier = db.get(Notifier, notice.notifier_id)
            if notifier is not None:
                if acted:
                    notifier.founded += 1
                elif manifestly_unfounded:
                    notifier.manifestly_unfounded += 1
        channel = _channel(notice)
        if channel is None:
            continue
        title = policy.text(notice.language).title
        taken = "; ".join(measure(notice.language, kind) for kind in decision.actions
                          if kind in MEASURE_KINDS) or "none"
        what = (f"We found that it breaks our rule \"{title}\" and took action: {taken}."
                if acted else f"We found that it does not break our rule \"{title}\" and did not act on it.")
        body = "\n\n".join([
            f"Your report {notice.tracking_code} has been decided.", what,
            # The reviewers' words go to a person outside: through the one scrubber, which knows the
            # handles, ids, names, addresses and numbers of everyone on the case (the poster's too).
            f"Our reasons: {scrub(reasons(decision))}",
            f"You can ask us to review this decision within six months, free of charge: "
            f"{rules.public_base_url}/appeal?code={notice.tracking_code}. You may also take it to a certified "
            f"out-of-court dispute settlement body, or to a court.",
        ])
        queue_message(db, notice_id=notice.id, kind="decision", channel=channel[0], recipient=channel[1],
                      subject=f"{rules.platform_name}: decision on your report {notice.tracking_code}", body=body)
        told += 1
    return told
