"""HMA's video path under `/hma`: a benign synthetic clip is hashed (vPDQ and MD5), banked as one
item and found again by a lookup of the same clip, of a re-encoded copy (vPDQ only: its bytes
differ) and of its vPDQ signal; an unrelated clip finds nothing (X-5: every copy counts)."""

from __future__ import annotations

import hashlib
import json

import pytest

from staydown.db import Database
from tests.helpers import auth, make_key
from tests.videogen import clip, edited, needs_ffmpeg

pytest.importorskip("vpdq")
pytestmark = [needs_ffmpeg]

CURATOR = ["banks:read", "banks:write", "scan", "match"]


def _video(data: bytes, name: str = "clip.mp4") -> dict:
    return {"video": (name, data, "video/mp4")}


def test_a_video_is_hashed_banked_and_looked_up(client, app, database: Database) -> None:
    h = auth(make_key(database, CURATOR))
    original, reencoded, other = clip(11), edited(11, "reencode"), clip(12)
    assert hashlib.md5(reencoded).hexdigest() != hashlib.md5(original).hexdigest()

    r = client.post("/hma/h/hash", headers=h, files=_video(original))
    assert r.status_code == 200, r.text
    hashed = r.json()
    assert set(hashed) == {"video_md5", "vpdq"}
    assert hashed["video_md5"] == hashlib.md5(original).hexdigest()
    frames = [f.split(",") for f in json.loads(hashed["vpdq"])]  # threatexchange's form: "pdq,quality,second"
    assert len(frames) >= 5 and all(len(pdq) == 64 and 0 <= int(q) <= 100 for pdq, q, _ in frames)
    assert [float(s) for _, _, s in frames] == sorted(float(s) for _, _, s in frames)

    assert client.post("/hma/c/banks", headers=h, json={"name": "VIDEOS"}).status_code == 201
    r = client.post("/hma/c/bank/VIDEOS/content", headers=h, files=_video(original))
    assert r.status_code == 200, r.text
    added = r.json()
    assert added["signals"] == hashed  # the same hashing as /h/hash
    item = added["id"]
    r = client.get(f"/hma/c/bank/VIDEOS/content/{item}", headers=h, params={"include_signals": True})
    assert r.status_code == 200 and set(r.json()["signals"]) == {"vpdq", "video_md5"}
    app.state.match_engine.catch_up()

    # The same clip: both its vPDQ and its MD5 find the item.
    r = client.post("/hma/m/lookup", headers=h, files=_video(original), params={"bypass_coinflip": True})
    assert r.status_code == 200, r.text
    found = r.json()
    assert [m["bank_content_id"] for m in found["vpdq"]["VIDEOS"]] == [item]
    assert [m["bank_content_id"] for m in found["video_md5"]["VIDEOS"]] == [item]

    # A re-encoded copy: other bytes, the same pictures. Only the vPDQ finds it.
    r = client.post("/hma/m/lookup", headers=h, files=_video(reencoded, "copy.mp4"), params={"bypass_coinflip": True})
    found = r.json()
    assert [m["bank_content_id"] for m in found["vpdq"]["VIDEOS"]] == [item]
    assert found["video_md5"] == {}

    # The vPDQ as a signal, as an HMA client that hashes on its side sends it.
    r = client.get(
        "/hma/m/lookup", headers=h, params={"signal_type": "vpdq", "signal": hashed["vpdq"], "bypass_coinflip": True}
    )
    assert r.status_code == 200 and [m["bank_content_id"] for m in r.json()["VIDEOS"]] == [item]
    r = client.get("/hma/m/raw_lookup", headers=h, params={"signal_type": "vpdq", "signal": hashed["vpdq"]})
    assert r.json() == {"matches": [item]}

    # An unrelated clip finds nothing.
    r = client.post("/hma/m/lookup", headers=h, files=_video(other, "other.mp4"), params={"bypass_coinflip": True})
    assert r.status_code == 200 and r.json() == {"video_md5": {}, "vpdq": {}}
