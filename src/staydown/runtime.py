"""Process wiring: logging, the database, the policy catalogue and the worker, built from settings the
same way by the app, the command line and the intake writer's child process."""

from __future__ import annotations

import logging

import staydown.models  # noqa: F401 - every table known before the first flush resolves a foreign key
from staydown.cases.rules import CaseRules
from staydown.clock import Clock, OffsetClock
from staydown.db import Database, create_engine
from staydown.delivery.outbox import JobRegistry
from staydown.delivery.webhooks import webhook_client
from staydown.evidence.vault import vault_from_settings
from staydown.http import RequestIdLogFilter
from staydown.jobs import PERIODIC
from staydown.matching.engine import MatchEngine
from staydown.observability.logs import JsonFormatter
from staydown.policies import default_catalogue, load_catalogue
from staydown.policies.catalogue import Catalogue
from staydown.settings import Settings
from staydown.transparency.statement_settings import configure as configure_statements
from staydown.worker import RetryPolicy, Worker


def configure_logging(level: str, fmt: str = "text") -> None:
    """Every line carries the request id it was written under; `fmt` "json" writes each line as a
    JSON object (STAYDOWN_LOG_FORMAT), uvicorn's own lines included (`staydown serve` then leaves
    uvicorn's loggers to this handler)."""
    root = logging.getLogger()
    if any(getattr(h, "_staydown", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler._staydown = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdLogFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())


def build_database(settings: Settings, clock: Clock | None = None) -> Database:
    if clock is None and settings.clock_offset_file is not None:
        clock = OffsetClock(str(settings.clock_offset_file))
    engine = create_engine(
        str(settings.database_url),
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        sqlite_lock_wait_ms=settings.sqlite_lock_wait_ms,
    )
    database = Database(engine, clock=clock)
    configure_statements(database, settings)  # apply_action issues statements of reasons with these
    return database


def build_worker(settings: Settings, database: Database, registry: JobRegistry, **kwargs: object) -> Worker:
    if "services" not in kwargs:
        engine = MatchEngine(database, index_dir=settings.index_dir)
        engine.load()  # a standalone worker starts from the saved replica, not from nothing
        catalogue = catalogue_from(settings)
        kwargs["services"] = {
            "case_rules": CaseRules.from_settings(settings, catalogue),
            "settings": settings,
            "catalogue": catalogue,
            "match_engine": engine,
            "vault": vault_from_settings(settings),
            # One client per worker process: building one loads the CA bundle (~50 ms, under the GIL),
            # which was most of what a webhook delivery cost (bench/sweep.py).
            "http_client": webhook_client(settings),
        }
    worker = Worker(
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
    worker.periodic = list(PERIODIC)
    return worker


def catalogue_from(settings: Settings) -> Catalogue:
    """The policy catalogue the settings name, or the default one."""
    return load_catalogue(settings.policy_catalogue_path) if settings.policy_catalogue_path else default_catalogue()
