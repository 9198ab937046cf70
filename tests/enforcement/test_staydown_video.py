"""Stay-down for video (X-5, TID-3): confirming a reported video banks its vPDQ (with its mirror image
and crops) and digests, the sweep finds its stored copies (re-encoded, resized, trimmed, mirrored,
cropped) and acts on each, and a re-encoded re-upload is blocked. Stand-in clips are benign and
synthetic (tests/videogen.py)."""

from __future__ import annotations

import sqlalchemy as sa

from staydown.cases.models import LegalTrack
from staydown.db import Database
from staydown.enforcement.models import EnforcementAction, Sweep
from staydown.matching.models import BankEntry
from staydown.subjects.models import PlatformContent
from tests.enforcement.test_staydown import _confirm, _run_jobs
from tests.helpers import auth, make_staff, sign_in
from tests.videogen import clip, edited, needs_ffmpeg

pytestmark = needs_ffmpeg

COPIES = ("reencode", "resize", "trim", "mirror", "crop", "watermark")


def _scan(client, key: str, content_id: str, account: str, data: bytes) -> dict:
    r = client.post(
        "/v1/scan",
        headers=auth(key),
        files={"file": ("v", data, "video/mp4")},
        data={"content_id": content_id, "account_id": account, "content_kind": "video"},
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_x5_tid3_confirmed_video_is_banked_its_copies_swept_and_reuploads_blocked(
    client, database: Database, api_key: str
) -> None:
    """REQ X-5, TID-3, UK-3."""
    seed = 31
    _scan(client, api_key, "orig", "acct-0", clip(seed))
    for i, kind in enumerate(COPIES, start=1):
        assert _scan(client, api_key, f"copy-{kind}", f"acct-{i}", edited(seed, kind))["verdict"] == "allow"
    _scan(client, api_key, "unrelated", "acct-x", clip(seed + 1))
    client.app.state.match_engine.catch_up()

    make_staff(database, "mo", "moderator")
    case_id = _confirm(client, database, sign_in(client, "mo"), "orig", "ncii@2", reporter_kind="affected_person")
    assert _run_jobs(client, database) >= 1
    with database.unit_of_work(write=False) as db:
        banked = db.execute(
            sa.select(BankEntry.signal_type, BankEntry.variant).where(BankEntry.source_case_id == case_id)
        ).all()
        assert sorted(banked) == sorted(
            [("md5", ""), ("sha256", ""), ("vpdq", ""), ("vpdq", "mirror"), ("vpdq", "crop25"), ("vpdq", "crop50")]
        )
        sweep = db.execute(sa.select(Sweep)).scalar_one()

        found = {db.get_one(PlatformContent, cid).platform_id for cid in sweep.content_ids}
        assert found == {f"copy-{kind}" for kind in COPIES}, found
        removed = db.execute(
            sa.select(EnforcementAction.content_id).where(EnforcementAction.kind == "remove")
        ).scalars()
        assert {db.get_one(PlatformContent, cid).platform_id for cid in removed} == {"orig"} | found
        tid = db.execute(
            sa.select(LegalTrack).where(LegalTrack.case_id == case_id, LegalTrack.kind == "take_it_down")
        ).scalar_one()
        assert tid.details["known_identical_copies"]["copies"] == len(COPIES)
    # A re-upload, re-encoded to WebM and trimmed in other ways, is blocked at scan.
    client.app.state.match_engine.catch_up()
    again = _scan(client, api_key, "reupload", "acct-new", edited(seed, "reencode"))
    assert again["verdict"] == "block", again
    assert again["matches"][0]["bank"] == "own-ncii" and again["matches"][0]["signal_type"] in ("vpdq", "md5")
    mirrored = _scan(client, api_key, "reupload-2", "acct-new2", edited(seed, "mirror"))
    assert mirrored["verdict"] == "block"
    assert _scan(client, api_key, "fine", "acct-y", clip(seed + 2))["verdict"] == "allow"
