"""`staydown exchanges add|fetch|status|list|credentials`, run as an operator would, against a
local ThreatExchange server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from staydown import cli
from staydown.cli import app
from staydown.db import Database
from staydown.exchanges.local_servers import threatexchange_app
from staydown.exchanges.models import Exchange
from tests.exchanges.conftest import serve

TOKEN = "1234567890|local-threatexchange-token-abcdef"
runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    monkeypatch.setenv("STAYDOWN_DATABASE_URL", database_url)
    monkeypatch.setenv("STAYDOWN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("STAYDOWN_ENV", "test")

    monkeypatch.setattr(cli.out, "width", 250)
    monkeypatch.setattr(cli.err, "width", 250)
    return database_url


def run(*args: str, stdin: str | None = None):
    return runner.invoke(app, list(args), input=stdin)


def test_add_fetch_status_and_a_refused_token(cli_env: str, database: Database) -> None:
    te = threatexchange_app(token=TOKEN)
    te.state.exchange.records += [
        {
            "id": str(i),
            "indicator": "%064x" % (i + 1),
            "type": "HASH_PDQ",
            "last_updated": 100 + i,
            "should_delete": False,
            "privacy_group": 77,
            "descriptors": {"data": [{"id": str(900 + i), "owner": {"id": "42"}, "status": "MALICIOUS", "tags": []}]},
        }
        for i in range(3)
    ]
    with serve(te) as url:
        config = json.dumps({"privacy_group": 77, "base_url": url})
        r = run(
            "exchanges",
            "add",
            "te",
            "--api",
            "fb_threatexchange",
            "--policy",
            "terrorist-content",
            "--purpose",
            "terrorist content shared by GIFCT members",
            "--config",
            config,
            "--credentials-stdin",
            stdin="not a token",
        )
        assert r.exit_code == 1 and "Meta ThreatExchange credentials are incomplete or malformed" in r.output
        r = run(
            "exchanges",
            "add",
            "te",
            "--api",
            "fb_threatexchange",
            "--policy",
            "terrorist-content",
            "--purpose",
            "terrorist content shared by GIFCT members",
            "--config",
            config,
            "--credentials-stdin",
            stdin=TOKEN,
        )
        assert r.exit_code == 0, r.output
        with database.unit_of_work(write=False) as db:
            stored = db.execute(sa.select(Exchange)).scalar_one()
        # Sealed under the vault's master key: the token is nowhere in the row.
        assert stored.credentials_source == "sealed" and TOKEN.encode() not in (stored.sealed_credentials or b"")
        assert TOKEN not in json.dumps(stored.config)

        r = run("exchanges", "fetch", "te")
        assert r.exit_code == 0, r.output
        assert "te: 1 pages, 3 updates, 3 entries added" in r.stdout
        assert "fetching te" in r.stderr  # the progress bar
        r = run("exchanges", "status", "te")
        assert r.exit_code == 0 and "3 live, 0 deleted by the partner" in r.output
        r = run("exchanges", "list")
        assert "te" in r.output and "ok" in r.output

        r = run("exchanges", "credentials", "te", "--stdin", stdin="1234567890|a-token-the-server-refuses-xyz")
        assert r.exit_code == 0, r.output
        r = run("exchanges", "fetch", "te")
        assert r.exit_code == 1
        assert "refused the credentials (HTTP 400: OAuthException Invalid OAuth access token" in r.output
        r = run("exchanges", "status", "te")
        assert r.exit_code == 1 and "auth_failed" in r.output
