"""Uploads never touch disk in plaintext (issue 16 item 3; CSAM-4 "store securely", the vault
writes only ciphertext): a 2.5 MiB evidence deposit and a video scan are watched, in the temp
directories and the data dir, and in every file open in the server process and its children
(FFmpeg), deleted and unnamed ones included."""

from __future__ import annotations

import secrets
import struct
import tempfile
from pathlib import Path

import pytest
from fastapi import Depends, Request

from staydown.flows import authorities as authority_flows
from staydown.http import require
from staydown.matching import video as matching_video
from staydown.settings import Settings
from staydown.staff.permissions import Permission
from tests.diskwatch import DiskWatch
from tests.helpers import auth
from tests.videogen import clip, needs_ffmpeg

TEMP_DIRS = [Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp")]


def _marker() -> bytes:
    return b"STAYDOWN-PLAINTEXT-" + secrets.token_hex(12).encode() + b"|"


def _watch(settings: Settings, marker: bytes, extra: list[bytes] = ()) -> DiskWatch:  # type: ignore[assignment]
    database_dir = (
        Path(str(settings.database_url).removeprefix("sqlite:///")).parent if settings.is_sqlite else settings.data_dir
    )
    return DiskWatch([marker, *extra], TEMP_DIRS, deep=[settings.data_dir, database_dir])


def test_the_watch_finds_plaintext_spooled_by_the_framework_parser(app, client, settings: Settings) -> None:
    """The watch itself, on what the issue found: Starlette's own form parser spools a part over
    1 MiB to an unnamed temporary file on disk, and the watch reads it back."""
    marker = _marker()
    payload = marker * ((2_600_000 // len(marker)) + 1)
    watch = _watch(settings, marker)

    @app.post("/v1/evidence-stock-form")
    async def stock_form(request: Request, _: object = Depends(require(Permission.PUBLIC))) -> dict[str, int]:
        form = await request.form()
        watch.probe()  # while the form still holds the part
        size = len(await form["file"].read())  # type: ignore[union-attr]
        await form.close()
        return {"size": size}

    with watch:
        r = client.post("/v1/evidence-stock-form", files={"file": ("e.bin", payload, "application/octet-stream")})
    assert r.status_code == 200 and r.json()["size"] == len(payload)
    assert watch.found and "fd" in watch.found[0], watch.found
    # A named file left in a temp directory is found by the directory watch, and a deleted one
    # held open for a moment by the file-descriptor watch.
    marker, held = _marker(), _marker()
    with DiskWatch([marker, held], TEMP_DIRS) as named:
        with tempfile.NamedTemporaryFile(prefix="sd-watch-", delete=False) as f:
            f.write(marker)
        with tempfile.TemporaryFile() as g:
            g.write(held)
            g.flush()
            # One probe while it is held, as the watch's thread makes every 5 ms: a fixed sleep
            # let a busy machine (CI, 2 cores) pass the whole window without a probe.
            named.probe()
    Path(f.name).unlink()
    assert any(f.name in where for where in named.found), named.found
    assert any("fd" in where for where in named.found), named.found


def test_a_large_evidence_deposit_leaves_no_plaintext_on_disk(
    client, api_key: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CSAM-4: a 2.5 MiB deposit is read in memory and stored encrypted; nothing of its plaintext is
    in a temp dir, the data dir, the database or any file the process holds, at any point."""

    marker = _marker()
    payload = marker * ((2_600_000 // len(marker)) + 1)
    watch = _watch(settings, marker)
    real = authority_flows.receive_file

    def probing(*args, **kwargs):
        watch.probe()  # the form and its parts are alive here
        result = real(*args, **kwargs)
        watch.probe()  # and the vault has written
        return result

    monkeypatch.setattr(authority_flows, "receive_file", probing)
    with watch:
        r = client.post(
            "/v1/evidence",
            headers=auth(api_key),
            files={"file": ("e.jpg", payload, "image/jpeg")},
            data={"content_id": "c-large"},
        )
    assert r.status_code == 201, r.text
    assert watch.probes >= 2 and watch.files_seen > 0  # it really looked (the database file, at least)
    assert watch.found == []
    # The vault holds it, encrypted: reading it back gives the plaintext.
    item = r.json()["id"]
    r = client.get(
        f"/v1/evidence/{item}/content", headers=auth(api_key), params={"purpose": "test: the deposit reads back whole"}
    )
    assert r.status_code in (200, 403)
    if r.status_code == 200:
        assert r.content == payload


@needs_ffmpeg
def test_a_video_scan_leaves_no_plaintext_on_disk(
    client, api_key: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A video over the parser's 1 MiB spool size (a clip with a 1.5 MiB MP4 'free' box holding the
    marker) is scanned: FFmpeg reads it from a memory file, and no plaintext reaches a disk."""
    marker = _marker()
    video = clip(31)
    filler = marker * ((1_500_000 // len(marker)) + 1)
    data = video + struct.pack(">I", 8 + len(filler)) + b"free" + filler  # a box every MP4 reader skips
    samples = [video[i : i + 48] for i in range(len(video) // 3, len(video), len(video) // 5)][:4]
    watch = _watch(settings, marker, samples)
    real = matching_video.hash_video

    def probing(*args, **kwargs):
        watch.probe()
        return real(*args, **kwargs)

    monkeypatch.setattr(matching_video, "hash_video", probing)
    with watch:
        r = client.post(
            "/v1/scan",
            headers=auth(api_key),
            files={"file": ("v.mp4", data, "video/mp4")},
            data={"content_id": "v-large"},
        )
    assert r.status_code == 200, r.text
    assert r.json()["media"]["kind"] == "video" and r.json()["media"]["frames_hashed"] > 0
    assert watch.probes >= 2 and watch.files_seen > 0
    assert watch.found == []
