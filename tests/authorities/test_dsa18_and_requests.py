"""DSA Art. 18 notifications (DSA-3) and law-enforcement requests (CSAM-5, CSAM-6)."""

from __future__ import annotations

import base64
import os
from datetime import timedelta

import pytest
import sqlalchemy as sa

from staydown.actors import SYSTEM, Actor
from staydown.app import worker_services
from staydown.authorities.dsa18 import mark_threat
from staydown.authorities.law_enforcement import record_disclosure, record_preservation
from staydown.authorities.models import AuthorityNotification
from staydown.cases.actions import sweep_deadlines
from staydown.cases.models import Case, StaffAlert
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.errors import InvalidInput, PermissionDenied
from staydown.evidence import actions
from staydown.evidence.blobs import FileBlobStore
from staydown.evidence.crypto import MasterKeys
from staydown.evidence.models import LegalHold
from staydown.evidence.vault import Vault, store_item
from staydown.jobs import build_registry
from staydown.staff.permissions import permissions_for_roles
from staydown.worker import Worker
from tests.conftest import T0
from tests.helpers import make_staff, sign_in

MOD = Actor.staff(1, "mod", permissions_for_roles(["moderator"]))
LEGAL = Actor.staff(2, "legal", permissions_for_roles(["legal"]))
AUTHORITIES = {"IE": "An Garda Siochana <dsa18@garda.example>"}


def test_DSA3_threat_to_life_is_notified_to_the_member_state(client, database: Database, clock: FrozenClock) -> None:
    """REQ DSA-3: the marking opens a one-hour track from the marking; the track is met only when
    the notification has actually been sent (by the worker), so lateness is measured."""
    client.post(
        "/public/notices",
        json={
            "policy_id": "violent-threats",
            "explanation": "says he will shoot",
            "items": [{"content_id": "p-1", "account_id": "a-1"}],
        },
    )
    with database.unit_of_work() as db:
        case = db.execute(sa.select(Case)).scalar_one()
        with pytest.raises(InvalidInput, match="not an EU member state"):
            mark_threat(db, actor=MOD, case=case, member_states=["XX"], facts="x" * 30, authorities=AUTHORITIES)
        marking = mark_threat(
            db,
            actor=MOD,
            case=case,
            member_states=["ie"],
            authorities=AUTHORITIES,
            facts="a dated, specific threat to shoot named pupils at a named school tomorrow",
        )
        assert [n.member_state for n in marking.notifications] == ["IE"] and not marking.unconfigured
    with database.unit_of_work(write=False) as db:
        note = db.execute(sa.select(AuthorityNotification)).scalar_one()
        assert note.member_state == "IE" and note.body["content"][0]["platform_id"] == "p-1" and note.sent_at is None
        case = db.execute(sa.select(Case)).scalar_one()
        track = {t.kind: t for t in case.tracks}["dsa_art18"]
        assert case.imminent_danger and case.imminent_danger_at == T0
        assert track.state == "open" and track.due_at == T0 + timedelta(hours=1)  # not met by queueing
    clock.advance(minutes=20)
    mailer = RecordingMailer()
    _run_worker(client, database, mailer)
    assert [m["To"] for m in mailer.sent] == ["dsa18@garda.example"]
    assert "Article 18" in mailer.sent[0].get_content()
    with database.unit_of_work(write=False) as db:
        note = db.execute(sa.select(AuthorityNotification)).scalar_one()
        assert note.sent_at == T0 + timedelta(minutes=20)
        track = {t.kind: t for t in db.execute(sa.select(Case)).scalar_one().tracks}["dsa_art18"]
        assert track.state == "met" and track.resolution == "notification_sent" and track.met_at == note.sent_at


class RecordingMailer:
    def __init__(self) -> None:
        self.sent: list = []

    def send(self, message) -> None:
        self.sent.append(message)


def test_DSA3_a_decision_marked_imminent_danger_notifies_and_an_unconfigured_state_stays_owed(
    client, database: Database, clock: FrozenClock
) -> None:
    """REQ DSA-3: "imminent danger" on a decision does what a marking does. A member state with no
    configured authority does not drop the duty: the track stays open, administrators are alerted,
    and it is breached when the hour passes."""

    client.app.state.settings = client.app.state.settings.model_copy(update={"dsa18_authorities": AUTHORITIES})
    client.post(
        "/public/notices",
        json={
            "policy_id": "violent-threats",
            "explanation": "threat to a school",
            "jurisdiction": "FR",
            "items": [{"content_id": "p-2", "account_id": "a-2"}],
        },
    )
    make_staff(database, "mo", "moderator")
    mo = sign_in(client, "mo")
    with database.unit_of_work(write=False) as db:
        case_id = db.execute(sa.select(Case.id)).scalar_one()
    client.post(f"/v1/cases/{case_id}/claim", headers=mo)
    r = client.post(
        f"/v1/cases/{case_id}/decision",
        headers=mo,
        json={
            "policy": "violent-threats@2",
            "outcome": "violates",
            "facts": "names a school and a time to shoot pupils",
            "imminent_danger": True,
            "member_states": ["IE", "FR"],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["notified"] == ["IE"] and r.json()["unconfigured"] == ["FR"]
    track = {t["kind"]: t for t in r.json()["case"]["tracks"]}["dsa_art18"]
    assert track["state"] == "open"
    _run_worker(client, database, RecordingMailer())
    with database.unit_of_work(write=False) as db:
        alerts = db.execute(sa.select(StaffAlert).where(StaffAlert.kind == "dsa18_unconfigured")).scalars().all()
        assert alerts and "FR" in alerts[0].message
        assert {t.kind: t.state for t in db.get_one(Case, case_id).tracks}["dsa_art18"] == "open"  # FR still owed
    clock.advance(minutes=61)
    with database.unit_of_work() as db:
        sweep_deadlines(db, actor=SYSTEM)
    with database.unit_of_work(write=False) as db:
        art18 = {t.kind: t for t in db.get_one(Case, case_id).tracks}["dsa_art18"]
        assert art18.breached_at is not None and art18.state == "open"


def test_DSA3_without_a_named_member_state_the_notices_jurisdiction_else_europol(client, database: Database) -> None:
    """REQ DSA-3 (Art. 18(2)): where the member state cannot be identified, Europol is told."""
    client.post(
        "/public/notices",
        json={"policy_id": "violent-threats", "explanation": "threat", "items": [{"content_id": "p-3"}]},
    )
    with database.unit_of_work() as db:
        case = db.execute(sa.select(Case)).scalar_one()
        marking = mark_threat(
            db,
            actor=MOD,
            case=case,
            member_states=None,
            facts="a threat to kill a named person",
            authorities={"EU": "Europol <o2@europol.example>"},
        )
        assert [n.member_state for n in marking.notifications] == ["EU"]


def _run_worker(client, database: Database, mailer: RecordingMailer) -> int:
    return Worker(
        database, build_registry(), services={**worker_services(client.app), "mailer": mailer}
    ).run_until_idle()


def test_preservation_and_disclosure_are_legal_only_and_held(database: Database, clock: FrozenClock, tmp_path) -> None:
    vault = actions.Vault(MasterKeys.from_base64(base64.b64encode(os.urandom(32)).decode()), FileBlobStore(tmp_path))

    vault = Vault(MasterKeys.from_base64(base64.b64encode(os.urandom(32)).decode()), FileBlobStore(tmp_path))
    with database.unit_of_work() as db:
        item = store_item(
            db, actor=SYSTEM, vault=vault, data=b"benign bytes", content_id=None, case_id=None, context={}
        )
        with pytest.raises(PermissionDenied):
            record_preservation(
                db,
                actor=MOD,
                agency="x",
                legal_process="2703(f)",
                reference="r",
                item_ids=[item.id],
                until=clock.now() + timedelta(days=90),
            )
        record_preservation(
            db,
            actor=LEGAL,
            agency="Example Police",
            legal_process="18 U.S.C. 2703(f) letter",
            reference="EP-2026-1",
            item_ids=[item.id],
            until=clock.now() + timedelta(days=180),
        )
        with pytest.raises(InvalidInput):
            record_disclosure(
                db,
                actor=LEGAL,
                agency="Example Police",
                legal_process="none",
                reference="r",
                item_ids=[item.id],
                outcome="refused",
            )
        record_disclosure(
            db,
            actor=LEGAL,
            agency="Example Police",
            legal_process="search warrant 26-W-114",
            reference="EP-2026-2",
            item_ids=[item.id],
            outcome="disclosed account records",
        )
    with database.unit_of_work(write=False) as db:
        hold = db.execute(sa.select(LegalHold)).scalar_one()
        assert hold.kind == "preservation_request" and "2703(f)" in hold.basis


def test_authority_routes_are_restricted_to_their_roles(client, database: Database) -> None:
    make_staff(database, "mo", "moderator")
    make_staff(database, "legal", "legal")
    mo, legal = sign_in(client, "mo"), sign_in(client, "legal")
    body = {
        "agency": "Example Police",
        "legal_process": "2703(f) letter",
        "reference": "r",
        "item_ids": [1],
        "until": "2027-01-01T00:00:00Z",
    }
    assert client.post("/v1/law-enforcement/preservation", headers=mo, json=body).status_code == 403
    assert client.post("/v1/law-enforcement/preservation", headers=legal, json=body).status_code == 404  # no item 1
    assert client.get("/v1/ncmec-reports", headers=mo).status_code == 403
    assert client.get("/v1/ncmec-reports", headers=legal).status_code == 200
