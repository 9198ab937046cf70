"""DSA Art. 18 notifications (DSA-3) and law-enforcement requests (CSAM-5, CSAM-6)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from staydown.actors import Actor
from staydown.authorities.dsa18 import notify_threat
from staydown.authorities.law_enforcement import record_disclosure, record_preservation
from staydown.authorities.models import AuthorityNotification
from staydown.cases.models import Case
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.delivery.messages import OutboundMessage
from staydown.errors import InvalidInput, PermissionDenied
from staydown.evidence.models import LegalHold
from staydown.staff.permissions import permissions_for_roles

MOD = Actor.staff(1, "mod", permissions_for_roles(["moderator"]))
LEGAL = Actor.staff(2, "legal", permissions_for_roles(["legal"]))
AUTHORITIES = {"IE": "An Garda Siochana <dsa18@garda.example>"}


def test_DSA3_threat_to_life_is_notified_to_the_member_state(client, database: Database) -> None:  # type: ignore[no-untyped-def]
    client.post("/public/notices", json={"policy_id": "violent-threats", "explanation": "says he will shoot",
                                         "items": [{"content_id": "p-1", "account_id": "a-1"}]})
    with database.unit_of_work() as db:
        case = db.execute(sa.select(Case)).scalar_one()
        with pytest.raises(InvalidInput, match="no authority is configured"):
            notify_threat(db, actor=MOD, case=case, member_state="FR", facts="x" * 30, authorities=AUTHORITIES)
        notify_threat(db, actor=MOD, case=case, member_state="ie", authorities=AUTHORITIES,
                      facts="a dated, specific threat to shoot named pupils at a named school tomorrow")
    with database.unit_of_work(write=False) as db:
        note = db.execute(sa.select(AuthorityNotification)).scalar_one()
        assert note.member_state == "IE" and note.body["content"][0]["platform_id"] == "p-1"
        mail = db.execute(sa.select(OutboundMessage).where(OutboundMessage.kind == "dsa_art18")).scalar_one()
        assert mail.recipient == "dsa18@garda.example" and "Article 18" in mail.body
        case = db.execute(sa.select(Case)).scalar_one()
        assert case.imminent_danger and {t.kind: t.state for t in case.tracks}["dsa_art18"] == "met"


def test_preservation_and_disclosure_are_legal_only_and_held(database: Database, clock: FrozenClock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import base64
    import os

    from staydown.actors import SYSTEM
    from staydown.evidence import actions
    from staydown.evidence.blobs import FileBlobStore
    from staydown.evidence.crypto import MasterKeys

    vault = actions.Vault(MasterKeys.from_base64(base64.b64encode(os.urandom(32)).decode()), FileBlobStore(tmp_path))
    with database.unit_of_work() as db:
        item = actions.store_item(db, actor=SYSTEM, vault=vault, data=b"benign bytes", content_id=None, case_id=None,
                                  context={})
        with pytest.raises(PermissionDenied):
            record_preservation(db, actor=MOD, agency="x", legal_process="2703(f)", reference="r", item_ids=[item.id],
                                until=clock.now() + timedelta(days=90))
        record_preservation(db, actor=LEGAL, agency="Example Police", legal_process="18 U.S.C. 2703(f) letter",
                            reference="EP-2026-1", item_ids=[item.id], until=clock.now() + timedelta(days=180))
        with pytest.raises(InvalidInput):
            record_disclosure(db, actor=LEGAL, agency="Example Police", legal_process="none", reference="r",
                              item_ids=[item.id], outcome="refused")
        record_disclosure(db, actor=LEGAL, agency="Example Police", legal_process="search warrant 26-W-114",
                          reference="EP-2026-2", item_ids=[item.id], outcome="disclosed account records")
    with database.unit_of_work(write=False) as db:
        hold = db.execute(sa.select(LegalHold)).scalar_one()
        assert hold.kind == "preservation_request" and "2703(f)" in hold.basis


def test_authority_routes_are_restricted_to_their_roles(client, database: Database) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import make_staff, sign_in

    make_staff(database, "mo", "moderator")
    make_staff(database, "legal", "legal")
    mo, legal = sign_in(client, "mo"), sign_in(client, "legal")
    body = {"agency": "Example Police", "legal_process": "2703(f) letter", "reference": "r", "item_ids": [1],
            "until": "2027-01-01T00:00:00Z"}
    assert client.post("/v1/law-enforcement/preservation", headers=mo, json=body).status_code == 403
    assert client.post("/v1/law-enforcement/preservation", headers=legal, json=body).status_code == 404  # no item 1
    assert client.get("/v1/ncmec-reports", headers=mo).status_code == 403
    assert client.get("/v1/ncmec-reports", headers=legal).status_code == 200
