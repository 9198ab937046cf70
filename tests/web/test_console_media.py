"""Media on the case page: blurred greyscale by default, reveal one item with an audited, counted
view within a daily budget, and match evidence instead of a reveal for hash-confirmed material."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from staydown.actors import SYSTEM
from staydown.audit.models import AuditEvent
from staydown.clock import FrozenClock
from staydown.db import Database, now
from staydown.evidence.models import EvidenceItem
from staydown.evidence.vault import store_item
from staydown.matching.models import Scan
from staydown.settings import Settings
from staydown.subjects.models import PlatformContent
from tests.helpers import make_staff
from tests.imagegen import jpeg
from tests.web.console_support import HARASSMENT, MINOR_REPORT, last_case, login, token

BUDGET = 2


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        data_dir=tmp_path / "var",
        worker_in_process=False,
        reveal_daily_budget=BUDGET,
    )


def _store_media(app, database: Database, platform_id: str, data: bytes) -> int:
    case = last_case(database)
    with database.unit_of_work() as db:
        content = db.execute(sa.select(PlatformContent).where(PlatformContent.platform_id == platform_id)).scalar_one()
        item = store_item(
            db,
            actor=SYSTEM,
            vault=app.state.vault,
            data=data,
            content_id=content.id,
            case_id=case.id,
            context={},
            media_type="JPEG",
        )
        return item.id


def _setup(app, client, database: Database, report: dict) -> tuple[int, int, bytes]:
    make_staff(database, "mo", "moderator")
    make_staff(database, "cs1", "child_safety")
    make_staff(database, "aud", "auditor")
    client.post("/public/notices", json=report)
    data = jpeg(7, size=(400, 300))
    platform_id = report["items"][0]["content_id"]
    item_id = _store_media(app, database, platform_id, data)
    return last_case(database).id, item_id, data


def test_preview_is_blurred_greyscale_and_the_page_never_carries_the_original(app, client, database: Database) -> None:
    case_id, item_id, data = _setup(app, client, database, HARASSMENT)
    mo = login(app, "mo")
    page = mo.get(f"/console/cases/{case_id}").text
    assert f"/console/cases/{case_id}/media/{item_id}/preview.png" in page and "data:image" not in page
    r = mo.get(f"/console/cases/{case_id}/media/{item_id}/preview.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content != data
    preview = Image.open(io.BytesIO(r.content))
    assert preview.mode == "L" and max(preview.size) <= 320
    # Blurred: neighbouring pixels barely differ (the synthetic original has sharp shapes).
    luma = np.asarray(preview, dtype=np.int16)  # rows of pixels
    jumps = np.abs(np.diff(luma[::7], axis=1))
    assert jumps.max() < 16
    with database.unit_of_work(write=False) as db:
        assert db.get_one(EvidenceItem, item_id).first_human_view_at is None  # a blurred preview is not a view
        assert not db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "case:media:reveal")).first()


def test_reveal_is_a_post_audited_counted_and_returns_only_that_item(
    app, client, database: Database, clock: FrozenClock
) -> None:
    case_id, item_id, _data = _setup(app, client, database, HARASSMENT)
    mo = login(app, "mo")
    url = f"/console/cases/{case_id}/media/{item_id}/reveal"
    assert mo.get(url).status_code == 405
    page = mo.get(f"/console/cases/{case_id}")
    assert mo.post(url, data={"csrf_token": "forged"}).status_code == 403
    r = mo.post(url, data={"csrf_token": token(page.text)}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text  # the HTMX partial
    uri = re.search(r'src="data:image/png;base64,([^"]+)"', r.text)
    assert uri
    revealed = Image.open(io.BytesIO(base64.b64decode(uri.group(1))))
    assert revealed.mode == "RGB" and revealed.size == (400, 300)
    assert "your reveals today: 1 of 2" in r.text
    with database.unit_of_work(write=False) as db:
        event = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "case:media:reveal")).scalar_one()
        assert event.actor_kind == "staff" and event.data["evidence_item_id"] == item_id
        views = (
            db.execute(
                sa.select(AuditEvent).where(
                    AuditEvent.tag == "evidence:item:view", AuditEvent.subject_id == str(item_id)
                )
            )
            .scalars()
            .all()
        )
        assert any("reveal to mo" in v.data["purpose"] for v in views)
        assert db.get_one(EvidenceItem, item_id).first_human_view_at == now(db)  # NCMEC-3: a person viewed it
    # Without HTMX the answer is a full page with the same single item.
    r = mo.post(url, data={"csrf_token": token(page.text)})
    assert r.status_code == 200 and "<html" in r.text and "your reveals today: 2 of 2" in r.text
    r = mo.post(url, data={"csrf_token": token(page.text)})
    assert r.status_code == 429 and "2 of your 2 media items for today" in r.text and "data:image" not in r.text
    # The budget is per UTC day.
    clock.advance(hours=13)
    mo = login(app, "mo")
    page = mo.get(f"/console/cases/{case_id}")
    assert mo.post(url, data={"csrf_token": token(page.text)}).status_code == 200


def test_roles_for_media(app, client, database: Database) -> None:
    case_id, item_id, _ = _setup(app, client, database, MINOR_REPORT)
    mo, aud, cs = login(app, "mo"), login(app, "aud"), login(app, "cs1")
    assert mo.get(f"/console/cases/{case_id}/media/{item_id}/preview.png").status_code == 404
    page = cs.get(f"/console/cases/{case_id}")
    assert (
        mo.post(
            f"/console/cases/{case_id}/media/{item_id}/reveal",
            data={"csrf_token": token(mo.get("/console/queue").text)},
        ).status_code
        == 404
    )
    assert (
        aud.post(
            f"/console/cases/{case_id}/media/{item_id}/reveal",
            data={"csrf_token": token(aud.get("/console/login").text)},
        ).status_code
        == 403
    )
    # The child-safety specialist reads the vault as themselves.
    r = cs.post(f"/console/cases/{case_id}/media/{item_id}/reveal", data={"csrf_token": token(page.text)})
    assert r.status_code == 200
    with database.unit_of_work(write=False) as db:
        view = db.execute(
            sa.select(AuditEvent).where(AuditEvent.tag == "evidence:item:view", AuditEvent.actor_kind == "staff")
        ).scalar_one()
        assert view.actor_label == "cs1"
    # An item of another case is not reachable through this one.
    assert cs.get(f"/console/cases/{case_id}/media/{item_id + 99}/preview.png").status_code == 404


def test_hash_confirmed_match_shows_the_evidence_so_no_reveal_is_needed(app, client, database: Database) -> None:
    """CSAM-7: previously confirmed material is decided on the match, with nobody looking."""
    case_id, item_id, _ = _setup(app, client, database, MINOR_REPORT)
    with database.unit_of_work() as db:
        content_id = db.get_one(EvidenceItem, item_id).content_id
        db.add(
            Scan(
                content_id=content_id,
                verdict="block",
                signals={},
                media={},
                scanned_by="api_client:1",
                scanned_at=now(db),
                matches=[
                    {
                        "bank": "ncmec-hashes",
                        "bank_id": 1,
                        "entry_id": 3,
                        "signal_type": "pdq",
                        "distance": 4,
                        "threshold": 31,
                        "action": "block",
                        "policy_id": "csam",
                        "confirmed_material": True,
                    }
                ],
            )
        )
    cs = login(app, "cs1")
    page = cs.get(f"/console/cases/{case_id}").text
    assert "Hash-confirmed match" in page and "no need to reveal to decide" in page and "ncmec-hashes" in page
