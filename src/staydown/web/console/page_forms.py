"""Small helpers the console's bank, evidence, admin and audit pages share: checked form fields, redirects."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from fastapi.responses import RedirectResponse

from staydown.errors import InvalidInput
from staydown.i18n import N_
from staydown.i18n import gettext as _

# Known outcomes a page may announce after a redirect (?done=...): a fixed list, so a crafted
# link can't put words in the console's mouth.
DONE_MESSAGES = {
    "entry-disabled": N_("The entry was disabled as a false positive; it no longer matches."),
    "entry-enabled": N_("The entry was re-enabled; it matches again."),
    "report-confirmed": N_(
        "The report was confirmed; it is filed with the CyberTipline as soon as every file it "
        "waits for from the platform has arrived."
    ),
    "filed-without": N_(
        "The report goes without that file, for the reasons given; it is filed once nothing else is awaited."
    ),
    "reports-drafted": N_("Draft reports were created for the case; review and confirm each one."),
    "nca-report-confirmed": N_("The report was confirmed; it is queued for filing with the National Crime Agency."),
    "hold-placed": N_("The hold was placed."),
    "hold-released": N_("The hold was released."),
    "destruction-requested": N_("The destruction request was recorded; a second person must approve it."),
    "destroyed": N_("The item was destroyed; its record and custody log remain."),
    "flagger-added": N_("The trusted flagger was registered."),
    "staff-created": N_("The staff user was created."),
    "roles-changed": N_("The roles were changed."),
    "deactivated": N_("The staff user was deactivated; their sessions no longer work."),
    "password-set": N_("The password was set."),
    "totp-reset": N_("Two-step sign-in was reset and their sessions ended; they can enrol a new device."),
    "key-revoked": N_("The API key was revoked."),
}


def done_message(done: str | None) -> str | None:
    found = DONE_MESSAGES.get(done or "")
    return _(found) if found else None


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def text(value: str | None, *, label: str, max_len: int, min_len: int = 1) -> str:
    """A required text field, stripped, with its length checked; the message names the field."""
    clean = (value or "").strip()
    if len(clean) < min_len:
        raise InvalidInput(
            _("%(field)s is required", field=_(label))
            if min_len <= 1
            else _("%(field)s needs at least %(min)s characters", field=_(label), min=min_len)
        )
    if len(clean) > max_len:
        raise InvalidInput(
            _(
                "%(field)s is at most %(max)s characters (it has %(length)s)",
                field=_(label),
                max=max_len,
                length=len(clean),
            )
        )
    return clean


def optional_text(value: str | None, *, label: str, max_len: int) -> str | None:
    clean = (value or "").strip()
    if not clean:
        return None
    return text(clean, label=label, max_len=max_len)


def future_date(value: str | None, *, label: str, today: datetime) -> datetime:
    """A YYYY-MM-DD date field, taken as the end of that day UTC, which must be after `today`."""
    try:
        day = date.fromisoformat((value or "").strip())
    except ValueError:
        raise InvalidInput(_("%(field)s is a date as YYYY-MM-DD", field=_(label))) from None
    end = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
    if end <= today:
        raise InvalidInput(_("%(field)s must be in the future", field=_(label)))
    return end


def page_number(value: str | None) -> int:
    """The ?page= of a paged list, from 1; anything else is a clear 400, not a crash."""
    clean = (value or "1").strip()
    if not clean.isdigit() or len(clean) > 6 or int(clean) < 1:
        raise InvalidInput(_("page is a whole number from 1"))
    return int(clean)
