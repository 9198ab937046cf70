"""Domain error classes a caller can act on, and the one place that maps them to HTTP status."""

from __future__ import annotations

from typing import Any


class StaydownError(Exception):
    """Base of every error staydown reports to a caller. `code` is stable and machine-readable;
    `message` is human text that says what was wrong."""

    code = "error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def to_body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "details": self.details}


class InvalidInput(StaydownError):
    code = "invalid_input"


class NotFound(StaydownError):
    code = "not_found"


class Unauthenticated(StaydownError):
    code = "unauthenticated"


class PermissionDenied(StaydownError):
    code = "permission_denied"


class Conflict(StaydownError):
    code = "conflict"


class PayloadTooLarge(StaydownError):
    code = "payload_too_large"


class RateLimited(StaydownError):
    """Too many requests from this caller: come back in `retry_after` seconds (429 with Retry-After)."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int = 60, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = max(1, int(retry_after))


class Busy(StaydownError):
    """Too much of one kind of work is in flight (media decodes): nothing was done, come back in
    `retry_after` seconds (503 with Retry-After)."""

    code = "busy"

    def __init__(self, message: str, *, retry_after: int = 1, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class DatabaseUnavailable(Busy):
    """The database cannot be reached or is locked by another program: nothing was stored, come
    back in `retry_after` seconds (503 with Retry-After)."""

    code = "database_unavailable"

    def __init__(
        self,
        message: str = "the database is unavailable for a moment; nothing was stored, try again shortly",
        *,
        retry_after: int = 2,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, retry_after=retry_after, **kwargs)


class NotReady(StaydownError):
    """The service cannot do this now (shutting down, a queue full): 503 with Retry-After."""

    code = "not_ready"

    def __init__(self, message: str, *, retry_after: int = 1, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = max(1, int(retry_after))


class RuleViolation(StaydownError):
    """An action that the rules forbid in this state (e.g. one reviewer closing a child-safety
    case as 'no violation')."""

    code = "rule_violation"


# The one mapping from domain errors to HTTP status codes. Most specific class first.
HTTP_STATUS: tuple[tuple[type[StaydownError], int], ...] = (
    (InvalidInput, 422),
    (NotFound, 404),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (Conflict, 409),
    (RuleViolation, 409),
    (PayloadTooLarge, 413),
    (RateLimited, 429),
    (NotReady, 503),
    (Busy, 503),
)


def http_status_for(error: StaydownError) -> int:
    for cls, status in HTTP_STATUS:
        if isinstance(error, cls):
            return status
    # An error of a domain class we forgot to map is still the caller's problem to read, but we
    # must not pretend it was their fault: 500 makes the omission visible in tests.
    return 500
