"""Look up platform content and accounts by the platform's ids."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.errors import NotFound
from staydown.subjects.models import PlatformAccount, PlatformContent


def content_by_platform_id(db: Session, platform_id: str) -> PlatformContent:
    found = db.execute(
        sa.select(PlatformContent).where(PlatformContent.platform_id == platform_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no content with platform id {platform_id!r}")
    return found


def account_by_platform_id(db: Session, platform_id: str) -> PlatformAccount:
    found = db.execute(
        sa.select(PlatformAccount).where(PlatformAccount.platform_id == platform_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no account with platform id {platform_id!r}")
    return found
