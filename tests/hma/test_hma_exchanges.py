"""HMA's exchange and configuration routes under `/hma/c`: the requests of HMA's own exchange API
tests (OpenMediaMatch's tests/test_api.py: test_exchange_delete, test_exchange_get_fetch_status,
the API list of test_exchange_api_set_auth) replayed against staydown get HMA's answers; an
exchange made through them is a staydown exchange with a bank of its name, fetched by staydown's
fetch and matched by HMA's lookup (CSAM-7: the bank keeps its source and purpose)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from staydown.audit.models import AuditEvent
from staydown.db import Database
from staydown.exchanges.local_servers import threatexchange_app
from staydown.exchanges.models import Exchange
from staydown.matching.models import Bank
from staydown.settings import Settings
from tests.exchanges.conftest import fetch, serve
from tests.helpers import auth, make_key

threatexchange = pytest.importorskip("threatexchange")
from threatexchange.signal_type.pdq.signal import PdqSignal  # noqa: E402

ADMIN = ["banks:read", "banks:write", "match", "exchanges:admin"]
TOKEN = "1234567890|local-threatexchange-token-abcdef"


@pytest.fixture
def h(database: Database) -> dict[str, str]:
    return auth(make_key(database, ADMIN))


# -- HMA's tests, replayed ------------------------------------------------------------------------


def test_exchange_delete(client, h) -> None:
    # deleting an exchange that doesn't exist returns 200
    assert client.delete("/hma/c/exchange/TEST_EXCHANGE", headers=h).status_code == 200
    r = client.post("/hma/c/exchanges", headers=h, json={"api": "sample", "bank": "FOO_EXCHANGE", "api_json": {}})
    assert r.status_code == 201 and r.json() == {"message": "Created successfully"}
    r = client.delete("/hma/c/exchange/FOO_EXCHANGE", headers=h)
    assert r.status_code == 200 and r.json()["message"] == "Exchange deleted"
    assert client.get("/hma/c/exchanges", headers=h).json() == []
    # Never fetched: its bank, made with it and empty, went with it.
    assert client.get("/hma/c/banks", headers=h).json() == []


def test_exchange_get_fetch_status(client, h) -> None:
    assert client.get("/hma/c/exchange/NONEXISTENT_EXCHANGE/status", headers=h).status_code == 404
    r = client.post("/hma/c/exchanges", headers=h, json={"api": "sample", "bank": "BAR_EXCHANGE", "api_json": {}})
    assert r.status_code == 201
    r = client.get("/hma/c/exchange/BAR_EXCHANGE/status", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {
        "checkpoint_ts": None,
        "running_fetch_start_ts": None,
        "last_fetch_complete_ts": None,
        "last_fetch_succeeded": None,
        "up_to_date": False,
        "fetched_items": 0,
    }


def test_exchange_apis_are_the_librarys_names(client, h) -> None:
    r = client.get("/hma/c/exchanges/apis", headers=h)
    assert r.status_code == 200
    assert {"sample", "fb_threatexchange"} <= set(r.json())
    assert set(r.json()) == {"ncmec", "stop_ncii", "fb_threatexchange", "tat", "local_file", "sample"}


def test_signal_and_content_types(client, h) -> None:
    assert client.get("/hma/c/signal_type", headers=h).json() == [
        {"name": "pdq", "enabled_ratio": 1.0},
        {"name": "video_md5", "enabled_ratio": 1.0},
        {"name": "vpdq", "enabled_ratio": 1.0},
    ]
    assert client.get("/hma/c/content_type", headers=h).json() == [
        {"name": "photo", "enabled": True},
        {"name": "video", "enabled": True},
    ]


# -- the exchange behind it ---------------------------------------------------------------------


def test_an_exchange_made_through_hma_fills_its_bank_and_is_matched(
    client, app, h, database: Database, settings: Settings
) -> None:
    """CSAM-7: the bank made with the exchange says where its signals come from and what for."""
    r = client.post("/hma/c/exchanges", headers=h, json={"api": "sample", "bank": "SAMPLES", "api_json": {}})
    assert r.status_code == 201
    assert client.get("/hma/c/exchanges", headers=h).json() == ["SAMPLES"]
    assert client.get("/hma/c/exchange/SAMPLES", headers=h).json() == {
        "name": "SAMPLES",
        "api": "sample",
        "enabled": True,
    }
    assert {"name": "SAMPLES", "matching_enabled_ratio": 1.0} in client.get("/hma/c/banks", headers=h).json()
    with database.unit_of_work(write=False) as db:
        bank = db.execute(sa.select(Bank).where(Bank.name == "samples")).scalar_one()
        assert "HMA-compatible API" in bank.permitted_purpose and "exchange samples" in bank.description

    summary = fetch(database, settings, "samples")
    assert summary.done and summary.added >= 1
    status = client.get("/hma/c/exchange/SAMPLES/status", headers=h).json()
    assert status["last_fetch_succeeded"] is True and status["up_to_date"] is True
    assert status["fetched_items"] == summary.updates and status["last_fetch_complete_ts"]
    app.state.match_engine.catch_up()
    example = PdqSignal.get_examples()[0]
    r = client.get(
        "/hma/m/lookup", headers=h, params={"signal_type": "pdq", "signal": example, "bypass_coinflip": "true"}
    )
    assert r.status_code == 200 and r.json()["SAMPLES"][0]["distance"] == "0"

    # HMA's update turns the exchange off (audited, with the key as actor); a fetched exchange is
    # not deleted: its records explain the bank's entries.
    r = client.put("/hma/c/exchange/SAMPLES", headers=h, json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    r = client.delete("/hma/c/exchange/SAMPLES", headers=h)
    assert r.status_code == 403 and "disable the exchange instead" in r.json()["message"]
    with database.unit_of_work(write=False) as db:
        event = db.execute(
            sa.select(AuditEvent)
            .where(AuditEvent.tag == "exchanges:exchange:update")
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        ).scalar_one()
    assert event.actor_kind == "api_client" and event.data == {
        "enabled": False,
        "reason": "disabled through the HMA API",
    }


def test_threatexchange_with_credentials_sealed(client, h, database: Database, settings: Settings) -> None:
    te = threatexchange_app(token=TOKEN)
    te.state.exchange.records.append(
        {
            "id": "1",
            "indicator": f"{5:064x}",
            "type": "HASH_PDQ",
            "last_updated": 100,
            "should_delete": False,
            "privacy_group": 303,
            "descriptors": {"data": [{"id": "9", "owner": {"id": "42"}, "status": "MALICIOUS", "tags": []}]},
        }
    )
    with serve(te) as url:
        body = {"api": "fb_threatexchange", "bank": "TE_GROUP", "api_json": {"privacy_group": 303, "base_url": url}}
        r = client.post("/hma/c/exchanges", headers=h, json=body)
        assert r.status_code == 400
        assert r.json()["message"].startswith("Meta ThreatExchange needs credentials: send `credential_json`")
        r = client.post("/hma/c/exchanges", headers=h, json={**body, "credential_json": {"api_token": TOKEN}})
        assert r.status_code == 201, r.text
        config = client.get("/hma/c/exchange/TE_GROUP", headers=h).json()
        assert config["api"] == "fb_threatexchange" and config["privacy_group"] == 303 and config["name"] == "TE_GROUP"
        assert TOKEN not in json.dumps(config)
        with database.unit_of_work(write=False) as db:
            stored = db.execute(sa.select(Exchange).where(Exchange.name == "te_group")).scalar_one()
        assert stored.credentials_source == "sealed" and stored.sealed_credentials is not None
        assert TOKEN.encode() not in stored.sealed_credentials
        assert fetch(database, settings, "te_group").done
    assert client.get("/hma/c/exchange/TE_GROUP/status", headers=h).json()["fetched_items"] == 1


@pytest.mark.parametrize(
    "body,status,message",
    [
        ({"api": "sample", "bank": "lower_case"}, 400, "Field `bank` must match /^[A-Z0-9_]+$/"),
        ({"api": "sample"}, 400, "Field `bank` must match /^[A-Z0-9_]+$/"),
        ({"bank": "X_BANK"}, 400, "Field `api` is required"),
        ({"api": "carrier_pigeon", "bank": "X_BANK"}, 400, "No such exchange type 'carrier_pigeon'"),
        ({"api": "sample", "bank": "X_BANK", "api_json": [1]}, 400, "Field `api_json` must be object"),
        (
            {"api": "fb_threatexchange", "bank": "X_BANK", "api_json": {}, "credential_json": {"api_token": TOKEN}},
            400,
            "Meta ThreatExchange needs privacy_group in its configuration",
        ),
        (
            {"api": "sample", "bank": "TAKEN"},
            403,
            "bank 'TAKEN' already exists: an exchange makes a bank of its own name",
        ),
    ],
)
def test_create_refusals_say_what_was_wrong(client, h, body, status, message) -> None:
    assert client.post("/hma/c/banks", headers=h, json={"name": "TAKEN"}).status_code == 201
    r = client.post("/hma/c/exchanges", headers=h, json=body)
    assert r.status_code == status and r.json()["message"] == message
    assert client.get("/hma/c/exchanges", headers=h).json() == []


def test_exchange_writes_need_exchanges_admin(client, database: Database) -> None:
    curator = auth(make_key(database, ["banks:read", "banks:write"]))
    r = client.post("/hma/c/exchanges", headers=curator, json={"api": "sample", "bank": "FOO", "api_json": {}})
    assert r.status_code == 403 and "exchanges:admin" in r.json()["message"]
    assert client.get("/hma/c/exchanges", headers=curator).json() == []
    assert client.delete("/hma/c/exchange/FOO", headers=curator).status_code == 403
    assert client.get("/hma/c/exchanges").status_code == 401
    r = client.post(
        "/hma/c/exchanges",
        headers=auth(make_key(database, ADMIN)),
        json={"api": "sample", "bank": "FOO", "api_json": {}},
    )
    assert r.status_code == 201
    assert (
        client.post(
            "/hma/c/exchanges",
            headers=auth(make_key(database, ADMIN)),
            json={"api": "sample", "bank": "FOO", "api_json": {}},
        ).status_code
        == 403
    )
