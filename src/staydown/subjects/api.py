"""HTTP API for the platform to register and update its content and accounts by its own ids."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from staydown.actors import Actor
from staydown.http import DbSession, require
from staydown.intake.actions import join_url_cases
from staydown.limits import JsonObject
from staydown.staff.permissions import Permission
from staydown.subjects import queries, records
from staydown.subjects.models import PlatformAccount, PlatformContent
from staydown.subjects.schemas import CONTENT_KINDS, VISIBILITIES, AccountRef, ContentRef

router = APIRouter(prefix="/v1", tags=["subjects"])

Reader = Annotated[Actor, Depends(require(Permission.SUBJECTS_READ))]
Writer = Annotated[Actor, Depends(require(Permission.SUBJECTS_WRITE))]
PlatformIdPath = Annotated[str, Path(min_length=1, max_length=200)]


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    handle: str | None = Field(default=None, max_length=200)
    status: str | None = Field(default=None, max_length=40)
    language: str | None = Field(
        default=None,
        max_length=12,
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        description="the language the user reads: their statements of reasons are in it",
    )
    metadata: JsonObject = Field(default_factory=dict)


class ContentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(default="unknown", max_length=20, pattern="^(" + "|".join(CONTENT_KINDS) + ")$")
    url: str | None = Field(default=None, max_length=2048)
    account: AccountRef | None = None
    created_at: AwareDatetime | None = None
    # Who could see it (public | unlisted | followers | private | unknown): a CyberTipline report
    # says the file was publicly available only from this, never by default.
    visibility: str | None = Field(default=None, max_length=20, pattern="^(" + "|".join(VISIBILITIES) + ")$")
    metadata: JsonObject = Field(default_factory=dict)


class AccountOut(BaseModel):
    id: str
    handle: str | None
    status: str
    language: str | None = None
    metadata: dict[str, Any]
    first_seen_at: datetime

    @classmethod
    def of(cls, a: PlatformAccount) -> AccountOut:
        return cls(
            id=a.platform_id,
            handle=a.handle,
            status=a.status,
            language=a.language,
            metadata=a.meta,
            first_seen_at=a.first_seen_at,
        )


class ContentOut(BaseModel):
    id: str
    kind: str
    url: str | None
    account: AccountOut | None
    created_at: datetime | None
    visibility: str | None = None
    public_since: datetime | None = None
    metadata: dict[str, Any]
    first_seen_at: datetime

    @classmethod
    def of(cls, c: PlatformContent) -> ContentOut:
        return cls(
            id=c.platform_id,
            kind=c.kind,
            url=c.url,
            account=AccountOut.of(c.account) if c.account else None,
            created_at=c.created_at,
            visibility=c.visibility,
            public_since=c.public_since,
            metadata=c.meta,
            first_seen_at=c.first_seen_at,
        )


@router.put("/content/{platform_id:path}", response_model=ContentOut)
def put_content(platform_id: PlatformIdPath, body: ContentIn, db: DbSession, actor: Writer) -> ContentOut:
    ref = ContentRef(id=platform_id, **body.model_dump(exclude={"account"}), account=body.account)
    content = records.ensure_content(db, actor=actor, ref=ref)
    # A report that named only this address waits for it: it joins that report's case now.
    join_url_cases(db, actor=actor, content=content)
    return ContentOut.of(content)


@router.get("/content/{platform_id:path}", response_model=ContentOut)
def get_content(platform_id: PlatformIdPath, db: DbSession, _: Reader) -> ContentOut:
    return ContentOut.of(queries.content_by_platform_id(db, platform_id))


@router.put("/accounts/{platform_id:path}", response_model=AccountOut)
def put_account(platform_id: PlatformIdPath, body: AccountIn, db: DbSession, actor: Writer) -> AccountOut:
    return AccountOut.of(records.ensure_account(db, actor=actor, ref=AccountRef(id=platform_id, **body.model_dump())))


@router.get("/accounts/{platform_id:path}", response_model=AccountOut)
def get_account(platform_id: PlatformIdPath, db: DbSession, _: Reader) -> AccountOut:
    return AccountOut.of(queries.account_by_platform_id(db, platform_id))
