"""The evidence vault: encrypted at rest, readable only by the roles that need it and only with a
stated purpose, held as long as the law says, purged when nothing holds it, destroyed by two people."""

from __future__ import annotations

import base64
import os
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from staydown.actors import SYSTEM, Actor
from staydown.audit.models import AuditEvent
from staydown.authorities.models import LawEnforcementRequest, NcmecReport, NcmecReportFile
from staydown.clock import FrozenClock
from staydown.db import Database
from staydown.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation
from staydown.evidence import actions
from staydown.evidence.blobs import FileBlobStore
from staydown.evidence.crypto import MasterKeys, VaultKeyError
from staydown.evidence.models import EvidenceItem, LegalHold
from staydown.evidence.vault import Vault, place_hold, read_item, store_item
from staydown.flows import authorities as authority_flows
from staydown.staff.permissions import permissions_for_roles
from tests.authorities.test_ncmec_filing import _case_with_evidence
from tests.helpers import auth, make_staff, sign_in
from tests.imagegen import jpeg

CS = Actor.staff(1, "cs", permissions_for_roles(["child_safety"]))
LEGAL = Actor.staff(2, "legal", permissions_for_roles(["legal"]))
LEGAL2 = Actor.staff(3, "legal2", permissions_for_roles(["legal"]))
ADMIN = Actor.staff(4, "admin", permissions_for_roles(["admin"]))
MOD = Actor.staff(5, "mod", permissions_for_roles(["moderator"]))


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def vault(tmp_path: Path) -> Vault:
    return Vault(MasterKeys.from_base64(_key()), FileBlobStore(tmp_path / "vault"), timedelta(days=90))


def _store(database: Database, vault: Vault, data: bytes) -> int:
    with database.unit_of_work() as db:
        return store_item(
            db,
            actor=SYSTEM,
            vault=vault,
            data=data,
            content_id=None,
            case_id=None,
            context={"account_id": "acct-1", "ip_capture": [{"ip": "203.0.113.5"}]},
        ).id


def test_stored_blob_holds_no_plaintext(database: Database, vault: Vault, tmp_path: Path) -> None:
    """No plaintext of a stored item ever touches the disk: scan every byte the vault wrote."""
    data = jpeg(7)
    _store(database, vault, data)
    written = b"".join(p.read_bytes() for p in (tmp_path / "vault").rglob("*") if p.is_file())
    assert written and len(written) >= len(data)
    for start in range(0, len(data) - 32, 97):
        assert data[start : start + 32] not in written
    assert b"JFIF" not in written and b"\xff\xd8\xff" not in written


def test_only_the_right_roles_read_and_every_read_is_audited(database: Database, vault: Vault) -> None:
    """CSAM-5, CSAM-6."""
    data = jpeg(8)
    item_id = _store(database, vault, data)
    with database.unit_of_work() as db:
        item = db.get_one(EvidenceItem, item_id)
        for outsider in (ADMIN, MOD):
            with pytest.raises(PermissionDenied):
                read_item(db, actor=outsider, vault=vault, item=item, purpose="just curious about it")
        with pytest.raises(InvalidInput, match="purpose"):
            read_item(db, actor=CS, vault=vault, item=item, purpose="")
        assert read_item(db, actor=CS, vault=vault, item=item, purpose="confirming the NCMEC report") == data
        assert item.first_human_view_at is not None
    with database.unit_of_work(write=False) as db:
        views = db.execute(sa.select(AuditEvent).where(AuditEvent.tag == "evidence:item:view")).scalars().all()
        assert [(v.actor_id, v.data["purpose"]) for v in views] == [("1", "confirming the NCMEC report")]


def test_retention_purges_unheld_items_and_never_held_ones(
    database: Database, vault: Vault, clock: FrozenClock
) -> None:
    """CSAM-4: the one-year hold from an NCMEC report is untouchable by retention."""
    kept = _store(database, vault, jpeg(9))
    gone = _store(database, vault, jpeg(10))
    with database.unit_of_work() as db:
        hold = place_hold(
            db,
            actor=SYSTEM,
            item=db.get_one(EvidenceItem, kept),
            kind="ncmec_report",
            basis="CyberTipline report 123 finished",
            until=clock.now() + timedelta(days=365),
        )
        hold_id = hold.id
    clock.advance(days=91)
    with database.unit_of_work() as db:
        assert actions.purge_expired(db, actor=SYSTEM, vault=vault) == 1
    with database.unit_of_work() as db:
        assert db.get_one(EvidenceItem, gone).state == "purged" and db.get_one(EvidenceItem, gone).wrapped_key is None
        assert db.get_one(EvidenceItem, kept).state == "stored"

        with pytest.raises(RuleViolation, match="one-year hold"):
            actions.release_hold(db, actor=LEGAL, hold=db.get_one(LegalHold, hold_id), reason="no longer needed")
    clock.advance(days=300)
    with database.unit_of_work() as db:
        assert actions.purge_expired(db, actor=SYSTEM, vault=vault) == 1  # the hold ran out


def test_destruction_needs_two_people(database: Database, vault: Vault) -> None:
    """CSAM-6: destroyed at law enforcement's request, by two people, on the record."""
    item_id = _store(database, vault, jpeg(11))
    with database.unit_of_work() as db:
        item = db.get_one(EvidenceItem, item_id)
        with pytest.raises(PermissionDenied):
            actions.request_destruction(db, actor=CS, item=item, basis="x" * 30)
        request = actions.request_destruction(
            db, actor=LEGAL, item=item, basis="Agency X asked on 2026-06-01, case ref 77, to destroy"
        )
        with pytest.raises(RuleViolation, match="two people"):
            actions.approve_destruction(db, actor=LEGAL, vault=vault, request=request)
        actions.approve_destruction(db, actor=LEGAL2, vault=vault, request=request)
        assert item.state == "destroyed" and item.blob_key is None
        with pytest.raises(Conflict):
            read_item(db, actor=CS, vault=vault, item=item, purpose="after destruction")


def test_key_rotation_rewraps_and_old_key_can_go(database: Database, tmp_path: Path) -> None:
    old, new = _key(), _key()
    store = FileBlobStore(tmp_path / "vault")
    v1 = Vault(MasterKeys.from_base64(old), store)
    data = jpeg(12)
    item_id = _store(database, v1, data)
    v2 = Vault(MasterKeys.from_base64(new, [old]), store)
    with database.unit_of_work() as db:
        assert actions.rotate_master_key(db, actor=SYSTEM, vault=v2) == 1
    v3 = Vault(MasterKeys.from_base64(new), store)
    with database.unit_of_work() as db:
        assert (
            read_item(db, actor=CS, vault=v3, item=db.get_one(EvidenceItem, item_id), purpose="after rotation") == data
        )
        with pytest.raises(VaultKeyError):
            read_item(db, actor=CS, vault=v1, item=db.get_one(EvidenceItem, item_id), purpose="with the old key")


def test_platform_deposits_evidence_and_staff_read_it_over_http(client, database: Database, api_key: str) -> None:
    data = jpeg(13)
    r = client.post(
        "/v1/evidence",
        headers=auth(api_key),
        files={"file": ("a.jpg", data, "image/jpeg")},
        data={
            "content_id": "post-1",
            "account_id": "acct-1",
            "context": '{"ip_capture": [{"ip": "203.0.113.9", "event": "Upload"}]}',
        },
    )
    assert r.status_code == 201, r.text
    item_id = r.json()["id"]
    r = client.post(
        "/v1/evidence",
        headers=auth(api_key),
        files={"file": ("a.jpg", data, "image/jpeg")},
        data={"content_id": "post-1", "context": "{nope"},
    )
    assert r.status_code == 422 and "not JSON" in r.json()["message"]
    make_staff(database, "cs", "child_safety")
    make_staff(database, "mo", "moderator")
    assert client.get(f"/v1/evidence/{item_id}", headers=sign_in(client, "mo")).status_code == 403
    cs = sign_in(client, "cs")
    r = client.get(f"/v1/evidence/{item_id}/content", headers=cs, params={"purpose": "preparing the report"})
    assert r.status_code == 200 and r.content == data and r.headers["cache-control"] == "no-store"
    assert client.get(f"/v1/evidence/{item_id}/content", headers=cs).status_code == 422  # no purpose


def test_csam4_a_held_item_is_not_destroyed_until_its_hold_ends(
    database: Database, vault: Vault, clock: FrozenClock
) -> None:
    """CSAM-4/6: preservation comes first. Destruction is refused while a hold is in force, naming
    the hold; once the hold is released on the record, two people can destroy it."""

    item_id = _store(database, vault, jpeg(13))
    with database.unit_of_work() as db:
        item = db.get_one(EvidenceItem, item_id)
        request = actions.request_destruction(
            db, actor=LEGAL, item=item, basis="Agency X asked on 2026-06-01, case ref 78, to destroy"
        )
        request_id = request.id
        hold = place_hold(
            db,
            actor=LEGAL,
            item=item,
            kind="preservation_request",
            basis="preservation letter 2026-06-01",
            until=clock.now() + timedelta(days=90),
        )
        hold_id = hold.id
    with database.unit_of_work() as db:
        with pytest.raises(RuleViolation, match=f"hold {hold_id}"):
            actions.approve_destruction(
                db, actor=LEGAL2, vault=vault, request=db.get_one(actions.DestructionRequest, request_id)
            )
        with pytest.raises(RuleViolation, match="legal hold"):
            actions.request_destruction(
                db,
                actor=LEGAL,
                item=db.get_one(EvidenceItem, item_id),
                basis="a second request while the hold is in force, ref 79",
            )
    with database.unit_of_work() as db:
        actions.release_hold(db, actor=LEGAL, hold=db.get_one(LegalHold, hold_id), reason="agency withdrew the letter")
    with database.unit_of_work() as db:
        item = actions.approve_destruction(
            db, actor=LEGAL2, vault=vault, request=db.get_one(actions.DestructionRequest, request_id)
        )
        assert item.state == "destroyed"


def test_destruction_rolled_back_leaves_the_ciphertext(database: Database, vault: Vault) -> None:
    """The blob is deleted only after the row saying "destroyed" commits: a failed transaction
    leaves the item stored and readable, not a "stored" row with its data gone."""
    item_id = _store(database, vault, jpeg(14))
    with database.unit_of_work() as db:
        request_id = actions.request_destruction(
            db,
            actor=LEGAL,
            item=db.get_one(EvidenceItem, item_id),
            basis="Agency X asked on 2026-06-01, case ref 80, to destroy",
        ).id
    with pytest.raises(RuntimeError):
        with database.unit_of_work() as db:
            actions.approve_destruction(
                db, actor=LEGAL2, vault=vault, request=db.get_one(actions.DestructionRequest, request_id)
            )
            raise RuntimeError("the transaction failed after the approval")
    with database.unit_of_work() as db:
        item = db.get_one(EvidenceItem, item_id)
        assert item.state == "stored"
        assert read_item(db, actor=CS, vault=vault, item=item, purpose="after a failed destruction") == jpeg(14)
        blob_key = item.blob_key
        assert blob_key is not None
    with database.unit_of_work() as db:
        actions.approve_destruction(
            db, actor=LEGAL2, vault=vault, request=db.get_one(actions.DestructionRequest, request_id)
        )
        assert vault.store.get(blob_key)  # still there until the commit
    with pytest.raises(FileNotFoundError):
        vault.store.get(blob_key)


def test_holds_are_released_over_http_on_the_record(client, database: Database) -> None:
    make_staff(database, "lee", "legal")
    make_staff(database, "mo2", "moderator")
    with database.unit_of_work() as db:
        item_id = store_item(
            db, actor=SYSTEM, vault=client.app.state.vault, data=jpeg(15), content_id=None, case_id=None, context={}
        ).id
    headers = sign_in(client, "lee")
    r = client.post(
        f"/v1/evidence/{item_id}/holds",
        headers=headers,
        json={"kind": "preservation_request", "basis": "letter of 2026-06-01", "until": "2026-12-01T00:00:00Z"},
    )
    assert r.status_code == 201, r.text
    hold_id = r.json()["id"]
    assert (
        client.post(
            f"/v1/holds/{hold_id}/release", headers=sign_in(client, "mo2"), json={"reason": "not mine to release"}
        ).status_code
        == 403
    )
    r = client.post(f"/v1/holds/{hold_id}/release", headers=headers, json={"reason": "letter withdrawn"})
    assert r.status_code == 200 and r.json()["released_at"]
    assert client.post(f"/v1/holds/{hold_id}/release", headers=headers, json={"reason": "again"}).status_code == 409
    with database.unit_of_work(write=False) as db:
        assert db.get_one(LegalHold, hold_id).released_at is not None


# -- CSAM-4 against CSAM-6: a law-enforcement request to destroy and the report's one-year hold ------


def _reported_item(database: Database, vault: Vault, clock: FrozenClock, seed: int) -> tuple[int, int]:
    """An item that went into a finished CyberTipline report: the one-year hold that follows it."""
    item_id = _store(database, vault, jpeg(seed))
    with database.unit_of_work() as db:
        hold = place_hold(
            db,
            actor=SYSTEM,
            item=db.get_one(EvidenceItem, item_id),
            kind="ncmec_report",
            starts_at=clock.now(),
            until=clock.now() + timedelta(days=365),
            basis="CyberTipline report 100000123 (18 U.S.C. 2258A(h))",
        )
        return item_id, hold.id


def _events(database: Database, tag: str) -> list[AuditEvent]:
    with database.unit_of_work(write=False) as db:
        return list(db.execute(sa.select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq)).scalars())


def test_csam4_csam6_a_law_enforcement_request_to_destroy_ends_the_report_hold_on_the_record(
    database: Database, vault: Vault, clock: FrozenClock
) -> None:
    """18 U.S.C. 2258B(c)(2): the depiction is permanently destroyed upon a law-enforcement
    request, although the finished report's deemed preservation request (2258A(h)(1)) has most of
    its year to run, and the provider's own voluntary hold (2258A(h)(5)) too. Still two people,
    and each ended hold is its own audit event naming the agency and the law."""

    item_id, report_hold = _reported_item(database, vault, clock, 21)
    with database.unit_of_work() as db:
        voluntary = place_hold(
            db,
            actor=LEGAL,
            item=db.get_one(EvidenceItem, item_id),
            kind="voluntary",
            basis="kept longer to find re-uploads",
            until=clock.now() + timedelta(days=900),
        ).id
    clock.advance(days=30)
    with database.unit_of_work() as db:
        with pytest.raises(RuleViolation, match="one-year hold"):
            actions.release_hold(db, actor=LEGAL, hold=db.get_one(LegalHold, report_hold), reason="asked to destroy")
        request = actions.request_destruction(
            db,
            actor=LEGAL,
            item=db.get_one(EvidenceItem, item_id),
            agency="Example County Sheriff's Office",
            reference="ECSO-2026-0042",
            basis="Detective's letter of 2026-07-01 asks that the image be destroyed",
        )
        request_id = request.id
    (asked,) = _events(database, "evidence:destruction:request")
    assert asked.data["agency"] == "Example County Sheriff's Office"
    assert sorted(k for _, k in asked.data["will_end_holds"]) == ["ncmec_report", "voluntary"]
    with database.unit_of_work() as db:
        with pytest.raises(RuleViolation, match="two people"):
            actions.approve_destruction(
                db, actor=LEGAL, vault=vault, request=db.get_one(actions.DestructionRequest, request_id)
            )
        item = actions.approve_destruction(
            db, actor=LEGAL2, vault=vault, request=db.get_one(actions.DestructionRequest, request_id)
        )
        assert item.state == "destroyed" and item.wrapped_key is None
    with database.unit_of_work(write=False) as db:
        assert all(db.get_one(LegalHold, h).released_at is not None for h in (report_hold, voluntary))
    ended = _events(database, "evidence:hold:override")
    assert sorted((e.data["hold_id"], e.data["kind"]) for e in ended) == [
        (report_hold, "ncmec_report"),
        (voluntary, "voluntary"),
    ]
    assert all(e.data["law"] == "18 U.S.C. 2258B(c)(2)" and e.data["reference"] == "ECSO-2026-0042" for e in ended)
    assert all(e.actor_id == "3" for e in ended)  # the second person
    (done,) = _events(database, "evidence:destruction:execute")
    assert sorted(done.data["ended_holds"]) == sorted([report_hold, voluntary])


def test_csam4_another_agencys_preservation_request_is_not_ended_by_a_request_to_destroy(
    database: Database, vault: Vault, clock: FrozenClock
) -> None:
    """2258A(h)(4) leaves 2703 untouched: a preservation request (2703(f)) from another agency
    stands, and the destruction waits until legal releases it on the record (withdrawn, or run
    out). The same holds for a preservation request that arrives between request and approval."""

    item_id, report_hold = _reported_item(database, vault, clock, 22)
    with database.unit_of_work() as db:
        other = place_hold(
            db,
            actor=LEGAL,
            item=db.get_one(EvidenceItem, item_id),
            kind="preservation_request",
            basis="State Police: 18 U.S.C. 2703(f) letter SP-77",
            until=clock.now() + timedelta(days=90),
        ).id
    with database.unit_of_work() as db, pytest.raises(RuleViolation) as refused:
        actions.request_destruction(
            db,
            actor=LEGAL,
            item=db.get_one(EvidenceItem, item_id),
            agency="County Sheriff",
            basis="Sheriff's letter of 2026-07-01 asks that the image be destroyed",
        )
    message = str(refused.value)
    assert f"hold {other} (preservation_request)" in message and "2703(f)" in message
    assert f"hold {report_hold}" not in message  # that one would yield
    with database.unit_of_work() as db:
        actions.release_hold(db, actor=LEGAL, hold=db.get_one(LegalHold, other), reason="State Police withdrew SP-77")
        request_id = actions.request_destruction(
            db,
            actor=LEGAL,
            item=db.get_one(EvidenceItem, item_id),
            agency="County Sheriff",
            basis="Sheriff's letter of 2026-07-01 asks that the image be destroyed",
        ).id
    with database.unit_of_work() as db:
        late = place_hold(
            db,
            actor=LEGAL,
            item=db.get_one(EvidenceItem, item_id),
            kind="preservation_request",
            basis="Federal agency: 2703(f) letter F-9",
            until=clock.now() + timedelta(days=90),
        ).id
    with database.unit_of_work() as db, pytest.raises(RuleViolation, match=f"hold {late}"):
        actions.approve_destruction(
            db, actor=LEGAL2, vault=vault, request=db.get_one(actions.DestructionRequest, request_id)
        )
    with database.unit_of_work(write=False) as db:
        assert db.get_one(EvidenceItem, item_id).state == "stored"
        assert db.get_one(LegalHold, report_hold).released_at is None  # nothing ended while refused


def test_csam4_a_destruction_request_that_names_no_agency_ends_no_hold(
    database: Database, vault: Vault, clock: FrozenClock
) -> None:
    item_id, report_hold = _reported_item(database, vault, clock, 23)
    with database.unit_of_work() as db, pytest.raises(RuleViolation, match=f"hold {report_hold} \\(ncmec_report\\)"):
        actions.request_destruction(
            db,
            actor=LEGAL,
            item=db.get_one(EvidenceItem, item_id),
            basis="someone asked on the phone that this be destroyed",
        )


def test_csam6_law_enforcement_destruction_over_http_is_registered_and_names_identical_copies(
    client, database: Database, clock: FrozenClock
) -> None:
    """REQ CSAM-6: recorded by legal with the agency and its reference, kept in the register of
    law-enforcement requests, and "any such visual depiction": other vault copies of the same
    bytes are named so they are destroyed too."""

    make_staff(database, "lee", "legal")
    make_staff(database, "lou", "legal")
    vault = client.app.state.vault
    data = jpeg(24)
    with database.unit_of_work() as db:
        first = store_item(db, actor=SYSTEM, vault=vault, data=data, content_id=None, case_id=None, context={})
        copy = store_item(db, actor=SYSTEM, vault=vault, data=data, content_id=None, case_id=None, context={})
        place_hold(
            db,
            actor=SYSTEM,
            item=first,
            kind="ncmec_report",
            basis="CyberTipline report 7",
            until=clock.now() + timedelta(days=365),
        )
        first_id, copy_id = first.id, copy.id
    lee, lou = sign_in(client, "lee"), sign_in(client, "lou")
    body = {
        "basis": "Letter of 2026-07-01 from the detective asks to destroy the image",
        "agency": "Example County Sheriff's Office",
        "reference": "ECSO-2026-0042",
    }
    r = client.post(f"/v1/evidence/{first_id}/destruction-requests", headers=lee, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["law_enforcement"] is True and r.json()["identical_items_still_stored"] == [copy_id]
    assert (
        client.post(
            f"/v1/evidence/{first_id}/destruction-requests", headers=lee, json={**body, "agency": "x"}
        ).status_code
        == 422
    )
    r = client.post(f"/v1/destruction-requests/{r.json()['id']}/approve", headers=lou)
    assert r.status_code == 200 and r.json()["state"] == "destroyed"
    with database.unit_of_work(write=False) as db:
        (le,) = db.execute(sa.select(LawEnforcementRequest)).scalars().all()
        assert (le.kind, le.agency, le.reference, le.item_ids) == (
            "destruction",
            body["agency"],
            body["reference"],
            [first_id],
        )


def test_csam6_a_file_of_an_unfinished_report_is_not_destroyed(client, database: Database) -> None:
    """The duty to report comes first: an item in a report not yet finished is not destroyed
    (2258B(c)(2) speaks of depictions already provided under 2258A)."""

    case_id = _case_with_evidence(client, database)
    with database.unit_of_work() as db:
        item = db.execute(sa.select(EvidenceItem).order_by(EvidenceItem.id)).scalars().first()
        assert item is not None
        report = NcmecReport(
            case_id=case_id,
            state="confirmed",
            plan={},
            escalate=False,
            created_at=item.created_at,
            created_by="staff:1",
        )
        db.add(report)
        db.flush()
        db.add(NcmecReportFile(report_id=report.id, evidence_item_id=item.id, viewed_by_esp=False))
        db.flush()
        with pytest.raises(RuleViolation, match=f"CyberTipline report {report.id}, which is not finished"):
            authority_flows.record_destruction_request(
                db,
                actor=LEGAL,
                item=item,
                agency="County Sheriff",
                basis="Sheriff's letter of 2026-07-01 asks to destroy it",
            )


def test_uk6_the_hold_after_an_nca_report_cannot_be_released_early(
    database: Database, clock: FrozenClock, vault: Vault
) -> None:
    """REQ UK-6, CSAM-4: what went into a report to the NCA is kept for the period the regulations
    set; a person cannot end that hold early, as with NCMEC's year."""

    with database.unit_of_work() as db:
        item = store_item(
            db, actor=SYSTEM, vault=vault, data=b"benign bytes", content_id=None, case_id=None, context={}
        )
        hold = place_hold(
            db,
            actor=SYSTEM,
            item=item,
            kind="nca_report",
            basis="NCA report R-1 submitted",
            until=clock.now() + timedelta(days=365),
        )
        hold_id = hold.id
    with database.unit_of_work() as db, pytest.raises(RuleViolation, match="National Crime Agency"):
        actions.release_hold(db, actor=LEGAL, hold=db.get_one(LegalHold, hold_id), reason="no longer needed")
