"""Apply and lift actions on content and accounts; each writes its audit event."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.db import now
from staydown.enforcement.models import ActionState, EnforcementAction
from staydown.errors import InvalidInput
from staydown.policies.vocab import ACCOUNT_ACTIONS, CONTENT_ACTIONS

CONTENT_KINDS = set(CONTENT_ACTIONS) | {"restore"}
ACCOUNT_KINDS = set(ACCOUNT_ACTIONS) | {"restore_account"}


def apply_action(
    db: Session,
    *,
    actor: Actor,
    kind: str,
    content_id: int | None = None,
    account_id: int | None = None,
    case_id: int | None = None,
    policy_ref: str | None = None,
    facts: str = "",
    interim: bool = False,
    automated_detection: bool = False,
    automated_decision: bool = False,
    territorial_scope: list[str] | None = None,
    ends_at: datetime | None = None,
    details: dict | None = None,
) -> EnforcementAction:
    if kind in CONTENT_KINDS:
        if content_id is None:
            raise InvalidInput(f"'{kind}' is an action on content: which content?")
        target = "content"
    elif kind in ACCOUNT_KINDS:
        if account_id is None:
            raise InvalidInput(f"'{kind}' is an action on an account: which account?")
        target = "account"
    else:
        raise InvalidInput(f"unknown action {kind!r}")
    action = EnforcementAction(
        kind=kind, target=target, content_id=content_id if target == "content" else None,
        account_id=account_id if target == "account" else None, case_id=case_id, policy_ref=policy_ref,
        state=ActionState.active.value, interim=interim, automated_detection=automated_detection,
        automated_decision=automated_decision, facts=facts, territorial_scope=territorial_scope or [],
        ends_at=ends_at, details=details or {}, created_by=actor.ref, created_at=now(db))
    db.add(action)
    db.flush()
    audit.record(db, actor=actor, tag=AuditTag.ACTION_APPLY, subject_type=target,
                 subject_id=content_id if target == "content" else account_id,
                 data={"action_id": action.id, "kind": kind, "case_id": case_id, "policy_ref": policy_ref,
                       "interim": interim, "automated_decision": automated_decision})
    return action


def lift_action(db: Session, *, actor: Actor, action: EnforcementAction, reason: str) -> EnforcementAction:
    if action.state != ActionState.active.value:
        return action
    action.state = ActionState.lifted.value
    action.lifted_at = now(db)
    action.lifted_reason = reason
    audit.record(db, actor=actor, tag=AuditTag.ACTION_LIFT, subject_type=action.target,
                 subject_id=action.content_id or action.account_id,
                 data={"action_id": action.id, "kind": action.kind, "reason": reason})
    return action


def active_actions(db: Session, *, content_id: int | None = None, case_id: int | None = None,
                   kind: str | None = None, interim: bool | None = None) -> list[EnforcementAction]:
    stmt = sa.select(EnforcementAction).where(EnforcementAction.state == ActionState.active.value)
    if content_id is not None:
        stmt = stmt.where(EnforcementAction.content_id == content_id)
    if case_id is not None:
        stmt = stmt.where(EnforcementAction.case_id == case_id)
    if kind is not None:
        stmt = stmt.where(EnforcementAction.kind == kind)
    if interim is not None:
        stmt = stmt.where(EnforcementAction.interim.is_(interim))
    return list(db.execute(stmt.order_by(EnforcementAction.id)).scalars())


def restrict_distribution(db: Session, *, actor: Actor, content_id: int, case_id: int, reason: str) -> EnforcementAction:
    """X-4: out of recommendation, search and monetisation at once, pending review (idempotent)."""
    existing = active_actions(db, content_id=content_id, kind="restrict_distribution")
    if existing:
        return existing[0]
    return apply_action(db, actor=actor, kind="restrict_distribution", content_id=content_id, case_id=case_id,
                        facts=reason, interim=True,
                        details={"scope": ["recommendation", "search", "monetisation"]})
