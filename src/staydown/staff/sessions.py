"""Staff sign-in: passwords checked with lockout, short-lived bearer sessions stored hashed."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from staydown import audit
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.db import Base, BigIntPK, UTCDateTime, now
from staydown.errors import Unauthenticated
from staydown.staff.auth import actor_for_staff
from staydown.staff.models import StaffUser
from staydown.staff.passwords import verify_password

SESSION_PREFIX = "sds_"
SESSION_LIFETIME = timedelta(hours=12)


class StaffSession(Base):
    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class NewSession:
    token: str
    expires_at: datetime
    actor: Actor


def check_password(db: Session, *, username: str, password: str) -> StaffUser:
    """The password step, in the same work whether or not the name is an account (one argon2
    verification either way) and with the same failure for a wrong name, a wrong password and a
    deactivated account. Repeated failures are slowed by the edge's throttle, by (source, name)
    (staff/throttle.py): no account is ever locked, so nobody can lock its owner out. No session
    yet (a TOTP step may follow)."""
    user = db.execute(sa.select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
    matches = verify_password(user.password_hash if user is not None else None, password)
    if user is None or not user.is_active or not matches:
        raise SignInFailed(user.id if user is not None else None)
    return user


def open_session(
    db: Session, *, user: StaffUser, lifetime: timedelta = SESSION_LIFETIME, details: dict[str, Any] | None = None
) -> NewSession:
    """A session for a person who passed every step; resets the failure count; audited."""
    when = now(db)
    user.failed_logins = 0
    user.locked_until = None
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    session = StaffSession(user_id=user.id, token_hash=_hash(token), created_at=when, expires_at=when + lifetime)
    db.add(session)
    db.flush()
    actor = actor_for_staff(user)
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.STAFF_SIGN_IN,
        subject_type="staff_user",
        subject_id=user.id,
        data={"session_id": session.id, **(details or {})},
    )
    return NewSession(token, session.expires_at, actor)


def sign_in(db: Session, *, username: str, password: str, lifetime: timedelta = SESSION_LIFETIME) -> NewSession:
    """Password sign-in (the review API; the console's first step when the account has no TOTP)."""
    return open_session(db, user=check_password(db, username=username, password=password), lifetime=lifetime)


class SignInFailed(Unauthenticated):
    """A wrong name or password. The edge records the failure in a transaction of its own, since
    the failed request's own transaction is rolled back."""

    def __init__(self, user_id: int | None, *, message: str = "the user name or password is not right") -> None:
        super().__init__(message)
        self.user_id = user_id


def authenticate_session(db: Session, token: str) -> Actor:
    when = now(db)
    row = db.execute(sa.select(StaffSession).where(StaffSession.token_hash == _hash(token))).scalar_one_or_none()
    if row is None or not hmac.compare_digest(row.token_hash, _hash(token)):
        raise Unauthenticated("the session is not valid: sign in again")
    if row.revoked_at is not None or row.expires_at <= when:
        raise Unauthenticated("the session has ended: sign in again")
    user = db.get(StaffUser, row.user_id)
    if user is None:
        raise Unauthenticated("the session is not valid: sign in again")
    return actor_for_staff(user)


def sign_out(db: Session, *, token: str) -> None:
    row = db.execute(sa.select(StaffSession).where(StaffSession.token_hash == _hash(token))).scalar_one_or_none()
    if row is not None and row.revoked_at is None:
        row.revoked_at = now(db)
