"""Engines, sessions and the unit of work; portable column types; the declarative base."""

from __future__ import annotations

import collections
import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from staydown.clock import Clock, SystemClock
from staydown.errors import NotFound

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC on every backend. Naive values are refused:
    a deadline computed from an ambiguous time is a deadline computed wrong."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# BigInteger primary keys that still autoincrement on SQLite (which only does so for INTEGER).
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _sqlite_url_path(url: sa.URL) -> Path | None:
    if url.database and url.database != ":memory:":
        return Path(url.database)
    return None


_SQLITE_UNAVAILABLE = (
    "database is locked",
    "database is busy",
    "database table is locked",
    "unable to open database",
    "disk i/o error",
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether an error means the database could not be used just now (a PostgreSQL restart, a
    dropped connection, a pool with no free connection, SQLite locked by another program), as
    opposed to a fault in the statement: the work can be tried again as it was."""
    if isinstance(exc, sa.exc.TimeoutError):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, sa.exc.InterfaceError):
            return True
        orig = exc.orig
        module = type(orig).__module__ if orig is not None else ""
        if module.startswith("psycopg") and isinstance(exc, sa.exc.OperationalError):
            return True  # connection failures, admin shutdown, "cannot connect now", lock and serialization
        text = str(orig if orig is not None else exc).lower()
        return isinstance(exc, sa.exc.OperationalError) and any(s in text for s in _SQLITE_UNAVAILABLE)
    return False


class OutageLog:
    """Logs a database outage once when it starts and once when it ends (with how long it lasted),
    instead of a traceback every poll; any other error is logged in full every time."""

    def __init__(self, logger: logging.Logger, who: str) -> None:
        self.logger, self.who = logger, who
        self.since: float | None = None
        self.last_recovery_seconds: float | None = None

    def failed(self, exc: BaseException) -> None:
        if not database_unavailable(exc):
            self.logger.exception("%s failed; retrying", self.who)
            return
        if self.since is None:
            self.since = time.monotonic()
            self.logger.warning(
                "%s: the database is unavailable (%s); retrying until it is back", self.who, type(exc).__name__
            )

    def ok(self) -> None:
        if self.since is not None:
            self.last_recovery_seconds = time.monotonic() - self.since
            self.logger.warning("%s: the database is back after %.1f s", self.who, self.last_recovery_seconds)
            self.since = None


def create_engine(
    url: str, *, sqlite_busy_timeout_ms: int = 15_000, sqlite_lock_wait_ms: int | None = None, echo: bool = False
) -> Engine:
    """An engine for SQLite (WAL, foreign keys, busy timeout) or PostgreSQL (psycopg 3).

    SQLite: `sqlite_busy_timeout_ms` bounds the wait for a turn among staydown's own writers (this
    process's queue, then the lock file shared with its other processes); `sqlite_lock_wait_ms`
    bounds the wait on SQLite's own lock once the turn is ours, which only another program (a
    backup, a shell) can hold. Past it the request gets a fast 503 rather than a long wait."""
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_url_path(parsed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        lock_wait_ms = sqlite_busy_timeout_ms if sqlite_lock_wait_ms is None else sqlite_lock_wait_ms
        engine = sa.create_engine(
            parsed,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": lock_wait_ms / 1000},
            # As many connections as the server has worker threads, so that a request waits on
            # SQLite's lock (in order) rather than on the pool.
            pool_size=20,
            max_overflow=30,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # We emit BEGIN ourselves (below): pysqlite's implicit transactions would defer the
            # write lock and fail with "database is locked" on upgrade instead of waiting.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(lock_wait_ms)}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        gate = WriterQueue(
            sqlite_busy_timeout_ms / 1000,
            lock_file=path.with_name(path.name + ".writer-lock") if path is not None else None,
        )
        engine.sqlite_writer_queue = gate  # type: ignore[attr-defined]

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: sa.Connection) -> None:
            # Writers take the lock at BEGIN so that two writers queue on busy_timeout instead
            # of one failing when it upgrades a read lock. Read-only units ask for DEFERRED.
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            if mode != "IMMEDIATE":
                conn.exec_driver_sql(f"BEGIN {mode}")
                return
            # This process's writers line up here, in arrival order, rather than in SQLite's busy
            # handler, which sleeps up to 100 ms between tries in no order: that was p99 (from 1 s
            # to 160 ms in bench/intake.py). Other processes still meet the busy handler.
            dbapi = conn.connection.dbapi_connection
            gate.acquire(dbapi)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                gate.release(dbapi)
                raise

        # The turn ends once COMMIT or ROLLBACK has run (SQLAlchemy's commit event comes before it).
        do_commit, do_rollback = engine.dialect.do_commit, engine.dialect.do_rollback

        # SQLAlchemy passes the pool's proxy here, the raw connection elsewhere: the turn is the raw one's.
        def _commit(dbapi_connection: Any) -> None:
            try:
                do_commit(dbapi_connection)
            finally:
                gate.release(getattr(dbapi_connection, "dbapi_connection", dbapi_connection))

        def _rollback(dbapi_connection: Any) -> None:
            try:
                do_rollback(dbapi_connection)
            finally:
                gate.release(getattr(dbapi_connection, "dbapi_connection", dbapi_connection))

        engine.dialect.do_commit = _commit  # type: ignore[method-assign]
        engine.dialect.do_rollback = _rollback  # type: ignore[method-assign]

        @event.listens_for(engine, "close")
        def _closed(dbapi_connection: Any, _record: Any) -> None:
            gate.release(dbapi_connection)  # a connection closed mid-transaction gives up its turn

        return engine
    # A server that does not answer is given 5 s to connect (the default is to wait as long as TCP
    # does), so a request during an outage gets its 503 quickly; pre-ping replaces the pool's
    # connections that a restart left dead.
    return sa.create_engine(
        parsed,
        echo=echo,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        pool_timeout=10,
        connect_args={"connect_timeout": 5},
    )


class WriterQueue:
    """A first-come-first-served turn to write, per process and database: one connection at a
    time holds it, from its BEGIN IMMEDIATE to its COMMIT or ROLLBACK. A waiter gives up after the
    busy timeout, as SQLite's own wait would."""

    def __init__(self, timeout: float, lock_file: Path | None = None) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._waiting: collections.deque[tuple[Any, threading.Event]] = collections.deque()
        self._owner: Any = None
        # Between processes (`serve --processes N`): the holder of this process's turn also takes
        # an advisory lock on a file beside the database, trying every millisecond or so, where
        # SQLite's busy handler would sleep up to 100 ms between tries (p99 over 1 s, measured).
        self._fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600) if lock_file is not None else None

    def acquire(self, owner: Any) -> None:
        deadline = time.monotonic() + self.timeout
        self._acquire_here(owner)
        if self._fd is None:
            return
        pause = 0.0002
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    self._release_here(owner)
                    raise self._locked() from None
                time.sleep(pause)
                pause = min(pause * 2, 0.002)

    def _locked(self) -> sa.exc.OperationalError:
        return sa.exc.OperationalError(
            "BEGIN IMMEDIATE", None, Exception(f"database is locked: no write turn within {self.timeout:g} s")
        )

    def _acquire_here(self, owner: Any) -> None:
        with self._lock:
            if self._owner is None and not self._waiting:
                self._owner = owner
                return
            if self._owner is owner:
                raise RuntimeError("this connection already holds the write turn")
            turn = threading.Event()
            entry = (owner, turn)
            self._waiting.append(entry)
        if turn.wait(self.timeout):
            return
        with self._lock:
            if turn.is_set():  # handed over as the wait ran out
                return
            self._waiting.remove(entry)
        raise self._locked()

    def release(self, owner: Any) -> None:
        if self._owner is owner and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._release_here(owner)

    def _release_here(self, owner: Any) -> None:
        with self._lock:
            if self._owner is not owner:
                return
            if self._waiting:
                self._owner, turn = self._waiting.popleft()
                turn.set()
            else:
                self._owner = None

    @property
    def queued(self) -> int:
        return len(self._waiting)


class SqliteCheckpointer:
    """Copies SQLite's write-ahead log into the database file from a thread of its own, every
    `interval` seconds (PASSIVE: never waits for, nor blocks, a writer). Otherwise the commit that
    takes the log past 1,000 pages does it, fsyncs included, and the notices in that commit wait:
    a batch's p99 went from 62 to 97 ms in a scratch run. SQLite's own automatic checkpoint stays
    on behind it, should this thread stop."""

    def __init__(self, engine: Engine, interval: float = 0.5) -> None:
        self.engine, self.interval = engine, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> SqliteCheckpointer:
        if self.engine.dialect.name == "sqlite" and _sqlite_url_path(self.engine.url) is not None:
            self._thread = threading.Thread(target=self._run, name="staydown-wal-checkpoint", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, pages in the log, pages copied)."""
        with self.engine.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None  # an open connection has its driver connection
            row = dbapi.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()  # outside any transaction
        self.runs += 1
        return tuple(row)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.checkpoint()
            except Exception:  # the automatic checkpoint still runs; say so once a run
                logging.getLogger("staydown.db").exception("WAL checkpoint failed")


class Database:
    """An engine plus the clock every unit of work reads time from."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None) -> None:
        # Every table must be known before the first flush resolves a foreign key: whoever builds
        # the Database for a process imports `staydown.models` (staydown.runtime, the migrations, the
        # tests' fixtures); this module is below the models and cannot.
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self._factory = sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
        self._read_factory = sessionmaker(
            bind=engine.execution_options(sqlite_begin="DEFERRED"),
            expire_on_commit=False,
            autoflush=True,
        )
        self.job_signal = threading.Event()
        self.sequence_signal = threading.Event()
        event.listen(self._factory, "after_commit", self._after_commit)
        event.listen(self._factory, "after_soft_rollback", self._after_rollback)

    def _after_commit(self, session: Session) -> None:
        # `session.info["after_commit"]`: work that must wait until the change is durable (forget a
        # cached key, delete an erased blob); a rollback discards it with the change.
        for callback in session.info.pop("after_commit", ()):
            callback()
        if session.info.pop("jobs_enqueued", False):
            self.job_signal.set()
        if session.info.pop("sequences_touched", False):
            self.sequence_signal.set()

    @staticmethod
    def _after_rollback(session: Session, previous_transaction: Any) -> None:
        if previous_transaction.parent is None:
            session.info.pop("after_commit", None)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, *, write: bool = True) -> Session:
        factory = self._factory if write else self._read_factory
        session = factory()
        session.info["clock"] = self.clock
        return session

    @contextlib.contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        """One transaction: committed if the block finishes, rolled back if it raises.
        The edge (request, job, CLI command) owns this; actions never commit."""
        session = self.session(write=write)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


# -- work done at commit ------------------------------------------------------------------------
#
# Some writes must be ordered by commit, not by statement: the audit chain and the sequence numbers
# that match-index followers read. Each registers a hook here; one listener runs them in a fixed
# order, so every transaction takes their locks in the same order, last, after all other locks it
# holds: none of them can be part of a deadlock.

CommitHook = Callable[[Session], None]
_commit_hooks: list[tuple[int, str, CommitHook]] = []


def register_commit_hook(order: int, name: str, hook: CommitHook) -> None:
    if any(existing == name for _, existing, _ in _commit_hooks):
        return
    _commit_hooks.append((order, name, hook))
    _commit_hooks.sort(key=lambda item: (item[0], item[1]))


@event.listens_for(Session, "before_commit")
def _run_commit_hooks(session: Session) -> None:
    # A savepoint's release is not the transaction's commit: running the hooks there would take
    # the head locks early, and a savepoint rolled back after them would take the events with it.
    if session.in_nested_transaction():
        return
    for _, _, hook in _commit_hooks:
        hook(session)


def insert_for(db: Session, target: Any) -> Any:
    """The dialect's own INSERT for a model or table, the one that has `on_conflict_do_nothing`."""
    return (postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert)(target)


Row = TypeVar("Row")


def get_or_404(db: Session, model: type[Row], ident: Any, what: str) -> Row:
    """The row of `model` with primary key `ident`, or NotFound("no <what> <ident>"): a 404 at the edge."""
    found = db.get(model, ident)
    if found is None:
        raise NotFound(f"no {what} {ident}")
    return found


def now(db: Session) -> datetime:
    """The current time as the unit of work sees it (tests move it with a FrozenClock)."""
    clock: Clock | None = db.info.get("clock")
    return (clock or SystemClock()).now()


def clock_of(db: Session) -> Clock:
    return db.info.get("clock") or SystemClock()
