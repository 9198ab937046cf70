"""Staff users, roles and API keys: every change audited, keys shown once and stored hashed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from staydown import audit
from staydown.actors import SYSTEM, ActorKind
from staydown.audit.models import AuditEvent
from staydown.db import Database
from staydown.errors import Conflict, InvalidInput, Unauthenticated
from staydown.staff import actions
from staydown.staff.auth import actor_for_staff, authenticate_api_key
from staydown.staff.models import ApiClient, StaffUser
from staydown.staff.passwords import verify_password
from staydown.staff.permissions import DEFAULT_API_SCOPES, ROLE_PERMISSIONS, Permission, Role


def _events(db, tag: str) -> list[AuditEvent]:
    return list(db.execute(sa.select(AuditEvent).where(AuditEvent.tag == tag)).scalars())


def test_create_staff_user_writes_audit_event(database: Database) -> None:
    with database.unit_of_work() as db:
        user = actions.create_staff_user(
            db, actor=SYSTEM, username="ana", roles=["moderator", "child_safety"], password="correct horse battery"
        )
    with database.unit_of_work(write=False) as db:
        (event,) = _events(db, "staff:user:create")
        assert event.subject_type == "staff_user" and event.subject_id == str(user.id)
        assert event.data == {"username": "ana", "roles": ["child_safety", "moderator"], "has_password": True}
        stored = db.get_one(StaffUser, user.id)
        assert stored.password_hash is not None and stored.password_hash.startswith("$argon2id$")
        assert verify_password(stored.password_hash, "correct horse battery")
        assert not verify_password(stored.password_hash, "wrong horse battery")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"username": "Bad Name", "roles": ["moderator"]}, "username"),
        ({"username": "bob", "roles": []}, "at least one role"),
        ({"username": "bob", "roles": ["overlord"]}, "unknown role"),
        ({"username": "bob", "roles": ["moderator"], "password": "short"}, "at least 12"),
    ],
)
def test_create_staff_user_rejects_bad_input_with_reason(database: Database, kwargs: dict, message: str) -> None:
    with database.unit_of_work() as db, pytest.raises(InvalidInput, match=message):
        actions.create_staff_user(db, actor=SYSTEM, **kwargs)


def test_duplicate_username_conflicts(database: Database) -> None:
    with database.unit_of_work() as db:
        actions.create_staff_user(db, actor=SYSTEM, username="ana", roles=["moderator"])
    with database.unit_of_work() as db, pytest.raises(Conflict):
        actions.create_staff_user(db, actor=SYSTEM, username="ana", roles=["moderator"])


def test_role_change_and_deactivation_are_audited(database: Database) -> None:
    with database.unit_of_work() as db:
        user = actions.create_staff_user(db, actor=SYSTEM, username="ana", roles=["moderator"])
        actions.set_staff_roles(db, actor=SYSTEM, user=user, roles=["senior_moderator"])
        actions.deactivate_staff_user(db, actor=SYSTEM, user=user, reason="left the team")
    with database.unit_of_work(write=False) as db:
        (roles,) = _events(db, "staff:user:roles")
        assert roles.data == {"old": ["moderator"], "new": ["senior_moderator"]}
        (deact,) = _events(db, "staff:user:deactivate")
        assert deact.data == {"reason": "left the team"}
        with pytest.raises(Unauthenticated):
            actor_for_staff(db.get_one(StaffUser, user.id))
        assert audit.verify(db).ok


def test_role_permissions_keep_vault_access_minimal() -> None:
    """CSAM-5/CSAM-6: report contents and the vault go only to child safety and legal."""
    holders = {role for role, perms in ROLE_PERMISSIONS.items() if Permission.EVIDENCE_ACCESS in perms}
    assert holders == {Role.child_safety, Role.legal}
    assert Permission.CASES_SECOND_REVIEW not in ROLE_PERMISSIONS[Role.moderator]
    assert Permission.CASES_SECOND_REVIEW in ROLE_PERMISSIONS[Role.senior_moderator]


def test_api_key_is_shown_once_and_stored_hashed(database: Database) -> None:
    with database.unit_of_work() as db:
        new = actions.create_api_client(db, actor=SYSTEM, name="forum")
    assert new.key.startswith("sd_")
    with database.unit_of_work(write=False) as db:
        client = db.get_one(ApiClient, new.client.id)
        secret = new.key.split("_", 2)[2]
        row_text = " ".join(str(v) for v in db.execute(sa.select(ApiClient.__table__)).one())
        assert secret not in row_text
        assert sorted(client.scopes) == sorted(p.value for p in DEFAULT_API_SCOPES)
        (event,) = _events(db, "staff:api_client:create")
        assert secret not in str(event.data)
    with database.unit_of_work() as db:
        actor = authenticate_api_key(db, new.key)
        assert actor.kind is ActorKind.api_client and Permission.SCAN.value in actor.permissions


def test_api_key_scopes_are_checked(database: Database) -> None:
    with database.unit_of_work() as db:
        new = actions.create_api_client(db, actor=SYSTEM, name="auditor", scopes=["audit:read"])
        assert new.client.scopes == ["audit:read"]
        with pytest.raises(InvalidInput, match="not grantable"):
            actions.create_api_client(db, actor=SYSTEM, name="x", scopes=["evidence:access"])


def test_wrong_malformed_and_revoked_keys_are_refused(database: Database) -> None:
    with database.unit_of_work() as db:
        new = actions.create_api_client(db, actor=SYSTEM, name="forum")
    prefix = new.key.split("_")[1]
    with database.unit_of_work() as db:
        with pytest.raises(Unauthenticated, match="malformed"):
            authenticate_api_key(db, "hello")
        with pytest.raises(Unauthenticated, match="not valid"):
            authenticate_api_key(db, f"sd_{prefix}_{'A' * 43}")
    with database.unit_of_work() as db:
        client = actions.api_client_by_ref(db, prefix)
        actions.revoke_api_client(db, actor=SYSTEM, client=client, reason="rotated")
    with database.unit_of_work() as db:
        with pytest.raises(Unauthenticated, match="revoked"):
            authenticate_api_key(db, new.key)
        with pytest.raises(Conflict):
            actions.revoke_api_client(db, actor=SYSTEM, client=actions.api_client_by_ref(db, prefix))
        (event,) = _events(db, "staff:api_client:revoke")
        assert event.data == {"reason": "rotated", "key_prefix": prefix}
