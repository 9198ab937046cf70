"""Actions on hash banks: create and configure them, add, import, export, disable and re-enable entries."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from staydown import audit, sequences
from staydown.actors import Actor
from staydown.audit import AuditTag
from staydown.db import get_or_404, now
from staydown.errors import Conflict, InvalidInput, NotFound
from staydown.matching.models import (
    BANK_SIGNALS,
    SIGNAL_HEX_LENGTH,
    Bank,
    BankEntry,
    BankSource,
    BankUse,
    MatchAction,
    SignalType,
)

BANK_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")
HEX_RE = re.compile(r"^[0-9a-f]+$")
MAX_IMPORT_ROWS = 5_000_000
MAX_NOTE = 500


# threatexchange's names for the same digests (it only has video_* classes for plain file digests).
TX_NAMES = {
    SignalType.pdq: "pdq",
    SignalType.md5: "video_md5",
    SignalType.sha256: "video_sha256",
    SignalType.vpdq: "vpdq",
}
SIGNAL_ALIASES = {"video_md5": "md5", "photo_md5": "md5", "video_sha256": "sha256", "photo_sha256": "sha256"}


def normalise_signal(signal_type: str, signal: str) -> tuple[SignalType, str]:
    """Check a signal's type and hex form; return them normalised (lower-case hex). A vPDQ signal
    (threatexchange's frame list) comes back in its canonical text form (matching/vpdq.py)."""
    name = signal_type.strip().lower()
    try:
        kind = SignalType(SIGNAL_ALIASES.get(name, name))
    except ValueError:
        raise InvalidInput(
            f"unknown signal type {signal_type!r}; expected one of {', '.join(t.value for t in SignalType)}"
        ) from None
    if kind is SignalType.vpdq:
        from staydown.matching import vpdq  # noqa: PLC0415 - numba's kernels: +1.2 s at start-up, for video only

        return kind, vpdq.canonical(signal)
    text = signal.strip().lower()
    expected = SIGNAL_HEX_LENGTH[kind]
    if len(text) != expected or not HEX_RE.match(text):
        raise InvalidInput(f"a {kind.value} signal is {expected} hexadecimal characters, not {signal[:80]!r}")
    return kind, text


def bank_by_name(db: Session, name: str) -> Bank:
    found = db.execute(sa.select(Bank).where(Bank.name == name)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no bank named {name!r}")
    return found


def create_bank(
    db: Session,
    *,
    actor: Actor,
    name: str,
    source: str,
    permitted_purpose: str,
    policy_id: str,
    action_on_match: str = MatchAction.hold.value,
    pdq_threshold: int = 31,
    allowed_uses: list[str] | None = None,
    confirmed_material: bool = False,
    description: str = "",
) -> Bank:
    if not BANK_NAME_RE.match(name):
        raise InvalidInput("a bank name is 1-80 lower-case letters, digits, '.', '_' or '-'")
    try:
        BankSource(source)
        MatchAction(action_on_match)
        uses = sorted({BankUse(u).value for u in (allowed_uses or [u.value for u in BankUse])})
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if not 0 <= pdq_threshold <= 31:
        raise InvalidInput("a bank's PDQ threshold is between 0 and 31 bits")
    if not permitted_purpose.strip():
        raise InvalidInput("a bank needs its permitted purpose: what the list may be used for (CSAM-7)")
    if db.execute(sa.select(Bank.id).where(Bank.name == name)).first():
        raise Conflict(f"a bank named {name!r} already exists")
    when = now(db)
    bank = Bank(
        name=name,
        description=description,
        source=source,
        permitted_purpose=permitted_purpose.strip(),
        allowed_uses=uses,
        policy_id=policy_id,
        action_on_match=action_on_match,
        pdq_threshold=pdq_threshold,
        confirmed_material=confirmed_material,
        enabled=True,
        created_by=actor.ref,
        created_at=when,
        updated_at=when,
    )
    db.add(bank)
    db.flush()
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.BANK_CREATE,
        subject_type="bank",
        subject_id=bank.id,
        data={
            "name": name,
            "source": source,
            "policy_id": policy_id,
            "action_on_match": action_on_match,
            "pdq_threshold": pdq_threshold,
            "allowed_uses": uses,
            "confirmed_material": confirmed_material,
            "permitted_purpose": bank.permitted_purpose,
        },
    )
    return bank


UPDATABLE = {"enabled", "action_on_match", "pdq_threshold", "description", "allowed_uses", "permitted_purpose"}


def update_bank(db: Session, *, actor: Actor, bank: Bank, reason: str, **changes: object) -> Bank:
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))} of a bank")
    if not reason.strip():
        raise InvalidInput("changing a bank needs a reason, for the record")
    record: dict[str, list[object]] = {}
    for key, value in changes.items():
        if key == "action_on_match":
            MatchAction(str(value))
        if key == "pdq_threshold" and not (isinstance(value, int) and 0 <= value <= 31):
            raise InvalidInput("a bank's PDQ threshold is between 0 and 31 bits")
        if key == "allowed_uses":
            value = sorted({BankUse(u).value for u in cast("Iterable[str]", value)})
        old = getattr(bank, key)
        if old != value:
            record[key] = [old, value]
            setattr(bank, key, value)
    if record:
        bank.updated_at = now(db)
        # Thresholds and enablement change what the index answers; followers re-read the bank row.
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.BANK_UPDATE,
            subject_type="bank",
            subject_id=bank.id,
            data={"changes": record, "reason": reason},
        )
    return bank


def rename_bank(db: Session, *, actor: Actor, bank: Bank, name: str, reason: str) -> Bank:
    """Give a bank a new name. Past scans keep the name they matched under (and the bank's id);
    a policy's stay-down bank keeps its name, which enforcement finds it by."""
    if not BANK_NAME_RE.match(name):
        raise InvalidInput("a bank name is 1-80 lower-case letters, digits, '.', '_' or '-'")
    if not reason.strip():
        raise InvalidInput("renaming a bank needs a reason, for the record")
    if name == bank.name:
        return bank
    if bank.source == BankSource.own.value:
        raise Conflict(f"bank {bank.name!r} is a policy's stay-down bank: its name cannot change")
    if db.execute(sa.select(Bank.id).where(Bank.name == name)).first():
        raise Conflict(f"a bank named {name!r} already exists")
    old = bank.name
    bank.name = name
    bank.updated_at = now(db)
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.BANK_UPDATE,
        subject_type="bank",
        subject_id=bank.id,
        data={"changes": {"name": [old, name]}, "reason": reason},
    )
    return bank


def delete_bank(db: Session, *, actor: Actor, bank: Bank, reason: str) -> None:
    """Delete a bank that never held an entry. One that did is kept (disable it instead): the
    entries it held explain the matches made against them."""
    if not reason.strip():
        raise InvalidInput("deleting a bank needs a reason, for the record")
    held = db.execute(
        sa.select(sa.func.count()).select_from(BankEntry).where(BankEntry.bank_id == bank.id)
    ).scalar_one()
    if held:
        raise Conflict(
            f"bank {bank.name!r} holds {held} entries, kept so that the matches made against them "
            "stay explainable: disable the bank instead"
        )
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.BANK_DELETE,
        subject_type="bank",
        subject_id=bank.id,
        data={"name": bank.name, "reason": reason},
    )
    db.delete(bank)
    db.flush()


@dataclass
class NewEntry:
    signal_type: str
    signal: str
    note: str = ""
    variant: str = ""
    quality: int | None = None
    parent: NewEntry | None = None
    # For vpdq, `signal` is the frame list (threatexchange's text form); the entry stores its digest
    # as the signal and the canonical list in `frames`.


@dataclass
class AddResult:
    added: int = 0
    duplicates: int = 0
    entries: list[BankEntry] = field(default_factory=list)


def _existing_keys(db: Session, bank: Bank, keys: list[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    found: set[tuple[str, str, str]] = set()
    by_type: dict[str, list[str]] = {}
    for signal_type, signal, _ in keys:
        by_type.setdefault(signal_type, []).append(signal)
    for signal_type, signals in by_type.items():
        for i in range(0, len(signals), 900):
            rows = db.execute(
                sa.select(BankEntry.signal_type, BankEntry.signal, BankEntry.variant).where(
                    BankEntry.bank_id == bank.id,
                    BankEntry.signal_type == signal_type,
                    BankEntry.signal.in_(signals[i : i + 900]),
                )
            ).all()
            found.update((r[0], r[1], r[2]) for r in rows)
    return found


def add_entries(
    db: Session,
    *,
    actor: Actor,
    bank: Bank,
    entries: Iterable[NewEntry],
    source_case_id: int | None = None,
    source_ref: str | None = None,
    audit_each: bool = True,
) -> AddResult:
    """Add signals to a bank; they take effect in every index within a second of commit.
    A signal already in the bank is counted as a duplicate, not added twice."""
    items = list(entries)
    clean: list[tuple[NewEntry, SignalType, str]] = []
    frames: dict[int, str] = {}
    for item in items:
        kind, text = normalise_signal(item.signal_type, item.signal)
        if len(item.note) > MAX_NOTE:
            raise InvalidInput(f"an entry's note is at most {MAX_NOTE} characters")
        if kind is SignalType.vpdq:
            from staydown.matching import vpdq  # noqa: PLC0415 - numba's kernels: +1.2 s at start-up, for video only

            frames[id(item)], text = text, vpdq.digest(text)
        clean.append((item, kind, text))
    existing = _existing_keys(db, bank, [(k.value, s, i.variant) for i, k, s in clean])
    when = now(db)
    result = AddResult()
    made: dict[int, BankEntry] = {}
    for item, kind, text in clean:
        key = (kind.value, text, item.variant)
        if key in existing:
            result.duplicates += 1
            continue
        existing.add(key)
        entry = BankEntry(
            bank_id=bank.id,
            signal_type=kind.value,
            signal=text,
            variant=item.variant,
            quality=item.quality,
            frames=frames.get(id(item)),
            note=item.note,
            added_by=actor.ref,
            added_at=when,
            source_case_id=source_case_id,
            source_ref=source_ref,
            enabled=True,
        )
        db.add(entry)
        made[id(item)] = entry
        result.entries.append(entry)
        result.added += 1
    db.flush()
    sequences.touch_ids(db, BankEntry, [e.id for e in result.entries], sequence=BANK_SIGNALS)
    # Variants point at their original, which is flushed (has an id) only now.
    for item, _, _ in clean:
        if item.parent is not None and id(item) in made and id(item.parent) in made:
            made[id(item)].parent_id = made[id(item.parent)].id
    if audit_each and result.added:
        audit.record(
            db,
            actor=actor,
            tag=AuditTag.BANK_ENTRIES_ADD,
            subject_type="bank",
            subject_id=bank.id,
            data={
                "added": result.added,
                "duplicates": result.duplicates,
                "source_case_id": source_case_id,
                "source_ref": source_ref,
                "entries": [[e.id, e.signal_type, e.signal, e.variant] for e in result.entries[:100]],
            },
        )
    return result


def entry_by_id(db: Session, entry_id: int) -> BankEntry:
    return get_or_404(db, BankEntry, entry_id, "bank entry")


@dataclass(frozen=True)
class EntryCounts:
    """A bank's size, counted one way everywhere (CLI, API, console): an entry is an item the bank
    holds (an original signal); the variants staydown derived from it (crops) are its signals,
    counted apart, and follow their entry when it is disabled or enabled."""

    active: int = 0
    disabled: int = 0
    variant_signals: int = 0


def entry_counts(db: Session) -> dict[int, EntryCounts]:
    rows = db.execute(
        sa.select(BankEntry.bank_id, BankEntry.parent_id.is_(None), BankEntry.enabled, sa.func.count()).group_by(
            BankEntry.bank_id, BankEntry.parent_id.is_(None), BankEntry.enabled
        )
    ).all()
    found: dict[int, dict[str, int]] = {}
    for bank_id, original, enabled, n in rows:
        counts = found.setdefault(bank_id, {"active": 0, "disabled": 0, "variant_signals": 0})
        if not original:
            counts["variant_signals"] += int(n) if enabled else 0
        elif enabled:
            counts["active"] += int(n)
        else:
            counts["disabled"] += int(n)
    return {bank_id: EntryCounts(**c) for bank_id, c in found.items()}


def disable_entry(db: Session, *, actor: Actor, entry: BankEntry, reason: str) -> BankEntry:
    """Take an entry out of matching (a false positive) without deleting it; its variants follow."""
    if not reason.strip():
        raise InvalidInput("disabling a bank entry needs a reason (e.g. 'false positive: ...')")
    if not entry.enabled:
        raise Conflict(f"bank entry {entry.id} is already disabled")
    when = now(db)
    touched = [
        entry,
        *db.execute(sa.select(BankEntry).where(BankEntry.parent_id == entry.id, BankEntry.enabled.is_(True))).scalars(),
    ]
    for e in touched:
        e.enabled = False
        e.disabled_at = when
        e.disabled_by = actor.ref
        e.disabled_reason = reason
        sequences.touch(db, e, sequence=BANK_SIGNALS)
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.BANK_ENTRY_DISABLE,
        subject_type="bank_entry",
        subject_id=entry.id,
        data={
            "bank_id": entry.bank_id,
            "reason": reason,
            "signal_type": entry.signal_type,
            "signal": entry.signal,
            "variants": [e.id for e in touched[1:]],
        },
    )
    return entry


def enable_entry(db: Session, *, actor: Actor, entry: BankEntry, reason: str) -> BankEntry:
    if not reason.strip():
        raise InvalidInput("re-enabling a bank entry needs a reason")
    if entry.enabled:
        raise Conflict(f"bank entry {entry.id} is already enabled")
    touched = [entry, *db.execute(sa.select(BankEntry).where(BankEntry.parent_id == entry.id)).scalars()]
    for e in touched:
        e.enabled = True
        e.disabled_at = e.disabled_by = e.disabled_reason = None
        sequences.touch(db, e, sequence=BANK_SIGNALS)
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.BANK_ENTRY_ENABLE,
        subject_type="bank_entry",
        subject_id=entry.id,
        data={"bank_id": entry.bank_id, "reason": reason},
    )
    return entry


# -- CSV exchange: `signal_type,signal,note` -------------------------------------------------------

CSV_HEADER = ["signal_type", "signal", "note"]


@dataclass
class ImportReport:
    added: int = 0
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)  # "line N: why"


def parse_bank_file(text: str, *, max_rows: int = MAX_IMPORT_ROWS) -> tuple[list[NewEntry], list[str], str]:
    """Read a hash list in any of the formats we exchange, detected from its first line:
    `csv` (ours: `signal_type,signal,note`, header optional), `tx-csv` (threatexchange
    `dataset --csv`: `signal_type,signal_str,collab,category,tags`) or `tx-lines`
    (threatexchange `dataset -S` / `hash` output: `signal_type signal` per line).
    Bad rows are reported with their line, never silently skipped."""
    first = next((line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
    header = [c.strip().lower() for c in first.split(",")]
    if "signal_str" in header:
        return (*_parse_tx_csv(text, max_rows), "tx-csv")
    head = first.split(None, 1)
    # 'type signal' lines; a vPDQ signal is JSON with commas (and spaces, as threatexchange prints it).
    if ("," not in first and len(first.split()) == 2) or (
        len(head) == 2 and head[0].strip().lower() == SignalType.vpdq.value
    ):
        return (*_parse_lines(text, max_rows), "tx-lines")
    return (*parse_csv(text, max_rows=max_rows), "csv")


def _add_row(
    rows: list[NewEntry], problems: list[str], line_no: int, signal_type: str, signal: str, note: str, max_rows: int
) -> None:
    try:
        kind, clean = normalise_signal(signal_type, signal)
    except InvalidInput as exc:
        problems.append(f"line {line_no}: {exc.message}")
        return
    if len(note) > MAX_NOTE:
        problems.append(f"line {line_no}: the note is longer than {MAX_NOTE} characters")
        return
    rows.append(NewEntry(kind.value, clean, note))
    if len(rows) > max_rows:
        raise InvalidInput(f"an import holds at most {max_rows} rows")


def _parse_tx_csv(text: str, max_rows: int) -> tuple[list[NewEntry], list[str]]:
    rows: list[NewEntry] = []
    problems: list[str] = []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    for row in _csv_rows(reader, problems):
        line_no = reader.line_num
        if not row.get("signal_type") or not row.get("signal_str"):
            problems.append(f"line {line_no}: signal_type and signal_str are required")
            continue
        note = " ".join(x for x in (row.get("collab"), row.get("category"), row.get("tags")) if x).strip()
        _add_row(rows, problems, line_no, row["signal_type"], row["signal_str"], note, max_rows)
    return rows, problems


def _csv_rows(reader: Any, problems: list[str]) -> Iterator[Any]:
    """The rows of a CSV reader until it can read no further: what it cannot read (a field over the
    csv module's limit, an unterminated quote) is a problem on its line, not an internal error."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.append(f"line {reader.line_num}: the CSV cannot be read from here on ({exc})")
            return
        yield row


def _parse_lines(text: str, max_rows: int) -> tuple[list[NewEntry], list[str]]:
    rows: list[NewEntry] = []
    problems: list[str] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) < 2:
            problems.append(f"line {line_no}: expected 'signal_type signal', got {line[:60]!r}")
            continue
        if parts[0].strip().lower() == SignalType.vpdq.value:
            # threatexchange prints a vPDQ signal as JSON, which may hold spaces: the rest of the line.
            _add_row(rows, problems, line_no, parts[0], line.split(None, 1)[1], "", max_rows)
            continue
        _add_row(rows, problems, line_no, parts[0], parts[1], parts[2].strip() if len(parts) == 3 else "", max_rows)
    return rows, problems


def parse_csv(text: str, *, max_rows: int = MAX_IMPORT_ROWS) -> tuple[list[NewEntry], list[str]]:
    """Read `signal_type,signal,note` rows (header optional)."""
    rows: list[NewEntry] = []
    problems: list[str] = []
    # newline="": a line may end in \r\n, \n or a bare \r (old Mac exports), as the csv module expects.
    reader = csv.reader(io.StringIO(text, newline=""))
    for row in _csv_rows(reader, problems):
        line_no = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if not rows and not problems and [c.strip().lower() for c in row[:3]] == CSV_HEADER[: len(row[:3])]:
            continue
        if row[0].lstrip().startswith("#"):
            continue
        if len(row) < 2 or len(row) > 3:
            problems.append(f"line {line_no}: expected signal_type,signal[,note], got {len(row)} fields")
            continue
        _add_row(rows, problems, line_no, row[0], row[1], row[2].strip() if len(row) == 3 else "", max_rows)
    return rows, problems


def import_entries(
    db: Session,
    *,
    actor: Actor,
    bank: Bank,
    entries: list[NewEntry],
    problems: list[str],
    source_ref: str,
    batch: int = 5000,
) -> ImportReport:
    report = ImportReport(rejected=list(problems))
    for i in range(0, len(entries), batch):
        result = add_entries(
            db, actor=actor, bank=bank, entries=entries[i : i + batch], source_ref=source_ref, audit_each=False
        )
        report.added += result.added
        report.duplicates += result.duplicates
        for e in result.entries:
            db.expunge(e)  # keep memory flat on large imports; the rows are flushed
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.BANK_IMPORT,
        subject_type="bank",
        subject_id=bank.id,
        data={
            "source_ref": source_ref,
            "added": report.added,
            "duplicates": report.duplicates,
            "rejected": len(report.rejected),
            "first_rejections": report.rejected[:20],
        },
    )
    return report


def iter_export_rows(
    db: Session, bank: Bank, *, include_disabled: bool = False, include_variants: bool = False
) -> Iterator[list[str]]:
    """Rows for CSV export. Bank-side variants are ours; other organisations' lists hold originals
    only, so by default we export originals only, as they expect."""
    # A vPDQ entry is exported as its frame list (what other systems read), not its digest.
    stmt = sa.select(BankEntry.signal_type, sa.func.coalesce(BankEntry.frames, BankEntry.signal), BankEntry.note).where(
        BankEntry.bank_id == bank.id
    )
    if not include_disabled:
        stmt = stmt.where(BankEntry.enabled.is_(True))
    if not include_variants:
        stmt = stmt.where(BankEntry.variant == "")
    for row in db.execute(stmt.order_by(BankEntry.id)).yield_per(10_000):
        yield [row[0], row[1], row[2]]


EXPORT_FORMATS = ("csv", "tx-csv", "tx-lines")


def export_bank(db: Session, *, actor: Actor, bank: Bank, out: TextIO, fmt: str = "csv", **kwargs: bool) -> int:
    """Write a bank's entries as `csv` (ours), `tx-csv` or `tx-lines` (threatexchange's)."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    writer = csv.writer(out, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(CSV_HEADER)
    elif fmt == "tx-csv":
        writer.writerow(["signal_type", "signal_str", "collab", "category", "tags"])
    n = 0
    for signal_type, signal, note in iter_export_rows(db, bank, **kwargs):
        tx_name = TX_NAMES[SignalType(signal_type)]
        if fmt == "csv":
            writer.writerow([signal_type, signal, note])
        elif fmt == "tx-csv":
            writer.writerow([tx_name, signal, bank.name, "", note])
        else:
            out.write(f"{tx_name} {signal}\n")
        n += 1
    audit.record(
        db,
        actor=actor,
        tag=AuditTag.BANK_EXPORT,
        subject_type="bank",
        subject_id=bank.id,
        data={"rows": n, "format": fmt, **kwargs},
    )
    return n


def export_csv(db: Session, *, actor: Actor, bank: Bank, out: TextIO, **kwargs: bool) -> int:
    return export_bank(db, actor=actor, bank=bank, out=out, fmt="csv", **kwargs)
