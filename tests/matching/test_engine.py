"""The match engine: replicas follow the signal tables by sequence number, take a new or disabled
entry into account at once, persist and resume, and converge across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from staydown.actors import Actor
from staydown.db import Database
from staydown.matching import banks
from staydown.matching.engine import MatchEngine
from staydown.matching.matcher import PdqQuery, QuerySignals, decide_verdict, match_banks
from staydown.matching.models import BankEntry, BankUse

MOD = Actor.staff(3, "mod")
rng = np.random.default_rng(7)


def random_pdq() -> str:
    return rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex()


def flip(hex_hash: str, bits: int) -> str:
    value = bytearray(bytes.fromhex(hex_hash))
    for position in rng.choice(256, bits, replace=False):
        value[position // 8] ^= 1 << (position % 8)
    return bytes(value).hex()


def q(hex_hash: str, quality: int = 100, variant: str = "") -> QuerySignals:
    return QuerySignals(pdq=(PdqQuery(variant, hex_hash, quality),))


def _bank(database: Database, name: str = "own", **kw: object) -> int:
    params: dict = {
        "source": "own",
        "permitted_purpose": "confirmed items",
        "policy_id": "csam",
        "action_on_match": "block",
    }
    params.update(kw)
    with database.unit_of_work() as db:
        return banks.create_bank(db, actor=MOD, name=name, **params).id


def _add(database: Database, bank_id: int, *signals: tuple[str, str]) -> list[int]:
    with database.unit_of_work() as db:
        bank = db.get_one(banks.Bank, bank_id)
        result = banks.add_entries(db, actor=MOD, bank=bank, entries=[banks.NewEntry(t, s) for t, s in signals])
        return [e.id for e in result.entries]


def _match(database: Database, engine: MatchEngine, query: QuerySignals):
    with database.unit_of_work(write=False) as db:
        return match_banks(db, engine, query)


def test_new_entry_matches_after_catch_up_and_threshold_is_per_bank(database: Database) -> None:
    engine = MatchEngine(database)
    strict = _bank(database, "strict", pdq_threshold=10)
    loose = _bank(database, "loose", action_on_match="hold")
    h = random_pdq()
    _add(database, strict, ("pdq", h))
    _add(database, loose, ("pdq", h))
    assert _match(database, engine, q(h)) == []  # not applied yet
    assert engine.catch_up() == 2
    near, far = flip(h, 8), flip(h, 25)
    assert [(m.bank, m.distance) for m in _match(database, engine, q(near))] == [("strict", 8), ("loose", 8)]
    assert [(m.bank, m.distance) for m in _match(database, engine, q(far))] == [("loose", 25)]
    assert _match(database, engine, q(flip(h, 40))) == []
    assert decide_verdict(_match(database, engine, q(near)), q(near)).verdict == "block"
    assert decide_verdict(_match(database, engine, q(far)), q(far)).verdict == "hold"


def test_exact_digests_match(database: Database) -> None:
    engine = MatchEngine(database)
    bank = _bank(database)
    md5 = "0f" * 16
    _add(database, bank, ("md5", md5))
    engine.catch_up()
    (m,) = _match(database, engine, QuerySignals(md5=md5))
    assert m.signal_type == "md5" and m.distance == 0
    assert _match(database, engine, QuerySignals(md5="1f" * 16)) == []


def test_disabled_entry_stops_matching_at_once_even_before_catch_up(database: Database) -> None:
    engine = MatchEngine(database)
    bank = _bank(database)
    h = random_pdq()
    (entry_id,) = _add(database, bank, ("pdq", h))
    engine.catch_up()
    assert _match(database, engine, q(h))
    with database.unit_of_work() as db:
        banks.disable_entry(db, actor=MOD, entry=db.get_one(BankEntry, entry_id), reason="false positive")
    # The database has the last word: no match even though the index has not caught up yet.
    assert _match(database, engine, q(h)) == []
    engine.catch_up()
    assert len(engine.bank.pdq) == 0
    with database.unit_of_work() as db:
        banks.enable_entry(db, actor=MOD, entry=db.get_one(BankEntry, entry_id), reason="was right")
    engine.catch_up()
    assert _match(database, engine, q(h))


def test_low_quality_pdq_is_never_auto_blocked(database: Database) -> None:
    engine = MatchEngine(database)
    bank = _bank(database)
    h = random_pdq()
    _add(database, bank, ("pdq", h))
    engine.catch_up()
    low = q(h, quality=30)
    verdict = decide_verdict(_match(database, engine, low), low)
    assert verdict.verdict == "hold" and "below 50" in verdict.reasons[-1]


def test_bank_use_limits_matching(database: Database) -> None:
    """CSAM-7: a list permitted only for sweeps is not used to screen uploads."""
    engine = MatchEngine(database)
    bank = _bank(database, allowed_uses=["sweep"])
    h = random_pdq()
    _add(database, bank, ("pdq", h))
    engine.catch_up()
    assert _match(database, engine, q(h)) == []

    with database.unit_of_work(write=False) as db:
        assert match_banks(db, engine, q(h), use=BankUse.sweep)


def test_follower_thread_applies_a_commit_within_a_second(database: Database) -> None:
    engine = MatchEngine(database)
    bank = _bank(database)
    stop = threading.Event()
    thread = threading.Thread(target=engine.follow, args=(stop,), kwargs={"interval": 5.0}, daemon=True)
    thread.start()
    try:
        h = random_pdq()
        _add(database, bank, ("pdq", h))
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and not len(engine.bank.pdq):
            time.sleep(0.01)
        assert len(engine.bank.pdq) == 1  # woken by the commit, not by the 5 s poll
        assert engine.lag()["bank_signals"]["behind"] == 0
    finally:
        stop.set()
        database.sequence_signal.set()
        thread.join(5)


def test_save_load_resumes_from_checkpoint(database: Database, tmp_path: Path) -> None:
    bank = _bank(database)
    first = [random_pdq() for _ in range(50)]
    _add(database, bank, *[("pdq", h) for h in first], ("sha256", "ab" * 32))
    engine = MatchEngine(database, index_dir=tmp_path / "index")
    engine.catch_up()
    engine.save()
    applied = engine.bank.applied
    later = random_pdq()
    _add(database, bank, ("pdq", later))
    restarted = MatchEngine(database, index_dir=tmp_path / "index")
    restarted.load()
    assert restarted.bank.applied == applied and len(restarted.bank.pdq) == 50
    assert restarted.lag()["bank_signals"]["behind"] == 1
    assert restarted.catch_up() == 1  # only what came after the checkpoint
    assert _match(database, restarted, q(later)) and _match(database, restarted, q(first[7]))
    assert _match(database, restarted, QuerySignals(sha256="ab" * 32))


def test_corrupt_saved_index_is_rebuilt_from_the_database(database: Database, tmp_path: Path) -> None:
    bank = _bank(database)
    h = random_pdq()
    _add(database, bank, ("pdq", h))
    engine = MatchEngine(database, index_dir=tmp_path / "index")
    engine.catch_up()
    engine.save()
    (tmp_path / "index" / "bank_signals" / "pdq" / "manifest.json").write_text("{not json")
    restarted = MatchEngine(database, index_dir=tmp_path / "index")
    restarted.load()
    assert restarted.bank.applied == 0
    restarted.catch_up()
    assert _match(database, restarted, q(h))


FOLLOWER = """
import json, sys
import staydown.models  # every table registered, as staydown.runtime does for the service
from staydown.db import Database, create_engine
from staydown.matching.engine import MatchEngine
from staydown.matching import banks
from staydown.actors import Actor
database = Database(create_engine(sys.argv[1]))
with database.unit_of_work() as db:
    bank = banks.bank_by_name(db, "own")
    banks.add_entries(db, actor=Actor.staff(9, "other-node"), bank=bank,
                      entries=[banks.NewEntry("pdq", h) for h in json.loads(sys.argv[2])])
engine = MatchEngine(database)
engine.catch_up()
found = engine.bank.search_pdq(json.loads(sys.argv[3]), 31)
print(json.dumps({"applied": engine.bank.applied, "hits": sorted([h.query, h.row_id, h.distance] for h in found)}))
"""


def test_two_processes_converge(database: Database, database_url: str) -> None:
    """Another process adds entries and answers from its own replica; ours follows the same
    sequence and gives the same answers."""
    bank = _bank(database)
    ours = [random_pdq() for _ in range(20)]
    _add(database, bank, *[("pdq", h) for h in ours])
    theirs = [random_pdq() for _ in range(20)]
    queries = [flip(h, 5) for h in ours[:5] + theirs[:5]] + [random_pdq()]
    engine = MatchEngine(database)
    engine.catch_up()
    result = subprocess.run(
        [sys.executable, "-c", FOLLOWER, database_url, json.dumps(theirs), json.dumps(queries)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr
    other = json.loads(result.stdout.strip().splitlines()[-1])
    engine.catch_up()
    mine = sorted([h.query, h.row_id, h.distance] for h in engine.bank.search_pdq(queries, 31))
    assert engine.bank.applied == other["applied"] == 40
    assert mine == other["hits"] and len(mine) == 10
