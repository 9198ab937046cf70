"""Reading statements of reasons: by code, by action or by what they concern, and the views of one for
the public page, for staff and for the platform with the action."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.errors import InvalidInput, NotFound
from staydown.i18n import N_
from staydown.transparency import texts
from staydown.transparency.models import StatementOfReasons
from staydown.transparency.statement_settings import statement_settings
from staydown.transparency.statement_text import STATE_PENDING, headline, measure_text, statement_state, translated
from staydown.transparency.statements import cited_policy, normalise_statement_code


def statement_by_code(db: Session, code: str) -> StatementOfReasons:
    found = db.execute(
        sa.select(StatementOfReasons).where(StatementOfReasons.code == normalise_statement_code(code))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(N_("no statement of reasons with that code"))
    return found


def statement_for_action(db: Session, action_id: int) -> StatementOfReasons | None:
    return db.execute(
        sa.select(StatementOfReasons).where(StatementOfReasons.action_id == action_id)
    ).scalar_one_or_none()


def statements_for(
    db: Session,
    *,
    case_id: int | None = None,
    content_id: int | None = None,
    account_id: int | None = None,
    action_id: int | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[StatementOfReasons]:
    """Statements by what they concern, oldest first; at least one filter is required."""
    if case_id is None and content_id is None and account_id is None and action_id is None:
        raise InvalidInput("say which statements: case_id, content_id, account_id or action_id")
    if not 1 <= limit <= 500:
        raise InvalidInput("limit must be between 1 and 500")
    stmt = sa.select(StatementOfReasons).where(StatementOfReasons.id > after_id)
    if case_id is not None:
        stmt = stmt.where(StatementOfReasons.case_id == case_id)
    if content_id is not None:
        stmt = stmt.where(StatementOfReasons.content_id == content_id)
    if account_id is not None:
        stmt = stmt.where(StatementOfReasons.account_id == account_id)
    if action_id is not None:
        stmt = stmt.where(StatementOfReasons.action_id == action_id)
    return list(db.execute(stmt.order_by(StatementOfReasons.id).limit(limit)).scalars())


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def public_view(statement: StatementOfReasons) -> dict[str, Any]:
    """What anyone holding the code may read: every DSA Art. 17(3) element, and no personal data
    (no platform ids, no internal ids, the facts scrubbed, no Transparency Database identifier)."""
    state = statement_state(statement)
    pending = state == STATE_PENDING
    rendered = statement.rendered.get(statement.language) or next(iter(statement.rendered.values()), "")
    return {
        "code": statement.code,
        "issued_at": _iso(statement.issued_at),
        "state": state,
        # The first sentence as issued: what was done (a restriction pending review, or a decision).
        "headline": rendered.split("\n", 1)[0],
        "measure": statement.measure,
        "target": statement.target,
        "measure_text": measure_text(
            statement.measure, statement.territorial_scope, statement.ends_at, pending=pending
        ),
        "territorial_scope": list(statement.territorial_scope),
        "starts_at": _iso(statement.starts_at),
        "ends_at": _iso(statement.ends_at),
        # While a review is pending no rule has been applied: the page names none (the ground is
        # the terms that allow the precaution). Decided, the policy's title is what a person reads.
        "policy": (
            {"ref": None, "title": None}
            if pending
            else {"ref": statement.policy_ref, "title": statement.details.get("policy_title")}
        ),
        "copy_of_case": bool(statement.details.get("copy_of_case")),
        "decision_ground": statement.decision_ground,
        "legal_ground": statement.legal_ground,
        "legal_explanation": statement.legal_explanation,
        "contractual_ground": statement.contractual_ground,
        "contractual_explanation": statement.contractual_explanation,
        "category": statement.category,
        "facts": statement.details.get("public_facts") or "",
        "source": statement.source,
        "automated_detection": statement.automated_detection,
        "automated_decision": statement.automated_decision,
        "redress": dict(statement.redress),
        "appeal_deadline": _iso(statement.appeal_deadline),
        "language": statement.language,
        "rendered": dict(statement.rendered),
    }


def public_view_in(db: Session, statement: StatementOfReasons, language: str) -> dict[str, Any]:
    """`public_view` for a reader of `language` (the public page): the first sentence, the
    measure and the rule in that language, the rest as issued."""
    view = public_view(statement)
    config = statement_settings(db)
    pending = view["state"] == STATE_PENDING
    issued = statement.rendered.get(language)
    view["headline"] = issued.split("\n", 1)[0] if issued else headline(statement, language, config.platform_name)
    view["measure_text"] = measure_text(
        statement.measure, statement.territorial_scope, statement.ends_at, language, pending=pending
    )
    view["policy"] = {**view["policy"], "rule": None}
    for name in ("legal_explanation", "contractual_ground", "contractual_explanation"):
        view[name] = translated(language, view[name])
    if pending:  # the terms that allow the precaution, in the reader's words
        ground = texts.lookup(language, "pending_ground")
        view["contractual_ground"] = ground["reference"].format(platform_name=config.platform_name)
        view["contractual_explanation"] = ground["explanation"]
    if not pending:
        policy = cited_policy(db, statement.policy_ref)
        if policy is not None:
            text = policy.text(language)
            view["policy"].update(title=text.title, rule=text.rule.strip())
    return view


def delivery_view(statement: StatementOfReasons) -> dict[str, Any]:
    """What the platform receives with the action, to show its user (the delivery path)."""
    return {
        "code": statement.code,
        "url": statement.details.get("url"),
        "appeal_url": statement.redress.get("appeal_url"),
        "appeal_deadline": _iso(statement.appeal_deadline),
        "language": statement.language,
        "rendered": dict(statement.rendered),
    }


def staff_view(statement: StatementOfReasons) -> dict[str, Any]:
    """The full record for staff and API clients: ids, the unscrubbed facts (minus the notifiers'
    identity, which no statement keeps) and the Transparency Database state."""
    return {
        **public_view(statement),
        "id": statement.id,
        "action_id": statement.action_id,
        "case_id": statement.case_id,
        "content_id": statement.content_id,
        "account_id": statement.account_id,
        "facts": statement.facts,
        "public_facts": statement.details.get("public_facts") or "",
        "tdb": {
            "state": statement.tdb_state,
            "puid": statement.tdb_puid,
            "attempts": statement.tdb_attempts,
            "submitted_at": _iso(statement.tdb_submitted_at),
            "reference": statement.tdb_reference,
            "error": statement.tdb_error,
        },
    }


def statement_for_delivery(db: Session, action_id: int) -> dict[str, Any] | None:
    """The `statement` of an action's webhook body and pull-feed entry (None: not a restriction)."""
    found = statement_for_action(db, action_id)
    return delivery_view(found) if found is not None else None
