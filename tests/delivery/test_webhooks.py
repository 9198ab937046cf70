"""Actions reach the platform: signed webhooks from the outbox that survive a receiver down for
hours and a process killed between commit and delivery, in order per subject; and the pull feed
with acknowledgments, where a confirmed removal meets the TAKE IT DOWN track."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from staydown.actors import SYSTEM
from staydown.cases.models import Case, LegalTrack
from staydown.clock import FrozenClock, utcnow
from staydown.db import Database
from staydown.delivery.models import Job
from staydown.delivery.signing import verify
from staydown.enforcement.actions import apply_action, lift_action
from staydown.jobs import build_registry
from staydown.settings import Settings
from staydown.subjects.records import ensure_content
from staydown.subjects.schemas import AccountRef, ContentRef
from staydown.worker import RetryPolicy, Worker
from tests.helpers import auth, make_staff, sign_in

SECRET = "test-webhook-secret-0123456789abcdef"


class Receiver:
    def __init__(self) -> None:
        self.up = True
        self.accepted: list[dict] = []
        self.attempts = 0
        self.bad_signatures = 0
        self.lock = threading.Lock()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.attempts += 1
                if not state.up:
                    self.send_response(503)
                    self.end_headers()
                    return
                try:
                    verify(body, self.headers.get("Staydown-Signature"), SECRET, tolerance=10**9)
                except ValueError:
                    state.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                event = json.loads(body)
                assert event["delivery_id"] == self.headers["Staydown-Delivery"]
                state.accepted.append(event)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def _worker(database: Database, url: str) -> Worker:
    settings = Settings(env="test", webhook_url=url, webhook_secret=SECRET)
    return Worker(
        database, build_registry(), services={"settings": settings}, retry=RetryPolicy(base_seconds=2, cap_seconds=3600)
    )


def _actions(database: Database, n_subjects: int = 3) -> list[int]:
    ids = []
    with database.unit_of_work() as db:
        for s in range(n_subjects):
            content = ensure_content(db, actor=SYSTEM, ref=ContentRef(id=f"c{s}", account=AccountRef(id=f"a{s}")))
            first = apply_action(db, actor=SYSTEM, kind="restrict_distribution", content_id=content.id, interim=True)
            second = apply_action(db, actor=SYSTEM, kind="remove", content_id=content.id)
            lift_action(db, actor=SYSTEM, action=first, reason="replaced by removal")
            third = apply_action(db, actor=SYSTEM, kind="suspend", account_id=content.account_id)
            ids += [first.id, second.id, third.id]
    return ids


def test_receiver_down_for_hours_gets_every_action_once_in_order(
    database: Database, clock: FrozenClock, receiver
) -> None:
    state, url = receiver
    _actions(database)
    worker = _worker(database, url)
    state.up = False
    for _ in range(40):  # ten hours of retries
        worker.run_until_idle()
        clock.advance(minutes=15)
    assert state.attempts > 9 and not state.accepted
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.state == "dead")) == 0
    state.up = True
    for _ in range(12):
        clock.advance(hours=1)
        worker.run_until_idle()
    keys = [e["delivery_id"] for e in state.accepted]
    assert len(keys) == 12 and len(set(keys)) == 12  # each idempotency key exactly once
    for subject in ("c0", "c1", "c2"):
        seen = [e for e in state.accepted if e["content_id"] == subject]
        assert [(e["kind"], e["event"]) for e in seen] == [
            ("restrict_distribution", "action.applied"),
            ("remove", "action.applied"),
            ("restrict_distribution", "action.lifted"),
        ]
    assert state.bad_signatures == 0


def test_retries_last_at_least_a_day(database: Database, clock: FrozenClock, receiver) -> None:
    state, url = receiver
    state.up = False
    with database.unit_of_work() as db:
        content = ensure_content(db, actor=SYSTEM, ref=ContentRef(id="solo"))
        apply_action(db, actor=SYSTEM, kind="remove", content_id=content.id)
    worker = _worker(database, url)
    start = clock.now()
    while True:
        worker.run_until_idle()
        with database.unit_of_work(write=False) as db:
            job = db.execute(sa.select(Job)).scalar_one()
        if job.state == "dead":
            break
        clock.set(job.run_at)
    assert clock.now() - start >= timedelta(hours=24)


KILLER = """
import os, signal, sys
import staydown.models  # every table registered, as staydown.runtime does for the service
from staydown.actors import SYSTEM
from staydown.db import Database, create_engine
from staydown.enforcement.actions import apply_action
from staydown.subjects.records import ensure_content
from staydown.subjects.schemas import ContentRef
database = Database(create_engine(sys.argv[1]))
with database.unit_of_work() as db:
    content = ensure_content(db, actor=SYSTEM, ref=ContentRef(id="killed"))
    apply_action(db, actor=SYSTEM, kind="remove", content_id=content.id)
# Committed; now die before anything is delivered.
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_process_killed_between_commit_and_delivery_still_delivers(
    database: Database, database_url: str, receiver, clock: FrozenClock
) -> None:
    state, url = receiver
    result = subprocess.run([sys.executable, "-c", KILLER, database_url], timeout=120, env=dict(os.environ))
    assert result.returncode == -signal.SIGKILL
    clock.set(utcnow() + timedelta(seconds=1))  # the dead process wrote its job on the real clock
    _worker(database, url).run_until_idle()
    assert [e["content_id"] for e in state.accepted] == ["killed"]


def test_pull_feed_and_ack_meet_the_takedown_track(client, api_key: str, database: Database) -> None:
    client.post(
        "/public/takedown-requests",
        json={
            "reporter_kind": "affected_person",
            "items": [{"content_id": "img-9"}],
            "good_faith": True,
            "signature": "/s/ me",
            "contact_email": "me@example.org",
            "explanation": "a private photo of me posted without my consent",
        },
    )
    make_staff(database, "mo", "moderator")
    mo = sign_in(client, "mo")
    with database.unit_of_work(write=False) as db:
        case_id = db.execute(sa.select(Case.id)).scalar_one()
    client.post(f"/v1/cases/{case_id}/claim", headers=mo)
    client.post(
        f"/v1/cases/{case_id}/decision",
        headers=mo,
        json={"policy": "ncii@2", "outcome": "violates", "facts": "intimate image, no consent"},
    )
    feed = client.get("/v1/actions", headers=auth(api_key), params={"after": 0}).json()
    removal = next(a for a in feed["actions"] if a["kind"] == "remove")
    assert removal["content_id"] == "img-9" and removal["policy"] == "ncii@2"
    assert (
        client.get("/v1/actions", headers=auth(api_key), params={"after": feed["next_cursor"]}).json()["actions"] == []
    )
    r = client.post(f"/v1/actions/{removal['id']}/ack", headers=auth(api_key), json={"status": "applied"})
    assert r.status_code == 200
    with database.unit_of_work(write=False) as db:
        tracks = {t.kind: t for t in db.execute(sa.select(LegalTrack)).scalars()}
        assert tracks["take_it_down"].state == "met" and tracks["take_it_down"].resolution == "removal_confirmed"
        met_at, due_at = tracks["take_it_down"].met_at, tracks["take_it_down"].due_at
        assert met_at is not None and due_at is not None and met_at <= due_at
    assert client.post("/v1/actions/999999/ack", headers=auth(api_key), json={}).status_code == 404
