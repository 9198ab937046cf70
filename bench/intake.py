"""Benchmark of sustained notice intake over real HTTP, on SQLite and on PostgreSQL (issue 4).

Usage: python bench/intake.py [--duration 20] [--warmup 3] [--concurrency auto|N] [--only sqlite|postgresql]
       python bench/intake.py --profile [--only postgresql] [--concurrency N] [--cprofile] [--experiment NAME]

For each database the script prepares a fresh store (a temporary data directory for SQLite; a new
database that it creates and drops itself on the server named by STAYDOWN_TEST_DATABASE_URL for
PostgreSQL, never the test database itself), applies the migrations, creates an API key, and starts
`staydown serve` as a subprocess, as `make serve` runs it: a uvicorn process with the outbox worker
and index follower, and its intake writer child process. This process then drives it with N threads,
each with its own keep-alive `http.client` connection, so N requests are in flight (a closed loop:
each sender sends its next notice when its previous one is answered).

The mix is what a platform sends: mostly user reports about distinct content (each opens a case),
some reports about content already reported (they join its case), about 7% child-safety reports
(`csam`, a minor, a parent reporting: an interim restriction and more legal tracks) and about 8%
anonymous reports through the public form. Latency is the acknowledgement latency of one request,
from sending it to its 201 arriving; throughput is the acknowledged notices over the measured
seconds. Any answer other than 201 is an error, counted by status with its first message.

The concurrency is chosen by measurement: a short run at each of a few levels on the same server,
keeping the level with the highest throughput among those whose p99 is within the aim (100 ms),
else among all; levels within 5% of that throughput count as equal, and the lowest p99 wins. The
load generator runs on the same machine as the server and takes part of the same cores; the CPU
seconds each used during the measured window are printed, with the load average before it (other
work on the machine takes cores too).

Beside the figures: the floor of the same HTTP stack (`GET /healthz` at the same concurrency);
on PostgreSQL, what the backends were doing (sampled from pg_stat_activity); and after each run a
check of the store: every acknowledged notice stored, every notice, account, content and case with
the audit event that created it, `staydown audit verify` passing.

`--profile` instead runs one server (SQLite unless `--only postgresql`) in a process that observes
itself: each write transaction's wait for BEGIN and its hold time, the thread CPU of each section of
the intake path, wall-clock stack samples of every thread, and optionally cProfile. `--experiment`
patches that server in memory to try a change suggested in docs/bench-intake.md, without editing it.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

AIM_RATE = 500.0
AIM_P99_MS = 100.0
PG_ENV = "STAYDOWN_TEST_DATABASE_URL"
SWEEP_LEVELS = (8, 16, 24, 32, 48)
TICKS = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def staydown_bin() -> str:
    beside = Path(sys.executable).with_name("staydown")
    return str(beside) if beside.exists() else (shutil.which("staydown") or "staydown")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg() -> float:
    return float(open("/proc/loadavg").read().split()[0])


def proc_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process and its live child processes (the server's
    processes under `--processes`), from /proc/PID/stat."""
    total = 0.0
    for each in [pid, *_children(pid)]:
        try:
            text = open(f"/proc/{each}/stat").read()
        except FileNotFoundError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def _children(pid: int) -> list[int]:
    try:
        found = [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except FileNotFoundError:
        return []
    return found + [g for c in found for g in _children(c)]


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The nearest-rank percentile; None when there is nothing to rank (JSON has no NaN)."""
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


# -- the database under test -----------------------------------------------------------------------


def server_env(extra: dict[str, str]) -> dict[str, str]:
    # Only this benchmark's settings reach the server: a STAYDOWN_CONFIG_FILE or database URL in the
    # caller's shell must not point it at something else.
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAYDOWN_")}
    env.update(
        {
            "STAYDOWN_PUBLIC_RATE_PER_MINUTE": "100000000",
            "STAYDOWN_LOG_LEVEL": "WARNING",
        }
    )
    env.update(SERVER_SETTINGS)
    env.update(extra)
    return env


SERVER_PROCESSES = [1]  # --processes
SERVER_SETTINGS: dict[
    str, str
] = {}  # --set NAME=VALUE: a server setting to try (e.g. STAYDOWN_WORKER_IN_PROCESS=false)


class PgDatabase:
    """A fresh database on the server that STAYDOWN_TEST_DATABASE_URL names, created and dropped here."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self.base = sa.make_url(url)
        self.name = f"staydown_bench_intake_{os.getpid()}_{secrets.token_hex(3)}"

    def _admin(self):  # type: ignore[no-untyped-def]
        import psycopg

        last: Exception | None = None
        for dbname in ("postgres", self.base.database):
            try:
                return psycopg.connect(self._conninfo(dbname), autocommit=True)
            except Exception as exc:  # noqa: BLE001 - try the test database's own name next
                last = exc
        raise RuntimeError(f"cannot connect to the PostgreSQL server to create a database: {last}")

    def _conninfo(self, dbname: str | None) -> str:
        from psycopg.conninfo import make_conninfo

        u = self.base
        parts = {
            "host": u.host or "127.0.0.1",
            "port": str(u.port or 5432),
            "user": u.username,
            "password": u.password,
            "dbname": dbname,
        }
        return make_conninfo(**{k: v for k, v in parts.items() if v})

    def url(self) -> str:
        return self.base.set(drivername="postgresql", database=self.name).render_as_string(hide_password=False)

    def create(self) -> None:
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class PgWaits:
    """Samples pg_stat_activity for the benchmark's database while the load runs: what its
    backends are doing, and on which statements they wait for a lock."""

    def __init__(self, pg: PgDatabase, interval: float = 0.05) -> None:
        self.pg = pg
        self.interval = interval
        self.states: Counter[str] = Counter()
        self.lock_waits: Counter[str] = Counter()
        self.samples = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="pg-waits", daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.pg._conninfo(self.pg.name), autocommit=True) as conn:
            while not self.stop.wait(self.interval):
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                    (self.pg.name,),
                ).fetchall()
                self.samples += 1
                for state, wtype, wevent, query in rows:
                    if state == "idle":
                        continue
                    what = f"{state}:{wtype}:{wevent}" if wtype else f"{state}:on cpu"
                    self.states[what] += 1
                    if wtype == "Lock":
                        self.lock_waits[" ".join(query.split())[:110]] += 1

    def __enter__(self) -> PgWaits:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def figures(self) -> dict[str, Any]:
        n = max(1, self.samples)
        return {
            "samples": self.samples,
            "mean_backends_by_state": {k: round(v / n, 2) for k, v in self.states.most_common(8)},
            "lock_waits_by_statement": {k: round(v / n, 2) for k, v in self.lock_waits.most_common(5)},
        }


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base_url: str
    api_key: str
    log_path: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(
    env: dict[str, str], workdir: Path, profile_to: Path | None = None, profile_args: tuple[str, ...] = ()
) -> Server:
    exe = staydown_bin()
    # Migrate first, so that the key can be created before the server takes requests.
    subprocess.run([exe, "db", "upgrade"], env=env, check=True, capture_output=True)
    made = subprocess.run([exe, "apikey", "create", "bench"], env=env, check=True, capture_output=True, text=True)
    api_key = made.stdout.strip().splitlines()[-1].strip()
    if not api_key.startswith("sd_"):
        raise RuntimeError(f"`staydown apikey create` did not print a key last: {made.stdout!r}")
    port = free_port()
    log_path = workdir / "serve.log"
    command = [exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--processes", str(SERVER_PROCESSES[0])]
    if profile_to is not None:
        # The same `staydown serve`, in a process that profiles itself (see `profiled_serve`).
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--role",
            "profiled-serve",
            "--profile-out",
            str(profile_to),
            "--port",
            str(port),
            *profile_args,
        ]
    proc = subprocess.Popen(command, env=env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(base_url + "/readyz", timeout=2).status_code == 200:
                return Server(proc, base_url, api_key, log_path)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server was not ready within 60 s: " + log_path.read_text()[-2000:])


# -- the load --------------------------------------------------------------------------------------

POLICIES = (
    ["harassment"] * 4
    + ["spam"] * 3
    + ["hate"] * 2
    + ["scams", "violent-threats", "impersonation", "self-harm", "defamation"]
)
EXPLANATIONS = [
    "threatening messages",
    "this account keeps posting the same scam link",
    "slurs in the caption and comments",
    "pretending to be me, using my photos",
    "this post encourages self-harm to teenagers",
    "spam, posted in every group",
]


class Mix:
    """The notices to send, drawn at random with fixed proportions and a fixed seed.

    Of every 100 notices, about: 70 platform user reports about new content, 15 platform reports about
    content already reported (a hot set of recent content, so that some cases gather many notices),
    7 child-safety reports from a parent through the platform, 8 anonymous public reports (one in
    four of them about content already reported). Content is posted by one of 50,000 accounts, so
    accounts recur; reporters are 20,000 platform users. A report about content already reported
    names the account that posted it."""

    def __init__(self, seed: int, prefix: str) -> None:
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.counter = 0
        self.hot: list[tuple[str, str]] = []  # (content id, account id)
        self.sent: Counter[str] = Counter()
        self.acknowledged = 0  # 201s in every phase: each must be a stored notice
        self.failed: Counter[str] = Counter()  # other answers in every phase, warm-up and sweep too

    def _new_content(self) -> dict[str, str]:
        self.counter += 1
        item = (f"{self.prefix}-post-{self.counter}", f"acct-{self.rng.randrange(50_000)}")
        if len(self.hot) < 500:
            self.hot.append(item)
        elif self.rng.random() < 0.05:
            self.hot[self.rng.randrange(len(self.hot))] = item
        return {"content_id": item[0], "account_id": item[1]}

    def _old_content(self) -> dict[str, str]:
        if not self.hot:
            return self._new_content()
        cid, account = self.rng.choice(self.hot)
        return {"content_id": cid, "account_id": account}

    def next(self) -> tuple[str, str, dict[str, Any]]:
        """(mix label, path, body)."""
        r = self.rng.random()
        reporter = f"reporter-{self.rng.randrange(20_000)}"
        if r < 0.08:
            label = "public"
            item = self._old_content() if self.rng.random() < 0.25 else self._new_content()
            body = {
                "kind": "public_report",
                "reporter_kind": "user",
                "policy_id": self.rng.choice(POLICIES),
                "explanation": self.rng.choice(EXPLANATIONS),
                "items": [item],
            }
            path = "/public/notices"
        elif r < 0.15:
            label = "child_safety"
            body = {
                "kind": "user_report",
                "reporter_kind": "parent_or_representative",
                "policy_id": "csam",
                "minor_involved": True,
                "explanation": "sexual images of my 14-year-old daughter",
                "items": [self._new_content()],
                "reporter_id": reporter,
            }
            path = "/v1/notices"
        elif r < 0.30:
            label = "repeat"
            body = {
                "kind": "user_report",
                "reporter_kind": "user",
                "policy_id": self.rng.choice(POLICIES),
                "explanation": self.rng.choice(EXPLANATIONS),
                "items": [self._old_content()],
                "reporter_id": reporter,
            }
            path = "/v1/notices"
        else:
            label = "new"
            body = {
                "kind": "user_report",
                "reporter_kind": "user",
                "policy_id": self.rng.choice(POLICIES),
                "explanation": self.rng.choice(EXPLANATIONS),
                "items": [self._new_content()],
                "reporter_id": reporter,
            }
            path = "/v1/notices"
        self.sent[label] += 1
        return label, path, body


class HealthzMix:
    """The floor: the same HTTP stack (uvicorn, middleware, a sync handler in the thread pool)
    answering `GET /healthz`, which touches no database."""

    def __init__(self) -> None:
        self.acknowledged = 0
        self.failed: Counter[str] = Counter()

    def next(self) -> tuple[str, str, None]:
        return "healthz", "/healthz", None


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class Window:
    """What happened during one measured run."""

    concurrency: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    first_messages: dict[str, str] = field(default_factory=dict)
    by_label: Counter[str] = field(default_factory=Counter)
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0

    def figures(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        ok = len(lat)
        return {
            "notices_per_s": round(ok / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": _round(percentile(lat, 50)),
            "p99_ms": _round(percentile(lat, 99)),
            "p999_ms": _round(percentile(lat, 99.9)),
            "max_ms": round(lat[-1], 2) if lat else None,
            "mean_ms": round(sum(lat) / ok, 2) if ok else None,
            "notices": ok,
            "errors": sum(self.errors.values()),
            "error_statuses": dict(self.errors),
            "error_first_messages": self.first_messages,
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 2),
            "mix": dict(self.by_label),
            "client_cpu_s": round(self.client_cpu_s, 2),
            "server_cpu_s": round(self.server_cpu_s, 2),
            "client_cpu_ms_per_request": round(self.client_cpu_s * 1000 / ok, 2) if ok else None,
            "server_cpu_ms_per_request": round(self.server_cpu_s * 1000 / ok, 2) if ok else None,
        }


def drive(server: Server, mix: Mix | HealthzMix, concurrency: int, seconds: float, *, warmup: float = 0.0) -> Window:
    """N sender threads in a closed loop for `warmup` + `seconds`, each with its own keep-alive
    connection (`http.client`). Requests sent in the last `seconds` are measured, to the last
    acknowledgement. The load generator runs on the server's cores, so its CPU per request is CPU
    the server does not get: `http.client` costs about a third of httpx's sync client here (0.3
    against 0.8-1.1 ms a notice) and a sixth of httpx.AsyncClient's."""
    window = Window(concurrency)
    host, port = server.base_url.removeprefix("http://").split(":")
    api_headers = {"Authorization": f"Bearer {server.api_key}", "Content-Type": "application/json"}
    public_headers = {"Content-Type": "application/json"}
    guard = threading.Lock()
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds
    finished: list[float] = []

    def sender() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30.0)
        latencies: list[float] = []
        labels: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        first: dict[str, str] = {}
        failed: Counter[str] = Counter()
        acknowledged = 0
        while True:
            sent = time.perf_counter()
            if sent >= stop_at:
                break
            with guard:
                label, path, body = mix.next()
            expected = 200 if body is None else 201
            try:
                if body is None:
                    conn.request("GET", path)
                else:
                    conn.request(
                        "POST",
                        path,
                        body=json.dumps(body).encode(),
                        headers=api_headers if path.startswith("/v1") else public_headers,
                    )
                response = conn.getresponse()
                text = response.read()
                status = response.status
                message = "" if status == expected else text[:300].decode(errors="replace")
            except (OSError, http.client.HTTPException) as exc:
                status, message = 0, f"{type(exc).__name__}: {exc}"
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=30.0)
            done = time.perf_counter()
            if status == expected:
                acknowledged += 1
            else:
                failed[str(status) if status else "exception"] += 1
            if sent < measure_from:
                continue
            if status == expected:
                latencies.append((done - sent) * 1000)
                labels[label] += 1
            else:
                key = str(status) if status else "exception"
                errors[key] += 1
                first.setdefault(key, message)
        conn.close()
        with guard:
            finished.append(time.perf_counter())
            mix.acknowledged += acknowledged
            mix.failed.update(failed)
            window.latencies_ms.extend(latencies)
            window.by_label.update(labels)
            window.errors.update(errors)
            for key, message in first.items():
                window.first_messages.setdefault(key, message)

    threads = [threading.Thread(target=sender, name=f"sender-{i}", daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    cpu0, srv0 = time.process_time(), proc_cpu_seconds(server.proc.pid)
    for thread in threads:
        thread.join()
    window.seconds = max(finished) - measure_from
    window.client_cpu_s = time.process_time() - cpu0
    window.server_cpu_s = proc_cpu_seconds(server.proc.pid) - srv0
    return window


def choose_concurrency(server: Server, mix: Mix, levels: tuple[int, ...], seconds: float) -> tuple[int, list[dict]]:
    tried = []
    for level in levels:
        w = drive(server, mix, level, seconds, warmup=0.5)
        f = w.figures()
        tried.append({k: f[k] for k in ("concurrency", "notices_per_s", "p50_ms", "p99_ms", "errors")})
        log(f"  sweep c={level}: {f['notices_per_s']}/s p50 {f['p50_ms']} ms p99 {f['p99_ms']} ms errors {f['errors']}")
    within = [t for t in tried if t["p99_ms"] is not None and t["p99_ms"] <= AIM_P99_MS and t["errors"] == 0]
    candidates = within or tried
    top = max(t["notices_per_s"] for t in candidates)
    # Throughputs within 5% of the best are the same figure in a short run on a shared machine:
    # of those, the level with the lowest p99.
    close = [t for t in candidates if t["notices_per_s"] >= 0.95 * top]
    best = min(close, key=lambda t: (t["p99_ms"] is None, t["p99_ms"] or 0.0))
    return best["concurrency"], tried


def check_store(db_url: str, env: dict[str, str], acknowledged: int) -> dict[str, Any]:
    """After the run: every acknowledged notice is stored; each notice, account, content and case
    has the audit event that created it; and the audit chain verifies."""
    import sqlalchemy as sa

    started = time.perf_counter()
    url = sa.make_url(db_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            notices = conn.execute(sa.text("SELECT count(*) FROM notices")).scalar_one()
            events = conn.execute(sa.text("SELECT count(*) FROM audit_events")).scalar_one()
            missing = {}
            for table, tag, subject in (
                ("notices", "intake:notice:receive", "notice"),
                ("platform_accounts", "subject:account:create", "account"),
                ("platform_content", "subject:content:create", "content"),
                ("cases", "case:case:open", "case"),
            ):
                # The events' subject ids read once, as a set (a correlated NOT EXISTS made SQLite
                # scan every event of the tag per row: minutes at 15,000 notices).
                missing[table] = conn.execute(
                    sa.text(
                        f"SELECT count(*) FROM {table} r WHERE CAST(r.id AS VARCHAR(40)) NOT IN "
                        f"(SELECT e.subject_id FROM audit_events e WHERE e.tag = '{tag}' "
                        f"AND e.subject_type = '{subject}')"
                    )
                ).scalar_one()
            cases = conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
    finally:
        engine.dispose()
    checked_s = time.perf_counter() - started
    t = time.perf_counter()
    verify = subprocess.run([staydown_bin(), "audit", "verify"], env=env, capture_output=True, text=True)
    return {
        "acknowledged": acknowledged,
        "notices_stored": notices,
        "cases": cases,
        "audit_events": events,
        "rows_without_their_creation_event": missing,
        "audit_verify": "ok"
        if verify.returncode == 0
        else f"exit {verify.returncode}: {(verify.stdout + verify.stderr).strip()[-300:]}",
        "audit_verify_s": round(time.perf_counter() - t, 1),
        "rows_check_s": round(checked_s, 1),
    }


def run_one(
    name: str, env: dict[str, str], db_url: str, opts: argparse.Namespace, workdir: Path, pg: PgDatabase | None = None
) -> dict[str, Any]:
    t = time.perf_counter()
    server = start_server(env, workdir)
    mix = Mix(seed=20261129, prefix=name)
    try:
        log(f"{name}: server ready at {server.base_url} in {time.perf_counter() - t:.1f} s (pid {server.proc.pid})")
        # Warm up: the first requests import and compile code paths and fill caches.
        drive(server, mix, 8, opts.warmup)
        if opts.concurrency == "auto":
            concurrency, sweep = choose_concurrency(server, mix, SWEEP_LEVELS, opts.sweep_seconds)
        else:
            concurrency, sweep = int(opts.concurrency), []
        load_before = loadavg()
        waits = PgWaits(pg) if pg is not None else contextlib.nullcontext()
        with waits:
            window = drive(server, mix, concurrency, opts.duration, warmup=1.0)
        result = window.figures()
        if isinstance(waits, PgWaits):
            result["pg_activity"] = waits.figures()
            log(f"{name}: pg_stat_activity {result['pg_activity']}")
        floor = drive(server, HealthzMix(), concurrency, opts.floor_seconds, warmup=0.5).figures()
        result["http_floor_healthz"] = {
            k: floor[k]
            for k in (
                "notices_per_s",
                "p50_ms",
                "p99_ms",
                "errors",
                "server_cpu_ms_per_request",
                "client_cpu_ms_per_request",
            )
        }
        result["http_floor_healthz"]["requests_per_s"] = result["http_floor_healthz"].pop("notices_per_s")
        result["sweep"] = sweep
        result["loadavg_1m_before"] = load_before
        result["notices_sent_total"] = sum(mix.sent.values())
        log(
            f"{name}: {result['notices_per_s']} notices/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, "
            f"errors {result['errors']} {result['error_statuses']} (c={concurrency}, {result['seconds']} s)"
        )
        for key, message in window.first_messages.items():
            log(f"  first {key}: {message}")
        log(f"{name}: GET /healthz floor {result['http_floor_healthz']}")
        if server.proc.poll() is not None:
            result["server_exit"] = server.proc.returncode
    finally:
        server.stop()
        tail = server.log_path.read_text(errors="replace")
        problems = [line for line in tail.splitlines() if "ERROR" in line or "Traceback" in line]
        kept = None
        if problems:
            # Keep the log for whoever investigates: the data directory goes with this run.
            fd, kept = tempfile.mkstemp(prefix=f"staydown-bench-intake-{name}-", suffix=".log")
            os.write(fd, tail.encode())
            os.close(fd)
            log(f"{name}: the server logged {len(problems)} error lines, kept in {kept}; first: {problems[0][:300]}")
        # The exceptions behind them, by their last line ("sqlalchemy.exc.OperationalError: ...").
        raised = Counter(
            line.strip()[:200]
            for line in tail.splitlines()
            if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Timeout)\b.*:", line.strip())
        )
    result["errors_all_phases"] = dict(mix.failed)  # warm-up and sweep included
    result["server_error_log_lines"] = len(problems)
    result["server_exceptions"] = dict(raised.most_common(5))
    if kept:
        result["server_log_kept"] = kept
    result["store_check"] = check_store(db_url, env, mix.acknowledged)
    log(f"{name}: store check {result['store_check']}")
    return result


# -- profiling ---------------------------------------------------------------------------------------


def _thread_kind(name: str) -> str:
    if name == "MainThread":
        return "event loop (uvicorn, routing, validation)"
    if name.startswith("AnyIO worker"):
        return "request threads (sync dependencies and handlers)"
    return name


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# Sections of the intake path timed in a profiled server: (module, function). Each is wrapped
# wherever a module holds it (so `from x import f` bindings are covered), and Session.commit too.
TIMED = [
    ("staydown.staff.auth", "authenticate_api_key"),
    ("staydown.intake.actions", "submit_notice"),
    ("staydown.intake.actions", "_notifier"),
    ("staydown.intake.actions", "_flagger_for"),
    ("staydown.intake.actions", "_attach_item"),
    ("staydown.subjects.records", "ensure_account"),
    ("staydown.subjects.records", "ensure_content"),
    ("staydown.intake.actions", "_content_ids_for"),
    ("staydown.cases.actions", "find_open_case"),
    ("staydown.cases.actions", "open_case"),
    ("staydown.intake.actions", "_open_tracks"),
    ("staydown.enforcement.actions", "restrict_distribution"),
    ("staydown.cases.actions", "refresh_priority"),
    ("staydown.cases.notify", "acknowledge"),
    ("staydown.audit.log", "flush"),
    ("staydown.intake.api", "_receipt"),
]


def _time_sections(timings: dict[str, list[float]]) -> None:
    """Wrap each TIMED function (and Session.commit) to add up calls, thread CPU and wall time.
    Thread CPU (time.thread_time) is what the section costs whatever else the machine does."""
    import functools
    import importlib

    import sqlalchemy.orm

    import staydown.db

    def wrap(name: str, fn: Any) -> Any:
        entry = timings.setdefault(name, [0, 0.0, 0.0])

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                entry[0] += 1
                entry[1] += time.thread_time() - cpu
                entry[2] += time.perf_counter() - wall

        return timed

    for module_name, fn_name in TIMED:
        module = importlib.import_module(module_name)
        original = getattr(module, fn_name, None)
        if original is None:
            continue
        timed = wrap(f"{module_name.removeprefix('staydown.')}.{fn_name}", original)
        for holder in list(sys.modules.values()):
            if getattr(holder, "__name__", "").startswith("staydown") and getattr(holder, fn_name, None) is original:
                setattr(holder, fn_name, timed)
        staydown.db._commit_hooks[:] = [(o, n, timed if h is original else h) for o, n, h in staydown.db._commit_hooks]
    sqlalchemy.orm.Session.commit = wrap(
        "Session.commit (flush, commit hooks, COMMIT)",  # type: ignore[method-assign]
        sqlalchemy.orm.Session.commit,
    )


def _writer_lock_experiment() -> None:
    """An experiment, not a change to staydown: SQLite write transactions queue on one in-process
    lock before BEGIN IMMEDIATE, instead of polling inside SQLite's busy handler (which sleeps 1, 2,
    5, 10 ... 100 ms between tries and serves no one in order)."""
    import staydown.db
    import staydown.runtime

    original = staydown.db.create_engine
    writer = threading.Lock()

    def create_engine(url: str, **kwargs: Any) -> Any:
        import sqlalchemy as sa

        engine = original(url, **kwargs)
        if engine.dialect.name != "sqlite":
            return engine

        def begin(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            # Just before staydown's own BEGIN IMMEDIATE reaches SQLite.
            if statement.startswith("BEGIN IMMEDIATE"):
                writer.acquire()
                conn.info["bench_writer"] = True

        def end(conn: Any) -> None:
            if conn.info.pop("bench_writer", False):
                writer.release()

        sa.event.listen(engine, "before_cursor_execute", begin)
        sa.event.listen(engine, "commit", end)
        sa.event.listen(engine, "rollback", end)
        return engine

    staydown.db.create_engine = create_engine
    staydown.runtime.create_engine = create_engine


def _audit_once_experiment() -> None:
    """An experiment, not a change to staydown: run the commit hooks (the audit chain's flush) only
    when the outermost transaction commits, not also when a savepoint is released, which
    SQLAlchemy reports with the same `before_commit` event."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    import staydown.db

    sa.event.remove(Session, "before_commit", staydown.db._run_commit_hooks)

    @sa.event.listens_for(Session, "before_commit")
    def outermost_only(session: Session) -> None:
        if not session.in_nested_transaction():
            staydown.db._run_commit_hooks(session)


EXPERIMENTS = {"writer-lock": _writer_lock_experiment, "audit-once": _audit_once_experiment}


def profiled_serve(port: int, out: Path, *, interval: float, use_cprofile: bool, experiments: list[str]) -> None:
    """`staydown serve` in this process, observed from inside; on SIGINT (uvicorn's graceful stop)
    the observations are written next to `out`:

    - every transaction's BEGIN wait, hold time and statement count (wall clock, from engine events);
    - a wall-clock stack sample of every thread each `interval` seconds (where threads wait, too);
    - optionally cProfile in every thread (it slows Python code about threefold: rankings only)."""
    import sqlalchemy as sa

    profilers: list[Any] = []
    if use_cprofile:
        import cProfile

        guard = threading.Lock()

        def first_call(frame: Any, event: str, arg: Any) -> None:
            # The first profile event of a new thread swaps this hook for a profiler of its own.
            sys.setprofile(None)
            prof = cProfile.Profile()
            with guard:
                profilers.append(prof)
            prof.enable()

        threading.setprofile(first_call)
        profilers.append(cProfile.Profile())

    # (wall time of BEGIN's start, seconds waited for BEGIN, seconds from BEGIN to COMMIT, statements,
    # committed, BEGIN's mode: IMMEDIATE for a write unit of work on SQLite, DEFERRED for a read)
    transactions: list[tuple[float, float, float, int, bool, str]] = []

    # staydown's writers first wait for their turn in the in-process queue (db.WriterQueue), then
    # send BEGIN IMMEDIATE: the wait for BEGIN counts from the start of the turn's wait.
    turn = threading.local()
    import staydown.db

    queue_cls = getattr(staydown.db, "WriterQueue", None)
    if queue_cls is not None:
        original_acquire = queue_cls.acquire

        def acquire(self: Any, owner: Any) -> None:
            started = time.perf_counter()
            original_acquire(self, owner)
            turn.started = started

        queue_cls.acquire = acquire

    @sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.startswith("BEGIN"):
            queued_at = getattr(turn, "started", None)
            turn.started = None
            start = (
                queued_at if queued_at is not None and statement.startswith("BEGIN IMMEDIATE") else time.perf_counter()
            )
            conn.info["bench_begin"] = (time.time(), start, statement.split()[-1])
            conn.info["bench_statements"] = 0
        elif "bench_statements" in conn.info:
            conn.info["bench_statements"] += 1

    @sa.event.listens_for(sa.engine.Engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if statement.startswith("BEGIN") and "bench_begin" in conn.info:
            conn.info["bench_acquired"] = time.perf_counter()

    def _end(ok: bool) -> Any:
        def listener(conn: Any) -> None:
            started = conn.info.pop("bench_begin", None)
            acquired = conn.info.pop("bench_acquired", None)
            statements = conn.info.pop("bench_statements", 0)
            if started is not None and acquired is not None:
                transactions.append(
                    (started[0], acquired - started[1], time.perf_counter() - acquired, statements, ok, started[2])
                )

        return listener

    sa.event.listen(sa.engine.Engine, "commit", _end(True))
    sa.event.listen(sa.engine.Engine, "rollback", _end(False))

    samples: Counter[tuple[str, ...]] = Counter()
    stop = threading.Event()

    def sampler() -> None:
        sys.setprofile(None)
        own = threading.get_ident()
        names: dict[int | None, str] = {}
        while not stop.wait(interval):
            for ident, frame in sys._current_frames().items():
                if ident == own:
                    continue
                if ident not in names:
                    names = {t.ident: t.name for t in threading.enumerate()}
                stack = []
                f = frame
                while f is not None:
                    stack.append(f"{_short(f.f_code.co_filename)}:{f.f_code.co_name}")
                    f = f.f_back
                samples[(_thread_kind(names.get(ident, "?")), *reversed(stack))] += 1

    if interval > 0:
        threading.Thread(target=sampler, name="bench-sampler", daemon=True).start()
    import staydown.app  # every module of the request path, so that wrapping reaches them
    from staydown.cli import serve

    timings: dict[str, list[float]] = {}
    _time_sections(timings)
    for name in experiments:
        EXPERIMENTS[name]()

    if profilers:
        profilers[0].enable()
    try:
        serve(host="127.0.0.1", port=port, migrate=True, worker=None)
    finally:
        stop.set()
        if profilers:
            import pstats

            profilers[0].disable()
            threading.setprofile(None)
            stats = None
            for prof in profilers:
                prof.create_stats()
                if prof.stats:
                    stats = pstats.Stats(prof) if stats is None else stats.add(prof)
            if stats is not None:
                stats.dump_stats(str(out) + ".pstats")
        json.dump(
            {
                "interval_s": interval,
                "transactions": transactions,
                "timings": timings,
                "samples": [[list(k), n] for k, n in samples.items()],
            },
            open(str(out) + ".json", "w"),
        )


def summarise_profile(path: Path, since: float, until: float) -> dict[str, Any]:
    """Transactions and stack samples of a profiled server, for the measured window [since, until]."""
    data = json.load(open(path))
    every = [t for t in data["transactions"] if since <= t[0] <= until]
    tx = [t for t in every if t[5] == "IMMEDIATE"]
    span = until - since
    waited = sorted(t[1] for t in tx)
    held = sorted(t[2] for t in tx)
    summary: dict[str, Any] = {"window_s": round(span, 2)}
    # Only SQLite's BEGIN goes through a cursor (psycopg begins implicitly): on PostgreSQL see pg_activity.
    summary["sqlite_write_lock"] = (
        None
        if not every
        else {
            "write_transactions": len(tx),
            "read_transactions": len(every) - len(tx),
            "rolled_back": sum(1 for t in tx if not t[4]),
            # On SQLite every write transaction holds the one write lock from BEGIN IMMEDIATE to COMMIT.
            "held_sum_s": round(sum(held), 2),
            "held_fraction_of_window": round(sum(held) / span, 3) if span else None,
            "held_p50_ms": _round((percentile(held, 50) or 0) * 1000),
            "held_p99_ms": _round((percentile(held, 99) or 0) * 1000),
            "begin_wait_p50_ms": _round((percentile(waited, 50) or 0) * 1000),
            "begin_wait_p99_ms": _round((percentile(waited, 99) or 0) * 1000),
            "statements_per_transaction_p50": percentile(sorted(t[3] for t in tx), 50),
        }
    )
    # Sections, over the whole life of the server (warm-up included), per notice received.
    timings = data.get("timings", {})
    notices = timings.get("intake.actions.submit_notice", [0])[0] or 1
    summary["notices_handled"] = notices
    summary["sections_per_notice"] = {
        name: {
            "calls": round(calls / notices, 2),
            "cpu_ms": round(cpu * 1000 / notices, 3),
            "wall_ms": round(wall * 1000 / notices, 3),
        }
        for name, (calls, cpu, wall) in timings.items()
        if calls
    }
    inclusive: dict[str, Counter[str]] = {}
    totals: Counter[str] = Counter()
    for stack, n in data["samples"]:
        kind, frames = stack[0], stack[1:]
        idle = any(
            ("anyio" in name and name.endswith((":_worker", ":select", ":wait"))) or "threading.py:wait" in name
            for name in frames[-3:]
        )
        totals[kind] += n
        if idle:
            totals[kind + " [idle]"] += n
        for name in set(frames):
            inclusive.setdefault(kind, Counter())[name] += n
    summary["samples_by_thread"] = dict(totals)
    summary["inclusive_samples"] = {k: c.most_common(70) for k, c in inclusive.items()}
    return summary


def run_profile(opts: argparse.Namespace) -> None:
    """Drive a profiled server (SQLite, or PostgreSQL with --only postgresql) and print where its
    time goes: to stderr, and as JSON on the last stdout line."""
    with tempfile.TemporaryDirectory(prefix="staydown-bench-intake-prof-") as tmp:
        out = Path(opts.profile_out or (Path(tmp) / "profile")).resolve()
        pg = None
        extra = {"STAYDOWN_DATA_DIR": str(Path(tmp) / "data")}
        if opts.only == "postgresql":
            pg = PgDatabase(os.environ[PG_ENV])
            pg.create()
            extra["STAYDOWN_DATABASE_URL"] = pg.url()
        try:
            args = (
                "--sample-interval",
                str(opts.sample_interval),
                *(("--cprofile",) if opts.cprofile else ()),
                *(arg for name in opts.experiment or () for arg in ("--experiment", name)),
            )
            server = start_server(server_env(extra), Path(tmp), profile_to=out, profile_args=args)
            try:
                mix = Mix(seed=20261129, prefix="profile")
                concurrency = 8 if opts.concurrency == "auto" else int(opts.concurrency)
                drive(server, mix, concurrency, opts.warmup)
                waits = PgWaits(pg) if pg is not None else contextlib.nullcontext()
                since = time.time()
                with waits:
                    window = drive(server, mix, concurrency, opts.duration)
                until = time.time()
            finally:
                server.stop()
        finally:
            if pg is not None:
                pg.drop()
        figures = {k: v for k, v in window.figures().items() if k != "mix"}
        if isinstance(waits, PgWaits):
            figures["pg_activity"] = waits.figures()
        log(f"profiled run: {json.dumps(figures)}")
        summary = summarise_profile(Path(str(out) + ".json"), since, until)
        samples = summary.pop("inclusive_samples")
        if opts.cprofile:
            import pstats

            stats = pstats.Stats(str(out) + ".pstats", stream=sys.stderr)
            stats.sort_stats("cumulative").print_stats(r"staydown", 50)
        for kind, rows in samples.items():
            log(f"== inclusive wall-clock samples: {kind}")
            for name, n in rows:
                if not name.startswith(("anyio/", "starlette/", ".11/", "<frozen", "uvicorn/", "fastapi/", "bench/")):
                    log(f"{n:8d}  {name}")
        log(json.dumps(summary, indent=1))
        print(json.dumps({"profile": figures, **summary}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=20.0, help="measured seconds per database")
    ap.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per database")
    ap.add_argument("--sweep-seconds", type=float, default=6.0, help="seconds per level when choosing concurrency")
    ap.add_argument("--floor-seconds", type=float, default=3.0, help="seconds of GET /healthz, the HTTP floor")
    ap.add_argument("--concurrency", default="auto", help="requests in flight, or 'auto' to choose by measurement")
    ap.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    ap.add_argument("--processes", type=int, default=1, help="server processes (`staydown serve --processes`)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="STAYDOWN_NAME=VALUE",
        help="a server setting for this run, to measure its effect (repeatable)",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="instead of the figures: observe one server under load from inside (SQLite, or "
        "PostgreSQL with --only postgresql): write locks, section CPU, stack samples",
    )
    ap.add_argument(
        "--profile-out",
        default=None,
        help="with --profile: path prefix for the observations (.json, and .pstats with --cprofile)",
    )
    ap.add_argument("--role", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument(
        "--sample-interval", type=float, default=0.005, help="with --profile: seconds between stack samples (0: none)"
    )
    ap.add_argument("--cprofile", action="store_true", help="with --profile: cProfile every thread as well")
    ap.add_argument(
        "--experiment",
        choices=sorted(EXPERIMENTS),
        action="append",
        default=None,
        help="with --profile, repeatable: patch the profiled server in memory to try a suggested "
        "change (writer-lock: SQLite writers queue on an in-process lock before BEGIN "
        "IMMEDIATE; audit-once: the audit chain is flushed at the outermost commit only)",
    )
    opts = ap.parse_args()
    SERVER_SETTINGS.update(item.split("=", 1) for item in opts.set)
    SERVER_PROCESSES[0] = opts.processes
    if opts.role == "profiled-serve":
        profiled_serve(
            opts.port,
            Path(opts.profile_out),
            interval=opts.sample_interval,
            use_cprofile=opts.cprofile,
            experiments=opts.experiment or [],
        )
        return
    if opts.profile:
        run_profile(opts)
        return
    started = time.perf_counter()
    out: dict[str, Any] = {"cores": os.cpu_count()}

    if opts.only != "postgresql":
        with tempfile.TemporaryDirectory(prefix="staydown-bench-intake-") as tmp:
            data = Path(tmp) / "data"
            out["sqlite"] = run_one(
                "sqlite",
                server_env({"STAYDOWN_DATA_DIR": str(data)}),
                f"sqlite:///{data / 'staydown.db'}",
                opts,
                Path(tmp),
            )
    else:
        out["sqlite"] = None
        out["sqlite_reason"] = "skipped with --only postgresql"

    pg_url = os.environ.get(PG_ENV)
    if opts.only == "sqlite":
        out["postgresql"] = None
        out["postgresql_reason"] = "skipped with --only sqlite"
    elif not pg_url:
        out["postgresql"] = None
        out["postgresql_reason"] = f"{PG_ENV} is not set"
    else:
        pg = PgDatabase(pg_url)
        try:
            pg.create()
        except Exception as exc:  # noqa: BLE001 - reported in the figures rather than raised
            out["postgresql"] = None
            out["postgresql_reason"] = f"could not create a database on {PG_ENV}'s server: {exc}"
        else:
            try:
                with tempfile.TemporaryDirectory(prefix="staydown-bench-intake-pg-") as tmp:
                    env = server_env({"STAYDOWN_DATA_DIR": str(Path(tmp) / "data"), "STAYDOWN_DATABASE_URL": pg.url()})
                    out["postgresql"] = run_one("postgresql", env, pg.url(), opts, Path(tmp), pg)
                    out["postgresql"]["database"] = pg.name + " (created and dropped by this run)"
            finally:
                pg.drop()

    out["aim"] = {
        "sqlite_notices_per_s": AIM_RATE,
        "sqlite_p99_ms": AIM_P99_MS,
        "met": bool(
            out["sqlite"]
            and out["sqlite"]["notices_per_s"] >= AIM_RATE
            and (out["sqlite"]["p99_ms"] or float("inf")) <= AIM_P99_MS
            and out["sqlite"]["errors"] == 0
        ),
    }
    out["load_generator"] = (
        "same machine as the server: this process, `concurrency` threads in a closed loop "
        "with a keep-alive http.client connection each, takes part of the same cores as the server and its intake "
        "writer process; client_cpu_s and server_cpu_s are the CPU seconds each used in the measured "
        "window (PostgreSQL's own processes are not counted), and other work on the machine "
        "shows in loadavg_1m_before"
    )
    out["server"] = (
        f"`staydown serve --processes {SERVER_PROCESSES[0]}`: uvicorn (httptools, uvloop), async "
        "intake routes; notices are written in batches (group commit) by an intake writer child "
        "process; outbox worker and index follower in the server process"
        + (f"; settings {SERVER_SETTINGS}" if SERVER_SETTINGS else "")
    )
    out["server_processes"] = SERVER_PROCESSES[0]
    out["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
