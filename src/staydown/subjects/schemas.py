"""Typed input for the platform's references to its content and accounts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from staydown.jsonutil import canonical
from staydown.limits import JsonObject

CONTENT_KINDS = ("image", "video", "audio", "text", "link", "profile", "message", "live", "other", "unknown")
# Who could see a piece of content, as the platform says: anyone (`public`), anyone with its
# address though it is not listed (`unlisted`), the poster's followers or a group (`followers`),
# only the poster or named recipients (`private`), or the platform does not know (`unknown`).
VISIBILITIES = ("public", "unlisted", "followers", "private", "unknown")
# Open to anyone online who has the address, with no access control: what a CyberTipline report
# calls "publicly available".
PUBLIC_VISIBILITIES = frozenset({"public", "unlisted"})
PlatformId = str
MAX_METADATA_BYTES = 16_384


def _check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(canonical(value).encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes of JSON")
    return value


class AccountRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200, description="the platform's own account id")
    handle: str | None = Field(default=None, max_length=200)
    status: str | None = Field(default=None, max_length=40)
    # The language the user reads, a tag such as "fr" or "pt-BR": their statements of reasons
    # are written in it when the platform serves it, else in the platform's first language.
    language: str | None = Field(default=None, max_length=12, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    metadata: JsonObject = Field(default_factory=dict)

    _meta = field_validator("metadata")(_check_metadata)


class ContentRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200, description="the platform's own content id")
    kind: Literal[CONTENT_KINDS] = "unknown"  # type: ignore[valid-type]
    url: str | None = Field(default=None, max_length=2048)
    account: AccountRef | None = None
    created_at: AwareDatetime | None = None
    visibility: Literal[VISIBILITIES] | None = Field(  # type: ignore[valid-type]
        default=None, description="who could see it: " + ", ".join(VISIBILITIES)
    )
    metadata: JsonObject = Field(default_factory=dict)

    _meta = field_validator("metadata")(_check_metadata)
