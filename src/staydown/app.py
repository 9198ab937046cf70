"""The application factory: settings, database, routes, middleware and the in-process worker."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Iterable

from fastapi import FastAPI

from staydown import __doc__ as package_doc
from staydown.audit.api import router as audit_router
from staydown.clock import Clock
from staydown.db import Database, create_engine
from staydown.delivery.outbox import JobRegistry
from staydown.health import DEFAULT_CHECKS, ReadinessCheck
from staydown.health import router as health_router
from staydown.http import BodyLimitMiddleware, RequestIdLogFilter, RequestIdMiddleware, install_error_handlers
from staydown.jobs import build_registry
from staydown.settings import Settings, load_settings
from staydown.subjects.api import router as subjects_router
from staydown.worker import RetryPolicy, Worker

log = logging.getLogger("staydown")

UPLOAD_PATHS = ("/v1/scan", "/v1/evidence")


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_staydown", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler._staydown = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdLogFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())


def build_database(settings: Settings, clock: Clock | None = None) -> Database:
    engine = create_engine(str(settings.database_url), sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    return Database(engine, clock=clock)


def build_worker(settings: Settings, database: Database, registry: JobRegistry, **kwargs: object) -> Worker:
    return Worker(
        database,
        registry,
        retry=RetryPolicy(
            base_seconds=settings.job_backoff_base_seconds,
            cap_seconds=settings.job_backoff_cap_seconds,
            lease_seconds=settings.job_lease_seconds,
        ),
        batch_size=settings.worker_batch_size,
        **kwargs,  # type: ignore[arg-type]
    )


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Clock | None = None,
    registry: JobRegistry | None = None,
    run_worker: bool | None = None,
    extra_checks: Iterable[ReadinessCheck] = (),
) -> FastAPI:
    settings = settings or load_settings()
    database = database or build_database(settings, clock)
    registry = registry or build_registry()
    run_worker = settings.worker_in_process if run_worker is None else run_worker

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if run_worker:
            worker = build_worker(settings, database, registry)
            thread = threading.Thread(
                target=worker.run_forever, args=(stop, settings.worker_poll_seconds),
                name="staydown-worker", daemon=True,
            )
            thread.start()
        try:
            yield
        finally:
            stop.set()
            database.job_signal.set()
            if thread is not None:
                thread.join(timeout=10)

    app = FastAPI(
        title="staydown",
        description=package_doc or "",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.registry = registry
    app.state.readiness_checks = [*DEFAULT_CHECKS, *extra_checks]

    install_error_handlers(app)

    def limit_for(path: str) -> int:
        if path.startswith(UPLOAD_PATHS):
            return settings.max_upload_bytes
        return settings.max_request_bytes

    app.add_middleware(BodyLimitMiddleware, limit_for_path=limit_for)
    app.add_middleware(RequestIdMiddleware)

    app.include_router(health_router)
    app.include_router(audit_router)
    app.include_router(subjects_router)
    return app
