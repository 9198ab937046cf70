"""Tech Against Terrorism's hash list through threatexchange's own client, against a local server
speaking its JSON API (sign-in for a token, then the list by checkpoint and offset): a full fetch,
an incremental one, a partner's deletion, a crash mid-fetch and its resume, a refused credential
(CSAM-7: the list keeps its source and permitted purpose)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from staydown.db import Database
from staydown.exchanges import actions
from staydown.exchanges.local_servers import tat_app
from staydown.exchanges.models import Exchange, ExchangeRecord
from staydown.matching.models import Bank, BankEntry
from staydown.settings import Settings
from tests.exchanges.conftest import SimulatedCrash, configure, fetch, serve

USER, PASSWORD = "platform-analyst", "tat-password-not-real"
PDQ = ["%064x" % (0x3C3C3C3C << (i * 4)) for i in range(8)]
MD5 = ["%032x" % (0xD0C000 + i) for i in range(8)]
HASH_LIST = "/api/hash-list/v2/all"


@pytest.fixture(scope="module")
def server_app():
    app = tat_app(username=USER, password=PASSWORD)
    with serve(app) as url:
        yield url, app.state.exchange


@pytest.fixture
def server(server_app) -> Iterator[tuple[str, object]]:
    url, state = server_app
    state.records.clear()
    state.requests.clear()
    state.page_size = 1000
    yield url, state


def _entry(
    id_: int,
    digest: str,
    updated_on: float,
    *,
    algorithm: str = "PDQ",
    file_type: str = "png",
    deleted: bool = False,
    ideology: str = "islamist",
) -> dict:
    return {
        "hash_digest": digest,
        "algorithm": algorithm,
        "ideology": ideology,
        "file_type": file_type,
        "deleted": deleted,
        "updated_on": updated_on,
        "created_on": "2025-03-03T23:05:22.587000",
        "id": id_,
    }


def _replace(state, entry: dict) -> None:
    """The list holds each entry's current state: a change is the same id, later."""
    state.records[:] = [r for r in state.records if r["id"] != entry["id"]] + [entry]


def _entries(database: Database, name: str = "tat") -> dict[tuple[str, str], BankEntry]:
    with database.unit_of_work(write=False) as db:
        bank = db.execute(sa.select(Bank).where(Bank.name == name)).scalar_one()
        return {
            (e.signal_type, e.signal): e
            for e in db.execute(
                sa.select(BankEntry).where(BankEntry.bank_id == bank.id, BankEntry.parent_id.is_(None))
            ).scalars()
        }


def _exchange(database: Database, name: str = "tat") -> Exchange:
    with database.unit_of_work(write=False) as db:
        return db.execute(sa.select(Exchange).where(Exchange.name == name)).scalar_one()


def _add(database: Database, settings: Settings, url: str, *, password: str = PASSWORD) -> None:
    configure(
        database,
        settings,
        name="tat",
        api="tat",
        config={"base_url": url},
        credentials=f"{USER}:{password}",
        policy_id="terrorist-content",
    )


def _list_requests(state) -> list[dict[str, str]]:
    return [q for method, path, q in state.requests if path == HASH_LIST]


def test_full_then_incremental_fetch_fills_the_bank_with_provenance(
    database: Database, settings: Settings, server
) -> None:
    """CSAM-7: the bank holds TAT's PDQ and video MD5s with their source; an image's MD5 is left
    out as the library leaves it out; the next fetch asks only for what follows the checkpoint."""
    url, state = server
    state.records += [
        _entry(2819, MD5[0], 1704901040.222779, algorithm="MD5", file_type="mp4"),
        _entry(2820, PDQ[0], 1704901040.24492, file_type="gif", ideology="far-right"),
        _entry(2821, MD5[1], 1704901040.25555, algorithm="MD5", file_type="jpg"),
    ]
    _add(database, settings, url)
    summary = fetch(database, settings, "tat")
    assert summary.done and summary.error is None and summary.updates == 2
    entries = _entries(database)
    assert set(entries) == {("md5", MD5[0]), ("pdq", PDQ[0])}
    assert all(
        e.enabled and e.source_ref == "exchange:tat" and e.added_by == "system:exchange:tat" for e in entries.values()
    )
    exchange = _exchange(database)
    assert exchange.state == "ok"
    # TAT's checkpoint is the last record's `updated_on,id`, kept as the library's dataclass.
    assert exchange.checkpoint == {"type": "TATCheckpoint", "data": {"checkpoint": "1704901040.25555,2821"}}
    with database.unit_of_work(write=False) as db:
        bank = db.execute(sa.select(Bank).where(Bank.name == "tat")).scalar_one()
        records = set(db.execute(sa.select(ExchangeRecord.record_key)).scalars())
    assert bank.permitted_purpose and "Tech Against Terrorism" in (bank.description or "")
    assert records == {f"video_md5\t{MD5[0]}", f"pdq\t{PDQ[0]}"}
    # Every page was asked for with a token from the sign-in.
    assert [p for _, p, _ in state.requests].count("/token-auth/tcap/") == len(_list_requests(state)) == 1

    state.records.append(_entry(2822, PDQ[1], 1704901100.5))
    state.requests.clear()
    summary = fetch(database, settings, "tat")
    assert summary.done and summary.updates == 1 and summary.added == 1
    assert _list_requests(state)[0]["after"] == "1704901040.25555,2821"
    assert _entries(database)[("pdq", PDQ[1])].enabled
    assert (_exchange(database).checkpoint or {})["data"]["checkpoint"] == "1704901100.5,2822"

    # Nothing new: an empty page keeps the checkpoint and changes nothing.
    summary = fetch(database, settings, "tat")
    assert summary.done and summary.updates == 0
    assert (_exchange(database).checkpoint or {})["data"]["checkpoint"] == "1704901100.5,2822"


def test_partner_deletion_disables_the_entry(database: Database, settings: Settings, server) -> None:
    url, state = server
    state.records += [_entry(1, PDQ[2], 1000.25), _entry(2, MD5[2], 1000.5, algorithm="MD5", file_type="webm")]
    _add(database, settings, url)
    assert fetch(database, settings, "tat").done
    _replace(state, _entry(1, PDQ[2], 2000.0, deleted=True))
    summary = fetch(database, settings, "tat")
    assert summary.done and summary.deleted_records == 1 and summary.disabled_entries == 1
    entries = _entries(database)
    assert not entries[("pdq", PDQ[2])].enabled
    assert "deleted by the partner on Tech Against Terrorism" in (entries[("pdq", PDQ[2])].disabled_reason or "")
    assert entries[("md5", MD5[2])].enabled
    # Shared again later: the exchange re-enables what it disabled itself.
    _replace(state, _entry(1, PDQ[2], 3000.0))
    summary = fetch(database, settings, "tat")
    assert summary.enabled_entries == 1 and _entries(database)[("pdq", PDQ[2])].enabled


def test_crash_mid_fetch_resumes_from_the_committed_page(
    database: Database, settings: Settings, server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page and its checkpoint commit together: after a crash on the second page the fetch asks
    for what follows the first page's last record, and no entry is lost or doubled."""
    url, state = server
    state.page_size = 2
    state.records += [_entry(100 + i, PDQ[i], 5000.0 + i) for i in range(5)]
    _add(database, settings, url)
    real = actions.apply_delta
    pages: list[int] = []

    def crashing(db, *, delta, **kw):
        pages.append(len(delta.updates))
        if len(pages) == 2:
            raise SimulatedCrash()
        return real(db, delta=delta, **kw)

    monkeypatch.setattr(actions, "apply_delta", crashing)
    with pytest.raises(SimulatedCrash):
        fetch(database, settings, "tat")
    monkeypatch.setattr(actions, "apply_delta", real)
    assert set(_entries(database)) == {("pdq", PDQ[0]), ("pdq", PDQ[1])}
    assert (_exchange(database).checkpoint or {})["data"]["checkpoint"] == "5001.0,101"
    state.requests.clear()
    summary = fetch(database, settings, "tat")
    assert summary.done and summary.pages == 2
    lists = _list_requests(state)
    assert lists[0]["after"] == "5001.0,101" and "offset" not in lists[0]
    assert lists[1]["offset"] == "2"  # TAT's next link, followed by the library
    assert set(_entries(database)) == {("pdq", PDQ[i]) for i in range(5)}
    with database.unit_of_work(write=False) as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(ExchangeRecord)) == 5


def test_refused_credential_is_a_clear_status(database: Database, settings: Settings, server) -> None:
    url, state = server
    state.records.append(_entry(7, PDQ[7], 100.0))
    _add(database, settings, url, password="wrong-password")
    summary = fetch(database, settings, "tat")
    assert not summary.done
    exchange = _exchange(database)
    assert exchange.state == "auth_failed"
    assert (exchange.last_error or "").startswith(
        "Tech Against Terrorism refused the credentials (HTTP 400: Unable to log "
        "in with provided credentials.); replace them with: staydown exchanges "
        "credentials tat --stdin"
    )
    assert _list_requests(state) == [] and _entries(database) == {}
