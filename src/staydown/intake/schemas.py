"""Typed input for notices: every field has a limit and every error says what was wrong."""

from __future__ import annotations

import re
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from staydown.intake.models import NoticeKind, ReporterKind
from staydown.jsonutil import canonical
from staydown.limits import JsonObject

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")
MAX_EXPLANATION = 10_000


class NoticeItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content_id: str | None = Field(
        default=None, min_length=1, max_length=200, description="the platform's id of the reported content"
    )
    url: str | None = Field(default=None, min_length=1, max_length=2048, description="where it is, if no id is known")
    account_id: str | None = Field(default=None, max_length=200, description="who posted it, if known")

    @model_validator(mode="after")
    def _one_locator(self) -> NoticeItemIn:
        if not self.content_id and not self.url:
            raise ValueError("each item needs a content_id or a url saying where the content is")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError("an item's url must start with http:// or https://")
        if self.url and not self.url.isascii():
            raise ValueError("an item's url must be ASCII: percent-encode other characters (RFC 3986)")
        return self


ORDER_KINDS = (NoticeKind.law_enforcement, NoticeKind.authority_order, NoticeKind.terrorist_order)


class OrderIn(BaseModel):
    """What an order or a law-enforcement request states: who issued it, its reference, and the
    deadline it sets (a time, or hours from receipt). Without a deadline the catalogue's default
    for the kind of order applies (one hour for an EU terrorist-content removal order)."""

    model_config = ConfigDict(extra="forbid")

    issued_by: str = Field(min_length=2, max_length=300, description="the court, authority or agency")
    reference: str = Field(min_length=1, max_length=200, description="the order's or case's reference")
    legal_basis: str | None = Field(default=None, max_length=2000)
    due_at: AwareDatetime | None = Field(default=None, description="the deadline the order states")
    hours: float | None = Field(default=None, gt=0, le=8760, description="or: hours from receipt")

    @model_validator(mode="after")
    def _one_deadline(self) -> OrderIn:
        if self.due_at is not None and self.hours is not None:
            raise ValueError("give the order's deadline once: due_at or hours, not both")
        return self


class NoticeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: NoticeKind = NoticeKind.user_report
    reporter_kind: ReporterKind = ReporterKind.user
    items: list[NoticeItemIn] = Field(min_length=1, max_length=1000)
    policy_id: str | None = Field(default=None, max_length=80)
    dsa_category: str | None = Field(default=None, max_length=80)
    explanation: str = Field(default="", max_length=MAX_EXPLANATION)
    minor_involved: bool = False
    good_faith: bool = False
    contact_name: str | None = Field(default=None, max_length=200)
    contact_email: str | None = Field(default=None, max_length=320)
    signature: str | None = Field(default=None, max_length=300)
    reporter_id: str | None = Field(default=None, max_length=200, description="the reporter's platform account id")
    jurisdiction: str | None = Field(default=None, max_length=2, pattern=r"^[A-Z]{2}$")
    language: str = Field(default="en", max_length=5, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    reach: int | None = Field(default=None, ge=0, le=10**12)
    details: JsonObject = Field(default_factory=dict)
    order: OrderIn | None = Field(
        default=None, description="for an order or a law-enforcement request: who issued it and the deadline it sets"
    )

    @model_validator(mode="after")
    def _order_kind(self) -> NoticeIn:
        if self.order is not None and self.kind not in ORDER_KINDS:
            raise ValueError("'order' belongs to a notice of kind " + ", ".join(k.value for k in ORDER_KINDS))
        return self

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        value = value.strip()
        if not EMAIL_RE.match(value):
            raise ValueError("contact_email does not look like an e-mail address")
        return value

    @field_validator("details")
    @classmethod
    def _details(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(canonical(value).encode()) > 16_384:
            raise ValueError("details are larger than 16384 bytes of JSON")
        return value


class CompletionIn(BaseModel):
    """The missing elements of an incomplete TAKE IT DOWN request, sent with its tracking code."""

    model_config = ConfigDict(extra="forbid")

    signature: str | None = Field(default=None, max_length=300)
    explanation: str | None = Field(default=None, max_length=MAX_EXPLANATION)
    good_faith: bool | None = None
    contact_name: str | None = Field(default=None, max_length=200)
    contact_email: str | None = Field(default=None, max_length=320)
    items: list[NoticeItemIn] | None = Field(default=None, max_length=1000)

    _email = field_validator("contact_email")(NoticeIn._email.__func__)  # type: ignore[attr-defined]
