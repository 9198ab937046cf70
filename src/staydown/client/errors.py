"""Typed errors the staydown client raises: one class per answer a caller can act on."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx


class StaydownClientError(Exception):
    """Base of everything the client raises on purpose."""


class StaydownConnectionError(StaydownClientError):
    """The request got no answer (connection refused, timeout, connection dropped), after the
    retries the call allowed.

    `maybe_processed` is False only when the transport failed before a byte of the request was
    sent (the server cannot have acted on it); otherwise the server may have processed it, and a
    caller who repeats a scan or a notice may create a duplicate.
    """

    def __init__(self, message: str, *, maybe_processed: bool, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.maybe_processed = maybe_processed
        self.request_id = request_id


class StaydownAPIError(StaydownClientError):
    """staydown answered with an error: `status` (HTTP), `code` (stable, machine-readable, e.g.
    `corrupt_media`), `message` (a sentence for people) and `details` (structured, may be None)."""

    def __init__(
        self, status: int, code: str, message: str, details: Any = None, *, request_id: str | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.request_id = request_id


class AuthenticationError(StaydownAPIError):
    """401: the API key is missing, unknown or revoked."""


class PermissionDeniedError(StaydownAPIError):
    """403: the key is valid but lacks the scope this call needs."""


class NotFoundError(StaydownAPIError):
    """404: no such content, account, action or notice."""


class ConflictError(StaydownAPIError):
    """409: the request conflicts with the current state (or a rule forbids it in this state)."""


class PayloadTooLargeError(StaydownAPIError):
    """413: the body is over the server's limit; the message says the limit."""


class InvalidInputError(StaydownAPIError):
    """422: the input was refused; the message names the problem (e.g. media that cannot be decoded)."""


class RateLimitedError(StaydownAPIError):
    """429 after the retries the call allowed. `retry_after` is the server's advice in seconds, if any."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, code, message, details, request_id=request_id)
        self.retry_after = retry_after


class ServerError(StaydownAPIError):
    """5xx: staydown (or a proxy in front of it) failed; the request id finds it in the logs."""


_BY_STATUS: dict[int, type[StaydownAPIError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    422: InvalidInputError,
    429: RateLimitedError,
}


def retry_after_seconds(response: httpx.Response, *, now: float | None = None) -> float | None:
    """The `Retry-After` header as seconds from now: either a number or an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_from_response(response: httpx.Response) -> StaydownAPIError:
    """The typed error for an error response. staydown answers `{"error", "message", "details"}`;
    anything else (a proxy's HTML page) still becomes an error with the status and a short excerpt."""
    request_id = response.headers.get("x-request-id")
    code, message, details = "http_error", "", None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code = body["error"]
        message = str(body.get("message") or "")
        details = body.get("details")
    else:
        message = (response.text or response.reason_phrase or "").strip()[:500]
    status = response.status_code
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else StaydownAPIError)
    if cls is RateLimitedError:
        return RateLimitedError(
            status, code, message, details, request_id=request_id, retry_after=retry_after_seconds(response)
        )
    return cls(status, code, message, details, request_id=request_id)
