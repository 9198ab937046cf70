"""The CyberTipline Reporting API's XML: report and file-details documents, the structure they must
follow, and the server's answers.

Element names, their order and their limits follow NCMEC's published documentation and schema as far
as public sources show them (see docs/ncmec-protocol.md, which says what is confirmed and what is
assumed). The same structure (`REPORT`, `FILE_DETAILS`) is what `validate_report` and
`validate_file_details` check, and what the local server in `ncmec_server` enforces, so a document
this module builds is checked before it leaves.

Every value is placed with `xml.etree.ElementTree`, which escapes it; nothing untrusted is ever
concatenated into markup. Characters that XML 1.0 cannot carry at all (most C0 controls, U+FFFE,
U+FFFF, lone surrogates) are replaced by U+FFFD rather than refused: a legally required report must not
fail because a reported user put a NUL in a screen name. Line ends are normalised to LF, which is
what any XML parser does on reading anyway.
"""

from __future__ import annotations

import ipaddress
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "FILE_DETAILS",
    "FREE_TEXT_MAX",
    "REPORT",
    "AccountDisabled",
    "ContactPerson",
    "FileAnnotation",
    "FileDetails",
    "FileHash",
    "FileMetadata",
    "FileRelevance",
    "IncidentSummary",
    "IncidentType",
    "InternetDetails",
    "IpCaptureEvent",
    "IpEventName",
    "Person",
    "Report",
    "ReportAnnotation",
    "ReportedPerson",
    "Reporter",
    "Response",
    "ResponseCode",
    "Spec",
    "Victim",
    "XmlProblem",
    "file_details_xml",
    "format_datetime",
    "parse_response",
    "parse_xml",
    "report_xml",
    "response_xml",
    "validate",
    "validate_file_details",
    "validate_report",
    "xml_text",
]

# Our own ceiling for free-text fields NCMEC documents no limit for (chat content, notes, bios):
# large enough for a long conversation, small enough that one report cannot exhaust memory.
FREE_TEXT_MAX = 100_000
# Largest XML document this module will parse (a report with long chat logs stays far below).
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 32


# -- vocabularies (from the schema's enumerations) --------------------------------------------


class IncidentType(StrEnum):
    CHILD_PORNOGRAPHY = "Child Pornography (possession, manufacture, and distribution)"
    CHILD_SEX_TRAFFICKING = "Child Sex Trafficking"
    CHILD_SEX_TOURISM = "Child Sex Tourism"
    CHILD_SEXUAL_MOLESTATION = "Child Sexual Molestation"
    MISLEADING_DOMAIN_NAME = "Misleading Domain Name"
    MISLEADING_WORDS_OR_DIGITAL_IMAGES = "Misleading Words or Digital Images on the Internet"
    ONLINE_ENTICEMENT = "Online Enticement of Children for Sexual Acts"
    UNSOLICITED_OBSCENE_MATERIAL = "Unsolicited Obscene Material Sent to a Child"


class ReportAnnotation(StrEnum):
    """Tags on a report; each is sent as an empty element (`<sextortion/>`)."""

    SEXTORTION = "sextortion"
    CSAM_SOLICITATION = "csamSolicitation"
    MINOR_TO_MINOR_INTERACTION = "minorToMinorInteraction"
    SPAM = "spam"
    SADISTIC_ONLINE_EXPLOITATION = "sadisticOnlineExploitation"


class IpEventName(StrEnum):
    LOGIN = "Login"
    REGISTRATION = "Registration"
    PURCHASE = "Purchase"
    UPLOAD = "Upload"
    OTHER = "Other"
    UNKNOWN = "Unknown"


class FileRelevance(StrEnum):
    REPORTED = "Reported"
    SUPPLEMENTAL_REPORTED = "Supplemental Reported"


class FileAnnotation(StrEnum):
    """Tags on a file; each is sent as an empty element (`<generativeAi/>`)."""

    ANIME_DRAWING_VIRTUAL_HENTAI = "animeDrawingVirtualHentai"
    POTENTIAL_MEME = "potentialMeme"
    VIRAL = "viral"
    POSSIBLE_SELF_PRODUCTION = "possibleSelfProduction"
    PHYSICAL_HARM = "physicalHarm"
    VIOLENCE_GORE = "violenceGore"
    BESTIALITY = "bestiality"
    LIVE_STREAMING = "liveStreaming"
    INFANT = "infant"
    GENERATIVE_AI = "generativeAi"


class ResponseCode:
    """The response codes NCMEC documents. Its list is explicitly non-exhaustive: unknown codes
    still reach the caller as numbers. By family: 1xxx the server failed, 2xxx/3xxx credentials or
    permissions, 4xxx our request is wrong, 5xxx the report or file is in the wrong state."""

    SUCCESS = 0
    SERVER_ERROR = 1000
    SAVE_FAILED = 1100
    UPLOAD_FAILED = 1110
    FILE_UPLOAD_FAILED = 1111
    RESOURCE_NOT_FOUND = 1210
    UPDATE_FAILED = 1300
    AUTHENTICATION_REQUIRED = 2000
    NOT_AUTHORIZED = 3000
    NOT_AUTHORIZED_FOR_SUBMISSIONS = 3100
    NOT_AUTHORIZED_FOR_UPDATES = 3300
    INVALID_REQUEST = 4000
    VALIDATION_FAILED = 4100
    MALFORMED_XML = 4110
    MALFORMED_FILE = 4200
    REPORT_DOES_NOT_EXIST = 5001
    FILE_DOES_NOT_EXIST = 5002
    REPORT_ALREADY_RETRACTED = 5101
    REPORT_ALREADY_FINISHED = 5102

    DESCRIPTIONS: Mapping[int, str] = {
        0: "Success",
        1000: "Server error",
        1100: "Save failed",
        1110: "Upload failed",
        1111: "File upload failed",
        1210: "Resource not found",
        1300: "Update failed",
        2000: "Authentication required",
        3000: "User is not authorized to perform this action",
        3100: "User does not have authorization to make submissions",
        3300: "User does not have authorization to make updates",
        4000: "Invalid request",
        4100: "Validation failed",
        4110: "Malformed XML submittal",
        4200: "Malformed file submittal",
        5001: "Report does not exist",
        5002: "File does not exist",
        5101: "Report already retracted",
        5102: "Report already finished",
    }


_EMAIL_TYPES = frozenset({"Home", "Work", "Business", "Recovery"})
_PHONE_TYPES = frozenset({"Mobile", "Home", "Business", "Work", "Fax", "Internet", "Recovery"})
_ADDRESS_TYPES = frozenset({"Home", "Business", "Billing", "Shipping", "Technical"})
_CLASSIFICATIONS = frozenset({"A1", "A2", "B1", "B2"})


# -- the structure ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One element of the schema: its name, how often it may occur, and what it holds.

    kind is one of: "string", "int", "bool", "datetime", "date", "ip", "enum", "flag" (an empty
    element whose presence is the value), "complex" (children in `children`, in that order), or
    "any" (a part of the schema this module does not model: accepted without inspection)."""

    name: str
    kind: str = "string"
    min: int = 0
    max: int | None = 1
    max_len: int | None = None
    enum: frozenset[str] | None = None
    lo: int | None = None
    hi: int | None = None
    children: tuple[Spec, ...] = ()
    choice: bool = False
    attrs: Mapping[str, tuple[str, frozenset[str] | None]] = field(default_factory=dict)
    required_attrs: frozenset[str] = frozenset()

    def child(self, name: str) -> Spec:
        for spec in self.children:
            if spec.name == name:
                return spec
        raise KeyError(name)


def _s(name: str, max_len: int | None = None, *, min: int = 0, max: int | None = 1) -> Spec:
    return Spec(name, "string", min=min, max=max, max_len=max_len)


def _b(name: str) -> Spec:
    return Spec(name, "bool")


_IP_CAPTURE_EVENT = Spec(
    "ipCaptureEvent",
    "complex",
    max=None,
    children=(
        Spec("ipAddress", "ip", min=1),
        Spec("eventName", "enum", enum=frozenset(IpEventName)),
        Spec("dateTime", "datetime"),
        _b("possibleProxy"),
        Spec("port", "int", lo=1, hi=65535),
    ),
)
_DEVICE_ID = Spec(
    "deviceId",
    "complex",
    max=None,
    children=(
        _s("idType", 255, min=1),
        _s("idValue", 2083, min=1),
        Spec("eventName", "enum", enum=frozenset(IpEventName)),
        Spec("dateTime", "datetime"),
    ),
)
_PHONE = Spec(
    "phone",
    "string",
    max=None,
    max_len=50,
    attrs={
        "type": ("enum", _PHONE_TYPES),
        "verified": ("bool", None),
        "verificationDate": ("datetime", None),
        "countryCallingCode": ("string", None),
        "extension": ("string", None),
    },
)
_EMAIL = Spec(
    "email",
    "string",
    max=None,
    max_len=255,
    attrs={"type": ("enum", _EMAIL_TYPES), "verified": ("bool", None), "verificationDate": ("datetime", None)},
)
_ADDRESS = Spec(
    "address",
    "complex",
    max=None,
    attrs={"type": ("enum", _ADDRESS_TYPES)},
    children=(
        _s("address", 255),
        _s("city", 100),
        _s("zipCode", 20),
        _s("state", 100),
        _s("nonUsaState", 100),
        _s("country", 100),
    ),
)


def _person(name: str, *, min: int = 0, email_min: int = 0) -> Spec:
    return Spec(
        name,
        "complex",
        min=min,
        children=(
            _s("firstName", 100),
            _s("lastName", 100),
            _PHONE,
            Spec("email", "string", min=email_min, max=None, max_len=255, attrs=_EMAIL.attrs),
            _ADDRESS,
            Spec("age", "int", lo=0, hi=150),
            _b("ageAssertionDiscrepancy"),
            Spec("dateOfBirth", "date"),
        ),
    )


def _contact(name: str) -> Spec:
    return Spec(name, "complex", children=(_s("firstName", 100), _s("lastName", 100), _PHONE, _EMAIL, _ADDRESS))


def _disabled(name: str, *, temporary: bool) -> Spec:
    attrs: dict[str, tuple[str, frozenset[str] | None]] = {
        "disabledDate": ("datetime", None),
        "userNotified": ("bool", None),
        "userNotifiedDate": ("datetime", None),
    }
    if temporary:
        attrs["reenabledDate"] = ("datetime", None)
    return Spec(name, "bool", attrs=attrs)


_ESTIMATED_LOCATION = Spec(
    "estimatedLocation",
    "complex",
    attrs={"verified": ("bool", None), "timestamp": ("datetime", None)},
    children=(_s("city", 255), _s("region", 255), _s("countryCode", 2)),
)


def _account_fields(*, school: bool) -> tuple[Spec, ...]:
    """What the reported person and a victim share, in schema order (a victim adds schoolName)."""
    head = (
        _s("espIdentifier", 255),
        _s("espService", 100),
        _b("compromisedAccount"),
        _s("screenName", 256),
        _s("displayName", 256, max=None),
        _s("profileUrl", 2083, max=None),
        _s("profileBio"),
        _IP_CAPTURE_EVENT,
        _DEVICE_ID,
    )
    return head + ((_s("schoolName", 255),) if school else ())


REPORT = Spec(
    "report",
    "complex",
    children=(
        Spec(
            "batchedReport",
            "flag",
            attrs={"reason": ("enum", frozenset({"VIRAL_POTENTIAL_MEME"}))},
            required_attrs=frozenset({"reason"}),
        ),
        Spec(
            "incidentSummary",
            "complex",
            min=1,
            children=(
                Spec("incidentType", "enum", min=1, enum=frozenset(IncidentType)),
                _s("platform", 256),
                _s("escalateToHighPriority", 3000),
                Spec("reportAnnotations", "complex", children=tuple(Spec(a.value, "flag") for a in ReportAnnotation)),
                Spec("incidentDateTime", "datetime", min=1),
                _s("incidentDateTimeDescription", 3000),
            ),
        ),
        Spec(
            "internetDetails",
            "complex",
            min=1,
            max=None,
            choice=True,
            children=(
                Spec(
                    "webPageIncident",
                    "complex",
                    attrs={"thirdPartyHostedContent": ("bool", None)},
                    children=(_s("url", 2083, max=None), _s("additionalInfo")),
                ),
                Spec("emailIncident", "any"),
                Spec("newsgroupIncident", "any"),
                Spec(
                    "chatImIncident",
                    "complex",
                    children=(_s("chatClient", 255), _s("chatRoomName", 255), _s("content"), _s("additionalInfo")),
                ),
                Spec("onlineGamingIncident", "any"),
                Spec("cellPhoneIncident", "any"),
                Spec("nonInternetIncident", "any"),
                Spec("peer2peerIncident", "any"),
            ),
        ),
        Spec("lawEnforcement", "any"),
        Spec(
            "reporter",
            "complex",
            min=1,
            children=(
                _person("reportingPerson", min=1, email_min=1),
                _contact("contactPerson"),
                _s("companyTemplate"),
                _s("termsOfService"),
                _s("legalURL", 2083),
            ),
        ),
        Spec(
            "personOrUserReported",
            "complex",
            children=(
                _person("personOrUserReportedPerson"),
                _s("vehicleDescription", 300),
                *_account_fields(school=False),
                _b("thirdPartyUserReported"),
                Spec("priorCTReports", "int", max=None, lo=1),
                _s("groupIdentifier", 255),
                _disabled("accountTemporarilyDisabled", temporary=True),
                _disabled("accountPermanentlyDisabled", temporary=False),
                _ESTIMATED_LOCATION,
                _b("allEmailsReported"),
                Spec("associatedAccount", "any", max=None),
                _s("additionalInfo"),
            ),
        ),
        Spec("intendedRecipient", "any", max=None),
        Spec(
            "victim",
            "complex",
            max=None,
            children=(
                _person("victimPerson", min=1),
                *_account_fields(school=True),
                Spec("priorCTReports", "int", max=None, lo=1),
                _disabled("accountTemporarilyDisabled", temporary=True),
                _disabled("accountPermanentlyDisabled", temporary=False),
                _ESTIMATED_LOCATION,
                _b("allEmailsReported"),
                Spec("associatedAccount", "any", max=None),
                _s("additionalInfo"),
            ),
        ),
        _s("additionalInfo"),
    ),
)

FILE_DETAILS = Spec(
    "fileDetails",
    "complex",
    children=(
        Spec("reportId", "int", min=1, lo=1),
        _s("fileId", 255, min=1),
        _s("fileName", 2056),
        _s("originalFileName", 2056),
        Spec("uploadedToEspTimestamp", "datetime"),
        _s("locationOfFile", 2083),
        _b("fileViewedByEsp"),
        _b("exifViewedByEsp"),
        _b("publiclyAvailable"),
        Spec("fileRelevance", "enum", enum=frozenset(FileRelevance)),
        _b("potentialMeme"),
        Spec("fileAnnotations", "complex", children=tuple(Spec(a.value, "flag") for a in FileAnnotation)),
        Spec("industryClassification", "enum", enum=_CLASSIFICATIONS),
        Spec(
            "originalFileHash",
            "string",
            max=None,
            max_len=1024,
            attrs={"hashType": ("string", None)},
            required_attrs=frozenset({"hashType"}),
        ),
        Spec("ipCaptureEvent", "complex", children=_IP_CAPTURE_EVENT.children),
        _DEVICE_ID,
        Spec(
            "details",
            "complex",
            max=None,
            children=(
                Spec(
                    "nameValuePair",
                    "complex",
                    min=1,
                    max=None,
                    attrs={"type": ("enum", frozenset({"EXIF", "HASH"}))},
                    children=(_s("name", 64, min=1), _s("value", min=1)),
                ),
            ),
        ),
        _s("additionalInfo", max=None),
    ),
)


# -- text and value helpers -------------------------------------------------------------------

# Characters XML 1.0 allows: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    """`value` as XML can carry it: line ends normalised to LF and characters XML 1.0 cannot
    represent replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", value.replace("\r\n", "\n").replace("\r", "\n"))


def _check_text(owner: str, name: str, value: str | None, max_len: int | None, *, required: bool = False) -> None:
    if value is None:
        if required:
            raise ValueError(f"{owner}.{name} is required")
        return
    if not isinstance(value, str):
        raise ValueError(f"{owner}.{name} must be text, not {type(value).__name__}")
    if required and not value.strip():
        raise ValueError(f"{owner}.{name} must not be empty")
    limit = FREE_TEXT_MAX if max_len is None else max_len
    if len(value) > limit:
        raise ValueError(f"{owner}.{name} has {len(value)} characters; at most {limit} are allowed")


def _check_time(owner: str, name: str, value: datetime | None, *, required: bool = False) -> None:
    if value is None:
        if required:
            raise ValueError(f"{owner}.{name} is required")
        return
    if not isinstance(value, datetime):
        raise ValueError(f"{owner}.{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{owner}.{name} must carry a UTC offset (a naive datetime is ambiguous)")


def _check_bool(owner: str, name: str, value: object, *, required: bool = False) -> None:
    if value is None and not required:
        return
    if type(value) is not bool:
        raise ValueError(f"{owner}.{name} must be True or False, not {value!r}")


def _check_enum(owner: str, name: str, value: object, enum: type[StrEnum]) -> None:
    if value is None:
        return
    if not isinstance(value, str) or value not in {m.value for m in enum}:
        allowed = ", ".join(repr(m.value) for m in enum)
        raise ValueError(f"{owner}.{name} is {value!r}; expected one of {allowed}")


def _as_tuple(obj: Any, name: str) -> None:
    value = getattr(obj, name)
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{type(obj).__name__}.{name} must be a sequence of items, not a single string")
    if not isinstance(value, tuple):
        object.__setattr__(obj, name, tuple(value))


def _as_frozenset(obj: Any, name: str, enum: type[StrEnum]) -> None:
    value = getattr(obj, name)
    if isinstance(value, str):
        raise ValueError(f"{type(obj).__name__}.{name} must be a collection of {enum.__name__}, not a string")
    members = []
    for item in value:
        _check_enum(type(obj).__name__, name, item, enum)
        members.append(enum(item))
    object.__setattr__(obj, name, frozenset(members))


def format_datetime(value: datetime) -> str:
    """ISO 8601 with its UTC offset, to the second (e.g. `2026-06-01T12:00:00+00:00`)."""
    return value.isoformat(timespec="seconds")


def _text_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, int):
        return str(value)
    return xml_text(str(value))


def _put(parent: ET.Element, name: str, value: object, attrs: Mapping[str, object] | None = None) -> ET.Element | None:
    """Append `<name>value</name>` unless value is None. Attributes with value None are left out."""
    if value is None:
        return None
    element = ET.SubElement(parent, name)
    element.text = _text_value(value)
    for key, attr in (attrs or {}).items():
        if attr is not None:
            element.set(key, _text_value(attr))
    return element


def _put_all(parent: ET.Element, name: str, values: Iterable[object]) -> None:
    for value in values:
        _put(parent, name, value)


# -- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IpCaptureEvent:
    """An IP address the person used, what for, and when."""

    ip_address: str
    event_name: IpEventName | None = None
    date_time: datetime | None = None
    possible_proxy: bool | None = None
    port: int | None = None

    def __post_init__(self) -> None:
        try:
            if not isinstance(self.ip_address, str):  # ip_address() would also take an integer
                raise TypeError
            ipaddress.ip_address(self.ip_address)
        except (ValueError, TypeError):
            raise ValueError(f"IpCaptureEvent.ip_address {self.ip_address!r} is not an IPv4 or IPv6 address") from None
        _check_enum("IpCaptureEvent", "event_name", self.event_name, IpEventName)
        _check_time("IpCaptureEvent", "date_time", self.date_time)
        _check_bool("IpCaptureEvent", "possible_proxy", self.possible_proxy)
        if self.port is not None and (type(self.port) is not int or not 1 <= self.port <= 65535):
            raise ValueError(f"IpCaptureEvent.port must be an integer from 1 to 65535, not {self.port!r}")


@dataclass(frozen=True)
class Person:
    """A person's details; every field is optional except where the containing element says."""

    first_name: str | None = None
    last_name: str | None = None
    phones: Sequence[str] = ()
    emails: Sequence[str] = ()
    age: int | None = None
    date_of_birth: date | None = None

    def __post_init__(self) -> None:
        _check_text("Person", "first_name", self.first_name, 100)
        _check_text("Person", "last_name", self.last_name, 100)
        _as_tuple(self, "phones")
        _as_tuple(self, "emails")
        for phone in self.phones:
            _check_text("Person", "phones[]", phone, 50, required=True)
        for email in self.emails:
            _check_text("Person", "emails[]", email, 255, required=True)
        if self.age is not None and (type(self.age) is not int or not 0 <= self.age <= 150):
            raise ValueError(f"Person.age must be an integer from 0 to 150, not {self.age!r}")
        if self.date_of_birth is not None and (
            not isinstance(self.date_of_birth, date) or isinstance(self.date_of_birth, datetime)
        ):
            raise ValueError("Person.date_of_birth must be a date")


@dataclass(frozen=True)
class ContactPerson:
    """Whom law enforcement should contact about the report, if not the reporting person."""

    first_name: str | None = None
    last_name: str | None = None
    phones: Sequence[str] = ()
    emails: Sequence[str] = ()

    def __post_init__(self) -> None:
        _check_text("ContactPerson", "first_name", self.first_name, 100)
        _check_text("ContactPerson", "last_name", self.last_name, 100)
        _as_tuple(self, "phones")
        _as_tuple(self, "emails")
        for phone in self.phones:
            _check_text("ContactPerson", "phones[]", phone, 50, required=True)
        for email in self.emails:
            _check_text("ContactPerson", "emails[]", email, 255, required=True)


@dataclass(frozen=True)
class IncidentSummary:
    incident_type: IncidentType
    incident_date_time: datetime
    platform: str | None = None
    # Text here escalates the report to high priority (immediate risk to a child): the reason.
    escalate_to_high_priority: str | None = None
    annotations: frozenset[ReportAnnotation] = frozenset()
    incident_date_time_description: str | None = None

    def __post_init__(self) -> None:
        if self.incident_type is None:
            raise ValueError("IncidentSummary.incident_type is required")
        _check_enum("IncidentSummary", "incident_type", self.incident_type, IncidentType)
        _check_time("IncidentSummary", "incident_date_time", self.incident_date_time, required=True)
        _check_text("IncidentSummary", "platform", self.platform, 256)
        _check_text("IncidentSummary", "escalate_to_high_priority", self.escalate_to_high_priority, 3000)
        if self.escalate_to_high_priority is not None and not self.escalate_to_high_priority.strip():
            raise ValueError("IncidentSummary.escalate_to_high_priority, when given, must say why")
        _check_text("IncidentSummary", "incident_date_time_description", self.incident_date_time_description, 3000)
        _as_frozenset(self, "annotations", ReportAnnotation)


@dataclass(frozen=True)
class InternetDetails:
    """Where the incident happened. `kind` "web_page" carries urls; "chat_im" a chat client, room
    and content. Both may carry additional_info."""

    kind: str = "web_page"
    urls: Sequence[str] = ()
    chat_client: str | None = None
    chat_room_name: str | None = None
    content: str | None = None
    additional_info: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("web_page", "chat_im"):
            raise ValueError(f"InternetDetails.kind is {self.kind!r}; expected 'web_page' or 'chat_im'")
        _as_tuple(self, "urls")
        if self.kind == "web_page":
            if self.chat_client or self.chat_room_name or self.content:
                raise ValueError("InternetDetails: chat_client, chat_room_name and content belong to kind 'chat_im'")
            for url in self.urls:
                _check_text("InternetDetails", "urls[]", url, 2083, required=True)
        elif self.urls:
            raise ValueError("InternetDetails: urls belong to kind 'web_page'")
        _check_text("InternetDetails", "chat_client", self.chat_client, 255)
        _check_text("InternetDetails", "chat_room_name", self.chat_room_name, 255)
        _check_text("InternetDetails", "content", self.content, None)
        _check_text("InternetDetails", "additional_info", self.additional_info, None)


@dataclass(frozen=True)
class Reporter:
    """The provider making the report. NCMEC requires the reporting person's e-mail address."""

    reporting_person: Person
    contact_person: ContactPerson | None = None
    company_template: str | None = None
    terms_of_service: str | None = None
    legal_url: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.reporting_person, Person):
            raise ValueError("Reporter.reporting_person must be a Person")
        if not self.reporting_person.emails:
            raise ValueError("Reporter.reporting_person needs at least one e-mail address (NCMEC requires it)")
        _check_text("Reporter", "company_template", self.company_template, None)
        _check_text("Reporter", "terms_of_service", self.terms_of_service, None)
        _check_text("Reporter", "legal_url", self.legal_url, 2083)


@dataclass(frozen=True)
class AccountDisabled:
    """That the account was disabled, when, and whether the user was told."""

    disabled_at: datetime | None = None
    user_notified: bool | None = None
    user_notified_at: datetime | None = None
    reenabled_at: datetime | None = None  # only for a temporary suspension

    def __post_init__(self) -> None:
        _check_time("AccountDisabled", "disabled_at", self.disabled_at)
        _check_bool("AccountDisabled", "user_notified", self.user_notified)
        _check_time("AccountDisabled", "user_notified_at", self.user_notified_at)
        _check_time("AccountDisabled", "reenabled_at", self.reenabled_at)


def _check_account(owner: str, obj: Any) -> None:
    _check_text(owner, "esp_identifier", obj.esp_identifier, 255)
    _check_text(owner, "esp_service", obj.esp_service, 100)
    _check_text(owner, "screen_name", obj.screen_name, 256)
    _check_bool(owner, "compromised_account", obj.compromised_account)
    _check_text(owner, "profile_bio", obj.profile_bio, None)
    _check_text(owner, "additional_info", obj.additional_info, None)
    for name in ("display_names", "profile_urls", "ip_capture_events", "prior_ct_reports"):
        _as_tuple(obj, name)
    for value in obj.display_names:
        _check_text(owner, "display_names[]", value, 256, required=True)
    for value in obj.profile_urls:
        _check_text(owner, "profile_urls[]", value, 2083, required=True)
    for event in obj.ip_capture_events:
        if not isinstance(event, IpCaptureEvent):
            raise ValueError(f"{owner}.ip_capture_events holds {type(event).__name__}, not IpCaptureEvent")
    for report_id in obj.prior_ct_reports:
        if type(report_id) is not int or report_id < 1:
            raise ValueError(f"{owner}.prior_ct_reports holds {report_id!r}, not a CyberTipline report number")
    if obj.person is not None and not isinstance(obj.person, Person):
        raise ValueError(f"{owner}.person must be a Person")
    temporary = obj.account_temporarily_disabled
    if temporary is not None and not isinstance(temporary, AccountDisabled):
        raise ValueError(f"{owner}.account_temporarily_disabled must be an AccountDisabled")
    if obj.account_permanently_disabled is not None:
        if not isinstance(obj.account_permanently_disabled, AccountDisabled):
            raise ValueError(f"{owner}.account_permanently_disabled must be an AccountDisabled")
        if obj.account_permanently_disabled.reenabled_at is not None:
            raise ValueError(f"{owner}.account_permanently_disabled cannot have a re-enabled date")


@dataclass(frozen=True)
class _Account:
    """What the reported person and a victim share: their account on the service and the person."""

    person: Person | None = None
    esp_identifier: str | None = None
    screen_name: str | None = None
    esp_service: str | None = None
    display_names: Sequence[str] = ()
    profile_urls: Sequence[str] = ()
    ip_capture_events: Sequence[IpCaptureEvent] = ()
    compromised_account: bool | None = None
    profile_bio: str | None = None
    prior_ct_reports: Sequence[int] = ()
    account_temporarily_disabled: AccountDisabled | None = None
    account_permanently_disabled: AccountDisabled | None = None
    additional_info: str | None = None

    def __post_init__(self) -> None:
        _check_account(type(self).__name__, self)


@dataclass(frozen=True)
class ReportedPerson(_Account):
    """The person or user reported (personOrUserReported)."""

    group_identifier: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_text("ReportedPerson", "group_identifier", self.group_identifier, 255)


@dataclass(frozen=True)
class Victim(_Account):
    """A child victim, if known. Without personal details, `person` may stay None: an empty
    victimPerson element is sent, which the schema requires."""

    school_name: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_text("Victim", "school_name", self.school_name, 255)


@dataclass(frozen=True)
class Report:
    """One CyberTipline report: the `<report>` document sent to `/submit`.

    `additional_info` is free text for the report as a whole. A caller that needs to recognise its
    own report later (NCMEC offers no way to look reports up) can put its internal reference there,
    e.g. "staydown report ref: 9f1c...": NCMEC and law enforcement see it, and it lets a person at
    NCMEC or at the provider match a CyberTip to the case that produced it."""

    incident_summary: IncidentSummary
    reporter: Reporter
    internet_details: Sequence[InternetDetails] = ()
    person_or_user_reported: ReportedPerson | None = None
    victims: Sequence[Victim] = ()
    additional_info: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.incident_summary, IncidentSummary):
            raise ValueError("Report.incident_summary must be an IncidentSummary")
        if not isinstance(self.reporter, Reporter):
            raise ValueError("Report.reporter must be a Reporter")
        _as_tuple(self, "internet_details")
        _as_tuple(self, "victims")
        if not self.internet_details:
            raise ValueError("Report.internet_details needs at least one entry (the schema requires one)")
        for details in self.internet_details:
            if not isinstance(details, InternetDetails):
                raise ValueError(f"Report.internet_details holds {type(details).__name__}, not InternetDetails")
        if self.person_or_user_reported is not None and not isinstance(self.person_or_user_reported, ReportedPerson):
            raise ValueError("Report.person_or_user_reported must be a ReportedPerson")
        for victim in self.victims:
            if not isinstance(victim, Victim):
                raise ValueError(f"Report.victims holds {type(victim).__name__}, not Victim")
        _check_text("Report", "additional_info", self.additional_info, None)


def _put_person(parent: ET.Element, name: str, person: Person | None, *, always: bool = False) -> None:
    if person is None and not always:
        return
    element = ET.SubElement(parent, name)
    if person is None:
        return
    _put(element, "firstName", person.first_name)
    _put(element, "lastName", person.last_name)
    _put_all(element, "phone", person.phones)
    _put_all(element, "email", person.emails)
    _put(element, "age", person.age)
    _put(element, "dateOfBirth", person.date_of_birth)


def _put_ip_event(parent: ET.Element, event: IpCaptureEvent) -> None:
    element = ET.SubElement(parent, "ipCaptureEvent")
    _put(element, "ipAddress", event.ip_address)
    _put(element, "eventName", event.event_name and IpEventName(event.event_name))
    _put(element, "dateTime", event.date_time)
    _put(element, "possibleProxy", event.possible_proxy)
    _put(element, "port", event.port)


def _put_disabled(parent: ET.Element, name: str, disabled: AccountDisabled | None) -> None:
    if disabled is None:
        return
    attrs = {
        "disabledDate": disabled.disabled_at,
        "userNotified": disabled.user_notified,
        "userNotifiedDate": disabled.user_notified_at,
    }
    if name == "accountTemporarilyDisabled":
        attrs["reenabledDate"] = disabled.reenabled_at
    _put(parent, name, True, attrs)


def _put_account_head(element: ET.Element, account: _Account) -> None:
    _put(element, "espIdentifier", account.esp_identifier)
    _put(element, "espService", account.esp_service)
    _put(element, "compromisedAccount", account.compromised_account)
    _put(element, "screenName", account.screen_name)
    _put_all(element, "displayName", account.display_names)
    _put_all(element, "profileUrl", account.profile_urls)
    _put(element, "profileBio", account.profile_bio)
    for event in account.ip_capture_events:
        _put_ip_event(element, event)


def _put_account_tail(element: ET.Element, account: _Account) -> None:
    _put_disabled(element, "accountTemporarilyDisabled", account.account_temporarily_disabled)
    _put_disabled(element, "accountPermanentlyDisabled", account.account_permanently_disabled)
    _put(element, "additionalInfo", account.additional_info)


def _report_element(report: Report) -> ET.Element:
    root = ET.Element("report")

    summary = report.incident_summary
    element = ET.SubElement(root, "incidentSummary")
    _put(element, "incidentType", IncidentType(summary.incident_type))
    _put(element, "platform", summary.platform)
    _put(element, "escalateToHighPriority", summary.escalate_to_high_priority)
    if summary.annotations:
        annotations = ET.SubElement(element, "reportAnnotations")
        for annotation in ReportAnnotation:  # schema order, whatever order the caller gave
            if annotation in summary.annotations:
                ET.SubElement(annotations, annotation.value)
    _put(element, "incidentDateTime", summary.incident_date_time)
    _put(element, "incidentDateTimeDescription", summary.incident_date_time_description)

    for details in report.internet_details:
        element = ET.SubElement(root, "internetDetails")
        if details.kind == "web_page":
            incident = ET.SubElement(element, "webPageIncident")
            _put_all(incident, "url", details.urls)
        else:
            incident = ET.SubElement(element, "chatImIncident")
            _put(incident, "chatClient", details.chat_client)
            _put(incident, "chatRoomName", details.chat_room_name)
            _put(incident, "content", details.content)
        _put(incident, "additionalInfo", details.additional_info)

    reporter = report.reporter
    element = ET.SubElement(root, "reporter")
    _put_person(element, "reportingPerson", reporter.reporting_person)
    if reporter.contact_person is not None:
        contact = ET.SubElement(element, "contactPerson")
        _put(contact, "firstName", reporter.contact_person.first_name)
        _put(contact, "lastName", reporter.contact_person.last_name)
        _put_all(contact, "phone", reporter.contact_person.phones)
        _put_all(contact, "email", reporter.contact_person.emails)
    _put(element, "companyTemplate", reporter.company_template)
    _put(element, "termsOfService", reporter.terms_of_service)
    _put(element, "legalURL", reporter.legal_url)

    reported = report.person_or_user_reported
    if reported is not None:
        element = ET.SubElement(root, "personOrUserReported")
        _put_person(element, "personOrUserReportedPerson", reported.person)
        _put_account_head(element, reported)
        _put_all(element, "priorCTReports", reported.prior_ct_reports)
        _put(element, "groupIdentifier", reported.group_identifier)
        _put_account_tail(element, reported)

    for victim in report.victims:
        element = ET.SubElement(root, "victim")
        _put_person(element, "victimPerson", victim.person, always=True)
        _put_account_head(element, victim)
        _put(element, "schoolName", victim.school_name)
        _put_all(element, "priorCTReports", victim.prior_ct_reports)
        _put_account_tail(element, victim)

    _put(root, "additionalInfo", report.additional_info)
    return root


def _serialise(root: ET.Element, spec: Spec) -> bytes:
    data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    problems = validate(data, spec)
    if problems:
        # A bug here, not bad input: the dataclasses already refused bad values.
        raise ValueError(f"the {spec.name} document built does not follow the schema: {problems[0]}")
    return data


def report_xml(report: Report) -> bytes:
    """The `<report>` document for `/submit`, UTF-8 with an XML declaration. It is checked against
    `REPORT` before it is returned."""
    if not isinstance(report, Report):
        raise ValueError(f"report_xml takes a Report, not {type(report).__name__}")
    return _serialise(_report_element(report), REPORT)


# -- file details -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FileHash:
    """A hash of the file as the user uploaded it, before the provider changed anything."""

    hash_type: str  # e.g. "MD5", "SHA1", "SHA256", "PDQ"
    value: str

    def __post_init__(self) -> None:
        _check_text("FileHash", "hash_type", self.hash_type, 64, required=True)
        _check_text("FileHash", "value", self.value, 1024, required=True)


@dataclass(frozen=True)
class FileMetadata:
    """One name/value pair of a file's metadata (`details/nameValuePair`), typed EXIF or HASH.
    A perceptual hash (PDQ) goes here as HASH: `originalFileHash` is documented as the file's
    binary hash, which a hash of the decoded picture is not."""

    name: str
    value: str
    type: str | None = None  # "EXIF" | "HASH"

    def __post_init__(self) -> None:
        _check_text("FileMetadata", "name", self.name, 64, required=True)
        _check_text("FileMetadata", "value", self.value, None, required=True)
        if self.type is not None and self.type not in ("EXIF", "HASH"):
            raise ValueError(f"FileMetadata.type is {self.type!r}; expected 'EXIF' or 'HASH'")


@dataclass(frozen=True)
class FileDetails:
    """The `<fileDetails>` document for `/fileinfo`, describing one uploaded file.

    `file_viewed_by_esp` has no default on purpose. True tells NCMEC and law enforcement that a
    person at the provider looked at this file; in the US that view is what lets an investigator
    open the file without a warrant. So it must be True only when an audited human view of this
    very file exists (the case's view record), never because a hash matched, and the caller must
    decide it every time."""

    report_id: int
    file_id: str
    file_viewed_by_esp: bool
    original_file_name: str | None = None
    uploaded_to_esp_at: datetime | None = None
    location_of_file: str | None = None
    exif_viewed_by_esp: bool | None = None
    publicly_available: bool | None = None
    file_relevance: FileRelevance | None = None
    annotations: frozenset[FileAnnotation] = frozenset()
    industry_classification: str | None = None
    original_file_hashes: Sequence[FileHash] = ()
    ip_capture_event: IpCaptureEvent | None = None
    metadata: Sequence[FileMetadata] = ()
    additional_info: Sequence[str] = ()

    def __post_init__(self) -> None:
        if type(self.report_id) is not int or self.report_id < 1:
            raise ValueError(f"FileDetails.report_id must be the positive report number, not {self.report_id!r}")
        _check_text("FileDetails", "file_id", self.file_id, 255, required=True)
        _check_bool("FileDetails", "file_viewed_by_esp", self.file_viewed_by_esp, required=True)
        _check_text("FileDetails", "original_file_name", self.original_file_name, 2056)
        _check_time("FileDetails", "uploaded_to_esp_at", self.uploaded_to_esp_at)
        _check_text("FileDetails", "location_of_file", self.location_of_file, 2083)
        _check_bool("FileDetails", "exif_viewed_by_esp", self.exif_viewed_by_esp)
        _check_bool("FileDetails", "publicly_available", self.publicly_available)
        _check_enum("FileDetails", "file_relevance", self.file_relevance, FileRelevance)
        _as_frozenset(self, "annotations", FileAnnotation)
        if self.industry_classification is not None and self.industry_classification not in _CLASSIFICATIONS:
            raise ValueError(
                f"FileDetails.industry_classification is {self.industry_classification!r}; expected A1, A2, B1 or B2"
            )
        if self.file_relevance == FileRelevance.SUPPLEMENTAL_REPORTED and (
            self.industry_classification is not None or FileAnnotation.POTENTIAL_MEME in self.annotations
        ):
            raise ValueError(
                "FileDetails: only a 'Reported' file may carry an industry classification "
                "or the potentialMeme annotation"
            )
        _as_tuple(self, "original_file_hashes")
        _as_tuple(self, "metadata")
        _as_tuple(self, "additional_info")
        for pair in self.metadata:
            if not isinstance(pair, FileMetadata):
                raise ValueError(f"FileDetails.metadata holds {type(pair).__name__}, not FileMetadata")
        for item in self.original_file_hashes:
            if not isinstance(item, FileHash):
                raise ValueError(f"FileDetails.original_file_hashes holds {type(item).__name__}, not FileHash")
        if self.ip_capture_event is not None and not isinstance(self.ip_capture_event, IpCaptureEvent):
            raise ValueError("FileDetails.ip_capture_event must be an IpCaptureEvent")
        for text in self.additional_info:
            _check_text("FileDetails", "additional_info[]", text, None, required=True)


def file_details_xml(details: FileDetails) -> bytes:
    """The `<fileDetails>` document for `/fileinfo`. `fileViewedByEsp` is always sent, true or
    false, as the caller decided it."""
    if not isinstance(details, FileDetails):
        raise ValueError(f"file_details_xml takes a FileDetails, not {type(details).__name__}")
    root = ET.Element("fileDetails")
    _put(root, "reportId", details.report_id)
    _put(root, "fileId", details.file_id)
    _put(root, "originalFileName", details.original_file_name)
    _put(root, "uploadedToEspTimestamp", details.uploaded_to_esp_at)
    _put(root, "locationOfFile", details.location_of_file)
    _put(root, "fileViewedByEsp", details.file_viewed_by_esp)
    _put(root, "exifViewedByEsp", details.exif_viewed_by_esp)
    _put(root, "publiclyAvailable", details.publicly_available)
    _put(root, "fileRelevance", details.file_relevance and FileRelevance(details.file_relevance))
    if details.annotations:
        annotations = ET.SubElement(root, "fileAnnotations")
        for annotation in FileAnnotation:
            if annotation in details.annotations:
                ET.SubElement(annotations, annotation.value)
    _put(root, "industryClassification", details.industry_classification)
    for item in details.original_file_hashes:
        _put(root, "originalFileHash", item.value, {"hashType": item.hash_type})
    if details.ip_capture_event is not None:
        _put_ip_event(root, details.ip_capture_event)
    if details.metadata:
        holder = ET.SubElement(root, "details")
        for pair in details.metadata:
            element = ET.SubElement(holder, "nameValuePair")
            if pair.type:
                element.set("type", pair.type)
            _put(element, "name", pair.name)
            _put(element, "value", pair.value)
    _put_all(root, "additionalInfo", details.additional_info)
    return _serialise(root, FILE_DETAILS)


# -- parsing and checking ---------------------------------------------------------------------


class XmlProblem(ValueError):
    """A document that cannot be used. `code` is the NCMEC response code a server answers with:
    4110 when it is not well-formed XML, 4100 when it is XML that breaks the schema."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_xml(data: bytes) -> ET.Element:
    """Parse an untrusted document. Refuses, as XmlProblem(4110): anything over
    MAX_DOCUMENT_BYTES, anything that is not UTF-8, any DOCTYPE (so no entity can be declared, let
    alone expanded), anything not well-formed, and nesting deeper than MAX_DEPTH."""
    if not isinstance(data, (bytes, bytearray)):
        raise XmlProblem(4110, "the document must be bytes")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise XmlProblem(4110, f"the document has {len(data)} bytes; at most {MAX_DOCUMENT_BYTES} are accepted")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise XmlProblem(4110, f"the document is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise XmlProblem(4110, "the document declares a DOCTYPE or an entity, which is not accepted")
    try:
        root = ET.fromstring(bytes(data))
    except ET.ParseError as exc:
        raise XmlProblem(4110, f"the document is not well-formed XML ({exc})") from None
    _check_depth(root, 1)
    return root


def _check_depth(element: ET.Element, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise XmlProblem(4110, f"the document nests deeper than {MAX_DEPTH} elements")
    for child in element:
        _check_depth(child, depth + 1)


_XSI = "{http://www.w3.org/2001/XMLSchema-instance}"


def _simple_problem(
    path: str,
    kind: str,
    text: str,
    spec_enum: frozenset[str] | None,
    max_len: int | None = None,
    lo: int | None = None,
    hi: int | None = None,
) -> str | None:
    if kind in ("string",):
        if max_len is not None and len(text) > max_len:
            return f"{path}: {len(text)} characters, at most {max_len} allowed"
        return None
    value = text.strip()
    if kind == "bool":
        return None if value in ("true", "false", "1", "0") else f"{path}: {value!r} is not a boolean"
    if kind == "int":
        if not re.fullmatch(r"[+-]?\d{1,19}", value):
            return f"{path}: {value!r} is not an integer"
        number = int(value)
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            return f"{path}: {number} is outside {lo}..{hi}"
        return None
    if kind == "datetime":
        if not re.fullmatch(r"-?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?", value):
            return f"{path}: {value!r} is not an xs:dateTime"
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return f"{path}: {value!r} is not a valid date and time"
        return None
    if kind == "date":
        try:
            date.fromisoformat(value)
        except ValueError:
            return f"{path}: {value!r} is not an xs:date"
        return None
    if kind == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return f"{path}: {value!r} is not an IP address"
        return None
    if kind == "enum":
        assert spec_enum is not None
        return None if value in spec_enum else f"{path}: {value!r} is not one of the allowed values"
    raise AssertionError(kind)


def _check_attrs(element: ET.Element, spec: Spec, path: str, problems: list[str]) -> None:
    for key, value in element.attrib.items():
        if key.startswith(_XSI):
            continue
        if key not in spec.attrs:
            problems.append(f"{path}: attribute {key!r} is not allowed")
            continue
        kind, allowed = spec.attrs[key]
        problem = _simple_problem(f"{path}/@{key}", kind, value, allowed)
        if problem:
            problems.append(problem)
    for key in spec.required_attrs:
        if key not in element.attrib:
            problems.append(f"{path}: attribute {key!r} is required")


def _check_element(element: ET.Element, spec: Spec, path: str, problems: list[str]) -> None:
    if spec.kind == "any":
        return
    _check_attrs(element, spec, path, problems)
    text = element.text or ""
    if spec.kind in ("complex", "flag"):
        stray = text.strip() or any((child.tail or "").strip() for child in element)
        if stray:
            problems.append(f"{path}: text is not allowed here")
        if spec.kind == "flag":
            if len(element):
                problems.append(f"{path}: must be empty")
            return
        _check_children(element, spec, path, problems)
        return
    if len(element):
        problems.append(f"{path}: must hold a value, not elements")
        return
    if spec.kind != "string" and not text.strip():
        problems.append(f"{path}: is empty")
        return
    problem = _simple_problem(path, spec.kind, text, spec.enum, spec.max_len, spec.lo, spec.hi)
    if problem:
        problems.append(problem)


def _check_children(element: ET.Element, spec: Spec, path: str, problems: list[str]) -> None:
    children = list(element)
    if spec.choice:
        if len(children) != 1:
            names = ", ".join(s.name for s in spec.children)
            problems.append(f"{path}: must hold exactly one of {names}, holds {len(children)} elements")
        for child in children:
            try:
                child_spec = spec.child(child.tag)
            except KeyError:
                problems.append(f"{path}: <{child.tag}> is not allowed here")
                continue
            _check_element(child, child_spec, f"{path}/{child.tag}", problems)
        return
    position = 0
    counts: dict[str, int] = {}
    for child in children:
        tag = child.tag if isinstance(child.tag, str) else "?"
        start = position
        while position < len(spec.children) and spec.children[position].name != tag:
            position += 1
        if position == len(spec.children):
            known = any(s.name == tag for s in spec.children)
            why = "is out of order" if known else "is not allowed here"
            expected = [s.name for s in spec.children[start:]]
            problems.append(f"{path}: <{tag}> {why} (next allowed: {', '.join(expected) or 'nothing'})")
            return
        child_spec = spec.children[position]
        counts[tag] = counts.get(tag, 0) + 1
        if child_spec.max is not None and counts[tag] > child_spec.max:
            problems.append(f"{path}: <{tag}> occurs more than {child_spec.max} time(s)")
        _check_element(child, child_spec, f"{path}/{tag}", problems)
    for child_spec in spec.children:
        if counts.get(child_spec.name, 0) < child_spec.min:
            problems.append(f"{path}: <{child_spec.name}> is required")


def validate(data: bytes | ET.Element, spec: Spec) -> list[str]:
    """Every way `data` breaks `spec` (empty when it follows it). Raises XmlProblem(4110) for a
    document that is not well-formed."""
    root = data if isinstance(data, ET.Element) else parse_xml(data)
    if root.tag != spec.name:
        return [f"the root element is <{root.tag}>, expected <{spec.name}>"]
    problems: list[str] = []
    _check_element(root, spec, spec.name, problems)
    return problems


def validate_report(data: bytes) -> list[str]:
    return validate(data, REPORT)


def validate_file_details(data: bytes) -> list[str]:
    return validate(data, FILE_DETAILS)


# -- responses --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    """A server answer: `<reportResponse>` (most calls) or `<reportDoneResponse>` (finish)."""

    code: int
    description: str
    report_id: int | None
    file_id: str | None
    hash: str | None
    raw: bytes
    root: str = "reportResponse"
    file_ids: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == ResponseCode.SUCCESS


def _child_text(root: ET.Element, name: str) -> str | None:
    element = root.find(name)
    if element is None:
        return None
    return (element.text or "").strip()


def parse_response(data: bytes) -> Response:
    """Read a server answer. Raises ValueError for anything that is not a well-formed
    `reportResponse` or `reportDoneResponse` with an integer `responseCode`."""
    try:
        root = parse_xml(data)
    except XmlProblem as exc:
        raise ValueError(f"unreadable answer: {exc.message}") from None
    if root.tag not in ("reportResponse", "reportDoneResponse"):
        raise ValueError(f"unexpected answer <{root.tag}>, expected <reportResponse> or <reportDoneResponse>")
    code_text = _child_text(root, "responseCode")
    if code_text is None or not re.fullmatch(r"-?\d{1,9}", code_text):
        raise ValueError(f"the answer <{root.tag}> has no integer responseCode")
    report_text = _child_text(root, "reportId")
    report_id = None
    if report_text:
        if not re.fullmatch(r"\d{1,19}", report_text):
            raise ValueError(f"the answer's reportId {report_text!r} is not a number")
        report_id = int(report_text)
    files = root.find("files")
    file_ids = tuple((e.text or "").strip() for e in (files if files is not None else root).findall("fileId"))
    code = int(code_text)
    return Response(
        code=code,
        description=_child_text(root, "responseDescription") or ResponseCode.DESCRIPTIONS.get(code, ""),
        report_id=report_id,
        file_id=_child_text(root, "fileId") if root.tag == "reportResponse" else None,
        hash=_child_text(root, "hash"),
        raw=bytes(data),
        root=root.tag,
        file_ids=file_ids if root.tag == "reportDoneResponse" else (),
    )


def response_xml(
    code: int,
    description: str | None = None,
    *,
    report_id: int | None = None,
    file_id: str | None = None,
    hash: str | None = None,
    done_file_ids: Sequence[str] | None = None,
) -> bytes:
    """An answer document as the server sends it: `<reportDoneResponse>` when `done_file_ids` is
    given (a finished report), `<reportResponse>` otherwise."""
    if done_file_ids is not None:
        root = ET.Element("reportDoneResponse")
        _put(root, "responseCode", code)
        _put(root, "reportId", report_id)
        files = ET.SubElement(root, "files")
        _put_all(files, "fileId", done_file_ids)
    else:
        root = ET.Element("reportResponse")
        _put(root, "responseCode", code)
        _put(
            root,
            "responseDescription",
            description if description is not None else ResponseCode.DESCRIPTIONS.get(code, ""),
        )
        _put(root, "reportId", report_id)
        _put(root, "fileId", file_id)
        _put(root, "hash", hash)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
