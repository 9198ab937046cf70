"""A real Prometheus (Debian's `prometheus`) scrapes a real `staydown serve --processes 2` while
notices arrive over HTTP; PromQL over its HTTP API then answers an intake rate, and the count
of notices it saw, added up over both server processes and their intake writers, is the number
sent. The server writes JSON log lines, each with the request id.

Skipped when the prometheus binary is absent (.ci/run installs it)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from staydown.actors import SYSTEM
from staydown.db import Database, create_engine
from staydown.migrate import upgrade
from staydown.staff.actions import create_api_client

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(PROMETHEUS is None, reason="needs Debian's prometheus (apt-get install prometheus)"),
]
NOTICE = {
    "kind": "user_report",
    "policy_id": "harassment",
    "explanation": "it is aimed at me every day",
    "items": [{"content_id": "c-0"}],
    "reporter_id": "r-0",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def _wait_for(what: str, check, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{what} did not come up within {seconds} s")


def _query(port: int, promql: str) -> dict:
    status, body = _get(port, "/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    assert status == 200, body
    return json.loads(body)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_prometheus_scrapes_metrics_and_promql_answers_an_intake_rate(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    url = f"sqlite:///{data / 'staydown.db'}"
    engine = create_engine(url)
    upgrade(engine)
    with Database(engine).unit_of_work() as db:
        platform = create_api_client(db, actor=SYSTEM, name="platform", scopes=["notices:submit"]).key
        scraper = create_api_client(db, actor=SYSTEM, name="prometheus", scopes=["metrics:read"]).key
    engine.dispose()

    port, prom_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "STAYDOWN_DATABASE_URL": url,
        "STAYDOWN_DATA_DIR": str(data),
        "STAYDOWN_LOG_FORMAT": "json",
        "STAYDOWN_ENV": "development",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    staydown = Path(sys.executable).with_name("staydown")
    # Log lines go to stderr; stdout holds what the command itself says (policies recorded).
    server_log = (tmp_path / "server.log").open("w+")
    server = subprocess.Popen(
        [str(staydown), "serve", "--host", "127.0.0.1", "--port", str(port), "--processes", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=server_log,
    )
    (tmp_path / "token").write_text(scraper)
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: staydown\n    metrics_path: /metrics\n"
        f"    authorization:\n      type: Bearer\n      credentials_file: {tmp_path / 'token'}\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    )
    prom_log = (tmp_path / "prometheus.log").open("w+")
    prometheus = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=prom_log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Both server processes up (each builds its app, indexes and writer child; slow on a busy machine).
        _wait_for(
            "both server processes",
            lambda: (tmp_path / "server.log").read_text().count("Application startup complete") >= 2,
            120,
        )
        _wait_for("staydown serve", lambda: _get(port, "/healthz")[0] == 200, 60)
        _wait_for("prometheus", lambda: _get(prom_port, "/-/ready")[0] == 200, 60)
        _wait_for(
            "the first scrape",
            lambda: (
                _query(prom_port, 'up{job="staydown"}')["data"]["result"]
                and _query(prom_port, 'up{job="staydown"}')["data"]["result"][0]["value"][1] == "1"
            ),
            30,
        )

        sent = 0
        ids: list[str] = []

        def send(conn: http.client.HTTPConnection) -> None:
            nonlocal sent
            body = {**NOTICE, "items": [{"content_id": f"c-{sent}"}], "reporter_id": f"r-{sent}"}
            conn.request(
                "POST",
                "/v1/notices",
                body=json.dumps(body),
                headers={"Authorization": f"Bearer {platform}", "Content-Type": "application/json"},
            )
            r = conn.getresponse()
            r.read()
            assert r.status == 201
            ids.append(r.getheader("x-request-id") or "")
            sent += 1

        # A first notice per connection, on several connections (both processes' writers answering),
        # then a steady stream that Prometheus sees rise across several scrapes.
        for _ in range(6):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            send(conn)
            conn.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        until = time.monotonic() + 8
        while time.monotonic() < until:
            send(conn)
            time.sleep(0.02)
        conn.close()

        rate_query = 'sum(rate(staydown_http_requests_total{route="/v1/notices",status="201"}[30s]))'

        def rate_seen() -> bool:
            result = _query(prom_port, rate_query)["data"]["result"]
            return bool(result) and float(result[0]["value"][1]) > 0

        try:
            _wait_for("an intake rate in PromQL", rate_seen, 30)
        except AssertionError:
            print(
                _query(prom_port, rate_query),
                _query(prom_port, "staydown_http_requests_total"),
                _query(prom_port, "up"),
                _get(port, "/metrics", {"Authorization": f"Bearer {scraper}"}),
            )
            raise
        answer = _query(prom_port, rate_query)
        print(
            f"\n$ curl -s 'http://127.0.0.1:{prom_port}/api/v1/query' --data-urlencode 'query={rate_query}'\n"
            + json.dumps(answer)
        )

        total_query = "sum(staydown_intake_notices_total)"
        _wait_for(
            "every notice counted",
            lambda: float(_query(prom_port, total_query)["data"]["result"][0]["value"][1]) == sent,
            20,
        )
        print(
            f"$ ... --data-urlencode 'query={total_query}'\n"
            + json.dumps(_query(prom_port, total_query))
            + f"\n(notices sent: {sent})"
        )
        # The writers' own count rises too (each server process has its writer child).
        processes = _query(prom_port, "sum(rate(staydown_intake_notices_total[30s]))")
        assert float(processes["data"]["result"][0]["value"][1]) > 0
    finally:
        _stop(prometheus)
        _stop(server)
    server_log.seek(0)
    lines = [line for line in server_log.read().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines if line.startswith("{")]
    assert parsed and len(parsed) == len(lines), [line for line in lines if not line.startswith("{")][:5]
    assert all("request_id" in line for line in parsed)
    access = [line for line in parsed if line["logger"] == "uvicorn.access" and "/v1/notices" in line["message"]]
    assert access and {line["request_id"] for line in access} <= set(ids)
