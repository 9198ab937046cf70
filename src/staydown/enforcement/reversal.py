"""Reverse a decision: withdraw its measures, restore what was withdrawn, remove its strikes.
Nothing was destroyed, so everything can come back, except confirmed CSAM, which never does."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.cases.models import Case
from staydown.enforcement.actions import apply_action, lift_action
from staydown.enforcement.models import ActionState, EnforcementAction
from staydown.enforcement.strikes import remove_strikes
from staydown.errors import RuleViolation
from staydown.matching.banks import disable_entry
from staydown.matching.models import BankEntry
from staydown.policies.catalogue import Catalogue

WITHDRAWING = {
    "remove",
    "disable",
    "age_restrict",
    "demote",
    "exclude_from_recommendations",
    "demonetise",
    "label",
    "restrict_distribution",
}


def reverse_case_measures(
    db: Session, *, actor: Actor, case: Case, reason: str, catalogue: Catalogue
) -> list[EnforcementAction]:
    """Lift every active measure the case produced (copies found by its sweep included), restore
    withdrawn content, lift account measures, remove strikes, and take the case's items out of
    the stay-down bank. Refused for confirmed child sexual abuse material."""
    policy = catalogue.get(case.policy_id) if case.policy_id in catalogue else None
    if case.outcome == "violates" and (case.actual_knowledge_at is not None or (policy and policy.child_safety)):
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
        if action.target == "content" and action.kind in ("remove", "disable"):
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
        elif action.target == "account" and action.kind in ("suspend", "terminate"):
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
    strikes = remove_strikes(db, actor=actor, case_id=case.id, reason=reason)
    # Out of the stay-down bank, through the bank's own action: variants follow their original and
    # each disabling is on the record.
    for entry in (
        db.execute(
            sa.select(BankEntry).where(
                BankEntry.source_case_id == case.id, BankEntry.enabled.is_(True), BankEntry.parent_id.is_(None)
            )
        )
        .scalars()
        .all()
    ):
        disable_entry(db, actor=actor, entry=entry, reason=f"decision reversed: {reason}"[:500])
    case.outcome = "reversed"
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.DECISION_REVERSE,
        subject_type="case",
        subject_id=case.id,
        data={"reason": reason, "lifted": len(actions), "restored": len(restored), "strikes_removed": strikes},
    )
    return restored
