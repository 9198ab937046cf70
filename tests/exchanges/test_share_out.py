"""Sharing our confirmed hashes out through `/v1/exchanges/.../shares` and `staydown exchanges share`:
proposed by whoever curates banks, approved only by a person holding legal's `exchanges:share`,
sent by the worker, each step audited (CSAM-7: the partner's list is not echoed back to it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from staydown.actors import SYSTEM
from staydown.audit.models import AuditEvent
from staydown.cli import app as cli_app
from staydown.db import Database
from staydown.jobs import build_registry
from staydown.matching import banks
from staydown.settings import Settings
from staydown.worker import Worker
from tests.exchanges.conftest import configure, fetch
from tests.helpers import PASSWORD, auth, make_key, make_staff, sign_in

PDQ = "c3" * 32
PARTNER_PDQ = "e1" * 32


@pytest.fixture
def listing(database: Database, settings: Settings, tmp_path: Path) -> Path:
    """A hash-list exchange that takes shares (a file we may append to), and an entry of our own
    bank confirmed by case 12."""
    path = tmp_path / "shared.txt"
    path.write_text(f"pdq {PARTNER_PDQ}\n")
    configure(database, settings, name="partner-list", api="file", config={"filename": str(path)}, credentials=None)
    with database.unit_of_work() as db:
        own = banks.create_bank(
            db, actor=SYSTEM, name="own-csam", source="own", permitted_purpose="confirmed items", policy_id="csam"
        )
        banks.add_entries(db, actor=SYSTEM, bank=own, entries=[banks.NewEntry("pdq", PDQ)], source_case_id=12)
    return path


def _entry_id(database: Database, signal: str) -> int:
    with database.unit_of_work(write=False) as db:
        return db.execute(
            sa.select(banks.BankEntry.id).where(banks.BankEntry.signal == signal, banks.BankEntry.variant == "")
        ).scalar_one()


def _share_events(database: Database) -> list[tuple[str, str]]:
    with database.unit_of_work(write=False) as db:
        return [
            (e.tag, f"{e.actor_kind}:{e.actor_id}")
            for e in db.execute(
                sa.select(AuditEvent).where(AuditEvent.tag.like("exchanges:share:%")).order_by(AuditEvent.seq)
            ).scalars()
        ]


def test_share_through_the_api_needs_legal_and_is_audited(
    client, database: Database, settings: Settings, listing: Path
) -> None:
    """CSAM-7: only legal's approval lets a hash of ours leave; every step is in the audit log."""
    curator = auth(make_key(database, ["banks:read", "banks:write"]))
    entry_id = _entry_id(database, PDQ)

    r = client.get("/v1/exchanges", headers=curator)
    assert r.status_code == 200
    (listed,) = r.json()
    assert listed["name"] == "partner-list" and listed["takes_shares"] and listed["shares_awaiting_approval"] == 0

    # Bad proposals are refused with what was wrong.
    r = client.post("/v1/exchanges/partner-list/shares", json={"bank_entry_id": entry_id, "note": "x"}, headers=curator)
    assert r.status_code == 422 and r.json()["error"] == "invalid_input"
    r = client.post("/v1/exchanges/nowhere/shares", json={"bank_entry_id": entry_id}, headers=curator)
    assert r.status_code == 404 and r.json()["message"] == "no exchange named 'nowhere'"
    r = client.post("/v1/exchanges/partner-list/shares", json={"bank_entry_id": 999_999}, headers=curator)
    assert r.status_code == 404
    assert client.post("/v1/exchanges/partner-list/shares", json={"bank_entry_id": entry_id}).status_code == 401
    partner_entry = _entry_id_after_fetch(database, settings)
    r = client.post("/v1/exchanges/partner-list/shares", json={"bank_entry_id": partner_entry}, headers=curator)
    assert r.status_code == 422 and "echo the partner's own list" in r.json()["message"]

    r = client.post("/v1/exchanges/partner-list/shares", json={"bank_entry_id": entry_id}, headers=curator)
    assert r.status_code == 201, r.text
    share = r.json()
    assert share["state"] == "awaiting_approval" and share["signal"] == PDQ and share["case_id"] == 12
    assert share["bank"] == "own-csam" and share["approved_by"] is None

    # Neither a key nor a senior moderator approves; legal does.
    make_staff(database, "senior", "senior_moderator")
    make_staff(database, "lee", "legal")
    approve = f"/v1/exchanges/partner-list/shares/{share['id']}/approve"
    r = client.post(approve, headers=curator)
    assert r.status_code == 403 and "exchanges:share" in r.json()["message"]
    r = client.post(approve, headers=sign_in(client, "senior"))
    assert r.status_code == 403 and "exchanges:share" in r.json()["message"]
    assert client.get("/v1/exchanges/partner-list/shares", headers=curator).status_code == 403
    legal = sign_in(client, "lee")
    r = client.get("/v1/exchanges/partner-list/shares", params={"state": "awaiting_approval"}, headers=legal)
    assert [s["id"] for s in r.json()] == [share["id"]]
    r = client.get("/v1/exchanges/partner-list/shares", params={"state": "lost"}, headers=legal)
    assert r.status_code == 422
    assert listing.read_text() == f"pdq {PARTNER_PDQ}\n"  # nothing left before approval

    r = client.post(approve, headers=legal)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "queued" and r.json()["approved_by"].startswith("staff:")
    r = client.post(approve, headers=legal)
    assert r.status_code == 409 and r.json()["message"] == f"submission {share['id']} is queued, not awaiting approval"
    assert client.post(f"/v1/exchanges/partner-list/shares/{share['id'] + 1}/approve", headers=legal).status_code == 404

    Worker(database, build_registry(), services={"settings": settings}).run_until_idle()
    assert listing.read_text().splitlines() == [f"pdq {PARTNER_PDQ}", f"pdq {PDQ}"]
    r = client.get(f"/v1/exchanges/partner-list/shares/{share['id']}", headers=legal)
    assert r.json()["state"] == "sent" and r.json()["sent_at"]
    events = _share_events(database)
    assert [tag for tag, _ in events] == ["exchanges:share:propose", "exchanges:share:approve", "exchanges:share:send"]
    assert events[0][1].startswith("api_client:") and events[1][1].startswith("staff:")
    assert events[2][1] == "system:exchange:partner-list"


def test_share_routes_document_their_errors(client) -> None:
    spec = client.get("/openapi.json").json()["paths"]
    approve = spec["/v1/exchanges/{name}/shares/{share_id}/approve"]["post"]["responses"]
    assert {"401", "403", "404", "409", "422"} <= set(approve)
    assert approve["403"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"


def _entry_id_after_fetch(database: Database, settings: Settings) -> int:
    assert fetch(database, settings, "partner-list").done
    return _entry_id(database, PARTNER_PDQ)


runner = CliRunner()


def test_share_from_the_command_line_approved_as_a_legal_person(
    database: Database,
    database_url: str,
    settings: Settings,
    listing: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STAYDOWN_DATABASE_URL", database_url)
    monkeypatch.setenv("STAYDOWN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("STAYDOWN_ENV", "test")
    make_staff(database, "mo", "moderator")
    make_staff(database, "lee", "legal")
    entry_id = _entry_id(database, PDQ)

    r = runner.invoke(cli_app, ["exchanges", "share", "propose", "partner-list", "--entry", str(entry_id)])
    assert r.exit_code == 0, r.output
    assert "share 1 to partner-list: awaiting approval" in r.stdout
    r = runner.invoke(cli_app, ["exchanges", "share", "list", "--state", "awaiting_approval"])
    assert r.exit_code == 0 and f"pdq {PDQ}" in r.stdout and "own-csam" in r.stdout

    r = runner.invoke(
        cli_app,
        ["exchanges", "share", "approve", "partner-list", "1", "--as", "lee", "--password-stdin"],
        input="not the password\n",
    )
    assert r.exit_code == 1 and "the user name or password is not right" in r.output
    r = runner.invoke(
        cli_app,
        ["exchanges", "share", "approve", "partner-list", "1", "--as", "mo", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert r.exit_code == 1 and "needs legal's approval" in r.output
    r = runner.invoke(
        cli_app,
        ["exchanges", "share", "approve", "partner-list", "7", "--as", "lee", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert r.exit_code == 1 and "no exchange submission 7" in r.output
    r = runner.invoke(
        cli_app,
        ["exchanges", "share", "approve", "partner-list", "1", "--as", "lee", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert r.exit_code == 0, r.output
    assert "approved by lee" in r.stdout
    # The command ran on the wall clock, the test's database on a frozen one: the worker reads
    # the same database on the wall clock, as `staydown worker` would.
    real_time = Database(database.engine)
    Worker(real_time, build_registry(), services={"settings": settings}).run_until_idle()
    assert listing.read_text().splitlines()[-1] == f"pdq {PDQ}"
    r = runner.invoke(cli_app, ["exchanges", "share", "list", "partner-list"])
    assert "sent" in r.stdout
    events = _share_events(database)
    assert [tag for tag, _ in events] == ["exchanges:share:propose", "exchanges:share:approve", "exchanges:share:send"]
    assert events[0][1].startswith("system:cli:") and events[1][1].startswith("staff:")
