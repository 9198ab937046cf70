"""NCMEC hash sharing through threatexchange's own client, against a local server speaking the XML
API: a full fetch, an incremental one, a partner's deletion, a crash mid-fetch and its resume, and
a refused credential (CSAM-7: the list keeps its source and permitted purpose)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from staydown.db import Database
from staydown.exchanges import actions
from staydown.exchanges.feedback import _queue
from staydown.exchanges.kinds import Opinion
from staydown.exchanges.local_servers import _ncmec_time, ncmec_app
from staydown.exchanges.models import Exchange, ExchangeRecord, ExchangeSignal
from staydown.jobs import build_registry
from staydown.matching.models import Bank, BankEntry
from staydown.settings import Settings
from staydown.worker import Worker
from tests.exchanges.conftest import SimulatedCrash, configure, fetch, serve

USER, PASSWORD = "esp-user", "esp-password-not-real"
PDQ1 = "f" * 32 + "0" * 32
PDQ2 = "a5" * 32
MD5 = ["%032x" % (0xABC000 + i) for i in range(10)]


@pytest.fixture(scope="module")
def server_app():
    app = ncmec_app(username=USER, password=PASSWORD)
    with serve(app) as url:
        yield url, app.state.exchange


@pytest.fixture
def server(server_app) -> Iterator[tuple[str, object]]:
    url, state = server_app
    state.records.clear()
    state.requests.clear()
    state.received.clear()
    state.page_size = 1000
    yield url, state


def _entry(id_: str, ts: int, *, member: int = 42, kind: str = "image", **fp: str) -> dict:
    return {"id": id_, "member_id": member, "type": kind, "ts": ts, "classification": "A1", "fingerprints": fp}


def _entries(database: Database, name: str = "ncmec") -> dict[tuple[str, str], BankEntry]:
    with database.unit_of_work(write=False) as db:
        bank = db.execute(sa.select(Bank).where(Bank.name == name)).scalar_one()
        return {
            (e.signal_type, e.signal): e
            for e in db.execute(sa.select(BankEntry).where(BankEntry.bank_id == bank.id)).scalars()
        }


def _exchange(database: Database, name: str = "ncmec") -> Exchange:
    with database.unit_of_work(write=False) as db:
        return db.execute(sa.select(Exchange).where(Exchange.name == name)).scalar_one()


def _wait_past(ts: int) -> None:
    # threatexchange fetches up to five seconds before now (whole seconds): wait until `ts` is inside.
    while int(time.time()) - 5 <= ts:
        time.sleep(0.1)


def test_full_then_incremental_fetch_fills_the_bank_with_provenance(
    database: Database, settings: Settings, server
) -> None:
    """CSAM-7: the bank holds NCMEC's signals with their source; a second fetch asks only for what
    came after the checkpoint."""
    url, state = server
    now = int(time.time())
    state.records += [
        _entry("img1", now - 600, md5=MD5[0].upper(), pdq=PDQ1),
        _entry("vid1", now - 500, kind="video", md5=MD5[1]),
        _entry("img2", now - 400, member=43, pdna="aa" * 20),
    ]  # PhotoDNA only: nothing to bank
    configure(
        database,
        settings,
        name="ncmec",
        api="ncmec",
        config={"environment": "test_Industry", "base_url": url},
        credentials=f"{USER}:{PASSWORD}",
    )
    summary = fetch(database, settings, "ncmec")
    assert summary.done and summary.error is None
    entries = _entries(database)
    assert set(entries) == {("md5", MD5[0]), ("pdq", PDQ1), ("md5", MD5[1])}
    assert all(
        e.enabled and e.source_ref == "exchange:ncmec" and e.added_by == "system:exchange:ncmec"
        for e in entries.values()
    )
    exchange = _exchange(database)
    assert exchange.state == "ok" and exchange.last_success_at is not None
    first_checkpoint = (exchange.checkpoint or {})["data"]["get_entries_max_ts"]
    assert first_checkpoint >= now - 6
    with database.unit_of_work(write=False) as db:
        records = {r.record_key: r for r in db.execute(sa.select(ExchangeRecord)).scalars()}
        bank = db.execute(sa.select(Bank).where(Bank.name == "ncmec")).scalar_one()
    assert bank.source == "ncmec" and bank.permitted_purpose
    assert set(records) == {"42-img1", "42-vid1", "43-img2"}
    assert records["42-img1"].partner_id == "42" and records["42-img1"].meta["classification"] == "A1"
    assert records["42-img1"].fetched_at is not None

    # Incremental: a new entry after the checkpoint; the request starts at the checkpoint.
    state.records.append(_entry("img3", first_checkpoint, md5=MD5[2]))
    state.requests.clear()
    _wait_past(first_checkpoint)
    summary = fetch(database, settings, "ncmec")
    assert summary.done and summary.updates == 1
    assert ("md5", MD5[2]) in _entries(database)
    froms = {q["from"] for _, path, q in state.requests if path == "/v2/entries"}

    assert min(_ncmec_time(f) for f in froms) == first_checkpoint


def test_partner_deletion_disables_entries_no_live_record_holds(database: Database, settings: Settings, server) -> None:
    url, state = server
    now = int(time.time())
    # Two members shared the same file (same MD5); one of them deletes its entry.
    state.records += [
        _entry("img1", now - 600, md5=MD5[3], pdq=PDQ2),
        _entry("img9", now - 590, member=7, md5=MD5[3]),
        _entry("img2", now - 580, md5=MD5[4]),
    ]
    configure(
        database,
        settings,
        name="ncmec",
        api="ncmec",
        config={"environment": "test_Industry", "base_url": url},
        credentials=f"{USER}:{PASSWORD}",
    )
    assert fetch(database, settings, "ncmec").done
    checkpoint = (_exchange(database).checkpoint or {})["data"]["get_entries_max_ts"]
    state.records += [
        {"id": "img1", "member_id": 42, "type": "image", "ts": checkpoint, "deleted": True},
        {"id": "img2", "member_id": 42, "type": "image", "ts": checkpoint, "deleted": True},
    ]
    _wait_past(checkpoint)
    summary = fetch(database, settings, "ncmec")
    assert summary.deleted_records == 2
    entries = _entries(database)
    assert not entries[("pdq", PDQ2)].enabled
    assert "deleted by the partner" in (entries[("pdq", PDQ2)].disabled_reason or "")
    assert not entries[("md5", MD5[4])].enabled
    assert entries[("md5", MD5[3])].enabled  # member 7 still shares it
    with database.unit_of_work(write=False) as db:
        deleted = set(
            db.execute(sa.select(ExchangeRecord.record_key).where(ExchangeRecord.deleted_at.is_not(None))).scalars()
        )
    assert deleted == {"42-img1", "42-img2"}


def test_crash_mid_fetch_resumes_from_the_committed_page(
    database: Database, settings: Settings, server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page and its checkpoint commit together: after a crash the fetch resumes at NCMEC's
    paging link of the last committed page, and no entry is lost or doubled."""
    url, state = server
    state.page_size = 2
    now = int(time.time())
    state.records += [_entry(f"img{i}", now - 40 + i, md5=MD5[i]) for i in range(7)]
    configure(
        database,
        settings,
        name="ncmec",
        api="ncmec",
        config={"environment": "test_Industry", "base_url": url},
        credentials=f"{USER}:{PASSWORD}",
    )
    real = actions.apply_delta
    pages_with_rows = []

    def crashing(db, *, delta, **kw):
        if delta.updates:
            pages_with_rows.append(len(delta.updates))
            if len(pages_with_rows) == 2:
                raise SimulatedCrash()
        return real(db, delta=delta, **kw)

    monkeypatch.setattr(actions, "apply_delta", crashing)
    with pytest.raises(SimulatedCrash):
        fetch(database, settings, "ncmec")
    monkeypatch.setattr(actions, "apply_delta", real)
    assert len(_entries(database)) == 2  # the first page only
    checkpoint = (_exchange(database).checkpoint or {})["data"]
    assert checkpoint["paging_info"]["paging_url"]
    state.requests.clear()
    summary = fetch(database, settings, "ncmec")
    assert summary.done
    first = state.requests[0]
    assert first[1] == "/v2/entries" and first[2]["start"] == "3"  # resumed mid-window at NCMEC's next page
    entries = _entries(database)
    assert set(entries) == {("md5", MD5[i]) for i in range(7)}
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(ExchangeRecord)) == 7


def test_refused_credential_is_a_clear_status(database: Database, settings: Settings, server) -> None:
    url, state = server
    state.records.append(_entry("img1", int(time.time()) - 100, md5=MD5[5]))
    configure(
        database,
        settings,
        name="ncmec",
        api="ncmec",
        config={"environment": "test_Industry", "base_url": url},
        credentials=f"{USER}:wrong-password",
    )
    summary = fetch(database, settings, "ncmec")
    assert not summary.done
    exchange = _exchange(database)
    assert exchange.state == "auth_failed"
    assert "NCMEC hash sharing refused the credentials (HTTP 401" in (exchange.last_error or "")
    assert _entries(database) == {}


def test_review_outcomes_become_ncmec_votes(database: Database, settings: Settings, server) -> None:
    """A confirmed match is an upvote on the entry's fingerprint, a false positive a downvote with
    NCMEC's reason; both as the library's XML, sent from the outbox."""
    url, state = server
    state.records.append(_entry("img1", int(time.time()) - 100, md5=MD5[6], pdq=PDQ1))
    configure(
        database,
        settings,
        name="ncmec",
        api="ncmec",
        config={"environment": "test_Industry", "base_url": url},
        credentials=f"{USER}:{PASSWORD}",
    )
    assert fetch(database, settings, "ncmec").done
    with database.unit_of_work() as db:
        exchange = actions.exchange_by_name(db, "ncmec")
        for signal, opinion in ((PDQ1, Opinion.true_positive), (MD5[6], Opinion.false_positive)):
            row = db.execute(
                sa.select(ExchangeSignal)
                .join(BankEntry, BankEntry.id == ExchangeSignal.bank_entry_id)
                .where(BankEntry.signal == signal)
            ).scalar_one()
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
    votes = {(r["esp_id"], r["entry_id"], r["type"]): r["xml"] for r in state.received}
    assert set(votes) == {("42", "img1", "PDQ"), ("42", "img1", "MD5")}
    assert "<affirmative" in votes[("42", "img1", "PDQ")]
    assert (
        "<negative>" in votes[("42", "img1", "MD5")]
        and "01234567-abcd-0123-4567-012345678900" in votes[("42", "img1", "MD5")]
    )
