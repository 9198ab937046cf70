"""What the clients of authorities' reporting APIs share about where they may send a report."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def check_base_url(base_url: str) -> str:
    """The base URL without its trailing slash: https anywhere, plain http only to this machine
    (a local stand-in), since credentials and reports must not cross a network unencrypted."""
    parts = urlsplit(base_url)
    if parts.scheme == "https" and parts.hostname:
        return base_url.rstrip("/")
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return base_url.rstrip("/")
        raise ValueError(
            f"base_url {base_url!r} is plain http to another machine: the credentials and "
            "the report would cross the network unencrypted. Use https."
        )
    raise ValueError(f"base_url {base_url!r} is not an http(s) URL")
