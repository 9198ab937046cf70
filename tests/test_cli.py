"""The `staydown` command line, run as an operator would."""

from __future__ import annotations

import importlib.resources
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from staydown import cli
from staydown.cli import app
from tests.imagegen import encode, flipped, jpeg, synthetic
from tests.videogen import clip, edited, needs_ffmpeg

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    monkeypatch.setenv("STAYDOWN_DATABASE_URL", database_url)
    monkeypatch.setenv("STAYDOWN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("STAYDOWN_ENV", "test")
    # A wide "terminal", so that tables are not wrapped mid-word in what the tests read.
    monkeypatch.setattr(cli.out, "width", 250)
    monkeypatch.setattr(cli.err, "width", 250)
    return database_url


def run(*args: str):
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


def test_audit_verify_fails_on_tampering(cli_env: str, database) -> None:
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
    good = tmp_path / "good.yaml"
    good.write_text(importlib.resources.files("staydown.policies").joinpath("default.yaml").read_text())
    r = run("policies", "check", str(good))
    assert r.exit_code == 0, r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        good.read_text().replace(
            "dsa_category: STATEMENT_CATEGORY_PROTECTION_OF_MINORS", "dsa_category: STATEMENT_CATEGORY_NOT_A_THING", 1
        )
    )
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


def test_hash_scan_and_banks_commands(cli_env: str, tmp_path: Path) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg(1))
    (folder / "b.png").write_bytes(encode(flipped(synthetic(1)), "PNG"))
    (folder / "c.jpg").write_bytes(jpeg(2))
    (folder / "broken.jpg").write_bytes(b"nope")
    r = run("hash", "--json", str(folder / "a.jpg"))
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout.strip())
    assert len(row["pdq"]) == 64 and row["width"] == 640
    r = run("hash", str(folder / "broken.jpg"))
    assert r.exit_code == 1 and "unsupported_media" in r.output

    r = run(
        "banks",
        "create",
        "own",
        "--source",
        "own",
        "--purpose",
        "confirmed items",
        "--policy",
        "csam",
        "--action",
        "block",
    )
    assert r.exit_code == 0, r.output
    listing = tmp_path / "list.csv"
    listing.write_text(f"signal_type,signal,note\npdq,{row['pdq']},benign stand-in\npdq,bad,\n")
    r = run("banks", "import", "own", str(listing))
    assert r.exit_code == 1 and "added 1" in r.output and "line 3" in r.output
    r = run("banks", "list")
    assert r.exit_code == 0 and "own" in r.output and "confirmed items" in r.output
    r = run("banks", "export", "own", "--format", "tx-lines")
    assert r.stdout.strip() == f"pdq {row['pdq']}"

    r = run("scan", str(folder), "--bank", "own")
    assert r.exit_code == 2, r.output  # one unreadable file
    assert "a.jpg" in r.output and "b.png" in r.output and "c.jpg" not in r.output.split("summary")[0]
    assert "unsupported_media" in r.output
    (folder / "broken.jpg").unlink()
    r = run("scan", str(folder), "--bank", "own")
    assert r.exit_code == 1 and "summary" in r.output
    r = run("scan", str(folder), "--bank", "nope")
    assert r.exit_code == 1 and "no bank named" in r.output


def test_hash_and_scan_take_video_files(cli_env: str, tmp_path: Path) -> None:
    """`staydown hash` prints a video's vPDQ (threatexchange's form) and digests; `staydown scan`
    finds a re-encoded copy of a banked video (REQ X-5)."""
    if needs_ffmpeg.args[0]:
        pytest.skip(needs_ffmpeg.kwargs["reason"])
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "original.mp4").write_bytes(clip(41))
    r = run("hash", "--json", str(folder / "original.mp4"))
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout.strip())
    assert row["format"] == "MP4" and row["vpdq_frames"] == 60 and len(json.loads(row["vpdq"])) == 60
    r = run("hash", str(folder / "original.mp4"))
    assert r.exit_code == 0 and "vpdq frames=60" in r.stdout and f"md5={row['md5']}" in r.stdout

    assert (
        run(
            "banks",
            "create",
            "videos",
            "--source",
            "own",
            "--purpose",
            "confirmed videos",
            "--policy",
            "csam",
            "--action",
            "block",
        ).exit_code
        == 0
    )
    listing = tmp_path / "list.txt"
    listing.write_text(f"vpdq {row['vpdq']}\n")
    r = run("banks", "import", "videos", str(listing))
    assert r.exit_code == 0 and "added 1" in r.output, r.output
    (folder / "original.mp4").unlink()
    (folder / "copy.webm").write_bytes(edited(41, "reencode"))
    (folder / "mirrored.mp4").write_bytes(edited(41, "mirror"))
    (folder / "other.mp4").write_bytes(clip(42))
    r = run("scan", str(folder), "--bank", "videos")
    assert r.exit_code == 1, r.output
    table = r.output.split("summary")[0]
    assert "copy.webm" in table and "mirrored.mp4" in table and "other.mp4" not in table
    assert "vpdq" in table and "mirror" in table
