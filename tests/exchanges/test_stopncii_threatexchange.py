"""StopNCII and Meta's ThreatExchange through threatexchange's own clients, against local servers
speaking their JSON APIs: full and incremental fetches, a partner's deletion, a crash mid-fetch and
its resume, a refused credential."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from staydown.db import Database
from staydown.exchanges import actions
from staydown.exchanges.feedback import _queue
from staydown.exchanges.kinds import Opinion
from staydown.exchanges.local_servers import stopncii_app, threatexchange_app
from staydown.exchanges.models import Exchange, ExchangeRecord, ExchangeSignal
from staydown.jobs import build_registry
from staydown.matching.models import Bank, BankEntry
from staydown.settings import Settings
from staydown.worker import Worker
from tests.exchanges.conftest import SimulatedCrash, configure, fetch, serve

FETCH_KEY, SUB_KEY, FEEDBACK_KEY = "fetch-key-local", "subscription-key-local", "feedback-key-local"
TOKEN = "1234567890|local-threatexchange-token-abcdef"
GROUP = 1012185296055235
PDQ = ["%064x" % (0x5A5A5A5A << (i * 4)) for i in range(8)]


def _entries(database: Database, name: str) -> dict[tuple[str, str], BankEntry]:
    with database.unit_of_work(write=False) as db:
        bank = db.execute(sa.select(Bank).where(Bank.name == name)).scalar_one()
        return {
            (e.signal_type, e.signal): e
            for e in db.execute(sa.select(BankEntry).where(BankEntry.bank_id == bank.id)).scalars()
        }


def _exchange(database: Database, name: str) -> Exchange:
    with database.unit_of_work(write=False) as db:
        return db.execute(sa.select(Exchange).where(Exchange.name == name)).scalar_one()


def _crash_on_second_page(monkeypatch: pytest.MonkeyPatch) -> None:
    real = actions.apply_delta
    seen: list[int] = []

    def crashing(db, *, delta, **kw):
        seen.append(1)
        if len(seen) == 2:
            raise SimulatedCrash()
        return real(db, delta=delta, **kw)

    monkeypatch.setattr(actions, "apply_delta", crashing)


# -- StopNCII ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stopncii_server():
    app = stopncii_app(fetch_key=FETCH_KEY, subscription_key=SUB_KEY, feedback_key=FEEDBACK_KEY)
    with serve(app) as url:
        yield url, app.state.exchange


@pytest.fixture
def stopncii(stopncii_server) -> Iterator[tuple[str, object]]:
    url, state = stopncii_server
    state.records.clear()
    state.requests.clear()
    state.received.clear()
    state.page_size = 2
    yield url, state


def _hash(value: str, ts: int, status: str = "Active", kind: str = "ImagePDQ") -> dict:
    return {
        "signalType": kind,
        "hashValue": value,
        "hashStatus": status,
        "lastModtimestamp": ts,
        "caseNumbers": {"case-1": status},
        "CSPFeedbacks": [{"feedbackValue": "Blocked", "tags": ["ncii"], "source": "Other CSP"}],
    }


def _add_stopncii(database: Database, settings: Settings, url: str, *, subscription: str = SUB_KEY) -> None:
    configure(
        database,
        settings,
        name="stopncii",
        api="stopncii",
        config={"base_url": url},
        credentials=json.dumps(
            {"fetch_function_key": FETCH_KEY, "subscription_key": subscription, "feedback_function_key": FEEDBACK_KEY}
        ),
        policy_id="ncii",
    )


def test_stopncii_full_incremental_and_withdrawn(database: Database, settings: Settings, stopncii) -> None:
    """UK-3: hashes people made of their own images are matched; a withdrawn hash stops matching."""
    url, state = stopncii
    state.records += [_hash(PDQ[0], 100), _hash(PDQ[1], 110), _hash(PDQ[2], 120), _hash("e" * 32, 125, kind="VideoMD5")]
    _add_stopncii(database, settings, url)
    summary = fetch(database, settings, "stopncii")
    assert summary.done and summary.pages == 2
    assert set(_entries(database, "stopncii")) == {("pdq", PDQ[0]), ("pdq", PDQ[1]), ("pdq", PDQ[2]), ("md5", "e" * 32)}
    assert (_exchange(database, "stopncii").checkpoint or {})["data"]["update_time"] == 126
    with database.unit_of_work(write=False) as db:
        record = db.execute(sa.select(ExchangeRecord).where(ExchangeRecord.record_key == f"pdq\t{PDQ[0]}")).scalar_one()
    assert record.partner_id == "Other CSP" and record.meta["feedbacks"][0]["feedbackValue"] == "Blocked"

    # Incremental: one new hash, one withdrawn by the person who made it.
    state.records[0] = _hash(PDQ[0], 130, status="Withdrawn")
    state.records.append(_hash(PDQ[3], 131))
    state.requests.clear()
    summary = fetch(database, settings, "stopncii")
    assert summary.done and summary.deleted_records == 1
    assert state.requests[0][2]["startTimestamp"] == "126"
    entries = _entries(database, "stopncii")
    assert entries[("pdq", PDQ[3])].enabled
    assert not entries[("pdq", PDQ[0])].enabled
    assert "deleted by the partner on StopNCII" in (entries[("pdq", PDQ[0])].disabled_reason or "")


def test_stopncii_crash_mid_fetch_resumes(
    database: Database, settings: Settings, stopncii, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = stopncii
    state.records += [_hash(PDQ[i], 200 + i) for i in range(5)]
    _add_stopncii(database, settings, url)
    _crash_on_second_page(monkeypatch)
    with pytest.raises(SimulatedCrash):
        fetch(database, settings, "stopncii")
    monkeypatch.undo()
    assert set(_entries(database, "stopncii")) == {("pdq", PDQ[0]), ("pdq", PDQ[1])}
    state.requests.clear()
    summary = fetch(database, settings, "stopncii")
    assert summary.done
    assert state.requests[0][2]["startTimestamp"] == "201"  # the first page's nextSetTimestamp, not the start
    assert set(_entries(database, "stopncii")) == {("pdq", PDQ[i]) for i in range(5)}
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(ExchangeRecord)) == 5


def test_stopncii_refused_key(database: Database, settings: Settings, stopncii) -> None:
    url, state = stopncii
    state.records.append(_hash(PDQ[0], 100))
    _add_stopncii(database, settings, url, subscription="not-the-key")
    summary = fetch(database, settings, "stopncii")
    exchange = _exchange(database, "stopncii")
    assert summary.error and exchange.state == "auth_failed"
    assert "StopNCII refused the credentials (HTTP 401: Access denied due to invalid subscription key.)" in (
        exchange.last_error or ""
    )


# -- ThreatExchange -------------------------------------------------------------------------------


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
    state.page_size = 2
    yield url, state


def _indicator(i: int, value: str, updated: int, *, delete: bool = False, kind: str = "HASH_PDQ") -> dict:
    return {
        "id": str(5000 + i),
        "indicator": value,
        "type": kind,
        "last_updated": updated,
        "should_delete": delete,
        "privacy_group": GROUP,
        "descriptors": {
            "data": [
                {
                    "id": str(7000 + i),
                    "owner": {"id": "555000111"},
                    "status": "MALICIOUS",
                    "tags": ["csam"],
                    "reactions": [],
                }
            ]
        },
    }


def _add_te(database: Database, settings: Settings, url: str, token: str = TOKEN) -> None:
    configure(
        database,
        settings,
        name="te",
        api="fb_threatexchange",
        config={"privacy_group": GROUP, "base_url": url},
        credentials=json.dumps({"api_token": token}),
    )


def test_threatexchange_full_incremental_deletion(database: Database, settings: Settings, te) -> None:
    url, state = te
    state.records += [_indicator(i, PDQ[i], 1000 + i) for i in range(3)]
    state.records.append(_indicator(9, "https://example.invalid/x", 1003, kind="URI"))  # not a hash: skipped
    _add_te(database, settings, url)
    summary = fetch(database, settings, "te")
    assert summary.done and summary.pages == 2 and summary.skipped == 1
    assert set(_entries(database, "te")) == {("pdq", PDQ[i]) for i in range(3)}
    with database.unit_of_work(write=False) as db:
        record = db.execute(
            sa.select(ExchangeRecord).where(ExchangeRecord.record_key == f"HASH_PDQ\t{PDQ[0]}")
        ).scalar_one()
    assert record.partner_id == "555000111"
    assert record.meta["opinions"][0]["descriptor_id"] == 7000

    state.records[1] = _indicator(1, PDQ[1], 2000, delete=True)
    state.records.append(_indicator(4, PDQ[4], 2001))
    state.requests.clear()
    summary = fetch(database, settings, "te")
    assert summary.done and summary.deleted_records == 1
    assert state.requests[0][2]["start_time"] == "1003"
    entries = _entries(database, "te")
    assert entries[("pdq", PDQ[4])].enabled and not entries[("pdq", PDQ[1])].enabled

    # The last second again (start_time is inclusive): the same update, applied idempotently.
    summary = fetch(database, settings, "te")
    assert summary.done and summary.updates == 1 and summary.added == 0
    # Nothing at all since: an empty page is a quiet success (threatexchange 1.2.17 asserts on it),
    # and an incremental fetch deletes nothing it did not hear about.
    state.records.clear()
    summary = fetch(database, settings, "te")
    assert summary.done and summary.updates == 0
    assert entries[("pdq", PDQ[4])].enabled and _entries(database, "te")[("pdq", PDQ[0])].enabled


def test_threatexchange_crash_resumes_and_refused_token(
    database: Database, settings: Settings, te, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = te
    state.records += [_indicator(i, PDQ[i], 3000 + 10 * i) for i in range(5)]
    _add_te(database, settings, url)
    _crash_on_second_page(monkeypatch)
    with pytest.raises(SimulatedCrash):
        fetch(database, settings, "te")
    monkeypatch.undo()
    assert len(_entries(database, "te")) == 2
    state.requests.clear()
    assert fetch(database, settings, "te").done
    assert state.requests[0][2]["start_time"] == "3010"
    assert set(_entries(database, "te")) == {("pdq", PDQ[i]) for i in range(5)}

    _add_te_bad = configure(
        database,
        settings,
        name="te-bad",
        api="fb_threatexchange",
        config={"privacy_group": GROUP, "base_url": url},
        credentials="1234567890|this-token-is-not-the-right-one",
    )
    assert _add_te_bad
    summary = fetch(database, settings, "te-bad")
    exchange = _exchange(database, "te-bad")
    assert summary.error and exchange.state == "auth_failed"
    assert "Meta ThreatExchange refused the credentials (HTTP 400: OAuthException Invalid OAuth access token" in (
        exchange.last_error or ""
    )


def test_stopncii_feedback_seen_then_blocked(database: Database, settings: Settings, stopncii) -> None:
    url, state = stopncii
    state.records.append(_hash(PDQ[5], 100))
    _add_stopncii(database, settings, url)
    assert fetch(database, settings, "stopncii").done
    with database.unit_of_work() as db:
        exchange = actions.exchange_by_name(db, "stopncii")
        row = db.execute(sa.select(ExchangeSignal)).scalar_one()
        for opinion in (Opinion.seen, Opinion.true_positive):
            _queue(
                db,
                exchange=exchange,
                kind="feedback",
                opinion=opinion,
                bank_entry_id=row.bank_entry_id,
                record_id=row.record_id,
                case_id=None,
                requested_by="system:staydown",
                state="queued",
            )
    Worker(database, build_registry(), services={"settings": settings}).run_until_idle()
    assert [(f["hashValue"], f["feedbackValue"]) for f in state.received] == [
        (PDQ[5], "PendingReview"),
        (PDQ[5], "Blocked"),
    ]
