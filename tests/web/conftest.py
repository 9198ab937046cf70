"""Browser-test fixtures: a live staydown server on loopback and Debian's chromium driven by Playwright.

Without chromium (or the playwright package) the browser tests skip with a message saying how to
install it; under CI=true they fail instead, so CI can't pass without running them."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from staydown.app import create_app
from staydown.clock import SystemClock
from staydown.db import Database, create_engine
from staydown.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}
INSTALL_HINT = (
    "browser tests need Debian's chromium and the playwright package: "
    "`apt-get install chromium` and `make install` (the test extra installs playwright)"
)


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("STAYDOWN_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI=true the browser tests must run ({INSTALL_HINT})")
    pytest.skip(f"{reason}: {INSTALL_HINT}")


@dataclass
class LiveServer:
    url: str
    database: Database
    settings: Settings
    app: object


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(sqlite_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """staydown served by uvicorn on a free loopback port, on its own SQLite copy, with the real
    clock (the pages show live countdowns against the browser's clock)."""
    target = tmp_path / "live.db"
    shutil.copyfile(sqlite_template, target)
    url = f"sqlite:///{target}"
    port = _free_port()
    settings = Settings(
        env="test",
        database_url=url,
        data_dir=tmp_path / "var",
        worker_in_process=False,
        public_base_url=f"http://127.0.0.1:{port}",
    )
    engine = create_engine(url)
    database = Database(engine, clock=SystemClock())
    app = create_app(settings, database=database, run_worker=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", database=database, settings=settings, app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


@pytest.fixture(scope="session")
def _browser() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 - optional: the browser tests skip without it
    except ImportError:
        _unavailable("the playwright package is not installed")
    path = chromium_path()
    if path is None:
        _unavailable("chromium was not found at /usr/bin/chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=path, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser(_browser):
    return _browser


@pytest.fixture
def page(browser):
    """A fresh desktop-sized browser context per test (own cookies); CSP violations and page errors
    are collected in `page.problems` so a test can assert there were none."""
    context = browser.new_context(viewport=DESKTOP)
    pg = context.new_page()
    pg.problems = []
    pg.on("console", lambda m: pg.problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.problems.append(str(e)))
    try:
        yield pg
    finally:
        context.close()


def screenshot(page, name: str) -> None:
    """Save `name`-desktop.png and `name`-phone.png under test-artifacts/, restoring the viewport."""
    ARTIFACTS.mkdir(exist_ok=True)
    original = page.viewport_size or DESKTOP
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(original)
