"""Turn presented credentials (an API key) into an Actor with its permissions."""

from __future__ import annotations

import hmac
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.actors import Actor
from staydown.db import now
from staydown.errors import Unauthenticated
from staydown.staff.actions import KEY_RE, hash_api_secret
from staydown.staff.models import ApiClient, StaffUser
from staydown.staff.permissions import permissions_for_roles

# Recording every use would make every read a write; a minute's resolution is enough to see
# which keys are alive.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def authenticate_api_key(db: Session, key: str) -> Actor:
    match = KEY_RE.match(key or "")
    if not match:
        raise Unauthenticated("the API key is malformed: expected 'sd_<prefix>_<secret>'")
    prefix, secret = match.groups()
    client = db.execute(sa.select(ApiClient).where(ApiClient.key_prefix == prefix)).scalar_one_or_none()
    # Compare even when the prefix is unknown, so timing doesn't tell which prefixes exist.
    expected = client.key_hash if client else "0" * 64
    if not hmac.compare_digest(expected, hash_api_secret(secret)) or client is None:
        raise Unauthenticated("the API key is not valid")
    if client.revoked_at is not None:
        raise Unauthenticated("the API key was revoked")
    when = now(db)
    if client.last_used_at is None or when - client.last_used_at > LAST_USED_RESOLUTION:
        client.last_used_at = when
    return Actor.api_client(client.id, client.name, frozenset(client.scopes))


def actor_for_staff(user: StaffUser) -> Actor:
    if not user.is_active:
        raise Unauthenticated("this staff account is deactivated")
    return Actor.staff(user.id, user.username, permissions_for_roles(user.roles))
