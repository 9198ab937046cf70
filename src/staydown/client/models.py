"""Typed results of the staydown client: pydantic models of what the API answers.

Every model accepts fields it does not know (kept in `model_extra`), so a client older than the
server keeps working when the server adds a field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Result(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Match(_Result):
    """One bank entry the media matched."""

    bank: str
    entry_id: int
    signal_type: str
    distance: int
    threshold: int
    action: str
    policy_id: str
    query_variant: str = ""
    entry_variant: str = ""


class ScanResult(_Result):
    """The answer to a scan or a match: `verdict` is `allow`, `hold` (keep it out of public view;
    a person will review it) or `block` (refuse the upload)."""

    scan_id: int
    verdict: str
    reasons: list[str] = Field(default_factory=list)
    matches: list[Match] = Field(default_factory=list)
    signals: dict[str, Any] = Field(default_factory=dict)
    media: dict[str, Any] = Field(default_factory=dict)
    content_id: str | None = None
    query_variants: int = 0
    case_ids: list[int] = Field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"

    @property
    def held(self) -> bool:
        return self.verdict == "hold"

    @property
    def blocked(self) -> bool:
        return self.verdict == "block"


class Deadline(_Result):
    """A legal track that governs a notice (one it opened, or the one of its kind it joined), and
    where it stands."""

    kind: str
    state: str
    received_at: datetime
    due_at: datetime | None = None
    met_at: datetime | None = None
    title: str | None = None
    resolution: str | None = None


class NoticeReceipt(_Result):
    """The acknowledgement of a notice: keep `tracking_code`; `cases` are the cases it joined;
    `missing` lists what an incomplete TAKE IT DOWN request still needs."""

    tracking_code: str
    state: str
    received_at: datetime
    acknowledgement: str = ""
    cases: list[int] = Field(default_factory=list)
    missing: list[dict[str, str]] = Field(default_factory=list)
    deadlines: list[Deadline] = Field(default_factory=list)
    status_url: str = ""


class Account(_Result):
    """An account as staydown knows it, by the platform's own id."""

    id: str
    handle: str | None = None
    status: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    first_seen_at: datetime | None = None


class Content(_Result):
    """A piece of content as staydown knows it, by the platform's own id."""

    id: str
    kind: str = "unknown"
    url: str | None = None
    account: Account | None = None
    created_at: datetime | None = None
    # Who could see it: public, unlisted, followers, private or unknown (None: never said).
    visibility: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    first_seen_at: datetime | None = None


class Statement(_Result):
    """The statement of reasons for a restriction (DSA Art. 17), to show the affected user:
    `url` is its public page, `appeal_url` where to contest it, `rendered` the text per language."""

    code: str
    url: str | None = None
    appeal_url: str | None = None
    appeal_deadline: datetime | None = None
    language: str = "en"
    rendered: dict[str, str] = Field(default_factory=dict)


class Action(_Result):
    """An action the platform must carry out, or stop carrying out.

    `event` is `action.applied` (do it) or `action.lifted` (undo it: reversed on appeal, expired,
    or replaced by a final measure). `content_id` and `account_id` are the platform's own ids.

    `kind` `provide_file` is a request, not a measure: send staydown this content's file as you
    hold it (`Client.provide_file(action, data)`), before `details["due_at"]`, because a report to
    the authorities needs it; if you cannot, acknowledge it `failed` and say why. Its
    `action.lifted` means the file is no longer needed.
    """

    id: int
    seq: int = 0
    event: str
    kind: str
    target: str
    content_id: str | None = None
    account_id: str | None = None
    case_id: int | None = None
    policy: str | None = None
    state: str = ""
    interim: bool = False
    automated_detection: bool = False
    automated_decision: bool = False
    territorial_scope: list[str] = Field(default_factory=list)
    ends_at: datetime | None = None
    created_at: datetime | None = None
    facts: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    # Every restriction carries its statement of reasons; restorations and warnings carry none.
    statement: Statement | None = None

    @property
    def applied(self) -> bool:
        return self.event == "action.applied"

    @property
    def lifted(self) -> bool:
        return self.event == "action.lifted"

    @property
    def file_request_id(self) -> int | None:
        """The request a `provide_file` action carries; None for any other action."""
        value = self.details.get("request_id") if self.kind == "provide_file" else None
        return int(value) if isinstance(value, int) else None


class EvidenceReceipt(_Result):
    """A file deposited in staydown's vault; `file_request_id` is the request it answered."""

    id: int
    sha256: str
    md5: str
    size: int
    state: str = "stored"
    content_id: int | None = None
    file_request_id: int | None = None


class ActionPage(_Result):
    """One page of the action feed; pass `next_cursor` as `after` for the next page."""

    actions: list[Action] = Field(default_factory=list)
    next_cursor: int


class WebhookEvent(_Result):
    """A verified webhook: the action it carries, its delivery id (the idempotency key, stable
    across the sender's retries), the event type and the signed timestamp."""

    delivery_id: str
    event: str
    timestamp: int
    action: Action
