"""The application factory: settings, database, routes, middleware and the in-process worker."""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections.abc import AsyncIterator, Iterable

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from staydown import __doc__ as package_doc
from staydown.apidocs import docs_router, install_openapi
from staydown.appeals.api import public_router as appeals_public_router
from staydown.appeals.api import router as appeals_router
from staydown.audit.api import router as audit_router
from staydown.authorities.api import router as authorities_router
from staydown.cases.api import router as cases_router
from staydown.cases.rules import CaseRules
from staydown.clock import Clock
from staydown.db import Database, SqliteCheckpointer
from staydown.delivery.outbox import JobRegistry
from staydown.delivery.webhooks import webhook_client
from staydown.enforcement.api import router as actions_router
from staydown.evidence.api import router as evidence_router
from staydown.evidence.vault import vault_from_settings
from staydown.exchanges.api import router as exchanges_router
from staydown.health import DEFAULT_CHECKS, ReadinessCheck, index_check
from staydown.health import router as health_router
from staydown.hma.api import router as hma_router
from staydown.http import (
    BodyLimitMiddleware,
    RateLimiter,
    RequestIdMiddleware,
    RetryAfterMiddleware,
    install_error_handlers,
)
from staydown.intake.api import public_router
from staydown.intake.api import router as intake_router
from staydown.intake.batcher import IntakeBatcher
from staydown.intake.writer import ProcessIntake
from staydown.jobs import build_registry
from staydown.limits import refuse_nul_text
from staydown.matching.api import router as banks_router
from staydown.matching.engine import MatchEngine
from staydown.matching.scan_api import router as scan_router
from staydown.media.admission import DecodeSlots
from staydown.media.hashpool import HashPool
from staydown.observability.metrics import MetricsMiddleware
from staydown.observability.metrics import router as metrics_router
from staydown.policies.catalogue import Catalogue
from staydown.runtime import build_database, build_worker, catalogue_from, configure_logging
from staydown.settings import Settings, load_settings
from staydown.staff.api import router as staff_router
from staydown.staff.throttle import SignInThrottle
from staydown.subjects.api import router as subjects_router
from staydown.transparency.api import public_router as statements_public_router
from staydown.transparency.api import router as statements_router
from staydown.transparency.report_api import public_router as report_public_router
from staydown.transparency.report_api import router as report_router
from staydown.transparency.statement_settings import configure as configure_statements
from staydown.web.console import admin as console_admin
from staydown.web.console import appeals as console_appeals
from staydown.web.console import audit as console_audit
from staydown.web.console import auth as console_auth
from staydown.web.console import banks as console_banks
from staydown.web.console import cases as console_cases
from staydown.web.console import dashboard as console_dashboard
from staydown.web.console import evidence as console_evidence
from staydown.web.console import exchanges as console_exchanges
from staydown.web.console import flaggers as console_flaggers
from staydown.web.console import lookup as console_lookup
from staydown.web.console import media as console_media
from staydown.web.console import nca as console_nca
from staydown.web.console import ncmec as console_ncmec
from staydown.web.console import queue as console_queue
from staydown.web.errors import install_page_errors
from staydown.web.public import router as public_pages_router
from staydown.web.security import PageSecurityMiddleware
from staydown.web.templating import STATIC_DIR, use_page_language

log = logging.getLogger("staydown")

UPLOAD_PATHS = ("/v1/scan", "/v1/evidence", "/hma/h/hash", "/hma/m/lookup")
UPLOAD_SUFFIXES = ("/import",)


def worker_services(app: FastAPI) -> dict[str, object]:
    """What job handlers need from the serving process: settings, rules, catalogue, match engine."""
    state = app.state
    return {
        "settings": state.settings,
        "case_rules": state.case_rules,
        "catalogue": state.catalogue,
        "match_engine": state.match_engine,
        "vault": state.vault,
        "http_client": webhook_client(state.settings),
    }


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Clock | None = None,
    registry: JobRegistry | None = None,
    run_worker: bool | None = None,
    match_engine: MatchEngine | None = None,
    run_follower: bool | None = None,
    extra_checks: Iterable[ReadinessCheck] = (),
    catalogue: Catalogue | None = None,
    intake_process: bool = False,
    hash_processes: bool = False,
) -> FastAPI:
    """`intake_process`: write notices in a child process built from the same settings (what
    `staydown serve` does unless `intake_writer = "thread"`); tests inject their own database and
    clock, which a child process could not share, so the default is a thread. `hash_processes`:
    decode and hash scans in worker processes (media/hashpool.py; `staydown serve` unless
    `scan_hashing = "thread"`)."""
    settings = settings or load_settings()
    database = database or build_database(settings, clock)
    registry = registry or build_registry()
    run_worker = settings.worker_in_process if run_worker is None else run_worker
    run_follower = settings.index_follow_in_process if run_follower is None else run_follower
    engine = match_engine or MatchEngine(database, index_dir=settings.index_dir)
    if not getattr(database.engine, "_refuses_nul", False):  # one listener per engine (tests share one)
        refuse_nul_text(database.engine)
        database.engine._refuses_nul = True  # type: ignore[attr-defined]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        threads: list[threading.Thread] = []
        if match_engine is None:
            # A fresh replica: load the saved copy, then apply what came after it before serving.
            engine.load()
            try:
                engine.catch_up()
            except Exception:  # e.g. migrations not applied: /readyz says so
                log.exception("the match indexes could not catch up at start; /readyz reports it")
        if run_follower:
            threads.append(
                threading.Thread(
                    target=engine.follow,
                    args=(stop,),
                    kwargs={"interval": settings.index_follow_interval_seconds},
                    name="staydown-index-follower",
                    daemon=True,
                )
            )
        if run_worker:
            worker = build_worker(settings, database, registry, services=worker_services(app))
            threads.append(
                threading.Thread(
                    target=worker.run_forever,
                    args=(stop, settings.worker_poll_seconds),
                    name="staydown-worker",
                    daemon=True,
                )
            )
        for thread in threads:
            thread.start()
        if intake_process:
            app.state.intake.start()  # now, not at the first notice: the child takes a second to build
        else:
            checkpointer = SqliteCheckpointer(database.engine).start()  # the writer is in this process
        if app.state.hash_pool is not None:
            app.state.hash_pool.start()  # the workers import in the background
        # What start-up built lives as long as the process: keep it out of the collector's full
        # passes, which otherwise walk it every few seconds under load (a 150 ms pause each).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            app.state.intake.close()  # what was acknowledged is committed; what waits is written first
            if app.state.hash_pool is not None:
                app.state.hash_pool.close()
            if not intake_process:
                checkpointer.stop()
            stop.set()
            database.job_signal.set()
            database.sequence_signal.set()
            for thread in threads:
                thread.join(timeout=30)

    app = FastAPI(
        title="staydown",
        description=package_doc or "",
        version="0.1.0",
        lifespan=lifespan,
        # Served by staydown.apidocs from the package's own files, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.registry = registry
    app.state.match_engine = engine
    app.state.rate_limiter = RateLimiter()
    app.state.sign_in_throttle = SignInThrottle()
    app.state.decode_slots = DecodeSlots(
        settings.scan_max_concurrent_decodes, settings.scan_decode_queue, settings.scan_decode_wait_seconds
    )
    app.state.hash_pool = HashPool(settings.scan_max_concurrent_decodes) if hash_processes else None
    app.state.vault = vault_from_settings(settings)
    app.state.catalogue = catalogue or catalogue_from(settings)
    app.state.case_rules = CaseRules.from_settings(settings, app.state.catalogue)
    if intake_process:
        app.state.intake = ProcessIntake()
    else:
        app.state.intake = IntakeBatcher(
            database,
            lambda: {
                "catalogue": app.state.catalogue,
                "rules": app.state.case_rules,
                "engine": app.state.match_engine,
                "job_max_attempts": settings.job_max_attempts,
            },
        )
    configure_statements(database, settings, catalogue=app.state.catalogue)
    app.state.readiness_checks = [*DEFAULT_CHECKS, index_check, *extra_checks]

    install_error_handlers(app)
    install_page_errors(app)

    def limit_for(path: str) -> int:
        if (
            path.startswith(UPLOAD_PATHS)
            or path.endswith(UPLOAD_SUFFIXES)
            or (path.startswith("/hma/c/bank/") and path.endswith("/content"))
        ):
            return settings.max_upload_bytes
        return settings.max_request_bytes

    app.add_middleware(BodyLimitMiddleware, limit_for_path=limit_for)
    app.add_middleware(PageSecurityMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(RetryAfterMiddleware)
    app.add_middleware(MetricsMiddleware)  # outside the rest: it sees every answer's final status
    if settings.trusted_proxies:
        # Outermost: everything inside (rate limits, sign-in throttling, logs, Secure cookies) sees
        # the client the trusted proxy forwarded for. `staydown serve` runs uvicorn with its own
        # proxy handling off, so this is the only place a forwarded header is read.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))

    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(audit_router)
    app.include_router(subjects_router)
    app.include_router(banks_router)
    app.include_router(exchanges_router)
    app.include_router(scan_router)
    app.include_router(staff_router)
    app.include_router(intake_router)
    app.include_router(public_router)
    app.include_router(cases_router)
    app.include_router(actions_router)
    app.include_router(evidence_router)
    app.include_router(authorities_router)
    app.include_router(appeals_router)
    app.include_router(appeals_public_router)
    app.include_router(statements_router)
    app.include_router(statements_public_router)
    app.include_router(report_router)
    app.include_router(report_public_router)
    app.include_router(hma_router)
    # Console and public pages (staydown.web): HTML routers are included below this line.
    # The console's language is current before any console view runs (its messages are in it).
    console_language = [Depends(use_page_language)]
    for console_router in (
        console_auth.router,
        console_auth.account_router,
        console_queue.router,
        console_cases.router,
        console_media.router,
        console_appeals.router,
        console_lookup.router,
    ):
        app.include_router(console_router, dependencies=console_language)
    app.include_router(public_pages_router)
    for page_router in (
        console_banks.router,
        console_ncmec.router,
        console_nca.router,
        console_evidence.router,
        console_flaggers.router,
        console_admin.router,
        console_audit.router,
        console_dashboard.router,
        console_exchanges.router,
    ):
        app.include_router(page_router, dependencies=console_language)
    app.include_router(docs_router(app.openapi_url or "/openapi.json"))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_openapi(app)
    return app


def app_from_settings() -> FastAPI:
    """The app of one of several server processes (`staydown serve --processes N`): settings from
    the environment and configuration file, as the parent read them."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(
        settings, intake_process=settings.intake_writer == "process", hash_processes=settings.scan_hashing == "process"
    )
