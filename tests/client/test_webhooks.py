"""`verify_webhook`: a good signature passes; forged, stale, future, contradicted and replayed ones do not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from staydown.client import (
    InvalidWebhookSignature,
    MalformedWebhook,
    ReplayedWebhook,
    StaleWebhook,
    WebhookEvent,
    WebhookRejected,
    verify_webhook,
)
from staydown.delivery.signing import InvalidSignature, StaleSignature, sign

SECRET = "whsec-test-only"
T = 1_780_000_000


def _action(**overrides: Any) -> dict[str, Any]:
    return {
        "id": 41,
        "seq": 7,
        "event": "action.applied",
        "kind": "remove",
        "target": "content",
        "content_id": "post-1",
        "account_id": "u-1",
        "case_id": 3,
        "policy": "csam",
        "state": "active",
        "interim": False,
        "automated_detection": True,
        "automated_decision": False,
        "territorial_scope": [],
        "ends_at": None,
        "created_at": "2026-06-01T12:00:00Z",
        "facts": "confirmed by a reviewer",
        "delivery_id": "dlv-41-applied",
        **overrides,
    }


def _signed(payload: dict[str, Any], *, secret: str = SECRET, at: int = T) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {
        "Staydown-Signature": sign(body, secret, at),
        "Staydown-Delivery": payload["delivery_id"],
        "Staydown-Event": payload["event"],
        "Content-Type": "application/json",
    }


def test_a_good_signature_gives_the_event() -> None:
    body, headers = _signed(_action())
    event = verify_webhook(body, headers, SECRET, now=T + 3)
    assert isinstance(event, WebhookEvent)
    assert (event.delivery_id, event.event, event.timestamp) == ("dlv-41-applied", "action.applied", T)
    assert event.action.id == 41 and event.action.applied and event.action.content_id == "post-1"
    assert event.action.automated_detection is True
    # Header names in any case, as servers and frameworks hand them over.
    lowered = {k.lower(): v for k, v in headers.items()}
    assert verify_webhook(body, lowered, SECRET, now=T).delivery_id == "dlv-41-applied"


def test_a_forged_or_missing_signature_is_rejected() -> None:
    body, headers = _signed(_action())
    forged, forged_headers = _signed(_action(), secret="someone-elses-secret")
    with pytest.raises(InvalidWebhookSignature):
        verify_webhook(forged, forged_headers, SECRET, now=T)
    with pytest.raises(InvalidWebhookSignature, match="does not match"):
        verify_webhook(body.replace(b"remove", b"label!"), headers, SECRET, now=T)
    for header in (None, "", "garbage", "t=abc,v1=00", f"t={T}", f"t={T},v1={'0' * 64}"):
        broken = (
            {**headers, "Staydown-Signature": header}
            if header is not None
            else {k: v for k, v in headers.items() if k != "Staydown-Signature"}
        )
        with pytest.raises(InvalidWebhookSignature):
            verify_webhook(body, broken, SECRET, now=T)
    # A body re-encoded from text is not the body that was signed: refuse to guess.
    with pytest.raises(TypeError):
        verify_webhook(body.decode(), headers, SECRET, now=T)  # type: ignore[arg-type]


def test_stale_and_future_timestamps_are_rejected() -> None:
    body, headers = _signed(_action())
    assert verify_webhook(body, headers, SECRET, now=T + 300).timestamp == T  # the edge is still inside
    assert verify_webhook(body, headers, SECRET, now=T - 300).timestamp == T
    for now in (T + 301, T - 301, T + 86_400):
        with pytest.raises(StaleWebhook) as err:
            verify_webhook(body, headers, SECRET, now=now)
        # Callers catching the server module's exceptions catch these too.
        assert isinstance(err.value, StaleSignature) and isinstance(err.value, InvalidSignature)
    assert verify_webhook(body, headers, SECRET, tolerance=30, now=T + 30).timestamp == T
    with pytest.raises(StaleWebhook):
        verify_webhook(body, headers, SECRET, tolerance=30, now=T + 31)


def test_a_replayed_delivery_is_rejected_with_the_event_attached() -> None:
    seen: set[str] = set()
    body, headers = _signed(_action())
    verify_webhook(body, headers, SECRET, now=T, seen=seen)
    assert seen == {"dlv-41-applied"}
    with pytest.raises(ReplayedWebhook) as err:
        verify_webhook(body, headers, SECRET, now=T + 5, seen=seen)
    assert err.value.event.action.id == 41
    # The sender's retry is signed afresh, with the same delivery id: still a duplicate.
    retry, retry_headers = _signed(_action(), at=T + 60)
    with pytest.raises(ReplayedWebhook):
        verify_webhook(retry, retry_headers, SECRET, now=T + 60, seen=seen)
    # A forgery never reaches the store, so it cannot block the genuine delivery later.
    other, other_headers = _signed(_action(delivery_id="dlv-42"), secret="wrong")
    with pytest.raises(InvalidWebhookSignature):
        verify_webhook(other, other_headers, SECRET, now=T, seen=seen)
    assert "dlv-42" not in seen


def test_a_callable_store_decides_what_was_seen() -> None:
    recorded: list[str] = []

    def seen_before(delivery_id: str) -> bool:
        already = delivery_id in recorded
        recorded.append(delivery_id)
        return already

    body, headers = _signed(_action())
    verify_webhook(body, headers, SECRET, now=T, seen=seen_before)
    with pytest.raises(ReplayedWebhook):
        verify_webhook(body, headers, SECRET, now=T, seen=seen_before)
    assert recorded == ["dlv-41-applied", "dlv-41-applied"]


def test_signed_bodies_that_are_not_action_events_are_malformed() -> None:
    for payload in (b"not json", b"[1, 2]", json.dumps({"delivery_id": "d", "event": "action.applied"}).encode()):
        with pytest.raises(MalformedWebhook):
            verify_webhook(payload, {"Staydown-Signature": sign(payload, SECRET, T)}, SECRET, now=T)
    body, headers = _signed(_action())
    # The headers are not signed: one that contradicts the signed body was changed on the way.
    with pytest.raises(MalformedWebhook, match="Delivery"):
        verify_webhook(body, {**headers, "Staydown-Delivery": "dlv-other"}, SECRET, now=T)
    with pytest.raises(MalformedWebhook, match="Event"):
        verify_webhook(body, {**headers, "Staydown-Event": "action.lifted"}, SECRET, now=T)
    # Without a delivery id in the body the header's is used; without either, nothing to de-duplicate by.
    bare = {k: v for k, v in _action().items() if k != "delivery_id"}
    body = json.dumps(bare).encode()
    signature = sign(body, SECRET, T)
    event = verify_webhook(body, {"Staydown-Signature": signature, "Staydown-Delivery": "dlv-h"}, SECRET, now=T)
    assert event.delivery_id == "dlv-h"
    with pytest.raises(MalformedWebhook, match="delivery id"):
        verify_webhook(body, {"Staydown-Signature": signature}, SECRET, now=T)


def test_secrets_can_be_rotated_on_both_sides() -> None:
    body = json.dumps(_action()).encode()
    # The sender signs with the old and the new secret while they are rotated.
    both = sign(body, "old", T) + "," + sign(body, "new", T).split(",", 1)[1]
    assert verify_webhook(body, {"Staydown-Signature": both}, "new", now=T).action.id == 41
    assert verify_webhook(body, {"Staydown-Signature": sign(body, "old", T)}, ["new", "old"], now=T).action.id == 41
    with pytest.raises(StaleWebhook):
        verify_webhook(body, {"Staydown-Signature": sign(body, "old", T)}, ["new", "old"], now=T + 999)
    with pytest.raises(ValueError, match="no webhook secret"):
        verify_webhook(body, {"Staydown-Signature": sign(body, "old", T)}, [], now=T)


# -- properties -------------------------------------------------------------------------------

texts = st.text(max_size=200)
actions = st.fixed_dictionaries(
    {
        "id": st.integers(1, 2**53),
        "seq": st.integers(0, 2**53),
        "event": st.sampled_from(["action.applied", "action.lifted"]),
        "kind": st.sampled_from(["remove", "disable", "restrict_distribution", "restore", "suspend", "label"]),
        "target": st.sampled_from(["content", "account"]),
        "content_id": st.none() | texts,
        "account_id": st.none() | texts,
        "facts": texts,
        "territorial_scope": st.lists(st.sampled_from(["DE", "FR", "US"])),
        "interim": st.booleans(),
        "delivery_id": st.text(min_size=1, max_size=80),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=actions, offset=st.integers(-300, 300), secret=st.text(min_size=1, max_size=64))
def test_any_signed_action_round_trips(payload: dict[str, Any], offset: int, secret: str) -> None:
    body = json.dumps(payload, ensure_ascii=False).encode()
    event = verify_webhook(body, {"Staydown-Signature": sign(body, secret, T)}, secret, now=T + offset, seen=set())
    assert event.delivery_id == payload["delivery_id"] and event.action.id == payload["id"]
    assert event.action.facts == payload["facts"] and event.action.content_id == payload["content_id"]


@settings(max_examples=60, deadline=None)
@given(payload=actions, position=st.integers(0, 10**6), flip=st.integers(1, 255))
def test_any_changed_byte_is_refused(payload: dict[str, Any], position: int, flip: int) -> None:
    body = bytearray(json.dumps(payload).encode())
    header = sign(bytes(body), SECRET, T)
    body[position % len(body)] ^= flip
    with pytest.raises(InvalidWebhookSignature):
        verify_webhook(bytes(body), {"Staydown-Signature": header}, SECRET, now=T)


@settings(max_examples=60, deadline=None)
@given(payload=actions, skew=st.integers(301, 10**9), sign_of_skew=st.sampled_from([-1, 1]))
def test_any_timestamp_outside_the_tolerance_is_refused(payload: dict[str, Any], skew: int, sign_of_skew: int) -> None:
    body = json.dumps(payload).encode()
    with pytest.raises(WebhookRejected) as err:
        verify_webhook(body, {"Staydown-Signature": sign(body, SECRET, T)}, SECRET, now=T + sign_of_skew * skew)
    assert isinstance(err.value, StaleWebhook)
