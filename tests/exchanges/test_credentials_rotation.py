"""`staydown vault rotate` re-wraps exchanges' sealed credentials with the evidence: after it, the
previous master key can be removed and a fetch still signs in to the partner."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from staydown.actors import SYSTEM
from staydown.audit.models import AuditEvent
from staydown.cli import app as cli_app
from staydown.db import Database
from staydown.evidence.crypto import MasterKeys
from staydown.exchanges.actions import add_exchange, exchange_by_name, rewrap_credentials
from staydown.exchanges.local_servers import tat_app
from staydown.settings import Settings
from tests.exchanges.conftest import configure, fetch, serve

USER, PASSWORD = "platform-analyst", "tat-password-not-real"
PDQ = "3c" * 32


def _new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_rotation_rewraps_exchange_credentials_so_the_old_key_can_go(
    database: Database, database_url: str, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key = settings.vault_master_key.get_secret_value()
    new_key, lost_key = _new_key(), _new_key()
    app = tat_app(username=USER, password=PASSWORD)
    app.state.exchange.records.append(
        {
            "hash_digest": PDQ,
            "algorithm": "PDQ",
            "ideology": "islamist",
            "file_type": "png",
            "deleted": False,
            "updated_on": 100.5,
            "created_on": "2025-03-03T23:05:22",
            "id": 1,
        }
    )
    with serve(app) as url:
        configure(
            database,
            settings,
            name="tat",
            api="tat",
            config={"base_url": url},
            credentials=f"{USER}:{PASSWORD}",
            policy_id="terrorist-content",
        )
        # Sealed under a key that is no longer configured: rotation cannot help it, and says so.
        with database.unit_of_work() as db:
            add_exchange(
                db,
                actor=SYSTEM,
                name="orphan",
                api="tat",
                config={"base_url": url},
                credentials=f"{USER}:{PASSWORD}",
                keys=MasterKeys.from_base64(lost_key),
                policy_id="terrorist-content",
                permitted_purpose="match uploads",
                bank_name="orphan",
            )
        after = settings.model_copy(
            update={"vault_master_key": type(settings.vault_master_key)(new_key), "vault_previous_master_keys": []}
        )

        # Without rotation, removing the old key locks the exchange out of its own credentials.
        summary = fetch(database, after, "tat")
        assert summary.error and "its credentials cannot be opened" in summary.error

        monkeypatch.setenv("STAYDOWN_DATABASE_URL", database_url)
        monkeypatch.setenv("STAYDOWN_DATA_DIR", str(tmp_path / "var"))
        monkeypatch.setenv("STAYDOWN_ENV", "test")
        monkeypatch.setenv("STAYDOWN_VAULT_MASTER_KEY", new_key)
        monkeypatch.setenv("STAYDOWN_VAULT_PREVIOUS_MASTER_KEYS", json.dumps([old_key]))
        r = CliRunner().invoke(cli_app, ["vault", "rotate"])
        assert r.exit_code == 1, r.output
        assert "re-wrapped 0 item(s) and the credentials of 1 exchange(s)" in r.stdout
        assert "no configured key opens the credentials of orphan" in r.output

        with database.unit_of_work(write=False) as db:
            exchange = exchange_by_name(db, "tat")
            assert exchange.credentials_key_id == MasterKeys.key_id(base64.b64decode(new_key))
            assert exchange_by_name(db, "orphan").credentials_key_id == MasterKeys.key_id(base64.b64decode(lost_key))
            event = db.execute(
                sa.select(AuditEvent)
                .where(AuditEvent.subject_type == "exchange", AuditEvent.subject_id == str(exchange.id))
                .order_by(AuditEvent.seq.desc())
                .limit(1)
            ).scalar_one()
        assert event.tag == "exchanges:exchange:update" and event.actor_kind == "system"
        assert event.data["credentials"] == "rewrapped" and event.data["to"] == exchange.credentials_key_id

        # The old key removed: the fetch opens the credentials and TAT accepts them.
        app.state.exchange.requests.clear()
        summary = fetch(database, after, "tat")
        assert summary.done and summary.error is None and summary.added == 1
        assert [p for _, p, _ in app.state.exchange.requests][:2] == ["/token-auth/tcap/", "/api/hash-list/v2/all"]
        # A second rotation finds nothing left to do for it.
        with database.unit_of_work() as db:
            again = rewrap_credentials(db, actor=SYSTEM, keys=MasterKeys.from_base64(new_key))
        assert again.rewrapped == 0 and again.unreadable == ["orphan"]
