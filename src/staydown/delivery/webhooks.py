"""Deliver every action to the platform: signed webhooks from the outbox, in order per subject."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.delivery.outbox import JobContext, enqueue
from staydown.delivery.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign
from staydown.egress import OPERATOR, guarded_client
from staydown.enforcement.models import EnforcementAction
from staydown.observability.metrics import WEBHOOKS
from staydown.subjects.models import PlatformAccount, PlatformContent
from staydown.transparency.models import StatementOfReasons
from staydown.transparency.scrub import case_scrubber, prefetch_scrubbers
from staydown.transparency.statement_views import delivery_view, statement_for_delivery

if TYPE_CHECKING:
    from staydown.db import Database

DELIVER_WEBHOOK = "webhook:deliver"
# With the default backoff (2 s doubling, capped at an hour, jitter down to half a step) 60
# attempts span at least 24 hours: a receiver down for a day still gets every action.
WEBHOOK_MAX_ATTEMPTS = 60


class WebhookRejected(RuntimeError):
    """The receiver answered something other than 2xx: retried with backoff."""


_LOOK_UP = object()


def webhook_client(settings: Any) -> httpx.Client:
    """The client webhooks go out through. The receiver is the operator's choice (often on the
    platform's own network, so private addresses are allowed), never a metadata or link-local
    address, and a receiver gets `webhook_timeout_seconds` for the whole request: one trickling its
    answer cannot hold a worker's thread (staydown.egress)."""
    return guarded_client(
        OPERATOR, timeout=settings.webhook_timeout_seconds, request_seconds=settings.webhook_timeout_seconds
    )


def action_event(db: Session, action: EnforcementAction, event: str, *, statement: Any = _LOOK_UP) -> dict[str, Any]:
    """What the platform receives (webhook body and pull feed alike), in the platform's own ids.
    `statement`: the delivery view of the action's statement when the caller already read it (a
    batch of deliveries reads them in one query); looked up here otherwise."""
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
        # The reviewer's words leave staydown only through the one scrubber, with every identifier
        # of the people on the case (the notifier's above all): the platform may show them to its user.
        "facts": public_facts(db, action, content, account),
        "details": action.details,
        # DSA Art. 17: the statement of reasons, for the platform to show its user.
        "statement": statement_for_delivery(db, action.id) if statement is _LOOK_UP else statement,
    }


def public_facts(db: Session, action: EnforcementAction, content: Any = None, account: Any = None) -> str:
    """An action's facts as they may leave staydown: scrubbed of the identifiers on its case. An
    interim restriction relies on no finding, and its note says what a report alleged: the
    platform may show `facts` to its user, so none leave (its statement says what was done)."""
    if action.interim:
        return ""
    owner = getattr(content, "account", None) if content is not None else None
    return case_scrubber(db, action.case_id)(
        action.facts,
        also=[
            v
            for x in (content, account, owner)
            if x is not None
            for v in (getattr(x, "platform_id", None), getattr(x, "url", None), getattr(x, "handle", None))
        ],
    )


def queue_webhook(db: Session, action: EnforcementAction, event: str) -> None:
    subject = f"content:{action.content_id}" if action.content_id else f"account:{action.account_id}"
    enqueue(
        db,
        kind=DELIVER_WEBHOOK,
        payload={"action_id": action.id, "event": event},
        idempotency_key=f"action:{action.id}:{event}",
        ordering_key=subject,
        max_attempts=WEBHOOK_MAX_ATTEMPTS,
        # An action is applied once, when its row is inserted: no job can hold that key yet.
        key_is_new=event == "action.applied",
    )


def _request(
    db: Session, action: EnforcementAction, event: str, secret: str, **known: Any
) -> tuple[bytes, dict[str, str]]:
    """The signed body and headers of one delivery; the same for the single and the batch path."""
    delivery_id = f"action:{action.id}:{event}"
    body = json.dumps(
        {**action_event(db, action, event, **known), "delivery_id": delivery_id}, separators=(",", ":"), sort_keys=True
    ).encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(body, secret, int(time.time())),
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event,
    }
    return body, headers


def _post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> None:
    try:
        response = client.post(url, content=body, headers=headers)
    except Exception:
        WEBHOOKS.labels("error").inc()
        raise
    if not 200 <= response.status_code < 300:
        WEBHOOKS.labels("rejected").inc()
        raise WebhookRejected(f"{url} answered HTTP {response.status_code}")
    WEBHOOKS.labels("ok").inc()


def deliver_webhook_job(db: Session, ctx: JobContext) -> None:
    settings = ctx.services["settings"]
    url = settings.webhook_url
    if not url:
        return  # no receiver configured: the platform pulls `GET /v1/actions`
    action = db.execute(
        sa.select(EnforcementAction).where(EnforcementAction.id == ctx.payload["action_id"])
    ).scalar_one()
    body, headers = _request(db, action, ctx.payload["event"], settings.webhook_secret.get_secret_value())
    # Nothing stays open across the network call: on SQLite the transaction holds the only write
    # lock, which every API write and the other workers would wait on for a slow receiver. The
    # job's lease (and the attempt-number fence) keeps it ours meanwhile.
    db.commit()
    client: httpx.Client | None = ctx.services.get("http_client")
    if client is None:
        with webhook_client(settings) as own:
            _post(own, url, body, headers)
    else:
        _post(client, url, body, headers)


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(width: int) -> ThreadPoolExecutor:
    # One pool per process (per width), kept: starting threads for every batch cost more CPU than
    # the POSTs. Shared by the process's workers, so `webhook_concurrency` bounds the process.
    with _pools_lock:
        pool = _pools.get(width)
        if pool is None:
            pool = _pools[width] = ThreadPoolExecutor(max_workers=width, thread_name_prefix="webhook")
        return pool


def deliver_webhooks_batch(database: Database, contexts: list[JobContext]) -> dict[int, str | None]:
    """Many deliveries at once: the actions and their subjects read in three queries, then one POST
    each, `webhook_concurrency` at a time over the worker's kept-alive client. The worker leased
    at most one job per ordering key, so concurrent POSTs never reorder one subject's events.
    Returns None per delivered job, or why it failed (it is retried on its own backoff)."""
    if not contexts:
        return {}
    services = contexts[0].services
    settings = services["settings"]
    url = settings.webhook_url
    if not url:
        return {ctx.job_id: None for ctx in contexts}
    secret = settings.webhook_secret.get_secret_value()
    results: dict[int, str | None] = {}
    requests: list[tuple[int, bytes, dict[str, str]]] = []
    with database.unit_of_work(write=False) as db:
        actions = {
            a.id: a
            for a in db.execute(
                sa.select(EnforcementAction).where(
                    EnforcementAction.id.in_({int(ctx.payload["action_id"]) for ctx in contexts})
                )
            ).scalars()
        }
        # Loaded (and held) so that action_event's db.get finds them in the identity map.
        content_ids = {a.content_id for a in actions.values() if a.content_id}
        account_ids = {a.account_id for a in actions.values() if a.account_id}
        subjects = [
            *(
                db.execute(sa.select(PlatformContent).where(PlatformContent.id.in_(content_ids))).scalars()
                if content_ids
                else ()
            ),
            *(
                db.execute(sa.select(PlatformAccount).where(PlatformAccount.id.in_(account_ids))).scalars()
                if account_ids
                else ()
            ),
        ]
        prefetch_scrubbers(db, (a.case_id for a in actions.values()))
        statements = {
            s.action_id: delivery_view(s)
            for s in db.execute(
                sa.select(StatementOfReasons).where(StatementOfReasons.action_id.in_(list(actions) or [-1]))
            ).scalars()
        }
        for ctx in contexts:
            action = actions.get(int(ctx.payload["action_id"]))
            if action is None:
                results[ctx.job_id] = f"action {ctx.payload['action_id']} does not exist"
                continue
            try:
                body, headers = _request(db, action, ctx.payload["event"], secret, statement=statements.get(action.id))
            except Exception as exc:  # noqa: BLE001 - one bad body fails its job, not the batch
                results[ctx.job_id] = f"{type(exc).__name__}: {exc}"
                continue
            requests.append((ctx.job_id, body, headers))
        del subjects
    client: httpx.Client | None = services.get("http_client")
    own = client is None
    if client is None:
        client = webhook_client(settings)

    def post(item: tuple[int, bytes, dict[str, str]]) -> tuple[int, str | None]:
        job_id, body, headers = item
        try:
            _post(client, url, body, headers)
        except Exception as exc:  # noqa: BLE001 - recorded on the job, retried with backoff
            return job_id, f"{type(exc).__name__}: {exc}"
        return job_id, None

    try:
        width = int(getattr(settings, "webhook_concurrency", 8))
        if width == 1 or len(requests) == 1:
            results.update(post(item) for item in requests)
        else:
            results.update(_pool(width).map(post, requests))
    finally:
        if own:
            client.close()
    return results
