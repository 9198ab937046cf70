"""TOTP (RFC 6238) as a second sign-in factor for staff: codes, the once-only step record, the check.

Used by the console's sign-in and by the review API's `POST /v1/auth/sign-in`, so that turning TOTP
on protects every way in, not only the web page."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from staydown import audit
from staydown.audit import AuditTag
from staydown.db import Base, UTCDateTime, now
from staydown.errors import InvalidInput
from staydown.staff.models import StaffUser
from staydown.staff.sessions import StaffSession

if TYPE_CHECKING:
    from staydown.actors import Actor

TOTP_STEP = 30
TOTP_DIGITS = 6
TOTP_ISSUER = "staydown"


def new_totp_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def hotp(secret: str, counter: int) -> str:
    digest = hmac.new(_key(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**TOTP_DIGITS).zfill(TOTP_DIGITS)


def totp_step(at: datetime) -> int:
    return int(at.timestamp()) // TOTP_STEP


def totp_now(secret: str, at: datetime) -> str:
    return hotp(secret, totp_step(at))


def match_totp(secret: str, code: str, at: datetime, *, after_step: int) -> int | None:
    """The step a code belongs to, within one step either side of now (clock drift), and only
    if it is later than the last step used: a code works once."""
    code = code.strip().replace(" ", "")
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return None
    current = totp_step(at)
    for step in (current - 1, current, current + 1):
        if step > after_step and hmac.compare_digest(hotp(secret, step), code):
            return step
    return None


def otpauth_uri(secret: str, username: str) -> str:
    label = quote(f"{TOTP_ISSUER}:{username}", safe="")
    return f"otpauth://totp/{label}?secret={secret}&issuer={TOTP_ISSUER}&algorithm=SHA1&digits=6&period=30"


class TotpState(Base):
    """The last TOTP time step a staff user signed in with: a code is accepted once (RFC 6238
    section 5.2), so a code seen over a shoulder or replayed from a log is refused."""

    __tablename__ = "staff_totp_state"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("staff_users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    last_step: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def reset_totp(db: Session, *, actor: Actor, user: StaffUser, reason: str) -> StaffUser:
    """An administrator turns a person's TOTP off (a lost device), on the record; they sign in with
    the password alone until they enrol again. Ends their sessions: whoever holds the old device
    may be the reason."""
    if len(reason.strip()) < 5:
        raise InvalidInput("say why two-step sign-in is being reset (at least 5 characters)")
    if not user.totp_secret:
        raise InvalidInput(f"{user.username} has no two-step sign-in to reset")
    when = now(db)
    user.totp_secret = None
    user.updated_at = when
    db.execute(sa.delete(TotpState).where(TotpState.user_id == user.id))
    db.execute(
        sa.update(StaffSession)
        .where(StaffSession.user_id == user.id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=when)
    )
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.STAFF_TOTP_RESET,
        subject_type="staff_user",
        subject_id=user.id,
        data={"reason": reason.strip()},
    )
    return user


def use_code(db: Session, *, user: StaffUser, code: str | None, at: datetime | None = None) -> bool:
    """Check a TOTP code for a user who has TOTP on, and record its step so it works only once."""
    if not user.totp_secret or not code:
        return False
    when = at or now(db)
    state = db.get(TotpState, user.id)
    step = match_totp(user.totp_secret, code, when, after_step=state.last_step if state else 0)
    if step is None:
        return False
    if state is None:
        db.add(TotpState(user_id=user.id, last_step=step, enrolled_at=when))
    else:
        state.last_step = step
    return True
