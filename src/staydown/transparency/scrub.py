"""Remove personal data from free text before it leaves staydown's staff view: the one scrubber for
every surface a person's words reach outside (statements of reasons and their public page, the
notifier's status page and e-mails, the actions feed and webhooks, the EU Transparency Database).

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
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from staydown.cases.models import Case
from staydown.intake.models import Notice, NoticeItem, TrustedFlagger
from staydown.subjects.models import PlatformAccount, PlatformContent

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


def _known_pattern(value: str) -> re.Pattern[str]:
    # Whole values only: an account id "up-1" must not cut "up-12" (another value, on its own)
    # nor a handle "al" eat the start of "also".
    return re.compile(
        r"(?<!\w)" + re.escape(value) + r"(?!\w)"
        if value[0].isalnum() or value[0] == "_"
        else re.escape(value) + r"(?!\w)",
        re.IGNORECASE,
    )


def scrub_personal_data(text: str, *, known: Iterable[str | None] = ()) -> str:
    """`text` with personal data replaced by "[redacted]". Known values go first (longest first,
    case-insensitively), so that a handle or name is removed whole before patterns cut into it."""
    if not text:
        return ""
    out = text
    lowered = out.lower()
    for value in sorted({v.strip() for v in known if v and len(v.strip()) >= 2}, key=len, reverse=True):
        if value.lower() not in lowered:  # the common case, and cheap: most values are not there
            continue
        out = _known_pattern(value).sub(REDACTED, out)
        lowered = out.lower()
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


# -- what is known about the people on a case -----------------------------------------------------

# Keys of the metadata a platform registers with an account or content, or of a notice's details,
# whose values name or reach a person.
IDENTITY_KEYS = frozenset(
    {
        "name",
        "display_name",
        "real_name",
        "full_name",
        "username",
        "screen_name",
        "handle",
        "email",
        "contact_email",
        "phone",
        "phone_number",
        "contact_phone",
        "mobile",
        "profile_url",
        "contact_name",
    }
)


def identity_values(meta: Any) -> list[str]:
    """The values under IDENTITY_KEYS, at any depth of a metadata or details tree."""
    found: list[str] = []
    if isinstance(meta, dict):
        for key, value in meta.items():
            if str(key).lower() in IDENTITY_KEYS and isinstance(value, (str, int)) and not isinstance(value, bool):
                found.append(str(value))
            elif isinstance(value, (dict, list)):
                found += identity_values(value)
    elif isinstance(meta, list):
        for value in meta:
            found += identity_values(value)
    return found


@dataclass(frozen=True)
class Scrubber:
    """`scrub_personal_data` with the identifiers of one or more cases: every handle, platform
    account and content id, address, name, e-mail and phone number of the contents and accounts
    reported in them and of their notices (notifiers, signatures, trusted flaggers)."""

    known: frozenset[str] = frozenset()

    def __call__(self, text: str | None, *, also: Iterable[str | None] = ()) -> str:
        return scrub_personal_data(text or "", known=[*self.known, *also])

    def with_values(self, values: Iterable[str | None]) -> Scrubber:
        return Scrubber(self.known | {v.strip() for v in values if v and v.strip()})


_SCRUBBER_CACHE = "staydown.scrub.cases"


def case_identifiers(db: Any, case_ids: Iterable[int]) -> set[str]:
    """Every identifier of the people on these cases (the union), read in a few queries."""
    return set().union(*identifiers_by_case(db, case_ids).values())


def identifiers_by_case(db: Any, case_ids: Iterable[int]) -> dict[int, set[str]]:
    """Every identifier of the people on each case, for many cases in the same few queries (a
    page of the actions feed, a batch of webhooks): its content and every content reported into
    it (platform id, address, metadata naming a person), their accounts (platform id, handle,
    metadata), its notices (notifier's name, e-mail, signature, reporting account and its handle,
    trusted flagger, order reference)."""
    ids = sorted({int(c) for c in case_ids if c})
    values: dict[int, set[str]] = {c: set() for c in ids}
    if not ids:
        return values
    contents: dict[int, set[int]] = {c: set() for c in ids}
    for case_id, content_id, url in db.execute(sa.select(Case.id, Case.content_id, Case.url).where(Case.id.in_(ids))):
        if content_id:
            contents[case_id].add(content_id)
        if url:
            values[case_id].add(url)
    for case_id, content_id, url in db.execute(
        sa.select(NoticeItem.case_id, NoticeItem.content_id, NoticeItem.url).where(NoticeItem.case_id.in_(ids))
    ):
        if content_id:
            contents[case_id].add(content_id)
        if url:
            values[case_id].add(url)
    reporter_ids: dict[int, set[str]] = {c: set() for c in ids}
    for row in db.execute(
        sa.select(
            NoticeItem.case_id,
            Notice.contact_name,
            Notice.contact_email,
            Notice.reporter_platform_id,
            Notice.signature,
            Notice.details,
            TrustedFlagger.name,
            TrustedFlagger.contact_email,
        )
        .join(Notice, Notice.id == NoticeItem.notice_id)
        .outerjoin(TrustedFlagger, TrustedFlagger.id == Notice.trusted_flagger_id)
        .where(NoticeItem.case_id.in_(ids))
    ):
        case_id = row[0]
        values[case_id] |= {v for v in (row[1], row[2], row[3], row[4], row[6], row[7]) if v}
        values[case_id] |= set(identity_values(row[5]))
        order = row[5].get("order") if isinstance(row[5], dict) else None
        if isinstance(order, dict) and order.get("reference"):
            values[case_id].add(str(order["reference"]))
        if row[3]:
            reporter_ids[case_id].add(row[3])
    accounts: dict[int, set[int]] = {c: set() for c in ids}
    all_contents = sorted(set().union(*contents.values()))
    if all_contents:
        owner: dict[int, int | None] = {}
        found: dict[int, set[str]] = {}
        for content_id, platform_id, url, account_id, meta in db.execute(
            sa.select(
                PlatformContent.id,
                PlatformContent.platform_id,
                PlatformContent.url,
                PlatformContent.account_id,
                PlatformContent.meta,
            ).where(PlatformContent.id.in_(all_contents))
        ):
            found[content_id] = {v for v in (platform_id, url) if v} | set(identity_values(meta))
            owner[content_id] = account_id
        for case_id, cids in contents.items():
            for cid in cids:
                values[case_id] |= found.get(cid, set())
                if owner.get(cid):
                    accounts[case_id].add(owner[cid])  # type: ignore[arg-type]
    reporters = sorted(set().union(*reporter_ids.values()))
    by_platform_id: dict[str, int] = {}
    if reporters:
        # A notifier who reported from their platform account: their handle is on the case too.
        by_platform_id = dict(
            db.execute(
                sa.select(PlatformAccount.platform_id, PlatformAccount.id).where(
                    PlatformAccount.platform_id.in_(reporters)
                )
            ).all()
        )
        for case_id, rids in reporter_ids.items():
            accounts[case_id] |= {by_platform_id[r] for r in rids if r in by_platform_id}
    all_accounts = sorted(set().union(*accounts.values()))
    if all_accounts:
        known: dict[int, set[str]] = {}
        for account_id, platform_id, handle, meta in db.execute(
            sa.select(
                PlatformAccount.id, PlatformAccount.platform_id, PlatformAccount.handle, PlatformAccount.meta
            ).where(PlatformAccount.id.in_(all_accounts))
        ):
            these = {v for v in (platform_id, handle) if v} | set(identity_values(meta))
            if handle and handle.startswith("@"):
                these.add(handle[1:])
            known[account_id] = these
        for case_id, aids in accounts.items():
            for aid in aids:
                values[case_id] |= known.get(aid, set())
    return {c: {v.strip() for v in vs if v and v.strip()} for c, vs in values.items()}


def _cache(db: Any) -> dict[Any, Any]:
    txn = db.get_transaction()
    entry = db.info.get(_SCRUBBER_CACHE)
    if entry is None or entry[0] is not txn:
        entry = (txn, {})
        db.info[_SCRUBBER_CACHE] = entry
    return entry[1]


def _key(db: Any, case_id: int) -> tuple[int, int]:
    case = db.get(Case, case_id)
    return case_id, (case.notice_count if case is not None else 0)


def prefetch_scrubbers(db: Any, case_ids: Iterable[int | None]) -> None:
    """Read the identifiers of many cases at once into this transaction's cache, so that
    `case_scrubber` asks nothing per action (a page of the feed, a batch of webhooks)."""
    ids = sorted({c for c in case_ids if c})
    if not ids:
        return
    cache = _cache(db)
    # Held by the cache, so that case_scrubber's db.get finds them in the identity map.
    cases = list(db.execute(sa.select(Case).where(Case.id.in_(ids))).scalars())
    cache.setdefault("held", []).extend(cases)
    counts = {c.id: c.notice_count for c in cases}
    missing = [c for c in ids if ((c,), (counts.get(c, 0),)) not in cache]
    for case_id, values in identifiers_by_case(db, missing).items():
        cache[((case_id,), (counts.get(case_id, 0),))] = Scrubber(frozenset(values))


def case_scrubber(db: Any, *case_ids: int | None) -> Scrubber:
    """The scrubber for these cases, read once per transaction and case (a sweep's statements
    and a batch of webhooks share it); a notice that joins later in the transaction is seen."""
    wanted = tuple(sorted({c for c in case_ids if c}))
    cache = _cache(db)
    keys = [_key(db, c) for c in wanted]
    key = (wanted, tuple(n for _, n in keys))
    found = cache.get(key)
    if found is None:
        found = cache[key] = Scrubber(frozenset(case_identifiers(db, wanted)))
    return found
