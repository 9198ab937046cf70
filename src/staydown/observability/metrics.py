"""Operational metrics in Prometheus exposition (`GET /metrics`, the `metrics:read` scope).

Two kinds, by where the truth lives:

- Events counted where they happen (requests and their latency, intake batch sizes, scans and
  matches by bank, webhook deliveries): prometheus-client counters and histograms. `staydown serve`
  runs several processes (`--processes N`, the intake writer child, the hashing workers), so it
  sets PROMETHEUS_MULTIPROC_DIR before any of them starts (`observability.enable_multiprocess`), and a scrape of
  any one process adds up every process's files.
- States read from the database at scrape time (outbox depth and age by job kind, open legal
  tracks by kind and time left, breaches): the same for every process and every machine, and
  nothing to keep in step. The index's size and lag are those of the process that answers.

Recording costs a dictionary look-up and an addition (a few microseconds; bench/intake.py
before and after in docs/benchmarks.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from staydown.actors import Actor
from staydown.cases.models import LegalTrack, TrackState
from staydown.delivery.models import Job, JobState
from staydown.http import require
from staydown.observability import MULTIPROC_ENV
from staydown.staff.permissions import Permission

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REQUESTS = Counter(
    "staydown_http_requests", "HTTP requests answered, by route template and status", ["method", "route", "status"]
)
LATENCY = Histogram(
    "staydown_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
INTAKE_BATCH = Histogram(
    "staydown_intake_batch_size", "Notices written in one intake transaction", buckets=(1, 2, 4, 8, 16, 32, 64)
)
INTAKE_NOTICES = Counter("staydown_intake_notices", "Notices written by the intake writer")
INTAKE_WAITING = Gauge(
    "staydown_intake_waiting", "Notices acknowledged to no one yet: waiting to be written", multiprocess_mode="livesum"
)
SCANS = Counter("staydown_scans", "Uploads and supplied signals matched, by verdict", ["verdict"])
MATCHES = Counter("staydown_matches", "Bank matches found at scan, by bank and signal type", ["bank", "signal_type"])
WEBHOOKS = Counter(
    "staydown_webhook_deliveries", "Webhook deliveries tried, by outcome (ok, rejected, error)", ["outcome"]
)

# Open tracks by time left before their deadline (upper bounds in hours; "overdue" below 0).
TIME_LEFT_HOURS = (1, 4, 24)


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"  # a 404 for an unknown path: one series, not one per path tried
    root = scope.get("root_path", "")
    return root + path if root and not path.startswith(root) else path


class MetricsMiddleware:
    """Count and time every HTTP request by its route template (`/v1/cases/{case_id}`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = _route_of(scope)
            method = scope.get("method", "")
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - start)


def scan_recorded(verdict: str, matches: Iterable[Any]) -> None:
    SCANS.labels(verdict).inc()
    for m in matches:
        MATCHES.labels(m.bank, m.signal_type).inc()


# -- read at scrape time ----------------------------------------------------------------------


class StateCollector(Collector):
    """Gauges computed from the database and this process's indexes when Prometheus scrapes."""

    def __init__(self, database: Any, engine: Any) -> None:
        self.database = database
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.database.unit_of_work(write=False) as db:
            when = self.database.clock.now()
            depth = GaugeMetricFamily(
                "staydown_outbox_jobs", "Outbox jobs not finished, by kind and state", labels=["kind", "state"]
            )
            age = GaugeMetricFamily(
                "staydown_outbox_oldest_due_seconds",
                "How long the oldest due job of each kind has been waiting to run",
                labels=["kind"],
            )
            rows = db.execute(
                sa.select(Job.kind, Job.state, sa.func.count(), sa.func.min(Job.run_at))
                .where(Job.state.in_((JobState.pending.value, JobState.running.value, JobState.dead.value)))
                .group_by(Job.kind, Job.state)
            ).all()
            for kind, state, n, oldest in rows:
                depth.add_metric([kind, state], n)
                if state == JobState.pending.value and oldest is not None:
                    age.add_metric([kind], max(0.0, (when - oldest).total_seconds()))
            yield depth
            yield age

            tracks = GaugeMetricFamily(
                "staydown_legal_tracks_open",
                "Open legal tracks by kind and time left before the deadline "
                "(overdue, under 1h, 4h, 24h, later; waiting: clock not started)",
                labels=["kind", "time_left"],
            )
            bounds = [when] + [when + timedelta(hours=h) for h in TIME_LEFT_HOURS]
            bucket = sa.case(
                (LegalTrack.due_at.is_(None), "waiting"),
                (LegalTrack.due_at < bounds[0], "overdue"),
                *((LegalTrack.due_at < b, f"under_{h}h") for b, h in zip(bounds[1:], TIME_LEFT_HOURS, strict=True)),
                else_="later",
            )
            for kind, left, n in db.execute(
                sa.select(LegalTrack.kind, bucket, sa.func.count())
                .where(LegalTrack.state.in_((TrackState.open.value, TrackState.waiting.value)))
                .group_by(LegalTrack.kind, bucket)
            ).all():
                tracks.add_metric([kind, left], n)
            yield tracks
            breaches = GaugeMetricFamily(
                "staydown_legal_track_breaches",
                "Legal tracks whose deadline was breached (recorded by the deadline sweep), by kind, since the start",
                labels=["kind"],
            )
            for kind, n in db.execute(
                sa.select(LegalTrack.kind, sa.func.count())
                .where(LegalTrack.breached_at.is_not(None))
                .group_by(LegalTrack.kind)
            ).all():
                breaches.add_metric([kind], n)
            yield breaches
        yield from self._index()

    def _index(self) -> Iterator[GaugeMetricFamily]:
        if self.engine is None:
            return
        size = GaugeMetricFamily(
            "staydown_index_rows",
            "Rows in this process's match index, by replica and type",
            labels=["replica", "signal_type"],
        )
        for replica in self.engine.replicas:
            size.add_metric([replica.name, "pdq"], len(replica.pdq))
            for kind, index in replica.exact.items():
                size.add_metric([replica.name, kind], len(index))
            size.add_metric([replica.name, "vpdq"], len(replica.video))
        yield size
        lag = GaugeMetricFamily(
            "staydown_index_behind_rows",
            "Committed changes this process's index has not applied yet",
            labels=["replica"],
        )
        for name, figures in self.engine.lag().items():
            lag.add_metric([name], figures["behind"])
        yield lag


def exposition(database: Any, engine: Any) -> bytes:
    """What `GET /metrics` answers: every process's counters, and the states read now."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)
    else:
        for metric in (REQUESTS, LATENCY, INTAKE_BATCH, INTAKE_NOTICES, INTAKE_WAITING, SCANS, MATCHES, WEBHOOKS):
            registry.register(metric)
    registry.register(StateCollector(database, engine))
    return generate_latest(registry)


# -- the route ----------------------------------------------------------------------------------

MetricsReader = Annotated[Actor, Depends(require(Permission.METRICS_READ))]
router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text exposition"}
    },
)
async def metrics(request: Request, _: MetricsReader) -> Response:
    """Prometheus exposition of the service's figures; needs `metrics:read`."""
    state = request.app.state
    body = await run_in_threadpool(exposition, state.database, state.match_engine)
    return Response(body, media_type=CONTENT_TYPE)
