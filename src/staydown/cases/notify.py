"""Tell notifiers what happened to their notice (DSA-1), and keep each notifier's record (DSA-7)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import i18n
from staydown.cases.models import Case, Decision, Outcome
from staydown.cases.rules import CaseRules
from staydown.cases.tracks import reasons
from staydown.delivery.messages import queue_message
from staydown.i18n import gettext as _
from staydown.intake.models import Notice, NoticeItem, NoticeState, Notifier
from staydown.intake.takedown import TAKE_IT_DOWN_ELEMENTS
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
    """DSA-1: the receipt for a notice (anything with a notice's fields), in the notifier's
    language, or None for an anonymous notifier, whose status page is how they follow it. An
    incomplete TAKE IT DOWN request's receipt names what is missing and how to complete it (TID-1)."""
    channel = _channel(notice)
    if channel is None:
        return None
    base = rules.public_base_url.rstrip("/")
    code = notice.tracking_code
    with i18n.using(getattr(notice, "language", None)):
        lines = [
            _(
                "We received your report (tracking code %(code)s) on %(when)s.",
                code=code,
                when=i18n.when(notice.received_at),
            )
        ]
        if notice.missing_elements:
            lines.append(
                _(
                    "Your TAKE IT DOWN request is not complete yet, so its time limit has not started. "
                    "We have kept it. It still needs:"
                )
            )
            lines.append("\n".join("- " + _(TAKE_IT_DOWN_ELEMENTS.get(m, m)) for m in notice.missing_elements))
            lines.append(
                _(
                    "To complete it, open this page and fill in what is missing: %(url)s",
                    url=f"{base}/takedown?code={code}",
                )
            )
            lines.append(
                _("Or go to %(url)s and enter your tracking code %(code)s.", url=f"{base}/takedown/complete", code=code)
            )
        lines.append(_("Follow it here: %(url)s", url=f"{base}/status/{code}"))
        subject = _("%(platform)s: we received your report %(code)s", platform=rules.platform_name, code=code)
    return {"channel": channel[0], "recipient": channel[1], "body": "\n\n".join(lines), "subject": subject}


def notices_of(db: Session, case: Case) -> list[Notice]:
    # DISTINCT over the row would compare JSON columns, which PostgreSQL cannot: filter by id.
    ids = sa.select(NoticeItem.notice_id).where(NoticeItem.case_id == case.id)
    return list(
        db.execute(
            sa.select(Notice).where(Notice.id.in_(ids), Notice.state == NoticeState.received.value).order_by(Notice.id)
        ).scalars()
    )


def tell_outcome(
    db: Session, *, case: Case, decision: Decision, policy: Policy, rules: CaseRules, manifestly_unfounded: bool = False
) -> int:
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
        with i18n.using(notice.language):
            title = policy.text(i18n.current()).title
            taken = "; ".join(measure(i18n.current(), kind) for kind in decision.actions if kind in MEASURE_KINDS) or _(
                "none"
            )
            what = (
                _('We found that it breaks our rule "%(title)s" and took action: %(taken)s.', title=title, taken=taken)
                if acted
                else _('We found that it does not break our rule "%(title)s" and did not act on it.', title=title)
            )
            body = "\n\n".join(
                [
                    _("Your report %(code)s has been decided.", code=notice.tracking_code),
                    what,
                    # The reviewers' words go to a person outside: through the one scrubber, which knows the
                    # handles, ids, names, addresses and numbers of everyone on the case (the poster's too).
                    _("Our reasons: %(reasons)s", reasons=scrub(reasons(decision))),
                    _(
                        "You can ask us to review this decision within six months, free of charge: %(url)s. "
                        "You may also take it to a certified out-of-court dispute settlement body, or to a court.",
                        url=f"{rules.public_base_url.rstrip('/')}/appeal?notice={notice.tracking_code}",
                    ),
                ]
            )
            subject = _(
                "%(platform)s: decision on your report %(code)s",
                platform=rules.platform_name,
                code=notice.tracking_code,
            )
        queue_message(
            db,
            notice_id=notice.id,
            kind="decision",
            channel=channel[0],
            recipient=channel[1],
            subject=subject,
            body=body,
        )
        told += 1
    return told
