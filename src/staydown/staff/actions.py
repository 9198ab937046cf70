"""Create and change staff users and API clients; every change writes its audit event."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.db import now
from staydown.errors import Conflict, InvalidInput, NotFound
from staydown.staff.auth import forget_api_key, hash_api_secret
from staydown.staff.models import ApiClient, StaffUser
from staydown.staff.passwords import hash_password
from staydown.staff.permissions import API_SCOPES, DEFAULT_API_SCOPES, Permission, Role

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,79}$")


def _check_roles(roles: list[str]) -> list[str]:
    if not roles:
        raise InvalidInput("a staff user needs at least one role", details={"roles": [r.value for r in Role]})
    unknown = [r for r in roles if r not in Role.__members__]
    if unknown:
        raise InvalidInput(f"unknown role(s): {', '.join(unknown)}; roles are {', '.join(r.value for r in Role)}")
    return sorted(set(roles))


def create_staff_user(
    db: Session,
    *,
    actor: Actor,
    username: str,
    display_name: str | None = None,
    email: str | None = None,
    roles: list[str],
    password: str | None = None,
) -> StaffUser:
    if not USERNAME_RE.match(username):
        raise InvalidInput(
            "a username is 2-80 characters of lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    clean_roles = _check_roles(roles)
    if db.execute(sa.select(StaffUser.id).where(StaffUser.username == username)).first():
        raise Conflict(f"a staff user named {username!r} already exists")
    when = now(db)
    user = StaffUser(
        username=username,
        display_name=display_name or username,
        email=email,
        roles=clean_roles,
        password_hash=hash_password(password) if password else None,
        is_active=True,
        failed_logins=0,
        created_at=when,
        updated_at=when,
    )
    db.add(user)
    db.flush()
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.STAFF_USER_CREATE,
        subject_type="staff_user",
        subject_id=user.id,
        data={"username": username, "roles": clean_roles, "has_password": bool(password)},
    )
    return user


def set_staff_roles(db: Session, *, actor: Actor, user: StaffUser, roles: list[str]) -> StaffUser:
    clean = _check_roles(roles)
    old = list(user.roles)
    user.roles = clean
    user.updated_at = now(db)
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.STAFF_USER_ROLES,
        subject_type="staff_user",
        subject_id=user.id,
        data={"old": old, "new": clean},
    )
    return user


def set_staff_password(db: Session, *, actor: Actor, user: StaffUser, password: str) -> StaffUser:
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.updated_at = now(db)
    audit.record(
        db, actor=actor, tag=AuditTag.STAFF_USER_PASSWORD, subject_type="staff_user", subject_id=user.id, data={}
    )
    return user


def deactivate_staff_user(db: Session, *, actor: Actor, user: StaffUser, reason: str) -> StaffUser:
    if not reason.strip():
        raise InvalidInput("deactivating a staff user needs a reason")
    user.is_active = False
    user.updated_at = now(db)
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.STAFF_USER_DEACTIVATE,
        subject_type="staff_user",
        subject_id=user.id,
        data={"reason": reason},
    )
    return user


@dataclass(frozen=True)
class NewApiKey:
    client: ApiClient
    key: str  # shown once; only its hash is stored


def create_api_client(db: Session, *, actor: Actor, name: str, scopes: list[str] | None = None) -> NewApiKey:
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("an API client needs a name of 1-120 characters")
    if scopes:
        unknown = [s for s in scopes if s not in {p.value for p in API_SCOPES}]
        if unknown:
            raise InvalidInput(
                f"scope(s) not grantable to an API client: {', '.join(unknown)}",
                details={"grantable": sorted(p.value for p in API_SCOPES)},
            )
        granted = sorted(set(scopes))
    else:
        granted = sorted(p.value for p in DEFAULT_API_SCOPES)
    prefix = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789") for _ in range(12))
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        name=name,
        key_prefix=prefix,
        key_hash=hash_api_secret(secret),
        scopes=granted,
        created_by=actor.ref,
        created_at=now(db),
    )
    db.add(client)
    db.flush()
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.API_CLIENT_CREATE,
        subject_type="api_client",
        subject_id=client.id,
        data={"name": name, "scopes": granted, "key_prefix": prefix},
    )
    return NewApiKey(client=client, key=f"sd_{prefix}_{secret}")


def revoke_api_client(db: Session, *, actor: Actor, client: ApiClient, reason: str = "") -> ApiClient:
    if client.revoked_at is not None:
        raise Conflict(f"API client {client.id} was already revoked at {client.revoked_at.isoformat()}")
    client.revoked_at = now(db)
    # Forgotten now and again once the revocation is committed (a request in between may have
    # remembered the key as it was).
    forget_api_key(client.key_prefix)
    db.info.setdefault("after_commit", []).append(lambda prefix=client.key_prefix: forget_api_key(prefix))
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.API_CLIENT_REVOKE,
        subject_type="api_client",
        subject_id=client.id,
        data={"reason": reason, "key_prefix": client.key_prefix},
    )
    return client


def api_client_by_ref(db: Session, ref: str) -> ApiClient:
    """Find a client by numeric id or key prefix (what an operator sees)."""
    stmt = sa.select(ApiClient)
    stmt = stmt.where(ApiClient.id == int(ref)) if ref.isdigit() else stmt.where(ApiClient.key_prefix == ref)
    found = db.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no API client {ref!r}")
    return found


def staff_user_by_username(db: Session, username: str) -> StaffUser:
    found = db.execute(sa.select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no staff user {username!r}")
    return found


__all__ = ["NewApiKey", "Permission"]
