"""Confirmed items are banked with bank-side variants built from the vaulted original, so the sweep
finds cropped and captioned copies (X-5, TID-3; issue 14 item 4). Stand-in media is benign."""

from __future__ import annotations

import sqlalchemy as sa
from PIL import Image, ImageDraw

from staydown.db import Database
from staydown.enforcement.models import EnforcementAction, Sweep
from staydown.matching.models import BankEntry
from staydown.subjects.models import PlatformContent
from tests.enforcement.test_staydown import _confirm, _run_jobs, _scan
from tests.helpers import auth, make_staff, sign_in
from tests.imagegen import encode, synthetic


def _captioned(img: Image.Image) -> Image.Image:
    bar = Image.new("RGB", (img.width, int(img.height * 0.25)), (255, 255, 255))
    draw = ImageDraw.Draw(bar)
    for k in range(2):
        draw.text(
            (20, 10 + 40 * k), "when the weekend finally starts", fill=(0, 0, 0), font_size=max(12, img.width // 20)
        )
    out = Image.new("RGB", (img.width, img.height + bar.height), (255, 255, 255))
    out.paste(bar, (0, 0))
    out.paste(img, (0, bar.height))
    return out


def test_X5_TID3_confirmed_item_banked_with_variants_from_the_vault_and_cropped_copy_swept(
    client, database: Database, api_key: str
) -> None:
    """REQ X-5, TID-3: the confirmation banks the vaulted original's crops, turns and cut-outs; the
    sweep then takes down a copy cropped 4% on every side, which the scanned hashes alone miss."""
    img = synthetic(611, (800, 600))
    original = encode(img, "JPEG", quality=92)
    _scan(client, api_key, "orig", "acct-0", original)
    r = client.post(
        "/v1/evidence",
        headers=auth(api_key),
        files={"file": ("o.jpg", original, "image/jpeg")},
        data={"content_id": "orig", "account_id": "acct-0"},
    )
    assert r.status_code == 201, r.text
    w, h = img.size
    cropped = img.crop((int(w * 0.04), int(h * 0.04), int(w * 0.96), int(h * 0.96)))
    _scan(client, api_key, "copy-cropped", "acct-1", encode(cropped, "JPEG", quality=85))
    _scan(client, api_key, "copy-captioned", "acct-2", encode(_captioned(img), "JPEG", quality=85))
    _scan(client, api_key, "unrelated", "acct-x", encode(synthetic(612, (800, 600)), "JPEG"))
    client.app.state.match_engine.catch_up()

    make_staff(database, "mo", "moderator")
    case_id = _confirm(client, database, sign_in(client, "mo"), "orig", "ncii@2", reporter_kind="affected_person")
    assert _run_jobs(client, database) >= 2
    with database.unit_of_work(write=False) as db:
        variants = (
            db.execute(
                sa.select(BankEntry).where(BankEntry.source_case_id == case_id, BankEntry.variant.like("crop_%"))
            )
            .scalars()
            .all()
        )
        assert len(variants) >= 20 and all(v.parent_id is not None for v in variants)
        sweep = db.execute(sa.select(Sweep)).scalar_one()
        found = {db.get_one(PlatformContent, cid).platform_id for cid in sweep.content_ids}
        assert {"copy-cropped", "copy-captioned"} <= found
        assert "unrelated" not in found
        removed = {
            db.get_one(PlatformContent, a.content_id).platform_id
            for a in db.execute(sa.select(EnforcementAction).where(EnforcementAction.kind == "remove")).scalars()
        }
        assert {"copy-cropped", "copy-captioned"} <= removed and "unrelated" not in removed
    # and a later upload cropped differently is blocked at scan
    client.app.state.match_engine.catch_up()
    again = _scan(
        client,
        api_key,
        "reupload",
        "acct-9",
        encode(img.crop((0, int(h * 0.05), int(w * 0.95), h)), "JPEG", quality=80),
    )
    assert again["verdict"] == "block", again


def test_X5_confirmed_item_without_a_vaulted_original_is_still_swept(client, database: Database, api_key: str) -> None:
    """REQ X-5: with nothing in the vault, the media job banks nothing and the sweep still runs."""
    img = synthetic(613, (640, 480))
    _scan(client, api_key, "orig", "acct-0", encode(img, "JPEG", quality=92))
    _scan(client, api_key, "copy", "acct-1", encode(img, "JPEG", quality=60))
    client.app.state.match_engine.catch_up()
    make_staff(database, "mo", "moderator")
    _confirm(client, database, sign_in(client, "mo"), "orig", "ncii@2", reporter_kind="affected_person")
    assert _run_jobs(client, database) >= 2
    with database.unit_of_work(write=False) as db:
        assert db.execute(sa.select(Sweep)).scalar_one().copies_found == 1
