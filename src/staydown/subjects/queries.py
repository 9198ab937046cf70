"""Look up platform content and accounts by the platform's ids."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

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


def url_variants(url: str) -> list[str]:
    """The spellings under which a platform may have registered the address someone reported:
    http or https, with or without a trailing slash, without the #fragment, host in lower case.
    Exact look-ups of these use the index; anything fuzzier is for a person to judge."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return [url]
    netloc = parts.netloc.lower()
    paths = {parts.path or "/", (parts.path or "/").rstrip("/") or "/"}
    paths |= {p + "/" for p in list(paths) if not p.endswith("/")}
    out = [url]
    for scheme in ("https", "http"):
        for path in sorted(paths):
            candidate = urlunsplit((scheme, netloc, path, parts.query, ""))
            if candidate not in out:
                out.append(candidate)
            if path == "/" and not parts.query:
                bare = f"{scheme}://{netloc}"
                if bare not in out:
                    out.append(bare)
    return out


def content_ids_by_url(db: Session, urls: list[str]) -> dict[str, set[str]]:
    """Each reported URL's registered content (platform ids), by any of its spellings."""
    wanted = {u: url_variants(u) for u in urls}
    every = sorted({v for vs in wanted.values() for v in vs})
    if not every:
        return {}
    found: dict[str, set[str]] = {}
    for platform_id, url in (
        db.connection()
        .execute(sa.select(PlatformContent.platform_id, PlatformContent.url).where(PlatformContent.url.in_(every)))
        .all()
    ):
        assert url is not None  # matched against a list of addresses
        found.setdefault(url, set()).add(platform_id)
    return {u: set().union(*(found.get(v, set()) for v in vs)) for u, vs in wanted.items()}
