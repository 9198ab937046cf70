"""One process's replica of the match indexes, following the signal tables by sequence number.

Two replicas: bank signals (what to block, hold or flag) and content signals (everything scanned,
for sweeps and for grouping reports). Each holds a PDQ index and exact MD5/SHA-256 indexes keyed
by row id, and the sequence number it has applied. Any number of processes on any number of
machines converge on the same answers because they apply the same commit-ordered changes; none
ever rebuilds from scratch unless it has no saved copy. The indexes are derived data: delete the
directory and they are rebuilt from the tables.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute

from staydown import sequences
from staydown.db import Database, OutageLog
from staydown.matching.hamming import pdq_from_hex
from staydown.matching.index import ExactIndex, IndexFileError, PDQIndex
from staydown.matching.models import BANK_SIGNALS, CONTENT_SIGNALS, BankEntry, ContentSignal
from staydown.matching.vpdq import CONTENT_INDEX_SPACING, VideoIndex, frames_from_row

log = logging.getLogger("staydown.matching")

DIGEST_BYTES = {"md5": 16, "sha256": 32}


@dataclass(frozen=True)
class Hit:
    query: int  # position of the query signal in the batch
    row_id: int  # bank_entries.id or content_signals.id
    distance: int  # Hamming bits for PDQ, 0 for exact digests


class Replica:
    """The indexes of one signal table, and how far they have followed it."""

    def __init__(self, name: str, table: type[BankEntry] | type[ContentSignal]) -> None:
        self.name = name
        self.table = table
        self.pdq = PDQIndex()
        self.exact = {kind: ExactIndex(digest_bytes=n) for kind, n in DIGEST_BYTES.items()}
        self.video = VideoIndex()  # vPDQ rows' frames (matching/vpdq.py)
        # Stored content's vPDQ is indexed sparser than it is kept (matching/vpdq.py says why).
        self.video_spacing = CONTENT_INDEX_SPACING if table is ContentSignal else 0.0
        self.applied = 0
        self.lock = threading.RLock()  # guards the indexes: queries and writes
        self.follow_lock = threading.Lock()  # one catch-up at a time, so changes apply in order

    # Rows with these values are out of matching: disabled bank entries, purged content signals.
    def _live_column(self) -> sa.ColumnElement[bool] | InstrumentedAttribute[bool]:
        if self.table is BankEntry:
            return BankEntry.enabled
        return ~ContentSignal.purged

    def catch_up(self, database: Database, *, batch: int = 50_000) -> int:
        """Apply every change committed since `applied`, in order. Returns how many rows."""
        with self.follow_lock:
            return self._catch_up(database, batch)

    def _catch_up(self, database: Database, batch: int) -> int:
        total = 0
        t = self.table
        while True:
            with database.unit_of_work(write=False) as db:
                rows = db.execute(
                    sa.select(t.id, t.signal_type, t.signal, self._live_column().label("live"), t.change_seq, t.frames)
                    .where(t.change_seq > self.applied)
                    .order_by(t.change_seq)
                    .limit(batch)
                ).all()
            if not rows:
                return total
            self._apply(rows)
            total += len(rows)
            if len(rows) < batch:
                return total

    def _apply(self, rows: Sequence[sa.Row[int, str, str, bool, int | None, str | None]]) -> None:
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        with self.lock:
            # A row seen again (disabled, re-enabled) replaces what the index held for it.
            self.pdq.remove(ids)
            for index in self.exact.values():
                index.remove(ids)
            self.video.remove(ids)
            live = [r for r in rows if r[3]]
            pdq = [r for r in live if r[1] == "pdq"]
            if pdq:
                self.pdq.add(np.fromiter((r[0] for r in pdq), np.int64, len(pdq)), pdq_from_hex([r[2] for r in pdq]))
            for kind, index in self.exact.items():
                chosen = [r for r in live if r[1] == kind]
                if chosen:
                    index.add(np.fromiter((r[0] for r in chosen), np.int64, len(chosen)), [r[2] for r in chosen])
            for r in live:
                if r[1] == "vpdq":
                    try:
                        self.video.add(r[0], frames_from_row(r[5], spacing=self.video_spacing))
                    except Exception:  # rows are checked on the way in; one bad row must not stop the follower
                        log.exception("vPDQ row %s of %s cannot be indexed; it matches by digest only", r[0], self.name)
            last_seq = rows[-1][4]
            assert last_seq is not None  # selected by change_seq > applied
            self.applied = int(last_seq)

    def search_pdq(self, hashes_hex: list[str], radius: int) -> list[Hit]:
        if not hashes_hex:
            return []
        queries = pdq_from_hex(hashes_hex)
        with self.lock:
            found = self.pdq.search(queries, radius=radius)
        return [Hit(int(q), int(i), int(d)) for q, i, d in zip(found.query, found.ids, found.distances, strict=True)]

    def video_candidates(self, hashes: np.ndarray, radius: int) -> dict[int, int]:
        """vPDQ rows with a frame within `radius` of one of these frames ((n, 32) uint8)."""
        with self.lock:
            return self.video.candidates(hashes, radius)

    def video_frames(self, row_ids: list[int]) -> dict[int, np.ndarray]:
        """The usable frames of these vPDQ rows, as the index holds them."""
        with self.lock:
            return {i: self.video.rows[i] for i in row_ids if i in self.video.rows}

    def lookup(self, kind: str, digests_hex: list[str]) -> list[Hit]:
        if not digests_hex:
            return []
        with self.lock:
            answers = self.exact[kind].query(digests_hex)
        return [Hit(q, int(i), 0) for q, ids in enumerate(answers) for i in ids]

    def save(self, root: Path) -> None:
        with self.lock:
            checkpoint = self.applied
            tmp = root.with_name(root.name + ".new")
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            self.pdq.save(tmp / "pdq", checkpoint=checkpoint)
            for kind, index in self.exact.items():
                index.save(tmp / kind, checkpoint=checkpoint)
            self.video.save(tmp / "vpdq", checkpoint=checkpoint)
        old = root.with_name(root.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        if root.exists():
            root.rename(old)
        tmp.rename(root)
        if old.exists():
            shutil.rmtree(old)

    def load(self, root: Path) -> bool:
        """Load a saved copy; False (and an empty replica) if there is none or it is unusable."""
        if not root.exists():
            return False
        try:
            pdq, checkpoint = PDQIndex.load(root / "pdq")
            exact = {}
            for kind in DIGEST_BYTES:
                exact[kind], other = ExactIndex.load(root / kind)
                if other != checkpoint:
                    raise IndexFileError(f"{root}: parts saved at different checkpoints")
            # A copy saved before vPDQ existed has no frame index: rebuilt from the tables.
            video, other = VideoIndex.load(root / "vpdq")
            if other != checkpoint:
                raise IndexFileError(f"{root}: parts saved at different checkpoints")
        except (IndexFileError, OSError, ValueError) as exc:
            log.warning("index %s at %s is unusable (%s); rebuilding from the database", self.name, root, exc)
            return False
        with self.lock:
            self.pdq, self.exact, self.video, self.applied = pdq, exact, video, checkpoint
        return True


class MatchEngine:
    """The bank and content replicas of one process, with a follower thread and persistence."""

    def __init__(self, database: Database, *, index_dir: Path | None = None) -> None:
        self.database = database
        self.index_dir = index_dir
        self.bank = Replica(BANK_SIGNALS, BankEntry)
        self.content = Replica(CONTENT_SIGNALS, ContentSignal)
        self.replicas = (self.bank, self.content)
        # Set after any local commit that took sequence numbers: apply it now, not at the next poll.
        self.changed = database.sequence_signal
        self._saved_at: dict[str, int] = {}

    def load(self) -> None:
        if self.index_dir is None:
            return
        for replica in self.replicas:
            if replica.load(self.index_dir / replica.name):
                self._saved_at[replica.name] = replica.applied
                log.info("index %s loaded at sequence %s", replica.name, replica.applied)

    def save(self, *, min_new_rows: int = 1) -> None:
        """Save each replica that has applied at least `min_new_rows` changes since its last save."""
        if self.index_dir is None:
            return
        for replica in self.replicas:
            if replica.applied - self._saved_at.get(replica.name, -1) >= min_new_rows:
                replica.save(self.index_dir / replica.name)
                self._saved_at[replica.name] = replica.applied

    def catch_up(self) -> int:
        return sum(replica.catch_up(self.database) for replica in self.replicas)

    def lag(self) -> dict[str, dict[str, int]]:
        with self.database.unit_of_work(write=False) as db:
            heads = {r.name: sequences.head(db, r.name) for r in self.replicas}
        return {
            r.name: {"applied": r.applied, "head": heads[r.name], "behind": max(0, heads[r.name] - r.applied)}
            for r in self.replicas
        }

    def follow(
        self,
        stop: threading.Event,
        *,
        interval: float = 0.2,
        save_every_rows: int = 100_000,
        save_every_seconds: float = 300.0,
    ) -> None:
        """Keep up with the database until `stop` is set; save now and then so restarts are quick."""
        outage = OutageLog(log, "index follower")
        last_save = time.monotonic()
        while not stop.is_set():
            try:
                self.catch_up()
                if time.monotonic() - last_save > save_every_seconds:
                    self.save()
                    last_save = time.monotonic()
                else:
                    self.save(min_new_rows=save_every_rows)
                outage.ok()
            except Exception as exc:  # noqa: BLE001 - a database outage must not kill the follower
                outage.failed(exc)
            self.changed.wait(interval)
            self.changed.clear()
        try:
            self.save()
        except Exception:
            log.exception("saving the indexes at shutdown failed")
