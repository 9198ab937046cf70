"""Local servers speaking each exchange's protocol, and helpers to configure and fetch exchanges."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.types import ASGIApp

from staydown.actors import SYSTEM
from staydown.db import Database
from staydown.evidence.crypto import MasterKeys
from staydown.exchanges.actions import FetchSummary, add_exchange, exchange_by_name, run_fetch
from staydown.settings import Settings


class SimulatedCrash(BaseException):
    """The process dying between two pages: nothing of the page in hand is committed."""


@contextlib.contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """uvicorn on 127.0.0.1 in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the local exchange server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def keys_of(settings: Settings) -> MasterKeys:
    return MasterKeys.from_base64(settings.vault_master_key.get_secret_value())


def configure(
    database: Database, settings: Settings, *, name: str, api: str, config: dict, credentials: str | None, **kw: Any
) -> int:
    with database.unit_of_work() as db:
        return add_exchange(
            db,
            actor=SYSTEM,
            name=name,
            api=api,
            config=config,
            credentials=credentials,
            keys=keys_of(settings),
            policy_id=kw.pop("policy_id", "csam"),
            permitted_purpose="match uploads against the partner's list",
            **kw,
        ).id


def fetch(database: Database, settings: Settings, name: str, **kw: object) -> FetchSummary:
    """One fetch as the job runs it: a session that the fetch commits page by page."""
    db = database.session()
    try:
        exchange = exchange_by_name(db, name)
        return run_fetch(db, exchange=exchange, settings=settings, keys=keys_of(settings), **kw)  # type: ignore[arg-type]
    finally:
        db.rollback()
        db.close()


@pytest.fixture
def settings(database_url: str, tmp_path) -> Settings:
    return Settings(env="test", database_url=database_url, data_dir=tmp_path / "var", worker_in_process=False)
