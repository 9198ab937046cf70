"""The `staydown` command line, run as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from staydown.cli import app

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    monkeypatch.setenv("STAYDOWN_DATABASE_URL", database_url)
    monkeypatch.setenv("STAYDOWN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("STAYDOWN_ENV", "test")
    return database_url


def run(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def test_db_upgrade_staff_apikey_and_audit(cli_env: str) -> None:
    assert run("db", "upgrade").exit_code == 0
    r = run("staff", "add", "ana", "--role", "moderator", "--role", "child_safety")
    assert r.exit_code == 0, r.output
    assert "child_safety, moderator" in r.output
    r = run("staff", "add", "ana", "--role", "moderator")
    assert r.exit_code == 1 and "already exists" in r.output
    r = run("staff", "add", "bob", "--role", "wizard")
    assert r.exit_code == 1 and "unknown role" in r.output

    r = run("apikey", "create", "forum")
    assert r.exit_code == 0, r.output
    key = r.stdout.strip().splitlines()[-1]
    assert key.startswith("sd_") and len(key) > 50
    prefix = key.split("_")[1]
    r = run("apikey", "create", "x", "--scope", "evidence:access")
    assert r.exit_code == 1 and "not grantable" in r.output
    r = run("apikey", "revoke", prefix, "--reason", "rotated")
    assert r.exit_code == 0 and "revoked" in r.output

    r = run("audit", "checkpoint")
    seq, digest = r.stdout.strip().split(":")
    assert int(seq) == 3 and len(digest) == 64
    r = run("audit", "verify", "--checkpoint", r.stdout.strip())
    assert r.exit_code == 0 and "OK: 3 events" in r.output


def test_audit_verify_fails_on_tampering(cli_env: str, database) -> None:  # type: ignore[no-untyped-def]
    run("staff", "add", "ana", "--role", "moderator")
    run("staff", "add", "bob", "--role", "moderator")
    with database.engine.begin() as conn:
        if database.dialect == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
        conn.exec_driver_sql("UPDATE audit_events SET actor_label = 'someone else' WHERE seq = 1")
    r = run("audit", "verify")
    assert r.exit_code == 1
    assert "FAILED at event 1" in r.output and "edited" in r.output


def test_policies_check_reports_problems_with_lines(cli_env: str, tmp_path: Path) -> None:
    import importlib.resources

    good = tmp_path / "good.yaml"
    good.write_text(importlib.resources.files("staydown.policies").joinpath("default.yaml").read_text())
    r = run("policies", "check", str(good))
    assert r.exit_code == 0, r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("dsa_category: STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
                                             "dsa_category: STATEMENT_CATEGORY_NOT_A_THING", 1))
    r = run("policies", "check", str(bad))
    assert r.exit_code == 1
    assert "NOT_A_THING" in r.output and "bad.yaml:" in r.output


def test_production_mode_refuses_to_start_with_defaults(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAYDOWN_ENV", "production")
    r = run("db", "upgrade")
    assert r.exit_code == 2
    assert "STAYDOWN_SECRET_KEY" in r.output


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("staydown")
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, env={**os.environ}, timeout=60)
    assert r.returncode == 0
    for command in ("serve", "worker", "db", "staff", "apikey", "audit", "policies"):
        assert command in r.stdout
