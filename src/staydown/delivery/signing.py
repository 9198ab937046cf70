"""Webhook signatures: HMAC-SHA256 over the timestamp and the body, checked against replay."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Staydown-Signature"
DELIVERY_HEADER = "Staydown-Delivery"  # the idempotency key: one per action event, stable across retries
EVENT_HEADER = "Staydown-Event"
DEFAULT_TOLERANCE_SECONDS = 300


class InvalidSignature(ValueError):
    """The signature is missing, malformed, or does not match the body."""


class StaleSignature(InvalidSignature):
    """The signature is valid but too old (or from the future): a replay, or a badly skewed clock."""


def sign(body: bytes, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check a `Staydown-Signature` header; returns its timestamp. Any of several `v1=` values may
    match (the sender signs with old and new secrets while they are rotated)."""
    if not header:
        raise InvalidSignature(f"no {SIGNATURE_HEADER} header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise InvalidSignature("malformed signature header")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise InvalidSignature("the signature header has no timestamp") from None
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise InvalidSignature("the signature does not match the body")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise StaleSignature(
            f"the signature is {abs(current - timestamp):.0f} s old; at most {tolerance} s is accepted"
        )
    return timestamp
