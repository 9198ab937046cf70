"""Outbound HTTP: which addresses staydown may connect to, checked on the address it connects to.

Every outbound request goes through `guarded_transport`: the host name is resolved once, inside
the connection, each address it resolves to is judged by an `AddressPolicy`, and the socket is
opened to the address that was judged (the URL's host name still goes in the Host header, the TLS
server name and the certificate check). No second lookup happens between the check and the
connection, so a name whose DNS answer changes in between (rebinding) cannot slip through.

Two policies (docs/decisions.md, 2026-12-08):

* `PUBLIC_ONLY`, for addresses that come from a caller (scan-by-URL): only globally routable
  unicast addresses. `ipaddress`' `is_global` is the base, made explicit where it is not enough:
  100.64.0.0/10 (shared address space, where 100.100.100.200 is a cloud metadata service),
  multicast, IPv4-mapped and IPv4-compatible IPv6, 6to4 (2002::/16), NAT64 (64:ff9b::/96) judged
  by the IPv4 address they embed, Teredo (2001::/32) and local-use NAT64 (64:ff9b:1::/48) refused.
* `OPERATOR`, for endpoints the operator configured (webhook receiver, NCMEC, NCA, Transparency
  Database): those may be on the platform's own network or a local stand-in, so private and
  loopback addresses are allowed, but never link-local, metadata, unspecified or multicast ones,
  in whatever form they are written.

A transport may also carry a deadline: every connect, read and write is given at most the time
left, so a server that trickles a byte every few seconds cannot hold a request past it.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; 100.100.100.200 is a metadata service
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")
# Cloud instance metadata services: reachable from inside a VM, full of credentials.
_METADATA = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("100.100.100.200"),
        ipaddress.ip_address("fd00:ec2::254"),
    }
)


@dataclass(frozen=True)
class AddressPolicy:
    name: str
    allow_private: bool  # private and loopback ranges (an operator's own network, local stand-ins)

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` may not be connected to, or None when it may."""
        if isinstance(address, ipaddress.IPv6Address):
            embedded: IPAddress | None = None
            if address.ipv4_mapped is not None:
                embedded = address.ipv4_mapped
            elif address in _V4_COMPATIBLE and int(address) > 1:
                return "an IPv4-compatible IPv6 address"
            elif address in _NAT64_LOCAL:
                return "a local-use NAT64 address"
            elif address in _NAT64:
                embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            elif address in _SIX_TO_FOUR:
                embedded = address.sixtofour
            elif address in _TEREDO:
                return "a Teredo tunnel address"
            if embedded is not None:
                inner = self.refusal(embedded)
                return f"an IPv6 address embedding {inner}" if inner else None
        if address in _METADATA:
            return "a cloud metadata address"
        if (
            address.is_unspecified
            or address.is_multicast
            or (
                isinstance(address, ipaddress.IPv4Address)
                and (address in _THIS_NETWORK or address.packed == b"\xff" * 4)
            )
        ):
            return "an unspecified, broadcast or multicast address"
        if address.is_link_local:
            return "a link-local address"
        if self.allow_private:
            return None
        if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
            return "a shared (carrier-grade NAT) address"
        if not address.is_global:
            return "a private, loopback or reserved address"
        return None


PUBLIC_ONLY = AddressPolicy("public-only", allow_private=False)
OPERATOR = AddressPolicy("operator", allow_private=True)
# Tests and local demos of scan-by-URL (STAYDOWN_SCAN_URL_ALLOW_PRIVATE): the operator's rules.
PUBLIC_OR_LOCAL = OPERATOR


class AddressRefused(httpcore.ConnectError):
    """Every address the host resolved to was judged, and one of them may not be reached."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host!r} resolves to {reason}; refused")
        self.host, self.reason = host, reason


# getaddrinfo has no timeout of its own: it runs here so a caller can stop waiting at its deadline.
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="staydown-resolve")


def resolve(host: str, port: int, timeout: float | None) -> list[IPAddress]:
    try:
        literal = ipaddress.ip_address(host.strip("[]").split("%")[0])
        return [literal]
    except ValueError:
        pass
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout)
    except FutureTimeout:
        raise httpcore.ConnectTimeout(f"resolving {host!r} took too long") from None
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from None
    seen: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in seen:
            seen.append(address)
    return seen


class _Deadline(threading.local):
    at: float | None = None


def _left(deadline: _Deadline, timeout: float | None, error: type[Exception]) -> float | None:
    if deadline.at is None:
        return timeout
    remaining = deadline.at - time.monotonic()
    if remaining <= 0:
        raise error("the overall deadline of the request passed")
    return remaining if timeout is None else min(timeout, remaining)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._inner, self._deadline = inner, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(self._deadline, timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(self._deadline, timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, _left(self._deadline, timeout, httpcore.ConnectTimeout)
        )
        return _Stream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    def __init__(self, policy: AddressPolicy, deadline: _Deadline) -> None:
        self.policy, self._deadline = policy, deadline
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port, _left(self._deadline, timeout, httpcore.ConnectTimeout))
        if not addresses:
            raise httpcore.ConnectError(f"{host!r} resolves to no address")
        for address in addresses:  # one bad answer refuses the name: its owner's DNS is not to be trusted
            reason = self.policy.refusal(address)
            if reason:
                raise AddressRefused(host, reason)
        error: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    str(address),
                    port,
                    _left(self._deadline, timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            return _Stream(stream, self._deadline)
        assert error is not None
        raise error

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        raise httpcore.ConnectError("unix sockets are not reached from here")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport, connecting only where `policy` allows. `deadline` (time.monotonic) ends
    everything this transport does; `request_seconds` bounds each request from its start to the
    end of its body (per thread, so a shared client keeps one bound per concurrent request)."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        deadline: float | None = None,
        request_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.policy = policy
        self.deadline = deadline
        self.request_seconds = request_seconds
        self._current = _Deadline()
        self._pool._network_backend = _GuardedBackend(policy, self._current)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        ends = [
            t
            for t in (self.deadline, time.monotonic() + self.request_seconds if self.request_seconds else None)
            if t is not None
        ]
        self._current.at = min(ends) if ends else None
        return super().handle_request(request)


def refusal_in(exc: BaseException) -> AddressRefused | None:
    """The address refusal behind an httpx error, if that is what it was."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AddressRefused):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def guarded_client(
    policy: AddressPolicy, *, timeout: float, deadline: float | None = None, request_seconds: float | None = None
) -> httpx.Client:
    """An httpx client that never follows redirects on its own, ignores proxy variables (a proxy
    would make the address check meaningless) and connects only where `policy` allows."""
    return httpx.Client(
        transport=GuardedTransport(policy, deadline=deadline, request_seconds=request_seconds),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
