"""Hash banks: configuration, entries with provenance, false-positive disabling, CSV exchange,
and the commit-ordered sequence numbers that index followers read."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from staydown import sequences
from staydown.actors import SYSTEM, Actor
from staydown.audit.models import AuditEvent
from staydown.db import Database
from staydown.errors import Conflict, InvalidInput
from staydown.matching import banks
from staydown.matching.models import BANK_SIGNALS, BankEntry

MOD = Actor.staff(7, "mod")
PDQ_A = "f" * 64
PDQ_B = "0" * 63 + "1"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def _bank(db, name: str = "own-csam", **kw):
    params: dict[str, Any] = {
        "source": "own",
        "permitted_purpose": "detect confirmed CSAM at upload and in stored content",
        "policy_id": "csam",
        "action_on_match": "block",
    }
    params.update(kw)
    return banks.create_bank(db, actor=MOD, name=name, **params)


def _events(db, tag: str) -> list[AuditEvent]:
    return list(db.execute(sa.select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.seq)).scalars())


def test_create_bank_is_audited_with_its_purpose(database: Database) -> None:
    with database.unit_of_work() as db:
        bank = _bank(db, confirmed_material=True, pdq_threshold=20)
    with database.unit_of_work(write=False) as db:
        (event,) = _events(db, "matching:bank:create")
        assert event.actor_id == "7" and event.subject_id == str(bank.id)
        assert event.data["permitted_purpose"].startswith("detect confirmed CSAM")
        assert event.data["pdq_threshold"] == 20 and event.data["allowed_uses"] == ["scan", "sweep"]


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"name": "Bad Name"}, "bank name"),
        ({"source": "rumour"}, "rumour"),
        ({"action_on_match": "nuke"}, "nuke"),
        ({"pdq_threshold": 40}, "between 0 and 31"),
        ({"permitted_purpose": "  "}, "permitted purpose"),
        ({"allowed_uses": ["research"]}, "research"),
    ],
)
def test_create_bank_rejects_bad_configuration(database: Database, kw: dict, message: str) -> None:
    with database.unit_of_work() as db, pytest.raises(InvalidInput, match=message):
        _bank(db, **kw)


def test_entries_keep_provenance_and_skip_duplicates(database: Database) -> None:
    with database.unit_of_work() as db:
        bank = _bank(db)
        first = banks.add_entries(
            db,
            actor=MOD,
            bank=bank,
            source_case_id=42,
            entries=[banks.NewEntry("pdq", PDQ_A.upper(), "case 42"), banks.NewEntry("md5", MD5)],
        )
        again = banks.add_entries(db, actor=MOD, bank=bank, entries=[banks.NewEntry("PDQ", PDQ_A)])
    assert (first.added, first.duplicates, again.added, again.duplicates) == (2, 0, 0, 1)
    with database.unit_of_work(write=False) as db:
        entry = db.execute(sa.select(BankEntry).where(BankEntry.signal_type == "pdq")).scalar_one()
        assert entry.signal == PDQ_A and entry.source_case_id == 42 and entry.added_by == "staff:7"
        assert entry.note == "case 42" and entry.enabled
        (event,) = _events(db, "matching:bank:entries_add")
        assert event.data["added"] == 2 and event.data["source_case_id"] == 42


@pytest.mark.parametrize(
    "signal_type, signal, message",
    [
        ("pdq", "abc", "64 hexadecimal"),
        ("pdq", "g" * 64, "64 hexadecimal"),
        ("md5", "0" * 64, "32 hexadecimal"),
        ("tlsh", "0" * 64, "unknown signal type"),
    ],
)
def test_bad_signals_are_refused_with_reason(database: Database, signal_type: str, signal: str, message: str) -> None:
    with database.unit_of_work() as db:
        bank = _bank(db)
        with pytest.raises(InvalidInput, match=message):
            banks.add_entries(db, actor=MOD, bank=bank, entries=[banks.NewEntry(signal_type, signal)])


def test_disable_as_false_positive_keeps_the_entry_and_its_variants_follow(database: Database) -> None:
    with database.unit_of_work() as db:
        bank = _bank(db)
        original = banks.NewEntry("pdq", PDQ_A)
        variant = banks.NewEntry("pdq", PDQ_B, variant="crop90", parent=original)
        banks.add_entries(db, actor=MOD, bank=bank, entries=[original, variant])
    with database.unit_of_work() as db:
        entry = db.execute(sa.select(BankEntry).where(BankEntry.variant == "")).scalar_one()
        child = db.execute(sa.select(BankEntry).where(BankEntry.variant == "crop90")).scalar_one()
        assert child.parent_id == entry.id
        seq_before = child.change_seq
        banks.disable_entry(db, actor=MOD, entry=entry, reason="false positive: a sunset photo")
    with database.unit_of_work(write=False) as db:
        rows = db.execute(sa.select(BankEntry).order_by(BankEntry.id)).scalars().all()
        assert [r.enabled for r in rows] == [False, False]
        assert rows[0].disabled_reason == "false positive: a sunset photo" and rows[0].disabled_by == "staff:7"
        assert seq_before is not None and rows[1].change_seq is not None
        assert rows[1].change_seq > seq_before  # followers see the change
        (event,) = _events(db, "matching:entry:disable")
        assert event.data["variants"] == [rows[1].id]
    with database.unit_of_work() as db:
        entry = db.get_one(BankEntry, rows[0].id)
        with pytest.raises(Conflict):
            banks.disable_entry(db, actor=MOD, entry=entry, reason="again")
        banks.enable_entry(db, actor=MOD, entry=entry, reason="reviewed again: a true match")
    with database.unit_of_work(write=False) as db:
        assert all(r.enabled for r in db.execute(sa.select(BankEntry)).scalars())
    with database.unit_of_work() as db, pytest.raises(InvalidInput, match="reason"):
        banks.disable_entry(db, actor=MOD, entry=db.get_one(BankEntry, rows[0].id), reason=" ")


def test_csv_round_trip_reports_bad_lines(database: Database) -> None:
    text = (
        "signal_type,signal,note\n"
        + f"pdq,{PDQ_A},from partner\n"
        + "pdq,nothex,\n"
        + f"md5,{MD5}\n"
        + "only-one-field\n"
    )
    entries, problems = banks.parse_csv(text)
    assert [e.signal_type for e in entries] == ["pdq", "md5"]
    assert problems[0].startswith("line 3:") and "64 hexadecimal" in problems[0]
    assert problems[1].startswith("line 5:")
    with database.unit_of_work() as db:
        bank = _bank(db, source="other")
        report = banks.import_entries(
            db, actor=MOD, bank=bank, entries=entries, problems=problems, source_ref="partner-list-2026-11.csv"
        )
        assert (report.added, report.duplicates, len(report.rejected)) == (2, 0, 2)
        out = io.StringIO()
        assert banks.export_csv(db, actor=MOD, bank=bank, out=out) == 2
    assert out.getvalue().splitlines() == ["signal_type,signal,note", f"pdq,{PDQ_A},from partner", f"md5,{MD5},"]
    with database.unit_of_work(write=False) as db:
        (imp,) = _events(db, "matching:bank:import")
        assert imp.data["rejected"] == 2 and imp.data["source_ref"] == "partner-list-2026-11.csv"
        assert len(_events(db, "matching:bank:export")) == 1
        entry = db.execute(sa.select(BankEntry).where(BankEntry.signal_type == "md5")).scalar_one()
        assert entry.source_ref == "partner-list-2026-11.csv"
        # Imported rows carry sequence numbers, so index followers pick them up.
        seqs = db.execute(sa.select(BankEntry.change_seq).order_by(BankEntry.change_seq)).scalars().all()
        assert seqs == [1, 2]


def test_update_bank_records_old_and_new(database: Database) -> None:
    with database.unit_of_work() as db:
        bank = _bank(db)
        banks.update_bank(db, actor=MOD, bank=bank, reason="too many false holds", pdq_threshold=24, enabled=False)
        with pytest.raises(InvalidInput):
            banks.update_bank(db, actor=MOD, bank=bank, reason="x", policy_id="spam")
    with database.unit_of_work(write=False) as db:
        (event,) = _events(db, "matching:bank:update")
        assert event.data["changes"] == {"pdq_threshold": [31, 24], "enabled": [True, False]}


def test_sequence_numbers_follow_commit_order(database: Database) -> None:
    """A follower reading `change_seq > N` must never skip a row: numbers are taken at commit,
    so a transaction that started first but commits last gets the larger number."""
    with database.unit_of_work() as db:
        bank = _bank(db)
        bank_id = bank.id
    slow = database.session()
    slow_bank = slow.get_one(type(bank), bank_id)
    banks.add_entries(slow, actor=SYSTEM, bank=slow_bank, entries=[banks.NewEntry("md5", "1" * 32)])
    if database.dialect == "sqlite":
        slow.commit()  # one writer at a time on SQLite: the interleaving below cannot happen there
    done = threading.Event()

    def quick() -> None:
        with database.unit_of_work() as db:
            banks.add_entries(
                db, actor=SYSTEM, bank=db.get_one(type(bank), bank_id), entries=[banks.NewEntry("md5", "2" * 32)]
            )
        done.set()

    t = threading.Thread(target=quick)
    t.start()
    assert done.wait(10)
    t.join()
    if database.dialect != "sqlite":
        slow.commit()
    slow.close()
    with database.unit_of_work(write=False) as db:
        order = db.execute(sa.select(BankEntry.signal).order_by(BankEntry.change_seq)).scalars().all()
        expected = ["1" * 32, "2" * 32] if database.dialect == "sqlite" else ["2" * 32, "1" * 32]
        assert order == expected
        assert sequences.head(db, BANK_SIGNALS) == 2


def test_threatexchange_formats_round_trip(database: Database) -> None:
    """Hash lists move between organisations in threatexchange's formats too."""
    tx_csv = (
        "signal_type,signal_str,collab,category,tags\n"
        f"pdq,{PDQ_A},Partner Collab,,shared\n"
        f"video_md5,{MD5},Partner Collab,,\n"
        "pdq,xyz,Partner,,\n"
    )
    entries, problems, fmt = banks.parse_bank_file(tx_csv)
    assert fmt == "tx-csv" and [(e.signal_type, e.signal) for e in entries] == [("pdq", PDQ_A), ("md5", MD5)]
    assert entries[0].note == "Partner Collab shared" and problems[0].startswith("line 4:")
    lines = f"pdq {PDQ_A}\n# comment\nvideo_sha256 {'ab' * 32}\npdq\n"
    entries, problems, fmt = banks.parse_bank_file(lines)
    assert fmt == "tx-lines" and [e.signal_type for e in entries] == ["pdq", "sha256"]
    assert problems == ["line 4: expected 'signal_type signal', got 'pdq'"]
    with database.unit_of_work() as db:
        bank = _bank(db)
        banks.import_entries(db, actor=MOD, bank=bank, entries=entries, problems=[], source_ref="tx")
        out = io.StringIO()
        banks.export_bank(db, actor=MOD, bank=bank, out=out, fmt="tx-lines")
        assert out.getvalue() == f"pdq {PDQ_A}\nvideo_sha256 {'ab' * 32}\n"
        out = io.StringIO()
        banks.export_bank(db, actor=MOD, bank=bank, out=out, fmt="tx-csv")
        back, problems, fmt = banks.parse_bank_file(out.getvalue())
        assert (
            fmt == "tx-csv"
            and not problems
            and [(e.signal_type, e.signal) for e in back] == [("pdq", PDQ_A), ("sha256", "ab" * 32)]
        )
        with pytest.raises(InvalidInput, match="unknown export format"):
            banks.export_bank(db, actor=MOD, bank=bank, out=io.StringIO(), fmt="xml")
