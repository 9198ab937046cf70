"""Apply and lift actions on content and accounts; each writes its audit event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit, sequences
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.db import now
from staydown.delivery.webhooks import queue_webhook
from staydown.enforcement import automation
from staydown.enforcement.models import ActionState, EnforcementAction
from staydown.errors import InvalidInput
from staydown.policies.vocab import ACCOUNT_ACTIONS, CONTENT_ACTIONS
from staydown.transparency.statements import issue_statements

ACTIONS = "actions"  # the sequence the platform's pull feed follows

# Requests to the platform that travel as actions (same webhook, pull feed and acknowledgement)
# but restrict nobody: no statement of reasons, not counted as moderation in any figure.
# `provide_file`: send staydown the file of this content (POST /v1/evidence naming the request in
# `details.request_id`), because a CyberTipline report needs it.
REQUEST_KINDS = ("provide_file",)
CONTENT_KINDS = set(CONTENT_ACTIONS) | {"restore"} | set(REQUEST_KINDS)
ACCOUNT_KINDS = set(ACCOUNT_ACTIONS) | {"restore_account"}


def subject_of(action: EnforcementAction) -> int:
    """What an action is on: its content's id or its account's (one is always set, by its target)."""
    subject = action.content_id if action.target == "content" else action.account_id
    assert subject is not None
    return subject


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
    return apply_actions(
        db,
        actor=actor,
        specs=[
            {
                "kind": kind,
                "content_id": content_id,
                "account_id": account_id,
                "case_id": case_id,
                "policy_ref": policy_ref,
                "facts": facts,
                "interim": interim,
                "automated_detection": automated_detection,
                "automated_decision": automated_decision,
                "territorial_scope": territorial_scope,
                "ends_at": ends_at,
                "details": details,
            }
        ],
    )[0]


def _new_action(
    actor: Actor,
    when: datetime,
    *,
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
    return EnforcementAction(
        kind=kind,
        target=target,
        content_id=content_id if target == "content" else None,
        account_id=account_id if target == "account" else None,
        case_id=case_id,
        policy_ref=policy_ref,
        state=ActionState.active.value,
        interim=interim,
        automated_detection=automated_detection,
        automated_decision=automated_decision,
        facts=facts,
        territorial_scope=territorial_scope or [],
        ends_at=ends_at,
        details=details or {},
        created_by=actor.ref,
        created_at=when,
    )


def apply_actions(db: Session, *, actor: Actor, specs: list[dict[str, Any]]) -> list[EnforcementAction]:
    """Apply many actions at once (`specs`: `apply_action`'s keyword arguments, one dict each): the
    same rows, statements, sequence numbers, webhooks and audit events as one call each, in order,
    but one flush for the actions and one for their statements (a stay-down sweep's chunk)."""
    if not specs:
        return []
    when = now(db)
    # Only actions whose detection is not settled by their caller ask which cases a scan opened.
    detected = automation.detected_cases(
        db,
        (
            spec.get("case_id")
            for spec in specs
            if not (spec.get("automated_detection") or (spec.get("details") or {}).get("copy_of_case"))
        ),
    )
    specs = [
        {
            **spec,
            **dict(zip(("automated_detection", "automated_decision"), automation.flags(spec, detected), strict=True)),
        }
        for spec in specs
    ]
    actions = [_new_action(actor, when, **spec) for spec in specs]  # all checked before any is added
    db.add_all(actions)
    db.flush()
    issue_statements(db, actor=actor, actions=actions)  # DSA Art. 17: with the restriction, before its delivery
    for action in actions:
        sequences.touch(db, action, sequence=ACTIONS)
        queue_webhook(db, action, "action.applied")
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.ACTION_APPLY,
            subject_type=action.target,
            subject_id=subject_of(action),
            data={
                "action_id": action.id,
                "kind": action.kind,
                "case_id": action.case_id,
                "policy_ref": action.policy_ref,
                "interim": action.interim,
                "automated_detection": action.automated_detection,
                "automated_decision": action.automated_decision,
            },
        )
    return actions


def lift_action(db: Session, *, actor: Actor, action: EnforcementAction, reason: str) -> EnforcementAction:
    if action.state != ActionState.active.value:
        return action
    action.state = ActionState.lifted.value
    action.lifted_at = now(db)
    action.lifted_reason = reason
    sequences.touch(db, action, sequence=ACTIONS)
    queue_webhook(db, action, "action.lifted")
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.ACTION_LIFT,
        subject_type=action.target,
        subject_id=subject_of(action),
        data={"action_id": action.id, "kind": action.kind, "reason": reason},
    )
    return action


def active_actions(
    db: Session,
    *,
    content_id: int | None = None,
    case_id: int | None = None,
    kind: str | None = None,
    interim: bool | None = None,
) -> list[EnforcementAction]:
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


def active_actions_on_account(db: Session, *, account_id: int, kind: str | None = None) -> list[EnforcementAction]:
    stmt = sa.select(EnforcementAction).where(
        EnforcementAction.account_id == account_id, EnforcementAction.state == ActionState.active.value
    )
    if kind is not None:
        stmt = stmt.where(EnforcementAction.kind == kind)
    return list(db.execute(stmt).scalars())
