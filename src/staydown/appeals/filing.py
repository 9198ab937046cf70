"""Filing an appeal: what a statement code or a tracking code lets its holder appeal, the filing itself
with its checks and receipt, and the appellant's withdrawal."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit, i18n
from staydown.actors import Actor
from staydown.appeals import notify
from staydown.appeals.models import NOTIFIER_BASES, Appeal, AppealBasis, AppealState, AppellantKind
from staydown.appeals.queries import OPEN_STATES, Contested, contested_decision, original_deciders, status_url
from staydown.appeals.rules import DEFAULT_APPEAL_RULES, AppealRules
from staydown.audit import AuditTag
from staydown.cases.models import Case, Outcome
from staydown.cases.queries import case_by_id
from staydown.db import now
from staydown.errors import Conflict, InvalidInput, NotFound, RuleViolation
from staydown.i18n import gettext as _
from staydown.intake.batch import new_tracking_code
from staydown.intake.models import Notice, NoticeState
from staydown.intake.queries import notice_by_code
from staydown.intake.schemas import EMAIL_RE
from staydown.subjects.models import PlatformContent
from staydown.transparency.models import StatementOfReasons
from staydown.transparency.statement_views import statement_by_code

MAX_EXPLANATION = 5_000
LANGUAGE_RE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")


def _text(value: str | None, name: str, limit: int) -> str:
    clean = (value or "").strip()
    if not clean:
        raise InvalidInput(f"{name} is empty: say why the decision should change")
    if len(clean) > limit:
        raise InvalidInput(f"{name} is {len(clean)} characters; at most {limit}")
    return clean


def _appellant_for_statement(db: Session, statement: StatementOfReasons) -> str:
    # One person may hold several statements for one decision (the removal and the strike): they
    # are one appellant, known by their account.
    account_id = statement.account_id
    if account_id is None and statement.content_id is not None:
        content = db.get(PlatformContent, statement.content_id)
        account_id = content.account_id if content else None
    return f"account:{account_id}" if account_id is not None else f"statement:{statement.id}"


AFFECTED_USER_BASES = tuple(b.value for b in AppealBasis if b.value not in NOTIFIER_BASES)


@dataclass
class AppealTarget:
    """What a statement code or tracking code lets its holder appeal: the decision in force, until
    when, on which bases, and the appeal they already filed on it, if any. The public form can
    show this before the person writes anything."""

    kind: AppellantKind
    case: Case
    contested: Contested
    appellant: str
    deadline: datetime
    bases: tuple[str, ...]
    statement: StatementOfReasons | None = None
    notice: Notice | None = None
    earlier: Appeal | None = None


def appeal_target(
    db: Session,
    *,
    statement_code: str | None = None,
    tracking_code: str | None = None,
    case_id: int | None = None,
    rules: AppealRules = DEFAULT_APPEAL_RULES,
    for_update: bool = False,
) -> AppealTarget:
    """Resolve a code to the decision it lets its holder appeal. Raises, with a reason the holder
    can read, when there is nothing to appeal (unknown code, no decision yet, measures lifted)."""
    if (statement_code is None) == (tracking_code is None):
        raise InvalidInput(
            "name the decision by exactly one of statement_code (your statement of reasons, if your "
            "content or account was restricted) or tracking_code (your report's code, if you reported)"
        )
    statement: StatementOfReasons | None = None
    notice: Notice | None = None
    target: int | None
    if statement_code is not None:
        statement = statement_by_code(db, statement_code)
        if statement.case_id is None:
            raise Conflict(
                "this measure was not taken in a case decision, so there is no decision to review", code="no_decision"
            )
        target, kind = statement.case_id, AppellantKind.affected_user
        appellant = _appellant_for_statement(db, statement)
    else:
        notice = notice_by_code(db, tracking_code or "")
        if notice.state == NoticeState.incomplete.value:
            raise Conflict(
                "your request is not complete yet, so nothing was decided: complete it first", code="not_decided"
            )
        if notice.state == NoticeState.not_processed.value:
            raise Conflict("your report was not processed, so there is no decision on it to appeal", code="not_decided")
        cases = sorted({i.case_id for i in notice.items if i.case_id})
        if case_id is not None and case_id not in cases:
            raise NotFound(f"your report has no case {case_id}")
        target = case_id if case_id is not None else notice.case_id
        if target is None:
            raise Conflict("there is no decision on your report to appeal yet", code="not_decided")
        kind = AppellantKind.notifier
        appellant = f"notice:{notice.id}"

    # Locked when filing, so that two submissions of the same appeal cannot both pass the
    # one-appeal-per-decision check (PostgreSQL; SQLite has a single writer anyway).
    case = case_by_id(db, target, for_update=for_update)
    contested = contested_decision(db, case)
    if kind is AppellantKind.affected_user:
        if contested.outcome != Outcome.violates.value:
            raise Conflict(
                "the measures of this decision were already lifted"
                if contested.outcome == "reversed"
                else "the case was decided without a measure against you: there is nothing to appeal",
                code="nothing_to_appeal",
            )
        bases = AFFECTED_USER_BASES
    else:
        acted = contested.outcome == Outcome.violates.value
        bases = (AppealBasis.insufficient_action.value,) if acted else (AppealBasis.no_action.value,)

    deadline = contested.decided_at + rules.window
    if statement is not None and statement.appeal_deadline is not None and statement.appeal_deadline > deadline:
        deadline = statement.appeal_deadline  # what the person was told binds us
    earlier = next(
        (
            a
            for a in db.execute(
                sa.select(Appeal)
                .where(
                    Appeal.case_id == case.id,
                    Appeal.appellant == appellant,
                    Appeal.state != AppealState.withdrawn.value,
                )
                .order_by(Appeal.id.desc())
            ).scalars()
            if a.details.get("contested") == contested.ref
        ),
        None,
    )
    return AppealTarget(
        kind=kind,
        case=case,
        contested=contested,
        appellant=appellant,
        deadline=deadline,
        bases=bases,
        statement=statement,
        notice=notice,
        earlier=earlier,
    )


def file_appeal(
    db: Session,
    *,
    actor: Actor,
    statement_code: str | None = None,
    tracking_code: str | None = None,
    case_id: int | None = None,
    basis: str,
    explanation: str,
    contact_email: str | None = None,
    language: str = "en",
    rules: AppealRules = DEFAULT_APPEAL_RULES,
) -> Appeal:
    """File an appeal. An affected user names the decision by their statement of reasons' code; a
    notifier by their report's tracking code (and `case_id` when the report listed items that
    became several cases). Refused, with a reason the appellant can read, when the decision is not
    taken yet, when the window has closed, or when this appellant already appealed this decision."""
    try:
        chosen_basis = AppealBasis(basis)
    except ValueError:
        raise InvalidInput(f"basis must be one of {', '.join(b.value for b in AppealBasis)}") from None
    text = _text(explanation, "explanation", MAX_EXPLANATION)
    if not LANGUAGE_RE.match(language or ""):
        raise InvalidInput("language must be a language code such as 'en' or 'pt-BR'")
    email = (contact_email or "").strip() or None
    if email is not None and (len(email) > 320 or not EMAIL_RE.match(email)):
        raise InvalidInput("contact_email does not look like an e-mail address")
    when = now(db)
    target = appeal_target(
        db, statement_code=statement_code, tracking_code=tracking_code, case_id=case_id, rules=rules, for_update=True
    )
    kind, case, contested, deadline = target.kind, target.case, target.contested, target.deadline
    if chosen_basis.value not in target.bases:
        if kind is AppellantKind.affected_user:
            raise InvalidInput(
                f"'{chosen_basis.value}' is the basis of an appeal by someone who reported; against a "
                "restriction of your content or account use " + ", ".join(AFFECTED_USER_BASES)
            )
        if chosen_basis.value not in NOTIFIER_BASES:
            raise InvalidInput(
                "an appeal on your report contests a decision not to act (no_action) or a measure you "
                "find too weak (insufficient_action)"
            )
        raise InvalidInput(
            "the decision on your report was to act; if you find the measure too weak, the basis is insufficient_action"
            if chosen_basis is AppealBasis.no_action
            else "the decision on your report was not to act: the basis is no_action"
        )
    if when > deadline:
        raise RuleViolation(
            f"the time to appeal this decision has passed: it was taken on "
            f"{contested.decided_at.strftime('%Y-%m-%d %H:%M UTC')} and could be appealed until "
            f"{deadline.strftime('%Y-%m-%d %H:%M UTC')} ({rules.window.days} days). You may still take it to a "
            f"certified out-of-court dispute settlement body or to a court.",
            code="appeal_window_closed",
            details={"decided_at": contested.decided_at.isoformat(), "deadline": deadline.isoformat()},
        )
    previous = target.earlier
    if previous is not None and previous.state in OPEN_STATES:
        raise Conflict(
            f"your appeal on this decision is already open under code {previous.code}",
            code="appeal_already_open",
            details={"appeal_code": previous.code},
        )
    if previous is not None:
        raise Conflict(
            f"this decision was already reviewed on your appeal {previous.code} (outcome: "
            f"{previous.outcome}); you may take it to a certified out-of-court dispute settlement body",
            code="appeal_already_decided",
            details={"appeal_code": previous.code},
        )

    statement, notice = target.statement, target.notice
    # UK-3's expedited route for intimate images, and child-safety cases with it: a child's
    # abuse left up is the harm this project exists to prevent.
    expedited = bool(case.ncii or case.child_safety)
    appeal = Appeal(
        code=new_tracking_code(),
        case_id=case.id,
        statement_id=statement.id if statement else None,
        notice_id=notice.id if notice else None,
        decision_id=contested.decision.id,
        appellant=target.appellant,
        appellant_kind=kind.value,
        basis=chosen_basis.value,
        explanation=text,
        contact_email=email,
        language=language,
        expedited=expedited,
        state=AppealState.received.value,
        policy_ref=contested.decision.policy_ref,
        original_deciders=original_deciders(db, case),
        decision_automated=contested.decision.automated,
        received_at=when,
        due_at=when + (rules.expedited_due if expedited else rules.due),
        details={
            "contested": contested.ref,
            "contested_outcome": contested.outcome,
            "decision_at": contested.decided_at.isoformat(),
            "deadline": deadline.isoformat(),
        },
    )
    db.add(appeal)
    db.flush()
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.APPEAL_FILE,
        subject_type="appeal",
        subject_id=appeal.id,
        data={
            "case_id": case.id,
            "appellant_kind": kind.value,
            "basis": appeal.basis,
            "decision_id": contested.decision.id,
            "contested": contested.ref,
            "statement_id": appeal.statement_id,
            "notice_id": appeal.notice_id,
            "expedited": expedited,
            "due_at": appeal.due_at,
            "deadline": deadline,
            "original_deciders": appeal.original_deciders,
        },
    )
    with i18n.using(appeal.language):
        when_text, due_text = i18n.when(when), i18n.when(appeal.due_at)
        notify.tell(
            db,
            appeal=appeal,
            kind="appeal_receipt",
            rules=rules,
            subject=_("%(platform)s: we received your appeal %(code)s", platform=rules.platform_name, code=appeal.code),
            lines=[
                _("We received your appeal (code %(code)s) on %(when)s.", code=appeal.code, when=when_text),
                _(
                    "A person who took no part in the original decision will review it on our expedited route "
                    "for intimate images, by %(due)s.",
                    due=due_text,
                )
                if expedited
                else _("A person who took no part in the original decision will review it, by %(due)s.", due=due_text),
                _("Follow it here: %(url)s", url=status_url(rules, appeal.code)),
            ],
        )
    return appeal


def withdraw_appeal(db: Session, *, actor: Actor, appeal: Appeal) -> Appeal:
    """The appellant withdraws an appeal that is not decided yet (they hold its code)."""
    if appeal.state not in OPEN_STATES:
        raise Conflict(f"this appeal is {appeal.state} and can no longer be withdrawn")
    appeal.state = AppealState.withdrawn.value
    appeal.claimed_by = None
    appeal.claim_expires_at = None
    appeal.details = {**appeal.details, "withdrawn_at": now(db).isoformat()}
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.APPEAL_WITHDRAW,
        subject_type="appeal",
        subject_id=appeal.id,
        data={"case_id": appeal.case_id},
    )
    return appeal
