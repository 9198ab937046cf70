"""Appeals against decisions (DSA Art. 20, UK OSA complaints).

The rules this module exists to enforce (REQUIREMENTS.md DSA-4, DSA-5, UK-3, UK-4):
- an affected user (with the code of their statement of reasons) and a notifier (with their
  report's tracking code, also against a decision not to act) can appeal for the configured window
  (at least six months) after the decision; a late appeal is refused with the dates it missed;
- an appeal is decided by a person on the staff who took no part in the contested decision,
  never by automation, and always with reasons;
- a reversal lifts the measures and restores through the normal delivery path (webhooks from the
  outbox); confirmed child sexual abuse material is never restored;
- intimate-image (and child-safety) cases go on an expedited route with a shorter due date and
  first in the queue;
- the appellant is told the outcome with the reasons and the out-of-court option.

For pages: `appeal_target(db, statement_code=...|tracking_code=...)` says what a code lets its
holder appeal (deadline, bases, an appeal already filed); `file_appeal(db, actor=Actor.public(),
...)` files; `public_view(appeal_by_code(db, code))` is what the holder may see. Every refusal is a
`StaydownError` whose `message` is written for the appellant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit, i18n
from staydown.actors import Actor, ActorKind
from staydown.appeals.models import (
    NOTIFIER_BASES,
    Appeal,
    AppealBasis,
    AppealOutcome,
    AppealState,
    AppellantKind,
)
from staydown.appeals.rules import DEFAULT_APPEAL_RULES, AppealRules
from staydown.audit import AuditTag
from staydown.cases.models import Case, CaseState, Decision, DecisionState, Outcome
from staydown.cases.rules import DEFAULT_RULES, CaseRules
from staydown.db import now
from staydown.delivery.messages import queue_message
from staydown.enforcement.actions import apply_action, lift_action
from staydown.enforcement.models import AccountStrike, ActionState, EnforcementAction
from staydown.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RuleViolation
from staydown.i18n import N_
from staydown.i18n import gettext as _
from staydown.intake.models import Notice, NoticeState
from staydown.intake.schemas import EMAIL_RE
from staydown.policies.catalogue import Catalogue, PolicyNotFound, parse_ref
from staydown.policies.schema import Policy
from staydown.policies.vocab import ACCOUNT_ACTIONS, CONTENT_ACTIONS
from staydown.staff.permissions import Permission
from staydown.transparency.models import StatementOfReasons
from staydown.transparency.scrub import case_scrubber
from staydown.transparency.texts import measure
from staydown.worklist import alert, clock_steps, take_lease

OPEN_STATES = (AppealState.received.value, AppealState.in_review.value)
MAX_EXPLANATION = 5_000
MAX_REASONS = 10_000
LANGUAGE_RE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")
REMOVING = ("remove", "disable")
ACCOUNT_REMOVING = ("suspend", "terminate")
# Stored in English on the appeal; the page and the e-mail translate it.
OUT_OF_COURT = N_(
    "If you disagree with this outcome, you may take it to a certified out-of-court dispute settlement "
    "body (DSA Art. 21), free of charge or at a nominal fee for you, or to a court."
)


def status_url(rules: AppealRules, code: str) -> str:
    """The public page of an appeal (served by staydown.web under /appeal)."""
    return f"{rules.public_base_url}/appeal/{code}"


# -- queries ----------------------------------------------------------------------------------


def appeal_by_code(db: Session, code: str, *, for_update: bool = False) -> Appeal:
    from staydown.intake.actions import normalise_code

    try:
        clean = normalise_code(code)
    except NotFound:
        raise NotFound(N_("no appeal with that code")) from None
    stmt = sa.select(Appeal).where(Appeal.code == clean)
    if for_update and db.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    found = db.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(N_("no appeal with that code"))
    return found


def appeal_by_id(db: Session, appeal_id: int, *, for_update: bool = False) -> Appeal:
    stmt = sa.select(Appeal).where(Appeal.id == appeal_id)
    if for_update and db.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    found = db.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no appeal {appeal_id}")
    return found


def appeal_queue(
    db: Session, *, include_child_safety: bool = True, state: str | None = None, limit: int = 50
) -> list[Appeal]:
    """Open appeals: the expedited route (intimate images, UK-3) first, then the nearest due date."""
    stmt = sa.select(Appeal).join(Case, Case.id == Appeal.case_id)
    stmt = stmt.where(Appeal.state == state) if state else stmt.where(Appeal.state.in_(OPEN_STATES))
    if not include_child_safety:
        stmt = stmt.where(Case.child_safety.is_(False))
    stmt = stmt.order_by(Appeal.expedited.desc(), Appeal.due_at.asc().nulls_last(), Appeal.id).limit(limit)
    return list(db.execute(stmt).scalars())


def statement_by_code(db: Session, code: str) -> StatementOfReasons:
    """The statement of reasons an affected user holds (the statements module normalises codes)."""
    from staydown.transparency.statements import statement_by_code as lookup

    return lookup(db, code)


@dataclass
class PublicView:
    """What anyone holding an appeal's code may see: its own progress and outcome, nothing about
    the case's other people, the reviewers, or other appeals."""

    code: str
    state: str
    basis: str
    received_at: datetime
    due_at: datetime | None
    expedited: bool
    outcome: str | None
    decided_at: datetime | None
    reasons: str | None
    redress: str | None


def public_view(appeal: Appeal, db: Session | None = None) -> PublicView:
    """What the holder of the appeal's code may see. The decider's reasons pass through the one
    scrubber with the identifiers on the case (given `db`; without it, its patterns alone)."""
    from staydown.transparency.scrub import Scrubber, case_scrubber

    decided = appeal.state == AppealState.decided.value
    scrub = case_scrubber(db, appeal.case_id) if db is not None else Scrubber()
    return PublicView(
        code=appeal.code,
        state=appeal.state,
        basis=appeal.basis,
        received_at=appeal.received_at,
        due_at=appeal.due_at,
        expedited=appeal.expedited,
        outcome=appeal.outcome if decided else None,
        decided_at=appeal.decided_at if decided else None,
        reasons=scrub(appeal.reasons) if decided and appeal.reasons else None,
        redress=OUT_OF_COURT if decided else None,
    )


# -- what is contested ------------------------------------------------------------------------


@dataclass
class Contested:
    decision: Decision
    decided_at: datetime  # when the decision now in force was taken (a later appeal's change counts)
    ref: str  # "decision:<id>" or "appeal:<id>" when an appeal changed it since
    outcome: str  # the case's outcome now: violates, does_not_violate, reversed


def contested_decision(db: Session, case: Case) -> Contested:
    if case.state != CaseState.decided.value:
        state = "awaits a second review" if case.state == CaseState.second_review.value else "is still being reviewed"
        raise Conflict(
            "there is no decision to appeal yet: the case "
            + state
            + "; you will be told the decision, and can appeal it then",
            code="not_decided",
        )
    decision = db.execute(
        sa.select(Decision)
        .where(
            Decision.case_id == case.id,
            Decision.state.in_([DecisionState.effective.value, DecisionState.upheld.value]),
            Decision.outcome.in_([Outcome.violates.value, Outcome.does_not_violate.value]),
        )
        .order_by(Decision.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if decision is None:
        raise Conflict("there is no decision to appeal yet", code="not_decided")
    decided_at = decision.second_reviewed_at or decision.decided_at
    ref = f"decision:{decision.id}"
    change = db.execute(
        sa.select(Appeal)
        .where(
            Appeal.case_id == case.id,
            Appeal.decision_id == decision.id,
            Appeal.outcome.in_([AppealOutcome.reversed.value, AppealOutcome.modified.value]),
        )
        .order_by(Appeal.decided_at.desc(), Appeal.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if change is not None and change.decided_at is not None and change.decided_at >= decided_at:
        decided_at, ref = change.decided_at, f"appeal:{change.id}"
    return Contested(decision, decided_at, ref, case.outcome or decision.outcome)


def original_deciders(db: Session, case: Case) -> list[str]:
    """Everyone who took part in the case's decisions, and who decided earlier appeals on it: none
    of them may decide an appeal on it (DSA Art. 20: never the same person)."""
    refs: set[str] = set()
    for reviewer, second in db.execute(
        sa.select(Decision.reviewer, Decision.second_reviewer).where(Decision.case_id == case.id)
    ):
        refs.add(reviewer)
        if second:
            refs.add(second)
    refs |= set(
        db.execute(
            sa.select(Appeal.decided_by).where(Appeal.case_id == case.id, Appeal.decided_by.is_not(None))
        ).scalars()
    )
    return sorted(refs)


def _confirmed_csam(case: Case, catalogue: Catalogue) -> bool:
    # The same test reverse_case_measures applies: a human confirmed apparent CSAM, or the case was
    # decided under a child-safety policy.
    policy = catalogue.get(case.policy_id) if case.policy_id and case.policy_id in catalogue else None
    return case.outcome == Outcome.violates.value and (
        case.actual_knowledge_at is not None or bool(policy and policy.child_safety)
    )


# -- filing -----------------------------------------------------------------------------------


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
        from staydown.subjects.models import PlatformContent

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
    from staydown.cases.queries import case_by_id

    statement: StatementOfReasons | None = None
    notice: Notice | None = None
    if statement_code is not None:
        statement = statement_by_code(db, statement_code)
        if statement.case_id is None:
            raise Conflict(
                "this measure was not taken in a case decision, so there is no decision to review", code="no_decision"
            )
        target, kind = statement.case_id, AppellantKind.affected_user
        appellant = _appellant_for_statement(db, statement)
    else:
        from staydown.intake.actions import notice_by_code

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

    from staydown.intake.actions import new_tracking_code

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
        _tell(
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
        from staydown.subjects.models import PlatformAccount

        account = db.get(PlatformAccount, int(appeal.appellant.split(":", 1)[1]))
        if account is not None:
            return "platform", account.platform_id
    return None  # the public status page is how they learn the outcome


def _tell(db: Session, *, appeal: Appeal, kind: str, subject: str, lines: list[str], rules: AppealRules) -> None:
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


# -- claims -----------------------------------------------------------------------------------


def _require_decider(actor: Actor, case: Case) -> None:
    if actor.kind is not ActorKind.staff:
        # DSA Art. 20(6): decided under the supervision of qualified staff, never solely automated.
        raise RuleViolation(
            "an appeal is decided by a qualified person on the staff, never by automated means alone",
            code="appeal_needs_a_person",
        )
    if Permission.APPEALS_DECIDE.value not in actor.permissions:
        raise PermissionDenied(f"this needs the '{Permission.APPEALS_DECIDE.value}' permission")
    if case.child_safety and Permission.CHILD_SAFETY_CASES.value not in actor.permissions:
        raise PermissionDenied("appeals on child-safety cases are decided by child-safety specialists")


def _refuse_original_decider(db: Session, actor: Actor, appeal: Appeal, case: Case) -> None:
    if actor.ref in set(appeal.original_deciders) | set(original_deciders(db, case)):
        raise RuleViolation(
            "you took part in the decision under appeal: a different person must decide the appeal (DSA Art. 20)",
            code="appeal_by_original_decider",
        )


def claim_appeal(db: Session, *, actor: Actor, appeal: Appeal, rules: AppealRules = DEFAULT_APPEAL_RULES) -> Appeal:
    """Take an appeal for review with a lease. Refused to anyone who took part in the decision."""
    case = db.get(Case, appeal.case_id)
    _require_decider(actor, case)
    if appeal.state not in OPEN_STATES:
        raise Conflict(f"appeal {appeal.id} is {appeal.state}")
    _refuse_original_decider(db, actor, appeal, case)
    take_lease(appeal, actor=actor, at=now(db), lease=rules.claim_lease, label=f"appeal {appeal.id}")
    appeal.state = AppealState.in_review.value
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.APPEAL_CLAIM,
        subject_type="appeal",
        subject_id=appeal.id,
        data={"until": appeal.claim_expires_at},
    )
    return appeal


def release_appeal(db: Session, *, actor: Actor, appeal: Appeal) -> Appeal:
    if appeal.claimed_by != actor.ref or appeal.state not in OPEN_STATES:
        raise Conflict(f"appeal {appeal.id} is not claimed by you")
    appeal.claimed_by = None
    appeal.claim_expires_at = None
    appeal.state = AppealState.received.value
    audit.record(db, actor=actor, tag=AuditTag.APPEAL_RELEASE, subject_type="appeal", subject_id=appeal.id, data={})
    return appeal


# -- deciding ---------------------------------------------------------------------------------


@dataclass
class AppealResult:
    appeal: Appeal
    lifted: list[EnforcementAction] = field(default_factory=list)
    applied: list[EnforcementAction] = field(default_factory=list)
    new_decision_id: int | None = None
    disabled_entries: list[Any] = field(default_factory=list)  # bank entries found wrong on appeal


def _policy_for(catalogue: Catalogue, policy_ref: str | None, case: Case) -> Policy:
    """The policy to decide under: `policy_ref` (which must be the version in force), or the one
    named `<id>@current` or, with neither, the case's, each at the version in force."""
    try:
        if policy_ref is None:
            return catalogue.get(case.policy_id)
        policy_id, _, wanted = policy_ref.partition("@")
        if wanted == "current":
            return catalogue.get(policy_id)
        policy_id, version = parse_ref(policy_ref)
        policy = catalogue.get(policy_id)
    except (PolicyNotFound, ValueError) as exc:
        raise InvalidInput(f"no policy to decide under: {exc}; name one with its version in force") from None
    if policy.version != version:
        raise InvalidInput(f"{policy_ref} is not the version in force ({policy.ref}); decide under the current version")
    return policy


def _measures_now(
    db: Session, case: Case, contested: Contested
) -> tuple[set[str], list[tuple[str, EnforcementAction]]]:
    """The measures in force on the case, as decision-level kinds (ladder actions count as 'strike')."""
    from staydown.enforcement import measures

    kinds = set(contested.decision.actions)
    if contested.ref.startswith("appeal:"):
        change = db.get(Appeal, int(contested.ref.split(":", 1)[1]))
        kinds = set(change.details.get("measures", kinds)) if change else kinds
    return measures.in_force(db, case=case, kinds=kinds)


def _modify_measures(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    contested: Contested,
    new: list[str],
    policy: Policy,
    reason: str,
    catalogue: Catalogue,
) -> tuple[list, list]:
    """Replace the measures in force by `new` (`enforcement.measures.replace_measures`): lift what
    goes (restoring content and accounts that nothing keeps down any more), apply what comes,
    through the normal delivery path."""
    from staydown.enforcement import measures

    wanted = list(dict.fromkeys(new))
    unknown = [k for k in wanted if k not in CONTENT_ACTIONS and k not in ACCOUNT_ACTIONS]
    if unknown:
        raise InvalidInput(f"unknown measure(s): {', '.join(unknown)}")
    if not wanted:
        raise InvalidInput(
            "a modified outcome names the measures that replace the current ones (none at all is 'reversed')"
        )
    if _confirmed_csam(case, catalogue) and not set(wanted) & set(REMOVING):
        raise RuleViolation(
            "confirmed child sexual abuse material is never restored: the measures must keep it removed or disabled",
            code="csam_never_restored",
        )
    current, tagged = _measures_now(db, case, contested)
    if set(wanted) == current:
        raise InvalidInput(f"these are the measures in force now ({', '.join(sorted(current))}): that is 'upheld'")
    return measures.replace_measures(
        db, actor=actor, case=case, current=current, tagged=tagged, wanted=wanted, policy=policy, reason=reason
    )


def _decide_violates(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    policy: Policy,
    actions: list[str] | None,
    reasons: str,
    appeal: Appeal,
    catalogue: Catalogue,
    case_rules: CaseRules,
) -> tuple[int, list]:
    """A notifier's appeal against a decision not to act, granted: the appeal's decider (a person
    who took no part in it) decides the case 'violates' under the policy in force, through the
    cases module, so every consequence of a decision follows (measures, stay-down, NCMEC clock)."""
    from staydown.cases.actions import claim_case
    from staydown.flows.decisions import decide_case

    # Reopened for the appeal's decider, who takes it through the ordinary, audited claim (which
    # refuses if someone else holds a live claim on it).
    case.state = CaseState.open.value
    claim_case(db, actor=actor, case=case, rules=case_rules)
    result = decide_case(
        db,
        actor=actor,
        case=case,
        policy_ref=policy.ref,
        outcome=Outcome.violates.value,
        facts=reasons,
        actions=actions,
        note=f"decided on appeal {appeal.code}",
        catalogue=catalogue,
        rules=case_rules,
    )
    return result.decision.id, result.actions


def matched_entries(db: Session, case: Any) -> list[int]:
    """The bank entries whose matches at upload opened or joined this case (its detections)."""
    from staydown.intake.models import Notice, NoticeItem, NoticeKind

    ids: list[int] = []
    for details in db.execute(
        sa.select(Notice.details).where(
            Notice.kind == NoticeKind.detection.value,
            Notice.id.in_(sa.select(NoticeItem.notice_id).where(NoticeItem.case_id == case.id)),
        )
    ).scalars():
        for match in (details or {}).get("matches") or []:
            entry = match.get("entry_id") if isinstance(match, dict) else None
            if isinstance(entry, int) and entry not in ids:
                ids.append(entry)
    return ids


def _false_positive(db: Session, *, actor: Actor, appeal: Appeal, case: Any, wrong: bool | None) -> list[Any]:
    """DSA Art. 20(4), EUI-1: a reversal that found the bank entry wrong takes it out of matching."""
    from staydown.matching.banks import disable_entry
    from staydown.matching.models import BankEntry

    if not wrong:
        return []
    disabled = []
    for entry_id in matched_entries(db, case):
        entry = db.get(BankEntry, entry_id)
        if entry is None or not entry.enabled:
            continue
        # A variant's parent goes, and with it every variant: the item was wrong, not one crop.
        target = db.get(BankEntry, entry.parent_id) if entry.parent_id else entry
        if target is None or not target.enabled:
            continue
        disable_entry(
            db,
            actor=actor,
            entry=target,
            reason=f"false positive: appeal {appeal.code} reversed the decision on case {case.id}",
        )
        disabled.append(target)
    return disabled


def decide_appeal(
    db: Session,
    *,
    actor: Actor,
    appeal: Appeal,
    outcome: str,
    reasons: str,
    catalogue: Catalogue,
    actions: list[str] | None = None,
    policy_ref: str | None = None,
    rules: AppealRules = DEFAULT_APPEAL_RULES,
    case_rules: CaseRules = DEFAULT_RULES,
    bank_entry_wrong: bool | None = None,
) -> AppealResult:
    """Decide an appeal, with reasons, as a person who took no part in the decision.

    An affected user's reversal of a decision that rested on a bank match must say whether the
    bank entry was wrong (`bank_entry_wrong`): if so, the entries that matched are disabled with
    the appeal as their reason (audited), so the same upload is no longer held; if not (the entry
    is right, the context made it lawful), they stay.

    - upheld: nothing changes.
    - reversed: for an affected user, every measure of the case is lifted and the content and
      accounts restored (never confirmed CSAM); for a notifier against a decision not to act, the
      case is decided 'violates' under `policy_ref` (default: the case's policy in force) with
      `actions` (default: the policy's).
    - modified: the measures in force are replaced by `actions` (e.g. removal by an age
      restriction, a suspension by a warning; or, for a notifier, stronger measures).
    The appellant is told the outcome, the reasons and the out-of-court option."""
    from staydown.cases.queries import case_by_id
    from staydown.enforcement.measures import reverse_case_measures

    case = case_by_id(db, appeal.case_id, for_update=True)
    _require_decider(actor, case)
    try:
        chosen = AppealOutcome(outcome)
    except ValueError:
        raise InvalidInput(f"outcome must be one of {', '.join(o.value for o in AppealOutcome)}") from None
    text = (reasons or "").strip()
    if not text:
        raise InvalidInput("an appeal decision needs its reasons: the appellant is told them")
    if len(text) > MAX_REASONS:
        raise InvalidInput(f"reasons are {len(text)} characters; at most {MAX_REASONS}")
    if appeal.state not in OPEN_STATES:
        raise Conflict(f"appeal {appeal.id} is already {appeal.state}")
    _refuse_original_decider(db, actor, appeal, case)
    when = now(db)
    if appeal.claimed_by != actor.ref or not appeal.claim_expires_at or appeal.claim_expires_at <= when:
        raise Conflict(f"claim appeal {appeal.id} before deciding it (or your claim has expired)")
    if actions is not None and chosen is AppealOutcome.upheld:
        raise InvalidInput("an upheld decision keeps its measures: leave actions out")
    if bank_entry_wrong is not None and not (chosen is AppealOutcome.reversed and matched_entries(db, case)):
        raise InvalidInput("bank_entry_wrong answers a reversal of a decision that rested on a bank match")
    if (
        chosen is AppealOutcome.reversed
        and appeal.appellant_kind != AppellantKind.notifier.value
        and bank_entry_wrong is None
        and matched_entries(db, case)
    ):
        raise InvalidInput(
            "this decision rested on a bank match: say whether the bank entry was wrong "
            "(bank_entry_wrong: true disables it, so the same upload is no longer held)"
        )

    contested = contested_decision(db, case)
    if chosen is not AppealOutcome.upheld and contested.ref != appeal.details.get("contested"):
        raise Conflict(
            "the decision under appeal has changed since this appeal was filed "
            f"(now {contested.ref}, outcome {contested.outcome}); uphold it, or the appellant appeals the "
            "new decision",
            code="decision_changed",
        )
    result = AppealResult(appeal)
    reason = f"appeal {appeal.code}: {text}"
    notifier = appeal.appellant_kind == AppellantKind.notifier.value
    if chosen is AppealOutcome.reversed:
        if notifier:
            if contested.outcome == Outcome.violates.value:
                raise InvalidInput(
                    "the decision on this report was to act: grant a notifier's appeal for stronger "
                    "measures as 'modified', with the measures"
                )
            policy = _policy_for(catalogue, policy_ref, case)
            result.new_decision_id, result.applied = _decide_violates(
                db,
                actor=actor,
                case=case,
                policy=policy,
                actions=actions,
                reasons=text,
                appeal=appeal,
                catalogue=catalogue,
                case_rules=case_rules,
            )
        else:
            if actions is not None or policy_ref is not None:
                raise InvalidInput(
                    "a reversal lifts every measure: leave actions and policy out (use 'modified' "
                    "for a different measure)"
                )
            if _confirmed_csam(case, catalogue):
                raise RuleViolation(
                    "confirmed child sexual abuse material is never restored, so this decision cannot "
                    "be reversed on appeal; a mistaken confirmation is corrected by the child-safety "
                    "team through a new review",
                    code="csam_never_restored",
                )
            lifted_before = set(
                db.execute(
                    sa.select(EnforcementAction.id).where(
                        EnforcementAction.case_id == case.id, EnforcementAction.state == ActionState.active.value
                    )
                ).scalars()
            )
            try:
                result.applied = reverse_case_measures(db, actor=actor, case=case, reason=reason, catalogue=catalogue)
            except RuleViolation as exc:
                raise RuleViolation(exc.message, code="csam_never_restored") from None
            result.lifted = [db.get(EnforcementAction, i) for i in sorted(lifted_before)]
            result.disabled_entries = _false_positive(db, actor=actor, appeal=appeal, case=case, wrong=bank_entry_wrong)
    elif chosen is AppealOutcome.modified:
        if notifier and contested.outcome != Outcome.violates.value:
            raise InvalidInput(
                "an appeal against a decision not to act is granted as 'reversed', with the measures to take"
            )
        if not notifier and contested.outcome != Outcome.violates.value:
            raise Conflict("the measures of this decision were already lifted", code="nothing_to_appeal")
        if actions is None:
            raise InvalidInput("a modified outcome names the measures that replace the current ones")
        # The new measures cite the policy in force (its current version), unless the decider names another.
        policy = _policy_for(catalogue, policy_ref or f"{parse_ref(contested.decision.policy_ref)[0]}@current", case)
        result.lifted, result.applied = _modify_measures(
            db,
            actor=actor,
            case=case,
            contested=contested,
            new=actions,
            policy=policy,
            reason=reason,
            catalogue=catalogue,
        )
        appeal.details = {**appeal.details, "measures": list(dict.fromkeys(actions)), "policy_ref": policy.ref}
    appeal.state = AppealState.decided.value
    appeal.outcome = chosen.value
    appeal.reasons = text
    appeal.decided_by = actor.ref
    appeal.decided_at = when
    appeal.claimed_by = None
    appeal.claim_expires_at = None
    appeal.details = {
        **appeal.details,
        "lifted": [a.id for a in result.lifted],
        "applied": [a.id for a in result.applied],
        "new_decision_id": result.new_decision_id,
        "late": bool(appeal.due_at and when > appeal.due_at),
    }
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.APPEAL_DECIDE,
        subject_type="appeal",
        subject_id=appeal.id,
        data={
            "case_id": case.id,
            "outcome": chosen.value,
            "reasons": text,
            "appellant_kind": appeal.appellant_kind,
            "original_deciders": appeal.original_deciders,
            "lifted": [a.id for a in result.lifted],
            "applied": [a.id for a in result.applied],
            "measures": appeal.details.get("measures"),
            "new_decision_id": result.new_decision_id,
            "due_at": appeal.due_at,
            "late": appeal.details["late"],
            "bank_entry_wrong": bank_entry_wrong,
            "disabled_bank_entries": [e.id for e in result.disabled_entries],
        },
    )
    _tell_outcome(db, appeal=appeal, result=result, rules=rules)
    return result


def _tell_outcome(db: Session, *, appeal: Appeal, result: AppealResult, rules: AppealRules) -> None:
    notifier = appeal.appellant_kind == AppellantKind.notifier.value
    with i18n.using(appeal.language):
        lang = i18n.current()
        if appeal.outcome == AppealOutcome.upheld.value:
            what = _("We reviewed the decision again, and it stands.")
        elif appeal.outcome == AppealOutcome.reversed.value:
            applied = ", ".join(measure(lang, k) for k in sorted({a.kind for a in result.applied}))
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
        _tell(
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


# -- due dates --------------------------------------------------------------------------------

APPEAL_DEADLINES = "appeals:sweep_deadlines"
ALERT_ROLES = ("senior_moderator",)
CHILD_SAFETY_ALERT_ROLES = ("child_safety",)


@dataclass
class AppealSweepReport:
    escalated: int = 0
    breached: int = 0


def sweep_appeal_deadlines(
    db: Session, *, actor: Actor, rules: AppealRules = DEFAULT_APPEAL_RULES
) -> AppealSweepReport:
    """Alert the people who decide appeals when an open appeal nears its due date and when it
    passes it (DSA-4: without undue delay; UK-3: the expedited route). Each step happens once per
    appeal, so the sweep is safe to run often and from several workers."""
    when = now(db)
    report = AppealSweepReport()
    rows = db.execute(
        sa.select(Appeal, Case.child_safety)
        .join(Case, Case.id == Appeal.case_id)
        .where(Appeal.state.in_(OPEN_STATES), Appeal.due_at.is_not(None))
        .order_by(Appeal.due_at)
    ).all()
    for appeal, child_safety in rows:
        steps = clock_steps(
            received_at=appeal.received_at,
            due_at=appeal.due_at,
            at=when,
            escalate_at_remaining_fraction=rules.escalate_at_remaining_fraction,
            escalated="escalated_at" in appeal.details,
            breached="breached_at" in appeal.details,
        )
        roles = CHILD_SAFETY_ALERT_ROLES if child_safety else ALERT_ROLES
        route = "expedited appeal" if appeal.expedited else "appeal"
        if steps.escalate:
            appeal.details = {**appeal.details, "escalated_at": when.isoformat()}
            report.escalated += 1
            alert(
                db,
                roles=roles,
                kind="appeal_due_soon",
                case_id=appeal.case_id,
                at=when,
                message=(
                    f"{route} {appeal.id} (case {appeal.case_id}) is due {appeal.due_at.isoformat()} "
                    f"({max(steps.remaining.total_seconds(), 0) / 3600:.1f} h left)"
                ),
            )
            audit.record(
                db,
                actor=actor,
                tag=AuditTag.APPEAL_ESCALATE,
                subject_type="appeal",
                subject_id=appeal.id,
                data={"due_at": appeal.due_at, "expedited": appeal.expedited, "roles": list(roles)},
            )
        if steps.breach:
            appeal.details = {**appeal.details, "breached_at": when.isoformat()}
            report.breached += 1
            alert(
                db,
                roles=roles,
                kind="appeal_overdue",
                case_id=appeal.case_id,
                at=when,
                message=(
                    f"{route} {appeal.id} (case {appeal.case_id}) was due {appeal.due_at.isoformat()} "
                    f"and is not decided"
                ),
            )
            audit.record(
                db,
                actor=actor,
                tag=AuditTag.APPEAL_BREACH,
                subject_type="appeal",
                subject_id=appeal.id,
                data={"due_at": appeal.due_at, "expedited": appeal.expedited},
            )
    return report


def appeal_deadlines_job(db: Session, ctx: Any) -> None:
    from staydown.actors import SYSTEM

    settings = getattr(ctx, "services", {}).get("settings")
    rules = AppealRules.from_settings(settings) if settings is not None else DEFAULT_APPEAL_RULES
    sweep_appeal_deadlines(db, actor=SYSTEM, rules=rules)


__all__ = [
    "AppealResult",
    "AppealTarget",
    "PublicView",
    "appeal_by_code",
    "appeal_by_id",
    "appeal_queue",
    "appeal_target",
    "claim_appeal",
    "decide_appeal",
    "file_appeal",
    "original_deciders",
    "public_view",
    "release_appeal",
    "statement_by_code",
    "sweep_appeal_deadlines",
    "withdraw_appeal",
]
