"""Verify staydown's webhooks on the platform's side: signature, freshness, and replays.

The HMAC is checked by `staydown.delivery.signing.verify`, from the module whose `sign` the
server's sender uses, so the two sides cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, MutableSet, Sequence
from typing import Any

from pydantic import ValidationError

from staydown.client.models import Action, WebhookEvent
from staydown.delivery import signing
from staydown.delivery.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER

SeenStore = MutableSet[str] | Callable[[str], bool]


class WebhookRejected(ValueError):
    """A webhook that must not be acted on. `code` says why, in a stable word."""

    code = "webhook_rejected"


class InvalidWebhookSignature(WebhookRejected, signing.InvalidSignature):
    """No signature, a malformed one, or one that does not match the body under any secret:
    forged or corrupted. Answer 401."""

    code = "invalid_signature"


class StaleWebhook(InvalidWebhookSignature, signing.StaleSignature):
    """Correctly signed, but its timestamp is further from now than the tolerance: a replay of
    an old request, or a clock badly out of step. Answer 401."""

    code = "stale_signature"


class MalformedWebhook(WebhookRejected):
    """Correctly signed, but the body is not an action event this client understands, or the
    unsigned headers contradict the signed body. Answer 400."""

    code = "malformed_webhook"


class ReplayedWebhook(WebhookRejected):
    """A delivery id already seen: the sender retrying one it thinks failed, or a replay. The
    verified `event` is attached; answer 2xx so the sender stops, and do not act again."""

    code = "replayed_delivery"

    def __init__(self, message: str, *, event: WebhookEvent) -> None:
        super().__init__(message)
        self.event = event


def _check_signature(
    body: bytes, header: str | None, secrets: Sequence[str], *, tolerance: int, now: float | None
) -> int:
    if not secrets:
        raise ValueError("no webhook secret configured")
    last: signing.InvalidSignature | None = None
    for secret in secrets:
        try:
            return signing.verify(body, header, secret, tolerance=tolerance, now=now)
        except signing.StaleSignature as exc:
            # The signature matched this secret, so it is genuine and only too old: say so.
            raise StaleWebhook(str(exc)) from None
        except signing.InvalidSignature as exc:
            last = exc
    raise InvalidWebhookSignature(str(last)) from None


def _already_seen(seen: SeenStore, delivery_id: str) -> bool:
    if isinstance(seen, MutableSet) or (hasattr(seen, "add") and hasattr(seen, "__contains__")):
        if delivery_id in seen:
            return True
        seen.add(delivery_id)
        return False
    return bool(seen(delivery_id))


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: str | Sequence[str],
    *,
    tolerance: int = signing.DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
    seen: SeenStore | None = None,
) -> WebhookEvent:
    """Check a webhook from staydown and return the event it carries.

    - `body` is the raw request body, byte for byte (not re-encoded JSON: the signature is over
      the exact bytes).
    - `headers` are the request headers, in any letter case.
    - `secret` is the shared webhook secret; give several (old and new) while rotating it.
    - `tolerance` is how far, in seconds, the signed timestamp may be from `now` either way.
    - `seen` de-duplicates by delivery id: a set (checked, then added to), or a callable that
      records the id and returns True if it had been seen before (e.g. an INSERT that conflicts).
      The id is recorded only once the signature has passed, so forgeries cannot fill the store.

    Raises `InvalidWebhookSignature` (forged, missing, malformed), `StaleWebhook` (outside the
    tolerance), `MalformedWebhook` (signed but not an action event, or headers that contradict
    the signed body) or `ReplayedWebhook` (delivery id already in `seen`).
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError("verify_webhook needs the raw body as bytes, exactly as received")
    body = bytes(body)
    lowered = {str(k).lower(): v for k, v in headers.items()}
    secrets = [secret] if isinstance(secret, str) else list(secret)
    timestamp = _check_signature(body, lowered.get(SIGNATURE_HEADER.lower()), secrets, tolerance=tolerance, now=now)

    try:
        payload: Any = json.loads(body)
    except ValueError:
        raise MalformedWebhook("the signed body is not JSON") from None
    if not isinstance(payload, dict):
        raise MalformedWebhook("the signed body is not a JSON object")
    # The headers are not signed; the body is. A header that disagrees with the body was changed
    # on the way, so the body wins only if nothing contradicts it.
    header_delivery = lowered.get(DELIVERY_HEADER.lower())
    delivery_id = payload.get("delivery_id", header_delivery)
    if not isinstance(delivery_id, str) or not delivery_id:
        raise MalformedWebhook(f"no delivery id in the body or the {DELIVERY_HEADER} header")
    if header_delivery is not None and header_delivery != delivery_id:
        raise MalformedWebhook(f"the {DELIVERY_HEADER} header does not match the signed body")
    header_event = lowered.get(EVENT_HEADER.lower())
    if "event" not in payload and header_event:
        payload["event"] = header_event
    if header_event is not None and header_event != payload.get("event"):
        raise MalformedWebhook(f"the {EVENT_HEADER} header does not match the signed body")
    try:
        action = Action.model_validate({k: v for k, v in payload.items() if k != "delivery_id"})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise MalformedWebhook(f"the signed body is not an action event: {problems}") from None
    event = WebhookEvent(delivery_id=delivery_id, event=action.event, timestamp=timestamp, action=action)
    if seen is not None and _already_seen(seen, delivery_id):
        raise ReplayedWebhook(f"delivery {delivery_id} was already received", event=event)
    return event
