"""Video through `POST /v1/scan`, `POST /v1/match` and the banks: MP4 and WebM uploads and URLs, vPDQ
banks in threatexchange's formats, bounded cost, and nothing written to disk (X-5, TID-3, UK-5, EUI-1).
Every clip is benign and synthetic (tests/videogen.py)."""

from __future__ import annotations

import http.server
import json
import socketserver
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from staydown.actors import SYSTEM
from staydown.db import Database
from staydown.evidence.models import EvidenceItem
from staydown.matching import video
from staydown.matching.engine import MatchEngine
from staydown.matching.models import BankEntry, ContentSignal, Scan
from staydown.staff.actions import create_api_client
from staydown.subjects.models import PlatformContent
from tests.helpers import auth, make_key
from tests.videogen import clip, edited, needs_ffmpeg

pytestmark = needs_ffmpeg

SCOPES = ["banks:read", "banks:write", "scan", "match"]


def _scan(client, key: str, data: bytes, **form: str) -> dict:
    r = client.post("/v1/scan", headers=auth(key), files={"file": ("v.mp4", data, "video/mp4")}, data=form)
    assert r.status_code == 200, r.text
    return r.json()


def _bank(client, key: str, name: str = "videos", action: str = "block") -> None:
    r = client.post(
        "/v1/banks",
        headers=auth(key),
        json={
            "name": name,
            "source": "own",
            "permitted_purpose": "confirmed videos, for upload screening and sweeps",
            "policy_id": "csam",
            "action_on_match": action,
        },
    )
    assert r.status_code == 201, r.text


def test_uk5_scan_of_an_mp4_keeps_its_vpdq_and_allows_unknown_video(client, api_key: str, database: Database) -> None:
    """REQ UK-5, CSAM-3: an MP4 upload is hashed (vPDQ, MD5, SHA-256), answered, and its signals are
    kept for sweeps against the platform's content id."""
    data = clip(11)
    body = _scan(client, api_key, data, content_id="vid-1", account_id="u-1", uploader_ip="192.0.2.7")
    assert body["verdict"] == "allow" and body["matches"] == []
    assert body["media"]["kind"] == "video" and body["media"]["format"] == "MP4"
    assert body["media"]["codec"] == "h264" and body["media"]["duration"] == pytest.approx(5.0, abs=0.1)
    frames = json.loads(body["signals"]["vpdq"])
    assert len(frames) == body["media"]["frames_kept"] == body["media"]["frames_hashed"] == 60  # 12 fps: all
    assert frames[0].endswith(",0.000")
    with database.unit_of_work(write=False) as db:
        kinds = sorted(db.execute(sa.select(ContentSignal.signal_type)).scalars())
        assert kinds == ["md5", "sha256", "vpdq"]
        row = db.execute(sa.select(ContentSignal).where(ContentSignal.signal_type == "vpdq")).scalar_one()
        assert row.frames is not None
        assert json.loads(row.frames) == frames and len(row.signal) == 64
        scan = db.execute(sa.select(Scan)).scalar_one()
        assert [v[0] for v in scan.signals["video_variants"]] == ["mirror", "crop25", "crop50"]

        assert db.execute(sa.select(PlatformContent.kind)).scalar_one() == "video"  # DSA content type


def test_x5_banked_video_blocks_its_reencoded_resized_trimmed_and_mirrored_copies(client, database: Database) -> None:
    """REQ X-5, TID-3: a banked video's vPDQ (threatexchange's form, as a list would carry it) blocks
    copies at upload; a different video is allowed."""
    key = make_key(database, SCOPES)
    _bank(client, key)
    original = _scan(client, key, clip(12))
    r = client.post(
        "/v1/banks/videos/entries",
        headers=auth(key),
        json={"entries": [{"signal_type": "vpdq", "signal": original["signals"]["vpdq"], "note": "benign stand-in"}]},
    )
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    client.app.state.match_engine.catch_up()
    for kind in ("reencode", "resize", "trim", "mirror", "watermark"):
        body = _scan(client, key, edited(12, kind))
        assert body["verdict"] == "block", (kind, body)
        m = body["matches"][0]
        assert m["signal_type"] == "vpdq" and m["bank"] == "videos" and m["threshold"] == 31
        assert max(m["query_match_percent"], m["compared_match_percent"]) >= 80
        assert (m["query_variant"] == "mirror") == (kind == "mirror"), (kind, m)
    webm = _scan(client, key, edited(12, "reencode"))
    assert webm["media"]["format"] == "MATROSKA" and webm["media"]["codec"] == "vp9"
    assert _scan(client, key, clip(13))["verdict"] == "allow"


def test_hold_bank_holds_a_video_and_opens_a_case_with_the_upload_vaulted(client, database: Database) -> None:
    """REQ CSAM-3: a hold on identified content opens a case and vaults the upload, as for images."""
    key = make_key(database, SCOPES)
    _bank(client, key, name="review", action="hold")
    original = _scan(client, key, clip(14))
    client.post(
        "/v1/banks/review/entries",
        headers=auth(key),
        json={"entries": [{"signal_type": "vpdq", "signal": original["signals"]["vpdq"]}]},
    )
    client.app.state.match_engine.catch_up()
    body = _scan(client, key, edited(14, "reencode"), content_id="held-1", account_id="acct-9")
    assert body["verdict"] == "hold" and body["case_ids"], body
    with database.unit_of_work(write=False) as db:
        item = db.execute(sa.select(EvidenceItem)).scalar_one()
        assert item.media_type == "MATROSKA"


def test_match_takes_a_platform_computed_vpdq(client, database: Database) -> None:
    key = make_key(database, SCOPES)
    _bank(client, key)
    original = _scan(client, key, clip(15))
    client.post(
        "/v1/banks/videos/entries",
        headers=auth(key),
        json={"entries": [{"signal_type": "vpdq", "signal": original["signals"]["vpdq"]}]},
    )
    client.app.state.match_engine.catch_up()
    copy = _scan(client, key, edited(15, "resize"))["signals"]["vpdq"]
    # threatexchange's own spelling: spaces after commas, a second a frame, 3 significant digits.
    sparse = [f for f in json.loads(copy) if float(f.split(",")[2]) % 1 == 0]
    r = client.post("/v1/match", headers=auth(key), json={"vpdq": json.dumps(sparse), "content": {"id": "remote-1"}})
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "block" and r.json()["matches"][0]["signal_type"] == "vpdq"
    r = client.post("/v1/match", headers=auth(key), json={"vpdq": "[1, 2]"})
    assert r.status_code == 422 and "pdq_hex,quality,timestamp" in r.json()["message"]
    r = client.post("/v1/match", headers=auth(key), json={"vpdq": copy, "pdq": [{"hash": "a" * 64}]})
    assert r.status_code == 422 and "not both" in r.json()["message"]
    with database.unit_of_work(write=False) as db:
        assert (
            db.execute(
                sa.select(sa.func.count()).select_from(ContentSignal).where(ContentSignal.signal_type == "vpdq")
            ).scalar_one()
            == 1
        )  # remote-1's


def test_vpdq_bank_import_export_round_trip_in_threatexchange_formats(client, database: Database) -> None:
    """Banks exchange vPDQ as threatexchange does: `dataset --csv`, 'type signal' lines and our CSV;
    an export reads back as the same entries; a bad row is reported by its line."""
    key = make_key(database, SCOPES)
    _bank(client, key, name="src")
    _bank(client, key, name="dst")
    _bank(client, key, name="dst2")
    vpdq_a = _scan(client, key, clip(16))["signals"]["vpdq"]
    vpdq_b = json.dumps(json.loads(_scan(client, key, clip(17))["signals"]["vpdq"])).replace(',"', ', "')
    lines = f'vpdq {vpdq_a}\nvpdq {vpdq_b}\nvpdq ["nope"]\nvideo_md5 {"0" * 32}\n'
    r = client.post("/v1/banks/src/import", headers={**auth(key), "Content-Type": "text/csv"}, content=lines)
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 3 and r.json()["rejected"] == [
        "line 3: vPDQ frame 0: expected 'pdq_hex,quality,timestamp', got 'nope'"
    ]
    exported = {}
    for fmt in ("tx-csv", "tx-lines", "csv"):
        r = client.get(f"/v1/banks/src/export?format={fmt}", headers=auth(key))
        assert r.status_code == 200
        exported[fmt] = r.text
    assert exported["tx-csv"].splitlines()[0] == "signal_type,signal_str,collab,category,tags"
    assert [ln.split(" ", 1)[0] for ln in exported["tx-lines"].splitlines()] == ["vpdq", "vpdq", "video_md5"]
    for target, fmt in (("dst", "tx-csv"), ("dst2", "tx-lines")):
        r = client.post(
            f"/v1/banks/{target}/import", headers={**auth(key), "Content-Type": "text/csv"}, content=exported[fmt]
        )
        assert r.json()["added"] == 3 and r.json()["rejected"] == [], r.text
    with database.unit_of_work(write=False) as db:
        rows = db.execute(
            sa.select(BankEntry.bank_id, BankEntry.signal, BankEntry.frames)
            .where(BankEntry.signal_type == "vpdq")
            .order_by(BankEntry.id)
        ).all()
    by_bank: dict[int, set[tuple[str, str | None]]] = {}
    for bank_id, signal, frames in rows:
        by_bank.setdefault(bank_id, set()).add((signal, frames))
    assert len(by_bank) == 3 and len({frozenset(v) for v in by_bank.values()}) == 1
    # Importing the same list again adds nothing.
    r = client.post("/v1/banks/dst/import", headers={**auth(key), "Content-Type": "text/csv"}, content=exported["csv"])
    assert r.json()["added"] == 0 and r.json()["duplicates"] == 3
    tx = pytest.importorskip("threatexchange.extensions.vpdq.vpdq_util")
    for line in exported["tx-lines"].splitlines()[:2]:
        assert len(tx.json_to_vpdq(line.split(" ", 1)[1])) > 0


@pytest.fixture
def video_server() -> Iterator[str]:
    payload = clip(18, codec="vp9")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "video/webm")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = socketserver.TCPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_scan_a_webm_by_url(client, api_key: str, app, video_server: str) -> None:
    app.state.settings.scan_url_allowlist = ["127.0.0.1"]
    app.state.settings.scan_url_allow_private = True
    r = client.post("/v1/scan", headers=auth(api_key), json={"url": f"{video_server}/v.webm", "content": {"id": "w1"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["media"]["format"] == "MATROSKA" and body["content_id"] == "w1" and body["verdict"] == "allow"


# -- bounded cost -----------------------------------------------------------------------------------


def test_too_long_too_large_and_hostile_videos_get_a_clear_4xx(client, api_key: str, app) -> None:
    """Every limit answers with a 4xx naming the problem; nothing of the upload is kept."""
    settings = app.state.settings
    settings.video_max_duration_seconds = 3.0
    r = client.post("/v1/scan", headers=auth(api_key), files={"file": ("v", clip(19), "video/mp4")})
    assert r.status_code == 422 and r.json()["error"] == "too_long" and "3 s" in r.json()["message"]
    settings.video_max_duration_seconds = 600.0
    settings.video_max_pixels = 100 * 100
    r = client.post("/v1/scan", headers=auth(api_key), files={"file": ("v", clip(19), "video/mp4")})
    assert r.status_code == 422 and r.json()["error"] == "too_many_pixels"
    settings.video_max_pixels = 8_294_400
    data = clip(19)
    r = client.post("/v1/scan", headers=auth(api_key), files={"file": ("v", data[: len(data) // 2], "video/mp4")})
    assert r.status_code == 422 and r.json()["error"] in ("corrupt_media", "truncated_media"), r.text
    hostile = b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isom#EXTM3U\nfile:///etc/passwd\n"
    r = client.post("/v1/scan", headers=auth(api_key), files={"file": ("v", hostile, "video/mp4")})
    assert r.status_code == 422 and r.json()["error"] == "corrupt_media"
    settings.max_upload_bytes = 20_000
    r = client.post("/v1/scan", headers=auth(api_key), files={"file": ("v", data, "video/mp4")})
    assert r.status_code == 413


def test_video_slots_full_is_503_with_retry_after(client, api_key: str, app, monkeypatch) -> None:
    app.state.settings.video_queue_seconds = 0.1
    gate = video.gate_for(app.state, 1, 0.1)
    gate._sem.acquire()  # another upload holds the only slot
    try:
        r = client.post("/v1/scan", headers=auth(api_key), files={"file": ("v", clip(11), "video/mp4")})
    finally:
        gate._sem.release()
    assert r.status_code == 503 and r.json()["error"] == "busy" and r.headers["Retry-After"] == "1"


def test_write_lock_is_not_held_while_a_video_is_hashed(client, api_key: str, database: Database, monkeypatch) -> None:
    """On SQLite a write transaction holds the database's only write lock: a video scan ends the
    authentication's transaction before hashing, so reports filed meanwhile are not held up."""
    started, release = threading.Event(), threading.Event()
    real = video.hash_video

    def slow_hash(data, *, limits):
        started.set()
        assert release.wait(20)
        return real(data, limits=limits)

    monkeypatch.setattr(video, "hash_video", slow_hash)
    result: dict = {}
    worker = threading.Thread(
        target=lambda: result.update(
            r=client.post("/v1/scan", headers=auth(api_key), files={"file": ("v", clip(11), "video/mp4")})
        )
    )
    worker.start()
    try:
        assert started.wait(20)
        t = time.monotonic()

        with database.unit_of_work() as db:  # a writer while the scan is hashing
            create_api_client(db, actor=SYSTEM, name="meanwhile", scopes=["scan"])
        assert time.monotonic() - t < 2.0
    finally:
        release.set()
        worker.join(60)
    assert result["r"].status_code == 200, result["r"].text


def test_eui1_upload_never_spooled_to_disk(client, api_key: str, monkeypatch) -> None:
    """REQ EUI-1: a multipart upload over 1 MiB stays in memory (the framework would otherwise spool
    it to a temporary file in plaintext); hashing passes it to FFmpeg through an in-memory file."""

    def no_disk(self, *args, **kwargs):
        raise AssertionError("an upload was about to be written to a temporary file")

    monkeypatch.setattr(tempfile.SpooledTemporaryFile, "rollover", no_disk)
    big = clip(20, seconds=6.0, size=(640, 360), fps=24)
    assert len(big) > 1024 * 1024
    body = _scan(client, api_key, big)
    assert body["media"]["kind"] == "video"


def test_disabled_vpdq_entry_stops_matching_and_the_index_survives_a_restart(
    client, database: Database, tmp_path
) -> None:
    """A false positive disabled in the bank stops matching at once (the database has the last word),
    and a replica saved and loaded again still finds the entry it holds."""
    key = make_key(database, SCOPES)
    _bank(client, key)
    original = _scan(client, key, clip(21))
    r = client.post(
        "/v1/banks/videos/entries",
        headers=auth(key),
        json={"entries": [{"signal_type": "vpdq", "signal": original["signals"]["vpdq"]}]},
    )
    entry_id = r.json()["entry_ids"][0]
    engine = client.app.state.match_engine
    engine.catch_up()
    saved = MatchEngine(database, index_dir=tmp_path / "index")
    saved.catch_up()
    saved.save()
    restarted = MatchEngine(database, index_dir=tmp_path / "index")
    restarted.load()
    assert restarted.bank.applied == saved.bank.applied and len(restarted.bank.video) == 1
    assert _scan(client, key, edited(21, "resize"))["verdict"] == "block"
    r = client.post(f"/v1/bank-entries/{entry_id}/disable", headers=auth(key), json={"reason": "false positive: test"})
    assert r.status_code == 200
    assert _scan(client, key, edited(21, "resize"))["verdict"] == "allow"
    engine.catch_up()
    assert len(engine.bank.video) == 0
