"""The database goes away under load (issue 16 item 8), for real: a `staydown serve` process over
HTTP while PostgreSQL refuses connections and its backends are killed, and while another program
holds SQLite's write lock. Requests get a fast 503 with Retry-After (never a 500), every notice
acknowledged is stored, and the worker and the index follower recover by themselves within 10 s.

PostgreSQL is not restarted here: the server is shared, and a test may only take its own database
away (`ALLOW_CONNECTIONS false`, then `pg_terminate_backend` on its backends: the same failures a
restart gives, connection refused and connections killed mid-transaction). With
STAYDOWN_TEST_PG_RESTART=1 the cluster is really restarted (`pg_ctlcluster`), for a drill."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import PG_ENV

RECOVERY_LIMIT = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Answer:
    sent: float
    took: float
    status: int
    retry_after: str | None
    tracking_code: str | None


@dataclass
class Service:
    tmp: Path
    database_url: str
    port: int = field(default_factory=_free_port)
    key: str = ""
    proc: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STAYDOWN_")}
        env.update(
            {
                "STAYDOWN_DATA_DIR": str(self.tmp / "var"),
                "STAYDOWN_DATABASE_URL": self.database_url,
                "STAYDOWN_PUBLIC_RATE_PER_MINUTE": "100000",
            }
        )
        return env

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = str(Path(sys.executable).with_name("staydown"))
        subprocess.run([exe, "db", "upgrade"], env=self.env, cwd=self.tmp, check=True, capture_output=True)
        made = subprocess.run(
            [
                exe,
                "apikey",
                "create",
                "outage",
                "--scope",
                "notices:submit",
                "--scope",
                "banks:write",
                "--scope",
                "banks:read",
            ],
            env=self.env,
            cwd=self.tmp,
            check=True,
            capture_output=True,
            text=True,
        )
        self.key = made.stdout.strip().splitlines()[-1].strip()
        self.log = open(self.tmp / "serve.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [exe, "serve", "--port", str(self.port)],
            env=self.env,
            cwd=self.tmp,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, (self.tmp / "serve.log").read_text()
            time.sleep(0.2)
        raise AssertionError("the server did not become ready")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.log.close()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


class Load:
    """Notices from a few senders, one after another each, every answer kept."""

    def __init__(self, service: Service, senders: int = 3) -> None:
        self.service = service
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(i,), daemon=True) for i in range(senders)]
        self._lock = threading.Lock()

    def _send(self, sender: int) -> None:
        with httpx.Client(timeout=30) as http:
            n = 0
            while not self._stop.is_set():
                n += 1
                started = time.monotonic()
                try:
                    r = http.post(
                        f"{self.service.url}/v1/notices",
                        headers={**self.service.headers(), "Idempotency-Key": f"s{sender}-{n}-{secrets.token_hex(4)}"},
                        json={
                            "policy_id": "harassment",
                            "explanation": "aimed at me every day",
                            "reporter_id": f"r-{sender}-{n}",
                            "contact_email": f"r{sender}.{n}@example.org",
                            "items": [{"content_id": f"post-{n % 11}"}],
                        },
                    )
                    answer = Answer(
                        started,
                        time.monotonic() - started,
                        r.status_code,
                        r.headers.get("retry-after"),
                        r.json().get("tracking_code") if r.status_code == 201 else None,
                    )
                except httpx.TransportError:
                    answer = Answer(started, time.monotonic() - started, 0, None, None)
                with self._lock:
                    self.answers.append(answer)
                if answer.status != 201:
                    time.sleep(0.05)

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)


def _report(name: str, load: Load, down: float, back: float, service: Service, engine: sa.Engine) -> dict[str, float]:
    """Check what every outage test checks; return the figures."""
    answers = sorted(load.answers, key=lambda a: a.sent)
    statuses = {a.status for a in answers}
    assert statuses <= {201, 503}, [(a.status, a.took) for a in answers if a.status not in (201, 503)][:5]
    refused = [a for a in answers if a.status == 503]
    assert refused, "the outage was not felt: no request was refused"
    assert all(a.retry_after and int(a.retry_after) >= 1 for a in refused)
    slowest_503 = max(a.took for a in refused)
    first_ok = min(a.sent + a.took for a in answers if a.status == 201 and a.sent >= back)
    acknowledged = {a.tracking_code for a in answers if a.status == 201}
    with engine.connect() as conn:
        stored = set(conn.execute(sa.text("SELECT tracking_code FROM notices")).scalars())
    assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged notices are not stored"
    # The worker: every receipt e-mail queued (before, during and after the outage) is sent.
    deadline = back + RECOVERY_LIMIT
    while True:
        with engine.connect() as conn:
            waiting = conn.execute(
                sa.text("SELECT count(*) FROM jobs WHERE kind = 'messages:send' AND state IN ('pending', 'running')")
            ).scalar()
        if not waiting:
            worker_done = time.monotonic()
            break
        assert time.monotonic() < deadline + 5, (
            f"{waiting} e-mail jobs still waiting {RECOVERY_LIMIT} s after the outage"
        )
        time.sleep(0.1)
    # The index follower: a hash banked now is in this node's index (readyz: nothing behind).
    http = httpx.Client(base_url=service.url, headers=service.headers(), timeout=10)
    bank = f"outage-{secrets.token_hex(3)}"
    assert (
        http.post(
            "/v1/banks", json={"name": bank, "source": "own", "permitted_purpose": "drill", "policy_id": "csam"}
        ).status_code
        == 201
    )
    r = http.post(
        f"/v1/banks/{bank}/import", content=f"pdq {secrets.token_hex(32)}\n", headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    while True:
        ready = httpx.get(f"{service.url}/readyz", timeout=5)
        if ready.status_code == 200 and all(
            v["behind"] == 0 for v in ready.json()["checks"]["index"]["detail"].values()
        ):
            follower_done = time.monotonic()
            break
        assert time.monotonic() < deadline + 10, ready.text
        time.sleep(0.1)
    figures = {
        "outage_s": back - down,
        "requests": len(answers),
        "acknowledged": len(acknowledged),
        "refused_503": len(refused),
        "slowest_503_s": slowest_503,
        "first_201_after_s": first_ok - back,
        "worker_drained_after_s": worker_done - back,
        "index_current_after_s": follower_done - back,
    }
    print(f"\n{name}: " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()))
    assert figures["first_201_after_s"] < RECOVERY_LIMIT
    assert figures["worker_drained_after_s"] < RECOVERY_LIMIT
    return figures


def test_postgresql_going_away_under_load(tmp_path: Path) -> None:
    base = os.environ.get(PG_ENV)
    if not base:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{PG_ENV} must be set in CI")
        pytest.skip(f"needs {PG_ENV}")
    admin_url = sa.make_url(base).set(drivername="postgresql+psycopg")
    name = f"{admin_url.database}_outage"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin_url.set(database=name)
    service = Service(tmp_path, url.set(drivername="postgresql").render_as_string(hide_password=False))
    service.start()
    own = sa.create_engine(url, pool_pre_ping=True)
    real_restart = os.environ.get("STAYDOWN_TEST_PG_RESTART") == "1"
    try:
        with Load(service) as load:
            time.sleep(2)
            down = time.monotonic()
            if real_restart:
                subprocess.run(["pg_ctlcluster", "15", "main", "restart"], check=True)
            else:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                    while time.monotonic() - down < 3:
                        conn.exec_driver_sql(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                        )
                        time.sleep(0.2)
                    conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            back = time.monotonic()
            time.sleep(3)
        figures = _report(
            "postgresql" + (" restart" if real_restart else " backends killed"), load, down, back, service, own
        )
        assert figures["slowest_503_s"] < 6  # a connect timeout at worst, never a hang
    finally:
        service.stop()
        own.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    log = (tmp_path / "serve.log").read_text()
    assert "the database is back after" in log, log[-3000:]  # the outage was met, and its end logged


def test_sqlite_locked_by_another_program_under_load(tmp_path: Path) -> None:
    path = tmp_path / "var" / "staydown.db"
    path.parent.mkdir(parents=True)
    service = Service(tmp_path, f"sqlite:///{path}")
    service.start()
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with Load(service) as load:
            time.sleep(2)
            # Another program (a backup tool, a shell) takes the write lock for six seconds.
            holder = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    (
                        "import sqlite3, sys, time\n"
                        f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
                        "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); "
                        "time.sleep(6); c.execute('COMMIT')\n"
                    ),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
            down = time.monotonic()
            holder.wait(30)
            back = time.monotonic()
            time.sleep(3)
        figures = _report("sqlite locked", load, down, back, service, engine)
        # Seconds, not the 15 s turn: the 1 s lock wait for each write in the request's path (the
        # key's last-use stamp, then the notice's batch), each perhaps behind one other staydown
        # writer's wait (measured: 1.0-4.2 s).
        assert figures["slowest_503_s"] < 5.5
    finally:
        service.stop()
        engine.dispose()
