"""Turn presented credentials (an API key) into an Actor with its permissions."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.actors import Actor
from staydown.db import now
from staydown.errors import Unauthenticated
from staydown.staff.models import ApiClient, StaffUser
from staydown.staff.permissions import permissions_for_roles

KEY_RE = re.compile(r"^sd_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$")

# Recording every use would make every read a write; a minute's resolution is enough to see
# which keys are alive.
LAST_USED_RESOLUTION = timedelta(minutes=1)


# A key that was just used is remembered for a few seconds, so that a burst of requests (a
# platform's notices) does not read the same row for each; a revocation in this process takes
# effect at its commit, in other processes within CACHE_SECONDS.
CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class _Known:
    expires: float
    client_id: int
    name: str
    scopes: frozenset[str]
    key_hash: str
    last_used_at: datetime | None


_known: dict[str, _Known] = {}
_known_lock = threading.Lock()


def hash_api_secret(secret: str) -> str:
    # API secrets are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def forget_api_key(prefix: str) -> None:
    with _known_lock:
        _known.pop(prefix, None)


def remembered_api_key(key: str, when: datetime) -> Actor | None:
    """The caller of a key used in the last few seconds, without touching the database (None: ask
    `authenticate_api_key`). Its last use must be recorded within `LAST_USED_RESOLUTION` of `when`."""
    match = KEY_RE.match(key or "")
    if not match:
        return None
    prefix, secret = match.groups()
    known = _known.get(prefix)
    if (
        known is not None
        and time.monotonic() < known.expires
        and hmac.compare_digest(known.key_hash, hash_api_secret(secret))
        and known.last_used_at is not None
        and timedelta(0) <= when - known.last_used_at <= LAST_USED_RESOLUTION
    ):
        return Actor.api_client(known.client_id, known.name, known.scopes)
    return None


def authenticate_api_key(db: Session, key: str) -> Actor:
    match = KEY_RE.match(key or "")
    if not match:
        raise Unauthenticated("the API key is malformed: expected 'sd_<prefix>_<secret>'")
    prefix, secret = match.groups()
    hashed = hash_api_secret(secret)
    when = now(db)
    remembered = remembered_api_key(key, when)
    if remembered is not None:
        return remembered
    client = db.execute(sa.select(ApiClient).where(ApiClient.key_prefix == prefix)).scalar_one_or_none()
    # Compare even when the prefix is unknown, so timing doesn't tell which prefixes exist.
    expected = client.key_hash if client else "0" * 64
    if not hmac.compare_digest(expected, hashed) or client is None:
        raise Unauthenticated("the API key is not valid")
    if client.revoked_at is not None:
        forget_api_key(prefix)
        raise Unauthenticated("the API key was revoked")
    if client.last_used_at is None or when - client.last_used_at > LAST_USED_RESOLUTION:
        client.last_used_at = when
    with _known_lock:
        _known[prefix] = _Known(
            time.monotonic() + CACHE_SECONDS,
            client.id,
            client.name,
            frozenset(client.scopes),
            client.key_hash,
            client.last_used_at,
        )
    return Actor.api_client(client.id, client.name, frozenset(client.scopes))


def actor_for_staff(user: StaffUser) -> Actor:
    if not user.is_active:
        raise Unauthenticated("this staff account is deactivated")
    return Actor.staff(user.id, user.username, permissions_for_roles(user.roles))
