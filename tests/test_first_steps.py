"""The README's "First steps" as a newcomer runs them, and the links a served instance writes.

A real `staydown serve` on a free port, started as `make serve` starts it (migrate, then serve,
no STAYDOWN_PUBLIC_BASE_URL); the commands are read from README.md itself and run in a shell,
so a README that drifts from the code fails here."""

from __future__ import annotations

import email
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    url: str
    port: int
    env: dict[str, str]
    data_dir: Path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`make serve` on a free port: `staydown db upgrade`, then `staydown serve --host --port`."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAYDOWN_")}
    env.update(
        STAYDOWN_DATA_DIR=str(tmp_path / "var"),
        STAYDOWN_INTAKE_WRITER="thread",
        STAYDOWN_SCAN_HASHING="thread",
        STAYDOWN_WORKER_POLL_SECONDS="0.2",
    )
    subprocess.run([str(BIN / "staydown"), "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    proc = subprocess.Popen(
        [str(BIN / "staydown"), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=ROOT,
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
            assert proc.poll() is None and time.monotonic() < deadline, (
                f"the server did not start: {proc.stdout.read() if proc.poll() is not None else ''}"
            )
            time.sleep(0.2)
        yield Served(f"http://127.0.0.1:{port}", port, env, tmp_path / "var")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def first_steps() -> list[str]:
    """The command lines of the README's "First steps" block, as written."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## First steps", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README's First steps has no ```sh block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_first_steps_work_as_written_against_a_served_instance(served: Served) -> None:
    lines = first_steps()
    assert any("curl" in line for line in lines) and any("policies check" in line for line in lines)
    key = checkpoint = None
    for line in lines:
        command = line.replace(".venv/bin/", f"{BIN}/").replace("127.0.0.1:8000", f"127.0.0.1:{served.port}")
        if "sd_..." in command:
            assert key, f"{line!r} uses a key before any `apikey create`"
            command = command.replace("sd_...", key)
        if "SEQ:HASH" in command.split("#", 1)[0]:
            assert checkpoint, f"{line!r} uses a checkpoint before `audit checkpoint`"
            command = command.split("#", 1)[0].replace("SEQ:HASH", checkpoint)
        done = subprocess.run(
            ["bash", "-c", command + (" -sS -w '\\n%{http_code}'" if command.startswith("curl") else "")],
            env=served.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{line!r} failed: {done.stdout}{done.stderr}"
        out = done.stdout.strip()
        if command.startswith("curl"):
            status = out.splitlines()[-1]
            assert status == "200", f"{line!r} answered {status}: {out}"
        if "apikey create" in command:
            key = out.splitlines()[-1].strip()
            assert key.startswith("sd_"), out
        if command.split("#", 1)[0].strip().endswith("audit checkpoint"):
            checkpoint = out.splitlines()[-1].strip()
            assert re.fullmatch(r"\d+:[0-9a-f]{64}", checkpoint), out
    assert key and checkpoint


def test_generated_links_use_the_served_port_without_a_configured_base_url(served: Served) -> None:
    """`PORT=8801 make serve`: the receipt, the pages and the e-mail link to the port served."""
    r = httpx.post(
        f"{served.url}/public/notices",
        json={
            "reporter_kind": "user",
            "policy_id": "harassment",
            "explanation": "threatening messages",
            "items": [{"content_id": "post-1"}],
            "contact_email": "reporter@example.org",
            "good_faith": True,
        },
    )
    assert r.status_code == 201, r.text
    code = r.json()["tracking_code"]
    assert r.json()["status_url"] == f"{served.url}/status/{code}"
    # The e-mail is written by the worker, with no request to take the address from.
    deadline = time.monotonic() + 30
    while not list((served.data_dir / "mail").glob("*.eml")):
        assert time.monotonic() < deadline, "no receipt was written"
        time.sleep(0.2)
    [mail] = list((served.data_dir / "mail").glob("*.eml"))
    body = email.message_from_bytes(mail.read_bytes(), policy=policy.default).get_content()
    assert f"{served.url}/status/{code}" in body and ":8000" not in body
    # An answer to a request reached under another name for the same server links to that name.
    r = httpx.post(
        f"http://localhost:{served.port}/public/notices",
        json={
            "reporter_kind": "anonymous",
            "policy_id": "spam",
            "explanation": "the same advert forty times",
            "items": [{"content_id": "post-2"}],
            "good_faith": True,
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["status_url"].startswith(f"http://localhost:{served.port}/status/")
