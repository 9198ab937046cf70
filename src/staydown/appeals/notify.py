"""Telling an appellant: where they are reached (e-mail or the platform), and the outcome of their appeal
with its reasons and the out-of-court option."""

from __future__ import annotations

from sqlalchemy.orm import Session

from staydown import i18n
from staydown.appeals.models import Appeal, AppealOutcome, AppellantKind
from staydown.appeals.queries import OUT_OF_COURT, status_url
from staydown.appeals.rules import AppealRules
from staydown.delivery.messages import queue_message
from staydown.enforcement.models import EnforcementAction
from staydown.i18n import gettext as _
from staydown.intake.models import Notice
from staydown.subjects.models import PlatformAccount
from staydown.transparency.scrub import case_scrubber
from staydown.transparency.texts import measure


def _channel(db: Session, appeal: Appeal) -> tuple[str, str] | None:
    if appeal.contact_email:
        return "email", appeal.contact_email
    if appeal.notice_id is not None:
        notice = db.get(Notice, appeal.notice_id)
        if notice is not None and notice.contact_email:
            return "email", notice.contact_email
        if notice is not None and notice.reporter_platform_id:
            return "platform", notice.reporter_platform_id
    if appeal.appellant.startswith("account:"):
        account = db.get(PlatformAccount, int(appeal.appellant.split(":", 1)[1]))
        if account is not None:
            return "platform", account.platform_id
    return None  # the public status page is how they learn the outcome


def tell(db: Session, *, appeal: Appeal, kind: str, subject: str, lines: list[str], rules: AppealRules) -> None:
    channel = _channel(db, appeal)
    if channel is None:
        return
    queue_message(
        db,
        notice_id=appeal.notice_id,
        kind=kind,
        channel=channel[0],
        recipient=channel[1],
        subject=subject,
        body="\n\n".join(lines),
    )


def tell_outcome(db: Session, *, appeal: Appeal, applied_actions: list[EnforcementAction], rules: AppealRules) -> None:
    notifier = appeal.appellant_kind == AppellantKind.notifier.value
    with i18n.using(appeal.language):
        lang = i18n.current()
        if appeal.outcome == AppealOutcome.upheld.value:
            what = _("We reviewed the decision again, and it stands.")
        elif appeal.outcome == AppealOutcome.reversed.value:
            applied = ", ".join(measure(lang, k) for k in sorted({a.kind for a in applied_actions}))
            what = (
                _(
                    "We reversed the decision and acted on your report: %(measures)s.",
                    measures=applied or _("the measures were applied"),
                )
                if notifier
                else _("We reversed the decision: its measures are lifted, and your content or account is restored.")
            )
        else:
            what = _(
                "We changed the measure. It is now: %(measures)s.",
                measures=", ".join(measure(lang, k) for k in appeal.details.get("measures", [])),
            )
        tell(
            db,
            appeal=appeal,
            kind="appeal_decision",
            rules=rules,
            subject=_("%(platform)s: decision on your appeal %(code)s", platform=rules.platform_name, code=appeal.code),
            lines=[
                _(
                    "Your appeal %(code)s has been decided by a person who took no part in the original decision.",
                    code=appeal.code,
                ),
                what,
                _("Our reasons: %(reasons)s", reasons=case_scrubber(db, appeal.case_id)(appeal.reasons)),
                _(OUT_OF_COURT),
                _("Details: %(url)s", url=status_url(rules, appeal.code)),
            ],
        )
