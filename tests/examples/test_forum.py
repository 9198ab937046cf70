"""The example forum beside a real staydown: uploads scanned, reports linked, actions received by
signed webhook (hand-signed and from staydown's own sender), acknowledged, and pulled."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from staydown.actors import SYSTEM, Actor
from staydown.app import worker_services
from staydown.audit.models import AuditEvent
from staydown.authorities.models import NcmecReport
from staydown.authorities.ncmec import confirm_report
from staydown.authorities.ncmec_client import CyberTiplineClient
from staydown.authorities.ncmec_server import create_app as create_ncmec_app
from staydown.cases.actions import claim_case
from staydown.cases.models import Case
from staydown.client import Action, AsyncClient
from staydown.db import Database
from staydown.delivery.signing import sign
from staydown.delivery.webhooks import action_event
from staydown.enforcement.actions import apply_action, lift_action
from staydown.enforcement.models import EnforcementAction
from staydown.flows.authorities import draft_reports
from staydown.flows.decisions import decide_case
from staydown.jobs import build_registry
from staydown.settings import Settings
from staydown.staff.permissions import permissions_for_roles
from staydown.subjects.models import PlatformContent
from staydown.subjects.records import ensure_account
from staydown.subjects.schemas import AccountRef
from staydown.worker import RetryPolicy, Worker
from tests.authorities.test_ncmec_protocol import PASSWORD, USER
from tests.client.servers import serve
from tests.helpers import auth, make_key
from tests.imagegen import encode, jpeg, synthetic

SECRET = "forum-test-webhook-secret"
FORUM_FILE = Path(__file__).resolve().parents[2] / "examples" / "forum" / "forum.py"


def _load_forum() -> ModuleType:
    # The example is a script, not part of the package: load it from its file, as `python` would.
    name = "staydown_example_forum"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FORUM_FILE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


forum = _load_forum()


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The forum runs beside staydown on SQLite, as `make serve` does; the client's own tests
    cover both databases."""
    return request.param


@pytest.fixture
def staydown_url(app: Any) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture
def forum_url(staydown_url: str, api_key: str, tmp_path: Path) -> Iterator[str]:
    config = forum.Config(
        staydown_url=staydown_url,
        api_key=api_key,
        webhook_secret=SECRET,
        database=tmp_path / "forum.db",
        sync_seconds=0,
        public_url="http://forum.test",
    )
    with serve(forum.create_app(config)) as url:
        yield url


def _upload(forum_url: str, data: bytes, *, username: str = "ana", caption: str = "a drawing") -> httpx.Response:
    return httpx.post(
        f"{forum_url}/posts",
        data={"username": username, "caption": caption},
        files={"image": ("picture.jpg", data, "image/jpeg")},
        timeout=30,
    )


def _posted_id(response: httpx.Response) -> str:
    marker = "Post <code>"
    start = response.text.index(marker) + len(marker)
    return response.text[start : response.text.index("</code>", start)]


def _listed(forum_url: str) -> list[str]:
    return [p["id"] for p in httpx.get(f"{forum_url}/api/posts").json()["posts"]]


def _take_action(
    database: Database, kind: str, *, content: str | None = None, account: str | None = None, lift: int | None = None
) -> int:
    """What a reviewer's decision does inside staydown: an action on the platform's content or account."""
    with database.unit_of_work() as db:
        if lift is not None:
            return lift_action(db, actor=SYSTEM, action=db.get_one(EnforcementAction, lift), reason="reversed").id
        if content is not None:
            row = db.execute(sa.select(PlatformContent).where(PlatformContent.platform_id == content)).scalar_one()
            return apply_action(
                db, actor=SYSTEM, kind=kind, content_id=row.id, policy_ref="csam", facts="confirmed by a reviewer"
            ).id

        holder = ensure_account(db, actor=SYSTEM, ref=AccountRef(id=account or ""))
        return apply_action(db, actor=SYSTEM, kind=kind, account_id=holder.id, policy_ref="csam").id


def _webhook_body(database: Database, action_id: int, event: str) -> bytes:
    """The body staydown's sender builds for this action event, byte for byte the same recipe."""
    with database.unit_of_work(write=False) as db:
        payload = action_event(db, db.get_one(EnforcementAction, action_id), event)
    delivery_id = f"action:{action_id}:{event}"
    return json.dumps({**payload, "delivery_id": delivery_id}, separators=(",", ":"), sort_keys=True).encode()


def _deliver(
    forum_url: str, body: bytes, *, secret: str = SECRET, at: int | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    event = json.loads(body)
    signed = {
        "Content-Type": "application/json",
        "Staydown-Signature": sign(body, secret, at or int(time.time())),
        "Staydown-Delivery": event.get("delivery_id", ""),
        "Staydown-Event": event.get("event", ""),
        **(headers or {}),
    }
    return httpx.post(f"{forum_url}/staydown/webhook", content=body, headers=signed)


def _eventually(check: Callable[[], bool], *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def _ack_status(database: Database, action_id: int) -> str | None:
    with database.unit_of_work(write=False) as db:
        return db.get_one(EnforcementAction, action_id).ack_status


# -- end to end ------------------------------------------------------------------------------


def test_upload_is_scanned_listed_and_taken_down_by_a_signed_webhook(
    forum_url: str, staydown_url: str, database: Database, api_key: str
) -> None:
    r = _upload(forum_url, jpeg(31))
    assert r.status_code == 201, r.text
    post_id = _posted_id(r)
    assert _listed(forum_url) == [post_id]
    media = httpx.get(f"{forum_url}/media/{post_id}")
    assert media.status_code == 200 and media.headers["content-type"] == "image/jpeg"
    assert media.content == jpeg(31)
    page = httpx.get(forum_url).text
    assert f'href="{staydown_url}/report?content={post_id}"' in page and "Report</a>" in page
    # staydown recorded the scan against the forum's ids: the post, its author and the address.
    with httpx.Client(base_url=staydown_url, headers=auth(api_key)) as sd:
        known = sd.get(f"/v1/content/{post_id}").json()
    assert known["account"]["id"] == "ana" and known["url"] == f"http://forum.test/p/{post_id}"

    # A reviewer removes it; the webhook staydown would send arrives.
    removal = _take_action(database, "remove", content=post_id)
    body = _webhook_body(database, removal, "action.applied")
    forged = _deliver(forum_url, body, secret="not-the-secret")
    assert forged.status_code == 401 and forged.json()["error"] == "invalid_signature"
    stale = _deliver(forum_url, body, at=int(time.time()) - 3600)
    assert stale.status_code == 401 and stale.json()["error"] == "stale_signature"
    assert _listed(forum_url) == [post_id], "a refused webhook changes nothing"
    r = _deliver(forum_url, body)
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert _listed(forum_url) == []
    assert httpx.get(f"{forum_url}/media/{post_id}").status_code == 404
    gone = httpx.get(f"{forum_url}/p/{post_id}")
    assert gone.status_code == 404
    # REQ DSA-2: the action carried its statement of reasons; the post's page links to it and to the appeal.
    statement = json.loads(body)["statement"]
    assert statement and statement["url"] and f'href="{statement["url"]}"' in gone.text
    assert f'href="{statement["appeal_url"]}"' in gone.text.replace("&amp;", "&")
    # The forum tells staydown it was done.
    _eventually(lambda: _ack_status(database, removal) == "applied")
    # The sender's retry of the same delivery is answered, and not applied twice.
    again = _deliver(forum_url, body)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"

    # Signed but not an action event, or with a header contradicting the signed body: 400.
    junk = json.dumps({"delivery_id": "x", "event": "action.applied"}).encode()
    assert _deliver(forum_url, junk).status_code == 400
    assert _deliver(forum_url, body, headers={"Staydown-Delivery": "someone-else"}).status_code == 400

    # Reversed on appeal: the removal is lifted, the post comes back.
    _take_action(database, "", lift=removal)
    assert _deliver(forum_url, _webhook_body(database, removal, "action.lifted")).status_code == 200
    assert _listed(forum_url) == [post_id]
    assert httpx.get(f"{forum_url}/media/{post_id}").status_code == 200


def test_block_is_refused_and_hold_kept_out_of_view(
    forum_url: str, staydown_url: str, app: Any, database: Database
) -> None:
    key = make_key(database, ["banks:read", "banks:write", "scan"])
    blocked, held = synthetic(41), synthetic(42)
    with httpx.Client(base_url=staydown_url, headers=auth(key)) as sd:
        for name, image, action in (("known", blocked, "block"), ("watch", held, "hold")):
            assert (
                sd.post(
                    "/v1/banks",
                    json={
                        "name": name,
                        "source": "own",
                        "permitted_purpose": "benign stand-ins for a test",
                        "policy_id": "csam",
                        "action_on_match": action,
                    },
                ).status_code
                == 201
            )
            pdq = sd.post("/v1/scan", files={"file": ("x", encode(image, "PNG"), "image/png")}).json()["signals"]["pdq"]
            r = sd.post(f"/v1/banks/{name}/entries", json={"entries": [{"signal_type": "pdq", "signal": pdq}]})
            assert r.status_code in (200, 201), r.text
    app.state.match_engine.catch_up()

    r = _upload(forum_url, encode(blocked, "JPEG", quality=80), username="mallory")
    assert r.status_code == 422 and "refused" in r.text
    r = _upload(forum_url, encode(held, "JPEG", quality=80), username="bo")
    assert r.status_code == 202 and "review" in r.text
    post_id = _posted_id(r)
    assert _listed(forum_url) == []
    assert httpx.get(f"{forum_url}/media/{post_id}").status_code == 404
    # The reviewer finds nothing wrong: whatever kept it back is lifted (or it is restored), and
    # the post appears.
    restored = _take_action(database, "restore", content=post_id)
    assert _deliver(forum_url, _webhook_body(database, restored, "action.applied")).status_code == 200
    assert _listed(forum_url) == [post_id]


def test_actions_through_staydowns_own_webhook_sender(forum_url: str, database: Database) -> None:
    post_id = _posted_id(_upload(forum_url, jpeg(51)))
    other = _posted_id(_upload(forum_url, jpeg(52), username="bo"))
    interim = _take_action(database, "restrict_distribution", content=post_id)
    removal = _take_action(database, "remove", content=post_id)
    _take_action(database, "", lift=interim)
    suspension = _take_action(database, "suspend", account="bo")
    settings = Settings(env="test", webhook_url=f"{forum_url}/staydown/webhook", webhook_secret=SECRET)
    worker = Worker(database, build_registry(), services={"settings": settings}, retry=RetryPolicy(base_seconds=1))
    worker.run_until_idle()
    assert _listed(forum_url) == [other], "removed, and the lifted interim measure does not bring it back"
    _eventually(lambda: _ack_status(database, removal) == "applied" and _ack_status(database, suspension) == "applied")
    refused = _upload(forum_url, jpeg(53), username="bo")
    assert refused.status_code == 403 and "suspended" in refused.text


def test_the_pull_feed_catches_up_on_missed_webhooks(
    staydown_url: str, api_key: str, database: Database, tmp_path: Path
) -> None:
    config = forum.Config(
        staydown_url=staydown_url,
        api_key=api_key,
        webhook_secret=SECRET,
        database=tmp_path / "forum.db",
        sync_seconds=0,
    )
    app = forum.create_app(config)
    with serve(app) as url:
        post_id = _posted_id(_upload(url, jpeg(61)))
        removal = _take_action(database, "remove", content=post_id)
        assert _listed(url) == [post_id]  # no webhook configured: nothing arrives by itself

        async def sync() -> int:
            async with AsyncClient(staydown_url, api_key) as client:
                app.state.staydown = client
                return await app.state.sync_once()

        assert asyncio.run(sync()) == 1
        assert _listed(url) == [] and _ack_status(database, removal) == "applied"
        assert asyncio.run(sync()) == 0, "the cursor was kept"


def test_ncmec3_the_forum_answers_provide_file_and_the_report_carries_the_upload_facts(
    forum_url: str, staydown_url: str, app: Any, database: Database, api_key: str
) -> None:
    """The whole loop with a platform that plays its part: an upload passes the scan, is reported
    and confirmed later; staydown never held it, so the CyberTipline report asks the forum for the
    file by signed webhook; the forum sends it (staydown.client.provide_file) and acknowledges; the
    report goes on by itself and NCMEC receives the file with the address, port, time, name,
    location and visibility the forum gave at upload."""

    cs1 = Actor.staff(201, "cs1", permissions_for_roles(["child_safety"]))
    cs2 = Actor.staff(202, "cs2", permissions_for_roles(["child_safety"]))
    data = jpeg(81)
    post_id = _posted_id(_upload(forum_url, data))
    r = httpx.post(
        f"{staydown_url}/v1/notices",
        headers=auth(api_key),
        json={
            "reporter_kind": "user",
            "policy_id": "csam",
            "explanation": "fictitious test report of a stand-in",
            "items": [{"content_id": post_id}],
        },
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["cases"][0]
    with database.unit_of_work() as db:
        case = db.get_one(Case, case_id)
        claim_case(db, actor=cs1, case=case)
        decide_case(
            db,
            actor=cs1,
            case=case,
            policy_ref="csam@2",
            outcome="violates",
            facts="apparent CSAM (a benign test stand-in)",
            catalogue=app.state.catalogue,
        )
    with database.unit_of_work() as db:
        (report,) = draft_reports(db, actor=cs1, case=db.get_one(Case, case_id), catalogue=app.state.catalogue)
        confirm_report(db, actor=cs2, report=report)
        report_id, marker = report.id, f"staydown report ref: {report.plan['ref']}"

    ncmec_app = create_ncmec_app(username=USER, password=PASSWORD)
    settings = app.state.settings
    settings.webhook_url = f"{forum_url}/staydown/webhook"
    settings.webhook_secret = SecretStr(SECRET)
    settings.ncmec_reporter_email = "safety@forum.example"
    with serve(ncmec_app) as ncmec_url:
        services = {**worker_services(app), "ncmec_client": CyberTiplineClient(ncmec_url, USER, PASSWORD, timeout=5.0)}
        worker = Worker(database, build_registry(), services=services, retry=RetryPolicy(base_seconds=1, cap_seconds=1))

        def filed() -> bool:
            worker.run_until_idle()
            with database.unit_of_work(write=False) as db:
                return db.get_one(NcmecReport, report_id).state == "finished"

        _eventually(filed, timeout=20)
        (received,) = ncmec_app.state.ncmec.find_reports(marker)
    with database.unit_of_work(write=False) as db:
        ask = db.execute(sa.select(EnforcementAction).where(EnforcementAction.kind == "provide_file")).scalar_one()
        assert ask.state == "lifted" and ask.ack_status == "applied"  # answered, then settled
        acks = [
            e.data["detail"]
            for e in db.execute(
                sa.select(AuditEvent).where(
                    AuditEvent.tag == "enforcement:action:ack", AuditEvent.subject_type == "content"
                )
            ).scalars()
            if e.data["action_id"] == ask.id
        ]
        assert "file provided" in acks
    (stored,) = received.files.values()
    assert stored.data == data
    details = stored.details
    assert details.findtext("originalFileName") == "picture.jpg"
    assert details.findtext("locationOfFile") == f"http://forum.test/p/{post_id}"
    assert details.findtext("publiclyAvailable") == "true"
    assert details.findtext("uploadedToEspTimestamp")
    event = details.find("ipCaptureEvent")
    assert event.findtext("ipAddress") == "127.0.0.1" and 1 <= int(event.findtext("port")) <= 65535


def test_uploads_fail_closed_when_staydown_cannot_answer(tmp_path: Path) -> None:
    config = forum.Config(
        staydown_url="http://127.0.0.1:9",
        api_key="sd_k",
        webhook_secret=SECRET,
        database=tmp_path / "forum.db",
        sync_seconds=0,
    )
    client = AsyncClient(config.staydown_url, "sd_k", retries=0)
    with serve(forum.create_app(config, client=client)) as url:
        r = _upload(url, jpeg(71))
        assert r.status_code == 503 and "nothing was posted" in r.text
        assert _listed(url) == []
        assert _upload(url, jpeg(71), username="no spaces please").status_code == 422


# -- what each action does to a post, in any order -------------------------------------------------


def _event(
    action_id: int, kind: str, *, event: str = "action.applied", content: str | None = "p1", account: str | None = None
) -> Action:
    return Action(
        id=action_id,
        seq=action_id,
        event=event,
        kind=kind,
        target="account" if account else "content",
        content_id=content if not account else None,
        account_id=account,
    )


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = forum.Store(tmp_path / "forum.db")
    store.add_pending(post_id="p1", author="ana", caption="", media=b"x")
    store.settle("p1", state="published", scan_id=1, media_type="image/jpeg")
    return store


def _apply(store: Any, *events: Action) -> str | None:
    for event in events:
        with store.transaction() as conn:
            store.record_action(conn, event)
    return store.post_state("p1")


@pytest.mark.parametrize(
    "events, state",
    [
        ([_event(1, "remove")], "hidden"),
        ([_event(1, "disable"), _event(1, "disable", event="action.lifted")], "published"),
        # Arriving late or out of order changes nothing: a lift before its application still wins.
        ([_event(1, "remove", event="action.lifted"), _event(1, "remove")], "published"),
        ([_event(1, "remove"), _event(1, "remove")], "hidden"),
        # A restoration undoes what came before it, not what comes after.
        ([_event(1, "remove"), _event(2, "restore")], "published"),
        ([_event(2, "restore"), _event(1, "remove")], "published"),
        ([_event(2, "restore"), _event(3, "restrict_distribution")], "hidden"),
        # An interim restriction replaced by a removal: the lift does not bring the post back.
        (
            [
                _event(1, "restrict_distribution"),
                _event(2, "remove"),
                _event(1, "restrict_distribution", event="action.lifted"),
            ],
            "hidden",
        ),
        ([_event(1, "label"), _event(2, "demote")], "published"),
        ([_event(1, "remove", content="p2")], "published"),
    ],
)
def test_post_visibility_follows_the_actions_in_force(store: Any, events: list[Action], state: str) -> None:
    assert _apply(store, *events) == state


def test_a_held_post_is_released_by_a_lift_or_a_restoration(store: Any) -> None:
    store.add_pending(post_id="p2", author="bo", caption="", media=b"y")
    store.settle("p2", state="held", scan_id=2, media_type="image/jpeg")
    assert store.post_state("p2") == "held"
    assert [p["id"] for p in store.visible_posts()] == ["p1"]
    _apply(store, _event(5, "restrict_distribution", content="p2"))
    _apply(store, _event(5, "restrict_distribution", content="p2", event="action.lifted"))
    assert store.post_state("p2") == "published"
    assert sorted(p["id"] for p in store.visible_posts()) == ["p1", "p2"]


def test_account_measures_bar_posting_until_lifted(store: Any) -> None:
    assert not store.barred("bo")
    _apply(store, _event(1, "warn", account="bo"), _event(2, "suspend", account="bo"))
    assert store.barred("bo") and not store.barred("ana")
    _apply(store, _event(2, "suspend", account="bo", event="action.lifted"))
    assert not store.barred("bo")
    _apply(store, _event(3, "terminate", account="bo"), _event(4, "restore_account", account="bo"))
    assert not store.barred("bo")


def test_every_action_gets_an_acknowledgement() -> None:
    assert forum.outcome_of(_event(1, "remove")) == ("applied", "applied: post hidden")
    assert forum.outcome_of(_event(1, "provide_file", event="action.lifted"))[0] == "applied"
    assert forum.outcome_of(_event(1, "demonetise"))[0] == "applied"
    assert forum.outcome_of(_event(1, "suspend", account="bo"))[0] == "applied"
    status, detail = forum.outcome_of(_event(1, "teleport"))
    assert status == "failed" and "teleport" in detail


def test_configuration_comes_from_the_environment(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="STAYDOWN_API_KEY"):
        forum.Config.from_env({"STAYDOWN_WEBHOOK_SECRET": "s"})
    config = forum.Config.from_env(
        {
            "STAYDOWN_API_KEY": "sd_k",
            "STAYDOWN_WEBHOOK_SECRET": "s",
            "FORUM_PORT": "9001",
            "STAYDOWN_URL": "https://staydown.example/",
        }
    )
    assert (config.staydown_url, config.port, config.public_url) == (
        "https://staydown.example",
        9001,
        "http://127.0.0.1:9001",
    )
