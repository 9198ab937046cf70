"""Test fixtures: a migrated database per test on SQLite and on PostgreSQL, a movable clock,
an app and HTTP client, and a guard that keeps tests off the network outside loopback."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

import staydown.models  # noqa: F401 - every table registered before a test's Database flushes
from staydown.actors import SYSTEM
from staydown.app import create_app
from staydown.clock import FrozenClock
from staydown.db import Database, create_engine
from staydown.migrate import upgrade
from staydown.models import metadata
from staydown.sequences import SEQUENCES
from staydown.settings import Settings
from staydown.staff.actions import create_api_client
from staydown.staff.passwords import configure_hashing
from tests.helpers import make_staff, sign_in

PG_ENV = "STAYDOWN_TEST_DATABASE_URL"
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


# -- network guard ----------------------------------------------------------------------------


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and the like
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _block_network() -> Iterator[None]:
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: object) -> None:
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"tests may not reach {address!r}: only loopback is allowed")
        return real_connect(self, address)  # type: ignore[arg-type]

    def guarded_connect_ex(self: socket.socket, address: object) -> int:
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"tests may not reach {address!r}: only loopback is allowed")
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", guarded_connect)
        patch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
        yield


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> None:
    """argon2id stays argon2id, with a tiny cost: the tests check behaviour, not hardness."""
    configure_hashing(time_cost=1, memory_cost_kib=1024)


# -- databases --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    # Closing the last connection checkpoints the WAL into the file, so copying the file alone
    # copies the whole database.
    engine.dispose()
    assert not path.with_name(path.name + "-wal").exists() or path.with_name(path.name + "-wal").stat().st_size == 0
    return path


def pg_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[sa.Engine]:
    url = pg_url()
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{PG_ENV} must be set in CI: the PostgreSQL tests may not be skipped there")
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/staydown_test)")
    engine = create_engine(url)
    with engine.begin() as conn:
        # Start from nothing, so the migrations themselves are what is tested.
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    upgrade(engine)
    yield engine
    engine.dispose()


def _reset_postgresql(engine: sa.Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        # The audit log refuses TRUNCATE by trigger; replica mode is how a superuser test
        # harness (not the application) gets a clean slate between tests.
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        conn.exec_driver_sql("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')")

        conn.exec_driver_sql(
            "INSERT INTO sequence_heads (name, value) VALUES " + ", ".join(f"('{name}', 0)" for name in SEQUENCES)
        )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "staydown.db"
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"
    engine = request.getfixturevalue("pg_engine")
    _reset_postgresql(engine)
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def database(backend: str, database_url: str, clock: FrozenClock, request: pytest.FixtureRequest) -> Iterator[Database]:
    if backend == "sqlite":
        engine = create_engine(database_url)
        db = Database(engine, clock=clock)
        yield db
        engine.dispose()
    else:
        db = Database(request.getfixturevalue("pg_engine"), clock=clock)
        yield db


@pytest.fixture
def db(database: Database) -> Iterator[sa.orm.Session]:
    """A session for a test that checks an action's effects; committed at the end of the test
    only if the test commits it itself."""
    session = database.session()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


# -- settings, app, client -----------------------------------------------------------------------


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(env="test", database_url=database_url, data_dir=tmp_path / "var", worker_in_process=False)


@pytest.fixture
def app(settings: Settings, database: Database):
    return create_app(settings, database=database, run_worker=False)


@pytest.fixture
def client(app):
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def api_key(database: Database) -> str:
    """A platform integration's key with the default scopes."""
    with database.unit_of_work() as session:
        return create_api_client(session, actor=SYSTEM, name="test platform").key


@pytest.fixture
def staff(database: Database, client):
    """Signed-in headers for a moderator, two child-safety specialists and a senior moderator."""
    make_staff(database, "mo", "moderator")
    make_staff(database, "cs1", "child_safety")
    make_staff(database, "cs2", "child_safety")
    make_staff(database, "senior", "senior_moderator")
    return {name: sign_in(client, name) for name in ("mo", "cs1", "cs2", "senior")}
