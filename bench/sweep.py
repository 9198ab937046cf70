"""Benchmark of stay-down (issue 5): the sweep's index work at 10M signals, and decision to last webhook.

One confirmed item swept against n stored content signals; and a reviewer's decision carried out on
1,000 stored copies, from the decision's commit to the platform's last webhook.

Usage: python bench/sweep.py [--n 10000000] [--copies 1000] [--only index|sqlite|postgresql] [--profile DIR]

Part 1, `sweep_ms` (index only): what `sweep_case` asks of the content-signal replica for one confirmed
item, at n stored signals. The confirmed items are benign synthetic images (tests/imagegen.py), hashed by
`staydown.media.variants.scan` as an upload is: their PDQ and its robust variants (15-16 hashes after
de-duplication), searched at radius 31, plus the exact MD5 and SHA-256 lookups, through the engine's own
`Replica.search_pdq` / `Replica.lookup` (hex in, hits out, under the replica lock). The PDQ index holds n
hashes: uniformly random ones plus near-copies of every confirmed item planted among them (the run checks
that every planted copy is found). It is built with `PDQIndex.build` straight from arrays, not from the
database: 10M content-signal rows in SQLite would not fit the time budget (`"index_only": true`). The
exact indexes hold `--exact-n` random digests plus the items' own (dict lookups: their cost does not grow
with n, their memory does, ~200 bytes a digest). What the index part leaves out of a real sweep: the
`engine.catch_up()` before it and the one SQL query that confirms the hit rows are still live; part 2
runs both.

Part 2, `decision_to_last_webhook_s`: a real end-to-end run on a migrated SQLite database (and on
PostgreSQL when STAYDOWN_TEST_DATABASE_URL is set or a server answers on 127.0.0.1:5432 with trust auth;
the run creates its own database there and drops it). One original is scanned for real (`scan_media`:
its Scan row keeps the robust variants) and 1,000 copies by 1,000 accounts are registered with
`ensure_content` + `store_content_signals` (hashing 1,000 images would take too long): PDQ within 1-8
bits of the original or of one of its variants (every tenth is a flipped/rotated copy, found only
through the banked variants), every twentieth an exact re-upload (same MD5/SHA-256), plus unrelated
items that must not be touched. A moderator claims the case that the depicted person's notice opened (it
carries a TAKE IT DOWN track) and decides `violates` under ncii@2 (remove + strike). The outbox is run
as a deployment runs it: two worker threads (`build_worker` with the app's services; webhook URL and
secret in the settings) and the index follower thread. The receiver stands for the platform and runs in
its own process (an http.server in a thread, answering 204, verifying every signature with
`staydown.delivery.signing.verify`, recording arrival times), so that it does not take the workers' GIL.
The clock starts when the decision's transaction has committed and stops at the arrival of the last
webhook for the copies' removals and their accounts' actions.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import http.server
import io
import json
import logging
import os
import pstats
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RADIUS = 31
SEED = 20250605
PG_ENV = "STAYDOWN_TEST_DATABASE_URL"
PG_LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-sweep-webhook-secret-" + "0123456789abcdef"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def flip(hex_hash: str, bits: np.ndarray) -> str:
    value = int(hex_hash, 16)
    for b in bits.tolist():
        value ^= 1 << int(b)
    return format(value, "064x")


def hash_images(count: int, size: tuple[int, int], seed: int) -> list[tuple[Any, list[Any]]]:
    """(signals, variants) of `count` benign synthetic JPEGs, as `scan` computes them for an upload."""
    sys.path.insert(0, str(ROOT))
    from tests.imagegen import encode, synthetic

    from staydown.media.variants import scan

    return [scan(encode(synthetic(seed + i, size), "JPEG", quality=90)) for i in range(count)]


def query_hashes(signals: Any, variants: list[Any]) -> list[str]:
    """The PDQ hashes a sweep searches for one confirmed item: its own and its scan's variants, as
    `bank_case_items` banks them (one bank entry per distinct hash)."""
    seen: dict[str, None] = {signals.pdq: None}
    for v in variants:
        seen.setdefault(v.pdq, None)
    return list(seen)


# -- part 1: the sweep's index work at n stored signals ------------------------------------------


def index_sweep(
    n: int, items: int, rounds: int, planted_per_item: int, exact_n: int, image_size: tuple[int, int]
) -> dict[str, Any]:
    import numba

    from staydown.matching.engine import Replica
    from staydown.matching.hamming import pdq_from_hex
    from staydown.matching.index import ExactIndex, PDQIndex
    from staydown.matching.models import ContentSignal

    rng = np.random.default_rng(SEED)
    t = time.perf_counter()
    hashed = hash_images(items, image_size, SEED)
    hash_s = time.perf_counter() - t
    queries = [query_hashes(s, v) for s, v in hashed]
    log(
        f"  hashed {items} synthetic images ({image_size[0]}x{image_size[1]}) in {hash_s:.1f} s; "
        f"{min(map(len, queries))}-{max(map(len, queries))} PDQ hashes per item"
    )

    t = time.perf_counter()
    hashes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    ids = np.arange(1, n + 1, dtype=np.int64)
    # Near-copies of each item among the random rows: mostly of its own PDQ, some of a variant (a
    # flipped or rotated copy), 0-24 bits away; each must come back from the item's sweep.
    n_planted = items * planted_per_item
    rows = rng.choice(n, n_planted, replace=False)
    planted: list[set[int]] = []
    for i, q in enumerate(queries):
        want = set()
        for j in range(planted_per_item):
            row = int(rows[i * planted_per_item + j])
            source = q[0] if j % 3 else q[int(rng.integers(1, len(q)))]
            near = flip(source, rng.choice(256, int(rng.integers(0, 25)), replace=False))
            hashes[row] = pdq_from_hex([near])[0]
            want.add(int(ids[row]))
        planted.append(want)
    gen_s = time.perf_counter() - t
    log(f"  generated {n:,} stored hashes ({n_planted} planted near-copies) in {gen_s:.1f} s")

    t = time.perf_counter()
    index = PDQIndex.build(ids, hashes)
    build_s = time.perf_counter() - t
    del hashes
    log(f"  PDQIndex.build: {build_s:.1f} s")

    t = time.perf_counter()
    exact = {"md5": ExactIndex(digest_bytes=16), "sha256": ExactIndex(digest_bytes=32)}
    for kind, index_ in exact.items():
        width = index_.digest_bytes
        index_.add(
            np.arange(n + 1, n + 1 + exact_n, dtype=np.int64), rng.integers(0, 256, (exact_n, width), dtype=np.uint8)
        )
        index_.add(
            np.arange(n + 1 + exact_n, n + 1 + exact_n + items, dtype=np.int64), [getattr(s, kind) for s, _ in hashed]
        )
    exact_s = time.perf_counter() - t
    log(f"  exact indexes: {exact_n:,} random digests each + the items' own, {exact_s:.1f} s")

    replica = Replica("content_signals", ContentSignal)
    replica.pdq = index
    replica.exact = exact

    def sweep_one(i: int) -> tuple[float, float, int, bool]:
        signals, _ = hashed[i]
        t0 = time.perf_counter()
        c0 = time.process_time()
        hits = replica.lookup("md5", [signals.md5]) + replica.lookup("sha256", [signals.sha256])
        hits += replica.search_pdq(queries[i], RADIUS)
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        found = {h.row_id for h in hits}
        return wall, cpu, len(hits), planted[i] <= found

    # Warm up: the first calls load the compiled kernels (serial and threaded) from numba's cache.
    index.search(pdq_from_hex(queries[0][:2]), radius=RADIUS)
    for i in range(min(3, items)):
        sweep_one(i)
    walls, cpus, hit_counts, complete = [], [], [], []
    order = np.arange(items)
    for _ in range(rounds):
        rng.shuffle(order)
        for i in order.tolist():
            wall, cpu, nh, ok = sweep_one(i)
            walls.append(wall)
            cpus.append(cpu)
            hit_counts.append(nh)
            complete.append(ok)
    ms = np.array(walls) * 1000
    return {
        "cores": numba.get_num_threads(),
        "index_only": True,
        "sweep_ms": round(float(np.median(ms)), 2),
        "sweep_ms_p99": round(float(np.quantile(ms, 0.99)), 2),
        "sweep_ms_mean": round(float(ms.mean()), 2),
        "sweep_ms_max": round(float(ms.max()), 2),
        "sweep_cpu_ms_median": round(float(np.median(cpus)) * 1000, 2),
        "sweep_items": items,
        "sweep_samples": len(walls),
        "sweep_pdq_queries_per_item": round(float(np.mean([len(q) for q in queries])), 1),
        "sweep_hits_per_item_mean": round(float(np.mean(hit_counts)), 1),
        "sweep_planted_per_item": planted_per_item,
        "sweep_planted_all_found": bool(all(complete)),
        "sweep_full_scans": index.full_scans,
        "index_build_s": round(build_s, 1),
        "index_largest_bucket": int(index.largest_buckets().max()),
        "exact_index_rows": exact_n + items,
        "image_hash_s_per_item": round(hash_s / items, 3),
    }


# -- the platform's webhook receiver (its own process) ---------------------------------------------


def role_receiver(secret: str) -> None:
    """Answer 204 to every correctly signed webhook and record when it arrived; GET /stats reports."""
    from staydown.delivery.signing import DELIVERY_HEADER, InvalidSignature, verify

    lock = threading.Lock()
    deliveries: list[list[Any]] = []
    bad = [0, 0]  # bad signatures, bodies whose delivery id disagrees with the header

    class Handler(http.server.BaseHTTPRequestHandler):
        # Keep-alive, as a platform's HTTPS endpoint would allow: http.server's default (HTTP/1.0)
        # closes every connection, so each webhook would pay for a new one.
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            arrived = time.time()
            try:
                verify(body, self.headers.get("Staydown-Signature"), secret)
            except InvalidSignature:
                with lock:
                    bad[0] += 1
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            event = json.loads(body)
            with lock:
                if event.get("delivery_id") != self.headers.get(DELIVERY_HEADER):
                    bad[1] += 1
                deliveries.append(
                    [event["delivery_id"], arrived, event["kind"], event["content_id"], event["account_id"]]
                )
            self.send_response(204)
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            with lock:
                body = json.dumps(
                    {"deliveries": deliveries, "bad_signatures": bad[0], "delivery_id_mismatch": bad[1]}
                ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.shutdown()


class Receiver:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--role", "receiver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        port = int(self.proc.stdout.readline())
        self.url = f"http://127.0.0.1:{port}/hook"

    def stats(self) -> dict[str, Any]:
        import httpx

        return httpx.get(self.url, timeout=30).json()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- PostgreSQL: a database of our own ---------------------------------------------------------------


def postgres_server() -> tuple[str | None, str]:
    """The server to use (from STAYDOWN_TEST_DATABASE_URL, else a local one with trust auth), or why none."""
    if os.environ.get(PG_ENV):
        return os.environ[PG_ENV], f"{PG_ENV}'s server"
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            pass
    except OSError:
        return None, f"{PG_ENV} is not set and nothing answers on 127.0.0.1:5432"
    return PG_LOCAL, "127.0.0.1:5432"


class PgDatabase:
    """A fresh database on that server, created and dropped here; no other database is touched."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self.base = sa.make_url(url)
        self.name = f"staydown_bench_sweep_{os.getpid()}_{secrets.token_hex(3)}"

    def _admin(self):  # type: ignore[no-untyped-def]
        import psycopg

        last: Exception | None = None
        for dbname in ("postgres", self.base.database):
            try:
                u = self.base
                parts = {
                    "host": u.host or "127.0.0.1",
                    "port": str(u.port or 5432),
                    "user": u.username,
                    "password": u.password,
                    "dbname": dbname,
                }
                return psycopg.connect(
                    " ".join(f"{k}='{v}'" for k, v in parts.items() if v), autocommit=True, connect_timeout=5
                )
            except Exception as exc:  # noqa: BLE001 - try the URL's own database next
                last = exc
        raise RuntimeError(f"cannot connect to the PostgreSQL server: {last}")

    def url(self) -> str:
        return self.base.set(drivername="postgresql", database=self.name).render_as_string(hide_password=False)

    def create(self) -> None:
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# -- part 2: decision to the last webhook, end to end ---------------------------------------------


class Profiler:
    """cProfile per thread (workers, follower, main), merged at the end."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.profiles: list[cProfile.Profile] = []
        self.lock = threading.Lock()

    def wrap(self, target: Any) -> Any:
        if self.directory is None:
            return target

        def run(*args: Any, **kwargs: Any) -> Any:
            prof = cProfile.Profile()
            with self.lock:
                self.profiles.append(prof)
            return prof.runcall(target, *args, **kwargs)

        return run

    def report(self, name: str) -> None:
        if self.directory is None or not self.profiles:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        for i, prof in enumerate(self.profiles):
            prof.dump_stats(str(self.directory / f"{name}-{i}.prof"))
        stats = pstats.Stats(*(str(self.directory / f"{name}-{i}.prof") for i in range(len(self.profiles))))
        out = io.StringIO()
        stats.stream = out
        stats.strip_dirs().sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(45)
        (self.directory / f"{name}.txt").write_text(out.getvalue())
        log(f"  profile written to {self.directory / (name + '.txt')}")


def e2e(backend: str, url: str, opts: argparse.Namespace, tmp: Path, wait_until: float) -> dict[str, Any]:
    """One end-to-end run. Waits for the webhooks until `wait_until` (time.time()) at the latest, so that
    the whole benchmark keeps to its time budget; a run cut short says so and projects the rest."""
    import sqlalchemy as sa

    from staydown.actors import SYSTEM, Actor
    from staydown.cases.actions import claim_case
    from staydown.cases.queries import case_by_id
    from staydown.cases.rules import CaseRules
    from staydown.db import Database, create_engine
    from staydown.delivery.models import Job, JobAttempt
    from staydown.delivery.webhooks import DELIVER_WEBHOOK
    from staydown.enforcement.models import EnforcementAction, Sweep
    from staydown.enforcement.staydown import STAY_DOWN_SWEEP
    from staydown.flows.decisions import decide_case
    from staydown.intake.actions import submit_notice
    from staydown.intake.schemas import NoticeIn, NoticeItemIn
    from staydown.jobs import build_registry
    from staydown.matching.engine import MatchEngine
    from staydown.matching.models import ContentSignal, Scan
    from staydown.matching.scanning import scan_media, store_content_signals
    from staydown.media.decode import DEFAULT_LIMITS
    from staydown.migrate import upgrade
    from staydown.policies import default_catalogue
    from staydown.runtime import build_worker
    from staydown.settings import Settings
    from staydown.staff.actions import create_staff_user
    from staydown.staff.auth import actor_for_staff
    from staydown.subjects.models import PlatformContent
    from staydown.subjects.records import ensure_content
    from staydown.subjects.schemas import AccountRef, ContentRef

    sys.path.insert(0, str(ROOT))
    from tests.imagegen import encode, synthetic

    rng = np.random.default_rng(SEED + 7)
    out: dict[str, Any] = {
        "backend": backend,
        "copies": opts.copies,
        "unrelated": opts.unrelated,
        "workers": opts.workers,
        "loadavg_start": loadavg(),
    }
    wall = time.perf_counter()
    engine = create_engine(url)
    upgrade(engine)
    database = Database(engine)
    receiver = Receiver()
    settings = Settings(
        env="development",
        database_url=url,
        data_dir=tmp / f"var-{backend}",
        webhook_url=receiver.url,
        webhook_secret=SECRET,
        worker_in_process=False,
        index_follow_in_process=False,
        log_level="WARNING",
    )
    catalogue = default_catalogue()
    rules = CaseRules.from_settings(settings)
    match_engine = MatchEngine(database)
    stop = threading.Event()
    threads: list[threading.Thread] = []
    profiler = Profiler(opts.profile)
    services: dict[str, Any] = {}
    try:
        # -- the stored items --------------------------------------------------------------------
        t = time.perf_counter()
        image = synthetic(SEED, (640, 480))
        with database.unit_of_work() as db:
            reviewer = actor_for_staff(
                create_staff_user(db, actor=SYSTEM, username="bench-reviewer", roles=["moderator"])
            )
            scan_media(
                db,
                actor=SYSTEM,
                engine=match_engine,
                data=encode(image, "JPEG", quality=92),
                limits=DEFAULT_LIMITS,
                content=ContentRef(id="orig", kind="image", account=AccountRef(id="acct-orig")),
            )
        with database.unit_of_work(write=False) as db:
            orig = db.execute(sa.select(PlatformContent).where(PlatformContent.platform_id == "orig")).scalar_one()
            signals = {
                k: (s, q)
                for k, s, q in db.execute(
                    sa.select(ContentSignal.signal_type, ContentSignal.signal, ContentSignal.quality).where(
                        ContentSignal.content_id == orig.id
                    )
                ).all()
            }
            variants = db.execute(sa.select(Scan.signals).where(Scan.content_id == orig.id)).scalar_one()["variants"]
        pdq, quality = signals["pdq"]
        md5, sha256 = signals["md5"][0], signals["sha256"][0]
        batch = 250
        for start in range(0, opts.copies + opts.unrelated, batch):
            with database.unit_of_work() as db:
                for i in range(start, min(start + batch, opts.copies + opts.unrelated)):
                    if i < opts.copies:
                        exact = i % 20 == 0
                        source = variants[int(rng.integers(0, len(variants)))][1] if i % 10 == 5 else pdq
                        near = pdq if exact else flip(source, rng.choice(256, int(rng.integers(1, 9)), replace=False))
                        row = [
                            ("pdq", near, quality),
                            ("md5", md5 if exact else secrets.token_hex(16), None),
                            ("sha256", sha256 if exact else secrets.token_hex(32), None),
                        ]
                        ref = ContentRef(id=f"copy-{i}", kind="image", account=AccountRef(id=f"acct-{i}"))
                    else:
                        row = [
                            ("pdq", secrets.token_hex(32), 100),
                            ("md5", secrets.token_hex(16), None),
                            ("sha256", secrets.token_hex(32), None),
                        ]
                        ref = ContentRef(id=f"other-{i}", kind="image", account=AccountRef(id=f"other-acct-{i}"))
                    content = ensure_content(db, actor=SYSTEM, ref=ref)
                    store_content_signals(db, content=content, signals=row)
        out["setup_s"] = round(time.perf_counter() - t, 1)
        log(f"  [{backend}] {opts.copies} copies and {opts.unrelated} unrelated items stored in {out['setup_s']} s")

        # -- a notice, a claim; the deployment's threads -------------------------------------------
        match_engine.catch_up()  # the follower had long applied the stored items before the decision
        with database.unit_of_work() as db:
            receipt = submit_notice(
                db,
                actor=Actor.public(),
                catalogue=catalogue,
                rules=rules,
                engine=match_engine,
                notice=NoticeIn(
                    reporter_kind="affected_person",
                    policy_id="ncii",
                    explanation="an intimate photo of me, posted without consent",
                    items=[NoticeItemIn(content_id="orig")],
                ),
            )
            case_id = receipt.cases[0].id
        with database.unit_of_work() as db:
            claim_case(db, actor=reviewer, case=case_by_id(db, case_id), rules=rules)

        services.update(settings=settings, case_rules=rules, catalogue=catalogue, match_engine=match_engine)
        if not opts.client_per_delivery:
            # As deployments run (app.worker_services, build_worker): one client per worker process.
            from staydown.delivery.webhooks import webhook_client

            services["http_client"] = webhook_client(settings)
            out["shared_http_client"] = True
        workers = [
            build_worker(
                settings, database, build_registry(), services=services, worker_id=f"bench-sweep:{os.getpid()}:{i}"
            )
            for i in range(opts.workers)
        ]
        threads.append(
            threading.Thread(
                target=profiler.wrap(match_engine.follow),
                args=(stop,),
                kwargs={"interval": settings.index_follow_interval_seconds},
                name="follower",
                daemon=True,
            )
        )
        for i, w in enumerate(workers):
            threads.append(
                threading.Thread(
                    target=profiler.wrap(w.run_forever),
                    args=(stop, settings.worker_poll_seconds),
                    name=f"worker-{i}",
                    daemon=True,
                )
            )
        for th in threads:
            th.start()

        def busy() -> int:
            with database.unit_of_work(write=False) as db:
                return int(
                    db.scalar(
                        sa.select(sa.func.count())
                        .select_from(Job)
                        .where(Job.state.in_(("pending", "running")), Job.kind.in_((DELIVER_WEBHOOK, STAY_DOWN_SWEEP)))
                    )
                )

        while busy():  # nothing of the setup is left in the outbox
            time.sleep(0.1)
        time.sleep(0.3)

        # -- the decision --------------------------------------------------------------------------
        def decision() -> None:
            with database.unit_of_work() as db:
                decide_case(
                    db,
                    actor=reviewer,
                    case=case_by_id(db, case_id, for_update=True),
                    policy_ref="ncii@2",
                    outcome="violates",
                    facts="an intimate image shared without the consent of the person shown (bench)",
                    catalogue=catalogue,
                    rules=rules,
                )

        t_before = time.time()
        profiler.wrap(decision)()
        t0 = time.time()  # committed
        cpu0 = time.process_time()
        out["decision_commit_s"] = round(t0 - t_before, 3)
        deadline = min(t0 + opts.timeout, wait_until)
        out["wait_limit_s"] = round(deadline - t0, 1)
        finished = False
        while time.time() < deadline:
            time.sleep(0.2)
            with database.unit_of_work(write=False) as db:
                swept = db.scalar(sa.select(sa.func.count()).select_from(Sweep).where(Sweep.case_id == case_id))
            if swept and not busy():
                finished = True
                break
        stopped_waiting = time.time()
        # This process's CPU (workers, follower, the wait loop) from the commit until the queue was
        # empty: unlike wall time it does not grow with the other work on a shared machine.
        out["process_cpu_s"] = round(time.process_time() - cpu0, 3)
        if finished:
            time.sleep(0.5)  # a duplicate would arrive now
        stats = receiver.stats()
        out["finished_within_time_limit"] = finished

        # -- what happened ----------------------------------------------------------------------------
        with database.unit_of_work(write=False) as db:
            sweep = db.execute(sa.select(Sweep).where(Sweep.case_id == case_id)).scalar_one_or_none()
            actions = db.execute(
                sa.select(
                    EnforcementAction.id,
                    EnforcementAction.kind,
                    EnforcementAction.target,
                    EnforcementAction.details,
                    EnforcementAction.content_id,
                ).where(EnforcementAction.case_id == case_id)
            ).all()
            sweep_attempts = db.execute(
                sa.select(JobAttempt.started_at, JobAttempt.finished_at, JobAttempt.outcome)
                .join(Job, Job.id == JobAttempt.job_id)
                .where(Job.kind == STAY_DOWN_SWEEP)
                .order_by(JobAttempt.id)
            ).all()
            hook_jobs = db.execute(
                sa.select(Job.state, Job.attempts).where(
                    Job.kind == DELIVER_WEBHOOK, Job.created_at >= _utc(t_before - 1)
                )
            ).all()
            removed_contents = set(
                db.scalars(sa.select(EnforcementAction.content_id).where(EnforcementAction.kind == "remove"))
            )
            unrelated_removed = db.scalar(
                sa.select(sa.func.count())
                .select_from(PlatformContent)
                .where(PlatformContent.platform_id.like("other-%"), PlatformContent.id.in_(removed_contents or {-1}))
            )
        from_sweep = {f"action:{a.id}:action.applied" for a in actions if "sweep_id" in (a.details or {})}
        expected = {f"action:{a.id}:action.applied" for a in actions}
        got = [d[0] for d in stats["deliveries"]]
        arrivals = {d[0]: d[1] for d in stats["deliveries"]}
        copy_arrivals = [arrivals[k] for k in from_sweep if k in arrivals]
        all_copies_in = bool(copy_arrivals) and not (from_sweep - set(got))
        out.update(
            {
                "decision_to_last_webhook_s": round(max(copy_arrivals) - t0, 3) if all_copies_in else None,
                "decision_to_first_webhook_s": round(min(stats_times(stats)) - t0, 3) if got else None,
                "webhooks_received": len(got),
                "webhooks_expected": len(expected),
                "webhooks_for_copies": len(from_sweep & set(got)),
                "delivery_ids_exactly_once": len(got) == len(set(got)) and set(got) >= expected,
                "duplicate_deliveries": len(got) - len(set(got)),
                "missing_deliveries": len(expected - set(got)),
                "unexpected_deliveries": len(set(got) - expected),
                "bad_signatures": stats["bad_signatures"] + stats["delivery_id_mismatch"],
                "copies_found": sweep.copies_found if sweep else None,
                "accounts_acted_on": len(sweep.account_ids) if sweep else None,
                "sweep_actions": sweep.actions if sweep else None,
                "actions_by_kind": _count(a.kind for a in actions),
                "unrelated_removed": int(unrelated_removed or 0),
                "webhook_jobs": len(hook_jobs),
                "webhook_attempts": int(sum(a for _, a in hook_jobs)),
                "webhook_jobs_dead": sum(1 for s, _ in hook_jobs if s == "dead"),
            }
        )
        if not finished and got:
            # Cut short by the time budget: what arrived, and when the rest would have at the rate of
            # the last ten seconds.
            times = sorted(stats_times(stats))
            recent = [x for x in times if x >= stopped_waiting - 10]
            rate = len(recent) / 10 if recent else len(times) / max(1e-9, times[-1] - times[0])
            left = max(0, 2 * opts.copies + 2 - len(set(got)))
            out["decision_to_last_webhook_s_at_least"] = round(stopped_waiting - t0, 1)
            out["webhooks_per_s_recent"] = round(rate, 1)
            out["decision_to_last_webhook_s_projected"] = round(stopped_waiting - t0 + left / max(rate, 1e-9), 1)
        if sweep_attempts:
            started, ended, _ = sweep_attempts[-1]
            out["sweep_job_started_after_s"] = round(started.timestamp() - t0, 3)
            out["sweep_job_s"] = round((ended or started).timestamp() - started.timestamp(), 3)
            out["sweep_job_attempts"] = len(sweep_attempts)
            after = [x for x in stats_times(stats) if x >= (ended or started).timestamp()]
            if ended and copy_arrivals:
                out["sweep_commit_to_last_webhook_s"] = round(max(copy_arrivals) - ended.timestamp(), 3)
                span = max(1e-9, max(copy_arrivals) - ended.timestamp())
                out["webhooks_per_s_after_sweep"] = round(len(after) / span, 1)
    finally:
        stop.set()
        database.job_signal.set()
        database.sequence_signal.set()
        for th in threads:
            th.join(timeout=30)
        receiver.close()
        if "http_client" in services:
            services["http_client"].close()
        engine.dispose()
    profiler.report(f"e2e-{backend}")
    out["loadavg_end"] = loadavg()
    out["wall_s"] = round(time.perf_counter() - wall, 1)
    return out


def _headline(result: dict[str, Any], run: dict[str, Any]) -> None:
    """The top-level figures come from one run (SQLite unless it was not run)."""
    result["decision_to_last_webhook_s"] = run.get("decision_to_last_webhook_s")
    result["headline_backend"] = run.get("backend")
    for key in ("decision_to_last_webhook_s_at_least", "decision_to_last_webhook_s_projected"):
        if key in run:
            result[key] = run[key]
    for key in ("webhooks_received", "webhooks_expected", "delivery_ids_exactly_once", "sweep_job_s"):
        result[key] = run.get(key)


def stats_times(stats: dict[str, Any]) -> list[float]:
    return [d[1] for d in stats["deliveries"]]


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return dict(sorted(counts.items()))


def _utc(ts: float) -> Any:
    from datetime import datetime

    return datetime.fromtimestamp(ts, UTC)


# -- the parent ------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="stored content signals in the index part")
    ap.add_argument("--items", type=int, default=50, help="confirmed items swept in the index part")
    ap.add_argument("--rounds", type=int, default=3, help="times each item is swept (samples = items x rounds)")
    ap.add_argument("--planted", type=int, default=10, help="near-copies of each item planted in the index")
    ap.add_argument("--exact-n", type=int, default=200_000, help="random digests in each exact index")
    ap.add_argument("--image-size", default="320x240", help="size of the synthetic images hashed in the index part")
    ap.add_argument("--copies", type=int, default=1000, help="stored copies of the confirmed item (end to end)")
    ap.add_argument("--unrelated", type=int, default=200, help="unrelated stored items (end to end)")
    ap.add_argument("--workers", type=int, default=2, help="outbox worker threads")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the last webhook at most")
    ap.add_argument(
        "--budget",
        type=float,
        default=285.0,
        help="seconds for the whole run: waits for webhooks are cut short to keep to it",
    )
    ap.add_argument(
        "--pg-reserve",
        type=float,
        default=80.0,
        help="seconds of the budget kept for the PostgreSQL run while SQLite's webhooks are awaited",
    )
    ap.add_argument(
        "--client-per-delivery",
        action="store_true",
        help="what-if: build an httpx.Client per delivery (as before the shared client)",
    )
    ap.add_argument(
        "--only", choices=("index", "sqlite", "postgresql"), action="append", help="run only these parts (repeatable)"
    )
    ap.add_argument("--profile", type=Path, default=None, help="cProfile the end-to-end threads into DIR")
    ap.add_argument("--role", default="main", help=argparse.SUPPRESS)
    opts = ap.parse_args()
    if opts.role == "receiver":
        role_receiver(SECRET)
        return
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    parts = set(opts.only or ("index", "sqlite", "postgresql"))
    wall = time.perf_counter()
    budget_end = time.time() + opts.budget
    start_load = loadavg()
    log(f"load average at start: {start_load} ({os.cpu_count()} CPUs)")
    result: dict[str, Any] = {
        "cores": None,
        "n": opts.n,
        "sweep_ms": None,
        "copies": opts.copies,
        "decision_to_last_webhook_s": None,
    }

    if "index" in parts:
        log(f"part 1: sweep of one confirmed item against {opts.n:,} stored signals (index only)")
        w, h = (int(x) for x in opts.image_size.split("x"))
        result.update(index_sweep(opts.n, opts.items, opts.rounds, opts.planted, opts.exact_n, (w, h)))
        log(f"  sweep_ms median {result['sweep_ms']} p99 {result['sweep_ms_p99']}; load {loadavg()}")
    else:
        import numba

        result["cores"] = numba.get_num_threads()

    with tempfile.TemporaryDirectory(prefix="staydown-bench-sweep-") as tmp_name:
        tmp = Path(tmp_name)
        if "sqlite" in parts:
            log(f"part 2: decision to last webhook, {opts.copies} copies, SQLite")
            reserve = opts.pg_reserve if "postgresql" in parts and postgres_server()[0] else 5.0
            try:
                sqlite = e2e("sqlite", f"sqlite:///{tmp / 'staydown.db'}", opts, tmp, budget_end - reserve)
            except Exception as exc:  # noqa: BLE001 - reported in the JSON, the rest of the run stands
                log(f"  SQLite run failed: {exc!r}")
                sqlite = {"error": repr(exc)[:500], "decision_to_last_webhook_s": None}
            log(f"  {sqlite}")
            result["sqlite"] = sqlite
            _headline(result, sqlite)
        if "postgresql" in parts:
            server, why = postgres_server()
            if server is None:
                result["postgresql"] = None
                result["postgresql_reason"] = why
            else:
                pg = PgDatabase(server)
                try:
                    pg.create()
                except Exception as exc:  # noqa: BLE001 - reported, the rest of the run stands
                    result["postgresql"] = None
                    result["postgresql_reason"] = f"could not create a database on {why}: {exc}"
                else:
                    try:
                        log(f"part 2: decision to last webhook, {opts.copies} copies, PostgreSQL ({why})")
                        result["postgresql"] = e2e("postgresql", pg.url(), opts, tmp, budget_end - 8.0)
                    except Exception as exc:  # noqa: BLE001 - reported in the JSON, the rest of the run stands
                        log(f"  PostgreSQL run failed: {exc!r}")
                        result["postgresql"] = {"error": repr(exc)[:500], "decision_to_last_webhook_s": None}
                    finally:
                        pg.drop()
                    result["postgresql"]["database"] = f"{pg.name} on {why} (created and dropped by this run)"
                    log(f"  {result['postgresql']}")
                pg_run = result.get("postgresql") or {}
                for key in (
                    "decision_to_last_webhook_s",
                    "decision_to_last_webhook_s_at_least",
                    "decision_to_last_webhook_s_projected",
                ):
                    if key in pg_run:
                        result[f"postgresql_{key}"] = pg_run[key]
        if "sqlite" not in parts and result.get("postgresql"):
            _headline(result, result["postgresql"])

    result["loadavg_start"] = start_load
    result["loadavg_end"] = loadavg()
    result["wall_s"] = round(time.perf_counter() - wall, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
