"""Platform content and accounts, known by the platform's own ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from staydown.db import Base, BigIntPK, UTCDateTime


class PlatformAccount(Base):
    __tablename__ = "platform_accounts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    platform_id: Mapped[str] = mapped_column(sa.String(200), nullable=False, unique=True)
    handle: Mapped[str | None] = mapped_column(sa.String(200))
    # The platform's own view of the account; staydown's measures live in enforcement.
    status: Mapped[str] = mapped_column(sa.String(40), nullable=False, default="active")
    # The language the user reads ("fr", "pt-BR"), as the platform said: their statements of
    # reasons are in it when the platform serves it (settings.platform_languages).
    language: Mapped[str | None] = mapped_column(sa.String(12))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", sa.JSON, nullable=False, default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class PlatformContent(Base):
    __tablename__ = "platform_content"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    platform_id: Mapped[str] = mapped_column(sa.String(200), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(sa.String(40), nullable=False, default="unknown")
    # Indexed: a report that gives only an address is resolved to the content registered there.
    url: Mapped[str | None] = mapped_column(sa.String(2048), index=True)
    account_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("platform_accounts.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who could see it, as the platform registered it (subjects.schemas.VISIBILITIES); None: never
    # said. `public_since`: when it was first registered as open to anyone (public or unlisted),
    # kept when it is later hidden, because a report asks whether it *was* publicly available.
    visibility: Mapped[str | None] = mapped_column(sa.String(12))
    public_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", sa.JSON, nullable=False, default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    account: Mapped[PlatformAccount | None] = relationship(lazy="joined")
