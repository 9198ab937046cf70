"""Due dates of open appeals: the sweep that alerts the deciders as one nears and when it passes, and
its periodic job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import SYSTEM, Actor
from staydown.appeals.models import Appeal
from staydown.appeals.queries import OPEN_STATES
from staydown.appeals.rules import DEFAULT_APPEAL_RULES, AppealRules
from staydown.audit import AuditTag
from staydown.cases.models import Case
from staydown.db import now
from staydown.worklist import alert, clock_steps

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
        assert appeal.due_at is not None  # selected with a due date
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
    settings = getattr(ctx, "services", {}).get("settings")
    rules = AppealRules.from_settings(settings) if settings is not None else DEFAULT_APPEAL_RULES
    sweep_appeal_deadlines(db, actor=SYSTEM, rules=rules)
