"""Reading and checking the public forms: size and field limits, CSRF, and errors per field."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from staydown.errors import InvalidInput, PayloadTooLarge
from staydown.i18n import gettext as _
from staydown.intake.schemas import EMAIL_RE, MAX_EXPLANATION
from staydown.web.security import CSRF_FIELD, verify_csrf

# A public form is a few short fields and one explanation: far below the API's 1 MiB, so a flood
# of large bodies is refused before any of it is parsed.
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 40
FORM_ID_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_LOCATIONS = 20


@dataclass
class Form:
    """A submitted form's text values and the errors found in them, by field name (in page order)."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.values.get(name, "").strip()

    def checked(self, name: str) -> bool:
        return self.values.get(name) in ("on", "yes", "true", "1")

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def text(
        self, name: str, *, label: str, limit: int, required: bool = False, minimum: int = 0, missing: str = ""
    ) -> str:
        """A text field. `label` names the field as its page does ("Your signature"), already
        translated; `missing` is the whole message for a required field left empty."""
        value = self.get(name)
        if required and not value:
            self.error(name, missing or _("%(field)s: this cannot be empty", field=label))
        elif len(value) > limit:
            self.error(
                name,
                _(
                    "%(field)s must be %(limit)s characters or fewer (it is %(length)s)",
                    field=label,
                    limit=limit,
                    length=len(value),
                ),
            )
        elif value and len(value) < minimum:
            self.error(name, _("%(field)s must be at least %(minimum)s characters", field=label, minimum=minimum))
        return value

    def email(self, name: str, *, required: bool = False) -> str | None:
        value = self.get(name)
        if not value:
            if required:
                self.error(name, _("Enter an e-mail address"))
            return None
        if len(value) > 320 or not EMAIL_RE.match(value):
            self.error(name, _("Enter an e-mail address in the form name@example.com"))
            return None
        return value

    def choice(self, name: str, allowed: dict[str, Any], *, message: str) -> str | None:
        value = self.get(name)
        if value not in allowed:
            self.error(name, message)
            return None
        return value


async def read_form(request: Request) -> Form:
    """The posted form, after the size limit and the CSRF check (before any database work)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise PayloadTooLarge(f"the form is {declared} bytes; a form here may be at most {MAX_FORM_BYTES} bytes")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PayloadTooLarge(f"the form is {len(body)} bytes; a form here may be at most {MAX_FORM_BYTES} bytes")
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        raise InvalidInput("send this form from the page: it must be application/x-www-form-urlencoded")
    try:
        raw = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    except Exception as exc:  # noqa: BLE001 - starlette raises its own parse errors (too many fields, files)
        raise InvalidInput(f"the form could not be read: {exc}") from None
    values: dict[str, str] = {}
    for key, value in raw.multi_items():
        if not isinstance(value, str):
            raise InvalidInput("this form takes no files")
        values[key] = value  # the last value wins: no field of ours is repeated
    verify_csrf(request, values.get(CSRF_FIELD))
    return Form(values)


def new_form_id() -> str:
    return secrets.token_urlsafe(18)


def form_id(value: str) -> str | None:
    return value if FORM_ID_RE.match(value or "") else None


@dataclass
class Location:
    content_id: str | None = None
    url: str | None = None

    def as_item(self) -> dict[str, str]:
        return {k: v for k, v in (("content_id", self.content_id), ("url", self.url)) if v}


def parse_location(value: str) -> tuple[Location | None, str | None]:
    """A content id from the platform's link, or a web address: (location, error)."""
    value = value.strip()
    if not value:
        return None, None
    if value.lower().startswith(("http://", "https://")):
        if len(value) > 2048:
            return None, _("A web address must be 2048 characters or fewer")
        if any(c.isspace() for c in value):
            return None, _("A web address cannot contain spaces")
        return Location(url=value), None
    if "://" in value or value.lower().startswith("www."):
        return None, _("Enter the full web address, starting with https://")
    if len(value) > 200:
        return None, _("An item id must be 200 characters or fewer")
    return Location(content_id=value), None


def parse_locations(form: Form, name: str, *, required: bool, missing: str = "") -> list[Location]:
    """The addresses or ids of a field, one a line; `missing`: the message when none is given."""
    lines = [line for line in form.values.get(name, "").splitlines() if line.strip()]
    if not lines:
        if required:
            form.error(name, missing or _("Enter the web address of the image or video, or its id on the platform"))
        return []
    if len(lines) > MAX_LOCATIONS:
        form.error(
            name,
            _(
                "List at most %(limit)s images or videos in one request (you listed %(count)s)",
                limit=MAX_LOCATIONS,
                count=len(lines),
            ),
        )
        return []
    out = []
    for number, line in enumerate(lines, start=1):
        location, problem = parse_location(line)
        if problem:
            form.error(
                name, _("Line %(number)s: %(problem)s", number=number, problem=problem) if len(lines) > 1 else problem
            )
            return []
        if location is not None:
            out.append(location)
    return out


EXPLANATION_LIMIT = MAX_EXPLANATION
