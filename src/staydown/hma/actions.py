"""HMA's banks, bank content, hashing and lookups, expressed in staydown's banks, media and matcher.

HMA (OpenMediaMatch) names banks `[A-Z_][A-Z0-9_]*`; staydown's names are lower case, so an HMA
name is a staydown bank's name in upper case and back (`MY_BANK` is the bank `my_bank`). A bank
content item is one original bank entry; the other digests of the same media hang from it, as
staydown's own variants do, so a match through any of them answers the item's id. HMA's signal
type names: `pdq`, `video_md5` (staydown's md5) and `vpdq`; content types `photo` and `video`.

Nothing here deletes what matched once: HMA's "delete content" disables the entries (audited, with
the caller as actor), and a bank is deleted only if it never held an entry.
"""

from __future__ import annotations

import json as _json
import random
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown.actors import SYSTEM, Actor
from staydown.db import now
from staydown.errors import Conflict, InvalidInput, NotFound
from staydown.exchanges.models import Exchange
from staydown.hma.models import HmaBank, HmaContent
from staydown.matching import banks, vpdq
from staydown.matching.engine import MatchEngine
from staydown.matching.matcher import BankMatch
from staydown.matching.models import Bank, BankEntry, BankSource, MatchAction
from staydown.media.hashing import hamming

HMA_BANK_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,79}$")
# HMA's signal type name -> staydown's.
SIGNAL_TYPES = {"pdq": "pdq", "video_md5": "md5", "vpdq": "vpdq"}
HMA_SIGNAL_NAME = {ours: theirs for theirs, ours in SIGNAL_TYPES.items()}
CONTENT_TYPES = {"photo": ("pdq",), "video": ("video_md5", "vpdq")}
MAX_NOTE = 255  # HMA's limit (staydown's own notes may be longer)
MAX_METADATA_JSON = 16_384
FIVE_YEARS = 5 * 365 * 86_400
DEFAULT_PURPOSE = "hash matching for the platform's own lookups through the HMA-compatible API"
DEFAULT_POLICY = "other-illegal"
# What HMA names: a bank, or an exchange (whose bank has the same name).
Named = TypeVar("Named", Bank, Exchange)


# -- banks ------------------------------------------------------------------------------------


def staydown_name(hma_name: str) -> str:
    return hma_name.lower()


def hma_name(bank: Bank) -> str:
    return bank.name.upper()


def find_named(db: Session, model: type[Named], name: str) -> Named | None:
    """The bank or exchange an HMA name (upper case) denotes, if any."""
    if not name or len(name) > 80:
        return None
    return db.execute(sa.select(model).where(model.name == staydown_name(name))).scalar_one_or_none()


def get_named(db: Session, model: type[Named], name: str, what: str) -> Named:
    found = find_named(db, model, name)
    if found is None:
        raise NotFound(f"{what} '{name}' not found")
    return found


def find_bank(db: Session, name: str) -> Bank | None:
    return find_named(db, Bank, name)


def get_bank(db: Session, name: str) -> Bank:
    return get_named(db, Bank, name, "bank")


def ratios(db: Session) -> dict[int, float]:
    return dict(db.execute(sa.select(HmaBank.bank_id, HmaBank.matching_enabled_ratio)).all())


def ratio_of(bank: Bank, stored: dict[int, float]) -> float:
    """A disabled bank matches nothing whatever its ratio; an enabled one matches at its ratio."""
    if not bank.enabled:
        return 0.0
    return stored.get(bank.id, 1.0)


def bank_config(bank: Bank, stored: dict[int, float]) -> dict[str, Any]:
    return {"name": hma_name(bank), "matching_enabled_ratio": ratio_of(bank, stored)}


def list_banks(db: Session) -> list[dict[str, Any]]:
    stored = ratios(db)
    return [bank_config(b, stored) for b in db.execute(sa.select(Bank).order_by(Bank.name)).scalars()]


def _check_ratio(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise InvalidInput(f"enabled_ratio is between 0.0 and 1.0, not {value}")
    return float(value)


def _set_ratio(db: Session, bank: Bank, ratio: float) -> None:
    row = db.get(HmaBank, bank.id)
    if row is None:
        db.add(HmaBank(bank_id=bank.id, matching_enabled_ratio=ratio))
    else:
        row.matching_enabled_ratio = ratio


def create_bank(
    db: Session,
    *,
    actor: Actor,
    name: str,
    enabled_ratio: float = 1.0,
    policy_id: str | None = None,
    source: str | None = None,
    permitted_purpose: str | None = None,
    action_on_match: str | None = None,
) -> Bank:
    """HMA's bank creation. HMA knows only a name and a ratio; a staydown bank also has a purpose,
    a policy and an action, which a caller may give (staydown's extensions of the request) and
    otherwise default to a list for the platform's lookups whose scan matches are only flagged."""
    if not HMA_BANK_NAME_RE.match(name or ""):
        raise InvalidInput(
            f"bank name {name!r} must match [A-Z_][A-Z0-9_]* (upper case, digits, '_'; not starting with a digit)"
        )
    ratio = _check_ratio(enabled_ratio)
    if find_bank(db, name) is not None:
        raise Conflict("Bank already exists")
    bank = banks.create_bank(
        db,
        actor=actor,
        name=staydown_name(name),
        source=source or BankSource.other.value,
        permitted_purpose=permitted_purpose or DEFAULT_PURPOSE,
        policy_id=policy_id or DEFAULT_POLICY,
        action_on_match=action_on_match or MatchAction.flag.value,
        description="created through the HMA-compatible API",
    )
    if ratio == 0.0:
        banks.update_bank(db, actor=actor, bank=bank, reason="created with enabled_ratio 0 (HMA API)", enabled=False)
    _set_ratio(db, bank, ratio)
    return bank


def update_bank(
    db: Session,
    *,
    actor: Actor,
    bank: Bank,
    name: str | None = None,
    enabled: bool | None = None,
    enabled_ratio: float | None = None,
) -> Bank:
    if name is not None and name != hma_name(bank):
        if not HMA_BANK_NAME_RE.match(name):
            raise InvalidInput(f"bank name {name!r} must match [A-Z_][A-Z0-9_]*")
        if find_bank(db, name) is not None:
            raise Conflict("Bank name already exists")
        banks.rename_bank(db, actor=actor, bank=bank, name=staydown_name(name), reason="renamed through the HMA API")
    ratio: float | None = None
    if enabled is not None:
        ratio = 1.0 if enabled else 0.0
    if enabled_ratio is not None:
        ratio = _check_ratio(enabled_ratio)
    if ratio is not None:
        if bank.enabled != (ratio > 0.0):
            banks.update_bank(
                db, actor=actor, bank=bank, reason=f"matching_enabled_ratio {ratio} (HMA API)", enabled=ratio > 0.0
            )
        _set_ratio(db, bank, ratio)
    db.flush()
    return bank


def delete_bank(db: Session, *, actor: Actor, name: str) -> None:
    """HMA answers a delete of an unknown bank with success; so does this."""
    bank = find_bank(db, name)
    if bank is None:
        return
    row = db.get(HmaBank, bank.id)
    if row is not None:
        db.delete(row)
        db.flush()
    banks.delete_bank(db, actor=actor, bank=bank, reason="deleted through the HMA API")


# -- content ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metadata:
    content_id: str | None = None
    content_uri: str | None = None
    json: dict[str, Any] | None = None

    def stored(self) -> dict[str, Any] | None:
        found = {
            k: v
            for k, v in (("content_id", self.content_id), ("content_uri", self.content_uri), ("json", self.json))
            if v is not None
        }
        return found or None


def check_note(note: Any) -> str | None:
    if note is None or note == "":
        return None
    if not isinstance(note, str):
        raise InvalidInput("note should be a string")
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"note must be at most {MAX_NOTE} characters")
    return note


def check_metadata(raw: Any) -> Metadata | None:
    """HMA's BankedContentMetadata: content_id, content_uri and json, nothing else (`collab` is
    provenance that only an exchange writes, and is dropped)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidInput("metadata should be a json object")
    raw = {k: v for k, v in raw.items() if k != "collab"}
    unknown = sorted(set(raw) - {"content_id", "content_uri", "json"})
    if unknown:
        raise InvalidInput(
            f"Invalid metadata: unknown field(s) {', '.join(unknown)}; expected content_id, content_uri, json"
        )
    for key in ("content_id", "content_uri"):
        if raw.get(key) is not None and (not isinstance(raw[key], str) or len(raw[key]) > 2048):
            raise InvalidInput(f"Invalid metadata: {key} is a string of at most 2048 characters")
    if raw.get("json") is not None and not isinstance(raw["json"], dict):
        raise InvalidInput("Invalid metadata: json is an object")
    if len(_json.dumps(raw)) > MAX_METADATA_JSON:
        raise InvalidInput(f"Invalid metadata: at most {MAX_METADATA_JSON} characters of JSON")
    return Metadata(raw.get("content_id"), raw.get("content_uri"), raw.get("json"))


def content_entries(db: Session, root: BankEntry) -> list[BankEntry]:
    """The item's own signals: the original and the other digests of the same media (not
    staydown's derived variants, which HMA never shows)."""
    children = db.execute(
        sa.select(BankEntry).where(BankEntry.parent_id == root.id, BankEntry.variant == "").order_by(BankEntry.id)
    ).scalars()
    return [root, *children]


def _signals_of(entries: list[BankEntry]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in entries:
        name = HMA_SIGNAL_NAME.get(e.signal_type)
        if name is not None and name not in out:
            out[name] = e.frames if e.signal_type == "vpdq" and e.frames else e.signal
    return out


def get_content(db: Session, bank: Bank, content_id: int) -> tuple[BankEntry, HmaContent | None]:
    entry = db.get(BankEntry, content_id)
    extra = db.get(HmaContent, content_id) if entry is not None else None
    if (
        entry is None
        or entry.bank_id != bank.id
        or entry.parent_id is not None
        or (extra is not None and extra.removed_at is not None)
    ):
        raise NotFound(f"content '{content_id}' not found")
    return entry, extra


def content_view(
    db: Session,
    bank: Bank,
    entry: BankEntry,
    extra: HmaContent | None,
    *,
    include_signals: bool,
    include_metadata: bool,
    ratio: float,
) -> dict[str, Any]:
    """HMA's BankContentResponse; signals, metadata and note are left out when there are none."""
    disable_until = extra.disable_until_ts if extra is not None else 0
    if not entry.enabled and not disable_until:
        disable_until = 1  # disabled for good here (a false positive): HMA's "disabled since the epoch"
    out: dict[str, Any] = {
        "id": entry.id,
        "disable_until_ts": disable_until,
        "original_media_uri": None,
        "bank": {"name": hma_name(bank), "matching_enabled_ratio": ratio},
    }
    if include_signals:
        out["signals"] = _signals_of(content_entries(db, entry))
    metadata = extra.content_metadata if extra is not None else None
    if include_metadata and metadata:
        out["metadata"] = metadata
    if entry.note:
        out["note"] = entry.note
    return out


def _extra(db: Session, entry: BankEntry) -> HmaContent:
    row = db.get(HmaContent, entry.id)
    if row is None:
        row = HmaContent(entry_id=entry.id, disable_until_ts=0)
        db.add(row)
    return row


def _link_content(db: Session, made: list[BankEntry]) -> BankEntry:
    """One item out of the originals just banked for one piece of media: the first (the PDQ of a
    photo, the vPDQ of a video) is the item; the other digests hang from it."""
    originals = [e for e in made if e.parent_id is None and e.variant == ""]
    root = originals[0]
    for other in originals[1:]:
        other.parent_id = root.id
    db.flush()
    return root


def add_content(
    db: Session,
    *,
    actor: Actor,
    bank: Bank,
    signals: dict[str, str],
    note: str | None,
    metadata: Metadata | None,
    prepared: list[banks.NewEntry] | None = None,
) -> dict[str, Any]:
    """Bank one item from the signals given, or from what a photo's media gave (`prepared`:
    matching.scanning.media_bank_entries, so a photo is banked as staydown banks its own confirmed
    items, with bank-side crops and turns). Answers HMA's `{id, signals}`."""
    if not signals:
        raise InvalidInput("No signals given")
    ours: list[banks.NewEntry] = []
    for name, value in signals.items():
        kind = SIGNAL_TYPES.get(name)
        if kind is None:
            raise InvalidInput(f"No such signal type {name}")
        if not isinstance(value, str):
            raise InvalidInput(f"Invalid {name} signal: a string is expected")
        try:
            _, clean = banks.normalise_signal(kind, value)
        except InvalidInput as exc:
            raise InvalidInput(f"Invalid {name} signal: {exc.message}") from None
        ours.append(banks.NewEntry(kind, value if kind == "vpdq" else clean, note or ""))
    # The item is the perceptual signal when there is one (it is what HMA clients match on).
    ours.sort(key=lambda e: {"pdq": 0, "vpdq": 1}.get(e.signal_type, 2))
    entries = prepared if prepared is not None else ours
    for e in entries:
        e.note = note or ""
    made = banks.add_entries(db, actor=actor, bank=bank, entries=entries, source_ref="hma-api").entries
    if not made or made[0].signal_type != entries[0].signal_type or made[0].variant:
        return _readd(db, actor=actor, bank=bank, first=entries[0], note=note, metadata=metadata, signals=signals)
    root = _link_content(db, made)
    if metadata is not None and metadata.stored():
        _extra(db, root).content_metadata = metadata.stored()
    return {"id": root.id, "signals": dict(signals)}


def _readd(
    db: Session,
    *,
    actor: Actor,
    bank: Bank,
    first: banks.NewEntry,
    note: str | None,
    metadata: Metadata | None,
    signals: dict[str, str],
) -> dict[str, Any]:
    """The media's signal is already banked: that item is the answer. One removed or timed out
    through this API comes back; one a person disabled as a false positive stays disabled."""
    kind, clean = banks.normalise_signal(first.signal_type, first.signal)
    if kind.value == "vpdq":
        clean = vpdq.digest(clean)
    entry = db.execute(
        sa.select(BankEntry).where(
            BankEntry.bank_id == bank.id,
            BankEntry.signal_type == kind.value,
            BankEntry.signal == clean,
            BankEntry.variant == "",
        )
    ).scalar_one()
    root = db.get(BankEntry, entry.parent_id) if entry.parent_id is not None else entry
    assert root is not None
    extra = db.get(HmaContent, root.id)
    if extra is not None and (extra.removed_at is not None or extra.disable_until_ts):
        extra.removed_at = None
        extra.disable_until_ts = 0
        if not root.enabled:
            banks.enable_entry(db, actor=actor, entry=root, reason="added again through the HMA API")
    if metadata is not None and metadata.stored():
        _extra(db, root).content_metadata = metadata.stored()
    if note is not None:
        root.note = note
    return {"id": root.id, "signals": dict(signals)}


def update_content(
    db: Session, *, actor: Actor, bank: Bank, content_id: int, changes: dict[str, Any], at: float | None = None
) -> tuple[BankEntry, HmaContent | None]:
    entry, extra = get_content(db, bank, content_id)
    if "disable_until_ts" in changes:
        raw = changes["disable_until_ts"]
        try:
            until = int(raw)
        except (TypeError, ValueError):
            raise InvalidInput(f"Invalid int: '{raw}'") from None
        if until < 0:
            raise InvalidInput("disable_until_ts must be a non-negative integer")
        moment = time.time() if at is None else at
        if until > moment + FIVE_YEARS:
            raise InvalidInput("disable_until_ts must be less than 5 years in the future")
        extra = _extra(db, entry)
        extra.disable_until_ts = until
        if until > moment and entry.enabled:
            when = datetime.fromtimestamp(until, UTC).isoformat()
            banks.disable_entry(db, actor=actor, entry=entry, reason=f"disabled until {when} through the HMA API")
        elif until <= moment and not entry.enabled and (entry.disabled_reason or "").endswith("through the HMA API"):
            banks.enable_entry(db, actor=actor, entry=entry, reason="disable_until_ts reached or cleared (HMA API)")
    if "note" in changes:
        entry.note = check_note(changes["note"]) or ""
    db.flush()
    return entry, extra


def remove_content(db: Session, *, actor: Actor, bank: Bank, content_id: int) -> int:
    """HMA's delete: 1 if the item was there, else 0. Its entries are disabled, not deleted."""
    try:
        entry, _ = get_content(db, bank, content_id)
    except NotFound:
        return 0
    if entry.enabled:
        banks.disable_entry(db, actor=actor, entry=entry, reason="removed through the HMA API")
    for sibling in content_entries(db, entry)[1:]:
        if sibling.enabled:
            banks.disable_entry(db, actor=actor, entry=sibling, reason="removed through the HMA API")
    _extra(db, entry).removed_at = now(db)
    db.flush()
    return 1


def reenable_expired(db: Session, *, actor: Actor, at: float) -> int:
    """Items whose disable_until_ts has passed match again (the periodic job below)."""
    rows = (
        db.execute(
            sa.select(HmaContent).where(
                HmaContent.disable_until_ts > 0, HmaContent.disable_until_ts <= int(at), HmaContent.removed_at.is_(None)
            )
        )
        .scalars()
        .all()
    )
    n = 0
    for extra in rows:
        entry = db.get(BankEntry, extra.entry_id)
        extra.disable_until_ts = 0
        if entry is not None and not entry.enabled:
            banks.enable_entry(db, actor=actor, entry=entry, reason="disable_until_ts reached (HMA API)")
            n += 1
    return n


# -- matching ---------------------------------------------------------------------------------


def matches_by_bank(
    db: Session, matches: list[BankMatch], *, wanted: set[str] | None, coinflip: float | None
) -> dict[str, list[dict[str, Any]]]:
    """HMA's `{BANK: [{bank_content_id, distance}]}`. `coinflip`: HMA's per-request draw against
    each bank's matching_enabled_ratio (None: every enabled bank answers, as raw_lookup)."""
    if not matches:
        return {}
    bank_rows = {
        b.id: b for b in db.execute(sa.select(Bank).where(Bank.id.in_({m.bank_id for m in matches}))).scalars()
    }
    removed = set(
        db.execute(
            sa.select(HmaContent.entry_id).where(
                HmaContent.entry_id.in_({m.entry_id for m in matches}), HmaContent.removed_at.is_not(None)
            )
        ).scalars()
    )
    stored = ratios(db)
    out: dict[str, list[dict[str, Any]]] = {}
    seen: set[tuple[int, int]] = set()
    for m in sorted(matches, key=lambda m: (m.distance, m.entry_id)):
        bank = bank_rows[m.bank_id]
        name = hma_name(bank)
        if wanted is not None and name not in wanted:
            continue
        if coinflip is not None and ratio_of(bank, stored) < coinflip:
            continue
        if m.entry_id in removed or (m.bank_id, m.entry_id) in seen:
            continue
        seen.add((m.bank_id, m.entry_id))
        out.setdefault(name, []).append({"bank_content_id": m.entry_id, "distance": str(m.distance)})
    return out


def draw(seed: str | None, bypass: bool) -> float:
    """HMA's coin: the same seed (the caller's content id) always draws the same number."""
    return 0.0 if bypass else random.Random(seed).random()


def parse_banks(value: str | None) -> set[str] | None:
    if not value:
        return None
    return {b.strip() for b in value.split(",") if b.strip()}


def index_status(engine: MatchEngine, only: str | None = None) -> dict[str, dict[str, Any]]:
    """HMA's index status per signal type, for this process's bank replica. `built_to` is the
    bank-change sequence number the replica has applied (HMA gives a time; staydown's indexes
    follow a sequence, and `behind` says how many changes are still to apply)."""
    lag = engine.lag()["bank_signals"]
    replica = engine.bank
    sizes = {"pdq": len(replica.pdq), "video_md5": len(replica.exact["md5"]), "vpdq": len(replica.video)}
    names = [only] if only else list(SIGNAL_TYPES)
    if only and only not in SIGNAL_TYPES:
        raise InvalidInput(f"No such signal type '{only}'")
    return {
        name: {
            "present": lag["applied"] > 0,
            "built_to": lag["applied"] if lag["applied"] > 0 else -1,
            "size": sizes[name],
            "behind": lag["behind"],
        }
        for name in names
    }


def compare(body: Any) -> dict[str, Any]:
    """HMA's `/m/compare`: `{type: [a, b]}` -> `{type: [matched, {distance}]}` (PDQ only here)."""
    if not isinstance(body, dict):
        raise InvalidInput("Request input was not a dict")
    out: dict[str, Any] = {}
    for name, pair in body.items():
        if not isinstance(pair, list):
            raise InvalidInput(f"Comparison hashes for {name} was not a list")
        if len(pair) != 2:
            raise InvalidInput("Comparison hash list length must be exactly 2")
        if name != "pdq":
            raise InvalidInput(f"{name} does not support hash comparison")
        try:
            left, right = (banks.normalise_signal("pdq", str(h))[1] for h in pair)
        except InvalidInput as exc:
            raise InvalidInput(f"Invalid {name} hash: {exc.message}") from None
        distance = hamming(left, right)
        out[name] = [distance <= 31, {"distance": distance}]
    return out


REENABLE_JOB = "hma:reenable_expired"


def reenable_job(db: Session, ctx: Any) -> None:
    """Periodic: items disabled until a time that has passed match again."""
    reenable_expired(db, actor=SYSTEM, at=now(db).timestamp())
