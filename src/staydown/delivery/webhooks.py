"""Deliver every action to the platform: signed webhooks from the outbox, in order per subject."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.delivery.outbox import JobContext, enqueue
from staydown.delivery.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign
from staydown.enforcement.models import EnforcementAction
from staydown.subjects.models import PlatformAccount, PlatformContent

DELIVER_WEBHOOK = "webhook:deliver"
# With the default backoff (2 s doubling, capped at an hour, jitter down to half a step) 60
# attempts span at least 24 hours: a receiver down for a day still gets every action.
WEBHOOK_MAX_ATTEMPTS = 60


class WebhookRejected(RuntimeError):
    """The receiver answered something other than 2xx: retried with backoff."""


def action_event(db: Session, action: EnforcementAction, event: str) -> dict[str, Any]:
    """What the platform receives (webhook body and pull feed alike), in the platform's own ids."""
    content = db.get(PlatformContent, action.content_id) if action.content_id else None
    account = db.get(PlatformAccount, action.account_id) if action.account_id else None
    return {
        "id": action.id,
        "seq": action.change_seq,
        "event": event,
        "kind": action.kind,
        "target": action.target,
        "content_id": content.platform_id if content else None,
        "account_id": account.platform_id if account else None,
        "case_id": action.case_id,
        "policy": action.policy_ref,
        "state": action.state,
        "interim": action.interim,
        "automated_detection": action.automated_detection,
        "automated_decision": action.automated_decision,
        "territorial_scope": action.territorial_scope,
        "ends_at": action.ends_at.isoformat() if action.ends_at else None,
        "created_at": action.created_at.isoformat(),
        "facts": action.facts,
        "details": action.details,
    }


def queue_webhook(db: Session, action: EnforcementAction, event: str) -> None:
    subject = f"content:{action.content_id}" if action.content_id else f"account:{action.account_id}"
    enqueue(db, kind=DELIVER_WEBHOOK, payload={"action_id": action.id, "event": event},
            idempotency_key=f"action:{action.id}:{event}", ordering_key=subject,
            max_attempts=WEBHOOK_MAX_ATTEMPTS)


def deliver_webhook_job(db: Session, ctx: JobContext) -> None:
    settings = ctx.services["settings"]
    url = settings.webhook_url
    if not url:
        return  # no receiver configured: the platform pulls `GET /v1/actions`
    action = db.execute(sa.select(EnforcementAction).where(EnforcementAction.id == ctx.payload["action_id"])).scalar_one()
    delivery_id = f"action:{action.id}:{ctx.payload['event']}"
    body = json.dumps({**action_event(db, action, ctx.payload["event"]), "delivery_id": delivery_id},
                      separators=(",", ":"), sort_keys=True).encode()
    secret = settings.webhook_secret.get_secret_value()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, secret, int(time.time())),
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: ctx.payload["event"],
    }
    # Nothing stays open across the network call: on SQLite the transaction holds the only write
    # lock, which every API write and the other workers would wait on for a slow receiver. The
    # job's lease (and the attempt-number fence) keeps it ours meanwhile.
    db.commit()
    client: httpx.Client | None = ctx.services.get("http_client")
    if client is None:
        with httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False) as own:
            response = own.post(url, content=body, headers=headers)
    else:
        response = client.post(url, content=body, headers=headers)
    if not 200 <= response.status_code < 300:
        raise WebhookRejected(f"{url} answered HTTP {response.status_code}")
