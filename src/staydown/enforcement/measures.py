"""A decision's measures, in one place: applying them, replacing them, reversing them, the interim
restriction before any decision, and what the platform's confirmation of a removal meets.

Nothing is destroyed, so every measure can be lifted and what it withdrew restored, except
confirmed CSAM, which never comes back. Each step goes through `enforcement.actions`, so every
measure has its statement of reasons, webhook and audit event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.cases import tracks
from staydown.cases.models import Case, Decision, Outcome
from staydown.cases.queries import case_by_id, case_contents
from staydown.db import now
from staydown.enforcement import strikes
from staydown.enforcement.actions import active_actions, apply_action, apply_actions, lift_action, subject_of
from staydown.enforcement.models import AccountStrike, ActionState, EnforcementAction
from staydown.enforcement.staydown import bank_case_items, queue_sweep
from staydown.errors import RuleViolation
from staydown.matching.banks import disable_entry
from staydown.matching.models import BankEntry
from staydown.policies.catalogue import Catalogue
from staydown.policies.schema import Policy
from staydown.policies.vocab import ACCOUNT_ACTIONS, CONTENT_ACTIONS
from staydown.subjects.models import PlatformContent

REMOVING = ("remove", "disable")  # content measures that take an item down
ACCOUNT_REMOVING = ("suspend", "terminate")  # account measures that take an account out
REMOVAL_KINDS = REMOVING  # what a platform's confirmation of removal is about
INTERIM_SCOPE = ["recommendation", "search", "monetisation"]


# -- before a decision: the interim restriction (X-4) ------------------------------------------


def confirmed_csam(case: Case, catalogue: Catalogue) -> bool:
    """Confirmed child sexual abuse material, which no reversal or appeal restores: decided 'violates'
    after a person confirmed apparent CSAM, or under a child-safety policy."""
    policy = catalogue.get(case.policy_id) if case.policy_id is not None and case.policy_id in catalogue else None
    return case.outcome == Outcome.violates.value and (
        case.actual_knowledge_at is not None or bool(policy and policy.child_safety)
    )


def restrict_distribution(
    db: Session, *, actor: Actor, content_id: int, case_id: int, reason: str
) -> EnforcementAction:
    """X-4: out of recommendation, search and monetisation at once, pending review (idempotent)."""
    existing = active_actions(db, content_id=content_id, kind="restrict_distribution")
    if existing:
        return existing[0]
    return apply_action(
        db,
        actor=actor,
        kind="restrict_distribution",
        content_id=content_id,
        case_id=case_id,
        facts=reason,
        interim=True,
        details={"scope": list(INTERIM_SCOPE)},
    )


@dataclass(frozen=True)
class Restriction:
    """One interim restriction a batch of notices asks for."""

    actor: Actor
    content_id: int
    case_id: int
    facts: str


def restrict_many(db: Session, restrictions: list[Restriction]) -> None:
    """`restrict_distribution` for a batch of notices: content that already carries an active
    restriction keeps it, the others get theirs with one `apply_actions` per run of the same actor,
    in order: the same rows as one at a time."""
    if not restrictions:
        return
    already = set(
        db.connection()
        .execute(
            sa.select(EnforcementAction.content_id).where(
                EnforcementAction.content_id.in_(sorted({r.content_id for r in restrictions})),
                EnforcementAction.kind == "restrict_distribution",
                EnforcementAction.state == ActionState.active.value,
            )
        )
        .scalars()
    )
    todo = [r for r in restrictions if r.content_id not in already]
    start = 0
    while start < len(todo):
        end = start
        while end < len(todo) and todo[end].actor == todo[start].actor:
            end += 1
        apply_actions(
            db,
            actor=todo[start].actor,
            specs=[
                {
                    "kind": "restrict_distribution",
                    "content_id": r.content_id,
                    "case_id": r.case_id,
                    "facts": r.facts,
                    "interim": True,
                    "details": {"scope": list(INTERIM_SCOPE)},
                }
                for r in todo[start:end]
            ],
        )
        start = end


# -- a decision takes effect ----------------------------------------------------------------------


def apply_decision(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    decision: Decision,
    policy: Policy,
    contents: list[PlatformContent],
) -> list[EnforcementAction]:
    """A decision's measures on every item reported in the case (`contents`) and every account that
    posted one; the interim restrictions are lifted, replaced by the measures or, after a "does not
    violate", because nothing was found."""
    interim = [a for c in contents for a in active_actions(db, content_id=c.id, interim=True)]
    applied: list[EnforcementAction] = []
    if decision.outcome != Outcome.violates.value:
        for action in interim:
            lift_action(db, actor=actor, action=action, reason=f"no violation found (decision {decision.id})")
        return applied
    accounts = sorted({c.account_id for c in contents if c.account_id is not None})
    for kind in decision.actions:
        if kind in CONTENT_ACTIONS:
            for content in contents:
                applied.append(
                    apply_action(
                        db,
                        actor=actor,
                        kind=kind,
                        content_id=content.id,
                        case_id=case.id,
                        policy_ref=policy.ref,
                        facts=decision.facts,
                        automated_detection=decision.automated,
                        automated_decision=decision.automated,
                    )
                )
        elif kind == "strike":
            for account_id in accounts:
                applied += strikes.add_strike(
                    db,
                    actor=actor,
                    account_id=account_id,
                    policy=policy,
                    case_id=case.id,
                    facts=decision.facts,
                    automated=decision.automated,
                )
        elif kind in ACCOUNT_ACTIONS:
            for account_id in accounts:
                applied.append(
                    apply_action(
                        db,
                        actor=actor,
                        kind=kind,
                        account_id=account_id,
                        case_id=case.id,
                        policy_ref=policy.ref,
                        facts=decision.facts,
                        automated_detection=decision.automated,
                        automated_decision=decision.automated,
                    )
                )
    for action in interim:
        lift_action(db, actor=actor, action=action, reason=f"replaced by the decision {decision.id}")
    return applied


def keep_down(db: Session, *, actor: Actor, case: Case, policy: Policy) -> None:
    """X-5: every copy down, and stays down. Banked now (re-uploads blocked within a second); the
    sweep over stored copies runs from the outbox after commit."""
    bank_case_items(db, actor=actor, case=case, policy=policy)
    queue_sweep(db, case=case, policy=policy)


def _release_from_bank(db: Session, *, actor: Actor, case: Case, reason: str) -> None:
    """Out of the stay-down bank, through the bank's own action: variants follow their original and
    each disabling is on the record."""
    for entry in (
        db.execute(
            sa.select(BankEntry).where(
                BankEntry.source_case_id == case.id, BankEntry.enabled.is_(True), BankEntry.parent_id.is_(None)
            )
        )
        .scalars()
        .all()
    ):
        disable_entry(db, actor=actor, entry=entry, reason=reason[:500])


# -- replacing the measures in force (an appeal's 'modified') ---------------------------------


def in_force(db: Session, *, case: Case, kinds: Iterable[str]) -> tuple[set[str], list[tuple[str, EnforcementAction]]]:
    """The measures in force on the case, as decision-level kinds (`kinds`: those the decision in
    force named; ladder actions count as 'strike'), and each active action with the measure it is."""
    named = set(kinds)
    active = (
        db.execute(
            sa.select(EnforcementAction)
            .where(
                EnforcementAction.case_id == case.id,
                EnforcementAction.state == ActionState.active.value,
                EnforcementAction.kind.notin_(("restore", "restore_account")),
                EnforcementAction.interim.is_(False),
            )
            .order_by(EnforcementAction.id)
        )
        .scalars()
        .all()
    )
    tagged = []
    for action in active:
        measure = action.kind
        if action.kind not in named and action.target == "account" and "strike" in named:
            measure = "strike"  # what the strike ladder applied
        tagged.append((measure, action))
    current = {m for m, _ in tagged}
    if db.execute(
        sa.select(AccountStrike.id).where(AccountStrike.case_id == case.id, AccountStrike.removed_at.is_(None)).limit(1)
    ).first():
        current.add("strike")
    return current, tagged


def replace_measures(
    db: Session,
    *,
    actor: Actor,
    case: Case,
    current: set[str],
    tagged: list[tuple[str, EnforcementAction]],
    wanted: list[str],
    policy: Policy,
    reason: str,
) -> tuple[list[EnforcementAction], list[EnforcementAction]]:
    """Replace the measures in force (`current`, `tagged`: from `in_force`) by `wanted`: lift what
    goes (restoring content and accounts that nothing keeps down any more), apply what comes,
    through the normal delivery path. Returns (lifted, applied)."""
    lifted: list[EnforcementAction] = []
    applied: list[EnforcementAction] = []
    for measure, action in tagged:
        if measure in wanted:
            continue
        lift_action(db, actor=actor, action=action, reason=reason)
        lifted.append(action)
    if "strike" in current and "strike" not in wanted:
        strikes.remove_strikes(db, actor=actor, case_id=case.id, reason=reason)
    kept_down = {a.content_id for m, a in tagged if m in wanted and a.kind in REMOVING}
    kept_out = {a.account_id for m, a in tagged if m in wanted and a.kind in ACCOUNT_REMOVING}
    restoring_content = bool(current & set(REMOVING)) and not set(wanted) & set(REMOVING)
    for action in lifted:
        if (
            action.target == "content"
            and action.kind in REMOVING
            and restoring_content
            and action.content_id not in kept_down
        ):
            kept_down.add(action.content_id)  # one restore per item
            applied.append(
                apply_action(
                    db,
                    actor=actor,
                    kind="restore",
                    content_id=action.content_id,
                    case_id=case.id,
                    policy_ref=action.policy_ref,
                    facts=reason,
                    details={"restores_action": action.id},
                )
            )
        elif (
            action.target == "account"
            and action.kind in ACCOUNT_REMOVING
            and action.account_id not in kept_out
            and not set(wanted) & set(ACCOUNT_REMOVING)
        ):
            kept_out.add(action.account_id)
            applied.append(
                apply_action(
                    db,
                    actor=actor,
                    kind="restore_account",
                    account_id=action.account_id,
                    case_id=case.id,
                    policy_ref=action.policy_ref,
                    facts=reason,
                    details={"restores_action": action.id},
                )
            )
    if restoring_content:
        # Back up, so out of the stay-down bank.
        _release_from_bank(db, actor=actor, case=case, reason=f"measure modified on appeal: {reason}")
    if set(wanted) & set(REMOVING) and not current & set(REMOVING) and policy.bank_confirmed:
        # Newly removed under a stay-down policy: every copy down and re-uploads blocked.
        keep_down(db, actor=actor, case=case, policy=policy)
    contents = case_contents(db, case)
    accounts = sorted({c.account_id for c in contents if c.account_id is not None})
    for kind in wanted:
        if kind in current:
            continue
        if kind in CONTENT_ACTIONS:
            for content in contents:
                applied.append(
                    apply_action(
                        db,
                        actor=actor,
                        kind=kind,
                        content_id=content.id,
                        case_id=case.id,
                        policy_ref=policy.ref,
                        facts=reason,
                    )
                )
        elif kind == "strike":
            for account_id in accounts:
                applied += strikes.add_strike(
                    db, actor=actor, account_id=account_id, policy=policy, case_id=case.id, facts=reason
                )
        else:
            for account_id in accounts:
                applied.append(
                    apply_action(
                        db,
                        actor=actor,
                        kind=kind,
                        account_id=account_id,
                        case_id=case.id,
                        policy_ref=policy.ref,
                        facts=reason,
                    )
                )
    return lifted, applied


# -- reversing a decision -------------------------------------------------------------------------


def reverse_case_measures(
    db: Session, *, actor: Actor, case: Case, reason: str, catalogue: Catalogue
) -> list[EnforcementAction]:
    """Lift every active measure the case produced (copies found by its sweep included), restore
    withdrawn content, lift account measures, remove strikes, and take the case's items out of
    the stay-down bank. Refused for confirmed child sexual abuse material."""
    if confirmed_csam(case, catalogue):
        raise RuleViolation(
            "confirmed child sexual abuse material is never restored; a mistaken "
            "confirmation is corrected by the child-safety team through a new review"
        )
    actions = (
        db.execute(
            sa.select(EnforcementAction)
            .where(EnforcementAction.case_id == case.id, EnforcementAction.state == ActionState.active.value)
            .order_by(EnforcementAction.id)
        )
        .scalars()
        .all()
    )
    restored = []
    for action in actions:
        lift_action(db, actor=actor, action=action, reason=reason)
        if action.target == "content" and action.kind in REMOVING:
            restored.append(
                apply_action(
                    db,
                    actor=actor,
                    kind="restore",
                    content_id=action.content_id,
                    case_id=case.id,
                    policy_ref=action.policy_ref,
                    facts=reason,
                    details={"restores_action": action.id},
                )
            )
        elif action.target == "account" and action.kind in ACCOUNT_REMOVING:
            restored.append(
                apply_action(
                    db,
                    actor=actor,
                    kind="restore_account",
                    account_id=action.account_id,
                    case_id=case.id,
                    policy_ref=action.policy_ref,
                    facts=reason,
                    details={"restores_action": action.id},
                )
            )
    removed = strikes.remove_strikes(db, actor=actor, case_id=case.id, reason=reason)
    _release_from_bank(db, actor=actor, case=case, reason=f"decision reversed: {reason}")
    case.outcome = "reversed"
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.DECISION_REVERSE,
        subject_type="case",
        subject_id=case.id,
        data={"reason": reason, "lifted": len(actions), "restored": len(restored), "strikes_removed": removed},
    )
    return restored


# -- the platform's answer ----------------------------------------------------------------------


def acknowledge_action(
    db: Session, *, actor: Actor, action: EnforcementAction, status: str, detail: str = ""
) -> EnforcementAction:
    """Record the platform's answer. When every reported item of a case has a confirmed removal,
    the tracks that removal satisfies are met (TID-2: met or missed, from these rows)."""
    action.acknowledged_at = now(db)
    action.ack_status = status
    action.ack_detail = detail or None
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.ACTION_ACK,
        subject_type=action.target,
        subject_id=subject_of(action),
        data={"action_id": action.id, "kind": action.kind, "status": status, "detail": detail},
    )
    if (
        status == "applied"
        and action.state == ActionState.active.value
        and action.kind in REMOVAL_KINDS
        and action.case_id
        and not action.details.get("copy_of_case")
    ):
        _meet_removal_tracks(db, actor=actor, case_id=action.case_id)
    return action


def _meet_removal_tracks(db: Session, *, actor: Actor, case_id: int) -> None:
    case = case_by_id(db, case_id)
    reported = {c.id for c in case_contents(db, case)}
    confirmed = set(
        db.execute(
            sa.select(EnforcementAction.content_id).where(
                EnforcementAction.case_id == case_id,
                EnforcementAction.kind.in_(REMOVAL_KINDS),
                EnforcementAction.state == ActionState.active.value,
                EnforcementAction.ack_status == "applied",
            )
        ).scalars()
    )
    if not reported or not reported <= confirmed:
        return
    tracks.on_removal_confirmed(db, actor=actor, case=case, items=len(reported))
