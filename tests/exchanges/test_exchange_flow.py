"""An exchange end to end: fetched from the outbox (one fetch per exchange at a time), matched by
`/v1/scan` within one index follow interval, the review's outcome reported back to the partner, and
a hash of ours shared out only with legal's approval; plus a hash list read from a file or a URL."""

from __future__ import annotations

import http.server
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from staydown.actors import SYSTEM, Actor
from staydown.app import worker_services
from staydown.audit.models import AuditEvent
from staydown.db import Database, create_engine
from staydown.delivery.models import Job
from staydown.errors import PermissionDenied
from staydown.exchanges.actions import EXCHANGE_FETCH, exchange_by_name, request_fetch, schedule_due
from staydown.exchanges.feedback import approve_share, propose_share, submission_by_id
from staydown.exchanges.local_servers import threatexchange_app
from staydown.exchanges.models import ExchangeSubmission
from staydown.jobs import build_registry
from staydown.matching import banks
from staydown.matching.models import BankEntry
from staydown.settings import Settings
from staydown.staff.permissions import Role, permissions_for_roles
from staydown.worker import Worker
from tests.exchanges.conftest import configure, fetch, serve
from tests.helpers import auth, make_staff, sign_in
from tests.imagegen import jpeg

TOKEN = "1234567890|local-threatexchange-token-abcdef"
GROUP = 303


@pytest.fixture(scope="module")
def te_server():
    app = threatexchange_app(token=TOKEN)
    with serve(app) as url:
        yield url, app.state.exchange


@pytest.fixture
def te(te_server) -> Iterator[tuple[str, object]]:
    url, state = te_server
    state.records.clear()
    state.requests.clear()
    state.received.clear()
    yield url, state


def _worker(app, database: Database) -> Worker:
    return Worker(database, build_registry(), services=worker_services(app))


def _indicator(pdq: str, updated: int) -> dict:
    return {
        "id": "5001",
        "indicator": pdq,
        "type": "HASH_PDQ",
        "last_updated": updated,
        "should_delete": False,
        "privacy_group": GROUP,
        "descriptors": {
            "data": [
                {
                    "id": "7001",
                    "owner": {"id": "555000111"},
                    "status": "MALICIOUS",
                    "tags": ["terrorism"],
                    "reactions": [],
                }
            ]
        },
    }


def test_fetched_list_matches_scans_within_one_follow_interval_and_outcome_goes_back(
    client, app, database: Database, database_url: str, api_key: str, te
) -> None:
    """UK-5 (hash matching against shared lists), CSAM-7 (source kept); the review's outcome is
    reported to the partner from the outbox, never inline."""
    url, state = te
    data = jpeg(41)
    pdq = client.post("/v1/scan", headers=auth(api_key), files={"file": ("a.jpg", data, "image/jpeg")}).json()[
        "signals"
    ]["pdq"]
    state.records.append(_indicator(pdq, 1000))
    configure(
        database,
        app.state.settings,
        name="te",
        api="fb_threatexchange",
        config={"privacy_group": GROUP, "base_url": url},
        credentials=TOKEN,
        policy_id="terrorist-content",
    )
    with database.unit_of_work() as db:
        job = request_fetch(db, exchange=exchange_by_name(db, "te"))
        assert request_fetch(db, exchange=exchange_by_name(db, "te")).id == job.id  # one waiting fetch, not two
    worker = _worker(app, database)
    assert worker.run_until_idle() >= 1
    body = client.post(
        "/v1/scan",
        headers=auth(api_key),
        data={"content_id": "upload-7"},
        files={"file": ("b.jpg", data, "image/jpeg")},
    ).json()
    assert body["verdict"] == "hold" and body["matches"][0]["bank"] == "te"
    case_id = body["case_ids"][0]

    # How long after a fetch commits its page does /v1/scan match it? Five new items, each fetched
    # incrementally by another process's connection (a `staydown worker` elsewhere: no in-process
    # wake-up, the follower's poll alone) and scanned until held.
    interval = app.state.settings.index_follow_interval_seconds
    elsewhere = Database(create_engine(database_url), clock=database.clock)
    waits = []
    for i in range(5):
        item = jpeg(60 + i)
        item_pdq = client.post("/v1/scan", headers=auth(api_key), files={"file": ("c.jpg", item, "image/jpeg")}).json()[
            "signals"
        ]["pdq"]
        state.records.append({**_indicator(item_pdq, 2000 + i), "id": str(6000 + i)})
        assert fetch(elsewhere, app.state.settings, "te").done
        committed = time.monotonic()
        while True:
            started = time.monotonic()
            verdict = client.post(
                "/v1/scan", headers=auth(api_key), files={"file": ("c.jpg", item, "image/jpeg")}
            ).json()["verdict"]
            if verdict == "hold" or started - committed > 5:
                break
        assert verdict == "hold"
        waits.append(started - committed)
    print(
        f"\nexchange entries matched by /v1/scan {', '.join(f'{w * 1000:.0f}' for w in waits)} ms after their "
        f"fetch committed (follow interval {interval * 1000:.0f} ms)"
    )
    assert max(waits) <= interval + 0.1
    elsewhere.engine.dispose()

    make_staff(database, "mo", "moderator")
    mo = sign_in(client, "mo")
    policy = app.state.catalogue.get("terrorist-content")
    assert client.post(f"/v1/cases/{case_id}/claim", headers=mo).status_code == 200
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=mo,
        json={"policy": policy.ref, "outcome": "violates", "facts": "the upload is the partner's listed item"},
    )
    assert r.status_code == 200, r.text
    worker.run_until_idle()
    reactions = [r["reactions"] for r in state.received if r.get("descriptor") == "7001"]
    assert reactions == ["SAW_THIS_TOO", "HELPFUL"]
    with database.unit_of_work(write=False) as db:
        sent = db.execute(sa.select(ExchangeSubmission.opinion, ExchangeSubmission.state)).all()
        tags = set(db.execute(sa.select(AuditEvent.tag).where(AuditEvent.tag.like("exchanges:%"))).scalars())
    assert sorted(sent) == [("seen", "sent"), ("true_positive", "sent")]
    assert {"exchanges:fetch:finish", "exchanges:feedback:send"} <= tags


def test_one_fetch_per_exchange_at_a_time_across_workers(app, database: Database, settings: Settings, te) -> None:
    url, _ = te
    configure(
        database,
        settings,
        name="te",
        api="fb_threatexchange",
        config={"privacy_group": GROUP, "base_url": url},
        credentials=TOKEN,
    )
    with database.unit_of_work() as db:
        exchange = exchange_by_name(db, "te")
        assert schedule_due(db) == 1  # never fetched: due
        assert schedule_due(db) == 0  # one is waiting already
        first = db.execute(sa.select(Job).where(Job.kind == EXCHANGE_FETCH)).scalar_one()
        # A continuation (a fetch past its time budget queues the rest) shares the ordering key.
        request_fetch(db, exchange=exchange, full=True)
    a, b = _worker(app, database), _worker(app, database)
    claimed_a = [c for c in a.claim() if c.kind == EXCHANGE_FETCH]
    claimed_b = [c for c in b.claim() if c.kind == EXCHANGE_FETCH]
    assert [c.job_id for c in claimed_a] == [first.id] and claimed_b == []


def test_share_out_needs_legals_approval_and_is_audited(database: Database, settings: Settings, tmp_path: Path) -> None:
    listing = tmp_path / "shared.txt"
    listing.write_text("pdq " + "e1" * 32)  # threatexchange appends after the last line
    configure(database, settings, name="partner-list", api="file", config={"filename": str(listing)}, credentials=None)
    pdq = "c3" * 32
    with database.unit_of_work() as db:
        own = banks.create_bank(
            db, actor=SYSTEM, name="own-csam", source="own", permitted_purpose="confirmed items", policy_id="csam"
        )
        entry = banks.add_entries(
            db, actor=SYSTEM, bank=own, entries=[banks.NewEntry("pdq", pdq)], source_case_id=12
        ).entries[0]
        moderator = Actor.staff(5, "mo", permissions_for_roles([Role.senior_moderator.value]))
        submission = propose_share(db, actor=moderator, exchange=exchange_by_name(db, "partner-list"), entry=entry)
        submission_id = submission.id
        with pytest.raises(PermissionDenied, match="legal's approval"):
            approve_share(db, actor=moderator, submission=submission)
    assert listing.read_text() == "pdq " + "e1" * 32
    with database.unit_of_work() as db:
        legal = Actor.staff(6, "lee", permissions_for_roles([Role.legal.value]))
        approve_share(db, actor=legal, submission=submission_by_id(db, submission_id))
    Worker(database, build_registry(), services={"settings": settings}).run_until_idle()
    assert listing.read_text().splitlines() == ["pdq " + "e1" * 32, f"pdq {pdq}"]
    with database.unit_of_work(write=False) as db:
        events = {
            e.tag: f"{e.actor_kind}:{e.actor_id}"
            for e in db.execute(sa.select(AuditEvent).where(AuditEvent.tag.like("exchanges:share:%"))).scalars()
        }
        assert db.get_one(ExchangeSubmission, submission_id).state == "sent"
    assert set(events) == {"exchanges:share:propose", "exchanges:share:approve", "exchanges:share:send"}
    assert events["exchanges:share:approve"] == "staff:6"


@pytest.fixture
def list_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kw):
            super().__init__(*args, directory=str(root), **kw)

        def log_message(self, *args: object) -> None:
            pass

    httpd = socketserver.TCPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("source", ["file", "url"])
def test_hash_list_is_a_snapshot_what_it_drops_is_disabled(
    database: Database, settings: Settings, tmp_path: Path, list_server, source: str
) -> None:
    base, root = list_server
    path = (root if source == "url" else tmp_path) / "list.txt"
    lines = [f"pdq {'%064x' % (i + 77)}" for i in range(3)] + ["video_md5 " + "d" * 32, "url https://x.invalid/"]
    path.write_text("\n".join(lines) + "\n")
    config = {"filename": str(path)} if source == "file" else {"url": f"{base}/list.txt"}
    configure(database, settings, name="list", api="file", config=config, credentials=None)
    summary = fetch(database, settings, "list")
    assert summary.done and summary.added == 4 and summary.skipped == 1
    path.write_text("\n".join(lines[1:]) + "\n")
    summary = fetch(database, settings, "list")
    assert summary.done and summary.deleted_records == 1
    with database.unit_of_work(write=False) as db:
        state = {e.signal: e.enabled for e in db.execute(sa.select(BankEntry)).scalars()}
    assert state == {f"{77:064x}": False, f"{78:064x}": True, f"{79:064x}": True, "d" * 32: True}
