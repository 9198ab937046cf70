"""The strike ladder: weighted strikes per policy within a window lead to a warning, a suspension
(only after a prior warning, DSA-7), or termination (at once, where the policy says so)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.db import now
from staydown.enforcement.actions import active_actions_on_account, apply_action
from staydown.enforcement.models import AccountStrike, EnforcementAction
from staydown.policies.schema import Policy


def active_strike_weight(db: Session, *, account_id: int, policy_id: str) -> int:
    when = now(db)
    total = db.scalar(sa.select(sa.func.coalesce(sa.func.sum(AccountStrike.weight), 0)).where(
        AccountStrike.account_id == account_id, AccountStrike.policy_id == policy_id,
        AccountStrike.removed_at.is_(None), AccountStrike.expires_at > when))
    return int(total or 0)


def _was_warned(db: Session, account_id: int) -> bool:
    return db.execute(sa.select(EnforcementAction.id).where(
        EnforcementAction.account_id == account_id, EnforcementAction.kind == "warn").limit(1)).first() is not None


def add_strike(db: Session, *, actor: Actor, account_id: int, policy: Policy, case_id: int | None,
               facts: str, automated: bool = False, details: dict | None = None) -> list[EnforcementAction]:
    """Record a strike and apply what the ladder says the new total leads to."""
    ladder = policy.strike
    common = dict(account_id=account_id, case_id=case_id, policy_ref=policy.ref, facts=facts,
                  automated_decision=automated, automated_detection=automated, details=details or {})
    if ladder.terminate_immediately:
        if active_actions_on_account(db, account_id=account_id, kind="terminate"):
            return []
        return [apply_action(db, actor=actor, kind="terminate", **common)]
    when = now(db)
    strike = AccountStrike(account_id=account_id, policy_id=policy.id, weight=ladder.weight, case_id=case_id,
                           created_at=when, expires_at=when + timedelta(days=ladder.window_days))
    db.add(strike)
    db.flush()
    total = active_strike_weight(db, account_id=account_id, policy_id=policy.id)
    audit.record(db, actor=actor, tag=AuditTag.STRIKE_ADD, subject_type="account", subject_id=account_id,
                 data={"strike_id": strike.id, "policy": policy.ref, "weight": ladder.weight, "total": total,
                       "case_id": case_id})
    if total >= ladder.terminate_at:
        if not active_actions_on_account(db, account_id=account_id, kind="terminate"):
            return [apply_action(db, actor=actor, kind="terminate", **common)]
        return []
    if total >= ladder.suspend_at:
        if not _was_warned(db, account_id):
            # DSA-7: no suspension without a prior warning.
            return [apply_action(db, actor=actor, kind="warn", **common)]
        if active_actions_on_account(db, account_id=account_id, kind="suspend"):
            return []
        return [apply_action(db, actor=actor, kind="suspend", ends_at=when + timedelta(days=ladder.suspend_days),
                             **common)]
    if total >= ladder.warn_at:
        return [apply_action(db, actor=actor, kind="warn", **common)]
    return []


def remove_strikes(db: Session, *, actor: Actor, case_id: int, reason: str) -> int:
    strikes = db.execute(sa.select(AccountStrike).where(AccountStrike.case_id == case_id,
                                                        AccountStrike.removed_at.is_(None))).scalars().all()
    for strike in strikes:
        strike.removed_at = now(db)
        strike.removed_reason = reason
        audit.record(db, actor=actor, tag=AuditTag.STRIKE_REMOVE, subject_type="account", subject_id=strike.account_id,
                     data={"strike_id": strike.id, "case_id": case_id, "reason": reason})
    return len(strikes)
