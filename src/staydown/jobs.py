"""The job kinds this build of staydown runs, gathered in one registry, and the periodic ones."""

from __future__ import annotations

from sqlalchemy.orm import Session

from staydown.actors import SYSTEM
from staydown.delivery.messages import SEND_MESSAGE, send_message_job
from staydown.delivery.outbox import JobContext, JobRegistry
from staydown.delivery.webhooks import DELIVER_WEBHOOK, deliver_webhook_job
from staydown.enforcement.staydown import STAY_DOWN_SWEEP, sweep_job

SWEEP_DEADLINES = "cases:sweep_deadlines"

# (kind, every N seconds). Deadlines of one hour (terrorist-content orders) need a sweep that
# runs far more often than the time it leaves for escalation.
PERIODIC: tuple[tuple[str, int], ...] = ((SWEEP_DEADLINES, 60),)


def _sweep_deadlines(db: Session, ctx: JobContext) -> None:
    from staydown.cases.actions import sweep_deadlines
    from staydown.cases.rules import DEFAULT_RULES

    sweep_deadlines(db, actor=SYSTEM, rules=ctx.services.get("case_rules", DEFAULT_RULES))


def build_registry() -> JobRegistry:
    registry = JobRegistry()
    registry.register(SWEEP_DEADLINES, _sweep_deadlines)
    registry.register(SEND_MESSAGE, send_message_job)
    registry.register(DELIVER_WEBHOOK, deliver_webhook_job)
    registry.register(STAY_DOWN_SWEEP, sweep_job)
    return registry
