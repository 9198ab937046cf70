"""Remove personal data from free text before it leaves staydown's staff view (public statement
pages, the EU Transparency Database).

Patterns catch what has a shape (e-mail addresses, URLs and domain names, IP addresses, @handles,
phone numbers, long identifiers); `known` catches what has none but is known to the caller (an
account's handle and platform id, a notifier's name). Names of people mentioned in passing have no
reliable shape: runs of two or more capitalised words are removed as well, which costs some
harmless words and is why the Transparency Database body leaves the reviewer's words out by
default (see tdb.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_URL = re.compile(r"\b(?:[a-z][a-z0-9+.-]*://|www\.)\S+", re.IGNORECASE)
# A bare domain name ("example.org/path"): two or more labels ending in a letters-only TLD.
_DOMAIN = re.compile(r"\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b(?:/\S*)?", re.IGNORECASE)
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?\b")
# Two or more colons between hex groups: IPv6 (and, harmlessly, a clock time with seconds).
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![\w:])", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@[\w.-]+", re.UNICODE)
# Digits with separators; a phone number or an id once it has 7 digits or more (dates excepted).
_DIGITS = re.compile(r"\+?\(?\d[\d\s().\-/]{4,}\d")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Identifiers: a token of 8+ letters and digits with at least one digit (uuid parts, user ids).
_TOKEN_ID = re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{8,}\b")
_NAME_RUN = re.compile(r"\b[A-Z][\w'’-]*(?:[ \t]+(?:[a-z]{1,3}[ \t]+)?[A-Z][\w'’-]*)+", re.UNICODE)


def _digits(match: re.Match[str]) -> str:
    text = match.group(0)
    if _ISO_DATE.fullmatch(text.strip()):
        return text
    return REDACTED if sum(c.isdigit() for c in text) >= 7 else text


def scrub_personal_data(text: str, *, known: Iterable[str | None] = ()) -> str:
    """`text` with personal data replaced by "[redacted]". Known values go first (longest first,
    case-insensitively), so that a handle or name is removed whole before patterns cut into it."""
    if not text:
        return ""
    out = text
    for value in sorted({v.strip() for v in known if v and len(v.strip()) >= 2}, key=len, reverse=True):
        out = re.sub(re.escape(value), REDACTED, out, flags=re.IGNORECASE)
    out = _EMAIL.sub(REDACTED, out)
    out = _URL.sub(REDACTED, out)
    out = _DOMAIN.sub(REDACTED, out)
    out = _IPV4.sub(REDACTED, out)
    out = _IPV6.sub(lambda m: REDACTED if m.group(0).count(":") >= 2 and len(m.group(0)) > 2 else m.group(0), out)
    out = _HANDLE.sub(REDACTED, out)
    out = _DIGITS.sub(_digits, out)
    out = _TOKEN_ID.sub(REDACTED, out)
    out = _NAME_RUN.sub(REDACTED, out)
    # Adjacent redactions say no more than one.
    out = re.sub(r"(?:\[redacted\][\s,;:/.-]*){2,}", REDACTED + " ", out).strip()
    return out
