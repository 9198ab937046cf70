"""`staydown serve` as a user runs it: a real process, real HTTP, SQLite under the data dir."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_migrates_and_answers_health(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAYDOWN_")}
    env["STAYDOWN_DATA_DIR"] = str(tmp_path / "var")
    exe = Path(sys.executable).with_name("staydown")
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None  # piped
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    break
                time.sleep(0.2)
        assert ready is not None, f"server did not answer: {proc.stdout.read() if proc.poll() is not None else ''}"
        assert ready.status_code == 200, ready.text
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
        assert (tmp_path / "var" / "staydown.db").exists()
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()["info"]["title"] == "staydown"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


import concurrent.futures  # noqa: E402

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402


@pytest.mark.parametrize("processes", [1, 2])
def test_DSA1_served_notices_are_stored_by_the_intake_writer_process(tmp_path: Path, processes: int) -> None:
    """`staydown serve` writes notices in a child process (the default `intake_writer`), also with
    several server processes taking turns on SQLite: every 201 is a stored notice, and the whole
    process tree stops on SIGINT."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAYDOWN_")}
    env["STAYDOWN_DATA_DIR"] = str(tmp_path / "var")
    exe = Path(sys.executable).with_name("staydown")
    subprocess.run([str(exe), "db", "upgrade"], env=env, cwd=tmp_path, check=True, capture_output=True)
    made = subprocess.run(
        [str(exe), "apikey", "create", "test"], env=env, cwd=tmp_path, check=True, capture_output=True, text=True
    )
    key = made.stdout.strip().splitlines()[-1].strip()
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port), "--processes", str(processes)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None  # piped
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.poll() else ""
            time.sleep(0.2)

        def post(i: int) -> httpx.Response:
            return httpx.post(
                f"http://127.0.0.1:{port}/v1/notices",
                headers={"Authorization": f"Bearer {key}"},
                json={
                    "policy_id": "harassment",
                    "explanation": "aimed at me every day",
                    "reporter_id": f"r-{i}",
                    "items": [{"content_id": f"post-{i % 7}"}],
                },
                timeout=30,
            )

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(post, range(40)))
        assert [a.status_code for a in answers] == [201] * 40, [a.text for a in answers if a.status_code != 201][:2]
        codes = {a.json()["tracking_code"] for a in answers}
        cases = {a.json()["cases"][0] for a in answers}
        assert len(codes) == 40 and len(cases) == 7  # seven contents, seven cases, wherever they were written
        tree = _descendants(proc.pid)
        assert len(tree) >= processes  # the intake writers (and, with several, the server processes)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'var' / 'staydown.db'}")
    with engine.connect() as conn:
        stored = set(conn.execute(sa.text("SELECT tracking_code FROM notices")).scalars())
    engine.dispose()
    assert stored == codes
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in tree) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in tree if Path(f"/proc/{pid}").exists()], "server processes outlived SIGINT"


def _descendants(pid: int) -> list[int]:
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []
    return children + [g for c in children for g in _descendants(c)]
