"""Staff users and API clients."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from staydown.db import Base, BigIntPK, UTCDateTime


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(80), nullable=False, unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    email: Mapped[str | None] = mapped_column(sa.String(320))
    roles: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False, default=list)
    # argon2id; None means the user cannot log in to the console until a password is set.
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    is_active: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    failed_logins: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ApiClient(Base):
    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    # The key is `sd_<prefix>_<secret>`; the prefix finds the row, the secret's SHA-256 proves it.
    key_prefix: Mapped[str] = mapped_column(sa.String(16), nullable=False, unique=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(sa.JSON, nullable=False, default=list)
    created_by: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
