"""The report staydown sends to the UK National Crime Agency (UK-6): typed parts, their JSON, and the
one structural check that the client and the local server both apply.

What a report must contain comes from Schedule 1 to the Online Safety (CSEA Content Reporting by
Regulated User-to-User Service Providers) Regulations 2026 (SI 2026/268), as far as public text
shows it: who submits it (the authorised person), the detected content (hash values, IP address
and port, time of upload...), the user behind it, other information reasonably available, and a
declaration that everything reasonably available is included. The regulations also ask for a
priority assessment and allow reports through the NCA's online portal or an API. The API's wire
format is not public: the field names, the JSON shape and the enumerations below are staydown's
own reading, marked [U] in docs/nca-protocol.md. Keeping them in this one module means that when
the NCA's specification is in hand, this is the file that changes.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "FORMAT_VERSION",
    "MAX_DOCUMENT_BYTES",
    "MAX_ITEMS",
    "ContentItem",
    "Declaration",
    "Detection",
    "DetectionMethod",
    "FileHash",
    "HashType",
    "IpEvent",
    "Organisation",
    "Person",
    "Priority",
    "Report",
    "ReportedUser",
    "UkLink",
    "UkLinkBasis",
    "file_refs",
    "parse_json",
    "report_json",
    "validate_report",
]

# The version of our reading of the format, sent in every report so that either side can tell
# which shape it holds once the real specification replaces this one.
FORMAT_VERSION = "staydown-nca/1"
MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_ITEMS = 100
MAX_IP_EVENTS = 50
MAX_HASHES = 10
TEXT_LIMIT = 10_000
REF_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class Priority(str, enum.Enum):
    """The provider's priority assessment (regulation 14 of the 2025 text: "Priority assessment").
    The levels' names and number are assumed [U]; what is confirmed is that urgency is assessed
    and stated, and that the Act lets regulations treat cases of particular urgency apart (s.67(2)(d))."""

    URGENT = "urgent"  # a child may be at risk now: a person flagged imminent danger
    STANDARD = "standard"


class DetectionMethod(str, enum.Enum):
    """How the provider became aware of the content. "Detected" covers the provider's own systems
    and being alerted by anyone else (OSA s.70(4)); the vocabulary is ours [U]."""

    USER_REPORT = "user_report"
    PUBLIC_REPORT = "public_report"
    TRUSTED_FLAGGER = "trusted_flagger"
    LAW_ENFORCEMENT = "law_enforcement"
    AUTHORITY = "authority"
    HASH_MATCH = "hash_match"
    PROVIDER_REVIEW = "provider_review"


class UkLinkBasis(str, enum.Enum):
    """The four grounds on which content is "UK-linked" (OSA s.70(6)). A non-UK provider reports
    only UK-linked content and must not report the rest (s.66(2))."""

    PLACE = "place_published_generated_uploaded_or_shared"
    SUSPECT_NATIONALITY = "suspect_nationality"
    SUSPECT_LOCATION = "suspect_location"
    VICTIM_LOCATION = "victim_location"


class HashType(str, enum.Enum):
    MD5 = "md5"
    SHA256 = "sha256"
    PDQ = "pdq"


HASH_HEX_LENGTH = {HashType.MD5: 32, HashType.SHA256: 64, HashType.PDQ: 64}


def _iso(value: datetime | None, name: str) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must carry its UTC offset (a naive datetime cannot say when it was)")
    return value.isoformat(timespec="seconds")


def _text(value: str | None, name: str, limit: int = TEXT_LIMIT) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text")
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    return value


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    phone: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {
                "name": _text(self.name, "name", 200),
                "email": _text(self.email, "email", 320),
                "phone": _text(self.phone, "phone", 50),
            }
        )


@dataclass(frozen=True)
class Organisation:
    registration_id: str
    name: str
    provider_kind: str  # "uk" or "non_uk" (OSA s.70(2), (3))

    def to_json(self) -> dict[str, Any]:
        return {
            "registrationId": _text(self.registration_id, "registrationId", 200),
            "name": _text(self.name, "name", 200),
            "providerKind": self.provider_kind,
        }


@dataclass(frozen=True)
class IpEvent:
    ip: str
    at: datetime | None = None
    port: int | None = None
    event: str = "upload"

    def to_json(self) -> dict[str, Any]:
        return _drop_none({"ip": self.ip, "port": self.port, "at": _iso(self.at, "ipEvents.at"), "event": self.event})


@dataclass(frozen=True)
class FileHash:
    type: HashType
    value: str

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type.value, "value": self.value.lower()}


@dataclass(frozen=True)
class ContentItem:
    """One item of detected content. `file_ref` names the file uploaded with the report when the
    vault holds it; an item the provider never held goes with its metadata only."""

    platform_content_id: str | None
    url: str | None
    file_ref: str | None = None
    file_name: str | None = None
    media_type: str | None = None
    size: int | None = None
    uploaded_at: datetime | None = None
    upload_ip: IpEvent | None = None
    publicly_available: bool | None = None
    viewed_by_provider: bool = False  # True only where an audited human view of this file exists
    hashes: tuple[FileHash, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {
                "fileRef": self.file_ref,
                "platformContentId": _text(self.platform_content_id, "platformContentId", 200),
                "url": _text(self.url, "url", 2048),
                "fileName": _text(self.file_name, "fileName", 300),
                "mediaType": _text(self.media_type, "mediaType", 100),
                "size": self.size,
                "uploadedAt": _iso(self.uploaded_at, "uploadedAt"),
                "uploadIp": self.upload_ip.to_json() if self.upload_ip else None,
                "publiclyAvailable": self.publicly_available,
                "viewedByProvider": self.viewed_by_provider,
                "hashes": [h.to_json() for h in self.hashes],
            }
        )


@dataclass(frozen=True)
class ReportedUser:
    platform_account_id: str | None
    username: str | None = None
    display_name: str | None = None
    profile_url: str | None = None
    account_status: str = "unknown"  # active | suspended | terminated | unknown
    ip_events: tuple[IpEvent, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {
                "platformAccountId": _text(self.platform_account_id, "platformAccountId", 200),
                "username": _text(self.username, "username", 200),
                "displayName": _text(self.display_name, "displayName", 200),
                "profileUrl": _text(self.profile_url, "profileUrl", 2048),
                "accountStatus": self.account_status,
                "ipEvents": [e.to_json() for e in self.ip_events],
            }
        )


@dataclass(frozen=True)
class UkLink:
    basis: UkLinkBasis
    facts: str

    def to_json(self) -> dict[str, Any]:
        return {"basis": self.basis.value, "facts": _text(self.facts, "ukLink.facts", 2000)}


@dataclass(frozen=True)
class Detection:
    methods: tuple[DetectionMethod, ...]
    first_detected_at: datetime
    knowledge_at: datetime
    description: str

    def to_json(self) -> dict[str, Any]:
        return {
            "methods": [m.value for m in self.methods],
            "firstDetectedAt": _iso(self.first_detected_at, "firstDetectedAt"),
            "confirmedAt": _iso(self.knowledge_at, "confirmedAt"),
            "description": _text(self.description, "detection.description"),
        }


@dataclass(frozen=True)
class Declaration:
    """Schedule 1: a declaration that all the information reasonably available has been included.
    Made by the person who confirmed the report; false information is an offence (OSA s.69)."""

    confirmed_by: str
    confirmed_at: datetime
    all_reasonably_available_information_included: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "allReasonablyAvailableInformationIncluded": self.all_reasonably_available_information_included,
            "confirmedBy": _text(self.confirmed_by, "confirmedBy", 200),
            "confirmedAt": _iso(self.confirmed_at, "confirmedAt"),
        }


@dataclass(frozen=True)
class Report:
    provider_reference: str
    organisation: Organisation
    authorised_person: Person
    priority: Priority
    detection: Detection
    reported_user: ReportedUser
    content: tuple[ContentItem, ...]
    declaration: Declaration
    category: str
    priority_reason: str | None = None
    uk_link: UkLink | None = None
    additional_information: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _drop_none(
            {
                "formatVersion": FORMAT_VERSION,
                "providerReference": self.provider_reference,
                "organisation": self.organisation.to_json(),
                "authorisedPerson": self.authorised_person.to_json(),
                "priority": _drop_none(
                    {"level": self.priority.value, "reason": _text(self.priority_reason, "priority.reason", 2000)}
                ),
                "category": self.category,
                "detection": self.detection.to_json(),
                "ukLink": self.uk_link.to_json() if self.uk_link else None,
                "reportedUser": self.reported_user.to_json(),
                "content": [c.to_json() for c in self.content],
                "additionalInformation": _text(self.additional_information, "additionalInformation"),
                "declaration": self.declaration.to_json(),
            }
        )


def _drop_none(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None}


def report_json(report: Report) -> bytes:
    """The document as sent: UTF-8 JSON in a stable key order, so that the same report is the same
    bytes every time (an idempotent retry must send what the first attempt sent)."""
    body = json.dumps(report.to_json(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    problems = validate_report(json.loads(body))
    if problems:
        raise ValueError("the report does not meet the format: " + "; ".join(problems[:5]))
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"the report is larger than {MAX_DOCUMENT_BYTES} bytes")
    return body


def parse_json(data: bytes, *, limit: int = MAX_DOCUMENT_BYTES) -> Any:
    """A JSON document from the other side, within a size, as UTF-8; ValueError says what is wrong."""
    if len(data) > limit:
        raise ValueError(f"larger than {limit} bytes")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not UTF-8 JSON ({exc})") from None


# -- the structural check ---------------------------------------------------------------------
# A small walker rather than a JSON Schema library: the rules fit in a page, and each problem
# names the path and what was wrong, which is what a refused report must say.

Check = Callable[[Any, str, list[str]], None]


def _string(
    limit: int, *, pattern: re.Pattern[str] | None = None, choices: frozenset[str] | None = None, min_len: int = 1
) -> Check:
    def check(value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, str):
            problems.append(f"{path}: must be a string")
        elif not min_len <= len(value) <= limit:
            problems.append(f"{path}: must be {min_len} to {limit} characters")
        elif choices is not None and value not in choices:
            problems.append(f"{path}: must be one of {', '.join(sorted(choices))}")
        elif pattern is not None and not pattern.fullmatch(value):
            problems.append(f"{path}: has the wrong form")

    return check


def _datetime(value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, str):
        problems.append(f"{path}: must be an ISO 8601 date and time")
        return
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        problems.append(f"{path}: must be an ISO 8601 date and time")
        return
    if parsed.tzinfo is None:
        problems.append(f"{path}: must carry its UTC offset")


def _boolean(value: Any, path: str, problems: list[str]) -> None:
    if not isinstance(value, bool):
        problems.append(f"{path}: must be true or false")


def _integer(low: int, high: int) -> Check:
    def check(value: Any, path: str, problems: list[str]) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            problems.append(f"{path}: must be a whole number from {low} to {high}")

    return check


def _ip(value: Any, path: str, problems: list[str]) -> None:
    try:
        ipaddress.ip_address(value if isinstance(value, str) else "")
    except ValueError:
        problems.append(f"{path}: must be an IPv4 or IPv6 address")


def _obj(fields: dict[str, tuple[bool, Check]]) -> Check:
    def check(value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, dict):
            problems.append(f"{path}: must be an object")
            return
        for key in value:
            if key not in fields:
                problems.append(f"{path}.{key}: is not a field of this format")
        for key, (required, inner) in fields.items():
            if key in value and value[key] is not None:
                inner(value[key], f"{path}.{key}", problems)
            elif required:
                problems.append(f"{path}.{key}: is required")

    return check


def _list(inner: Check, *, max_items: int, min_items: int = 0) -> Check:
    def check(value: Any, path: str, problems: list[str]) -> None:
        if not isinstance(value, list):
            problems.append(f"{path}: must be a list")
            return
        if not min_items <= len(value) <= max_items:
            problems.append(f"{path}: must hold {min_items} to {max_items} entries")
            return
        for i, item in enumerate(value):
            inner(item, f"{path}[{i}]", problems)

    return check


def _hash(value: Any, path: str, problems: list[str]) -> None:
    _obj({"type": (True, _string(10, choices=frozenset(h.value for h in HashType))), "value": (True, _string(128))})(
        value, path, problems
    )
    if isinstance(value, dict) and value.get("type") in {h.value for h in HashType}:
        want = HASH_HEX_LENGTH[HashType(value["type"])]
        got = value.get("value")
        if not (isinstance(got, str) and len(got) == want and re.fullmatch(r"[0-9a-f]+", got)):
            problems.append(f"{path}.value: a {value['type']} hash is {want} lower-case hex digits")


_IP_EVENT = _obj(
    {
        "ip": (True, _ip),
        "port": (False, _integer(0, 65535)),
        "at": (False, _datetime),
        "event": (True, _string(20, choices=frozenset({"upload", "login", "registration", "other"}))),
    }
)

_REPORT = _obj(
    {
        "formatVersion": (True, _string(40, choices=frozenset({FORMAT_VERSION}))),
        "providerReference": (True, _string(100, pattern=REF_PATTERN)),
        "organisation": (
            True,
            _obj(
                {
                    "registrationId": (True, _string(200)),
                    "name": (True, _string(200)),
                    "providerKind": (True, _string(10, choices=frozenset({"uk", "non_uk"}))),
                }
            ),
        ),
        "authorisedPerson": (
            True,
            _obj({"name": (True, _string(200)), "email": (True, _string(320)), "phone": (False, _string(50))}),
        ),
        "priority": (
            True,
            _obj(
                {
                    "level": (True, _string(20, choices=frozenset(p.value for p in Priority))),
                    "reason": (False, _string(2000)),
                }
            ),
        ),
        "category": (True, _string(200)),
        "detection": (
            True,
            _obj(
                {
                    "methods": (
                        True,
                        _list(
                            _string(40, choices=frozenset(m.value for m in DetectionMethod)), max_items=10, min_items=1
                        ),
                    ),
                    "firstDetectedAt": (True, _datetime),
                    "confirmedAt": (True, _datetime),
                    "description": (True, _string(TEXT_LIMIT)),
                }
            ),
        ),
        "ukLink": (
            False,
            _obj(
                {
                    "basis": (True, _string(60, choices=frozenset(b.value for b in UkLinkBasis))),
                    "facts": (True, _string(2000)),
                }
            ),
        ),
        "reportedUser": (
            True,
            _obj(
                {
                    "platformAccountId": (False, _string(200)),
                    "username": (False, _string(200)),
                    "displayName": (False, _string(200)),
                    "profileUrl": (False, _string(2048)),
                    "accountStatus": (
                        True,
                        _string(20, choices=frozenset({"active", "suspended", "terminated", "unknown"})),
                    ),
                    "ipEvents": (False, _list(_IP_EVENT, max_items=MAX_IP_EVENTS)),
                }
            ),
        ),
        "content": (
            True,
            _list(
                _obj(
                    {
                        "fileRef": (False, _string(100, pattern=REF_PATTERN)),
                        "platformContentId": (False, _string(200)),
                        "url": (False, _string(2048)),
                        "fileName": (False, _string(300)),
                        "mediaType": (False, _string(100)),
                        "size": (False, _integer(0, 2**53)),
                        "uploadedAt": (False, _datetime),
                        "uploadIp": (False, _IP_EVENT),
                        "publiclyAvailable": (False, _boolean),
                        "viewedByProvider": (True, _boolean),
                        "hashes": (False, _list(_hash, max_items=MAX_HASHES)),
                    }
                ),
                max_items=MAX_ITEMS,
                min_items=1,
            ),
        ),
        "additionalInformation": (False, _string(TEXT_LIMIT)),
        "declaration": (
            True,
            _obj(
                {
                    "allReasonablyAvailableInformationIncluded": (True, _boolean),
                    "confirmedBy": (True, _string(200)),
                    "confirmedAt": (True, _datetime),
                }
            ),
        ),
    }
)


def validate_report(document: Any) -> list[str]:
    """Every problem with a report document, each naming its path; [] when it meets the format.
    Beyond the shape: the declaration must be made, a file is referenced once, an item needs a
    way to find it (a platform id, a URL or a file), and an urgent report says why."""
    problems: list[str] = []
    _REPORT(document, "report", problems)
    if problems or not isinstance(document, dict):
        return problems
    if document["declaration"]["allReasonablyAvailableInformationIncluded"] is not True:
        problems.append("report.declaration.allReasonablyAvailableInformationIncluded: the declaration must be made")
    refs = [c["fileRef"] for c in document["content"] if c.get("fileRef")]
    if len(refs) != len(set(refs)):
        problems.append("report.content: each fileRef may appear once")
    for i, item in enumerate(document["content"]):
        if not (item.get("platformContentId") or item.get("url") or item.get("fileRef")):
            problems.append(f"report.content[{i}]: needs a platformContentId, a url or a fileRef")
    if document["priority"]["level"] == Priority.URGENT.value and not document["priority"].get("reason"):
        problems.append("report.priority.reason: an urgent report says why")
    return problems


def file_refs(document: dict[str, Any]) -> list[str]:
    """The files a report says it carries, in order."""
    return [c["fileRef"] for c in document.get("content", []) if isinstance(c, dict) and c.get("fileRef")]
