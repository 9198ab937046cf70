"""Fetch media by URL for a scan: only from allowed hosts, never private addresses, bounded."""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from staydown.egress import OPERATOR, PUBLIC_ONLY, guarded_client, refusal_in
from staydown.errors import InvalidInput, PayloadTooLarge

MAX_REDIRECTS = 3
# Spaces and control characters: urlsplit silently drops tabs and newlines (so the allow-list saw
# one URL and httpx another), and httpx refuses them with an error of its own.
_UNSAFE_CHARACTER = re.compile(r"[\x00-\x20\x7f]")
# The one answer for every failure to fetch from an allowed host, whatever the cause (refused
# connection, timeout, an HTTP error status, not HTTP at all): a caller must not be able to map
# which ports of a host listen, or what answers there.
COULD_NOT_FETCH = "the media could not be fetched from the URL"


class FetchRefused(InvalidInput):
    code = "fetch_refused"


class FetchFailed(InvalidInput):
    code = "fetch_failed"


@dataclass(frozen=True)
class FetchPolicy:
    allowed_hosts: tuple[str, ...]  # exact host names, or ".example.com" for a domain and its subdomains
    max_bytes: int
    timeout_seconds: float = 10.0  # the whole fetch, redirects included
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


def _address_policy(policy: FetchPolicy):
    return OPERATOR if policy.allow_private_addresses else PUBLIC_ONLY


def check_url(url: str, policy: FetchPolicy) -> tuple[str, int]:
    """The URL's host and port if it may be fetched; the addresses it resolves to are judged when
    connecting (staydown.egress), on the address connected to."""
    if len(url) > 2048:
        raise InvalidInput("the URL is longer than 2048 characters")
    bad = _UNSAFE_CHARACTER.search(url)
    if bad:
        raise InvalidInput(
            f"the URL contains a space or control character (code {ord(bad.group()):#04x}) at "
            f"position {bad.start()}; encode it"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"the URL cannot be read: {exc}") from None
    if parts.scheme not in ("https", "http"):
        raise FetchRefused(f"only http(s) URLs can be fetched, not {parts.scheme or 'a bare path'!r}")
    if parts.username or parts.password:
        raise FetchRefused("URLs with credentials are refused")
    host = parts.hostname or ""
    if not host:
        raise InvalidInput("the URL has no host")
    if not _host_allowed(host, policy.allowed_hosts):
        raise FetchRefused(f"host {host!r} is not on the scan allow-list (STAYDOWN_SCAN_URL_ALLOWLIST)")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        reason = _address_policy(policy).refusal(literal)
        if reason:
            raise FetchRefused(f"{host!r} is {reason}; refused")
    return host, port or (443 if parts.scheme == "https" else 80)


def fetch(url: str, policy: FetchPolicy) -> bytes:
    """Download at most `policy.max_bytes` from an allowed URL, re-checking every redirect, all
    within `policy.timeout_seconds`."""
    deadline = time.monotonic() + policy.timeout_seconds
    current = url
    with guarded_client(_address_policy(policy), timeout=policy.timeout_seconds, deadline=deadline) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(current, policy)
            try:
                with client.stream("GET", current, headers={"Accept": "image/*, video/*"}) as response:
                    if response.is_redirect:
                        location = response.headers.get("location")
                        if not location:
                            raise FetchFailed(COULD_NOT_FETCH)
                        try:
                            current = str(response.url.join(location))
                        except (httpx.InvalidURL, ValueError):
                            raise FetchFailed(COULD_NOT_FETCH) from None
                        continue
                    if response.status_code != 200:
                        raise FetchFailed(COULD_NOT_FETCH)
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                        raise PayloadTooLarge(
                            f"the media at the URL is {declared} bytes; the limit is {policy.max_bytes}"
                        )
                    chunks: list[bytes] = []
                    size = 0
                    for chunk in response.iter_bytes(65536):
                        size += len(chunk)
                        if size > policy.max_bytes:
                            raise PayloadTooLarge(f"the media at the URL is over the limit of {policy.max_bytes} bytes")
                        chunks.append(chunk)
                    return b"".join(chunks)
            except httpx.HTTPError as exc:
                refused = refusal_in(exc)
                if refused is not None:
                    # Decided by the host's DNS answer alone, before any connection: says nothing of ports.
                    raise FetchRefused(f"{refused.host!r} resolves to {refused.reason}; refused") from None
                raise FetchFailed(COULD_NOT_FETCH) from None
            except (httpx.InvalidURL, UnicodeError):
                raise InvalidInput("the URL cannot be read as a web address") from None
    raise FetchFailed(f"more than {MAX_REDIRECTS} redirects")
