"""`staydown.client` against the real app over loopback sockets, and its retry rules against mock transports."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from staydown.actors import SYSTEM
from staydown.app import create_app
from staydown.authorities.models import FileRequest
from staydown.client import (
    Action,
    ActionPage,
    AsyncClient,
    AuthenticationError,
    Client,
    Content,
    InvalidInputError,
    NotFoundError,
    NoticeReceipt,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ScanResult,
    ServerError,
    StaydownAPIError,
    StaydownConnectionError,
)
from staydown.db import Database
from staydown.enforcement.actions import apply_action, lift_action
from staydown.enforcement.models import EnforcementAction
from staydown.flows.authorities import request_file
from staydown.settings import Settings
from staydown.subjects.queries import content_by_platform_id
from staydown.subjects.records import ensure_account, ensure_content
from staydown.subjects.schemas import AccountRef, ContentRef
from tests.client.servers import serve
from tests.helpers import make_key
from tests.imagegen import jpeg

REPORT = {
    "reporter_kind": "user",
    "policy_id": "csam",
    "minor_involved": True,
    "reporter_id": "acct-9",
    "explanation": "a user's report from the forum",
    "items": [{"content_id": "post-1"}],
}


@pytest.fixture
def staydown_url(app: Any) -> Iterator[str]:
    """The real staydown app, served by uvicorn on a loopback port."""
    with serve(app) as url:
        yield url


@pytest.fixture
def staydown(staydown_url: str, api_key: str) -> Iterator[Client]:
    with Client(staydown_url, api_key, retries=0) as client:
        yield client


# -- the real app ---------------------------------------------------------------------------------


def test_scan_of_a_synthetic_jpeg_is_allowed(staydown: Client, tmp_path: Path) -> None:
    data = jpeg(3)
    result = staydown.scan(
        data,
        content_id="post-1",
        account_id="u-1",
        account_handle="ana",
        uploader_ip="2001:db8::7",
        uploaded_at=datetime(2026, 6, 1, 11, 59, tzinfo=UTC),
    )
    assert isinstance(result, ScanResult)
    assert result.verdict == "allow" and result.allowed and not result.held and not result.blocked
    assert result.matches == [] and result.case_ids == [] and result.content_id == "post-1"
    assert result.signals["sha256"] == hashlib.sha256(data).hexdigest()
    assert (result.media["width"], result.media["height"]) == (640, 480)
    # A path is read and sent the same way.
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    again = staydown.scan(path, content_id="post-2")
    assert again.signals["md5"] == result.signals["md5"] and again.scan_id > result.scan_id
    # Hashes computed by the platform: the same answer without sending the media.
    matched = staydown.match(
        pdq=[(result.signals["pdq"], result.signals["pdq_quality"])],
        md5=result.signals["md5"],
        content={"id": "post-3", "kind": "image", "account": {"id": "u-1"}},
    )
    assert matched.verdict == "allow" and matched.content_id == "post-3"


def test_errors_come_back_typed(
    staydown: Client, staydown_url: str, settings: Settings, database: Database, api_key: str
) -> None:
    err: pytest.ExceptionInfo[StaydownAPIError]
    with Client(staydown_url, "sd_not-a-real-key", retries=0) as client, pytest.raises(AuthenticationError) as err:
        client.scan(jpeg(1))
    assert err.value.status == 401 and err.value.code == "unauthenticated"
    assert err.value.message and err.value.request_id and err.value.request_id.startswith("sdc-")

    # A corrupt file: 422, and the error names what is wrong with the media.
    data = jpeg(4)
    with pytest.raises(InvalidInputError) as err:
        staydown.scan(data[: len(data) // 3] + b"\x00" * 64, content_id="post-9")
    assert err.value.status == 422 and err.value.code in ("corrupt_media", "truncated_media"), err.value.code
    assert "truncated" in err.value.message.lower() or "corrupt" in err.value.message.lower(), err.value.message
    with pytest.raises(InvalidInputError) as err:
        staydown.scan(b"this is not an image at all")
    assert err.value.code == "unsupported_media" and "format" in err.value.message.lower()
    with pytest.raises(InvalidInputError) as err:
        staydown.scan(data, content_id="post-9", uploader_ip="not-an-ip")
    assert "uploader_ip" in err.value.message

    with Client(staydown_url, make_key(database, ["scan"]), retries=0) as client:
        assert client.scan(jpeg(5)).allowed
        with pytest.raises(PermissionDeniedError) as err:
            client.submit_notice(**REPORT)
    assert err.value.status == 403 and "notices:submit" in err.value.message

    with pytest.raises(NotFoundError) as err:
        staydown.get_account("nobody")
    assert err.value.status == 404

    small = create_app(settings.model_copy(update={"max_upload_bytes": 4096}), database=database, run_worker=False)
    with serve(small) as url, Client(url, api_key, retries=0) as client:
        with pytest.raises(PayloadTooLargeError) as err:
            client.scan(jpeg(6))
    assert err.value.status == 413 and "4096" in err.value.message


def test_a_notice_returns_its_receipt_and_subjects_are_kept_by_platform_id(staydown: Client) -> None:
    receipt = staydown.submit_notice(**REPORT)
    assert isinstance(receipt, NoticeReceipt)
    assert len(receipt.tracking_code) >= 8 and receipt.tracking_code in receipt.status_url
    assert receipt.cases and receipt.state == "received"
    assert receipt.deadlines and all(d.due_at is not None and d.due_at > d.received_at for d in receipt.deadlines)
    # The same content reported again joins the same case.
    second = staydown.submit_notice(**{**REPORT, "reporter_id": "acct-10"})
    assert second.cases == receipt.cases and second.tracking_code != receipt.tracking_code
    with pytest.raises(InvalidInputError) as err:
        staydown.submit_notice(items=[{"url": "ftp://example.invalid/x"}])
    assert "http" in err.value.message

    account = staydown.put_account("u-7", handle="ana", metadata={"joined": "2024"})
    assert account.id == "u-7" and account.handle == "ana"
    content = staydown.put_content(
        "post-42",
        kind="image",
        url="https://forum.example/p/42",
        account="u-7",
        created_at=datetime(2026, 5, 1, tzinfo=UTC),
    )
    assert isinstance(content, Content) and content.account is not None and content.account.id == "u-7"
    assert staydown.get_content("post-42").url == "https://forum.example/p/42"
    with pytest.raises(ValueError, match="timezone-aware"):
        staydown.put_content("post-43", created_at=datetime(2026, 5, 1))


def test_the_async_client_does_the_same(staydown_url: str, app: Any, api_key: str) -> None:
    async def main() -> None:
        async with AsyncClient(staydown_url, api_key, retries=0) as client:
            scanned, receipt = await asyncio.gather(
                client.scan(jpeg(7), content_id="post-7"), client.submit_notice(**REPORT)
            )
            assert scanned.allowed and receipt.tracking_code and receipt.cases
            with pytest.raises(InvalidInputError):
                await client.scan(b"GIF89a-but-not-really")
            assert (await client.put_account("u-8", handle="bo")).handle == "bo"
        async with AsyncClient(staydown_url, "sd_wrong", retries=0) as bad:
            with pytest.raises(AuthenticationError):
                await bad.match(md5="0" * 32)
        # `transport` takes any httpx transport: here the same app, called in-process.
        transport = httpx.ASGITransport(app=app)
        async with AsyncClient("http://staydown.test", api_key, transport=transport) as client:
            assert (await client.scan(jpeg(8))).allowed

    asyncio.run(main())


# -- the action feed --------------------------------------------------------------------------------


def _apply(database: Database, kind: str, *, content: str | None = None, account: str | None = None) -> int:
    """An action taken inside staydown (as a decision would), on the platform's content or account."""

    with database.unit_of_work() as db:
        if content is not None:
            row = ensure_content(
                db, actor=SYSTEM, ref=ContentRef(id=content, kind="image", account=AccountRef(id="u-1"))
            )
            action = apply_action(db, actor=SYSTEM, kind=kind, content_id=row.id, policy_ref="csam", facts="confirmed")
        else:
            holder = ensure_account(db, actor=SYSTEM, ref=AccountRef(id=account or "u-1"))
            action = apply_action(db, actor=SYSTEM, kind=kind, account_id=holder.id, policy_ref="csam")
        return action.id


def _lift(database: Database, action_id: int) -> None:
    with database.unit_of_work() as db:
        lift_action(db, actor=SYSTEM, action=db.get_one(EnforcementAction, action_id), reason="reversed on appeal")


def test_the_action_feed_follows_its_cursor_and_takes_acks(
    staydown: Client, staydown_url: str, api_key: str, database: Database
) -> None:
    ids = [
        _apply(database, "remove", content="post-1"),
        _apply(database, "restrict_distribution", content="post-2"),
        _apply(database, "suspend", account="u-1"),
        _apply(database, "disable", content="post-3"),
    ]
    page = staydown.actions(after=0, limit=2)
    assert isinstance(page, ActionPage) and [a.id for a in page.actions] == ids[:2]
    assert page.next_cursor == page.actions[-1].seq and page.actions[0].seq < page.actions[1].seq
    first = page.actions[0]
    assert (first.event, first.kind, first.target, first.content_id, first.policy) == (
        "action.applied",
        "remove",
        "content",
        "post-1",
        "csam",
    )
    assert page.actions[1].details == {} and first.facts == "confirmed" and first.created_at is not None
    rest = list(staydown.iter_actions(after=page.next_cursor, limit=1))
    assert [a.id for a in rest] == ids[2:] and rest[0].target == "account" and rest[0].account_id == "u-1"
    end = rest[-1].seq
    assert list(staydown.iter_actions(after=end)) == [] and staydown.actions(after=end).next_cursor == end

    acked = staydown.ack_action(first.id, status="applied", detail="post hidden")
    assert isinstance(acked, Action) and acked.id == first.id
    with pytest.raises(NotFoundError):
        staydown.ack_action(10_000)
    with pytest.raises(ValueError, match="applied, failed"):
        staydown.ack_action(first.id, status="done")

    # A lifted action comes back once more, later in the feed, with its new state.
    _lift(database, ids[1])
    lifted = list(staydown.iter_actions(after=end))
    assert [(a.id, a.event, a.state) for a in lifted] == [(ids[1], "action.lifted", "lifted")] and lifted[0].seq > end

    async def drain() -> list[int]:
        async with AsyncClient(staydown_url, api_key) as client:
            return [a.id async for a in client.iter_actions(after=0, limit=3)]

    assert asyncio.run(drain()) == [ids[0], ids[2], ids[3], ids[1]]


def test_csam3_the_client_registers_visibility_and_upload_facts_and_answers_a_file_request(
    staydown: Client, staydown_url: str, api_key: str, database: Database
) -> None:
    """A platform says who could see its content and how it was uploaded, and answers staydown's
    `provide_file` request with the file (NCMEC-3, CSAM-3)."""

    data = jpeg(33)
    scanned = staydown.scan(
        data,
        content_id="post-33",
        account_id="u-33",
        content_visibility="public",
        uploader_ip="198.51.100.33",
        uploader_port=40433,
        original_filename="sunset.jpg",
        uploaded_at=datetime(2026, 6, 1, 11, 0, tzinfo=UTC),
    )
    assert scanned.allowed
    assert staydown.get_content("post-33").visibility == "public"
    assert staydown.put_content("post-33", visibility="private").visibility == "private"
    with database.unit_of_work() as db:
        request_id = request_file(
            db,
            actor=SYSTEM,
            content=content_by_platform_id(db, "post-33"),
            case_id=None,
            reason="a test report needs the file",
        ).id
    (ask,) = [a for a in staydown.iter_actions() if a.kind == "provide_file"]
    assert ask.file_request_id == request_id and ask.content_id == "post-33" and ask.statement is None
    receipt = staydown.provide_file(
        ask,
        data,
        original_filename="sunset.jpg",
        context={"uploaded_at": datetime(2026, 6, 1, 11, 0, tzinfo=UTC)},
    )
    assert receipt.file_request_id == request_id and receipt.sha256 == hashlib.sha256(data).hexdigest()
    assert staydown.provide_file(ask, data).id == receipt.id  # sent again after a lost answer: the same item
    staydown.ack_action(ask.id, status="applied", detail="file provided")
    with database.unit_of_work(write=False) as db:
        assert db.get_one(FileRequest, request_id).state == "provided"
    lifted = [a for a in staydown.iter_actions(after=ask.seq) if a.id == ask.id]
    assert lifted and lifted[0].lifted, "the platform hears the request is settled"

    async def deposit() -> int | None:
        async with AsyncClient(staydown_url, api_key) as client:
            return (
                await client.deposit_evidence(jpeg(34), content_id="post-34", context={"note": "kept"})
            ).file_request_id

    assert asyncio.run(deposit()) is None
    with pytest.raises(ValueError, match="visibility"):
        staydown.put_content("post-33", visibility="everyone")
    with pytest.raises(ValueError, match="uploader_port"):
        staydown.scan(data, content_id="post-35", uploader_port=0)
    not_a_request = Action(id=1, event="action.applied", kind="remove", target="content", content_id="post-33")
    with pytest.raises(ValueError, match="not a provide_file request"):
        staydown.provide_file(not_a_request, data)


# -- retries, against mock transports ------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, **kwargs: Any) -> tuple[Client, list[httpx.Request], list[float]]:
    """A client whose network is `handler` and whose sleeps are recorded rather than slept."""
    requests: list[httpx.Request] = []
    sleeps: list[float] = []

    def recording(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handler(request)

    client = Client("https://staydown.test", "sd_k", transport=httpx.MockTransport(recording), **kwargs)
    client._sleep = sleeps.append
    return client, requests, sleeps


def _sequence(*outcomes: httpx.Response | Exception) -> Handler:
    queue = list(outcomes)

    def handler(request: httpx.Request) -> httpx.Response:
        outcome = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(outcome, Exception):
            raise outcome
        # A fresh response each time: one that was read already cannot be served again.
        return httpx.Response(outcome.status_code, headers=outcome.headers, content=outcome.content)

    return handler


def _error(status: int, code: str = "not_ready", **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": code, "message": f"status {status}", "details": None}, headers=headers)


ACTION = {
    "id": 101,
    "seq": 1,
    "event": "action.applied",
    "kind": "remove",
    "target": "content",
    "content_id": "post-1",
    "state": "active",
    "created_at": "2026-06-01T12:00:00Z",
}
PAGE = httpx.Response(200, json={"actions": [], "next_cursor": 0})
SCANNED = httpx.Response(
    200,
    json={
        "scan_id": 1,
        "verdict": "allow",
        "reasons": [],
        "matches": [],
        "signals": {},
        "media": {},
        "content_id": None,
        "query_variants": 8,
    },
)


def test_idempotent_calls_are_retried_on_503_with_growing_backoff() -> None:
    client, requests, sleeps = _client(_sequence(_error(503), _error(502), _error(504), PAGE))
    assert client.actions().next_cursor == 0
    assert len(requests) == 4 and len(sleeps) == 3
    # Exponential with jitter: each wait is within [ceiling/2, ceiling] of a doubling ceiling.
    for attempt, slept in enumerate(sleeps):
        ceiling = min(8.0, 0.5 * 2**attempt)
        assert ceiling / 2 <= slept <= ceiling
    # One request id for every attempt of one call, so the server's logs tie them together.
    assert len({r.headers["x-request-id"] for r in requests}) == 1
    assert requests[0].headers["authorization"] == "Bearer sd_k"


def test_retries_give_up_after_the_limit_with_the_typed_error() -> None:
    client, requests, _ = _client(_sequence(_error(503)), retries=2)
    with pytest.raises(ServerError) as err:
        client.get_content("post-1")
    assert len(requests) == 3 and err.value.status == 503 and err.value.code == "not_ready"


def test_put_and_ack_are_retried_after_a_dropped_connection() -> None:
    client, requests, _ = _client(
        _sequence(httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("gone"), httpx.Response(200, json=ACTION))
    )
    assert client.ack_action(101).id == 101
    assert len(requests) == 3
    client, requests, _ = _client(
        _sequence(httpx.ConnectError("refused"), httpx.Response(200, json={"id": "u-1", "status": "active"}))
    )
    assert client.put_account("u-1").id == "u-1" and len(requests) == 2


def test_a_scan_is_not_sent_again_once_it_was_sent() -> None:
    for outcome in (_error(503), _error(502, "http_error"), _error(504, "http_error")):
        client, requests, _ = _client(_sequence(outcome, SCANNED))
        with pytest.raises(ServerError):
            client.scan(jpeg(1))
        assert len(requests) == 1, "a scan the server may have recorded is not repeated"
    for dropped in (httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("gone"), httpx.WriteError("reset")):
        client, requests, _ = _client(_sequence(dropped, SCANNED))
        with pytest.raises(StaydownConnectionError) as err:
            client.scan(jpeg(1))
        assert len(requests) == 1 and err.value.maybe_processed is True
    client, requests, _ = _client(_sequence(httpx.ReadTimeout("slow"), SCANNED))
    with pytest.raises(StaydownConnectionError):
        client.submit_notice(**REPORT)
    assert len(requests) == 1


def test_a_scan_is_sent_again_when_it_never_left() -> None:
    client, requests, sleeps = _client(
        _sequence(httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("busy"), SCANNED)
    )
    assert client.scan(jpeg(1), content_id="post-1").allowed
    assert len(requests) == 4 and len(sleeps) == 3
    # The multipart body is rebuilt whole for each attempt.
    assert all(b'name="content_id"' in r.read() for r in requests)
    client, requests, _ = _client(_sequence(httpx.ConnectError("refused")), retries=1)
    with pytest.raises(StaydownConnectionError) as err:
        client.scan(jpeg(1))
    assert len(requests) == 2 and err.value.maybe_processed is False


def test_429_is_retried_after_retry_after_even_for_a_post() -> None:
    client, requests, sleeps = _client(
        _sequence(
            _error(429, "rate_limited", **{"Retry-After": "2"}),
            httpx.Response(
                201,
                json={
                    "tracking_code": "ABCD-1234",
                    "state": "received",
                    "received_at": "2026-06-01T12:00:00Z",
                    "cases": [3],
                },
            ),
        )
    )
    assert client.submit_notice(**REPORT).tracking_code == "ABCD-1234"
    assert sleeps == [2.0] and len(requests) == 2


def test_429_advice_longer_than_the_limit_is_raised_not_waited() -> None:
    client, requests, sleeps = _client(
        _sequence(_error(429, "rate_limited", **{"Retry-After": "3600"})), max_retry_after=30
    )
    with pytest.raises(RateLimitedError) as err:
        client.actions()
    assert err.value.retry_after == 3600 and sleeps == [] and len(requests) == 1


def test_an_error_page_that_is_not_json_still_raises_a_typed_error() -> None:
    html = httpx.Response(502, text="<html><body>Bad Gateway</body></html>", headers={"X-Request-ID": "r-1"})
    client, _, _ = _client(_sequence(html), retries=0)
    with pytest.raises(ServerError) as err:
        client.scan(b"x")
    assert err.value.code == "http_error" and "Bad Gateway" in err.value.message and err.value.request_id == "r-1"
    client, _, _ = _client(_sequence(httpx.Response(418, json={"unexpected": True})), retries=0)
    with pytest.raises(StaydownAPIError) as other:
        client.actions()
    assert type(other.value) is StaydownAPIError and other.value.status == 418


def test_arguments_are_checked_before_the_network() -> None:
    client, requests, _ = _client(_sequence(SCANNED))
    with pytest.raises(ValueError, match="content_id"):
        client.scan(b"x", account_id="u-1")
    with pytest.raises(ValueError, match="at least one signal"):
        client.match()
    with pytest.raises(ValueError, match="items"):
        client.submit_notice(policy_id="csam")
    with pytest.raises(TypeError):
        client.scan(12345)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Client("https://staydown.test", "")
    assert requests == []


def test_the_async_client_retries_by_the_same_rules() -> None:
    calls: list[str] = []
    outcomes = [_error(503), PAGE]

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/v1/scan":
            raise httpx.ReadTimeout("slow")
        outcome = outcomes.pop(0)
        return httpx.Response(outcome.status_code, headers=outcome.headers, content=outcome.content)

    async def main() -> None:
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            slept.append(seconds)

        async with AsyncClient("https://staydown.test", "sd_k", transport=httpx.MockTransport(handler)) as client:
            client._sleep = sleep
            assert (await client.actions()).next_cursor == 0
            with pytest.raises(StaydownConnectionError):
                await client.scan(b"x")
        assert len(slept) == 1

    asyncio.run(main())
    assert calls == ["/v1/actions", "/v1/actions", "/v1/scan"]
