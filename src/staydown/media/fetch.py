"""Fetch media by URL for a scan: only from allowed hosts, never private addresses, bounded."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from staydown.errors import InvalidInput, PayloadTooLarge

MAX_REDIRECTS = 3


class FetchRefused(InvalidInput):
    code = "fetch_refused"


class FetchFailed(InvalidInput):
    code = "fetch_failed"


@dataclass(frozen=True)
class FetchPolicy:
    allowed_hosts: tuple[str, ...]  # exact host names, or ".example.com" for a domain and its subdomains
    max_bytes: int
    timeout_seconds: float = 10.0
    # Only for tests and local demos: a production scan must never be pointed at internal services.
    allow_private_addresses: bool = False


def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for rule in allowed:
        rule = rule.lower().rstrip(".")
        if rule.startswith("."):
            if host == rule[1:] or host.endswith(rule):
                return True
        elif host == rule:
            return True
    return False


def _check_addresses(host: str, port: int, policy: FetchPolicy) -> None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchFailed(f"cannot resolve {host!r}: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if policy.allow_private_addresses:
            continue
        if (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
                or address.is_reserved or address.is_unspecified):
            raise FetchRefused(f"{host!r} resolves to a private or reserved address ({address}); refused")


def check_url(url: str, policy: FetchPolicy) -> tuple[str, int]:
    if len(url) > 2048:
        raise InvalidInput("the URL is longer than 2048 characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise FetchRefused(f"only http(s) URLs can be fetched, not {parts.scheme or 'a bare path'!r}")
    if parts.username or parts.password:
        raise FetchRefused("URLs with credentials are refused")
    host = parts.hostname or ""
    if not host:
        raise InvalidInput("the URL has no host")
    if not _host_allowed(host, policy.allowed_hosts):
        raise FetchRefused(f"host {host!r} is not on the scan allow-list (STAYDOWN_SCAN_URL_ALLOWLIST)")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    _check_addresses(host, port, policy)
    return host, port


def fetch(url: str, policy: FetchPolicy) -> bytes:
    """Download at most `policy.max_bytes` from an allowed URL, re-checking every redirect.

    The address check happens before connecting; a host whose DNS answer changes between the
    check and the connection (rebinding) is a known limit of this approach, which is why the
    allow-list, not the address check, is the primary control."""
    current = url
    with httpx.Client(timeout=policy.timeout_seconds, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(current, policy)
            try:
                with client.stream("GET", current, headers={"Accept": "image/*, video/*"}) as response:
                    if response.is_redirect:
                        location = response.headers.get("location")
                        if not location:
                            raise FetchFailed("redirect without a Location header")
                        current = str(response.url.join(location))
                        continue
                    if response.status_code != 200:
                        raise FetchFailed(f"fetching the URL answered HTTP {response.status_code}")
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                        raise PayloadTooLarge(
                            f"the media at the URL is {declared} bytes; the limit is {policy.max_bytes}")
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in response.iter_bytes(65536):
                        size += len(chunk)
                        if size > policy.max_bytes:
                            raise PayloadTooLarge(f"the media at the URL is over the limit of {policy.max_bytes} bytes")
                        chunks.append(chunk)
                    return b"".join(chunks)
            except httpx.TimeoutException:
                raise FetchFailed(f"fetching the URL timed out after {policy.timeout_seconds} s") from None
            except httpx.HTTPError as exc:
                raise FetchFailed(f"fetching the URL failed: {type(exc).__name__}") from None
    raise FetchFailed(f"more than {MAX_REDIRECTS} redirects")
