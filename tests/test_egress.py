"""Outbound fetches (issue 16 item 2): one address policy, judged on the address connected to, an
overall deadline, and one answer for every failure. Design "Safe by default": never to private
addresses."""

from __future__ import annotations

import http.server
import ipaddress
import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from staydown.egress import OPERATOR, PUBLIC_ONLY, GuardedTransport
from staydown.errors import InvalidInput
from staydown.media.fetch import COULD_NOT_FETCH, FetchFailed, FetchPolicy, FetchRefused, check_url, fetch

REFUSED_EVERYWHERE = [
    "169.254.169.254",
    "100.100.100.200",
    "fd00:ec2::254",
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "ff02::1",
    "255.255.255.255",
    "fe80::1",
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "::ffff:169.254.169.254",  # IPv4-mapped
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
]
REFUSED_FOR_PUBLIC = [
    "100.64.0.1",
    "100.127.255.254",
    "10.0.0.1",
    "127.0.0.1",
    "192.168.1.1",
    "172.16.0.1",
    "::1",
    "fc00::1",
    "2001:db8::1",
    "2002:0a00:0001::1",  # 6to4 of 10.0.0.1
    "2002:7f00:0001::1",  # 6to4 of 127.0.0.1
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b:1::808:808",  # local-use NAT64
    "::ffff:10.0.0.1",
    "::ffff:127.0.0.1",
    "::ffff:100.100.100.200",
    "::10.0.0.1",
    "::8.8.8.8",  # IPv4-compatible (deprecated)
]
ALLOWED_FOR_PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "2002:808:808::1", "64:ff9b::808:808", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED_EVERYWHERE + REFUSED_FOR_PUBLIC)
def test_public_only_refuses_every_address_that_is_not_globally_routable(address: str) -> None:
    assert PUBLIC_ONLY.refusal(ipaddress.ip_address(address)), address


@pytest.mark.parametrize("address", REFUSED_EVERYWHERE)
def test_operator_endpoints_may_be_private_but_never_metadata_link_local_or_multicast(address: str) -> None:
    assert OPERATOR.refusal(ipaddress.ip_address(address)), address


@pytest.mark.parametrize("address", ALLOWED_FOR_PUBLIC)
def test_global_addresses_and_transition_forms_of_them_are_allowed(address: str) -> None:
    assert PUBLIC_ONLY.refusal(ipaddress.ip_address(address)) is None, address


def test_operator_policy_allows_loopback_and_private_networks() -> None:
    for address in ("127.0.0.1", "10.1.2.3", "::1", "fd12::1", "100.64.0.1"):
        assert OPERATOR.refusal(ipaddress.ip_address(address)) is None, address


# -- scan-by-URL ----------------------------------------------------------------------------------


def _serve(handler: type[http.server.BaseHTTPRequestHandler]) -> tuple[socketserver.TCPServer, int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


class _Image(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        _Image.hits.append(self.path)
        if self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "40")
            self.end_headers()
            try:
                for _ in range(40):  # one byte every 0.4 s: each read is well inside the timeout
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.4)
            except OSError:
                pass  # the client gave up, as it should
            return
        if self.path == "/ok":
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")
            return
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[int]:
    _Image.hits = []
    server, port = _serve(_Image)
    yield port
    server.shutdown()
    server.server_close()


def _policy(**kw: object) -> FetchPolicy:
    base = {
        "allowed_hosts": ("127.0.0.1", "media.example", "localhost"),
        "max_bytes": 1 << 20,
        "timeout_seconds": 1.5,
        "allow_private_addresses": True,
    }
    return FetchPolicy(**{**base, **kw})  # type: ignore[arg-type]


def test_a_trickling_server_cannot_hold_a_fetch_past_its_deadline(local_server: int) -> None:
    """Reproduces: a server sending one byte every 3 s held a scan 45 s despite a 5 s timeout."""
    started = time.monotonic()
    with pytest.raises(FetchFailed) as caught:
        fetch(f"http://127.0.0.1:{local_server}/slow", _policy(timeout_seconds=1.5))
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, elapsed
    assert caught.value.message == COULD_NOT_FETCH


def test_fetch_errors_reveal_nothing_about_other_ports(local_server: int) -> None:
    """A closed port, a listener that is not HTTP, an HTTP 404 and a silent listener give the same
    answer, naming neither the port, the status nor the kind of failure."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    banner = socket.socket()  # answers like an SMTP server, then hangs up
    banner.bind(("127.0.0.1", 0))
    banner.listen()

    def greet() -> None:
        for _ in range(2):
            conn, _ = banner.accept()
            conn.sendall(b"220 mail.internal ESMTP ready\r\n")
            conn.close()

    threading.Thread(target=greet, daemon=True).start()
    silent = socket.socket()  # accepts and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    answers = set()
    try:
        for url in (
            f"http://127.0.0.1:{closed_port}/x",
            f"http://127.0.0.1:{banner.getsockname()[1]}/x",
            f"http://127.0.0.1:{local_server}/missing",
            f"http://127.0.0.1:{silent.getsockname()[1]}/x",
        ):
            with pytest.raises(FetchFailed) as caught:
                fetch(url, _policy(timeout_seconds=0.5))
            answers.add((caught.value.code, caught.value.message))
    finally:
        banner.close()
        silent.close()
    assert answers == {("fetch_failed", COULD_NOT_FETCH)}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a\tb.jpg",
        "http://media.example/a\nb",
        "http://media.ex\tample/x",
        "http://media.example/a b",
        "http://media.example/\x00",
        "http://media.example/\x7f",
    ],
)
def test_a_url_with_a_tab_or_control_character_is_a_clear_4xx(url: str) -> None:
    """Reproduces: urlsplit dropped the tab, so the allow-list saw another URL than httpx, whose
    InvalidURL then became a 500."""
    with pytest.raises(InvalidInput) as caught:
        check_url(url, _policy())
    assert "control character" in caught.value.message


def test_the_address_is_judged_when_connecting_so_dns_rebinding_cannot_reach_a_local_service(
    local_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that resolves to a public address at the check and to 127.0.0.1 at the connection
    (rebinding): there is one lookup, inside the connection, and what it judged is what it connects
    to. The old check-then-fetch resolved twice and fetched from the local server."""
    answers = iter(["93.184.216.34"] + ["127.0.0.1"] * 10)
    real = socket.getaddrinfo

    def rebinding(host: str, *args: object, **kwargs: object):
        if host == "media.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), local_server))]
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(FetchFailed):
        # 93.184.216.34 is judged and connected to; the test's network guard refuses the connection.
        fetch(f"http://media.example:{local_server}/ok", _policy(allow_private_addresses=False))
    assert _Image.hits == []


def test_a_name_resolving_to_a_6to4_form_of_the_metadata_service_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def lookup(host: str, port: object, *args: object, **kwargs: object):
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2002:a9fe:a9fe::1", port, 0, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    for allow_private in (False, True):
        with pytest.raises(FetchRefused) as caught:
            fetch("http://media.example/x.jpg", _policy(allow_private_addresses=allow_private))
        assert "169.254" in caught.value.message or "metadata" in caught.value.message


def test_the_host_name_is_kept_for_the_host_header_when_connecting_to_the_judged_address(
    local_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers["Host"])
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server, port = _serve(Echo)
    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, *a, **k: real("127.0.0.1" if host == "media.example" else host, *a, **k)
    )
    try:
        assert fetch(f"http://media.example:{port}/x", _policy()) == b"ok"
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [f"media.example:{port}"]


def test_an_operator_transport_refuses_metadata_and_keeps_a_per_request_deadline(local_server: int) -> None:
    with httpx.Client(transport=GuardedTransport(OPERATOR, request_seconds=1.0), timeout=5) as client:
        assert client.get(f"http://127.0.0.1:{local_server}/ok").content == b"hello"
        with pytest.raises(httpx.ConnectError, match="metadata"):
            client.get("http://169.254.169.254/latest/meta-data")
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.get(f"http://127.0.0.1:{local_server}/slow")
        assert time.monotonic() - started < 2.0
